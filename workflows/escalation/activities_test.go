package escalation

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	esc "meridian.dev/platform/escalation"
)

// runPage runs the Page activity for real (real Postgres, real HTTP) inside
// the SDK's activity environment, which only supplies the activity context.
func runPage(t *testing.T, a *Activities, req PageRequest) (PageResult, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(a.Page, activity.RegisterOptions{Name: ActivityPage})
	v, err := env.ExecuteActivity(ActivityPage, req)
	if err != nil {
		return PageResult{}, err
	}
	var res PageResult
	if err := v.Get(&res); err != nil {
		t.Fatalf("decode page result: %v", err)
	}
	return res, nil
}

func TestPageActivity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	rcv := newReceiver(t)
	a := f.activities(rcv.pager())
	req := PageRequest{Input: f.input(5 * time.Minute), Tier: 1, Round: 1}
	wantKey := f.escalation.ID.String() + ":tier1:round1"

	// Tier 1 pages exactly the managers of the site's region.
	res, err := runPage(t, a, req)
	if err != nil {
		t.Fatalf("page tier 1: %v", err)
	}
	wantRecipients := []string{"mgr-emea-1", "mgr-emea-2"}
	if res.Skipped || res.Status != string(esc.StatusOpen) || !slices.Equal(res.Recipients, wantRecipients) {
		t.Fatalf("page result = %+v, want OPEN, not skipped, recipients %v", res, wantRecipients)
	}
	if n := rcv.count(); n != 1 {
		t.Fatalf("receiver got %d requests, want 1", n)
	}
	got := rcv.next(t, time.Second)
	if got.VerifyErr != nil {
		t.Fatalf("the receiver could not verify the page: %v", got.VerifyErr)
	}
	if k := got.Header.Get("Idempotency-Key"); k != wantKey {
		t.Fatalf("Idempotency-Key = %q, want %q", k, wantKey)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	p := got.Page
	if s := subjects(p.Recipients); !slices.Equal(s, wantRecipients) {
		t.Fatalf("page recipients = %v, want %v (not AMER's manager, not the global lead)", s, wantRecipients)
	}
	if p.IdempotencyKey != wantKey || p.EscalationID != f.escalation.ID.String() || p.Tier != 1 ||
		p.TierName != "regional managers" || p.Site != "PAR-HQ" || p.Region != "EMEA" || p.Level != "CRITICAL" ||
		p.Posture != "LOCKDOWN" || p.Note != "intruder on site" {
		t.Fatalf("page body = %+v", p)
	}
	if p.Recipients[0].Email != "eva@example.com" {
		t.Fatalf("recipients carry how to reach them, got %+v", p.Recipients[0])
	}
	if n := f.countKind(t, esc.KindPaged); n != 1 {
		t.Fatalf("PAGED timeline rows = %d, want 1", n)
	}
	e, err := f.escalations.Get(ctx, f.escalation.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Tier != 1 {
		t.Fatalf("escalation tier = %d after paging tier 1, want 1", e.Tier)
	}

	// An attempt retried after the page was sent and recorded (its worker
	// died before reporting) finds the PAGED row and pages nobody again.
	if res, err := runPage(t, a, req); err != nil || len(res.Recipients) == 0 {
		t.Fatalf("page tier 1 again: %+v, %v", res, err)
	}
	rcv.none(t, time.Second, "the page was already sent and recorded")
	if n := f.countKind(t, esc.KindPaged); n != 1 {
		t.Fatalf("PAGED timeline rows after a retried page = %d, want 1", n)
	}

	// A receiver answering 500 makes the activity fail, so Temporal retries,
	// and nothing claims tier 2 was paged.
	rcv.status.Store(http.StatusInternalServerError)
	before := rcv.count()
	if _, err := runPage(t, a, PageRequest{Input: req.Input, Tier: 2, Round: 1}); err == nil {
		t.Fatal("Page succeeded against a receiver answering 500")
	}
	if rcv.count() != before+1 {
		t.Fatalf("the failing receiver got %d requests, want 1", rcv.count()-before)
	}
	<-rcv.ch
	if n := f.countKind(t, esc.KindPaged); n != 1 {
		t.Fatalf("PAGED rows = %d after a failed page, want still 1", n)
	}
	rcv.status.Store(http.StatusNoContent)

	// Once Postgres holds an acknowledgement nobody is paged any more.
	if _, err := f.escalations.Acknowledge(ctx, "mgr-emea-2", f.escalation.ID, "on it", allow); err != nil {
		t.Fatalf("acknowledge: %v", err)
	}
	before = rcv.count()
	res, err = runPage(t, a, PageRequest{Input: req.Input, Tier: 2, Round: 1})
	if err != nil {
		t.Fatalf("page after acknowledgement: %v", err)
	}
	if !res.Skipped || res.Status != string(esc.StatusAcknowledged) || len(res.Recipients) != 0 {
		t.Fatalf("page after acknowledgement = %+v, want skipped with status ACKNOWLEDGED", res)
	}
	rcv.none(t, 200*time.Millisecond, "the escalation is acknowledged")
	if rcv.count() != before {
		t.Fatalf("receiver got %d requests after the acknowledgement", rcv.count()-before)
	}

	// And likewise once it is resolved.
	if _, err := f.escalations.Resolve(ctx, "mgr-emea-2", f.escalation.ID, "all clear", allow); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	res, err = runPage(t, a, PageRequest{Input: req.Input, Tier: 2, Round: 1})
	if err != nil || !res.Skipped || res.Status != string(esc.StatusResolved) {
		t.Fatalf("page after resolution = %+v, %v; want skipped with status RESOLVED", res, err)
	}
	if rcv.count() != before {
		t.Fatal("a resolved escalation was paged")
	}
}

func TestPageActivityTier2PagesEveryGlobalLead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := newReceiver(t)
	res, err := runPage(t, f.activities(rcv.pager()), PageRequest{Input: f.input(time.Minute), Tier: 2, Round: 1})
	if err != nil {
		t.Fatalf("page tier 2: %v", err)
	}
	if !slices.Equal(res.Recipients, []string{"lead-1"}) {
		t.Fatalf("tier 2 recipients = %v, want [lead-1]", res.Recipients)
	}
	got := rcv.next(t, time.Second)
	if got.VerifyErr != nil || got.Page.Tier != 2 || got.Header.Get("Idempotency-Key") != f.escalation.ID.String()+":tier2:round1" {
		t.Fatalf("tier 2 page: verify=%v tier=%d key=%q", got.VerifyErr, got.Page.Tier, got.Header.Get("Idempotency-Key"))
	}
}

func TestPageActivityPagesEachPersonOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := newReceiver(t)
	in := f.input(time.Minute)
	// mgr-emea-2 manages EMEA and APAC: one page, not two.
	in.Policy.Tiers[0].Targets = []Target{{Role: "regional_manager", Region: "EMEA"}, {Role: "regional_manager", Region: "APAC"}}
	res, err := runPage(t, f.activities(rcv.pager()), PageRequest{Input: in, Tier: 1, Round: 1})
	if err != nil {
		t.Fatalf("page: %v", err)
	}
	if want := []string{"mgr-emea-1", "mgr-emea-2"}; !slices.Equal(res.Recipients, want) {
		t.Fatalf("recipients = %v, want %v", res.Recipients, want)
	}
	if got := subjects(rcv.next(t, time.Second).Page.Recipients); !slices.Equal(got, []string{"mgr-emea-1", "mgr-emea-2"}) {
		t.Fatalf("page recipients = %v", got)
	}
}

func TestPageActivityNobodyToPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := newReceiver(t)
	in := f.input(time.Minute)
	in.Policy.Tiers[0].Targets = []Target{{Role: "regional_manager", Region: "APAC-NOBODY"}}
	res, err := runPage(t, f.activities(rcv.pager()), PageRequest{Input: in, Tier: 1, Round: 1})
	if err != nil {
		t.Fatalf("page: %v", err)
	}
	if res.Skipped || len(res.Recipients) != 0 {
		t.Fatalf("result = %+v, want nobody paged", res)
	}
	if rcv.count() != 0 {
		t.Fatal("a page with no recipients was sent")
	}
	if n := f.countKind(t, esc.KindPageFailed); n != 1 {
		t.Fatalf("PAGE_FAILED rows = %d, want 1: paging nobody must show on the timeline", n)
	}
}

func TestPageActivityRejectsATierOutsideThePolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := newReceiver(t)
	if _, err := runPage(t, f.activities(rcv.pager()), PageRequest{Input: f.input(time.Minute), Tier: 3, Round: 1}); err == nil {
		t.Fatal("paging tier 3 of a 2-tier policy succeeded")
	}
	if rcv.count() != 0 {
		t.Fatal("a page was sent for a tier outside the policy")
	}
}

func TestRecordStepActivityDedupes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	a := f.activities(nil)
	step := StepRequest{EscalationID: f.escalation.ID.String(), Kind: esc.KindTimedOut, Tier: 1,
		Note: "no acknowledgement within 5m0s; escalating to tier 2", DedupeKey: f.escalation.ID.String() + ":tier1:timed-out"}
	for i := range 2 {
		if err := a.RecordStep(ctx, step); err != nil {
			t.Fatalf("record step (call %d): %v", i+1, err)
		}
	}
	if n := f.countKind(t, esc.KindTimedOut); n != 1 {
		t.Fatalf("TIMED_OUT rows = %d after a retried step, want 1", n)
	}
	if err := a.RecordStep(ctx, StepRequest{EscalationID: "not-a-uuid", Kind: esc.KindTimedOut}); err == nil {
		t.Fatal("a step for a malformed escalation ID was accepted")
	}
}

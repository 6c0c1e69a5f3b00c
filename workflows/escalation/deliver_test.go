package escalation

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"meridian.dev/platform/directory"
	esc "meridian.dev/platform/escalation"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/notify/sink"
)

// startSink runs a real receiver of all three channels for one test.
func startSink(t *testing.T, fail func(sink.Received) int) *sink.Sink {
	t.Helper()
	rx, err := sink.Start(context.Background(), sink.Options{Secret: testSecret, Fail: fail})
	if err != nil {
		t.Fatalf("start sink: %v", err)
	}
	t.Cleanup(func() { _ = rx.Close() })
	return rx
}

func sinkSender(rx *sink.Sink) *notify.Sender {
	return notify.NewSender(testSecret, rx.URL()+"/pages", notify.SMTPConfig{Addr: rx.SMTPAddr(), From: "Meridian <meridian@example.com>"})
}

// runActivity runs one activity for real (real Postgres, real receivers)
// inside the SDK's activity environment, which supplies its context.
func runActivity[Req, Res any](t *testing.T, name string, fn func(context.Context, Req) (Res, error), req Req) (Res, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	var res Res
	v, err := env.ExecuteActivity(name, req)
	if err != nil {
		return res, err
	}
	if err := v.Get(&res); err != nil {
		t.Fatalf("decode %s result: %v", name, err)
	}
	return res, nil
}

func (f *fixture) setContacts(t *testing.T, subject string, c directory.ContactsChange) {
	t.Helper()
	if _, err := f.directory.SetContacts(context.Background(), "test", subject, c); err != nil {
		t.Fatalf("set contacts of %s: %v", subject, err)
	}
}

func ptr(s string) *string { return &s }

// timelineOf returns the escalation's timeline entries of kind.
func (f *fixture) timelineOf(t *testing.T, kind string) []esc.TimelineEntry {
	t.Helper()
	entries, err := f.escalations.Timeline(context.Background(), f.escalation.ID)
	if err != nil {
		t.Fatalf("timeline: %v", err)
	}
	var out []esc.TimelineEntry
	for _, e := range entries {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func deliverRequest(f *fixture, plan Delivery, tier int) DeliverRequest {
	in := f.input(time.Minute)
	return DeliverRequest{EscalationID: in.EscalationID, Tier: tier, TierName: in.Policy.Tiers[tier-1].Name, Round: 1,
		Subject: plan.Subject, Channel: plan.Channel, Site: in.SiteCode, SiteName: in.SiteName, Region: in.Region,
		Level: in.Level, Posture: in.Posture, Note: in.Note, MaxAttempts: deliveryAttempts}
}

func TestPlanAndDeliverEveryChannel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rx := startSink(t, nil)
	a := f.activities(sinkSender(rx))
	// Eva has her own webhook and Slack; Emil only his email (and the
	// organisation's webhook).
	f.setContacts(t, "mgr-emea-1", directory.ContactsChange{WebhookURL: ptr(rx.URL() + "/pages/eva"), SlackWebhookURL: ptr(rx.URL() + "/slack/eva")})
	in := f.input(time.Minute)
	in.Policy.Tiers[0].Channels = []string{notify.ChannelWebhook, notify.ChannelEmail, notify.ChannelSlack}

	plan, err := runActivity(t, ActivityPlanPages, a.PlanPages, PageRequest{Input: in, Tier: 1, Round: 1})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	wantDeliveries := []Delivery{
		{"mgr-emea-1", "WEBHOOK"}, {"mgr-emea-1", "EMAIL"}, {"mgr-emea-1", "SLACK"},
		{"mgr-emea-2", "WEBHOOK"}, {"mgr-emea-2", "EMAIL"},
	}
	if plan.Skipped || !slices.Equal(plan.Recipients, []string{"mgr-emea-1", "mgr-emea-2"}) || !slices.Equal(plan.Deliveries, wantDeliveries) {
		t.Fatalf("plan = %+v, want both managers and deliveries %v", plan, wantDeliveries)
	}
	if len(rx.Received()) != 0 {
		t.Fatal("planning sent a page")
	}
	paged := f.timelineOf(t, esc.KindPaged)
	if len(paged) != 1 || !strings.Contains(paged[0].Note, "mgr-emea-1 by WEBHOOK, EMAIL, SLACK; mgr-emea-2 by WEBHOOK, EMAIL") ||
		!strings.Contains(paged[0].Note, "mgr-emea-2 (SLACK: no Slack webhook on file)") {
		t.Fatalf("PAGED steps = %+v, want one naming whom, how, and who lacks a channel", paged)
	}

	for _, d := range plan.Deliveries {
		if _, err := runActivity(t, ActivityDeliver, a.Deliver, deliverRequest(f, d, 1)); err != nil {
			t.Fatalf("deliver %+v: %v", d, err)
		}
	}
	got := map[string]sink.Received{}
	for _, r := range rx.Received() {
		got[r.Channel+" "+r.To] = r
	}
	key := func(d Delivery) string { return deliverRequest(f, d, 1).IdempotencyKey() }
	webhook, ok := got["WEBHOOK eva"]
	if !ok || webhook.Page == nil || webhook.IdempotencyKey != key(wantDeliveries[0]) ||
		subjects(webhook.Page.Recipients)[0] != "mgr-emea-1" || webhook.Page.Channel != "WEBHOOK" || webhook.Page.Site != "PAR-HQ" {
		t.Fatalf("Eva's own webhook got %+v (all: %v)", webhook, got)
	}
	if r, ok := got["EMAIL eva@example.com"]; !ok || r.IdempotencyKey != key(wantDeliveries[1]) ||
		!strings.Contains(r.Subject, "PAR-HQ") || !strings.Contains(r.Text, "intruder on site") {
		t.Fatalf("Eva's email: %+v", r)
	}
	if r, ok := got["SLACK eva"]; !ok || r.IdempotencyKey != key(wantDeliveries[2]) || !strings.Contains(r.Text, "Paris headquarters") {
		t.Fatalf("Eva's Slack message: %+v", r)
	}
	if r, ok := got["WEBHOOK "]; !ok || r.Page == nil || subjects(r.Page.Recipients)[0] != "mgr-emea-2" {
		t.Fatalf("Emil's page on the organisation's webhook: %+v", r)
	}
	if r, ok := got["EMAIL emil@example.com"]; !ok || r.IdempotencyKey != key(wantDeliveries[4]) {
		t.Fatalf("Emil's email: %+v", r)
	}
	if len(rx.Received()) != 5 {
		t.Fatalf("sink got %d pages, want 5", len(rx.Received()))
	}

	delivered := f.timelineOf(t, esc.KindDelivered)
	if len(delivered) != 5 {
		t.Fatalf("DELIVERED steps = %d, want 5", len(delivered))
	}
	for i, e := range delivered {
		d := wantDeliveries[i]
		if e.Recipient == nil || *e.Recipient != d.Subject || e.Channel == nil || *e.Channel != d.Channel ||
			e.Attempt == nil || *e.Attempt != 1 || e.Tier == nil || *e.Tier != 1 {
			t.Fatalf("DELIVERED step %d = %+v, want %s by %s, attempt 1, tier 1", i, e, d.Subject, d.Channel)
		}
	}

	// A retried activity whose page was delivered and recorded sends nothing.
	res, err := runActivity(t, ActivityDeliver, a.Deliver, deliverRequest(f, wantDeliveries[1], 1))
	if err != nil || !res.AlreadySent {
		t.Fatalf("second delivery = %+v, %v; want already sent", res, err)
	}
	if n := len(rx.Received()); n != 5 {
		t.Fatalf("a retried delivery paged again: %d pages", n)
	}
}

func TestDeliverFailuresLandOnTheTimeline(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	answer := map[string]int{"eva": http.StatusServiceUnavailable, "gone": http.StatusNotFound}
	rx := startSink(t, func(r sink.Received) int { return answer[r.To] })
	a := f.activities(sinkSender(rx))
	f.setContacts(t, "mgr-emea-1", directory.ContactsChange{WebhookURL: ptr(rx.URL() + "/pages/eva")})

	// A receiver that is down: a retryable failure, recorded with its attempt.
	_, err := runActivity(t, ActivityDeliver, a.Deliver, deliverRequest(f, Delivery{"mgr-emea-1", "WEBHOOK"}, 1))
	var appErr *temporal.ApplicationError
	if err == nil || !errors.As(err, &appErr) || appErr.NonRetryable() {
		t.Fatalf("delivery to a 503 receiver = %v, want a retryable error", err)
	}
	failed := f.timelineOf(t, esc.KindDeliveryFailed)
	if len(failed) != 1 || !strings.Contains(failed[0].Note, "503") || !strings.Contains(failed[0].Note, "attempt 1 of 5") ||
		!strings.Contains(failed[0].Note, "will retry") || *failed[0].Recipient != "mgr-emea-1" || *failed[0].Channel != "WEBHOOK" {
		t.Fatalf("DELIVERY_FAILED steps = %+v", failed)
	}

	// An address the receiver refuses: not retried. (Round 2: in the
	// activity environment every call is attempt 1, and the attempt is part
	// of the failure's dedupe key.)
	f.setContacts(t, "mgr-emea-1", directory.ContactsChange{WebhookURL: ptr(rx.URL() + "/pages/gone")})
	refused := deliverRequest(f, Delivery{"mgr-emea-1", "WEBHOOK"}, 1)
	refused.Round = 2
	_, err = runActivity(t, ActivityDeliver, a.Deliver, refused)
	if err == nil || !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != errPermanentDelivery {
		t.Fatalf("delivery to a 404 receiver = %v, want a non-retryable %s", err, errPermanentDelivery)
	}
	// No Slack webhook on file: not retried either.
	_, err = runActivity(t, ActivityDeliver, a.Deliver, deliverRequest(f, Delivery{"mgr-emea-2", "SLACK"}, 1))
	if err == nil || !errors.As(err, &appErr) || !appErr.NonRetryable() {
		t.Fatalf("Slack delivery without a webhook = %v, want non-retryable", err)
	}
	// Someone removed from the directory since the plan: not retried.
	_, err = runActivity(t, ActivityDeliver, a.Deliver, deliverRequest(f, Delivery{"ghost", "WEBHOOK"}, 1))
	if err == nil || !errors.As(err, &appErr) || !appErr.NonRetryable() || !strings.Contains(err.Error(), "no longer in the directory") {
		t.Fatalf("delivery to a removed person = %v, want non-retryable", err)
	}
	failed = f.timelineOf(t, esc.KindDeliveryFailed)
	if len(failed) != 4 || !strings.Contains(failed[1].Note, "404") || !strings.Contains(failed[1].Note, "not retried") ||
		!strings.Contains(failed[2].Note, "no Slack webhook on file") || !strings.Contains(failed[3].Note, "no longer in the directory") {
		t.Fatalf("DELIVERY_FAILED steps = %+v, want the 404 recorded as not retried", failed)
	}
	if len(rx.Received()) != 0 {
		t.Fatalf("refused pages were recorded as received: %+v", rx.Received())
	}
}

func TestDeliverSkipsOnceAcknowledged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rx := startSink(t, nil)
	a := f.activities(sinkSender(rx))
	if _, err := f.escalations.Acknowledge(context.Background(), "mgr-emea-1", f.escalation.ID, "on it", allow); err != nil {
		t.Fatalf("acknowledge: %v", err)
	}
	res, err := runActivity(t, ActivityDeliver, a.Deliver, deliverRequest(f, Delivery{"mgr-emea-2", "EMAIL"}, 1))
	if err != nil || !res.Skipped {
		t.Fatalf("delivery after the acknowledgement = %+v, %v; want skipped", res, err)
	}
	// A reminder (acknowledged, not resolved in time) still goes out.
	req := deliverRequest(f, Delivery{"mgr-emea-2", "EMAIL"}, 1)
	req.Reminder, req.Round = true, 2
	if res, err := runActivity(t, ActivityDeliver, a.Deliver, req); err != nil || res.Skipped {
		t.Fatalf("reminder = %+v, %v; want sent", res, err)
	}
	got := rx.Received()
	if len(got) != 1 || got[0].Channel != "EMAIL" || !strings.Contains(got[0].Subject, "reminder") {
		t.Fatalf("sink got %+v, want one reminder email", got)
	}
}

func TestPlanFallsBackToTheWebhookWhenNoChannelIsOnFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rx := startSink(t, nil)
	a := f.activities(sinkSender(rx))
	in := f.input(time.Minute)
	in.Policy.Tiers[1].Channels = []string{notify.ChannelSlack}
	plan, err := runActivity(t, ActivityPlanPages, a.PlanPages, PageRequest{Input: in, Tier: 2, Round: 1})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if want := []Delivery{{"lead-1", "WEBHOOK"}}; !slices.Equal(plan.Deliveries, want) {
		t.Fatalf("deliveries = %v, want %v", plan.Deliveries, want)
	}
	paged := f.timelineOf(t, esc.KindPaged)
	if len(paged) != 1 || !strings.Contains(paged[0].Note, "paged by WEBHOOK instead") {
		t.Fatalf("PAGED = %+v, want the fallback explained", paged)
	}
}

// A page of the giving region that lands after a hand-off is on the
// timeline with its tier, but leaves the receiving region's tier alone.
func TestLateDeliveryDoesNotMoveAHandedOffEscalation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	rx := startSink(t, nil)
	a := f.activities(sinkSender(rx))
	if _, _, err := f.escalations.HandOff(ctx, "lead-1", f.escalation.ID, "AMER", "shift change"); err != nil {
		t.Fatalf("hand off: %v", err)
	}
	if _, err := runActivity(t, ActivityDeliver, a.Deliver, deliverRequest(f, Delivery{"lead-1", "WEBHOOK"}, 2)); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	delivered := f.timelineOf(t, esc.KindDelivered)
	if len(delivered) != 1 || delivered[0].Tier == nil || *delivered[0].Tier != 2 {
		t.Fatalf("DELIVERED = %+v, want one about tier 2", delivered)
	}
	e, err := f.escalations.Get(ctx, f.escalation.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Tier != 0 || e.Region != "AMER" {
		t.Fatalf("escalation after a late delivery: tier %d in %s, want tier 0 in AMER", e.Tier, e.Region)
	}
}

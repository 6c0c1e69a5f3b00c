package stacktest_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian.dev/gateway/stacktest"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/notify/sink"
)

// TestPages: the one sink tells the organisation's webhook from people's
// own, refuses what is badly signed, and fails what FailPages says to.
func TestPages(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	org := notify.Page{IdempotencyKey: "esc-1:tier1:round1:gl-ada:WEBHOOK", EscalationID: "esc-1", Tier: 1, Site: "LON-HQ"}
	own := notify.Page{IdempotencyKey: "esc-1:tier1:round1:rm-emea-emil:WEBHOOK", EscalationID: "esc-1", Tier: 1, Site: "LON-HQ"}

	if code := stacktest.PostSignedPage(t, s.Sink.URL()+"/pages/emil", stacktest.PagerSecret, own); code != http.StatusNoContent {
		t.Fatalf("a person's own webhook: HTTP %d", code)
	}
	if code := stacktest.PostSignedPage(t, s.Sink.URL()+"/pages", stacktest.PagerSecret, org); code != http.StatusNoContent {
		t.Fatalf("the organisation's webhook: HTTP %d", code)
	}
	got := s.WaitPage(t, "organisation", func(r sink.Received) bool { return r.Page.Tier == 1 })
	if got.IdempotencyKey != org.IdempotencyKey || got.Page.IdempotencyKey != org.IdempotencyKey || got.To != "" {
		t.Errorf("WaitPage returned %+v, want the organisation's page", got)
	}
	if pages := s.Pages(); len(pages) != 1 || !stacktest.OrganisationPage(pages[0]) {
		t.Errorf("Pages() = %+v, want the organisation's page only", pages)
	}
	if all := s.Sink.Received(); len(all) != 2 || stacktest.OrganisationPage(all[0]) || all[0].To != "emil" {
		t.Errorf("the sink received %+v, want Emil's page then the organisation's", all)
	}

	// Signed with another secret: refused, recorded as a rejection only.
	if code := stacktest.PostSignedPage(t, s.Sink.URL()+"/pages", "another-secret", org); code != http.StatusUnauthorized {
		t.Errorf("a badly signed page: HTTP %d, want 401", code)
	}
	if rej := s.Rejections(); len(rej) != 1 || !strings.Contains(rej[0].Err.Error(), "signature") {
		t.Errorf("Rejections() = %+v, want the badly signed page", rej)
	}

	// A receiver that is down, then up again.
	s.FailPages(func(r sink.Received) int { return http.StatusServiceUnavailable })
	if code := stacktest.PostSignedPage(t, s.Sink.URL()+"/pages", stacktest.PagerSecret, org); code != http.StatusServiceUnavailable {
		t.Errorf("FailPages: HTTP %d, want 503", code)
	}
	s.FailPages(nil)
	if code := stacktest.PostSignedPage(t, s.Sink.URL()+"/pages", stacktest.PagerSecret, org); code != http.StatusNoContent {
		t.Errorf("after FailPages(nil): HTTP %d, want 204", code)
	}
	if n := len(s.Pages()); n != 2 {
		t.Errorf("%d organisation pages recorded, want 2: none refused, none failed", n)
	}
	if n := len(s.Rejections()); n != 1 {
		t.Errorf("%d rejections, want 1: a failed page is not a rejection", n)
	}
}

// errorRecorder is a testing.TB whose Errorf is recorded, not reported, to
// check that a helper fails the test when it should.
type errorRecorder struct {
	testing.TB
	errors []string
}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestUnchangedCountsTheCallersTables: tables given in Options are counted
// besides the escalation domain's, and Unchanged names each one written.
func TestUnchangedCountsTheCallersTables(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true, Tables: []string{"public.rotation_overrides", "sites"}})
	tables := s.Tables()
	sites := 0
	for _, tbl := range tables {
		if tbl == "sites" {
			sites++
		}
	}
	if !slices.Contains(tables, "public.rotation_overrides") || sites != 1 {
		t.Fatalf("Tables() = %v, want the caller's table added once and sites counted once", tables)
	}
	if _, ok := s.Counts(t)["public.rotation_overrides"]; !ok {
		t.Fatalf("Counts() lacks the caller's table")
	}

	// Nothing written: nothing reported.
	quiet := &errorRecorder{TB: t}
	s.Unchanged(quiet, func() {
		s.GW.Query(t, s.Token(t, stacktest.TravelTeam), stacktest.UpdateStatusMutation,
			stacktest.StatusInput(s.Site(t, "LON-HQ").ID, "HIGH", "OPEN", "", s.Version(t, "LON-HQ"))).Refused(t, "FORBIDDEN")
	})
	if len(quiet.errors) != 0 {
		t.Errorf("Unchanged reported a refused mutation: %q", quiet.errors)
	}

	// An override written: its table is named.
	const add = `mutation($input: AddOnCallOverrideInput!) { addOnCallOverride(input: $input) { shift { override } } }`
	at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	input := map[string]any{"region": "EMEA", "rotation": "primary", "person": stacktest.AMERManager,
		"from": at.Format(time.RFC3339), "to": at.Add(time.Hour).Format(time.RFC3339)}
	loud := &errorRecorder{TB: t}
	s.Unchanged(loud, func() {
		s.GW.Query(t, s.Token(t, stacktest.EMEAManager), add, map[string]any{"input": input}).Decode(t, new(any))
	})
	if !slices.ContainsFunc(loud.errors, func(e string) bool { return strings.Contains(e, "wrote to public.rotation_overrides") }) {
		t.Errorf("Unchanged around a written override reported %q, want public.rotation_overrides named", loud.errors)
	}
}

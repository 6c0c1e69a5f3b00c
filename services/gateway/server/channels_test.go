package server_test

import (
	"context"
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

const setContactsMutation = `mutation($input: SetContactMethodsInput!) {
  setContactMethods(input: $input) { contactMethods { subject email webhookUrl slackWebhookConfigured } }
}`

type contactsView struct {
	Subject                string
	Email                  string
	WebhookURL             string `json:"webhookUrl"`
	SlackWebhookConfigured bool
}

const timelineQuery = `query($id: ID!) { escalation(id: $id) { status timeline { kind actor note tier recipient channel attempt } } }`

type timelineStep struct {
	Kind, Actor, Note  string
	Tier, Attempt      *int
	Recipient, Channel *string
}

func timelineOf(t testing.TB, s *stacktest.Stack, id string) (string, []timelineStep) {
	t.Helper()
	var out struct {
		Escalation struct {
			Status   string
			Timeline []timelineStep
		}
	}
	s.GW.Query(t, s.Token(t, "au-aude"), timelineQuery, map[string]any{"id": id}).Decode(t, &out)
	return out.Escalation.Status, out.Escalation.Timeline
}

// TestContactMethodsAreValidatedAndOwned: people set how they are paged;
// only directory managers change someone else's; bad addresses are refused
// with the field named and change nothing.
func TestContactMethodsAreValidatedAndOwned(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	aiko := s.Token(t, "rm-apac-aiko")

	var set struct {
		SetContactMethods struct{ ContactMethods contactsView }
	}
	s.GW.Query(t, aiko, setContactsMutation, map[string]any{"input": map[string]any{
		"slackWebhookUrl": "https://hooks.slack.example/services/T0/B0/secret", "webhookUrl": "https://pager.example/aiko"}}).Decode(t, &set)
	want := contactsView{Subject: "rm-apac-aiko", Email: "aiko@meridian.example", WebhookURL: "https://pager.example/aiko", SlackWebhookConfigured: true}
	if got := set.SetContactMethods.ContactMethods; got != want {
		t.Fatalf("setContactMethods answered %+v, want %+v", got, want)
	}
	var me struct {
		Me struct{ ContactMethods *contactsView }
	}
	s.GW.Query(t, aiko, `query { me { contactMethods { subject email webhookUrl slackWebhookConfigured } } }`, nil).Decode(t, &me)
	if me.Me.ContactMethods == nil || *me.Me.ContactMethods != want {
		t.Fatalf("me.contactMethods = %+v, want %+v", me.Me.ContactMethods, want)
	}
	if strings.Contains(string(s.GW.Query(t, aiko, `query { me { contactMethods { slackWebhookConfigured } } }`, nil).Body), "secret") {
		t.Fatal("the Slack webhook URL, a credential, is visible")
	}

	for field, value := range map[string]string{"webhookUrl": "ftp://pager.example/x", "slackWebhookUrl": "not a url", "email": "aiko at example"} {
		s.GW.Query(t, aiko, setContactsMutation, map[string]any{"input": map[string]any{field: value}}).RefusedField(t, field)
	}
	// A regional manager may not change how someone else is paged.
	s.GW.Query(t, aiko, setContactsMutation, map[string]any{"input": map[string]any{"subject": "rm-emea-emil", "email": "x@example.com"}}).
		Refused(t, "FORBIDDEN")
	s.GW.Query(t, s.Token(t, "ad-adam"), setContactsMutation, map[string]any{"input": map[string]any{"subject": "nobody", "email": "x@example.com"}}).
		Refused(t, "NOT_FOUND")
	s.GW.Query(t, s.Token(t, "ad-adam"), `query { me { contactMethods { subject } } }`, nil).Decode(t, &me)
	s.GW.Query(t, aiko, `query { me { contactMethods { subject email webhookUrl slackWebhookConfigured } } }`, nil).Decode(t, &me)
	if *me.Me.ContactMethods != want {
		t.Fatalf("refused changes changed the contacts: %+v", *me.Me.ContactMethods)
	}
	var emil struct{ Email string }
	if err := s.Pool.QueryRow(context.Background(), `SELECT email FROM users WHERE subject = 'rm-emea-emil'`).Scan(&emil.Email); err != nil || emil.Email != "emil@meridian.example" {
		t.Fatalf("Emil's email is %q (%v) after a refused change", emil.Email, err)
	}
	// An admin may; an empty string clears a field.
	s.GW.Query(t, s.Token(t, "ad-adam"), setContactsMutation, map[string]any{"input": map[string]any{"subject": "rm-apac-aiko", "slackWebhookUrl": ""}}).Decode(t, &set)
	if set.SetContactMethods.ContactMethods.SlackWebhookConfigured || set.SetContactMethods.ContactMethods.WebhookURL != want.WebhookURL {
		t.Fatalf("admin's change answered %+v", set.SetContactMethods.ContactMethods)
	}
	var audited int
	if err := s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'contacts.set' AND object_id = 'rm-apac-aiko'`).Scan(&audited); err != nil || audited != 2 {
		t.Fatalf("audit entries for Aiko's contacts = %d (%v), want 2", audited, err)
	}
}

// TestEachPersonIsPagedOnEveryChannelOfTheTier: a policy's tier names its
// channels; each person is paged on each, by their own addresses, every
// delivery and failed attempt lands on the timeline, and the person paged
// may acknowledge at once.
func TestEachPersonIsPagedOnEveryChannelOfTheTier(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	aiko := s.Token(t, "rm-apac-aiko")
	s.GW.Query(t, aiko, setContactsMutation, map[string]any{"input": map[string]any{
		"webhookUrl": s.Sink.URL() + "/pages/aiko", "slackWebhookUrl": s.Sink.URL() + "/slack/aiko"}}).Decode(t, new(any))
	input := map[string]any{"region": "APAC", "severity": "SEV1", "name": "APAC major incident",
		"tiers": []map[string]any{
			{"name": "duty manager", "waitMinutes": 10, "channels": []string{"WEBHOOK", "EMAIL", "SLACK"},
				"targets": []map[string]any{{"kind": "USER", "subject": "rm-apac-aiko"}}},
			{"name": "desk", "waitMinutes": 10, "targets": []map[string]any{{"kind": "USER", "subject": "gl-ada"}}},
		}}
	var saved struct {
		SetEscalationPolicy struct {
			Policy struct{ Tiers []struct{ Channels []string } }
		}
	}
	s.GW.Query(t, s.Token(t, "gl-ada"), `mutation($input: SetEscalationPolicyInput!) {
		setEscalationPolicy(input: $input) { policy { tiers { channels } } } }`, map[string]any{"input": input}).Decode(t, &saved)
	if tiers := saved.SetEscalationPolicy.Policy.Tiers; len(tiers) != 2 || !slices.Equal(tiers[0].Channels, []string{"WEBHOOK", "EMAIL", "SLACK"}) ||
		!slices.Equal(tiers[1].Channels, []string{"WEBHOOK"}) {
		t.Fatalf("saved tiers' channels = %+v", tiers)
	}
	input["tiers"].([]map[string]any)[0]["channels"] = []string{"PIGEON"}
	s.GW.Query(t, s.Token(t, "gl-ada"), `mutation($input: SetEscalationPolicyInput!) {
		setEscalationPolicy(input: $input) { policy { version } } }`, map[string]any{"input": input}).Refused(t, "BAD_USER_INPUT")

	// Slack is down for the first two attempts.
	var slackAttempts int
	fail := func(r sink.Received) int {
		if r.Channel == notify.ChannelSlack {
			if slackAttempts++; slackAttempts <= 2 {
				return http.StatusServiceUnavailable
			}
		}
		return 0
	}
	s.FailPages(fail)

	opened := s.SetStatus(t, s.GW, "rm-apac-aiko", "SYD-OFC", "CRITICAL", "OPEN", "cyclone warning")
	id := opened.Escalation.ID
	deadline := time.Now().Add(stacktest.WaitLimit)

	// Every channel is delivered: the webhook and email at once, Slack on
	// its third attempt.
	ctx, cancel := context.WithTimeout(context.Background(), stacktest.WaitLimit)
	defer cancel()
	escID := idOf(t, id)
	keyOf := func(ch string) string { return fmt.Sprintf("%s:tier1:round1:rm-apac-aiko:%s", escID, ch) }
	// Aiko's own channels, that is: the organisation's webhook pages land in
	// the same sink, and are checked at the end.
	err := s.Sink.WaitFor(ctx, func(rs []sink.Received) bool {
		n := 0
		for _, r := range rs {
			if r.EscalationID == escID && !stacktest.OrganisationPage(r) {
				n++
			}
		}
		return n >= 3
	})
	if err != nil {
		t.Fatalf("waiting for three pages: %v (got %+v)", err, s.Sink.Received())
	}
	got := map[string]sink.Received{}
	for _, r := range s.Sink.Received() {
		if r.EscalationID == escID && !stacktest.OrganisationPage(r) {
			got[r.Channel] = r
		}
	}
	if r := got["WEBHOOK"]; r.To != "aiko" || r.IdempotencyKey != keyOf("WEBHOOK") || r.Page == nil || r.Page.Site != "SYD-OFC" {
		t.Errorf("webhook page = %+v", r)
	}
	if r := got["EMAIL"]; r.To != "aiko@meridian.example" || r.IdempotencyKey != keyOf("EMAIL") || !strings.Contains(r.Text, "cyclone warning") {
		t.Errorf("email = %+v", r)
	}
	if r := got["SLACK"]; r.To != "aiko" || r.IdempotencyKey != keyOf("SLACK") || !strings.Contains(r.Text, "SYD-OFC") {
		t.Errorf("Slack message = %+v", r)
	}

	// The timeline, through the API, shows whom, how, each failure and each
	// delivery.
	var steps []timelineStep
	for time.Now().Before(deadline) {
		_, steps = timelineOf(t, s, id)
		if countSteps(steps, "DELIVERED") == 3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var kinds []string
	for _, e := range steps {
		kinds = append(kinds, e.Kind)
	}
	if countSteps(steps, "DELIVERED") != 3 || countSteps(steps, "DELIVERY_FAILED") != 2 || countSteps(steps, "PAGED") != 1 {
		t.Fatalf("timeline kinds %v, want one PAGED, two DELIVERY_FAILED (Slack), three DELIVERED", kinds)
	}
	for _, e := range steps {
		switch e.Kind {
		case "PAGED":
			if e.Tier == nil || *e.Tier != 1 || !strings.Contains(e.Note, "rm-apac-aiko by WEBHOOK, EMAIL, SLACK") {
				t.Errorf("PAGED step = %+v", e)
			}
		case "DELIVERY_FAILED":
			if *e.Channel != "SLACK" || *e.Recipient != "rm-apac-aiko" || !strings.Contains(e.Note, "503") {
				t.Errorf("DELIVERY_FAILED step = %+v", e)
			}
		case "DELIVERED":
			if *e.Recipient != "rm-apac-aiko" || *e.Tier != 1 || (*e.Channel == "SLACK") != (*e.Attempt == 3) {
				t.Errorf("DELIVERED step = %+v (Slack on attempt 3, the others on 1)", e)
			}
		}
	}
	var attempts []int
	for _, e := range steps {
		if e.Kind == "DELIVERY_FAILED" {
			attempts = append(attempts, *e.Attempt)
		}
	}
	if !slices.Equal(attempts, []int{1, 2}) {
		t.Errorf("failed Slack attempts recorded = %v, want [1 2]", attempts)
	}

	// Aiko, paged, acknowledges; nobody else was paged meanwhile.
	if acked := decide(t, s, "rm-apac-aiko", "acknowledgeEscalation", id, "on it"); acked.Status != "ACKNOWLEDGED" {
		t.Fatalf("acknowledgement = %+v", acked)
	}
	for _, p := range s.Pages() {
		if p.Page.EscalationID == escID {
			t.Errorf("the organisation's webhook was paged although Aiko has her own: %+v", p.Page)
		}
	}
}

func countSteps(steps []timelineStep, kind string) int {
	n := 0
	for _, e := range steps {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

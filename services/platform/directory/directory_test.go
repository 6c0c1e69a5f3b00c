package directory_test

import (
	"context"
	"errors"
	"testing"

	"meridian.dev/platform/directory"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/testenv"
)

func ptr(s string) *string { return &s }

// In production people's own page URLs must be https; elsewhere (make run,
// tests against local sinks) http is accepted. Refusals change nothing.
func TestSetContactsHTTPSOnlyInProduction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dev := directory.NewStore(testenv.NewPool(t))
	if err := dev.Upsert(ctx, directory.Person{Subject: "ana", Name: "Ana", Email: "ana@example.com"}); err != nil {
		t.Fatal(err)
	}
	prod := dev.RequireHTTPS(true)

	for field, change := range map[string]directory.ContactsChange{
		"webhookUrl":      {WebhookURL: ptr("http://pager.example/ana")},
		"slackWebhookUrl": {SlackWebhookURL: ptr("http://hooks.example/T0/B0/x")},
	} {
		_, err := prod.SetContacts(ctx, "ana", "ana", change)
		var f *fault.Error
		if !errors.As(err, &f) || f.Code != fault.BadUserInput || f.Field != field {
			t.Fatalf("http %s in production = %v, want BAD_USER_INPUT on %s", field, err, field)
		}
	}
	if c, err := prod.Contacts(ctx, "ana"); err != nil || c.WebhookURL != "" || c.SlackWebhookURL != "" {
		t.Fatalf("refused changes left %+v, %v", c, err)
	}
	if c, err := prod.SetContacts(ctx, "ana", "ana", directory.ContactsChange{WebhookURL: ptr("https://pager.example/ana")}); err != nil || c.WebhookURL != "https://pager.example/ana" {
		t.Fatalf("https in production = %+v, %v", c, err)
	}
	if c, err := dev.SetContacts(ctx, "ana", "ana", directory.ContactsChange{WebhookURL: ptr("http://127.0.0.1:8089/pages/ana")}); err != nil || c.WebhookURL != "http://127.0.0.1:8089/pages/ana" {
		t.Fatalf("http outside production = %+v, %v", c, err)
	}
}

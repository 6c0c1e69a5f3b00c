package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"meridian.dev/platform/notify"
	"meridian.dev/platform/notify/sink"
)

// People set their own webhook URLs; in production those must not reach the
// internal network (here: loopback), while the organisation's webhook may.
func TestRestrictedSenderRefusesPersonalURLsInside(t *testing.T) {
	t.Parallel()
	rx, err := sink.Start(t.Context(), sink.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rx.Close() })
	page := notify.Page{IdempotencyKey: "e1:tier1:round1:ana:WEBHOOK", EscalationID: "e1", Tier: 1, SentAt: time.Now()}

	restricted := notify.NewSender(secret, rx.URL()+"/pages", notify.SMTPConfig{}, notify.SenderOptions{RestrictPersonalTargets: true})
	// Plain http is refused before anything is dialled.
	if _, err := restricted.Resolve(notify.ChannelWebhook, notify.Addresses{WebhookURL: "http://pager.example/ana"}); err == nil ||
		!notify.IsPermanent(err) || !strings.Contains(err.Error(), "https") {
		t.Fatalf("a personal http URL = %v, want a permanent refusal naming https", err)
	}
	// https to a loopback address is refused when dialled (no TLS peer is
	// needed for that: the address is checked before the connection).
	httpsURL := strings.Replace(rx.URL(), "http://", "https://", 1)
	for _, a := range []notify.Addresses{{WebhookURL: httpsURL + "/pages/ana"}, {SlackURL: httpsURL + "/slack/ana"}} {
		channel := notify.ChannelWebhook
		if a.SlackURL != "" {
			channel = notify.ChannelSlack
		}
		addr, err := restricted.Resolve(channel, a)
		if err != nil {
			t.Fatalf("resolve %s: %v", channel, err)
		}
		err = restricted.Send(context.Background(), addr, page)
		if err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), "loopback, private or link-local") {
			t.Fatalf("%s to a loopback URL a person set = %v, want a permanent refusal", channel, err)
		}
	}
	// The organisation's own webhook is configuration, not user input.
	addr, err := restricted.Resolve(notify.ChannelWebhook, notify.Addresses{})
	if err != nil {
		t.Fatal(err)
	}
	if err := restricted.Send(context.Background(), addr, page); err != nil {
		t.Fatalf("the organisation's webhook on loopback: %v", err)
	}
	// Unrestricted (development, tests) reaches a personal URL on loopback.
	open := notify.NewSender(secret, "", notify.SMTPConfig{})
	addr, _ = open.Resolve(notify.ChannelWebhook, notify.Addresses{WebhookURL: rx.URL() + "/pages/ana"})
	if err := open.Send(context.Background(), addr, page); err != nil {
		t.Fatalf("unrestricted personal webhook: %v", err)
	}
	if got := rx.Received(); len(got) != 2 || got[0].To != "" || got[1].To != "ana" {
		t.Fatalf("sink got %+v, want the organisation's page, then Ana's unrestricted one", got)
	}
}

// Notes and site names are people's words: in Slack they must not become
// markup, such as a mention that notifies a whole channel.
func TestSlackTextIsEscaped(t *testing.T) {
	t.Parallel()
	rx, err := sink.Start(t.Context(), sink.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rx.Close() })
	s := notify.NewSender(secret, "", notify.SMTPConfig{})
	addr, err := s.Resolve(notify.ChannelSlack, notify.Addresses{SlackURL: rx.URL() + "/slack/ana"})
	if err != nil {
		t.Fatal(err)
	}
	page := notify.Page{IdempotencyKey: "k", EscalationID: "e1", Tier: 1, Site: "LON-HQ", Note: "<!channel> smoke & <b>fire</b>"}
	if err := s.Send(context.Background(), addr, page); err != nil {
		t.Fatal(err)
	}
	got := rx.Received()
	if len(got) != 1 || !strings.Contains(got[0].Text, "&lt;!channel&gt; smoke &amp; &lt;b&gt;fire&lt;/b&gt;") || strings.Contains(got[0].Text, "<!channel>") {
		t.Fatalf("Slack pages = %+v, want one with the note escaped", got)
	}
}

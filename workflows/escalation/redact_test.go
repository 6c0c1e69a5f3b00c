package escalation

import (
	"errors"
	"net"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"meridian.dev/platform/directory"
	esc "meridian.dev/platform/escalation"
	"meridian.dev/platform/notify"
)

// A Slack incoming webhook's URL is a credential (whoever has it can post):
// when a page to one fails in transport, the timeline, the log and the
// error Temporal records name its scheme and host, never its path, query
// or userinfo.
func TestDeliveryFailureDoesNotLeakTheWebhookURL(t *testing.T) {
	t.Parallel()
	const (
		path  = "/services/T000PATHSECRET/B000PATHSECRET/XXXXTOKENSECRET"
		query = "?token=QUERYSECRET"
		user  = "eva.USERSECRET:PASSWORDSECRET@"
	)
	leaked := func(text string) []string {
		var out []string
		for _, s := range []string{"T000PATHSECRET", "B000PATHSECRET", "XXXXTOKENSECRET", "/services/", "QUERYSECRET", "token=",
			"USERSECRET", "PASSWORDSECRET"} {
			if strings.Contains(text, s) {
				out = append(out, s)
			}
		}
		return out
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()

	for _, c := range []struct {
		name    string
		opts    notify.SenderOptions
		channel string
		url     string // the person's own URL: scheme://host, then the secrets
		host    string // what may be shown
		cause   string // what went wrong
	}{
		// Development (personal URLs may be http and reach loopback): a
		// closed port on this machine.
		{"slack, connection refused", notify.SenderOptions{}, notify.ChannelSlack,
			"http://" + user + closed + path + query, "http://" + closed, "connection refused"},
		{"webhook, connection refused", notify.SenderOptions{}, notify.ChannelWebhook,
			"http://" + user + closed + path + query, "http://" + closed, "connection refused"},
		// Production (https only, nothing internal): a host that does not
		// resolve, so the delivery gets as far as the transport.
		{"slack, no such host, restricted", notify.SenderOptions{RestrictPersonalTargets: true}, notify.ChannelSlack,
			"https://" + user + "hooks-meridian-test.invalid" + path + query, "https://hooks-meridian-test.invalid", "lookup hooks-meridian-test.invalid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			rx := startSink(t, nil)
			a := f.activities(notify.NewSender(testSecret, rx.URL()+"/pages", notify.SMTPConfig{}, c.opts))
			change := directory.ContactsChange{SlackWebhookURL: ptr(c.url)}
			if c.channel == notify.ChannelWebhook {
				change = directory.ContactsChange{WebhookURL: ptr(c.url)}
			}
			f.setContacts(t, "mgr-emea-1", change)

			_, err := runActivity(t, ActivityDeliver, a.Deliver, deliverRequest(f, Delivery{"mgr-emea-1", c.channel}, 1))
			var appErr *temporal.ApplicationError
			if err == nil || !errors.As(err, &appErr) || appErr.NonRetryable() {
				t.Fatalf("delivery to %s = %v, want a retryable failure", c.host, err)
			}
			failed := f.timelineOf(t, esc.KindDeliveryFailed)
			if len(failed) != 1 {
				t.Fatalf("DELIVERY_FAILED steps = %+v, want one", failed)
			}
			note := failed[0].Note
			t.Logf("DELIVERY_FAILED note: %s", note)
			if l := leaked(note); len(l) > 0 {
				t.Errorf("the DELIVERY_FAILED note %q contains %q", note, l)
			}
			if !strings.Contains(note, c.host) || !strings.Contains(note, c.cause) || !strings.Contains(note, "will retry") {
				t.Errorf("the DELIVERY_FAILED note %q does not name %q and say %q", note, c.host, c.cause)
			}
			// What Temporal records of the failure (the workflow's PAGE_FAILED
			// note quotes it) is as clean, down the whole chain.
			for e := err; e != nil; e = errors.Unwrap(e) {
				if l := leaked(e.Error()); len(l) > 0 {
					t.Errorf("the activity's error (%T) %q contains %q", e, e.Error(), l)
					break
				}
			}
			if len(rx.Received()) != 0 {
				t.Fatalf("the sink got %+v", rx.Received())
			}
		})
	}
}

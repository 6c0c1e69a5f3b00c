package travel

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"meridian.dev/platform/directory"
	"meridian.dev/platform/notify"
)

const receiverSecret = "travel-test-secret"

// received is one request a receiver accepted.
type received struct {
	path string
	page notify.Page // webhooks
	text string      // Slack
	key  string
}

// receiver is a webhook and Slack endpoint that checks signatures the way
// a real pager bridge does, and answers 500 on paths under /down/.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []received
	bads int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if strings.HasPrefix(req.URL.Path, "/down/") {
			http.Error(w, "down for maintenance", http.StatusInternalServerError)
			return
		}
		rec := received{path: req.URL.Path, key: req.Header.Get(notify.HeaderIdempotencyKey)}
		if strings.HasPrefix(req.URL.Path, "/slack/") {
			var msg struct{ Text string }
			if err := json.Unmarshal(body, &msg); err != nil {
				http.Error(w, "bad slack body", http.StatusBadRequest)
				return
			}
			rec.text = msg.Text
		} else {
			err := notify.Verify(receiverSecret, req.Header.Get(notify.HeaderTimestamp), req.Header.Get(notify.HeaderSignature), body,
				time.Now(), 5*time.Minute)
			if err == nil {
				err = json.Unmarshal(body, &rec.page)
			}
			if err != nil {
				r.mu.Lock()
				r.bads++
				r.mu.Unlock()
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
		}
		r.mu.Lock()
		r.got = append(r.got, rec)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) take() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	slices.SortFunc(got, func(a, b received) int { return strings.Compare(a.path, b.path) })
	return got
}

func TestNotifierRiskRose(t *testing.T) {
	d := newRiskDB(t)
	ctx := t.Context()
	rcv := newReceiver(t)
	dir := directory.NewStore(d.pool)
	d.user("ana", "Ana Lima")
	d.user("tt-kim", "Kim Travel", "travel_team") // no address of her own
	d.user("tt-lee", "Lee Travel", "travel_team", "regional_manager")
	d.user("mo", "Mo Manager", "regional_manager") // not told
	setContacts := func(subject string, c directory.ContactsChange) {
		t.Helper()
		if _, err := dir.SetContacts(ctx, "admin", subject, c); err != nil {
			t.Fatal(err)
		}
	}
	anaHook, leeSlack := rcv.URL+"/hook/ana", rcv.URL+"/slack/lee"
	setContacts("ana", directory.ContactsChange{WebhookURL: &anaHook})
	setContacts("tt-lee", directory.ContactsChange{SlackWebhookURL: &leeSlack})

	n := &Notifier{Directory: dir, Sender: notify.NewSender(receiverSecret, rcv.URL+"/org", notify.SMTPConfig{})}
	trip := uuid.New()
	at := time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC)
	ev := RiskChanged{TripID: trip, Traveller: "ana", Region: "EMEA", PreviousLevel: 2, Level: 4, Cause: "advisory:KE v3", At: at,
		Reasons: []Reason{
			{Kind: ReasonAdvisory, Level: 4, Source: "US_STATE", Text: "US State Department: Level 4: Do Not Travel"},
			{Kind: ReasonAdvisory, Level: 3, Source: "UK_FCDO", Text: "UK FCDO: advise against all but essential travel to parts of Kenya"},
		}}
	if err := n.RiskRose(ctx, ev); err != nil {
		t.Fatal(err)
	}
	sentence := "Travel risk for Ana Lima's trip rose from level 2 to level 4: US State Department: Level 4: Do Not Travel (and 1 more)."
	key := func(subject, channel string) string {
		return "trip:" + trip.String() + ":risk:4:1796203800:" + subject + ":" + channel
	}
	got := rcv.take()
	if len(got) != 3 {
		t.Fatalf("received %+v, want the traveller's webhook, the organisation's (for Kim) and Lee's Slack", got)
	}
	// Ana, by her own signed webhook.
	if g := got[0]; g.path != "/hook/ana" || g.key != key("ana", notify.ChannelWebhook) || g.page.Note != sentence ||
		len(g.page.Recipients) != 1 || g.page.Recipients[0].Subject != "ana" || g.page.Region != "EMEA" {
		t.Errorf("traveller's page = %+v", g)
	}
	// Kim has no address: the organisation's webhook, signed, naming her.
	if g := got[1]; g.path != "/org" || g.key != key("tt-kim", notify.ChannelWebhook) || g.page.Note != sentence ||
		len(g.page.Recipients) != 1 || g.page.Recipients[0].Subject != "tt-kim" {
		t.Errorf("page for Kim = %+v", g)
	}
	// Lee, on Slack only: having an address, she is not also sent to the organisation.
	if g := got[2]; g.path != "/slack/lee" || g.key != key("tt-lee", notify.ChannelSlack) || !strings.Contains(g.text, sentence) {
		t.Errorf("Slack message for Lee = %+v", g)
	}
	if rcv.bads != 0 {
		t.Errorf("%d requests failed the signature check", rcv.bads)
	}

	// A fall, or the same level, tells nobody.
	for _, level := range []int{2, 1} {
		fall := ev
		fall.PreviousLevel, fall.Level = 2, level
		if err := n.RiskRose(ctx, fall); err != nil {
			t.Fatal(err)
		}
	}
	if got := rcv.take(); len(got) != 0 {
		t.Errorf("a fall sent %+v", got)
	}

	// Some reached: no error (a retry would page those reached again).
	n.Sender = notify.NewSender(receiverSecret, rcv.URL+"/down/org", notify.SMTPConfig{})
	if err := n.RiskRose(ctx, ev); err != nil {
		t.Errorf("RiskRose with the organisation's webhook down = %v, want nil: Ana and Lee were reached", err)
	}
	if got := rcv.take(); len(got) != 2 {
		t.Errorf("with the organisation's webhook down, received %+v, want Ana's and Lee's", got)
	}

	// Nobody reached: an error, so the relay tries again.
	down, downSlack := rcv.URL+"/down/ana", rcv.URL+"/down/slack"
	setContacts("ana", directory.ContactsChange{WebhookURL: &down})
	setContacts("tt-lee", directory.ContactsChange{SlackWebhookURL: &downSlack})
	if err := n.RiskRose(ctx, ev); err == nil {
		t.Error("RiskRose reached nobody and returned nil")
	}
}

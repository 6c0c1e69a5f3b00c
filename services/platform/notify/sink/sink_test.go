package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/platform/directory"
	"meridian.dev/platform/notify"
)

const sinkSecret = "sink-test-secret"

func startSink(t *testing.T, opts Options) *Sink {
	t.Helper()
	if opts.Secret == "" {
		opts.Secret = sinkSecret
	}
	s, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close sink: %v", err)
		}
	})
	return s
}

func testPage(key string) notify.Page {
	return notify.Page{
		IdempotencyKey: key,
		EscalationID:   "esc-7f3a",
		Tier:           2,
		TierName:       "Regional leads",
		Round:          3,
		Site:           "ZRH1",
		SiteName:       "Zürich 1",
		Region:         "EU",
		Level:          "RED",
		Posture:        "LOCKDOWN",
		Note:           "Badge readers offline at the north gate.",
		Recipients: []directory.Person{{
			Subject: "alice", Name: "Alice Ng", Email: "alice@example.com",
			Roles: []string{"regional_lead"}, Regions: []string{"EU"},
		}},
		SentAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
	}
}

func only(t *testing.T, s *Sink) Received {
	t.Helper()
	got := s.Received()
	if len(got) != 1 {
		t.Fatalf("sink received %d pages, want 1: %+v", len(got), got)
	}
	return got[0]
}

func TestSinkWebhook(t *testing.T) {
	var (
		mu       sync.Mutex
		callback []Received
	)
	sink := startSink(t, Options{OnReceive: func(r Received) {
		mu.Lock()
		defer mu.Unlock()
		callback = append(callback, r)
	}})
	sender := notify.NewSender(sinkSecret, sink.URL()+"/pages", notify.SMTPConfig{})
	page := testPage("esc-7f3a:t2:r3:alice:WEBHOOK")

	addr, err := sender.Resolve(notify.ChannelWebhook, notify.Addresses{WebhookURL: sink.URL() + "/pages/alice"})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := sender.Send(t.Context(), addr, page); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := only(t, sink)
	if got.Channel != notify.ChannelWebhook || got.To != "alice" || got.IdempotencyKey != page.IdempotencyKey || got.EscalationID != "esc-7f3a" {
		t.Errorf("received channel %q to %q key %q escalation %q", got.Channel, got.To, got.IdempotencyKey, got.EscalationID)
	}
	if got.At.Before(before) || got.At.After(time.Now()) {
		t.Errorf("received at %v, not during the send", got.At)
	}
	if got.Text != "" || got.Subject != "" {
		t.Errorf("webhook has text %q, subject %q", got.Text, got.Subject)
	}
	want := page
	want.Channel = notify.ChannelWebhook // Send stamps the channel on the page
	if got.Page == nil || !reflect.DeepEqual(*got.Page, want) {
		t.Errorf("decoded page\n got %+v\nwant %+v", got.Page, want)
	}
	mu.Lock()
	if len(callback) != 1 || callback[0].IdempotencyKey != page.IdempotencyKey {
		t.Errorf("OnReceive saw %+v", callback)
	}
	mu.Unlock()

	// No webhook of their own: the organisation's default, /pages itself.
	addr, err = sender.Resolve(notify.ChannelWebhook, notify.Addresses{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Send(t.Context(), addr, testPage("esc-7f3a:t2:r3:bob:WEBHOOK")); err != nil {
		t.Fatalf("send to default webhook: %v", err)
	}
	all := sink.Received()
	if len(all) != 2 || all[1].To != "" || all[1].IdempotencyKey != "esc-7f3a:t2:r3:bob:WEBHOOK" || all[1].Page.IdempotencyKey != "esc-7f3a:t2:r3:bob:WEBHOOK" {
		t.Errorf("default webhook page: %+v", all)
	}
}

func TestSinkRefusesBadSignature(t *testing.T) {
	var rejected []error
	var mu sync.Mutex
	sink := startSink(t, Options{OnReject: func(r Received, err error) {
		mu.Lock()
		defer mu.Unlock()
		if r.To != "alice" || r.Channel != notify.ChannelWebhook {
			t.Errorf("rejected %+v", r)
		}
		rejected = append(rejected, err)
	}})
	sender := notify.NewSender("not-the-secret", "", notify.SMTPConfig{})
	err := sender.Send(t.Context(), notify.Address{Channel: notify.ChannelWebhook, Target: sink.URL() + "/pages/alice"}, testPage("k1"))
	if err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("send with the wrong secret: %v (permanent %v), want a permanent 401", err, notify.IsPermanent(err))
	}

	// A correctly signed page from ten minutes ago is a replay.
	body, _ := json.Marshal(testPage("k2"))
	ts := time.Now().Add(-10 * time.Minute).Unix()
	status := post(t, sink.URL()+"/pages/alice", body, map[string]string{
		notify.HeaderTimestamp: strconv.FormatInt(ts, 10),
		notify.HeaderSignature: notify.Sign(sinkSecret, ts, body),
	})
	if status != http.StatusUnauthorized {
		t.Errorf("stale page answered %d, want 401", status)
	}

	if got := sink.Received(); len(got) != 0 {
		t.Errorf("refused pages were recorded: %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(rejected) != 2 || !strings.Contains(rejected[0].Error(), "signature mismatch") || !strings.Contains(rejected[1].Error(), "outside the accepted window") {
		t.Errorf("OnReject saw %v", rejected)
	}
}

// post sends body to url with headers and returns the status.
func post(t *testing.T, url string, body []byte, headers map[string]string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSinkChannelHeader(t *testing.T) {
	sink := startSink(t, Options{})
	body, _ := json.Marshal(testPage("legacy"))
	ts := time.Now().Unix()
	signed := map[string]string{notify.HeaderTimestamp: strconv.FormatInt(ts, 10), notify.HeaderSignature: notify.Sign(sinkSecret, ts, body), notify.HeaderIdempotencyKey: "legacy"}

	// The tier-wide pager predates the channel header: still a webhook.
	if status := post(t, sink.URL()+"/pages", body, signed); status != http.StatusNoContent {
		t.Fatalf("page without a channel header answered %d", status)
	}
	if got := only(t, sink); got.Channel != notify.ChannelWebhook || got.IdempotencyKey != "legacy" || got.Page.Site != "ZRH1" {
		t.Errorf("received %+v", got)
	}
	// A header naming another medium is a sender bug.
	signed[notify.HeaderChannel] = notify.ChannelEmail
	if status := post(t, sink.URL()+"/pages/alice", body, signed); status != http.StatusBadRequest {
		t.Errorf("webhook labelled EMAIL answered %d, want 400", status)
	}
	if status := post(t, sink.URL()+"/slack/alice", []byte(`{"text":"hi"}`), map[string]string{notify.HeaderChannel: notify.ChannelWebhook}); status != http.StatusBadRequest {
		t.Errorf("slack message labelled WEBHOOK answered %d, want 400", status)
	}
	if status := post(t, sink.URL()+"/slack/alice", []byte(`{"blocks":[]}`), nil); status != http.StatusBadRequest {
		t.Errorf("slack message without text answered %d, want 400", status)
	}
	if n := len(sink.Received()); n != 1 {
		t.Errorf("%d pages recorded, want only the first", n)
	}
}

func TestSinkSlack(t *testing.T) {
	sink := startSink(t, Options{})
	sender := notify.NewSender(sinkSecret, "", notify.SMTPConfig{})
	page := testPage("esc-7f3a:t2:r3:alice:SLACK")
	addr, err := sender.Resolve(notify.ChannelSlack, notify.Addresses{SlackURL: sink.URL() + "/slack/T000/B000/alice"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Send(t.Context(), addr, page); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := only(t, sink)
	if got.Channel != notify.ChannelSlack || got.To != "alice" || got.IdempotencyKey != page.IdempotencyKey || got.EscalationID != "esc-7f3a" || got.Page != nil {
		t.Errorf("received %+v", got)
	}
	if got.Text != page.Text() {
		t.Errorf("slack text\n got %q\nwant %q", got.Text, page.Text())
	}
	if !strings.HasPrefix(got.Text, "[EU] Meridian escalation: RED/LOCKDOWN at Zürich 1 (ZRH1), tier 2 (Regional leads)\n") ||
		!strings.Contains(got.Text, "Badge readers offline") || !strings.Contains(got.Text, "Escalation esc-7f3a, round 3.") {
		t.Errorf("slack text %q", got.Text)
	}
}

func TestSinkEmail(t *testing.T) {
	sink := startSink(t, Options{})
	for _, cfg := range []notify.SMTPConfig{
		{Addr: sink.SMTPAddr(), From: "Meridian <pager@meridian.test>"},
		// Any AUTH PLAIN credentials are accepted (net/smtp allows PLAIN
		// without TLS to 127.0.0.1).
		{Addr: sink.SMTPAddr(), From: "pager@meridian.test", Username: "meridian", Password: "anything"},
	} {
		sender := notify.NewSender(sinkSecret, "", cfg)
		addr, err := sender.Resolve(notify.ChannelEmail, notify.Addresses{Email: "Alice Ng <alice@example.com>"})
		if err != nil {
			t.Fatal(err)
		}
		if err := sender.Send(t.Context(), addr, testPage("esc-7f3a:t2:r3:alice:EMAIL")); err != nil {
			t.Fatalf("send with %+v: %v", cfg, err)
		}
	}
	got := sink.Received()
	if len(got) != 2 {
		t.Fatalf("received %d emails, want 2: %+v", len(got), got)
	}
	page := testPage("esc-7f3a:t2:r3:alice:EMAIL")
	for _, r := range got {
		if r.Channel != notify.ChannelEmail || r.To != "alice@example.com" || r.IdempotencyKey != page.IdempotencyKey || r.EscalationID != "esc-7f3a" || r.Page != nil {
			t.Errorf("received %+v", r)
		}
		// The subject has non-ASCII (Zürich), so it travels MIME-encoded.
		if r.Subject != page.Subject() {
			t.Errorf("subject %q, want %q", r.Subject, page.Subject())
		}
		if strings.TrimRight(r.Text, "\n") != strings.TrimRight(page.Text(), "\n") {
			t.Errorf("body\n got %q\nwant %q", r.Text, page.Text())
		}
		if !strings.HasPrefix(r.MessageID, "<") || !strings.HasSuffix(r.MessageID, "@meridian>") {
			t.Errorf("message id %q", r.MessageID)
		}
	}
	// The same page twice has the same Message-ID, so mail systems can
	// drop the second.
	if got[0].MessageID != got[1].MessageID {
		t.Errorf("message ids differ: %q, %q", got[0].MessageID, got[1].MessageID)
	}
}

func TestSinkFail(t *testing.T) {
	var (
		mu    sync.Mutex
		asked []Received
	)
	sink := startSink(t, Options{Fail: func(r Received) int {
		mu.Lock()
		asked = append(asked, r)
		mu.Unlock()
		switch r.To {
		case "busy":
			return http.StatusServiceUnavailable
		case "gone":
			return http.StatusNotFound
		case "busy@example.com":
			return 451
		case "gone@example.com":
			return 550
		}
		return 0
	}})
	sender := notify.NewSender(sinkSecret, "", notify.SMTPConfig{Addr: sink.SMTPAddr()})
	for _, tc := range []struct {
		channel, target string
		permanent       bool
		code            string
	}{
		{notify.ChannelWebhook, sink.URL() + "/pages/busy", false, "503"},
		{notify.ChannelSlack, sink.URL() + "/slack/busy", false, "503"},
		{notify.ChannelEmail, "busy@example.com", false, "451"},
		{notify.ChannelWebhook, sink.URL() + "/pages/gone", true, "404"},
		{notify.ChannelSlack, sink.URL() + "/slack/gone", true, "404"},
		{notify.ChannelEmail, "gone@example.com", true, "550"},
	} {
		err := sender.Send(t.Context(), notify.Address{Channel: tc.channel, Target: tc.target}, testPage("k:"+tc.channel))
		if err == nil {
			t.Errorf("%s %s: sent, want refused with %s", tc.channel, tc.target, tc.code)
			continue
		}
		if notify.IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), tc.code) {
			t.Errorf("%s %s: %v (permanent %v), want %s with permanent %v", tc.channel, tc.target, err, notify.IsPermanent(err), tc.code, tc.permanent)
		}
	}
	if got := sink.Received(); len(got) != 0 {
		t.Errorf("refused pages were recorded: %+v", got)
	}
	mu.Lock()
	if len(asked) != 6 {
		t.Errorf("Fail asked about %d pages, want 6", len(asked))
	}
	for _, r := range asked {
		if r.IdempotencyKey != "k:"+r.Channel || r.EscalationID != "esc-7f3a" {
			t.Errorf("Fail saw %+v", r)
		}
	}
	mu.Unlock()

	if err := sender.Send(t.Context(), notify.Address{Channel: notify.ChannelEmail, Target: "alice@example.com"}, testPage("k:ok")); err != nil {
		t.Fatalf("send to a healthy address: %v", err)
	}
	if got := only(t, sink); got.To != "alice@example.com" || got.IdempotencyKey != "k:ok" {
		t.Errorf("received %+v", got)
	}
}

func TestSinkWaitForAndClose(t *testing.T) {
	sink := startSink(t, Options{})
	sender := notify.NewSender(sinkSecret, "", notify.SMTPConfig{Addr: sink.SMTPAddr()})
	names := []string{"alice", "bob", "carol", "dan"}
	errs := make(chan error, 2*len(names))
	for _, name := range names {
		go func() {
			errs <- sender.Send(context.Background(), notify.Address{Channel: notify.ChannelWebhook, Target: sink.URL() + "/pages/" + name}, testPage("k:"+name))
		}()
		go func() {
			errs <- sender.Send(context.Background(), notify.Address{Channel: notify.ChannelEmail, Target: name + "@example.com"}, testPage("k:"+name))
		}()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := sink.WaitFor(ctx, func(got []Received) bool { return len(got) == 2*len(names) }); err != nil {
		t.Fatal(err)
	}
	for range 2 * len(names) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	seen := map[string]bool{}
	for _, r := range sink.Received() {
		seen[r.Channel+" "+r.To] = true
	}
	for _, name := range names {
		if !seen["WEBHOOK "+name] || !seen["EMAIL "+name+"@example.com"] {
			t.Errorf("%s missing from %v", name, seen)
		}
	}

	short, cancel2 := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel2()
	if err := sink.WaitFor(short, func(got []Received) bool { return len(got) > 2*len(names) }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor for a page never sent: %v", err)
	}

	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	err := sender.Send(t.Context(), notify.Address{Channel: notify.ChannelWebhook, Target: sink.URL() + "/pages/alice"}, testPage("late"))
	if err == nil || notify.IsPermanent(err) {
		t.Errorf("send to a closed sink: %v, want a retryable error", err)
	}
	if n := len(sink.Received()); n != 2*len(names) {
		t.Errorf("%d pages after close, want %d", n, 2*len(names))
	}
}

func TestSinkClosesWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	sink, err := Start(ctx, Options{Secret: sinkSecret})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Post(sink.URL()+"/slack/x", "application/json", strings.NewReader(`{"text":"x"}`))
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("sink still serving after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := sink.Close(); err != nil {
		t.Errorf("close after the context closed it: %v", err)
	}
	if _, err := Start(t.Context(), Options{}); err == nil {
		t.Error("Start without a secret succeeded")
	}
}

// Closing a sink straight after starting it must not hang, whichever of
// its servers has started serving.
func TestSinkCloseRightAway(t *testing.T) {
	for range 200 {
		sink, err := Start(t.Context(), Options{Secret: sinkSecret})
		if err != nil {
			t.Fatal(err)
		}
		closed := make(chan error, 1)
		go func() { closed <- sink.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close hung")
		}
	}
}

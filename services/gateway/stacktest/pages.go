package stacktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"meridian.dev/platform/notify"
	"meridian.dev/platform/notify/sink"
)

// Rejection is a message the stack's Sink refused as malformed or badly
// signed, with what was known of it (unverified) and why.
type Rejection struct {
	Page sink.Received
	Err  error
}

// startSink starts the one receiver of every page the stack sends.
func (s *Stack) startSink(t testing.TB) {
	t.Helper()
	var err error
	s.Sink, err = sink.Start(context.Background(), sink.Options{
		Secret: PagerSecret,
		Fail: func(r sink.Received) int {
			if fail := s.failPages.Load(); fail != nil {
				return (*fail)(r)
			}
			return 0
		},
		OnReject: func(r sink.Received, err error) {
			s.rejectMu.Lock()
			s.rejections = append(s.rejections, Rejection{Page: r, Err: err})
			s.rejectMu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("stacktest: page sink: %v", err)
	}
	t.Cleanup(func() { _ = s.Sink.Close() })
}

// FailPages makes the Sink refuse the pages fail returns a non-zero code
// for (an HTTP status for webhooks and Slack, an SMTP reply code for
// email), recording nothing of them: a receiver that is down. fail sees
// every well-formed page, the organisation's webhook pages included, and
// may be called from several goroutines at once. FailPages(nil) accepts
// everything again.
func (s *Stack) FailPages(fail func(sink.Received) int) {
	if fail == nil {
		s.failPages.Store(nil)
		return
	}
	s.failPages.Store(&fail)
}

// Rejections returns what the Sink refused so far as malformed or badly
// signed (never what FailPages refused).
func (s *Stack) Rejections() []Rejection {
	s.rejectMu.Lock()
	defer s.rejectMu.Unlock()
	return append([]Rejection(nil), s.rejections...)
}

// OrganisationPage reports whether r came to the organisation's webhook, the
// worker's default for people without one of their own (a webhook posted
// to /pages itself), rather than to a person's own channel.
func OrganisationPage(r sink.Received) bool {
	return r.Channel == notify.ChannelWebhook && r.To == ""
}

// Pages returns the pages the organisation's webhook received so far, in
// arrival order. Each one's signature was verified against PagerSecret,
// and its Page is the decoded body.
func (s *Stack) Pages() []sink.Received {
	return organisationPages(s.Sink.Received())
}

func organisationPages(all []sink.Received) []sink.Received {
	var out []sink.Received
	for _, r := range all {
		if OrganisationPage(r) {
			out = append(out, r)
		}
	}
	return out
}

// WaitPage returns the first page of the organisation's webhook that match
// accepts, waiting for it up to WaitLimit; what names it in the failure.
// match sees only verified pages, whose Page is never nil.
func (s *Stack) WaitPage(t testing.TB, what string, match func(sink.Received) bool) sink.Received {
	t.Helper()
	deadline := time.Now().Add(WaitLimit)
	for {
		all := s.Sink.Received()
		for _, pg := range organisationPages(all) {
			if match(pg) {
				return pg
			}
		}
		s.RequireWorkerRunning(t)
		if time.Now().After(deadline) {
			t.Fatalf("no %s page within %s; %s", what, WaitLimit, s.pageSummary())
		}
		// Until the next page arrives, or a moment passes to look at the
		// worker again.
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		_ = s.Sink.WaitFor(ctx, func(rs []sink.Received) bool { return len(rs) > len(all) })
		cancel()
	}
}

// pageSummary says what the Sink has seen, for a failed wait: a worker
// signing with another secret shows up as rejections.
func (s *Stack) pageSummary() string {
	all := s.Sink.Received()
	msg := fmt.Sprintf("pages received: %d by the organisation's webhook, %d in all", len(organisationPages(all)), len(all))
	if rej := s.Rejections(); len(rej) > 0 {
		msg += fmt.Sprintf("; %d refused by the sink, the first as: %v", len(rej), rej[0].Err)
	}
	return msg
}

// PostSignedPage posts page to url the way the worker does, signed with
// secret, and returns the HTTP status: a test can show a receiver refusing
// a page signed with another secret.
func PostSignedPage(t testing.TB, url, secret string, page notify.Page) int {
	t.Helper()
	body, err := json.Marshal(page)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(notify.HeaderIdempotencyKey, page.IdempotencyKey)
	req.Header.Set(notify.HeaderEscalation, page.EscalationID)
	req.Header.Set(notify.HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(notify.HeaderSignature, notify.Sign(secret, ts, body))
	resp, err := (&http.Client{Timeout: RequestTimeout}).Do(req)
	if err != nil {
		t.Fatalf("post a page to %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

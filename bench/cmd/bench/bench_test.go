package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"meridian.dev/platform/testenv"
)

// TestRunTiny runs the whole benchmark at a toy size against the real
// services and checks what it must get right: every update succeeds, every
// subscriber receives every event, and every incident (and bare workflow)
// is paged exactly once. Speed is never asserted here.
func TestRunTiny(t *testing.T) {
	cfg := defaultConfig()
	cfg.PostgresURL = testenv.ServerURL()
	cfg.RedisURL = testenv.RedisURL()
	cfg.TemporalAddress = testenv.TemporalAddress(t)
	cfg.Warmup = 200 * time.Millisecond
	cfg.Clients = 2
	cfg.Duration = time.Second
	cfg.Subscribers = 5
	cfg.Rate = 20
	cfg.FanoutDuration = time.Second
	cfg.FanoutSites = 4
	cfg.Drain = 10 * time.Second
	cfg.Incidents = 5
	cfg.PageTimeout = time.Minute

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	rep, err := run(ctx, cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}

	tp := rep.Throughput
	if tp == nil || tp.System == nil || tp.Raw == nil {
		t.Fatalf("throughput part missing: %+v", tp)
	}
	for name, r := range map[string]*OpsResult{"system": tp.System, "raw": tp.Raw} {
		if r.Ops == 0 || r.Errors != 0 {
			t.Errorf("%s: %d updates, %d errors (%s); want some and none", name, r.Ops, r.Errors, r.FirstError)
		}
	}

	f := rep.Fanout
	if f == nil || f.Raw == nil {
		t.Fatalf("fan-out part missing: %+v", f)
	}
	if f.Updates == 0 || f.UpdateErrors != 0 {
		t.Errorf("fan-out: %d updates, %d errors (%s); want some and none", f.Updates, f.UpdateErrors, f.FirstError)
	}
	if want := int64(f.Updates) * 5; f.System.Expected != want || f.System.Received != want || f.System.Duplicates != 0 {
		t.Errorf("subscribers received %d of %d events (%d duplicates); want all %d, once", f.System.Received, f.System.Expected, f.System.Duplicates, want)
	}
	if f.SubscriberErrors != 0 {
		t.Errorf("%d subscribers failed: %s", f.SubscriberErrors, f.FirstSubscriberError)
	}
	if f.Raw.Expected == 0 || f.Raw.Received != f.Raw.Expected {
		t.Errorf("raw pub/sub: received %d of %d", f.Raw.Received, f.Raw.Expected)
	}
	if rep.Pages != 0 {
		t.Errorf("%d pages sent; NORMAL/ELEVATED updates must not escalate", rep.Pages)
	}
	if rep.BadPages != 0 {
		t.Errorf("the sink rejected %d pages", rep.BadPages)
	}

	x := rep.Escalation
	if x == nil {
		t.Fatal("escalation part missing")
	}
	if x.MutationErrors != 0 || x.NotOpened != 0 {
		t.Errorf("escalation: %d CRITICAL updates failed (%s), %d opened no escalation; want none", x.MutationErrors, x.FirstError, x.NotOpened)
	}
	for name, s := range map[string]EscalationSide{"system": x.System, "bare": x.Bare} {
		if s.Expected != 5 || s.Delivered != 5 || s.Duplicates != 0 || s.Errors != 0 {
			t.Errorf("escalation %s: %d of %d paged, %d duplicates, %d errors (%s); want all 5, once", name, s.Delivered, s.Expected, s.Duplicates, s.Errors, s.FirstError)
		}
	}
	if x.LaterTierPages != 0 || x.ResolveErrors != 0 || x.Unfinished != 0 {
		t.Errorf("escalation: %d later-tier pages, %d resolve errors (%s), %d unfinished workflows (%s); want none",
			x.LaterTierPages, x.ResolveErrors, x.FirstResolveError, x.Unfinished, x.FirstUnfinished)
	}
	if !strings.Contains(out.String(), "incidents paged (all delivered?)") {
		t.Errorf("the final table has no escalation rows")
	}
	if !strings.Contains(out.String(), "events received/expected") {
		t.Errorf("the final table is missing")
	}
}

func TestParseEvent(t *testing.T) {
	ids := map[string]int{"U2l0ZTox": 7}
	frame := []byte(`{"id":"1","type":"next","payload":{"data":{"siteStatusChanged":{"cursor":"1-0","site":{"id":"U2l0ZTox","code":"NYC-HQ"},"current":{"level":"NORMAL","version":42,"updatedAt":"2026-01-01T00:00:00Z"}}}}}`)
	if got := frameType(frame); got != "next" {
		t.Fatalf("frameType = %q, want next", got)
	}
	idx, version, ok := parseEvent(frame, ids)
	if !ok || idx != 7 || version != 42 {
		t.Fatalf("parseEvent = %d, %d, %v; want 7, 42, true", idx, version, ok)
	}
	// Field order is not guaranteed: the full decode must find them too.
	reordered := []byte(`{"type":"next","id":"1","payload":{"data":{"siteStatusChanged":{"current":{"version":3},"site":{"code":"X","id":"U2l0ZTox"}}}}}`)
	if idx, version, ok := parseEvent(reordered, ids); !ok || idx != 7 || version != 3 {
		t.Fatalf("parseEvent(reordered) = %d, %d, %v; want 7, 3, true", idx, version, ok)
	}
	if _, _, ok := parseEvent([]byte(`{"type":"next","payload":{}}`), ids); ok {
		t.Fatal("parseEvent accepted a frame without a known site")
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)*time.Millisecond)
	}
	s := summarize(d)
	if s.P50 != 50*time.Millisecond || s.P99 != 99*time.Millisecond || s.Max != 100*time.Millisecond || s.N != 100 {
		t.Fatalf("summarize = %+v", s)
	}
}

func TestQuickKeepsExplicitFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-quick", "-clients", "7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Clients != 7 || cfg.Subscribers != 20 || cfg.Rate != 100 || cfg.Duration != 2*time.Second {
		t.Fatalf("quick config = %+v", cfg)
	}
	if cfg.Incidents != 20 {
		t.Fatalf("quick incidents = %d, want 20", cfg.Incidents)
	}
	if cfg, err := parseFlags([]string{"-parts", "escalation", "-incidents", "3"}, io.Discard); err != nil || !cfg.runs("escalation") || cfg.runs("fanout") || cfg.Incidents != 3 {
		t.Fatalf("parseFlags(-parts escalation -incidents 3) = %+v, %v", cfg, err)
	}
	if _, err := parseFlags([]string{"-parts", "nope"}, io.Discard); err == nil {
		t.Fatal("parseFlags accepted -parts nope")
	}
}

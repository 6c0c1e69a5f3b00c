package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"meridian.dev/platform/testenv"
	"meridian.dev/platform/travel"
)

// TestRunTiny runs the whole benchmark at a toy size against the real
// services and checks what it must get right: every update succeeds, every
// subscriber receives every event, every incident (and bare workflow) is
// paged exactly once, and every trip in the changed country is re-assessed,
// with what it stores agreeing with a fresh score. Speed is never asserted
// here.
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
	cfg.TravelIncidents = 500
	cfg.TravelIterations = 20
	cfg.TravelQueries = 10
	cfg.TravelTrips = 200

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
	tr := rep.Travel
	if tr == nil || tr.Reassess == nil {
		t.Fatalf("travel part missing: %+v", tr)
	}
	if tr.Incidents != 500 || tr.Segments != 10 || tr.TripCountries != 4 {
		t.Errorf("travel: %d live incidents, %d segments in %d countries; want 500, 10 in 4", tr.Incidents, tr.Segments, tr.TripCountries)
	}
	for name, s := range map[string]TravelSide{"assess": tr.Assess, "graphql": tr.GraphQL, "raw": tr.Raw} {
		if s.Errors != 0 || s.Latency.N == 0 || s.Latency.N != s.Runs {
			t.Errorf("travel %s: %d of %d runs timed, %d errors (%s); want all, none", name, s.Latency.N, s.Runs, s.Errors, s.FirstError)
		}
	}
	if tr.Assess.Runs != 20 || tr.GraphQL.Runs != 10 || tr.Raw.Runs != 20 {
		t.Errorf("travel runs: assess %d, graphql %d, raw %d; want 20, 10, 20", tr.Assess.Runs, tr.GraphQL.Runs, tr.Raw.Runs)
	}
	if x := tr.Reassess; x.Trips != 200 || x.Summary.Trips != x.Trips || x.Summary.Changed == 0 || x.StoredChanged != x.Summary.Changed ||
		x.Sampled == 0 || x.SampleAgrees != x.Sampled {
		t.Errorf("travel re-assessment = %+v; want the 200 trips scored, some changed, as stored, and the sample agreeing", *x)
	}
	if !strings.Contains(out.String(), "re-assess 200 trips (s)") {
		t.Errorf("the final table has no travel rows")
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

func TestTravelFlags(t *testing.T) {
	def, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !def.runs("travel") || def.TravelIncidents != 5000 || def.TravelIterations != 2000 || def.TravelQueries != 1000 || def.TravelTrips != 10_000 {
		t.Fatalf("default travel config = %+v; want part 4 in all, 5000 incidents, 2000 assessments, 1000 queries, 10000 trips", def)
	}
	quick, err := parseFlags([]string{"-quick", "-parts", "travel", "-travel-queries", "7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !quick.runs("travel") || quick.runs("escalation") || quick.runs("throughput") {
		t.Fatalf("-parts travel runs the wrong parts: %+v", quick)
	}
	if quick.TravelIterations != 200 || quick.TravelTrips != 1000 || quick.TravelQueries != 7 || quick.TravelIncidents != 5000 {
		t.Fatalf("quick travel config = %+v; want 200 assessments, 1000 trips, the explicit 7 queries, 5000 incidents", quick)
	}
	for _, bad := range [][]string{
		{"-travel-iterations", "0"}, {"-travel-queries", "0"}, {"-travel-trips", "0"}, {"-travel-incidents", "-1"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%v) accepted it", bad)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)*time.Millisecond)
	}
	p := percentilesOf(d)
	if p.N != 100 || p.P50 != 50*time.Millisecond || p.P95 != 95*time.Millisecond || p.P99 != 99*time.Millisecond || p.Max != 100*time.Millisecond {
		t.Fatalf("percentilesOf = %+v", p)
	}
	if p := percentilesOf(nil); p != (Percentiles{}) {
		t.Fatalf("percentilesOf(nil) = %+v, want zero", p)
	}
}

func TestTravelProblems(t *testing.T) {
	side := TravelSide{Runs: 3, Latency: Percentiles{N: 3, P50: time.Millisecond}}
	good := TravelReport{Assess: side, GraphQL: side, Raw: side, Reassess: &ReassessResult{Country: "KE", From: 3, To: 2, Trips: 10,
		Summary: travel.ReassessSummary{Trips: 10, Changed: 4}, StoredChanged: 4, Sampled: 5, SampleAgrees: 5}}
	if p := good.problems(); len(p) != 0 {
		t.Fatalf("a correct run reports problems: %v", p)
	}
	cases := map[string]func(r *TravelReport){
		"failed query":       func(r *TravelReport) { r.GraphQL.Errors, r.GraphQL.FirstError = 1, "boom" },
		"nothing measured":   func(r *TravelReport) { r.Raw.Latency = Percentiles{} },
		"trips left out":     func(r *TravelReport) { r.Reassess.Summary.Trips = 9 },
		"nothing changed":    func(r *TravelReport) { r.Reassess.Summary.Changed, r.Reassess.StoredChanged = 0, 0 },
		"changes not stored": func(r *TravelReport) { r.Reassess.StoredChanged = 3 },
		"sample disagrees":   func(r *TravelReport) { r.Reassess.SampleAgrees = 4 },
	}
	for name, spoil := range cases {
		r := good
		x := *good.Reassess
		r.Reassess = &x
		spoil(&r)
		if len(r.problems()) == 0 {
			t.Errorf("%s: no problem reported", name)
		}
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

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

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
	cfg.ProtectionDetails = 12
	cfg.ProtectionAgents = 3
	cfg.ProtectionInterval = 6 * time.Second
	cfg.ProtectionGrace = 2 * time.Second
	cfg.ProtectionWindow = 6 * time.Second
	cfg.ProtectionSilent = 3
	cfg.BoardSites = 150
	cfg.BoardEscalations = 5
	cfg.BoardRate = 20
	cfg.BoardDuration = 2 * time.Second
	cfg.BoardIdle = time.Second
	cfg.BoardLoads = 1

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
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
	pr := rep.Protection
	if pr == nil || pr.Missed == nil {
		t.Fatalf("protection part missing: %+v", pr)
	}
	if pr.Watches != 12 || pr.CheckIn.Latency.N == 0 || pr.CheckIn.Errors != 0 || pr.CheckInErrors != 0 || pr.Bare.Latency.N == 0 ||
		pr.Bare.Errors != 0 || pr.Derive.Latency.N == 0 {
		t.Errorf("protection: %d watches, %d check-ins timed (%d errors, %d in all: %s), %d bare Updates (%d errors: %s), %d derivations; want 12 watches, some of each, no errors",
			pr.Watches, pr.CheckIn.Latency.N, pr.CheckIn.Errors, pr.CheckInErrors, pr.FirstCheckInError, pr.Bare.Latency.N, pr.Bare.Errors, pr.Bare.FirstError, pr.Derive.Latency.N)
	}
	if m := pr.Missed; !m.AllPaged() || m.Silent != 3 {
		t.Errorf("protection missed check-ins = %+v; want the 3 silent details each raising one incident, paged once, nothing else", *m)
	}
	if pr.EndErrors != 0 || pr.ResolveErrors != 0 || pr.Unfinished != 0 {
		t.Errorf("protection cleanup: %d end errors (%s), %d resolve errors (%s), %d unfinished workflows (%s); want none",
			pr.EndErrors, pr.FirstEndError, pr.ResolveErrors, pr.FirstResolve, pr.Unfinished, pr.FirstUnfinished)
	}
	checkBoard(t, rep.Board, out.String())
	if !strings.Contains(out.String(), "all paged, one incident each?") {
		t.Errorf("the final table has no protection rows")
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

func TestCheckInSchedule(t *testing.T) {
	if got := checkInPeriod(60 * time.Second); got != 54*time.Second {
		t.Fatalf("checkInPeriod(60 s) = %s, want 54 s", got)
	}
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	period := 54 * time.Second
	cases := []struct {
		name   string
		offset time.Duration
		after  time.Time
		want   time.Time
	}{
		{"slot after the start", 10 * time.Second, origin.Add(time.Second), origin.Add(10 * time.Second)},
		{"slot already passed: the next one", 10 * time.Second, origin.Add(30 * time.Second), origin.Add(64 * time.Second)},
		{"exactly on a slot: the next one", 10 * time.Second, origin.Add(10 * time.Second), origin.Add(64 * time.Second)},
		{"many periods late", 0, origin.Add(5*period + time.Second), origin.Add(6 * period)},
	}
	for _, c := range cases {
		got := firstSlot(origin, c.offset, period, c.after)
		if !got.Equal(c.want) {
			t.Errorf("%s: firstSlot = %s, want %s", c.name, got.Sub(origin), c.want.Sub(origin))
		}
		// Always within one period of the start: before the first check-in
		// falls due (one interval after the start).
		if !got.After(c.after) || got.Sub(c.after) > period {
			t.Errorf("%s: firstSlot %s is not within one period after %s", c.name, got.Sub(origin), c.after.Sub(origin))
		}
	}
}

func TestSilentDetails(t *testing.T) {
	got := silentDetails(1000, 100)
	if len(got) != 100 || got[0] != 0 || got[1] != 10 || got[99] != 990 {
		t.Fatalf("silentDetails(1000, 100) = %v…; want every 10th", got[:3])
	}
	// With the default 50 agents (detail i checked in on by agent i%50),
	// the silent details are every detail of 5 agents.
	agents := map[int]int{}
	for _, i := range got {
		agents[i%50]++
	}
	if len(agents) != 5 {
		t.Fatalf("silent details belong to %d agents, want 5: %v", len(agents), agents)
	}
	for a, n := range agents {
		if n != 20 {
			t.Errorf("agent %d: %d silent details, want all 20", a, n)
		}
	}
	if got := silentDetails(7, 3); len(got) != 3 || got[0] != 0 || got[1] != 2 || got[2] != 4 {
		t.Errorf("silentDetails(7, 3) = %v, want [0 2 4]", got)
	}
	if got := silentDetails(3, 10); len(got) != 3 {
		t.Errorf("silentDetails(3, 10) = %v, want all 3", got)
	}
}

func TestParsePageKey(t *testing.T) {
	detail, esc := uuid.New(), uuid.New()
	cases := []struct {
		key  string
		kind string
		id   uuid.UUID
		ok   bool
	}{
		{"checkin-remind:" + detail.String() + ":1767225600:pa-bench-001:WEBHOOK", pageReminder, detail, true},
		{esc.String() + ":tier1:round1:pl-bench-000:WEBHOOK", pageEscalation, esc, true},
		{esc.String() + ":tier2:round1:rm-amer-ana:WEBHOOK", pageEscalation, esc, true},
		{"trip:" + detail.String() + ":risk:3:1:tr:WEBHOOK", "", uuid.Nil, false},
		{"protection:near:" + esc.String() + ":" + detail.String() + ":pl:WEBHOOK", "", uuid.Nil, false},
		{"checkin-remind:nope:1:x:WEBHOOK", pageReminder, uuid.Nil, false},
		{"", "", uuid.Nil, false},
	}
	for _, c := range cases {
		kind, id, ok := parsePageKey(c.key)
		if ok != c.ok || (ok && (kind != c.kind || id != c.id)) {
			t.Errorf("parsePageKey(%q) = %q, %s, %v; want %q, %s, %v", c.key, kind, id, ok, c.kind, c.id, c.ok)
		}
	}
	if id, due, ok := missedDetail("missed:" + detail.String() + ":1767225600"); !ok || id != detail || due != 1767225600 {
		t.Errorf("missedDetail = %s, %d, %v; want %s, 1767225600", id, due, ok, detail)
	}
	for _, bad := range []string{"duress:" + detail.String(), "missed:" + detail.String(), "missed:xyz:1", "missed:" + detail.String() + ":soon"} {
		if _, _, ok := missedDetail(bad); ok {
			t.Errorf("missedDetail(%q) accepted it", bad)
		}
	}
}

func TestClassifyPages(t *testing.T) {
	silent, other, stranger := &benchDetail{id: uuid.New(), silent: true}, &benchDetail{id: uuid.New()}, uuid.New()
	esc, foreign := uuid.New(), uuid.New()
	details := map[uuid.UUID]*benchDetail{silent.id: silent, other.id: other}
	byEscalation := map[uuid.UUID]missedIncident{esc: {detail: silent.id}}
	at := time.Now()
	l := newProtPages()
	for _, p := range []sinkPage{
		{IdempotencyKey: "checkin-remind:" + silent.id.String() + ":1:pa:WEBHOOK"},
		{IdempotencyKey: "checkin-remind:" + other.id.String() + ":1:pa:WEBHOOK"},
		{IdempotencyKey: "checkin-remind:" + stranger.String() + ":1:pa:WEBHOOK"},
		{IdempotencyKey: esc.String() + ":tier1:round1:pl:WEBHOOK", Tier: 1},
		{IdempotencyKey: esc.String() + ":tier1:round1:pl:WEBHOOK", Tier: 1},
		{IdempotencyKey: esc.String() + ":tier2:round1:rm:WEBHOOK", Tier: 2},
		{IdempotencyKey: foreign.String() + ":tier1:round1:pl:WEBHOOK", Tier: 1},
	} {
		l.add(p, at)
	}
	var m MissedPages
	l.classify(&m, byEscalation, details)
	if m.RemindersSilent != 1 || m.RemindersOthers != 1 || m.Duplicates != 1 || m.LaterTier != 1 || m.Unexpected != 2 {
		t.Fatalf("classify = %+v; want 1 silent and 1 other reminder, 1 duplicate, 1 later tier, 2 unexpected", m)
	}
	first := l.firstTier1()
	if len(first) != 2 || !first[esc].Equal(at) {
		t.Fatalf("firstTier1 = %v; want the two escalations' tier-1 pages", first)
	}
}

func TestProtectionProblems(t *testing.T) {
	side := TravelSide{Runs: 3, Latency: Percentiles{N: 3, P50: time.Millisecond}}
	good := ProtectionReport{Details: 10, Watches: 10, CheckIn: side, Bare: side, Derive: side,
		Missed: &MissedPages{Silent: 2, Paged: 2, Incidents: 2}}
	if p := good.problems(); len(p) != 0 || !good.Missed.AllPaged() {
		t.Fatalf("a correct run reports problems: %v (all paged: %v)", p, good.Missed.AllPaged())
	}
	cases := map[string]func(r *ProtectionReport){
		"watch elsewhere":    func(r *ProtectionReport) { r.WatchProblem, r.Watches = "runs on the wrong queue", 0 },
		"check-in failed":    func(r *ProtectionReport) { r.CheckInErrors, r.FirstCheckInError = 1, "boom" },
		"nothing measured":   func(r *ProtectionReport) { r.CheckIn.Latency = Percentiles{} },
		"bare Update failed": func(r *ProtectionReport) { r.Bare.Errors = 1 },
		"not paged":          func(r *ProtectionReport) { r.Missed.Paged = 1 },
		"not raised":         func(r *ProtectionReport) { r.Missed.NotRaised, r.Missed.Incidents = 1, 1 },
		"raised twice":       func(r *ProtectionReport) { r.Missed.Twice, r.Missed.Incidents = 1, 3 },
		"false alarm":        func(r *ProtectionReport) { r.Missed.FalseAlarms = 1 },
		"duplicate page":     func(r *ProtectionReport) { r.Missed.Duplicates = 1 },
		"later tier":         func(r *ProtectionReport) { r.Missed.LaterTier = 1 },
		"unplaced page":      func(r *ProtectionReport) { r.Missed.Unexpected = 1 },
		"end failed":         func(r *ProtectionReport) { r.EndErrors = 1 },
		"resolve failed":     func(r *ProtectionReport) { r.ResolveErrors = 1 },
		"workflow left":      func(r *ProtectionReport) { r.Unfinished = 1 },
	}
	for name, spoil := range cases {
		r := good
		m := *good.Missed
		r.Missed = &m
		spoil(&r)
		if len(r.problems()) == 0 {
			t.Errorf("%s: no problem reported", name)
		}
	}
}

func TestProtectionFlags(t *testing.T) {
	def, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !def.runs("protection") || def.ProtectionDetails != 1000 || def.ProtectionAgents != 50 || def.ProtectionInterval != 2*time.Minute ||
		def.ProtectionGrace != 3*time.Second || def.ProtectionSilent != 100 {
		t.Fatalf("default protection config = %+v; want part 5 in all, 1000 details, 50 agents, 120 s interval, 3 s grace, 100 silent", def)
	}
	quick, err := parseFlags([]string{"-quick", "-parts", "protection", "-protection-silent", "5"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !quick.runs("protection") || quick.runs("travel") || quick.ProtectionDetails != 100 || quick.ProtectionInterval != 20*time.Second ||
		quick.ProtectionWindow != 20*time.Second || quick.ProtectionSilent != 5 {
		t.Fatalf("quick protection config = %+v; want 100 details, 20 s interval and window, the explicit 5 silent", quick)
	}
	for _, bad := range [][]string{
		{"-protection-details", "0"}, {"-protection-agents", "0"}, {"-protection-agents", "2000"},
		{"-protection-interval", "4s"}, {"-protection-interval", "7500ms"}, {"-protection-grace", "-1s"},
		{"-protection-grace", "1500ms"}, {"-protection-window", "0s"}, {"-protection-silent", "0"}, {"-protection-silent", "1001"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%v) accepted it", bad)
		}
	}
}

func TestForEach(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]bool{}
	err := forEach(context.Background(), 50, 4, func(_ context.Context, i int) error {
		mu.Lock()
		seen[i] = true
		mu.Unlock()
		return nil
	})
	if err != nil || len(seen) != 50 {
		t.Fatalf("forEach ran %d of 50 (err %v)", len(seen), err)
	}
	boom := errors.New("boom")
	var ran atomic.Int64
	err = forEach(context.Background(), 1000, 2, func(_ context.Context, i int) error {
		ran.Add(1)
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || ran.Load() == 1000 {
		t.Fatalf("forEach after a failure: err %v, ran %d; want boom and the rest not started", err, ran.Load())
	}
}

func TestLateCheckIn(t *testing.T) {
	p := &protectionRun{rep: &ProtectionReport{Interval: 20 * time.Second, Grace: 3 * time.Second}}
	start := time.Date(2026, 1, 1, 12, 0, 0, 250_000_000, time.UTC)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	r := func(d time.Duration) receipt { return receipt{at: at(d), nextDue: at(d + 20*time.Second)} }
	d := &benchDetail{idx: 7, started: start, receipts: []receipt{
		r(18 * time.Second),                      // on time for the start's due (20 s)
		r(36 * time.Second),                      // on time for 38 s
		r(60 * time.Second),                      // late for 56 s: after 56 + 3
		r(82*time.Second + 500*time.Millisecond), // for 80 s, half a second before its deadline (83 s)
	}}
	cases := []struct {
		name string
		due  time.Duration
		late bool
	}{
		{"the start's due, checked in on time", 20 * time.Second, false},
		{"checked in on time", 38 * time.Second, false},
		{"checked in after the grace", 56 * time.Second, true},
		{"raced the deadline", 80 * time.Second, true},
		{"never came after the last", 102*time.Second + 500*time.Millisecond, true},
		{"no such due", 47 * time.Second, false},
	}
	for _, c := range cases {
		why, late := p.lateCheckIn(d, at(c.due).Unix())
		if late != c.late {
			t.Errorf("%s: lateCheckIn = %v (%s), want %v", c.name, late, why, c.late)
		}
	}
	if _, late := p.lateCheckIn(nil, at(20*time.Second).Unix()); late {
		t.Error("an incident of an unknown detail counted as late")
	}
}

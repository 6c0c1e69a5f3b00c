package durability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/postgres"
	"meridian.dev/platform/protection"
	"meridian.dev/platform/testenv"
	"meridian.dev/worker/demo"
	"meridian.dev/workflows/engine"
	protectionwf "meridian.dev/workflows/protection"
)

// The check-in watch under a killed worker: silent details whose agents
// never check in, beside details whose agent checks in every third of the
// interval. The first worker is killed after the first missed check-in has
// paged its detail's leader, when other silent details are between their
// due time and its grace end, and others not yet due.
const (
	watchInterval = 6 * time.Second // protection.MinInterval is 5 s
	watchGrace    = 3 * time.Second
	silentDetails = 10
	steadyDetails = 5
	// checkInEvery: the steady agent checks in well inside the interval,
	// so that a loaded machine never makes a check-in late.
	checkInEvery = watchInterval / 3
	// reminderLatency is how long the pager takes to answer a reminder (a
	// webhook under load): the kill then lands while reminders are in
	// flight, the case the test is about, rather than between them.
	reminderLatency = time.Second
	// observe is how long the second worker runs before the record is
	// read: several intervals, and more than the 30 s after which an
	// activity the killed worker held is tried again.
	observe = 45 * time.Second
	// watchSettle bounds every wait for the record to catch up.
	watchSettle = 90 * time.Second
)

const (
	detailLeader = "pa-liam"
	detailAgent  = "pa-petra"
)

// watched is one detail of the test.
type watched struct {
	ID        uuid.UUID
	N         int // its place in the test, for the log
	Silent    bool
	StartedAt time.Time

	mu       sync.Mutex
	checkIns []time.Time // the steady agent's receipts
	failures []string    // check-ins the store refused
}

func (d *watched) name() string {
	if d.Silent {
		return fmt.Sprintf("silent detail %d (%s)", d.N, d.ID)
	}
	return fmt.Sprintf("steady detail %d (%s)", d.N, d.ID)
}

// firstDue is the first check-in due time, as reminder keys and missed
// check-in references name it: Unix seconds.
func (d *watched) firstDue() int64 { return d.StartedAt.Add(watchInterval).Unix() }

func TestWatchSurvivesKilledWorker(t *testing.T) {
	s := newWatchStack(t)
	w1 := startWorker(t, s.bin, "worker-1", s.env)
	waitReady(t, s.tc, s.tq, w1)

	details := createDetails(t, s.store)
	silent, steady := split(details)
	if _, err := s.store.SetCodes(context.Background(), persona(t, detailAgent), "steady-246810", "steady-135790"); err != nil {
		t.Fatalf("set codes of %s: %v", detailAgent, err)
	}
	// The steady details start first and check in from then on; the silent
	// ones start spread over one interval, so that at any moment some are
	// between a due time and its grace end.
	for _, d := range steady {
		startDetail(t, s.store, d)
	}
	stopCheckIns := checkInSteadily(s.store, persona(t, detailAgent), steady)
	defer stopCheckIns()
	for i, d := range silent {
		if i > 0 {
			time.Sleep(watchInterval / silentDetails)
		}
		startDetail(t, s.store, d)
	}
	startedAt := time.Now()
	t.Cleanup(func() {
		if t.Failed() {
			dumpDetails(t, s.pool, details)
		}
	})

	// Kill the worker once reminders have gone out and the first missed
	// check-in has paged its detail's leader.
	waitPages(t, s.rcv, w1, watchSettle, "the first reminders and the first missed check-in's tier-1 page", func() bool {
		all, _, _ := s.rcv.snapshot()
		return slices.ContainsFunc(all, isReminder) && slices.ContainsFunc(all, func(d delivery) bool { return d.Page.Topic == "" && d.Page.Tier == 1 })
	})
	inFlight := s.pager.inFlight.Load()
	killedAt := sigkill(t, w1)
	raised, graced := logKill(t, s.pool, silent, killedAt.Sub(startedAt), inFlight)
	if raised == len(silent) || raised+graced == 0 {
		t.Fatalf("the kill did not come mid-watch: %d of %d silent details had raised their missed check-in, %d were in their grace period",
			raised, len(silent), graced)
	}

	time.Sleep(time.Second)
	w2 := startWorker(t, s.bin, "worker-2", s.env)
	restartedAt := time.Now()
	waitReady(t, s.tc, s.tq, w2)
	select {
	case <-w2.done:
		t.Fatalf("worker-2 exited while the watches ran: %v", w2.cmd.ProcessState)
	case <-time.After(observe):
	}
	endAt := time.Now()
	waitForRecord(t, s.pool, s.rcv, w2, silent, endAt)

	k := kill{at: killedAt, restarted: restartedAt}
	for _, d := range silent {
		checkSilent(t, s.pool, s.rcv, d, k)
	}
	// While the steady agent still checks in, no watch may count a miss it
	// should not.
	checkWatches(t, s.tc, details, s.pool)
	// The steady agent checked in until now; the record must hold every
	// check-in and no reminder.
	stopCheckIns()
	for _, d := range steady {
		checkSteady(t, s.pool, s.rcv, d)
	}
	all, _, bad := s.rcv.snapshot()
	if len(bad) != 0 {
		t.Errorf("the receiver rejected %d requests: %v", len(bad), bad)
	}
	checkUnexpectedPages(t, s.pool, all, details)
	t.Logf("%d deliveries in all; killed %s after the last silent detail started, restarted %s later, observed %s",
		len(all), killedAt.Sub(startedAt).Round(time.Millisecond), restartedAt.Sub(killedAt).Round(time.Millisecond),
		endAt.Sub(restartedAt).Round(time.Millisecond))
}

// watchStack is what the test runs on: a fresh database with the demo
// personas, a Redis prefix and a task queue of its own, the pager, and the
// worker binary with its environment.
type watchStack struct {
	pool  *pgxpool.Pool
	store *protection.Store
	tc    client.Client
	tq    string
	rcv   *receiver
	pager *slowPager
	bin   string
	env   []string
}

func newWatchStack(t *testing.T) *watchStack {
	t.Helper()
	ctx := context.Background()
	dbURL := testenv.NewDatabase(t)
	pool, err := postgres.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(pool.Close)
	if _, err := demo.Load(ctx, pool); err != nil {
		t.Fatalf("demo data: %v", err)
	}
	rdb, prefix := testenv.Redis(t)
	temporalAddr := testenv.TemporalAddress(t)
	s := &watchStack{pool: pool, store: protection.NewStore(pool, rdb, prefix), tq: testenv.Unique(t, "tq"), rcv: newReceiver(t)}
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	s.tc, err = engine.Dial(dialCtx, temporalAddr, "default", slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	cancel()
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	t.Cleanup(s.tc.Close)
	s.pager = newSlowPager(t, s.rcv, reminderLatency)
	s.bin = buildWorker(t)
	// No feed schedules: they are not under test, and would fetch the
	// public feeds on this queue.
	s.env = append(workerEnv(dbURL, prefix, temporalAddr, s.tq, s.pager.srv.URL+"/pages"), "MERIDIAN_FEED_SCHEDULES=false")
	t.Cleanup(func() { terminateLeftovers(t, s.tc, s.tq, nil) })
	return s
}

// sigkill kills the worker the hard way and returns when.
func sigkill(t *testing.T, w *workerProc) time.Time {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL %s: %v", w.name, err)
	}
	at := time.Now()
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit after SIGKILL", w.name)
	}
	if ws, ok := w.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s ended with %v, want killed by SIGKILL (did it exit on its own?)", w.name, w.cmd.ProcessState)
	}
	return at
}

// slowPager stands in front of the receiver: every page is recorded on
// arrival, and reminders are answered only after latency, or when the
// sender hangs up (a killed worker).
type slowPager struct {
	srv      *httptest.Server
	inFlight atomic.Int64
}

func newSlowPager(t *testing.T, rcv *receiver, latency time.Duration) *slowPager {
	t.Helper()
	p := &slowPager{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		answer := httptest.NewRecorder()
		rcv.srv.Config.Handler.ServeHTTP(answer, req)
		var page notify.Page
		if json.Unmarshal(body, &page) == nil && page.Topic == "protection" {
			p.inFlight.Add(1)
			select {
			case <-time.After(latency):
			case <-req.Context().Done():
			}
			p.inFlight.Add(-1)
		}
		w.WriteHeader(answer.Code)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func isReminder(d delivery) bool { return strings.HasPrefix(d.Key, "checkin-remind:") }

// reminderKey is the prefix of the idempotency key of the reminder of the
// check-in due at due (Unix seconds) sent to subject, on any channel.
func reminderKey(detailID uuid.UUID, due int64, subject string) string {
	return fmt.Sprintf("checkin-remind:%s:%d:%s:", detailID, due, subject)
}

// reminderDetail names the detail a reminder page is for.
func reminderDetail(key string) string {
	parts := strings.Split(key, ":")
	if len(parts) < 3 {
		return ""
	}
	return parts[1]
}

func persona(t *testing.T, subject string) auth.Identity {
	t.Helper()
	for _, p := range demo.Personas {
		if p.Subject == subject {
			return auth.Identity{Subject: p.Subject, Name: p.Name, Roles: p.Roles, Regions: p.Regions}
		}
	}
	t.Fatalf("demo has no persona %s", subject)
	return auth.Identity{}
}

// createDetails creates the silent details, then the steady ones: all led
// by pa-liam with pa-petra as their agent, PLANNED.
func createDetails(t *testing.T, store *protection.Store) []*watched {
	t.Helper()
	ctx := context.Background()
	lead := persona(t, "gl-ada")
	p, err := store.CreateProtectee(ctx, lead, protection.NewProtectee{Name: "Durability Drill", Title: "Principal",
		ThreatLevel: protection.ThreatCritical})
	if err != nil {
		t.Fatalf("create protectee: %v", err)
	}
	interval, grace := watchInterval, watchGrace
	now := time.Now()
	var out []*watched
	for i := range silentDetails + steadyDetails {
		d, err := store.CreateDetail(ctx, lead, protection.NewDetail{ProtecteeID: p.ID, Region: "EMEA",
			Leader: detailLeader, Agents: []string{detailAgent}, StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour),
			Interval: &interval, Grace: &grace})
		if err != nil {
			t.Fatalf("create detail %d: %v", i, err)
		}
		out = append(out, &watched{ID: d.ID, N: i, Silent: i < silentDetails})
	}
	return out
}

func split(details []*watched) (silent, steady []*watched) {
	for _, d := range details {
		if d.Silent {
			silent = append(silent, d)
		} else {
			steady = append(steady, d)
		}
	}
	return silent, steady
}

// startDetail makes the detail ACTIVE; the relay starts its watch.
func startDetail(t *testing.T, store *protection.Store, d *watched) {
	t.Helper()
	got, err := store.Start(context.Background(), persona(t, "gl-ada"), d.ID)
	if err != nil {
		t.Fatalf("start %s: %v", d.name(), err)
	}
	if got.StartedAt == nil || got.Interval != watchInterval || got.Grace != watchGrace {
		t.Fatalf("started %s: started at %v, interval %s, grace %s; want a start, %s and %s",
			d.name(), got.StartedAt, got.Interval, got.Grace, watchInterval, watchGrace)
	}
	d.StartedAt = *got.StartedAt
}

// checkInSteadily has the agent check in on each steady detail now and
// every checkInEvery, until the returned stop is called (more than once is
// fine). The store is called directly: the gateway is not what is under
// test, and a check-in made while the worker is dead must wait in the
// outbox like any other.
func checkInSteadily(store *protection.Store, agent auth.Identity, steady []*watched) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, d := range steady {
		wg.Go(func() {
			tick := time.NewTicker(checkInEvery)
			defer tick.Stop()
			for n := 0; ; n++ {
				// Not cancelled midway: every check-in the store records is
				// one the test counts.
				r, err := store.CheckIn(context.Background(), agent, protection.CheckInInput{DetailID: d.ID, Code: "steady-246810",
					Note: "all quiet", ClientMutationID: fmt.Sprintf("steady-%d-%d", d.N, n)})
				d.mu.Lock()
				if err == nil {
					d.checkIns = append(d.checkIns, r.At)
				} else {
					d.failures = append(d.failures, err.Error())
				}
				d.mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}
}

// logKill says where each silent detail stood when the worker died, and
// returns how many had raised their missed check-in and how many were
// reminded and within their grace period.
func logKill(t *testing.T, pool *pgxpool.Pool, silent []*watched, sinceStart time.Duration, inFlight int64) (raised, graced int) {
	t.Helper()
	var notDue int
	for _, d := range silent {
		steps := timelineOf(t, pool, d.ID)
		switch {
		case countKind(steps, protection.StepMissed) > 0:
			raised++
		case len(remindedDues(steps)) > 0:
			graced++
		default:
			notDue++
		}
	}
	t.Logf("worker-1 killed %s after the last silent detail started: %d silent details had raised their missed check-in, "+
		"%d were reminded and in their grace period (or reminding), %d not yet reminded; %d reminder pages awaited their answer",
		sinceStart.Round(time.Millisecond), raised, graced, notDue, inFlight)
	return raised, graced
}

// step is one row of a detail's timeline.
type step struct {
	At   time.Time
	Kind string
	Key  string
	Note string
}

func timelineOf(t *testing.T, pool *pgxpool.Pool, detailID uuid.UUID) []step {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT at, kind, coalesce(dedupe_key, ''), note FROM detail_timeline
		WHERE detail_id = $1 ORDER BY id`, detailID)
	if err != nil {
		t.Fatalf("timeline of %s: %v", detailID, err)
	}
	defer rows.Close()
	var out []step
	for rows.Next() {
		var s step
		if err := rows.Scan(&s.At, &s.Kind, &s.Key, &s.Note); err != nil {
			t.Fatalf("timeline of %s: %v", detailID, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("timeline of %s: %v", detailID, err)
	}
	return out
}

func countKind(steps []step, kind string) int {
	n := 0
	for _, s := range steps {
		if s.Kind == kind {
			n++
		}
	}
	return n
}

// remindedDues are the due times (Unix seconds) of the CHECK_IN_REMINDED
// steps that reached someone, ascending. Their dedupe key is
// remind:<detail>:<due>; a reminder that reached nobody ends in
// ":unreached".
func remindedDues(steps []step) []int64 {
	var out []int64
	for _, s := range steps {
		if s.Kind != protection.StepReminded || strings.HasSuffix(s.Key, ":unreached") {
			continue
		}
		parts := strings.Split(s.Key, ":")
		if due, err := strconv.ParseInt(parts[len(parts)-1], 10, 64); err == nil {
			out = append(out, due)
		}
	}
	slices.Sort(out)
	return out
}

// missedIncident is a MISSED_CHECK_IN incident and its escalations.
type missedIncident struct {
	ID          uuid.UUID
	Kind        string
	Ref         string
	Escalations []uuid.UUID
}

// missedOf reads the protection incidents raised for the detail's missed
// check-ins (reference missed:<detail>:<due>).
func missedOf(t *testing.T, pool *pgxpool.Pool, detailID uuid.UUID) []missedIncident {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT i.id, i.kind, i.source_ref,
		coalesce((SELECT array_agg(e.id ORDER BY e.id) FROM escalations e WHERE e.incident_id = i.id), '{}')
		FROM incidents i WHERE i.source_type = $1 AND i.source_ref LIKE $2 ORDER BY i.created_at`,
		protection.SourceType, "missed:"+detailID.String()+":%")
	if err != nil {
		t.Fatalf("incidents of %s: %v", detailID, err)
	}
	defer rows.Close()
	var out []missedIncident
	for rows.Next() {
		var m missedIncident
		if err := rows.Scan(&m.ID, &m.Kind, &m.Ref, &m.Escalations); err != nil {
			t.Fatalf("incidents of %s: %v", detailID, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("incidents of %s: %v", detailID, err)
	}
	return out
}

// waitForRecord waits until every silent detail's record reaches the end
// of the observation: a reminder for every due time up to endAt minus an
// interval (the next due after the last one reminded lies beyond it), its
// missed check-in raised, and that incident's tier-1 page received.
func waitForRecord(t *testing.T, pool *pgxpool.Pool, rcv *receiver, w *workerProc, silent []*watched, endAt time.Time) {
	t.Helper()
	cutoff := endAt.Add(-watchInterval)
	var behind []string
	done := func() bool {
		behind = behind[:0]
		all, _, _ := rcv.snapshot()
		for _, d := range silent {
			dues := remindedDues(timelineOf(t, pool, d.ID))
			if len(dues) == 0 || !time.Unix(dues[len(dues)-1], 0).Add(watchInterval+time.Second).After(cutoff) {
				behind = append(behind, fmt.Sprintf("%s: reminded dues %v", d.name(), dues))
				continue
			}
			missed := missedOf(t, pool, d.ID)
			if len(missed) == 0 || !slices.ContainsFunc(all, func(dl delivery) bool {
				return dl.Page.Tier == 1 && slices.ContainsFunc(missed[0].Escalations, func(e uuid.UUID) bool { return dl.Page.EscalationID == e.String() })
			}) {
				behind = append(behind, fmt.Sprintf("%s: missed check-in incidents %+v, tier 1 not yet paged", d.name(), missed))
			}
		}
		return len(behind) == 0
	}
	deadline := time.Now().Add(watchSettle)
	for !done() {
		if w.exited() {
			t.Fatalf("%s exited while waiting for the record: %v", w.name, w.cmd.ProcessState)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the record did not reach the end of the observation (%s) within %s:\n%s",
				endAt.Format(time.TimeOnly), watchSettle, strings.Join(behind, "\n"))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// kill is when the first worker died and when the second started.
type kill struct {
	at, restarted time.Time
}

// checkSilent asserts a silent detail's record: one missed check-in, for
// its first due time, paged to its leader; and no reminder lost or sent
// twice.
func checkSilent(t *testing.T, pool *pgxpool.Pool, rcv *receiver, d *watched, k kill) {
	t.Helper()
	steps := timelineOf(t, pool, d.ID)
	missed := missedOf(t, pool, d.ID)
	// Read after the steps: a reminder's pages arrive before its step is
	// recorded, so every step read has its pages here.
	_, byKey, _ := rcv.snapshot()
	wantRef := fmt.Sprintf("missed:%s:%d", d.ID, d.firstDue())
	if len(missed) != 1 || missed[0].Ref != wantRef || missed[0].Kind != protection.IncidentMissedCheckIn {
		t.Errorf("%s: missed check-in incidents %+v; want exactly one %s, %s", d.name(), missed, protection.IncidentMissedCheckIn, wantRef)
	}
	if n := countKind(steps, protection.StepMissed); n != 1 {
		t.Errorf("%s: %d %s steps, want 1", d.name(), n, protection.StepMissed)
	}
	if len(missed) > 0 {
		checkLeaderPaged(t, byKey, d, missed[0])
	}
	for _, s := range steps {
		if s.Kind == protection.StepReminded && strings.HasSuffix(s.Key, ":unreached") {
			t.Errorf("%s: a reminder reached nobody: %s", d.name(), s.Note)
		}
	}
	dues := remindedDues(steps)
	for _, problem := range dueProblems(dues, d.firstDue(), k.at) {
		t.Errorf("%s: %s (reminded dues %v, killed at %d)", d.name(), problem, dues, k.at.Unix())
	}
	checkReminderPages(t, pool, byKey, d, dues, k)
}

// checkLeaderPaged asserts that the missed check-in's escalation paged the
// detail's leader at tier 1, and nobody else there.
func checkLeaderPaged(t *testing.T, byKey map[string][]delivery, d *watched, m missedIncident) {
	t.Helper()
	if len(m.Escalations) != 1 {
		t.Errorf("%s: incident %s has escalations %v, want one", d.name(), m.ID, m.Escalations)
		return
	}
	esc := m.Escalations[0].String()
	paged := false
	for key, ds := range byKey {
		p := ds[0].Page
		if p.EscalationID != esc || p.Tier != 1 {
			continue
		}
		var who []string
		for _, r := range p.Recipients {
			who = append(who, r.Subject)
		}
		if !slices.Equal(who, []string{detailLeader}) {
			t.Errorf("%s: tier 1 of escalation %s paged %v (key %s), want [%s]", d.name(), esc, who, key, detailLeader)
		}
		if len(ds) > 2 {
			t.Errorf("%s: page %s delivered %d times", d.name(), key, len(ds))
		}
		paged = true
	}
	if !paged {
		t.Errorf("%s: escalation %s of incident %s never paged tier 1 (%s)", d.name(), esc, m.ID, detailLeader)
	}
}

// dueProblems checks the due times a detail was reminded of (Unix seconds,
// ascending) against the watch's rule: the first one interval after the
// start, each next one an interval after the last. The one exception is a
// watch that was late, which reminds once, at once, instead of once for
// each due time it missed (workflows/protection: lapse); only the dead
// worker may make it late, so a due time skipped before the kill is a
// reminder lost with the worker.
func dueProblems(dues []int64, first int64, killedAt time.Time) []string {
	if len(dues) == 0 {
		return []string{"never reminded"}
	}
	every := int64(watchInterval / time.Second)
	var out []string
	if dues[0] != first {
		out = append(out, fmt.Sprintf("the check-in due at %d was never reminded (first reminder for %d)", first, dues[0]))
	}
	for i := 1; i < len(dues); i++ {
		prev, next := dues[i-1], dues[i]
		switch gap := next - prev; {
		case gap == every:
		case gap < every:
			out = append(out, fmt.Sprintf("reminded for %d only %ds after %d", next, gap, prev))
		// Due times are whole seconds: the skipped one may lie up to a
		// second later than prev+every says.
		case time.Unix(prev+every+1, 0).Before(killedAt):
			out = append(out, fmt.Sprintf("the check-in due at %d, before the kill, was never reminded (next reminder for %d)", prev+every, next))
		}
	}
	return out
}

// checkReminderPages asserts that the leader and the agent were paged for
// every due time on the timeline, that no reminder page came without its
// step (a reminder the watch gave up on), and that a page came twice only
// across the kill.
func checkReminderPages(t *testing.T, pool *pgxpool.Pool, byKey map[string][]delivery, d *watched, dues []int64, k kill) {
	t.Helper()
	for _, due := range dues {
		for _, who := range []string{detailLeader, detailAgent} {
			prefix := reminderKey(d.ID, due, who)
			found := false
			for key, ds := range byKey {
				if strings.HasPrefix(key, prefix) {
					found = true
					checkDuplicates(t, d, key, ds, k)
				}
			}
			if !found {
				t.Errorf("%s: the reminder of the check-in due at %d never reached %s", d.name(), due, who)
			}
		}
	}
	// A page read before its step was committed must find it shortly.
	var orphans []string
	for key := range byKey {
		if reminderDetail(key) != d.ID.String() {
			continue
		}
		parts := strings.Split(key, ":")
		due, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil || !slices.Contains(dues, due) {
			orphans = append(orphans, key)
		}
	}
	if len(orphans) == 0 {
		return
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		dues = remindedDues(timelineOf(t, pool, d.ID))
		orphans = slices.DeleteFunc(orphans, func(key string) bool {
			due, _ := strconv.ParseInt(strings.Split(key, ":")[2], 10, 64)
			return slices.Contains(dues, due)
		})
		if len(orphans) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, key := range orphans {
		var at []string
		for _, dl := range byKey[key] {
			at = append(at, when(dl.At, k))
		}
		t.Errorf("%s: reminder %s was paged (%s) but no %s step records it: the watch gave it up", d.name(), key,
			strings.Join(at, "; "), protection.StepReminded)
	}
}

// checkDuplicates allows a reminder page twice only when the killed worker
// sent the first copy and could not record it: its retry sends the same
// key, which receivers drop.
func checkDuplicates(t *testing.T, d *watched, key string, ds []delivery, k kill) {
	t.Helper()
	if len(ds) < 2 {
		return
	}
	var at []string
	for _, dl := range ds {
		at = append(at, when(dl.At, k))
	}
	if len(ds) > 2 || !ds[0].At.Before(k.restarted) {
		t.Errorf("%s: reminder %s paged %d times with the same Idempotency-Key, at %s", d.name(), key, len(ds), strings.Join(at, "; "))
		return
	}
	t.Logf("%s: reminder %s redelivered across the crash (%s); the pager drops it by its Idempotency-Key", d.name(), key, strings.Join(at, "; "))
}

func when(at time.Time, k kill) string {
	switch {
	case at.Before(k.at):
		return fmt.Sprintf("%s before the kill", k.at.Sub(at).Round(time.Millisecond))
	case at.Before(k.restarted):
		return fmt.Sprintf("%s after the kill, before the restart", at.Sub(k.at).Round(time.Millisecond))
	default:
		return fmt.Sprintf("%s after the restart", at.Sub(k.restarted).Round(time.Millisecond))
	}
}

// checkSteady asserts that a detail whose agent checked in, until the
// check-ins stopped, raised nothing and, as long as no check-in came later
// than the interval, reminded nobody.
func checkSteady(t *testing.T, pool *pgxpool.Pool, rcv *receiver, d *watched) {
	t.Helper()
	d.mu.Lock()
	checkIns, failures := slices.Clone(d.checkIns), slices.Clone(d.failures)
	d.mu.Unlock()
	if len(failures) > 0 {
		t.Errorf("%s: %d check-ins refused: %v", d.name(), len(failures), failures)
	}
	if missed := missedOf(t, pool, d.ID); len(missed) != 0 {
		t.Errorf("%s: the agent checked in %d times, yet missed check-ins were raised: %+v", d.name(), len(checkIns), missed)
	}
	steps := timelineOf(t, pool, d.ID)
	all, _, _ := rcv.snapshot()
	if n := countKind(steps, protection.StepMissed); n != 0 {
		t.Errorf("%s: %d %s steps, want none", d.name(), n, protection.StepMissed)
	}
	if n := countKind(steps, protection.StepCheckedIn); n != len(checkIns) {
		t.Errorf("%s: %d %s steps for %d check-ins", d.name(), n, protection.StepCheckedIn, len(checkIns))
	}
	// A check-in later than the interval may rightly be reminded of: only
	// a steady record, up to the moment it was read, says nobody should
	// have been.
	gap := longestGap(d.StartedAt, checkIns, time.Now())
	reminded := remindedDues(steps)
	pages := 0
	for _, dl := range all {
		if isReminder(dl) && reminderDetail(dl.Key) == d.ID.String() {
			pages++
		}
	}
	if gap >= watchInterval {
		t.Logf("%s: the test's own check-ins were %s apart at worst, not within the interval; reminders for dues %v are legitimate",
			d.name(), gap.Round(time.Millisecond), reminded)
		return
	}
	if len(reminded) > 0 || pages > 0 {
		t.Errorf("%s: checked in every %s at most, yet reminded for dues %v (%d pages)", d.name(), gap.Round(time.Millisecond), reminded, pages)
		return
	}
	t.Logf("%s: %d check-ins, %s apart at most; no reminder, nothing raised", d.name(), len(checkIns), gap.Round(time.Millisecond))
}

func longestGap(from time.Time, ats []time.Time, to time.Time) time.Duration {
	var longest time.Duration
	last := from
	for _, at := range append(slices.Clone(ats), to) {
		longest = max(longest, at.Sub(last))
		last = at
	}
	return longest
}

// checkUnexpectedPages asserts that every page is a reminder for one of
// the test's details or an escalation of a missed check-in of a silent
// one.
func checkUnexpectedPages(t *testing.T, pool *pgxpool.Pool, all []delivery, details []*watched) {
	t.Helper()
	ours := map[string]bool{}
	escalations := map[string]bool{}
	for _, d := range details {
		ours[d.ID.String()] = true
		for _, m := range missedOf(t, pool, d.ID) {
			for _, e := range m.Escalations {
				escalations[e.String()] = d.Silent
			}
		}
	}
	var unexpected []string
	for _, dl := range all {
		switch {
		case isReminder(dl) && ours[reminderDetail(dl.Key)]:
		case dl.Page.Topic == "" && escalations[dl.Page.EscalationID]:
		default:
			unexpected = append(unexpected, dl.Key)
		}
	}
	if len(unexpected) > 0 {
		t.Errorf("%d unexpected pages: %v", len(unexpected), unexpected)
	}
}

// checkWatches asserts that every watch still runs, that each knows of its
// one missed check-in (silent) or of none (steady), and that no workflow
// task failed in any watch's history.
func checkWatches(t *testing.T, tc client.Client, details []*watched, pool *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wftTimedOut := 0
	for _, d := range details {
		wid := protection.WatchWorkflowID(d.ID)
		desc, err := tc.DescribeWorkflow(ctx, wid, "")
		if err != nil {
			t.Errorf("%s: describe %s: %v", d.name(), wid, err)
			continue
		}
		if st := desc.RawResponse.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Errorf("%s: watch %s is %s, want RUNNING", d.name(), wid, st)
		}
		var st protectionwf.State
		if v, err := tc.QueryWorkflow(ctx, wid, "", protectionwf.QueryState); err != nil {
			t.Errorf("%s: query %s: %v", d.name(), wid, err)
		} else if err := v.Get(&st); err != nil {
			t.Errorf("%s: query %s: %v", d.name(), wid, err)
		} else if d.Silent {
			missed := missedOf(t, pool, d.ID)
			if st.Missed != 1 || st.OpenIncident == nil || len(missed) == 0 || *st.OpenIncident != missed[0].ID {
				t.Errorf("%s: the watch counts %d missed check-ins, open incident %v; want 1, %+v", d.name(), st.Missed, st.OpenIncident, missed)
			}
		} else if st.Missed != 0 || st.OpenIncident != nil {
			t.Errorf("%s: the watch counts %d missed check-ins, open incident %v; want none", d.name(), st.Missed, st.OpenIncident)
		}
		timedOut, retried := checkHistory(ctx, t, tc, d, wid)
		wftTimedOut += timedOut
		if len(retried) > 0 {
			t.Logf("%s: activities the dead worker held: %v", d.name(), retried)
		}
	}
	t.Logf("%d workflow tasks timed out on the dead worker across %d watches", wftTimedOut, len(details))
}

// checkHistory fails on a workflow task failure in the watch's history (a
// non-deterministic replay on the new worker would show there) and returns
// what the crash cost it: workflow tasks that timed out on the dead worker,
// and activities it held that had to time out to be tried again (or not).
func checkHistory(ctx context.Context, t *testing.T, tc client.Client, d *watched, wid string) (wftTimedOut int, retried []string) {
	t.Helper()
	scheduled := map[int64]string{}
	var failed []string
	iter := tc.GetWorkflowHistory(ctx, wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Errorf("%s: history of %s: %v", d.name(), wid, err)
			return wftTimedOut, retried
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			a := ev.GetActivityTaskScheduledEventAttributes()
			what := a.GetActivityType().GetName()
			var req protectionwf.RemindRequest
			if what == protectionwf.ActivityRemind && converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &req) == nil {
				what = fmt.Sprintf("%s(due %d)", what, req.Due.Unix())
			}
			scheduled[ev.GetEventId()] = what
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			// Recorded once the activity closes, with its last attempt.
			if a := ev.GetActivityTaskStartedEventAttributes(); a.GetAttempt() > 1 {
				retried = append(retried, fmt.Sprintf("%s: attempt %d after %q", scheduled[a.GetScheduledEventId()],
					a.GetAttempt(), a.GetLastFailure().GetMessage()))
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			a := ev.GetActivityTaskTimedOutEventAttributes()
			retried = append(retried, fmt.Sprintf("%s: gave up, %s", scheduled[a.GetScheduledEventId()], a.GetFailure().GetMessage()))
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			wftTimedOut++
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
			a := ev.GetWorkflowTaskFailedEventAttributes()
			failed = append(failed, fmt.Sprintf("%s: %s", a.GetCause(), a.GetFailure().GetMessage()))
		}
	}
	if len(failed) > 0 {
		t.Errorf("%s: %d workflow tasks failed in %s: %v", d.name(), len(failed), wid, failed)
	}
	return wftTimedOut, retried
}

// dumpDetails prints each detail's timeline and incidents when the test
// failed.
func dumpDetails(t *testing.T, pool *pgxpool.Pool, details []*watched) {
	for _, d := range details {
		var b strings.Builder
		fmt.Fprintf(&b, "%s, started %s:\n", d.name(), d.StartedAt.Format("15:04:05.000"))
		for _, s := range timelineOf(t, pool, d.ID) {
			fmt.Fprintf(&b, "  %s %-22s %-58s %s\n", s.At.Format("15:04:05.000"), s.Kind, s.Key, s.Note)
		}
		for _, m := range missedOf(t, pool, d.ID) {
			fmt.Fprintf(&b, "  incident %s %s %s escalations %v\n", m.ID, m.Kind, m.Ref, m.Escalations)
		}
		t.Log(b.String())
	}
}

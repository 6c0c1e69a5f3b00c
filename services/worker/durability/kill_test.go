// Package durability_test kills the real worker binary in the middle of
// escalations and checks that the climb goes on where it stopped: every tier
// paged, none early, nobody paged twice for a step (a page the killed worker
// sent but could not record is redelivered with the same Idempotency-Key, which
// the pager drops), and the timeline in Postgres exact.
package durability_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"meridian.dev/platform/escalation"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/postgres"
	"meridian.dev/platform/site"
	"meridian.dev/platform/testenv"
	"meridian.dev/worker/demo"
	"meridian.dev/workflows/engine"
	wf "meridian.dev/workflows/escalation"
)

const (
	pagerSecret = "durability-test-pager-secret-0123456789"
	tierWait    = 3 * time.Second
	// killAfter tier-1 pages in, the first worker dies.
	killAfter = 5
	// settle bounds the wait, after the restart, for every page to arrive.
	// A Deliver activity the dead worker had started is only retried when
	// its StartToCloseTimeout (15 s) runs out, so this must exceed that plus
	// tierWait, with room for a loaded machine.
	settle = 60 * time.Second
)

// perRegion is how many demo sites of each region go CRITICAL: 20 in all.
var perRegion = map[string]int{"AMER": 7, "EMEA": 7, "APAC": 6}

// tier1Recipient is the demo regional manager paged first in each region;
// tier 2 pages the global lead.
var tier1Recipient = map[string]string{"AMER": "rm-amer-ana", "EMEA": "rm-emea-emil", "APAC": "rm-apac-aiko"}

const tier2Recipient = "gl-ada"

func allow(string) error { return nil }

// delivery is one page as the receiver saw it.
type delivery struct {
	Key  string
	Page wf.Page
	At   time.Time
}

// receiver is a real HTTP peer that verifies every page's signature and
// records each delivery, duplicates included.
type receiver struct {
	srv     *httptest.Server
	changed chan struct{}

	mu    sync.Mutex
	all   []delivery
	byKey map[string][]delivery
	bad   []string
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{changed: make(chan struct{}, 1), byKey: map[string][]delivery{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		at := time.Now()
		var p wf.Page
		if err == nil {
			err = notify.Verify(pagerSecret, req.Header.Get("X-Meridian-Timestamp"), req.Header.Get("X-Meridian-Signature"), body, at, 5*time.Minute)
		}
		if err == nil {
			err = json.Unmarshal(body, &p)
		}
		key := req.Header.Get("Idempotency-Key")
		if err == nil && (key == "" || key != p.IdempotencyKey) {
			err = fmt.Errorf("Idempotency-Key header %q, body key %q", key, p.IdempotencyKey)
		}
		r.mu.Lock()
		if err != nil {
			r.bad = append(r.bad, err.Error())
		} else {
			d := delivery{Key: key, Page: p, At: at}
			r.all = append(r.all, d)
			r.byKey[key] = append(r.byKey[key], d)
		}
		r.mu.Unlock()
		select {
		case r.changed <- struct{}{}:
		default:
		}
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// A real receiver acknowledges a retried page too (and drops it).
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// distinct counts the distinct keys received for tier.
func (r *receiver) distinct(tier int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ds := range r.byKey {
		if ds[0].Page.Tier == tier {
			n++
		}
	}
	return n
}

func (r *receiver) has(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byKey[key]) > 0
}

func (r *receiver) snapshot() (all []delivery, byKey map[string][]delivery, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	byKey = make(map[string][]delivery, len(r.byKey))
	for k, v := range r.byKey {
		byKey[k] = slices.Clone(v)
	}
	return slices.Clone(r.all), byKey, slices.Clone(r.bad)
}

// workerProc is one run of the real worker binary.
type workerProc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
}

func (w *workerProc) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

func (w *workerProc) logText() string {
	b, err := os.ReadFile(w.log)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", w.log, err)
	}
	return string(b)
}

// buildWorker builds cmd/worker of this module into a temporary directory.
func buildWorker(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	moduleDir := filepath.Dir(wd) // services/worker; the test runs in services/worker/durability
	if _, err := os.Stat(filepath.Join(moduleDir, "cmd", "worker", "main.go")); err != nil {
		t.Fatalf("worker module not found from %s: %v", wd, err)
	}
	bin := filepath.Join(t.TempDir(), "worker")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "meridian.dev/worker/cmd/worker")
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build worker: %v\n%s", err, out)
	}
	return bin
}

// startWorker starts the binary with env, its output going to a log file the
// test prints when it fails. Cleanup kills it if it still runs.
func startWorker(t *testing.T, bin, name string, env []string) *workerProc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout = f
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	w := &workerProc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(w.done)
	}()
	t.Cleanup(func() {
		if !w.exited() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			select {
			case <-w.done:
			case <-time.After(10 * time.Second):
				t.Errorf("%s (pid %d) did not exit after SIGKILL", name, cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("----- %s (pid %d) output -----\n%s", name, cmd.Process.Pid, w.logText())
		}
	})
	return w
}

// workerEnv is the whole environment of a worker under test: its own
// database, Redis prefix and task queue, pages signed with pagerSecret to
// pagerURL, and tiers that wait tierWait.
func workerEnv(dbURL, redisPrefix, temporalAddr, taskQueue, pagerURL string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"DATABASE_URL=" + dbURL,
		"REDIS_URL=" + testenv.RedisURL(),
		"MERIDIAN_REDIS_PREFIX=" + redisPrefix,
		"TEMPORAL_ADDRESS=" + temporalAddr,
		"MERIDIAN_TASK_QUEUE=" + taskQueue,
		"MERIDIAN_PAGER_WEBHOOK_URL=" + pagerURL,
		"MERIDIAN_PAGER_SECRET=" + pagerSecret,
		"MERIDIAN_ESCALATION_TIER_WAIT=" + tierWait.String(),
		"WORKER_HTTP_ADDR=127.0.0.1:0",
		"MERIDIAN_MIGRATE=false",
		"LOG_LEVEL=warn",
	}
}

// waitReady waits until the worker with this pid polls the task queue for
// both workflow and activity tasks.
func waitReady(t *testing.T, tc client.Client, tq string, w *workerProc) {
	t.Helper()
	prefix := fmt.Sprintf("%d@", w.cmd.Process.Pid)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ready := true
		for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := tc.DescribeTaskQueue(ctx, tq, typ)
			cancel()
			if err != nil {
				t.Fatalf("describe task queue %s: %v", tq, err)
			}
			if !slices.ContainsFunc(resp.GetPollers(), func(p *taskqueuepb.PollerInfo) bool { return strings.HasPrefix(p.GetIdentity(), prefix) }) {
				ready = false
			}
		}
		if ready {
			return
		}
		if w.exited() {
			t.Fatalf("%s exited before it was ready: %v", w.name, w.cmd.ProcessState)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) never polled task queue %s", w.name, w.cmd.Process.Pid, tq)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPages waits until ok holds for the receiver, failing when within runs
// out or the worker dies.
func waitPages(t *testing.T, r *receiver, w *workerProc, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(within)
	for !ok() {
		select {
		case <-r.changed:
		case <-time.After(100 * time.Millisecond):
		case <-w.done:
			t.Fatalf("%s exited while waiting for %s: %v", w.name, what, w.cmd.ProcessState)
		case <-deadline:
			_, byKey, bad := r.snapshot()
			t.Fatalf("%s: not reached within %s (tier-1 keys %d, tier-2 keys %d, keys seen %d, rejected %v)",
				what, within, r.distinct(1), r.distinct(2), len(byKey), bad)
		}
	}
}

type opened struct {
	ID     uuid.UUID
	Region string
	Code   string
}

// key is the idempotency key of the one page each tier sends here: to one
// person, by webhook.
func openIDs(opens []opened) []uuid.UUID {
	ids := make([]uuid.UUID, len(opens))
	for i, o := range opens {
		ids[i] = o.ID
	}
	return ids
}

func key(o opened, tier int) string {
	who := tier2Recipient
	if tier == 1 {
		who = tier1Recipient[o.Region]
	}
	return fmt.Sprintf("%s:tier%d:round1:%s:WEBHOOK", o.ID, tier, who)
}

func TestWorkerKilledMidEscalation(t *testing.T) {
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
	_, prefix := testenv.Redis(t)
	temporalAddr := testenv.TemporalAddress(t)
	tq := testenv.Unique(t, "tq")
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	tc, err := engine.Dial(dialCtx, temporalAddr, "default", slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	cancel()
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	t.Cleanup(tc.Close)
	rcv := newReceiver(t)

	bin := buildWorker(t)
	env := workerEnv(dbURL, prefix, temporalAddr, tq, rcv.srv.URL+"/pages")

	var opens []opened
	t.Cleanup(func() { terminateLeftovers(t, tc, tq, opens) })

	w1 := startWorker(t, bin, "worker-1", env)
	waitReady(t, tc, tq, w1)

	// Twenty sites across the regions go CRITICAL at once; each opens an
	// escalation in the same transaction.
	sites := site.NewStore(pool, escalation.NewStore(pool))
	var targets []site.Site
	for _, region := range []string{"AMER", "EMEA", "APAC"} {
		page, err := sites.List(ctx, site.Filter{Region: region}, perRegion[region], "")
		if err != nil {
			t.Fatalf("list %s sites: %v", region, err)
		}
		if len(page.Items) != perRegion[region] {
			t.Fatalf("demo has %d %s sites, want %d", len(page.Items), region, perRegion[region])
		}
		targets = append(targets, page.Items...)
	}
	results := make([]site.StatusResult, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, s := range targets {
		wg.Go(func() {
			results[i], errs[i] = sites.UpdateStatus(ctx, tier1Recipient[s.Region], site.StatusChange{SiteID: s.ID,
				Level: site.LevelCritical, Posture: site.PostureLockdown, Note: "durability drill " + s.Code,
				ExpectedVersion: s.Status.Version}, allow)
		})
	}
	wg.Wait()
	openedAt := time.Now()
	seen := map[uuid.UUID]bool{}
	for i, s := range targets {
		if errs[i] != nil {
			t.Fatalf("update %s: %v", s.Code, errs[i])
		}
		e := results[i].Escalation
		if e == nil {
			t.Fatalf("CRITICAL on %s opened no escalation", s.Code)
		}
		if seen[e.ID] {
			t.Fatalf("escalation %s opened twice", e.ID)
		}
		seen[e.ID] = true
		opens = append(opens, opened{ID: e.ID, Region: s.Region, Code: s.Code})
	}
	n := len(opens)

	// Kill the worker once some, not all, of the tier-1 pages are in.
	waitPages(t, rcv, w1, 30*time.Second, fmt.Sprintf("%d tier-1 pages", killAfter), func() bool { return rcv.distinct(1) >= killAfter })
	if err := w1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL worker-1: %v", err)
	}
	killedAt := time.Now()
	select {
	case <-w1.done:
	case <-time.After(10 * time.Second):
		t.Fatal("worker-1 did not exit after SIGKILL")
	}
	if ws, ok := w1.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("worker-1 ended with %v, want killed by SIGKILL (did it exit on its own?)", w1.cmd.ProcessState)
	}
	tier1AtKill, tier2AtKill := rcv.distinct(1), rcv.distinct(2)
	t.Logf("worker-1 killed %s after the escalations opened, with %d/%d tier-1 and %d tier-2 pages in",
		killedAt.Sub(openedAt).Round(time.Millisecond), tier1AtKill, n, tier2AtKill)
	if tier1AtKill >= n || tier2AtKill > 0 {
		t.Fatalf("the kill came too late to interrupt the paging: %d/%d tier-1 and %d tier-2 pages were in", tier1AtKill, n, tier2AtKill)
	}

	time.Sleep(time.Second)
	w2 := startWorker(t, bin, "worker-2", env)
	restartedAt := time.Now()
	waitReady(t, tc, tq, w2)

	// Every escalation climbs both tiers.
	waitPages(t, rcv, w2, settle, "both tiers paged for every escalation", func() bool {
		for _, o := range opens {
			if !rcv.has(key(o, 1)) || !rcv.has(key(o, 2)) {
				return false
			}
		}
		return true
	})
	t.Logf("every tier paged %s after the restart", time.Since(restartedAt).Round(time.Millisecond))
	// The climb does not wait for deliveries: a page the killed worker sent
	// but never recorded is retried once its attempt times out (15 s), and
	// only then lands on the timeline. Wait for every tier's DELIVERED row.
	waitPages(t, rcv, w2, settle, "a DELIVERED row for both tiers of every escalation", func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(DISTINCT (escalation_id, tier)) FROM escalation_timeline
			WHERE kind = 'DELIVERED' AND escalation_id = ANY($1)`, openIDs(opens)).Scan(&n)
		return err == nil && n == 2*len(opens)
	})

	checkPages(t, pool, rcv, opens, killedAt, restartedAt)
	checkTimeline(t, pool, opens)

	// Resolve every escalation in Postgres; the relay of worker-2 signals
	// the workflows, which complete.
	esc := escalation.NewStore(pool)
	for _, o := range opens {
		if _, err := esc.Resolve(ctx, tier2Recipient, o.ID, "drill over", allow); err != nil {
			t.Fatalf("resolve %s: %v", o.ID, err)
		}
	}
	getCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for _, o := range opens {
		wid := escalation.WorkflowID(o.ID)
		var final wf.State
		if err := tc.GetWorkflow(getCtx, wid, "").Get(getCtx, &final); err != nil {
			t.Fatalf("workflow %s (%s): %v", wid, o.Code, err)
		}
		// Only the fields this test is about: the state grows with the engine.
		if final.Status != wf.StateResolved || final.Tier != 2 || final.ResolvedBy != tier2Recipient || final.AcknowledgedBy != "" {
			t.Errorf("workflow %s (%s) ended with %+v, want RESOLVED by %s at tier 2, never acknowledged", wid, o.Code, final, tier2Recipient)
		}
		desc, err := tc.DescribeWorkflow(getCtx, wid, "")
		if err != nil {
			t.Fatalf("describe %s: %v", wid, err)
		}
		if st := desc.RawResponse.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			t.Errorf("workflow %s (%s) is %s, want COMPLETED", wid, o.Code, st)
		}
	}
	if w2.exited() {
		t.Fatalf("worker-2 exited during the test: %v", w2.cmd.ProcessState)
	}

	// Nothing was paged after the resolution beyond the two tiers.
	_, byKey, _ := rcv.snapshot()
	for k := range byKey {
		if !slices.ContainsFunc(opens, func(o opened) bool { return k == key(o, 1) || k == key(o, 2) }) {
			t.Errorf("unexpected page %q", k)
		}
	}
}

// checkPages asserts what the receiver saw: both tiers for every
// escalation, the right people, no key twice, tier 2 only after the wait.
func checkPages(t *testing.T, pool *pgxpool.Pool, rcv *receiver, opens []opened, killedAt, restartedAt time.Time) {
	t.Helper()
	all, byKey, bad := rcv.snapshot()
	if len(bad) != 0 {
		t.Errorf("the receiver rejected %d requests: %v", len(bad), bad)
	}
	when := func(at time.Time) string {
		switch {
		case at.Before(killedAt):
			return fmt.Sprintf("%s before the kill", killedAt.Sub(at).Round(time.Millisecond))
		case at.Before(restartedAt):
			return fmt.Sprintf("%s after the kill, before the restart", at.Sub(killedAt).Round(time.Millisecond))
		default:
			return fmt.Sprintf("%s after the restart", at.Sub(restartedAt).Round(time.Millisecond))
		}
	}
	dups := 0
	for _, o := range opens {
		for tier, recipient := range map[int]string{1: tier1Recipient[o.Region], 2: tier2Recipient} {
			ds := byKey[key(o, tier)]
			if len(ds) == 0 {
				t.Errorf("%s (%s): tier %d was never paged", o.Code, o.ID, tier)
				continue
			}
			if len(ds) > 1 {
				dups++
				var at []string
				for _, d := range ds {
					at = append(at, when(d.At))
				}
				// Where did the first attempt stop? A DELIVERED row from
				// before the kill means it died between recording and
				// completing.
				recorded := "no DELIVERED row"
				var deliveredAt time.Time
				recordedBeforeKill := false
				if err := pool.QueryRow(context.Background(), `SELECT at FROM escalation_timeline WHERE dedupe_key = $1`,
					key(o, tier)+":delivered").Scan(&deliveredAt); err == nil {
					recorded = "DELIVERED row recorded " + when(deliveredAt)
					recordedBeforeKill = deliveredAt.Before(killedAt)
				}
				// Delivery is at least once: a worker killed between sending
				// a page and recording it cannot know the page went out, so
				// the retry sends it again with the same Idempotency-Key, and
				// the pager drops it (as PagerDuty and Opsgenie do with their
				// dedup keys): the person is paged once. A first copy that
				// arrives between the kill and the restart was still sent by
				// the killed worker (its request was on the wire). Anything
				// else is a real double page: a third delivery, a repeat of a
				// page first sent by the new worker, or a repeat although the
				// page was already recorded (the activity checks first).
				if len(ds) > 2 || !ds[0].At.Before(restartedAt) || recordedBeforeKill {
					t.Errorf("%s (%s): tier %d paged %d times with the same Idempotency-Key, at %s (%s)",
						o.Code, o.ID, tier, len(ds), strings.Join(at, "; "), recorded)
				} else {
					t.Logf("%s: tier %d redelivered after the crash (%s; %s); the pager drops it by its Idempotency-Key",
						o.Code, tier, strings.Join(at, "; "), recorded)
				}
			}
			for _, d := range ds {
				var got []string
				for _, p := range d.Page.Recipients {
					got = append(got, p.Subject)
				}
				if d.Page.Tier != tier || d.Page.EscalationID != o.ID.String() || !slices.Equal(got, []string{recipient}) {
					t.Errorf("%s: page %s has tier %d, escalation %s, recipients %v; want tier %d, %s, [%s]",
						o.Code, d.Key, d.Page.Tier, d.Page.EscalationID, got, tier, o.ID, recipient)
				}
			}
		}
		t2 := byKey[key(o, 2)]
		if len(t2) == 0 {
			continue
		}
		// The wait starts when tier 1 is paged (its PAGED step, before any
		// delivery); tier 2 must not come sooner than the tier's wait.
		var tier1PagedAt time.Time
		if err := pool.QueryRow(context.Background(), `SELECT at FROM escalation_timeline WHERE dedupe_key = $1`,
			fmt.Sprintf("%s:tier1:round1:paged", o.ID)).Scan(&tier1PagedAt); err != nil {
			t.Errorf("%s (%s): no PAGED step for tier 1: %v", o.Code, o.ID, err)
		} else if gap := t2[0].At.Sub(tier1PagedAt); gap < tierWait {
			t.Errorf("%s (%s): tier 2 paged %s after tier 1 was, want at least %s", o.Code, o.ID, gap, tierWait)
		}
	}
	t.Logf("%d deliveries for %d escalations; %d keys delivered more than once", len(all), len(opens), dups)
	// What the crash cost: when the tier-1 pages the first worker had not
	// delivered arrived, counted from the restart.
	var late []time.Duration
	for _, o := range opens {
		if ds := byKey[key(o, 1)]; len(ds) > 0 && !ds[0].At.Before(killedAt) {
			late = append(late, ds[0].At.Sub(restartedAt).Round(100*time.Millisecond))
		}
	}
	slices.Sort(late)
	t.Logf("tier-1 pages first delivered after the kill (%d), time after the restart: %v", len(late), late)
}

// checkTimeline asserts the record in Postgres: per escalation one PAGED
// and one DELIVERED row per tier, one TIMED_OUT for tier 1, in that order,
// the wait honoured, nothing failed, and the escalation at tier 2.
func checkTimeline(t *testing.T, pool *pgxpool.Pool, opens []opened) {
	t.Helper()
	ctx := context.Background()
	for _, o := range opens {
		rows, err := pool.Query(ctx, `SELECT id, at, kind, coalesce(dedupe_key, '') FROM escalation_timeline
			WHERE escalation_id = $1 ORDER BY id`, o.ID)
		if err != nil {
			t.Fatalf("timeline %s: %v", o.ID, err)
		}
		type row struct {
			id   int64
			at   time.Time
			kind string
			key  string
		}
		var steps []row
		var kinds []string
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.at, &r.kind, &r.key); err != nil {
				t.Fatalf("timeline %s: %v", o.ID, err)
			}
			steps = append(steps, r)
			kinds = append(kinds, r.kind+"("+strings.TrimPrefix(r.key, o.ID.String()+":")+")")
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("timeline %s: %v", o.ID, err)
		}
		find := func(kind, tierTag string) []row {
			var out []row
			for _, r := range steps {
				if r.kind == kind && strings.Contains(r.key, ":"+tierTag+":") {
					out = append(out, r)
				}
			}
			return out
		}
		count := func(kind string) int {
			n := 0
			for _, r := range steps {
				if r.kind == kind {
					n++
				}
			}
			return n
		}
		paged1, paged2, timedOut := find(escalation.KindPaged, "tier1"), find(escalation.KindPaged, "tier2"), find(escalation.KindTimedOut, "tier1")
		if len(paged1) != 1 || len(paged2) != 1 || count(escalation.KindPaged) != 2 ||
			len(timedOut) != 1 || count(escalation.KindTimedOut) != 1 || count(escalation.KindPageFailed) != 0 {
			t.Errorf("%s (%s) timeline: %v; want one PAGED per tier, one TIMED_OUT for tier 1, no PAGE_FAILED", o.Code, o.ID, kinds)
			continue
		}
		delivered1, delivered2 := find(escalation.KindDelivered, "tier1"), find(escalation.KindDelivered, "tier2")
		if len(delivered1) != 1 || len(delivered2) != 1 || count(escalation.KindDelivered) != 2 || count(escalation.KindDeliveryFailed) != 0 {
			t.Errorf("%s (%s) timeline: %v; want one DELIVERED per tier and no DELIVERY_FAILED", o.Code, o.ID, kinds)
			continue
		}
		if delivered1[0].id < paged1[0].id || delivered2[0].id < paged2[0].id {
			t.Errorf("%s (%s) timeline: a delivery before its tier was paged: %v", o.Code, o.ID, kinds)
		}
		if paged1[0].id >= timedOut[0].id || timedOut[0].id >= paged2[0].id {
			t.Errorf("%s (%s) timeline out of order: %v", o.Code, o.ID, kinds)
		}
		if gap := timedOut[0].at.Sub(paged1[0].at); gap < tierWait {
			t.Errorf("%s (%s): TIMED_OUT recorded %s after tier 1 was paged, want at least %s", o.Code, o.ID, gap, tierWait)
		}
		var tier int32
		var status string
		if err := pool.QueryRow(ctx, `SELECT tier, status FROM escalations WHERE id = $1`, o.ID).Scan(&tier, &status); err != nil {
			t.Fatalf("escalation %s: %v", o.ID, err)
		}
		if tier != 2 || status != string(escalation.StatusOpen) {
			t.Errorf("%s (%s): escalation at tier %d, %s; want tier 2, OPEN", o.Code, o.ID, tier, status)
		}
	}
}

// terminateLeftovers ends whatever the test left running on its queue.
func terminateLeftovers(t *testing.T, tc client.Client, tq string, opens []opened) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ids := map[string]bool{}
	for _, o := range opens {
		ids[escalation.WorkflowID(o.ID)] = true
	}
	resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("TaskQueue = '%s' AND ExecutionStatus = 'Running'", tq)})
	if err != nil {
		t.Logf("list leftover workflows on %s: %v", tq, err)
	} else {
		for _, e := range resp.GetExecutions() {
			ids[e.GetExecution().GetWorkflowId()] = true
		}
	}
	for wid := range ids {
		desc, err := tc.DescribeWorkflow(ctx, wid, "")
		if err != nil || desc.RawResponse.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			continue
		}
		if err := tc.TerminateWorkflow(ctx, wid, "", "durability test over"); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("terminate %s: %v", wid, err)
		}
	}
}

package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/directory"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/live"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/protection"
	"meridian.dev/platform/site"
	"meridian.dev/platform/testenv"
	"meridian.dev/platform/travel"
	"meridian.dev/worker/relay"
	"meridian.dev/workflows/engine"
	wf "meridian.dev/workflows/escalation"
	incidentwf "meridian.dev/workflows/incident"
)

const pagerSecret = "relay-test-pager-secret-0123456789"

func allow(string) error { return nil }

func quietLogger() *slog.Logger {
	// Failed deliveries are expected in these tests and logged as warnings.
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// pageReceiver is a real HTTP peer that verifies and records pages.
type pageReceiver struct {
	srv *httptest.Server
	ch  chan wf.Page

	mu    sync.Mutex
	pages []wf.Page
	bad   []string
}

func newPageReceiver(t *testing.T) *pageReceiver {
	t.Helper()
	r := &pageReceiver{ch: make(chan wf.Page, 16)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var p wf.Page
		err := notify.Verify(pagerSecret, req.Header.Get("X-Meridian-Timestamp"), req.Header.Get("X-Meridian-Signature"), body, time.Now(), 5*time.Minute)
		if err == nil {
			err = json.Unmarshal(body, &p)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.pages = append(r.pages, p)
		select {
		case r.ch <- p:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *pageReceiver) next(t *testing.T, within time.Duration) wf.Page {
	t.Helper()
	select {
	case p := <-r.ch:
		return p
	case <-time.After(within):
		t.Fatalf("no page arrived within %s (rejected requests: %v)", within, r.rejected())
		return wf.Page{}
	}
}

func (r *pageReceiver) rejected() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bad)
}

func (r *pageReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pages)
}

func names(ps []directory.Person) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Subject
	}
	return out
}

func createSite(t *testing.T, pool *pgxpool.Pool, code, region string) (*site.Store, site.Site) {
	t.Helper()
	sites := site.NewStore(pool, escalation.NewStore(pool))
	s, err := sites.Create(context.Background(), "tester", site.NewSite{Code: code, Name: code + " office", Region: region,
		CountryCode: "FR", City: "Paris", Timezone: "Europe/Paris", Criticality: "HIGH", Latitude: 48.85, Longitude: 2.35}, allow)
	if err != nil {
		t.Fatalf("create site: %v", err)
	}
	return sites, s
}

// maxOutboxID is the newest outbox row so far.
func maxOutboxID(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	var id int64
	if err := pool.QueryRow(context.Background(), `SELECT coalesce(max(id), 0) FROM outbox`).Scan(&id); err != nil {
		t.Fatalf("outbox: %v", err)
	}
	return id
}

// pendingUpTo counts undelivered rows among those up to id. The workflow
// keeps adding rows of its own (timeline steps), so a test checks only the
// rows it knows were due.
func pendingUpTo(t *testing.T, pool *pgxpool.Pool, id int64) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE processed_at IS NULL AND id <= $1`, id).Scan(&n); err != nil {
		t.Fatalf("outbox: %v", err)
	}
	return n
}

func pending(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	n, err := outbox.Pending(context.Background(), pool)
	if err != nil {
		t.Fatalf("pending: %v", err)
	}
	return n
}

func relayOnce(t *testing.T, r *outbox.Relay) int {
	t.Helper()
	n, err := r.RelayOnce(context.Background())
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	return n
}

// outboxRow is the delivery state of the one row of topic.
type outboxRow struct {
	Attempts  int32
	Processed bool
	LastError string
}

func rowOf(t *testing.T, pool *pgxpool.Pool, topic string) outboxRow {
	t.Helper()
	var r outboxRow
	err := pool.QueryRow(context.Background(), `SELECT attempts, processed_at IS NOT NULL, last_error
		FROM outbox WHERE topic = $1`, topic).Scan(&r.Attempts, &r.Processed, &r.LastError)
	if err != nil {
		t.Fatalf("outbox row %s: %v", topic, err)
	}
	return r
}

func streamEvents(t *testing.T, rdb *redis.Client, keys live.Keys) []redis.XMessage {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), keys.Stream(), "-", "+").Result()
	if err != nil {
		t.Fatalf("read stream: %v", err)
	}
	return msgs
}

func TestRelayDrivesTheEscalationWorkflow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	rdb, prefix := testenv.Redis(t)
	keys := live.Keys{Prefix: prefix}
	addr := testenv.TemporalAddress(t)
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	tc, err := engine.Dial(dialCtx, addr, "default", quietLogger())
	cancel()
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	t.Cleanup(tc.Close)
	tq := testenv.Unique(t, "tq")
	log := quietLogger()

	people := directory.NewStore(pool)
	for _, p := range []directory.Person{
		{Subject: "mgr-emea", Name: "Eva", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"EMEA"}},
		{Subject: "mgr-amer", Name: "Ann", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"AMER"}},
		{Subject: "lead", Name: "Gil", Roles: []string{auth.RoleGlobalLead}},
	} {
		if err := people.Upsert(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	escalations := escalation.NewStore(pool)
	rcv := newPageReceiver(t)
	w := worker.New(tc, tq, worker.Options{})
	wf.Register(w, &wf.Activities{Escalations: escalations, Directory: people, Sender: notify.NewSender(pagerSecret, rcv.srv.URL, notify.SMTPConfig{}), Log: log})
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)

	const tierWait = 2 * time.Second
	publisher := live.NewPublisher(rdb, keys)
	r := outbox.NewRelay(pool, log)
	(&relay.Handlers{Publisher: publisher, Temporal: tc, TaskQueue: tq, TierWait: tierWait}).Register(r)

	// The status change: one transaction writes the site, the escalation and
	// their outbox rows; one relay pass delivers all of them.
	sites, s := createSite(t, pool, "PAR-HQ", "EMEA")
	res, err := sites.UpdateStatus(ctx, "mgr-emea", site.StatusChange{SiteID: s.ID, Level: site.LevelCritical,
		Posture: site.PostureLockdown, Note: "intruder", ExpectedVersion: s.Status.Version}, allow)
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if res.Escalation == nil {
		t.Fatal("a CRITICAL status opened no escalation")
	}
	escID := res.Escalation.ID
	wid := res.Escalation.WorkflowID
	if wid != "escalation-"+escID.String() {
		t.Fatalf("workflow ID = %q, want escalation-<id>", wid)
	}
	t.Cleanup(func() { _ = tc.TerminateWorkflow(context.Background(), wid, "", "test over") })

	due := maxOutboxID(t, pool)
	if n := relayOnce(t, r); n != 3 {
		t.Fatalf("relay claimed %d rows, want 3 (site.status_changed, escalation.opened, escalation.changed)", n)
	}
	if n := pendingUpTo(t, pool, due); n != 0 {
		t.Fatalf("%d outbox rows still pending after a healthy relay pass", n)
	}

	// Redis holds the live status, and the stream the event.
	statuses, err := publisher.Statuses(ctx, []string{s.ID.String()})
	if err != nil {
		t.Fatalf("statuses: %v", err)
	}
	got, ok := statuses[s.ID.String()]
	if !ok {
		t.Fatal("Redis has no live status for the site")
	}
	var st site.Status
	if err := json.Unmarshal(got.JSON, &st); err != nil {
		t.Fatalf("live status JSON: %v", err)
	}
	if got.Version != 2 || st.Level != site.LevelCritical || st.Posture != site.PostureLockdown || st.Version != 2 {
		t.Fatalf("live status = v%d %+v, want v2 CRITICAL/LOCKDOWN", got.Version, st)
	}
	var sawStatus bool
	for _, m := range streamEvents(t, rdb, keys) {
		if m.Values["type"] != live.TypeSiteStatus {
			continue
		}
		var ev site.StatusChangedEvent
		if err := json.Unmarshal([]byte(fmt.Sprint(m.Values["data"])), &ev); err != nil {
			t.Fatalf("site.status event: %v", err)
		}
		if ev.Site.ID != s.ID || ev.Site.Status.Level != site.LevelCritical || ev.Previous.Level != site.LevelNormal || m.Values["region"] != "EMEA" {
			t.Fatalf("site.status event = %+v (region %v)", ev, m.Values["region"])
		}
		sawStatus = true
	}
	if !sawStatus {
		t.Fatal("no site.status event on the stream")
	}

	// The workflow runs under its deterministic ID, on our task queue.
	desc, err := describe(ctx, tc, wid)
	if err != nil {
		t.Fatalf("describe %s: %v", wid, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || info.GetTaskQueue() != tq || info.GetType().GetName() != wf.WorkflowName {
		t.Fatalf("workflow %s: status %s, queue %q, type %q", wid, info.GetStatus(), info.GetTaskQueue(), info.GetType().GetName())
	}
	runID := info.GetExecution().GetRunId()

	// A replayed escalation.opened row must not start a second workflow.
	tag, err := pool.Exec(ctx, `UPDATE outbox SET processed_at = NULL WHERE topic = 'escalation.opened'`)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("re-mark escalation.opened: %v (%d rows)", err, tag.RowsAffected())
	}
	// (The pass may also carry the workflow's own timeline rows.)
	if n := relayOnce(t, r); n < 1 {
		t.Fatalf("relay claimed %d rows, want the replayed one", n)
	}
	if row := rowOf(t, pool, outbox.TopicEscalationOpened); !row.Processed || row.Attempts != 0 || row.LastError != "" {
		t.Fatalf("replayed escalation.opened row = %+v, want delivered without error", row)
	}
	assertSingleRun(t, tc, wid, runID)

	// Tier 1: the site's regional manager, and only them.
	page := rcv.next(t, 15*time.Second)
	pagedAt := time.Now()
	if page.Tier != 1 || page.EscalationID != escID.String() || !slices.Equal(names(page.Recipients), []string{"mgr-emea"}) {
		t.Fatalf("first page: tier %d, escalation %s, recipients %v", page.Tier, page.EscalationID, names(page.Recipients))
	}

	// Acknowledge in Postgres; the relay forwards the signal.
	if _, err := escalations.Acknowledge(ctx, "mgr-emea", escID, "on my way", allow); err != nil {
		t.Fatalf("acknowledge: %v", err)
	}
	due = maxOutboxID(t, pool)
	relayOnce(t, r)
	ackedAfter := time.Since(pagedAt)
	if n := pendingUpTo(t, pool, due); n != 0 {
		t.Fatalf("%d outbox rows pending after relaying the acknowledgement", n)
	}
	waitState(t, tc, wid, func(s wf.State) bool {
		return s.Status == wf.StateAcknowledged && s.AcknowledgedBy == "mgr-emea" && s.Tier == 1
	})
	select {
	case p := <-rcv.ch:
		t.Fatalf("tier %d was paged after the acknowledgement (acknowledged %s after the tier-1 page; tier wait %s)", p.Tier, ackedAfter, tierWait)
	case <-time.After(3 * time.Second):
	}
	if n := rcv.count(); n != 1 {
		t.Fatalf("receiver got %d pages, want 1", n)
	}
	if bad := rcv.rejected(); len(bad) != 0 {
		t.Fatalf("the receiver rejected pages: %v", bad)
	}

	// Resolve: the workflow completes.
	if _, err := escalations.Resolve(ctx, "lead", escID, "all clear", allow); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	relayOnce(t, r)
	getCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var final wf.State
	if err := tc.GetWorkflow(getCtx, wid, "").Get(getCtx, &final); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	final.Round, final.Paged, final.Region = 0, nil, "" // compared in the workflow's own tests
	if want := (wf.State{Status: wf.StateResolved, Tier: 1, AcknowledgedBy: "mgr-emea", ResolvedBy: "lead"}); !reflect.DeepEqual(final, want) {
		t.Fatalf("workflow result = %+v, want %+v", final, want)
	}

	// After the workflow finished, replaying its start row or its last
	// signal is harmless: no second run, no stuck row.
	if _, err := pool.Exec(ctx, `UPDATE outbox SET processed_at = NULL
		WHERE topic = 'escalation.opened' OR (topic = 'escalation.changed' AND payload->>'signal' = 'resolve')`); err != nil {
		t.Fatal(err)
	}
	if n := relayOnce(t, r); n != 2 {
		t.Fatalf("relay claimed %d rows, want 2", n)
	}
	if n := pending(t, pool); n != 0 {
		t.Fatalf("%d rows pending after replaying rows of a finished workflow", n)
	}
	assertSingleRun(t, tc, wid, runID)
	desc, err = describe(ctx, tc, wid)
	if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Fatalf("after the replay the workflow is %s (%v), want COMPLETED", desc.GetWorkflowExecutionInfo().GetStatus(), err)
	}

	// Escalation changes reached the stream as well.
	var escStatuses []string
	for _, m := range streamEvents(t, rdb, keys) {
		if m.Values["type"] != live.TypeEscalation {
			continue
		}
		var ev escalation.ChangedEvent
		if err := json.Unmarshal([]byte(fmt.Sprint(m.Values["data"])), &ev); err != nil {
			t.Fatalf("escalation event: %v", err)
		}
		escStatuses = append(escStatuses, string(ev.Escalation.Status))
	}
	for _, want := range []string{"OPEN", "ACKNOWLEDGED", "RESOLVED"} {
		if !slices.Contains(escStatuses, want) {
			t.Fatalf("escalation events on the stream: %v, want one %s", escStatuses, want)
		}
	}
}

// assertSingleRun checks that wid has exactly one execution, runID.
func assertSingleRun(t *testing.T, tc client.Client, wid, runID string) {
	t.Helper()
	ctx := context.Background()
	desc, err := describe(ctx, tc, wid)
	if err != nil {
		t.Fatalf("describe %s: %v", wid, err)
	}
	if got := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(); got != runID {
		t.Fatalf("workflow %s now runs as %s, want still %s: a second execution started", wid, got, runID)
	}
	// Visibility lags behind; wait for the first run to show, then require
	// that it is the only one.
	var runs []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = '%s'", wid)})
		if err != nil {
			t.Fatalf("list %s: %v", wid, err)
		}
		runs = runs[:0]
		for _, e := range resp.GetExecutions() {
			runs = append(runs, e.GetExecution().GetRunId())
		}
		if len(runs) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(runs) != 1 || runs[0] != runID {
		t.Fatalf("executions of %s: %v, want exactly [%s]", wid, runs, runID)
	}
}

func waitState(t *testing.T, tc client.Client, wid string, ok func(wf.State) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var s wf.State
	for time.Now().Before(deadline) {
		v, err := tc.QueryWorkflow(context.Background(), wid, "", wf.QueryState)
		if err != nil {
			t.Fatalf("query %s: %v", wid, err)
		}
		if err := v.Get(&s); err != nil {
			t.Fatalf("decode state: %v", err)
		}
		if ok(s) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("workflow state is %+v", s)
}

func TestRelayKeepsRowsWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	rdb, prefix := testenv.Redis(t)
	keys := live.Keys{Prefix: prefix}
	log := quietLogger()

	sites, s := createSite(t, pool, "LYS-DC", "EMEA")
	if _, err := sites.UpdateStatus(ctx, "mgr-emea", site.StatusChange{SiteID: s.ID, Level: site.LevelElevated,
		Posture: site.PostureRestricted, Note: "protest nearby", ExpectedVersion: s.Status.Version}, allow); err != nil {
		t.Fatalf("update status: %v", err)
	}

	// Nothing listens on port 1: every Redis command fails.
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: time.Second, MaxRetries: 1})
	t.Cleanup(func() { dead.Close() })
	down := outbox.NewRelay(pool, log)
	(&relay.Handlers{Publisher: live.NewPublisher(dead, keys)}).Register(down)

	if n := relayOnce(t, down); n != 1 {
		t.Fatalf("relay claimed %d rows, want the status change", n)
	}
	row := rowOf(t, pool, outbox.TopicSiteStatusChanged)
	if row.Processed || row.Attempts != 1 || row.LastError == "" {
		t.Fatalf("row after a failed delivery = %+v, want pending, attempts 1, with the error", row)
	}
	if n := pending(t, pool); n != 1 {
		t.Fatalf("pending = %d, want 1", n)
	}
	healthy := live.NewPublisher(rdb, keys)
	if got, err := healthy.Statuses(ctx, []string{s.ID.String()}); err != nil || len(got) != 0 {
		t.Fatalf("Redis already has a status (%v, %v)", got, err)
	}

	// Redis is back: a healthy relay delivers the row once its retry is due.
	up := outbox.NewRelay(pool, log)
	(&relay.Handlers{Publisher: healthy}).Register(up)
	deadline := time.Now().Add(10 * time.Second)
	for relayOnce(t, up); pending(t, pool) != 0; relayOnce(t, up) {
		if time.Now().After(deadline) {
			t.Fatalf("the waiting row was never delivered: %+v", rowOf(t, pool, outbox.TopicSiteStatusChanged))
		}
		time.Sleep(200 * time.Millisecond)
	}
	row = rowOf(t, pool, outbox.TopicSiteStatusChanged)
	if !row.Processed || row.Attempts != 1 {
		t.Fatalf("row after recovery = %+v, want processed after 1 failed attempt", row)
	}
	got, err := healthy.Statuses(ctx, []string{s.ID.String()})
	if err != nil {
		t.Fatalf("statuses: %v", err)
	}
	var st site.Status
	if v, ok := got[s.ID.String()]; !ok || json.Unmarshal(v.JSON, &st) != nil || v.Version != 2 || st.Level != site.LevelElevated {
		t.Fatalf("live status after recovery = %+v (%+v), want v2 ELEVATED", got, st)
	}
	events := streamEvents(t, rdb, keys)
	if len(events) != 1 || events[0].Values["type"] != live.TypeSiteStatus {
		t.Fatalf("stream after recovery: %d events %v, want the one site.status", len(events), events)
	}
	var ev site.StatusChangedEvent
	if err := json.Unmarshal([]byte(fmt.Sprint(events[0].Values["data"])), &ev); err != nil || ev.Site.ID != s.ID {
		t.Fatalf("site.status event for %s: %+v (%v)", s.ID, ev.Site.ID, err)
	}
}

func describe(ctx context.Context, tc client.Client, wid string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	d, err := tc.DescribeWorkflow(ctx, wid, "")
	if err != nil {
		return nil, err
	}
	return d.RawResponse, nil
}

// TestRelayNeverStreamsARestrictedEscalation: a restricted escalation (a
// duress) changes, is acknowledged and resolved; the relay signals its
// workflow every time, as for any escalation, but never puts it on the
// region-wide stream, where an ordinary incident's escalation goes. Trips
// are never re-assessed for an incident about a person (restricted, or
// raised by protection): the relay's travel store here fails every call,
// so one call would leave its row undelivered, as a located ordinary
// incident's row shows at the end.
func TestRelayNeverStreamsARestrictedEscalation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	rdb, prefix := testenv.Redis(t)
	keys := live.Keys{Prefix: prefix}
	log := quietLogger()
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	tc, err := engine.Dial(dialCtx, testenv.TemporalAddress(t), "default", log)
	cancel()
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	t.Cleanup(tc.Close)
	tq := testenv.Unique(t, "tq")

	people := directory.NewStore(pool)
	for _, p := range []directory.Person{
		{Subject: "pa-liam", Name: "Liam", Roles: []string{auth.RoleProtectionAgent}},
		{Subject: "gl", Name: "Gil", Roles: []string{auth.RoleGlobalLead}},
		{Subject: "mgr-emea", Name: "Eva", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"EMEA"}},
	} {
		if err := people.Upsert(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	escalations := escalation.NewStore(pool)
	rcv := newPageReceiver(t)
	w := worker.New(tc, tq, worker.Options{})
	wf.Register(w, &wf.Activities{Escalations: escalations, Directory: people, Sender: notify.NewSender(pagerSecret, rcv.srv.URL, notify.SMTPConfig{}), Log: log})
	incidentwf.Register(w)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)

	// A travel store whose every query fails: the trap for a re-assessment.
	broken, err := pgxpool.New(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	broken.Close()
	r := outbox.NewRelay(pool, log)
	(&relay.Handlers{Publisher: live.NewPublisher(rdb, keys), Temporal: tc, TaskQueue: tq, TierWait: 2 * time.Second,
		Trips: travel.NewStore(broken)}).Register(r)
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); _ = r.Run(relayCtx) }()
	t.Cleanup(func() { stopRelay(); <-relayDone })

	incidents := incident.NewStore(pool)
	paris := &incident.Location{Latitude: 48.85, Longitude: 2.35}
	raise := func(n incident.New) escalation.Escalation {
		t.Helper()
		inc, escs, err := incidents.Raise(ctx, "meridian", n, func([]string) error { return nil })
		if err != nil {
			t.Fatalf("raise %s: %v", n.Title, err)
		}
		t.Cleanup(func() {
			_ = tc.TerminateWorkflow(context.Background(), inc.WorkflowID, "", "test over")
			_ = tc.TerminateWorkflow(context.Background(), escs[0].WorkflowID, "", "test over")
		})
		return escs[0]
	}
	duress := raise(incident.New{Title: "Duress: detail D-1", Severity: escalation.SEV1, Kind: protection.IncidentDuress,
		SourceType: protection.SourceType, SourceRef: "duress:1", Regions: []string{"EMEA"}, Location: paris, RestrictedTo: []string{"pa-liam"},
		Policy: &escalation.Policy{Name: "duress", Severity: escalation.SEV1, Tiers: []escalation.Tier{
			{Name: "leader", Wait: time.Minute, Targets: []escalation.Target{{Kind: escalation.TargetUser, Subject: "pa-liam"}}},
			{Name: "global leads", Wait: time.Minute, Targets: []escalation.Target{{Kind: escalation.TargetRole, Role: auth.RoleGlobalLead}}},
		}}})
	missed := raise(incident.New{Title: "Missed check-in: detail D-2", Severity: escalation.SEV2, Kind: protection.IncidentMissedCheckIn,
		SourceType: protection.SourceType, SourceRef: "missed:1", Regions: []string{"EMEA"}, Location: paris})
	ordinary := raise(incident.New{Title: "Power cut", Severity: escalation.SEV2, Kind: "OUTAGE", Regions: []string{"EMEA"}})

	// The duress pages its leader: its workflow runs, started by the relay.
	if p := rcv.next(t, 20*time.Second); p.EscalationID != duress.ID.String() && p.EscalationID != missed.ID.String() && p.EscalationID != ordinary.ID.String() {
		t.Fatalf("a page about %s", p.EscalationID)
	}
	waitStarted(t, tc, duress.WorkflowID)
	if _, err := escalations.Decide(ctx, auth.Identity{Subject: "gl", Roles: []string{auth.RoleGlobalLead}}, duress.ID,
		escalation.SignalAcknowledge, "calling the leader", escalation.DecisionOptions{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, tc, duress.WorkflowID, func(s wf.State) bool { return s.Status == wf.StateAcknowledged && s.AcknowledgedBy == "gl" })
	for _, e := range []escalation.Escalation{duress, missed} {
		if _, err := escalations.Decide(ctx, auth.Identity{Subject: "gl", Roles: []string{auth.RoleGlobalLead}}, e.ID,
			escalation.SignalResolve, "safe", escalation.DecisionOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	getCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := tc.GetWorkflow(getCtx, duress.WorkflowID, "").Get(getCtx, nil); err != nil {
		t.Fatalf("the duress's workflow did not complete on the resolve signal: %v", err)
	}

	// Every row so far is delivered: no re-assessment was asked for.
	due := maxOutboxID(t, pool)
	deadline := time.Now().Add(stacktestWait)
	for pendingUpTo(t, pool, due) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("rows left undelivered: %v", undelivered(t, pool))
		}
		time.Sleep(50 * time.Millisecond)
	}
	streamed := map[uuid.UUID][]string{}
	for _, m := range streamEvents(t, rdb, keys) {
		data := fmt.Sprint(m.Values["data"])
		if strings.Contains(data, duress.ID.String()) || strings.Contains(data, "Duress") {
			t.Fatalf("the restricted escalation reached the stream: %s %s", m.Values["type"], data)
		}
		if m.Values["type"] != live.TypeEscalation {
			continue
		}
		var ev escalation.ChangedEvent
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatal(err)
		}
		streamed[ev.Escalation.ID] = append(streamed[ev.Escalation.ID], string(ev.Escalation.Status))
	}
	if !slices.Contains(streamed[ordinary.ID], "OPEN") || !slices.Contains(streamed[missed.ID], "RESOLVED") {
		t.Fatalf("streamed %v, want the ordinary escalation opened and the (unrestricted) missed check-in resolved", streamed)
	}
	var duressChanges int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE topic = $1 AND payload->'escalation'->>'id' = $2`,
		outbox.TopicEscalationChanged, duress.ID.String()).Scan(&duressChanges); err != nil || duressChanges < 3 {
		// Its page may or may not be recorded before the acknowledgement
		// (the first page the receiver got may be another incident's).
		t.Fatalf("%d escalation.changed rows of the duress (%v), want at least its opening, acknowledgement and resolution", duressChanges, err)
	}

	// The trap is real: an ordinary located incident asks for a
	// re-assessment, which fails here and keeps its row.
	located := raise(incident.New{Title: "Fire near the Paris office", Severity: escalation.SEV2, Kind: "FIRE", Regions: []string{"EMEA"}, Location: paris})
	deadline = time.Now().Add(stacktestWait)
	for {
		var attempts int
		var lastError string
		if err := pool.QueryRow(ctx, `SELECT attempts, last_error FROM outbox WHERE topic = $1 AND payload->'incident'->>'id' = $2`,
			outbox.TopicIncidentOpened, located.IncidentID.String()).Scan(&attempts, &lastError); err != nil {
			t.Fatal(err)
		}
		if attempts > 0 && strings.Contains(lastError, "closed pool") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the located ordinary incident's row: %d attempts, last error %q; want the re-assessment's failure", attempts, lastError)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stacktestWait bounds the waits of TestRelayNeverStreamsARestrictedEscalation.
const stacktestWait = 20 * time.Second

func waitStarted(t *testing.T, tc client.Client, wid string) {
	t.Helper()
	deadline := time.Now().Add(stacktestWait)
	for {
		if _, err := describe(context.Background(), tc, wid); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflow %s never started", wid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func undelivered(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT topic || ': ' || last_error FROM outbox WHERE processed_at IS NULL ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

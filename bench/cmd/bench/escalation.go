package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"meridian.dev/platform/notify"
	"meridian.dev/platform/site"
	"meridian.dev/platform/telemetry"
	wkserver "meridian.dev/worker/server"
	"meridian.dev/workflows/engine"
)

// EscalationReport is Part 3: incidents opened all at once, timed from the
// instant they were released to the tier-1 page reaching the sink, beside a
// bare Temporal workflow with one activity started the same way.
type EscalationReport struct {
	Incidents int           // measured, per side
	Warmup    int           // opened, paged and closed before the measured burst, per side
	TierWait  time.Duration // the worker's wait per tier: long, so no tier-2 page comes

	System EscalationSide
	Bare   EscalationSide

	// The system's mutations, all released at one instant.
	MutationErrors  int
	FirstError      string
	NotOpened       int     // mutations that succeeded without opening an escalation
	MutationLatency Summary // release → mutation response
	FromResponse    Summary // mutation response → tier-1 page (negative: the page came first)

	// LaterTierPages are pages of a tier other than 1 for this part's
	// sites: the long tier wait means none may come.
	LaterTierPages int
	// Cleanup: every escalation is resolved through GraphQL and its
	// workflow must then finish; one that does not is terminated.
	ResolveErrors     int
	FirstResolveError string
	Unfinished        int // workflows (of either side) that did not finish on their own
	FirstUnfinished   string
}

// EscalationSide is one side of Part 3.
type EscalationSide struct {
	Expected   int
	Delivered  int // distinct incidents (or bare workflows) whose page reached the sink
	Duplicates int // pages beyond the first for the same incident, warm-up included
	Latency    Summary
	// Where the time went, by Temporal's record of when each workflow started.
	ToStart     Summary // release → workflow started
	StartToPage Summary // workflow started → page at the sink
	Errors      int     // bare: failed ExecuteWorkflow calls
	FirstError  string
	Usage       Usage // from the release until the last page arrived
}

// targetEscalationRatio bounds the system's p99 against the bare workflow's.
const targetEscalationRatio = 2.0

// escalationWarmup is how many incidents each side opens and closes before
// the measured burst, so neither pays for first use of Temporal alone.
func escalationWarmup(incidents int) int { return max(1, min(10, incidents/10)) }

// Bare baseline: the registered names of its workflow and activity.
const (
	bareWorkflowName = "BenchBareWorkflow"
	bareActivityName = "BenchBarePage"
)

// bareWorkflow runs one activity with the Deliver activity's options.
func bareWorkflow(ctx workflow.Context, key string) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second, MaximumAttempts: 5},
	})
	return workflow.ExecuteActivity(ctx, bareActivityName, key).Get(ctx, nil)
}

type bareActivities struct {
	sender *notify.Sender
	url    string
}

// page POSTs a signed webhook the way the Deliver activity does, through
// the same sender, without reading Postgres first.
func (a *bareActivities) page(ctx context.Context, key string) error {
	return a.sender.Send(ctx, notify.Address{Channel: notify.ChannelWebhook, Target: a.url},
		notify.Page{IdempotencyKey: key, Tier: 1, SentAt: time.Now().UTC()})
}

// sinkPage is what a page sink reads of a webhook body.
type sinkPage struct {
	IdempotencyKey string `json:"idempotencyKey"`
	Tier           int    `json:"tier"`
	Site           string `json:"site"`
}

// sinkHandler receives page webhooks: it notes the arrival time first,
// checks the signature as a paging provider would, and hands the page to
// accept; pages accept does not claim count as unexpected.
func sinkHandler(accept func(p sinkPage, at time.Time) bool, unexpected, bad *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, err := io.ReadAll(r.Body)
		if err == nil {
			err = notify.Verify(wkserver.DevelopmentPagerSecret, r.Header.Get("X-Meridian-Timestamp"), r.Header.Get("X-Meridian-Signature"), body, at, 5*time.Minute)
		}
		var p sinkPage
		if err == nil {
			err = json.Unmarshal(body, &p)
		}
		if err != nil {
			if bad.Add(1) == 1 {
				fmt.Fprintf(os.Stderr, "bench: page sink rejected a page: %v\n", err)
			}
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if !accept(p, at) {
			unexpected.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// pageLog records, per expected key, when its first tier-1 page arrived and
// how many came.
type pageLog struct {
	mu        sync.Mutex
	first     map[string]time.Time
	count     map[string]int
	laterTier int
}

func newPageLog(keys []string) *pageLog {
	l := &pageLog{first: make(map[string]time.Time, len(keys)), count: make(map[string]int, len(keys))}
	for _, k := range keys {
		l.count[k] = 0
	}
	return l
}

// record notes a page; false when key is not one of the log's.
func (l *pageLog) record(key string, tier int, at time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ok := l.count[key]
	if !ok {
		return false
	}
	if tier != 1 {
		l.laterTier++
		return true
	}
	if n == 0 {
		l.first[key] = at
	}
	l.count[key] = n + 1
	return true
}

// arrived counts the keys whose page has arrived.
func (l *pageLog) arrived(keys []string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, k := range keys {
		if l.count[k] > 0 {
			n++
		}
	}
	return n
}

// waitAll waits until every key's page arrived or timeout passed, and says
// how many arrived.
func (l *pageLog) waitAll(ctx context.Context, keys []string, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		n := l.arrived(keys)
		if n == len(keys) || time.Now().After(deadline) || ctx.Err() != nil {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// side summarises keys' pages against release; start gives each key's
// workflow start time when known.
func (l *pageLog) side(keys []string, release time.Time, start map[string]time.Time) EscalationSide {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := EscalationSide{Expected: len(keys)}
	var lat, toStart, startToPage []time.Duration
	for _, k := range keys {
		at, ok := l.first[k]
		if !ok {
			continue
		}
		s.Delivered++
		lat = append(lat, at.Sub(release))
		if st, ok := start[k]; ok {
			toStart = append(toStart, st.Sub(release))
			startToPage = append(startToPage, at.Sub(st))
		}
	}
	s.Latency, s.ToStart, s.StartToPage = summarize(lat), summarize(toStart), summarize(startToPage)
	return s
}

// duplicates counts pages beyond the first, over every key of the log.
func (l *pageLog) duplicates() (dups, laterTier int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.count {
		dups += max(0, n-1)
	}
	return dups, l.laterTier
}

// receivePage is the worker's page sink: tier-1 pages of Part 3's and Part
// 6's sites go to their logs; any other page is unexpected (parts 1 and 2
// never escalate).
func (e *env) receivePage() http.Handler {
	return sinkHandler(func(p sinkPage, at time.Time) bool {
		if l := e.boardLog.Load(); l != nil && l.record(p.Site, p.Tier, at) {
			return true
		}
		if l := e.escLog.Load(); l != nil {
			return l.record(p.Site, p.Tier, at)
		}
		return false
	}, &e.pages, &e.badPages)
}

const criticalMutation = `mutation Critical($input: UpdateSiteStatusInput!) {
  updateSiteStatus(input: $input) { site { id status { level version } } escalation { id status } }
}`

const resolveMutation = `mutation Resolve($input: ResolveEscalationInput!) {
  resolveEscalation(input: $input) { escalation { id status } }
}`

type criticalResponse struct {
	Data *struct {
		UpdateSiteStatus struct {
			Site struct {
				Status struct {
					Level   string `json:"level"`
					Version int32  `json:"version"`
				} `json:"status"`
			} `json:"site"`
			Escalation *struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"escalation"`
		} `json:"updateSiteStatus"`
	} `json:"data"`
	Errors []gqlError `json:"errors"`
}

// opened is one incident's mutation.
type opened struct {
	site   *benchSite
	resp   time.Time // when its response was read
	escGID string    // the escalation it opened, as the gateway names it
	err    error
}

// barrier starts n goroutines that each wait for one instant, then run
// fn(i); it returns that instant once all have finished.
func barrier(n int, fn func(i int)) time.Time {
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			fn(i)
		}()
	}
	ready.Wait()
	// Let the last goroutines reach the receive before the release.
	time.Sleep(20 * time.Millisecond)
	release := time.Now()
	close(start)
	done.Wait()
	return release
}

// openIncidents sets every site CRITICAL through updateSiteStatus as the
// global lead, with the version the benchmark last saw, all released at the
// same instant. Requests are built before the release.
func (e *env) openIncidents(ctx context.Context, hc *http.Client, sites []*benchSite) (time.Time, []opened, error) {
	reqs := make([]*http.Request, len(sites))
	for i, s := range sites {
		body, err := json.Marshal(gqlRequest{Query: criticalMutation, Variables: map[string]any{"input": updateInput{
			SiteID: s.gid, Level: string(site.LevelCritical), Posture: string(site.PostureLockdown),
			Note: "benchmark incident", ExpectedVersion: s.version}}})
		if err != nil {
			return time.Time{}, nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+e.gateway+"/graphql", bytes.NewReader(body))
		if err != nil {
			return time.Time{}, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.tokens["gl-ada"])
		reqs[i] = req
	}
	res := make([]opened, len(sites))
	release := barrier(len(sites), func(i int) {
		s := sites[i]
		o := opened{site: s}
		var out criticalResponse
		resp, err := hc.Do(reqs[i])
		if err == nil {
			var data []byte
			data, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			o.resp = time.Now()
			switch {
			case err != nil:
			case resp.StatusCode != http.StatusOK:
				err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(data))
			default:
				err = json.Unmarshal(data, &out)
			}
		}
		switch {
		case err != nil:
		case len(out.Errors) > 0:
			err = fmt.Errorf("updateSiteStatus: %s", out.Errors[0])
		case out.Data == nil:
			err = errors.New("updateSiteStatus: no data")
		default:
			got := out.Data.UpdateSiteStatus
			if got.Site.Status.Version != s.version+1 || got.Site.Status.Level != string(site.LevelCritical) {
				err = fmt.Errorf("updateSiteStatus: got version %d level %s, want %d CRITICAL", got.Site.Status.Version, got.Site.Status.Level, s.version+1)
				break
			}
			s.version, s.level = got.Site.Status.Version, site.LevelCritical
			if got.Escalation != nil {
				o.escGID = got.Escalation.ID
			}
		}
		o.err = err
		res[i] = o
	})
	return release, res, nil
}

// resolveIncidents resolves, through GraphQL as the global lead, every
// escalation the mutations opened, a few at a time.
func (e *env) resolveIncidents(ctx context.Context, incidents []opened) (errs int, first string) {
	var mu sync.Mutex
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, o := range incidents {
		if o.escGID == "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var resp struct {
				Data   *json.RawMessage `json:"data"`
				Errors []gqlError       `json:"errors"`
			}
			err := e.post(ctx, e.tokens["gl-ada"], gqlRequest{Query: resolveMutation, Variables: map[string]any{
				"input": map[string]any{"escalationId": o.escGID, "note": "benchmark over"}}}, &resp)
			if err == nil && len(resp.Errors) > 0 {
				err = fmt.Errorf("resolveEscalation: %s", resp.Errors[0])
			}
			if err != nil {
				mu.Lock()
				errs++
				if first == "" {
					first = fmt.Sprintf("%s: %v", o.site.code, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs, first
}

// workflowIDs maps each site code to the workflow of the escalation opened
// on it in this run.
func (e *env) workflowIDs(ctx context.Context, sites []*benchSite) (map[string]string, error) {
	ids := make([]uuid.UUID, len(sites))
	for i, s := range sites {
		ids[i] = s.id
	}
	rows, err := e.pool.Query(ctx, `SELECT s.code, e.workflow_id FROM escalations e JOIN sites s ON s.id = e.site_id WHERE e.site_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("escalation workflows: %w", err)
	}
	defer rows.Close()
	out := make(map[string]string, len(sites))
	for rows.Next() {
		var code, id string
		if err := rows.Scan(&code, &id); err != nil {
			return nil, err
		}
		out[code] = id
	}
	return out, rows.Err()
}

// startTimes asks Temporal when each workflow started, keyed as given.
func startTimes(ctx context.Context, tc client.Client, workflowIDs map[string]string) map[string]time.Time {
	var mu sync.Mutex
	out := make(map[string]time.Time, len(workflowIDs))
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for key, id := range workflowIDs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			desc, err := tc.DescribeWorkflow(ctx, id, "")
			if err != nil || desc.RawResponse.GetWorkflowExecutionInfo().GetStartTime() == nil {
				return
			}
			d := desc.RawResponse
			mu.Lock()
			out[key] = d.GetWorkflowExecutionInfo().GetStartTime().AsTime()
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// awaitWorkflows waits for every workflow to finish within limit and
// terminates those that did not; it counts them and says why the first one
// did not finish.
func awaitWorkflows(ctx context.Context, tc client.Client, ids []string, limit time.Duration) (unfinished int, first string) {
	var mu sync.Mutex
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := tc.GetWorkflow(wctx, id, "").Get(wctx, nil)
			if err == nil {
				return
			}
			tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = tc.TerminateWorkflow(tctx, id, "", "benchmark cleanup: did not finish")
			tcancel()
			mu.Lock()
			unfinished++
			if first == "" {
				first = fmt.Sprintf("%s: %v", id, err)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return unfinished, first
}

// escalationClient is an HTTP client with a connection per concurrent
// incident, opened before the measurement so it times the gateway, not TCP
// handshakes (the bare side's gRPC connection is open already, too).
func (e *env) escalationClient(ctx context.Context, n int) *http.Client {
	hc := &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        n + 16,
			MaxIdleConnsPerHost: n + 16,
			IdleConnTimeout:     5 * time.Minute,
		},
	}
	barrier(n, func(int) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.gateway+"/healthz", nil)
		if err != nil {
			return
		}
		if resp, err := hc.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	return hc
}

// escalation runs Part 3.
func (e *env) escalation(ctx context.Context) (*EscalationReport, error) {
	cfg := e.cfg
	warm := escalationWarmup(cfg.Incidents)
	if len(e.escSites) < warm+cfg.Incidents {
		return nil, fmt.Errorf("part 3 needs %d sites, has %d", warm+cfg.Incidents, len(e.escSites))
	}
	warmSites, sites := e.escSites[:warm], e.escSites[warm:warm+cfg.Incidents]
	rep := &EscalationReport{Incidents: cfg.Incidents, Warmup: warm, TierWait: cfg.TierWait}
	codesOf := func(ss []*benchSite) []string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = s.code
		}
		return out
	}
	warmCodes, codes := codesOf(warmSites), codesOf(sites)
	// Registered until the end, so late pages (duplicates, later tiers) of
	// these sites are still counted here.
	sysLog := newPageLog(append(append([]string{}, warmCodes...), codes...))
	e.escLog.Store(sysLog)

	// The bare baseline: a Temporal client with the services' settings, a
	// worker of the bench's own on a queue of its own, and a sink like the
	// worker's.
	tc, err := engine.Dial(ctx, cfg.TemporalAddress, cfg.TemporalNamespace, telemetry.NewLogger(os.Stderr, cfg.LogLevel, "text"))
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	bareQueue := e.queue + "-bare"
	bareKey := func(phase string, i int) string { return fmt.Sprintf("bench-bare-%s-%s-%d", e.name, phase, i) }
	var warmKeys, keys []string
	for i := range warm {
		warmKeys = append(warmKeys, bareKey("warmup", i))
	}
	for i := range cfg.Incidents {
		keys = append(keys, bareKey("measured", i))
	}
	bareLog := newPageLog(append(append([]string{}, warmKeys...), keys...))
	var bareUnexpected atomic.Int64
	bareSink := httptest.NewServer(sinkHandler(func(p sinkPage, at time.Time) bool {
		return bareLog.record(p.IdempotencyKey, p.Tier, at)
	}, &bareUnexpected, &e.badPages))
	defer bareSink.Close()
	w := worker.New(tc, bareQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(bareWorkflow, workflow.RegisterOptions{Name: bareWorkflowName})
	w.RegisterActivityWithOptions((&bareActivities{sender: notify.NewSender(wkserver.DevelopmentPagerSecret, "", notify.SMTPConfig{}), url: bareSink.URL + "/pages"}).page,
		activity.RegisterOptions{Name: bareActivityName})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("bare baseline worker: %w", err)
	}
	defer w.Stop()

	hc := e.escalationClient(ctx, max(cfg.Incidents, warm))
	defer hc.CloseIdleConnections()

	startBare := func(keys []string) (time.Time, []client.WorkflowRun, int, string) {
		runs := make([]client.WorkflowRun, len(keys))
		errs := make([]error, len(keys))
		release := barrier(len(keys), func(i int) {
			runs[i], errs[i] = tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: keys[i], TaskQueue: bareQueue}, bareWorkflowName, keys[i])
		})
		n, first := 0, ""
		for i, err := range errs {
			if err != nil {
				n++
				if first == "" {
					first = fmt.Sprintf("%s: %v", keys[i], err)
				}
			}
		}
		return release, runs, n, first
	}
	// closeSystem resolves the incidents and waits for their workflows.
	closeSystem := func(incidents []opened, ss []*benchSite) error {
		errs, first := e.resolveIncidents(ctx, incidents)
		rep.ResolveErrors += errs
		if rep.FirstResolveError == "" {
			rep.FirstResolveError = first
		}
		ids, err := e.workflowIDs(ctx, ss)
		if err != nil {
			return err
		}
		list := make([]string, 0, len(ids))
		for _, id := range ids {
			list = append(list, id)
		}
		n, why := awaitWorkflows(ctx, tc, list, time.Minute)
		rep.Unfinished += n
		if rep.FirstUnfinished == "" {
			rep.FirstUnfinished = why
		}
		return nil
	}
	noteMutations := func(incidents []opened) {
		for _, o := range incidents {
			switch {
			case o.err != nil:
				rep.MutationErrors++
				if rep.FirstError == "" {
					rep.FirstError = fmt.Sprintf("%s: %v", o.site.code, o.err)
				}
				e.resync(ctx, o.site)
			case o.escGID == "":
				rep.NotOpened++
			}
		}
	}

	// Warm-up, both sides, untimed: a few incidents opened, paged and
	// closed, and as many bare workflows run to the end.
	if err := e.waitOutboxDrained(ctx, time.Minute); err != nil {
		return nil, err
	}
	e.logf("part 3, warm-up: %d incidents and %d bare workflows, opened, paged and finished", warm, warm)
	_, warmOpened, err := e.openIncidents(ctx, hc, warmSites)
	if err != nil {
		return nil, err
	}
	noteMutations(warmOpened)
	sysLog.waitAll(ctx, warmCodes, cfg.PageTimeout)
	if err := closeSystem(warmOpened, warmSites); err != nil {
		return nil, err
	}
	_, warmRuns, n, first := startBare(warmKeys)
	rep.Bare.Errors += n
	if rep.Bare.FirstError == "" {
		rep.Bare.FirstError = first
	}
	bareLog.waitAll(ctx, warmKeys, cfg.PageTimeout)
	for _, r := range warmRuns {
		if r != nil {
			_ = r.Get(ctx, nil)
		}
	}
	if err := e.waitOutboxDrained(ctx, time.Minute); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// The system: every mutation released at one instant.
	e.logf("part 3, system: %d sites set CRITICAL at once through updateSiteStatus (global lead); waiting for %d tier-1 pages (tier wait %s)",
		len(sites), len(sites), cfg.TierWait)
	stopProfile, err := e.startProfile("escalation")
	if err != nil {
		return nil, err
	}
	u0 := e.usage()
	sysRelease, incidents, err := e.openIncidents(ctx, hc, sites)
	if err != nil {
		stopProfile()
		return nil, err
	}
	sysLog.waitAll(ctx, codes, cfg.PageTimeout)
	sysUsage := e.usage().Sub(u0)
	stopProfile()
	noteMutations(incidents)
	var mutLat, fromResp []time.Duration
	sysLog.mu.Lock()
	for _, o := range incidents {
		if o.err != nil {
			continue
		}
		mutLat = append(mutLat, o.resp.Sub(sysRelease))
		if at, ok := sysLog.first[o.site.code]; ok {
			fromResp = append(fromResp, at.Sub(o.resp))
		}
	}
	sysLog.mu.Unlock()
	rep.MutationLatency, rep.FromResponse = summarize(mutLat), summarize(fromResp)
	// The paged steps' own outbox rows still flow: let them settle before
	// the baseline runs.
	if err := e.waitOutboxDrained(ctx, time.Minute); err != nil {
		return nil, err
	}
	time.Sleep(time.Second)

	// The bare baseline: as many workflows started at one instant.
	e.logf("part 3, bare baseline: %d workflows of one activity started at once with client.ExecuteWorkflow (queue %s)", len(keys), bareQueue)
	u0 = e.usage()
	bareRelease, runs, n, first := startBare(keys)
	bareLog.waitAll(ctx, keys, cfg.PageTimeout)
	bareUsage := e.usage().Sub(u0)
	rep.Bare.Errors += n
	if rep.Bare.FirstError == "" {
		rep.Bare.FirstError = first
	}
	var bareIDs []string
	for i, r := range runs {
		if r != nil {
			bareIDs = append(bareIDs, keys[i])
		}
	}
	if n, why := awaitWorkflows(ctx, tc, bareIDs, time.Minute); n > 0 {
		rep.Unfinished += n
		if rep.FirstUnfinished == "" {
			rep.FirstUnfinished = why
		}
	}

	// Where the time went, from Temporal's start times (untimed).
	sysIDs, err := e.workflowIDs(ctx, sites)
	if err != nil {
		return nil, err
	}
	bareWF := make(map[string]string, len(bareIDs))
	for _, id := range bareIDs {
		bareWF[id] = id
	}
	sysStart, bareStart := startTimes(ctx, tc, sysIDs), startTimes(ctx, tc, bareWF)

	// Close the incidents; their workflows must then end.
	e.logf("part 3, cleanup: resolving %d escalations through GraphQL and waiting for their workflows", len(incidents))
	if err := closeSystem(incidents, sites); err != nil {
		return nil, err
	}
	if err := e.waitOutboxDrained(ctx, time.Minute); err != nil {
		return nil, err
	}

	errs, firstErr := rep.Bare.Errors, rep.Bare.FirstError
	rep.System = sysLog.side(codes, sysRelease, sysStart)
	rep.System.Usage = sysUsage
	rep.Bare = bareLog.side(keys, bareRelease, bareStart)
	rep.Bare.Usage, rep.Bare.Errors, rep.Bare.FirstError = bareUsage, errs, firstErr
	var later int
	rep.System.Duplicates, later = sysLog.duplicates()
	rep.LaterTierPages += later
	rep.Bare.Duplicates, later = bareLog.duplicates()
	rep.LaterTierPages += later
	rep.Bare.Duplicates += int(bareUnexpected.Load())
	return rep, nil
}

func (e *env) printEscalation(r *EscalationReport) {
	fmt.Fprintln(e.out)
	fmt.Fprintf(e.out, "Part 3: escalation latency (%d incidents opened at once; tier wait %s; %d-incident warm-up per side)\n", r.Incidents, r.TierWait, r.Warmup)
	fmt.Fprintf(e.out, "  mutations: %d released together, %d errors, %d opened no escalation; release → response p50 %s ms  p99 %s ms  max %s ms\n",
		r.Incidents, r.MutationErrors, r.NotOpened, ms(r.MutationLatency.P50), ms(r.MutationLatency.P99), ms(r.MutationLatency.Max))
	side := func(name string, s EscalationSide) {
		fmt.Fprintf(e.out, "  %-50s p50 %s ms  p99 %s ms  max %s ms  delivered %d/%d, %d duplicates (%s)\n", name,
			ms(s.Latency.P50), ms(s.Latency.P99), ms(s.Latency.Max), s.Delivered, s.Expected, s.Duplicates, usageLine(s.Usage))
		fmt.Fprintf(e.out, "  %-50s release → workflow started p50 %s ms  p99 %s ms; started → page p50 %s ms  p99 %s ms\n", "",
			ms(s.ToStart.P50), ms(s.ToStart.P99), ms(s.StartToPage.P50), ms(s.StartToPage.P99))
	}
	side("system (release → tier-1 page at the sink):", r.System)
	fmt.Fprintf(e.out, "  %-50s p50 %s ms  p99 %s ms  max %s ms  (negative: the page arrived before the HTTP response)\n",
		"system (mutation response → page):", ms(r.FromResponse.P50), ms(r.FromResponse.P99), ms(r.FromResponse.Max))
	side("bare   (release → sink, ExecuteWorkflow + 1 activity):", r.Bare)
	if r.Bare.Errors > 0 {
		fmt.Fprintf(e.out, "  bare: %d starts failed (first: %s)\n", r.Bare.Errors, r.Bare.FirstError)
	}
	if r.Bare.Latency.P99 > 0 {
		fmt.Fprintf(e.out, "  p99 ratio system/bare: %.2f (target ≤ %.1f)\n", float64(r.System.Latency.P99)/float64(r.Bare.Latency.P99), targetEscalationRatio)
	}
	fmt.Fprintf(e.out, "  cleanup: %d resolve errors, %d workflows did not finish on their own, %d later-tier pages\n",
		r.ResolveErrors, r.Unfinished, r.LaterTierPages)
	fmt.Fprintln(e.out)
}

// allPaged is Part 3's correctness: every incident paged once, every bare
// workflow's page received once, nothing else.
func (r *EscalationReport) allPaged() bool {
	return r.System.Expected > 0 && r.System.Delivered == r.System.Expected && r.System.Duplicates == 0 &&
		r.Bare.Expected > 0 && r.Bare.Delivered == r.Bare.Expected && r.Bare.Duplicates == 0 &&
		r.LaterTierPages == 0 && r.MutationErrors == 0 && r.NotOpened == 0 && r.Bare.Errors == 0
}

// problems lists what Part 3 got wrong.
func (r *EscalationReport) problems() []string {
	var p []string
	if r.MutationErrors > 0 {
		p = append(p, fmt.Sprintf("escalation: %d CRITICAL updates failed (first: %s)", r.MutationErrors, r.FirstError))
	}
	if r.NotOpened > 0 {
		p = append(p, fmt.Sprintf("escalation: %d CRITICAL updates opened no escalation", r.NotOpened))
	}
	if r.System.Delivered != r.System.Expected || r.System.Expected == 0 {
		p = append(p, fmt.Sprintf("escalation: %d of %d incidents paged", r.System.Delivered, r.System.Expected))
	}
	if r.System.Duplicates > 0 {
		p = append(p, fmt.Sprintf("escalation: %d duplicate pages", r.System.Duplicates))
	}
	if r.LaterTierPages > 0 {
		p = append(p, fmt.Sprintf("escalation: %d pages of a later tier within the tier wait", r.LaterTierPages))
	}
	if r.Bare.Errors > 0 {
		p = append(p, fmt.Sprintf("bare workflow: %d starts failed (first: %s)", r.Bare.Errors, r.Bare.FirstError))
	}
	if r.Bare.Delivered != r.Bare.Expected || r.Bare.Duplicates > 0 {
		p = append(p, fmt.Sprintf("bare workflow: %d of %d pages received, %d duplicate or unknown", r.Bare.Delivered, r.Bare.Expected, r.Bare.Duplicates))
	}
	if r.ResolveErrors > 0 {
		p = append(p, fmt.Sprintf("escalation: %d resolutions failed (first: %s)", r.ResolveErrors, r.FirstResolveError))
	}
	if r.Unfinished > 0 {
		p = append(p, fmt.Sprintf("escalation: %d workflows did not finish within a minute and were terminated (first: %s)", r.Unfinished, r.FirstUnfinished))
	}
	return p
}

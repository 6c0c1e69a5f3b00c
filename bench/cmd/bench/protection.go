package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/crypto/argon2"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/protection"
	"meridian.dev/platform/telemetry"
	"meridian.dev/worker/demo"
	"meridian.dev/workflows/engine"
)

// Part 5 targets, from the issue.
const (
	targetCheckInRatio = 2.0             // check-in p99 ≤ 2× the bare Update's
	targetPageSlack    = 5 * time.Second // missed → first page p99 ≤ grace + 5 s
)

// checkInPeriod is how often each agent checks in: a tenth of the interval
// before the check-in falls due, as an agent who means to be on time does.
// On the stroke of the due time, half the check-ins would race the watch's
// reminder and the run would page people who did nothing wrong.
func checkInPeriod(interval time.Duration) time.Duration { return interval - interval/10 }

// ProtectionReport is Part 5.
type ProtectionReport struct {
	Details, Agents, Leaders int
	Interval, Grace, Period  time.Duration
	Window                   time.Duration
	Rate                     float64 // check-ins per second the schedule sends
	KDF                      string  // the argon2id parameters the codes are stored under

	SeedTime  time.Duration // people, codes, protectees and details
	StartTime time.Duration // every detail started until the relay had started every watch
	Watches   int           // watches running on the worker's task queue once started
	// WatchProblem names the first watch not running where the worker
	// polls; the part stops there, since no check-in would be watched.
	WatchProblem string

	Derive  TravelSide // one argon2id derivation, in process, one after another
	Bare    TravelSide // a bare Temporal Update round trip, paced at Rate, one at a time
	CheckIn TravelSide // checkIn over HTTP begun in the measured window

	CheckInsSent      int // over the whole load, before and after the window too
	CheckInErrors     int
	FirstCheckInError string
	BareAchieved      float64 // Updates per second the paced baseline achieved
	CheckInAchieved   float64 // check-ins per second begun in the window

	Missed *MissedPages

	EndTime         time.Duration // every detail ended through the store
	StopTime        time.Duration // from then until every watch had finished
	EndErrors       int
	FirstEndError   string
	ResolveErrors   int
	FirstResolve    string
	Unfinished      int // watches and escalations that did not end on their own
	FirstUnfinished string
}

// MissedPages is the second half of Part 5: details whose agents go silent
// at one instant, timed to the first page of each one's missed check-in.
type MissedPages struct {
	Silent int
	Paged  int // silent details whose MISSED_CHECK_IN tier-1 page arrived
	Waited time.Duration

	FromDue      Percentiles // the check-in's due time → the first page
	FromDeadline Percentiles // due + grace (when the watch acts) → the first page
	ToRaised     Percentiles // due + grace → the incident's row (Postgres's created_at)
	RaisedToPage Percentiles // the incident's row → the first page

	Incidents       int // MISSED_CHECK_IN incidents of the silent details
	Twice           int // silent details with more than one
	NotRaised       int // silent details with none
	FalseAlarms     int // incidents of details whose agents checked in in time
	FirstFalseAlarm string
	// LateAlarms are incidents of details whose agents kept checking in,
	// raised because a check-in came (or failed) after due + grace: right
	// of the watch, and a sign that the machine could not keep this rate.
	LateAlarms int
	FirstLate  string

	Duplicates      int // tier-1 pages beyond the first for one incident
	LaterTier       int // pages of tier 2 or later: the long tier wait allows none
	Unexpected      int // pages the sink could not place
	FirstUnexpected string

	RemindersSilent int // reminders sent for the silent details' due times
	RemindersOthers int // reminders for details whose agents kept checking in
}

// AllPaged is the missed half's correctness: every silent detail raised
// exactly one incident and paged its leader once, and nothing else did.
func (m *MissedPages) AllPaged() bool {
	return m != nil && m.Silent > 0 && m.Paged == m.Silent && m.Incidents == m.Silent && m.Twice == 0 &&
		m.NotRaised == 0 && m.FalseAlarms == 0 && m.Duplicates == 0 && m.LaterTier == 0 && m.Unexpected == 0
}

// problems lists what Part 5 got wrong (never what was slow).
func (r *ProtectionReport) problems() []string {
	var p []string
	if r.WatchProblem != "" {
		p = append(p, fmt.Sprintf("protection: %d of %d watches running where the worker polls (%s)", r.Watches, r.Details, r.WatchProblem))
	}
	if r.CheckInErrors > 0 {
		p = append(p, fmt.Sprintf("protection: %d of %d check-ins failed (first: %s)", r.CheckInErrors, r.CheckInsSent, r.FirstCheckInError))
	}
	if r.WatchProblem == "" && r.CheckIn.Latency.N == 0 {
		p = append(p, "protection: no check-in was measured")
	}
	if r.Bare.Errors > 0 {
		p = append(p, fmt.Sprintf("bare Update: %d of %d failed (first: %s)", r.Bare.Errors, r.Bare.Runs, r.Bare.FirstError))
	}
	if m := r.Missed; m != nil {
		p = append(p, m.problems()...)
	}
	if r.EndErrors > 0 {
		p = append(p, fmt.Sprintf("protection: %d details could not be ended (first: %s)", r.EndErrors, r.FirstEndError))
	}
	if r.ResolveErrors > 0 {
		p = append(p, fmt.Sprintf("protection: %d missed check-in escalations could not be resolved (first: %s)", r.ResolveErrors, r.FirstResolve))
	}
	if r.Unfinished > 0 {
		p = append(p, fmt.Sprintf("protection: %d workflows did not finish in time and were terminated (first: %s)", r.Unfinished, r.FirstUnfinished))
	}
	return p
}

func (m *MissedPages) problems() []string {
	var p []string
	if m.Paged != m.Silent || m.Silent == 0 {
		p = append(p, fmt.Sprintf("missed check-in: %d of %d silent details paged their leader", m.Paged, m.Silent))
	}
	if m.NotRaised > 0 {
		p = append(p, fmt.Sprintf("missed check-in: %d silent details raised no incident", m.NotRaised))
	}
	if m.Twice > 0 {
		p = append(p, fmt.Sprintf("missed check-in: %d silent details raised more than one incident", m.Twice))
	}
	if m.FalseAlarms > 0 {
		p = append(p, fmt.Sprintf("missed check-in: %d incidents raised for details whose agents checked in in time (first: %s)", m.FalseAlarms, m.FirstFalseAlarm))
	}
	if m.Duplicates > 0 {
		p = append(p, fmt.Sprintf("missed check-in: %d duplicate tier-1 pages", m.Duplicates))
	}
	if m.LaterTier > 0 {
		p = append(p, fmt.Sprintf("missed check-in: %d pages of a later tier within the tier wait", m.LaterTier))
	}
	if m.Unexpected > 0 {
		p = append(p, fmt.Sprintf("protection: %d pages the sink could not place (first: %s)", m.Unexpected, m.FirstUnexpected))
	}
	return p
}

// benchDetail is one seeded detail and its agent's side of the load.
type benchDetail struct {
	idx      int
	id       uuid.UUID
	gid      string // the GraphQL ID, as the gateway lists it
	agent    int    // index of the agent who checks in
	lat, lon float64
	offset   time.Duration // where in the period its check-ins fall
	started  time.Time

	// mu is held while one of its check-ins is in flight, so that silencing
	// or ending the detail never races a check-in already sent.
	mu      sync.Mutex
	stopped bool
	silent  bool
	seq     int

	// receipts are the answers of its good check-ins, in order; rmu, not
	// mu, guards them, so reading them never waits for a check-in.
	rmu      sync.Mutex
	receipts []receipt
}

// receipt is what a check-in answered.
type receipt struct {
	at, nextDue time.Time
}

// benchAgent is one protection agent of the load.
type benchAgent struct {
	subject, token, code string
}

// protectionRun is Part 5's state.
type protectionRun struct {
	e       *env
	rep     *ProtectionReport
	store   *protection.Store
	tc      client.Client
	lead    auth.Identity
	agents  []benchAgent
	leaders []string
	details []*benchDetail
	byID    map[uuid.UUID]*benchDetail
	pages   *protPages

	// The check-in load: stopLoad ends the agents' loops once no check-in
	// can be in flight (every detail stopped).
	t0       time.Time // the period's origin: every detail's offset counts from it
	stopping atomic.Bool
	stopLoad context.CancelFunc
	loadWG   sync.WaitGroup
	mu       sync.Mutex
	samples  []checkInSample
}

type checkInSample struct {
	start time.Time
	lat   time.Duration
	err   error
}

// protection runs Part 5.
func (e *env) protection(ctx context.Context) (*ProtectionReport, error) {
	cfg := e.cfg
	rep := &ProtectionReport{Details: cfg.ProtectionDetails, Agents: cfg.ProtectionAgents, Leaders: leadersFor(cfg.ProtectionAgents),
		Interval: cfg.ProtectionInterval, Grace: cfg.ProtectionGrace, Period: checkInPeriod(cfg.ProtectionInterval), Window: cfg.ProtectionWindow}
	rep.Rate = float64(rep.Details) / rep.Period.Seconds()
	tc, err := engine.Dial(ctx, cfg.TemporalAddress, cfg.TemporalNamespace, telemetry.NewLogger(os.Stderr, cfg.LogLevel, "text"))
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	p := &protectionRun{e: e, rep: rep, tc: tc, store: protection.NewStore(e.pool, e.rdb, e.prefix), pages: newProtPages()}
	if p.lead, err = personaIdentity("gl-ada"); err != nil {
		return nil, err
	}
	// The agents' and leaders' own webhooks: each page they get is timed
	// here, apart from the organisation's sink, where none may arrive.
	var unplaced atomic.Int64
	sink := httptest.NewServer(sinkHandler(p.pages.add, &unplaced, &e.badPages))
	defer sink.Close()

	e.logf("part 5, setup: %d details (one protectee each), %d agents each checking in on %d of them, %d leaders; interval %s, grace %s",
		rep.Details, rep.Agents, (rep.Details+rep.Agents-1)/rep.Agents, rep.Leaders, rep.Interval, rep.Grace)
	start := time.Now()
	if err := p.seed(ctx, sink.URL); err != nil {
		return nil, err
	}
	rep.SeedTime = time.Since(start)
	e.logf("part 5, seeded in %s; codes stored as %s", rep.SeedTime.Round(time.Millisecond), rep.KDF)

	if err := p.measureDerivation(ctx); err != nil {
		return rep, err
	}
	if err := p.measureBareUpdate(ctx); err != nil {
		return rep, err
	}
	// From here on watches run: whatever happens, they and their
	// escalations are ended before the part returns.
	defer p.cleanup(ctx)
	if err := p.startDetails(ctx); err != nil {
		return rep, err
	}
	if rep.WatchProblem != "" {
		return rep, nil
	}
	if err := p.measureCheckIns(ctx); err != nil {
		return rep, err
	}
	rep.Missed, err = p.missCheckIns(ctx)
	return rep, err
}

// leadersFor is how many detail leaders the agents have: one per five.
func leadersFor(agents int) int { return max(1, agents/5) }

func benchAgentSubject(i int) string  { return fmt.Sprintf("pa-bench-%03d", i) }
func benchLeaderSubject(i int) string { return fmt.Sprintf("pl-bench-%03d", i) }

// personaIdentity is a demo persona as its token would present it.
func personaIdentity(subject string) (auth.Identity, error) {
	for _, p := range demo.Personas {
		if p.Subject == subject {
			return auth.Identity{Subject: p.Subject, Name: p.Name, Roles: p.Roles, Regions: p.Regions}, nil
		}
	}
	return auth.Identity{}, fmt.Errorf("no demo persona %s", subject)
}

// detailPlaces are where the details operate, by region: check-ins carry a
// position near one of them.
var detailPlaces = []struct {
	region   string
	lat, lon float64
}{{"AMER", 30.2672, -97.7431}, {"EMEA", 52.5200, 13.4050}, {"APAC", 34.6937, 135.5023}}

// seed puts the agents and leaders in the directory, sets the agents'
// codes, and creates a protectee and a PLANNED detail for each detail of
// the load, all through protection.Store; then learns each detail's
// GraphQL ID from the gateway.
func (p *protectionRun) seed(ctx context.Context, webhook string) error {
	cfg := p.e.cfg
	if err := p.seedPeople(ctx, webhook); err != nil {
		return err
	}
	if err := p.setCodes(ctx); err != nil {
		return err
	}
	if err := p.e.pool.QueryRow(ctx, `SELECT params FROM check_in_codes WHERE subject = $1`, p.agents[0].subject).Scan(&p.rep.KDF); err != nil {
		return fmt.Errorf("part 5: read the codes' parameters: %w", err)
	}
	p.details = make([]*benchDetail, cfg.ProtectionDetails)
	p.byID = make(map[uuid.UUID]*benchDetail, cfg.ProtectionDetails)
	now := time.Now().UTC()
	interval, grace := cfg.ProtectionInterval, cfg.ProtectionGrace
	var mu sync.Mutex
	err := forEach(ctx, len(p.details), 8, func(ctx context.Context, i int) error {
		place := detailPlaces[i%len(detailPlaces)]
		d := &benchDetail{idx: i, agent: i % len(p.agents), lat: place.lat + float64(i%97)/1000, lon: place.lon + float64(i%89)/1000,
			offset: time.Duration(int64(i) * int64(checkInPeriod(interval)) / int64(len(p.details)))}
		pr, err := p.store.CreateProtectee(ctx, p.lead, protection.NewProtectee{Name: benchPrincipal(i), Title: "Benchmark principal",
			ThreatLevel: protection.ThreatHigh})
		if err != nil {
			return fmt.Errorf("part 5: protectee %d: %w", i, err)
		}
		det, err := p.store.CreateDetail(ctx, p.lead, protection.NewDetail{ProtecteeID: pr.ID, Region: place.region,
			Leader: p.leaders[i%len(p.leaders)], Agents: []string{p.agents[d.agent].subject},
			StartsAt: now.Add(-time.Minute), EndsAt: now.Add(24 * time.Hour), Interval: &interval, Grace: &grace})
		if err != nil {
			return fmt.Errorf("part 5: detail %d: %w", i, err)
		}
		d.id = det.ID
		mu.Lock()
		p.details[i], p.byID[det.ID] = d, d
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	return p.resolveDetailIDs(ctx)
}

func benchPrincipal(i int) string { return fmt.Sprintf("Bench Principal %05d", i) }

// seedPeople adds the agents and leaders to the directory with the
// protection_agent role and a webhook of their own (the part's sink), and
// mints each agent's token.
func (p *protectionRun) seedPeople(ctx context.Context, webhook string) error {
	n, l := p.e.cfg.ProtectionAgents, leadersFor(p.e.cfg.ProtectionAgents)
	var subjects, names []string
	for i := range n {
		subjects, names = append(subjects, benchAgentSubject(i)), append(names, fmt.Sprintf("Bench Agent %d", i))
	}
	for i := range l {
		p.leaders = append(p.leaders, benchLeaderSubject(i))
		subjects, names = append(subjects, benchLeaderSubject(i)), append(names, fmt.Sprintf("Bench Leader %d", i))
	}
	if _, err := p.e.pool.Exec(ctx, `INSERT INTO users (subject, name, roles, webhook_url)
		SELECT s, n, ARRAY[$3], $4 || '/' || s FROM unnest($1::text[], $2::text[]) AS u(s, n)`,
		subjects, names, auth.RoleProtectionAgent, webhook); err != nil {
		return fmt.Errorf("part 5: people: %w", err)
	}
	p.agents = make([]benchAgent, n)
	for i := range n {
		tok, err := auth.Mint(p.e.authCfg, agentIdentity(i), 24*time.Hour)
		if err != nil {
			return err
		}
		p.agents[i] = benchAgent{subject: benchAgentSubject(i), token: tok, code: fmt.Sprintf("bench-%03d-ok", i)}
	}
	return nil
}

func agentIdentity(i int) auth.Identity {
	return auth.Identity{Subject: benchAgentSubject(i), Name: fmt.Sprintf("Bench Agent %d", i), Roles: []string{auth.RoleProtectionAgent}}
}

// setCodes sets every agent's check-in and duress codes, once.
func (p *protectionRun) setCodes(ctx context.Context) error {
	return forEach(ctx, len(p.agents), 4, func(ctx context.Context, i int) error {
		if _, err := p.store.SetCodes(ctx, agentIdentity(i), p.agents[i].code, fmt.Sprintf("bench-%03d-duress", i)); err != nil {
			return fmt.Errorf("part 5: codes of %s: %w", p.agents[i].subject, err)
		}
		return nil
	})
}

const detailsQuery = `query Details($after: String) {
  details(first: 500, after: $after) { edges { node { id protectee { name } } } pageInfo { hasNextPage endCursor } }
}`

// resolveDetailIDs learns each detail's GraphQL ID from the gateway, as
// the global lead lists them, by its protectee's name.
func (p *protectionRun) resolveDetailIDs(ctx context.Context) error {
	byName := make(map[string]*benchDetail, len(p.details))
	for _, d := range p.details {
		byName[benchPrincipal(d.idx)] = d
	}
	var after *string
	for {
		var resp struct {
			Data *struct {
				Details struct {
					Edges []struct {
						Node struct {
							ID        string `json:"id"`
							Protectee struct {
								Name string `json:"name"`
							} `json:"protectee"`
						} `json:"node"`
					} `json:"edges"`
					PageInfo struct {
						HasNextPage bool    `json:"hasNextPage"`
						EndCursor   *string `json:"endCursor"`
					} `json:"pageInfo"`
				} `json:"details"`
			} `json:"data"`
			Errors []gqlError `json:"errors"`
		}
		if err := p.e.post(ctx, p.e.tokens["gl-ada"], gqlRequest{Query: detailsQuery, Variables: map[string]any{"after": after}}, &resp); err != nil {
			return fmt.Errorf("part 5: list details: %w", err)
		}
		if len(resp.Errors) > 0 || resp.Data == nil {
			return fmt.Errorf("part 5: list details: %v", resp.Errors)
		}
		for _, edge := range resp.Data.Details.Edges {
			if d, ok := byName[edge.Node.Protectee.Name]; ok {
				d.gid = edge.Node.ID
			}
		}
		if !resp.Data.Details.PageInfo.HasNextPage {
			break
		}
		after = resp.Data.Details.PageInfo.EndCursor
	}
	for _, d := range p.details {
		if d.gid == "" {
			return fmt.Errorf("part 5: the gateway did not list the detail of %s", benchPrincipal(d.idx))
		}
	}
	return nil
}

// measureDerivation times one argon2id derivation under the parameters
// the codes were stored with, in process, one after another: what every
// check-in pays before anything else.
func (p *protectionRun) measureDerivation(ctx context.Context) error {
	var memory, passes uint32
	var threads uint8
	var version int
	if _, err := fmt.Sscanf(p.rep.KDF, "argon2id$v=%d$m=%d,t=%d,p=%d", &version, &memory, &passes, &threads); err != nil || version != argon2.Version {
		return fmt.Errorf("part 5: cannot read the codes' parameters %q (v=%d): %v", p.rep.KDF, version, err)
	}
	n := min(200, max(20, p.rep.Details/5))
	p.e.logf("part 5, argon2id alone: %d derivations (m=%d KiB, t=%d, p=%d) one after another, in process (after %s warm-up)",
		n, memory, passes, threads, p.e.cfg.Warmup)
	salt := []byte("bench-salt-16byt")
	var err error
	p.rep.Derive, err = p.e.timeRuns(ctx, n, func(context.Context) error {
		argon2.IDKey([]byte("bench-000-ok"), salt, passes, memory, threads, 32)
		return nil
	})
	return err
}

// Bare baseline: a workflow that answers an Update, on a task queue and
// worker of the bench's own.
const (
	bareUpdateWorkflowName = "BenchBareUpdateWorkflow"
	bareUpdateName         = "check-in"
	bareUpdateDone         = "done"
	bareUpdateWorkflows    = 8 // Updates rotate over these, so no one history grows long
)

// bareCheckIn is the bare Update's argument and answer: the shape of a
// check-in and its receipt.
type bareCheckIn struct {
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	NextDue time.Time `json:"nextDue"`
}

// bareUpdateWorkflow answers each Update with the next due time and ends
// when told to, once every Update it accepted is answered.
func bareUpdateWorkflow(ctx workflow.Context, interval time.Duration) (int, error) {
	n := 0
	err := workflow.SetUpdateHandler(ctx, bareUpdateName, func(ctx workflow.Context, c bareCheckIn) (bareCheckIn, error) {
		n++
		c.NextDue = c.At.Add(interval)
		return c, nil
	})
	if err != nil {
		return 0, err
	}
	workflow.GetSignalChannel(ctx, bareUpdateDone).Receive(ctx, nil)
	err = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return n, err
}

// measureBareUpdate times client.UpdateWorkflow round trips (sent, run by
// the bench's worker, answered) one at a time at the check-ins' rate, for
// the same window, before any watch runs.
func (p *protectionRun) measureBareUpdate(ctx context.Context) error {
	e, cfg := p.e, p.e.cfg
	queue := e.queue + "-update"
	w := worker.New(p.tc, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(bareUpdateWorkflow, workflow.RegisterOptions{Name: bareUpdateWorkflowName})
	if err := w.Start(); err != nil {
		return fmt.Errorf("part 5: bare Update worker: %w", err)
	}
	defer w.Stop()
	ids := make([]string, bareUpdateWorkflows)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-bare-update-%s-%d", e.name, i)
		if _, err := p.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: queue}, bareUpdateWorkflowName, cfg.ProtectionInterval); err != nil {
			return fmt.Errorf("part 5: start bare Update workflow: %w", err)
		}
	}
	every := time.Duration(float64(time.Second) / p.rep.Rate)
	e.logf("part 5, bare baseline: a Temporal Update round trip (client.UpdateWorkflow, wait for completion) one at a time every %s (%.1f/s) for %s (after %s warm-up), over %d workflows on queue %s",
		every.Round(time.Microsecond), p.rep.Rate, cfg.ProtectionWindow, cfg.Warmup, len(ids), queue)
	i := 0
	side, achieved, err := pacedRuns(ctx, every, cfg.Warmup, cfg.ProtectionWindow, e.usage, func(ctx context.Context) error {
		i++
		h, err := p.tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: ids[i%len(ids)], UpdateName: bareUpdateName,
			Args: []any{bareCheckIn{At: time.Now().UTC(), By: "bench"}}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err != nil {
			return err
		}
		var got bareCheckIn
		if err := h.Get(ctx, &got); err != nil {
			return err
		}
		if got.NextDue.Sub(got.At) != cfg.ProtectionInterval {
			return fmt.Errorf("the Update answered next due %s after the check-in, want %s", got.NextDue.Sub(got.At), cfg.ProtectionInterval)
		}
		return nil
	})
	p.rep.Bare, p.rep.BareAchieved = side, achieved
	for _, id := range ids {
		if serr := p.tc.SignalWorkflow(ctx, id, "", bareUpdateDone, nil); serr != nil && err == nil {
			err = fmt.Errorf("part 5: end bare Update workflow: %w", serr)
		}
	}
	p.await(ctx, ids, time.Minute)
	return err
}

// pacedRuns calls op one at a time, the i-th at i × every from the start
// (at once when the previous call ran late), for warm-up plus window, and
// times the calls begun in the window. It returns the rate achieved there.
func pacedRuns(ctx context.Context, every, warmup, window time.Duration, usage func() Usage, op func(context.Context) error) (TravelSide, float64, error) {
	var side TravelSide
	var lat []time.Duration
	start := time.Now()
	measureFrom, measureTo := start.Add(warmup), start.Add(warmup+window)
	var u0 Usage
	timer := time.NewTimer(0)
	<-timer.C
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * every)
		if !due.Before(measureTo) {
			break
		}
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return side, 0, ctx.Err()
			}
		}
		measured := !due.Before(measureFrom)
		if measured && side.Runs == 0 {
			u0 = usage()
		}
		t0 := time.Now()
		err := op(ctx)
		d := time.Since(t0)
		if !measured {
			continue
		}
		side.Runs++
		if err != nil {
			side.Errors++
			side.FirstError = firstNonEmpty(side.FirstError, err.Error())
			continue
		}
		lat = append(lat, d)
	}
	if side.Runs > 0 {
		side.Usage = usage().Sub(u0)
	}
	side.Latency = percentilesOf(lat)
	return side, float64(side.Runs) / window.Seconds(), nil
}

// firstNonEmpty keeps the first error message of a run.
func firstNonEmpty(first, next string) string {
	if first != "" {
		return first
	}
	return next
}

// startDetails starts every detail through the store (the relay then starts
// its watch), begins its agent's check-ins at once, waits for the relay to
// deliver every START and checks that each watch runs where the worker
// polls.
func (p *protectionRun) startDetails(ctx context.Context) error {
	e := p.e
	e.logf("part 5, start: %d details started through protection.Store (the relay starts each watch); agents check in every %s (%s before due), %.1f check-ins/s spread evenly",
		len(p.details), p.rep.Period, p.rep.Interval-p.rep.Period, p.rep.Rate)
	t0 := time.Now()
	p.t0 = t0
	loadCtx, stopLoad := context.WithCancel(ctx)
	p.stopLoad = stopLoad
	err := forEach(ctx, len(p.details), 8, func(ctx context.Context, i int) error {
		d := p.details[i]
		det, err := p.store.Start(ctx, p.lead, d.id)
		if err != nil {
			return fmt.Errorf("part 5: start detail %d: %w", i, err)
		}
		if det.StartedAt == nil {
			return fmt.Errorf("part 5: detail %d started without a start time", i)
		}
		d.started = *det.StartedAt
		p.loadWG.Add(1)
		go p.agentLoop(loadCtx, d)
		return nil
	})
	if err != nil {
		return err
	}
	if err := e.waitOutboxDrained(ctx, 2*time.Minute); err != nil {
		return err
	}
	p.rep.StartTime = time.Since(t0)
	p.rep.Watches, p.rep.WatchProblem = p.checkWatches(ctx)
	e.logf("part 5: %d details started and %d watches running on %s in %s", len(p.details), p.rep.Watches, e.queue, p.rep.StartTime.Round(time.Millisecond))
	return nil
}

// checkWatches counts the watches running on the worker's task queue and
// names the first that is not.
func (p *protectionRun) checkWatches(ctx context.Context) (running int, problem string) {
	var mu sync.Mutex
	_ = forEach(ctx, len(p.details), 16, func(ctx context.Context, i int) error {
		id := protection.WatchWorkflowID(p.details[i].id)
		desc, err := p.tc.DescribeWorkflow(ctx, id, "")
		why := ""
		switch {
		case err != nil:
			why = fmt.Sprintf("%s: %v", id, err)
		case desc.RawResponse.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			why = fmt.Sprintf("%s is %s", id, desc.RawResponse.GetWorkflowExecutionInfo().GetStatus())
		case desc.RawResponse.GetWorkflowExecutionInfo().GetTaskQueue() != p.e.queue:
			why = fmt.Sprintf("%s runs on task queue %q; the worker polls %q", id, desc.RawResponse.GetWorkflowExecutionInfo().GetTaskQueue(), p.e.queue)
		}
		mu.Lock()
		defer mu.Unlock()
		if why == "" {
			running++
		} else {
			problem = firstNonEmpty(problem, why)
		}
		return nil
	})
	return running, problem
}

// firstSlot is the first of origin + offset + k × period (k ≥ 0) after
// after: a detail started late joins the schedule at its own place rather
// than checking in at once, so the load stays even.
func firstSlot(origin time.Time, offset, period time.Duration, after time.Time) time.Time {
	t := origin.Add(offset)
	if t.After(after) {
		return t
	}
	k := after.Sub(t)/period + 1
	return t.Add(k * period)
}

const checkInMutation = `mutation CheckIn($input: CheckInInput!) {
  checkIn(input: $input) { checkIn { at nextDue } }
}`

// agentLoop is one detail's agent: a check-in at each of the detail's
// slots until the detail goes silent or ends. The first slot falls within
// one period of the start, before the first check-in is due.
func (p *protectionRun) agentLoop(ctx context.Context, d *benchDetail) {
	defer p.loadWG.Done()
	next := firstSlot(p.t0, d.offset, p.rep.Period, d.started)
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		d.mu.Lock()
		if d.stopped || p.stopping.Load() {
			d.mu.Unlock()
			return
		}
		d.seq++
		t0 := time.Now()
		r, err := p.checkIn(ctx, d)
		lat := time.Since(t0)
		if err == nil {
			d.rmu.Lock()
			d.receipts = append(d.receipts, r)
			d.rmu.Unlock()
		}
		d.mu.Unlock()
		p.note(t0, lat, err)
		next = next.Add(p.rep.Period)
		timer.Reset(time.Until(next))
	}
}

// checkIn sends one check-in as the detail's agent and checks the answer.
func (p *protectionRun) checkIn(ctx context.Context, d *benchDetail) (receipt, error) {
	a := p.agents[d.agent]
	var resp struct {
		Data *struct {
			CheckIn struct {
				CheckIn struct {
					At      time.Time `json:"at"`
					NextDue time.Time `json:"nextDue"`
				} `json:"checkIn"`
			} `json:"checkIn"`
		} `json:"data"`
		Errors []gqlError `json:"errors"`
	}
	err := p.e.post(ctx, a.token, gqlRequest{Query: checkInMutation, Variables: map[string]any{"input": map[string]any{
		"detailId": d.gid, "code": a.code, "latitude": d.lat, "longitude": d.lon,
		"clientMutationId": fmt.Sprintf("bench-%d-%d", d.idx, d.seq)}}}, &resp)
	switch {
	case err != nil:
		return receipt{}, fmt.Errorf("detail %d: %w", d.idx, err)
	case len(resp.Errors) > 0:
		return receipt{}, fmt.Errorf("detail %d: checkIn: %s", d.idx, resp.Errors[0])
	case resp.Data == nil:
		return receipt{}, fmt.Errorf("detail %d: checkIn: no data", d.idx)
	}
	r := resp.Data.CheckIn.CheckIn
	if got := r.NextDue.Sub(r.At); got != p.rep.Interval {
		return receipt{}, fmt.Errorf("detail %d: checkIn answered the next check-in %s after this one, want %s", d.idx, got, p.rep.Interval)
	}
	return receipt{at: r.At, nextDue: r.NextDue}, nil
}

func (p *protectionRun) note(start time.Time, lat time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rep.CheckInsSent++
	if err != nil {
		p.rep.CheckInErrors++
		p.rep.FirstCheckInError = firstNonEmpty(p.rep.FirstCheckInError, err.Error())
	}
	p.samples = append(p.samples, checkInSample{start: start, lat: lat, err: err})
}

// measureCheckIns lets the load settle for the warm-up, then times the
// check-ins begun in the window.
func (p *protectionRun) measureCheckIns(ctx context.Context) error {
	cfg := p.e.cfg
	p.e.logf("part 5, check-ins: %d agents' check-ins through GraphQL, %.1f/s, timed for %s (after %s warm-up)",
		len(p.agents), p.rep.Rate, cfg.ProtectionWindow, cfg.Warmup)
	if err := sleepCtx(ctx, cfg.Warmup); err != nil {
		return err
	}
	stopProfile, err := p.e.startProfile("protection")
	if err != nil {
		return err
	}
	from := time.Now()
	u0 := p.e.usage()
	err = sleepCtx(ctx, cfg.ProtectionWindow)
	to := time.Now()
	usage := p.e.usage().Sub(u0)
	stopProfile()
	if err != nil {
		return err
	}
	// Check-ins begun before the window's end may still be in flight.
	time.Sleep(2 * time.Second)
	side := TravelSide{Usage: usage}
	var lat []time.Duration
	p.mu.Lock()
	for _, s := range p.samples {
		if s.start.Before(from) || !s.start.Before(to) {
			continue
		}
		side.Runs++
		if s.err != nil {
			side.Errors++
			side.FirstError = firstNonEmpty(side.FirstError, s.err.Error())
			continue
		}
		lat = append(lat, s.lat)
	}
	p.mu.Unlock()
	side.Latency = percentilesOf(lat)
	p.rep.CheckIn = side
	p.rep.CheckInAchieved = float64(side.Runs) / to.Sub(from).Seconds()
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// silentDetails picks n details spread evenly over the load (every
// len/n-th), so their due times are spread over the period too; with as
// many details per agent as agents per step, they are every detail of a
// few agents.
func silentDetails(total, n int) []int {
	if n <= 0 || total <= 0 {
		return nil
	}
	n = min(n, total)
	out := make([]int, n)
	for i := range n {
		out[i] = i * total / n
	}
	return out
}

// deadline is when a silent detail's watch acts: its due time plus grace.
type deadline struct {
	d        *benchDetail
	due, end time.Time
}

// missCheckIns silences the agents of some details at one instant, while
// the others go on checking in, and times each silent detail's due time
// (and due time plus grace) to the first page of its missed check-in.
func (p *protectionRun) missCheckIns(ctx context.Context) (*MissedPages, error) {
	cfg := p.e.cfg
	idx := silentDetails(len(p.details), cfg.ProtectionSilent)
	m := &MissedPages{Silent: len(idx)}
	for _, i := range idx {
		d := p.details[i]
		d.mu.Lock() // waits for a check-in in flight
		d.stopped, d.silent = true, true
		d.mu.Unlock()
	}
	silentAt := time.Now()
	dues, err := p.deadlines(ctx, idx)
	if err != nil {
		return m, err
	}
	last := silentAt
	for _, dl := range dues {
		if dl.end.After(last) {
			last = dl.end
		}
	}
	p.e.logf("part 5, missed check-ins: %d details' agents silent at once; their watches act at due + %s grace, the last in %s; waiting for each leader's first page (up to %s after that)",
		len(idx), cfg.ProtectionGrace, time.Until(last).Round(time.Second), cfg.PageTimeout)
	if err := p.waitPaged(ctx, dues, last.Add(cfg.PageTimeout)); err != nil {
		return m, err
	}
	m.Waited = time.Since(silentAt)
	// A page sent twice comes soon after the first, if at all.
	if err := sleepCtx(ctx, 3*time.Second); err != nil {
		return m, err
	}
	return m, p.countMissed(ctx, m, dues)
}

// deadlines reads, from Postgres, when each silent detail's check-in fell
// due; the watch raises at that plus the grace.
func (p *protectionRun) deadlines(ctx context.Context, idx []int) ([]deadline, error) {
	ids := make([]uuid.UUID, len(idx))
	for k, i := range idx {
		ids[k] = p.details[i].id
	}
	rows, err := p.e.pool.Query(ctx, `SELECT id, next_check_in_due, grace_s FROM details WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("part 5: due times: %w", err)
	}
	var out []deadline
	var id uuid.UUID
	var due *time.Time
	var grace int
	_, err = pgx.ForEachRow(rows, []any{&id, &due, &grace}, func() error {
		if due == nil {
			return fmt.Errorf("active detail %s has no next check-in due", id)
		}
		out = append(out, deadline{d: p.byID[id], due: *due, end: due.Add(time.Duration(grace) * time.Second)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("part 5: due times: %w", err)
	}
	return out, nil
}

// missedIncident is a MISSED_CHECK_IN incident as Postgres holds it, with
// its escalation.
type missedIncident struct {
	detail     uuid.UUID
	due        int64 // unix seconds
	incident   uuid.UUID
	escalation *uuid.UUID
	workflow   string
	created    time.Time
}

// missedIncidents reads every MISSED_CHECK_IN incident with its escalation.
func (p *protectionRun) missedIncidents(ctx context.Context) ([]missedIncident, error) {
	rows, err := p.e.pool.Query(ctx, `SELECT i.id, i.source_ref, i.created_at, e.id, e.workflow_id
		FROM incidents i LEFT JOIN escalations e ON e.incident_id = i.id
		WHERE i.source_type = $1 AND i.kind = $2`, protection.SourceType, protection.IncidentMissedCheckIn)
	if err != nil {
		return nil, fmt.Errorf("part 5: missed check-in incidents: %w", err)
	}
	var out []missedIncident
	var m missedIncident
	var ref string
	var wf *string
	_, err = pgx.ForEachRow(rows, []any{&m.incident, &ref, &m.created, &m.escalation, &wf}, func() error {
		id, due, ok := missedDetail(ref)
		if !ok {
			return fmt.Errorf("incident %s: cannot tell its detail from source %q", m.incident, ref)
		}
		x := m
		x.detail, x.due = id, due
		if wf != nil {
			x.workflow = *wf
		}
		if m.escalation != nil {
			esc := *m.escalation
			x.escalation = &esc
		}
		out = append(out, x)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("part 5: missed check-in incidents: %w", err)
	}
	return out, nil
}

// missedDetail reads the detail and the due time (in whole seconds) from a
// missed check-in's source reference (missed:<detail>:<due unix>).
func missedDetail(ref string) (uuid.UUID, int64, bool) {
	rest, ok := strings.CutPrefix(ref, "missed:")
	if !ok {
		return uuid.Nil, 0, false
	}
	id, unix, ok := strings.Cut(rest, ":")
	if !ok {
		return uuid.Nil, 0, false
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return uuid.Nil, 0, false
	}
	due, err := strconv.ParseInt(unix, 10, 64)
	return u, due, err == nil
}

// waitPaged waits until every silent detail's leader has had the first
// page of its missed check-in, or until limit.
func (p *protectionRun) waitPaged(ctx context.Context, dues []deadline, limit time.Time) error {
	for {
		incs, err := p.missedIncidents(ctx)
		if err != nil {
			return err
		}
		first := p.pages.firstTier1()
		paged := 0
		silent := map[uuid.UUID]bool{}
		for _, dl := range dues {
			silent[dl.d.id] = true
		}
		for _, inc := range incs {
			if inc.escalation != nil && silent[inc.detail] {
				if _, ok := first[*inc.escalation]; ok {
					paged++
					delete(silent, inc.detail)
				}
			}
		}
		if paged == len(dues) || time.Now().After(limit) {
			return nil
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// countMissed fills m from Postgres's incidents and the sink's pages.
func (p *protectionRun) countMissed(ctx context.Context, m *MissedPages, dues []deadline) error {
	incs, err := p.missedIncidents(ctx)
	if err != nil {
		return err
	}
	byDetail := map[uuid.UUID][]missedIncident{}
	byEscalation := map[uuid.UUID]missedIncident{}
	for _, inc := range incs {
		byDetail[inc.detail] = append(byDetail[inc.detail], inc)
		if inc.escalation != nil {
			byEscalation[*inc.escalation] = inc
		}
		d := p.byID[inc.detail]
		if d != nil && d.silent {
			continue
		}
		if why, late := p.lateCheckIn(d, inc.due); late {
			m.LateAlarms++
			m.FirstLate = firstNonEmpty(m.FirstLate, why)
		} else {
			m.FalseAlarms++
			m.FirstFalseAlarm = firstNonEmpty(m.FirstFalseAlarm, fmt.Sprintf("incident %s: %s", inc.incident, why))
		}
	}
	first := p.pages.firstTier1()
	var fromDue, fromDeadline, toRaised, raisedToPage []time.Duration
	for _, dl := range dues {
		list := byDetail[dl.d.id]
		switch len(list) {
		case 0:
			m.NotRaised++
			continue
		case 1:
		default:
			m.Twice++
		}
		m.Incidents += len(list)
		inc := list[0]
		toRaised = append(toRaised, inc.created.Sub(dl.end))
		if inc.escalation == nil {
			continue
		}
		at, ok := first[*inc.escalation]
		if !ok {
			continue
		}
		m.Paged++
		fromDue, fromDeadline = append(fromDue, at.Sub(dl.due)), append(fromDeadline, at.Sub(dl.end))
		raisedToPage = append(raisedToPage, at.Sub(inc.created))
	}
	m.FromDue, m.FromDeadline = percentilesOf(fromDue), percentilesOf(fromDeadline)
	m.ToRaised, m.RaisedToPage = percentilesOf(toRaised), percentilesOf(raisedToPage)
	p.pages.classify(m, byEscalation, p.byID)
	return nil
}

// lateCheckIn says whether the check-in due at due (unix seconds) of a
// detail whose agent kept checking in really came after the grace period
// (late, because the machine could not keep up: the watch was right to
// raise), and why. The due time is the answer of an earlier check-in (or
// the start plus one interval); the check-in that answered it is the next.
func (p *protectionRun) lateCheckIn(d *benchDetail, due int64) (string, bool) {
	if d == nil {
		return "a detail the part did not create", false
	}
	d.rmu.Lock()
	receipts := d.receipts
	d.rmu.Unlock()
	dueAt := d.started.Add(p.rep.Interval)
	found := dueAt.Unix() == due
	for _, r := range receipts {
		if found {
			deadline := dueAt.Add(p.rep.Grace)
			if r.at.After(deadline) {
				return fmt.Sprintf("detail %d's check-in due at %s came at %s, after the grace", d.idx, clock(dueAt), clock(r.at)), true
			}
			// The watch reads Postgres just before it raises; a check-in
			// stamped then commits a moment later, and the watch notes the
			// recovery on the incident (RaiseMissed says so).
			if deadline.Sub(r.at) < raceTolerance {
				return fmt.Sprintf("detail %d's check-in due at %s came at %s, racing the deadline", d.idx, clock(dueAt), clock(r.at)), true
			}
			return fmt.Sprintf("detail %d checked in at %s for the check-in due at %s", d.idx, clock(r.at), clock(dueAt)), false
		}
		if r.nextDue.Unix() == due {
			dueAt, found = r.nextDue, true
		}
	}
	if found {
		return fmt.Sprintf("detail %d's check-in due at %s never came (its agent's check-ins failed)", d.idx, clock(dueAt)), true
	}
	return fmt.Sprintf("detail %d: no check-in of its agent was due at %s", d.idx, clock(time.Unix(due, 0))), false
}

// raceTolerance is how close to the deadline a check-in may be stamped and
// still lose the race with the raise without that being a fault.
const raceTolerance = time.Second

func clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }

// protPages records every page the protection part's people get.
type protPages struct {
	mu    sync.Mutex
	pages []protPage
}

type protPage struct {
	key  string
	tier int
	at   time.Time
}

func newProtPages() *protPages { return &protPages{} }

// add is the sink's accept: every page is kept, and placed at the end.
func (l *protPages) add(p sinkPage, at time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pages = append(l.pages, protPage{key: p.IdempotencyKey, tier: p.Tier, at: at})
	return true
}

// firstTier1 is when each escalation's first tier-1 page arrived.
func (l *protPages) firstTier1() map[uuid.UUID]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[uuid.UUID]time.Time{}
	for _, pg := range l.pages {
		kind, id, ok := parsePageKey(pg.key)
		if !ok || kind != pageEscalation || pg.tier != 1 {
			continue
		}
		if at, seen := out[id]; !seen || pg.at.Before(at) {
			out[id] = pg.at
		}
	}
	return out
}

// classify counts reminders, later tiers, duplicates and pages that belong
// to nothing the part did.
func (l *protPages) classify(m *MissedPages, byEscalation map[uuid.UUID]missedIncident, details map[uuid.UUID]*benchDetail) {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	unexpected := func(key, why string) {
		m.Unexpected++
		m.FirstUnexpected = firstNonEmpty(m.FirstUnexpected, fmt.Sprintf("%s (%s)", key, why))
	}
	for _, pg := range l.pages {
		kind, id, ok := parsePageKey(pg.key)
		switch {
		case !ok:
			unexpected(pg.key, "not a reminder or an escalation's page")
		case kind == pageReminder:
			d := details[id]
			switch {
			case d == nil:
				unexpected(pg.key, "a reminder for a detail the part did not create")
			case d.silent:
				m.RemindersSilent++
			default:
				m.RemindersOthers++
			}
		default:
			if _, ok := byEscalation[id]; !ok {
				unexpected(pg.key, "a page of an escalation that is not a missed check-in's")
				continue
			}
			if pg.tier != 1 {
				m.LaterTier++
			} else if seen[pg.key] {
				m.Duplicates++
			}
			seen[pg.key] = true
		}
	}
}

// Kinds of protection pages, told apart by their idempotency keys.
const (
	pageReminder   = "reminder"
	pageEscalation = "escalation"
)

// parsePageKey tells a page by its idempotency key: a check-in reminder
// (checkin-remind:<detail>:<due>:<person>:<channel>, id the detail) or an
// escalation's page (<escalation>:tier<n>:round<r>:<person>:<channel>, id
// the escalation).
func parsePageKey(key string) (kind string, id uuid.UUID, ok bool) {
	if rest, found := strings.CutPrefix(key, "checkin-remind:"); found {
		head, _, _ := strings.Cut(rest, ":")
		u, err := uuid.Parse(head)
		return pageReminder, u, err == nil
	}
	head, rest, found := strings.Cut(key, ":")
	if !found || !strings.HasPrefix(rest, "tier") {
		return "", uuid.Nil, false
	}
	u, err := uuid.Parse(head)
	return pageEscalation, u, err == nil
}

// cleanup ends every detail (the agents still checking in stop first, so
// none sees its detail end under it), waits for the watches to finish,
// then resolves the missed check-ins' escalations and waits for theirs.
func (p *protectionRun) cleanup(ctx context.Context) {
	// Interrupted or not, nothing may be left watching or paging.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
	defer cancel()
	rep := p.rep
	started := make([]*benchDetail, 0, len(p.details))
	for _, d := range p.details {
		if d != nil && !d.started.IsZero() {
			started = append(started, d)
		}
	}
	if len(started) == 0 {
		return
	}
	p.e.logf("part 5, cleanup: ending %d details, waiting for their watches; resolving the missed check-ins' escalations", len(started))
	// No agent starts another check-in; those in flight finish in parallel
	// while the details are ended one by one.
	p.stopping.Store(true)
	t0 := time.Now()
	var mu sync.Mutex
	_ = forEach(ctx, len(started), 8, func(ctx context.Context, i int) error {
		d := started[i]
		d.mu.Lock()
		d.stopped = true
		d.mu.Unlock()
		if _, err := p.store.End(ctx, p.lead, d.id, "benchmark over"); err != nil {
			mu.Lock()
			rep.EndErrors++
			rep.FirstEndError = firstNonEmpty(rep.FirstEndError, fmt.Sprintf("detail %d: %v", d.idx, err))
			mu.Unlock()
		}
		return nil
	})
	p.stopLoad()
	p.loadWG.Wait()
	rep.EndTime = time.Since(t0)
	ids := make([]string, len(started))
	for i, d := range started {
		ids[i] = protection.WatchWorkflowID(d.id)
	}
	// The relay signals each watch to stop and the worker runs each to its
	// end: on a busy machine a thousand take longer than a minute, which is
	// slow, not wrong.
	p.await(ctx, ids, max(time.Minute, time.Duration(len(ids))*200*time.Millisecond))
	rep.StopTime = time.Since(t0) - rep.EndTime
	p.resolveMissed(ctx)
	if err := p.e.waitOutboxDrained(ctx, time.Minute); err != nil {
		rep.Unfinished++
		rep.FirstUnfinished = firstNonEmpty(rep.FirstUnfinished, err.Error())
	}
}

func (p *protectionRun) await(ctx context.Context, ids []string, limit time.Duration) {
	if n, why := awaitWorkflows(ctx, p.tc, ids, limit); n > 0 {
		p.rep.Unfinished += n
		p.rep.FirstUnfinished = firstNonEmpty(p.rep.FirstUnfinished, why)
	}
}

// resolveMissed resolves every missed check-in's escalation as the global
// lead and waits for their workflows.
func (p *protectionRun) resolveMissed(ctx context.Context) {
	incs, err := p.missedIncidents(ctx)
	if err != nil {
		p.rep.ResolveErrors++
		p.rep.FirstResolve = firstNonEmpty(p.rep.FirstResolve, err.Error())
		return
	}
	escalations := escalation.NewStore(p.e.pool)
	allow := func(string) error { return nil }
	var ids []string
	for _, inc := range incs {
		if inc.escalation == nil {
			continue
		}
		if _, err := escalations.Resolve(ctx, p.lead.Subject, *inc.escalation, "benchmark over", allow); err != nil {
			p.rep.ResolveErrors++
			p.rep.FirstResolve = firstNonEmpty(p.rep.FirstResolve, fmt.Sprintf("escalation %s: %v", *inc.escalation, err))
			continue
		}
		ids = append(ids, inc.workflow)
	}
	if err := p.e.waitOutboxDrained(ctx, time.Minute); err != nil {
		p.rep.ResolveErrors++
		p.rep.FirstResolve = firstNonEmpty(p.rep.FirstResolve, err.Error())
	}
	p.await(ctx, ids, time.Minute)
}

// forEach runs fn for 0..n-1 on workers goroutines and returns the first
// error; after one, the rest are not started.
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

func (e *env) printProtection(r *ProtectionReport) {
	out := e.out
	fmt.Fprintln(out)
	fmt.Fprintf(out, "Part 5: executive protection (%d active details, %d agents, %d leaders; interval %s, grace %s; agents check in every %s: %.1f check-ins/s)\n",
		r.Details, r.Agents, r.Leaders, r.Interval, r.Grace, r.Period, r.Rate)
	fmt.Fprintf(out, "  setup: seeded in %s; %d details started and %d watches running in %s\n",
		r.SeedTime.Round(time.Millisecond), r.Details, r.Watches, r.StartTime.Round(time.Millisecond))
	if r.WatchProblem != "" {
		fmt.Fprintf(out, "  STOPPED: %s\n\n", r.WatchProblem)
		return
	}
	side := func(name string, s TravelSide, extra string) {
		fmt.Fprintf(out, "  %-58s p50 %s ms  p99 %s ms  max %s ms  (%d runs, %d errors; %s)%s\n", name,
			ms(s.Latency.P50), ms(s.Latency.P99), ms(s.Latency.Max), s.Runs, s.Errors, usageLine(s.Usage), extra)
	}
	side("argon2id derivation alone ("+r.KDF+")", r.Derive, "")
	side("check-in (checkIn over HTTP → gateway, agent's token)", r.CheckIn, fmt.Sprintf(" [%.1f/s achieved; %d sent in all, %d failed]",
		r.CheckInAchieved, r.CheckInsSent, r.CheckInErrors))
	side("bare Temporal Update round trip (paced, one at a time)", r.Bare, fmt.Sprintf(" [%.1f/s achieved]", r.BareAchieved))
	fmt.Fprintf(out, "  %-8s %s\n", "check-in", r.CheckIn.Usage.PerOp(r.CheckIn.Latency.N))
	if lead := r.Interval - r.Period; r.CheckIn.Latency.P99 > lead {
		fmt.Fprintf(out, "  WARNING: check-in p99 exceeds the %s the agents check in before due: reminders (and, past the grace, incidents) follow for details that did nothing wrong\n", lead)
	}
	if b := r.Bare.Latency.P99; b > 0 {
		fmt.Fprintf(out, "  p99 ratio check-in/bare Update: %.2f (target ≤ %.1f); the derivation alone is %.2f× the bare Update's p50\n",
			float64(r.CheckIn.Latency.P99)/float64(b), targetCheckInRatio, float64(r.Derive.Latency.P50)/float64(max(1, r.Bare.Latency.P50)))
	}
	if m := r.Missed; m != nil {
		fmt.Fprintf(out, "  missed check-in → first page (%d details silent at once; grace %s):\n", m.Silent, r.Grace)
		pct := func(name string, x Percentiles) {
			fmt.Fprintf(out, "    %-44s p50 %s ms  p99 %s ms  max %s ms  (%d)\n", name, ms(x.P50), ms(x.P99), ms(x.Max), x.N)
		}
		pct("due → leader's first page", m.FromDue)
		pct("due + grace (watch acts) → first page", m.FromDeadline)
		pct("due + grace → incident raised (Postgres)", m.ToRaised)
		pct("incident raised → first page", m.RaisedToPage)
		fmt.Fprintf(out, "    paged %d/%d; %d incidents (%d silent details none, %d more than one); %d duplicate and %d later-tier pages; %d pages unplaced; waited %s\n",
			m.Paged, m.Silent, m.Incidents, m.NotRaised, m.Twice, m.Duplicates, m.LaterTier, m.Unexpected, m.Waited.Round(time.Second))
		fmt.Fprintf(out, "    details that kept checking in: %d incidents although the check-in came in time, %d because it came after due + grace; %d reminders to them, %d to the silent ones\n",
			m.FalseAlarms, m.LateAlarms, m.RemindersOthers, m.RemindersSilent)
		if m.LateAlarms > 0 {
			fmt.Fprintf(out, "    WARNING: check-ins came later than their due time plus grace (first: %s): this machine did not keep up with %.1f check-ins/s, and the figures above measure that\n",
				m.FirstLate, r.Rate)
		}
		fmt.Fprintf(out, "    target p99 due → page ≤ grace + %s = %s: %s\n", targetPageSlack, r.Grace+targetPageSlack,
			passMiss(m.FromDue.N > 0 && m.FromDue.P99 <= r.Grace+targetPageSlack))
	}
	fmt.Fprintf(out, "  cleanup: %d details ended in %s, their watches finished %s later; %d end errors, %d resolve errors, %d workflows did not finish on their own\n",
		r.Details, r.EndTime.Round(time.Millisecond), r.StopTime.Round(time.Millisecond), r.EndErrors, r.ResolveErrors, r.Unfinished)
	fmt.Fprintln(out)
}

// printProtectionTable prints Part 5's rows of the final table.
func printProtectionTable(out io.Writer, r *ProtectionReport) {
	tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, " protection metric\t system\t raw baseline\t ratio\t target\t met?")
	fmt.Fprintln(tw, " -----------------\t ------\t ------------\t -----\t ------\t ----")
	ratio := func(a, b time.Duration) string {
		if b <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", float64(a)/float64(b))
	}
	c, b := r.CheckIn.Latency, r.Bare.Latency
	fmt.Fprintf(tw, " check-in p50 (ms, %.1f/s; bare Update)\t %s\t %s\t %s\t -\t -\n", r.Rate, ms(c.P50), ms(b.P50), ratio(c.P50, b.P50))
	fmt.Fprintf(tw, " check-in p99 (ms)\t %s\t %s\t %s\t ≤ %.1f× raw\t %s\n", ms(c.P99), ms(b.P99), ratio(c.P99, b.P99), targetCheckInRatio,
		yesNo(c.N > 0 && b.P99 > 0 && float64(c.P99) <= targetCheckInRatio*float64(b.P99)))
	fmt.Fprintf(tw, " argon2id derivation p50/p99 (ms)\t %s / %s\t -\t -\t -\t -\n", ms(r.Derive.Latency.P50), ms(r.Derive.Latency.P99))
	fmt.Fprintf(tw, " check-in errors\t %d/%d\t %d\t -\t 0\t %s\n", r.CheckInErrors, r.CheckInsSent, r.Bare.Errors, yesNo(r.CheckInErrors == 0 && r.Bare.Errors == 0))
	if m := r.Missed; m != nil {
		target := r.Grace + targetPageSlack
		fmt.Fprintf(tw, " missed → first page p50 (ms, %d silent)\t %s\t -\t -\t -\t -\n", m.Silent, ms(m.FromDue.P50))
		fmt.Fprintf(tw, " missed → first page p99 (ms)\t %s\t -\t -\t ≤ %s ms\t %s\n", ms(m.FromDue.P99), ms(target),
			yesNo(m.FromDue.N > 0 && m.FromDue.P99 <= target))
		fmt.Fprintf(tw, " all paged, one incident each?\t %d/%d\t -\t -\t all, once\t %s\n", m.Paged, m.Silent, yesNo(m.AllPaged()))
	}
	_ = tw.Flush()
}

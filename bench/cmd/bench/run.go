package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"meridian.dev/gateway/graph"
	gwserver "meridian.dev/gateway/server"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/config"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/postgres"
	"meridian.dev/platform/site"
	"meridian.dev/platform/telemetry"
	"meridian.dev/worker/demo"
	wkserver "meridian.dev/worker/server"
)

// Report is what one run measured. Tests read it; people read the table.
type Report struct {
	Throughput *ThroughputReport
	Fanout     *FanoutReport
	Escalation *EscalationReport
	Travel     *TravelReport
	Protection *ProtectionReport
	Board      *BoardReport
	Pages      int64 // pages for sites Part 3 did not open an incident on: none are expected
	BadPages   int64 // pages the sink could not verify
}

// env is what a run created and must remove.
type env struct {
	cfg      Config
	out      io.Writer
	name     string // unique name of this run
	dbName   string
	dbURL    string
	pool     *pgxpool.Pool // plain pgx, no tracing: seeding, checks and the raw baseline
	rdb      *redis.Client
	prefix   string
	queue    string
	authCfg  auth.Config
	tokens   map[string]string // persona subject -> token
	sites    []*benchSite      // every site, ordered by code
	sysSites []*benchSite      // updated through the gateway
	rawSites []*benchSite      // updated by the raw baseline
	escSites []*benchSite      // set CRITICAL by Part 3 (warm-up first)
	gateway  string            // host:port of the in-process gateway
	http     *http.Client
	pages    atomic.Int64            // pages the sink did not expect
	badPages atomic.Int64            // pages whose signature or body the sink rejected
	escLog   atomic.Pointer[pageLog] // Part 3's tier-1 pages by site code, once it runs
	boardLog atomic.Pointer[pageLog] // Part 6's tier-1 pages by site code, once it runs
}

// benchSite is one site and the status version the benchmark last saw.
type benchSite struct {
	idx     int
	id      uuid.UUID
	gid     string // the GraphQL global ID, as the gateway returns it
	code    string
	region  string
	version int32
	level   site.Level
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.out, "==> "+format+"\n", args...)
}

// run performs one benchmark and prints its results to out.
func run(ctx context.Context, cfg Config, out io.Writer) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, out: out}
	// Until the services install theirs: migrations log at info otherwise.
	slog.SetDefault(telemetry.NewLogger(os.Stderr, cfg.LogLevel, "text"))
	e.name = fmt.Sprintf("%s_%d", time.Now().UTC().Format("20060102_150405"), os.Getpid())
	e.prefix = "bench:" + e.name + ":"
	e.queue = "meridian-bench-" + strings.ReplaceAll(e.name, "_", "-")
	e.logf("meridian bench %s: GOMAXPROCS=%d, NumCPU=%d", e.name, runtime.GOMAXPROCS(0), runtime.NumCPU())
	servicePool := "default max(4, NumCPU)"
	if cfg.ServicePoolConns > 0 {
		servicePool = strconv.Itoa(cfg.ServicePoolConns)
	}
	e.logf("config: clients=%d duration=%s warmup=%s raw-conns=%d service-pool-conns=%s | subscribers=%d rate=%d/s fanout-duration=%s fanout-sites=%d | incidents=%d tier-wait=%s",
		cfg.Clients, cfg.Duration, cfg.Warmup, e.rawConns(), servicePool, cfg.Subscribers, cfg.Rate, cfg.FanoutDuration, cfg.FanoutSites,
		cfg.Incidents, cfg.TierWait)
	if cfg.runs("travel") {
		e.logf("config: travel-incidents=%d travel-iterations=%d travel-queries=%d travel-trips=%d",
			cfg.TravelIncidents, cfg.TravelIterations, cfg.TravelQueries, cfg.TravelTrips)
	}
	if cfg.runs("protection") {
		e.logf("config: protection-details=%d protection-agents=%d protection-interval=%s protection-grace=%s protection-window=%s protection-silent=%d",
			cfg.ProtectionDetails, cfg.ProtectionAgents, cfg.ProtectionInterval, cfg.ProtectionGrace, cfg.ProtectionWindow, cfg.ProtectionSilent)
	}
	if cfg.runs("board") {
		e.logf("config: board-sites=%d board-escalations=%d board-rate=%d/s board-duration=%s board-idle=%s board-loads=%d board-drain=%s",
			cfg.BoardSites, cfg.BoardEscalations, cfg.BoardRate, cfg.BoardDuration, cfg.BoardIdle, cfg.BoardLoads, cfg.BoardDrain)
	}

	// The benchmark shares the machine with Postgres, Redis and Temporal, and
	// with whatever else runs there: say how busy it was before starting.
	if bg := backgroundLoad(ctx, time.Second); bg >= 0 {
		note := ""
		if bg > 0.25 {
			note = " (WARNING: other work on this machine will distort the results)"
		}
		e.logf("machine busy before the run: %.2f of %d cores%s", bg, runtime.NumCPU(), note)
	}

	// Every service must answer before anything is created.
	if err := checkTCP(ctx, cfg.TemporalAddress); err != nil {
		return nil, fmt.Errorf("temporal is required at %s (make bench starts a dev server): %w", cfg.TemporalAddress, err)
	}
	cleanup, err := e.setup(ctx)
	defer cleanup()
	if err != nil {
		return nil, err
	}

	rep := &Report{}
	if cfg.runs("throughput") {
		// The raw baseline runs first, before the gateway and worker exist, so
		// the relay does not spend CPU delivering its outbox rows while it is
		// measured: it measures the bare transaction.
		raw, err := e.rawThroughput(ctx)
		if err != nil {
			return rep, err
		}
		rep.Throughput = &ThroughputReport{Raw: raw}
	}

	stop, err := e.startServices(ctx)
	defer stop()
	if err != nil {
		return rep, err
	}
	if err := e.resolveGlobalIDs(ctx); err != nil {
		return rep, err
	}

	if cfg.runs("throughput") {
		sys, err := e.systemThroughput(ctx)
		if err != nil {
			return rep, err
		}
		rep.Throughput.System = sys
		e.printThroughput(rep.Throughput)
		if err := e.waitOutboxDrained(ctx, time.Minute); err != nil {
			return rep, err
		}
		// Nothing is sent now: whatever still commits is background work of
		// the services (such as relay wake-ups), which the next part pays for.
		u0 := e.usage()
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(2 * time.Second):
		}
		idle := e.usage().Sub(u0)
		e.logf("idle for %s after part 1: %.0f commits/s in the bench database, postgres backends %.2f cores, bench process %.2f cores",
			idle.Wall.Round(time.Millisecond), float64(idle.Commits)/idle.Wall.Seconds(), cores(idle.PostgresCPU, idle.Wall), idle.ProcessCores())
	}
	if cfg.runs("fanout") {
		f, err := e.fanout(ctx)
		if err != nil {
			return rep, err
		}
		rep.Fanout = f
		e.printFanout(f)
	}
	if cfg.runs("escalation") {
		x, err := e.escalation(ctx)
		if err != nil {
			return rep, err
		}
		rep.Escalation = x
		e.printEscalation(x)
	}
	if cfg.runs("protection") {
		p, err := e.protection(ctx)
		rep.Protection = p
		if p != nil {
			e.printProtection(p)
		}
		if err != nil {
			return rep, err
		}
	}
	// Before Part 4, whose live incidents the board would draw; it resolves
	// the escalations it opens.
	if cfg.runs("board") {
		b, err := e.board(ctx)
		rep.Board = b
		if err != nil {
			return rep, err
		}
		e.printBoard(b)
	}
	// Last: its incidents stay live, which earlier parts should not see.
	if cfg.runs("travel") {
		t, err := e.travel(ctx)
		if err != nil {
			return rep, err
		}
		rep.Travel = t
		e.printTravel(t)
	}
	rep.Pages, rep.BadPages = e.pages.Load(), e.badPages.Load()
	printTable(out, rep)
	if rep.Travel != nil {
		printTravelTable(out, rep.Travel)
	}
	if rep.Protection != nil {
		printProtectionTable(out, rep.Protection)
	}
	if rep.Board != nil {
		printBoardTable(out, rep.Board)
	}
	return rep, rep.correctness()
}

// correctness is the part of the result that is not about speed: every
// update succeeded, every subscriber got every event, once, and every
// incident was paged, once.
func (r *Report) correctness() error {
	var problems []string
	if t := r.Throughput; t != nil {
		for _, side := range []struct {
			name string
			res  *OpsResult
		}{{"system", t.System}, {"raw", t.Raw}} {
			if side.res == nil {
				continue
			}
			if side.res.Errors > 0 {
				problems = append(problems, fmt.Sprintf("throughput %s: %d updates failed (first: %s)", side.name, side.res.Errors, side.res.FirstError))
			}
			if side.res.Ops == 0 {
				problems = append(problems, fmt.Sprintf("throughput %s: no update completed", side.name))
			}
		}
	}
	if f := r.Fanout; f != nil {
		if f.UpdateErrors > 0 {
			problems = append(problems, fmt.Sprintf("fan-out: %d updates failed (first: %s)", f.UpdateErrors, f.FirstError))
		}
		if f.System.Received != f.System.Expected || f.System.Expected == 0 {
			problems = append(problems, fmt.Sprintf("fan-out: subscribers received %d of %d events", f.System.Received, f.System.Expected))
		}
		if f.System.Duplicates > 0 {
			problems = append(problems, fmt.Sprintf("fan-out: %d duplicate events", f.System.Duplicates))
		}
		if f.SubscriberErrors > 0 {
			problems = append(problems, fmt.Sprintf("fan-out: %d subscribers failed (first: %s)", f.SubscriberErrors, f.FirstSubscriberError))
		}
		if f.Raw != nil && f.Raw.Received != f.Raw.Expected {
			problems = append(problems, fmt.Sprintf("raw pub/sub: subscribers received %d of %d messages", f.Raw.Received, f.Raw.Expected))
		}
	}
	if x := r.Escalation; x != nil {
		problems = append(problems, x.problems()...)
	}
	if t := r.Travel; t != nil {
		problems = append(problems, t.problems()...)
	}
	if p := r.Protection; p != nil {
		problems = append(problems, p.problems()...)
	}
	if b := r.Board; b != nil {
		problems = append(problems, b.problems()...)
	}
	if r.Pages > 0 {
		problems = append(problems, fmt.Sprintf("%d pages were sent for sites Part 3 did not set CRITICAL; no other update should escalate", r.Pages))
	}
	if r.BadPages > 0 {
		problems = append(problems, fmt.Sprintf("the page sink rejected %d pages (bad signature or body)", r.BadPages))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func (e *env) rawConns() int {
	if e.cfg.RawConns > 0 {
		return e.cfg.RawConns
	}
	return e.cfg.Clients
}

// setup creates the database, the Redis prefix and the tokens, and seeds
// sites. The returned cleanup removes all of it, even after a failure.
func (e *env) setup(ctx context.Context) (func(), error) {
	var undo []func()
	cleanup := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}

	admin, err := pgx.Connect(ctx, e.cfg.PostgresURL)
	if err != nil {
		return cleanup, fmt.Errorf("postgres did not answer at %s: %w", redactURL(e.cfg.PostgresURL), err)
	}
	dbName := "meridian_bench_" + e.name
	e.dbName = dbName
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{dbName}.Sanitize())
	admin.Close(context.Background())
	if err != nil {
		return cleanup, fmt.Errorf("create database %s: %w", dbName, err)
	}
	undo = append(undo, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, e.cfg.PostgresURL)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: could not drop database %s: %v\n", dbName, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{dbName}.Sanitize()+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: could not drop database %s: %v\n", dbName, err)
		}
	})
	e.dbURL, err = withDatabase(e.cfg.PostgresURL, dbName)
	if err != nil {
		return cleanup, err
	}
	if err := postgres.Migrate(ctx, e.dbURL); err != nil {
		return cleanup, err
	}

	poolCfg, err := pgxpool.ParseConfig(e.dbURL)
	if err != nil {
		return cleanup, err
	}
	poolCfg.MaxConns = int32(e.rawConns())
	poolCfg.MinConns = poolCfg.MaxConns
	e.pool, err = pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return cleanup, fmt.Errorf("connect %s: %w", dbName, err)
	}
	undo = append(undo, e.pool.Close)

	opts, err := redis.ParseURL(e.cfg.RedisURL)
	if err != nil {
		return cleanup, fmt.Errorf("redis URL: %w", err)
	}
	// Enough connections for the raw publisher's goroutines at any rate.
	opts.PoolSize = max(opts.PoolSize, 64)
	e.rdb = redis.NewClient(opts)
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		e.rdb.Close()
		return cleanup, fmt.Errorf("redis did not answer at %s: %w", opts.Addr, err)
	}
	undo = append(undo, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		iter := e.rdb.Scan(ctx, 0, e.prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			if err := e.rdb.Del(ctx, keys...).Err(); err != nil {
				fmt.Fprintf(os.Stderr, "bench: could not delete Redis keys under %s: %v\n", e.prefix, err)
			}
		}
		e.rdb.Close()
	})

	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return cleanup, err
	}
	e.authCfg = auth.Config{Secret: hex.EncodeToString(secret), Issuer: "meridian", Audience: "meridian-api"}
	if e.tokens, err = demo.Tokens(e.authCfg, 24*time.Hour); err != nil {
		return cleanup, err
	}

	if err := e.seed(ctx); err != nil {
		return cleanup, err
	}
	e.logf("database %s (%d sites: %d through the gateway, %d for the raw baseline, %d for incidents), Redis prefix %s, task queue %s",
		dbName, len(e.sites), len(e.sysSites), len(e.rawSites), len(e.escSites), e.prefix, e.queue)
	return cleanup, nil
}

// seed loads the demo data and enough extra sites for every client, the
// fan-out rotation and the raw baseline.
func (e *env) seed(ctx context.Context) error {
	if _, err := demo.Load(ctx, e.pool); err != nil {
		return fmt.Errorf("seed demo data: %w", err)
	}
	nSys := e.cfg.Clients
	if e.cfg.runs("fanout") {
		nSys = max(nSys, e.cfg.FanoutSites)
	}
	nRaw := 0
	if e.cfg.runs("throughput") {
		nRaw = e.cfg.Clients
	}
	nEsc := 0
	if e.cfg.runs("escalation") {
		nEsc = escalationWarmup(e.cfg.Incidents) + e.cfg.Incidents
	}
	store := site.NewStore(e.pool, escalation.NewStore(e.pool))
	allow := func(string) error { return nil }
	regions := []struct{ region, country, city, tz string }{
		{"AMER", "US", "Austin", "America/Chicago"},
		{"EMEA", "DE", "Berlin", "Europe/Berlin"},
		{"APAC", "JP", "Osaka", "Asia/Tokyo"},
	}
	for i := len(demo.Sites); i < nSys+nRaw+nEsc; i++ {
		r := regions[i%len(regions)]
		_, err := store.Create(ctx, "bench-loader", site.NewSite{
			Code: fmt.Sprintf("BENCH-%05d", i), Name: fmt.Sprintf("Benchmark site %d", i), Region: r.region,
			CountryCode: r.country, City: r.city, Latitude: 10, Longitude: 10, Timezone: r.tz, Criticality: "LOW",
		}, allow)
		if err != nil {
			return fmt.Errorf("seed bench site %d: %w", i, err)
		}
	}
	rows, err := e.pool.Query(ctx, `SELECT id, code, region, status_version, status_level FROM sites ORDER BY code`)
	if err != nil {
		return fmt.Errorf("list sites: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		s := &benchSite{idx: len(e.sites)}
		if err := rows.Scan(&s.id, &s.code, &s.region, &s.version, &s.level); err != nil {
			return err
		}
		e.sites = append(e.sites, s)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(e.sites) < nSys+nRaw+nEsc {
		return fmt.Errorf("seeded %d sites, need %d", len(e.sites), nSys+nRaw+nEsc)
	}
	e.sysSites = e.sites[:nSys]
	e.rawSites = e.sites[nSys : nSys+nRaw]
	e.escSites = e.sites[nSys+nRaw : nSys+nRaw+nEsc]
	return nil
}

// startServices runs the real gateway and worker in-process. stop ends both
// and waits for them.
func (e *env) startServices(ctx context.Context) (stop func(), err error) {
	sctx, cancel := context.WithCancel(ctx)
	serviceURL := e.dbURL
	if n := e.cfg.ServicePoolConns; n > 0 {
		u, err := url.Parse(serviceURL)
		if err != nil {
			return func() { cancel() }, err
		}
		q := u.Query()
		q.Set("pool_max_conns", strconv.Itoa(n))
		u.RawQuery = q.Encode()
		serviceURL = u.String()
	}
	common := config.Common{
		Env:          "development",
		DatabaseURL:  serviceURL,
		RedisURL:     e.cfg.RedisURL,
		RedisPrefix:  e.prefix,
		TemporalHost: e.cfg.TemporalAddress,
		TemporalNS:   e.cfg.TemporalNamespace,
		LogLevel:     e.cfg.LogLevel,
		LogFormat:    "text",
	}
	sink := httptest.NewServer(e.receivePage())

	gwDone := make(chan error, 1)
	wkDone := make(chan error, 1)
	started := 0
	stop = func() {
		cancel()
		for range started {
			select {
			case <-gwDone:
			case <-wkDone:
			case <-time.After(30 * time.Second):
				fmt.Fprintln(os.Stderr, "bench: a service did not stop within 30 s")
			}
		}
		started = 0
		sink.Close()
		if e.http != nil {
			e.http.CloseIdleConnections()
		}
	}

	gcfg := gwserver.Config{
		Common:     common,
		Addr:       "127.0.0.1:0",
		Auth:       e.authCfg,
		RateLimit:  0, // disabled: the benchmark is one caller per region at thousands of updates a second
		RateWindow: time.Minute,
		Limits:     graph.DefaultLimits,
	}
	addr := make(chan string, 1)
	started++
	go func() { gwDone <- gwserver.Run(sctx, gcfg, func(a string) { addr <- a }) }()
	select {
	case e.gateway = <-addr:
	case err := <-gwDone:
		started--
		return stop, fmt.Errorf("gateway: %w", err)
	case <-time.After(30 * time.Second):
		return stop, errors.New("gateway did not start listening within 30 s")
	}

	workerAddr, err := freeAddr()
	if err != nil {
		return stop, err
	}
	wcfg := wkserver.Config{
		Common:        common,
		HTTPAddr:      workerAddr,
		PagerURL:      sink.URL + "/pages",
		PagerSecret:   wkserver.DevelopmentPagerSecret,
		TierWait:      e.cfg.TierWait,
		TaskQueue:     e.queue,
		RunMigrations: false,
	}
	started++
	go func() { wkDone <- wkserver.Run(sctx, wcfg) }()

	idle := e.cfg.Clients + e.cfg.FanoutSites + 16
	e.http = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        idle,
			MaxIdleConnsPerHost: idle,
			IdleConnTimeout:     2 * time.Minute,
		},
	}
	// Both must report ready: Postgres, Redis and Temporal reachable.
	for _, u := range []string{"http://" + e.gateway + "/readyz", "http://" + workerAddr + "/readyz"} {
		if err := e.waitReady(ctx, u, wkDone); err != nil {
			return stop, err
		}
	}
	e.logf("gateway on %s and worker (health %s) running in-process", e.gateway, workerAddr)
	return stop, nil
}

func (e *env) waitReady(ctx context.Context, u string, wkDone <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-wkDone:
			return fmt.Errorf("worker stopped: %v", err)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := e.http.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready within 60 s: %s", u, last)
}

// waitOutboxDrained waits until the relay has delivered every outbox row.
func (e *env) waitOutboxDrained(ctx context.Context, limit time.Duration) error {
	start := time.Now()
	for {
		n, err := outbox.Pending(ctx, e.pool)
		if err != nil {
			return err
		}
		if n == 0 {
			e.logf("outbox drained in %s", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if time.Since(start) > limit {
			return fmt.Errorf("outbox still holds %d rows after %s", n, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// startProfile starts a CPU profile of one system phase when -cpuprofile is
// set; the returned func stops it.
func (e *env) startProfile(phase string) (func(), error) {
	if e.cfg.CPUProfile == "" {
		return func() {}, nil
	}
	path := strings.TrimSuffix(e.cfg.CPUProfile, ".pprof") + "." + phase + ".pprof"
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		e.logf("CPU profile of the system %s phase written to %s", phase, path)
	}, nil
}

func checkTCP(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 3 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func withDatabase(server, name string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("postgres URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

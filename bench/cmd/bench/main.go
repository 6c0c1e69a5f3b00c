// Command bench measures Meridian against its raw baselines in one run:
//
//   - Part 1, status update throughput: N clients each updating their own site
//     through the real gateway (GraphQL over HTTP), then the same N workers
//     running the same transaction directly with pgx.
//   - Part 2, fan-out latency: S GraphQL subscribers over WebSocket
//     (graphql-transport-ws) receiving a paced load of R updates/s, then a
//     plain Redis PUBLISH → SUBSCRIBE round trip with the same S and R.
//   - Part 3, escalation latency: I sites set CRITICAL at one instant through
//     the gateway, timed to each tier-1 page at the worker's page sink, then
//     I bare Temporal workflows of one activity started at one instant.
//   - Part 4, travel risk: a 10-segment trip scored against every stored
//     advisory and thousands of live located incidents, in process and
//     through GraphQL, beside the bare PostGIS query it rests on; then the
//     re-assessment of thousands of trips after one country's level changes.
//   - Part 5, executive protection: details with their check-in watches
//     running, agents checking in through GraphQL at their intervals, beside
//     a bare Temporal Update round trip at the same rate; then some details'
//     agents go silent at once, timed to each leader's first page.
//   - Part 6, the board: thousands of sites and hundreds of open escalations
//     in headless Chromium, its first complete render, then its frame times
//     and change → pixel latency while status changes arrive through the
//     gateway, beside a bare page drawing the same points on a canvas.
//
// It creates its own database, Redis key prefix and Temporal task queue,
// runs the real gateway and worker in-process, and removes what it created
// at the end. `make bench` runs it with a Temporal dev server of its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"meridian.dev/platform/protection"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Config is every setting of one benchmark run.
type Config struct {
	PostgresURL       string // server to create the benchmark database on
	RedisURL          string
	TemporalAddress   string
	TemporalNamespace string

	Parts  string        // all, throughput, fanout, escalation, travel, protection or board
	Warmup time.Duration // excluded from every measurement

	// Part 1
	Clients  int
	Duration time.Duration
	RawConns int // connections of the raw baseline's pool; 0 means one per client

	// Part 2
	Subscribers    int
	Rate           int
	FanoutDuration time.Duration
	FanoutSites    int           // sites the paced updates rotate over
	Drain          time.Duration // how long to wait for the last events after the load

	// Part 3
	Incidents   int           // opened at once (and bare workflows started at once)
	TierWait    time.Duration // the worker's wait per tier; long, so no tier-2 page interferes
	PageTimeout time.Duration // how long to wait for the pages of one burst

	// Part 4
	TravelIncidents  int // live located incidents the trip is scored against
	TravelIterations int // Store.Assess calls, and raw baseline runs
	TravelQueries    int // GraphQL trip queries
	TravelTrips      int // trips re-assessed after one advisory change

	// Part 5
	ProtectionDetails  int           // active details, each with its watch
	ProtectionAgents   int           // agents the details are shared among (one checks in on each)
	ProtectionInterval time.Duration // every detail's check-in interval (scaled: seconds, not minutes)
	ProtectionGrace    time.Duration // every detail's grace period
	ProtectionWindow   time.Duration // measured window of the check-ins (and of the bare Updates)
	ProtectionSilent   int           // details whose agents go silent at once

	// Part 6
	BoardSites        int           // sites in the database when the board loads (the part creates the rest)
	BoardEscalations  int           // escalations opened (CRITICAL through the gateway) before the board loads
	BoardRate         int           // status changes per second while frames are measured
	BoardDuration     time.Duration // measured window of the changes (after -warmup)
	BoardIdle         time.Duration // idle frame window, on the board and on the bare page
	BoardLoads        int           // cold loads of the board, each in a fresh browser context
	BoardDrain        time.Duration // how long the page may take to draw the last changes
	BoardReadyTimeout time.Duration // how long one load may take to become ready

	// ServicePoolConns, when set, adds pool_max_conns to the DATABASE_URL the
	// gateway and worker get; 0 keeps their default (pgxpool: max(4, NumCPU)).
	ServicePoolConns int

	CPUProfile string // profiles of the system phases: <base>.throughput.pprof, <base>.fanout.pprof
	LogLevel   string // of the in-process gateway and worker
}

// defaultConfig is the full benchmark.
func defaultConfig() Config {
	return Config{
		PostgresURL:       envOr("MERIDIAN_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		RedisURL:          envOr("MERIDIAN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
		TemporalAddress:   envOr("MERIDIAN_BENCH_TEMPORAL_ADDRESS", "127.0.0.1:7255"),
		TemporalNamespace: "default",
		Parts:             "all",
		Warmup:            2 * time.Second,
		Clients:           32,
		Duration:          10 * time.Second,
		Subscribers:       200,
		Rate:              500,
		FanoutDuration:    10 * time.Second,
		FanoutSites:       64,
		Drain:             15 * time.Second,
		Incidents:         200,
		TierWait:          10 * time.Minute,
		PageTimeout:       2 * time.Minute,
		TravelIncidents:   5000,
		TravelIterations:  2000,
		TravelQueries:     1000,
		TravelTrips:       10_000,
		LogLevel:          "warn",

		ProtectionDetails: 1000,
		ProtectionAgents:  50,
		// 1,000 details checking in every 108 s is 9.3 check-ins/s. Each
		// costs 55-65 ms of CPU across the in-process stack (a 30-40 ms
		// argon2id derivation, the gateway, the relay, the watch), so this
		// keeps ~0.6 of the 2 cores busy. At a 60 s interval it would be
		// ~1.2 cores, and any other load then lets the derivation queue grow
		// without bound: check-ins come late and the watches rightly raise.
		ProtectionInterval: 120 * time.Second,
		ProtectionGrace:    3 * time.Second,
		ProtectionWindow:   60 * time.Second,
		ProtectionSilent:   100,

		BoardSites:        5000,
		BoardEscalations:  200,
		BoardRate:         100,
		BoardDuration:     20 * time.Second,
		BoardIdle:         5 * time.Second,
		BoardLoads:        3,
		BoardDrain:        3 * time.Second,
		BoardReadyTimeout: time.Minute,
	}
}

// quickConfig is a few-second sanity run; flags given explicitly still win.
func quickConfig(c Config) Config {
	c.Warmup = 500 * time.Millisecond
	c.Clients = 4
	c.Duration = 2 * time.Second
	c.Subscribers = 20
	c.Rate = 100
	c.FanoutDuration = 2 * time.Second
	c.FanoutSites = 16
	c.Incidents = 20
	c.TravelIterations = 200
	c.TravelQueries = 100
	c.TravelTrips = 1000
	c.ProtectionDetails = 100
	c.ProtectionAgents = 10
	c.ProtectionInterval = 20 * time.Second
	c.ProtectionWindow = 20 * time.Second
	c.ProtectionSilent = 10
	c.BoardDuration = 5 * time.Second
	c.BoardIdle = 2 * time.Second
	c.BoardLoads = 1
	return c
}

func parseFlags(args []string, stderr io.Writer) (Config, error) {
	def := defaultConfig()
	var c Config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.PostgresURL, "postgres", def.PostgresURL, "PostgreSQL server URL; a fresh database `meridian_bench_<ts>` is created on it and dropped at the end (env MERIDIAN_BENCH_DATABASE_URL)")
	fs.StringVar(&c.RedisURL, "redis", def.RedisURL, "Redis URL; keys live under a prefix of this run and are deleted at the end (env MERIDIAN_BENCH_REDIS_URL)")
	fs.StringVar(&c.TemporalAddress, "temporal", def.TemporalAddress, "Temporal frontend host:port (env MERIDIAN_BENCH_TEMPORAL_ADDRESS)")
	fs.StringVar(&c.TemporalNamespace, "temporal-namespace", def.TemporalNamespace, "Temporal namespace")
	fs.StringVar(&c.Parts, "parts", def.Parts, "which parts to run: all, throughput, fanout, escalation, travel, protection or board")
	fs.DurationVar(&c.Warmup, "warmup", def.Warmup, "warm-up before each measured phase, excluded from the results")
	fs.IntVar(&c.Clients, "clients", def.Clients, "part 1: concurrent clients, each updating its own site")
	fs.DurationVar(&c.Duration, "duration", def.Duration, "part 1: measured duration of each side")
	fs.IntVar(&c.RawConns, "raw-conns", def.RawConns, "part 1: connections of the raw baseline's pgx pool (0: one per client)")
	fs.IntVar(&c.Subscribers, "subscribers", def.Subscribers, "part 2: WebSocket (and Redis) subscribers")
	fs.IntVar(&c.Rate, "rate", def.Rate, "part 2: updates (and raw messages) per second")
	fs.DurationVar(&c.FanoutDuration, "fanout-duration", def.FanoutDuration, "part 2: measured duration of the paced load")
	fs.IntVar(&c.FanoutSites, "fanout-sites", def.FanoutSites, "part 2: sites the paced updates rotate over (bounds updates in flight)")
	fs.DurationVar(&c.Drain, "drain", def.Drain, "part 2: how long to wait for the last events after the load")
	fs.IntVar(&c.Incidents, "incidents", def.Incidents, "part 3: incidents opened at once (and bare workflows started at once)")
	fs.DurationVar(&c.TierWait, "tier-wait", def.TierWait, "part 3: the worker's wait per escalation tier (long, so no tier-2 page comes)")
	fs.DurationVar(&c.PageTimeout, "page-timeout", def.PageTimeout, "part 3: how long to wait for the pages of one burst")
	fs.IntVar(&c.TravelIncidents, "travel-incidents", def.TravelIncidents, "part 4: live located incidents (one OPEN escalation each) the trip is scored against")
	fs.IntVar(&c.TravelIterations, "travel-iterations", def.TravelIterations, "part 4: Store.Assess calls, and raw baseline runs, one at a time")
	fs.IntVar(&c.TravelQueries, "travel-queries", def.TravelQueries, "part 4: GraphQL trip queries, one at a time")
	fs.IntVar(&c.TravelTrips, "travel-trips", def.TravelTrips, "part 4: trips re-assessed after one country's advisory level changes")
	fs.IntVar(&c.ProtectionDetails, "protection-details", def.ProtectionDetails, "part 5: active details, each with its check-in watch")
	fs.IntVar(&c.ProtectionAgents, "protection-agents", def.ProtectionAgents, "part 5: agents the details are shared among (each checks in on details/agents of them)")
	fs.DurationVar(&c.ProtectionInterval, "protection-interval", def.ProtectionInterval, "part 5: check-in interval of every detail (whole seconds, at least 5 s); agents check in a tenth of it before due")
	fs.DurationVar(&c.ProtectionGrace, "protection-grace", def.ProtectionGrace, "part 5: grace period of every detail (whole seconds)")
	fs.DurationVar(&c.ProtectionWindow, "protection-window", def.ProtectionWindow, "part 5: measured window of the check-ins, and of the bare Updates")
	fs.IntVar(&c.ProtectionSilent, "protection-silent", def.ProtectionSilent, "part 5: details whose agents go silent at once (spread evenly over the load)")
	fs.IntVar(&c.BoardSites, "board-sites", def.BoardSites, "part 6: sites in the database when the board loads (the part creates what is missing)")
	fs.IntVar(&c.BoardEscalations, "board-escalations", def.BoardEscalations, "part 6: escalations opened before the board loads")
	fs.IntVar(&c.BoardRate, "board-rate", def.BoardRate, "part 6: status changes per second (NORMAL ↔ ELEVATED) while frames are measured")
	fs.DurationVar(&c.BoardDuration, "board-duration", def.BoardDuration, "part 6: measured window of the changes, after -warmup")
	fs.DurationVar(&c.BoardIdle, "board-idle", def.BoardIdle, "part 6: idle frame window on the board and on the bare page")
	fs.IntVar(&c.BoardLoads, "board-loads", def.BoardLoads, "part 6: cold loads of the board, each in a fresh browser context")
	fs.DurationVar(&c.BoardDrain, "board-drain", def.BoardDrain, "part 6: how long the page may take to draw the last changes")
	fs.DurationVar(&c.BoardReadyTimeout, "board-ready-timeout", def.BoardReadyTimeout, "part 6: how long one load may take to become ready")
	fs.IntVar(&c.ServicePoolConns, "service-pool-conns", def.ServicePoolConns, "pool_max_conns for the gateway's and worker's Postgres pools (0: their default, max(4, NumCPU))")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write CPU profiles of the system phases to `base`.throughput.pprof, base.fanout.pprof, base.escalation.pprof, base.travel.pprof, base.protection.pprof and base.board-load.pprof (the board's cold loads)")
	fs.StringVar(&c.LogLevel, "log-level", def.LogLevel, "log level of the in-process gateway and worker")
	quick := fs.Bool("quick", false, "a few-second sanity run (4 clients, 2 s, 20 subscribers, 100 updates/s, 20 incidents; travel: 200 assessments, 100 queries, 1000 trips; protection: 100 details, 10 agents, 20 s interval and window, 10 silent; board: 1 load, 2 s idle, 5 s of changes); explicit flags still win")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments: %v", fs.Args())
		fmt.Fprintln(stderr, "bench:", err)
		return c, err
	}
	if *quick {
		q := quickConfig(c)
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		apply := func(name string, dst, src any) {
			if set[name] {
				return
			}
			switch d := dst.(type) {
			case *int:
				*d = src.(int)
			case *time.Duration:
				*d = src.(time.Duration)
			}
		}
		apply("warmup", &c.Warmup, q.Warmup)
		apply("clients", &c.Clients, q.Clients)
		apply("duration", &c.Duration, q.Duration)
		apply("subscribers", &c.Subscribers, q.Subscribers)
		apply("rate", &c.Rate, q.Rate)
		apply("fanout-duration", &c.FanoutDuration, q.FanoutDuration)
		apply("fanout-sites", &c.FanoutSites, q.FanoutSites)
		apply("incidents", &c.Incidents, q.Incidents)
		apply("travel-iterations", &c.TravelIterations, q.TravelIterations)
		apply("travel-queries", &c.TravelQueries, q.TravelQueries)
		apply("travel-trips", &c.TravelTrips, q.TravelTrips)
		apply("protection-details", &c.ProtectionDetails, q.ProtectionDetails)
		apply("protection-agents", &c.ProtectionAgents, q.ProtectionAgents)
		apply("protection-interval", &c.ProtectionInterval, q.ProtectionInterval)
		apply("protection-window", &c.ProtectionWindow, q.ProtectionWindow)
		apply("protection-silent", &c.ProtectionSilent, q.ProtectionSilent)
		apply("board-duration", &c.BoardDuration, q.BoardDuration)
		apply("board-idle", &c.BoardIdle, q.BoardIdle)
		apply("board-loads", &c.BoardLoads, q.BoardLoads)
	}
	if err := c.validate(); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return c, err
	}
	return c, nil
}

func (c Config) validate() error {
	switch c.Parts {
	case "all", "throughput", "fanout", "escalation", "travel", "protection", "board":
	default:
		return fmt.Errorf("-parts must be all, throughput, fanout, escalation, travel, protection or board, not %q", c.Parts)
	}
	switch {
	case c.Clients < 1:
		return fmt.Errorf("-clients must be at least 1")
	case c.Duration <= 0 || c.FanoutDuration <= 0:
		return fmt.Errorf("-duration and -fanout-duration must be positive")
	case c.Warmup < 0:
		return fmt.Errorf("-warmup must not be negative")
	case c.RawConns < 0 || c.ServicePoolConns < 0:
		return fmt.Errorf("-raw-conns and -service-pool-conns must not be negative")
	case c.Subscribers < 1:
		return fmt.Errorf("-subscribers must be at least 1")
	case c.Rate < 1 || c.Rate > 100_000:
		return fmt.Errorf("-rate must be between 1 and 100000")
	case c.FanoutSites < 1:
		return fmt.Errorf("-fanout-sites must be at least 1")
	case c.Incidents < 1:
		return fmt.Errorf("-incidents must be at least 1")
	case c.TierWait <= 0 || c.PageTimeout <= 0:
		return fmt.Errorf("-tier-wait and -page-timeout must be positive")
	case c.TravelIncidents < 0:
		return fmt.Errorf("-travel-incidents must not be negative")
	case c.TravelIterations < 1 || c.TravelQueries < 1:
		return fmt.Errorf("-travel-iterations and -travel-queries must be at least 1")
	case c.TravelTrips < 1:
		return fmt.Errorf("-travel-trips must be at least 1")
	}
	if err := c.validateProtection(); err != nil {
		return err
	}
	return c.validateBoard()
}

// validateBoard checks Part 6's flags.
func (c Config) validateBoard() error {
	switch {
	case c.BoardSites < 1 || c.BoardEscalations < 1:
		return fmt.Errorf("-board-sites and -board-escalations must be at least 1")
	case c.BoardRate < 1 || c.BoardRate > 1000:
		return fmt.Errorf("-board-rate must be between 1 and 1000")
	case c.BoardDuration <= 0 || c.BoardIdle <= 0 || c.BoardDrain <= 0 || c.BoardReadyTimeout <= 0:
		return fmt.Errorf("-board-duration, -board-idle, -board-drain and -board-ready-timeout must be positive")
	case c.BoardLoads < 1:
		return fmt.Errorf("-board-loads must be at least 1")
	}
	return nil
}

// validateProtection holds Part 5's flags to what protection.Store accepts
// of a detail, so a bad flag fails here rather than after minutes of setup.
func (c Config) validateProtection() error {
	switch {
	case c.ProtectionDetails < 1:
		return fmt.Errorf("-protection-details must be at least 1")
	case c.ProtectionAgents < 1 || c.ProtectionAgents > c.ProtectionDetails:
		return fmt.Errorf("-protection-agents must be between 1 and -protection-details")
	case c.ProtectionInterval < protection.MinInterval || c.ProtectionInterval > protection.MaxInterval || c.ProtectionInterval%time.Second != 0:
		return fmt.Errorf("-protection-interval must be whole seconds between %s and %s", protection.MinInterval, protection.MaxInterval)
	case c.ProtectionGrace < 0 || c.ProtectionGrace > protection.MaxGrace || c.ProtectionGrace%time.Second != 0:
		return fmt.Errorf("-protection-grace must be whole seconds between 0 and %s", protection.MaxGrace)
	case c.ProtectionWindow <= 0:
		return fmt.Errorf("-protection-window must be positive")
	case c.ProtectionSilent < 1 || c.ProtectionSilent > c.ProtectionDetails:
		return fmt.Errorf("-protection-silent must be between 1 and -protection-details")
	}
	return nil
}

func (c Config) runs(part string) bool { return c.Parts == "all" || c.Parts == part }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Package stacktest runs the real Meridian services in-process for
// integration tests: the worker (outbox relay, Temporal worker, pager) and
// the gateway on real ports, against the real PostgreSQL, Redis and Temporal
// that `make test` provides. Every stack has its own database (cloned from
// the migrated template and loaded with the demo data), Redis key prefix
// and Temporal task queue, so tests run in parallel without seeing each
// other.
//
// A test starts one with New and then drives it the way clients do: GraphQL
// over HTTP (Gateway.Query and Result's checks), GraphQL over WebSocket
// (DialWS, Subscribe), and pages as their receivers see them (WaitPage,
// Stack.Sink). Like net/http/httptest it is an ordinary package that imports
// "testing", so that every domain's integration tests share one harness.
package stacktest

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"meridian.dev/gateway/graph"
	"meridian.dev/gateway/server"
	"meridian.dev/platform/advisory/feed/feedserver"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/config"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/notify/sink"
	"meridian.dev/platform/postgres"
	"meridian.dev/platform/testenv"
	"meridian.dev/worker/demo"
	wserver "meridian.dev/worker/server"
)

// Secrets of the test stacks: never the development defaults, so a test that
// passes cannot depend on them.
const (
	// JWTSecret signs the stack's tokens (Stack.Auth).
	JWTSecret = "gateway-test-jwt-secret-0123456789abcdef"
	// PagerSecret signs the worker's webhook pages; the stack's Sink
	// verifies every webhook against it.
	PagerSecret = "gateway-test-pager-secret-0123456789abcdef"
)

// Demo personas (demo.Personas), by subject. Stack.Token returns their
// tokens.
const (
	GlobalLead      = "gl-ada"
	AMERManager     = "rm-amer-ana"
	EMEAManager     = "rm-emea-emil"
	APACManager     = "rm-apac-aiko"
	TravelTeam      = "tt-theo"
	ProtectionAgent = "pa-petra"
	Auditor         = "au-aude"
	Admin           = "ad-adam"
)

// WaitLimit bounds every wait for something asynchronous (an event, a page,
// a relay): reaching it fails the test; it is never a timing assertion.
const WaitLimit = 45 * time.Second

// TierWait is the worker's wait per escalation tier before it pages the
// next: short, so tests see a climb, and long enough for a test to
// acknowledge first.
const TierWait = 2 * time.Second

// logLevel is the services' log level: warn, unless MERIDIAN_TEST_LOG_LEVEL
// says otherwise (debug, to see what a failing test's services did).
func logLevel() string {
	if v := os.Getenv("MERIDIAN_TEST_LOG_LEVEL"); v != "" {
		return v
	}
	return "warn"
}

// Options configure New.
type Options struct {
	// NoWorker starts the gateway alone: outbox rows then stay pending and
	// no escalation workflow runs, so nothing changes the database behind
	// the test's back.
	NoWorker bool
	// RateLimit is the gateway's mutations per caller per RateWindow; 0
	// turns the limit off. RateWindow is a minute when 0.
	RateLimit  int
	RateWindow time.Duration
	// OTLPEndpoint, when set, makes both processes export traces there.
	OTLPEndpoint string
	// Tables are counted by Counts and Unchanged besides the escalation
	// domain's own (sites, site_status_history, audit_log, outbox,
	// escalations, escalation_timeline, mutation_receipts): a domain lists
	// the tables its mutations write, so a refused one is caught writing
	// them. A name may be schema-qualified ("travel.trips").
	Tables []string
}

// baseTables are what every refused mutation of the escalation domain must
// leave as they were.
var baseTables = []string{"sites", "site_status_history", "audit_log", "outbox", "escalations", "escalation_timeline", "mutation_receipts"}

// Stack is one worker and one gateway over a fresh, demo-seeded database.
type Stack struct {
	DatabaseURL  string
	Pool         *pgxpool.Pool
	Redis        *redis.Client
	Prefix       string // the stack's Redis key prefix
	TemporalHost string
	TaskQueue    string
	Auth         auth.Config
	Tokens       map[string]string // by persona subject; see Token
	// Sink receives every page, the way real receivers would, verifying
	// webhook signatures against PagerSecret: the organisation's webhook
	// (the worker's default, posted to Sink.URL()+"/pages" and recorded
	// with an empty To; see Pages and WaitPage) and people's own channels
	// (webhooks to /pages/{who}, Slack to /slack/{who}, email over SMTP).
	Sink *sink.Sink
	GW   *Gateway // the stack's own gateway; StartGateway runs more
	// Sites are the demo sites by code, as the gateway lists them. A test
	// that creates a site may add it here for Site to find.
	Sites        map[string]SiteRef
	OTLPEndpoint string
	// Feeds serves the project's feed fixtures (advisories and
	// earthquakes) to this stack's worker at FeedsURL; tests make a
	// document fail or change through it (see feeds.go).
	Feeds    *feedserver.Server
	FeedsURL string

	tables     []string
	failPages  atomic.Pointer[func(sink.Received) int]
	rejectMu   sync.Mutex
	rejections []Rejection
	workerDone chan error // nil without a worker
}

// SiteRef names a site the ways tests need.
type SiteRef struct {
	ID     string // the GraphQL global ID
	Code   string
	Region string
}

// New starts a stack for t, or fails t naming the service that did not
// answer. t's cleanup stops the processes and the sink, drops the database
// and deletes the Redis keys; a process that fails to stop in time fails t.
func New(t testing.TB, opts Options) *Stack {
	t.Helper()
	s := &Stack{
		DatabaseURL:  testenv.NewDatabase(t),
		TemporalHost: testenv.TemporalAddress(t),
		TaskQueue:    testenv.Unique(t, "tq"),
		Auth:         auth.Config{Secret: JWTSecret, Issuer: "meridian", Audience: "meridian-api"},
		OTLPEndpoint: opts.OTLPEndpoint,
		tables:       slices.Clone(baseTables),
	}
	for _, tbl := range opts.Tables {
		if !slices.Contains(s.tables, tbl) {
			s.tables = append(s.tables, tbl)
		}
	}
	s.Redis, s.Prefix = testenv.Redis(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := postgres.Connect(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatalf("stacktest: %v", err)
	}
	t.Cleanup(pool.Close)
	s.Pool = pool
	if len(opts.Tables) > 0 {
		s.Counts(t) // a misspelt table fails here, not in the middle of a check
	}
	if _, err := demo.Load(ctx, pool); err != nil {
		t.Fatalf("stacktest: demo.Load: %v", err)
	}
	if s.Tokens, err = demo.Tokens(s.Auth, time.Hour); err != nil {
		t.Fatalf("stacktest: demo.Tokens: %v", err)
	}
	s.startSink(t)
	s.startFeeds(t)
	if !opts.NoWorker {
		s.startWorker(t)
	}
	s.GW = s.StartGateway(t, func(c *server.Config) {
		c.RateLimit = opts.RateLimit
		if opts.RateWindow > 0 {
			c.RateWindow = opts.RateWindow
		}
	})
	s.loadSites(t)
	return s
}

func (s *Stack) common() config.Common {
	return config.Common{
		Env:          "development",
		DatabaseURL:  s.DatabaseURL,
		RedisURL:     testenv.RedisURL(),
		RedisPrefix:  s.Prefix,
		TemporalHost: s.TemporalHost,
		TemporalNS:   "default",
		LogLevel:     logLevel(),
		LogFormat:    "text",
		OTLPEndpoint: s.OTLPEndpoint,
	}
}

func (s *Stack) startWorker(t testing.TB) {
	t.Helper()
	cfg := wserver.Config{
		Common:        s.common(),
		HTTPAddr:      "127.0.0.1:0",
		PagerURL:      s.Sink.URL() + "/pages",
		PagerSecret:   PagerSecret,
		SMTP:          notify.SMTPConfig{Addr: s.Sink.SMTPAddr(), From: "Meridian <meridian@test.example>"},
		TierWait:      TierWait,
		TaskQueue:     s.TaskQueue,
		RunMigrations: false,
		Feeds:         s.feedConfig(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- wserver.Run(ctx, cfg) }()
	s.workerDone = done
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker: Run returned %v at shutdown", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("worker: still running 30s after its context ended")
		}
	})
}

// RequireWorkerRunning fails the test at once when the worker stopped on its
// own. Loops that wait for the worker to do something call it, so that a
// broken worker fails the test with its error instead of at WaitLimit.
func (s *Stack) RequireWorkerRunning(t testing.TB) {
	t.Helper()
	if s.workerDone == nil {
		return
	}
	select {
	case err := <-s.workerDone:
		s.workerDone <- err // let the cleanup see it too
		t.Fatalf("worker stopped early: %v", err)
	default:
	}
}

// Gateway is one running gateway process.
type Gateway struct {
	Base string // http://127.0.0.1:port
	URL  string // the GraphQL endpoint
	WS   string // the same endpoint as ws://

	stop func()
}

// Stop cancels the gateway's Run and waits for it to return, failing the
// test if it returns an error or takes over 30s. The test's cleanup stops
// every gateway anyway; Stop is for tests of the shutdown itself.
func (g *Gateway) Stop() { g.stop() }

// StartGateway runs another gateway over the stack's database, Redis prefix
// and Temporal; edit, when not nil, changes its configuration (a dead
// Redis, a rate limit, an unreachable Temporal).
func (s *Stack) StartGateway(t testing.TB, edit func(*server.Config)) *Gateway {
	t.Helper()
	cfg := server.Config{
		Common:     s.common(),
		Addr:       "127.0.0.1:0",
		Auth:       s.Auth,
		RateWindow: time.Minute,
		Limits:     graph.DefaultLimits,
		TaskQueue:  s.TaskQueue,
	}
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	addrs := make(chan string, 1)
	go func() { done <- server.Run(ctx, cfg, func(addr string) { addrs <- addr }) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("gateway: Run returned %v at shutdown", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("gateway: still running 30s after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	select {
	case addr := <-addrs:
		return &Gateway{Base: "http://" + addr, URL: "http://" + addr + "/graphql", WS: "ws://" + addr + "/graphql", stop: stop}
	case err := <-done:
		done <- err
		t.Fatalf("gateway did not start: %v", err)
	case <-time.After(WaitLimit):
		t.Fatalf("gateway did not start within %s", WaitLimit)
	}
	return nil
}

// Token is the bearer token of a demo persona (GlobalLead, …).
func (s *Stack) Token(t testing.TB, subject string) string {
	t.Helper()
	tok, ok := s.Tokens[subject]
	if !ok {
		t.Fatalf("no demo persona %q", subject)
	}
	return tok
}

func (s *Stack) loadSites(t testing.TB) {
	t.Helper()
	var out struct {
		Sites struct {
			Edges []struct {
				Node struct {
					ID     string
					Code   string
					Region struct{ Code string }
				}
			}
		}
	}
	s.GW.Query(t, s.Token(t, GlobalLead), `{ sites(first: 500) { edges { node { id code region { code } } } } }`, nil).Decode(t, &out)
	s.Sites = map[string]SiteRef{}
	for _, e := range out.Sites.Edges {
		s.Sites[e.Node.Code] = SiteRef{ID: e.Node.ID, Code: e.Node.Code, Region: e.Node.Region.Code}
	}
	if len(s.Sites) != len(demo.Sites) {
		t.Fatalf("stacktest: the board lists %d sites, demo.Load created %d", len(s.Sites), len(demo.Sites))
	}
}

// Site is the demo site with this code.
func (s *Stack) Site(t testing.TB, code string) SiteRef {
	t.Helper()
	ref, ok := s.Sites[code]
	if !ok {
		t.Fatalf("no demo site %q", code)
	}
	return ref
}

// Version is the site's current status version, read from Postgres: the
// expectedVersion a status change must send.
func (s *Stack) Version(t testing.TB, code string) int {
	t.Helper()
	var v int
	if err := s.Pool.QueryRow(context.Background(), `SELECT status_version FROM sites WHERE code = $1`, code).Scan(&v); err != nil {
		t.Fatalf("version of %s: %v", code, err)
	}
	return v
}

// Tables lists the tables Counts and Unchanged count: the escalation
// domain's and Options.Tables.
func (s *Stack) Tables() []string { return slices.Clone(s.tables) }

// Counts returns the number of rows of each of Tables.
func (s *Stack) Counts(t testing.TB) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, tbl := range s.tables {
		var n int64
		name := pgx.Identifier(strings.Split(tbl, ".")).Sanitize()
		if err := s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM `+name).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", tbl, err)
		}
		out[tbl] = n
	}
	return out
}

// Unchanged runs fn, which must be refused, and fails the test when fn
// wrote a row to any of Tables. Something else writing meanwhile (a
// worker's workflow, a delivery record) would make it fail too: wait for
// such writes first, or use a stack without a worker.
func (s *Stack) Unchanged(t testing.TB, fn func()) {
	t.Helper()
	before := s.Counts(t)
	fn()
	after := s.Counts(t)
	for _, tbl := range s.tables {
		if before[tbl] != after[tbl] {
			t.Errorf("a refused mutation wrote to %s: %d rows before, %d after", tbl, before[tbl], after[tbl])
		}
	}
}

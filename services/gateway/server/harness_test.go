package server_test

// The harness runs the real thing in-process on real ports: the worker
// (outbox relay, Temporal worker, pager) and the gateway, against the real
// PostgreSQL, Redis and Temporal that `make test` provides. Every stack has
// its own database, Redis key prefix and Temporal task queue, so tests run in
// parallel without seeing each other.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"meridian.dev/gateway/graph"
	"meridian.dev/gateway/server"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/config"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/notify/sink"
	"meridian.dev/platform/postgres"
	"meridian.dev/platform/testenv"
	"meridian.dev/worker/demo"
	wserver "meridian.dev/worker/server"
	wf "meridian.dev/workflows/escalation"
)

// Secrets of the test stacks: never the development defaults, so a test that
// passes cannot depend on them.
const (
	testJWTSecret   = "gateway-test-jwt-secret-0123456789abcdef"
	testPagerSecret = "gateway-test-pager-secret-0123456789abcdef"
)

// Demo personas (demo.Personas), by subject.
const (
	globalLead      = "gl-ada"
	amerManager     = "rm-amer-ana"
	emeaManager     = "rm-emea-emil"
	apacManager     = "rm-apac-aiko"
	travelTeam      = "tt-theo"
	protectionAgent = "pa-petra"
	auditor         = "au-aude"
)

// waitLimit bounds every wait for something asynchronous (an event, a page,
// a relay): reaching it fails the test; it is never a timing assertion.
const waitLimit = 45 * time.Second

func logLevel() string {
	if v := os.Getenv("MERIDIAN_TEST_LOG_LEVEL"); v != "" {
		return v
	}
	return "warn"
}

type stackOptions struct {
	// NoWorker starts the gateway alone: outbox rows then stay pending and
	// no escalation workflow runs, so nothing changes the database behind
	// the test's back.
	NoWorker   bool
	RateLimit  int
	RateWindow time.Duration
	// OTLPEndpoint, when set, makes both processes export traces there.
	OTLPEndpoint string
}

// stack is one worker and one gateway over a fresh, demo-seeded database.
type stack struct {
	DatabaseURL  string
	Pool         *pgxpool.Pool
	Redis        *redis.Client
	Prefix       string
	TemporalHost string
	TaskQueue    string
	Auth         auth.Config
	Tokens       map[string]string // by persona subject
	Pages        *pageSink
	// Channels receives pages sent to people's own addresses: their
	// webhooks (/pages/{who}), Slack (/slack/{who}) and email over SMTP.
	Channels     *sink.Sink
	channelsFail atomic.Pointer[func(sink.Received) int]
	GW           *gateway
	Sites        map[string]siteRef // by code
	OTLPEndpoint string

	workerDone chan error // nil without a worker
}

type siteRef struct {
	ID     string // the GraphQL global ID
	Code   string
	Region string
}

func newStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	s := &stack{
		DatabaseURL:  testenv.NewDatabase(t),
		TemporalHost: testenv.TemporalAddress(t),
		TaskQueue:    testenv.Unique(t, "tq"),
		Auth:         auth.Config{Secret: testJWTSecret, Issuer: "meridian", Audience: "meridian-api"},
		OTLPEndpoint: opts.OTLPEndpoint,
	}
	s.Redis, s.Prefix = testenv.Redis(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := postgres.Connect(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Cleanup(pool.Close)
	s.Pool = pool
	if _, err := demo.Load(ctx, pool); err != nil {
		t.Fatalf("harness: demo.Load: %v", err)
	}
	if s.Tokens, err = demo.Tokens(s.Auth, time.Hour); err != nil {
		t.Fatalf("harness: demo.Tokens: %v", err)
	}
	s.Pages = newPageSink(t)
	s.Channels, err = sink.Start(context.Background(), sink.Options{Secret: testPagerSecret,
		Fail: func(r sink.Received) int {
			if fail := s.channelsFail.Load(); fail != nil {
				return (*fail)(r)
			}
			return 0
		}})
	if err != nil {
		t.Fatalf("harness: channel sink: %v", err)
	}
	t.Cleanup(func() { _ = s.Channels.Close() })
	if !opts.NoWorker {
		s.startWorker(t)
	}
	s.GW = s.startGateway(t, func(c *server.Config) {
		c.RateLimit = opts.RateLimit
		if opts.RateWindow > 0 {
			c.RateWindow = opts.RateWindow
		}
	})
	s.loadSites(t)
	return s
}

func (s *stack) common() config.Common {
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

func (s *stack) startWorker(t *testing.T) {
	t.Helper()
	cfg := wserver.Config{
		Common:        s.common(),
		HTTPAddr:      "127.0.0.1:0",
		PagerURL:      s.Pages.URL(),
		PagerSecret:   testPagerSecret,
		SMTP:          notify.SMTPConfig{Addr: s.Channels.SMTPAddr(), From: "Meridian <meridian@test.example>"},
		TierWait:      2 * time.Second,
		TaskQueue:     s.TaskQueue,
		RunMigrations: false,
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

// workerFailed reports a worker that stopped on its own; waits call it so a
// broken worker fails the test at once instead of at the wait limit.
func (s *stack) workerFailed(t testing.TB) {
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

// gateway is one running gateway process.
type gateway struct {
	Base string // http://127.0.0.1:port
	URL  string // the GraphQL endpoint
	WS   string // the same endpoint as ws://

	stop func() // cancels Run and waits for it to return
}

// startGateway runs another gateway over the stack's database; edit changes
// its configuration (a dead Redis, a rate limit).
func (s *stack) startGateway(t *testing.T, edit func(*server.Config)) *gateway {
	t.Helper()
	cfg := server.Config{
		Common:     s.common(),
		Addr:       "127.0.0.1:0",
		Auth:       s.Auth,
		RateWindow: time.Minute,
		Limits:     graph.DefaultLimits,
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
		return &gateway{Base: "http://" + addr, URL: "http://" + addr + "/graphql", WS: "ws://" + addr + "/graphql", stop: stop}
	case err := <-done:
		done <- err
		t.Fatalf("gateway did not start: %v", err)
	case <-time.After(waitLimit):
		t.Fatalf("gateway did not start within %s", waitLimit)
	}
	return nil
}

func (s *stack) token(t testing.TB, subject string) string {
	t.Helper()
	tok, ok := s.Tokens[subject]
	if !ok {
		t.Fatalf("no demo persona %q", subject)
	}
	return tok
}

func (s *stack) loadSites(t *testing.T) {
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
	s.GW.query(t, s.token(t, globalLead), `{ sites(first: 500) { edges { node { id code region { code } } } } }`, nil).decode(t, &out)
	s.Sites = map[string]siteRef{}
	for _, e := range out.Sites.Edges {
		s.Sites[e.Node.Code] = siteRef{ID: e.Node.ID, Code: e.Node.Code, Region: e.Node.Region.Code}
	}
	if len(s.Sites) != len(demo.Sites) {
		t.Fatalf("harness: the board lists %d sites, demo.Load created %d", len(s.Sites), len(demo.Sites))
	}
}

func (s *stack) site(t testing.TB, code string) siteRef {
	t.Helper()
	ref, ok := s.Sites[code]
	if !ok {
		t.Fatalf("no demo site %q", code)
	}
	return ref
}

// version is the site's current status version, read from Postgres.
func (s *stack) version(t testing.TB, code string) int {
	t.Helper()
	var v int
	if err := s.Pool.QueryRow(context.Background(), `SELECT status_version FROM sites WHERE code = $1`, code).Scan(&v); err != nil {
		t.Fatalf("version of %s: %v", code, err)
	}
	return v
}

// tables are counted before and after every refused mutation.
var tables = []string{"sites", "site_status_history", "audit_log", "outbox", "escalations", "escalation_timeline", "mutation_receipts"}

func (s *stack) counts(t testing.TB) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, tbl := range tables {
		var n int64
		if err := s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM `+tbl).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", tbl, err)
		}
		out[tbl] = n
	}
	return out
}

// unchanged runs fn, which must be refused, and fails when it wrote a row.
func (s *stack) unchanged(t testing.TB, fn func()) {
	t.Helper()
	before := s.counts(t)
	fn()
	after := s.counts(t)
	for _, tbl := range tables {
		if before[tbl] != after[tbl] {
			t.Errorf("a refused mutation wrote to %s: %d rows before, %d after", tbl, before[tbl], after[tbl])
		}
	}
}

// --- GraphQL over HTTP ---

var httpClient = &http.Client{Timeout: 30 * time.Second}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

type result struct {
	Status int
	Header http.Header
	Body   []byte
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

// post sends a raw request body; every answer must be a JSON error envelope
// or a GraphQL response, and never a 5xx.
func (g *gateway) post(t testing.TB, token string, contentType string, body []byte) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return g.send(t, req)
}

func (g *gateway) send(t testing.TB, req *http.Request) result {
	t.Helper()
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	r := result{Status: resp.StatusCode, Header: resp.Header, Body: body}
	if resp.StatusCode >= 500 {
		t.Errorf("%s %s answered %d: %s", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("response is not JSON: %v: %s", err, body)
		}
	}
	return r
}

func (g *gateway) query(t testing.TB, token, query string, vars map[string]any) result {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return g.post(t, token, "application/json", body)
}

// decode requires a successful answer and decodes its data into out.
func (r result) decode(t testing.TB, out any) {
	t.Helper()
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("want a successful answer, got HTTP %d: %s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatalf("decode data: %v: %s", err, r.Data)
	}
}

// refused requires exactly one error with code and returns it.
func (r result) refused(t testing.TB, code string) gqlError {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("want one %s error, got HTTP %d: %s", code, r.Status, r.Body)
	}
	e := r.Errors[0]
	if e.code() != code {
		t.Fatalf("want extensions.code %s, got %q: %s", code, e.code(), r.Body)
	}
	if e.Message == "" {
		t.Errorf("%s error without a message: %s", code, r.Body)
	}
	return e
}

// refusedField requires a BAD_USER_INPUT error naming field.
func (r result) refusedField(t testing.TB, field string) gqlError {
	t.Helper()
	e := r.refused(t, "BAD_USER_INPUT")
	if got, _ := e.Extensions["field"].(string); got != field {
		t.Errorf("want extensions.field %q, got %q: %s", field, got, r.Body)
	}
	if !strings.Contains(e.Message, field) {
		t.Errorf("message %q does not name the field %q", e.Message, field)
	}
	return e
}

// --- mutations used by many tests ---

const updateStatusMutation = `mutation($input: UpdateSiteStatusInput!) {
  updateSiteStatus(input: $input) {
    clientMutationId
    site { id code status { level posture note version updatedAt updatedBy } }
    escalation { id status tier acknowledgedBy site { code } region { code } }
  }
}`

type statusView struct {
	Level     string
	Posture   string
	Note      string
	Version   int
	UpdatedAt string
	UpdatedBy string
}

type escalationView struct {
	ID             string
	Status         string
	Tier           int
	AcknowledgedBy *string
	Site           struct {
		Code   string
		Status struct {
			Posture string
			Version int
		}
	}
	Region struct{ Code string }
}

type updatePayload struct {
	ClientMutationID *string
	Site             struct {
		ID     string
		Code   string
		Status statusView
	}
	Escalation *escalationView
}

func statusInput(siteID, level, posture, note string, expected int) map[string]any {
	return map[string]any{"input": map[string]any{
		"siteId": siteID, "level": level, "posture": posture, "note": note, "expectedVersion": expected,
	}}
}

// setStatus changes a site's status as subject, from the version Postgres
// holds, and requires success.
func (s *stack) setStatus(t testing.TB, g *gateway, subject, code, level, posture, note string) updatePayload {
	t.Helper()
	var out struct{ UpdateSiteStatus updatePayload }
	g.query(t, s.token(t, subject), updateStatusMutation,
		statusInput(s.site(t, code).ID, level, posture, note, s.version(t, code))).decode(t, &out)
	p := out.UpdateSiteStatus
	if p.Site.Code != code || p.Site.Status.Level != level || p.Site.Status.Posture != posture {
		t.Fatalf("updateSiteStatus %s → %s/%s answered %+v", code, level, posture, p.Site)
	}
	return p
}

// --- the pager's webhook receiver ---

type receivedPage struct {
	Page      wf.Page
	Body      []byte
	Timestamp string
	Signature string
	IdemKey   string
}

type pageSink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	pages  []receivedPage
	notify chan struct{}
}

func newPageSink(t *testing.T) *pageSink {
	p := &pageSink{notify: make(chan struct{}, 1)}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rp := receivedPage{Body: body, Timestamp: r.Header.Get("X-Meridian-Timestamp"),
			Signature: r.Header.Get("X-Meridian-Signature"), IdemKey: r.Header.Get("Idempotency-Key")}
		if err := json.Unmarshal(body, &rp.Page); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.pages = append(p.pages, rp)
		p.mu.Unlock()
		select {
		case p.notify <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pageSink) URL() string { return p.srv.URL + "/pages" }

func (p *pageSink) all() []receivedPage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]receivedPage(nil), p.pages...)
}

// wait returns the first page match accepts.
func (s *stack) waitPage(t testing.TB, what string, match func(receivedPage) bool) receivedPage {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		for _, pg := range s.Pages.all() {
			if match(pg) {
				return pg
			}
		}
		s.workerFailed(t)
		select {
		case <-s.Pages.notify:
		case <-time.After(250 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %s page within %s; pages received: %d", what, waitLimit, len(s.Pages.all()))
		}
	}
}

// --- GraphQL over WebSocket (graphql-transport-ws) ---

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type wsClient struct {
	conn *websocket.Conn

	mu      sync.Mutex
	subs    map[string]chan wsMessage
	pongs   chan struct{}
	done    chan struct{}
	readErr error
}

// dialWS opens a graphql-transport-ws connection authenticated the way a
// browser must: with the token in connection_init's payload.
func dialWS(t testing.TB, g *gateway, token string) *wsClient {
	t.Helper()
	conn := rawDial(t, g)
	if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}); err != nil {
		t.Fatalf("ws: send connection_init: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(waitLimit))
	var ack wsMessage
	if err := conn.ReadJSON(&ack); err != nil {
		t.Fatalf("ws: waiting for connection_ack: %v", err)
	}
	if ack.Type != "connection_ack" {
		t.Fatalf("ws: want connection_ack, got %+v", ack)
	}
	_ = conn.SetReadDeadline(time.Time{})
	c := &wsClient{conn: conn, subs: map[string]chan wsMessage{}, pongs: make(chan struct{}, 16), done: make(chan struct{})}
	go c.readLoop()
	return c
}

func rawDial(t testing.TB, g *gateway) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial(g.WS, nil)
	if err != nil {
		t.Fatalf("ws: dial %s: %v", g.WS, err)
	}
	if resp.Header.Get("Sec-WebSocket-Protocol") != "graphql-transport-ws" {
		t.Errorf("ws: server chose subprotocol %q", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func (c *wsClient) readLoop() {
	defer close(c.done)
	for {
		var m wsMessage
		if err := c.conn.ReadJSON(&m); err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		switch m.Type {
		case "pong":
			c.pongs <- struct{}{}
			continue
		case "ping":
			_ = c.write(wsMessage{Type: "pong"})
			continue
		}
		c.mu.Lock()
		ch := c.subs[m.ID]
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

func (c *wsClient) write(m wsMessage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.WriteJSON(m)
}

type wsSub struct {
	c  *wsClient
	id string
	ch chan wsMessage
}

func (c *wsClient) subscribe(t testing.TB, id, query string, vars map[string]any) *wsSub {
	t.Helper()
	ch := make(chan wsMessage, 1024)
	c.mu.Lock()
	c.subs[id] = ch
	c.mu.Unlock()
	payload, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.write(wsMessage{ID: id, Type: "subscribe", Payload: payload}); err != nil {
		t.Fatalf("ws: subscribe %s: %v", id, err)
	}
	return &wsSub{c: c, id: id, ch: ch}
}

// ping waits for the server's pong: every message sent before it has been
// read and handled by the server.
func (c *wsClient) ping(t testing.TB) {
	t.Helper()
	if err := c.write(wsMessage{Type: "ping"}); err != nil {
		t.Fatalf("ws: ping: %v", err)
	}
	select {
	case <-c.pongs:
	case <-c.done:
		t.Fatalf("ws: connection ended before pong: %v", c.err())
	case <-time.After(waitLimit):
		t.Fatalf("ws: no pong within %s", waitLimit)
	}
}

func (c *wsClient) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readErr
}

// next returns the payload of the subscription's next result; an error,
// a completion or a closed connection fails the test.
func (s *wsSub) next(t testing.TB) json.RawMessage {
	t.Helper()
	m, ok := s.receive(t, waitLimit)
	if !ok {
		t.Fatalf("ws: subscription %s: no event within %s", s.id, waitLimit)
	}
	return m
}

// receive is next with a limit; ok is false when nothing came within it.
func (s *wsSub) receive(t testing.TB, limit time.Duration) (json.RawMessage, bool) {
	t.Helper()
	select {
	case m := <-s.ch:
		switch m.Type {
		case "next":
			var res struct {
				Data   json.RawMessage `json:"data"`
				Errors []gqlError      `json:"errors"`
			}
			if err := json.Unmarshal(m.Payload, &res); err != nil {
				t.Fatalf("ws: bad next payload: %v: %s", err, m.Payload)
			}
			if len(res.Errors) > 0 {
				t.Fatalf("ws: subscription %s: errors in result: %s", s.id, m.Payload)
			}
			return res.Data, true
		default:
			t.Fatalf("ws: subscription %s: got %s: %s", s.id, m.Type, m.Payload)
		}
	case <-s.c.done:
		t.Fatalf("ws: connection closed while waiting on %s: %v", s.id, s.c.err())
	case <-time.After(limit):
	}
	return nil, false
}

// message returns the subscription's next message of any type.
func (s *wsSub) message(t testing.TB) wsMessage {
	t.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-s.c.done:
		t.Fatalf("ws: connection closed while waiting on %s: %v", s.id, s.c.err())
	case <-time.After(waitLimit):
		t.Fatalf("ws: subscription %s: nothing within %s", s.id, waitLimit)
	}
	return wsMessage{}
}

const statusSubscription = `subscription($region: String, $after: String) {
  siteStatusChanged(region: $region, after: $after) {
    cursor
    site { id code region { code } status { level version } }
    previous { level posture note version updatedBy }
    current { level posture note version updatedBy }
  }
}`

const escalationSubscription = `subscription($region: String, $after: String) {
  escalationUpdated(region: $region, after: $after) {
    cursor
    escalation { id status tier acknowledgedBy site { code status { posture version } } region { code } }
  }
}`

type statusEvent struct {
	Cursor string
	Site   struct {
		ID     string
		Code   string
		Region struct{ Code string }
		Status struct {
			Level   string
			Version int
		}
	}
	Previous statusView
	Current  statusView
}

type escalationEvent struct {
	Cursor     string
	Escalation escalationView
}

func (s *wsSub) statusEvent(t testing.TB) statusEvent {
	t.Helper()
	var out struct{ SiteStatusChanged statusEvent }
	if err := json.Unmarshal(s.next(t), &out); err != nil {
		t.Fatalf("decode siteStatusChanged: %v", err)
	}
	return out.SiteStatusChanged
}

// statusEventSkipping is statusEvent ignoring events of the given sites
// (a primer's late events).
func (s *wsSub) statusEventSkipping(t testing.TB, skip string) statusEvent {
	t.Helper()
	for {
		ev := s.statusEvent(t)
		if ev.Site.Code != skip {
			return ev
		}
	}
}

func (s *wsSub) escalationEvent(t testing.TB) escalationEvent {
	t.Helper()
	var out struct{ EscalationUpdated escalationEvent }
	if err := json.Unmarshal(s.next(t), &out); err != nil {
		t.Fatalf("decode escalationUpdated: %v", err)
	}
	return out.EscalationUpdated
}

// primedSubscription subscribes to siteStatusChanged and returns once the
// subscription is live. graphql-transport-ws does not acknowledge a
// subscribe, so it changes the primer site's status until an event arrives,
// then waits for the event of its last change. The cursor returned is that
// event's: the gateway's hub has delivered it, so a subscription made with
// `after` set to it misses nothing that follows.
func (s *stack) primedSubscription(t testing.TB, c *wsClient, id, region, primer, subject string) (*wsSub, string) {
	t.Helper()
	sub := c.subscribe(t, id, statusSubscription, map[string]any{"region": region})
	levels := []string{"ELEVATED", "NORMAL"}
	last := 0
	for i := 0; ; i++ {
		if i == 20 {
			t.Fatalf("subscription %s received no event after %d status changes of %s", id, i, primer)
		}
		p := s.setStatus(t, s.GW, subject, primer, levels[i%2], "OPEN", fmt.Sprintf("primer %d", i))
		last = p.Site.Status.Version
		s.workerFailed(t)
		data, ok := sub.receive(t, 2*time.Second)
		if ok {
			var out struct{ SiteStatusChanged statusEvent }
			if err := json.Unmarshal(data, &out); err != nil {
				t.Fatalf("decode siteStatusChanged: %v", err)
			}
			ev := out.SiteStatusChanged
			for {
				if ev.Site.Code != primer {
					t.Fatalf("subscription %s: want an event of the primer %s, got one of %s", id, primer, ev.Site.Code)
				}
				if ev.Current.Version >= last {
					return sub, ev.Cursor
				}
				ev = sub.statusEvent(t)
			}
		}
	}
}

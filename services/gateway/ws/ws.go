// Package ws serves GraphQL over WebSocket with the graphql-transport-ws
// protocol (the one the graphql-ws npm package speaks).
//
// Meridian carries its own implementation because the pinned
// graph-gophers/graphql-transport-ws v0.1.0 parses and then discards the
// connection_init payload, which is where browser clients must put their
// bearer token (browsers cannot set an Authorization header on a WebSocket).
// This transport authenticates there, or from the upgrade request's header.
//
// Identical subscriptions share one execution: subscribers whose query,
// variables and permissions are the same receive the same bytes, so fan-out
// to hundreds of screens costs one GraphQL execution per event, not hundreds.
// An answer that depends on who asks (Options.PerCaller: protection's
// need-to-know) is shared only among one person's own subscriptions.
package ws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"

	"meridian.dev/platform/auth"
)

// Protocol is the WebSocket subprotocol spoken.
const Protocol = "graphql-transport-ws"

// Close codes of the protocol.
const (
	closeBadRequest        = 4400
	closeUnauthorized      = 4401
	closeForbidden         = 4403
	closeInitTimeout       = 4408
	closeSubscriberExists  = 4409
	closeTooManyInitialise = 4429
	closeTooSlow           = 1013 // try again later
	closeServiceRestart    = 1012 // clients reconnect, to another replica
)

// Options tune the transport.
type Options struct {
	InitTimeout     time.Duration // connection_init must arrive within this
	WriteTimeout    time.Duration
	MaxMessageBytes int64
	MaxOperations   int // per connection
	CheckOrigin     func(*http.Request) bool
	// Linger: a connection written to less than BusyGap ago (a stream of
	// events is flowing) waits up to Linger for more frames before writing,
	// so one system call carries several; an idle connection's first frame
	// goes out at once. Defaults 5 ms and 6 ms; a negative Linger disables.
	Linger, BusyGap time.Duration
	// Present rewrites errors into the API's error contract.
	Present func(ctx context.Context, errs []*gqlerrors.QueryError) []*gqlerrors.QueryError
	// PrepareContext adds per-request state (loaders) to an operation's context.
	PrepareContext func(ctx context.Context) context.Context
	// PerCaller reports whether an operation's answer depends on who asks,
	// beyond their roles and regions (protection's clearance): such
	// subscriptions are shared only among one caller's own. Nil: none is.
	PerCaller func(query, operationName string) bool
}

// Executor runs an operation and streams its results: one for a query or
// mutation, one per event for a subscription (graphql-go's Subscribe).
type Executor interface {
	Subscribe(ctx context.Context, query, operationName string, variables map[string]any) (<-chan any, error)
}

// Handler upgrades requests to graphql-transport-ws connections.
type Handler struct {
	schema   Executor
	verifier *auth.Verifier
	log      *slog.Logger
	opts     Options
	upgrader websocket.Upgrader

	mu     sync.Mutex
	groups map[string]*group

	connsMu      sync.Mutex
	conns        map[*connection]struct{}
	shuttingDown bool
}

// NewHandler returns a handler serving schema.
func NewHandler(schema Executor, verifier *auth.Verifier, log *slog.Logger, opts Options) *Handler {
	if opts.InitTimeout == 0 {
		opts.InitTimeout = 10 * time.Second
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = 1 << 20
	}
	if opts.Linger == 0 {
		opts.Linger = 5 * time.Millisecond
	}
	if opts.BusyGap == 0 {
		opts.BusyGap = 6 * time.Millisecond
	}
	if opts.MaxOperations == 0 {
		opts.MaxOperations = 100
	}
	if opts.Present == nil {
		opts.Present = func(_ context.Context, e []*gqlerrors.QueryError) []*gqlerrors.QueryError { return e }
	}
	if opts.PrepareContext == nil {
		opts.PrepareContext = func(ctx context.Context) context.Context { return ctx }
	}
	return &Handler{
		schema: schema, verifier: verifier, log: log, opts: opts, groups: map[string]*group{}, conns: map[*connection]struct{}{},
		upgrader: websocket.Upgrader{
			Subprotocols:    []string{Protocol},
			CheckOrigin:     opts.CheckOrigin,
			ReadBufferSize:  4096,
			WriteBufferSize: 4096,
		},
	}
}

// IsUpgrade reports whether r asks for a WebSocket.
func IsUpgrade(r *http.Request) bool { return websocket.IsWebSocketUpgrade(r) }

type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type subscribePayload struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

// ServeHTTP upgrades and serves one connection.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A bad header token is refused before the upgrade; a missing one may
	// still arrive in connection_init.
	var headerID *auth.Identity
	if v := r.Header.Get("Authorization"); v != "" {
		id, err := h.verifier.VerifyHeader(v)
		if err != nil {
			http.Error(w, "invalid bearer token", http.StatusUnauthorized)
			return
		}
		headerID = &id
	}
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader already answered
	}
	if conn.Subprotocol() != Protocol {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeBadRequest, "subprotocol "+Protocol+" required"), time.Now().Add(time.Second))
		conn.Close()
		return
	}
	conn.SetReadLimit(h.opts.MaxMessageBytes)
	// The connection outlives the HTTP request's context; it ends when the
	// client goes or the server shuts down (Shutdown closes it).
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	c := &connection{h: h, ws: conn, raw: conn.UnderlyingConn(), out: make(chan []byte, 1024), ops: map[string]func(){},
		cancel: cancel, done: make(chan struct{}), goneCh: make(chan struct{})}
	// gorilla would answer pings and closes with writes of its own; frames
	// are written only by this transport, so answer here.
	conn.SetPingHandler(func(data string) error {
		return c.writeRaw(appendFrame(nil, opPong, []byte(data)))
	})
	conn.SetCloseHandler(func(int, string) error { return nil }) // readLoop's close answers
	h.connsMu.Lock()
	if h.shuttingDown {
		h.connsMu.Unlock()
		c.close(closeServiceRestart, "server shutting down; reconnect")
		return
	}
	h.conns[c] = struct{}{}
	h.connsMu.Unlock()
	defer func() {
		h.connsMu.Lock()
		delete(h.conns, c)
		h.connsMu.Unlock()
	}()
	go c.writeLoop(ctx)
	c.readLoop(ctx, headerID)
}

// Shutdown closes every connection with 1012 (service restart) and refuses
// new ones. Clients such as graphql-ws reconnect on that code, reach another
// replica and resume from their last cursor. Call it before the live events
// stop: a subscription that completed is over for its client, which would
// never resubscribe.
func (h *Handler) Shutdown() {
	h.connsMu.Lock()
	h.shuttingDown = true
	conns := make([]*connection, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.connsMu.Unlock()
	for _, c := range conns {
		c.close(closeServiceRestart, "server shutting down; reconnect and resume from your last cursor")
	}
	// Let the goodbyes reach the clients before the process goes.
	deadline := time.After(2 * time.Second)
	for _, c := range conns {
		select {
		case <-c.gone():
		case <-deadline:
			return
		}
	}
}

type connection struct {
	h      *Handler
	ws     *websocket.Conn // reads only: frames are written raw, see writeLoop
	raw    net.Conn
	wmu    sync.Mutex // one writer of frames at a time
	out    chan []byte
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	ops      map[string]func()
	closed   bool
	identity auth.Identity

	// closing is set when the goodbye is under way: no data frame may
	// follow it. goneCh is closed once the socket is.
	closing atomic.Bool
	goneCh  chan struct{}
}

func (c *connection) send(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	select {
	case c.out <- b:
	default:
		// The client does not read fast enough: drop it rather than let it
		// hold memory or slow the fan-out; it reconnects and resumes from
		// its last cursor.
		c.closeLocked(closeTooSlow, "client too slow; reconnect and resume from your last cursor")
	}
}

func (c *connection) sendMessage(id, typ string, payload any) {
	m := message{ID: id, Type: typ}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return
		}
		m.Payload = b
	}
	b, _ := json.Marshal(m)
	c.send(b)
}

func (c *connection) close(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, reason)
}

func (c *connection) closeLocked(code int, reason string) {
	if c.closed {
		return
	}
	c.closed = true
	for _, stop := range c.ops {
		stop()
	}
	c.ops = map[string]func(){}
	c.closing.Store(true)
	c.cancel() // the writer starts no new batch
	// Say goodbye after a write in flight, not in its middle and not never
	// (a client that sees no close frame cannot tell a restart from a
	// failure), without making whoever is closing (often the fan-out) wait
	// behind a slow client: that write's own deadline bounds the wait.
	goodbye := appendFrame(nil, opClose, closePayload(code, reason))
	go func() {
		defer close(c.goneCh)
		c.wmu.Lock()
		_ = c.raw.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.raw.Write(goodbye)
		c.wmu.Unlock()
		c.ws.Close()
	}()
}

// gone is closed once the connection's socket is closed.
func (c *connection) gone() <-chan struct{} { return c.goneCh }

// Frame opcodes (RFC 6455).
const (
	opText  = 0x1
	opClose = 0x8
	opPong  = 0xA
)

// appendFrame appends one unmasked, final server frame.
func appendFrame(dst []byte, opcode byte, payload []byte) []byte {
	dst = append(dst, 0x80|opcode)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		for shift := 56; shift >= 0; shift -= 8 {
			dst = append(dst, byte(uint64(n)>>shift))
		}
	}
	return append(dst, payload...)
}

func closePayload(code int, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	return append([]byte{byte(code >> 8), byte(code)}, reason...)
}

// writeRaw writes whole frames, under the write lock.
func (c *connection) writeRaw(frames []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closing.Load() {
		return net.ErrClosed // the close frame is, or was, the last
	}
	_ = c.raw.SetWriteDeadline(time.Now().Add(c.h.opts.WriteTimeout))
	_, err := c.raw.Write(frames)
	return err
}

// maxBatch bounds the bytes of frames written in one system call.
const maxBatch = 64 << 10

// writeLoop writes queued messages, as many as are waiting in one system
// call: under light load that is one frame per write, and as load (and so
// the queue) grows, batches grow and per-frame cost falls, which is what
// keeps fan-out to hundreds of screens cheap when it matters.
func (c *connection) writeLoop(ctx context.Context) {
	defer close(c.done)
	buf := make([]byte, 0, 4096)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	var lastWrite time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-c.out:
			buf = appendFrame(buf[:0], opText, b)
		drain:
			for len(buf) < maxBatch {
				select {
				case b := <-c.out:
					buf = appendFrame(buf, opText, b)
				default:
					break drain
				}
			}
			// A connection written to moments ago is under a stream of
			// events: wait a little for the next ones, so one system call
			// carries several frames instead of one each, which is what a
			// heavy fan-out spends its CPU on; an idle connection's first
			// frame goes out at once.
			if o := &c.h.opts; o.Linger > 0 && time.Since(lastWrite) < o.BusyGap {
				linger.Reset(o.Linger)
			collect:
				for len(buf) < maxBatch {
					select {
					case b := <-c.out:
						buf = appendFrame(buf, opText, b)
					case <-linger.C:
						break collect
					case <-ctx.Done():
						return
					}
				}
				linger.Stop()
			}
			lastWrite = time.Now()
			if err := c.writeRaw(buf); err != nil {
				c.close(websocket.CloseAbnormalClosure, "write failed")
				return
			}
			if cap(buf) > 4*maxBatch {
				buf = make([]byte, 0, 4096) // do not keep a burst's buffer forever
			}
		}
	}
}

func (c *connection) readLoop(ctx context.Context, headerID *auth.Identity) {
	defer c.close(websocket.CloseNormalClosure, "")
	initDone := false
	_ = c.ws.SetReadDeadline(time.Now().Add(c.h.opts.InitTimeout))
	for {
		var m message
		if err := c.ws.ReadJSON(&m); err != nil {
			var netErr interface{ Timeout() bool }
			if !initDone && errors.As(err, &netErr) && netErr.Timeout() {
				c.close(closeInitTimeout, "connection initialisation timeout")
				return
			}
			var syntaxErr *json.SyntaxError
			if errors.As(err, &syntaxErr) {
				c.close(closeBadRequest, "invalid message")
			}
			return
		}
		switch m.Type {
		case "connection_init":
			if initDone {
				c.close(closeTooManyInitialise, "too many initialisation requests")
				return
			}
			id, err := c.authenticate(m.Payload, headerID)
			if err != nil {
				c.close(closeForbidden, "forbidden: a valid bearer token is required")
				return
			}
			c.mu.Lock()
			c.identity = id
			c.mu.Unlock()
			initDone = true
			_ = c.ws.SetReadDeadline(time.Time{})
			c.sendMessage("", "connection_ack", nil)
		case "ping":
			c.sendMessage("", "pong", nil)
		case "pong":
		case "subscribe":
			if !initDone {
				c.close(closeUnauthorized, "unauthorized")
				return
			}
			if m.ID == "" {
				c.close(closeBadRequest, "subscribe needs an id")
				return
			}
			var p subscribePayload
			if err := json.Unmarshal(m.Payload, &p); err != nil || p.Query == "" {
				c.close(closeBadRequest, "invalid subscribe payload")
				return
			}
			c.startOperation(ctx, m.ID, p)
		case "complete":
			c.mu.Lock()
			if stop, ok := c.ops[m.ID]; ok {
				stop()
				delete(c.ops, m.ID)
			}
			c.mu.Unlock()
		default:
			c.close(closeBadRequest, "unknown message type "+m.Type)
			return
		}
	}
}

func (c *connection) authenticate(payload json.RawMessage, headerID *auth.Identity) (auth.Identity, error) {
	if len(payload) > 0 && string(payload) != "null" {
		var p map[string]any
		if err := json.Unmarshal(payload, &p); err != nil {
			return auth.Identity{}, err
		}
		for _, key := range []string{"Authorization", "authorization"} {
			if v, ok := p[key].(string); ok && v != "" {
				if !strings.Contains(v, " ") {
					v = "Bearer " + v
				}
				return c.h.verifier.VerifyHeader(v)
			}
		}
	}
	if headerID != nil {
		return *headerID, nil
	}
	return auth.Identity{}, auth.ErrUnauthenticated
}

func (c *connection) startOperation(ctx context.Context, id string, p subscribePayload) {
	c.mu.Lock()
	if _, exists := c.ops[id]; exists {
		c.mu.Unlock()
		c.close(closeSubscriberExists, "subscriber for "+id+" already exists")
		return
	}
	if len(c.ops) >= c.h.opts.MaxOperations {
		c.mu.Unlock()
		c.sendMessage(id, "error", []map[string]any{{"message": "too many operations on this connection", "extensions": map[string]any{"code": "RATE_LIMITED"}}})
		return
	}
	identity := c.identity
	m := &member{conn: c, id: id}
	c.ops[id] = func() { c.h.leave(m) }
	c.mu.Unlock()
	c.h.join(ctx, identity, p, m)
}

func (c *connection) finish(id string) {
	c.mu.Lock()
	_, ok := c.ops[id]
	delete(c.ops, id)
	c.mu.Unlock()
	if ok {
		c.sendMessage(id, "complete", nil)
	}
}

// A group is one execution shared by identical subscriptions.
type group struct {
	key     string
	cancel  context.CancelFunc
	mu      sync.Mutex
	members map[*member]struct{}
}

type member struct {
	conn *connection
	id   string
}

// groupKey is what subscribers must have in common to share an execution:
// the document, its variables, the roles and regions the answer is decided
// on, and the subject too when the answer depends on who asks (perCaller).
func groupKey(id auth.Identity, p subscribePayload, perCaller bool) string {
	roles := slices.Clone(id.Roles)
	regions := slices.Clone(id.Regions)
	slices.Sort(roles)
	slices.Sort(regions)
	vars, _ := json.Marshal(p.Variables) // map keys marshal sorted
	subject := ""
	if perCaller {
		// The execution runs as its first subscriber: anyone else would be
		// answered, and their reads logged, as that person.
		subject = id.Subject
	}
	h := sha256.New()
	for _, part := range []string{strings.Join(roles, ","), strings.Join(regions, ","), subject, p.OperationName, p.Query, string(vars)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (h *Handler) join(ctx context.Context, id auth.Identity, p subscribePayload, m *member) {
	key := groupKey(id, p, h.opts.PerCaller != nil && h.opts.PerCaller(p.Query, p.OperationName))
	if operationType(p.Query, p.OperationName) != "subscription" {
		// Queries and mutations run on their own, once each.
		key = fmt.Sprintf("%p", m)
	}
	h.mu.Lock()
	g, ok := h.groups[key]
	if !ok {
		gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		g = &group{key: key, cancel: cancel, members: map[*member]struct{}{}}
		h.groups[key] = g
		g.members[m] = struct{}{}
		h.mu.Unlock()
		go h.run(auth.WithIdentity(h.opts.PrepareContext(gctx), id), g, p)
		return
	}
	g.mu.Lock()
	g.members[m] = struct{}{}
	g.mu.Unlock()
	h.mu.Unlock()
}

func (h *Handler) leave(m *member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for key, g := range h.groups {
		g.mu.Lock()
		if _, ok := g.members[m]; ok {
			delete(g.members, m)
			if len(g.members) == 0 {
				delete(h.groups, key)
				g.cancel()
			}
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
	}
}

// run executes the group's operation once and sends every result to every
// member.
func (h *Handler) run(ctx context.Context, g *group, p subscribePayload) {
	results, err := h.schema.Subscribe(ctx, p.Query, p.OperationName, p.Variables)
	if err != nil {
		h.broadcastError(g, err)
		return
	}
	for res := range results {
		resp, ok := res.(*graphql.Response)
		if !ok {
			continue
		}
		resp.Errors = h.opts.Present(ctx, resp.Errors)
		if resp.Data == nil && len(resp.Errors) > 0 {
			// A failed start (bad query, forbidden): an error message ends
			// the operation for every member.
			h.broadcast(g, "error", mustJSON(resp.Errors))
			h.end(g, false)
			return
		}
		payload := mustJSON(resp)
		h.broadcast(g, "next", payload)
	}
	if ctx.Err() == nil && operationType(p.Query, p.OperationName) == "subscription" {
		// A live stream never ends by itself: the hub dropped it (too far
		// behind) or is stopping. "complete" would tell the client it is
		// over; closing with 1013 makes it reconnect and resume from its
		// last cursor instead.
		h.dropMembers(g, closeTooSlow, "event stream interrupted; reconnect and resume from your last cursor")
		return
	}
	h.end(g, true)
}

// dropMembers removes the group and closes its members' connections.
func (h *Handler) dropMembers(g *group, code int, reason string) {
	for m := range h.detach(g) {
		m.conn.close(code, reason)
	}
}

func (h *Handler) broadcastError(g *group, err error) {
	h.broadcast(g, "error", mustJSON([]map[string]any{{"message": err.Error(), "extensions": map[string]any{"code": "BAD_USER_INPUT"}}}))
	h.end(g, false)
}

func (h *Handler) broadcast(g *group, typ string, payload []byte) {
	g.mu.Lock()
	members := make([]*member, 0, len(g.members))
	for m := range g.members {
		members = append(members, m)
	}
	g.mu.Unlock()
	for _, m := range members {
		m.conn.send(frame(m.id, typ, payload))
	}
}

// end removes the group; with complete, members are told the stream ended.
func (h *Handler) end(g *group, complete bool) {
	for m := range h.detach(g) {
		if complete {
			m.conn.finish(m.id)
		} else {
			m.conn.mu.Lock()
			delete(m.conn.ops, m.id)
			m.conn.mu.Unlock()
		}
	}
}

// detach removes the group, stops its execution and returns its members.
func (h *Handler) detach(g *group) map[*member]struct{} {
	h.mu.Lock()
	if h.groups[g.key] == g {
		delete(h.groups, g.key)
	}
	h.mu.Unlock()
	g.cancel()
	g.mu.Lock()
	members := g.members
	g.members = map[*member]struct{}{}
	g.mu.Unlock()
	return members
}

// frame builds {"id":..,"type":..,"payload":..} around an already encoded
// payload, so a shared result is encoded once.
func frame(id, typ string, payload []byte) []byte {
	idJSON, _ := json.Marshal(id)
	b := make([]byte, 0, len(payload)+len(id)+40)
	b = append(b, `{"id":`...)
	b = append(b, idJSON...)
	b = append(b, `,"type":"`...)
	b = append(b, typ...)
	b = append(b, `","payload":`...)
	b = append(b, payload...)
	b = append(b, '}')
	return b
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`null`)
	}
	return b
}

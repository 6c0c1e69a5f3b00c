package stacktest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// WSMessage is one graphql-transport-ws message.
type WSMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// WSClient is one graphql-transport-ws connection, past connection_ack. A
// reader goroutine answers the server's pings, hands pongs to Ping and
// every other message to its subscription.
type WSClient struct {
	conn *websocket.Conn

	mu      sync.Mutex // guards subs and readErr, and serialises writes
	subs    map[string]chan WSMessage
	pongs   chan struct{}
	done    chan struct{}
	readErr error
}

// DialWS opens a graphql-transport-ws connection authenticated the way a
// browser must: with the token in connection_init's payload. The test's
// cleanup closes it.
func DialWS(t testing.TB, g *Gateway, token string) *WSClient {
	t.Helper()
	conn := RawDial(t, g)
	if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}); err != nil {
		t.Fatalf("ws: send connection_init: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(WaitLimit))
	var ack WSMessage
	if err := conn.ReadJSON(&ack); err != nil {
		t.Fatalf("ws: waiting for connection_ack: %v", err)
	}
	if ack.Type != "connection_ack" {
		t.Fatalf("ws: want connection_ack, got %+v", ack)
	}
	_ = conn.SetReadDeadline(time.Time{})
	c := &WSClient{conn: conn, subs: map[string]chan WSMessage{}, pongs: make(chan struct{}, 16), done: make(chan struct{})}
	go c.readLoop()
	return c
}

// RawDial opens a WebSocket to g with the graphql-transport-ws subprotocol
// and nothing sent, for tests of the protocol itself. The test's cleanup
// closes it.
func RawDial(t testing.TB, g *Gateway) *websocket.Conn {
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

func (c *WSClient) readLoop() {
	defer close(c.done)
	for {
		var m WSMessage
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
			_ = c.Write(WSMessage{Type: "pong"})
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

// Write sends one message as it is, for tests of what the server does with
// it.
func (c *WSClient) Write(m WSMessage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.WriteJSON(m)
}

// Done is closed when the connection has ended; Err then says how.
func (c *WSClient) Done() <-chan struct{} { return c.done }

// Err is the error that ended the connection (a *websocket.CloseError when
// the server closed it), or nil while it is open.
func (c *WSClient) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readErr
}

// Subscription is one operation subscribed on a WSClient.
type Subscription struct {
	c  *WSClient
	id string
	ch chan WSMessage
}

// Subscribe starts operation id. graphql-transport-ws does not acknowledge
// a subscribe: to know the server has it, Ping after it, or see
// PrimedSubscription.
func (c *WSClient) Subscribe(t testing.TB, id, query string, vars map[string]any) *Subscription {
	t.Helper()
	ch := make(chan WSMessage, 1024)
	c.mu.Lock()
	c.subs[id] = ch
	c.mu.Unlock()
	payload, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(WSMessage{ID: id, Type: "subscribe", Payload: payload}); err != nil {
		t.Fatalf("ws: subscribe %s: %v", id, err)
	}
	return &Subscription{c: c, id: id, ch: ch}
}

// Ping waits for the server's pong: every message sent before it has been
// read and handled by the server.
func (c *WSClient) Ping(t testing.TB) {
	t.Helper()
	if err := c.Write(WSMessage{Type: "ping"}); err != nil {
		t.Fatalf("ws: ping: %v", err)
	}
	select {
	case <-c.pongs:
	case <-c.done:
		t.Fatalf("ws: connection ended before pong: %v", c.Err())
	case <-time.After(WaitLimit):
		t.Fatalf("ws: no pong within %s", WaitLimit)
	}
}

// Next returns the data of the subscription's next result; an error, a
// completion, a closed connection or nothing within WaitLimit fails the
// test.
func (s *Subscription) Next(t testing.TB) json.RawMessage {
	t.Helper()
	m, ok := s.Receive(t, WaitLimit)
	if !ok {
		t.Fatalf("ws: subscription %s: no event within %s", s.id, WaitLimit)
	}
	return m
}

// Receive is Next with a limit of the caller's; ok is false when nothing
// came within it.
func (s *Subscription) Receive(t testing.TB, limit time.Duration) (data json.RawMessage, ok bool) {
	t.Helper()
	select {
	case m := <-s.ch:
		switch m.Type {
		case "next":
			var res struct {
				Data   json.RawMessage `json:"data"`
				Errors []GQLError      `json:"errors"`
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
		t.Fatalf("ws: connection closed while waiting on %s: %v", s.id, s.c.Err())
	case <-time.After(limit):
	}
	return nil, false
}

// Message returns the subscription's next message of any type (next,
// error, complete), waiting up to WaitLimit.
func (s *Subscription) Message(t testing.TB) WSMessage {
	t.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-s.c.done:
		t.Fatalf("ws: connection closed while waiting on %s: %v", s.id, s.c.Err())
	case <-time.After(WaitLimit):
		t.Fatalf("ws: subscription %s: nothing within %s", s.id, WaitLimit)
	}
	return WSMessage{}
}

// Incoming is the subscription's messages as they arrive, for a test that
// selects on them beside something else.
func (s *Subscription) Incoming() <-chan WSMessage { return s.ch }

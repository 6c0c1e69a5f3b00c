package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"meridian.dev/gateway/server"
	"meridian.dev/gateway/stacktest"
)

// upgradeStatus opens a graphql-transport-ws WebSocket to g with the given
// Origin (none when empty) and returns the handshake's HTTP status: 101
// when the gateway upgraded, 403 when it refused.
func upgradeStatus(t *testing.T, g *stacktest.Gateway, origin string) int {
	t.Helper()
	header := http.Header{}
	if origin != "" {
		header.Set("Origin", origin)
	}
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial(g.WS, header)
	if conn != nil {
		conn.Close()
	}
	if resp == nil {
		t.Fatalf("dial %s with Origin %q: no HTTP answer: %v", g.WS, origin, err)
	}
	return resp.StatusCode
}

func TestOriginOfWebSocketUpgrades(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	dev := s.GW
	const listed = "https://wall.gsoc.example"
	withList := s.StartGateway(t, func(c *server.Config) { c.AllowedOrigins = []string{" " + listed + " ", "http://ops.example:8443"} })
	prod := s.StartGateway(t, func(c *server.Config) { c.Env = "production" })

	own := func(g *stacktest.Gateway) string { return g.Base }
	for _, tc := range []struct {
		name    string
		gateway *stacktest.Gateway
		origin  func(*stacktest.Gateway) string
		want    int
	}{
		// Development no longer lets any site's page talk to the gateway.
		{"another site, development", dev, func(*stacktest.Gateway) string { return "http://evil.example" }, http.StatusForbidden},
		{"another site, production", prod, func(*stacktest.Gateway) string { return "http://evil.example" }, http.StatusForbidden},
		{"another site, with a list", withList, func(*stacktest.Gateway) string { return "http://evil.example" }, http.StatusForbidden},
		{"same host, another port", dev, func(g *stacktest.Gateway) string { return g.Base[:strings.LastIndex(g.Base, ":")] + ":1" }, http.StatusForbidden},
		{"a host that only ends like ours", dev, func(g *stacktest.Gateway) string { return "http://evil" + strings.TrimPrefix(g.Base, "http://") }, http.StatusForbidden},
		{"null (a sandboxed frame or a file)", dev, func(*stacktest.Gateway) string { return "null" }, http.StatusForbidden},

		{"the board's own page, development", dev, own, http.StatusSwitchingProtocols},
		{"the board's own page, production", prod, own, http.StatusSwitchingProtocols},
		{"the board's own page, with a list", withList, own, http.StatusSwitchingProtocols},
		{"the board's own page, scheme in upper case", dev, func(g *stacktest.Gateway) string { return strings.ToUpper(g.Base) }, http.StatusSwitchingProtocols},
		{"the board's own page behind TLS", dev, func(g *stacktest.Gateway) string { return strings.Replace(g.Base, "http://", "https://", 1) }, http.StatusSwitchingProtocols},
		{"a listed origin", withList, func(*stacktest.Gateway) string { return listed }, http.StatusSwitchingProtocols},
		{"a listed origin, written otherwise", withList, func(*stacktest.Gateway) string { return "HTTP://OPS.example:8443" }, http.StatusSwitchingProtocols},
		{"a listed origin's host on another scheme", withList, func(*stacktest.Gateway) string { return "http://wall.gsoc.example" }, http.StatusForbidden},

		// Not a browser: the graphql-ws client in Node, Go, curl.
		{"no Origin, development", dev, func(*stacktest.Gateway) string { return "" }, http.StatusSwitchingProtocols},
		{"no Origin, production", prod, func(*stacktest.Gateway) string { return "" }, http.StatusSwitchingProtocols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			origin := tc.origin(tc.gateway)
			if got := upgradeStatus(t, tc.gateway, origin); got != tc.want {
				t.Errorf("upgrade with Origin %q: HTTP %d, want %d", origin, got, tc.want)
			}
		})
	}

	// An allowed upgrade is an ordinary connection: the board signs in
	// over it and gets answers.
	t.Run("a same-origin connection works", func(t *testing.T) {
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}
		conn, _, err := d.Dial(dev.WS, http.Header{"Origin": {dev.Base}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + s.Token(t, stacktest.EMEAManager)}}); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(stacktest.WaitLimit))
		var ack stacktest.WSMessage
		if err := conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
			t.Fatalf("connection_init: %+v, %v", ack, err)
		}
	})
}

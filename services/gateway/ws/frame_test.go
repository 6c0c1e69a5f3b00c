package ws

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestRawFramesReadByAStandardClient: frames this transport writes itself,
// batched into one write, are read back intact by gorilla's client, at every
// length encoding boundary (7-bit, 16-bit, 64-bit), followed by a close frame.
func TestRawFramesReadByAStandardClient(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 70000}
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		var batch []byte
		for i, n := range sizes {
			batch = appendFrame(batch, opText, bytes.Repeat([]byte{byte('a' + i)}, n))
		}
		batch = appendFrame(batch, opClose, closePayload(closeTooSlow, strings.Repeat("r", 200)))
		_, _ = conn.UnderlyingConn().Write(batch)
	}))
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, n := range sizes {
		typ, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("frame %d (%d bytes): %v", i, n, err)
		}
		if typ != websocket.TextMessage || len(data) != n || (n > 0 && data[n-1] != byte('a'+i)) {
			t.Fatalf("frame %d: type %d, %d bytes, want text of %d bytes", i, typ, len(data), n)
		}
	}
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != closeTooSlow || len(ce.Text) != 123 {
		t.Fatalf("after the frames: %v, want close %d with a reason cut to 123 bytes", err, closeTooSlow)
	}
}

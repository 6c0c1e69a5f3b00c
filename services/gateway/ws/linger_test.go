package ws

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the Write calls reaching a real TCP connection.
type countingConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// startWriter runs a connection's write loop over a loopback TCP pair and
// returns the counted server side and the client side that reads it.
func startWriter(t *testing.T, opts Options) (*connection, *countingConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingConn{Conn: server}
	opts.WriteTimeout = 5 * time.Second
	c := &connection{h: &Handler{opts: opts}, raw: counted, out: make(chan []byte, 64), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go c.writeLoop(ctx)
	t.Cleanup(func() { cancel(); <-c.done; server.Close(); client.Close() })
	return c, counted, client
}

// readFrames reads n frames of the given payload size (under 126 bytes: a
// two-byte header each) from the client side.
func readFrames(t *testing.T, conn net.Conn, n, size int) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, make([]byte, n*(2+size))); err != nil {
		t.Fatalf("reading %d frames: %v", n, err)
	}
}

// Frames that follow a write closely are gathered into one system call;
// the first frame on an idle connection is written on its own, at once.
func TestWriteLoopGathersAStreamOfFrames(t *testing.T) {
	t.Parallel()
	// A long linger makes the gathering independent of scheduling noise.
	c, counted, client := startWriter(t, Options{Linger: 500 * time.Millisecond, BusyGap: time.Hour})
	frame := []byte("0123456789")

	c.out <- frame
	readFrames(t, client, 1, len(frame))
	if n := counted.writes.Load(); n != 1 {
		t.Fatalf("first frame took %d writes, want 1", n)
	}
	for range 20 {
		c.out <- frame
		time.Sleep(time.Millisecond) // a stream, not one burst: each would find the queue empty
	}
	readFrames(t, client, 20, len(frame))
	if n := counted.writes.Load(); n != 2 {
		t.Fatalf("20 frames following a write took %d writes, want them gathered into 1", n-1)
	}
}

// With lingering off, each frame that finds the queue empty is written by
// itself: the behaviour the linger improves on.
func TestWriteLoopWithoutLingerWritesAsFramesCome(t *testing.T) {
	t.Parallel()
	c, counted, client := startWriter(t, Options{Linger: -1})
	frame := []byte("0123456789")
	for i := range 5 {
		c.out <- frame
		readFrames(t, client, 1, len(frame))
		if n := counted.writes.Load(); n != int32(i+1) {
			t.Fatalf("after frame %d: %d writes, want %d", i+1, n, i+1)
		}
	}
}

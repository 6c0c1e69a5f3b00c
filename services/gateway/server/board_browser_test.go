package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/gateway/server"
	"meridian.dev/gateway/stacktest"
	"meridian.dev/worker/demo"
)

// boardBrowserLimit bounds the whole browser run: a hung Chromium fails the
// test instead of holding it until go test's own timeout.
const boardBrowserLimit = 6 * time.Minute

// boardScreenshots are the pictures a passing run leaves in
// <repo>/.data/screenshots/board (git-ignored, as .data/ is).
var boardScreenshots = []string{
	"map-emea.png", "site-panel.png", "escalation-timeline.png", "apac-emea-site.png",
	"reconnected.png", "board-1366.png", "board-3840.png", "status-conflict.png", "advisory-change.png",
	"who-is-where.png",
}

// boardBrowser returns the repository's root, the e2e/browser folder, node
// and Chromium, or fails the test saying how to get them. Like the
// graphql-ws reference client's test, it never skips: `make test` installs
// all of it, and a board test that quietly did not run would read as a pass.
func boardBrowser(t *testing.T) (root, dir, node, chromium string) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(root, "e2e", "browser")
	node, err = exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed, and the board's browser test needs it: run `make test`, which installs Node.js, chromium and the test's packages")
	}
	for _, f := range []string{"board.e2e.mjs", "node_modules/playwright-core/package.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("the board's browser test is not installed (%v): run `make test`, which runs `npm ci` in %s", err, dir)
		}
	}
	chromium = os.Getenv("MERIDIAN_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium is not at %s (%v): run `make test`, which installs Debian's chromium, or set MERIDIAN_CHROMIUM", chromium, err)
	}
	// The gateway embeds the board at compile time: without a build it
	// serves a page saying how to build one, and every step would fail on it.
	index := filepath.Join(root, "services", "gateway", "web", "static", "dist", "index.html")
	if _, err := os.Stat(index); err != nil {
		t.Fatalf("the board is not built (%v): run `make test` or `make board` (npm ci && npm run build in services/board), then run this test again so that the gateway embeds it", err)
	}
	return root, dir, node, chromium
}

// boardRun is board.e2e.mjs running: its stdout lines arrive on lines, and
// it reads the answers to its CONTROL requests from stdin.
type boardRun struct {
	stdin  io.WriteCloser
	lines  chan string
	stderr bytes.Buffer
	done   chan struct{}
	err    error // cmd.Wait's, valid once done is closed
}

func startBoardRun(t *testing.T, dir, node string, env []string) *boardRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), boardBrowserLimit)
	cmd := exec.CommandContext(ctx, node, "board.e2e.mjs")
	// On the time limit or a failed test, SIGTERM, not the default SIGKILL:
	// playwright closes the Chromium it started on SIGTERM, and Chromium
	// runs in a process group of its own that a killed node leaves behind.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	r := &boardRun{lines: make(chan string, 64), done: make(chan struct{})}
	cmd.Stderr = &r.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if r.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
		r.err = cmd.Wait() // after the pipe is drained, as Wait requires
	}()
	t.Cleanup(func() {
		cancel() // stops node, and with it Chromium, if it is still running
		for range r.lines {
		}
		<-r.done
	})
	return r
}

// gatewayControl restarts the stack's gateway on node's request, on the
// same address, so that the board's page (which never reloads) finds it
// again.
type gatewayControl struct {
	s    *stacktest.Stack
	addr string // host:port of the board's gateway
}

// handle answers one CONTROL request; it runs on the test's goroutine, so
// that StartGateway and Stop may fail the test.
func (c *gatewayControl) handle(t *testing.T, request string) string {
	t.Helper()
	switch request {
	case "stop-gateway":
		// The change "made while the board was away" goes through a second
		// gateway over the same database and Redis. It starts before the
		// first stops, so the kernel cannot hand it the port being freed.
		second := c.s.StartGateway(t, nil)
		c.s.GW.Stop()
		return "OK " + second.Base
	case "start-gateway":
		waitPortFree(t, c.addr)
		c.s.GW = c.s.StartGateway(t, func(cfg *server.Config) { cfg.Addr = c.addr })
		return "OK " + c.s.GW.Base
	}
	t.Errorf("board.e2e.mjs asked for %q, which the test does not know", request)
	return "ERR unknown request " + request
}

// waitPortFree waits until addr can be listened on again: a gateway that
// has just closed its listener may leave it briefly in use.
func waitPortFree(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			t.Fatalf("cannot listen on %s again to restart the gateway: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBoardBrowser drives the board in headless Chromium (Debian's
// chromium, through playwright-core) against a full stack:
// e2e/browser/board.e2e.mjs signs in, watches the map follow changes made
// through the API and from the board, acknowledges an escalation, checks
// what the APAC manager is offered, shows a conflicting status change,
// shades countries and follows an advisory override, finds a traveller by
// country, survives a gateway restart, checks the console, two viewports
// and the keyboard, and saves screenshots.
//
// It does not run in parallel: step 2 times a change to the pixel against
// a 1 s budget, and on a small machine other stacks' load would be measured
// with it.
func TestBoardBrowser(t *testing.T) {
	root, dir, node, chromium := boardBrowser(t) // fail before starting anything when it is missing
	started := time.Now()
	s := stacktest.New(t, stacktest.Options{})
	// Countries have levels before the board loads (step 10 checks their
	// shading), and the demo travellers are in the directory so that step 11
	// can create a trip for one of them.
	s.LoadAdvisories(t)
	s.LoadTravellers(t)

	seeded := make([]map[string]string, 0, len(demo.Sites))
	for _, site := range demo.Sites {
		seeded = append(seeded, map[string]string{"code": site.Code, "region": site.Region})
	}
	seededJSON, err := json.Marshal(seeded)
	if err != nil {
		t.Fatal(err)
	}
	screenshots := filepath.Join(root, ".data", "screenshots", "board")
	control := &gatewayControl{s: s, addr: strings.TrimPrefix(s.GW.Base, "http://")}

	run := startBoardRun(t, dir, node, []string{
		"BOARD_URL=" + s.GW.Base,
		"TOKEN_EMEA_MANAGER=" + s.Token(t, stacktest.EMEAManager),
		"TOKEN_APAC_MANAGER=" + s.Token(t, stacktest.APACManager),
		"TOKEN_GLOBAL_LEAD=" + s.Token(t, stacktest.GlobalLead),
		"TOKEN_TRAVEL_TEAM=" + s.Token(t, stacktest.TravelTeam),
		"SEEDED_SITES=" + string(seededJSON),
		"SCREENSHOT_DIR=" + screenshots,
		"CHROMIUM=" + chromium,
	})

	var measures, failures []string
	for line := range run.lines {
		t.Log(line)
		switch {
		case strings.HasPrefix(line, "CONTROL "):
			answer := control.handle(t, strings.TrimPrefix(line, "CONTROL "))
			if _, err := fmt.Fprintln(run.stdin, answer); err != nil {
				t.Fatalf("answer node's %q: %v", line, err)
			}
		case strings.HasPrefix(line, "MEASURE "):
			measures = append(measures, strings.TrimPrefix(line, "MEASURE "))
		case strings.HasPrefix(line, "FAIL "):
			failures = append(failures, strings.TrimPrefix(line, "FAIL "))
		}
	}
	<-run.done
	if run.stderr.Len() > 0 {
		t.Logf("node's stderr:\n%s", run.stderr.String())
	}
	if run.err != nil || len(failures) > 0 {
		t.Fatalf("the board's browser test failed (%v):\n%s\nfailure screenshots, if any, are in %s",
			run.err, strings.Join(failures, "\n"), screenshots)
	}

	for _, name := range boardScreenshots {
		info, err := os.Stat(filepath.Join(screenshots, name))
		if err != nil || info.Size() == 0 || info.ModTime().Before(started) {
			t.Errorf("screenshot %s was not written by this run (%v)", name, err)
		}
	}
	t.Logf("measured: %s; whole test (stack and browser) %s; screenshots in %s",
		strings.Join(measures, "; "), time.Since(started).Round(time.Millisecond), screenshots)
}

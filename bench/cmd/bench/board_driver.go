package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The browser side of Part 6 is e2e/browser/bench-board.mjs, run with Node:
// it drives Debian's Chromium through playwright-core. It prints one JSON
// event per line on stdout ("ready", "collecting", then "result") and its
// progress on stderr; it reads "start" and "stop" lines on stdin, which
// bracket the measured window of changes.

// boardBrowser is where the part's pieces live on this machine.
type boardBrowser struct {
	node     string // the node binary
	script   string // e2e/browser/bench-board.mjs
	chromium string // executablePath for playwright-core
}

// findBoardBrowser checks, before anything is seeded, that Node, the
// script's npm dependencies and Chromium are there, and says how to get
// whichever is missing.
func findBoardBrowser() (boardBrowser, error) {
	var b boardBrowser
	node, err := exec.LookPath("node")
	if err != nil {
		return b, errors.New("the board part needs Node.js ≥ 20 (`node` is not on PATH): apt-get install nodejs npm")
	}
	root, err := repoRoot()
	if err != nil {
		return b, err
	}
	b.node = node
	b.script = filepath.Join(root, "e2e", "browser", "bench-board.mjs")
	if _, err := os.Stat(b.script); err != nil {
		return b, fmt.Errorf("the board part's browser script is missing: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, "e2e", "browser", "node_modules", "playwright-core", "package.json")); err != nil {
		return b, errors.New("playwright-core is not installed in e2e/browser: run `cd e2e/browser && npm ci` (scripts/bench.sh does)")
	}
	b.chromium = envOr("MERIDIAN_CHROMIUM", "/usr/bin/chromium")
	if _, err := os.Stat(b.chromium); err != nil {
		return b, fmt.Errorf("the board part needs Debian's chromium at %s (apt-get install chromium; or set MERIDIAN_CHROMIUM): %w", b.chromium, err)
	}
	return b, nil
}

// repoRoot is the folder holding go.work, found upwards from the working
// directory (scripts/bench.sh runs the bench from bench/).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (no go.work above the working directory)")
		}
		dir = parent
	}
}

type boardDriverConfig struct {
	Browser      boardBrowser
	URL          string
	Token        string
	Sites        int // sites the board must draw
	Loads        int
	Idle         time.Duration
	Load         time.Duration // length of the bare page's change window
	Rate         int
	ChangeSites  int // sites the bare page rotates its changes over
	Drain        time.Duration
	ReadyTimeout time.Duration
	Points       []boardPoint // every site, for the bare page
}

// boardEvent is one line the script prints on stdout.
type boardEvent struct {
	Event    string `json:"event"`
	Chromium string `json:"chromium"`
	Error    string `json:"error"`

	Loads []struct {
		FirstRenderMs  float64 `json:"firstRenderMs"`
		WallMs         float64 `json:"wallMs"`
		SiteCount      int     `json:"siteCount"`
		EscalationRows int     `json:"escalationRows"`
	} `json:"loads"`
	ConsoleErrorCount int      `json:"consoleErrorCount"`
	ConsoleErrors     []string `json:"consoleErrors"`
	Board             struct {
		IdleFrames []float64 `json:"idleFrames"`
		LoadFrames []float64 `json:"loadFrames"`
		Painted    []struct {
			Code    string `json:"code"`
			Version int32  `json:"version"`
			At      int64  `json:"at"`
		} `json:"painted"`
		Connection       string `json:"connection"`
		OverlayPixelsOff int    `json:"overlayPixelsOff"`
	} `json:"board"`
	Bare struct {
		EmptyFrames  []float64 `json:"emptyFrames"`
		ReadyMs      float64   `json:"readyMs"`
		ReadyTimeout bool      `json:"readyTimeout"`
		IdleFrames   []float64 `json:"idleFrames"`
		LoadFrames   []float64 `json:"loadFrames"`
		Changes      int       `json:"changes"`
		LatenciesMs  []float64 `json:"latenciesMs"`
	} `json:"bare"`
}

type boardDriver struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan *boardEvent
	exited chan struct{}
	err    error // why the process ended, once exited is closed
	tmp    string
	once   sync.Once
}

// startBoardDriver runs the script with its settings in the environment
// (the token too: never on a command line or in a URL).
func startBoardDriver(ctx context.Context, c boardDriverConfig, out io.Writer) (*boardDriver, error) {
	tmp, err := os.MkdirTemp("", "meridian-bench-board-")
	if err != nil {
		return nil, err
	}
	points := filepath.Join(tmp, "points.json")
	data, err := json.Marshal(c.Points)
	if err == nil {
		err = os.WriteFile(points, data, 0o600)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	msOf := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	cmd := exec.CommandContext(ctx, c.Browser.node, c.Browser.script)
	cmd.Dir = filepath.Dir(c.Browser.script)
	cmd.Env = append(os.Environ(),
		"BENCH_BOARD_URL="+c.URL,
		"BENCH_BOARD_TOKEN="+c.Token,
		"BENCH_BOARD_SITES="+strconv.Itoa(c.Sites),
		"BENCH_BOARD_LOADS="+strconv.Itoa(c.Loads),
		"BENCH_BOARD_IDLE_MS="+msOf(c.Idle),
		"BENCH_BOARD_LOAD_MS="+msOf(c.Load),
		"BENCH_BOARD_RATE="+strconv.Itoa(c.Rate),
		"BENCH_BOARD_CHANGE_SITES="+strconv.Itoa(c.ChangeSites),
		"BENCH_BOARD_DRAIN_MS="+msOf(c.Drain),
		"BENCH_BOARD_READY_TIMEOUT_MS="+msOf(c.ReadyTimeout),
		"BENCH_BOARD_POINTS="+points,
		"MERIDIAN_CHROMIUM="+c.Browser.chromium,
	)
	// On cancellation, SIGTERM first: playwright closes Chromium on it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("start %s: %w", c.Browser.script, err)
	}
	d := &boardDriver{cmd: cmd, stdin: stdin, events: make(chan *boardEvent, 8), exited: make(chan struct{}), tmp: tmp}

	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		// The script's progress, shown as it comes, marked as the browser's.
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintf(out, "    [chromium] %s\n", sc.Text())
		}
	}()
	go func() {
		defer readers.Done()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 256<<20) // the result carries every frame and painted entry
		for sc.Scan() {
			line := sc.Bytes()
			if len(line) == 0 || line[0] != '{' {
				fmt.Fprintf(out, "    [chromium] %s\n", line)
				continue
			}
			ev := &boardEvent{}
			if err := json.Unmarshal(line, ev); err != nil {
				fmt.Fprintf(out, "    [chromium] unreadable event (%v): %.200s\n", err, line)
				continue
			}
			d.events <- ev
		}
	}()
	go func() {
		readers.Wait() // Wait closes the pipes: read them to the end first
		err := cmd.Wait()
		if err != nil {
			d.err = fmt.Errorf("%s: %w", filepath.Base(c.Browser.script), err)
		}
		close(d.exited)
	}()
	return d, nil
}

// cpu is the CPU time used so far by the script and every process under it
// (Chromium's browser, GPU and renderer processes), from /proc (Linux; zero
// elsewhere). Processes that already exited take their time with them.
func (d *boardDriver) cpu() time.Duration {
	if d.cmd.Process == nil {
		return 0
	}
	root := d.cmd.Process.Pid
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	type proc struct {
		ppid int
		cpu  time.Duration
	}
	procs := map[int]proc{}
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + ent.Name() + "/stat")
		if err != nil {
			continue
		}
		// After the parenthesised command: state, ppid, … utime (14), stime (15).
		rp := strings.LastIndexByte(string(stat), ')')
		if rp < 0 {
			continue
		}
		f := strings.Fields(string(stat[rp+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, err1 := strconv.Atoi(f[1])
		ut, err2 := strconv.ParseInt(f[11], 10, 64)
		st, err3 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		procs[pid] = proc{ppid: ppid, cpu: time.Duration(ut+st) * 10 * time.Millisecond} // USER_HZ
	}
	var total time.Duration
	for pid, p := range procs {
		// Walk up to the script or to init; the depth bound guards a cycle
		// from a PID reused while reading.
		for cur, depth := pid, 0; cur > 1 && depth < 64; depth++ {
			if cur == root {
				total += p.cpu
				break
			}
			parent, ok := procs[cur]
			if !ok {
				break
			}
			cur = parent.ppid
		}
	}
	return total
}

// send writes one command line to the script.
func (d *boardDriver) send(cmd string) error {
	if _, err := io.WriteString(d.stdin, cmd+"\n"); err != nil {
		return fmt.Errorf("browser script: send %q: %w", cmd, err)
	}
	return nil
}

// await returns the next event, which must be want; an "error" event, the
// script ending or the timeout is an error.
func (d *boardDriver) await(ctx context.Context, want string, timeout time.Duration) (*boardEvent, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ev := <-d.events:
		switch ev.Event {
		case want:
			return ev, nil
		case "error":
			return nil, fmt.Errorf("browser script: %s", ev.Error)
		default:
			return nil, fmt.Errorf("browser script: got event %q, want %q", ev.Event, want)
		}
	case <-d.exited:
		// An event printed just before exiting may still be queued.
		select {
		case ev := <-d.events:
			if ev.Event == want {
				return ev, nil
			}
			if ev.Event == "error" {
				return nil, fmt.Errorf("browser script: %s", ev.Error)
			}
		default:
		}
		if d.err != nil {
			return nil, fmt.Errorf("browser script ended before %q: %w", want, d.err)
		}
		return nil, fmt.Errorf("browser script ended before %q", want)
	case <-timer.C:
		return nil, fmt.Errorf("browser script: no %q within %s", want, timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// wait lets the script close the browser and exit after its result.
func (d *boardDriver) wait() error {
	_ = d.stdin.Close()
	select {
	case <-d.exited:
		return d.err
	case <-time.After(30 * time.Second):
		return errors.New("browser script: did not exit within 30 s of its result")
	}
}

// close ends the script if it still runs (closing its stdin asks it to
// stop; it is killed if it does not) and removes its files.
func (d *boardDriver) close() {
	d.once.Do(func() {
		_ = d.stdin.Close()
		select {
		case <-d.exited:
		case <-time.After(15 * time.Second):
			// SIGTERM first: playwright closes the browser it started on
			// it, and Chromium runs in a process group of its own that a
			// killed node would leave behind.
			if d.cmd.Process != nil {
				_ = d.cmd.Process.Signal(syscall.SIGTERM)
			}
			select {
			case <-d.exited:
			case <-time.After(10 * time.Second):
				_ = d.cmd.Process.Kill()
				<-d.exited
			}
		}
		os.RemoveAll(d.tmp)
	})
}

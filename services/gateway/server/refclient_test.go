package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/gateway/stacktest"
)

// referenceClient returns the folder of the graphql-ws reference client and
// the node binary, or fails the test saying how to get them.
func referenceClient(t *testing.T) (dir, node string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "e2e", "graphql-ws-client"))
	if err != nil {
		t.Fatal(err)
	}
	node, err = exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed, and the reference graphql-ws client needs it: run `make test`, which installs Node.js and the client's packages")
	}
	for _, f := range []string{"client.mjs", "node_modules/graphql-ws/package.json", "node_modules/ws/package.json", "node_modules/graphql/package.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("the reference graphql-ws client is not installed (%v): run `make test`, which runs `npm ci` in %s", err, dir)
		}
	}
	return dir, node
}

type nodeRun struct {
	stderr bytes.Buffer
	done   chan struct{}
	lines  []string // valid once done is closed
	err    error    // cmd.Wait's, valid once done is closed
}

// startNode runs the reference client with args; it reads everything the
// client prints until it exits.
func startNode(t *testing.T, args ...string) *nodeRun {
	t.Helper()
	dir, node := referenceClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*stacktest.WaitLimit)
	cmd := exec.CommandContext(ctx, node, append([]string{"client.mjs"}, args...)...)
	cmd.Dir = dir
	r := &nodeRun{done: make(chan struct{})}
	cmd.Stderr = &r.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
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
			r.lines = append(r.lines, sc.Text())
		}
		r.err = cmd.Wait() // after the pipe is drained, as Wait requires
	}()
	t.Cleanup(func() {
		cancel() // kills node if it is still running
		<-r.done
	})
	return r
}

// wait returns the lines the client printed, one per event, and its exit
// code.
func (r *nodeRun) wait(t *testing.T) ([]string, int) {
	t.Helper()
	<-r.done
	var exit *exec.ExitError
	switch {
	case r.err == nil:
		return r.lines, 0
	case errors.As(r.err, &exit):
		return r.lines, exit.ExitCode()
	}
	t.Fatalf("node: %v", r.err)
	return nil, -1
}

// TestReferenceClient drives the gateway with the graphql-ws npm package,
// the client browsers use, through e2e/graphql-ws-client/client.mjs.
func TestReferenceClient(t *testing.T) {
	t.Parallel()
	referenceClient(t) // fail before starting anything when it is missing
	s := stacktest.New(t, stacktest.Options{})

	// The cursor of an event the gateway has delivered: the reference
	// client resumes from it, so it sees every later change whenever its
	// subscribe reaches the gateway.
	watcher := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.GlobalLead))
	_, after := s.PrimedSubscription(t, watcher, "primer", "", "AMS-OFC", stacktest.EMEAManager)

	run := startNode(t, s.GW.WS, s.Token(t, stacktest.Auditor), "3", "--after="+after, "--timeout=60")
	changes := []struct{ level, posture, note string }{
		{"ELEVATED", "OPEN", "protest announced"},
		{"HIGH", "RESTRICTED", "protest at the gates"},
		{"NORMAL", "OPEN", "protest dispersed"},
	}
	for _, c := range changes {
		s.SetStatus(t, s.GW, stacktest.EMEAManager, "MAD-OFC", c.level, c.posture, c.note)
	}

	lines, code := run.wait(t)
	if code != 0 {
		t.Fatalf("node exited %d; stdout %q; stderr %s", code, lines, run.stderr.String())
	}
	if len(lines) != len(changes) {
		t.Fatalf("node printed %d lines, want %d: %q", len(lines), len(changes), lines)
	}
	prev := after
	for i, line := range lines {
		var ev struct {
			Cursor string
			Site   struct {
				ID, Code string
				Region   struct{ Code string }
			}
			Previous, Current struct {
				Level, Posture, Note, UpdatedBy string
				Version                         int
			}
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %d is not one JSON event: %v: %s", i+1, err, line)
		}
		c := changes[i]
		if ev.Site.Code != "MAD-OFC" || ev.Site.ID != s.Site(t, "MAD-OFC").ID || ev.Site.Region.Code != "EMEA" {
			t.Errorf("event %d is about %+v, want MAD-OFC", i+1, ev.Site)
		}
		if ev.Current.Level != c.level || ev.Current.Posture != c.posture || ev.Current.Note != c.note ||
			ev.Current.Version != i+2 || ev.Current.UpdatedBy != stacktest.EMEAManager {
			t.Errorf("event %d current = %+v, want %s/%s %q v%d", i+1, ev.Current, c.level, c.posture, c.note, i+2)
		}
		if ev.Previous.Version != i+1 {
			t.Errorf("event %d previous version %d, want %d", i+1, ev.Previous.Version, i+1)
		}
		if !cursorAfter(t, ev.Cursor, prev) {
			t.Errorf("event %d cursor %s does not follow %s", i+1, ev.Cursor, prev)
		}
		prev = ev.Cursor
	}

	t.Run("too few events fail after the timeout", func(t *testing.T) {
		// Nothing changes in APAC.
		run := startNode(t, s.GW.WS, s.Token(t, stacktest.Auditor), "1", "--region=APAC", "--timeout=1")
		lines, code := run.wait(t)
		if code != 1 || len(lines) != 0 || !strings.Contains(run.stderr.String(), "timed out") {
			t.Errorf("node exited %d after printing %q (stderr %s), want 1, nothing, and a timeout", code, lines, run.stderr.String())
		}
	})

	t.Run("a bad token fails with the close code", func(t *testing.T) {
		run := startNode(t, s.GW.WS, "not-a-token", "1", "--timeout=30")
		lines, code := run.wait(t)
		if code != 1 || len(lines) != 0 {
			t.Errorf("node exited %d after printing %q, want 1 and nothing", code, lines)
		}
		if !strings.Contains(run.stderr.String(), "4403") {
			t.Errorf("stderr does not give the close code 4403: %s", run.stderr.String())
		}
	})
}

// TestReferenceClientFollowsTripRisk: a travel team's screen, on the
// graphql-ws npm package, hears a trip's risk change when an analyst
// overrides the country's advisories.
func TestReferenceClientFollowsTripRisk(t *testing.T) {
	t.Parallel()
	referenceClient(t)
	s := stacktest.New(t, stacktest.Options{})
	s.LoadTravellers(t)
	s.LoadAdvisories(t)
	trip := createTrip(t, s, stacktest.TravelTeam, haitiTrip("tr-marta", time.Now().Add(20*24*time.Hour)))
	if trip.Risk.Level != 4 {
		t.Fatalf("a trip to Haiti is level %d, want 4 from the fixtures' advisories", trip.Risk.Level)
	}

	watcher := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.GlobalLead))
	_, after := s.PrimedSubscription(t, watcher, "primer", "", "AMS-OFC", stacktest.EMEAManager)
	document := strings.Join(strings.Fields(tripRiskChangedSubscription), " ")
	run := startNode(t, s.GW.WS, s.Token(t, stacktest.TravelTeam), "1", "--after="+after, "--timeout=60",
		"--document="+document, `--variables={"region":"AMER"}`)

	reason := "relief corridor secured"
	s.GW.Query(t, s.Token(t, stacktest.TravelTeam), setOverrideMutation, map[string]any{"input": map[string]any{
		"country": "HT", "level": 3, "reason": reason}}).Decode(t, &struct{}{})

	lines, code := run.wait(t)
	if code != 0 || len(lines) != 1 {
		t.Fatalf("node exited %d after printing %q; stderr %s", code, lines, run.stderr.String())
	}
	var ev struct {
		Trip                 struct{ ID string }
		PreviousLevel, Level int
		Reasons              []reasonView
		Cursor               string
	}
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatalf("not one JSON event: %v: %s", err, lines[0])
	}
	if ev.Trip.ID != trip.ID || ev.PreviousLevel != 4 || ev.Level != 3 || !cursorAfter(t, ev.Cursor, after) {
		t.Errorf("event = %+v, want trip %s from 4 to 3", ev, trip.ID)
	}
	if len(ev.Reasons) == 0 || ev.Reasons[0].Kind != "OVERRIDE" || !strings.Contains(ev.Reasons[0].Text, reason) {
		t.Errorf("reasons = %+v, want the analyst's override with its reason", ev.Reasons)
	}
}

// Package historytest records and replays workflow histories, for the tests
// that keep running workflows safe from changes to their code (see
// docs/ARCHITECTURE.md, "Changing workflow code").
//
// Every workflow package does the same two things. Its TestRecordHistories
// drives real runs on the Temporal dev server, replays each finished run's
// history against the current code at once, and stores it in testdata when
// MERIDIAN_RECORD_HISTORIES=1. Its TestReplayStoredHistories replays every
// stored history, those recorded by older code included, and fails on one
// the current code could no longer continue. The helpers here are those
// steps, so each new workflow package states what it records and checks,
// not how histories are fetched, stored and replayed.
package historytest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"
)

// RecordEnv, set to 1, makes Keep store the histories it is given:
//
//	MERIDIAN_RECORD_HISTORIES=1 go test -count=1 -run TestRecordHistories ./<package>/
//
// Recording is deliberate (after a versioned change): a normal test run must
// never rewrite the histories it is checking against.
const RecordEnv = "MERIDIAN_RECORD_HISTORIES"

// Recording reports whether this test run stores the histories it keeps.
func Recording() bool { return os.Getenv(RecordEnv) == "1" }

// QuietLogger logs errors only, to stderr. The replayer and the workers of
// recording runs log every workflow task; only a failure is worth reading.
func QuietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// Replay replays hist against the workflows registered with r, which
// returns an error when the current code would issue other commands than
// the history holds (a nondeterminism error, TMPRL1100).
func Replay(r worker.WorkflowReplayer, hist *historypb.History) error {
	return r.ReplayWorkflowHistory(tlog.NewStructuredLogger(QuietLogger()), hist)
}

// StoredFiles returns the stored histories in dir (*.json), and fails the
// test when one of want is missing: the replay test must not pass because
// a file was lost, least of all one recorded by older code, which no run of
// today's code can record again.
func StoredFiles(t testing.TB, dir string, want ...string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range want {
		if !slices.Contains(files, filepath.Join(dir, name)) {
			t.Fatalf("%s is missing: restore it from git if older code recorded it, else record it with %s=1 go test -run TestRecordHistories",
				filepath.Join(dir, name), RecordEnv)
		}
	}
	return files
}

// ReplayStored replays every stored history in dir (failing when one of
// want is missing, as StoredFiles does) against a fresh replayer from
// newReplayer, one subtest per file: the body of a workflow package's
// TestReplayStoredHistories.
func ReplayStored(t *testing.T, dir string, newReplayer func() worker.WorkflowReplayer, want ...string) {
	t.Helper()
	for _, file := range StoredFiles(t, dir, want...) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if err := Replay(newReplayer(), Load(t, file)); err != nil {
				t.Fatalf("replaying %s against the current workflow code: %v", file, err)
			}
		})
	}
}

// Load reads a stored history. Each caller gets a history of its own: the
// replayer rewrites payloads in place.
func Load(t testing.TB, file string) *historypb.History {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hist, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatalf("decode %s: %v", file, err)
	}
	return hist
}

// Fetch returns the history of a workflow's latest run from the server.
func Fetch(ctx context.Context, c client.Client, workflowID string) ([]*historypb.HistoryEvent, error) {
	iter := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", workflowID, err)
		}
		events = append(events, e)
	}
	return events, nil
}

// AwaitTimeout is how long Await waits: far longer than any step of a
// recording run takes, short enough that a stuck run fails the test soon.
const AwaitTimeout = 15 * time.Second

// Await polls a workflow's history until ok holds, and fails the test
// (saying what it waited for) when it does not within AwaitTimeout. The
// history shows what a query cannot: a timer fired, an activity completed,
// a child closed. A workflow that does not exist yet (a child not started
// yet) is waited for too.
func Await(t testing.TB, c client.Client, workflowID string, ok func([]*historypb.HistoryEvent) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(AwaitTimeout)
	var err error
	for time.Now().Before(deadline) {
		var events []*historypb.HistoryEvent
		if events, err = Fetch(context.Background(), c, workflowID); err == nil && ok(events) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waiting for %s in the history of %s (last error: %v)", what, workflowID, err)
}

// Count counts the events of type typ.
func Count(events []*historypb.HistoryEvent, typ enumspb.EventType) int {
	n := 0
	for _, e := range events {
		if e.GetEventType() == typ {
			n++
		}
	}
	return n
}

// Keep checks a finished run's history (it must end with the run's
// completion, or it proves little), replays it against the current code
// registered with r, and, when Recording, stores it as dir/name for the
// replay test. Replaying at once catches a history the current code cannot
// replay before it is stored, and on every run that does not record.
func Keep(t testing.TB, r worker.WorkflowReplayer, events []*historypb.HistoryEvent, dir, name string) {
	t.Helper()
	if n := len(events); n == 0 || events[n-1].GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED {
		t.Fatalf("history for %s does not end with the run's completion", name)
	}
	hist := &historypb.History{Events: events}
	// Encoded first: the replayer may rewrite payloads in place.
	data, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(hist)
	if err != nil {
		t.Fatalf("encode history for %s: %v", name, err)
	}
	if err := Replay(r, hist); err != nil {
		t.Fatalf("replaying the history just recorded for %s: %v", name, err)
	}
	if !Recording() {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	t.Logf("recorded %s (%d events)", path, len(events))
}

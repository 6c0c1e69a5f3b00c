package historytest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// These tests need no server: they use the history of one run of greet,
// written out event by event as the server would record it.

const greetName = "Greet"

func greet(_ workflow.Context, name string) (string, error) { return "hello " + name, nil }

// greetLater is greet changed without a version: it waits first, so it
// issues a timer the recorded run never did.
func greetLater(ctx workflow.Context, name string) (string, error) {
	if err := workflow.Sleep(ctx, time.Minute); err != nil {
		return "", err
	}
	return greet(ctx, name)
}

func greetReplayer(wf any) worker.WorkflowReplayer {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: greetName})
	return r
}

func payloads(t *testing.T, v any) *commonpb.Payloads {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayloads(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// greetHistory is a completed run of greet("world"): started, one workflow
// task, completed.
func greetHistory(t *testing.T) []*historypb.HistoryEvent {
	t.Helper()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	event := func(id int64, typ enumspb.EventType) *historypb.HistoryEvent {
		return &historypb.HistoryEvent{EventId: id, EventType: typ, EventTime: timestamppb.New(at.Add(time.Duration(id) * time.Millisecond))}
	}
	started := event(1, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
	started.Attributes = &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{
		WorkflowType: &commonpb.WorkflowType{Name: greetName},
		TaskQueue:    &taskqueuepb.TaskQueue{Name: "greetings", Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		Input:        payloads(t, "world"),
	}}
	scheduled := event(2, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)
	scheduled.Attributes = &historypb.HistoryEvent_WorkflowTaskScheduledEventAttributes{WorkflowTaskScheduledEventAttributes: &historypb.WorkflowTaskScheduledEventAttributes{
		TaskQueue: &taskqueuepb.TaskQueue{Name: "greetings", Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
	}}
	taskStarted := event(3, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED)
	taskStarted.Attributes = &historypb.HistoryEvent_WorkflowTaskStartedEventAttributes{WorkflowTaskStartedEventAttributes: &historypb.WorkflowTaskStartedEventAttributes{
		ScheduledEventId: 2,
	}}
	taskCompleted := event(4, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
	taskCompleted.Attributes = &historypb.HistoryEvent_WorkflowTaskCompletedEventAttributes{WorkflowTaskCompletedEventAttributes: &historypb.WorkflowTaskCompletedEventAttributes{
		ScheduledEventId: 2, StartedEventId: 3,
	}}
	completed := event(5, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
	completed.Attributes = &historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes{WorkflowExecutionCompletedEventAttributes: &historypb.WorkflowExecutionCompletedEventAttributes{
		Result: payloads(t, "hello world"), WorkflowTaskCompletedEventId: 4,
	}}
	return []*historypb.HistoryEvent{started, scheduled, taskStarted, taskCompleted, completed}
}

// Keep stores what Load reads back, unchanged, and what it stores replays.
func TestKeepThenLoadRoundTrips(t *testing.T) {
	t.Setenv(RecordEnv, "1")
	dir := filepath.Join(t.TempDir(), "testdata")
	events := greetHistory(t)
	want := proto.Clone(&historypb.History{Events: events})

	Keep(t, greetReplayer(greet), events, dir, "greet.json")

	files := StoredFiles(t, dir, "greet.json")
	if len(files) != 1 {
		t.Fatalf("stored files = %v, want greet.json alone", files)
	}
	got := Load(t, files[0])
	if !proto.Equal(got, want) {
		t.Fatalf("loaded history differs from the one kept:\n got %v\nwant %v", got, want)
	}
	if err := Replay(greetReplayer(greet), got); err != nil {
		t.Fatalf("replaying the stored history: %v", err)
	}
}

// Without RecordEnv a test run checks its histories but never rewrites the
// stored ones.
func TestKeepStoresNothingUnlessRecording(t *testing.T) {
	t.Setenv(RecordEnv, "")
	dir := filepath.Join(t.TempDir(), "testdata")
	Keep(t, greetReplayer(greet), greetHistory(t), dir, "greet.json")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("Keep wrote to %s without %s=1 (stat: %v)", dir, RecordEnv, err)
	}
}

// The replay test is only worth having if it can fail. (The replayer logs
// the panic it reports, at error level: expected here.)
func TestReplayReportsAChangedWorkflow(t *testing.T) {
	t.Parallel()
	err := Replay(greetReplayer(greetLater), &historypb.History{Events: greetHistory(t)})
	if err == nil || !strings.Contains(err.Error(), "TMPRL1100") {
		t.Fatalf("replaying greet's history against greetLater: want a nondeterminism error (TMPRL1100), got %v", err)
	}
}

func TestKeepRefusesAnUnfinishedRun(t *testing.T) {
	t.Parallel()
	events := greetHistory(t)
	msg := fatalOf(t, func(tb testing.TB) { Keep(tb, greetReplayer(greet), events[:4], t.TempDir(), "greet.json") })
	if !strings.Contains(msg, "does not end with the run's completion") {
		t.Fatalf("Keep of an unfinished run: %q", msg)
	}
	msg = fatalOf(t, func(tb testing.TB) { Keep(tb, greetReplayer(greetLater), events, t.TempDir(), "greet.json") })
	if !strings.Contains(msg, "replaying the history just recorded") {
		t.Fatalf("Keep of a history the current code cannot replay: %q", msg)
	}
}

func TestStoredFilesInsistsOnEveryExpectedFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "present.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	msg := fatalOf(t, func(tb testing.TB) { StoredFiles(tb, dir, "present.json", "v0_lost.json") })
	if !strings.Contains(msg, "v0_lost.json is missing") || !strings.Contains(msg, RecordEnv) {
		t.Fatalf("StoredFiles with a file missing: %q", msg)
	}
	if msg := fatalOf(t, func(tb testing.TB) { StoredFiles(tb, dir, "present.json") }); msg != "" {
		t.Fatalf("StoredFiles with every file present failed: %s", msg)
	}
}

func TestCount(t *testing.T) {
	t.Parallel()
	events := greetHistory(t)
	if n := Count(events, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED); n != 1 {
		t.Fatalf("Count = %d, want 1", n)
	}
	if n := Count(events, enumspb.EVENT_TYPE_TIMER_FIRED); n != 0 {
		t.Fatalf("Count = %d, want 0", n)
	}
}

// fatalOf runs fn with a testing.TB that records the first Fatal instead of
// failing t, and returns its message ("" when fn did not fail).
func fatalOf(t *testing.T, fn func(testing.TB)) string {
	t.Helper()
	tb := &fatalRecorder{TB: t}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fn(tb)
	}()
	wg.Wait()
	return tb.msg
}

type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatal(args ...any) { r.stop(fmt.Sprint(args...)) }

func (r *fatalRecorder) Fatalf(format string, args ...any) { r.stop(fmt.Sprintf(format, args...)) }

// stop ends fn's goroutine, as testing.T's Fatal does.
func (r *fatalRecorder) stop(msg string) {
	r.msg = msg
	runtime.Goexit()
}

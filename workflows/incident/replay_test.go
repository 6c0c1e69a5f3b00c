package incident

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"meridian.dev/workflows/escalation"
	"meridian.dev/workflows/historytest"
)

// Stored histories of real incidents (two regions, their escalations run to
// the end as children), replayed against the current Workflow code: a change
// that would make running incidents fail their replay fails here first.
// Regenerate them (after a deliberate, versioned change) with
//
//	MERIDIAN_RECORD_HISTORIES=1 go test -count=1 -run TestRecordHistories ./incident/
//
// against the Temporal dev server `make test` starts (see record_test.go;
// historytest.RecordEnv). Replaying needs no server.

// storedHistories are the files TestRecordHistories writes. The replay test
// insists on every one, so a lost file cannot pass silently.
var storedHistories = []string{
	"two_regions_resolved_out_of_order.json",
	"two_regions_climb_to_tier2_then_resolve.json",
}

// newReplayer registers the workflows as the worker does: the incident under
// its name (wf, when given, stands in for the current code under that same
// name) and the escalation that runs as its children.
func newReplayer(wf any) worker.WorkflowReplayer {
	r := worker.NewWorkflowReplayer()
	if wf == nil {
		Register(r)
	} else {
		r.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: WorkflowName})
	}
	r.RegisterWorkflowWithOptions(escalation.Workflow, workflow.RegisterOptions{Name: escalation.WorkflowName})
	return r
}

// loadHistory reads a stored history and checks it is one worth replaying: a
// completed incident that started and saw the end of two children.
func loadHistory(t *testing.T, file string) *historypb.History {
	t.Helper()
	hist := historytest.Load(t, file)
	checkHistory(t, file, hist.GetEvents())
	return hist
}

func checkHistory(t *testing.T, what string, events []*historypb.HistoryEvent) {
	t.Helper()
	if len(events) == 0 {
		t.Fatalf("%s: empty history", what)
	}
	if name := events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName(); name != WorkflowName {
		t.Fatalf("%s: history of a %q workflow, want %q", what, name, WorkflowName)
	}
	if last := events[len(events)-1].GetEventType(); last != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED {
		t.Fatalf("%s: history ends with %s, want its completion", what, last)
	}
	initiated := historytest.Count(events, enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED)
	completed := historytest.Count(events, enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED)
	if initiated != 2 || completed != 2 {
		t.Fatalf("%s: %d children started and %d completed, want 2 and 2", what, initiated, completed)
	}
}

func TestReplayStoredHistories(t *testing.T) {
	t.Parallel()
	for _, file := range historytest.StoredFiles(t, "testdata", storedHistories...) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			if err := historytest.Replay(newReplayer(nil), loadHistory(t, file)); err != nil {
				t.Fatalf("replaying %s against the current workflow code: %v", file, err)
			}
		})
	}
}

// TestReplayCatchesChangedWorkflow proves the replay test can fail: each
// stored history replayed against a plausible but incompatible edit of
// Workflow, registered under the same name, must be reported as
// nondeterministic.
func TestReplayCatchesChangedWorkflow(t *testing.T) {
	t.Parallel()
	changes := []struct {
		name string
		wf   func(workflow.Context, Input) (Result, error)
	}{
		// Decisions reach a region's escalation by its workflow ID, and so
		// does the replay of a running incident.
		{"child workflow IDs renamed", func(ctx workflow.Context, in Input) (Result, error) {
			return startAndWait(ctx, in, "esc-", false)
		}},
		// Awaiting each region before starting the next issues fewer
		// commands in the first workflow task.
		{"regions run one after another", func(ctx workflow.Context, in Input) (Result, error) {
			return startAndWait(ctx, in, "escalation-", true)
		}},
		// A new step before the children (here a timer), unversioned.
		{"timer before the children", func(ctx workflow.Context, in Input) (Result, error) {
			if err := workflow.Sleep(ctx, time.Second); err != nil {
				return Result{}, err
			}
			return Workflow(ctx, in)
		}},
	}
	for _, file := range historytest.StoredFiles(t, "testdata", storedHistories...) {
		for _, c := range changes {
			t.Run(filepath.Base(file)+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				// A history of its own: the replayer rewrites payloads in place.
				hist := loadHistory(t, file)
				// The replayer logs the expected panic; keep it out of the output.
				err := newReplayer(c.wf).ReplayWorkflowHistory(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)), hist)
				if err == nil {
					t.Fatalf("%s replayed cleanly against a workflow with %s; the replay test cannot catch an incompatible change", file, c.name)
				}
				// TMPRL1100 is the SDK's code for a nondeterminism error.
				if !strings.Contains(err.Error(), "TMPRL1100") {
					t.Fatalf("want a nondeterminism error (TMPRL1100), got: %v", err)
				}
				t.Logf("caught: %.200s", err)
			})
		}
	}
}

// startAndWait is Workflow with the edits TestReplayCatchesChangedWorkflow
// makes: the children's workflow ID prefix, and whether each region is
// awaited before the next one starts.
func startAndWait(ctx workflow.Context, in Input, idPrefix string, oneByOne bool) (Result, error) {
	res := Result{Escalations: map[string]escalation.State{}}
	var firstErr error
	wait := func(i int, f workflow.ChildWorkflowFuture) {
		var st escalation.State
		if err := f.Get(ctx, &st); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		res.Escalations[in.Escalations[i].EscalationID] = st
	}
	futures := make([]workflow.ChildWorkflowFuture, len(in.Escalations))
	for i, e := range in.Escalations {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            idPrefix + e.EscalationID,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		})
		futures[i] = workflow.ExecuteChildWorkflow(cctx, escalation.WorkflowName, e)
		if oneByOne {
			wait(i, futures[i])
		}
	}
	if !oneByOne {
		for i, f := range futures {
			wait(i, f)
		}
	}
	return res, firstErr
}

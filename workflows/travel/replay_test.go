package travel

import (
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"meridian.dev/workflows/historytest"
)

// Stored histories of real rounds, replayed against the current Workflow
// code: a change that would make running approvals fail their replay fails
// here first. Regenerate them (after a deliberate, versioned change) with
//
//	MERIDIAN_RECORD_HISTORIES=1 go test -count=1 -run TestRecordHistories ./travel/
//
// against the Temporal dev server `make test` starts (historytest.RecordEnv).
// A file recorded by older code is renamed v<N>_… and added here, never
// re-recorded.
var storedHistories = []string{
	"approved.json", "escalated_then_rejected.json", "cancelled.json",
}

func newReplayer() worker.WorkflowReplayer {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	return r
}

func TestReplayStoredHistories(t *testing.T) {
	t.Parallel()
	historytest.ReplayStored(t, "testdata", newReplayer, storedHistories...)
}

// TestRecordHistories drives real rounds through a real worker (real
// activities over a fresh Postgres, pages to a real HTTP receiver, decisions
// through Client) on the Temporal dev server, checks what they did, and
// replays their histories at once. With MERIDIAN_RECORD_HISTORIES=1 it also
// stores them in testdata for TestReplayStoredHistories.
func TestRecordHistories(t *testing.T) {
	t.Parallel()
	t.Run("approved", func(t *testing.T) {
		t.Parallel()
		roundApproved(t)
	})
	t.Run("escalated_then_rejected", func(t *testing.T) {
		t.Parallel()
		roundEscalatedThenRejected(t)
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		roundCancelled(t)
	})
}

package protection

import (
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"meridian.dev/workflows/historytest"
)

// Stored histories of real watches, replayed against the current Watch
// code: a change that would make running watches fail their replay fails
// here first. Regenerate them (after a deliberate, versioned change) with
//
//	MERIDIAN_RECORD_HISTORIES=1 go test -count=1 -run TestRecordHistories ./protection/
//
// against the Temporal dev server `make test` starts (historytest.RecordEnv).
// A file recorded by older code is renamed v<N>_… and added here, never
// re-recorded.
var storedHistories = []string{
	"checkins.json", "miss_then_recovery.json", "retimed.json", "codes_failed.json",
	"miss_resolved_then_new.json",
}

func newReplayer() worker.WorkflowReplayer {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(Watch, workflow.RegisterOptions{Name: WorkflowName})
	return r
}

func TestReplayStoredHistories(t *testing.T) {
	t.Parallel()
	historytest.ReplayStored(t, "testdata", newReplayer, storedHistories...)
}

// TestRecordHistories drives real watches through a real worker on the
// Temporal dev server (engine_test.go), checks what they did, and replays
// their histories at once. With MERIDIAN_RECORD_HISTORIES=1 it also stores
// them in testdata for TestReplayStoredHistories.
func TestRecordHistories(t *testing.T) {
	t.Parallel()
	for name, run := range map[string]func(*testing.T){
		"checkins":           watchWithCheckIns,
		"miss_then_recovery": watchMissThenRecovery,
		"retimed":            watchRetimed,
		"codes_failed":       watchCodesFailed,
		"resolved_then_new":  watchResolvedThenSilence,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			run(t)
		})
	}
}

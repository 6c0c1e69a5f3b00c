package protection

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Register adds the watch and its activities to w under their stable names.
// The worker that polls TaskQueue (the escalations' queue) calls it next to
// escalation.Register.
func Register(w worker.Registry, a *Activities) {
	w.RegisterWorkflowWithOptions(Watch, workflow.RegisterOptions{Name: WorkflowName})
	w.RegisterActivityWithOptions(a.RemindCheckIn, activity.RegisterOptions{Name: ActivityRemind})
	w.RegisterActivityWithOptions(a.RaiseMissedCheckIn, activity.RegisterOptions{Name: ActivityMissed})
	w.RegisterActivityWithOptions(a.RecordCheckInRecovery, activity.RegisterOptions{Name: ActivityRecovery})
}

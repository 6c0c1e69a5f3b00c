package travel

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Register adds the workflow and its activities to w under their stable
// names. The worker that polls TaskQueue (the escalations' queue) calls it
// next to escalation.Register.
func Register(w worker.Registry, a *Activities) {
	w.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	w.RegisterActivityWithOptions(a.AskDeciders, activity.RegisterOptions{Name: ActivityAsk})
	w.RegisterActivityWithOptions(a.RecordTripStep, activity.RegisterOptions{Name: ActivityRecordStep})
	w.RegisterActivityWithOptions(a.RecordTripDecision, activity.RegisterOptions{Name: ActivityDecide})
}

package escalation

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Register adds the workflow and its activities to w under their stable names.
func Register(w worker.Registry, a *Activities) {
	w.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	w.RegisterActivityWithOptions(a.Page, activity.RegisterOptions{Name: ActivityPage})
	w.RegisterActivityWithOptions(a.RecordStep, activity.RegisterOptions{Name: ActivityRecordStep})
	w.RegisterActivityWithOptions(a.Decide, activity.RegisterOptions{Name: ActivityDecide})
	w.RegisterActivityWithOptions(a.HandOff, activity.RegisterOptions{Name: ActivityHandOff})
	w.RegisterActivityWithOptions(a.PlanPages, activity.RegisterOptions{Name: ActivityPlanPages})
	w.RegisterActivityWithOptions(a.Deliver, activity.RegisterOptions{Name: ActivityDeliver})
}

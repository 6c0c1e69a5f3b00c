// Package incident is the durable process of an incident that touches
// several regions: one parent workflow running one escalation per region as
// its children, so each region climbs its own policy while everyone sees
// every region's state.
package incident

import (
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"meridian.dev/workflows/escalation"
)

// WorkflowName is the registered name of Workflow.
const WorkflowName = "Incident"

// Input starts an incident: the frozen input of each region's escalation.
type Input struct {
	IncidentID  string             `json:"incidentId"`
	Title       string             `json:"title"`
	Escalations []escalation.Input `json:"escalations"`
}

// Result is each region's final escalation state, by escalation ID.
type Result struct {
	Escalations map[string]escalation.State `json:"escalations"`
}

// Workflow starts every region's escalation as a child with the escalation's
// own deterministic ID (so decisions reach it by that ID) and waits for all
// of them to be resolved.
func Workflow(ctx workflow.Context, in Input) (Result, error) {
	res := Result{Escalations: map[string]escalation.State{}}
	futures := make([]workflow.ChildWorkflowFuture, len(in.Escalations))
	for i, e := range in.Escalations {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            "escalation-" + e.EscalationID,
			WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			// A region's escalation outlives a parent that is terminated by
			// hand: nobody must stop being paged by accident.
			ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON,
		})
		futures[i] = workflow.ExecuteChildWorkflow(cctx, escalation.WorkflowName, e)
	}
	var firstErr error
	for i, f := range futures {
		var st escalation.State
		if err := f.Get(ctx, &st); err != nil {
			workflow.GetLogger(ctx).Error("region escalation failed", "escalation", in.Escalations[i].EscalationID, "error", err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		res.Escalations[in.Escalations[i].EscalationID] = st
	}
	return res, firstErr
}

// Register adds the workflow to w under its stable name.
func Register(w worker.WorkflowRegistry) {
	w.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
}

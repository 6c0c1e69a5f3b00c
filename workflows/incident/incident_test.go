package incident

import (
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"meridian.dev/workflows/escalation"
)

// TestIncidentRunsOneEscalationPerRegion: every region's escalation runs as
// a child under the escalation's own workflow ID (so decisions reach it), and
// the incident ends with each region's final state.
func TestIncidentRunsOneEscalationPerRegion(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterWorkflowWithOptions(escalation.Workflow, workflow.RegisterOptions{Name: escalation.WorkflowName})
	var mu sync.Mutex
	var childIDs []string
	env.OnWorkflow(escalation.WorkflowName, mock.Anything, mock.Anything).Return(
		func(ctx workflow.Context, in escalation.Input) (escalation.State, error) {
			mu.Lock()
			childIDs = append(childIDs, workflow.GetInfo(ctx).WorkflowExecution.ID)
			mu.Unlock()
			return escalation.State{Status: escalation.StateResolved, Tier: 1, Region: in.Region}, nil
		})
	in := Input{IncidentID: "inc-1", Title: "Unrest", Escalations: []escalation.Input{
		{EscalationID: "e-emea", Region: "EMEA"},
		{EscalationID: "e-apac", Region: "APAC"},
	}}
	env.ExecuteWorkflow(WorkflowName, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Len(t, res.Escalations, 2)
	require.Equal(t, "APAC", res.Escalations["e-apac"].Region)
	require.Equal(t, escalation.StateResolved, res.Escalations["e-emea"].Status)
	slices.Sort(childIDs)
	require.Equal(t, []string{"escalation-e-apac", "escalation-e-emea"}, childIDs)
}

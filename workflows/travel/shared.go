// Package travel is the durable process that gets a risky trip decided: it
// asks the travel team (and, for the riskiest trips, the global leads),
// reminds them, escalates to the global leads when the deadline passes, and
// gives up at departure. The decision itself arrives as a Temporal Update,
// validated here and recorded in Postgres by an activity before it counts.
// Names, inputs and results live here so starters (the outbox relay), the
// gateway's typed client and the worker share one contract.
package travel

import (
	"time"

	trips "meridian.dev/platform/travel"
	wfescalation "meridian.dev/workflows/escalation"
)

// TaskQueue is the escalation workflows' queue: one worker polls both.
const TaskQueue = wfescalation.TaskQueue

// WorkflowName is the registered name of Workflow; the relay starts it by
// this name, so renaming the Go function never orphans running approvals.
const WorkflowName = "TripApproval"

// UpdateDecide carries a DecideRequest and answers with a DecideResult.
const UpdateDecide = "decide"

// SignalCancel carries a CancelRequest: the trip is off (Postgres already
// says so), stop asking.
const SignalCancel = "cancel"

// QueryState returns the workflow's State.
const QueryState = "state"

// Error types of refused decisions; Client maps each onto its fault code.
const (
	RejectForbidden = "FORBIDDEN"
	RejectConflict  = "CONFLICT"
	RejectInvalid   = "BAD_USER_INPUT"
)

// Roles that decide trips.
const (
	RoleTravelTeam = "travel_team"
	RoleGlobalLead = "global_lead"
)

// Activity names, registered explicitly for the same reason as WorkflowName.
const (
	ActivityAsk        = "TripAsk"
	ActivityRecordStep = "TripRecordStep"
	ActivityDecide     = "TripDecide"
)

// Timeline step kinds this workflow writes (the decision's own step is
// written by the store's RecordDecision).
const (
	KindAsked                     = "ASKED"
	KindReminded                  = "REMINDED"
	KindEscalated                 = "ESCALATED"
	KindCancelled                 = "CANCELLED"
	KindNotDecidedBeforeDeparture = "NOT_DECIDED_BEFORE_DEPARTURE"
	// KindAskFailed: nobody could be asked (the directory or every channel
	// failed); the next reminder tries again.
	KindAskFailed = "ASK_FAILED"
)

// Workflow statuses (State.Status). PENDING while waiting; the others end
// the run.
const (
	StatusPending  = "PENDING"
	StatusApproved = trips.StatusApproved
	StatusRejected = trips.StatusRejected
	// StatusCancelled: the cancel signal arrived, or Postgres showed the
	// trip cancelled when the workflow looked.
	StatusCancelled = trips.StatusCancelled
	// StatusNotDecided: departure came with no decision. Postgres keeps the
	// trip PENDING_APPROVAL (approval PENDING): nobody approved it, and the
	// workflow does not pretend someone rejected it; the travel team sees
	// the NOT_DECIDED_BEFORE_DEPARTURE step and follows up by hand.
	StatusNotDecided = "NOT_DECIDED"
	// StatusSuperseded: Postgres shows a later approval round (the trip
	// changed and was sent for approval again); that round's workflow
	// carries on.
	StatusSuperseded = "SUPERSEDED"
)

// DefaultReminderEvery is how often the deciders are reminded until the
// deadline when the input does not say.
const DefaultReminderEvery = 4 * time.Hour

// MaxNoteLength bounds a decision's note, in characters.
const MaxNoteLength = 1000

// Input starts one approval round. It is the relay's
// trips.ApprovalRequested payload as it is (the embedded fields keep their
// JSON names), plus what only tests and operators set.
type Input struct {
	trips.ApprovalRequested
	// ReminderEvery: 0 means DefaultReminderEvery.
	ReminderEvery time.Duration `json:"reminderEvery,omitempty"`
}

// DecideRequest is the decide update's argument. Actor and Roles come from
// the caller's verified token: the workflow decides with them who may act.
type DecideRequest struct {
	Actor   string   `json:"actor"`
	Roles   []string `json:"roles,omitempty"`
	Approve bool     `json:"approve"`
	Note    string   `json:"note,omitempty"`
}

// DecideResult is what the decision did.
type DecideResult struct {
	Status    string    `json:"status"` // APPROVED or REJECTED
	DecidedBy string    `json:"decidedBy"`
	DecidedAt time.Time `json:"decidedAt"`
}

// CancelRequest is the cancel signal's payload.
type CancelRequest struct {
	Actor string `json:"actor"`
	Note  string `json:"note,omitempty"`
}

// State is the workflow's view of its round, the query's answer and the
// workflow's result.
type State struct {
	Status    string    `json:"status"`
	DecidedBy string    `json:"decidedBy,omitempty"`
	DecidedAt time.Time `json:"decidedAt,omitzero"`
	Note      string    `json:"note,omitempty"`
	// CancelledBy is the cancel signal's actor.
	CancelledBy string `json:"cancelledBy,omitempty"`
	// Reminders counts the reminders sent; Escalated is set once the
	// global leads were told the deadline passed.
	Reminders int  `json:"reminders,omitempty"`
	Escalated bool `json:"escalated,omitempty"`
}

// AskRequest asks the Ask activity to page the deciders once and record
// the step.
type AskRequest struct {
	Input Input `json:"input"`
	// Kind is ASKED, REMINDED or ESCALATED.
	Kind string `json:"kind"`
	// Reminder numbers the reminders (1, 2, …); 0 otherwise.
	Reminder int `json:"reminder,omitempty"`
}

// AskResult says whom the Ask activity paged, or that it paged nobody
// because Postgres no longer waits for this round's decision.
type AskResult struct {
	Paged []string `json:"paged,omitempty"`
	// Settled is Postgres's approval status when it is no longer PENDING
	// for this round (APPROVED, REJECTED, CANCELLED, or SUPERSEDED for a
	// later round); "" while it waits.
	Settled string `json:"settled,omitempty"`
	// DecidedBy is who decided, when Settled is APPROVED or REJECTED.
	DecidedBy string `json:"decidedBy,omitempty"`
}

// StepRequest asks RecordStep to append one step to the trip's timeline.
type StepRequest struct {
	TripID    string `json:"tripId"`
	Kind      string `json:"kind"`
	Actor     string `json:"actor"`
	Note      string `json:"note"`
	DedupeKey string `json:"dedupeKey"`
}

// DecisionRequest asks the Decide activity to record a decision in Postgres.
type DecisionRequest struct {
	TripID  string `json:"tripId"`
	Round   int    `json:"round"`
	Approve bool   `json:"approve"`
	Actor   string `json:"actor"`
	Note    string `json:"note,omitempty"`
}

// deciderRoles are the roles paged for a trip at level: the travel team,
// and the global leads from trips.GlobalLeadLevel.
func deciderRoles(level int) []string {
	if level >= trips.GlobalLeadLevel {
		return []string{RoleTravelTeam, RoleGlobalLead}
	}
	return []string{RoleTravelTeam}
}

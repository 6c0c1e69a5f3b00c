// Package escalation is the durable process that pages people about an
// incident until someone acknowledges it, climbing tier by tier. Names,
// inputs and signals live here so starters and the worker share one contract.
package escalation

import (
	"fmt"
	"time"

	esc "meridian.dev/platform/escalation"
)

// TaskQueue is the default queue escalation workflows and activities run on.
const TaskQueue = "meridian-escalations"

// WorkflowName is the registered name of Workflow; starters use it so that
// renaming the Go function never orphans running escalations.
const WorkflowName = "Escalation"

// Signals the workflow accepts. Postgres records the change first; the
// signal only tells the workflow to stop paging.
const (
	SignalAcknowledge = "acknowledge"
	SignalResolve     = "resolve"
)

// QueryState returns the workflow's State.
const QueryState = "state"

// Updates the workflow accepts. Unlike signals, an update is validated by
// the workflow and answers with the workflow's real state, so a mutation can
// return what actually happened.
const (
	UpdateAcknowledge = "acknowledge"
	UpdateResolve     = "resolve"
	UpdateEscalateNow = "escalateNow"
	UpdateHandOff     = "handOff"
)

// Error types of rejected updates, mapped by the gateway onto API codes.
const (
	RejectForbidden = "FORBIDDEN"
	RejectConflict  = "CONFLICT"
	RejectInvalid   = "BAD_USER_INPUT"
)

// Activity names, registered explicitly for the same reason as WorkflowName.
const (
	ActivityPage       = "Page"
	ActivityRecordStep = "RecordStep"
	ActivityDecide     = "Decide"
	ActivityHandOff    = "HandOff"
	// ActivityPlanPages and ActivityDeliver page each person on each of the
	// tier's channels; ActivityPage, which paged a whole tier with one
	// webhook, stays registered for escalations started before them.
	ActivityPlanPages = "PlanPages"
	ActivityDeliver   = "Deliver"
)

// Target and Tier are the platform's: a policy written through the API is
// frozen into the input as it is. A Target's kind (ROLE, or empty as in
// histories from before kinds; USER; SCHEDULE; DUTY) is resolved when the
// tier is paged, so a schedule's hand-off between open and page is honoured.
type (
	Target = esc.Target
	Tier   = esc.Tier
)

// Policy is the platform's, frozen into the input when an escalation starts,
// so editing a policy later changes only escalations opened after the edit.
// Inputs recorded before the two were one type decode into it unchanged:
// the fields they share have the same JSON names.
type Policy = esc.Policy

// DefaultPolicy is the platform's built-in policy (the region's managers,
// then the global leads) as workflow input.
func DefaultPolicy(region string, tierWait time.Duration) Policy {
	return esc.DefaultPolicy(region, "", tierWait)
}

// Input starts one escalation.
type Input struct {
	EscalationID string `json:"escalationId"`
	SiteID       string `json:"siteId"`
	SiteCode     string `json:"siteCode"`
	SiteName     string `json:"siteName"`
	Region       string `json:"region"`
	Level        string `json:"level"`
	Posture      string `json:"posture"`
	Note         string `json:"note"`
	Policy       Policy `json:"policy"`
	// RestrictedTo, when set, makes the escalation restricted (a duress):
	// only its responders and global leads act on it, never handed off.
	// Runs started before it existed have none, as their escalations do.
	RestrictedTo []string `json:"restrictedTo,omitempty"`
	// Resume carries the state across continue-as-new: the new run goes
	// straight to waiting for the resolution.
	Resume *State `json:"resume,omitempty"`
	// HistoryLimit is the history length past which a waiting escalation
	// continues as new; 0 means 10,000 events (or earlier, when Temporal
	// suggests it).
	HistoryLimit int `json:"historyLimit,omitempty"`
}

// Decision is the payload of the acknowledge and resolve signals and of the
// updates. Roles and Regions come from the caller's verified token: the
// workflow decides with them who may act (esc.Authority).
type Decision struct {
	Actor       string   `json:"actor"`
	Note        string   `json:"note"`
	Roles       []string `json:"roles,omitempty"`
	Regions     []string `json:"regions,omitempty"`
	Disposition string   `json:"disposition,omitempty"`
}

// HandOff passes an escalation to another region, at a shift change.
type HandOff struct {
	Decision
	ToRegion string `json:"toRegion"`
}

// HandOffRequest asks the HandOff activity to record the hand-off and find
// the receiving region's policy.
type HandOffRequest struct {
	EscalationID string  `json:"escalationId"`
	FromRegion   string  `json:"fromRegion"`
	HandOff      HandOff `json:"handOff"`
}

// HandOffResult is the receiving region's policy, frozen from now on.
type HandOffResult struct {
	Policy Policy `json:"policy"`
}

// DecideRequest asks the Decide activity to record a decision in Postgres.
type DecideRequest struct {
	EscalationID string   `json:"escalationId"`
	Kind         string   `json:"kind"` // an Update name
	Decision     Decision `json:"decision"`
	Tier         int      `json:"tier"`
	Round        int      `json:"round"`
}

// Workflow states.
const (
	StateOpen         = "OPEN"
	StateAcknowledged = "ACKNOWLEDGED"
	StateResolved     = "RESOLVED"
)

// State is what QueryState answers.
type State struct {
	Status         string `json:"status"`
	Tier           int    `json:"tier"`
	Round          int    `json:"round,omitempty"`
	AcknowledgedBy string `json:"acknowledgedBy,omitempty"`
	Disposition    string `json:"disposition,omitempty"`
	ResolvedBy     string `json:"resolvedBy,omitempty"`
	// Paged lists everyone the owning region's tiers paged so far: with the
	// policy's targets, they decide who may act (esc.Authority). A hand-off
	// starts the list again.
	Paged []string `json:"paged,omitempty"`
	// Region owns the escalation now; it changes with each hand-off.
	Region   string   `json:"region,omitempty"`
	HandedBy []string `json:"handedBy,omitempty"` // regions that handed it off, in order
}

// PageRequest asks PlanPages (or, for escalations started before
// per-person paging, the Page activity) to page one tier.
type PageRequest struct {
	Input Input `json:"input"`
	Tier  int   `json:"tier"` // 1-based
	Round int   `json:"round"`
	// Reminder pages even though the escalation is acknowledged: it was
	// not resolved within the policy's acknowledgement time-out.
	Reminder bool `json:"reminder,omitempty"`
}

// PageResult says what paging a tier did (PlanResult carries it too).
type PageResult struct {
	// Skipped is true when Postgres already showed the escalation
	// acknowledged or resolved, so nobody was paged.
	Skipped bool `json:"skipped"`
	// Status is the escalation's status in Postgres when the page was due.
	Status     string   `json:"status"`
	Recipients []string `json:"recipients"`
}

// StepRequest records a timeline step from the workflow.
type StepRequest struct {
	EscalationID string `json:"escalationId"`
	Kind         string `json:"kind"`
	Note         string `json:"note"`
	Tier         int    `json:"tier"`
	DedupeKey    string `json:"dedupeKey"`
	// AboutTier, instead of Tier, names the tier without raising the
	// escalation's (a delivery's outcome may land after a hand-off).
	AboutTier int `json:"aboutTier,omitempty"`
	// Recipient and Channel name the page a step is about, if one.
	Recipient string `json:"recipient,omitempty"`
	Channel   string `json:"channel,omitempty"`
}

// PlanResult says whom a tier pages and how. PlanPages takes a PageRequest.
type PlanResult struct {
	PageResult
	// Deliveries are the pages to send: one per person and channel.
	Deliveries []Delivery `json:"deliveries,omitempty"`
}

// Delivery is one page to one person on one channel.
type Delivery struct {
	Subject string `json:"subject"`
	Channel string `json:"channel"`
}

// DeliverRequest asks the Deliver activity to send one page. It carries
// what the page says, not where it goes: the address is read from the
// directory when it is sent, so webhook URLs stay out of workflow histories.
type DeliverRequest struct {
	EscalationID string `json:"escalationId"`
	Tier         int    `json:"tier"`
	TierName     string `json:"tierName"`
	Round        int    `json:"round"`
	Reminder     bool   `json:"reminder,omitempty"`
	Subject      string `json:"subject"`
	Channel      string `json:"channel"`
	Site         string `json:"site,omitempty"`
	SiteName     string `json:"siteName,omitempty"`
	Region       string `json:"region"`
	Level        string `json:"level,omitempty"`
	Posture      string `json:"posture,omitempty"`
	Note         string `json:"note,omitempty"`
	// MaxAttempts is the retry policy's, so a failure can say how many
	// attempts are left.
	MaxAttempts int `json:"maxAttempts"`
}

// IdempotencyKey names one page: escalation, tier, round, person, channel.
func (r DeliverRequest) IdempotencyKey() string {
	return fmt.Sprintf("%s:tier%d:round%d:%s:%s", r.EscalationID, r.Tier, r.Round, r.Subject, r.Channel)
}

// DeliverResult says what the Deliver activity did.
type DeliverResult struct {
	// Skipped: the escalation was acknowledged or resolved before the page
	// went out, so it was not sent.
	Skipped bool `json:"skipped,omitempty"`
	// AlreadySent: an earlier attempt sent and recorded it.
	AlreadySent bool `json:"alreadySent,omitempty"`
}

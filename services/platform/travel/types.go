// Package travel keeps trips (a traveller's ordered segments), scores their
// risk with reasons from the advisories and from incidents near each
// segment, asks for approval where the risk needs it, re-assesses trips when
// the world changes, and answers the duty-of-care question: who of ours is
// where, right now.
package travel

import (
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Trip statuses.
const (
	StatusDraft           = "DRAFT"
	StatusPendingApproval = "PENDING_APPROVAL"
	StatusApproved        = "APPROVED"
	StatusRejected        = "REJECTED"
	StatusCancelled       = "CANCELLED"
)

// Segment kinds.
var SegmentKinds = []string{"FLIGHT", "RAIL", "HOTEL", "GROUND", "MEETING", "OTHER"}

// Reason kinds.
const (
	ReasonAdvisory     = "ADVISORY"
	ReasonAreaAdvisory = "AREA_ADVISORY"
	ReasonOverride     = "OVERRIDE"
	ReasonIncident     = "INCIDENT"
)

// ApprovalLevel is the risk level from which a trip needs approval; at
// GlobalLeadLevel only a global lead may decide.
const (
	ApprovalLevel   = 3
	GlobalLeadLevel = 4
)

// Place is where a segment happens (a flight's: where it lands).
type Place struct {
	City        string   `json:"city"`
	CountryCode string   `json:"countryCode"`
	Latitude    *float64 `json:"latitude,omitempty"`
	Longitude   *float64 `json:"longitude,omitempty"`
}

// Reason is one thing that raised a segment's risk, in words a person can
// read ("UK FCDO: advise against all but essential travel to the Sinai").
type Reason struct {
	Kind      string    `json:"kind"`
	Level     int       `json:"level"`
	Source    string    `json:"source"` // US_STATE …, OVERRIDE, or the incident's id
	Text      string    `json:"text"`
	SegmentID uuid.UUID `json:"segmentId"`
}

// Risk is a level with its reasons; a trip's level is its highest segment's.
type Risk struct {
	Level   int      `json:"level"`
	Reasons []Reason `json:"reasons"`
}

// SegmentInput is a new segment as the travel team or an itinerary gives it.
type SegmentInput struct {
	Kind     string
	StartsAt time.Time
	EndsAt   time.Time
	Timezone string // IANA, for example Africa/Nairobi
	Place    Place
	From, To *Place // flights and rail
}

// Segment is one stored leg of a trip.
type Segment struct {
	ID       uuid.UUID `json:"id"`
	TripID   uuid.UUID `json:"tripId"`
	Position int       `json:"position"`
	Kind     string    `json:"kind"`
	StartsAt time.Time `json:"startsAt"`
	EndsAt   time.Time `json:"endsAt"`
	Timezone string    `json:"timezone"`
	Place    Place     `json:"place"`
	From     *Place    `json:"from,omitempty"`
	To       *Place    `json:"to,omitempty"`
	Risk     Risk      `json:"risk"`
}

// Approval is the state of the trip's current approval request.
type Approval struct {
	Round     int        `json:"round"`
	Status    string     `json:"status"` // PENDING, APPROVED, REJECTED, CANCELLED, NOT_REQUIRED
	Level     int        `json:"level"`
	Deadline  *time.Time `json:"deadline,omitempty"`
	DecidedBy string     `json:"decidedBy,omitempty"`
	DecidedAt *time.Time `json:"decidedAt,omitempty"`
	Note      string     `json:"note,omitempty"`
}

// Trip is a traveller's journey.
type Trip struct {
	ID         uuid.UUID  `json:"id"`
	Traveller  string     `json:"traveller"`
	Purpose    string     `json:"purpose"`
	Status     string     `json:"status"`
	StartsAt   *time.Time `json:"startsAt,omitempty"`
	EndsAt     *time.Time `json:"endsAt,omitempty"`
	Risk       Risk       `json:"risk"`
	AssessedAt *time.Time `json:"assessedAt,omitempty"`
	Approval   *Approval  `json:"approval,omitempty"` // nil until submitted
	CreatedBy  string     `json:"createdBy"`
	CreatedAt  time.Time  `json:"createdAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
}

// Step is one entry of a trip's timeline.
type Step struct {
	At    time.Time `json:"at"`
	Kind  string    `json:"kind"`
	Actor string    `json:"actor"`
	Note  string    `json:"note"`
}

// ApprovalRequested is the outbox payload (TopicTripApprovalRequested) that
// makes the relay start the approval workflow for one round.
type ApprovalRequested struct {
	TripID     uuid.UUID `json:"tripId"`
	Round      int       `json:"round"`
	Level      int       `json:"level"`
	Traveller  string    `json:"traveller"`
	Purpose    string    `json:"purpose"`
	Departure  time.Time `json:"departure"`
	Deadline   time.Time `json:"deadline"`
	WorkflowID string    `json:"workflowId"`
}

// Cancelled is the outbox payload (TopicTripCancelled) that tells a running
// approval workflow the trip is off.
type Cancelled struct {
	TripID     uuid.UUID `json:"tripId"`
	Round      int       `json:"round"`
	Actor      string    `json:"actor"`
	Note       string    `json:"note"`
	WorkflowID string    `json:"workflowId"`
}

// RiskChanged is both the outbox payload (TopicTripRiskChanged) and the
// stream event tripRiskChanged subscribers receive (RiskChanges).
type RiskChanged struct {
	TripID        uuid.UUID `json:"tripId"`
	Traveller     string    `json:"traveller"`
	Region        string    `json:"region"` // the region of the riskiest segment's country
	PreviousLevel int       `json:"previousLevel"`
	Level         int       `json:"level"`
	Reasons       []Reason  `json:"reasons"`
	Cause         string    `json:"cause"` // "advisory:KE v3", "incident:<id>", "segment added" …
	At            time.Time `json:"at"`
}

// ApprovalWorkflowID is deterministic per trip and round: a replayed outbox
// row never starts a second workflow, and a trip sent back for approval
// gets a new round.
func ApprovalWorkflowID(tripID uuid.UUID, round int) string {
	return "trip-approval-" + tripID.String() + "-" + strconv.Itoa(round)
}

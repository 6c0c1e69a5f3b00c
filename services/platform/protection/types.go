// Package protection keeps executive protection: protectees (principals)
// and their sensitive profiles, the details that keep them (leader, agents,
// window, threat level and check-in interval), movements, safe havens,
// advance notes, positions and check-ins with duress codes. It decides who
// is cleared to read what (need-to-know, see Clearance) and logs every read
// of a sensitive field. The check-in watch that notices silence is a
// Temporal workflow (workflows/protection); this package is the record it
// reads and writes.
package protection

import (
	"time"

	"github.com/google/uuid"

	"meridian.dev/platform/fault"
	"meridian.dev/platform/live"
)

// Threat levels, lowest first.
const (
	ThreatLow      = "LOW"
	ThreatStandard = "STANDARD"
	ThreatHigh     = "HIGH"
	ThreatCritical = "CRITICAL"
)

// ThreatLevels lists the levels in order; the API's enum names the same.
var ThreatLevels = []string{ThreatLow, ThreatStandard, ThreatHigh, ThreatCritical}

// DefaultInterval is the check-in interval a threat level sets unless a
// detail sets its own.
var DefaultInterval = map[string]time.Duration{
	ThreatLow:      120 * time.Minute,
	ThreatStandard: 60 * time.Minute,
	ThreatHigh:     30 * time.Minute,
	ThreatCritical: 15 * time.Minute,
}

// DefaultGrace is how long after a check-in falls due the watch waits
// before raising a missed check-in, unless the detail sets its own.
const DefaultGrace = 5 * time.Minute

// Bounds of a detail's own interval and grace. The lower bounds are low so
// that tests and the benchmark run on seconds.
const (
	MinInterval = 5 * time.Second
	MaxInterval = 24 * time.Hour
	MaxGrace    = 2 * time.Hour
)

// Detail statuses.
const (
	StatusPlanned = "PLANNED"
	StatusActive  = "ACTIVE"
	StatusEnded   = "ENDED"
)

// Movement statuses.
var MovementStatuses = []string{"PLANNED", "EN_ROUTE", "ARRIVED", "DIVERTED"}

// Safe haven kinds.
var SafeHavenKinds = []string{"HOSPITAL", "POLICE", "EMBASSY", "HOTEL", "OFFICE", "OTHER"}

// MinCodeLength is the shortest check-in or duress code accepted.
const MinCodeLength = 6

// MaxFailedCodes is how many wrong codes in a row, since the last good
// check-in, make the watch treat the detail as having missed its check-in.
const MaxFailedCodes = 3

// Incident kinds raised by protection, source type and source references.
const (
	IncidentMissedCheckIn = "MISSED_CHECK_IN"
	IncidentDuress        = "DURESS"
	SourceType            = "PROTECTION"
)

// Detail timeline kinds.
const (
	StepCreated         = "CREATED"
	StepAgentsAssigned  = "AGENTS_ASSIGNED"
	StepStarted         = "STARTED"
	StepEnded           = "ENDED"
	StepThreatLevel     = "THREAT_LEVEL_CHANGED"
	StepMovementAdded   = "MOVEMENT_ADDED"
	StepMovementUpdated = "MOVEMENT_UPDATED"
	StepSafeHavenAdded  = "SAFE_HAVEN_ADDED"
	StepAdvanceNote     = "ADVANCE_NOTE_ADDED"
	StepCheckedIn       = "CHECKED_IN"
	StepReminded        = "CHECK_IN_REMINDED"
	StepMissed          = "CHECK_IN_MISSED"
	StepRecovered       = "CHECK_IN_RECOVERED"
	StepCodeRefused     = "CHECK_IN_CODE_REFUSED"
	StepNearIncident    = "NEAR_INCIDENT"
)

// Sensitive field names, as maskedFields and the access log name them.
const (
	FieldProfile            = "profile"
	FieldLastPosition       = "lastPosition"
	FieldLastCheckInPos     = "lastCheckIn.position"
	FieldCheckInPositions   = "checkIns.position"
	FieldMovementPlaces     = "movements.places"
	FieldMovementTimes      = "movements.times"
	FieldMovementRouteNotes = "movements.routeNotes"
	FieldSafeHavenNotes     = "safeHavens.notes"
	FieldAdvanceNotes       = "advanceNotes.text"
	// FieldTimelineNotes: a timeline step's note says what changed in
	// words (a movement's status at the moment it changed, an incident
	// "nearby"), which together give away times and places masked
	// elsewhere.
	FieldTimelineNotes     = "timeline.note"
	FieldNearestSafeHavens = "nearestSafeHavens"
	FieldAffectedDistance  = "affected.distanceKm"
)

// Errors of the protection domain.
var (
	ErrProtecteeNotFound = fault.New(fault.NotFound, "protectee not found")
	ErrDetailNotFound    = fault.New(fault.NotFound, "detail not found")
	ErrMovementNotFound  = fault.New(fault.NotFound, "movement not found")
	ErrNotActive         = fault.New(fault.Conflict, "the detail is not active")
	ErrNotOnDetail       = fault.New(fault.Forbidden, "you are not an agent of this detail")
	ErrWrongCode         = fault.Invalid("code", "the check-in code was refused")
	ErrNoCodes           = fault.Invalid("code", "set your check-in codes first (setCheckInCodes)")
	ErrNotCleared        = fault.New(fault.Forbidden, "you are not cleared for this protectee (need-to-know)")
)

// Profile is a protectee's sensitive profile, stored whole.
type Profile struct {
	HomeAddress       string             `json:"homeAddress,omitempty"`
	Medical           *Medical           `json:"medical,omitempty"`
	EmergencyContacts []EmergencyContact `json:"emergencyContacts,omitempty"`
	Vehicles          []Vehicle          `json:"vehicles,omitempty"`
	PhotoRef          string             `json:"photoRef,omitempty"`
}

// Medical notes.
type Medical struct {
	BloodType  string   `json:"bloodType,omitempty"`
	Allergies  []string `json:"allergies,omitempty"`
	Conditions []string `json:"conditions,omitempty"`
}

// EmergencyContact is someone to call.
type EmergencyContact struct {
	Name     string `json:"name"`
	Phone    string `json:"phone"`
	Relation string `json:"relation"`
}

// Vehicle is one the protectee uses.
type Vehicle struct {
	Plate       string `json:"plate"`
	Description string `json:"description,omitempty"`
}

// Protectee is a principal.
type Protectee struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Title       string    `json:"title"`
	ThreatLevel string    `json:"threatLevel"`
	// Profile is what the store read; the gateway shows it only to cleared
	// callers. Audit rows never carry it (see AuditView).
	Profile   Profile   `json:"-"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// NewProtectee is createProtectee's input.
type NewProtectee struct {
	Name, Title, ThreatLevel string
	Profile                  Profile
	ClientMutationID         string
}

// Point is a place on the globe.
type Point struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// Position is a reported position.
type Position struct {
	Point
	At time.Time `json:"at"`
}

// CheckInRef is the last check-in as a detail shows it.
type CheckInRef struct {
	At       time.Time `json:"at"`
	By       string    `json:"by"`
	Position *Point    `json:"position,omitempty"`
}

// Detail is a protection detail.
type Detail struct {
	ID             uuid.UUID     `json:"id"`
	ProtecteeID    uuid.UUID     `json:"protecteeId"`
	Region         string        `json:"region"`
	Leader         string        `json:"leader"`
	Agents         []string      `json:"agents"`
	Status         string        `json:"status"`
	StartsAt       time.Time     `json:"startsAt"`
	EndsAt         time.Time     `json:"endsAt"`
	ThreatLevel    string        `json:"threatLevel"`
	Interval       time.Duration `json:"interval"`
	CustomInterval bool          `json:"customInterval"`
	Grace          time.Duration `json:"grace"`
	LastCheckIn    *CheckInRef   `json:"lastCheckIn,omitempty"`
	NextDue        *time.Time    `json:"nextDue,omitempty"`
	// LastPosition is Postgres's copy; Positions.Last reads the live one.
	LastPosition *Position  `json:"lastPosition,omitempty"`
	FailedCodes  int        `json:"failedCodes"`
	WorkflowID   string     `json:"workflowId"`
	CreatedBy    string     `json:"createdBy"`
	CreatedAt    time.Time  `json:"createdAt"`
	StartedAt    *time.Time `json:"startedAt,omitempty"`
	EndedAt      *time.Time `json:"endedAt,omitempty"`
}

// WatchWorkflowID is the deterministic ID of a detail's check-in watch.
func WatchWorkflowID(detailID uuid.UUID) string { return "checkin-watch-" + detailID.String() }

// NewDetail is createDetail's input.
type NewDetail struct {
	ProtecteeID      uuid.UUID
	Region           string
	Leader           string
	Agents           []string
	StartsAt, EndsAt time.Time
	ThreatLevel      string         // "": the protectee's
	Interval         *time.Duration // nil: the threat level's
	Grace            *time.Duration // nil: DefaultGrace
	ClientMutationID string
}

// Place is a city, an ISO country and coordinates.
type Place struct {
	City        string  `json:"city"`
	CountryCode string  `json:"countryCode"`
	Latitude    float64 `json:"latitude"`
	Longitude   float64 `json:"longitude"`
}

// Movement is one leg of the plan.
type Movement struct {
	ID               uuid.UUID  `json:"id"`
	DetailID         uuid.UUID  `json:"detailId"`
	Seq              int        `json:"seq"`
	From             Place      `json:"from"`
	To               Place      `json:"to"`
	PlannedDeparture time.Time  `json:"plannedDeparture"`
	PlannedArrival   time.Time  `json:"plannedArrival"`
	ActualDeparture  *time.Time `json:"actualDeparture,omitempty"`
	ActualArrival    *time.Time `json:"actualArrival,omitempty"`
	DepartureZone    string     `json:"departureTimezone"`
	ArrivalZone      string     `json:"arrivalTimezone"`
	Vehicle          string     `json:"vehicle"`
	RouteNotes       string     `json:"routeNotes"`
	Status           string     `json:"status"`
}

// NewMovement is addMovement's input.
type NewMovement struct {
	DetailID                         uuid.UUID
	From, To                         Place
	PlannedDeparture, PlannedArrival time.Time
	DepartureZone, ArrivalZone       string
	Vehicle, RouteNotes              string
}

// MovementChange is updateMovement's input: nil leaves a field as it is.
type MovementChange struct {
	MovementID                       uuid.UUID
	Status                           *string
	PlannedDeparture, PlannedArrival *time.Time
	ActualDeparture, ActualArrival   *time.Time
	Vehicle, RouteNotes              *string
}

// SafeHaven is a place to run to.
type SafeHaven struct {
	ID        uuid.UUID `json:"id"`
	DetailID  uuid.UUID `json:"detailId"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	Place     Place     `json:"place"`
	Phone     string    `json:"phone"`
	Notes     string    `json:"notes"`
	CreatedBy string    `json:"createdBy"`
}

// NewSafeHaven is addSafeHaven's input.
type NewSafeHaven struct {
	DetailID     uuid.UUID
	Kind, Name   string
	Place        Place
	Phone, Notes string
}

// NearbySafeHaven is a haven with its distance from the last position.
type NearbySafeHaven struct {
	SafeHaven  SafeHaven
	DistanceKm float64
}

// AdvanceNote is a dated note from the advance team.
type AdvanceNote struct {
	ID         uuid.UUID  `json:"id"`
	DetailID   uuid.UUID  `json:"detailId"`
	MovementID *uuid.UUID `json:"movementId,omitempty"`
	Place      string     `json:"place"`
	NotedFor   time.Time  `json:"notedFor"`
	Note       string     `json:"note"`
	CreatedBy  string     `json:"createdBy"`
	CreatedAt  time.Time  `json:"createdAt"`
}

// NewAdvanceNote is addAdvanceNote's input.
type NewAdvanceNote struct {
	DetailID   uuid.UUID
	MovementID *uuid.UUID
	Place      string
	NotedFor   time.Time
	Note       string
}

// CheckIn is one stored check-in. A duress check-in is stored exactly like
// an ordinary one.
type CheckIn struct {
	ID       uuid.UUID `json:"id"`
	DetailID uuid.UUID `json:"detailId"`
	Agent    string    `json:"agent"`
	At       time.Time `json:"at"`
	Position *Point    `json:"position,omitempty"`
	Note     string    `json:"note"`
	NextDue  time.Time `json:"nextDue"`
}

// CheckInInput is checkIn's input.
type CheckInInput struct {
	DetailID         uuid.UUID
	Code             string
	Position         *Point
	Note             string
	ClientMutationID string
}

// Receipt is what a check-in answers: the same for an ordinary and a
// duress code.
type Receipt struct {
	At      time.Time `json:"at"`
	NextDue time.Time `json:"nextDue"`
}

// Step is one entry of a detail's timeline.
type Step struct {
	At    time.Time `json:"at"`
	Kind  string    `json:"kind"`
	Actor string    `json:"actor"`
	Note  string    `json:"note"`
}

// Access is one entry of the access log.
type Access struct {
	ID          int64      `json:"id"`
	At          time.Time  `json:"at"`
	Actor       string     `json:"actor"`
	ProtecteeID uuid.UUID  `json:"protecteeId"`
	DetailID    *uuid.UUID `json:"detailId,omitempty"`
	Fields      []string   `json:"fields"`
	TraceID     string     `json:"traceId"`
}

// Outbox topics of the protection domain (the relay handles them).
const (
	// TopicDetailChanged carries a DetailChanged: streamed to detailUpdated.
	TopicDetailChanged = "protection.detail_changed"
	// TopicWatch carries a WatchCommand: start, stop, re-time or alert a
	// detail's check-in watch, or (a CHECKED_IN carrying a Duress) raise
	// the restricted DURESS incident of a check-in.
	TopicWatch = "protection.watch"
)

// Detail event kinds on the stream (the API's DetailEventKind).
const (
	EventCheckIn       = "CHECK_IN"
	EventCheckInMissed = "CHECK_IN_MISSED"
	EventPosition      = "POSITION"
	EventMovement      = "MOVEMENT"
	EventThreatLevel   = "THREAT_LEVEL"
	EventStatus        = "STATUS"
	EventAgents        = "AGENTS"
	EventSafeHaven     = "SAFE_HAVEN"
	EventAdvanceNote   = "ADVANCE_NOTE"
)

// DetailChanged is one change of a detail, as detailUpdated streams it. It
// names the change, not its content: a subscriber's resolver reads the
// detail under the subscriber's own clearance.
type DetailChanged struct {
	DetailID uuid.UUID `json:"detailId"`
	Kind     string    `json:"kind"`
	At       time.Time `json:"at"`
}

// DetailUpdates is the stream kind of DetailChanged; its "region" is the
// detail, so a subscription to one detail sees only that detail's events.
var DetailUpdates = live.Kind[DetailChanged]{
	Name:   "protection.detail",
	Region: func(e DetailChanged) string { return DetailStreamKey(e.DetailID) },
}

// DetailStreamKey is what DetailUpdates files a detail's events under.
func DetailStreamKey(id uuid.UUID) string { return "detail:" + id.String() }

// Watch commands.
const (
	WatchStart     = "START"
	WatchStop      = "STOP"
	WatchRetime    = "RETIME"     // the threat level or the interval changed
	WatchCheckedIn = "CHECKED_IN" // a good check-in: the interval restarts
	WatchCodesFail = "CODES_FAILED"
)

// WatchCommand tells the relay to act on a detail's watch.
type WatchCommand struct {
	DetailID uuid.UUID     `json:"detailId"`
	Command  string        `json:"command"`
	At       time.Time     `json:"at"`
	Interval time.Duration `json:"interval,omitempty"`
	Grace    time.Duration `json:"grace,omitempty"`
	Actor    string        `json:"actor,omitempty"`
	// Duress is set on the CHECKED_IN of a duress check-in only. It rides
	// the row every good check-in writes, so that a duress check-in writes
	// nothing an ordinary one does not (no extra row, INSERT, span or
	// metric to tell it by), and the relay raises its incident before it
	// signals the watch, not behind it.
	Duress *Duress `json:"duress,omitempty"`
}

// Duress is a duress check-in, for the relay to raise its incident.
// Position is the check-in's own, nil when the agent sent none: RaiseDuress
// then falls back to the detail's last known position, with its own time.
type Duress struct {
	CheckInID uuid.UUID `json:"checkInId"`
	DetailID  uuid.UUID `json:"detailId"`
	Agent     string    `json:"agent"`
	At        time.Time `json:"at"`
	Position  *Point    `json:"position,omitempty"`
}

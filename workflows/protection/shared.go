// Package protection is the check-in watch: one workflow per active
// protection detail (ID protection.WatchWorkflowID), started by the relay
// when the detail becomes ACTIVE and ended when it ends. At each due time it
// reminds the detail's agents; if no check-in arrives within the grace
// period it raises a MISSED_CHECK_IN incident through the escalation engine
// (the detail's leader, then the region's on-call, then the global leads),
// and goes on watching: a later check-in records the recovery and restarts
// the interval. Postgres is the record, signals are the fast path: every
// activity re-reads the detail before it reminds or raises anything.
package protection

import (
	"time"

	"github.com/google/uuid"

	wfescalation "meridian.dev/workflows/escalation"
)

// TaskQueue is the escalation workflows' queue: one worker polls all.
const TaskQueue = wfescalation.TaskQueue

// WorkflowName is the registered name of Watch.
const WorkflowName = "CheckInWatch"

// Signals.
const (
	// SignalCheckedIn carries a CheckedIn: a good check-in (ordinary or
	// duress: the watch cannot tell them apart either).
	SignalCheckedIn = "checked-in"
	// SignalRetime carries a Retime: the threat level or the interval
	// changed; the next due time moves at once.
	SignalRetime = "retime"
	// SignalCodesFailed carries a CodesFailed: too many wrong codes; the
	// watch treats it as a missed check-in now.
	SignalCodesFailed = "codes-failed"
	// SignalStop carries a Stop: the detail ended.
	SignalStop = "stop"
)

// QueryState returns the watch's State.
const QueryState = "state"

// Activity names, registered explicitly so renaming Go methods never
// orphans running watches. Go method names must also differ from every
// other activity's on the shared worker (the SDK registers by method name
// too).
const (
	ActivityRemind   = "ProtectionRemind"
	ActivityMissed   = "ProtectionRaiseMissed"
	ActivityRecovery = "ProtectionRecordRecovery"
)

// Input starts a watch.
type Input struct {
	DetailID uuid.UUID     `json:"detailId"`
	Interval time.Duration `json:"interval"`
	Grace    time.Duration `json:"grace"`
	// From is when the first interval starts (the detail's start, or the
	// last check-in carried over by continue-as-new).
	From time.Time `json:"from"`
	// TierWait is each tier's wait in a missed check-in's policy.
	TierWait time.Duration `json:"tierWait"`
	// OpenIncident is a missed check-in not yet recovered, carried over by
	// continue-as-new.
	OpenIncident *uuid.UUID `json:"openIncident,omitempty"`
	// NextDue is the next check-in due, carried over by continue-as-new;
	// zero means From + Interval. After a missed check-in the dues go on
	// every interval from the missed one, no longer from the last check-in.
	NextDue time.Time `json:"nextDue,omitzero"`
	// Reminders and Missed carry State's counts over continue-as-new.
	Reminders int `json:"reminders,omitempty"`
	Missed    int `json:"missed,omitempty"`
}

// CheckedIn is SignalCheckedIn's payload.
type CheckedIn struct {
	At time.Time `json:"at"`
	By string    `json:"by"`
}

// Retime is SignalRetime's payload.
type Retime struct {
	Interval time.Duration `json:"interval"`
	Grace    time.Duration `json:"grace"`
}

// CodesFailed is SignalCodesFailed's payload.
type CodesFailed struct {
	At time.Time `json:"at"`
}

// Stop is SignalStop's payload.
type Stop struct {
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
}

// State is the watch's view, the query's answer.
type State struct {
	Interval     time.Duration `json:"interval"`
	Grace        time.Duration `json:"grace"`
	LastCheckIn  time.Time     `json:"lastCheckIn"`
	NextDue      time.Time     `json:"nextDue"`
	Reminders    int           `json:"reminders"`
	Missed       int           `json:"missed"`
	OpenIncident *uuid.UUID    `json:"openIncident,omitempty"`
	Stopped      bool          `json:"stopped"`
}

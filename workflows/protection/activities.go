package protection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"meridian.dev/platform/directory"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/protection"
)

// Store is what the activities need of the protection store
// (*protection.Store).
type Store interface {
	WatchState(ctx context.Context, detailID uuid.UUID) (protection.WatchState, error)
	Detail(ctx context.Context, id uuid.UUID) (protection.Detail, error)
	ProtecteesByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]protection.Protectee, error)
	RecordStep(ctx context.Context, detailID uuid.UUID, step protection.Step, dedupeKey, event string) error
	RaiseMissed(ctx context.Context, m protection.Missed) (protection.MissedResult, error)
	RecordRecovery(ctx context.Context, detailID, incidentID uuid.UUID, at time.Time, by string) error
}

// Directory is who can be paged (*directory.Store).
type Directory interface {
	People(ctx context.Context, subjects []string) ([]directory.Person, error)
	ContactsOf(ctx context.Context, subjects []string) (map[string]directory.Contacts, error)
}

// Pager tells people through their own channels (*notify.Sender).
type Pager interface {
	Tell(ctx context.Context, people []directory.Person, contacts map[string]directory.Contacts,
		page func(p directory.Person, channel string) notify.Page) notify.Told
}

// The worker passes the real ones: a change to their signatures must fail
// here, not at the worker's start.
var (
	_ Store     = (*protection.Store)(nil)
	_ Directory = (*directory.Store)(nil)
	_ Pager     = (*notify.Sender)(nil)
)

// Activities holds the dependencies of the watch's activities.
type Activities struct {
	Store     Store
	Directory Directory
	Sender    Pager
	Log       *slog.Logger
}

func (a *Activities) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// RemindRequest asks Remind to remind a detail of the check-in due at Due.
type RemindRequest struct {
	DetailID uuid.UUID `json:"detailId"`
	Due      time.Time `json:"due"`
	// Last is the watch's last check-in: Postgres holding a later one means
	// its signal has not arrived.
	Last time.Time `json:"last"`
}

// RemindResult says what Remind found and did.
type RemindResult struct {
	// CheckedIn is Postgres's last check-in when it is later than the
	// watch's: nobody was reminded.
	CheckedIn *time.Time `json:"checkedIn,omitempty"`
	By        string     `json:"by,omitempty"`
	// Ended: the detail ended (or is gone); nobody was reminded.
	Ended bool `json:"ended,omitempty"`
	// Interval and Grace are Postgres's, which the watch adopts.
	Interval time.Duration `json:"interval,omitempty"`
	Grace    time.Duration `json:"grace,omitempty"`
	// Sent counts the pages that went out.
	Sent int `json:"sent,omitempty"`
}

// RecoveryRequest asks RecordRecovery to note a check-in after a missed one.
type RecoveryRequest struct {
	DetailID   uuid.UUID `json:"detailId"`
	IncidentID uuid.UUID `json:"incidentId"`
	At         time.Time `json:"at"`
	By         string    `json:"by,omitempty"`
}

// The activities' Go method names differ from every other package's on the
// shared worker (register_test.go): the SDK also registers by method name.

// RemindCheckIn reminds a detail's leader and agents that a check-in is
// due, each on every channel they have an address of their own on (else
// the organisation's webhook), and records CHECK_IN_REMINDED once per due
// time. Postgres is read first: a later check-in, or the detail's end,
// whose signal has not reached the watch, means nobody is reminded.
//
// A channel that fails does not fail the activity; every send failing
// does, after noting it on the timeline, so the retry reaches someone.
// Each page's idempotency key (checkin-remind:<detail>:<due>:<person>:
// <channel>) lets a receiver drop the copies a retry sends again.
func (a *Activities) RemindCheckIn(ctx context.Context, req RemindRequest) (RemindResult, error) {
	ws, err := a.Store.WatchState(ctx, req.DetailID)
	if fault.CodeOf(err) == fault.NotFound {
		a.log().WarnContext(ctx, "check-in watch of a detail that does not exist", "detail", req.DetailID)
		return RemindResult{Ended: true}, nil
	}
	if err != nil {
		return RemindResult{}, fmt.Errorf("remind: %w", err)
	}
	res := RemindResult{Interval: ws.Interval, Grace: ws.Grace}
	switch {
	case ws.Status == protection.StatusEnded:
		return RemindResult{Ended: true}, nil
	case ws.LastCheckIn != nil && ws.LastCheckIn.After(req.Last):
		res.CheckedIn, res.By = ws.LastCheckIn, a.checkedInBy(ctx, req.DetailID, *ws.LastCheckIn)
		return res, nil
	}
	title, err := a.title(ctx, req.DetailID)
	if err != nil {
		return RemindResult{}, fmt.Errorf("remind: %w", err)
	}
	res.Sent, err = a.remind(ctx, ws, req.Due, title)
	return res, err
}

// remind pages everyone on the detail and records the step; see
// RemindCheckIn.
func (a *Activities) remind(ctx context.Context, ws protection.WatchState, due time.Time, title string) (int, error) {
	subjects := onDetail(ws)
	people, err := a.Directory.People(ctx, subjects)
	if err != nil {
		return 0, fmt.Errorf("remind: %w", err)
	}
	contacts, err := a.Directory.ContactsOf(ctx, subjects)
	if err != nil {
		return 0, fmt.Errorf("remind: %w", err)
	}
	note := fmt.Sprintf("A check-in was due at %s. Without one by %s a missed check-in is raised and escalated.",
		when(due), when(due.Add(ws.Grace)))
	told := a.Sender.Tell(ctx, people, contacts, func(p directory.Person, channel string) notify.Page {
		return notify.Page{
			IdempotencyKey: fmt.Sprintf("checkin-remind:%s:%d:%s:%s", ws.DetailID, due.Unix(), p.Subject, channel),
			Site:           ws.DetailID.String(), SiteName: title, Region: ws.Region,
			Level: "CHECK-IN DUE", TierName: roleOn(ws, p.Subject), Note: note,
			Recipients: []directory.Person{p}, SentAt: time.Now().UTC(),
			Topic: "protection", Headline: "Check-in due: " + title, Action: "Check in now",
		}
	})
	failures := told.Failures
	for _, s := range subjects {
		if !slices.ContainsFunc(people, func(p directory.Person) bool { return p.Subject == s }) {
			failures = append(failures, fmt.Errorf("%s: not in the directory", s))
		}
	}
	for _, err := range failures {
		a.log().WarnContext(ctx, "check-in reminder not delivered", "detail", ws.DetailID, "due", due, "err", err)
	}
	step := protection.Step{At: time.Now().UTC(), Kind: protection.StepReminded, Actor: protection.SystemActor}
	key := fmt.Sprintf("remind:%s:%d", ws.DetailID, due.Unix())
	if told.Sent == 0 {
		step.Note = note + " Nobody could be reached: " + joinErrors(failures) + "."
		if len(failures) == 0 {
			step.Note = note + " The detail has nobody to remind."
		}
		// Its own key: the step of a retry that gets through still lands.
		if err := a.Store.RecordStep(ctx, ws.DetailID, step, key+":unreached", ""); err != nil {
			return 0, fmt.Errorf("remind: record: %w", err)
		}
		if len(failures) == 0 {
			return 0, nil // nobody to page: retrying cannot help
		}
		return 0, fmt.Errorf("remind: nobody on detail %s could be reached: %w", ws.DetailID, errors.Join(failures...))
	}
	step.Note = fmt.Sprintf("%s Paged %s: %d sent.", note, strings.Join(subjectsOf(people), ", "), told.Sent)
	if len(failures) > 0 {
		step.Note += " Not delivered: " + joinErrors(failures) + "."
	}
	if err := a.Store.RecordStep(ctx, ws.DetailID, step, key, ""); err != nil {
		return told.Sent, fmt.Errorf("remind: record: %w", err)
	}
	return told.Sent, nil
}

// title names the detail in a page: by its protectee, whom everyone paged
// is cleared for.
func (a *Activities) title(ctx context.Context, detailID uuid.UUID) (string, error) {
	d, err := a.Store.Detail(ctx, detailID)
	if err != nil {
		return "", err
	}
	ps, err := a.Store.ProtecteesByID(ctx, []uuid.UUID{d.ProtecteeID})
	if err != nil {
		return "", err
	}
	if p, ok := ps[d.ProtecteeID]; ok && p.Name != "" {
		return "detail of " + p.Name, nil
	}
	return "detail " + detailID.String(), nil
}

// checkedInBy is who made the check-in at at, for the recovery's note; ""
// when Postgres no longer says (a later one came meanwhile).
func (a *Activities) checkedInBy(ctx context.Context, detailID uuid.UUID, at time.Time) string {
	d, err := a.Store.Detail(ctx, detailID)
	if err != nil || d.LastCheckIn == nil || !d.LastCheckIn.At.Equal(at) {
		return ""
	}
	return d.LastCheckIn.By
}

// RaiseMissedCheckIn raises a missed check-in (the store's RaiseMissed:
// once per detail and due time, nothing when Postgres shows a check-in
// since or the detail ended). Failures are retried until Postgres answers.
func (a *Activities) RaiseMissedCheckIn(ctx context.Context, m protection.Missed) (protection.MissedResult, error) {
	res, err := a.Store.RaiseMissed(ctx, m)
	if fault.CodeOf(err) == fault.NotFound {
		a.log().WarnContext(ctx, "missed check-in of a detail that does not exist", "detail", m.DetailID)
		return protection.MissedResult{Ended: true}, nil
	}
	if err != nil {
		return protection.MissedResult{}, fmt.Errorf("raise missed check-in: %w", err)
	}
	return res, nil
}

// RecordCheckInRecovery notes a check-in after a missed one on the incident
// and the detail (once per incident).
func (a *Activities) RecordCheckInRecovery(ctx context.Context, req RecoveryRequest) error {
	err := a.Store.RecordRecovery(ctx, req.DetailID, req.IncidentID, req.At, req.By)
	if fault.CodeOf(err) == fault.NotFound {
		a.log().WarnContext(ctx, "recovery of a missed check-in that does not exist", "detail", req.DetailID, "incident", req.IncidentID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record recovery: %w", err)
	}
	return nil
}

// onDetail is the detail's leader and agents, each once, leader first.
func onDetail(ws protection.WatchState) []string {
	var out []string
	for _, s := range append([]string{ws.Leader}, ws.Agents...) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func roleOn(ws protection.WatchState, subject string) string {
	if subject == ws.Leader {
		return "detail leader"
	}
	return "detail agent"
}

func subjectsOf(people []directory.Person) []string {
	out := make([]string, len(people))
	for i, p := range people {
		out[i] = p.Subject
	}
	return out
}

func joinErrors(errs []error) string {
	parts := make([]string, len(errs))
	for i, err := range errs {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

// when formats a time for people, in UTC, to the second: intervals may be
// seconds long in tests and the benchmark.
func when(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 MST")
}

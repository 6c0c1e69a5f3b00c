package protection

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"meridian.dev/platform/directory"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/protection"
)

// In-memory stand-ins for the protection store, the directory and the
// pager, keeping the promises the real ones make that the activities rely
// on: a step once per dedupe key, a missed check-in once per (detail, due)
// and never after a check-in since the due time (or since the watch's last)
// or the detail's end, no new incident while the open one is unresolved, a
// recovery once per incident. The real store's own tests check that it
// keeps them.

type fakeStep struct {
	Detail uuid.UUID
	Step   protection.Step
	Key    string
}

type fakeRecovery struct {
	Detail, Incident uuid.UUID
	At               time.Time
	By               string
}

type fakeStore struct {
	mu         sync.Mutex
	watch      map[uuid.UUID]protection.WatchState
	details    map[uuid.UUID]protection.Detail
	protectees map[uuid.UUID]protection.Protectee
	steps      []fakeStep
	incidents  map[string]uuid.UUID // by detail and due
	raised     []protection.Missed  // every raise that opened an incident
	asked      []protection.Missed  // every RaiseMissed call
	// resolved: incidents whose escalations people have all resolved; any
	// other incident raised here is still open.
	resolved   map[uuid.UUID]bool
	recoveries map[uuid.UUID]fakeRecovery
	// fail, when set, is every call's answer.
	fail error
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		watch: map[uuid.UUID]protection.WatchState{}, details: map[uuid.UUID]protection.Detail{},
		protectees: map[uuid.UUID]protection.Protectee{}, incidents: map[string]uuid.UUID{},
		resolved: map[uuid.UUID]bool{}, recoveries: map[uuid.UUID]fakeRecovery{},
	}
}

// addDetail files an ACTIVE detail of a protectee called name.
func (s *fakeStore) addDetail(name, leader string, agents []string, every, grace time.Duration) uuid.UUID {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, pid := uuid.New(), uuid.New()
	s.protectees[pid] = protection.Protectee{ID: pid, Name: name}
	s.details[id] = protection.Detail{ID: id, ProtecteeID: pid, Region: "EMEA", Leader: leader, Agents: agents, Status: protection.StatusActive}
	s.watch[id] = protection.WatchState{DetailID: id, Status: protection.StatusActive, Region: "EMEA", Leader: leader, Agents: agents,
		Interval: every, Grace: grace}
	return id
}

// checkIn records a check-in in "Postgres" (without telling the watch).
func (s *fakeStore) checkIn(id uuid.UUID, at time.Time, by string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.watch[id]
	ws.LastCheckIn = &at
	s.watch[id] = ws
	d := s.details[id]
	d.LastCheckIn = &protection.CheckInRef{At: at, By: by}
	s.details[id] = d
}

// retime sets a detail's interval and grace (without telling the watch).
func (s *fakeStore) retime(id uuid.UUID, every, grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.watch[id]
	ws.Interval, ws.Grace = every, grace
	s.watch[id] = ws
}

func (s *fakeStore) end(id uuid.UUID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.watch[id]
	ws.Status = protection.StatusEnded
	s.watch[id] = ws
}

// resolve marks an incident as resolved by people: a silence that goes on
// after it is a new incident.
func (s *fakeStore) resolve(id uuid.UUID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resolved[id] = true
}

func (s *fakeStore) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

func (s *fakeStore) stepsOf(kind string) []fakeStep {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []fakeStep
	for _, st := range s.steps {
		if st.Step.Kind == kind {
			out = append(out, st)
		}
	}
	return out
}

func (s *fakeStore) raises() []protection.Missed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.raised)
}

// asks returns every RaiseMissed call, those that raised nothing new too.
func (s *fakeStore) asks() []protection.Missed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.asked)
}

func (s *fakeStore) recoveriesOf() []fakeRecovery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []fakeRecovery
	for _, r := range s.recoveries {
		out = append(out, r)
	}
	return out
}

func (s *fakeStore) WatchState(_ context.Context, id uuid.UUID) (protection.WatchState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return protection.WatchState{}, s.fail
	}
	ws, ok := s.watch[id]
	if !ok {
		return protection.WatchState{}, protection.ErrDetailNotFound
	}
	return ws, nil
}

func (s *fakeStore) Detail(_ context.Context, id uuid.UUID) (protection.Detail, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return protection.Detail{}, s.fail
	}
	d, ok := s.details[id]
	if !ok {
		return protection.Detail{}, protection.ErrDetailNotFound
	}
	return d, nil
}

func (s *fakeStore) ProtecteesByID(_ context.Context, ids []uuid.UUID) (map[uuid.UUID]protection.Protectee, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	out := map[uuid.UUID]protection.Protectee{}
	for _, id := range ids {
		if p, ok := s.protectees[id]; ok {
			out[id] = p
		}
	}
	return out, nil
}

func (s *fakeStore) RecordStep(_ context.Context, id uuid.UUID, step protection.Step, key, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.recordStep(id, step, key)
	return nil
}

func (s *fakeStore) recordStep(id uuid.UUID, step protection.Step, key string) {
	if slices.ContainsFunc(s.steps, func(st fakeStep) bool { return st.Detail == id && st.Key == key }) {
		return
	}
	s.steps = append(s.steps, fakeStep{Detail: id, Step: step, Key: key})
}

// RaiseMissed keeps the real store's order: the incident already raised
// for (detail, due) first, whatever happened since; then the detail's end,
// a check-in at or after the due time or after the watch's last; then the
// open incident while it is unresolved; else a new incident.
func (s *fakeStore) RaiseMissed(_ context.Context, m protection.Missed) (protection.MissedResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return protection.MissedResult{}, s.fail
	}
	s.asked = append(s.asked, m)
	ws, ok := s.watch[m.DetailID]
	if !ok {
		return protection.MissedResult{}, protection.ErrDetailNotFound
	}
	key := fmt.Sprintf("%s:%d", m.DetailID, m.Due.UnixMicro())
	if id, ok := s.incidents[key]; ok {
		return protection.MissedResult{IncidentID: id, Ended: ws.Status == protection.StatusEnded}, nil
	}
	switch {
	case ws.Status == protection.StatusEnded:
		return protection.MissedResult{Ended: true}, nil
	case ws.LastCheckIn != nil && (!ws.LastCheckIn.Before(m.Due) || ws.LastCheckIn.After(m.Last)):
		return protection.MissedResult{CheckedIn: ws.LastCheckIn}, nil
	case m.Open != nil && s.isRaised(*m.Open) && !s.resolved[*m.Open]:
		return protection.MissedResult{IncidentID: *m.Open}, nil
	}
	id := uuid.New()
	s.incidents[key] = id
	s.raised = append(s.raised, m)
	s.recordStep(m.DetailID, protection.Step{At: time.Now().UTC(), Kind: protection.StepMissed, Actor: "meridian", Note: m.Reason}, "missed:"+key)
	return protection.MissedResult{IncidentID: id}, nil
}

func (s *fakeStore) RecordRecovery(_ context.Context, detailID, incidentID uuid.UUID, at time.Time, by string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if !s.isRaised(incidentID) {
		return fault.New(fault.NotFound, "incident not found")
	}
	if _, ok := s.recoveries[incidentID]; !ok {
		s.recoveries[incidentID] = fakeRecovery{Detail: detailID, Incident: incidentID, At: at, By: by}
		s.recordStep(detailID, protection.Step{At: at, Kind: protection.StepRecovered, Actor: by}, "recovered:"+incidentID.String())
	}
	return nil
}

func (s *fakeStore) isRaised(incidentID uuid.UUID) bool {
	for _, id := range s.incidents {
		if id == incidentID {
			return true
		}
	}
	return false
}

// fakeDirectory knows people and how they are reached.
type fakeDirectory struct {
	people   map[string]directory.Person
	contacts map[string]directory.Contacts
}

func newFakeDirectory(people ...directory.Person) *fakeDirectory {
	d := &fakeDirectory{people: map[string]directory.Person{}, contacts: map[string]directory.Contacts{}}
	for _, p := range people {
		d.people[p.Subject] = p
		d.contacts[p.Subject] = directory.Contacts{Email: p.Subject + "@example.org", WebhookURL: "https://hooks.example.org/" + p.Subject}
	}
	return d
}

func (d *fakeDirectory) People(_ context.Context, subjects []string) ([]directory.Person, error) {
	var out []directory.Person
	for _, s := range subjects {
		if p, ok := d.people[s]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func (d *fakeDirectory) ContactsOf(_ context.Context, subjects []string) (map[string]directory.Contacts, error) {
	out := map[string]directory.Contacts{}
	for _, s := range subjects {
		if c, ok := d.contacts[s]; ok {
			out[s] = c
		}
	}
	return out, nil
}

// fakePager delivers each page on every channel the person has an address
// on, failing those named in failing ("subject:CHANNEL", or "*" for all).
type fakePager struct {
	mu      sync.Mutex
	pages   []notify.Page
	failing map[string]bool
}

func (f *fakePager) setFailing(keys ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = map[string]bool{}
	for _, k := range keys {
		f.failing[k] = true
	}
}

func (f *fakePager) sent() []notify.Page {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.pages)
}

func (f *fakePager) Tell(_ context.Context, people []directory.Person, contacts map[string]directory.Contacts,
	page func(p directory.Person, channel string) notify.Page) notify.Told {
	f.mu.Lock()
	defer f.mu.Unlock()
	var told notify.Told
	for _, p := range people {
		c := contacts[p.Subject]
		var channels []string
		if c.WebhookURL != "" {
			channels = append(channels, notify.ChannelWebhook)
		}
		if c.Email != "" {
			channels = append(channels, notify.ChannelEmail)
		}
		if len(channels) == 0 {
			told.Failures = append(told.Failures, fmt.Errorf("%s: no address on file", p.Subject))
		}
		for _, ch := range channels {
			if f.failing["*"] || f.failing[p.Subject+":"+ch] {
				told.Failures = append(told.Failures, fmt.Errorf("%s by %s: %w", p.Subject, ch, errors.New("receiver answered 503")))
				continue
			}
			pg := page(p, ch)
			pg.Channel = ch
			f.pages = append(f.pages, pg)
			told.Sent++
		}
	}
	return told
}

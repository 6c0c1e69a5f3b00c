package graph

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/protection"
	"meridian.dev/platform/travel"
)

// What a caller who is not cleared reads as null, by object type: the
// maskedFields of a masked protectee and of a masked detail. The lists are
// the same for every object of the type, so that which fields are null
// says nothing about what the record holds.
var (
	maskedProtecteeFields = []string{protection.FieldProfile}
	maskedDetailFields    = []string{
		protection.FieldLastPosition, protection.FieldLastCheckInPos, protection.FieldCheckInPositions,
		protection.FieldMovementPlaces, protection.FieldMovementTimes, protection.FieldMovementRouteNotes,
		protection.FieldSafeHavenNotes, protection.FieldAdvanceNotes, protection.FieldTimelineNotes,
	}
)

type protecteeResolver struct {
	v *view
	p protection.Protectee
}

func (x *protecteeResolver) ID() graphql.ID      { return encodeID(kindProtectee, x.p.ID) }
func (x *protecteeResolver) Name() string        { return x.p.Name }
func (x *protecteeResolver) Title() string       { return x.p.Title }
func (x *protecteeResolver) ThreatLevel() string { return x.p.ThreatLevel }

func (x *protecteeResolver) cleared(ctx context.Context) (bool, error) {
	st, err := x.v.protecteeStanding(ctx, x.p.ID)
	return st == protection.Cleared, err
}

// Profile is the protectee's sensitive profile, for cleared callers only.
func (x *protecteeResolver) Profile(ctx context.Context) (*profileResolver, error) {
	if ok, err := x.cleared(ctx); !ok || err != nil {
		return nil, err
	}
	if err := noteRead(ctx, x.p.ID, uuid.Nil, protection.FieldProfile); err != nil {
		return nil, err
	}
	return &profileResolver{x.p.Profile}, nil
}

// Details are the protectee's details the caller may see.
func (x *protecteeResolver) Details(ctx context.Context) ([]*detailResolver, error) {
	all, err := x.v.detailsOf(ctx, x.p.ID)
	if err != nil {
		return nil, err
	}
	out := []*detailResolver{}
	var seen []protection.Detail
	for _, d := range all {
		if protection.DetailStanding(x.v.id, d, all) != protection.Hidden {
			out = append(out, x.v.detailResolver(d))
			seen = append(seen, d)
		}
	}
	x.v.wantDetails(seen)
	return out, nil
}

func (x *protecteeResolver) MaskedFields(ctx context.Context) ([]string, error) {
	ok, err := x.cleared(ctx)
	if err != nil {
		return nil, err
	}
	if ok {
		return []string{}, nil
	}
	return maskedProtecteeFields, nil
}

type profileResolver struct{ p protection.Profile }

func (x *profileResolver) HomeAddress() *string { return optional(x.p.HomeAddress) }
func (x *profileResolver) PhotoRef() *string    { return optional(x.p.PhotoRef) }
func (x *profileResolver) Medical() *medicalResolver {
	if x.p.Medical == nil {
		return nil
	}
	return &medicalResolver{*x.p.Medical}
}
func (x *profileResolver) EmergencyContacts() []*contactResolver {
	out := make([]*contactResolver, len(x.p.EmergencyContacts))
	for i, c := range x.p.EmergencyContacts {
		out[i] = &contactResolver{c}
	}
	return out
}
func (x *profileResolver) Vehicles() []*vehicleResolver {
	out := make([]*vehicleResolver, len(x.p.Vehicles))
	for i, v := range x.p.Vehicles {
		out[i] = &vehicleResolver{v}
	}
	return out
}

type medicalResolver struct{ m protection.Medical }

func (x *medicalResolver) BloodType() *string   { return optional(x.m.BloodType) }
func (x *medicalResolver) Allergies() []string  { return nonNil(x.m.Allergies) }
func (x *medicalResolver) Conditions() []string { return nonNil(x.m.Conditions) }

type contactResolver struct{ c protection.EmergencyContact }

func (x *contactResolver) Name() string     { return x.c.Name }
func (x *contactResolver) Phone() string    { return x.c.Phone }
func (x *contactResolver) Relation() string { return x.c.Relation }

type vehicleResolver struct{ v protection.Vehicle }

func (x *vehicleResolver) Plate() string       { return x.v.Plate }
func (x *vehicleResolver) Description() string { return x.v.Description }

type detailResolver struct {
	v *view
	d protection.Detail
}

func (x *detailResolver) standing(ctx context.Context) (protection.Standing, error) {
	return x.v.detailStanding(ctx, x.d)
}

// reveal reports whether the caller may read field of this detail and, if
// so, notes the read: call it only with a value to return.
func (x *detailResolver) reveal(ctx context.Context, field string) (bool, error) {
	st, err := x.standing(ctx)
	if err != nil || st != protection.Cleared {
		return false, err
	}
	return true, x.noteRead(ctx, field)
}

func (x *detailResolver) noteRead(ctx context.Context, fields ...string) error {
	return noteRead(ctx, x.d.ProtecteeID, x.d.ID, fields...)
}

func (x *detailResolver) ID() graphql.ID { return encodeID(kindDetail, x.d.ID) }

// Protectee is the detail's protectee: whoever may see a detail may see
// its protectee (DetailStanding is never above ProtecteeStanding's Hidden).
func (x *detailResolver) Protectee(ctx context.Context) (*protecteeResolver, error) {
	return x.v.protectee(ctx, x.d.ProtecteeID)
}

func (x *detailResolver) Region(ctx context.Context) *regionResolver {
	return x.v.root.regions.resolver(ctx, x.d.Region)
}
func (x *detailResolver) Leader(ctx context.Context) *personResolver {
	return x.v.person(ctx, x.d.Leader)
}
func (x *detailResolver) Agents(ctx context.Context) []*personResolver {
	x.v.namesLoader().want(x.d.Agents...)
	out := make([]*personResolver, len(x.d.Agents))
	for i, a := range x.d.Agents {
		out[i] = x.v.person(ctx, a)
	}
	return out
}
func (x *detailResolver) Status() string         { return x.d.Status }
func (x *detailResolver) StartsAt() graphql.Time { return graphql.Time{Time: x.d.StartsAt} }
func (x *detailResolver) EndsAt() graphql.Time   { return graphql.Time{Time: x.d.EndsAt} }
func (x *detailResolver) ThreatLevel() string    { return x.d.ThreatLevel }
func (x *detailResolver) CheckInInterval() int32 { return int32(x.d.Interval / time.Second) }
func (x *detailResolver) GracePeriod() int32     { return int32(x.d.Grace / time.Second) }
func (x *detailResolver) NextCheckInDue() *graphql.Time {
	return optionalTime(x.d.NextDue)
}

func (x *detailResolver) LastCheckIn() *lastCheckInResolver {
	if x.d.LastCheckIn == nil {
		return nil
	}
	return &lastCheckInResolver{d: x, c: *x.d.LastCheckIn}
}

// LastPosition is the live one (Redis) when it is as new as Postgres's.
func (x *detailResolver) LastPosition(ctx context.Context) (*positionResolver, error) {
	if st, err := x.standing(ctx); err != nil || st != protection.Cleared {
		return nil, err
	}
	p, err := x.v.positionsLoader().load(ctx, x.d.ID)
	if errors.Is(err, errNoPosition) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := x.noteRead(ctx, protection.FieldLastPosition); err != nil {
		return nil, err
	}
	return &positionResolver{p}, nil
}

var errNoPosition = errors.New("no position reported")

func (v *view) positionsLoader() *loader[uuid.UUID, protection.Position] {
	return loaderFor(v.ls, "protection-positions", errNoPosition, v.root.store.LastPositions)
}

func (v *view) movementsLoader() *loader[uuid.UUID, []protection.Movement] {
	return loaderFor(v.ls, "protection-movements", nil, withEmpty(v.root.store.Movements))
}

func (v *view) havensLoader() *loader[uuid.UUID, []protection.SafeHaven] {
	return loaderFor(v.ls, "protection-havens", nil, withEmpty(v.root.store.SafeHavens))
}

func (v *view) notesLoader() *loader[uuid.UUID, []protection.AdvanceNote] {
	return loaderFor(v.ls, "protection-notes", nil, withEmpty(v.root.store.AdvanceNotes))
}

// withEmpty makes a batch read of lists answer an empty list for a key it
// found nothing for, rather than "missing".
func withEmpty[V any](fetch func(context.Context, []uuid.UUID) (map[uuid.UUID][]V, error)) func(context.Context, []uuid.UUID) (map[uuid.UUID][]V, error) {
	return func(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]V, error) {
		m, err := fetch(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if _, ok := m[id]; !ok {
				m[id] = nil
			}
		}
		return m, nil
	}
}

func (x *detailResolver) Movements(ctx context.Context) ([]*movementResolver, error) {
	ms, err := x.v.movementsLoader().load(ctx, x.d.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*movementResolver, len(ms))
	for i, m := range ms {
		out[i] = &movementResolver{d: x, m: m}
	}
	return out, nil
}

func (x *detailResolver) SafeHavens(ctx context.Context) ([]*safeHavenResolver, error) {
	hs, err := x.v.havensLoader().load(ctx, x.d.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*safeHavenResolver, len(hs))
	for i, h := range hs {
		out[i] = &safeHavenResolver{d: x, h: h}
	}
	return out, nil
}

func (x *detailResolver) AdvanceNotes(ctx context.Context) ([]*advanceNoteResolver, error) {
	ns, err := x.v.notesLoader().load(ctx, x.d.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*advanceNoteResolver, len(ns))
	for i, n := range ns {
		out[i] = &advanceNoteResolver{d: x, n: n}
	}
	return out, nil
}

func (x *detailResolver) CheckIns(ctx context.Context, args pageArgs) (*connection[*checkInResolver], error) {
	first, err := pageSize(args.First, 20)
	if err != nil {
		return nil, err
	}
	items, hasNext, err := x.v.root.store.CheckIns(ctx, x.d.ID, first, deref(args.After, ""))
	if err != nil {
		return nil, err
	}
	return newConnection(items, func(_ int, c protection.CheckIn) string { return protection.CheckInCursor(c) }, hasNext,
		func(c protection.CheckIn) *checkInResolver { return &checkInResolver{d: x, c: c} }), nil
}

// Timeline shows every step; for callers not cleared each note is empty
// (the kind, the time and who did it stay).
func (x *detailResolver) Timeline(ctx context.Context) ([]*detailStepResolver, error) {
	st, err := x.standing(ctx)
	if err != nil {
		return nil, err
	}
	steps, err := x.v.root.store.Timeline(ctx, x.d.ID)
	if err != nil {
		return nil, err
	}
	if st == protection.Cleared && len(steps) > 0 {
		if err := x.noteRead(ctx, protection.FieldTimelineNotes); err != nil {
			return nil, err
		}
	}
	out := make([]*detailStepResolver, len(steps))
	for i, s := range steps {
		if st != protection.Cleared {
			s.Note = ""
		}
		out[i] = &detailStepResolver{s}
	}
	return out, nil
}

func (x *detailResolver) MaskedFields(ctx context.Context) ([]string, error) {
	st, err := x.standing(ctx)
	if err != nil {
		return nil, err
	}
	if st == protection.Cleared {
		return []string{}, nil
	}
	return maskedDetailFields, nil
}

type lastCheckInResolver struct {
	d *detailResolver
	c protection.CheckInRef
}

func (x *lastCheckInResolver) At() graphql.Time { return graphql.Time{Time: x.c.At} }
func (x *lastCheckInResolver) By(ctx context.Context) *personResolver {
	return x.d.v.person(ctx, x.c.By)
}
func (x *lastCheckInResolver) Position(ctx context.Context) (*geoResolver, error) {
	return x.d.point(ctx, protection.FieldLastCheckInPos, x.c.Position)
}

// point reveals a point, when there is one, as field.
func (x *detailResolver) point(ctx context.Context, field string, p *protection.Point) (*geoResolver, error) {
	if p == nil {
		return nil, nil
	}
	if ok, err := x.reveal(ctx, field); !ok || err != nil {
		return nil, err
	}
	return &geoResolver{p.Latitude, p.Longitude}, nil
}

// text reveals s as field.
func (x *detailResolver) text(ctx context.Context, field, s string) (*string, error) {
	if ok, err := x.reveal(ctx, field); !ok || err != nil {
		return nil, err
	}
	return &s, nil
}

// instant reveals t, when there is one, as field.
func (x *detailResolver) instant(ctx context.Context, field string, t *time.Time) (*graphql.Time, error) {
	if t == nil {
		return nil, nil
	}
	if ok, err := x.reveal(ctx, field); !ok || err != nil {
		return nil, err
	}
	return &graphql.Time{Time: *t}, nil
}

// place reveals p as field.
func (x *detailResolver) place(ctx context.Context, field string, p protection.Place) (*placeResolver, error) {
	if ok, err := x.reveal(ctx, field); !ok || err != nil {
		return nil, err
	}
	return placeOf(p), nil
}

func placeOf(p protection.Place) *placeResolver {
	lat, lon := p.Latitude, p.Longitude
	return &placeResolver{travel.Place{City: p.City, CountryCode: p.CountryCode, Latitude: &lat, Longitude: &lon}}
}

type positionResolver struct{ p protection.Position }

func (x *positionResolver) Latitude() float64  { return x.p.Latitude }
func (x *positionResolver) Longitude() float64 { return x.p.Longitude }
func (x *positionResolver) At() graphql.Time   { return graphql.Time{Time: x.p.At} }

type movementResolver struct {
	d *detailResolver
	m protection.Movement
}

func (x *movementResolver) ID() graphql.ID { return encodeID(kindMovement, x.m.ID) }
func (x *movementResolver) Seq() int32     { return int32(x.m.Seq) }
func (x *movementResolver) From(ctx context.Context) (*placeResolver, error) {
	return x.d.place(ctx, protection.FieldMovementPlaces, x.m.From)
}
func (x *movementResolver) To(ctx context.Context) (*placeResolver, error) {
	return x.d.place(ctx, protection.FieldMovementPlaces, x.m.To)
}
func (x *movementResolver) PlannedDeparture(ctx context.Context) (*graphql.Time, error) {
	return x.d.instant(ctx, protection.FieldMovementTimes, &x.m.PlannedDeparture)
}
func (x *movementResolver) PlannedArrival(ctx context.Context) (*graphql.Time, error) {
	return x.d.instant(ctx, protection.FieldMovementTimes, &x.m.PlannedArrival)
}
func (x *movementResolver) ActualDeparture(ctx context.Context) (*graphql.Time, error) {
	return x.d.instant(ctx, protection.FieldMovementTimes, x.m.ActualDeparture)
}
func (x *movementResolver) ActualArrival(ctx context.Context) (*graphql.Time, error) {
	return x.d.instant(ctx, protection.FieldMovementTimes, x.m.ActualArrival)
}
func (x *movementResolver) DepartureTimezone() string { return x.m.DepartureZone }
func (x *movementResolver) ArrivalTimezone() string   { return x.m.ArrivalZone }
func (x *movementResolver) Vehicle() string           { return x.m.Vehicle }
func (x *movementResolver) RouteNotes(ctx context.Context) (*string, error) {
	return x.d.text(ctx, protection.FieldMovementRouteNotes, x.m.RouteNotes)
}
func (x *movementResolver) Status() string { return x.m.Status }

type safeHavenResolver struct {
	d *detailResolver
	h protection.SafeHaven
}

func (x *safeHavenResolver) ID() graphql.ID        { return encodeID(kindSafeHaven, x.h.ID) }
func (x *safeHavenResolver) Kind() string          { return x.h.Kind }
func (x *safeHavenResolver) Name() string          { return x.h.Name }
func (x *safeHavenResolver) Place() *placeResolver { return placeOf(x.h.Place) }
func (x *safeHavenResolver) Phone() string         { return x.h.Phone }
func (x *safeHavenResolver) Notes(ctx context.Context) (*string, error) {
	return x.d.text(ctx, protection.FieldSafeHavenNotes, x.h.Notes)
}

type nearbyHavenResolver struct {
	haven *safeHavenResolver
	km    float64
}

func (x *nearbyHavenResolver) SafeHaven() *safeHavenResolver { return x.haven }
func (x *nearbyHavenResolver) DistanceKm() float64           { return x.km }

type advanceNoteResolver struct {
	d *detailResolver
	n protection.AdvanceNote
}

func (x *advanceNoteResolver) ID() graphql.ID { return encodeID(kindAdvanceNote, x.n.ID) }
func (x *advanceNoteResolver) MovementID() *graphql.ID {
	if x.n.MovementID == nil {
		return nil
	}
	id := encodeID(kindMovement, *x.n.MovementID)
	return &id
}
func (x *advanceNoteResolver) Place(ctx context.Context) (*string, error) {
	return x.d.text(ctx, protection.FieldAdvanceNotes, x.n.Place)
}
func (x *advanceNoteResolver) NotedFor() graphql.Time { return graphql.Time{Time: x.n.NotedFor} }
func (x *advanceNoteResolver) Note(ctx context.Context) (*string, error) {
	return x.d.text(ctx, protection.FieldAdvanceNotes, x.n.Note)
}
func (x *advanceNoteResolver) Author(ctx context.Context) *personResolver {
	return x.d.v.person(ctx, x.n.CreatedBy)
}
func (x *advanceNoteResolver) CreatedAt() graphql.Time { return graphql.Time{Time: x.n.CreatedAt} }

type checkInResolver struct {
	d *detailResolver
	c protection.CheckIn
}

func (x *checkInResolver) ID() graphql.ID   { return encodeID(kindCheckIn, x.c.ID) }
func (x *checkInResolver) At() graphql.Time { return graphql.Time{Time: x.c.At} }
func (x *checkInResolver) By(ctx context.Context) *personResolver {
	return x.d.v.person(ctx, x.c.Agent)
}
func (x *checkInResolver) Position(ctx context.Context) (*geoResolver, error) {
	return x.d.point(ctx, protection.FieldCheckInPositions, x.c.Position)
}
func (x *checkInResolver) Note() *string         { return optional(x.c.Note) }
func (x *checkInResolver) NextDue() graphql.Time { return graphql.Time{Time: x.c.NextDue} }

type detailStepResolver struct{ s protection.Step }

func (x *detailStepResolver) At() graphql.Time { return graphql.Time{Time: x.s.At} }
func (x *detailStepResolver) Kind() string     { return x.s.Kind }
func (x *detailStepResolver) Actor() string    { return x.s.Actor }
func (x *detailStepResolver) Note() string     { return x.s.Note }

type accessResolver struct {
	v *view
	a protection.Access
}

func (x *accessResolver) At() graphql.Time { return graphql.Time{Time: x.a.At} }
func (x *accessResolver) Actor(ctx context.Context) *personResolver {
	return x.v.person(ctx, x.a.Actor)
}
func (x *accessResolver) ProtecteeID() graphql.ID { return encodeID(kindProtectee, x.a.ProtecteeID) }
func (x *accessResolver) DetailID() *graphql.ID {
	if x.a.DetailID == nil {
		return nil
	}
	id := encodeID(kindDetail, *x.a.DetailID)
	return &id
}
func (x *accessResolver) Fields() []string { return nonNil(x.a.Fields) }
func (x *accessResolver) TraceID() string  { return x.a.TraceID }

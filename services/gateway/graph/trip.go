package graph

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/country"
	"meridian.dev/platform/directory"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/live"
	"meridian.dev/platform/policy"
	"meridian.dev/platform/travel"
	travelwf "meridian.dev/workflows/travel"
)

const kindTrip = "Trip"

// errTripNotFound is also what a caller gets for a trip outside their view,
// so its existence does not leak.
var errTripNotFound = fault.New(fault.NotFound, "trip not found")

// tripRoot resolves trips (55_trip.graphql): the travel team's trips, their
// risk with reasons, approvals, and duty of care.
type tripRoot struct {
	*env
	trips     *travel.Store
	directory *directory.Store
	approvals *travelwf.Client
}

func newTripRoot(e *env, trips *travel.Store, dir *directory.Store, approvals *travelwf.Client) *tripRoot {
	r := &tripRoot{env: e, trips: trips, directory: dir, approvals: approvals}
	e.nodes[kindTrip] = func(ctx context.Context, id uuid.UUID) (node, error) {
		t, err := r.visible(ctx, id)
		return nodeOrNil(t, err, errTripNotFound)
	}
	return r
}

// scope is what of trips the caller may read.
func (r *tripRoot) scope(ctx context.Context) (policy.TripScope, error) {
	id, err := auth.FromContext(ctx)
	if err != nil {
		return policy.TripScope{}, err
	}
	return policy.ReadTrips(id)
}

// visible loads a trip the caller may see.
func (r *tripRoot) visible(ctx context.Context, id uuid.UUID) (*tripResolver, error) {
	scope, err := r.scope(ctx)
	if err != nil {
		return nil, err
	}
	t, err := r.trips.Get(ctx, id)
	if err != nil {
		if fault.CodeOf(err) == fault.NotFound {
			return nil, errTripNotFound
		}
		return nil, err
	}
	x := r.resolver(t, scope)
	if !scope.All {
		segs, err := x.loadSegments(ctx)
		if err != nil {
			return nil, err
		}
		if !inRegions(segs, scope.Regions) {
			return nil, errTripNotFound
		}
	}
	return x, nil
}

func inRegions(segs []travel.Segment, regions []string) bool {
	for _, s := range segs {
		if c, ok := country.Get(s.Place.CountryCode); ok && slices.Contains(regions, c.Region) {
			return true
		}
	}
	return false
}

func (r *tripRoot) resolver(t travel.Trip, scope policy.TripScope) *tripResolver {
	return &tripResolver{root: r, t: t, purpose: scope.Purpose}
}

// Trip resolves Query.trip.
func (r *tripRoot) Trip(ctx context.Context, args struct{ ID graphql.ID }) (*tripResolver, error) {
	tid, err := parseID(args.ID, kindTrip, "id")
	if err != nil {
		return nil, err
	}
	t, err := r.visible(ctx, tid)
	if errors.Is(err, errTripNotFound) {
		return nil, nil
	}
	return t, err
}

type tripsArgs struct {
	Traveller *string
	Status    *string
	Country   *string
	At        *graphql.Time
	MinLevel  *int32
	First     graphql.NullInt
	After     *string
}

// Trips resolves Query.trips.
func (r *tripRoot) Trips(ctx context.Context, args tripsArgs) (*connection[*tripResolver], error) {
	scope, err := r.scope(ctx)
	if err != nil {
		return nil, err
	}
	first, err := pageSize(args.First, 50)
	if err != nil {
		return nil, err
	}
	f := travel.Filter{Traveller: deref(args.Traveller, ""), Status: deref(args.Status, "")}
	if args.Country != nil {
		c, err := knownCountry("country", *args.Country)
		if err != nil {
			return nil, err
		}
		f.Country = c.Code
	}
	if args.At != nil {
		if err := checkInstant("at", args.At.Time); err != nil {
			return nil, err
		}
		at := args.At.Time
		f.At = &at
	}
	if args.MinLevel != nil {
		f.MinLevel = int(*args.MinLevel)
	}
	if !scope.All {
		f.Regions = scope.Regions
	}
	items, hasNext, err := r.trips.List(ctx, f, first, deref(args.After, ""))
	if err != nil {
		return nil, err
	}
	conn := newConnection(items, func(_ int, t travel.Trip) string { return encodeCursor(t) }, hasNext,
		func(t travel.Trip) *tripResolver { return r.resolver(t, scope) })
	r.wantSegments(ctx, items)
	return conn, nil
}

// encodeCursor is the trip's cursor as the store reads it back: opaque to
// clients, owned by the store (travel.Cursor).
func encodeCursor(t travel.Trip) string { return travel.Cursor(t) }

type whereArgs struct {
	Country             *string
	Latitude, Longitude *float64
	RadiusKm            *float64
	At                  *graphql.Time
}

// WhoIsWhere resolves Query.whoIsWhere.
func (r *tripRoot) WhoIsWhere(ctx context.Context, args whereArgs) ([]*presenceResolver, error) {
	scope, err := r.scope(ctx)
	if err != nil {
		return nil, err
	}
	at, err := instant("at", args.At, time.Now())
	if err != nil {
		return nil, err
	}
	w := travel.Where{Latitude: args.Latitude, Longitude: args.Longitude, RadiusKm: args.RadiusKm, At: at}
	if args.Country != nil {
		c, err := knownCountry("country", *args.Country)
		if err != nil {
			return nil, err
		}
		w.Country = c.Code
	}
	if w.Country == "" && args.Latitude == nil && args.Longitude == nil && args.RadiusKm == nil {
		return nil, fault.Invalid("country", "ask by country, or by latitude, longitude and radiusKm")
	}
	if !scope.All {
		w.Regions = scope.Regions
	}
	found, err := r.trips.WhoIsWhere(ctx, w)
	if err != nil {
		return nil, err
	}
	return r.presences(ctx, scope, found)
}

// presences shapes found people with their trips, loaded in one batch.
func (r *tripRoot) presences(ctx context.Context, scope policy.TripScope, found []travel.Presence) ([]*presenceResolver, error) {
	ids := make([]uuid.UUID, 0, len(found))
	for _, p := range found {
		ids = append(ids, p.TripID)
	}
	trips, err := r.trips.GetMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*presenceResolver, 0, len(found))
	for _, p := range found {
		t, ok := trips[p.TripID]
		if !ok {
			continue
		}
		out = append(out, &presenceResolver{trip: r.resolver(t, scope), p: p})
	}
	return out, nil
}

// segmentsLoader batches the segments of every trip in one answer.
func (r *tripRoot) segmentsLoader(ctx context.Context) *loader[uuid.UUID, []travel.Segment] {
	return loaderFor(loadersOf(ctx), "trip-segments", errTripNotFound, func(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]travel.Segment, error) {
		m, err := r.trips.Segments(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if _, ok := m[id]; !ok {
				m[id] = nil
			}
		}
		return m, nil
	})
}

func (r *tripRoot) wantSegments(ctx context.Context, trips []travel.Trip) {
	l := r.segmentsLoader(ctx)
	for _, t := range trips {
		l.want(t.ID)
	}
}

// person names a traveller, with one directory read per answer.
func (r *tripRoot) person(ctx context.Context, subject string) *personResolver {
	l := loaderFor(loadersOf(ctx), "person-names", nil, func(ctx context.Context, subjects []string) (map[string]string, error) {
		return r.directory.Names(ctx, subjects)
	})
	name, err := l.load(ctx, subject)
	if err != nil || name == "" {
		name = subject
	}
	return &personResolver{subject: subject, name: name}
}

type placeInput struct {
	City                string
	CountryCode         string
	Latitude, Longitude *float64
}

func (p *placeInput) place() *travel.Place {
	if p == nil {
		return nil
	}
	return &travel.Place{City: p.City, CountryCode: strings.ToUpper(strings.TrimSpace(p.CountryCode)), Latitude: p.Latitude, Longitude: p.Longitude}
}

type segmentInput struct {
	Kind             string
	StartsAt, EndsAt graphql.Time
	Timezone         string
	Place            *placeInput
	From, To         *placeInput
}

func (s segmentInput) input() travel.SegmentInput {
	in := travel.SegmentInput{Kind: s.Kind, StartsAt: s.StartsAt.Time, EndsAt: s.EndsAt.Time, Timezone: s.Timezone, From: s.From.place(), To: s.To.place()}
	switch {
	case s.Place != nil:
		in.Place = *s.Place.place()
	case s.To != nil:
		in.Place = *s.To.place()
	}
	return in
}

// manager authenticates a caller who manages trips.
func (r *tripRoot) manager(ctx context.Context) (auth.Identity, error) {
	id, err := r.actor(ctx)
	if err != nil {
		return id, err
	}
	return id, policy.AllowTravel(id, policy.ManageTrips)
}

// onTrip applies change, as a caller who manages trips, to the trip tripID
// names, and answers with the trip as it is then.
func (r *tripRoot) onTrip(ctx context.Context, tripID graphql.ID, clientMutationID *string, change func(actor string, trip uuid.UUID) (travel.Trip, error)) (*tripPayload, error) {
	id, err := r.manager(ctx)
	if err != nil {
		return nil, err
	}
	tid, err := parseID(tripID, kindTrip, "tripId")
	if err != nil {
		return nil, err
	}
	t, err := change(id.Subject, tid)
	if err != nil {
		return nil, err
	}
	return r.payload(ctx, t, clientMutationID)
}

func (r *tripRoot) payload(ctx context.Context, t travel.Trip, cmid *string) (*tripPayload, error) {
	scope, err := r.scope(ctx)
	if err != nil {
		return nil, err
	}
	return &tripPayload{trip: r.resolver(t, scope), clientMutationID: cmid}, nil
}

type createTripInput struct {
	Traveller        string
	Purpose          *string
	Segments         []segmentInput
	ClientMutationID *string
}

// CreateTrip resolves Mutation.createTrip.
func (r *tripRoot) CreateTrip(ctx context.Context, args struct{ Input createTripInput }) (*tripPayload, error) {
	id, err := r.manager(ctx)
	if err != nil {
		return nil, err
	}
	in := travel.NewTrip{Traveller: args.Input.Traveller, Purpose: deref(args.Input.Purpose, ""), ClientMutationID: deref(args.Input.ClientMutationID, "")}
	for _, s := range args.Input.Segments {
		in.Segments = append(in.Segments, s.input())
	}
	t, _, err := r.trips.Create(ctx, id.Subject, in)
	if err != nil {
		return nil, err
	}
	return r.payload(ctx, t, args.Input.ClientMutationID)
}

type importInput struct {
	Traveller        string
	Purpose          *string
	ICS              string
	ClientMutationID *string
}

// ImportItinerary resolves Mutation.importItinerary.
func (r *tripRoot) ImportItinerary(ctx context.Context, args struct{ Input importInput }) (*tripPayload, error) {
	id, err := r.manager(ctx)
	if err != nil {
		return nil, err
	}
	t, _, err := r.trips.ImportICS(ctx, id.Subject, args.Input.Traveller, deref(args.Input.Purpose, ""), args.Input.ICS,
		deref(args.Input.ClientMutationID, ""))
	if err != nil {
		return nil, err
	}
	return r.payload(ctx, t, args.Input.ClientMutationID)
}

// AddTripSegment resolves Mutation.addTripSegment.
func (r *tripRoot) AddTripSegment(ctx context.Context, args struct {
	Input struct {
		TripID           graphql.ID
		Segment          segmentInput
		ClientMutationID *string
	}
}) (*tripPayload, error) {
	return r.onTrip(ctx, args.Input.TripID, args.Input.ClientMutationID, func(actor string, tid uuid.UUID) (travel.Trip, error) {
		t, _, err := r.trips.AddSegmentOnce(ctx, actor, tid, args.Input.Segment.input(), deref(args.Input.ClientMutationID, ""))
		return t, err
	})
}

// CancelTrip resolves Mutation.cancelTrip.
func (r *tripRoot) CancelTrip(ctx context.Context, args struct {
	Input struct {
		TripID           graphql.ID
		Note             *string
		ClientMutationID *string
	}
}) (*tripPayload, error) {
	return r.onTrip(ctx, args.Input.TripID, args.Input.ClientMutationID, func(actor string, tid uuid.UUID) (travel.Trip, error) {
		return r.trips.Cancel(ctx, actor, tid, deref(args.Input.Note, ""))
	})
}

// SubmitTrip resolves Mutation.submitTrip.
func (r *tripRoot) SubmitTrip(ctx context.Context, args struct {
	Input struct {
		TripID           graphql.ID
		ClientMutationID *string
	}
}) (*tripPayload, error) {
	return r.onTrip(ctx, args.Input.TripID, args.Input.ClientMutationID, func(actor string, tid uuid.UUID) (travel.Trip, error) {
		return r.trips.Submit(ctx, actor, tid)
	})
}

// DecideTrip resolves Mutation.decideTrip: the approval workflow decides
// whether the decision stands (who may decide, not twice, not after
// cancellation) and records it.
func (r *tripRoot) DecideTrip(ctx context.Context, args struct {
	Input struct {
		TripID           graphql.ID
		Decision         string
		Note             *string
		ClientMutationID *string
	}
}) (*tripPayload, error) {
	id, err := r.actor(ctx)
	if err != nil {
		return nil, err
	}
	// Who may decide at all is asked before the trip is read, so a caller
	// who may not learns nothing about it.
	if err := policy.DecideTrip(id, travel.ApprovalLevel); err != nil {
		return nil, err
	}
	tid, err := parseID(args.Input.TripID, kindTrip, "tripId")
	if err != nil {
		return nil, err
	}
	t, err := r.trips.Get(ctx, tid)
	if err != nil {
		return nil, err
	}
	approve := args.Input.Decision == "APPROVE"
	if t.Approval != nil && t.Approval.Status != "PENDING" && t.Approval.DecidedBy == id.Subject &&
		(t.Approval.Status == "APPROVED") == approve && (t.Approval.Status == "APPROVED" || t.Approval.Status == "REJECTED") {
		// The same decision again (a client retrying after a lost
		// answer): answer as the first time, as the workflow would.
		return r.payload(ctx, t, args.Input.ClientMutationID)
	}
	if t.Approval == nil || t.Approval.Status != "PENDING" {
		return nil, fault.New(fault.Conflict, "the trip is not waiting for a decision")
	}
	if err := policy.DecideTrip(id, t.Approval.Level); err != nil {
		return nil, err
	}
	if r.approvals == nil {
		return nil, fault.New(fault.Internal, "deciding needs the workflow engine, which is not configured")
	}
	if _, err := r.approvals.Decide(ctx, tid, t.Approval.Round, travelwf.DecideRequest{
		Actor: id.Subject, Roles: id.Roles, Approve: approve, Note: deref(args.Input.Note, ""),
	}); err != nil {
		return nil, err
	}
	t, err = r.trips.Get(ctx, tid)
	if err != nil {
		return nil, err
	}
	return r.payload(ctx, t, args.Input.ClientMutationID)
}

// TripRiskChanged resolves Subscription.tripRiskChanged. Regional managers
// must name one of their regions: they see trips there only.
func (r *tripRoot) TripRiskChanged(ctx context.Context, args subscriptionArgs) (<-chan *tripRiskChangedResolver, error) {
	scope, err := r.scope(ctx)
	if err != nil {
		return nil, err
	}
	if !scope.All && (args.Region == nil || !slices.Contains(scope.Regions, *args.Region)) {
		return nil, fault.New(fault.Forbidden, "name one of your regions: you see trips there only")
	}
	return watch(ctx, r.env, travel.RiskChanges, args, func(d live.Delivered[travel.RiskChanged]) *tripRiskChangedResolver {
		return &tripRiskChangedResolver{root: r, scope: scope, ev: d.Event, cursor: d.Cursor}
	})
}

type tripPayload struct {
	trip             *tripResolver
	clientMutationID *string
}

func (p *tripPayload) Trip() *tripResolver       { return p.trip }
func (p *tripPayload) ClientMutationID() *string { return p.clientMutationID }

type tripResolver struct {
	root    *tripRoot
	t       travel.Trip
	purpose bool
}

func (x *tripResolver) ID() graphql.ID { return encodeID(kindTrip, x.t.ID) }
func (x *tripResolver) Traveller(ctx context.Context) *personResolver {
	return x.root.person(ctx, x.t.Traveller)
}
func (x *tripResolver) Purpose() *string {
	if !x.purpose {
		return nil
	}
	p := x.t.Purpose
	return &p
}
func (x *tripResolver) Status() string          { return x.t.Status }
func (x *tripResolver) StartsAt() *graphql.Time { return optionalTime(x.t.StartsAt) }
func (x *tripResolver) EndsAt() *graphql.Time   { return optionalTime(x.t.EndsAt) }
func (x *tripResolver) Risk() *riskResolver     { return &riskResolver{x.t.Risk} }
func (x *tripResolver) Approval() *approvalResolver {
	if x.t.Approval == nil {
		return nil
	}
	a := *x.t.Approval
	if !x.purpose {
		a.Note = "" // a decider's note is about the trip's purpose as much as its risk
	}
	return &approvalResolver{a}
}

func (x *tripResolver) loadSegments(ctx context.Context) ([]travel.Segment, error) {
	return x.root.segmentsLoader(ctx).load(ctx, x.t.ID)
}

func (x *tripResolver) Segments(ctx context.Context) ([]*segmentResolver, error) {
	segs, err := x.loadSegments(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*segmentResolver, len(segs))
	for i, s := range segs {
		out[i] = &segmentResolver{s}
	}
	return out, nil
}

func (x *tripResolver) Timeline(ctx context.Context) ([]*tripStepResolver, error) {
	steps, err := x.root.trips.Timeline(ctx, x.t.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*tripStepResolver, len(steps))
	for i, s := range steps {
		if !x.purpose {
			// Notes quote the purpose (an approval request says what the
			// trip is for); callers who may not see it get the steps only.
			s.Note = ""
		}
		out[i] = &tripStepResolver{s}
	}
	return out, nil
}

type segmentResolver struct{ s travel.Segment }

func (x *segmentResolver) ID() graphql.ID         { return graphql.ID(x.s.ID.String()) }
func (x *segmentResolver) Kind() string           { return x.s.Kind }
func (x *segmentResolver) StartsAt() graphql.Time { return graphql.Time{Time: x.s.StartsAt} }
func (x *segmentResolver) EndsAt() graphql.Time   { return graphql.Time{Time: x.s.EndsAt} }
func (x *segmentResolver) Timezone() string       { return x.s.Timezone }
func (x *segmentResolver) Place() *placeResolver  { return &placeResolver{x.s.Place} }
func (x *segmentResolver) Risk() *riskResolver    { return &riskResolver{x.s.Risk} }
func (x *segmentResolver) From() *placeResolver {
	if x.s.From == nil {
		return nil
	}
	return &placeResolver{*x.s.From}
}
func (x *segmentResolver) To() *placeResolver {
	if x.s.To == nil {
		return nil
	}
	return &placeResolver{*x.s.To}
}

type placeResolver struct{ p travel.Place }

func (x *placeResolver) City() string        { return x.p.City }
func (x *placeResolver) CountryCode() string { return x.p.CountryCode }
func (x *placeResolver) Location() *geoResolver {
	if x.p.Latitude == nil || x.p.Longitude == nil {
		return nil
	}
	return &geoResolver{*x.p.Latitude, *x.p.Longitude}
}

type riskResolver struct{ r travel.Risk }

func (x *riskResolver) Level() int32               { return int32(max(x.r.Level, 1)) }
func (x *riskResolver) Reasons() []*reasonResolver { return reasons(x.r.Reasons) }

func reasons(rs []travel.Reason) []*reasonResolver {
	out := make([]*reasonResolver, len(rs))
	for i, r := range rs {
		out[i] = &reasonResolver{r}
	}
	return out
}

type reasonResolver struct{ r travel.Reason }

func (x *reasonResolver) Kind() string          { return x.r.Kind }
func (x *reasonResolver) Level() int32          { return int32(x.r.Level) }
func (x *reasonResolver) Source() string        { return x.r.Source }
func (x *reasonResolver) Text() string          { return x.r.Text }
func (x *reasonResolver) SegmentID() graphql.ID { return graphql.ID(x.r.SegmentID.String()) }

type approvalResolver struct{ a travel.Approval }

func (x *approvalResolver) Status() string           { return x.a.Status }
func (x *approvalResolver) Level() int32             { return int32(x.a.Level) }
func (x *approvalResolver) DecidedBy() *string       { return optional(x.a.DecidedBy) }
func (x *approvalResolver) DecidedAt() *graphql.Time { return optionalTime(x.a.DecidedAt) }
func (x *approvalResolver) Note() *string            { return optional(x.a.Note) }
func (x *approvalResolver) Deadline() *graphql.Time  { return optionalTime(x.a.Deadline) }

type tripStepResolver struct{ s travel.Step }

func (x *tripStepResolver) At() graphql.Time { return graphql.Time{Time: x.s.At} }
func (x *tripStepResolver) Kind() string     { return x.s.Kind }
func (x *tripStepResolver) Actor() string    { return x.s.Actor }
func (x *tripStepResolver) Note() string     { return x.s.Note }

type presenceResolver struct {
	trip *tripResolver
	p    travel.Presence
}

func (x *presenceResolver) Traveller(ctx context.Context) *personResolver {
	return x.trip.root.person(ctx, x.p.Traveller)
}
func (x *presenceResolver) Trip() *tripResolver       { return x.trip }
func (x *presenceResolver) Segment() *segmentResolver { return &segmentResolver{x.p.Segment} }
func (x *presenceResolver) DistanceKm() *float64      { return x.p.DistanceKm }

type tripRiskChangedResolver struct {
	root   *tripRoot
	scope  policy.TripScope
	ev     travel.RiskChanged
	cursor string
}

func (x *tripRiskChangedResolver) Trip(ctx context.Context) (*tripResolver, error) {
	t, err := x.root.trips.Get(ctx, x.ev.TripID)
	if err != nil {
		return nil, err
	}
	return x.root.resolver(t, x.scope), nil
}
func (x *tripRiskChangedResolver) PreviousLevel() int32       { return int32(x.ev.PreviousLevel) }
func (x *tripRiskChangedResolver) Level() int32               { return int32(x.ev.Level) }
func (x *tripRiskChangedResolver) Reasons() []*reasonResolver { return reasons(x.ev.Reasons) }
func (x *tripRiskChangedResolver) Cause() string              { return x.ev.Cause }
func (x *tripRiskChangedResolver) At() graphql.Time           { return graphql.Time{Time: x.ev.At} }
func (x *tripRiskChangedResolver) Cursor() string             { return x.cursor }

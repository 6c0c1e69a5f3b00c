package graph

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/protection"
)

// The protection mutations call the store, which decides who may
// (protection.Allow) and validates; the gateway maps the input, conceals a
// refusal from a caller who may not know the object exists, and answers
// with the object as the caller may see it after the change.

// changer authenticates the caller of a mutation (rate-limited) and gives
// the view its answer is read in: fresh loaders, so the answer shows the
// change and decides the caller's standing after it.
func (r *protectionRoot) changer(ctx context.Context) (auth.Identity, *view, error) {
	id, err := r.actor(ctx)
	if err != nil {
		return auth.Identity{}, nil, err
	}
	return id, r.viewIn(id, nil), nil
}

// answer shows a changed detail as the caller now stands on it.
func (v *view) answer(ctx context.Context, d protection.Detail, cmid *string) (*detailPayload, error) {
	x := v.detailResolver(d)
	st, err := x.standing(ctx)
	if err != nil {
		return nil, err
	}
	if st == protection.Hidden {
		// Allowed to change what they may not see (an admin may, and sees
		// it masked; nobody else gets here): answer as the store would
		// for a detail they may not know.
		return nil, protection.ErrDetailNotFound
	}
	return &detailPayload{detail: x, clientMutationID: cmid}, nil
}

// onDetail parses detailID (named field in errors), applies change and
// answers with the detail.
func (r *protectionRoot) onDetail(ctx context.Context, detailID graphql.ID, cmid *string,
	change func(actor auth.Identity, id uuid.UUID) (protection.Detail, error)) (*detailPayload, error) {
	actor, v, err := r.changer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseID(detailID, kindDetail, "detailId")
	if err != nil {
		return nil, err
	}
	d, err := change(actor, id)
	if err != nil {
		return nil, v.concealed(ctx, id, err)
	}
	return v.answer(ctx, d, cmid)
}

type profileInput struct {
	HomeAddress       *string
	Medical           *medicalInput
	EmergencyContacts *[]contactInput
	Vehicles          *[]vehicleInput
	PhotoRef          *string
}

type medicalInput struct {
	BloodType  *string
	Allergies  *[]string
	Conditions *[]string
}

type contactInput struct{ Name, Phone, Relation string }

type vehicleInput struct {
	Plate       string
	Description *string
}

func (p *profileInput) profile() protection.Profile {
	if p == nil {
		return protection.Profile{}
	}
	out := protection.Profile{HomeAddress: deref(p.HomeAddress, ""), PhotoRef: deref(p.PhotoRef, "")}
	if m := p.Medical; m != nil {
		out.Medical = &protection.Medical{BloodType: deref(m.BloodType, ""), Allergies: deref(m.Allergies, nil), Conditions: deref(m.Conditions, nil)}
	}
	for _, c := range deref(p.EmergencyContacts, nil) {
		out.EmergencyContacts = append(out.EmergencyContacts, protection.EmergencyContact{Name: c.Name, Phone: c.Phone, Relation: c.Relation})
	}
	for _, v := range deref(p.Vehicles, nil) {
		out.Vehicles = append(out.Vehicles, protection.Vehicle{Plate: v.Plate, Description: deref(v.Description, "")})
	}
	return out
}

type protecteePayload struct {
	protectee        *protecteeResolver
	clientMutationID *string
}

func (p *protecteePayload) Protectee() *protecteeResolver { return p.protectee }
func (p *protecteePayload) ClientMutationID() *string     { return p.clientMutationID }

// protecteeAnswer shows a changed protectee as the caller now stands on it.
func (v *view) protecteeAnswer(ctx context.Context, p protection.Protectee, cmid *string) (*protecteePayload, error) {
	st, err := v.protecteeStanding(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	if st == protection.Hidden {
		return nil, protection.ErrProtecteeNotFound
	}
	return &protecteePayload{protectee: &protecteeResolver{v: v, p: p}, clientMutationID: cmid}, nil
}

// CreateProtectee resolves Mutation.createProtectee.
func (r *protectionRoot) CreateProtectee(ctx context.Context, args struct {
	Input struct {
		Name             string
		Title            *string
		ThreatLevel      string
		Profile          *profileInput
		ClientMutationID *string
	}
}) (*protecteePayload, error) {
	actor, v, err := r.changer(ctx)
	if err != nil {
		return nil, err
	}
	in := args.Input
	p, err := r.store.CreateProtectee(ctx, actor, protection.NewProtectee{Name: in.Name, Title: deref(in.Title, ""),
		ThreatLevel: in.ThreatLevel, Profile: in.Profile.profile(), ClientMutationID: deref(in.ClientMutationID, "")})
	if err != nil {
		return nil, err
	}
	return v.protecteeAnswer(ctx, p, in.ClientMutationID)
}

// UpdateProtecteeProfile resolves Mutation.updateProtecteeProfile.
func (r *protectionRoot) UpdateProtecteeProfile(ctx context.Context, args struct {
	Input struct {
		ProtecteeID      graphql.ID
		Profile          profileInput
		ClientMutationID *string
	}
}) (*protecteePayload, error) {
	actor, v, err := r.changer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseID(args.Input.ProtecteeID, kindProtectee, "protecteeId")
	if err != nil {
		return nil, err
	}
	p, err := r.store.UpdateProfile(ctx, actor, id, args.Input.Profile.profile())
	if err != nil {
		return nil, v.concealedProtectee(ctx, id, err)
	}
	return v.protecteeAnswer(ctx, p, args.Input.ClientMutationID)
}

type detailPayload struct {
	detail           *detailResolver
	clientMutationID *string
}

func (p *detailPayload) Detail() *detailResolver   { return p.detail }
func (p *detailPayload) ClientMutationID() *string { return p.clientMutationID }

// seconds turns an optional number of seconds into a duration.
func seconds(n *int32) *time.Duration {
	if n == nil {
		return nil
	}
	d := time.Duration(*n) * time.Second
	return &d
}

// CreateDetail resolves Mutation.createDetail.
func (r *protectionRoot) CreateDetail(ctx context.Context, args struct {
	Input struct {
		ProtecteeID      graphql.ID
		Region           string
		Leader           string
		Agents           *[]string
		StartsAt, EndsAt graphql.Time
		ThreatLevel      *string
		CheckInInterval  *int32
		GracePeriod      *int32
		ClientMutationID *string
	}
}) (*detailPayload, error) {
	actor, v, err := r.changer(ctx)
	if err != nil {
		return nil, err
	}
	in := args.Input
	pid, err := parseID(in.ProtecteeID, kindProtectee, "protecteeId")
	if err != nil {
		return nil, err
	}
	if err := checkInstant("startsAt", in.StartsAt.Time); err != nil {
		return nil, err
	}
	if err := checkInstant("endsAt", in.EndsAt.Time); err != nil {
		return nil, err
	}
	d, err := r.store.CreateDetail(ctx, actor, protection.NewDetail{
		ProtecteeID: pid, Region: in.Region, Leader: in.Leader, Agents: deref(in.Agents, nil),
		StartsAt: in.StartsAt.Time, EndsAt: in.EndsAt.Time, ThreatLevel: deref(in.ThreatLevel, ""),
		Interval: seconds(in.CheckInInterval), Grace: seconds(in.GracePeriod), ClientMutationID: deref(in.ClientMutationID, ""),
	})
	if err != nil {
		return nil, v.concealedProtectee(ctx, pid, err)
	}
	return v.answer(ctx, d, in.ClientMutationID)
}

// AssignDetailAgents resolves Mutation.assignDetailAgents.
func (r *protectionRoot) AssignDetailAgents(ctx context.Context, args struct {
	Input struct {
		DetailID graphql.ID
		Agents   []string
	}
}) (*detailPayload, error) {
	return r.onDetail(ctx, args.Input.DetailID, nil, func(actor auth.Identity, id uuid.UUID) (protection.Detail, error) {
		return r.store.AssignAgents(ctx, actor, id, args.Input.Agents)
	})
}

// StartDetail resolves Mutation.startDetail.
func (r *protectionRoot) StartDetail(ctx context.Context, args struct{ Input struct{ DetailID graphql.ID } }) (*detailPayload, error) {
	return r.onDetail(ctx, args.Input.DetailID, nil, func(actor auth.Identity, id uuid.UUID) (protection.Detail, error) {
		return r.store.Start(ctx, actor, id)
	})
}

// EndDetail resolves Mutation.endDetail.
func (r *protectionRoot) EndDetail(ctx context.Context, args struct {
	Input struct {
		DetailID graphql.ID
		Note     *string
	}
}) (*detailPayload, error) {
	return r.onDetail(ctx, args.Input.DetailID, nil, func(actor auth.Identity, id uuid.UUID) (protection.Detail, error) {
		return r.store.End(ctx, actor, id, deref(args.Input.Note, ""))
	})
}

// SetDetailThreatLevel resolves Mutation.setDetailThreatLevel.
func (r *protectionRoot) SetDetailThreatLevel(ctx context.Context, args struct {
	Input struct {
		DetailID        graphql.ID
		ThreatLevel     string
		CheckInInterval *int32
	}
}) (*detailPayload, error) {
	return r.onDetail(ctx, args.Input.DetailID, nil, func(actor auth.Identity, id uuid.UUID) (protection.Detail, error) {
		return r.store.SetThreatLevel(ctx, actor, id, args.Input.ThreatLevel, seconds(args.Input.CheckInInterval))
	})
}

// protectionPlace is a place of the plan: PlaceInput, whose coordinates a
// trip may leave out but a movement or a safe haven may not.
func protectionPlace(field string, p placeInput) (protection.Place, error) {
	if p.Latitude == nil {
		return protection.Place{}, fault.Invalid(field+".latitude", "is required")
	}
	if p.Longitude == nil {
		return protection.Place{}, fault.Invalid(field+".longitude", "is required")
	}
	return protection.Place{City: p.City, CountryCode: strings.ToUpper(strings.TrimSpace(p.CountryCode)),
		Latitude: *p.Latitude, Longitude: *p.Longitude}, nil
}

// onPlan makes a change to a detail's plan (change returns what it made)
// and answers with it and the detail, as the caller now stands on it.
func onPlan[T any](ctx context.Context, v *view, detailID uuid.UUID, change func() (T, error)) (T, *detailResolver, error) {
	var zero T
	item, err := change()
	if err != nil {
		return zero, nil, v.concealed(ctx, detailID, err)
	}
	d, err := v.planDetail(ctx, detailID)
	return item, d, err
}

// planDetail reads the detail whose plan changed, to answer with.
func (v *view) planDetail(ctx context.Context, detailID uuid.UUID) (*detailResolver, error) {
	d, err := v.root.store.Detail(ctx, detailID)
	if err != nil {
		return nil, err
	}
	p, err := v.answer(ctx, d, nil)
	if err != nil {
		return nil, err
	}
	return p.detail, nil
}

type movementPayload struct {
	movement *movementResolver
	detail   *detailResolver
}

func (p *movementPayload) Movement() *movementResolver { return p.movement }
func (p *movementPayload) Detail() *detailResolver     { return p.detail }

// AddMovement resolves Mutation.addMovement.
func (r *protectionRoot) AddMovement(ctx context.Context, args struct {
	Input struct {
		DetailID                           graphql.ID
		From, To                           placeInput
		PlannedDeparture, PlannedArrival   graphql.Time
		DepartureTimezone, ArrivalTimezone string
		Vehicle, RouteNotes                *string
	}
}) (*movementPayload, error) {
	actor, v, err := r.changer(ctx)
	if err != nil {
		return nil, err
	}
	in := args.Input
	id, err := parseID(in.DetailID, kindDetail, "detailId")
	if err != nil {
		return nil, err
	}
	if err := checkInstants(map[string]time.Time{"plannedDeparture": in.PlannedDeparture.Time, "plannedArrival": in.PlannedArrival.Time}); err != nil {
		return nil, err
	}
	from, err := protectionPlace("from", in.From)
	if err != nil {
		return nil, err
	}
	to, err := protectionPlace("to", in.To)
	if err != nil {
		return nil, err
	}
	m, d, err := onPlan(ctx, v, id, func() (protection.Movement, error) {
		return r.store.AddMovement(ctx, actor, protection.NewMovement{DetailID: id, From: from, To: to,
			PlannedDeparture: in.PlannedDeparture.Time, PlannedArrival: in.PlannedArrival.Time,
			DepartureZone: in.DepartureTimezone, ArrivalZone: in.ArrivalTimezone,
			Vehicle: deref(in.Vehicle, ""), RouteNotes: deref(in.RouteNotes, "")})
	})
	if err != nil {
		return nil, err
	}
	return &movementPayload{movement: &movementResolver{d: d, m: m}, detail: d}, nil
}

// checkInstants refuses any time outside the range the API works in.
func checkInstants(times map[string]time.Time) error {
	for field, t := range times {
		if err := checkInstant(field, t); err != nil {
			return err
		}
	}
	return nil
}

// optionalInstant is an optional time input, checked.
func optionalInstant(field string, t *graphql.Time) (*time.Time, error) {
	if t == nil {
		return nil, nil
	}
	if err := checkInstant(field, t.Time); err != nil {
		return nil, err
	}
	return &t.Time, nil
}

// UpdateMovement resolves Mutation.updateMovement.
func (r *protectionRoot) UpdateMovement(ctx context.Context, args struct {
	Input struct {
		MovementID                       graphql.ID
		Status                           *string
		PlannedDeparture, PlannedArrival *graphql.Time
		ActualDeparture, ActualArrival   *graphql.Time
		Vehicle, RouteNotes              *string
	}
}) (*movementPayload, error) {
	actor, v, err := r.changer(ctx)
	if err != nil {
		return nil, err
	}
	in := args.Input
	mid, err := parseID(in.MovementID, kindMovement, "movementId")
	if err != nil {
		return nil, err
	}
	c := protection.MovementChange{MovementID: mid, Status: in.Status, Vehicle: in.Vehicle, RouteNotes: in.RouteNotes}
	for _, t := range []struct {
		field string
		in    *graphql.Time
		out   **time.Time
	}{
		{"plannedDeparture", in.PlannedDeparture, &c.PlannedDeparture}, {"plannedArrival", in.PlannedArrival, &c.PlannedArrival},
		{"actualDeparture", in.ActualDeparture, &c.ActualDeparture}, {"actualArrival", in.ActualArrival, &c.ActualArrival},
	} {
		if *t.out, err = optionalInstant(t.field, t.in); err != nil {
			return nil, err
		}
	}
	m, err := r.store.UpdateMovement(ctx, actor, c)
	if err != nil {
		return nil, v.concealedMovement(ctx, mid, err)
	}
	d, err := v.planDetail(ctx, m.DetailID)
	if err != nil {
		return nil, err
	}
	return &movementPayload{movement: &movementResolver{d: d, m: m}, detail: d}, nil
}

type safeHavenPayload struct {
	haven  *safeHavenResolver
	detail *detailResolver
}

func (p *safeHavenPayload) SafeHaven() *safeHavenResolver { return p.haven }
func (p *safeHavenPayload) Detail() *detailResolver       { return p.detail }

// AddSafeHaven resolves Mutation.addSafeHaven.
func (r *protectionRoot) AddSafeHaven(ctx context.Context, args struct {
	Input struct {
		DetailID     graphql.ID
		Kind, Name   string
		Place        placeInput
		Phone, Notes *string
	}
}) (*safeHavenPayload, error) {
	actor, v, err := r.changer(ctx)
	if err != nil {
		return nil, err
	}
	in := args.Input
	id, err := parseID(in.DetailID, kindDetail, "detailId")
	if err != nil {
		return nil, err
	}
	place, err := protectionPlace("place", in.Place)
	if err != nil {
		return nil, err
	}
	h, d, err := onPlan(ctx, v, id, func() (protection.SafeHaven, error) {
		return r.store.AddSafeHaven(ctx, actor, protection.NewSafeHaven{DetailID: id, Kind: in.Kind, Name: in.Name,
			Place: place, Phone: deref(in.Phone, ""), Notes: deref(in.Notes, "")})
	})
	if err != nil {
		return nil, err
	}
	return &safeHavenPayload{haven: &safeHavenResolver{d: d, h: h}, detail: d}, nil
}

type advanceNotePayload struct {
	note   *advanceNoteResolver
	detail *detailResolver
}

func (p *advanceNotePayload) AdvanceNote() *advanceNoteResolver { return p.note }
func (p *advanceNotePayload) Detail() *detailResolver           { return p.detail }

// AddAdvanceNote resolves Mutation.addAdvanceNote.
func (r *protectionRoot) AddAdvanceNote(ctx context.Context, args struct {
	Input struct {
		DetailID   graphql.ID
		MovementID *graphql.ID
		Place      *string
		NotedFor   graphql.Time
		Note       string
	}
}) (*advanceNotePayload, error) {
	actor, v, err := r.changer(ctx)
	if err != nil {
		return nil, err
	}
	in := args.Input
	id, err := parseID(in.DetailID, kindDetail, "detailId")
	if err != nil {
		return nil, err
	}
	n := protection.NewAdvanceNote{DetailID: id, Place: deref(in.Place, ""), NotedFor: in.NotedFor.Time, Note: in.Note}
	if in.MovementID != nil {
		mid, err := parseID(*in.MovementID, kindMovement, "movementId")
		if err != nil {
			return nil, err
		}
		n.MovementID = &mid
	}
	if err := checkInstant("notedFor", in.NotedFor.Time); err != nil {
		return nil, err
	}
	note, d, err := onPlan(ctx, v, id, func() (protection.AdvanceNote, error) {
		return r.store.AddAdvanceNote(ctx, actor, n)
	})
	if err != nil {
		return nil, err
	}
	return &advanceNotePayload{note: &advanceNoteResolver{d: d, n: note}, detail: d}, nil
}

type reportPositionPayload struct{ p protection.Position }

func (p *reportPositionPayload) Position() *positionResolver { return &positionResolver{p.p} }

// ReportPosition resolves Mutation.reportPosition. The answer is the
// position the agent just sent, so it is not a read of anything.
func (r *protectionRoot) ReportPosition(ctx context.Context, args struct {
	Input struct {
		DetailID            graphql.ID
		Latitude, Longitude float64
		At                  *graphql.Time
	}
}) (*reportPositionPayload, error) {
	actor, v, err := r.changer(ctx)
	if err != nil {
		return nil, err
	}
	in := args.Input
	id, err := parseID(in.DetailID, kindDetail, "detailId")
	if err != nil {
		return nil, err
	}
	at, err := optionalInstant("at", in.At)
	if err != nil {
		return nil, err
	}
	p, err := r.store.ReportPosition(ctx, actor, id, protection.Point{Latitude: in.Latitude, Longitude: in.Longitude}, at)
	if err != nil {
		return nil, v.concealed(ctx, id, err)
	}
	return &reportPositionPayload{p}, nil
}

type checkInPayload struct {
	receipt          protection.Receipt
	clientMutationID *string
}

func (p *checkInPayload) CheckIn() *receiptResolver { return &receiptResolver{p.receipt} }
func (p *checkInPayload) ClientMutationID() *string { return p.clientMutationID }

type receiptResolver struct{ r protection.Receipt }

func (x *receiptResolver) At() graphql.Time      { return graphql.Time{Time: x.r.At} }
func (x *receiptResolver) NextDue() graphql.Time { return graphql.Time{Time: x.r.NextDue} }

// CheckIn resolves Mutation.checkIn. A duress code is answered exactly as
// an ordinary one: the store decides, and this path never learns which it
// was.
func (r *protectionRoot) CheckIn(ctx context.Context, args struct {
	Input struct {
		DetailID            graphql.ID
		Code                string
		Latitude, Longitude *float64
		Note                *string
		ClientMutationID    *string
	}
}) (*checkInPayload, error) {
	actor, v, err := r.changer(ctx)
	if err != nil {
		return nil, err
	}
	in := args.Input
	id, err := parseID(in.DetailID, kindDetail, "detailId")
	if err != nil {
		return nil, err
	}
	c := protection.CheckInInput{DetailID: id, Code: in.Code, Note: deref(in.Note, ""), ClientMutationID: deref(in.ClientMutationID, "")}
	switch {
	case in.Latitude != nil && in.Longitude != nil:
		c.Position = &protection.Point{Latitude: *in.Latitude, Longitude: *in.Longitude}
	case in.Latitude != nil:
		return nil, fault.Invalid("longitude", "give both latitude and longitude, or neither")
	case in.Longitude != nil:
		return nil, fault.Invalid("latitude", "give both latitude and longitude, or neither")
	}
	receipt, err := r.store.CheckIn(ctx, actor, c)
	if err != nil {
		return nil, v.concealed(ctx, id, err)
	}
	return &checkInPayload{receipt: receipt, clientMutationID: in.ClientMutationID}, nil
}

type setCodesPayload struct{ at time.Time }

func (p *setCodesPayload) UpdatedAt() graphql.Time { return graphql.Time{Time: p.at} }

// SetCheckInCodes resolves Mutation.setCheckInCodes: an agent's own codes.
func (r *protectionRoot) SetCheckInCodes(ctx context.Context, args struct {
	Input struct{ Code, DuressCode string }
}) (*setCodesPayload, error) {
	actor, _, err := r.changer(ctx)
	if err != nil {
		return nil, err
	}
	at, err := r.store.SetCodes(ctx, actor, args.Input.Code, args.Input.DuressCode)
	if err != nil {
		return nil, err
	}
	return &setCodesPayload{at}, nil
}

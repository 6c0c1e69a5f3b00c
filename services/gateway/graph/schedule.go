package graph

import (
	"context"
	"strings"
	"time"

	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/directory"
	"meridian.dev/platform/policy"
	"meridian.dev/platform/schedule"
)

// scheduleRoot resolves on-call schedules (30_schedule.graphql): who is on
// call, which region holds follow-the-sun duty, rotations and overrides.
type scheduleRoot struct {
	*env
	schedules *schedule.Store
	directory *directory.Store
}

// OnCall resolves Query.onCall.
func (r *scheduleRoot) OnCall(ctx context.Context, args struct {
	Region string
	At     *graphql.Time
}) ([]*onCallShiftResolver, error) {
	if _, err := r.viewer(ctx); err != nil {
		return nil, err
	}
	region, err := r.regions.check(ctx, "region", &args.Region)
	if err != nil {
		return nil, err
	}
	at, err := instant("at", args.At, time.Now())
	if err != nil {
		return nil, err
	}
	shifts, err := r.schedules.OnCallIn(ctx, region, at)
	if err != nil {
		return nil, err
	}
	return r.shiftResolvers(ctx, shifts)
}

func (r *scheduleRoot) shiftResolvers(ctx context.Context, shifts []schedule.OnCallShift) ([]*onCallShiftResolver, error) {
	subjects := make([]string, len(shifts))
	for i, s := range shifts {
		subjects[i] = s.Person
	}
	names, err := r.directory.Names(ctx, subjects)
	if err != nil {
		return nil, err
	}
	out := make([]*onCallShiftResolver, len(shifts))
	for i, s := range shifts {
		out[i] = &onCallShiftResolver{s: s, name: names[s.Person]}
	}
	return out, nil
}

// DutyRegion resolves Query.dutyRegion.
func (r *scheduleRoot) DutyRegion(ctx context.Context, args struct{ At *graphql.Time }) (*dutyResolver, error) {
	if _, err := r.viewer(ctx); err != nil {
		return nil, err
	}
	at, err := instant("at", args.At, time.Now())
	if err != nil {
		return nil, err
	}
	hours, err := r.schedules.Hours(ctx)
	if err != nil {
		return nil, err
	}
	region, open, err := schedule.DutyRegion(hours, at)
	if err != nil {
		return nil, err
	}
	return &dutyResolver{region: r.regions.resolver(ctx, region), open: open, at: at}, nil
}

type createRotationInput struct {
	Region, Name, Timezone, Kind, HandoffTime, Start string
	HandoffDay                                       *string
	Participants                                     []string
}

// CreateRotation resolves Mutation.createRotation.
func (r *scheduleRoot) CreateRotation(ctx context.Context, args struct{ Input createRotationInput }) (*createRotationPayload, error) {
	in := args.Input
	id, region, err := r.scheduleManager(ctx, in.Region)
	if err != nil {
		return nil, err
	}
	day := time.Monday
	if in.HandoffDay != nil {
		day = weekdays[*in.HandoffDay]
	}
	rot, err := r.schedules.CreateRotation(ctx, id.Subject, schedule.Rotation{
		Region: region, Name: strings.TrimSpace(in.Name), TimeZone: in.Timezone, Kind: schedule.ShiftKind(in.Kind),
		HandoffTime: in.HandoffTime, HandoffDay: day, Start: in.Start, Participants: in.Participants,
	})
	if err != nil {
		return nil, err
	}
	return &createRotationPayload{&rotationResolver{regions: r.regions, rot: rot}}, nil
}

type addOverrideInput struct {
	Region, Rotation, Person string
	From, To                 graphql.Time
}

// AddOnCallOverride resolves Mutation.addOnCallOverride.
func (r *scheduleRoot) AddOnCallOverride(ctx context.Context, args struct{ Input addOverrideInput }) (*addOverridePayload, error) {
	in := args.Input
	id, region, err := r.scheduleManager(ctx, in.Region)
	if err != nil {
		return nil, err
	}
	if err := checkInstant("from", in.From.Time); err != nil {
		return nil, err
	}
	if err := checkInstant("to", in.To.Time); err != nil {
		return nil, err
	}
	o, err := r.schedules.AddOverride(ctx, id.Subject, region, in.Rotation, in.Person, in.From.Time, in.To.Time)
	if err != nil {
		return nil, err
	}
	shifts, err := r.shiftResolvers(ctx, []schedule.OnCallShift{{Rotation: in.Rotation,
		Shift: schedule.Shift{Person: o.Person, From: o.From, To: o.To, Override: true}}})
	if err != nil {
		return nil, err
	}
	return &addOverridePayload{shifts[0]}, nil
}

// scheduleManager authenticates a caller who wants to change region's
// schedule and checks they may.
func (r *scheduleRoot) scheduleManager(ctx context.Context, region string) (auth.Identity, string, error) {
	id, err := r.actor(ctx)
	if err != nil {
		return auth.Identity{}, "", err
	}
	code, err := r.regions.check(ctx, "region", &region)
	if err != nil {
		return auth.Identity{}, "", err
	}
	return id, code, policy.Allow(id, policy.ManageSchedule, code)
}

var weekdays = map[string]time.Weekday{
	"SUNDAY": time.Sunday, "MONDAY": time.Monday, "TUESDAY": time.Tuesday, "WEDNESDAY": time.Wednesday,
	"THURSDAY": time.Thursday, "FRIDAY": time.Friday, "SATURDAY": time.Saturday,
}

type onCallShiftResolver struct {
	s    schedule.OnCallShift
	name string
}

func (o *onCallShiftResolver) Rotation() string   { return o.s.Rotation }
func (o *onCallShiftResolver) From() graphql.Time { return graphql.Time{Time: o.s.From} }
func (o *onCallShiftResolver) To() graphql.Time   { return graphql.Time{Time: o.s.To} }
func (o *onCallShiftResolver) Override() bool     { return o.s.Override }
func (o *onCallShiftResolver) Person() *personResolver {
	name := o.name
	if name == "" {
		name = o.s.Person
	}
	return &personResolver{subject: o.s.Person, name: name}
}

type dutyResolver struct {
	region *regionResolver
	open   bool
	at     time.Time
}

func (d *dutyResolver) Region() *regionResolver { return d.region }
func (d *dutyResolver) Open() bool              { return d.open }
func (d *dutyResolver) At() graphql.Time        { return graphql.Time{Time: d.at} }

type rotationResolver struct {
	regions *regionCache
	rot     schedule.Rotation
}

func (x *rotationResolver) Region(ctx context.Context) *regionResolver {
	return x.regions.resolver(ctx, x.rot.Region)
}
func (x *rotationResolver) Name() string           { return x.rot.Name }
func (x *rotationResolver) Timezone() string       { return x.rot.TimeZone }
func (x *rotationResolver) Kind() string           { return string(x.rot.Kind) }
func (x *rotationResolver) HandoffTime() string    { return x.rot.HandoffTime }
func (x *rotationResolver) HandoffDay() string     { return strings.ToUpper(x.rot.HandoffDay.String()) }
func (x *rotationResolver) Start() string          { return x.rot.Start }
func (x *rotationResolver) Participants() []string { return x.rot.Participants }

type createRotationPayload struct{ rot *rotationResolver }

func (p *createRotationPayload) Rotation() *rotationResolver { return p.rot }

type addOverridePayload struct{ shift *onCallShiftResolver }

func (p *addOverridePayload) Shift() *onCallShiftResolver { return p.shift }

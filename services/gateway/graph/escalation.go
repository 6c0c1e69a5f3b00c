package graph

import (
	"context"
	"time"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/live"
	"meridian.dev/platform/policy"
	wf "meridian.dev/workflows/escalation"
)

// escalationRoot resolves the escalations domain (20_escalation.graphql):
// escalations, their decisions, timelines, statistics and policies.
// Decisions go through the escalation client, which asks the workflow (or
// Postgres while it is out of reach); who may take them is the
// escalation's own decision (escalation.Authority), never this package's.
type escalationRoot struct {
	*env
	pool        *pgxpool.Pool
	escalations *escalation.Store
	decisions   *wf.Client
}

func newEscalationRoot(e *env, pool *pgxpool.Pool, store *escalation.Store, decisions *wf.Client) *escalationRoot {
	r := &escalationRoot{env: e, pool: pool, escalations: store, decisions: decisions}
	e.nodes[kindEscalation] = func(ctx context.Context, id uuid.UUID) (node, error) {
		x, err := store.GetAs(ctx, viewerOf(ctx), id)
		return nodeOrNil(r.resolver(x, loadersOf(ctx)), err, escalation.ErrNotFound)
	}
	return r
}

// viewerOf is the caller as a nested field or a node loader sees them,
// their checks made by the query that reached it. Without one it is the
// zero identity, which sees no restricted escalation or incident.
func viewerOf(ctx context.Context) auth.Identity {
	id, _ := auth.FromContext(ctx)
	return id
}

// resolver shapes an escalation; ls are the loaders of the request (or the
// subscription event) it belongs to.
func (r *escalationRoot) resolver(e escalation.Escalation, ls *loaders) *escalationResolver {
	return &escalationResolver{root: r, e: e, ls: ls}
}

// Escalation resolves Query.escalation.
func (r *escalationRoot) Escalation(ctx context.Context, args struct{ ID graphql.ID }) (*escalationResolver, error) {
	viewer, err := r.viewer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseID(args.ID, kindEscalation, "id")
	if err != nil {
		return nil, err
	}
	e, err := r.escalations.GetAs(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	return r.resolver(e, loadersOf(ctx)), nil
}

type escalationsArgs struct {
	Region   *string
	Status   *string
	Severity *string
	Since    *graphql.Time
	Until    *graphql.Time
	First    graphql.NullInt
	After    *string
}

// Escalations resolves Query.escalations, newest first, leaving out the
// restricted escalations the caller may not see.
func (r *escalationRoot) Escalations(ctx context.Context, args escalationsArgs) (*connection[*escalationResolver], error) {
	viewer, err := r.viewer(ctx)
	if err != nil {
		return nil, err
	}
	region, err := r.regions.check(ctx, "region", args.Region)
	if err != nil {
		return nil, err
	}
	first, err := pageSize(args.First, 50)
	if err != nil {
		return nil, err
	}
	after := ""
	if args.After != nil && *args.After != "" {
		id, err := parseID(graphql.ID(*args.After), kindEscalation, "after")
		if err != nil {
			return nil, err
		}
		after = id.String()
	}
	filter := escalation.Filter{Region: region, Status: escalation.Status(deref(args.Status, "")), Severity: escalation.Severity(deref(args.Severity, "")),
		Viewer: viewer}
	if filter.Since, err = instant("since", args.Since, time.Time{}); err != nil {
		return nil, err
	}
	if filter.Until, err = instant("until", args.Until, time.Time{}); err != nil {
		return nil, err
	}
	list, more, err := r.escalations.List(ctx, filter, first, after)
	if err != nil {
		return nil, err
	}
	// One query for every escalation's site, not one per escalation.
	ls := loadersOf(ctx)
	sites := r.owners.sites.loader(ls)
	for _, e := range list {
		if e.SiteID != uuid.Nil {
			sites.want(e.SiteID)
		}
	}
	return newConnection(list, func(_ int, e escalation.Escalation) string { return string(encodeID(kindEscalation, e.ID)) }, more,
		func(e escalation.Escalation) *escalationResolver { return r.resolver(e, ls) }), nil
}

// EscalationStats resolves Query.escalationStats. Restricted escalations
// count for nobody (escalation.Store.Stats).
func (r *escalationRoot) EscalationStats(ctx context.Context, args struct {
	Region *string
	Since  *graphql.Time
}) (*statsResolver, error) {
	if _, err := r.viewer(ctx); err != nil {
		return nil, err
	}
	region, err := r.regions.check(ctx, "region", args.Region)
	if err != nil {
		return nil, err
	}
	since, err := instant("since", args.Since, time.Now().AddDate(0, 0, -30))
	if err != nil {
		return nil, err
	}
	st, err := r.escalations.Stats(ctx, region, since)
	if err != nil {
		return nil, err
	}
	return &statsResolver{st}, nil
}

type escalationDecisionInput struct {
	EscalationID     graphql.ID
	Disposition      *string
	Note             *string
	ClientMutationID *string
}

// AcknowledgeEscalation resolves Mutation.acknowledgeEscalation.
func (r *escalationRoot) AcknowledgeEscalation(ctx context.Context, args struct{ Input escalationDecisionInput }) (*escalationPayload, error) {
	in := args.Input
	return r.decide(ctx, in.EscalationID, in.ClientMutationID, escalation.ActAcknowledge, func(d decider) (escalation.Escalation, error) {
		return r.decisions.Acknowledge(ctx, d.caller, d.id, deref(in.Note, ""), deref(in.Disposition, ""))
	})
}

// ResolveEscalation resolves Mutation.resolveEscalation.
func (r *escalationRoot) ResolveEscalation(ctx context.Context, args struct{ Input escalationDecisionInput }) (*escalationPayload, error) {
	in := args.Input
	return r.decide(ctx, in.EscalationID, in.ClientMutationID, escalation.ActResolve, func(d decider) (escalation.Escalation, error) {
		return r.decisions.Resolve(ctx, d.caller, d.id, deref(in.Note, ""))
	})
}

// EscalateNow resolves Mutation.escalateNow.
func (r *escalationRoot) EscalateNow(ctx context.Context, args struct{ Input escalationDecisionInput }) (*escalationPayload, error) {
	in := args.Input
	return r.decide(ctx, in.EscalationID, in.ClientMutationID, escalation.ActEscalateNow, func(d decider) (escalation.Escalation, error) {
		return r.decisions.EscalateNow(ctx, d.caller, d.id, deref(in.Note, ""))
	})
}

type handOffInput struct {
	EscalationID     graphql.ID
	ToRegion         string
	Note             *string
	ClientMutationID *string
}

// HandOffEscalation resolves Mutation.handOffEscalation.
func (r *escalationRoot) HandOffEscalation(ctx context.Context, args struct{ Input handOffInput }) (*escalationPayload, error) {
	in := args.Input
	to, err := r.regions.check(ctx, "toRegion", &in.ToRegion)
	if err != nil {
		return nil, err
	}
	return r.decide(ctx, in.EscalationID, in.ClientMutationID, escalation.ActHandOff, func(d decider) (escalation.Escalation, error) {
		return r.decisions.HandOff(ctx, d.caller, d.id, to, deref(in.Note, ""))
	})
}

type addNoteInput struct {
	EscalationID     graphql.ID
	Note             string
	ClientMutationID *string
}

// AddEscalationNote resolves Mutation.addEscalationNote: Postgres only.
func (r *escalationRoot) AddEscalationNote(ctx context.Context, args struct{ Input addNoteInput }) (*escalationPayload, error) {
	in := args.Input
	return r.decide(ctx, in.EscalationID, in.ClientMutationID, escalation.ActNote, func(d decider) (escalation.Escalation, error) {
		return r.escalations.AddNote(ctx, d.caller, d.id, in.Note, deref(in.ClientMutationID, ""))
	})
}

// decider is the authenticated caller and the escalation they act on.
type decider struct {
	caller auth.Identity
	id     uuid.UUID
}

// decide is what every escalation mutation shares: the caller (rate
// limited), the escalation's ID, the escalation's Guard for action (a
// restricted escalation out of the caller's sight is not found, and one in
// sight answers by its Authority), and the payload of the answer.
func (r *escalationRoot) decide(ctx context.Context, escalationID graphql.ID, clientMutationID *string, action policy.Action, act func(decider) (escalation.Escalation, error)) (*escalationPayload, error) {
	caller, err := r.actor(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseID(escalationID, kindEscalation, "escalationId")
	if err != nil {
		return nil, err
	}
	if err := r.escalations.Guard(ctx, caller, id, action); err != nil {
		return nil, err
	}
	e, err := act(decider{caller: caller, id: id})
	if err != nil {
		return nil, err
	}
	return &escalationPayload{escalation: r.resolver(e, loadersOf(ctx)), clientMutationID: clientMutationID}, nil
}

type escalationPayload struct {
	escalation       *escalationResolver
	clientMutationID *string
}

func (p *escalationPayload) Escalation() *escalationResolver { return p.escalation }
func (p *escalationPayload) ClientMutationID() *string       { return p.clientMutationID }

// EscalationUpdated resolves Subscription.escalationUpdated.
func (r *escalationRoot) EscalationUpdated(ctx context.Context, args subscriptionArgs) (<-chan *escalationUpdatedResolver, error) {
	return watch(ctx, r.env, escalation.Updates, args, func(ev live.Delivered[escalation.ChangedEvent]) *escalationUpdatedResolver {
		return &escalationUpdatedResolver{node: r.resolver(ev.Event.Escalation, newLoaders()), cursor: ev.Cursor}
	})
}

type escalationUpdatedResolver struct {
	node   *escalationResolver
	cursor string
}

func (e *escalationUpdatedResolver) Escalation() *escalationResolver { return e.node }
func (e *escalationUpdatedResolver) Cursor() string                  { return e.cursor }

type escalationResolver struct {
	root *escalationRoot
	e    escalation.Escalation
	ls   *loaders
}

func (e *escalationResolver) ID() graphql.ID          { return encodeID(kindEscalation, e.e.ID) }
func (e *escalationResolver) Status() string          { return string(e.e.Status) }
func (e *escalationResolver) Tier() int32             { return e.e.Tier }
func (e *escalationResolver) AcknowledgedBy() *string { return e.e.AcknowledgedBy }
func (e *escalationResolver) StartedAt() graphql.Time { return graphql.Time{Time: e.e.StartedAt} }
func (e *escalationResolver) Severity() string        { return string(e.e.Severity) }
func (e *escalationResolver) Disposition() *string    { return e.e.Disposition }
func (e *escalationResolver) Policy() *policyVersionResolver {
	return &policyVersionResolver{name: e.e.PolicyName, version: e.e.PolicyVersion}
}

// ViewerCan answers from the Authority the mutations ask, plus the status
// rules the workflow's validators apply first.
func (e *escalationResolver) ViewerCan(ctx context.Context) (*escalationActions, error) {
	id, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	a, err := e.root.escalations.Authority(ctx, e.e)
	if err != nil {
		return nil, err
	}
	may := func(action policy.Action) bool { return a.Allow(id, action) == nil }
	open, resolved := e.e.Status == escalation.StatusOpen, e.e.Status == escalation.StatusResolved
	return &escalationActions{
		acknowledge: open && may(escalation.ActAcknowledge),
		resolve:     !resolved && may(escalation.ActResolve),
		escalateNow: open && may(escalation.ActEscalateNow),
		handOff:     !resolved && may(escalation.ActHandOff),
		addNote:     may(escalation.ActNote),
	}, nil
}

type escalationActions struct{ acknowledge, resolve, escalateNow, handOff, addNote bool }

func (x *escalationActions) Acknowledge() bool { return x.acknowledge }
func (x *escalationActions) Resolve() bool     { return x.resolve }
func (x *escalationActions) EscalateNow() bool { return x.escalateNow }
func (x *escalationActions) HandOff() bool     { return x.handOff }
func (x *escalationActions) AddNote() bool     { return x.addNote }

func (e *escalationResolver) Region(ctx context.Context) *regionResolver {
	return e.root.regions.resolver(ctx, e.e.Region)
}

func (e *escalationResolver) Incident(ctx context.Context) (*incidentResolver, error) {
	if e.e.IncidentID == nil {
		return nil, nil
	}
	return e.root.owners.incidents.find(ctx, *e.e.IncidentID)
}

func (e *escalationResolver) Site(ctx context.Context) (*siteResolver, error) {
	if e.e.SiteID == uuid.Nil {
		return nil, nil // an incident's escalation without a site
	}
	s, err := e.root.owners.sites.loader(e.ls).load(ctx, e.e.SiteID)
	if err != nil {
		return nil, err
	}
	return e.root.owners.sites.resolver(s), nil
}

func (e *escalationResolver) Timeline(ctx context.Context) ([]*timelineResolver, error) {
	entries, err := e.root.escalations.Timeline(ctx, e.e.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*timelineResolver, len(entries))
	for i, t := range entries {
		out[i] = &timelineResolver{t}
	}
	return out, nil
}

type timelineResolver struct{ t escalation.TimelineEntry }

func (t *timelineResolver) At() graphql.Time   { return graphql.Time{Time: t.t.At} }
func (t *timelineResolver) Kind() string       { return t.t.Kind }
func (t *timelineResolver) Actor() string      { return t.t.Actor }
func (t *timelineResolver) Note() string       { return t.t.Note }
func (t *timelineResolver) Tier() *int32       { return t.t.Tier }
func (t *timelineResolver) Recipient() *string { return t.t.Recipient }
func (t *timelineResolver) Channel() *string   { return t.t.Channel }
func (t *timelineResolver) Attempt() *int32    { return t.t.Attempt }

type statsResolver struct{ s escalation.Stats }

func (s *statsResolver) Opened() int32                  { return int32(s.s.Opened) }
func (s *statsResolver) Acknowledged() int32            { return int32(s.s.Acknowledged) }
func (s *statsResolver) Resolved() int32                { return int32(s.s.Resolved) }
func (s *statsResolver) TimeToAcknowledgeP50() *float64 { return secondsOf(s.s.AckP50) }
func (s *statsResolver) TimeToAcknowledgeP90() *float64 { return secondsOf(s.s.AckP90) }
func (s *statsResolver) TimeToResolveP50() *float64     { return secondsOf(s.s.ResolveP50) }
func (s *statsResolver) TimeToResolveP90() *float64     { return secondsOf(s.s.ResolveP90) }

func secondsOf(d *time.Duration) *float64 {
	if d == nil {
		return nil
	}
	f := d.Seconds()
	return &f
}

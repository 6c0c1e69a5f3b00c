// Package graph resolves Meridian's GraphQL schema. Each domain has its own
// resolver root (sites, escalations, incidents, schedules, the audit log,
// and the caller's own fields) with its own SDL file in schema/graphql; the
// root Resolver embeds them all. Resolvers check the caller, call the
// domain stores and shape the answer; the rules live in the domains.
package graph

import (
	"context"
	"fmt"
	"log/slog"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	graphqlotel "github.com/graph-gophers/graphql-go/trace/otel"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"meridian.dev/platform/advisory"
	"meridian.dev/platform/audit"
	"meridian.dev/platform/directory"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/limit"
	"meridian.dev/platform/live"
	"meridian.dev/platform/protection"
	"meridian.dev/platform/proximity"
	"meridian.dev/platform/schedule"
	"meridian.dev/platform/site"
	"meridian.dev/platform/travel"
	"meridian.dev/schema"
	wf "meridian.dev/workflows/escalation"
	travelwf "meridian.dev/workflows/travel"
)

// Deps are what the resolvers need, each domain root taking its own share.
type Deps struct {
	Pool        *pgxpool.Pool
	Sites       *site.Store
	Escalations *escalation.Store
	Live        *live.Publisher
	Hub         *live.Hub
	Limiter     *limit.Limiter
	Schedules   *schedule.Store
	Directory   *directory.Store
	Incidents   *incident.Store
	Advisories  *advisory.Store
	Trips       *travel.Store
	Radii       *proximity.Radii
	Events      *proximity.Events
	Protection  *protection.Store
	// TaskQueue is where on-demand feed refreshes run (the worker's).
	TaskQueue string
	// Engine is the Temporal client escalation decisions go through; nil
	// records acknowledgements and resolutions in Postgres only.
	Engine client.Client
	Log    *slog.Logger
}

// Resolver is the root resolver: every domain's root, embedded, so
// graphql-go finds each root field on the root that owns it. Two roots
// declaring the same field would make the method ambiguous, and the schema
// would then fail to parse (in TestSchemaMatchesResolvers, not in
// production).
type Resolver struct {
	*viewerRoot
	*siteRoot
	*escalationRoot
	*incidentRoot
	*scheduleRoot
	*auditRoot
	*advisoryRoot
	*tripRoot
	*proximityRoot
	*protectionRoot
}

// Schema is the parsed schema behind a guard: every document is measured
// (depth, cost, aliases, text) before graphql-go runs it, and no answer
// leaves before the protection reads it carries are logged.
type Schema struct {
	*graphql.Schema
	guard  *guard
	access accessWriter
}

// NewSchema parses the SDL against the resolvers. A mismatch is an error
// here, and the unit test that calls it fails CI before any deploy.
func NewSchema(d Deps, l Limits) (*Schema, error) {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &env{log: log, limiter: d.Limiter, hub: d.Hub, regions: &regionCache{pool: d.Pool}, nodes: nodeKinds{}}
	r := &Resolver{
		viewerRoot:     &viewerRoot{env: e, directory: d.Directory},
		siteRoot:       newSiteRoot(e, d.Sites, d.Live),
		escalationRoot: newEscalationRoot(e, d.Pool, d.Escalations, wf.NewClient(d.Engine, d.Escalations, log)),
		incidentRoot:   newIncidentRoot(e, d.Incidents),
		scheduleRoot:   &scheduleRoot{env: e, schedules: d.Schedules, directory: d.Directory},
		auditRoot:      &auditRoot{env: e, log: audit.NewReader(d.Pool)},
		advisoryRoot:   &advisoryRoot{env: e, advisories: d.Advisories, engine: d.Engine, taskQueue: d.TaskQueue},
		tripRoot:       newTripRoot(e, d.Trips, d.Directory, approvalClient(d.Engine)),
		proximityRoot:  &proximityRoot{env: e, radii: d.Radii, events: d.Events, finder: proximity.NewFinder(d.Pool)},
		protectionRoot: newProtectionRoot(e, d.Protection, d.Directory),
	}
	e.owners = owners{sites: r.siteRoot, escalations: r.escalationRoot, incidents: r.incidentRoot, trips: r.tripRoot, proximity: r.proximityRoot,
		protection: r.protectionRoot}
	s, err := graphql.ParseSchema(schema.GraphQL(), r,
		graphql.UseStringDescriptions(),
		graphql.MaxQueryLength(l.MaxQueryLength),
		// Depth is measured by the guard, which leaves out introspection:
		// the standard introspection query is deeper than any real one.
		graphql.MaxParallelism(20),
		graphql.Tracer(graphqlotel.DefaultTracer()),
		graphql.PanicHandler(panicHandler{log}),
	)
	if err != nil {
		return nil, err
	}
	g, err := newGuard(s.AST(), l)
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	out := &Schema{Schema: s, guard: g}
	if d.Protection != nil {
		out.access = d.Protection
	}
	return out, nil
}

// Exec runs a query or mutation once the guard has let it through.
func (s *Schema) Exec(ctx context.Context, query, operationName string, variables map[string]any) *graphql.Response {
	if errs := s.guard.check(query, operationName, variables); len(errs) > 0 {
		return &graphql.Response{Errors: errs}
	}
	ctx, reads := withAccessLog(ctx)
	resp, _ := flushAccess(ctx, s.access, reads, s.Schema.Exec(ctx, query, operationName, variables))
	return resp
}

// Subscribe starts a subscription (or, over a WebSocket, any operation)
// once the guard has let it through; a refusal arrives as the one response
// on the channel, as graphql-go delivers its own validation errors.
func (s *Schema) Subscribe(ctx context.Context, query, operationName string, variables map[string]any) (<-chan any, error) {
	if errs := s.guard.check(query, operationName, variables); len(errs) > 0 {
		c := make(chan any, 1)
		c <- &graphql.Response{Errors: errs}
		close(c)
		return c, nil
	}
	ctx, reads := withAccessLog(ctx)
	results, err := s.Schema.Subscribe(ctx, query, operationName, variables)
	if err != nil {
		return nil, err
	}
	return flushEach(ctx, s.access, reads, results), nil
}

// approvalClient decides trips through the approval workflows; without an
// engine, decideTrip says so.
func approvalClient(c client.Client) *travelwf.Client {
	if c == nil {
		return nil
	}
	return &travelwf.Client{Temporal: c}
}

type panicHandler struct{ log *slog.Logger }

func (h panicHandler) MakePanicError(ctx context.Context, value any) *gqlerrors.QueryError {
	return &gqlerrors.QueryError{Message: "internal error", ResolverError: fmt.Errorf("panic: %v", value)}
}

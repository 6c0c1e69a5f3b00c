// Package graph resolves Meridian's GraphQL schema. Resolvers check the
// policy, call the domain stores and shape the answer; they hold no business
// rules of their own.
package graph

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	graphqlotel "github.com/graph-gophers/graphql-go/trace/otel"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/directory"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/limit"
	"meridian.dev/platform/live"
	"meridian.dev/platform/policy"
	"meridian.dev/platform/schedule"
	"meridian.dev/platform/site"
	"meridian.dev/schema"
)

// Limits protect the server from expensive queries.
type Limits struct {
	MaxDepth       int
	MaxQueryLength int
}

// DefaultLimits fit every query the product's own screens send, with room.
var DefaultLimits = Limits{MaxDepth: 12, MaxQueryLength: 20_000}

// Resolver is the root resolver.
type Resolver struct {
	pool        *pgxpool.Pool
	sites       *site.Store
	escalations *escalation.Store
	live        *live.Publisher
	hub         *live.Hub
	limiter     *limit.Limiter
	schedules   *schedule.Store
	directory   *directory.Store
	incidents   *incident.Store
	engine      client.Client
	log         *slog.Logger

	regionsMu sync.Mutex
	regions   []Region
}

// Deps are the resolver's dependencies.
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
	// Engine is the Temporal client decisions go through; nil records them
	// in Postgres only.
	Engine client.Client
	Log    *slog.Logger
}

// NewSchema parses the SDL against the resolvers. A mismatch is an error
// here, and the unit test that calls it fails CI before any deploy.
func NewSchema(d Deps, l Limits) (*graphql.Schema, error) {
	r := &Resolver{pool: d.Pool, sites: d.Sites, escalations: d.Escalations, live: d.Live, hub: d.Hub, limiter: d.Limiter,
		schedules: d.Schedules, directory: d.Directory, incidents: d.Incidents, engine: d.Engine, log: d.Log}
	return graphql.ParseSchema(schema.GraphQL(), r,
		graphql.UseStringDescriptions(),
		graphql.MaxDepth(l.MaxDepth),
		graphql.MaxQueryLength(l.MaxQueryLength),
		graphql.MaxParallelism(20),
		graphql.Tracer(graphqlotel.DefaultTracer()),
		graphql.PanicHandler(panicHandler{d.Log}),
	)
}

type panicHandler struct{ log *slog.Logger }

func (h panicHandler) MakePanicError(ctx context.Context, value any) *gqlerrors.QueryError {
	return &gqlerrors.QueryError{Message: "internal error", ResolverError: fmt.Errorf("panic: %v", value)}
}

// viewer returns the caller allowed to read, or an error.
func viewer(ctx context.Context) (auth.Identity, error) {
	id, err := auth.FromContext(ctx)
	if err != nil {
		return auth.Identity{}, err
	}
	return id, policy.Allow(id, policy.ReadAll, "")
}

// Region is a region row.
type Region struct {
	Code, Name, Timezone string
}

func (r *Resolver) loadRegions(ctx context.Context) ([]Region, error) {
	// Regions change with a migration, never at run time: read them once,
	// and again only after a failed read.
	r.regionsMu.Lock()
	defer r.regionsMu.Unlock()
	if r.regions != nil {
		return r.regions, nil
	}
	rows, err := r.pool.Query(ctx, `SELECT code, name, timezone FROM regions ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("regions: %w", err)
	}
	regions, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Region])
	if err != nil {
		return nil, fmt.Errorf("regions: %w", err)
	}
	r.regions = regions
	return regions, nil
}

func (r *Resolver) region(ctx context.Context, code string) *regionResolver {
	regions, err := r.loadRegions(ctx)
	if err == nil {
		for _, reg := range regions {
			if reg.Code == code {
				return &regionResolver{reg}
			}
		}
	}
	return &regionResolver{Region{Code: code, Name: code}}
}

// checkRegion turns an optional region filter into a known code.
func (r *Resolver) checkRegion(ctx context.Context, region *string) (string, error) {
	if region == nil || *region == "" {
		return "", nil
	}
	regions, err := r.loadRegions(ctx)
	if err != nil {
		return "", err
	}
	for _, reg := range regions {
		if reg.Code == *region {
			return reg.Code, nil
		}
	}
	return "", invalidRegion("region", *region)
}

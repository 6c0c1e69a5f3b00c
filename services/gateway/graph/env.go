package graph

import (
	"context"
	"log/slog"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/limit"
	"meridian.dev/platform/live"
	"meridian.dev/platform/policy"
)

// env is what every domain root shares: the log, the caller checks, the
// region cache, the live hub, the registry of node kinds, and the owners of
// each kind of object.
type env struct {
	log     *slog.Logger
	limiter *limit.Limiter
	hub     *live.Hub
	regions *regionCache
	nodes   nodeKinds

	owners owners
}

// owners are the roots that own each kind of object: a field of one domain
// that returns another's object (an escalation's site, an incident's
// escalations) asks the root that owns it.
type owners struct {
	sites       *siteRoot
	escalations *escalationRoot
	incidents   *incidentRoot
	trips       *tripRoot
	proximity   *proximityRoot
	protection  *protectionRoot
}

// viewer returns the caller, who must be allowed to read.
func (e *env) viewer(ctx context.Context) (auth.Identity, error) {
	id, err := auth.FromContext(ctx)
	if err != nil {
		return auth.Identity{}, err
	}
	return id, policy.Allow(id, policy.ReadAll, "")
}

// actor authenticates the caller of a mutation and counts it against their
// rate limit.
func (e *env) actor(ctx context.Context) (auth.Identity, error) {
	id, err := auth.FromContext(ctx)
	if err != nil {
		return auth.Identity{}, err
	}
	if err := e.limiter.Allow(ctx, "mutation:"+id.Subject); err != nil {
		return auth.Identity{}, err
	}
	return id, nil
}

// allow adapts policy.Allow to the stores' region callbacks.
func allow(id auth.Identity, action policy.Action) func(region string) error {
	return func(region string) error { return policy.Allow(id, action, region) }
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

package graph

import (
	"context"
	"errors"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/policy"
	"meridian.dev/platform/site"
)

// incidentRoot resolves incidents (25_incident.graphql): raised by hand or by
// a domain, escalating in every region they touch.
type incidentRoot struct {
	*env
	incidents *incident.Store
}

func newIncidentRoot(e *env, store *incident.Store) *incidentRoot {
	r := &incidentRoot{env: e, incidents: store}
	e.nodes[kindIncident] = func(ctx context.Context, id uuid.UUID) (node, error) {
		inc, err := store.GetAs(ctx, viewerOf(ctx), id)
		return nodeOrNil(r.resolver(inc), err, incident.ErrNotFound)
	}
	return r
}

func (r *incidentRoot) resolver(i incident.Incident) *incidentResolver {
	return &incidentResolver{root: r, i: i}
}

// find loads an incident for another object's field; one that is gone, or
// restricted out of the caller's sight, is null, not an error.
func (r *incidentRoot) find(ctx context.Context, id uuid.UUID) (*incidentResolver, error) {
	inc, err := r.incidents.GetAs(ctx, viewerOf(ctx), id)
	if errors.Is(err, incident.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r.resolver(inc), nil
}

// Incident resolves Query.incident.
func (r *incidentRoot) Incident(ctx context.Context, args struct{ ID graphql.ID }) (*incidentResolver, error) {
	viewer, err := r.viewer(ctx)
	if err != nil {
		return nil, err
	}
	iid, err := parseID(args.ID, kindIncident, "id")
	if err != nil {
		return nil, err
	}
	inc, err := r.incidents.GetAs(ctx, viewer, iid)
	if err != nil {
		return nil, err
	}
	return r.resolver(inc), nil
}

type raiseIncidentInput struct {
	Title, Severity, Kind string
	SourceType            string
	SourceRef             *string
	Latitude, Longitude   *float64
	SiteIDs               *[]graphql.ID
	Regions               *[]string
	ClientMutationID      *string
}

// RaiseIncident resolves Mutation.raiseIncident.
func (r *incidentRoot) RaiseIncident(ctx context.Context, args struct{ Input raiseIncidentInput }) (*raiseIncidentPayload, error) {
	id, err := r.actor(ctx)
	if err != nil {
		return nil, err
	}
	in := args.Input
	n := incident.New{Title: in.Title, Severity: escalation.Severity(in.Severity), Kind: in.Kind,
		SourceType: in.SourceType, SourceRef: deref(in.SourceRef, "")}
	switch {
	case in.Latitude != nil && in.Longitude != nil:
		n.Location = &incident.Location{Latitude: *in.Latitude, Longitude: *in.Longitude}
	case in.Latitude != nil || in.Longitude != nil:
		return nil, fault.Invalid("latitude", "give both latitude and longitude, or neither")
	}
	if in.SiteIDs != nil {
		for _, sid := range *in.SiteIDs {
			u, err := parseID(sid, kindSite, "siteIds")
			if err != nil {
				return nil, err
			}
			n.SiteIDs = append(n.SiteIDs, u)
		}
	}
	if in.Regions != nil {
		n.Regions = *in.Regions
	}
	inc, _, err := r.incidents.Raise(ctx, id.Subject, n, func(regions []string) error {
		for _, region := range regions {
			if err := policy.Allow(id, policy.RaiseIncident, region); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &raiseIncidentPayload{incident: r.resolver(inc), clientMutationID: in.ClientMutationID}, nil
}

type raiseIncidentPayload struct {
	incident         *incidentResolver
	clientMutationID *string
}

func (p *raiseIncidentPayload) Incident() *incidentResolver { return p.incident }
func (p *raiseIncidentPayload) ClientMutationID() *string   { return p.clientMutationID }

type incidentResolver struct {
	root *incidentRoot
	i    incident.Incident
}

func (x *incidentResolver) ID() graphql.ID          { return encodeID(kindIncident, x.i.ID) }
func (x *incidentResolver) Title() string           { return x.i.Title }
func (x *incidentResolver) Severity() string        { return string(x.i.Severity) }
func (x *incidentResolver) Kind() string            { return x.i.Kind }
func (x *incidentResolver) SourceType() string      { return x.i.SourceType }
func (x *incidentResolver) SourceRef() string       { return x.i.SourceRef }
func (x *incidentResolver) CreatedBy() string       { return x.i.CreatedBy }
func (x *incidentResolver) CreatedAt() graphql.Time { return graphql.Time{Time: x.i.CreatedAt} }
func (x *incidentResolver) Location() *geoResolver {
	if x.i.Location == nil {
		return nil
	}
	return &geoResolver{x.i.Location.Latitude, x.i.Location.Longitude}
}

func (x *incidentResolver) Regions(ctx context.Context) []*regionResolver {
	out := make([]*regionResolver, len(x.i.Regions))
	for i, code := range x.i.Regions {
		out[i] = x.root.regions.resolver(ctx, code)
	}
	return out
}

func (x *incidentResolver) Sites(ctx context.Context) ([]*siteResolver, error) {
	sites := x.root.owners.sites.loader(loadersOf(ctx))
	sites.want(x.i.SiteIDs...)
	out := make([]*siteResolver, 0, len(x.i.SiteIDs))
	for _, sid := range x.i.SiteIDs {
		s, err := sites.load(ctx, sid)
		if errors.Is(err, site.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, x.root.owners.sites.resolver(s))
	}
	return out, nil
}

func (x *incidentResolver) Escalations(ctx context.Context) ([]*escalationResolver, error) {
	escs, err := x.root.owners.escalations.escalations.ForIncidentAs(ctx, viewerOf(ctx), x.i.ID)
	if err != nil {
		return nil, err
	}
	ls := loadersOf(ctx)
	out := make([]*escalationResolver, len(escs))
	for i, e := range escs {
		out[i] = x.root.owners.escalations.resolver(e, ls)
	}
	return out, nil
}

package graph

import (
	"context"

	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/policy"
	"meridian.dev/platform/site"
)

// actor authenticates the caller of a mutation and counts it against their
// rate limit.
func (r *Resolver) actor(ctx context.Context) (auth.Identity, error) {
	id, err := auth.FromContext(ctx)
	if err != nil {
		return auth.Identity{}, err
	}
	if err := r.limiter.Allow(ctx, "mutation:"+id.Subject); err != nil {
		return auth.Identity{}, err
	}
	return id, nil
}

func allow(id auth.Identity, action policy.Action) func(region string) error {
	return func(region string) error { return policy.Allow(id, action, region) }
}

type createSiteInput struct {
	Code, Name, Region, CountryCode, City, Timezone, Criticality string
	Latitude, Longitude                                          float64
	ClientMutationID                                             *string
}

// CreateSite resolves Mutation.createSite.
func (r *Resolver) CreateSite(ctx context.Context, args struct{ Input createSiteInput }) (*createSitePayload, error) {
	id, err := r.actor(ctx)
	if err != nil {
		return nil, err
	}
	in := args.Input
	s, err := r.sites.Create(ctx, id.Subject, site.NewSite{
		Code: in.Code, Name: in.Name, Region: in.Region, CountryCode: in.CountryCode, City: in.City,
		Latitude: in.Latitude, Longitude: in.Longitude, Timezone: in.Timezone, Criticality: in.Criticality,
	}, allow(id, policy.CreateSite))
	if err != nil {
		return nil, err
	}
	return &createSitePayload{site: &siteResolver{r: r, s: s}, clientMutationID: in.ClientMutationID}, nil
}

type createSitePayload struct {
	site             *siteResolver
	clientMutationID *string
}

func (p *createSitePayload) Site() *siteResolver       { return p.site }
func (p *createSitePayload) ClientMutationID() *string { return p.clientMutationID }

type updateSiteStatusInput struct {
	SiteID           graphql.ID
	Level            string
	Posture          string
	Note             *string
	ExpectedVersion  int32
	ClientMutationID *string
}

// UpdateSiteStatus resolves Mutation.updateSiteStatus: the hot path.
func (r *Resolver) UpdateSiteStatus(ctx context.Context, args struct{ Input updateSiteStatusInput }) (*updateSiteStatusPayload, error) {
	id, err := r.actor(ctx)
	if err != nil {
		return nil, err
	}
	in := args.Input
	siteID, err := parseID(in.SiteID, kindSite, "siteId")
	if err != nil {
		return nil, err
	}
	res, err := r.sites.UpdateStatus(ctx, id.Subject, site.StatusChange{
		SiteID: siteID, Level: site.Level(in.Level), Posture: site.Posture(in.Posture), Note: deref(in.Note, ""),
		ExpectedVersion: in.ExpectedVersion, ClientMutationID: deref(in.ClientMutationID, ""),
	}, allow(id, policy.UpdateSiteStatus))
	if err != nil {
		return nil, err
	}
	p := &updateSiteStatusPayload{site: &siteResolver{r: r, s: res.Site}, clientMutationID: in.ClientMutationID}
	if res.Escalation != nil {
		p.escalation = &escalationResolver{r: r, e: *res.Escalation}
	}
	return p, nil
}

type updateSiteStatusPayload struct {
	site             *siteResolver
	escalation       *escalationResolver
	clientMutationID *string
}

func (p *updateSiteStatusPayload) Site() *siteResolver             { return p.site }
func (p *updateSiteStatusPayload) Escalation() *escalationResolver { return p.escalation }
func (p *updateSiteStatusPayload) ClientMutationID() *string       { return p.clientMutationID }

type escalationDecisionInput struct {
	EscalationID     graphql.ID
	Note             *string
	ClientMutationID *string
}

// AcknowledgeEscalation resolves Mutation.acknowledgeEscalation.
func (r *Resolver) AcknowledgeEscalation(ctx context.Context, args struct{ Input escalationDecisionInput }) (*escalationPayload, error) {
	return r.decide(ctx, args.Input, policy.AcknowledgeEscalation)
}

// ResolveEscalation resolves Mutation.resolveEscalation.
func (r *Resolver) ResolveEscalation(ctx context.Context, args struct{ Input escalationDecisionInput }) (*escalationPayload, error) {
	return r.decide(ctx, args.Input, policy.ResolveEscalation)
}

func (r *Resolver) decide(ctx context.Context, in escalationDecisionInput, action policy.Action) (*escalationPayload, error) {
	id, err := r.actor(ctx)
	if err != nil {
		return nil, err
	}
	escID, err := parseID(in.EscalationID, kindEscalation, "escalationId")
	if err != nil {
		return nil, err
	}
	decide := r.escalations.Acknowledge
	if action == policy.ResolveEscalation {
		decide = r.escalations.Resolve
	}
	e, err := decide(ctx, id.Subject, escID, deref(in.Note, ""), allow(id, action))
	if err != nil {
		return nil, err
	}
	return &escalationPayload{escalation: &escalationResolver{r: r, e: e}, clientMutationID: in.ClientMutationID}, nil
}

type escalationPayload struct {
	escalation       *escalationResolver
	clientMutationID *string
}

func (p *escalationPayload) Escalation() *escalationResolver { return p.escalation }
func (p *escalationPayload) ClientMutationID() *string       { return p.clientMutationID }

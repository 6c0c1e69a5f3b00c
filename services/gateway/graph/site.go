package graph

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/live"
	"meridian.dev/platform/policy"
	"meridian.dev/platform/site"
)

// siteRoot resolves the sites domain (10_site.graphql): the board, status
// changes and their live stream.
type siteRoot struct {
	*env
	sites *site.Store
	live  *live.Publisher
}

func newSiteRoot(e *env, sites *site.Store, pub *live.Publisher) *siteRoot {
	r := &siteRoot{env: e, sites: sites, live: pub}
	e.nodes[kindSite] = func(ctx context.Context, id uuid.UUID) (node, error) {
		s, err := sites.Get(ctx, id)
		return nodeOrNil(r.resolver(s), err, site.ErrNotFound)
	}
	return r
}

func (r *siteRoot) resolver(s site.Site) *siteResolver { return &siteResolver{root: r, s: s} }

// loader batches the request's site reads (an escalation list's sites).
func (r *siteRoot) loader(ls *loaders) *loader[uuid.UUID, site.Site] {
	return loaderFor(ls, "sites", site.ErrNotFound, r.sites.GetMany)
}

// find loads a site for another domain's field, batched with the
// request's other site reads; one that is gone is null, not an error.
func (r *siteRoot) find(ctx context.Context, id uuid.UUID) (*siteResolver, error) {
	s, err := r.loader(loadersOf(ctx)).load(ctx, id)
	if errors.Is(err, site.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r.resolver(s), nil
}

// Site resolves Query.site; an unknown site is NOT_FOUND.
func (r *siteRoot) Site(ctx context.Context, args struct{ ID graphql.ID }) (*siteResolver, error) {
	if _, err := r.viewer(ctx); err != nil {
		return nil, err
	}
	id, err := parseID(args.ID, kindSite, "id")
	if err != nil {
		return nil, err
	}
	s, err := r.sites.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return r.resolver(s), nil
}

type sitesArgs struct {
	Region *string
	Level  *string
	First  graphql.NullInt
	After  *string
}

// Sites resolves Query.sites: the board. Status comes from Redis, the live
// state, and falls back to Postgres when Redis is down, empty or behind.
func (r *siteRoot) Sites(ctx context.Context, args sitesArgs) (*connection[*siteResolver], error) {
	if _, err := r.viewer(ctx); err != nil {
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
	page, err := r.sites.List(ctx, site.Filter{Region: region, Level: site.Level(deref(args.Level, ""))}, first, deref(args.After, ""))
	if err != nil {
		return nil, err
	}
	r.overlayLive(ctx, page.Items)
	return newConnection(page.Items, func(i int, _ site.Site) string { return page.Cursors[i] }, page.HasNextPage, r.resolver), nil
}

// overlayLive replaces each site's status with the live one from Redis when
// Redis holds the same or a newer version. When Redis is unreachable the
// Postgres status stands: the board degrades, it never goes dark.
func (r *siteRoot) overlayLive(ctx context.Context, sites []site.Site) {
	if r.live == nil || len(sites) == 0 {
		return
	}
	ids := make([]string, len(sites))
	for i, s := range sites {
		ids[i] = s.ID.String()
	}
	// The board must answer quickly even when Redis hangs: Postgres has the
	// same status, so wait only briefly for the live copy.
	lctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	statuses, err := r.live.Statuses(lctx, ids)
	if err != nil {
		r.log.WarnContext(ctx, "board: redis unavailable, serving status from postgres", "err", err)
		return
	}
	for i := range sites {
		v, ok := statuses[ids[i]]
		if !ok || v.Version < sites[i].Status.Version {
			continue
		}
		var st site.Status
		if err := json.Unmarshal(v.JSON, &st); err == nil {
			sites[i].Status = st
		}
	}
}

type createSiteInput struct {
	Code, Name, Region, CountryCode, City, Timezone, Criticality string
	Latitude, Longitude                                          float64
	ClientMutationID                                             *string
}

// CreateSite resolves Mutation.createSite.
func (r *siteRoot) CreateSite(ctx context.Context, args struct{ Input createSiteInput }) (*createSitePayload, error) {
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
	return &createSitePayload{site: r.resolver(s), clientMutationID: in.ClientMutationID}, nil
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
func (r *siteRoot) UpdateSiteStatus(ctx context.Context, args struct{ Input updateSiteStatusInput }) (*updateSiteStatusPayload, error) {
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
	p := &updateSiteStatusPayload{site: r.resolver(res.Site), clientMutationID: in.ClientMutationID}
	if res.Escalation != nil {
		p.escalation = r.owners.escalations.resolver(*res.Escalation, loadersOf(ctx))
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

// SiteStatusChanged resolves Subscription.siteStatusChanged.
func (r *siteRoot) SiteStatusChanged(ctx context.Context, args subscriptionArgs) (<-chan *siteStatusChangedResolver, error) {
	return watch(ctx, r.env, site.StatusChanges, args, func(ev live.Delivered[site.StatusChangedEvent]) *siteStatusChangedResolver {
		return &siteStatusChangedResolver{root: r, ev: ev.Event, cursor: ev.Cursor}
	})
}

type siteStatusChangedResolver struct {
	root   *siteRoot
	ev     site.StatusChangedEvent
	cursor string
}

func (e *siteStatusChangedResolver) Site() *siteResolver       { return e.root.resolver(e.ev.Site) }
func (e *siteStatusChangedResolver) Previous() *statusResolver { return &statusResolver{e.ev.Previous} }
func (e *siteStatusChangedResolver) Current() *statusResolver {
	return &statusResolver{e.ev.Site.Status}
}
func (e *siteStatusChangedResolver) Cursor() string { return e.cursor }

type siteResolver struct {
	root *siteRoot
	s    site.Site
}

func (s *siteResolver) ID() graphql.ID          { return encodeID(kindSite, s.s.ID) }
func (s *siteResolver) Code() string            { return s.s.Code }
func (s *siteResolver) Name() string            { return s.s.Name }
func (s *siteResolver) CountryCode() string     { return s.s.CountryCode }
func (s *siteResolver) City() string            { return s.s.City }
func (s *siteResolver) Timezone() string        { return s.s.Timezone }
func (s *siteResolver) Criticality() string     { return s.s.Criticality }
func (s *siteResolver) Location() *geoResolver  { return &geoResolver{s.s.Latitude, s.s.Longitude} }
func (s *siteResolver) Status() *statusResolver { return &statusResolver{s.s.Status} }
func (s *siteResolver) ViewerCanUpdateStatus(ctx context.Context) bool {
	id, err := auth.FromContext(ctx)
	return err == nil && policy.Allow(id, policy.UpdateSiteStatus, s.s.Region) == nil
}
func (s *siteResolver) Region(ctx context.Context) *regionResolver {
	return s.root.regions.resolver(ctx, s.s.Region)
}

func (s *siteResolver) StatusHistory(ctx context.Context, args struct {
	First graphql.NullInt
	After *string
}) (*connection[*statusResolver], error) {
	first, err := pageSize(args.First, 20)
	if err != nil {
		return nil, err
	}
	page, err := s.root.sites.History(ctx, s.s.ID, first, deref(args.After, ""))
	if err != nil {
		return nil, err
	}
	return newConnection(page.Items, func(i int, _ site.Status) string { return page.Cursors[i] }, page.HasNextPage,
		func(st site.Status) *statusResolver { return &statusResolver{st} }), nil
}

type statusResolver struct{ s site.Status }

func (s *statusResolver) Level() string           { return string(s.s.Level) }
func (s *statusResolver) Posture() string         { return string(s.s.Posture) }
func (s *statusResolver) Note() string            { return s.s.Note }
func (s *statusResolver) Version() int32          { return s.s.Version }
func (s *statusResolver) UpdatedAt() graphql.Time { return graphql.Time{Time: s.s.UpdatedAt} }
func (s *statusResolver) UpdatedBy() string       { return s.s.UpdatedBy }

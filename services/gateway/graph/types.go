package graph

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/directory"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/site"
)

type viewerResolver struct {
	r  *Resolver
	id auth.Identity
}

// ContactMethods is the caller's own entry in the directory.
func (v *viewerResolver) ContactMethods(ctx context.Context) (*contactMethodsResolver, error) {
	c, err := v.r.directory.Contacts(ctx, v.id.Subject)
	if errors.Is(err, directory.ErrUnknownPerson) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &contactMethodsResolver{subject: v.id.Subject, c: c}, nil
}

func (v *viewerResolver) Subject() string   { return v.id.Subject }
func (v *viewerResolver) Name() string      { return v.id.Name }
func (v *viewerResolver) Roles() []string   { return nonNil(v.id.Roles) }
func (v *viewerResolver) Regions() []string { return nonNil(v.id.Regions) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type regionResolver struct{ reg Region }

func (r *regionResolver) Code() string     { return r.reg.Code }
func (r *regionResolver) Name() string     { return r.reg.Name }
func (r *regionResolver) Timezone() string { return r.reg.Timezone }

type pageInfoResolver struct {
	hasNext bool
	end     *string
}

func (p *pageInfoResolver) HasNextPage() bool  { return p.hasNext }
func (p *pageInfoResolver) EndCursor() *string { return p.end }

type node interface{ ID() graphql.ID }

type nodeResolver struct{ n node }

func (n *nodeResolver) ID() graphql.ID { return n.n.ID() }

func (n *nodeResolver) ToSite() (*siteResolver, bool) {
	s, ok := n.n.(*siteResolver)
	return s, ok
}

func (n *nodeResolver) ToIncident() (*incidentResolver, bool) {
	i, ok := n.n.(*incidentResolver)
	return i, ok
}

func (n *nodeResolver) ToEscalation() (*escalationResolver, bool) {
	e, ok := n.n.(*escalationResolver)
	return e, ok
}

// Site

type siteResolver struct {
	r *Resolver
	s site.Site
}

func (s *siteResolver) ID() graphql.ID      { return encodeID(kindSite, s.s.ID) }
func (s *siteResolver) Code() string        { return s.s.Code }
func (s *siteResolver) Name() string        { return s.s.Name }
func (s *siteResolver) CountryCode() string { return s.s.CountryCode }
func (s *siteResolver) City() string        { return s.s.City }
func (s *siteResolver) Timezone() string    { return s.s.Timezone }
func (s *siteResolver) Criticality() string { return s.s.Criticality }
func (s *siteResolver) Location() *geoResolver {
	return &geoResolver{s.s.Latitude, s.s.Longitude}
}
func (s *siteResolver) Status() *statusResolver { return &statusResolver{s.s.Status} }
func (s *siteResolver) Region(ctx context.Context) *regionResolver {
	return s.r.region(ctx, s.s.Region)
}

func (s *siteResolver) StatusHistory(ctx context.Context, args struct {
	First int32
	After *string
}) (*statusConnectionResolver, error) {
	first, err := site.ClampFirst(args.First)
	if err != nil {
		return nil, err
	}
	page, err := s.r.sites.History(ctx, s.s.ID, first, deref(args.After, ""))
	if err != nil {
		return nil, err
	}
	conn := &statusConnectionResolver{hasNext: page.HasNextPage}
	for i, st := range page.Items {
		conn.edges = append(conn.edges, &statusEdgeResolver{cursor: page.Cursors[i], node: &statusResolver{st}})
	}
	return conn, nil
}

type geoResolver struct{ lat, lon float64 }

func (g *geoResolver) Latitude() float64  { return g.lat }
func (g *geoResolver) Longitude() float64 { return g.lon }

type statusResolver struct{ s site.Status }

func (s *statusResolver) Level() string           { return string(s.s.Level) }
func (s *statusResolver) Posture() string         { return string(s.s.Posture) }
func (s *statusResolver) Note() string            { return s.s.Note }
func (s *statusResolver) Version() int32          { return s.s.Version }
func (s *statusResolver) UpdatedAt() graphql.Time { return graphql.Time{Time: s.s.UpdatedAt} }
func (s *statusResolver) UpdatedBy() string       { return s.s.UpdatedBy }

type siteConnectionResolver struct {
	edges   []*siteEdgeResolver
	hasNext bool
}

func newSiteConnection(r *Resolver, page site.Page[site.Site]) *siteConnectionResolver {
	conn := &siteConnectionResolver{hasNext: page.HasNextPage}
	for i, s := range page.Items {
		conn.edges = append(conn.edges, &siteEdgeResolver{cursor: page.Cursors[i], node: &siteResolver{r: r, s: s}})
	}
	return conn
}

func (c *siteConnectionResolver) Edges() []*siteEdgeResolver { return c.edges }
func (c *siteConnectionResolver) PageInfo() *pageInfoResolver {
	p := &pageInfoResolver{hasNext: c.hasNext}
	if n := len(c.edges); n > 0 {
		p.end = &c.edges[n-1].cursor
	}
	return p
}

type siteEdgeResolver struct {
	cursor string
	node   *siteResolver
}

func (e *siteEdgeResolver) Cursor() string      { return e.cursor }
func (e *siteEdgeResolver) Node() *siteResolver { return e.node }

type statusConnectionResolver struct {
	edges   []*statusEdgeResolver
	hasNext bool
}

func (c *statusConnectionResolver) Edges() []*statusEdgeResolver { return c.edges }
func (c *statusConnectionResolver) PageInfo() *pageInfoResolver {
	p := &pageInfoResolver{hasNext: c.hasNext}
	if n := len(c.edges); n > 0 {
		p.end = &c.edges[n-1].cursor
	}
	return p
}

type statusEdgeResolver struct {
	cursor string
	node   *statusResolver
}

func (e *statusEdgeResolver) Cursor() string        { return e.cursor }
func (e *statusEdgeResolver) Node() *statusResolver { return e.node }

// overlayLive replaces each site's status with the live one from Redis when
// Redis holds the same or a newer version. When Redis is unreachable the
// Postgres status stands: the board degrades, it never goes dark.
func (r *Resolver) overlayLive(ctx context.Context, sites []site.Site) {
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

// Escalation

type escalationResolver struct {
	r     *Resolver
	e     escalation.Escalation
	sites *siteLoader
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
func (e *escalationResolver) Region(ctx context.Context) *regionResolver {
	return e.r.region(ctx, e.e.Region)
}

func (e *escalationResolver) Incident(ctx context.Context) (*incidentResolver, error) {
	return e.r.incidentOf(ctx, e.e.IncidentID)
}

func (e *escalationResolver) Site(ctx context.Context) (*siteResolver, error) {
	if e.e.SiteID == uuid.Nil {
		return nil, nil // an incident's escalation without a site
	}
	loader := e.sites
	if loader == nil {
		loader = sitesFor(ctx, e.r)
	}
	s, err := loader.load(ctx, e.e.SiteID)
	if err != nil {
		return nil, err
	}
	return &siteResolver{r: e.r, s: s}, nil
}

func (e *escalationResolver) Timeline(ctx context.Context) ([]*timelineResolver, error) {
	entries, err := e.r.escalations.Timeline(ctx, e.e.ID)
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

type escalationConnectionResolver struct {
	edges   []*escalationEdgeResolver
	hasNext bool
}

func (c *escalationConnectionResolver) Edges() []*escalationEdgeResolver { return c.edges }
func (c *escalationConnectionResolver) PageInfo() *pageInfoResolver {
	p := &pageInfoResolver{hasNext: c.hasNext}
	if n := len(c.edges); n > 0 {
		end := c.edges[n-1].Cursor()
		p.end = &end
	}
	return p
}

type escalationEdgeResolver struct{ node *escalationResolver }

func (e *escalationEdgeResolver) Cursor() string            { return string(e.node.ID()) }
func (e *escalationEdgeResolver) Node() *escalationResolver { return e.node }

// siteLoader batches site reads within one request: the connection resolver
// registers every ID it will need, and the first load fetches them all.
type siteLoader struct {
	r       *Resolver
	mu      sync.Mutex
	pending map[uuid.UUID]bool
	loaded  map[uuid.UUID]site.Site
}

type loaderKey struct{}

// WithLoaders returns ctx carrying fresh per-request loaders.
func WithLoaders(ctx context.Context) context.Context {
	return context.WithValue(ctx, loaderKey{}, newSiteLoader(nil))
}

func newSiteLoader(r *Resolver) *siteLoader {
	return &siteLoader{r: r, pending: map[uuid.UUID]bool{}, loaded: map[uuid.UUID]site.Site{}}
}

func sitesFor(ctx context.Context, r *Resolver) *siteLoader {
	if l, ok := ctx.Value(loaderKey{}).(*siteLoader); ok {
		l.mu.Lock()
		l.r = r
		l.mu.Unlock()
		return l
	}
	return newSiteLoader(r)
}

func (l *siteLoader) want(id uuid.UUID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.loaded[id]; !ok {
		l.pending[id] = true
	}
}

func (l *siteLoader) load(ctx context.Context, id uuid.UUID) (site.Site, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.loaded[id]; ok {
		return s, nil
	}
	l.pending[id] = true
	ids := make([]uuid.UUID, 0, len(l.pending))
	for p := range l.pending {
		ids = append(ids, p)
	}
	found, err := l.r.sites.GetMany(ctx, ids)
	if err != nil {
		return site.Site{}, err
	}
	for k, v := range found {
		l.loaded[k] = v
	}
	clear(l.pending)
	s, ok := l.loaded[id]
	if !ok {
		return site.Site{}, site.ErrNotFound
	}
	return s, nil
}

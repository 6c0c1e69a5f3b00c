package graph

import (
	"context"
	"strings"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	"go.temporal.io/sdk/client"

	"meridian.dev/platform/advisory"
	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/country"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/live"
	"meridian.dev/platform/policy"
	feedswf "meridian.dev/workflows/feeds"
)

// advisoryRoot resolves the official advisories (50_advisory.graphql): what
// each government says, analysts' overrides, and each feed's health.
type advisoryRoot struct {
	*env
	advisories *advisory.Store
	// engine runs an on-demand refresh as the same workflow the schedules
	// run; nil (no Temporal configured) refuses refreshAdvisories.
	engine    client.Client
	taskQueue string
}

// CountryRisk resolves Query.countryRisk.
func (r *advisoryRoot) CountryRisk(ctx context.Context, args struct{ Country string }) (*countryRiskResolver, error) {
	if _, err := r.viewer(ctx); err != nil {
		return nil, err
	}
	risk, err := r.advisories.CountryRisk(ctx, strings.ToUpper(strings.TrimSpace(args.Country)))
	if err != nil {
		return nil, err
	}
	return &countryRiskResolver{env: r.env, r: risk}, nil
}

type advisoriesArgs struct {
	Country  *string
	Source   *string
	MinLevel *int32
	First    graphql.NullInt
	After    *string
}

// Advisories resolves Query.advisories.
func (r *advisoryRoot) Advisories(ctx context.Context, args advisoriesArgs) (*connection[*advisoryResolver], error) {
	if _, err := r.viewer(ctx); err != nil {
		return nil, err
	}
	first, err := pageSize(args.First, 50)
	if err != nil {
		return nil, err
	}
	f := advisory.Filter{Country: strings.ToUpper(deref(args.Country, "")), Source: feed.Source(deref(args.Source, ""))}
	if args.MinLevel != nil {
		f.MinLevel = int(*args.MinLevel)
	}
	items, hasNext, err := r.advisories.List(ctx, f, first, deref(args.After, ""))
	if err != nil {
		return nil, err
	}
	return newConnection(items, func(_ int, a advisory.Advisory) string { return advisory.Cursor(a) }, hasNext,
		func(a advisory.Advisory) *advisoryResolver { return &advisoryResolver{env: r.env, a: a} }), nil
}

// AdvisorySources resolves Query.advisorySources.
func (r *advisoryRoot) CountryLevels(ctx context.Context) ([]*countryLevelResolver, error) {
	if _, err := r.viewer(ctx); err != nil {
		return nil, err
	}
	levels, err := r.advisories.CountryLevels(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*countryLevelResolver, len(levels))
	for i, l := range levels {
		out[i] = &countryLevelResolver{env: r.env, l: l}
	}
	return out, nil
}

type countryLevelResolver struct {
	env *env
	l   advisory.CountryLevel
}

func (x *countryLevelResolver) Country() *countryResolver { return countryOf(x.env, x.l.Country) }
func (x *countryLevelResolver) Level() int32              { return int32(x.l.Level) }
func (x *countryLevelResolver) Rule() string              { return x.l.Rule }

func (r *advisoryRoot) AdvisorySources(ctx context.Context) ([]*sourceStatusResolver, error) {
	if _, err := r.viewer(ctx); err != nil {
		return nil, err
	}
	all, err := r.advisories.Sources(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*sourceStatusResolver, len(all))
	for i, s := range all {
		out[i] = &sourceStatusResolver{s}
	}
	return out, nil
}

// RefreshAdvisories resolves Mutation.refreshAdvisories.
func (r *advisoryRoot) RefreshAdvisories(ctx context.Context, args struct{ Input struct{ Source string } }) (*refreshResolver, error) {
	id, err := r.actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := policy.AllowTravel(id, policy.ManageAdvisories); err != nil {
		return nil, err
	}
	if r.engine == nil {
		return nil, fault.New(fault.Internal, "refreshing needs the workflow engine, which is not configured")
	}
	sum, err := feedswf.RunNow(ctx, r.engine, r.taskQueue, feed.Source(args.Input.Source))
	if err != nil {
		return nil, err
	}
	r.log.InfoContext(ctx, "advisories refreshed on demand", "source", args.Input.Source, "by", id.Subject,
		"fetched", sum.Fetched, "changed", sum.Changed, "error", sum.Error)
	return &refreshResolver{s: sum}, nil
}

type setOverrideInput struct {
	Country   string
	Area      *string
	Level     *int32
	Reason    *string
	ExpiresAt *graphql.Time
}

// SetAdvisoryOverride resolves Mutation.setAdvisoryOverride.
func (r *advisoryRoot) SetAdvisoryOverride(ctx context.Context, args struct{ Input setOverrideInput }) (*setOverridePayload, error) {
	id, err := r.actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := policy.AllowTravel(id, policy.ManageAdvisories); err != nil {
		return nil, err
	}
	in := args.Input
	o := advisory.OverrideInput{Country: strings.ToUpper(strings.TrimSpace(in.Country)), Area: deref(in.Area, ""), Reason: deref(in.Reason, "")}
	if in.Level != nil {
		l := int(*in.Level)
		o.Level = &l
	}
	if in.ExpiresAt != nil {
		if err := checkInstant("expiresAt", in.ExpiresAt.Time); err != nil {
			return nil, err
		}
		t := in.ExpiresAt.Time
		o.ExpiresAt = &t
	}
	if _, err := r.advisories.SetOverride(ctx, id.Subject, o); err != nil {
		return nil, err
	}
	risk, err := r.advisories.CountryRisk(ctx, o.Country)
	if err != nil {
		return nil, err
	}
	return &setOverridePayload{&countryRiskResolver{env: r.env, r: risk}}, nil
}

// AdvisoryChanged resolves Subscription.advisoryChanged.
func (r *advisoryRoot) AdvisoryChanged(ctx context.Context, args struct{ Country, After *string }) (<-chan *advisoryChangedResolver, error) {
	if _, err := r.viewer(ctx); err != nil {
		return nil, err
	}
	code := ""
	if args.Country != nil {
		c, err := knownCountry("country", *args.Country)
		if err != nil {
			return nil, err
		}
		code = c.Code
	}
	return stream(ctx, r.hub, advisory.Changes, code, deref(args.After, ""), func(d live.Delivered[advisory.Change]) *advisoryChangedResolver {
		return &advisoryChangedResolver{env: r.env, c: d.Event, cursor: d.Cursor}
	})
}

// knownCountry checks an ISO 3166-1 alpha-2 argument.
func knownCountry(field, code string) (country.Country, error) {
	c, ok := country.Get(strings.ToUpper(strings.TrimSpace(code)))
	if !ok {
		return country.Country{}, fault.Invalid(field, "unknown country code %q: use ISO 3166-1 alpha-2, for example KE", code)
	}
	return c, nil
}

type countryResolver struct {
	env *env
	c   country.Country
}

func (c *countryResolver) Code() string { return c.c.Code }
func (c *countryResolver) Name() string { return c.c.Name }
func (c *countryResolver) Region(ctx context.Context) *regionResolver {
	if c.c.Region == "" {
		return nil
	}
	return c.env.regions.resolver(ctx, c.c.Region)
}

func countryOf(e *env, code string) *countryResolver {
	c, ok := country.Get(code)
	if !ok {
		c = country.Country{Code: code, Name: code}
	}
	return &countryResolver{env: e, c: c}
}

type countryRiskResolver struct {
	env *env
	r   advisory.Risk
}

func (x *countryRiskResolver) Country() *countryResolver {
	return &countryResolver{env: x.env, c: x.r.Country}
}
func (x *countryRiskResolver) Level() int32 { return int32(x.r.Level) }
func (x *countryRiskResolver) Rule() string { return x.r.Rule }
func (x *countryRiskResolver) Advisories() []*advisoryResolver {
	out := make([]*advisoryResolver, len(x.r.Advisories))
	for i, a := range x.r.Advisories {
		out[i] = &advisoryResolver{env: x.env, a: a}
	}
	return out
}
func (x *countryRiskResolver) Override() *overrideResolver {
	if x.r.Override == nil {
		return nil
	}
	return &overrideResolver{*x.r.Override}
}
func (x *countryRiskResolver) AreaOverrides() []*overrideResolver {
	out := make([]*overrideResolver, len(x.r.AreaOverrides))
	for i, o := range x.r.AreaOverrides {
		out[i] = &overrideResolver{o}
	}
	return out
}

type advisoryResolver struct {
	env *env
	a   advisory.Advisory
}

func (x *advisoryResolver) Source() string            { return string(x.a.Source) }
func (x *advisoryResolver) Country() *countryResolver { return countryOf(x.env, x.a.Country) }
func (x *advisoryResolver) Level() int32              { return int32(x.a.Level) }
func (x *advisoryResolver) SourceLabel() string       { return x.a.SourceLabel }
func (x *advisoryResolver) Title() string             { return x.a.Title }
func (x *advisoryResolver) Summary() string           { return x.a.Summary }
func (x *advisoryResolver) Indicators() []string      { return nonNil(x.a.Indicators) }
func (x *advisoryResolver) Areas() []*areaResolver {
	out := make([]*areaResolver, len(x.a.Areas))
	for i, a := range x.a.Areas {
		out[i] = &areaResolver{a}
	}
	return out
}
func (x *advisoryResolver) PublishedAt() *graphql.Time { return optionalTime(x.a.PublishedAt) }
func (x *advisoryResolver) FetchedAt() graphql.Time    { return graphql.Time{Time: x.a.FetchedAt} }
func (x *advisoryResolver) URL() string                { return x.a.URL }

type areaResolver struct{ a feed.Area }

func (x *areaResolver) Name() string { return x.a.Name }
func (x *areaResolver) Level() int32 { return int32(x.a.Level) }
func (x *areaResolver) Text() string { return x.a.Text }

type overrideResolver struct{ o advisory.Override }

func (x *overrideResolver) Area() *string            { return optional(x.o.Area) }
func (x *overrideResolver) Level() int32             { return int32(x.o.Level) }
func (x *overrideResolver) Reason() string           { return x.o.Reason }
func (x *overrideResolver) SetBy() string            { return x.o.SetBy }
func (x *overrideResolver) SetAt() graphql.Time      { return graphql.Time{Time: x.o.SetAt} }
func (x *overrideResolver) ExpiresAt() *graphql.Time { return optionalTime(x.o.ExpiresAt) }

type sourceStatusResolver struct{ s advisory.SourceStatus }

func (x *sourceStatusResolver) Source() string               { return string(x.s.Source) }
func (x *sourceStatusResolver) LastSuccessAt() *graphql.Time { return optionalTime(x.s.LastSuccessAt) }
func (x *sourceStatusResolver) LastAttemptAt() *graphql.Time { return optionalTime(x.s.LastAttemptAt) }
func (x *sourceStatusResolver) LastError() *string           { return optional(x.s.LastError) }
func (x *sourceStatusResolver) Countries() int32             { return int32(x.s.Countries) }

type refreshResolver struct{ s advisory.RunSummary }

func (x *refreshResolver) Source() string       { return string(x.s.Source) }
func (x *refreshResolver) Fetched() int32       { return int32(x.s.Fetched) }
func (x *refreshResolver) Changed() int32       { return int32(x.s.Changed) }
func (x *refreshResolver) LevelsChanged() int32 { return int32(x.s.LevelsChanged) }
func (x *refreshResolver) Error() *string       { return optional(x.s.Error) }

type setOverridePayload struct{ risk *countryRiskResolver }

func (p *setOverridePayload) CountryRisk() *countryRiskResolver { return p.risk }

type advisoryChangedResolver struct {
	env    *env
	c      advisory.Change
	cursor string
}

func (x *advisoryChangedResolver) Country() *countryResolver { return countryOf(x.env, x.c.Country) }
func (x *advisoryChangedResolver) Level() int32              { return int32(x.c.Level) }
func (x *advisoryChangedResolver) PreviousLevel() *int32 {
	if x.c.PreviousLevel == 0 {
		return nil
	}
	l := int32(x.c.PreviousLevel)
	return &l
}
func (x *advisoryChangedResolver) Rule() string     { return x.c.Rule }
func (x *advisoryChangedResolver) Cause() string    { return x.c.Cause }
func (x *advisoryChangedResolver) At() graphql.Time { return graphql.Time{Time: x.c.At} }
func (x *advisoryChangedResolver) Cursor() string   { return x.cursor }

// optionalTime shapes an optional instant; a zero time is absent.
func optionalTime(t *time.Time) *graphql.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	return &graphql.Time{Time: *t}
}

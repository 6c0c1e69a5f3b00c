package graph

import (
	"context"
	"slices"
	"time"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/policy"
)

// EscalationPolicy resolves Query.escalationPolicy.
func (r *escalationRoot) EscalationPolicy(ctx context.Context, args struct {
	Region   *string
	Severity string
}) (*policyResolver, error) {
	if _, err := r.viewer(ctx); err != nil {
		return nil, err
	}
	region, err := r.regions.check(ctx, "region", args.Region)
	if err != nil {
		return nil, err
	}
	p, err := escalation.CurrentPolicy(ctx, r.pool, region, escalation.Severity(args.Severity))
	if err != nil || p.Version == 0 {
		return nil, err
	}
	return &policyResolver{regions: r.regions, p: p}, nil
}

type policyTargetInput struct {
	Kind                  string
	Role, Region, Subject *string
}

type policyTierInput struct {
	Name        string
	WaitMinutes int32
	Targets     []policyTargetInput
	Channels    *[]string
}

type setPolicyInput struct {
	Region            *string
	Severity          string
	Name              string
	Tiers             []policyTierInput
	RepeatCount       int32
	RepeatFromTier    int32
	AckTimeoutMinutes int32
}

// SetEscalationPolicy resolves Mutation.setEscalationPolicy.
func (r *escalationRoot) SetEscalationPolicy(ctx context.Context, args struct{ Input setPolicyInput }) (*setPolicyPayload, error) {
	id, err := r.actor(ctx)
	if err != nil {
		return nil, err
	}
	in := args.Input
	region, err := r.regions.check(ctx, "region", in.Region)
	if err != nil {
		return nil, err
	}
	if err := policy.Allow(id, policy.ManagePolicies, region); err != nil {
		return nil, err
	}
	p := escalation.Policy{Region: region, Severity: escalation.Severity(in.Severity), Name: in.Name,
		RepeatCount: int(in.RepeatCount), RepeatFromTier: int(in.RepeatFromTier), AckTimeout: time.Duration(in.AckTimeoutMinutes) * time.Minute}
	for _, t := range in.Tiers {
		tier := escalation.Tier{Name: t.Name, Wait: time.Duration(t.WaitMinutes) * time.Minute}
		if t.Channels != nil {
			tier.Channels = *t.Channels
		}
		for _, tg := range t.Targets {
			target := escalation.Target{Kind: tg.Kind, Role: deref(tg.Role, ""), Subject: deref(tg.Subject, "")}
			if target.Region, err = r.regions.check(ctx, "region", tg.Region); err != nil {
				return nil, err
			}
			tier.Targets = append(tier.Targets, target)
		}
		p.Tiers = append(p.Tiers, tier)
	}
	saved, err := r.escalations.SavePolicy(ctx, id.Subject, p)
	if err != nil {
		return nil, err
	}
	return &setPolicyPayload{&policyResolver{regions: r.regions, p: saved}}, nil
}

type setPolicyPayload struct{ p *policyResolver }

func (s *setPolicyPayload) Policy() *policyResolver { return s.p }

type policyResolver struct {
	regions *regionCache
	p       escalation.Policy
}

func (p *policyResolver) Region(ctx context.Context) *regionResolver {
	if p.p.Region == "" {
		return nil
	}
	return p.regions.resolver(ctx, p.p.Region)
}
func (p *policyResolver) Severity() string   { return string(p.p.Severity) }
func (p *policyResolver) Version() int32     { return p.p.Version }
func (p *policyResolver) Name() string       { return p.p.Name }
func (p *policyResolver) RepeatCount() int32 { return int32(p.p.RepeatCount) }
func (p *policyResolver) RepeatFromTier() int32 {
	return int32(max(p.p.RepeatFromTier, 1))
}
func (p *policyResolver) AckTimeoutMinutes() int32 { return int32(p.p.AckTimeout / time.Minute) }
func (p *policyResolver) Tiers() []*policyTierResolver {
	out := make([]*policyTierResolver, len(p.p.Tiers))
	for i, t := range p.p.Tiers {
		out[i] = &policyTierResolver{t}
	}
	return out
}

type policyTierResolver struct{ t escalation.Tier }

func (t *policyTierResolver) Name() string       { return t.t.Name }
func (t *policyTierResolver) WaitMinutes() int32 { return int32(t.t.Wait / time.Minute) }
func (t *policyTierResolver) Channels() []string { return t.t.PageChannels() }
func (t *policyTierResolver) Targets() []*policyTargetResolver {
	out := make([]*policyTargetResolver, len(t.t.Targets))
	for i, tg := range t.t.Targets {
		out[i] = &policyTargetResolver{tg}
	}
	return out
}

type policyTargetResolver struct{ t escalation.Target }

func (t *policyTargetResolver) Kind() string {
	if t.t.Kind == "" {
		return escalation.TargetRole
	}
	return t.t.Kind
}

// Role is null for a role Meridian does not know, which only a policy
// written before roles were checked can hold: such a target pages nobody.
func (t *policyTargetResolver) Role() *string {
	if !slices.Contains(auth.KnownRoles, t.t.Role) {
		return nil
	}
	return &t.t.Role
}
func (t *policyTargetResolver) Region() *string  { return optional(t.t.Region) }
func (t *policyTargetResolver) Subject() *string { return optional(t.t.Subject) }

type policyVersionResolver struct {
	name    string
	version int32
}

func (p *policyVersionResolver) Name() string   { return p.name }
func (p *policyVersionResolver) Version() int32 { return p.version }

package graph

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/policy"
	"meridian.dev/platform/site"
	wf "meridian.dev/workflows/escalation"
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
	Disposition      *string
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

// EscalateNow resolves Mutation.escalateNow: regional managers of the
// escalation's region, global leads and admins, like acknowledging.
func (r *Resolver) EscalateNow(ctx context.Context, args struct{ Input escalationDecisionInput }) (*escalationPayload, error) {
	return r.decide(ctx, args.Input, escalateNow)
}

type addNoteInput struct {
	EscalationID     graphql.ID
	Note             string
	ClientMutationID *string
}

// AddEscalationNote resolves Mutation.addEscalationNote: whoever may
// acknowledge the escalation.
func (r *Resolver) AddEscalationNote(ctx context.Context, args struct{ Input addNoteInput }) (*escalationPayload, error) {
	in := args.Input
	id, err := r.actor(ctx)
	if err != nil {
		return nil, err
	}
	escID, err := parseID(in.EscalationID, kindEscalation, "escalationId")
	if err != nil {
		return nil, err
	}
	e, err := r.escalations.AddNote(ctx, id.Subject, escID, in.Note, deref(in.ClientMutationID, ""), allow(id, policy.AcknowledgeEscalation))
	if err != nil {
		return nil, err
	}
	return &escalationPayload{escalation: &escalationResolver{r: r, e: e}, clientMutationID: in.ClientMutationID}, nil
}

type handOffInput struct {
	EscalationID     graphql.ID
	ToRegion         string
	Note             *string
	ClientMutationID *string
}

// HandOffEscalation resolves Mutation.handOffEscalation: managers of the
// region that owns the escalation, global leads and admins. It needs the
// workflow: the receiving region's paging starts there.
func (r *Resolver) HandOffEscalation(ctx context.Context, args struct{ Input handOffInput }) (*escalationPayload, error) {
	in := args.Input
	to, err := r.checkRegion(ctx, &in.ToRegion)
	if err != nil {
		return nil, fault.Invalid("toRegion", "%q is not a known region", in.ToRegion)
	}
	id, e, note, err := r.escalationAction(ctx, in.EscalationID, in.Note, policy.HandOffEscalation)
	if err != nil {
		return nil, err
	}
	escID := e.ID
	if r.engine == nil {
		return nil, errors.New("hand off: no escalation engine configured")
	}
	h := wf.HandOff{Decision: wf.Decision{Actor: id.Subject, Roles: id.Roles, Note: note}, ToRegion: to}
	if err := r.update(ctx, e.WorkflowID, wf.UpdateHandOff, h); err != nil {
		var rejected *temporal.ApplicationError
		if errors.As(err, &rejected) && rejected.Type() != "" {
			return nil, fault.New(fault.Code(rejected.Type()), rejected.Message())
		}
		return nil, fmt.Errorf("hand off %s: %w", e.WorkflowID, err)
	}
	if e, err = r.escalations.Get(ctx, escID); err != nil {
		return nil, err
	}
	return &escalationPayload{escalation: &escalationResolver{r: r, e: e}, clientMutationID: in.ClientMutationID}, nil
}

// escalateNow is checked with the acknowledge rule: whoever may stop the
// climb may also hurry it.
const escalateNow = policy.Action("escalation.escalate_now")

var updateFor = map[policy.Action]string{
	policy.AcknowledgeEscalation: wf.UpdateAcknowledge,
	policy.ResolveEscalation:     wf.UpdateResolve,
	escalateNow:                  wf.UpdateEscalateNow,
}

// decide asks the escalation's workflow (a Temporal Update: it validates and
// answers with what really happened). When the workflow cannot be reached,
// acknowledge and resolve are recorded in Postgres instead and reach the
// workflow through the outbox: a page storm at 3 a.m. must be stoppable
// while Temporal is down.
func (r *Resolver) decide(ctx context.Context, in escalationDecisionInput, action policy.Action) (*escalationPayload, error) {
	checked := action
	if action == escalateNow {
		checked = policy.AcknowledgeEscalation
	}
	id, e, note, err := r.escalationAction(ctx, in.EscalationID, in.Note, checked)
	if err != nil {
		return nil, err
	}
	escID := e.ID
	d := wf.Decision{Actor: id.Subject, Roles: id.Roles, Note: note, Disposition: deref(in.Disposition, "")}
	if r.engine != nil {
		err := r.update(ctx, e.WorkflowID, updateFor[action], d)
		var rejected *temporal.ApplicationError
		switch {
		case err == nil:
			e, err := r.escalations.Get(ctx, escID)
			if err != nil {
				return nil, err
			}
			return &escalationPayload{escalation: &escalationResolver{r: r, e: e}, clientMutationID: in.ClientMutationID}, nil
		case errors.As(err, &rejected) && rejected.Type() != "":
			return nil, fault.New(fault.Code(rejected.Type()), rejected.Message())
		case action == escalateNow:
			return nil, fmt.Errorf("escalate now: %w", err)
		}
		r.log.WarnContext(ctx, "escalation workflow unreachable; recording the decision in postgres", "workflow", e.WorkflowID, "err", err)
	}
	kind := escalation.SignalAcknowledge
	if action == policy.ResolveEscalation {
		kind = escalation.SignalResolve
	}
	e, err = r.escalations.Decide(ctx, id.Subject, escID, kind, note, escalation.DecisionOptions{Disposition: d.Disposition}, allow(id, action))
	if err != nil {
		return nil, err
	}
	return &escalationPayload{escalation: &escalationResolver{r: r, e: e}, clientMutationID: in.ClientMutationID}, nil
}

// escalationAction authenticates the caller, loads the escalation and checks
// that the caller may take action on it in its current region.
func (r *Resolver) escalationAction(ctx context.Context, escalationID graphql.ID, note *string, action policy.Action) (auth.Identity, escalation.Escalation, string, error) {
	id, err := r.actor(ctx)
	if err != nil {
		return auth.Identity{}, escalation.Escalation{}, "", err
	}
	escID, err := parseID(escalationID, kindEscalation, "escalationId")
	if err != nil {
		return auth.Identity{}, escalation.Escalation{}, "", err
	}
	text := deref(note, "")
	if utf8.RuneCountInString(text) > escalation.MaxNoteLength {
		return auth.Identity{}, escalation.Escalation{}, "", fault.Invalid("note", "must be at most %d characters", escalation.MaxNoteLength)
	}
	e, err := r.escalations.Get(ctx, escID)
	if err != nil {
		return auth.Identity{}, escalation.Escalation{}, "", err
	}
	if err := policy.Allow(id, action, e.Region); err != nil {
		return auth.Identity{}, escalation.Escalation{}, "", err
	}
	return id, e, text, nil
}

// update runs a workflow update to completion, within a bound.
func (r *Resolver) update(ctx context.Context, workflowID, name string, arg any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	handle, err := r.engine.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return err
	}
	var st wf.State
	return handle.Get(ctx, &st)
}

type escalationPayload struct {
	escalation       *escalationResolver
	clientMutationID *string
}

func (p *escalationPayload) Escalation() *escalationResolver { return p.escalation }
func (p *escalationPayload) ClientMutationID() *string       { return p.clientMutationID }

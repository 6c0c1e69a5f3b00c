package graph

import (
	"context"
	"errors"
	"slices"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/directory"
	"meridian.dev/platform/policy"
)

// viewerRoot resolves what is about the caller and the platform itself
// (00_root.graphql): me, regions, node, and how the caller is paged.
type viewerRoot struct {
	*env
	directory *directory.Store
}

// Me resolves Query.me.
func (r *viewerRoot) Me(ctx context.Context) (*viewerResolver, error) {
	id, err := r.viewer(ctx)
	if err != nil {
		return nil, err
	}
	return &viewerResolver{directory: r.directory, id: id}, nil
}

// Regions resolves Query.regions.
func (r *viewerRoot) Regions(ctx context.Context) ([]*regionResolver, error) {
	if _, err := r.viewer(ctx); err != nil {
		return nil, err
	}
	regions, err := r.regions.all(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*regionResolver, len(regions))
	for i, reg := range regions {
		out[i] = &regionResolver{reg}
	}
	return out, nil
}

// LiveCursor resolves Query.liveCursor.
func (r *viewerRoot) LiveCursor(ctx context.Context) (string, error) {
	if _, err := r.viewer(ctx); err != nil {
		return "", err
	}
	return r.hub.Cursor(ctx)
}

type setContactMethodsInput struct {
	Subject                            *string
	Email, WebhookURL, SlackWebhookURL *string
}

// SetContactMethods resolves Mutation.setContactMethods.
func (r *viewerRoot) SetContactMethods(ctx context.Context, args struct{ Input setContactMethodsInput }) (*setContactMethodsPayload, error) {
	id, err := r.actor(ctx)
	if err != nil {
		return nil, err
	}
	in := args.Input
	subject := deref(in.Subject, id.Subject)
	// Your own contacts need only a known role; anyone else's, the
	// directory managers'.
	action := policy.ReadAll
	if subject != id.Subject {
		action = policy.ManageDirectory
	}
	if err := policy.Allow(id, action, ""); err != nil {
		return nil, err
	}
	c, err := r.directory.SetContacts(ctx, id.Subject, subject, directory.ContactsChange{
		Email: in.Email, WebhookURL: in.WebhookURL, SlackWebhookURL: in.SlackWebhookURL})
	if err != nil {
		return nil, err
	}
	return &setContactMethodsPayload{&contactMethodsResolver{subject: subject, c: c}}, nil
}

type setContactMethodsPayload struct{ c *contactMethodsResolver }

func (p *setContactMethodsPayload) ContactMethods() *contactMethodsResolver { return p.c }

type viewerResolver struct {
	directory *directory.Store
	id        auth.Identity
}

func (v *viewerResolver) Subject() string   { return v.id.Subject }
func (v *viewerResolver) Name() string      { return v.id.Name }
func (v *viewerResolver) Regions() []string { return nonNil(v.id.Regions) }

// Roles are those Meridian knows: a token may carry others for other
// systems, which the Role enum cannot name.
func (v *viewerResolver) Roles() []string {
	known := []string{}
	for _, r := range v.id.Roles {
		if slices.Contains(auth.KnownRoles, r) && !slices.Contains(known, r) {
			known = append(known, r)
		}
	}
	return known
}

// ContactMethods is the caller's own entry in the directory.
func (v *viewerResolver) ContactMethods(ctx context.Context) (*contactMethodsResolver, error) {
	c, err := v.directory.Contacts(ctx, v.id.Subject)
	if errors.Is(err, directory.ErrUnknownPerson) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &contactMethodsResolver{subject: v.id.Subject, c: c}, nil
}

type contactMethodsResolver struct {
	subject string
	c       directory.Contacts
}

func (c *contactMethodsResolver) Subject() string              { return c.subject }
func (c *contactMethodsResolver) Email() string                { return c.c.Email }
func (c *contactMethodsResolver) WebhookURL() string           { return c.c.WebhookURL }
func (c *contactMethodsResolver) SlackWebhookConfigured() bool { return c.c.SlackWebhookURL != "" }

type geoResolver struct{ lat, lon float64 }

func (g *geoResolver) Latitude() float64  { return g.lat }
func (g *geoResolver) Longitude() float64 { return g.lon }

type personResolver struct{ subject, name string }

func (p *personResolver) Subject() string { return p.subject }
func (p *personResolver) Name() string    { return p.name }

package graph

import (
	"context"

	"meridian.dev/platform/directory"
	"meridian.dev/platform/policy"
)

type setContactMethodsInput struct {
	Subject                            *string
	Email, WebhookURL, SlackWebhookURL *string
}

// SetContactMethods resolves Mutation.setContactMethods.
func (r *Resolver) SetContactMethods(ctx context.Context, args struct{ Input setContactMethodsInput }) (*setContactMethodsPayload, error) {
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

type contactMethodsResolver struct {
	subject string
	c       directory.Contacts
}

func (c *contactMethodsResolver) Subject() string              { return c.subject }
func (c *contactMethodsResolver) Email() string                { return c.c.Email }
func (c *contactMethodsResolver) WebhookURL() string           { return c.c.WebhookURL }
func (c *contactMethodsResolver) SlackWebhookConfigured() bool { return c.c.SlackWebhookURL != "" }

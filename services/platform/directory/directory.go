// Package directory lists the people Meridian can page: who holds which role
// in which region, and how to reach them.
package directory

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/fault"
)

// Person is someone who can be paged.
type Person struct {
	Subject string   `json:"subject"`
	Name    string   `json:"name"`
	Email   string   `json:"email"`
	Roles   []string `json:"roles"`
	Regions []string `json:"regions"`
}

// Store reads and writes the directory.
type Store struct {
	pool      *pgxpool.Pool
	httpsOnly bool
}

// RequireHTTPS returns a store whose SetContacts refuses webhook and Slack
// URLs that are not https (production: pages must not cross the internet in
// the clear, and the worker would refuse them at 3 a.m. instead).
func (s *Store) RequireHTTPS(on bool) *Store {
	c := *s
	c.httpsOnly = on
	return &c
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// InRole returns the people holding role; when region is not empty, only
// those whose regions include it. Ordered by subject for stable paging.
func (s *Store) InRole(ctx context.Context, role, region string) ([]Person, error) {
	rows, err := s.pool.Query(ctx, `SELECT subject, name, email, roles, regions FROM users
		WHERE $1 = ANY(roles) AND ($2 = '' OR $2 = ANY(regions)) ORDER BY subject`, role, region)
	if err != nil {
		return nil, fmt.Errorf("directory: in role %s: %w", role, err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Person])
}

// Upsert adds or updates a person.
func (s *Store) Upsert(ctx context.Context, p Person) error {
	// pgx sends a nil slice as NULL; the columns want an empty array.
	p.Roles = append([]string{}, p.Roles...)
	p.Regions = append([]string{}, p.Regions...)
	_, err := s.pool.Exec(ctx, `INSERT INTO users (subject, name, email, roles, regions) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (subject) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, roles = EXCLUDED.roles,
		regions = EXCLUDED.regions`, p.Subject, p.Name, p.Email, p.Roles, p.Regions)
	if err != nil {
		return fmt.Errorf("directory: upsert %s: %w", p.Subject, err)
	}
	return nil
}

// Names returns the directory names of the given subjects; unknown subjects
// are absent.
func (s *Store) Names(ctx context.Context, subjects []string) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT subject, name FROM users WHERE subject = ANY($1)`, subjects)
	if err != nil {
		return nil, fmt.Errorf("directory: names: %w", err)
	}
	defer rows.Close()
	out := make(map[string]string, len(subjects))
	for rows.Next() {
		var subject, name string
		if err := rows.Scan(&subject, &name); err != nil {
			return nil, fmt.Errorf("directory: names: %w", err)
		}
		out[subject] = name
	}
	return out, rows.Err()
}

// People returns the named people the directory knows, by subject.
func (s *Store) People(ctx context.Context, subjects []string) ([]Person, error) {
	rows, err := s.pool.Query(ctx, `SELECT subject, name, email, roles, regions FROM users
		WHERE subject = ANY($1) ORDER BY subject`, subjects)
	if err != nil {
		return nil, fmt.Errorf("directory: people: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Person])
}

// Contacts says how a person is reached beyond the organisation's default
// webhook. Empty fields mean "none on file".
type Contacts struct {
	Email           string `json:"email"`
	WebhookURL      string `json:"webhookUrl"`
	SlackWebhookURL string `json:"slackWebhookUrl"`
}

// ContactsChange sets the fields that are not nil; "" clears one.
type ContactsChange struct {
	Email, WebhookURL, SlackWebhookURL *string
}

// Contacts returns how subject is reached.
func (s *Store) Contacts(ctx context.Context, subject string) (Contacts, error) {
	_, c, err := s.Reach(ctx, subject)
	return c, err
}

// Reach returns a person and how they are reached, in one read: what one
// page needs at the moment it is sent.
func (s *Store) Reach(ctx context.Context, subject string) (Person, Contacts, error) {
	var p Person
	var c Contacts
	err := s.pool.QueryRow(ctx, `SELECT subject, name, email, roles, regions, webhook_url, slack_webhook_url
		FROM users WHERE subject = $1`, subject).
		Scan(&p.Subject, &p.Name, &p.Email, &p.Roles, &p.Regions, &c.WebhookURL, &c.SlackWebhookURL)
	if errors.Is(err, pgx.ErrNoRows) {
		return Person{}, Contacts{}, ErrUnknownPerson
	}
	if err != nil {
		return Person{}, Contacts{}, fmt.Errorf("directory: %s: %w", subject, err)
	}
	c.Email = p.Email
	return p, c, nil
}

// ErrUnknownPerson: the subject is not in the directory.
var ErrUnknownPerson = fault.New(fault.NotFound, "no such person in the directory")

// Validate checks the fields being set: an email address, and http(s) URLs
// (https only with httpsOnly).
func (c ContactsChange) Validate(httpsOnly bool) error {
	if c.Email != nil && *c.Email != "" {
		a, err := mail.ParseAddress(*c.Email)
		if err != nil || a.Address != *c.Email || len(*c.Email) > 254 {
			return fault.Invalid("email", "must be a plain email address such as ana@example.com")
		}
	}
	for _, f := range []struct {
		field string
		v     *string
	}{{"webhookUrl", c.WebhookURL}, {"slackWebhookUrl", c.SlackWebhookURL}} {
		field, v := f.field, f.v
		if v == nil || *v == "" {
			continue
		}
		u, err := url.Parse(*v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(*v) > 2000 {
			return fault.Invalid(field, "must be an absolute http or https URL")
		}
		if httpsOnly && u.Scheme != "https" {
			return fault.Invalid(field, "must be an https URL")
		}
	}
	return nil
}

// SetContacts changes how subject is reached and audits it. The audit
// entry names the fields changed, not the URLs: a webhook URL is a secret.
func (s *Store) SetContacts(ctx context.Context, actor, subject string, change ContactsChange) (Contacts, error) {
	if err := change.Validate(s.httpsOnly); err != nil {
		return Contacts{}, err
	}
	var c Contacts
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE users SET email = coalesce($2, email), webhook_url = coalesce($3, webhook_url),
			slack_webhook_url = coalesce($4, slack_webhook_url) WHERE subject = $1
			RETURNING email, webhook_url, slack_webhook_url`, subject, change.Email, change.WebhookURL, change.SlackWebhookURL).
			Scan(&c.Email, &c.WebhookURL, &c.SlackWebhookURL)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUnknownPerson
		}
		if err != nil {
			return fmt.Errorf("directory: set contacts of %s: %w", subject, err)
		}
		var changed []string
		for field, v := range map[string]*string{"email": change.Email, "webhookUrl": change.WebhookURL, "slackWebhookUrl": change.SlackWebhookURL} {
			if v != nil {
				changed = append(changed, field)
			}
		}
		slices.Sort(changed)
		return audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "contacts.set", ObjectType: "Person", ObjectID: subject,
			After: map[string]any{"changed": changed}})
	})
	if err != nil {
		return Contacts{}, err
	}
	return c, nil
}

// ContactsOf returns how each of the subjects the directory knows is reached.
func (s *Store) ContactsOf(ctx context.Context, subjects []string) (map[string]Contacts, error) {
	rows, err := s.pool.Query(ctx, `SELECT subject, email, webhook_url, slack_webhook_url FROM users WHERE subject = ANY($1)`, subjects)
	if err != nil {
		return nil, fmt.Errorf("directory: contacts: %w", err)
	}
	defer rows.Close()
	out := make(map[string]Contacts, len(subjects))
	for rows.Next() {
		var subject string
		var c Contacts
		if err := rows.Scan(&subject, &c.Email, &c.WebhookURL, &c.SlackWebhookURL); err != nil {
			return nil, fmt.Errorf("directory: contacts: %w", err)
		}
		out[subject] = c
	}
	return out, rows.Err()
}

package escalation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/notify"
)

// Severity orders incidents, SEV1 the worst.
type Severity string

const (
	SEV1 Severity = "SEV1"
	SEV2 Severity = "SEV2"
	SEV3 Severity = "SEV3"
	SEV4 Severity = "SEV4"
)

// SeverityFor maps a site status onto a severity: CRITICAL or EVACUATED is
// SEV1, LOCKDOWN SEV2, HIGH SEV3, anything else SEV4. Only SEV1 and SEV2 come
// from status changes that escalate.
func SeverityFor(level, posture string) Severity {
	switch {
	case level == "CRITICAL" || posture == "EVACUATED":
		return SEV1
	case posture == "LOCKDOWN":
		return SEV2
	case level == "HIGH":
		return SEV3
	}
	return SEV4
}

// Target kinds: whom a tier pages.
const (
	TargetRole     = "ROLE"     // everyone holding Role, in Region when set
	TargetUser     = "USER"     // one named person (Subject)
	TargetSchedule = "SCHEDULE" // whoever Region's rotations have on call
	TargetDuty     = "DUTY"     // whoever is on call in the region on duty now
)

// Target is one entry of a tier.
type Target struct {
	Kind    string `json:"kind,omitempty"` // empty means ROLE, as before kinds existed
	Role    string `json:"role,omitempty"`
	Region  string `json:"region,omitempty"`
	Subject string `json:"subject,omitempty"`
}

// Tier is one step of a policy.
type Tier struct {
	Name    string        `json:"name"`
	Targets []Target      `json:"targets"`
	Wait    time.Duration `json:"wait"`
	// Channels each person is paged on (notify.ChannelWebhook, ...); empty
	// means the signed webhook alone, as before tiers named channels.
	Channels []string `json:"channels,omitempty"`
}

// PageChannels returns the channels the tier pages on.
func (t Tier) PageChannels() []string {
	if len(t.Channels) == 0 {
		return []string{notify.ChannelWebhook}
	}
	return t.Channels
}

// Policy is a versioned escalation policy.
type Policy struct {
	ID       uuid.UUID `json:"id"`
	Region   string    `json:"region,omitempty"` // empty: any region
	Severity Severity  `json:"severity"`
	Version  int32     `json:"version"`
	Name     string    `json:"name"`
	Tiers    []Tier    `json:"tiers"`
	// RepeatCount more rounds start again from RepeatFromTier (1-based)
	// when the last tier goes unacknowledged.
	RepeatCount    int `json:"repeatCount,omitempty"`
	RepeatFromTier int `json:"repeatFromTier,omitempty"`
	// AckTimeout, when set, pages the current tier again when an
	// acknowledged escalation is not resolved in time.
	AckTimeout time.Duration `json:"ackTimeout,omitempty"`
}

// DefaultPolicy is used where no policy was written for a region and
// severity: the region's regional managers, then the global leads.
func DefaultPolicy(region string, sev Severity, tierWait time.Duration) Policy {
	return Policy{Name: "default", Version: 0, Region: region, Severity: sev, Tiers: []Tier{
		{Name: "regional managers", Targets: []Target{{Kind: TargetRole, Role: "regional_manager", Region: region}}, Wait: tierWait},
		{Name: "global leads", Targets: []Target{{Kind: TargetRole, Role: "global_lead"}}, Wait: tierWait},
	}}
}

// Validate checks a policy before it is saved.
func (p *Policy) Validate() error { return p.validate(time.Minute) }

// validate checks the policy with tiers waiting at least minWait: people
// write policies in minutes; a domain raising an incident under its own
// policy takes its waits from the worker's configuration, as the default
// policy does, which tests set to seconds.
func (p *Policy) validate(minWait time.Duration) error {
	p.Name = strings.TrimSpace(p.Name)
	if p.RepeatFromTier == 0 {
		p.RepeatFromTier = 1
	}
	switch {
	case p.Name == "" || utf8.RuneCountInString(p.Name) > 100:
		return fault.Invalid("name", "must be 1-100 characters")
	case p.Severity != SEV1 && p.Severity != SEV2 && p.Severity != SEV3 && p.Severity != SEV4:
		return fault.Invalid("severity", "must be SEV1, SEV2, SEV3 or SEV4")
	case len(p.Tiers) == 0 || len(p.Tiers) > 10:
		return fault.Invalid("tiers", "must list 1-10 tiers")
	case p.RepeatCount < 0 || p.RepeatCount > 10:
		return fault.Invalid("repeatCount", "must be between 0 and 10")
	case p.RepeatFromTier < 1 || p.RepeatFromTier > len(p.Tiers):
		return fault.Invalid("repeatFromTier", "must name one of the policy's %d tiers", len(p.Tiers))
	case p.AckTimeout != 0 && (p.AckTimeout < time.Minute || p.AckTimeout > 7*24*time.Hour):
		return fault.Invalid("ackTimeoutMinutes", "must be between 1 minute and 7 days, or 0 for none")
	}
	for i, t := range p.Tiers {
		if t.Wait < minWait || t.Wait > 24*time.Hour {
			return fault.Invalid("tiers", "tier %d: wait must be between %s and 24 hours", i+1, minWait)
		}
		seen := map[string]bool{}
		for _, ch := range t.Channels {
			if !slices.Contains(notify.Channels, ch) {
				return fault.Invalid("tiers", "tier %d: unknown channel %q (use %v)", i+1, ch, notify.Channels)
			}
			if seen[ch] {
				return fault.Invalid("tiers", "tier %d: channel %s listed twice", i+1, ch)
			}
			seen[ch] = true
		}
		if len(t.Targets) == 0 {
			return fault.Invalid("tiers", "tier %d: needs at least one target", i+1)
		}
		for _, tg := range t.Targets {
			switch tg.Kind {
			case TargetRole:
				if !slices.Contains(auth.KnownRoles, tg.Role) {
					// A role nobody holds would page nobody, silently.
					return fault.Invalid("tiers", "tier %d: a ROLE target names one of the roles %v", i+1, auth.KnownRoles)
				}
			case TargetUser:
				if tg.Subject == "" {
					return fault.Invalid("tiers", "tier %d: a USER target names a subject", i+1)
				}
			case TargetSchedule:
				if tg.Region == "" {
					return fault.Invalid("tiers", "tier %d: a SCHEDULE target names a region", i+1)
				}
			case TargetDuty:
			default:
				return fault.Invalid("tiers", "tier %d: unknown target kind %q", i+1, tg.Kind)
			}
		}
	}
	return nil
}

// CurrentPolicy returns the newest version of the most specific policy for
// the region and severity (the region's own, else the any-region one), or
// version 0 (DefaultPolicy, whose waits the worker sets) when none was written.
func CurrentPolicy(ctx context.Context, q querier, region string, sev Severity) (Policy, error) {
	p, err := scanPolicy(q.QueryRow(ctx, `SELECT `+policyColumns+` FROM escalation_policies
		WHERE (region = $1 OR region IS NULL) AND severity = $2 AND incident_id IS NULL
		ORDER BY region IS NULL, version DESC LIMIT 1`, region, string(sev)))
	if errors.Is(err, pgx.ErrNoRows) {
		return DefaultPolicy(region, sev, 0), nil
	}
	if err != nil {
		return Policy{}, fmt.Errorf("escalation: current policy: %w", err)
	}
	return p, nil
}

const policyColumns = `id, region, severity, version, name, tiers, repeat_count, repeat_from_tier, ack_timeout_seconds`

func scanPolicy(row pgx.Row) (Policy, error) {
	var p Policy
	var region *string
	var tiers []byte
	var ackSeconds int
	if err := row.Scan(&p.ID, &region, &p.Severity, &p.Version, &p.Name, &tiers, &p.RepeatCount, &p.RepeatFromTier, &ackSeconds); err != nil {
		return Policy{}, err
	}
	p.AckTimeout = time.Duration(ackSeconds) * time.Second
	if region != nil {
		p.Region = *region
	}
	if err := json.Unmarshal(tiers, &p.Tiers); err != nil {
		return Policy{}, fmt.Errorf("escalation: policy %s tiers: %w", p.ID, err)
	}
	return p, nil
}

// SavePolicy stores p as the next version for its region and severity.
func (s *Store) SavePolicy(ctx context.Context, actor string, p Policy) (Policy, error) {
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	tiers, err := json.Marshal(p.Tiers)
	if err != nil {
		return Policy{}, err
	}
	if p.ID, err = uuid.NewV7(); err != nil {
		return Policy{}, err
	}
	var region *string
	if p.Region != "" {
		region = &p.Region
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Serialise versions of one (region, severity).
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, p.Region+"/"+string(p.Severity)); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) + 1 FROM escalation_policies
			WHERE coalesce(region, '*') = coalesce($1, '*') AND severity = $2 AND incident_id IS NULL`, region, string(p.Severity)).Scan(&p.Version); err != nil {
			return fmt.Errorf("escalation: next policy version: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO escalation_policies (id, region, severity, version, name, tiers, created_by,
			repeat_count, repeat_from_tier, ack_timeout_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			p.ID, region, string(p.Severity), p.Version, p.Name, tiers, actor, p.RepeatCount, p.RepeatFromTier, int(p.AckTimeout/time.Second))
		if err != nil {
			return fmt.Errorf("escalation: save policy: %w", err)
		}
		return audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "policy.save", ObjectType: "EscalationPolicy", ObjectID: p.ID.String(), After: p})
	})
	if err != nil {
		return Policy{}, err
	}
	return p, nil
}

// SaveIncidentPolicy stores p as the policy of one incident, inside the
// transaction raising it: version 1, frozen into the incident's escalations
// like any written policy, and never the policy in force for its region.
func SaveIncidentPolicy(ctx context.Context, tx pgx.Tx, actor string, incidentID uuid.UUID, p Policy) (Policy, error) {
	if err := p.validate(time.Second); err != nil {
		return Policy{}, err
	}
	tiers, err := json.Marshal(p.Tiers)
	if err != nil {
		return Policy{}, err
	}
	if p.ID, err = uuid.NewV7(); err != nil {
		return Policy{}, err
	}
	p.Region, p.Version = "", 1
	_, err = tx.Exec(ctx, `INSERT INTO escalation_policies (id, region, severity, version, name, tiers, created_by,
		repeat_count, repeat_from_tier, ack_timeout_seconds, incident_id) VALUES ($1, NULL, $2, 1, $3, $4, $5, $6, $7, $8, $9)`,
		p.ID, string(p.Severity), p.Name, tiers, actor, p.RepeatCount, p.RepeatFromTier, int(p.AckTimeout/time.Second), incidentID)
	if err != nil {
		return Policy{}, fmt.Errorf("escalation: save incident policy: %w", err)
	}
	return p, nil
}

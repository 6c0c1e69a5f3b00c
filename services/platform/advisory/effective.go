package advisory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/live"
	"meridian.dev/platform/outbox"
)

// The rules that decide a country's effective level.
const (
	RuleSourceMax = "SOURCE_MAX" // the highest level among the sources' current reports
	RuleOverride  = "OVERRIDE"   // an analyst's country-wide override
)

// Change is a country's effective level moving: the outbox payload of
// outbox.TopicAdvisoryChanged and the stream event of Changes.
type Change struct {
	Country string `json:"country"`
	Level   int    `json:"level"`
	// PreviousLevel is 0 when the country had no effective level before
	// (reads showed it as level 1 with no advisories).
	PreviousLevel int       `json:"previousLevel"`
	Rule          string    `json:"rule"`
	Version       int       `json:"version"`
	Cause         string    `json:"cause"`
	At            time.Time `json:"at"`
}

// AdviceChanged is the outbox payload (TopicAdvisoryAdviceChanged) for a
// country whose advice changed while its effective level did not: a
// source's areas or texts, an area override. Trips there are scored again
// (an area's level counts for segments in it); nothing is streamed.
type AdviceChanged struct {
	Country string    `json:"country"`
	Cause   string    `json:"cause"`
	At      time.Time `json:"at"`
}

// Changes is the stream kind of Change. Subscribers filter by country, which
// travels in the kind's region slot.
var Changes = live.Kind[Change]{Name: "advisory.changed", Region: func(c Change) string { return c.Country }}

// lockCountries serialises everything that recomputes a country's level
// (ingestion of any source, overrides, the sweep). Locks are taken in code
// order, so two transactions over overlapping sets cannot deadlock.
func lockCountries(ctx context.Context, tx pgx.Tx, sortedCodes []string) error {
	b := &pgx.Batch{}
	for _, code := range sortedCodes {
		b.Queue(`SELECT pg_advisory_xact_lock(hashtext('advisory.country'), hashtext($1))`, code)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("advisory: lock countries: %w", err)
	}
	return nil
}

// recompute brings the effective level of each country up to date with its
// override and its sources' current rows, inside tx. Each change of level or
// rule bumps the version, adds a version row naming cause, and enqueues a
// Change. Countries in adviceChanged whose level and rule stay as they were
// get an AdviceChanged instead. It returns how many countries' levels moved.
func recompute(ctx context.Context, tx pgx.Tx, codes []string, cause string, adviceChanged []string) (int, error) {
	codes = slices.Clone(codes)
	slices.Sort(codes)
	codes = slices.Compact(codes)
	if len(codes) == 0 {
		return 0, nil
	}
	if err := lockCountries(ctx, tx, codes); err != nil {
		return 0, err
	}
	// Read after the locks: under READ COMMITTED this statement sees every
	// transaction that recomputed these countries before us.
	rows, err := tx.Query(ctx, `SELECT c.code, now(),
			(SELECT o.level FROM advisory_overrides o WHERE o.country_code = c.code AND o.area = ''
				AND (o.expires_at IS NULL OR o.expires_at > now())),
			(SELECT max(a.level) FROM advisories a WHERE a.country_code = c.code),
			r.level, r.rule, r.version
		FROM unnest($1::char(2)[]) AS c(code) LEFT JOIN country_risk r ON r.country_code = c.code
		ORDER BY c.code`, codes)
	if err != nil {
		return 0, fmt.Errorf("advisory: read levels: %w", err)
	}
	var changes []Change
	for rows.Next() {
		var code string
		var now time.Time
		var override, sourceMax, level, version *int
		var rule *string
		if err := rows.Scan(&code, &now, &override, &sourceMax, &level, &rule, &version); err != nil {
			rows.Close()
			return 0, fmt.Errorf("advisory: read levels: %w", err)
		}
		c := Change{Country: code, Cause: cause, At: now, Version: 1}
		switch {
		case override != nil:
			c.Level, c.Rule = *override, RuleOverride
		case sourceMax != nil:
			c.Level, c.Rule = *sourceMax, RuleSourceMax
		case level != nil:
			// The override that set it is gone and no source covers the
			// country: it falls back to what reads show for an unknown
			// country. The row stays, so versions keep counting up.
			c.Level, c.Rule = 1, RuleSourceMax
		default:
			continue
		}
		if level != nil {
			if *level == c.Level && *rule == c.Rule {
				continue
			}
			c.PreviousLevel, c.Version = *level, *version+1
		}
		changes = append(changes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("advisory: read levels: %w", err)
	}
	b := &pgx.Batch{}
	for _, code := range adviceChanged {
		if slices.ContainsFunc(changes, func(c Change) bool { return c.Country == code }) {
			continue // the Change makes trips there be scored again anyway
		}
		if err := outbox.QueueEnqueue(ctx, b, outbox.TopicAdvisoryAdviceChanged, AdviceChanged{Country: code, Cause: cause, At: time.Now().UTC()}); err != nil {
			return 0, err
		}
	}
	if len(changes) == 0 {
		if b.Len() > 0 {
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return 0, fmt.Errorf("advisory: record advice changes: %w", err)
			}
		}
		return 0, nil
	}
	moved := 0
	for _, c := range changes {
		var previous *int
		if c.PreviousLevel != 0 {
			previous = &c.PreviousLevel
		}
		if c.Level != max(c.PreviousLevel, 1) {
			moved++
		}
		b.Queue(`INSERT INTO country_risk (country_code, level, rule, version, changed_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (country_code) DO UPDATE SET level = EXCLUDED.level, rule = EXCLUDED.rule,
				version = EXCLUDED.version, changed_at = EXCLUDED.changed_at`, c.Country, c.Level, c.Rule, c.Version, c.At)
		b.Queue(`INSERT INTO country_risk_versions (country_code, version, level, previous_level, rule, cause, changed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.Country, c.Version, c.Level, previous, c.Rule, c.Cause, c.At)
		if err := outbox.QueueEnqueue(ctx, b, outbox.TopicAdvisoryChanged, c); err != nil {
			return 0, err
		}
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("advisory: record level changes: %w", err)
	}
	return moved, nil
}

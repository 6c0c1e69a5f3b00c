package advisory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/country"
	"meridian.dev/platform/fault"
)

// Override is an analyst's level for a whole country (Area "") or one named
// area of it.
type Override struct {
	Country   string     `json:"country"`
	Area      string     `json:"area"`
	Level     int        `json:"level"`
	Reason    string     `json:"reason"`
	SetBy     string     `json:"setBy"`
	SetAt     time.Time  `json:"setAt"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// OverrideInput sets (Level given) or clears (Level nil) the override of a
// country, or of one of its areas.
type OverrideInput struct {
	Country   string
	Area      string
	Level     *int
	Reason    string
	ExpiresAt *time.Time
}

// SystemActor is who the audit log names for changes no person made.
const SystemActor = "system"

const (
	maxOverrideAreaRunes   = 200
	maxOverrideReasonRunes = 500
)

// validate checks and tidies the input; nothing is written before it passes.
func (in *OverrideInput) validate(now time.Time) error {
	in.Country = strings.ToUpper(strings.TrimSpace(in.Country))
	in.Area = strings.TrimSpace(in.Area)
	in.Reason = strings.TrimSpace(in.Reason)
	for _, f := range []struct{ name, value string }{{"country", in.Country}, {"area", in.Area}, {"reason", in.Reason}} {
		if err := fault.CheckText(f.name, f.value); err != nil {
			return err
		}
	}
	if _, ok := country.Get(in.Country); !ok {
		return fault.Invalid("country", "unknown country code")
	}
	if utf8.RuneCountInString(in.Area) > maxOverrideAreaRunes {
		return fault.Invalid("area", "must be at most %d characters", maxOverrideAreaRunes)
	}
	if utf8.RuneCountInString(in.Reason) > maxOverrideReasonRunes {
		return fault.Invalid("reason", "must be at most %d characters", maxOverrideReasonRunes)
	}
	if in.Level == nil {
		return nil // clearing needs neither a reason nor an expiry
	}
	if *in.Level < 1 || *in.Level > 4 {
		return fault.Invalid("level", "must be between 1 and 4")
	}
	if in.Reason == "" {
		return fault.Invalid("reason", "is required when setting an override")
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		return fault.Invalid("expiresAt", "must be in the future")
	}
	return nil
}

const overrideColumns = `country_code, area, level, reason, set_by, set_at, expires_at`

func scanOverride(row pgx.Row) (Override, error) {
	var o Override
	err := row.Scan(&o.Country, &o.Area, &o.Level, &o.Reason, &o.SetBy, &o.SetAt, &o.ExpiresAt)
	return o, err
}

// SetOverride sets or clears an override, audits it, and recomputes the
// country's effective level, in one transaction. It returns the override in
// force afterwards (nil once cleared). Clearing an override that does not
// exist changes nothing.
func (s *Store) SetOverride(ctx context.Context, actor string, in OverrideInput) (*Override, error) {
	if err := in.validate(time.Now()); err != nil {
		return nil, err
	}
	var result *Override
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The country lock first, as recompute takes it: the before image
		// and the new level are then read by one writer at a time.
		if err := lockCountries(ctx, tx, []string{in.Country}); err != nil {
			return err
		}
		existing, err := scanOverride(tx.QueryRow(ctx, `SELECT `+overrideColumns+` FROM advisory_overrides
			WHERE country_code = $1 AND area = $2 FOR UPDATE`, in.Country, in.Area))
		var before any // an untyped nil, so the audit row stores SQL NULL
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("advisory: read override: %w", err)
		default:
			before = existing
		}
		var cause string
		if in.Level == nil {
			if before == nil {
				return nil
			}
			if _, err := tx.Exec(ctx, `DELETE FROM advisory_overrides WHERE country_code = $1 AND area = $2`, in.Country, in.Area); err != nil {
				return fmt.Errorf("advisory: clear override: %w", err)
			}
			if err := audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "advisory.override", ObjectType: "Country",
				ObjectID: in.Country, Before: before}); err != nil {
				return err
			}
			cause = "override cleared by " + actor
		} else {
			o, err := scanOverride(tx.QueryRow(ctx, `INSERT INTO advisory_overrides (country_code, area, level, reason, set_by, set_at, expires_at)
				VALUES ($1, $2, $3, $4, $5, now(), $6)
				ON CONFLICT (country_code, area) DO UPDATE SET level = EXCLUDED.level, reason = EXCLUDED.reason,
					set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at, expires_at = EXCLUDED.expires_at
				RETURNING `+overrideColumns, in.Country, in.Area, *in.Level, in.Reason, actor, in.ExpiresAt))
			if err != nil {
				return fmt.Errorf("advisory: set override: %w", err)
			}
			if err := audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "advisory.override", ObjectType: "Country",
				ObjectID: in.Country, Before: before, After: o}); err != nil {
				return err
			}
			result = &o
			cause = "override by " + actor
		}
		if in.Area != "" {
			cause += " for " + in.Area
		}
		_, err = recompute(ctx, tx, []string{in.Country}, cause, []string{in.Country})
		return err
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}

// SweepExpired deletes the overrides whose time has passed, audited as the
// system, and recomputes their countries. It returns how many it deleted.
func (s *Store) SweepExpired(ctx context.Context) (int, error) {
	swept := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT DISTINCT country_code FROM advisory_overrides WHERE expires_at <= now() ORDER BY 1`)
		if err != nil {
			return fmt.Errorf("advisory: find expired overrides: %w", err)
		}
		codes, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("advisory: find expired overrides: %w", err)
		}
		if len(codes) == 0 {
			return nil
		}
		// Countries are locked before override rows, in the same order
		// SetOverride takes them, so a sweep and an edit cannot deadlock.
		if err := lockCountries(ctx, tx, codes); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `DELETE FROM advisory_overrides WHERE country_code = ANY($1::char(2)[]) AND expires_at <= now()
			RETURNING `+overrideColumns, codes)
		if err != nil {
			return fmt.Errorf("advisory: sweep overrides: %w", err)
		}
		expired, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Override, error) { return scanOverride(r) })
		if err != nil {
			return fmt.Errorf("advisory: sweep overrides: %w", err)
		}
		for _, o := range expired {
			if err := audit.Record(ctx, tx, audit.Entry{Actor: SystemActor, Action: "advisory.override", ObjectType: "Country",
				ObjectID: o.Country, Before: o}); err != nil {
				return err
			}
		}
		swept = len(expired)
		_, err = recompute(ctx, tx, codes, "override expired", codes)
		return err
	})
	if err != nil {
		return 0, err
	}
	return swept, nil
}

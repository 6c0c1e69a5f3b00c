package advisory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/advisory"
	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/fault"
)

// fetched is a fixed fetch time; tests add to it for later runs.
var fetched = time.Date(2026, 10, 7, 21, 2, 1, 0, time.UTC)

// report is a plausible report from src about code at level.
func report(src feed.Source, code string, level feed.Level) feed.Report {
	return feed.Report{
		Source:      src,
		CountryCode: code,
		Level:       level,
		SourceLabel: fmt.Sprintf("Level %d label", level),
		Title:       code + " travel advisory",
		Summary:     "What " + string(src) + " says about " + code + ".",
		PublishedAt: time.Date(2026, 9, 15, 0, 0, 0, 0, time.UTC),
		URL:         "https://example.gov/advisories/" + code,
	}
}

func snapshot(src feed.Source, reports ...feed.Report) feed.Snapshot {
	return feed.Snapshot{Source: src, Reports: reports}
}

// reportsAt gives one report per code, all at level.
func reportsAt(src feed.Source, level feed.Level, codes ...string) []feed.Report {
	var out []feed.Report
	for _, c := range codes {
		out = append(out, report(src, c, level))
	}
	return out
}

func apply(t *testing.T, st *advisory.Store, snap feed.Snapshot, at time.Time) advisory.RunSummary {
	t.Helper()
	sum, err := st.Apply(context.Background(), snap, at)
	if err != nil {
		t.Fatalf("Apply(%s, %d reports): %v", snap.Source, len(snap.Reports), err)
	}
	return sum
}

func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// dump renders a whole table as JSON, ordered, so a test can say "nothing
// changed" by comparing two dumps.
func dump(t *testing.T, pool *pgxpool.Pool, table, orderBy string) string {
	t.Helper()
	var s string
	err := pool.QueryRow(context.Background(),
		`SELECT coalesce(json_agg(x ORDER BY `+orderBy+`)::text, '[]') FROM `+table+` x`).Scan(&s)
	if err != nil {
		t.Fatalf("dump %s: %v", table, err)
	}
	return s
}

// everything is every table the advisory store writes, except the sources'
// status, which a refusal is meant to change.
func everything(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	return map[string]string{
		"advisories":            dump(t, pool, "advisories", "source, country_code"),
		"advisory_overrides":    dump(t, pool, "advisory_overrides", "country_code, area"),
		"country_risk":          dump(t, pool, "country_risk", "country_code"),
		"country_risk_versions": dump(t, pool, "country_risk_versions", "id"),
		"outbox":                dump(t, pool, "outbox", "id"),
		"audit_log":             dump(t, pool, "audit_log", "id"),
	}
}

func wantUnchanged(t *testing.T, before, after map[string]string) {
	t.Helper()
	for table, b := range before {
		if after[table] != b {
			t.Errorf("%s changed:\nbefore %s\nafter  %s", table, b, after[table])
		}
	}
}

type riskRow struct {
	Level, Version int
	Rule           string
}

func riskOf(t *testing.T, pool *pgxpool.Pool, code string) (riskRow, bool) {
	t.Helper()
	var r riskRow
	err := pool.QueryRow(context.Background(), `SELECT level, version, rule FROM country_risk WHERE country_code = $1`, code).
		Scan(&r.Level, &r.Version, &r.Rule)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return riskRow{}, false
		}
		t.Fatalf("country_risk %s: %v", code, err)
	}
	return r, true
}

func sourceStatus(t *testing.T, st *advisory.Store, src feed.Source) advisory.SourceStatus {
	t.Helper()
	list, err := st.Sources(context.Background())
	if err != nil {
		t.Fatalf("Sources: %v", err)
	}
	for _, s := range list {
		if s.Source == src {
			return s
		}
	}
	t.Fatalf("Sources has no %s: %+v", src, list)
	return advisory.SourceStatus{}
}

// wantInvalid fails unless err is a BAD_USER_INPUT fault naming field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var f *fault.Error
	if !errors.As(err, &f) || f.Code != fault.BadUserInput || f.Field != field {
		t.Fatalf("got %v, want BAD_USER_INPUT on %q", err, field)
	}
}

func ptr[T any](v T) *T { return &v }

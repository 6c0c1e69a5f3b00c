package advisory_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"meridian.dev/platform/advisory"
	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/audit"
	"meridian.dev/platform/testenv"
)

// overrideAudits lists a country's override audit entries, newest first.
func overrideAudits(t *testing.T, r *audit.Reader, code string) []audit.Logged {
	t.Helper()
	list, _, err := r.List(context.Background(), audit.Filter{ObjectType: "Country", ObjectID: code, Action: "advisory.override"}, 50, 0)
	if err != nil {
		t.Fatalf("audit list: %v", err)
	}
	return list
}

func TestOverrideBeatsSourcesAndClearingRestoresThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	log := audit.NewReader(pool)
	apply(t, st, snapshot(feed.USState, report(feed.USState, "MX", feed.IncreasedCaution)), fetched)
	apply(t, st, snapshot(feed.UKFCDO, report(feed.UKFCDO, "MX", feed.Reconsider)), fetched)

	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Microsecond)
	o, err := st.SetOverride(ctx, "analyst-1", advisory.OverrideInput{Country: "mx", Level: ptr(4),
		Reason: "  Cartel violence around our Monterrey site  ", ExpiresAt: &expires})
	if err != nil {
		t.Fatalf("SetOverride: %v", err)
	}
	if o == nil || o.Country != "MX" || o.Area != "" || o.Level != 4 || o.Reason != "Cartel violence around our Monterrey site" ||
		o.SetBy != "analyst-1" || o.SetAt.IsZero() || o.ExpiresAt == nil || !o.ExpiresAt.Equal(expires) {
		t.Fatalf("override = %+v", o)
	}
	risk, err := st.CountryRisk(ctx, "MX")
	if err != nil {
		t.Fatal(err)
	}
	if risk.Level != 4 || risk.Rule != advisory.RuleOverride || risk.Override == nil || risk.Override.Level != 4 || len(risk.Advisories) != 2 {
		t.Fatalf("risk = %+v, want level 4 by OVERRIDE with both advisories shown", risk)
	}
	if r, _ := riskOf(t, pool, "MX"); r.Version != 3 {
		t.Errorf("version = %d, want 3 (US, UK, override)", r.Version)
	}
	entries := overrideAudits(t, log, "MX")
	if len(entries) != 1 || entries[0].Actor != "analyst-1" || entries[0].Before != nil {
		t.Fatalf("audit = %+v, want one creation by analyst-1", entries)
	}
	var after advisory.Override
	if err := json.Unmarshal(entries[0].After, &after); err != nil || after.Level != 4 || after.Country != "MX" {
		t.Errorf("audit after = %s (%v), want the override", entries[0].After, err)
	}

	// A source moving under the override changes the rows, not the level.
	sum := apply(t, st, snapshot(feed.USState, report(feed.USState, "MX", feed.DoNotTravel)), fetched.Add(time.Hour))
	if sum.Changed != 1 || sum.LevelsChanged != 0 {
		t.Errorf("run under an override = %+v, want changed 1, levels changed 0", sum)
	}
	apply(t, st, snapshot(feed.USState, report(feed.USState, "MX", feed.IncreasedCaution)), fetched.Add(2*time.Hour))

	lastVersion := count(t, pool, `SELECT max(id) FROM country_risk_versions`)
	cleared, err := st.SetOverride(ctx, "analyst-2", advisory.OverrideInput{Country: "MX"})
	if err != nil || cleared != nil {
		t.Fatalf("clearing = %+v, %v; want nil, nil", cleared, err)
	}
	if r, _ := riskOf(t, pool, "MX"); r != (riskRow{Level: 3, Version: 4, Rule: advisory.RuleSourceMax}) {
		t.Errorf("after clearing = %+v, want UK's 3 by SOURCE_MAX at version 4", r)
	}
	var level, previous int
	var rule, cause string
	if err := pool.QueryRow(ctx, `SELECT level, previous_level, rule, cause FROM country_risk_versions WHERE id > $1`, lastVersion).
		Scan(&level, &previous, &rule, &cause); err != nil {
		t.Fatalf("want one version row for the clearing: %v", err)
	}
	if level != 3 || previous != 4 || rule != advisory.RuleSourceMax || cause != "override cleared by analyst-2" {
		t.Errorf("version row = %d (from %d) %s %q", level, previous, rule, cause)
	}
	entries = overrideAudits(t, log, "MX")
	if len(entries) != 2 || entries[0].Actor != "analyst-2" || entries[0].After != nil || entries[0].Before == nil {
		t.Errorf("audit = %+v, want the clearing by analyst-2 with a before and no after", entries)
	}

	// Clearing what is not there writes nothing.
	before := everything(t, pool)
	if o, err := st.SetOverride(ctx, "analyst-2", advisory.OverrideInput{Country: "MX"}); err != nil || o != nil {
		t.Fatalf("clearing again = %+v, %v", o, err)
	}
	wantUnchanged(t, before, everything(t, pool))
}

func TestOverrideOnACountryNoSourceCovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	if _, err := st.SetOverride(ctx, "analyst", advisory.OverrideInput{Country: "AQ", Level: ptr(3), Reason: "No rescue capability"}); err != nil {
		t.Fatal(err)
	}
	if r, _ := riskOf(t, pool, "AQ"); r != (riskRow{Level: 3, Version: 1, Rule: advisory.RuleOverride}) {
		t.Fatalf("AQ = %+v, want 3 by OVERRIDE v1", r)
	}
	if _, err := st.SetOverride(ctx, "analyst", advisory.OverrideInput{Country: "AQ"}); err != nil {
		t.Fatal(err)
	}
	// With nothing left to say, it falls back to what reads show for a
	// country nobody covers, keeping its history.
	if r, _ := riskOf(t, pool, "AQ"); r != (riskRow{Level: 1, Version: 2, Rule: advisory.RuleSourceMax}) {
		t.Fatalf("AQ = %+v, want 1 by SOURCE_MAX v2", r)
	}
}

func TestAreaOverrideLeavesTheCountryLevel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	apply(t, st, snapshot(feed.UKFCDO, report(feed.UKFCDO, "KE", feed.IncreasedCaution)), fetched)
	if _, err := st.SetOverride(ctx, "analyst", advisory.OverrideInput{Country: "KE", Area: " Lamu County ", Level: ptr(4),
		Reason: "Al-Shabaab attacks"}); err != nil {
		t.Fatal(err)
	}
	risk, err := st.CountryRisk(ctx, "KE")
	if err != nil {
		t.Fatal(err)
	}
	if risk.Level != 2 || risk.Rule != advisory.RuleSourceMax || risk.Override != nil ||
		len(risk.AreaOverrides) != 1 || risk.AreaOverrides[0].Area != "Lamu County" || risk.AreaOverrides[0].Level != 4 {
		t.Fatalf("risk = %+v, want level 2 with one area override for Lamu County", risk)
	}
	if n := count(t, pool, `SELECT count(*) FROM country_risk_versions WHERE country_code = 'KE'`); n != 1 {
		t.Errorf("%d version rows, want 1: an area override does not move the country", n)
	}
}

func TestSweepExpiredOverrides(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	apply(t, st, snapshot(feed.USState, report(feed.USState, "TH", feed.IncreasedCaution)), fetched)
	soon := time.Now().Add(3 * time.Second)
	for _, area := range []string{"", "Yala"} {
		if _, err := st.SetOverride(ctx, "analyst", advisory.OverrideInput{Country: "TH", Area: area, Level: ptr(4),
			Reason: "Protests this weekend", ExpiresAt: &soon}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.SetOverride(ctx, "analyst", advisory.OverrideInput{Country: "TH", Area: "Narathiwat", Level: ptr(4),
		Reason: "Insurgency"}); err != nil {
		t.Fatal(err)
	}
	if n, err := st.SweepExpired(ctx); err != nil || n != 0 {
		t.Fatalf("early sweep = %d, %v; want 0", n, err)
	}
	if r, _ := riskOf(t, pool, "TH"); r.Rule != advisory.RuleOverride {
		t.Fatalf("TH = %+v, want OVERRIDE before expiry", r)
	}

	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	// Expired but not yet swept: reads no longer show it.
	risk, err := st.CountryRisk(ctx, "TH")
	if err != nil {
		t.Fatal(err)
	}
	if risk.Override != nil || len(risk.AreaOverrides) != 1 {
		t.Errorf("reads show expired overrides: %+v", risk)
	}
	n, err := st.SweepExpired(ctx)
	if err != nil || n != 2 {
		t.Fatalf("sweep = %d, %v; want 2", n, err)
	}
	if r, _ := riskOf(t, pool, "TH"); r != (riskRow{Level: 2, Version: 3, Rule: advisory.RuleSourceMax}) {
		t.Errorf("TH = %+v, want back to 2 by SOURCE_MAX at version 3", r)
	}
	var cause string
	if err := pool.QueryRow(ctx, `SELECT cause FROM country_risk_versions WHERE country_code = 'TH' AND version = 3`).Scan(&cause); err != nil || cause != "override expired" {
		t.Errorf("cause = %q, %v", cause, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE actor = 'system' AND action = 'advisory.override' AND after IS NULL`); n != 2 {
		t.Errorf("%d system audit rows, want 2", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM advisory_overrides`); n != 1 {
		t.Errorf("%d overrides left, want Narathiwat's, which has no expiry", n)
	}
}

func TestSetOverrideRefusesBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	past := time.Now().Add(-time.Minute)
	tests := []struct {
		name  string
		in    advisory.OverrideInput
		field string
	}{
		{"unknown country", advisory.OverrideInput{Country: "XX", Level: ptr(3), Reason: "r"}, "country"},
		{"State Department code", advisory.OverrideInput{Country: "UK", Level: ptr(3), Reason: "r"}, "country"},
		{"empty country", advisory.OverrideInput{Country: "", Level: ptr(3), Reason: "r"}, "country"},
		{"NUL in country", advisory.OverrideInput{Country: "F\x00", Level: ptr(3), Reason: "r"}, "country"},
		{"level 5", advisory.OverrideInput{Country: "FR", Level: ptr(5), Reason: "r"}, "level"},
		{"level 0", advisory.OverrideInput{Country: "FR", Level: ptr(0), Reason: "r"}, "level"},
		{"empty reason", advisory.OverrideInput{Country: "FR", Level: ptr(3)}, "reason"},
		{"blank reason", advisory.OverrideInput{Country: "FR", Level: ptr(3), Reason: " \t\n"}, "reason"},
		{"reason of 501", advisory.OverrideInput{Country: "FR", Level: ptr(3), Reason: strings.Repeat("é", 501)}, "reason"},
		{"NUL in reason", advisory.OverrideInput{Country: "FR", Level: ptr(3), Reason: "riots\x00"}, "reason"},
		{"bad UTF-8 in reason", advisory.OverrideInput{Country: "FR", Level: ptr(3), Reason: "riots \xff"}, "reason"},
		{"past expiry", advisory.OverrideInput{Country: "FR", Level: ptr(3), Reason: "r", ExpiresAt: &past}, "expiresAt"},
		{"area of 201", advisory.OverrideInput{Country: "FR", Area: strings.Repeat("a", 201), Level: ptr(3), Reason: "r"}, "area"},
		{"NUL in area", advisory.OverrideInput{Country: "FR", Area: "Paris\x00", Level: ptr(3), Reason: "r"}, "area"},
		{"clearing an unknown country", advisory.OverrideInput{Country: "ZZ"}, "country"},
	}
	before := everything(t, pool)
	for _, tt := range tests {
		_, err := st.SetOverride(ctx, "analyst", tt.in)
		t.Run(tt.name, func(t *testing.T) { wantInvalid(t, err, tt.field) })
	}
	wantUnchanged(t, before, everything(t, pool))
	// A reason of exactly 500 characters is fine.
	if _, err := st.SetOverride(ctx, "analyst", advisory.OverrideInput{Country: "FR", Level: ptr(3), Reason: strings.Repeat("é", 500)}); err != nil {
		t.Errorf("a 500-character reason: %v", err)
	}
}

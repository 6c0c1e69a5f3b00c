package escalation_test

import (
	"context"
	"testing"
	"time"

	"meridian.dev/platform/escalation"
)

// TestStatsAndFilters: time-to-acknowledge and time-to-resolve percentiles
// over escalations started in the window, and the severity and time filters
// of List. Timestamps are set directly so the expected figures are exact.
func TestStatsAndFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	base := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	// Acknowledged after 1, 2, 3, 4 minutes; the first two resolved after 10
	// and 20 minutes; one left open; one in APAC; one long before the window.
	type row struct {
		code, region string
		ack, resolve time.Duration
		started      time.Time
	}
	rows := []row{
		{"E1", "EMEA", time.Minute, 10 * time.Minute, base},
		{"E2", "EMEA", 2 * time.Minute, 20 * time.Minute, base.Add(time.Hour)},
		{"E3", "EMEA", 3 * time.Minute, 0, base.Add(2 * time.Hour)},
		{"E4", "EMEA", 4 * time.Minute, 0, base.Add(3 * time.Hour)},
		{"E5", "EMEA", 0, 0, base.Add(4 * time.Hour)},
		{"A1", "APAC", 30 * time.Minute, 0, base},
		{"OLD", "EMEA", time.Hour, 2 * time.Hour, base.AddDate(0, -2, 0)},
	}
	for _, r := range rows {
		esc := e.open(t, r.code, r.region)
		_, err := e.pool.Exec(ctx, `UPDATE escalations SET started_at = $2::timestamptz,
			status = CASE WHEN $4::interval IS NOT NULL THEN 'RESOLVED' WHEN $3::interval IS NOT NULL THEN 'ACKNOWLEDGED' ELSE 'OPEN' END,
			acknowledged_at = $2::timestamptz + $3::interval, resolved_at = $2::timestamptz + $4::interval WHERE id = $1`,
			esc.ID, r.started, interval(r.ack), interval(r.resolve))
		if err != nil {
			t.Fatal(err)
		}
	}
	st, err := e.escs.Stats(ctx, "EMEA", base.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if st.Opened != 5 || st.Acknowledged != 4 || st.Resolved != 2 {
		t.Fatalf("counts %d/%d/%d, want 5 opened, 4 acknowledged, 2 resolved", st.Opened, st.Acknowledged, st.Resolved)
	}
	// percentile_cont interpolates: p50 of 1,2,3,4 min = 2.5 min; p90 = 3.7 min;
	// p50 of 10, 20 min = 15 min; p90 = 19 min.
	for name, c := range map[string]struct {
		got  *time.Duration
		want time.Duration
	}{
		"ack p50": {st.AckP50, 150 * time.Second}, "ack p90": {st.AckP90, 222 * time.Second},
		"resolve p50": {st.ResolveP50, 15 * time.Minute}, "resolve p90": {st.ResolveP90, 19 * time.Minute},
	} {
		if c.got == nil || (*c.got-c.want).Abs() > time.Millisecond {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
	empty, err := e.escs.Stats(ctx, "AMER", base)
	if err != nil || empty.Opened != 0 || empty.AckP50 != nil {
		t.Fatalf("AMER stats = %+v, %v; want nothing and nil percentiles", empty, err)
	}

	list, _, err := e.escs.List(ctx, escalation.Filter{Region: "EMEA", Since: base.Add(90 * time.Minute), Until: base.Add(3*time.Hour + time.Second)}, 50, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("EMEA escalations started in [base+1h30, base+3h] = %d, want 2 (E3, E4)", len(list))
	}
	sev2, _, err := e.escs.List(ctx, escalation.Filter{Severity: escalation.SEV2}, 50, "")
	if err != nil {
		t.Fatal(err)
	}
	// open() raises CRITICAL/LOCKDOWN: CRITICAL makes every one SEV1.
	if len(sev2) != 0 {
		t.Fatalf("SEV2 escalations = %d, want 0", len(sev2))
	}
	sev1, _, err := e.escs.List(ctx, escalation.Filter{Severity: escalation.SEV1}, 50, "")
	if err != nil || len(sev1) != len(rows) {
		t.Fatalf("SEV1 escalations = %d (%v), want %d", len(sev1), err, len(rows))
	}
}

func interval(d time.Duration) *string {
	if d == 0 {
		return nil
	}
	s := d.String()
	return &s
}

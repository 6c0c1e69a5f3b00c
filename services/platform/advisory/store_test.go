package advisory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/platform/advisory"
	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/testenv"
)

func TestApplyStoresAndIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)

	kenya := report(feed.USState, "KE", feed.Reconsider)
	kenya.Indicators = []string{"T", "C", "K", "C"}
	kenya.Areas = []feed.Area{{Name: "Kenya-Somalia border", Level: feed.DoNotTravel, Text: "Terrorism and kidnapping."}}
	snap := snapshot(feed.USState,
		kenya,
		report(feed.USState, "FR", feed.IncreasedCaution),
		report(feed.USState, "HT", feed.DoNotTravel),
		report(feed.USState, "IS", feed.Normal),
	)
	sum := apply(t, st, snap, fetched)
	if sum.Source != feed.USState || sum.Fetched != 4 || sum.Changed != 4 || !sum.At.Equal(fetched) {
		t.Fatalf("first run = %+v, want source US_STATE, fetched 4, changed 4, at %s", sum, fetched)
	}
	// Iceland at level 1 gets a row, but its level did not move from what
	// reads showed before (1), so only three levels changed.
	if sum.LevelsChanged != 3 {
		t.Errorf("LevelsChanged = %d, want 3", sum.LevelsChanged)
	}

	risk, err := st.CountryRisk(ctx, "ke")
	if err != nil {
		t.Fatalf("CountryRisk(ke): %v", err)
	}
	if risk.Level != 3 || risk.Rule != advisory.RuleSourceMax || len(risk.Advisories) != 1 || risk.Country.Code != "KE" {
		t.Fatalf("Kenya = %+v, want level 3 SOURCE_MAX from one advisory", risk)
	}
	got := risk.Advisories[0]
	if !slices.Equal(got.Indicators, []string{"C", "K", "T"}) {
		t.Errorf("indicators = %q, want sorted and de-duplicated [C K T]", got.Indicators)
	}
	if len(got.Areas) != 1 || got.Areas[0] != kenya.Areas[0] {
		t.Errorf("areas = %+v, want %+v", got.Areas, kenya.Areas)
	}
	if got.PublishedAt == nil || !got.PublishedAt.Equal(kenya.PublishedAt) || !got.FetchedAt.Equal(fetched) ||
		got.Title != kenya.Title || got.Summary != kenya.Summary || got.SourceLabel != kenya.SourceLabel || got.URL != kenya.URL {
		t.Errorf("stored advisory = %+v, want the report %+v fetched at %s", got, kenya, fetched)
	}

	versions := count(t, pool, `SELECT count(*) FROM country_risk_versions`)
	events := count(t, pool, `SELECT count(*) FROM outbox WHERE topic = $1`, outbox.TopicAdvisoryChanged)
	if versions != 4 || events != 4 {
		t.Fatalf("after the first run: %d version rows and %d events, want 4 and 4", versions, events)
	}
	status := sourceStatus(t, st, feed.USState)
	if status.Countries != 4 || status.LastError != "" || status.LastSuccessAt == nil || status.LastAttemptAt == nil {
		t.Fatalf("US status = %+v, want 4 countries, a success and no error", status)
	}

	// The same words again, an hour later: nothing changes but fetched_at.
	later := fetched.Add(time.Hour)
	const withoutFetchedAt = `(SELECT source, country_code, level, source_label, title, summary, indicators, areas,
		published_at, url, content_hash FROM advisories)`
	before := dump(t, pool, withoutFetchedAt, "source, country_code")
	sum = apply(t, st, snap, later)
	if sum.Fetched != 4 || sum.Changed != 0 || sum.LevelsChanged != 0 {
		t.Fatalf("second run = %+v, want fetched 4, changed 0, levels changed 0", sum)
	}
	if n := count(t, pool, `SELECT count(*) FROM country_risk_versions`); n != versions {
		t.Errorf("version rows %d → %d on an identical snapshot", versions, n)
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox`); n != events {
		t.Errorf("outbox rows %d → %d on an identical snapshot", events, n)
	}
	if n := count(t, pool, `SELECT count(*) FROM advisories WHERE fetched_at = $1`, later); n != 4 {
		t.Errorf("%d rows carry the new fetched_at, want 4", n)
	}
	if after := dump(t, pool, withoutFetchedAt, "source, country_code"); after != before {
		t.Errorf("an identical snapshot changed more than fetched_at:\nbefore %s\nafter  %s", before, after)
	}
}

func TestApplyChangedLevelWritesOneVersionAndOneEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	apply(t, st, snapshot(feed.USState, reportsAt(feed.USState, feed.Reconsider, "KE", "FR")...), fetched)
	lastEvent := count(t, pool, `SELECT coalesce(max(id), 0) FROM outbox`)
	lastVersion := count(t, pool, `SELECT coalesce(max(id), 0) FROM country_risk_versions`)

	later := fetched.Add(6 * time.Hour)
	sum := apply(t, st, snapshot(feed.USState, report(feed.USState, "KE", feed.DoNotTravel), report(feed.USState, "FR", feed.Reconsider)), later)
	if sum.Changed != 1 || sum.LevelsChanged != 1 {
		t.Fatalf("summary = %+v, want changed 1, levels changed 1", sum)
	}

	var version, level, previous int
	var rule, cause string
	if err := pool.QueryRow(ctx, `SELECT version, level, previous_level, rule, cause FROM country_risk_versions WHERE id > $1`, lastVersion).
		Scan(&version, &level, &previous, &rule, &cause); err != nil {
		t.Fatalf("want exactly one new version row: %v", err)
	}
	wantCause := "source US_STATE run at 2026-10-08T03:02:01Z"
	if version != 2 || level != 4 || previous != 3 || rule != advisory.RuleSourceMax || cause != wantCause {
		t.Errorf("version row = v%d level %d previous %d %s %q, want v2 level 4 previous 3 SOURCE_MAX %q",
			version, level, previous, rule, cause, wantCause)
	}

	rows, err := pool.Query(ctx, `SELECT topic, payload FROM outbox WHERE id > $1`, lastEvent)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var changes []advisory.Change
	for rows.Next() {
		var topic string
		var payload []byte
		if err := rows.Scan(&topic, &payload); err != nil {
			t.Fatal(err)
		}
		if topic != outbox.TopicAdvisoryChanged {
			t.Errorf("topic = %q, want %q", topic, outbox.TopicAdvisoryChanged)
		}
		var raw map[string]any
		if err := json.Unmarshal(payload, &raw); err != nil {
			t.Fatalf("payload %s: %v", payload, err)
		}
		for _, key := range []string{"country", "level", "previousLevel", "rule", "version", "cause", "at"} {
			if _, ok := raw[key]; !ok {
				t.Errorf("payload %s lacks %q", payload, key)
			}
		}
		var c advisory.Change
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatal(err)
		}
		changes = append(changes, c)
	}
	if len(changes) != 1 {
		t.Fatalf("%d new outbox rows, want 1: %+v", len(changes), changes)
	}
	c := changes[0]
	if c.Country != "KE" || c.Level != 4 || c.PreviousLevel != 3 || c.Rule != advisory.RuleSourceMax || c.Version != 2 ||
		c.Cause != wantCause || c.At.IsZero() {
		t.Errorf("change = %+v, want KE 3→4 SOURCE_MAX v2 caused by %q", c, wantCause)
	}
	if r, _ := riskOf(t, pool, "KE"); r != (riskRow{Level: 4, Version: 2, Rule: advisory.RuleSourceMax}) {
		t.Errorf("country_risk KE = %+v, want level 4 v2", r)
	}
	if got := advisory.Changes.Region(c); got != "KE" {
		t.Errorf("Changes.Region = %q, want the country", got)
	}
}

// twelve countries, enough for the shrink guard to apply.
var twelve = []string{"AR", "BR", "CA", "DE", "EG", "FR", "GR", "HT", "IN", "JP", "KE", "MX"}

func TestApplyRefusesSuspiciousShrink(t *testing.T) {
	t.Parallel()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	apply(t, st, snapshot(feed.UKFCDO, reportsAt(feed.UKFCDO, feed.IncreasedCaution, twelve...)...), fetched)
	okStatus := sourceStatus(t, st, feed.UKFCDO)
	before := everything(t, pool)

	// Five of twelve, at new levels: a truncated index, not a world at peace.
	shrunk := snapshot(feed.UKFCDO, reportsAt(feed.UKFCDO, feed.DoNotTravel, twelve[:5]...)...)
	sum, err := st.Apply(context.Background(), shrunk, fetched.Add(time.Hour))
	if !errors.Is(err, advisory.ErrRefused) || !strings.Contains(err.Error(), "suspiciously small: 5 countries where 12 were stored") {
		t.Fatalf("Apply(5 of 12) error = %v, want a refusal saying why", err)
	}
	if sum.Changed != 0 || sum.LevelsChanged != 0 {
		t.Errorf("refused run summary = %+v, want nothing changed", sum)
	}
	wantUnchanged(t, before, everything(t, pool))
	status := sourceStatus(t, st, feed.UKFCDO)
	if !strings.Contains(status.LastError, "suspiciously small") || status.Countries != 12 ||
		!status.LastSuccessAt.Equal(*okStatus.LastSuccessAt) || !status.LastAttemptAt.After(*okStatus.LastAttemptAt) {
		t.Errorf("status after refusal = %+v (before %+v), want the error, 12 countries, the old success and a new attempt", status, okStatus)
	}

	// Exactly half is not fewer than half: accepted, the rest kept.
	sum = apply(t, st, snapshot(feed.UKFCDO, reportsAt(feed.UKFCDO, feed.DoNotTravel, twelve[:6]...)...), fetched.Add(2*time.Hour))
	if sum.Changed != 6 {
		t.Errorf("six of twelve: %+v, want 6 changed", sum)
	}
	if n := count(t, pool, `SELECT count(*) FROM advisories WHERE source = 'UK_FCDO'`); n != 12 {
		t.Errorf("%d UK rows, want all 12 kept", n)
	}
	if s := sourceStatus(t, st, feed.UKFCDO); s.LastError != "" {
		t.Errorf("a success must clear the last error, got %q", s.LastError)
	}
}

func TestApplyRefusesEmptySnapshot(t *testing.T) {
	t.Parallel()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	apply(t, st, snapshot(feed.CAGAC, report(feed.CAGAC, "MX", feed.IncreasedCaution)), fetched)
	before := everything(t, pool)

	for name, snap := range map[string]feed.Snapshot{
		"no reports":          snapshot(feed.CAGAC),
		"only invalid report": snapshot(feed.CAGAC, report(feed.CAGAC, "XX", feed.DoNotTravel)),
	} {
		_, err := st.Apply(context.Background(), snap, fetched.Add(time.Hour))
		if !errors.Is(err, advisory.ErrRefused) || !strings.Contains(err.Error(), "no valid country reports") {
			t.Errorf("%s: error = %v, want a refusal", name, err)
		}
		if s := sourceStatus(t, st, feed.CAGAC); !strings.Contains(s.LastError, "no valid country reports") || s.Countries != 1 {
			t.Errorf("%s: status = %+v, want the refusal recorded and 1 country", name, s)
		}
	}
	wantUnchanged(t, before, everything(t, pool))
}

func TestApplyKeepsCountriesMissingFromASnapshot(t *testing.T) {
	t.Parallel()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	apply(t, st, snapshot(feed.AUSmartraveller, report(feed.AUSmartraveller, "FR", feed.IncreasedCaution),
		report(feed.AUSmartraveller, "HT", feed.DoNotTravel)), fetched)
	haiti := dump(t, pool, "(SELECT * FROM advisories WHERE country_code = 'HT')", "1")

	// Haiti's page failed to parse this time: it is absent, not safe.
	sum := apply(t, st, snapshot(feed.AUSmartraveller, report(feed.AUSmartraveller, "FR", feed.Reconsider)), fetched.Add(time.Hour))
	if sum.Changed != 1 {
		t.Errorf("summary = %+v, want 1 changed", sum)
	}
	if got := dump(t, pool, "(SELECT * FROM advisories WHERE country_code = 'HT')", "1"); got != haiti {
		t.Errorf("Haiti's row changed: %s → %s", haiti, got)
	}
	if r, ok := riskOf(t, pool, "HT"); !ok || r.Level != 4 {
		t.Errorf("Haiti's level = %+v, want 4 kept", r)
	}
	if s := sourceStatus(t, st, feed.AUSmartraveller); s.Countries != 2 {
		t.Errorf("countries = %d, want 2 (the rows the source has)", s.Countries)
	}
}

func TestEffectiveLevelIsTheHighestAcrossSources(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	apply(t, st, snapshot(feed.USState, report(feed.USState, "EG", feed.Reconsider)), fetched)
	apply(t, st, snapshot(feed.UKFCDO, report(feed.UKFCDO, "EG", feed.IncreasedCaution)), fetched)
	apply(t, st, snapshot(feed.CAGAC, report(feed.CAGAC, "EG", feed.DoNotTravel)), fetched)
	if r, _ := riskOf(t, pool, "EG"); r != (riskRow{Level: 4, Version: 2, Rule: advisory.RuleSourceMax}) {
		t.Fatalf("Egypt = %+v, want level 4 (Canada's) at version 2", r)
	}
	// Canada lowers its level: the next highest (the US's 3) decides.
	apply(t, st, snapshot(feed.CAGAC, report(feed.CAGAC, "EG", feed.Normal)), fetched.Add(time.Hour))
	if r, _ := riskOf(t, pool, "EG"); r != (riskRow{Level: 3, Version: 3, Rule: advisory.RuleSourceMax}) {
		t.Fatalf("Egypt = %+v, want level 3 at version 3", r)
	}
	risk, err := st.CountryRisk(ctx, "EG")
	if err != nil {
		t.Fatal(err)
	}
	var order []feed.Source
	for _, a := range risk.Advisories {
		order = append(order, a.Source)
	}
	if !slices.Equal(order, []feed.Source{feed.USState, feed.UKFCDO, feed.CAGAC}) {
		t.Errorf("advisories in order %v, want feed.Sources order", order)
	}
	levels, err := st.Levels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(levels) != 1 || levels["EG"] != 3 {
		t.Errorf("Levels = %v, want EG:3", levels)
	}
}

func TestApplySkipsInvalidReportsAndCleansText(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)

	dirty := report(feed.USState, " fr ", feed.IncreasedCaution)
	dirty.Title = "  France\x00 - Level 2: Exercise Increased Caution \xff "
	dirty.URL = "javascript:alert(1)"
	badArea := report(feed.USState, "DE", feed.Normal)
	badArea.Areas = []feed.Area{{Name: "Somewhere", Level: 7}}
	strictest := report(feed.USState, "CN", feed.Reconsider)
	strictest.Title = "Mainland China, Hong Kong & Macau"
	snap := snapshot(feed.USState,
		dirty,
		report(feed.USState, "XX", feed.DoNotTravel),      // not a country
		report(feed.USState, "UK", feed.IncreasedCaution), // the State Department's code, not ISO
		report(feed.USState, "JP", 5),                     // off the scale
		report(feed.USState, "JP", 0),                     // off the scale
		report(feed.UKFCDO, "IT", feed.Normal),            // another source's report
		badArea,                                           // an area off the scale
		report(feed.USState, "CN", feed.IncreasedCaution), // a second report for China…
		strictest, // …and a stricter one: it wins
	)
	sum := apply(t, st, snap, fetched)
	if sum.Fetched != 9 || sum.Changed != 2 {
		t.Fatalf("summary = %+v, want 9 fetched, 2 changed (FR and CN)", sum)
	}
	var codes []string
	rows, _ := pool.Query(ctx, `SELECT country_code FROM advisories ORDER BY 1`)
	for rows.Next() {
		var c string
		_ = rows.Scan(&c)
		codes = append(codes, c)
	}
	if rows.Err() != nil || !slices.Equal(codes, []string{"CN", "FR"}) {
		t.Fatalf("stored countries %v (%v), want [CN FR]", codes, rows.Err())
	}
	risk, err := st.CountryRisk(ctx, "FR")
	if err != nil {
		t.Fatal(err)
	}
	if a := risk.Advisories[0]; a.Title != "France - Level 2: Exercise Increased Caution \uFFFD" || a.URL != "" {
		t.Errorf("cleaned advisory: title %q url %q, want NUL dropped, bad byte replaced, trimmed, unsafe link dropped", a.Title, a.URL)
	}
	if r, _ := riskOf(t, pool, "CN"); r.Level != 3 {
		t.Errorf("China = %+v, want the stricter report's 3", r)
	}
}

func TestRecordFailureChangesOnlyTheStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	apply(t, st, snapshot(feed.USState, report(feed.USState, "HT", feed.DoNotTravel)), fetched)
	ok := sourceStatus(t, st, feed.USState)
	before := everything(t, pool)

	cause := fmt.Errorf("feed: GET https://travel.state.gov: 503 \x00%s", strings.Repeat("é", 5000))
	if err := st.RecordFailure(ctx, feed.USState, cause); err != nil {
		t.Fatal(err)
	}
	wantUnchanged(t, before, everything(t, pool))
	s := sourceStatus(t, st, feed.USState)
	if !strings.HasPrefix(s.LastError, "feed: GET https://travel.state.gov: 503 é") || len([]rune(s.LastError)) > 1001 ||
		s.Countries != 1 || !s.LastSuccessAt.Equal(*ok.LastSuccessAt) || !s.LastAttemptAt.After(*ok.LastAttemptAt) {
		t.Errorf("status = %+v (%d runes), want a bounded error, the same success and count, a new attempt", s, len([]rune(s.LastError)))
	}
	if err := st.RecordFailure(ctx, "NOWHERE", cause); err == nil {
		t.Error("RecordFailure(unknown source) succeeded")
	}
}

// Two runs of one source with different words, and runs of other sources,
// at once: the source lock takes them in turn, the country locks keep the
// effective level right, and versions count up without a gap.
func TestConcurrentAppliesEndConsistent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	codes := twelve
	for round := range 5 {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		run := func(src feed.Source, level feed.Level, at time.Time) {
			defer wg.Done()
			_, err := st.Apply(ctx, snapshot(src, reportsAt(src, level, codes...)...), at)
			errs <- err
		}
		at := fetched.Add(time.Duration(round) * time.Hour)
		wg.Add(4)
		go run(feed.USState, feed.Level(1+round%4), at)
		go run(feed.USState, feed.Level(1+(round+2)%4), at.Add(time.Minute))
		go run(feed.UKFCDO, feed.Level(1+(round+1)%4), at)
		go func() {
			defer wg.Done()
			level := 1 + round%4
			_, err := st.SetOverride(ctx, "analyst", advisory.OverrideInput{Country: "KE", Level: &level, Reason: "round " + fmt.Sprint(round)})
			errs <- err
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	// The newer US run (fetched a minute later) holds, whichever committed last.
	if n := count(t, pool, `SELECT count(*) FROM advisories WHERE source = 'US_STATE' AND fetched_at <> $1`, fetched.Add(4*time.Hour+time.Minute)); n != 0 {
		t.Errorf("%d US rows are not from the newest run", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM country_risk r WHERE r.country_code <> 'KE' AND
		r.level <> (SELECT max(level) FROM advisories a WHERE a.country_code = r.country_code)`); n != 0 {
		t.Errorf("%d countries' level is not the highest of their sources", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM country_risk r WHERE r.country_code = 'KE' AND
		(r.rule <> 'OVERRIDE' OR r.level <> (SELECT level FROM advisory_overrides WHERE country_code = 'KE'))`); n != 0 {
		t.Errorf("Kenya's level is not its override's")
	}
	// Versions 1…n without a gap per country, the last one current, each
	// version's previous level the one before it.
	if n := count(t, pool, `SELECT count(*) FROM (
		SELECT country_code, version, level, previous_level,
			row_number() OVER w AS n, lag(level) OVER w AS before
		FROM country_risk_versions WINDOW w AS (PARTITION BY country_code ORDER BY id)) v
		WHERE v.version <> v.n OR v.previous_level IS DISTINCT FROM v.before`); n != 0 {
		t.Errorf("%d version rows out of sequence", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM country_risk r
		WHERE r.version <> (SELECT max(version) FROM country_risk_versions v WHERE v.country_code = r.country_code)`); n != 0 {
		t.Errorf("%d countries' current version is not their last version row", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM country_risk_versions`); n != count(t, pool, `SELECT count(*) FROM outbox WHERE topic = $1`, outbox.TopicAdvisoryChanged) {
		t.Errorf("version rows and change events differ in number")
	}
}

// TestAreaChangeAtTheSameLevelIsAnnounced: a source that adds an area
// (or an analyst an area override) changes no country's level, yet trips in
// that area must be scored again; an unchanged snapshot announces nothing.
func TestAreaChangeAtTheSameLevelIsAnnounced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	kenya := report(feed.UKFCDO, "KE", feed.IncreasedCaution)
	apply(t, st, snapshot(feed.UKFCDO, kenya, report(feed.UKFCDO, "FR", feed.Normal)), fetched)
	advice := func() int {
		return count(t, pool, `SELECT count(*) FROM outbox WHERE topic = $1`, outbox.TopicAdvisoryAdviceChanged)
	}
	if n := advice(); n != 0 {
		t.Fatalf("first run announced %d advice changes, want none (every level moved: those are level changes)", n)
	}

	kenya.Areas = []feed.Area{{Name: "Lamu County", Level: feed.DoNotTravel, Text: "Advise against all travel to Lamu County."}}
	sum := apply(t, st, snapshot(feed.UKFCDO, kenya, report(feed.UKFCDO, "FR", feed.Normal)), fetched.Add(time.Hour))
	if sum.Changed != 1 || sum.LevelsChanged != 0 {
		t.Fatalf("area run = %+v, want one changed report and no level change", sum)
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox WHERE topic = $1 AND payload->>'country' = 'KE'`, outbox.TopicAdvisoryAdviceChanged); n != 1 || advice() != 1 {
		t.Fatalf("advice changes for KE = %d (all %d), want exactly one, for Kenya", n, advice())
	}

	apply(t, st, snapshot(feed.UKFCDO, kenya, report(feed.UKFCDO, "FR", feed.Normal)), fetched.Add(2*time.Hour))
	if n := advice(); n != 1 {
		t.Fatalf("the same snapshot again announced %d advice changes in all, want still 1", n)
	}

	if _, err := st.SetOverride(ctx, "analyst", advisory.OverrideInput{Country: "KE", Area: "Nairobi", Level: ptr(3), Reason: "demonstrations"}); err != nil {
		t.Fatal(err)
	}
	if n := advice(); n != 2 {
		t.Fatalf("an area override announced %d advice changes in all, want 2", n)
	}
}

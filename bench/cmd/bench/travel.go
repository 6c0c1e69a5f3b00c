package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/country"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/travel"
)

// Part 4 targets, from the issue: on this 2-core machine.
const (
	targetAssessP99   = 2 * time.Millisecond
	targetTripGQLP99  = 10 * time.Millisecond
	targetReassessAll = 5 * time.Second
)

// reassessCountry is the country whose advisory changes in Part 4's
// re-assessment; every re-assessed trip has a segment there. It is not on
// the measured trip, whose cities the incidents cluster around: there,
// incidents would hold most trips at their level whatever the advisory
// says, and the re-assessment would mostly find nothing to announce.
const reassessCountry = "TZ"

// TravelReport is Part 4.
type TravelReport struct {
	Advisories int // advisory rows (country × source)
	Countries  int // countries with an effective level
	Incidents  int // live located incidents (one OPEN escalation each)

	// The measured trip: its segments, countries and what Create scored.
	Segments        int
	TripCountries   int
	TripLevel       int
	TripReasons     int
	IncidentReasons int // reasons that are incidents near a segment
	RawRows         int // incidents the raw query finds within the largest radius of the trip's points

	Assess  TravelSide // travel.Store.Assess in process
	GraphQL TravelSide // Query.trip over HTTP through the gateway
	Raw     TravelSide // the bare PostGIS query and the country levels lookup, with pgx

	Reassess *ReassessResult
}

// TravelSide is one measured side of Part 4: sequential calls, one at a time.
type TravelSide struct {
	Runs       int
	Errors     int
	FirstError string
	Latency    Percentiles
	Usage      Usage
}

// Percentiles is a latency distribution with the p95 the issue asks for.
type Percentiles struct {
	N                  int
	P50, P95, P99, Max time.Duration
}

func percentilesOf(d []time.Duration) Percentiles {
	s := summarize(d) // sorts d
	if s.N == 0 {
		return Percentiles{}
	}
	return Percentiles{N: s.N, P50: s.P50, P95: percentile(d, 0.95), P99: s.P99, Max: s.Max}
}

// ReassessResult is the re-assessment of every trip in one country after
// its advisory level changed.
type ReassessResult struct {
	Country       string
	From, To      int // the country's effective level before and after the change
	Trips         int // trips with a segment in the country, all live
	Duration      time.Duration
	Summary       travel.ReassessSummary
	StoredChanged int // trips whose stored level differs afterwards, read back from Postgres
	Sampled       int // trips scored again with Store.Assess after the run
	SampleAgrees  int // of which the stored level equals the fresh score
	FirstMismatch string
	Usage         Usage
}

// TripsPerSecond is the re-assessment's rate.
func (r *ReassessResult) TripsPerSecond() float64 {
	if r == nil || r.Duration <= 0 {
		return 0
	}
	return float64(r.Summary.Trips) / r.Duration.Seconds()
}

// problems lists what Part 4 got wrong (never what was slow).
func (r *TravelReport) problems() []string {
	var out []string
	for _, side := range []struct {
		name string
		s    TravelSide
	}{{"travel assess", r.Assess}, {"travel GraphQL trip", r.GraphQL}, {"travel raw query", r.Raw}} {
		if side.s.Errors > 0 {
			out = append(out, fmt.Sprintf("%s: %d of %d runs failed (first: %s)", side.name, side.s.Errors, side.s.Runs, side.s.FirstError))
		}
		if side.s.Latency.N == 0 {
			out = append(out, side.name+": nothing was measured")
		}
	}
	if x := r.Reassess; x != nil {
		switch {
		case x.Summary.Trips != x.Trips:
			out = append(out, fmt.Sprintf("travel re-assessment scored %d trips of the %d live ones in %s", x.Summary.Trips, x.Trips, x.Country))
		case x.Summary.Changed == 0:
			out = append(out, fmt.Sprintf("travel re-assessment: no trip changed level after %s went from %d to %d", x.Country, x.From, x.To))
		case x.StoredChanged != x.Summary.Changed:
			out = append(out, fmt.Sprintf("travel re-assessment reported %d changed trips, Postgres holds %d", x.Summary.Changed, x.StoredChanged))
		}
		if x.SampleAgrees != x.Sampled {
			out = append(out, fmt.Sprintf("travel re-assessment: %d of %d sampled trips store a level a fresh assessment disagrees with (first: %s)",
				x.Sampled-x.SampleAgrees, x.Sampled, x.FirstMismatch))
		}
	}
	return out
}

// travelPlace is a named point with its country and time zone.
type travelPlace struct {
	city, country, tz string
	lat, lon          float64
}

func (p travelPlace) place() travel.Place {
	lat, lon := p.lat, p.lon
	return travel.Place{City: p.city, CountryCode: p.country, Latitude: &lat, Longitude: &lon}
}

// The measured trip: London to Nairobi, by rail to Mombasa, then Addis
// Ababa, Cairo and Istanbul. Ten segments in four countries, each at its
// own point (airports, hotels, offices), as an itinerary gives them.
var (
	heathrow   = travelPlace{"London", "GB", "Europe/London", 51.4700, -0.4543}
	jkia       = travelPlace{"Nairobi", "KE", "Africa/Nairobi", -1.3192, 36.9278}
	westlands  = travelPlace{"Nairobi", "KE", "Africa/Nairobi", -1.2676, 36.8108}
	nairobiCBD = travelPlace{"Nairobi", "KE", "Africa/Nairobi", -1.2864, 36.8172}
	mombasa    = travelPlace{"Mombasa", "KE", "Africa/Nairobi", -4.0435, 39.6682}
	nyali      = travelPlace{"Mombasa", "KE", "Africa/Nairobi", -4.0206, 39.7206}
	bole       = travelPlace{"Addis Ababa", "ET", "Africa/Addis_Ababa", 8.9779, 38.7993}
	addisCBD   = travelPlace{"Addis Ababa", "ET", "Africa/Addis_Ababa", 9.0108, 38.7613}
	cairoAir   = travelPlace{"Cairo", "EG", "Africa/Cairo", 30.1219, 31.4056}
	zamalek    = travelPlace{"Cairo", "EG", "Africa/Cairo", 30.0609, 31.2197}
	istanbul   = travelPlace{"Istanbul", "TR", "Europe/Istanbul", 41.2753, 28.7519}
)

func measuredTrip(start time.Time) []travel.SegmentInput {
	day := 24 * time.Hour
	seg := func(kind string, from, to time.Duration, at travelPlace, origin *travelPlace) travel.SegmentInput {
		s := travel.SegmentInput{Kind: kind, StartsAt: start.Add(from), EndsAt: start.Add(to), Timezone: at.tz, Place: at.place()}
		if origin != nil {
			o, d := origin.place(), at.place()
			s.From, s.To = &o, &d
		}
		return s
	}
	return []travel.SegmentInput{
		seg("FLIGHT", 0, 9*time.Hour, jkia, &heathrow),
		seg("HOTEL", 10*time.Hour, 3*day, westlands, nil),
		seg("MEETING", day+2*time.Hour, day+5*time.Hour, nairobiCBD, nil),
		seg("RAIL", 3*day, 3*day+5*time.Hour, mombasa, &nairobiCBD),
		seg("HOTEL", 3*day+6*time.Hour, 5*day, nyali, nil),
		seg("FLIGHT", 5*day+2*time.Hour, 5*day+5*time.Hour, bole, &mombasa),
		seg("MEETING", 5*day+8*time.Hour, 5*day+11*time.Hour, addisCBD, nil),
		seg("FLIGHT", 6*day, 6*day+4*time.Hour, cairoAir, &bole),
		seg("HOTEL", 6*day+5*time.Hour, 8*day, zamalek, nil),
		seg("FLIGHT", 8*day+2*time.Hour, 8*day+4*time.Hour, istanbul, &cairoAir),
	}
}

// Centres incidents cluster around: the measured trip's cities (so that
// some fall inside their kind's radius of a segment), and large cities
// elsewhere, where incidents are reported most.
var (
	tripCities  = [][2]float64{{-1.2864, 36.8172}, {-4.0435, 39.6682}, {9.0108, 38.7613}, {30.0444, 31.2357}, {41.0082, 28.9784}}
	worldCities = [][2]float64{{40.7128, -74.0060}, {19.4326, -99.1332}, {-23.5505, -46.6333}, {4.7110, -74.0721},
		{18.5944, -72.3074}, {34.0522, -118.2437}, {6.5244, 3.3792}, {-4.4419, 15.2663}, {-26.2041, 28.0473},
		{48.8566, 2.3522}, {50.4501, 30.5234}, {35.6892, 51.3890}, {24.8607, 67.0011}, {28.6139, 77.2090},
		{23.8103, 90.4125}, {14.5995, 120.9842}, {-6.2088, 106.8456}, {35.6762, 139.6503}, {-33.8688, 151.2093},
		{39.9042, 116.4074}}
)

// incidentKinds are the kinds incidents get, with the title they carry;
// POWER_OUTAGE has no radius of its own and takes the '*' one.
var incidentKinds = []struct{ kind, title string }{
	{"EARTHQUAKE", "M5.1 earthquake"}, {"FIRE", "Building fire"}, {"UNREST", "Protests and road blocks"},
	{"TERRORISM", "Security incident"}, {"FLOOD", "Flash flooding"}, {"STORM", "Severe storm warning"},
	{"MEDICAL", "Disease outbreak"}, {"POWER_OUTAGE", "Power outage"},
}

// The re-assessed trips are at venues in these Tanzanian cities, and half
// of them go on to one of the next places (one of them, Addis Ababa, at
// level 3, so those trips keep their level).
var (
	reassessCities = []travelPlace{
		{"Dar es Salaam", "TZ", "Africa/Dar_es_Salaam", -6.7924, 39.2083}, {"Arusha", "TZ", "Africa/Dar_es_Salaam", -3.3869, 36.6830},
		{"Zanzibar City", "TZ", "Africa/Dar_es_Salaam", -6.1659, 39.2026}, {"Dodoma", "TZ", "Africa/Dar_es_Salaam", -6.1630, 35.7516},
		{"Mwanza", "TZ", "Africa/Dar_es_Salaam", -2.5164, 32.9175}, {"Mbeya", "TZ", "Africa/Dar_es_Salaam", -8.9094, 33.4608},
	}
	onwardPlaces = []travelPlace{
		{"Kampala", "UG", "Africa/Kampala", 0.3476, 32.5825}, {"Kigali", "RW", "Africa/Kigali", -1.9441, 30.0619},
		{"Addis Ababa", "ET", "Africa/Addis_Ababa", 9.0108, 38.7613}, {"Johannesburg", "ZA", "Africa/Johannesburg", -26.2041, 28.0473},
		{"Dubai", "AE", "Asia/Dubai", 25.2048, 55.2708}, {"London", "GB", "Europe/London", 51.5072, -0.1276},
	}
)

// venuesPerCity is how many hotels and offices the re-assessed trips use
// in each city: travellers share places, as they do.
const venuesPerCity = 8

// travel runs Part 4.
func (e *env) travel(ctx context.Context) (*TravelReport, error) {
	cfg := e.cfg
	rep := &TravelReport{}
	rng := rand.New(rand.NewPCG(8, 2026)) // the same world every run
	start := time.Now()
	if err := e.seedTravellers(ctx, cfg.TravelTrips); err != nil {
		return nil, err
	}
	var err error
	if rep.Advisories, rep.Countries, err = e.seedAdvisories(ctx, rng); err != nil {
		return nil, err
	}
	if rep.Incidents, err = e.seedIncidents(ctx, rng, cfg.TravelIncidents); err != nil {
		return nil, err
	}
	trips := travel.NewStore(e.pool)
	inputs := measuredTrip(time.Now().UTC().Truncate(time.Hour).Add(7 * 24 * time.Hour))
	trip, segs, err := trips.Create(ctx, "tt-theo", travel.NewTrip{Traveller: benchTraveller(0),
		Purpose: "Benchmark: East Africa and Levant tour", Segments: inputs})
	if err != nil {
		return nil, fmt.Errorf("part 4: create the measured trip: %w", err)
	}
	rep.Segments, rep.TripLevel, rep.TripReasons = len(segs), trip.Risk.Level, len(trip.Risk.Reasons)
	countries := map[string]bool{}
	for _, s := range segs {
		countries[s.Place.CountryCode] = true
	}
	rep.TripCountries = len(countries)
	for _, r := range trip.Risk.Reasons {
		if r.Kind == travel.ReasonIncident {
			rep.IncidentReasons++
		}
	}
	gid, err := e.tripGlobalID(ctx, benchTraveller(0))
	if err != nil {
		return nil, err
	}
	e.logf("part 4 setup in %s: %d advisories over %d countries, %d live located incidents; trip %s: %d segments in %d countries, level %d, %d reasons (%d incidents)",
		time.Since(start).Round(time.Millisecond), rep.Advisories, rep.Countries, rep.Incidents, trip.ID, rep.Segments, rep.TripCountries,
		rep.TripLevel, rep.TripReasons, rep.IncidentReasons)
	// Whatever earlier parts left for the relay would otherwise compete.
	if err := e.waitOutboxDrained(ctx, 2*time.Minute); err != nil {
		return nil, err
	}

	stopProfile, err := e.startProfile("travel")
	if err != nil {
		return nil, err
	}
	profiling := true
	defer func() {
		if profiling {
			stopProfile()
		}
	}()
	e.logf("part 4, in process: travel.Store.Assess of the %d segments, %d times one after another (after %s warm-up)", len(segs), cfg.TravelIterations, cfg.Warmup)
	rep.Assess, err = e.timeRuns(ctx, cfg.TravelIterations, func(ctx context.Context) error {
		risk, per, err := trips.Assess(ctx, segs)
		if err != nil {
			return err
		}
		if risk.Level != trip.Risk.Level || len(risk.Reasons) != len(trip.Risk.Reasons) || len(per) != len(segs) {
			return fmt.Errorf("assess gave level %d with %d reasons over %d segments; Create stored level %d with %d",
				risk.Level, len(risk.Reasons), len(per), trip.Risk.Level, len(trip.Risk.Reasons))
		}
		return nil
	})
	if err != nil {
		return rep, err
	}

	e.logf("part 4, GraphQL: Query.trip over HTTP as the travel team, %d times one after another (after %s warm-up)", cfg.TravelQueries, cfg.Warmup)
	token := e.tokens["tt-theo"]
	rep.GraphQL, err = e.timeRuns(ctx, cfg.TravelQueries, func(ctx context.Context) error {
		return e.queryTrip(ctx, token, gid, trip.Risk, len(segs))
	})
	stopProfile()
	profiling = false
	if err != nil {
		return rep, err
	}

	raw, err := e.newRawRisk(ctx, segs)
	if err != nil {
		return rep, err
	}
	if rep.RawRows, err = raw.run(ctx); err != nil {
		return rep, fmt.Errorf("part 4: raw query: %w", err)
	}
	e.logf("part 4, raw baseline: the bare PostGIS query (%d points ST_DWithin %.0f km of located_incidents: %d rows) and the country levels, with pgx, %d times (after %s warm-up)",
		len(raw.lats), raw.reach/1000, rep.RawRows, cfg.TravelIterations, cfg.Warmup)
	rep.Raw, err = e.timeRuns(ctx, cfg.TravelIterations, func(ctx context.Context) error {
		n, err := raw.run(ctx)
		if err == nil && n != rep.RawRows {
			err = fmt.Errorf("the raw query found %d incidents, %d before", n, rep.RawRows)
		}
		return err
	})
	if err != nil {
		return rep, err
	}

	rep.Reassess, err = e.reassess(ctx, trips, rng)
	return rep, err
}

// timeRuns calls op for the warm-up, then n times, one call at a time, and
// times each.
func (e *env) timeRuns(ctx context.Context, n int, op func(context.Context) error) (TravelSide, error) {
	var side TravelSide
	fail := func(err error) {
		side.Errors++
		if side.FirstError == "" {
			side.FirstError = err.Error()
		}
	}
	warmUntil := time.Now().Add(e.cfg.Warmup)
	for i := 0; i < 10 || time.Now().Before(warmUntil); i++ {
		if ctx.Err() != nil {
			return side, ctx.Err()
		}
		if err := op(ctx); err != nil {
			fail(err)
		}
	}
	lat := make([]time.Duration, 0, n)
	u0 := e.usage()
	for range n {
		if ctx.Err() != nil {
			return side, ctx.Err()
		}
		t0 := time.Now()
		err := op(ctx)
		d := time.Since(t0)
		side.Runs++
		if err != nil {
			fail(err)
			continue
		}
		lat = append(lat, d)
	}
	side.Usage = e.usage().Sub(u0)
	side.Latency = percentilesOf(lat)
	return side, nil
}

func benchTraveller(i int) string { return fmt.Sprintf("tr-bench-%04d", i) }

// travellersFor is how many people the re-assessed trips are spread over.
func travellersFor(trips int) int { return max(1, min(500, trips/20)) }

// seedTravellers puts the trips' travellers in the directory.
func (e *env) seedTravellers(ctx context.Context, trips int) error {
	_, err := e.pool.Exec(ctx, `INSERT INTO users (subject, name, email, regions)
		SELECT format('tr-bench-%s', lpad(g::text, 4, '0')), format('Bench Traveller %s', g), format('traveller%s@meridian.example', g), '{EMEA}'
		  FROM generate_series(0, $1) g`, travellersFor(trips))
	if err != nil {
		return fmt.Errorf("part 4: travellers: %w", err)
	}
	return nil
}

// Each source's own words for its four levels, as the feeds publish them.
var sourceLabels = map[string][5]string{
	"US_STATE": {"", "Level 1: Exercise Normal Precautions", "Level 2: Exercise Increased Caution", "Level 3: Reconsider Travel",
		"Level 4: Do Not Travel"},
	"UK_FCDO": {"", "See travel advice before travelling", "Advise against all but essential travel to parts of the country",
		"Advise against all but essential travel to the whole country", "Advise against all travel to the whole country"},
	"CA_GAC": {"", "Take normal security precautions", "Exercise a high degree of caution", "Avoid non-essential travel",
		"Avoid all travel"},
	"AU_SMARTRAVELLER": {"", "Exercise normal safety precautions", "Exercise a high degree of caution",
		"Reconsider your need to travel", "Do not travel"},
}

var advisorySources = []string{"US_STATE", "UK_FCDO", "CA_GAC", "AU_SMARTRAVELLER"}

// fixedLevels are the countries the trips go to, at levels chosen so the
// measured trip meets every kind of reason and Tanzania can fall from 3
// to 2.
var fixedLevels = map[string]int{"KE": 3, "ET": 3, "EG": 2, "TR": 2, "GB": 1, "TZ": 3, "UG": 2, "RW": 2, "ZA": 2, "AE": 1, "HT": 4}

// advisoryArea is one sub-national level, in the shape the feeds store.
type advisoryArea struct {
	Name  string `json:"name"`
	Level int    `json:"level"`
	Text  string `json:"text"`
}

// sourceAreas is what a source says of parts of a country, for the few
// countries where the bench gives areas. Canada's Eastleigh area names
// Nairobi, so the measured trip's Nairobi segments get an area reason.
func sourceAreas(source, code string) []advisoryArea {
	switch {
	case code == "KE" && source == "US_STATE":
		return []advisoryArea{{"Kenya-Somalia border counties", 4, "Do not travel to the Kenya-Somalia border counties due to terrorism and kidnapping."},
			{"Lamu County", 4, "Do not travel to Lamu County due to terrorism."}}
	case code == "KE" && source == "CA_GAC":
		return []advisoryArea{{"Nairobi's Eastleigh neighbourhood", 3, "Avoid non-essential travel to the Eastleigh neighbourhood of Nairobi due to crime and terrorism."}}
	case code == "TZ" && source == "UK_FCDO":
		return []advisoryArea{{"within 15km of the border with Mozambique in Mtwara region", 3,
			"FCDO advises against all but essential travel to within 15km of the border with Mozambique in Mtwara region."}}
	case code == "EG" && source == "UK_FCDO":
		return []advisoryArea{{"North Sinai", 4, "FCDO advises against all travel to North Sinai."},
			{"within 20km of the Egypt-Libya border", 4, "FCDO advises against all travel to within 20km of the Egypt-Libya border."}}
	case code == "ET" && source == "AU_SMARTRAVELLER":
		return []advisoryArea{{"Tigray", 4, "Do not travel to the Tigray region due to armed conflict."}}
	case code == "TR" && source == "UK_FCDO":
		return []advisoryArea{{"within 10km of the border with Syria", 4, "FCDO advises against all travel to within 10km of the border with Syria."}}
	}
	return nil
}

// seedAdvisories stores what the four sources say of every country: most
// countries at level 1 or 2, some at 3, a few at 4; sources agree within a
// level; each source covers most countries, not all; the countries the
// trips visit are fixed. Then the effective level of each country, as
// ingestion keeps it.
func (e *env) seedAdvisories(ctx context.Context, rng *rand.Rand) (advisories, countries int, err error) {
	var sources, codes, labels, titles, areas, hashes []string
	var levels []int32
	for _, c := range country.All() {
		base, fixed := fixedLevels[c.Code]
		if !fixed {
			switch p := rng.Float64(); {
			case p < 0.45:
				base = 1
			case p < 0.80:
				base = 2
			case p < 0.92:
				base = 3
			default:
				base = 4
			}
		}
		for _, src := range advisorySources {
			if src == "US_STATE" && c.Code == "US" || src == "AU_SMARTRAVELLER" && c.Code == "AU" ||
				src == "CA_GAC" && c.Code == "CA" || src == "UK_FCDO" && c.Code == "GB" {
				continue // no government advises against its own country
			}
			if !fixed && rng.Float64() < 0.08 {
				continue
			}
			level := base
			if !fixed {
				level = min(4, max(1, base+[]int{-1, 0, 0, 0, 1}[rng.IntN(5)]))
			}
			area, err := json.Marshal(orEmpty(sourceAreas(src, c.Code)))
			if err != nil {
				return 0, 0, err
			}
			sources, codes, levels = append(sources, src), append(codes, c.Code), append(levels, int32(level))
			labels = append(labels, sourceLabels[src][level])
			titles = append(titles, c.Name+" travel advice")
			areas, hashes = append(areas, string(area)), append(hashes, fmt.Sprintf("bench-%s-%s-%d", src, c.Code, level))
		}
	}
	err = pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO advisories (source, country_code, level, source_label, title, summary, areas,
				published_at, fetched_at, url, content_hash)
			SELECT u.source, u.code, u.level, u.label, u.title, u.label || '.', u.areas::jsonb, now() - interval '3 days', now(),
			       'https://example.invalid/' || lower(u.source) || '/' || lower(u.code), u.hash
			  FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[])
			       AS u(source, code, level, label, title, areas, hash)`, sources, codes, levels, labels, titles, areas, hashes); err != nil {
			return fmt.Errorf("part 4: advisories: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO country_risk (country_code, level, rule, version)
			SELECT country_code, max(level), 'SOURCE_MAX', 1 FROM advisories GROUP BY country_code`); err != nil {
			return fmt.Errorf("part 4: country risk: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO country_risk_versions (country_code, version, level, rule, cause)
			SELECT country_code, version, level, rule, 'bench seed' FROM country_risk`)
		if err != nil {
			return fmt.Errorf("part 4: country risk versions: %w", err)
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM country_risk`).Scan(&countries)
	})
	return len(sources), countries, err
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// scatter places points at the given distances (metres) and bearings
// (radians) from their centres, on the spheroid: PostGIS does the geometry.
func (e *env) scatter(ctx context.Context, lats, lons, metres, bearings []float64) (outLats, outLons []float64, err error) {
	rows, err := e.pool.Query(ctx, `SELECT ST_Y(p::geometry), ST_X(p::geometry)
		  FROM unnest($1::float8[], $2::float8[], $3::float8[], $4::float8[]) WITH ORDINALITY AS u(lat, lon, metres, bearing, n)
		 CROSS JOIN LATERAL ST_Project(ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326)::geography, u.metres, u.bearing) AS p
		 ORDER BY u.n`, lats, lons, metres, bearings)
	if err != nil {
		return nil, nil, fmt.Errorf("scatter points: %w", err)
	}
	var lat, lon float64
	_, err = pgx.ForEachRow(rows, []any{&lat, &lon}, func() error {
		outLats, outLons = append(outLats, lat), append(outLons, lon)
		return nil
	})
	if err == nil && len(outLats) != len(lats) {
		err = fmt.Errorf("scatter points: got %d of %d", len(outLats), len(lats))
	}
	return outLats, outLons, err
}

// seedIncidents inserts n located incidents, each with one OPEN escalation
// (so located_incidents counts them live), directly: no outbox row, so no
// workflow starts and no re-assessment runs. 2% lie within 300 km of the
// measured trip's cities, 18% within 300 km of other large cities, the rest
// anywhere between 55°S and 70°N.
func (e *env) seedIncidents(ctx context.Context, rng *rand.Rand, n int) (int, error) {
	lats, lons := make([]float64, n), make([]float64, n)
	metres, bearings := make([]float64, n), make([]float64, n)
	for i := range n {
		var centre [2]float64
		clustered := true
		switch p := rng.Float64(); {
		case p < 0.02:
			centre = tripCities[rng.IntN(len(tripCities))]
		case p < 0.20:
			centre = worldCities[rng.IntN(len(worldCities))]
		default:
			centre, clustered = [2]float64{-55 + 125*rng.Float64(), -180 + 360*rng.Float64()}, false
		}
		lats[i], lons[i] = centre[0], centre[1]
		if clustered {
			metres[i] = 300_000 * rng.Float64()
		}
		bearings[i] = 2 * math.Pi * rng.Float64()
	}
	lats, lons, err := e.scatter(ctx, lats, lons, metres, bearings)
	if err != nil {
		return 0, fmt.Errorf("part 4: incidents: %w", err)
	}
	incRows := make([][]any, n)
	escRows := make([][]any, n)
	now := time.Now().UTC()
	for i := range n {
		k := incidentKinds[rng.IntN(len(incidentKinds))]
		var sev escalation.Severity
		switch p := rng.Float64(); {
		case p < 0.05:
			sev = escalation.SEV1
		case p < 0.20:
			sev = escalation.SEV2
		case p < 0.60:
			sev = escalation.SEV3
		default:
			sev = escalation.SEV4
		}
		// Meridian's region by longitude: good enough for whom the
		// escalation belongs to, which Part 4 does not exercise.
		region := "EMEA"
		switch {
		case lons[i] < -30:
			region = "AMER"
		case lons[i] > 60:
			region = "APAC"
		}
		id, escID := uuid.New(), uuid.New()
		at := now.Add(-time.Duration(rng.IntN(72*60)) * time.Minute)
		incRows[i] = []any{id, fmt.Sprintf("%s (bench #%d)", k.title, i), string(sev), k.kind, "MANUAL", lats[i], lons[i],
			[]string{region}, "bench-loader", at, incident.WorkflowID(id)}
		escRows[i] = []any{escID, id, region, "OPEN", 1, string(sev), k.kind, at, escalation.WorkflowID(escID), string(sev)}
	}
	err = pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"incidents"}, []string{"id", "title", "severity", "kind", "source_type",
			"latitude", "longitude", "regions", "created_by", "created_at", "workflow_id"}, pgx.CopyFromRows(incRows)); err != nil {
			return fmt.Errorf("part 4: incidents: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"escalations"}, []string{"id", "incident_id", "region", "status", "tier",
			"trigger_level", "trigger_posture", "started_at", "workflow_id", "severity"}, pgx.CopyFromRows(escRows)); err != nil {
			return fmt.Errorf("part 4: escalations: %w", err)
		}
		_, err := tx.Exec(ctx, `ANALYZE incidents, escalations, advisories, country_risk`)
		return err
	})
	if err != nil {
		return 0, err
	}
	var live int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM located_incidents WHERE origin = 'INCIDENT'`).Scan(&live); err != nil {
		return 0, fmt.Errorf("part 4: count live incidents: %w", err)
	}
	return live, nil
}

// tripGlobalID learns the trip's GraphQL ID from the gateway, as a client would.
func (e *env) tripGlobalID(ctx context.Context, traveller string) (string, error) {
	var resp struct {
		Data *struct {
			Trips struct {
				Edges []struct {
					Node struct {
						ID string `json:"id"`
					} `json:"node"`
				} `json:"edges"`
			} `json:"trips"`
		} `json:"data"`
		Errors []gqlError `json:"errors"`
	}
	err := e.post(ctx, e.tokens["tt-theo"], gqlRequest{Query: `query($t: String) { trips(traveller: $t, first: 2) { edges { node { id } } } }`,
		Variables: map[string]any{"t": traveller}}, &resp)
	if err != nil {
		return "", fmt.Errorf("part 4: list trips: %w", err)
	}
	if len(resp.Errors) > 0 || resp.Data == nil || len(resp.Data.Trips.Edges) != 1 {
		return "", fmt.Errorf("part 4: list trips of %s: want one, got %+v (errors %v)", traveller, resp.Data, resp.Errors)
	}
	return resp.Data.Trips.Edges[0].Node.ID, nil
}

const tripRiskQuery = `query Trip($id: ID!) { trip(id: $id) { risk { level reasons { kind level source text } } segments { risk { level } } } }`

// queryTrip asks the gateway for the trip's risk and checks the answer is
// the stored one.
func (e *env) queryTrip(ctx context.Context, token, gid string, want travel.Risk, segments int) error {
	var resp struct {
		Data *struct {
			Trip *struct {
				Risk struct {
					Level   int `json:"level"`
					Reasons []struct {
						Kind   string `json:"kind"`
						Level  int    `json:"level"`
						Source string `json:"source"`
						Text   string `json:"text"`
					} `json:"reasons"`
				} `json:"risk"`
				Segments []struct {
					Risk struct {
						Level int `json:"level"`
					} `json:"risk"`
				} `json:"segments"`
			} `json:"trip"`
		} `json:"data"`
		Errors []gqlError `json:"errors"`
	}
	if err := e.post(ctx, token, gqlRequest{Query: tripRiskQuery, Variables: map[string]any{"id": gid}}, &resp); err != nil {
		return err
	}
	if len(resp.Errors) > 0 {
		return fmt.Errorf("trip: %s", resp.Errors[0])
	}
	if resp.Data == nil || resp.Data.Trip == nil {
		return errors.New("trip: no trip in the answer")
	}
	t := resp.Data.Trip
	if t.Risk.Level != want.Level || len(t.Risk.Reasons) != len(want.Reasons) || len(t.Segments) != segments {
		return fmt.Errorf("trip: level %d, %d reasons, %d segments; want %d, %d, %d", t.Risk.Level, len(t.Risk.Reasons), len(t.Segments),
			want.Level, len(want.Reasons), segments)
	}
	return nil
}

// rawRisk is the raw baseline: the two reads the scorer rests on, bare.
// The incidents within the largest TRAVELLER radius of each point, through
// the located_incidents view (a LATERAL subquery per point, kept one by
// OFFSET 0 so ST_DWithin is pushed into both branches of the view and
// answered by the GiST indexes), and the effective level of each country.
// No per-kind radius, no distances, no advisories' words, no reasons.
type rawRisk struct {
	e          *env
	lats, lons []float64
	countries  []string
	reach      float64 // metres
}

const rawNearSQL = `SELECT p.idx, l.id
  FROM unnest($1::float8[], $2::float8[]) WITH ORDINALITY AS p(lat, lon, idx)
 CROSS JOIN LATERAL (SELECT id FROM located_incidents
                      WHERE ST_DWithin(location, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography, $3)
                     OFFSET 0) l`

const rawCountrySQL = `SELECT country_code, level FROM country_risk WHERE country_code = ANY($1::char(2)[])`

func (e *env) newRawRisk(ctx context.Context, segs []travel.Segment) (*rawRisk, error) {
	r := &rawRisk{e: e}
	seen := map[[2]float64]bool{}
	for _, s := range segs {
		if !slices.Contains(r.countries, s.Place.CountryCode) {
			r.countries = append(r.countries, s.Place.CountryCode)
		}
		if s.Place.Latitude == nil || s.Place.Longitude == nil {
			continue
		}
		p := [2]float64{*s.Place.Latitude, *s.Place.Longitude}
		if !seen[p] {
			seen[p] = true
			r.lats, r.lons = append(r.lats, p[0]), append(r.lons, p[1])
		}
	}
	if err := e.pool.QueryRow(ctx, `SELECT max(radius_km) * 1000 FROM impact_radii WHERE asset_type = 'TRAVELLER'`).Scan(&r.reach); err != nil {
		return nil, fmt.Errorf("part 4: largest radius: %w", err)
	}
	return r, nil
}

// run performs both reads and returns how many incidents the first found.
func (r *rawRisk) run(ctx context.Context) (int, error) {
	rows, err := r.e.pool.Query(ctx, rawNearSQL, r.lats, r.lons, r.reach)
	if err != nil {
		return 0, err
	}
	var idx int64
	var id uuid.UUID
	found, err := pgx.ForEachRow(rows, []any{&idx, &id}, func() error { return nil })
	if err != nil {
		return 0, err
	}
	rows, err = r.e.pool.Query(ctx, rawCountrySQL, r.countries)
	if err != nil {
		return 0, err
	}
	var code string
	var level int16
	levels, err := pgx.ForEachRow(rows, []any{&code, &level}, func() error { return nil })
	if err != nil {
		return 0, err
	}
	if int(levels.RowsAffected()) != len(r.countries) {
		return 0, fmt.Errorf("country levels: %d of %d countries", levels.RowsAffected(), len(r.countries))
	}
	return int(found.RowsAffected()), nil
}

// reassess inserts the trips, gives them a first assessment (untimed: it is
// how they got stored risk with real reasons), lowers Tanzania from 3 to 2 as
// an ingestion would, times ReassessCountry, and checks what it stored.
//
// The change lowers the level on purpose: a rise makes the relay page the
// traveller and the travel team for every trip afterwards (on the bench's
// page sink, where Part 3 counts unexpected pages) and, for approved trips,
// start approval workflows; that is delivery, not re-assessment. The trips
// start in the future, so nobody is in Tanzania now and no traveller incident
// is raised: re-assessment here is scoring, storing and announcing.
func (e *env) reassess(ctx context.Context, trips *travel.Store, rng *rand.Rand) (*ReassessResult, error) {
	n := e.cfg.TravelTrips
	res := &ReassessResult{Country: reassessCountry, From: 3, To: 2}
	start := time.Now()
	if err := e.insertTrips(ctx, rng, n); err != nil {
		return nil, err
	}
	inserted := time.Since(start)
	t0 := time.Now()
	first, err := trips.ReassessCountry(ctx, reassessCountry, "bench: first assessment")
	if err != nil {
		return nil, fmt.Errorf("part 4: first assessment: %w", err)
	}
	e.logf("part 4, re-assessment: %d trips inserted in %s; first assessment (untimed, gives them their stored risk) %d trips in %s",
		n, inserted.Round(time.Millisecond), first.Trips, time.Since(t0).Round(time.Millisecond))
	// Its announcements must be delivered before the timed run, or the
	// relay would be working beside it.
	if err := e.waitOutboxDrained(ctx, 5*time.Minute); err != nil {
		return nil, err
	}

	before, err := e.tripLevels(ctx)
	if err != nil {
		return nil, err
	}
	res.Trips = len(before)
	version, err := e.lowerCountry(ctx)
	if err != nil {
		return nil, err
	}
	e.logf("part 4, re-assessment: %s lowered from %d to %d (country_risk v%d); ReassessCountry over its %d live trips",
		reassessCountry, res.From, res.To, version, res.Trips)
	u0 := e.usage()
	t0 = time.Now()
	res.Summary, err = trips.ReassessCountry(ctx, reassessCountry, fmt.Sprintf("advisory:%s v%d", reassessCountry, version))
	res.Duration = time.Since(t0)
	res.Usage = e.usage().Sub(u0)
	if err != nil {
		return res, fmt.Errorf("part 4: re-assessment: %w", err)
	}

	// What it announced is the relay's to deliver now, outside the timing;
	// waiting here keeps that off whatever runs next and shows how long it took.
	if err := e.waitOutboxDrained(ctx, 5*time.Minute); err != nil {
		return res, err
	}
	after, err := e.tripLevels(ctx)
	if err != nil {
		return res, err
	}
	for id, level := range after {
		if before[id] != level {
			res.StoredChanged++
		}
	}
	return res, e.checkSample(ctx, trips, res, rng)
}

// checkSample scores a sample of the trips again from scratch and compares
// with what re-assessment stored.
func (e *env) checkSample(ctx context.Context, trips *travel.Store, res *ReassessResult, rng *rand.Rand) error {
	rows, err := e.pool.Query(ctx, `SELECT DISTINCT t.id FROM trips t JOIN trip_segments s ON s.trip_id = t.id WHERE s.country_code = $1`, res.Country)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return err
	}
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	ids = ids[:min(50, len(ids))]
	stored, err := trips.GetMany(ctx, ids)
	if err != nil {
		return err
	}
	segs, err := trips.Segments(ctx, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		risk, _, err := trips.Assess(ctx, segs[id])
		if err != nil {
			return fmt.Errorf("part 4: assess sampled trip %s: %w", id, err)
		}
		res.Sampled++
		if risk.Level == stored[id].Risk.Level {
			res.SampleAgrees++
		} else if res.FirstMismatch == "" {
			res.FirstMismatch = fmt.Sprintf("trip %s stores level %d, scores %d", id, stored[id].Risk.Level, risk.Level)
		}
	}
	return nil
}

// tripLevels reads the stored level of every trip with a segment in the
// re-assessed country.
func (e *env) tripLevels(ctx context.Context) (map[uuid.UUID]int16, error) {
	rows, err := e.pool.Query(ctx, `SELECT t.id, t.risk_level FROM trips t
		WHERE EXISTS (SELECT 1 FROM trip_segments s WHERE s.trip_id = t.id AND s.country_code = $1)`, reassessCountry)
	if err != nil {
		return nil, fmt.Errorf("part 4: trip levels: %w", err)
	}
	out := map[uuid.UUID]int16{}
	var id uuid.UUID
	var level int16
	_, err = pgx.ForEachRow(rows, []any{&id, &level}, func() error {
		out[id] = level
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("part 4: trip levels: %w", err)
	}
	return out, nil
}

// lowerCountry is what an ingestion writes when every source lowers the
// re-assessed country to level 2: the advisories, the effective level and
// its version row. The outbox event an ingestion would add is left out:
// the bench calls ReassessCountry itself, timed, instead of the relay.
func (e *env) lowerCountry(ctx context.Context) (version int, err error) {
	err = pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		for _, src := range advisorySources {
			if _, err := tx.Exec(ctx, `UPDATE advisories SET level = 2, source_label = $3, summary = $3 || '.',
				fetched_at = now(), published_at = now(), content_hash = content_hash || '-lowered'
				WHERE source = $1 AND country_code = $2`, src, reassessCountry, sourceLabels[src][2]); err != nil {
				return fmt.Errorf("part 4: lower %s advisory: %w", src, err)
			}
		}
		if err := tx.QueryRow(ctx, `UPDATE country_risk SET level = 2, version = version + 1, changed_at = now()
			WHERE country_code = $1 RETURNING version`, reassessCountry).Scan(&version); err != nil {
			return fmt.Errorf("part 4: lower country risk: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO country_risk_versions (country_code, version, level, previous_level, rule, cause)
			VALUES ($1, $2, 2, 3, 'SOURCE_MAX', 'bench: every source lowered')`, reassessCountry, version)
		return err
	})
	return version, err
}

// insertTrips stores n trips with COPY, each with a segment at one of the
// venues in the re-assessed country and every other one going on elsewhere, all starting
// within the next 60 days. Three in four were approved (at level 4, so a
// fall needs no new approval), the rest are drafts. Their stored risk is
// level 4 with no reasons yet: the first assessment fills it in.
func (e *env) insertTrips(ctx context.Context, rng *rand.Rand, n int) error {
	// Venues around each city, placed by PostGIS.
	var lats, lons, metres, bearings []float64
	var venueCity []travelPlace
	for _, c := range reassessCities {
		for range venuesPerCity {
			lats, lons = append(lats, c.lat), append(lons, c.lon)
			metres, bearings = append(metres, 8000*rng.Float64()), append(bearings, 2*math.Pi*rng.Float64())
			venueCity = append(venueCity, c)
		}
	}
	vLats, vLons, err := e.scatter(ctx, lats, lons, metres, bearings)
	if err != nil {
		return fmt.Errorf("part 4: venues: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	day := 24 * time.Hour
	travellers := travellersFor(n)
	var tripRows, segRows [][]any
	kinds := []string{"HOTEL", "MEETING", "GROUND"}
	for i := range n {
		id := uuid.New()
		starts := now.Add(day + time.Duration(rng.IntN(60*24))*time.Hour)
		v := rng.IntN(len(venueCity))
		c := venueCity[v]
		ends := starts.Add(time.Duration(1+rng.IntN(5)) * day)
		segRows = append(segRows, []any{uuid.New(), id, 0, kinds[rng.IntN(len(kinds))], starts, ends, c.tz, c.city, c.country, vLats[v], vLons[v], 4})
		if i%2 == 1 {
			o := onwardPlaces[rng.IntN(len(onwardPlaces))]
			next := ends.Add(time.Duration(2+rng.IntN(10)) * time.Hour)
			ends = next.Add(time.Duration(1+rng.IntN(3)) * day)
			segRows = append(segRows, []any{uuid.New(), id, 1, "HOTEL", next, ends, o.tz, o.city, o.country, o.lat, o.lon, 4})
		}
		status, round := travel.StatusDraft, 0
		var approval, decidedBy *string
		var approvalLevel *int16
		var decidedAt *time.Time
		if i%4 != 0 {
			status, round = travel.StatusApproved, 1
			a, by, l, at := "APPROVED", "gl-ada", int16(4), now.Add(-day)
			approval, decidedBy, approvalLevel, decidedAt = &a, &by, &l, &at
		}
		created := now.Add(-2 * day)
		tripRows = append(tripRows, []any{id, benchTraveller(1 + i%travellers), fmt.Sprintf("Benchmark re-assessment trip %d", i), status,
			starts, ends, 4, round, approval, approvalLevel, decidedBy, decidedAt, "tt-theo", created, created})
	}
	return pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"trips"}, []string{"id", "traveller", "purpose", "status", "starts_at", "ends_at",
			"risk_level", "approval_round", "approval_status", "approval_level", "decided_by", "decided_at", "created_by", "created_at",
			"updated_at"}, pgx.CopyFromRows(tripRows)); err != nil {
			return fmt.Errorf("part 4: trips: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"trip_segments"}, []string{"id", "trip_id", "position", "kind", "starts_at", "ends_at",
			"timezone", "city", "country_code", "latitude", "longitude", "risk_level"}, pgx.CopyFromRows(segRows)); err != nil {
			return fmt.Errorf("part 4: trip segments: %w", err)
		}
		_, err := tx.Exec(ctx, `ANALYZE trips, trip_segments`)
		return err
	})
}

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func (e *env) printTravel(r *TravelReport) {
	out := e.out
	fmt.Fprintln(out)
	fmt.Fprintf(out, "Part 4: travel risk (%d advisories over %d countries, %d live located incidents; trip of %d segments in %d countries: level %d, %d reasons, %d of them incidents)\n",
		r.Advisories, r.Countries, r.Incidents, r.Segments, r.TripCountries, r.TripLevel, r.TripReasons, r.IncidentReasons)
	side := func(name string, s TravelSide, extra string) {
		fmt.Fprintf(out, "  %-52s p50 %s ms  p95 %s ms  p99 %s ms  max %s ms  (%d runs, %d errors; %s)%s\n", name,
			ms(s.Latency.P50), ms(s.Latency.P95), ms(s.Latency.P99), ms(s.Latency.Max), s.Runs, s.Errors, usageLine(s.Usage), extra)
	}
	side("in process (travel.Store.Assess)", r.Assess, "")
	side("GraphQL (Query.trip over HTTP → gateway)", r.GraphQL, "")
	side("raw baseline (PostGIS ST_DWithin + country levels)", r.Raw, fmt.Sprintf(" [%d incidents within the largest radius]", r.RawRows))
	for _, s := range []struct {
		name string
		s    TravelSide
	}{{"assess", r.Assess}, {"graphql", r.GraphQL}, {"raw", r.Raw}} {
		fmt.Fprintf(out, "  %-8s %s\n", s.name, s.s.Usage.PerOp(s.s.Latency.N))
	}
	if raw := r.Raw.Latency; raw.P50 > 0 {
		fmt.Fprintf(out, "  ratio to raw: in process p50 %.2f, p99 %.2f; GraphQL p50 %.2f, p99 %.2f\n",
			float64(r.Assess.Latency.P50)/float64(raw.P50), float64(r.Assess.Latency.P99)/float64(raw.P99),
			float64(r.GraphQL.Latency.P50)/float64(raw.P50), float64(r.GraphQL.Latency.P99)/float64(raw.P99))
	}
	fmt.Fprintf(out, "  target in process p99 ≤ %s ms: %s; GraphQL p99 ≤ %s ms: %s\n",
		ms(targetAssessP99), passMiss(r.Assess.Latency.N > 0 && r.Assess.Latency.P99 <= targetAssessP99),
		ms(targetTripGQLP99), passMiss(r.GraphQL.Latency.N > 0 && r.GraphQL.Latency.P99 <= targetTripGQLP99))
	if x := r.Reassess; x != nil {
		fmt.Fprintf(out, "  re-assessment after %s went from level %d to %d: %d trips in %.2f s (%.0f trips/s; %s)\n",
			x.Country, x.From, x.To, x.Summary.Trips, x.Duration.Seconds(), x.TripsPerSecond(), usageLine(x.Usage))
		fmt.Fprintf(out, "    %d changed level (Postgres holds %d changed), %d sent for approval, %d traveller incidents raised; %d of %d sampled trips match a fresh Store.Assess\n",
			x.Summary.Changed, x.StoredChanged, x.Summary.SentForApproval, x.Summary.IncidentsRaised, x.SampleAgrees, x.Sampled)
		fmt.Fprintf(out, "    target < %.0f s: %s\n", targetReassessAll.Seconds(), passMiss(x.Duration < targetReassessAll && x.Summary.Trips > 0))
	}
	fmt.Fprintln(out)
}

// printTravelTable prints Part 4's rows of the final table, in its columns.
func printTravelTable(out io.Writer, r *TravelReport) {
	tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, " travel metric\t system\t raw baseline\t ratio\t target\t met?")
	fmt.Fprintln(tw, " -------------\t ------\t ------------\t -----\t ------\t ----")
	ratio := func(a, b time.Duration) string {
		if b <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", float64(a)/float64(b))
	}
	raw := r.Raw.Latency
	fmt.Fprintf(tw, " trip risk in process p50 (ms)\t %s\t %s\t %s\t -\t -\n", ms(r.Assess.Latency.P50), ms(raw.P50), ratio(r.Assess.Latency.P50, raw.P50))
	fmt.Fprintf(tw, " trip risk in process p95 (ms)\t %s\t %s\t %s\t -\t -\n", ms(r.Assess.Latency.P95), ms(raw.P95), ratio(r.Assess.Latency.P95, raw.P95))
	fmt.Fprintf(tw, " trip risk in process p99 (ms)\t %s\t %s\t %s\t ≤ %s ms\t %s\n", ms(r.Assess.Latency.P99), ms(raw.P99),
		ratio(r.Assess.Latency.P99, raw.P99), ms(targetAssessP99), yesNo(r.Assess.Latency.N > 0 && r.Assess.Latency.P99 <= targetAssessP99))
	fmt.Fprintf(tw, " trip risk GraphQL p50 (ms)\t %s\t %s\t %s\t -\t -\n", ms(r.GraphQL.Latency.P50), ms(raw.P50), ratio(r.GraphQL.Latency.P50, raw.P50))
	fmt.Fprintf(tw, " trip risk GraphQL p95 (ms)\t %s\t %s\t %s\t -\t -\n", ms(r.GraphQL.Latency.P95), ms(raw.P95), ratio(r.GraphQL.Latency.P95, raw.P95))
	fmt.Fprintf(tw, " trip risk GraphQL p99 (ms)\t %s\t %s\t %s\t ≤ %s ms\t %s\n", ms(r.GraphQL.Latency.P99), ms(raw.P99),
		ratio(r.GraphQL.Latency.P99, raw.P99), ms(targetTripGQLP99), yesNo(r.GraphQL.Latency.N > 0 && r.GraphQL.Latency.P99 <= targetTripGQLP99))
	fmt.Fprintf(tw, " trip risk errors\t %d + %d\t %d\t -\t 0\t %s\n", r.Assess.Errors, r.GraphQL.Errors, r.Raw.Errors,
		yesNo(r.Assess.Errors+r.GraphQL.Errors+r.Raw.Errors == 0))
	if x := r.Reassess; x != nil {
		fmt.Fprintf(tw, " re-assess %d trips (s)\t %.2f\t -\t -\t < %.0f s\t %s\n", x.Summary.Trips, x.Duration.Seconds(),
			targetReassessAll.Seconds(), yesNo(x.Duration < targetReassessAll && x.Summary.Trips > 0))
		fmt.Fprintf(tw, " re-assess changed (stored)\t %d (%d)\t -\t -\t equal, > 0\t %s\n", x.Summary.Changed, x.StoredChanged,
			yesNo(x.Summary.Changed > 0 && x.Summary.Changed == x.StoredChanged))
		fmt.Fprintf(tw, " re-assess sample agrees\t %d/%d\t -\t -\t all\t %s\n", x.SampleAgrees, x.Sampled, yesNo(x.SampleAgrees == x.Sampled))
	}
	_ = tw.Flush()
}

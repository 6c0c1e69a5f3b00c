package travel

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// querier is what scoring reads through: the pool (Assess), or the
// transaction of a create, submit or re-assessment, so that a score and
// the rows it is stored with agree.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Advisory sources as stored in advisories.source, and the names people
// know them by.
var sourceNames = map[string]string{
	"US_STATE":         "US State Department",
	"UK_FCDO":          "UK FCDO",
	"CA_GAC":           "Government of Canada",
	"AU_SMARTRAVELLER": "Australia Smartraveller",
}

// sourceOrder lists sources in the order reasons of the same level are shown.
var sourceOrder = []string{"US_STATE", "UK_FCDO", "CA_GAC", "AU_SMARTRAVELLER"}

// SourceName returns the display name of an advisory source ("UK FCDO").
func SourceName(source string) string {
	if name, ok := sourceNames[source]; ok {
		return name
	}
	return source
}

// ReasonSourceOverride is the Source of reasons that come from an analyst's
// override rather than a feed.
const ReasonSourceOverride = "OVERRIDE"

// TravellerAtRiskKind is the kind of incident re-assessment raises for a
// traveller in danger. Such incidents are never themselves a reason: they
// are at the traveller's own position, so counting them would raise the
// risk of everyone near the traveller, and raise more incidents, in a loop.
const TravellerAtRiskKind = "TRAVELLER_AT_RISK"

// maxReasonText bounds a reason's text; feeds write long titles.
const maxReasonText = 200

// incidentsNearSQL finds, for every point at once, the live located
// incidents within their kind's TRAVELLER radius (else the '*' radius)
// created before the point's last segment ends. The points travel as
// parallel arrays (unnest): one round trip whatever their number.
//
// The view located_incidents is a UNION ALL of two joins, which Postgres
// cannot flatten into the outer query; joined directly, the view is read
// whole and every row measured against every segment. The LATERAL subquery
// with OFFSET 0 stays a subquery, so its ST_DWithin — with the segment's
// point as a lateral parameter — is pushed into both branches of the view,
// where it is a GiST scan of incidents_location (and sites_location). It
// searches the largest TRAVELLER radius; each kind's own radius is applied
// to what it finds, and only what remains is measured. ST_DWithin and
// ST_Distance on geography both work on the spheroid, so the filter and the
// distance shown agree at the boundary. The points are built once
// (MATERIALIZED), not once per incident.
const incidentsNearSQL = `
WITH radii AS (SELECT kind, radius_km * 1000 AS metres FROM impact_radii WHERE asset_type = 'TRAVELLER'),
     place AS MATERIALIZED (
         SELECT p.idx, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography AS point, p.ends_at,
                (SELECT max(metres) FROM radii) AS reach, (SELECT metres FROM radii WHERE kind = '*') AS fallback
           FROM unnest($1::int[], $2::float8[], $3::float8[], $4::timestamptz[]) AS p(idx, lat, lon, ends_at))
SELECT place.idx, li.id, li.kind, li.title, li.severity, ST_Distance(li.location, place.point) AS metres, li.created_at
  FROM place
 CROSS JOIN LATERAL (SELECT l.id, l.kind, l.title, l.severity, l.location, l.created_at
                       FROM located_incidents l
                      WHERE ST_DWithin(l.location, place.point, place.reach)
                        AND l.created_at < place.ends_at AND l.kind <> '` + TravellerAtRiskKind + `'
                     OFFSET 0) li
 WHERE ST_DWithin(li.location, place.point, coalesce((SELECT metres FROM radii WHERE radii.kind = li.kind), place.fallback))
 ORDER BY place.idx, metres, li.id`

// countryAdviceSQL reads what is said about the segments' countries, in one
// round trip: each source's current advisory (A), the overrides in force
// (O: country-wide when the area is empty), and the effective level (C).
const countryAdviceSQL = `
SELECT 'A', country_code::text, source, level, source_label, title, areas, 0
  FROM advisories WHERE country_code = ANY($1::char(2)[])
UNION ALL
SELECT 'O', country_code::text, area, level, reason, '', NULL, 0
  FROM advisory_overrides WHERE country_code = ANY($1::char(2)[]) AND (expires_at IS NULL OR expires_at > $2)
UNION ALL
SELECT 'C', r.country_code::text, r.rule, r.level, '', '', NULL,
       CASE WHEN r.level = 4 THEN coalesce((SELECT max(v.version) FROM country_risk_versions v
           WHERE v.country_code = r.country_code AND v.level = 4 AND v.previous_level IS DISTINCT FROM 4), r.version)
       ELSE r.version END
  FROM country_risk r WHERE r.country_code = ANY($1::char(2)[])`

// sourceAdvice is one source's current advisory for a country.
type sourceAdvice struct {
	source string
	level  int
	label  string
	title  string
	areas  []adviceArea
}

// adviceArea is a sub-national level, as the feeds store it in areas.
type adviceArea struct {
	Name  string   `json:"name"`
	Level int      `json:"level"`
	Text  string   `json:"text"`
	words []string // Name folded once, not once per segment
}

// areaOverride is an analyst's level for one named area of a country.
type areaOverride struct {
	area   string
	level  int
	reason string
	words  []string
}

// countryAdvice is everything said about one country.
type countryAdvice struct {
	sources []sourceAdvice
	// override is the country-wide analyst override in force, if any.
	override *areaOverride
	areas    []areaOverride
	// effective is country_risk's level (0: no row); period is the version
	// at which the country entered level 4 when it is there (a change of
	// rule alone, source maximum to override at the same level, starts no
	// new period), else its current version.
	effective, period int
}

// level is the country part of a segment's level: an override in force
// decides alone (it may lower); otherwise the effective level, never below
// what a current source says (country_risk lags an ingestion by a moment).
func (c countryAdvice) level() int {
	if c.override != nil {
		return c.override.level
	}
	level := max(1, c.effective)
	for _, s := range c.sources {
		level = max(level, s.level)
	}
	return level
}

// nearIncident is a located incident within a segment's radius.
type nearIncident struct {
	id        uuid.UUID
	kind      string
	title     string
	severity  string
	metres    float64
	createdAt time.Time
}

// scored is the assessment of a batch of segments, with what re-assessment
// needs beyond the reasons: who is in a level-4 country, which incidents
// are near whom.
type scored struct {
	segments  []Risk
	countries map[string]countryAdvice
	near      [][]nearIncident
}

// assess scores segments (stored or not yet: only their fields are read)
// and the trip they make: two queries whatever the number of segments, in
// one round trip when q can pipeline them.
func assess(ctx context.Context, q querier, segs []Segment, now time.Time) (tripRisk Risk, perSegment []Risk, err error) {
	sc, err := scoreSegments(ctx, q, segs, now)
	if err != nil {
		return Risk{}, nil, err
	}
	return tripRiskOf(sc.segments), sc.segments, nil
}

// Assess scores segments against the advisories and live incidents now.
func (s *Store) Assess(ctx context.Context, segs []Segment) (Risk, []Risk, error) {
	return assess(ctx, s.pool, segs, s.now())
}

// batchQuerier is a querier that can pipeline (the pool, a transaction):
// both scoring queries then travel in one round trip.
type batchQuerier interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

func scoreSegments(ctx context.Context, q querier, segs []Segment, now time.Time) (scored, error) {
	sc := scored{segments: make([]Risk, len(segs)), near: make([][]nearIncident, len(segs))}
	if len(segs) == 0 {
		return sc, nil
	}
	var codes []string
	for _, seg := range segs {
		if !slices.Contains(codes, seg.Place.CountryCode) {
			codes = append(codes, seg.Place.CountryCode)
		}
	}
	points := placesOf(segs)
	adviceArgs := []any{codes, now}
	var err error
	if bq, ok := q.(batchQuerier); ok {
		b := &pgx.Batch{}
		b.Queue(countryAdviceSQL, adviceArgs...)
		if points.count() > 0 {
			b.Queue(incidentsNearSQL, points.args()...)
		}
		results := bq.SendBatch(ctx, b)
		defer results.Close()
		if sc.countries, err = readCountryAdvice(results.Query()); err != nil {
			return scored{}, err
		}
		if points.count() > 0 {
			if err := points.read(results.Query()); err != nil {
				return scored{}, err
			}
		}
		if err := results.Close(); err != nil {
			return scored{}, fmt.Errorf("travel: assess: %w", err)
		}
	} else {
		if sc.countries, err = readCountryAdvice(q.Query(ctx, countryAdviceSQL, adviceArgs...)); err != nil {
			return scored{}, err
		}
		if points.count() > 0 {
			if err := points.read(q.Query(ctx, incidentsNearSQL, points.args()...)); err != nil {
				return scored{}, err
			}
		}
	}
	points.assign(segs, sc.near)
	for i, seg := range segs {
		sc.segments[i] = scoreSegment(seg, sc.countries[seg.Place.CountryCode], sc.near[i])
	}
	return sc, nil
}

// readCountryAdvice reads countryAdviceSQL's rows, by country.
func readCountryAdvice(rows pgx.Rows, err error) (map[string]countryAdvice, error) {
	if err != nil {
		return nil, fmt.Errorf("travel: advisories: %w", err)
	}
	defer rows.Close()
	out := map[string]countryAdvice{}
	for rows.Next() {
		var what, code, name, label, title string
		var level, version int
		var areas []byte
		if err := rows.Scan(&what, &code, &name, &level, &label, &title, &areas, &version); err != nil {
			return nil, fmt.Errorf("travel: advisories: %w", err)
		}
		c := out[code]
		switch what {
		case "A":
			a := sourceAdvice{source: name, level: level, label: label, title: title}
			// Areas are the feeds' parse of free text; a row whose areas do
			// not decode still says something about the whole country.
			_ = json.Unmarshal(areas, &a.areas)
			for i := range a.areas {
				a.areas[i].words = nameWords(a.areas[i].Name)
			}
			c.sources = append(c.sources, a)
		case "O":
			o := areaOverride{area: name, level: level, reason: label, words: nameWords(name)}
			if name == "" {
				c.override = &o
			} else {
				c.areas = append(c.areas, o)
			}
		case "C":
			c.effective, c.period = level, version
		}
		out[code] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("travel: advisories: %w", err)
	}
	for code, c := range out {
		slices.SortFunc(c.sources, func(a, b sourceAdvice) int {
			return cmp.Compare(slices.Index(sourceOrder, a.source), slices.Index(sourceOrder, b.source))
		})
		out[code] = c
	}
	return out, nil
}

// places are the distinct points of a set of segments. Travellers share
// places (the same hotel, the same airport), so each point is searched
// once, up to the latest end among its segments; which incidents each
// segment counts (those created before it ends) is sorted out in assign.
type places struct {
	lats, lons []float64
	ends       []time.Time
	at         []int32 // the point of each segment, -1 without one
	found      [][]nearIncident
}

func placesOf(segs []Segment) *places {
	type point struct{ lat, lon float64 }
	index := map[point]int32{}
	p := &places{at: make([]int32, len(segs))}
	for i, seg := range segs {
		p.at[i] = -1
		if seg.Place.Latitude == nil || seg.Place.Longitude == nil {
			continue
		}
		pt := point{*seg.Place.Latitude, *seg.Place.Longitude}
		n, ok := index[pt]
		if !ok {
			n = int32(len(p.lats))
			index[pt] = n
			p.lats, p.lons, p.ends = append(p.lats, pt.lat), append(p.lons, pt.lon), append(p.ends, seg.EndsAt)
		}
		if seg.EndsAt.After(p.ends[n]) {
			p.ends[n] = seg.EndsAt
		}
		p.at[i] = n
	}
	return p
}

func (p *places) count() int { return len(p.lats) }

// args are incidentsNearSQL's parameters.
func (p *places) args() []any {
	idx := make([]int32, len(p.lats))
	for i := range idx {
		idx[i] = int32(i)
	}
	return []any{idx, p.lats, p.lons, p.ends}
}

// read reads incidentsNearSQL's rows, by point.
func (p *places) read(rows pgx.Rows, err error) error {
	if err != nil {
		return fmt.Errorf("travel: incidents near: %w", err)
	}
	defer rows.Close()
	p.found = make([][]nearIncident, len(p.lats))
	for rows.Next() {
		var i int32
		var n nearIncident
		if err := rows.Scan(&i, &n.id, &n.kind, &n.title, &n.severity, &n.metres, &n.createdAt); err != nil {
			return fmt.Errorf("travel: incidents near: %w", err)
		}
		p.found[i] = append(p.found[i], n)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("travel: incidents near: %w", err)
	}
	return nil
}

// assign gives each segment the incidents near its point that began
// before it ends.
func (p *places) assign(segs []Segment, near [][]nearIncident) {
	for i, seg := range segs {
		if p.at[i] < 0 || p.found == nil {
			continue
		}
		for _, n := range p.found[p.at[i]] {
			if n.createdAt.Before(seg.EndsAt) {
				near[i] = append(near[i], n)
			}
		}
	}
}

// scoreSegment turns what is said about the segment's country and city, and
// the incidents near it, into reasons and a level.
func scoreSegment(seg Segment, c countryAdvice, near []nearIncident) Risk {
	var reasons []Reason
	add := func(kind string, level int, source, text string) {
		reasons = append(reasons, Reason{Kind: kind, Level: level, Source: source, Text: clip(text, maxReasonText), SegmentID: seg.ID})
	}
	// The country: an override in force replaces what the sources say.
	if o := c.override; o != nil {
		add(ReasonOverride, o.level, ReasonSourceOverride, "Analyst override: "+o.reason)
	} else {
		for _, a := range c.sources {
			words := a.label
			if strings.TrimSpace(words) == "" {
				words = a.title
			}
			add(ReasonAdvisory, a.level, a.source, SourceName(a.source)+": "+words)
		}
	}
	// The city, by name: the feeds give areas as names and prose, never as
	// polygons, so an area applies when its name mentions the segment's
	// city. An analyst's word on a matching area replaces the sources' areas.
	city := nameWords(seg.Place.City)
	areaOverridden := false
	for _, o := range c.areas {
		if containsWords(o.words, city) {
			areaOverridden = true
			add(ReasonAreaAdvisory, o.level, ReasonSourceOverride, "Analyst override for "+o.area+": "+o.reason)
		}
	}
	if !areaOverridden {
		for _, a := range c.sources {
			for _, area := range a.areas {
				if area.Level < 1 || area.Level > 4 || !containsWords(area.words, city) {
					continue
				}
				text := strings.TrimSpace(area.Text)
				if text == "" {
					text = "level " + strconv.Itoa(area.Level) + " for " + area.Name
				}
				add(ReasonAreaAdvisory, area.Level, a.source, SourceName(a.source)+": "+text)
			}
		}
	}
	for _, n := range near {
		add(ReasonIncident, severityLevel(n.severity), n.id.String(),
			fmt.Sprintf("%s, %s from the %s", n.title, distanceWords(n.metres), placeWord(seg.Kind)))
	}
	sortReasons(reasons)
	level := c.level()
	for _, r := range reasons {
		level = max(level, r.Level)
	}
	if reasons == nil {
		reasons = []Reason{}
	}
	return Risk{Level: level, Reasons: reasons}
}

// tripRiskOf is the trip's risk: its riskiest segment's level, and every
// segment's reasons, each said once (a week in Nairobi is one FCDO warning,
// not seven), highest first.
func tripRiskOf(segments []Risk) Risk {
	trip := Risk{Level: 1, Reasons: []Reason{}}
	type said struct{ kind, source, text string }
	seen := map[said]bool{}
	for _, r := range segments {
		trip.Level = max(trip.Level, r.Level)
		for _, reason := range r.Reasons {
			key := said{reason.Kind, reason.Source, reason.Text}
			if !seen[key] {
				seen[key] = true
				trip.Reasons = append(trip.Reasons, reason)
			}
		}
	}
	sortReasons(trip.Reasons)
	return trip
}

// kindOrder ranks reasons of the same level: the analyst's word first, then
// the sources, then incidents.
var kindOrder = []string{ReasonOverride, ReasonAdvisory, ReasonAreaAdvisory, ReasonIncident}

func sortReasons(reasons []Reason) {
	slices.SortStableFunc(reasons, func(a, b Reason) int {
		return cmp.Or(cmp.Compare(b.Level, a.Level),
			cmp.Compare(slices.Index(kindOrder, a.Kind), slices.Index(kindOrder, b.Kind)))
	})
}

// severityLevel maps an incident's severity onto the risk scale.
func severityLevel(severity string) int {
	switch severity {
	case "SEV1":
		return 4
	case "SEV2":
		return 3
	default:
		return 2
	}
}

// placeWord is what a segment's location is, in a reason's words: where a
// flight or train arrives, where a hotel or meeting is.
func placeWord(kind string) string {
	switch kind {
	case "HOTEL":
		return "hotel"
	case "MEETING":
		return "meeting"
	case "FLIGHT", "RAIL":
		return "arrival"
	case "GROUND":
		return "destination"
	}
	return "location"
}

// distanceWords rounds a distance to what a reader needs.
func distanceWords(metres float64) string {
	km := int(metres/1000 + 0.5)
	if km < 1 {
		return "under 1 km"
	}
	return strconv.Itoa(km) + " km"
}

// clip shortens s to at most n characters, marking the cut.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// namesPlace reports whether an area's name mentions city as a whole word
// or run of words, ignoring case, accents and punctuation: "Lamu County"
// names Lamu, "Reconsider your need to travel to N'Djamena" names
// N’Djamena, and "Mombasa" does not name Mom. It is a name match, not
// geography: an area called "within 60km of the Somali border" names no
// city, and a city named in passing is matched.
func namesPlace(area, city string) bool {
	return containsWords(nameWords(area), nameWords(city))
}

// containsWords reports whether want (not empty) is a run of have.
func containsWords(have, want []string) bool {
	if len(want) == 0 {
		return false
	}
	for i := 0; i+len(want) <= len(have); i++ {
		if slices.Equal(have[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

// nameWords folds a name to comparable words: lower case, accents removed,
// split at anything that is not a letter or digit.
func nameWords(s string) []string {
	folded := s
	if !isASCII(s) {
		var err error
		if folded, _, err = transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s); err != nil {
			folded = s
		}
	}
	return strings.FieldsFunc(strings.ToLower(folded), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

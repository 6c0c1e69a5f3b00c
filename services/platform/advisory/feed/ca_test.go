package feed

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// caIndexLevels is every country of the fixture index and its level.
var caIndexLevels = map[string]Level{
	"AE": Normal, "AT": Normal, "AU": Normal, "BR": IncreasedCaution, "CN": IncreasedCaution,
	"CO": IncreasedCaution, "DE": Normal, "EG": IncreasedCaution, "FR": IncreasedCaution,
	"HK": IncreasedCaution, "HT": DoNotTravel, "IL": IncreasedCaution, "IN": IncreasedCaution,
	"IT": Normal, "JP": Normal, "KE": IncreasedCaution, "KP": DoNotTravel, "KR": Normal,
	"MM": DoNotTravel, "MX": IncreasedCaution, "NE": DoNotTravel, "NG": Reconsider, "PT": Normal,
	"RU": DoNotTravel, "SA": IncreasedCaution, "SG": Normal, "TH": IncreasedCaution,
	"UA": DoNotTravel, "US": Normal, "ZA": IncreasedCaution,
}

func reportsByCode(reports []Report) map[string]Report {
	out := make(map[string]Report, len(reports))
	for _, r := range reports {
		out[r.CountryCode] = r
	}
	return out
}

func TestParseCAIndexFixture(t *testing.T) {
	reports, skipped, err := ParseCAIndex(fixture(t, "ca/index-updated.json"), fetchedAt)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Canada IC (Canary Islands): not an ISO 3166-1 country"}; !slices.Equal(skipped, want) {
		t.Errorf("skipped = %q, want %q", skipped, want)
	}
	if len(reports) != len(caIndexLevels) {
		t.Errorf("%d reports, want %d", len(reports), len(caIndexLevels))
	}
	byCode := reportsByCode(reports)
	for code, level := range caIndexLevels {
		r, ok := byCode[code]
		if !ok || r.Level != level || r.Source != CAGAC {
			t.Errorf("%s: %+v, want level %d", code, r, level)
			continue
		}
		checkReport(t, r)
	}

	mx := byCode["MX"]
	want := Report{
		Source:      CAGAC,
		CountryCode: "MX",
		Level:       IncreasedCaution,
		SourceLabel: "Exercise a high degree of caution (with regional advisories)",
		Title:       "Travel advice and advisories for Mexico",
		Summary:     "Latest update: Safety and security section – editorial update",
		// date-published.timestamp 1791386160 = 2026-10-07 11:16 EDT.
		PublishedAt: mustTime(t, "2026-10-07T15:16:00Z"),
		URL:         "https://travel.gc.ca/destinations/mexico",
	}
	if !reflect.DeepEqual(mx, want) {
		t.Errorf("MX:\n%+v\nwant:\n%+v", mx, want)
	}

	// "advisory-state": "1", a string.
	if il := byCode["IL"]; il.Level != IncreasedCaution || il.URL != "https://travel.gc.ca/destinations/israel-west-bank-and-gaza" {
		t.Errorf("IL: %+v", il)
	}
	// PT-20 (the Azores) is an area of Portugal at its own level.
	wantAzores := []Area{{Name: "Azores", Level: IncreasedCaution, Text: "Exercise a high degree of caution"}}
	if pt := byCode["PT"]; pt.Level != Normal || !reflect.DeepEqual(pt.Areas, wantAzores) {
		t.Errorf("PT: level %d areas %+v", pt.Level, pt.Areas)
	}
	// No date-published: the friendly date "April 1, 2026 09:00 EDT".
	if de := byCode["DE"]; !de.PublishedAt.Equal(mustTime(t, "2026-04-01T13:00:00Z")) {
		t.Errorf("DE PublishedAt = %v", de.PublishedAt)
	}
}

// caIndexWith is an index of the given rows (code → row JSON).
func caIndexWith(rows map[string]string) []byte {
	var b strings.Builder
	b.WriteString(`{"metadata":{"generated":{"timestamp":1796635953,"date":"2026-12-01 06:12:33"}},"data":{`)
	first := true
	for code, row := range rows {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(`"` + code + `":` + row)
	}
	b.WriteString(`}}`)
	return []byte(b.String())
}

func caRow(state, extra string) string {
	return `{"advisory-state":` + state + `,"has-regional-advisory":0,` + extra +
		`"eng":{"name":"Kenya","url-slug":"kenya","friendly-date":"February 3, 2026 09:15 EST","advisory-text":"Exercise a high degree of caution","recent-updates":"The Laws &amp; Culture tab was updated."}}`
}

func TestParseCAIndexQuirks(t *testing.T) {
	cases := []struct {
		name      string
		row       string
		level     Level
		published string // RFC 3339, "" for zero
	}{
		{"number", caRow("0", ""), Normal, "2026-02-03T14:15:00Z"},
		{"string", caRow(`"3"`, ""), DoNotTravel, "2026-02-03T14:15:00Z"},
		{"padded string", caRow(`" 2 "`, ""), Reconsider, "2026-02-03T14:15:00Z"},
		{"epoch timestamp wins", caRow("1", `"date-published":{"timestamp":1407346535,"date":"2014-08-06 13:35:35","asp":"2014-08-06T13:35:35"},`), IncreasedCaution, "2014-08-06T17:35:35Z"},
		{"timestamp as a string", caRow("1", `"date-published":{"timestamp":"1407346535"},`), IncreasedCaution, "2014-08-06T17:35:35Z"},
		{"asp only, Ottawa time", `{"advisory-state":1,"date-published":{"asp":"2014-02-26T14:25:38"},"eng":{"name":"Kenya"}}`, IncreasedCaution, "2014-02-26T19:25:38Z"},
		{"date only, summer", `{"advisory-state":1,"date-published":{"date":"2014-08-06 13:35:35"},"eng":{"name":"Kenya"}}`, IncreasedCaution, "2014-08-06T17:35:35Z"},
		{"no usable date", `{"advisory-state":1,"date-published":{"timestamp":0,"date":"soon"},"eng":{"friendly-date":"October 7, 2026 11:16 PDT"}}`, IncreasedCaution, ""},
		{"future date", `{"advisory-state":1,"date-published":{"timestamp":1956528000},"eng":{"name":"Kenya"}}`, IncreasedCaution, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reports, skipped, err := ParseCAIndex(caIndexWith(map[string]string{"KE": tc.row}), fetchedAt)
			if err != nil || len(skipped) != 0 || len(reports) != 1 {
				t.Fatalf("reports %+v skipped %q err %v", reports, skipped, err)
			}
			r := reports[0]
			var want time.Time
			if tc.published != "" {
				want = mustTime(t, tc.published)
			}
			if r.Level != tc.level || !r.PublishedAt.Equal(want) {
				t.Errorf("level %d published %v, want %d %v", r.Level, r.PublishedAt, tc.level, want)
			}
		})
	}

	reports, skipped, err := ParseCAIndex(caIndexWith(map[string]string{
		"KE":    caRow("1", ""),
		"ZZ":    caRow("1", ""),
		"FR":    caRow("7", ""),
		"DE":    caRow(`"two"`, ""),
		"JP":    caRow("null", ""),
		"IT":    `"not an object"`,
		"PT-20": caRow("0", ""),
		"ES-CN": `{"advisory-state":0,"eng":{"name":"","advisory-text":""}}`,
	}), fetchedAt)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 1 || reports[0].CountryCode != "KE" || reports[0].Summary != "Latest update: The Laws & Culture tab was updated." {
		t.Errorf("reports %+v", reports)
	}
	wantSkipped := []string{
		`Canada DE: advisory-state "two" is not 0-3`,
		"Canada FR: advisory-state 7 is not 0-3",
		"Canada IT: unreadable row: json: cannot unmarshal string into Go value of type feed.caEntry",
		"Canada JP: advisory-state null is not 0-3",
		"Canada ZZ (Kenya): not an ISO 3166-1 country",
		"Canada ES-CN (): a subdivision of ES, which the index does not list",
		"Canada PT-20 (Kenya): a subdivision of PT, which the index does not list",
	}
	if !reflect.DeepEqual(skipped, wantSkipped) {
		t.Errorf("skipped:\n%q\nwant:\n%q", skipped, wantSkipped)
	}
}

func TestParseCAIndexMalformed(t *testing.T) {
	for name, body := range map[string][]byte{
		"empty":          nil,
		"html":           []byte("\uFEFF<!DOCTYPE html><html><head><title>Maintenance</title></head></html>"),
		"truncated":      halfOf(fixture(t, "ca/index-updated.json")),
		"no data":        []byte(`{"metadata":{"generated":{"timestamp":1}}}`),
		"empty data":     []byte(`{"data":{}}`),
		"data is a list": []byte(`{"data":[{"advisory-state":1}]}`),
		"null":           []byte(`null`),
	} {
		if _, _, err := ParseCAIndex(body, fetchedAt); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseCACountryFixtures(t *testing.T) {
	const mxLead = "Regional Advisory - Avoid non-essential travel. Avoid non-essential travel to the following states because of violence and organized crime: "
	const keAll = "Regional Advisory - Avoid all travel. Avoid all travel to the following areas because of the threat of terrorism and kidnapping: "
	const keNonEssential = "Regional Advisory - Avoid non-essential travel. Avoid non-essential travel to: "
	cases := map[string]struct {
		level Level
		areas []Area
	}{
		"mx": {IncreasedCaution, []Area{
			{"Chihuahua", Reconsider, mxLead + "Chihuahua, excluding Chihuahua City"},
			// A nested list inside the entry.
			{"Guerrero", Reconsider, mxLead + "Guerrero, excluding: Acapulco if you arrive by air; Ixtapa and Zihuatanejo if you arrive by air"},
			// Entities decoded.
			{"Michoacán", Reconsider, mxLead + "Michoacán, excluding the cities of Morelia and Pátzcuaro"},
			// A <ul> straight inside the <ul>, two deep, after its entry.
			{"Sinaloa", Reconsider, mxLead + "Sinaloa, excluding these areas, reached only by air or sea: the city of Los Mochis; parts of Mazatlán: the Centro Histórico; the Zona Dorada"},
			// The entry after the stray list is still its own area.
			{"Tamaulipas", Reconsider, mxLead + "Tamaulipas, excluding Tampico if reached by air or sea"},
			{"Zacatecas", Reconsider, mxLead + "Zacatecas, excluding the city of Zacatecas"},
		}},
		"ke": {IncreasedCaution, []Area{
			{"Mandera County", DoNotTravel, keAll + "Mandera County"},
			{"Lamu County", DoNotTravel, keAll + "Lamu County, excluding Lamu Island and Manda Island"},
			{"areas within 50 km of the border with Somalia", DoNotTravel, keAll + "areas within 50 km of the border with Somalia"},
			{"Garissa County", Reconsider, keNonEssential + "Garissa County"},
			{"Marsabit County", Reconsider, keNonEssential + "Marsabit County"},
		}},
		// Several lead-ins in one block, each with its own level.
		"eg": {IncreasedCaution, []Area{
			{"North Sinai", DoNotTravel, "Regional Advisory - Avoid all travel. Avoid all travel to North Sinai due to the threat of terrorism."},
			{"the area within 50 km of the border with Libya", DoNotTravel, "Regional Advisory - Avoid all travel. Avoid all travel to the area within 50 km of the border with Libya."},
			{"South Sinai", Reconsider, "Regional Advisory - Avoid all travel. Avoid non-essential travel to the following governorate: South Sinai, excluding the resort of Sharm el-Sheikh"},
		}},
		"co": {IncreasedCaution, []Area{
			{"Arauca", DoNotTravel, "Regional Advisory - Avoid all travel. Avoid all travel to the following departments: Arauca"},
			{"Cauca", DoNotTravel, "Regional Advisory - Avoid all travel. Avoid all travel to the following departments: Cauca, excluding the city of Popayán"},
			{"Norte de Santander", DoNotTravel, "Regional Advisory - Avoid all travel. Avoid all travel to the following departments: Norte de Santander, excluding the city of Cúcuta"},
			{"Caquetá", Reconsider, "Regional Advisory - Avoid all travel. Avoid non-essential travel to: Caquetá"},
			{"Putumayo", Reconsider, "Regional Advisory - Avoid all travel. Avoid non-essential travel to: Putumayo"},
		}},
		// "advisory-state": "1"; a second heading inside one block.
		"il": {IncreasedCaution, []Area{
			{"the Gaza Strip", DoNotTravel, "Regional Advisory - Avoid all travel. Avoid all travel to the Gaza Strip."},
			{"the area within 4 km of the border with Lebanon", DoNotTravel, "Regional Advisory - Avoid all travel. Avoid all travel to the area within 4 km of the border with Lebanon."},
			{"the West Bank", Reconsider, "Regional Advisory - Avoid non-essential travel. Avoid non-essential travel to the West Bank because of violence and military operations."},
		}},
		"th": {IncreasedCaution, []Area{
			{"Narathiwat", Reconsider, "Regional Advisory - Avoid non-essential travel. Avoid non-essential travel to the following provinces, because of ongoing separatist violence: Narathiwat"},
			{"Pattani", Reconsider, "Regional Advisory - Avoid non-essential travel. Avoid non-essential travel to the following provinces, because of ongoing separatist violence: Pattani"},
			{"Yala", Reconsider, "Regional Advisory - Avoid non-essential travel. Avoid non-essential travel to the following provinces, because of ongoing separatist violence: Yala"},
			{"Songkhla, in the districts of Chana, Na Thawi, Saba Yoi and Thepha", Reconsider, "Regional Advisory - Avoid non-essential travel. Avoid non-essential travel to the following provinces, because of ongoing separatist violence: Songkhla, in the districts of Chana, Na Thawi, Saba Yoi and Thepha"},
		}},
		// The whole country: its own block names no area.
		"ht": {DoNotTravel, nil},
		"ua": {DoNotTravel, nil},
	}
	for code, want := range cases {
		t.Run(code, func(t *testing.T) {
			r, err := ParseCACountry(fixture(t, "ca/cta-cap-"+code+".json"), fetchedAt)
			if err != nil {
				t.Fatal(err)
			}
			checkReport(t, r)
			if r.CountryCode != strings.ToUpper(code) || r.Level != want.level || r.Source != CAGAC {
				t.Errorf("%s level %d, want %s level %d", r.CountryCode, r.Level, strings.ToUpper(code), want.level)
			}
			if !reflect.DeepEqual(r.Areas, want.areas) {
				t.Errorf("areas:\n%+v\nwant:\n%+v", r.Areas, want.areas)
			}
			if r.Summary == "" || strings.Contains(r.Summary, "<") || strings.Contains(r.Summary, "&nbsp;") {
				t.Errorf("summary %q", r.Summary)
			}
		})
	}
}

func TestParseCACountryMexicoReport(t *testing.T) {
	r, err := ParseCACountry(fixture(t, "ca/cta-cap-mx.json"), fetchedAt)
	if err != nil {
		t.Fatal(err)
	}
	r.Areas = nil
	want := Report{
		Source:      CAGAC,
		CountryCode: "MX",
		Level:       IncreasedCaution,
		SourceLabel: "Exercise a high degree of caution (with regional advisories)",
		Title:       "Travel advice and advisories for Mexico",
		Summary:     r.Summary,
		// No date-published in these files: "October 7, 2026 11:16 EDT".
		PublishedAt: mustTime(t, "2026-10-07T15:16:00Z"),
		URL:         "https://travel.gc.ca/destinations/mexico",
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("report:\n%+v\nwant:\n%+v", r, want)
	}
	if !strings.HasPrefix(r.Summary, "Mexico - Exercise a high degree of caution\nExercise a high degree of caution in Mexico") {
		t.Errorf("summary %q", r.Summary)
	}
}

// caCountryDoc is a per-country document with advisories as given.
func caCountryDoc(t *testing.T, code, state, advisories string) []byte {
	t.Helper()
	doc := map[string]any{
		"metadata": map[string]any{"generated": map[string]any{"timestamp": 1791386416, "date": "2026-10-07 11:20:16"}},
		"data": map[string]any{
			"country-iso": code, "advisory-state": json.RawMessage(state), "has-regional-advisory": 1,
			"eng": map[string]any{"name": "Colombia", "url-slug": "colombia", "friendly-date": "October 7, 2026 11:16 EDT",
				"advisory-text": "Exercise a high degree of caution", "advisories": advisories},
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseCACountryAdvisoryLayouts(t *testing.T) {
	cases := []struct {
		name       string
		advisories string
		want       []Area
	}{
		{
			// No lead-in: the places take the block heading's level.
			"lists under headings only",
			`<div class="AdvisoryContainer RegionalAdv"><h3>Regional Advisory - Avoid all travel</h3><ul><li>Arauca</li></ul>` +
				`<h3>Regional Advisory - Avoid non-essential travel</h3><ul><li>Putumayo</li></ul></div>`,
			[]Area{
				{"Arauca", DoNotTravel, "Regional Advisory - Avoid all travel. Arauca"},
				{"Putumayo", Reconsider, "Regional Advisory - Avoid non-essential travel. Putumayo"},
			},
		},
		{
			// A block without the RegionalAdv class, known by its heading.
			"regional by heading",
			`<div class="AdvisoryContainer ExHigh"><h3>Colombia - Exercise a high degree of caution</h3><p>Avoid all travel to Colombia? No.</p></div>` +
				`<div class="AdvisoryContainer"><h3>REGIONAL ADVISORY - AVOID ALL TRAVEL</h3><p>AVOID ALL TRAVEL TO the Venezuelan border area.</p></div>`,
			[]Area{{"the Venezuelan border area", DoNotTravel, "REGIONAL ADVISORY - AVOID ALL TRAVEL. AVOID ALL TRAVEL TO the Venezuelan border area."}},
		},
		{
			// Not the block layout: the whole text is read, the country itself dropped.
			"no containers",
			`<p>Avoid all travel to Colombia due to crime.</p><p>Avoid non-essential travel to:</p><ul><li>Choc&oacute;</li></ul>`,
			[]Area{{"Chocó", Reconsider, "Avoid non-essential travel to: Chocó"}},
		},
		{"empty", ``, nil},
		{
			// Nothing closed: the parser closes it as a browser would.
			"unclosed tags",
			`<div class="AdvisoryContainer RegionalAdv"><h3>Regional Advisory - Avoid all travel</h3><p>Avoid all travel to:<ul><li>Arauca<li>Cauca`,
			[]Area{
				{"Arauca", DoNotTravel, "Regional Advisory - Avoid all travel. Avoid all travel to: Arauca"},
				{"Cauca", DoNotTravel, "Regional Advisory - Avoid all travel. Avoid all travel to: Cauca"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseCACountry(caCountryDoc(t, "CO", "1", tc.advisories), fetchedAt)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Areas, tc.want) {
				t.Errorf("areas:\n%+v\nwant:\n%+v", r.Areas, tc.want)
			}
		})
	}
}

func TestParseCACountryRejects(t *testing.T) {
	malformed := map[string][]byte{
		"empty":              nil,
		"html":               []byte(`<html><body>503 Service Unavailable</body></html>`),
		"truncated":          halfOf(fixture(t, "ca/cta-cap-mx.json")),
		"no data":            []byte(`{"metadata":{}}`),
		"no country-iso":     []byte(`{"data":{"advisory-state":1,"eng":{"name":"Mexico"}}}`),
		"state out of range": caCountryDoc(t, "MX", "4", ""),
		"state negative":     caCountryDoc(t, "MX", "-1", ""),
		"the index":          fixture(t, "ca/index-updated.json"),
	}
	for name, body := range malformed {
		if _, err := ParseCACountry(body, fetchedAt); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	if _, err := ParseCACountry(caCountryDoc(t, "ZZ", "1", ""), fetchedAt); !errors.Is(err, ErrUnknownCountry) {
		t.Errorf("unknown code: err = %v, want ErrUnknownCountry", err)
	}
	if r, err := ParseCACountry(caCountryDoc(t, "co", `"2"`, ""), fetchedAt); err != nil || r.CountryCode != "CO" || r.Level != Reconsider {
		t.Errorf("lower-case code, string state: %+v %v", r, err)
	}
}

const caIndexPath = "/travel-voyage/index-updated.json"

// caRegional are the fixture index's countries with has-regional-advisory = 1.
var caRegional = []string{"CO", "EG", "IL", "KE", "MX", "TH"}

func TestCollectCAGAC(t *testing.T) {
	srv := newFixtureServer(t)
	snap, err := Collect(context.Background(), CAGAC, testGetter(), srv.URL+caIndexPath)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Source != CAGAC || len(snap.Reports) != len(caIndexLevels) || snap.Failed != nil {
		t.Fatalf("snapshot %s: %d reports, failed %q", snap.Source, len(snap.Reports), snap.Failed)
	}
	if want := []string{"Canada IC (Canary Islands): not an ISO 3166-1 country"}; !slices.Equal(snap.Skipped, want) {
		t.Errorf("skipped %q", snap.Skipped)
	}
	byCode := reportsByCode(snap.Reports)
	wantAreas := map[string]int{"CO": 5, "EG": 3, "IL": 3, "KE": 5, "MX": 6, "TH": 4, "PT": 1}
	for code, level := range caIndexLevels {
		r := byCode[code]
		if r.Level != level || len(r.Areas) != wantAreas[code] {
			t.Errorf("%s: level %d with %d areas, want %d with %d", code, r.Level, len(r.Areas), level, wantAreas[code])
		}
	}
	// The country document's summary replaces the index's "Latest update".
	if !strings.HasPrefix(byCode["KE"].Summary, "Kenya - Exercise a high degree of caution") {
		t.Errorf("KE summary %q", byCode["KE"].Summary)
	}
	if !strings.HasPrefix(byCode["HT"].Summary, "Latest update:") {
		t.Errorf("HT summary %q (no country document fetched)", byCode["HT"].Summary)
	}
	// Only the countries with regional advisories were fetched, once each.
	for _, code := range caRegional {
		if n := srv.count("/travel-voyage/cta-cap-" + strings.ToLower(code) + ".json"); n != 1 {
			t.Errorf("cta-cap-%s.json fetched %d times", strings.ToLower(code), n)
		}
	}
	for _, code := range []string{"ht", "ua", "pt"} {
		if n := srv.count("/travel-voyage/cta-cap-" + code + ".json"); n != 0 {
			t.Errorf("cta-cap-%s.json fetched without a regional advisory", code)
		}
	}
	if most := srv.maxIn.Load(); most > 4 {
		t.Errorf("%d requests in flight at once, want at most 4", most)
	}
}

func TestCollectCAGACCountryFailures(t *testing.T) {
	srv := newFixtureServer(t)
	srv.breakPath("/travel-voyage/cta-cap-ke.json", http.StatusNotFound)
	srv.breakPath("/travel-voyage/cta-cap-mx.json", 0) // truncated JSON

	snap, err := CollectCAGAC(context.Background(), testGetter(), srv.URL+caIndexPath+"?lang=eng")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(snap.Failed)
	if len(snap.Failed) != 2 || !strings.HasPrefix(snap.Failed[0], "KE: ") || !strings.Contains(snap.Failed[0], "status 404") ||
		!strings.HasPrefix(snap.Failed[1], "MX: ") || !strings.Contains(snap.Failed[1], "malformed") {
		t.Fatalf("failed %q", snap.Failed)
	}
	if strings.Contains(strings.Join(snap.Failed, " "), "lang=eng") {
		t.Errorf("failures name the query string: %q", snap.Failed)
	}
	// The index's reports still count, without areas.
	byCode := reportsByCode(snap.Reports)
	if len(snap.Reports) != len(caIndexLevels) {
		t.Errorf("%d reports", len(snap.Reports))
	}
	for _, code := range []string{"KE", "MX"} {
		r := byCode[code]
		if r.Level != IncreasedCaution || r.Areas != nil || !strings.HasPrefix(r.Summary, "Latest update:") {
			t.Errorf("%s: %+v", code, r)
		}
	}
	if len(byCode["EG"].Areas) != 3 {
		t.Errorf("EG areas %+v", byCode["EG"].Areas)
	}
}

func TestCollectCAGACIndexFailure(t *testing.T) {
	srv := newFixtureServer(t)
	srv.breakPath(caIndexPath, http.StatusBadGateway)
	snap, err := CollectCAGAC(context.Background(), testGetter(), srv.URL+caIndexPath)
	if err == nil || !strings.Contains(err.Error(), "status 502") || snap.Source != CAGAC || snap.Reports != nil {
		t.Fatalf("snapshot %+v err %v", snap, err)
	}
}

func TestCollectCAGACDocumentAboutAnotherCountry(t *testing.T) {
	const dir = "https://data.example/travel-voyage/"
	docs := mapGetter{
		dir + "index-updated.json": string(caIndexWith(map[string]string{"CO": `{"advisory-state":1,"has-regional-advisory":1,"eng":{"name":"Colombia"}}`})),
		dir + "cta-cap-co.json":    string(fixture(t, "ca/cta-cap-mx.json")),
	}
	snap, err := CollectCAGAC(context.Background(), docs, dir+"index-updated.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Failed) != 1 || !strings.Contains(snap.Failed[0], "is about MX") || snap.Reports[0].Areas != nil {
		t.Errorf("failed %q, reports %+v", snap.Failed, snap.Reports)
	}
}

// The real captures (outside the repository), when present.
func TestParseCARealCaptures(t *testing.T) {
	t.Run("2014 index", func(t *testing.T) {
		reports, skipped, err := ParseCAIndex(realFeed(t, "ca-index-alpha-eng-2014.json"), fetchedAt)
		if err != nil {
			t.Fatal(err)
		}
		// 229 rows: IC skipped, PT-20 folded into PT.
		if len(reports) != 227 || !slices.Equal(skipped, []string{"Canada IC (Canary Islands): not an ISO 3166-1 country"}) {
			t.Errorf("%d reports, skipped %q", len(reports), skipped)
		}
		byCode := reportsByCode(reports)
		af := byCode["AF"]
		if af.Level != DoNotTravel || af.SourceLabel != "AVOID ALL TRAVEL" || !af.PublishedAt.Equal(time.Unix(1407346535, 0)) ||
			af.URL != "https://travel.gc.ca/destinations/afghanistan" {
			t.Errorf("AF %+v", af)
		}
		if pt := byCode["PT"]; len(pt.Areas) != 1 || pt.Areas[0].Name != "Azores" {
			t.Errorf("PT areas %+v", pt.Areas)
		}
		levels := map[Level]int{}
		for _, r := range reports {
			levels[r.Level]++
			checkReport(t, r)
		}
		// 107 / 97 / 13 / 12 by advisory-state, less IC and PT-20 (both 0).
		if want := map[Level]int{Normal: 105, IncreasedCaution: 97, Reconsider: 13, DoNotTravel: 12}; !reflect.DeepEqual(levels, want) {
			t.Errorf("levels %v, want %v", levels, want)
		}
	})
	t.Run("mexico", func(t *testing.T) {
		r, err := ParseCACountry(realFeed(t, "ca-cta-cap-mx.json"), fetchedAt)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range r.Areas {
			names = append(names, a.Name)
			if a.Level != Reconsider {
				t.Errorf("%s at level %d", a.Name, a.Level)
			}
		}
		want := []string{"Chiapas", "Chihuahua", "Colima", "Guanajuato", "Guerrero", "Jalisco",
			"Lagunas de Zempoala National Park in Morelos", "Michoacán", "Nayarit", "Nuevo León",
			"Sinaloa", "Sonora", "Tamaulipas", "Zacatecas"}
		if r.Level != IncreasedCaution || !slices.Equal(names, want) {
			t.Errorf("level %d areas %q", r.Level, names)
		}
		if !r.PublishedAt.Equal(mustTime(t, "2026-10-07T15:16:00Z")) {
			t.Errorf("PublishedAt %v", r.PublishedAt)
		}
	})
	for _, tc := range []struct {
		file  string
		code  string
		level Level
	}{{"ca-cta-cap-ht.json", "HT", DoNotTravel}, {"ca-cta-cap-hk.json", "HK", IncreasedCaution}} {
		t.Run(tc.code, func(t *testing.T) {
			r, err := ParseCACountry(realFeed(t, tc.file), fetchedAt)
			if err != nil {
				t.Fatal(err)
			}
			if r.CountryCode != tc.code || r.Level != tc.level || r.Areas != nil {
				t.Errorf("%s level %d areas %+v", r.CountryCode, r.Level, r.Areas)
			}
		})
	}
}

func FuzzParseCAIndex(f *testing.F) {
	// A few rows of the fixture: a whole index is slow to minimise.
	var index struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(fixture(f, "ca/index-updated.json"), &index); err != nil {
		f.Fatal(err)
	}
	rows := map[string]string{}
	for _, code := range []string{"IL", "PT", "PT-20", "IC", "DE"} {
		rows[code] = string(index.Data[code])
	}
	f.Add(caIndexWith(rows))
	f.Add(caIndexWith(map[string]string{"PT-20": caRow(`"1"`, ""), "PT": caRow("0", `"date-published":{"timestamp":"12"},`)}))
	f.Fuzz(func(t *testing.T, body []byte) {
		reports, _, err := ParseCAIndex(body, fetchedAt)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		for _, r := range reports {
			checkReport(t, r)
		}
	})
}

func FuzzParseCACountry(f *testing.F) {
	for _, code := range []string{"mx", "il"} {
		f.Add(fixture(f, "ca/cta-cap-"+code+".json"))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseCACountry(body, fetchedAt)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownCountry) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrUnknownCountry", err)
			}
			return
		}
		checkReport(t, r)
	})
}

package feed

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"meridian.dev/platform/advisory/feed/fixtures"
	"meridian.dev/platform/testenv"
)

// fetchedAt is when the tests pretend the fixtures were fetched.
var fetchedAt = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(fixtures.FS, name)
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return b
}

func realFeed(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.SharedFeeds(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// halfOf is a body cut short, as a broken download leaves it.
func halfOf(body []byte) []byte { return body[:len(body)/2] }

func mustTime(t testing.TB, value string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, value)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

func TestParseUKFCDOIndexFixture(t *testing.T) {
	refs, err := ParseUKFCDOIndex(fixture(t, "uk/index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 30 {
		t.Fatalf("%d refs, want 30", len(refs))
	}
	kenya := refs[slices.IndexFunc(refs, func(r UKCountryRef) bool { return r.Slug == "kenya" })]
	want := UKCountryRef{
		Slug: "kenya", Name: "Kenya", Synonyms: []string{},
		UpdatedAt:         mustTime(t, "2026-10-06T13:02:11Z"),
		ChangeDescription: "Latest update: reviewed the advice for Kenya; no change to the level of advice.",
	}
	if !reflect.DeepEqual(kenya, want) {
		t.Errorf("kenya = %+v\nwant    %+v", kenya, want)
	}
	usa := refs[slices.IndexFunc(refs, func(r UKCountryRef) bool { return r.Slug == "usa" })]
	if usa.Name != "USA" || !slices.Equal(usa.Synonyms, []string{"United States", "America", "Hawaii"}) {
		t.Errorf("usa = %+v", usa)
	}
	india := refs[slices.IndexFunc(refs, func(r UKCountryRef) bool { return r.Slug == "india" })]
	if !india.UpdatedAt.Equal(mustTime(t, "2019-03-01T09:12:44Z")) {
		t.Errorf("india UpdatedAt = %v (fractional \".000+00:00\" form)", india.UpdatedAt)
	}
}

func TestParseUKFCDOIndexQuirks(t *testing.T) {
	body := `{"base_path":"/foreign-travel-advice","links":{"children":[
		{"base_path":"/foreign-travel-advice/spain","public_updated_at":"2026-01-02T03:04:05+00:00","withdrawn":false,
		 "details":{"country":{"slug":"spain","name":"Spain","synonyms":["Canary Islands"]},"change_description":" Latest update: ferries. "}},
		{"base_path":"/foreign-travel-advice/narnia","withdrawn":true,"details":{"country":{"slug":"narnia","name":"Narnia","synonyms":[]}}},
		{"base_path":"/foreign-travel-advice/the-gambia","title":"The Gambia travel advice","public_updated_at":"not a date","details":{}}
	]}}`
	refs, err := ParseUKFCDOIndex([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []UKCountryRef{
		{Slug: "spain", Name: "Spain", Synonyms: []string{"Canary Islands"}, UpdatedAt: mustTime(t, "2026-01-02T03:04:05Z"), ChangeDescription: "Latest update: ferries."},
		// No details.country: the slug comes from base_path, the name from the title.
		{Slug: "the-gambia", Name: "The Gambia"},
	}
	if !reflect.DeepEqual(refs, want) {
		t.Errorf("refs = %+v\nwant   %+v", refs, want)
	}
}

func TestParseUKFCDOIndexMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"empty":       ``,
		"html":        `<!DOCTYPE html><html><body>Sorry, we're experiencing technical difficulties</body></html>`,
		"truncated":   `{"links":{"children":[{"details":{"country":{"slug":"kenya"`,
		"no links":    `{"base_path":"/foreign-travel-advice"}`,
		"no children": `{"links":{"children":[]}}`,
		"array":       `[]`,
		"wrong type":  `{"links":{"children":{"slug":"kenya"}}}`,
		"a country":   string(fixture(t, "uk/kenya.json")),
	} {
		if _, err := ParseUKFCDOIndex([]byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// ukExpectation is what a fixture country should read as.
type ukExpectation struct {
	code  string
	level Level
	label string
	areas int
}

const (
	labelNone       = "See travel advice before travelling"
	labelWholeAll   = "Advise against all travel to the whole country"
	labelWholeAABE  = "Advise against all but essential travel to the whole country"
	labelPartsBoth  = "Advise against all travel to parts of the country; all but essential travel to parts of the country"
	labelPartsAll   = "Advise against all travel to parts of the country"
	labelPartsAABE  = "Advise against all but essential travel to parts of the country"
	labelWholeParts = "Advise against all but essential travel to the whole country; all travel to parts of the country"
)

var ukFixtureExpectations = map[string]ukExpectation{
	"kenya":                {"KE", IncreasedCaution, labelPartsBoth, 6},
	"haiti":                {"HT", DoNotTravel, labelWholeAll, 0},
	"ukraine":              {"UA", Reconsider, labelWholeParts, 6},
	"mexico":               {"MX", IncreasedCaution, labelPartsAABE, 4},
	"egypt":                {"EG", IncreasedCaution, labelPartsBoth, 4},
	"india":                {"IN", IncreasedCaution, labelPartsAll, 2},
	"niger":                {"NE", DoNotTravel, labelWholeAll, 0},
	"russia":               {"RU", DoNotTravel, labelWholeAll, 0},
	"north-korea":          {"KP", Reconsider, labelWholeAABE, 0},
	"myanmar":              {"MM", Reconsider, labelWholeParts, 4},
	"colombia":             {"CO", IncreasedCaution, labelPartsBoth, 4},
	"nigeria":              {"NG", IncreasedCaution, labelPartsBoth, 6},
	"israel":               {"IL", IncreasedCaution, labelPartsBoth, 3},
	"saudi-arabia":         {"SA", IncreasedCaution, labelPartsBoth, 3},
	"thailand":             {"TH", IncreasedCaution, labelPartsAABE, 4},
	"france":               {"FR", Normal, labelNone, 0},
	"germany":              {"DE", Normal, labelNone, 0},
	"japan":                {"JP", Normal, labelNone, 0},
	"china":                {"CN", Normal, labelNone, 0},
	"hong-kong":            {"HK", Normal, labelNone, 0},
	"brazil":               {"BR", Normal, labelNone, 0},
	"south-africa":         {"ZA", Normal, labelNone, 0},
	"australia":            {"AU", Normal, labelNone, 0},
	"austria":              {"AT", Normal, labelNone, 0},
	"singapore":            {"SG", Normal, labelNone, 0},
	"south-korea":          {"KR", Normal, labelNone, 0},
	"united-arab-emirates": {"AE", Normal, labelNone, 0},
	"italy":                {"IT", Normal, labelNone, 0},
	"canada":               {"CA", Normal, labelNone, 0},
	"usa":                  {"US", Normal, labelNone, 0},
}

func TestParseUKFCDOCountryFixtures(t *testing.T) {
	for slug, want := range ukFixtureExpectations {
		t.Run(slug, func(t *testing.T) {
			r, err := ParseUKFCDOCountry(fixture(t, "uk/"+slug+".json"), fetchedAt)
			if err != nil {
				t.Fatal(err)
			}
			if r.Source != UKFCDO || r.CountryCode != want.code || r.Level != want.level || r.SourceLabel != want.label || len(r.Areas) != want.areas {
				t.Errorf("got %s %s level %d %q with %d areas, want %s level %d %q with %d areas",
					r.Source, r.CountryCode, r.Level, r.SourceLabel, len(r.Areas), want.code, want.level, want.label, want.areas)
			}
			if r.URL != "https://www.gov.uk/foreign-travel-advice/"+slug {
				t.Errorf("URL = %q", r.URL)
			}
			if r.PublishedAt.IsZero() || r.Title == "" || r.Summary == "" {
				t.Errorf("missing PublishedAt %v, Title %q or Summary %q", r.PublishedAt, r.Title, r.Summary)
			}
			if strings.Contains(r.Summary, "<") || strings.Contains(r.Summary, "insurance could be invalidated") {
				t.Errorf("summary keeps HTML or the boilerplate insurance note: %q", r.Summary)
			}
			if n := utf8.RuneCountInString(r.Summary); n > adviceSummaryRunes {
				t.Errorf("summary is %d runes", n)
			}
			for _, a := range r.Areas {
				if a.Level <= r.Level || a.Name == "" || !strings.Contains(a.Text, a.Name) {
					t.Errorf("area %+v does not fit a level-%d country", a, r.Level)
				}
			}
		})
	}
}

func TestParseUKFCDOCountryKenya(t *testing.T) {
	r, err := ParseUKFCDOCountry(fixture(t, "uk/kenya.json"), fetchedAt)
	if err != nil {
		t.Fatal(err)
	}
	const border = "Areas near the border with Somalia. "
	const all = border + "Because of the threat from terrorist groups operating from Somalia, FCDO advises against all travel to: "
	const aabe = border + "FCDO advises against all but essential travel to: "
	want := Report{
		Source:      UKFCDO,
		CountryCode: "KE",
		Level:       IncreasedCaution,
		SourceLabel: labelPartsBoth,
		Title:       "Kenya travel advice",
		// public_updated_at "2026-10-06T14:02:11+01:00", not the later
		// updated_at nor details.updated_at ("…Z").
		PublishedAt: mustTime(t, "2026-10-06T13:02:11Z"),
		URL:         "https://www.gov.uk/foreign-travel-advice/kenya",
		Areas: []Area{
			{"Mandera County", DoNotTravel, all + "Mandera County"},
			{"Wajir County within 60km of the Somali border", DoNotTravel, all + "Wajir County within 60km of the Somali border, except for Wajir Town"},
			{"Lamu County", DoNotTravel, all + "Lamu County, except for Lamu Island and Manda Island"},
			{"Garissa Town", Reconsider, aabe + "Garissa Town"},
			{"Tana River County north of the Tana River", Reconsider, aabe + "Tana River County north of the Tana River"},
			// Only in the regional-risks part; the others, listed twice, once.
			{"the coastal strip between the Tana River and the Galana River", Reconsider, aabe + "the coastal strip between the Tana River and the Galana River"},
		},
	}
	summary := r.Summary
	r.Summary = ""
	if !reflect.DeepEqual(r, want) {
		t.Errorf("report:\n%+v\nwant:\n%+v", r, want)
	}
	if !strings.HasPrefix(summary, "Areas where FCDO advises against travel\nAreas near the border with Somalia\nBecause of the threat") {
		t.Errorf("summary = %q", summary)
	}
}

func TestParseUKFCDOCountryAreaForms(t *testing.T) {
	cases := map[string][]Area{
		// The whole country above, parts at 4; "the rest of Ukraine" (3) is the country itself.
		"ukraine": {
			{"Crimea", DoNotTravel, "Because of the ongoing Russian invasion, FCDO advises against all travel to: Crimea"},
			{"Donetsk oblast", DoNotTravel, "Because of the ongoing Russian invasion, FCDO advises against all travel to: Donetsk oblast"},
			{"Luhansk oblast", DoNotTravel, "Because of the ongoing Russian invasion, FCDO advises against all travel to: Luhansk oblast"},
			{"Kherson oblast", DoNotTravel, "Because of the ongoing Russian invasion, FCDO advises against all travel to: Kherson oblast"},
			{"Zaporizhzhia oblast", DoNotTravel, "Because of the ongoing Russian invasion, FCDO advises against all travel to: Zaporizhzhia oblast"},
			{"Kharkiv oblast within 20km of the border with Russia", DoNotTravel, "Because of the ongoing Russian invasion, FCDO advises against all travel to: Kharkiv oblast within 20km of the border with Russia"},
		},
		// The places as paragraphs, ending at the first sentence of prose.
		"mexico": {
			{"Colima state", Reconsider, "FCDO advises against all but essential travel to: Colima state"},
			{"Guerrero state", Reconsider, "FCDO advises against all but essential travel to: Guerrero state, except Acapulco, Ixtapa and Zihuatanejo when you travel there by air"},
			{"Michoacán state", Reconsider, "FCDO advises against all but essential travel to: Michoacán state"},
			{"Tamaulipas state", Reconsider, "FCDO advises against all but essential travel to: Tamaulipas state"},
		},
		// One-sentence advice naming its place, under headings.
		"egypt": {
			{"North Sinai Governorate", DoNotTravel, "North Sinai. FCDO advises against all travel to North Sinai Governorate due to the threat of terrorism."},
			{"within 20km of the Egypt-Libya border", DoNotTravel, "Egypt-Libya border. FCDO advises against all travel to within 20km of the Egypt-Libya border, except for the town of El Salloum."},
			{"South Sinai Governorate", Reconsider, "South Sinai and Ismailia. FCDO advises against all but essential travel to: South Sinai Governorate, except the resort of Sharm el Sheikh"},
			{"Ismailia Governorate east of the Suez Canal", Reconsider, "South Sinai and Ismailia. FCDO advises against all but essential travel to: Ismailia Governorate east of the Suez Canal"},
		},
		// Before 2023: a "summary" part and the FCO's "advise".
		"india": {
			{"Jammu and Kashmir", DoNotTravel, "The Foreign & Commonwealth Office (FCO) advise against all travel to: Jammu and Kashmir, with the exception of travel within the city of Jammu, travel by air to Srinagar and the Jammu-Srinagar highway"},
			{"the immediate vicinity of the border with Pakistan", DoNotTravel, "The Foreign & Commonwealth Office (FCO) advise against all travel to: the immediate vicinity of the border with Pakistan"},
		},
	}
	for slug, want := range cases {
		t.Run(slug, func(t *testing.T) {
			r, err := ParseUKFCDOCountry(fixture(t, "uk/"+slug+".json"), fetchedAt)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Areas, want) {
				t.Errorf("areas:\n%+v\nwant:\n%+v", r.Areas, want)
			}
		})
	}
}

func TestParseUKFCDOCountryDates(t *testing.T) {
	india, err := ParseUKFCDOCountry(fixture(t, "uk/india.json"), fetchedAt)
	if err != nil {
		t.Fatal(err)
	}
	if !india.PublishedAt.Equal(mustTime(t, "2019-03-01T09:12:44Z")) {
		t.Errorf("india PublishedAt = %v", india.PublishedAt)
	}
	// Haiti's public_updated_at is ten months older than its updated_at:
	// the public date is the advice's, the other a republish.
	haiti, err := ParseUKFCDOCountry(fixture(t, "uk/haiti.json"), fetchedAt)
	if err != nil {
		t.Fatal(err)
	}
	if !haiti.PublishedAt.Equal(mustTime(t, "2025-12-11T10:14:02Z")) {
		t.Errorf("haiti PublishedAt = %v", haiti.PublishedAt)
	}
}

// ukDoc builds a small country document; edit changes its decoded form.
func ukDoc(t *testing.T, edit func(doc map[string]any, details map[string]any)) []byte {
	t.Helper()
	doc := map[string]any{
		"base_path":         "/foreign-travel-advice/kenya",
		"document_type":     "travel_advice",
		"title":             "Kenya travel advice",
		"description":       "FCDO travel advice for Kenya.   ",
		"public_updated_at": "2026-10-07T10:29:49+01:00",
		"updated_at":        "2026-10-07T11:23:51+01:00",
	}
	details := map[string]any{
		"country":      map[string]any{"slug": "kenya", "name": "Kenya", "synonyms": []string{}},
		"alert_status": []string{},
		"updated_at":   "2026-10-07T10:23:50Z",
		"parts":        []any{},
	}
	doc["details"] = details
	if edit != nil {
		edit(doc, details)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func warningsPart(body string) []any {
	return []any{map[string]any{"slug": "warnings-and-insurance", "title": "Warnings and insurance", "body": body}}
}

func TestParseUKFCDOCountryQuirks(t *testing.T) {
	const advice = `<p>FCDO advises against all travel to:</p><ul><li>Mandera County</li></ul>`
	cases := []struct {
		name  string
		edit  func(doc, details map[string]any)
		check func(t *testing.T, r Report)
	}{
		{"empty alert_status and no parts", nil, func(t *testing.T, r Report) {
			if r.Level != Normal || r.SourceLabel != labelNone || r.Areas != nil {
				t.Errorf("got level %d %q %v", r.Level, r.SourceLabel, r.Areas)
			}
			if r.Summary != "FCDO travel advice for Kenya." {
				t.Errorf("summary from description = %q (trailing spaces trimmed)", r.Summary)
			}
		}},
		{"null alert_status", func(_, d map[string]any) { d["alert_status"] = nil }, func(t *testing.T, r Report) {
			if r.Level != Normal {
				t.Errorf("level %d", r.Level)
			}
		}},
		{"unknown status ignored", func(_, d map[string]any) {
			d["alert_status"] = []string{"avoid_travel_to_the_moon", "avoid_all_travel_to_parts"}
		}, func(t *testing.T, r Report) {
			if r.Level != IncreasedCaution || r.SourceLabel != labelPartsAll {
				t.Errorf("got level %d %q", r.Level, r.SourceLabel)
			}
		}},
		{"whole country AABE with parts at 4", func(_, d map[string]any) {
			d["alert_status"] = []string{"avoid_all_travel_to_parts", "avoid_all_but_essential_travel_to_whole_country"}
			d["parts"] = warningsPart(advice + `<p>FCDO advises against all but essential travel to the rest of Kenya.</p>`)
		}, func(t *testing.T, r Report) {
			want := []Area{{"Mandera County", DoNotTravel, "FCDO advises against all travel to: Mandera County"}}
			if r.Level != Reconsider || r.SourceLabel != labelWholeParts || !reflect.DeepEqual(r.Areas, want) {
				t.Errorf("got level %d %q %+v", r.Level, r.SourceLabel, r.Areas)
			}
		}},
		{"text without a status raises nothing", func(_, d map[string]any) {
			d["parts"] = warningsPart(advice)
		}, func(t *testing.T, r Report) {
			if r.Level != Normal || r.Areas != nil {
				t.Errorf("got level %d %+v", r.Level, r.Areas)
			}
		}},
		{"parts AABE only keeps level-3 places", func(_, d map[string]any) {
			d["alert_status"] = []string{"avoid_all_but_essential_travel_to_parts"}
			d["parts"] = warningsPart(advice + `<p>FCDO advises against all but essential travel to:</p><ul><li>Garissa Town</li></ul>`)
		}, func(t *testing.T, r Report) {
			want := []Area{{"Garissa Town", Reconsider, "FCDO advises against all but essential travel to: Garissa Town"}}
			if !reflect.DeepEqual(r.Areas, want) {
				t.Errorf("areas %+v", r.Areas)
			}
		}},
		{"list inside a note, nested items and entities", func(_, d map[string]any) {
			d["alert_status"] = []string{"avoid_all_travel_to_parts"}
			d["parts"] = warningsPart(`<div role="note"><p>Insurance note.</p></div><div class="govspeak"><h3>Coast &amp; islands</h3>` +
				`<p>FCDO advises against all travel to the following areas:</p><ol><li>Lamu&nbsp;County, except:<ul><li>Lamu Island</li><li>Manda Island</li></ul></li></ol></div>`)
		}, func(t *testing.T, r Report) {
			want := []Area{{"Lamu County", DoNotTravel, "Coast & islands. FCDO advises against all travel to the following areas: Lamu County, except: Lamu Island; Manda Island"}}
			if !reflect.DeepEqual(r.Areas, want) {
				t.Errorf("areas %+v\nwant  %+v", r.Areas, want)
			}
			if strings.Contains(r.Summary, "Insurance note") {
				t.Errorf("summary keeps the note: %q", r.Summary)
			}
		}},
		{"lead-in without a list names nothing", func(_, d map[string]any) {
			d["alert_status"] = []string{"avoid_all_travel_to_parts"}
			d["parts"] = warningsPart(`<p>FCDO advises against all travel to:</p><h2>Before you travel</h2><p>Read this.</p>`)
		}, func(t *testing.T, r Report) {
			if r.Areas != nil {
				t.Errorf("areas %+v", r.Areas)
			}
		}},
		{"public_updated_at missing: updated_at", func(doc, _ map[string]any) { delete(doc, "public_updated_at") }, func(t *testing.T, r Report) {
			if !r.PublishedAt.Equal(mustTime(t, "2026-10-07T10:23:51Z")) {
				t.Errorf("PublishedAt %v", r.PublishedAt)
			}
		}},
		{"only details.updated_at", func(doc, _ map[string]any) {
			delete(doc, "public_updated_at")
			doc["updated_at"] = "yesterday"
		}, func(t *testing.T, r Report) {
			if !r.PublishedAt.Equal(mustTime(t, "2026-10-07T10:23:50Z")) {
				t.Errorf("PublishedAt %v", r.PublishedAt)
			}
		}},
		{"dates in the future are not believed", func(doc, d map[string]any) {
			doc["public_updated_at"] = "2031-01-01T00:00:00+00:00"
			doc["updated_at"] = "2031-01-01T00:00:00+00:00"
			d["updated_at"] = "2031-01-01T00:00:00Z"
		}, func(t *testing.T, r Report) {
			if !r.PublishedAt.IsZero() {
				t.Errorf("PublishedAt %v", r.PublishedAt)
			}
		}},
		{"no base_path: URL from the slug", func(doc, _ map[string]any) { delete(doc, "base_path") }, func(t *testing.T, r Report) {
			if r.URL != "https://www.gov.uk/foreign-travel-advice/kenya" {
				t.Errorf("URL %q", r.URL)
			}
		}},
		{"name unknown, a synonym known", func(doc, d map[string]any) {
			d["country"] = map[string]any{"slug": "burma-old", "name": "Union of Burma (historic)", "synonyms": []string{"Rangoon", "Burma"}}
		}, func(t *testing.T, r Report) {
			if r.CountryCode != "MM" {
				t.Errorf("code %q", r.CountryCode)
			}
		}},
		{"name and synonyms unknown, the slug known", func(doc, d map[string]any) {
			d["country"] = map[string]any{"slug": "south-korea", "name": "", "synonyms": nil}
		}, func(t *testing.T, r Report) {
			if r.CountryCode != "KR" {
				t.Errorf("code %q", r.CountryCode)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseUKFCDOCountry(ukDoc(t, tc.edit), fetchedAt)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

func TestParseUKFCDOCountryRejects(t *testing.T) {
	malformed := map[string][]byte{
		"empty":          nil,
		"html page":      []byte("<!DOCTYPE html>\n<html><body>Page not found</body></html>"),
		"truncated":      halfOf(fixture(t, "uk/kenya.json")),
		"array":          []byte(`[{"title":"Kenya"}]`),
		"no details":     []byte(`{"title":"Kenya travel advice","document_type":"travel_advice"}`),
		"no country":     []byte(`{"details":{"alert_status":[]}}`),
		"the index":      fixture(t, "uk/index.json"),
		"wrong type":     ukDoc(t, func(doc, _ map[string]any) { doc["document_type"] = "news_article" }),
		"status is text": ukDoc(t, func(_, d map[string]any) { d["alert_status"] = "avoid_all_travel_to_parts" }),
	}
	for name, body := range malformed {
		if _, err := ParseUKFCDOCountry(body, fetchedAt); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	unknown := ukDoc(t, func(_, d map[string]any) {
		d["country"] = map[string]any{"slug": "narnia", "name": "Narnia", "synonyms": []string{"Cair Paravel"}}
	})
	if _, err := ParseUKFCDOCountry(unknown, fetchedAt); !errors.Is(err, ErrUnknownCountry) || errors.Is(err, ErrMalformed) {
		t.Errorf("unknown country: err = %v, want ErrUnknownCountry only", err)
	}
}

// fixtureServer serves the fixtures at the real APIs' paths: the GOV.UK
// content API at /api/content/foreign-travel-advice[/slug] and Canada's
// /travel-voyage/index-updated.json with cta-cap-xx.json beside it.
// broken maps a path onto the status to answer instead (0: a body that is
// not JSON). It records the most requests in flight at once.
type fixtureServer struct {
	*httptest.Server
	mu       sync.Mutex
	broken   map[string]int
	requests map[string]int
	inFlight atomic.Int32
	maxIn    atomic.Int32
}

func newFixtureServer(t *testing.T) *fixtureServer {
	s := &fixtureServer{broken: map[string]int{}, requests: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *fixtureServer) breakPath(p string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken[p] = status
}

func (s *fixtureServer) count(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[p]
}

func (s *fixtureServer) serve(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		old := s.maxIn.Load()
		if n <= old || s.maxIn.CompareAndSwap(old, n) {
			break
		}
	}
	// Long enough for the collectors' workers to overlap.
	time.Sleep(5 * time.Millisecond)

	s.mu.Lock()
	s.requests[r.URL.Path]++
	status, broken := s.broken[r.URL.Path]
	s.mu.Unlock()
	if broken {
		if status == 0 {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"details":`))
			return
		}
		w.WriteHeader(status)
		return
	}

	const ukAPI = "/api/content/foreign-travel-advice"
	var file string
	switch p := r.URL.Path; {
	case p == ukAPI:
		file = "uk/index.json"
	case strings.HasPrefix(p, ukAPI+"/"):
		file = "uk/" + strings.TrimPrefix(p, ukAPI+"/") + ".json"
	case path.Dir(p) == "/travel-voyage":
		file = "ca/" + path.Base(p)
	}
	body, err := fs.ReadFile(fixtures.FS, file)
	if file == "" || err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(body)
}

// testGetter fetches over HTTP without retries or waits.
func testGetter() *HTTPGetter { return &HTTPGetter{Attempts: 1, Backoff: time.Millisecond} }

func TestCollectUKFCDO(t *testing.T) {
	srv := newFixtureServer(t)
	snap, err := Collect(context.Background(), UKFCDO, testGetter(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Source != UKFCDO || len(snap.Reports) != 30 || snap.Failed != nil || snap.Skipped != nil {
		t.Fatalf("snapshot %s: %d reports, failed %v, skipped %v", snap.Source, len(snap.Reports), snap.Failed, snap.Skipped)
	}
	bySlug := map[string]Report{}
	for _, r := range snap.Reports {
		bySlug[path.Base(r.URL)] = r
	}
	for slug, want := range ukFixtureExpectations {
		r := bySlug[slug]
		if r.CountryCode != want.code || r.Level != want.level || len(r.Areas) != want.areas {
			t.Errorf("%s: %s level %d, %d areas; want %s level %d, %d areas", slug, r.CountryCode, r.Level, len(r.Areas), want.code, want.level, want.areas)
		}
	}
	if most := srv.maxIn.Load(); most > 4 || most < 2 {
		t.Errorf("%d requests in flight at once, want 2 to 4", most)
	}
}

func TestCollectUKFCDOCountryFailures(t *testing.T) {
	srv := newFixtureServer(t)
	srv.breakPath("/api/content/foreign-travel-advice/kenya", http.StatusInternalServerError)
	srv.breakPath("/api/content/foreign-travel-advice/haiti", 0) // truncated JSON

	snap, err := CollectUKFCDO(context.Background(), testGetter(), srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Reports) != 28 || len(snap.Failed) != 2 {
		t.Fatalf("%d reports, failed %v; want 28 and 2", len(snap.Reports), snap.Failed)
	}
	slices.Sort(snap.Failed)
	if !strings.HasPrefix(snap.Failed[0], "HT: ") || !strings.Contains(snap.Failed[0], "malformed") ||
		!strings.HasPrefix(snap.Failed[1], "KE: ") || !strings.Contains(snap.Failed[1], "status 500") {
		t.Errorf("failed = %q", snap.Failed)
	}
	for _, r := range snap.Reports {
		if r.CountryCode == "KE" || r.CountryCode == "HT" {
			t.Errorf("a failed country was reported: %+v", r)
		}
	}
}

func TestCollectUKFCDOIndexFailure(t *testing.T) {
	srv := newFixtureServer(t)
	srv.breakPath("/api/content/foreign-travel-advice", http.StatusServiceUnavailable)
	snap, err := CollectUKFCDO(context.Background(), testGetter(), srv.URL)
	if err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Fatalf("err = %v, want the index's 503", err)
	}
	if snap.Source != UKFCDO || snap.Reports != nil {
		t.Errorf("snapshot %+v", snap)
	}
	if n := srv.count("/api/content/foreign-travel-advice/kenya"); n != 0 {
		t.Errorf("fetched %d country documents without an index", n)
	}
}

// mapGetter serves documents from a map, for collects that need bodies
// no server path gives.
type mapGetter map[string]string

func (m mapGetter) Get(_ context.Context, url string) (Document, error) {
	body, ok := m[url]
	if !ok {
		return Document{}, errors.New("not found: " + url)
	}
	return Document{URL: url, Body: []byte(body), FetchedAt: fetchedAt}, nil
}

func TestCollectUKFCDOSkipsAndGivesUp(t *testing.T) {
	const base = "https://gov.example"
	const index = base + "/api/content/foreign-travel-advice"
	docs := mapGetter{
		index: `{"links":{"children":[
			{"details":{"country":{"slug":"kenya","name":"Kenya"}}},
			{"details":{"country":{"slug":"kenya-again","name":"Kenya"}}},
			{"details":{"country":{"slug":"narnia","name":"Narnia"}}},
			{"title":"Nowhere travel advice","details":{}},
			{"details":{"country":{"slug":"kenya","name":"Kenya"}}}]}}`,
		index + "/kenya":       string(fixture(t, "uk/kenya.json")),
		index + "/kenya-again": string(fixture(t, "uk/kenya.json")),
		index + "/narnia":      `{"document_type":"travel_advice","details":{"country":{"slug":"narnia","name":"Narnia"}}}`,
	}
	snap, err := CollectUKFCDO(context.Background(), docs, base)
	if err != nil {
		t.Fatal(err)
	}
	wantSkipped := []string{
		`FCDO index entry "Nowhere" has no slug`,
		`FCDO index lists "kenya" twice`,
		"FCDO kenya-again: KE already reported by kenya",
		"FCDO narnia: not a country Meridian knows",
	}
	if len(snap.Reports) != 1 || snap.Reports[0].CountryCode != "KE" || !reflect.DeepEqual(snap.Skipped, wantSkipped) || snap.Failed != nil {
		t.Errorf("reports %d, skipped %q, failed %q", len(snap.Reports), snap.Skipped, snap.Failed)
	}

	// Every country failing is not a reading of the source.
	delete(docs, index+"/kenya")
	delete(docs, index+"/kenya-again")
	if _, err := CollectUKFCDO(context.Background(), docs, base); err == nil || !strings.Contains(err.Error(), "every country document failed") {
		t.Errorf("err = %v", err)
	}
}

func TestCollectUnknownSource(t *testing.T) {
	snap, err := Collect(context.Background(), Source("XX_NOWHERE"), mapGetter{}, "")
	if err == nil || snap.Source != "XX_NOWHERE" {
		t.Errorf("snapshot %+v, err %v", snap, err)
	}
}

func TestDefaultURLsCoverEverySource(t *testing.T) {
	urls := DefaultURLs()
	for _, src := range Sources {
		if !strings.HasPrefix(urls[src], "https://") {
			t.Errorf("%s: %q", src, urls[src])
		}
	}
}

// The real captures (outside the repository), when present.
func TestParseUKFCDORealCaptures(t *testing.T) {
	t.Run("kenya", func(t *testing.T) {
		r, err := ParseUKFCDOCountry(realFeed(t, "uk-fcdo-kenya.json"), fetchedAt)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range r.Areas {
			names = append(names, a.Name)
		}
		wantNames := []string{
			"Mandera County", "Tarbaj and Wajir East constituencies in Wajir County",
			"areas of Wajir County within 60km of Kenya’s border with Somalia", "Garissa County", "Lamu County",
			"Garissa Town", "Tana River County north of the Tana River as far as the town of Saka",
			"within 15km of the east coast between the Tana River and the Galana (Athi-Galana-Sabaki) River",
		}
		if r.CountryCode != "KE" || r.Level != IncreasedCaution || !slices.Equal(names, wantNames) {
			t.Errorf("%s level %d areas %q", r.CountryCode, r.Level, names)
		}
		if r.Areas[0].Level != DoNotTravel || r.Areas[5].Level != Reconsider {
			t.Errorf("area levels %d, %d", r.Areas[0].Level, r.Areas[5].Level)
		}
		if !r.PublishedAt.Equal(mustTime(t, "2026-10-07T09:29:49Z")) {
			t.Errorf("PublishedAt %v", r.PublishedAt)
		}
	})
	t.Run("haiti", func(t *testing.T) {
		r, err := ParseUKFCDOCountry(realFeed(t, "uk-fcdo-haiti.json"), fetchedAt)
		if err != nil {
			t.Fatal(err)
		}
		if r.CountryCode != "HT" || r.Level != DoNotTravel || r.Areas != nil || !strings.HasPrefix(r.Summary, "FCDO advises against all travel to Haiti") {
			t.Errorf("%s level %d areas %v summary %q", r.CountryCode, r.Level, r.Areas, r.Summary)
		}
	})
	t.Run("albania", func(t *testing.T) {
		r, err := ParseUKFCDOCountry(realFeed(t, "uk-fcdo-albania-gds-example.json"), fetchedAt)
		if err != nil {
			t.Fatal(err)
		}
		if r.CountryCode != "AL" || r.Level != Normal || !strings.HasPrefix(r.Summary, "The main opposition party") ||
			!r.PublishedAt.Equal(mustTime(t, "2017-02-14T15:42:21Z")) {
			t.Errorf("%s level %d published %v summary %q", r.CountryCode, r.Level, r.PublishedAt, r.Summary)
		}
	})
	t.Run("index", func(t *testing.T) {
		refs, err := ParseUKFCDOIndex(realFeed(t, "uk-fcdo-index.json"))
		if err != nil {
			t.Fatal(err)
		}
		var slugs []string
		for _, ref := range refs {
			slugs = append(slugs, ref.Slug)
			if _, ok := lookupUKCountry(ref.Name, ref.Synonyms, ref.Slug); !ok {
				t.Errorf("%q does not map onto a country", ref.Name)
			}
		}
		want := []string{"afghanistan", "austria", "finland", "india", "malaysia", "sao-tome-and-principe", "spain"}
		if !slices.Equal(slugs, want) {
			t.Errorf("slugs %q", slugs)
		}
	})
}

func FuzzParseUKFCDOCountry(f *testing.F) {
	// Small documents: large seeds make every new input slow to minimise.
	// testdata/fuzz holds more, in the real shape.
	for _, slug := range []string{"egypt", "india"} {
		f.Add(fixture(f, "uk/"+slug+".json"))
	}
	f.Add([]byte(`{"details":{"country":{"slug":"kenya","name":"Kenya"},"alert_status":["avoid_all_travel_to_parts"],` +
		`"parts":[{"slug":"summary","body":"<p>FCO advise against all travel to:<p><ul><li>x<ul><li>y</ul></ul>"}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseUKFCDOCountry(body, fetchedAt)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownCountry) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrUnknownCountry", err)
			}
			return
		}
		checkReport(t, r)
	})
}

// checkReport holds for every report any parser returns.
func checkReport(t *testing.T, r Report) {
	t.Helper()
	if len(r.CountryCode) != 2 || r.Level < Normal || r.Level > DoNotTravel {
		t.Fatalf("report %s level %d", r.CountryCode, r.Level)
	}
	if n := utf8.RuneCountInString(r.Summary); n > adviceSummaryRunes {
		t.Fatalf("summary of %d runes", n)
	}
	for _, a := range r.Areas {
		if a.Name == "" || a.Level < Normal || a.Level > DoNotTravel {
			t.Fatalf("area %+v", a)
		}
	}
	if !r.PublishedAt.IsZero() && r.PublishedAt.After(fetchedAt.Add(24*time.Hour)) {
		t.Fatalf("published %v, after the fetch", r.PublishedAt)
	}
}

package usgs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian.dev/platform/testenv"
)

// The fixtures live with the other feeds' (advisory/feed/fixtures, embedded
// there as fixtures.FS); the parser reads them straight from disk.
const fixtures = "../../advisory/feed/fixtures/usgs"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestParseDayFeed(t *testing.T) {
	f, err := Parse(readFixture(t, "2.5_day.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 20, 6, 2, 19, 0, time.UTC); !f.Generated.Equal(want) {
		t.Errorf("generated %v, want %v", f.Generated, want)
	}
	var ids []string
	for _, e := range f.Events {
		ids = append(ids, e.ID)
	}
	wantIDs := []string{"us7000r4k2", "us7000r4k0", "us7000r4h9", "us7000r4g1", "ok2026wxyz", "us7000r4f5", "us7000r4e8",
		"nc75123456", "us7000r4d3", "pr2026324001", "us7000r4c7", "hv74567890", "nn00912345", "ak0266h3l2f1"}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("events %v\nwant %v", ids, wantIDs)
	}
	wantSkipped := []string{"ci40871234: deleted", "uw62071234: not an earthquake (quarry blast)"}
	if !slices.Equal(f.Skipped, wantSkipped) {
		t.Errorf("skipped %q, want %q", f.Skipped, wantSkipped)
	}

	tokyo := f.Events[0]
	if tokyo.Magnitude == nil || *tokyo.Magnitude != 6.4 {
		t.Errorf("magnitude %v, want 6.4", tokyo.Magnitude)
	}
	want := Event{ID: "us7000r4k2", Magnitude: tokyo.Magnitude, Place: "7 km NE of Kisarazu, Japan",
		Title: "M 6.4 - 7 km NE of Kisarazu, Japan", URL: "https://earthquake.usgs.gov/earthquakes/eventpage/us7000r4k2",
		Type: "earthquake", Status: "reviewed", Alert: "yellow",
		Time:     time.Date(2026, 11, 20, 5, 41, 12, 417e6, time.UTC),
		Updated:  time.Date(2026, 11, 20, 5, 58, 3, 120e6, time.UTC),
		Latitude: 35.421, Longitude: 139.976, DepthKm: 44.8}
	if tokyo != want {
		t.Errorf("Tokyo event\n got %+v\nwant %+v", tokyo, want)
	}

	byID := map[string]Event{}
	for _, e := range f.Events {
		byID[e.ID] = e
	}
	if e := byID["us7000r4d3"]; e.Magnitude != nil || e.Title != "M ? - Kermadec Islands region" || e.Status != "automatic" {
		t.Errorf("null magnitude event: %+v", e)
	}
	if e := byID["ok2026wxyz"]; e.Place != "" || *e.Magnitude != 2.7 {
		t.Errorf("null place event: %+v", e)
	}
	if e := byID["nc75123456"]; e.DepthKm != -0.91 {
		t.Errorf("depth above sea level: got %v, want -0.91", e.DepthKm)
	}
	if e := byID["us7000r4c7"]; e.Place != "45 km W of Valparaíso, Chile" || e.Latitude != -33.05 || e.Longitude != -72.1 {
		t.Errorf("southern, western, accented event: %+v", e)
	}
	if e := byID["us7000r4h9"]; e.Alert != "green" || e.Tsunami {
		t.Errorf("Mexico event: %+v", e)
	}
}

func TestParseEmptyFeed(t *testing.T) {
	f, err := Parse(readFixture(t, "empty.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Events) != 0 || len(f.Skipped) != 0 || f.Generated.IsZero() {
		t.Errorf("empty feed: %+v", f)
	}
}

func TestParseRefusesWhatIsNotAFeed(t *testing.T) {
	day := string(readFixture(t, "2.5_day.geojson"))
	for name, body := range map[string]string{
		"empty":               "",
		"html error page":     "<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head><body>down</body></html>",
		"truncated":           day[:len(day)/2],
		"a single feature":    `{"type":"Feature","properties":{"mag":5},"geometry":{"type":"Point","coordinates":[1,2,3]},"id":"us1"}`,
		"no features":         `{"type":"FeatureCollection","metadata":{"generated":1795154539000}}`,
		"features not a list": `{"type":"FeatureCollection","features":{}}`,
		"an array":            `[{"type":"FeatureCollection","features":[]}]`,
		"null":                `null`,
	} {
		if _, err := Parse([]byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseSkipsUnusableFeatures(t *testing.T) {
	feature := func(id, props, coords string) string {
		return `{"type":"Feature","properties":{` + props + `},"geometry":{"type":"Point","coordinates":` + coords + `},"id":"` + id + `"}`
	}
	const ok = `"mag":4.9,"time":1795153272417,"status":"reviewed","type":"earthquake"`
	body := `{"type":"FeatureCollection","features":[` + strings.Join([]string{
		feature("good1", ok, `[10,20,5]`),
		feature("lat", ok, `[10,95,5]`),
		feature("lon", ok, `[-181,20,5]`),
		feature("nocoords", ok, `null`),
		feature("onecoord", ok, `[10]`),
		feature("nullcoord", ok, `[null,20,1]`),
		feature("explosion", `"mag":3,"time":1795153272417,"type":"explosion"`, `[10,20,0]`),
		feature("deleted", `"mag":3,"time":1795153272417,"status":"deleted","type":"earthquake"`, `[10,20,0]`),
		feature("notime", `"mag":3,"type":"earthquake"`, `[10,20,0]`),
		feature("farfuture", `"mag":3,"time":9000000000000000,"type":"earthquake"`, `[10,20,0]`),
		feature("bad id!", ok, `[10,20,5]`),
		feature("good1", ok, `[11,21,5]`),
		`{"type":"Feature","properties":{"mag":"big"},"id":"strmag"}`,
		feature("nodepth", `"mag":null,"time":1795153272417`, `[-70.5,-33.2]`),
	}, ",") + `]}`
	f, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Events) != 2 || f.Events[0].ID != "good1" || f.Events[0].Longitude != 10 || f.Events[1].ID != "nodepth" {
		t.Fatalf("events %+v", f.Events)
	}
	if e := f.Events[1]; e.DepthKm != 0 || e.Type != "earthquake" || e.Magnitude != nil || !e.Updated.Equal(e.Time) {
		t.Errorf("feature without depth, type, magnitude or updated: %+v", e)
	}
	want := []string{
		"lat: coordinates out of range (10, 95)",
		"lon: coordinates out of range (-181, 20)",
		"nocoords: missing coordinates",
		"onecoord: missing coordinates",
		"nullcoord: missing coordinates",
		"explosion: not an earthquake (explosion)",
		"deleted: deleted",
		"notime: no time",
		"farfuture: time out of range",
		"bad id!: missing or unusable id",
		"good1: duplicate id",
		"feature 12: unreadable feature",
	}
	if !slices.Equal(f.Skipped, want) {
		t.Errorf("skipped\n got %q\nwant %q", f.Skipped, want)
	}
}

func TestParseCleansText(t *testing.T) {
	body := `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"mag":5.1,"time":1795153272417,` +
		`"place":"  12 km N of A\u0000B  ","title":"M 5.1 - x","alert":"PURPLE","tsunami":1},` +
		`"geometry":{"type":"Point","coordinates":[1,2,3]},"id":"us1"}]}`
	f, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	e := f.Events[0]
	if e.Place != "12 km N of AB" || e.Alert != "" || !e.Tsunami {
		t.Errorf("event %+v", e)
	}
}

// TestParseSharedFeeds runs the parser over any USGS capture in the shared
// feed folder (outside the repository), when there is one.
func TestParseSharedFeeds(t *testing.T) {
	matches, _ := filepath.Glob(filepath.Join(testenv.SharedFeeds(t), "*usgs*.geojson"))
	if len(matches) == 0 {
		t.Skip("no USGS capture in ../shared/feeds")
	}
	for _, path := range matches {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(body)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if len(f.Events)+len(f.Skipped) == 0 {
			t.Errorf("%s: no features at all", path)
		}
		for _, e := range f.Events {
			if e.ID == "" || e.Time.IsZero() || e.Type != "earthquake" {
				t.Errorf("%s: incomplete event %+v", path, e)
			}
		}
	}
}

// FuzzParse's seeds are small on purpose (testdata/fuzz/FuzzParse holds a
// one-feature feed, an HTML page, truncated JSON, bad coordinates…): the
// fuzzer minimises every input that finds new coverage, and minimising the
// 12 KB day feed took the whole run.
func FuzzParse(f *testing.F) {
	f.Add(readFixture(f, "empty.geojson"))
	f.Fuzz(func(t *testing.T, body []byte) {
		feed, err := Parse(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for _, e := range feed.Events {
			if e.Latitude < -90 || e.Latitude > 90 || e.Longitude < -180 || e.Longitude > 180 {
				t.Fatalf("event out of range: %+v", e)
			}
			if !validID.MatchString(e.ID) || e.Type != "earthquake" || e.Status == "deleted" {
				t.Fatalf("event that should have been skipped: %+v", e)
			}
			if strings.ContainsRune(e.Place+e.Title+e.URL, 0) {
				t.Fatalf("NUL in text: %+v", e)
			}
		}
	})
}

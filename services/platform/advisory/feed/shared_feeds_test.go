package feed

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/platform/country"
	"meridian.dev/platform/testenv"
)

// TestSharedFeeds parses every real sample with the parsers the collectors
// use, so a parser that only understands our own fixtures fails here.
func TestSharedFeeds(t *testing.T) {
	sharedFeedsDir := testenv.SharedFeeds(t)
	read := func(t *testing.T, name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(sharedFeedsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	fetched := time.Date(2026, 10, 8, 6, 0, 0, 0, time.UTC)

	t.Run("US 2025", func(t *testing.T) {
		body := read(t, "us-state-rss.xml")
		if items := bytes.Count(body, []byte("<item>")); items != 211 {
			t.Fatalf("the 2025 capture has %d items, want 211", items)
		}
		snap, err := ParseUSState(body, fetched)
		if err != nil {
			t.Fatal(err)
		}
		checkReports(t, snap, USState)
		// Every item maps: 211 items, less two A1 duplicates (Bonaire, Saba
		// and Sint Eustatius share BQ), plus three for A3 (the French West
		// Indies cover four ISO territories).
		if len(snap.Reports) != 212 || len(snap.Skipped) != 2 {
			t.Errorf("%d reports, skipped %q; want 212 and the two A1 duplicates", len(snap.Reports), snap.Skipped)
		}
		byCode := map[string]Report{}
		for _, r := range snap.Reports {
			byCode[r.CountryCode] = r
		}
		for code, level := range map[string]Level{
			"AT": 1, "AU": 1, "NG": 3, "NE": 3, "MM": 4, "CN": 2, "HK": 2, "MO": 3, "CL": 2, "RU": 4, "RS": 2,
			"DE": 2, "MG": 3, "BY": 4, "BZ": 2, "BJ": 2, "BN": 1, "TT": 3, "VG": 1, "KP": 4, "KR": 1, "GB": 2,
			"CH": 1, "GW": 3, "XK": 2, "BQ": 1, "GF": 1, "GP": 1, "MQ": 1, "MX": 2, "HT": 4, "UA": 4, "OM": 2,
		} {
			if got := byCode[code].Level; got != level {
				t.Errorf("%s: level %d, want %d", code, got, level)
			}
		}
		if !byCode["OM"].PublishedAt.IsZero() {
			t.Errorf("Oman's 1970 date read as %v", byCode["OM"].PublishedAt)
		}
		if got := byCode["HR"].PublishedAt; !got.Equal(time.Date(2025, 10, 9, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("Croatia published %v", got)
		}
		for _, r := range snap.Reports {
			if strings.ContainsAny(r.Summary, "\u00a0\u202f") {
				t.Errorf("%s: non-breaking space left in the summary", r.CountryCode)
			}
		}
	})

	t.Run("US 2026 excerpt", func(t *testing.T) {
		body := read(t, "us-state-rss-2026-excerpt.xml")
		if !bytes.Contains(body, []byte("\r\n")) {
			t.Error("the 2026 capture is CRLF")
		}
		snap, err := ParseUSState(body, fetched)
		if err != nil {
			t.Fatal(err)
		}
		checkReports(t, snap, USState)
		var codes []string
		for _, r := range snap.Reports {
			codes = append(codes, r.CountryCode)
		}
		if got := strings.Join(codes, " "); got != "SA KH IT MK CW GB SR HK ST" {
			t.Errorf("codes %s", got)
		}
		if !strings.HasPrefix(snap.Reports[0].Summary, "Reconsider travel to Saudi Arabia due to") {
			t.Errorf("Saudi summary %q", snap.Reports[0].Summary)
		}
	})

	t.Run("AU export", func(t *testing.T) {
		snap, err := ParseAUSmartraveller(read(t, "au-smartraveller-destinations-export.json"), fetched)
		if err != nil {
			t.Fatal(err)
		}
		checkReports(t, snap, AUSmartraveller)
		if len(snap.Reports) != 179 || len(snap.Skipped) != 1 {
			t.Errorf("%d reports, skipped %q; want 179 real rows and the pseudo-row", len(snap.Reports), snap.Skipped)
		}
		byCode := map[string]Report{}
		areas := 0
		for _, r := range snap.Reports {
			byCode[r.CountryCode] = r
			areas += len(r.Areas)
			if strings.Contains(r.Summary, "&amp;") || strings.Contains(r.Summary, "**") {
				t.Errorf("%s: artefact left in the summary", r.CountryCode)
			}
			if r.PublishedAt.IsZero() || r.PublishedAt.Year() < 2023 {
				t.Errorf("%s: changed read as %v", r.CountryCode, r.PublishedAt)
			}
		}
		// 95 entries follow a ", " and a level phrase in field_advice_levels
		// (counted independently of the parser).
		if areas != 95 {
			t.Errorf("%d regional levels read, want 95", areas)
		}
		for code, want := range map[string]struct {
			level Level
			areas []Level
		}{
			"DZ": {2, []Level{4, 4}},
			"AO": {2, []Level{3}},
			"RW": {1, []Level{4, 3, 2}},
			"BE": {1, nil}, // "Exercise a normal safety precautions"
			"PF": {1, nil}, // "Exercise normal safety cautions" heading
			"CI": {2, []Level{4, 3}},
			"KP": {4, nil},
			"TR": {2, []Level{4, 3}},
		} {
			r := byCode[code]
			var got []Level
			for _, a := range r.Areas {
				got = append(got, a.Level)
			}
			if r.Level != want.level || !equalLevels(got, want.areas) {
				t.Errorf("%s: level %d areas %v, want %d %v", code, r.Level, got, want.level, want.areas)
			}
		}
	})

	t.Run("UK index", func(t *testing.T) {
		refs, err := ParseUKFCDOIndex(read(t, "uk-fcdo-index.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != 7 {
			t.Errorf("%d countries, want the 7 of the GDS example", len(refs))
		}
		for _, ref := range refs {
			if _, ok := country.Lookup(ref.Name); !ok || ref.Slug == "" {
				t.Errorf("index entry %+v", ref)
			}
		}
	})

	t.Run("UK countries", func(t *testing.T) {
		for file, want := range map[string]struct {
			code  string
			level Level
			areas bool
		}{
			"uk-fcdo-kenya.json":               {"KE", IncreasedCaution, true}, // parts only
			"uk-fcdo-haiti.json":               {"HT", DoNotTravel, false},     // the whole country
			"uk-fcdo-albania-gds-example.json": {"AL", Normal, false},          // alert_status []
		} {
			r, err := ParseUKFCDOCountry(read(t, file), fetched)
			if err != nil {
				t.Errorf("%s: %v", file, err)
				continue
			}
			checkReports(t, Snapshot{Source: UKFCDO, Reports: []Report{r}}, UKFCDO)
			if r.CountryCode != want.code || r.Level != want.level || (len(r.Areas) > 0) != want.areas {
				t.Errorf("%s: %s level %d with %d areas, want %s %d", file, r.CountryCode, r.Level, len(r.Areas), want.code, want.level)
			}
		}
	})

	t.Run("CA index", func(t *testing.T) {
		reports, skipped, err := ParseCAIndex(read(t, "ca-index-alpha-eng-2014.json"), fetched)
		if err != nil {
			t.Fatal(err)
		}
		checkReports(t, Snapshot{Source: CAGAC, Reports: reports}, CAGAC)
		if len(reports)+len(skipped) < 228 || len(reports) < 225 {
			t.Errorf("%d reports and %d skipped from 229 destinations", len(reports), len(skipped))
		}
	})

	t.Run("CA countries", func(t *testing.T) {
		for file, want := range map[string]struct {
			code  string
			level Level
		}{
			"ca-cta-cap-mx.json": {"MX", IncreasedCaution}, // advisory-state 1, with regional advisories
			"ca-cta-cap-ht.json": {"HT", DoNotTravel},      // advisory-state 3
			"ca-cta-cap-hk.json": {"HK", IncreasedCaution}, // advisory-state 1
		} {
			r, err := ParseCACountry(read(t, file), fetched)
			if err != nil {
				t.Errorf("%s: %v", file, err)
				continue
			}
			checkReports(t, Snapshot{Source: CAGAC, Reports: []Report{r}}, CAGAC)
			if r.CountryCode != want.code || r.Level != want.level {
				t.Errorf("%s: %s level %d, want %s %d", file, r.CountryCode, r.Level, want.code, want.level)
			}
		}
	})
}

func equalLevels(a, b []Level) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

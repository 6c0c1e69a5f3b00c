package advisory

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/fault"
)

func sampleReport() feed.Report {
	return feed.Report{
		Source: feed.USState, CountryCode: "KE", Level: feed.Reconsider,
		SourceLabel: "Level 3: Reconsider Travel", Title: "Kenya - Level 3: Reconsider Travel",
		Summary:     "Reconsider travel to Kenya due to crime, terrorism, civil unrest, and kidnapping.",
		Indicators:  []string{"C", "T", "U", "K"},
		Areas:       []feed.Area{{Name: "Kenya-Somalia border", Level: feed.DoNotTravel, Text: "Terrorism."}},
		PublishedAt: time.Date(2026, 7, 31, 0, 0, 0, 0, time.UTC),
		URL:         "https://travel.state.gov/content/travel/en/traveladvisories/traveladvisories/kenya-travel-advisory.html",
	}
}

func mustNormalise(t *testing.T, r feed.Report) normalReport {
	t.Helper()
	n, err := normalise(feed.USState, r)
	if err != nil {
		t.Fatalf("normalise(%+v): %v", r, err)
	}
	return n
}

// The hash is over what a report says: presentation noise (indicator order,
// padding, the zone a date is written in) must not look like a change, and
// every real difference must.
func TestContentHash(t *testing.T) {
	t.Parallel()
	base := mustNormalise(t, sampleReport()).hash

	same := map[string]func(*feed.Report){
		"indicators reordered and repeated": func(r *feed.Report) { r.Indicators = []string{"U", "K", "T", "C", "C"} },
		"padding around text":               func(r *feed.Report) { r.Title = "  " + r.Title + "\n" },
		"lower-case code":                   func(r *feed.Report) { r.CountryCode = "ke" },
		"date in another zone":              func(r *feed.Report) { r.PublishedAt = r.PublishedAt.In(time.FixedZone("EDT", -4*3600)) },
		"source left empty":                 func(r *feed.Report) { r.Source = "" },
	}
	for name, edit := range same {
		r := sampleReport()
		edit(&r)
		if got := mustNormalise(t, r).hash; got != base {
			t.Errorf("%s changed the hash", name)
		}
	}
	different := map[string]func(*feed.Report){
		"level":        func(r *feed.Report) { r.Level = feed.DoNotTravel },
		"label":        func(r *feed.Report) { r.SourceLabel = "Level 3: Reconsider travel" },
		"summary":      func(r *feed.Report) { r.Summary += " More." },
		"an indicator": func(r *feed.Report) { r.Indicators = append(r.Indicators, "H") },
		"an area":      func(r *feed.Report) { r.Areas[0].Level = feed.Reconsider },
		"date":         func(r *feed.Report) { r.PublishedAt = r.PublishedAt.Add(24 * time.Hour) },
		"no date":      func(r *feed.Report) { r.PublishedAt = time.Time{} },
		"url":          func(r *feed.Report) { r.URL += "?x" },
	}
	for name, edit := range different {
		r := sampleReport()
		edit(&r)
		if got := mustNormalise(t, r).hash; got == base {
			t.Errorf("a different %s kept the hash", name)
		}
	}
}

// Whatever a feed sends, a report either is refused or becomes text
// Postgres stores, within the bounds.
func FuzzNormalise(f *testing.F) {
	f.Add("KE", 3, "Kenya - Level 3", "Reconsider travel<p>to Kenya", "Lamu", "https://travel.state.gov/x")
	f.Add("xx", 9, "\x00", "\xff\xfe", "", "javascript:alert(1)")
	f.Fuzz(func(t *testing.T, code string, level int, title, summary, area, url string) {
		r := feed.Report{CountryCode: code, Level: feed.Level(level), Title: title, Summary: summary, URL: url,
			SourceLabel: title, Indicators: []string{title, "C"}, Areas: []feed.Area{{Name: area, Level: feed.Level(level), Text: summary}}}
		n, err := normalise(feed.USState, r)
		if err != nil {
			return
		}
		for field, s := range map[string]string{"title": n.Title, "summary": n.Summary, "label": n.SourceLabel,
			"area": n.Areas[0].Name, "areaText": n.Areas[0].Text, "url": n.URL} {
			if err := fault.CheckText(field, s); err != nil {
				t.Fatalf("%s = %q: %v", field, s, err)
			}
			if s != strings.TrimSpace(s) {
				t.Fatalf("%s = %q is not trimmed", field, s)
			}
		}
		if utf8.RuneCountInString(n.Title) > maxTitleRunes+1 || utf8.RuneCountInString(n.Summary) > maxSummaryRunes+1 {
			t.Fatalf("text over its bound: %d, %d runes", utf8.RuneCountInString(n.Title), utf8.RuneCountInString(n.Summary))
		}
		if n.Level < 1 || n.Level > 4 || len(n.hash) != 64 {
			t.Fatalf("level %d, hash %q", n.Level, n.hash)
		}
	})
}

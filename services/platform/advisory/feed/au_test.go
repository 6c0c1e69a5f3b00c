package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseAUSmartravellerFixture(t *testing.T) {
	snap, err := ParseAUSmartraveller(ownFixture(t, "au/destinations-export.json"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	checkReports(t, snap, AUSmartraveller)
	if len(snap.Reports) != 31 {
		t.Errorf("%d reports, want 31 (32 rows less the pseudo-row)", len(snap.Reports))
	}
	if len(snap.Skipped) != 1 || !strings.Contains(snap.Skipped[0], "No travel advice") {
		t.Errorf("skipped %q, want the No travel advice pseudo-row", snap.Skipped)
	}
	byCode := map[string]Report{}
	for _, r := range snap.Reports {
		byCode[r.CountryCode] = r
	}
	for code, level := range map[string]Level{
		"MX": 2, "HT": 4, "UA": 4, "KE": 2, "EG": 2, "FR": 2, "DE": 1, "GB": 2, "JP": 1, "CN": 2, "HK": 2, "IN": 2,
		"BR": 2, "CO": 2, "ZA": 2, "NG": 3, "NE": 4, "AT": 1, "SG": 1, "TH": 2, "MM": 4, "KR": 1, "KP": 4, "RU": 4,
		"IL": 4, "SA": 3, "AE": 4, "IT": 1, "CA": 1, "CI": 2, "TR": 2,
	} {
		if got := byCode[code].Level; got != level {
			t.Errorf("%s: level %d, want %d", code, got, level)
		}
	}
	if _, ok := byCode["AU"]; ok {
		t.Error("Smartraveller has no advice for Australia itself")
	}
	labels := map[Level]string{1: "Exercise normal safety precautions", 2: "Exercise a high degree of caution",
		3: "Reconsider your need to travel", 4: "Do not travel"}
	for _, r := range snap.Reports {
		if r.SourceLabel != labels[r.Level] {
			t.Errorf("%s: label %q", r.CountryCode, r.SourceLabel)
		}
		if strings.Contains(r.Summary, "**") || strings.Contains(r.Summary, "&amp;") {
			t.Errorf("%s: artefact left in %q", r.CountryCode, r.Summary)
		}
	}

	kenya := byCode["KE"]
	sydney, _ := time.LoadLocation("Australia/Sydney")
	wantKenya := Report{
		Source:      AUSmartraveller,
		CountryCode: "KE",
		Level:       IncreasedCaution,
		SourceLabel: "Exercise a high degree of caution",
		Title:       "Kenya",
		Summary:     "Protests are possible and can turn violent (see 'Safety').",
		Areas: []Area{
			{Name: "border regions with Somalia", Level: DoNotTravel,
				Text: "Do not travel to border regions with Somalia due to the high risk of terrorist attack and kidnapping."},
			{Name: "Lamu County, Tana River and Kilifi counties", Level: Reconsider,
				Text: "Reconsider your need to travel to Lamu County, Tana River and Kilifi counties, due to the risk of terrorist attack."},
		},
		PublishedAt: time.Date(2026, 3, 12, 19, 17, 0, 0, sydney),
		URL:         "https://www.smartraveller.gov.au/destinations/africa/kenya",
	}
	if !reflect.DeepEqual(kenya, wantKenya) {
		t.Errorf("Kenya:\n got %+v\nwant %+v", kenya, wantKenya)
	}
	// "changed" has no zone: Australian Eastern time, daylight saving in March.
	if got := kenya.PublishedAt.UTC(); !got.Equal(time.Date(2026, 3, 12, 8, 17, 0, 0, time.UTC)) {
		t.Errorf("Kenya published %v UTC", got)
	}
	// …and standard time after the first Sunday of April.
	if got := byCode["FR"].PublishedAt.UTC(); !got.Equal(time.Date(2026, 4, 9, 1, 23, 0, 0, time.UTC)) {
		t.Errorf("France published %v UTC", got)
	}

	// Titles with entities and qualifiers resolve and read as text.
	for code, title := range map[string]string{
		"CI": "Côte d'Ivoire (Ivory Coast)",
		"KP": "North Korea (Democratic People's Republic of Korea)",
		"KR": "South Korea (Republic of Korea)",
		"TR": "Türkiye",
		"MM": "Myanmar",
	} {
		if got := byCode[code].Title; got != title {
			t.Errorf("%s title %q, want %q", code, got, title)
		}
	}
	// The lost-quote artefact reads back as an apostrophe, in every position.
	for code, summary := range map[string]string{
		"GB": "The UK's national threat level is 'substantial'.",
		"HT": "Do not travel to Haiti. If you're in Haiti, consider leaving if it's safe to do so.",
		"CI": "Be alert in Côte d'Ivoire.",
		"AT": "There may be longer border queues (see ‘Travel’).",
	} {
		if got := byCode[code].Summary; got != summary {
			t.Errorf("%s summary %q, want %q", code, got, summary)
		}
	}
	areaNames := func(code string) []string {
		var names []string
		for _, a := range byCode[code].Areas {
			names = append(names, fmt.Sprintf("%d %s", a.Level, a.Name))
		}
		return names
	}
	for code, want := range map[string][]string{
		"EG": {"4 the Governorate of North Sinai, or within 40km of Egypt's border with Libya",
			"3 the South Sinai Governorate; the Ismailiyah Governorate east of the Suez Canal"},
		"CN": {"2 Tibet and Xinjiang"},
		"CO": {"4 areas within 20km of the Venezuela border"},
		"NG": {"4 Borno, Yobe and Adamawa states"},
		"TH": {"3 Yala province, Pattani province, and Narathiwat province"},
		"RU": {"4 North Caucasus"},
		"DE": nil,
		"HT": nil,
	} {
		if got := areaNames(code); !reflect.DeepEqual(got, want) {
			t.Errorf("%s areas %q, want %q", code, got, want)
		}
	}
}

func TestAUAreasRealForms(t *testing.T) {
	// Entry forms seen in the real export: a heading sentence before the
	// advice sentence, a bare level before it, a colon list, a slip in
	// the level's wording, and commas inside an area's name.
	for field, want := range map[string][]Area{
		"Exercise a high degree of caution in Angola overall. Exercise a high degree of caution in Angola overall due to crime. See Safety, " +
			"Reconsider your need to travel to Cabinda, Lunda Norte and Lunda Sul. Reconsider your need to travel to Cabinda, Lunda Norte and Lunda Sul due to the risk of civil unrest.": {
			{Name: "Cabinda, Lunda Norte and Lunda Sul", Level: Reconsider,
				Text: "Reconsider your need to travel to Cabinda, Lunda Norte and Lunda Sul due to the risk of civil unrest."},
		},
		"Exercise normal safety cautions in French Polynesia Exercise normal safety precautions in French Polynesia": nil,
		"Exercise normal safety precautions Exercise normal safety precautions in Rwanda overall., " +
			"Exercise a high degree of caution Exercise a high degree of caution within 10 kilometres of the border with Burundi due to:  the unsafe security environment.": {
			{Name: "within 10 kilometres of the border with Burundi", Level: IncreasedCaution,
				Text: "Exercise a high degree of caution within 10 kilometres of the border with Burundi due to: the unsafe security environment."},
		},
		"Do not travel Do not travel to Chad overall., Reconsider your need to travel Reconsider your need to travel to N&#039;Djamena due to crime.": {
			{Name: "N'Djamena", Level: Reconsider, Text: "Reconsider your need to travel to N'Djamena due to crime."},
		},
		"": nil,
	} {
		if got := auAreas(field); !reflect.DeepEqual(got, want) {
			t.Errorf("auAreas(%.60q…)\n got %+v\nwant %+v", field, got, want)
		}
	}
}

func TestAULevel(t *testing.T) {
	for text, want := range map[string]Level{
		"Exercise normal safety precautions":   Normal,
		"exercise NORMAL safety precautions":   Normal,
		"Exercise a normal safety precautions": Normal, // Belgium's slip in the real export
		"Exercise normal safety cautions":      Normal,
		"Exercise a high degree of caution":    IncreasedCaution,
		"Reconsider your need to travel":       Reconsider,
		"Do not travel":                        DoNotTravel,
		"DO NOT TRAVEL":                        DoNotTravel,
		"No travel advice":                     0,
		"":                                     0,
		"Exercise":                             0,
	} {
		if got := auLevel(text); got != want {
			t.Errorf("auLevel(%q) = %d, want %d", text, got, want)
		}
	}
}

func auRows(rows ...map[string]any) []byte {
	b, err := json.Marshal(rows)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseAUSmartravellerRows(t *testing.T) {
	snap, err := ParseAUSmartraveller(auRows(
		map[string]any{"title": "Atlantis", "field_overall_advice_level": "Do not travel"},
		map[string]any{"title": "Peru", "field_overall_advice_level": "Be careful"},
		map[string]any{"title": "", "field_overall_advice_level": "Do not travel"},
		// Numbers where strings are expected are read, not fatal.
		map[string]any{"title": "Fiji", "field_overall_advice_level": "Exercise normal safety precautions",
			"changed": 1775700000, "path": "/destinations/pacific/fiji"},
		map[string]any{"title": "Fiji", "field_overall_advice_level": "Do not travel"},
		map[string]any{"title": "Chad", "field_overall_advice_level": "Do not travel", "changed": "Mon, 1970-01-05 10:00"},
	), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Reports) != 2 {
		t.Fatalf("reports %+v", snap.Reports)
	}
	fiji, chad := snap.Reports[0], snap.Reports[1]
	if fiji.CountryCode != "FJ" || fiji.URL != "https://www.smartraveller.gov.au/destinations/pacific/fiji" ||
		!fiji.PublishedAt.Equal(time.Unix(1775700000, 0)) {
		t.Errorf("Fiji %+v", fiji)
	}
	if chad.CountryCode != "TD" || !chad.PublishedAt.IsZero() {
		t.Errorf("Chad %+v", chad)
	}
	want := []string{"Atlantis", "Peru", "without a title", "Fiji"}
	if len(snap.Skipped) != len(want) {
		t.Fatalf("skipped %q", snap.Skipped)
	}
	for i, w := range want {
		if !strings.Contains(snap.Skipped[i], w) {
			t.Errorf("skipped[%d] = %q, want it to mention %q", i, snap.Skipped[i], w)
		}
	}
}

func TestParseAUSmartravellerMalformed(t *testing.T) {
	full := ownFixture(t, "au/destinations-export.json")
	for name, body := range map[string][]byte{
		"empty":      nil,
		"empty list": []byte("[]"),
		"null":       []byte("null"),
		"object":     []byte(`{"title":"Kenya"}`),
		"truncated":  full[:len(full)/2],
		"html error": []byte("<!DOCTYPE html><html><body><h1>Access Denied</h1></body></html>"),
		"rss":        ownFixture(t, "us/TAsTWs.xml"),
		"strings":    []byte(`["Kenya","Peru"]`),
	} {
		snap, err := ParseAUSmartraveller(body, time.Now())
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
		if len(snap.Reports) != 0 {
			t.Errorf("%s: %d reports from a malformed document", name, len(snap.Reports))
		}
	}
}

func TestCollectAUSmartraveller(t *testing.T) {
	const url = "https://www.smartraveller.gov.au/destinations-export"
	snap, err := CollectAUSmartraveller(context.Background(), staticGetter{url: ownFixture(t, "au/destinations-export.json")}, url)
	if err != nil || len(snap.Reports) != 31 || snap.Source != AUSmartraveller {
		t.Errorf("collect: %d reports, source %q, err %v", len(snap.Reports), snap.Source, err)
	}
	if _, err := CollectAUSmartraveller(context.Background(), staticGetter{}, url); err == nil || errors.Is(err, ErrMalformed) {
		t.Errorf("a failed fetch gave %v, want the fetch error", err)
	}
}

func FuzzParseAUSmartraveller(f *testing.F) {
	// Small seeds, as for FuzzParseUSState: three real-shaped rows.
	var rows []map[string]any
	if err := json.Unmarshal(ownFixture(f, "au/destinations-export.json"), &rows); err != nil {
		f.Fatal(err)
	}
	some := auRows(rows[3], rows[4], rows[len(rows)-1])
	f.Add(some)
	f.Add(some[:len(some)/2])
	f.Add([]byte(`[{"title":"Kenya","field_overall_advice_level":"Do not travel","field_advice_levels":"Do not travel, Do not travel, , Exercise "}]`))
	f.Add([]byte(`[{"title":"&amp;**","field_overall_advice_level":"Exercise","changed":"Sun, 2026-03-01 10:29"}]`))
	f.Add([]byte(`[null, 1, "x"]`))
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, body []byte) {
		snap, err := ParseAUSmartraveller(body, time.Time{})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for _, r := range snap.Reports {
			if r.Level < Normal || r.Level > DoNotTravel {
				t.Fatalf("report %s level %d", r.CountryCode, r.Level)
			}
			for _, a := range r.Areas {
				if a.Level < Normal || a.Level > DoNotTravel {
					t.Fatalf("area %+v", a)
				}
			}
		}
	})
}

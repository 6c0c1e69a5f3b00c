package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Australia/Sydney must load on hosts without zoneinfo

	"meridian.dev/platform/country"
)

// auSummaryRunes bounds a report's summary, as for the other sources.
const auSummaryRunes = 600

// auSite is where Smartraveller's relative paths point.
const auSite = "https://www.smartraveller.gov.au"

// auNoAdvice is the export's pseudo-row (and pseudo-level) for places
// Smartraveller writes no advice for.
const auNoAdvice = "no travel advice"

// auQuoteArtefact is what the export makes of a quotation mark or an
// apostrophe in field_last_update ("(see &amp;**Safety&amp;**)",
// "you&amp;**re"): read back as an apostrophe.
const auQuoteArtefact = "&amp;**"

// sydney is the zone of the export's "changed" times, which carry none:
// Smartraveller is published from Canberra (Australian Eastern time, with
// daylight saving; Australia/Sydney is the IANA zone for it).
var sydney = sync.OnceValue(func() *time.Location {
	loc, err := time.LoadLocation("Australia/Sydney")
	if err != nil { // time/tzdata is embedded, so only a broken build gets here
		return time.FixedZone("AEST", 10*60*60)
	}
	return loc
})

// auRow is one row of the export. Every field is a string in the real
// export; a number or null is read too rather than failing the document.
type auRow map[string]json.RawMessage

func (r auRow) text(keys ...string) string {
	for _, key := range keys {
		raw, ok := r[key]
		if !ok {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			return s
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err == nil {
			return n.String()
		}
	}
	return ""
}

// CollectAUSmartraveller fetches Smartraveller's destinations export once
// and parses it.
func CollectAUSmartraveller(ctx context.Context, g Getter, url string) (Snapshot, error) {
	doc, err := g.Get(ctx, url)
	if err != nil {
		return Snapshot{Source: AUSmartraveller}, fmt.Errorf("au smartraveller: %w", err)
	}
	return ParseAUSmartraveller(doc.Body, doc.FetchedAt)
}

// ParseAUSmartraveller reads Smartraveller's destinations export: a JSON
// array with one object of string fields per destination. The export has
// no ISO code, so the country comes from the title (country.Lookup), and
// the level only as text (field_overall_advice_level). Regional levels come
// from field_advice_levels. "changed" has no zone and is read as Australian
// Eastern time (Australia/Sydney). fetchedAt is recorded by the store, not
// here; the parameter keeps every parser's signature alike.
func ParseAUSmartraveller(body []byte, fetchedAt time.Time) (Snapshot, error) {
	_ = fetchedAt
	snap := Snapshot{Source: AUSmartraveller}
	var rows []auRow
	if err := json.Unmarshal(body, &rows); err != nil {
		return snap, fmt.Errorf("%w: au smartraveller export: %v", ErrMalformed, err)
	}
	if len(rows) == 0 {
		return snap, fmt.Errorf("%w: au smartraveller export: no rows", ErrMalformed)
	}
	seen := map[string]string{} // country code → title that reported it
	for i, row := range rows {
		if row == nil {
			snap.Skipped = append(snap.Skipped, fmt.Sprintf("row %d: null", i))
			continue
		}
		r, reason := auReport(row)
		if reason != "" {
			snap.Skipped = append(snap.Skipped, reason)
			continue
		}
		if first, dup := seen[r.CountryCode]; dup {
			snap.Skipped = append(snap.Skipped, fmt.Sprintf("%q: %s already reported by %q", r.Title, r.CountryCode, first))
			continue
		}
		seen[r.CountryCode] = r.Title
		snap.Reports = append(snap.Reports, r)
	}
	return snap, nil
}

func auReport(row auRow) (Report, string) {
	title := plainText(row.text("title"))
	levelText := plainText(row.text("field_overall_advice_level"))
	if strings.EqualFold(title, auNoAdvice) || strings.EqualFold(levelText, auNoAdvice) {
		return Report{}, fmt.Sprintf("%q: no travel advice (pseudo-row)", title)
	}
	if title == "" {
		return Report{}, "a row without a title"
	}
	level := auLevel(levelText)
	if level == 0 {
		return Report{}, fmt.Sprintf("%q: unknown advice level %q", title, levelText)
	}
	c, ok := country.Lookup(title)
	if !ok {
		return Report{}, fmt.Sprintf("%q: unknown country", title)
	}
	summary := auText(row.text("field_last_update"))
	if summary == "" {
		summary = auText(row.text("field_last_update_notes"))
	}
	return Report{
		Source:      AUSmartraveller,
		CountryCode: c.Code,
		Level:       level,
		SourceLabel: levelText,
		Title:       title,
		Summary:     truncateWords(strings.ReplaceAll(summary, "\n", " "), auSummaryRunes),
		Areas:       auAreas(row.text("field_advice_levels")),
		PublishedAt: auChanged(row.text("changed")),
		URL:         auURL(row.text("field_url", "url", "path")),
	}, ""
}

// auText is a field as plain text, with the export's lost-quote artefact
// read back as an apostrophe.
func auText(s string) string {
	return plainText(strings.ReplaceAll(s, auQuoteArtefact, "'"))
}

// auLevel maps Smartraveller's wording onto Meridian's scale. It matches
// the start of the text, ignoring case, because the export also carries
// slips such as "Exercise a normal safety precautions" and "Exercise normal
// safety cautions".
func auLevel(text string) Level {
	t := strings.ToLower(strings.Join(strings.Fields(text), " "))
	switch {
	case strings.HasPrefix(t, "do not travel"):
		return DoNotTravel
	case strings.HasPrefix(t, "reconsider"):
		return Reconsider
	case strings.HasPrefix(t, "exercise a high degree"), strings.HasPrefix(t, "exercise high degree"):
		return IncreasedCaution
	case strings.HasPrefix(t, "exercise") && strings.Contains(firstWords(t, 4), "normal"):
		return Normal
	}
	return 0
}

func firstWords(s string, n int) string {
	words := strings.Fields(s)
	return strings.Join(words[:min(n, len(words))], " ")
}

// auLevelStarts open every advice entry in field_advice_levels; a ", "
// followed by one of them starts the next entry (commas inside an entry,
// "Cabinda, Lunda Norte and Lunda Sul", are followed by anything else).
var auLevelStarts = []string{"Exercise ", "Reconsider ", "Do not travel", "Do Not Travel"}

func startsWithLevel(s string) bool {
	for _, p := range auLevelStarts {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// auAreas parses field_advice_levels. It runs the entries together with
// ", ": the first is the whole country (its level is the overall one), each
// later one is an area. An entry is a heading — the bare level ("Do not
// travel") or a heading sentence ("Reconsider your need to travel to
// Cabinda, Lunda Norte and Lunda Sul.") — then the advice sentence; the
// area's name is the place the heading (or else the sentence) names.
func auAreas(field string) []Area {
	field = strings.Join(strings.Fields(unescapeEntities(field)), " ")
	if field == "" {
		return nil
	}
	var entries []string
	start := 0
	for i := 0; i+2 < len(field); i++ {
		if field[i] == ',' && field[i+1] == ' ' && startsWithLevel(field[i+2:]) {
			entries = append(entries, field[start:i])
			start = i + 2
		}
	}
	entries = append(entries, field[start:])
	var areas []Area
	for _, entry := range entries[1:] {
		heading, sentence := splitHeading(entry)
		level := auLevel(sentence)
		if level == 0 {
			level = auLevel(heading)
		}
		if level == 0 {
			continue
		}
		name := auPlace(heading)
		if name == "" {
			name = auPlace(sentence)
		}
		if name == "" {
			name = truncateWords(sentence, 80)
		}
		areas = append(areas, Area{Name: name, Level: level, Text: plainText(sentence)})
	}
	return areas
}

// splitHeading separates an entry's heading from its advice sentence: the
// sentence starts at the second level phrase of the entry. An entry with
// only one is all sentence.
func splitHeading(entry string) (heading, sentence string) {
	for i := 1; i < len(entry); i++ {
		if entry[i-1] == ' ' && startsWithLevel(entry[i:]) {
			return strings.TrimSpace(entry[:i]), strings.TrimSpace(entry[i:])
		}
	}
	return "", strings.TrimSpace(entry)
}

// auPlace is the place an advice phrase names: after the level phrase and
// its "to"/"in", up to the reason ("due to", "because") or the full stop.
// A bare level phrase names no place.
func auPlace(phrase string) string {
	lower := strings.ToLower(phrase)
	rest := ""
	for _, label := range []string{"do not travel", "reconsider your need to travel", "exercise a high degree of caution",
		"exercise normal safety precautions", "exercise a normal safety precautions", "exercise normal safety cautions"} {
		if strings.HasPrefix(lower, label) {
			rest = phrase[len(label):]
			break
		}
	}
	rest = strings.TrimLeft(rest, " .:")
	for _, lead := range []string{"to: ", "to:", "to ", "in "} {
		if len(rest) >= len(lead) && strings.EqualFold(rest[:len(lead)], lead) {
			rest = rest[len(lead):]
			break
		}
	}
	// "to the following locations due to …: A, B, C" names its places
	// after the colon.
	if generic := strings.ToLower(rest); strings.HasPrefix(generic, "the following") || strings.HasPrefix(generic, "these") {
		if colon := strings.IndexByte(rest, ':'); colon >= 0 {
			rest = strings.TrimSpace(rest[colon+1:])
		}
	}
	end := len(rest)
	lowerRest := strings.ToLower(rest)
	for _, stop := range []string{" due to", " because", ". "} {
		if i := strings.Index(lowerRest, stop); i >= 0 && i < end {
			end = i
		}
	}
	// Smartraveller sometimes lists places with bullets run into the text.
	place := strings.ReplaceAll(rest[:end], " •", ";")
	place = strings.Trim(strings.TrimSpace(place), " .,:;•")
	return truncateWords(plainText(place), 120)
}

// unescapeEntities decodes the entities the export leaves in plain fields
// (&#039;, &amp;, &nbsp;) without reading anything as markup.
func unescapeEntities(s string) string {
	return plainText(strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(s))
}

// auChanged reads "Sun, 2026-03-01 10:29" as Australian Eastern time.
func auChanged(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"Mon, 2006-01-02 15:04", "2006-01-02 15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, sydney()); err == nil {
			if t.Before(earliestPublished) {
				return time.Time{}
			}
			return t
		}
	}
	// Drupal can also export "changed" as a Unix timestamp.
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil && secs > earliestPublished.Unix() {
		return time.Unix(secs, 0).In(sydney())
	}
	return time.Time{}
}

// auURL makes a row's link absolute.
func auURL(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "/") {
		return auSite + s
	}
	return s
}

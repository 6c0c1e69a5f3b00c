package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"meridian.dev/platform/country"
)

// The Canadian feeds' shapes (index-updated.json and cta-cap-{code}.json),
// reduced to what Meridian reads.
type (
	caEntry struct {
		CountryISO    string          `json:"country-iso"`
		AdvisoryState json.RawMessage `json:"advisory-state"`
		HasRegional   caFlag          `json:"has-regional-advisory"`
		DatePublished *struct {
			Timestamp json.RawMessage `json:"timestamp"`
			Date      string          `json:"date"`
			ASP       string          `json:"asp"`
		} `json:"date-published"`
		Eng struct {
			Name          string `json:"name"`
			URLSlug       string `json:"url-slug"`
			FriendlyDate  string `json:"friendly-date"`
			AdvisoryText  string `json:"advisory-text"`
			RecentUpdates string `json:"recent-updates"`
			Advisories    string `json:"advisories"`
		} `json:"eng"`
	}
	caIndexDocument struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	caCountryDocument struct {
		Data *caEntry `json:"data"`
	}
)

// caFlag is one of the feed's 0/1 flags, which are numbers, but read as
// strings or booleans too should that ever change.
type caFlag bool

func (f *caFlag) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	switch strings.ToLower(s) {
	case "1", "true":
		*f = true
	case "0", "false", "", "null":
		*f = false
	default:
		return fmt.Errorf("flag %s is not 0 or 1", b)
	}
	return nil
}

// caLevel maps advisory-state (0–3, a JSON number in every real sample, a
// string in some third-party copies) onto Meridian's scale: 0 normal
// security precautions → 1, high degree of caution → 2, avoid
// non-essential travel → 3, avoid all travel → 4.
func caLevel(raw json.RawMessage) (Level, error) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	state, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || state < 0 || state > 3 {
		return 0, fmt.Errorf("advisory-state %s is not 0-3", raw)
	}
	return Level(state + 1), nil
}

// caIndexRow is one row of the index, with what the collector needs to
// fetch the country's own document.
type caIndexRow struct {
	report   Report
	regional bool
}

// caSubdivision matches ISO 3166-2 codes such as PT-20 (the Azores).
var caSubdivision = regexp.MustCompile(`^([A-Z]{2})-[A-Z0-9]{1,3}$`)

// ParseCAIndex reads index-updated.json: data keyed by code, one report
// per ISO 3166-1 country. A row keyed by a subdivision code (PT-20, the
// Azores) is not a country of its own: it becomes an Area of its country
// (Portugal) at its own level, or is skipped when that country is not in
// the index. Rows that cannot be read or mapped are skipped with a reason.
func ParseCAIndex(body []byte, fetchedAt time.Time) ([]Report, []string, error) {
	rows, skipped, err := parseCAIndexRows(body, fetchedAt)
	if err != nil {
		return nil, nil, err
	}
	reports := make([]Report, len(rows))
	for i, row := range rows {
		reports[i] = row.report
	}
	return reports, skipped, nil
}

func parseCAIndexRows(body []byte, fetchedAt time.Time) ([]caIndexRow, []string, error) {
	var doc caIndexDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("%w: Canada index: %v", ErrMalformed, err)
	}
	if len(doc.Data) == 0 {
		return nil, nil, fmt.Errorf("%w: Canada index: no data", ErrMalformed)
	}
	codes := make([]string, 0, len(doc.Data))
	for code := range doc.Data {
		codes = append(codes, code)
	}
	slices.Sort(codes)

	var rows []caIndexRow
	var skipped []string
	at := map[string]int{}
	type subdivision struct {
		code, parent string
		area         Area
	}
	var subdivisions []subdivision
	for _, key := range codes {
		code := strings.ToUpper(strings.TrimSpace(key))
		var entry caEntry
		if err := json.Unmarshal(doc.Data[key], &entry); err != nil {
			skipped = append(skipped, fmt.Sprintf("Canada %s: unreadable row: %v", key, err))
			continue
		}
		level, err := caLevel(entry.AdvisoryState)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("Canada %s: %v", key, err))
			continue
		}
		if m := caSubdivision.FindStringSubmatch(code); m != nil {
			subdivisions = append(subdivisions, subdivision{code: code, parent: m[1], area: Area{
				Name:  oneLine(plainText(entry.Eng.Name)),
				Level: level,
				Text:  oneLine(plainText(entry.Eng.AdvisoryText)),
			}})
			continue
		}
		found, ok := country.Get(code)
		if !ok {
			skipped = append(skipped, fmt.Sprintf("Canada %s (%s): not an ISO 3166-1 country", key, oneLine(entry.Eng.Name)))
			continue
		}
		at[found.Code] = len(rows)
		rows = append(rows, caIndexRow{
			report:   caReport(found, level, &entry, fetchedAt),
			regional: bool(entry.HasRegional),
		})
	}
	for _, sub := range subdivisions {
		i, ok := at[sub.parent]
		if !ok || sub.area.Name == "" {
			skipped = append(skipped, fmt.Sprintf("Canada %s (%s): a subdivision of %s, which the index does not list", sub.code, sub.area.Name, sub.parent))
			continue
		}
		rows[i].report.Areas = append(rows[i].report.Areas, sub.area)
	}
	return rows, skipped, nil
}

// caReport is what the index row (or the country document) says at the
// country level.
func caReport(c country.Country, level Level, entry *caEntry, fetchedAt time.Time) Report {
	name := oneLine(plainText(entry.Eng.Name))
	if name == "" {
		name = c.Name
	}
	report := Report{
		Source:      CAGAC,
		CountryCode: c.Code,
		Level:       level,
		SourceLabel: oneLine(plainText(entry.Eng.AdvisoryText)),
		Title:       "Travel advice and advisories for " + name,
		PublishedAt: caPublished(entry, fetchedAt),
	}
	if slug := strings.TrimSpace(entry.Eng.URLSlug); slug != "" {
		report.URL = "https://travel.gc.ca/destinations/" + slug
	}
	if updates := oneLine(plainText(entry.Eng.RecentUpdates)); updates != "" {
		report.Summary = truncateWords("Latest update: "+updates, adviceSummaryRunes)
	}
	return report
}

// caPublished reads the publication date: the epoch timestamp when there
// is one (unambiguous), else the friendly date, whose EDT/EST says the
// offset, else the zone-less date and asp strings, which are Ottawa time.
func caPublished(entry *caEntry, fetchedAt time.Time) time.Time {
	var candidates []time.Time
	if dp := entry.DatePublished; dp != nil {
		s := strings.Trim(strings.TrimSpace(string(dp.Timestamp)), `"`)
		if seconds, err := strconv.ParseInt(s, 10, 64); err == nil && seconds > 0 {
			candidates = append(candidates, time.Unix(seconds, 0).UTC())
		}
	}
	candidates = append(candidates, parseCAFriendlyDate(entry.Eng.FriendlyDate))
	if dp := entry.DatePublished; dp != nil {
		for _, v := range []string{dp.ASP, dp.Date} {
			candidates = append(candidates, parseOttawaTime(v))
		}
	}
	for _, t := range candidates {
		if !t.IsZero() && !implausibleDate(t, fetchedAt) {
			return t.UTC()
		}
	}
	return time.Time{}
}

// Canada's friendly dates name Eastern time by its abbreviation.
var caZoneOffsets = map[string]int{"EDT": -4 * 3600, "EST": -5 * 3600}

func parseCAFriendlyDate(value string) time.Time {
	value = oneLine(value)
	i := strings.LastIndexByte(value, ' ')
	if i < 0 {
		return time.Time{}
	}
	offset, ok := caZoneOffsets[strings.ToUpper(value[i+1:])]
	if !ok {
		return time.Time{}
	}
	zone := time.FixedZone(strings.ToUpper(value[i+1:]), offset)
	t, err := time.ParseInLocation("January 2, 2006 15:04", value[:i], zone)
	if err != nil {
		return time.Time{}
	}
	return t
}

func parseOttawaTime(value string) time.Time {
	value = strings.TrimSpace(value)
	if value == "" {
		return time.Time{}
	}
	ottawa, err := time.LoadLocation("America/Toronto")
	if err != nil {
		return time.Time{} // no zone database: better no date than a wrong one
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, value, ottawa); err == nil {
			return t
		}
	}
	return time.Time{}
}

// ParseCACountry reads one cta-cap-{code}.json: the country's level, and
// the regional advisories of its "advisories" HTML as Areas.
func ParseCACountry(body []byte, fetchedAt time.Time) (Report, error) {
	var doc caCountryDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return Report{}, fmt.Errorf("%w: Canada country document: %v", ErrMalformed, err)
	}
	if doc.Data == nil || strings.TrimSpace(doc.Data.CountryISO) == "" {
		return Report{}, fmt.Errorf("%w: Canada country document: no data.country-iso", ErrMalformed)
	}
	entry := doc.Data
	level, err := caLevel(entry.AdvisoryState)
	if err != nil {
		return Report{}, fmt.Errorf("%w: Canada country document: %v", ErrMalformed, err)
	}
	code := strings.ToUpper(strings.TrimSpace(entry.CountryISO))
	found, ok := country.Get(code)
	if !ok {
		return Report{}, fmt.Errorf("%w: Canada %q", ErrUnknownCountry, code)
	}
	report := caReport(found, level, entry, fetchedAt)
	report.Areas = caRegionalAreas(entry.Eng.Advisories, found, oneLine(plainText(entry.Eng.Name)))
	if summary := truncateWords(plainText(entry.Eng.Advisories), adviceSummaryRunes); summary != "" {
		report.Summary = summary
	}
	return report, nil
}

var caAdvice = regexp.MustCompile(`(?i)\bavoid\s+(all|non-essential)\s+travel\s+to\b`)

// matchCAAdvice reads Canada's wording: "Avoid all travel to …", "Avoid
// non-essential travel to the following states …:".
func matchCAAdvice(text string) (Level, string, bool) {
	loc := caAdvice.FindStringSubmatchIndex(text)
	if loc == nil {
		return 0, "", false
	}
	level := DoNotTravel
	if strings.EqualFold(text[loc[2]:loc[3]], "non-essential") {
		level = Reconsider
	}
	return level, strings.TrimSpace(text[loc[1]:]), true
}

// caHeadingLevel reads a block heading's level ("Regional Advisory - Avoid
// non-essential travel").
func caHeadingLevel(heading string) (Level, bool) {
	lower := strings.ToLower(heading)
	switch {
	case strings.Contains(lower, "avoid all travel"):
		return DoNotTravel, true
	case strings.Contains(lower, "avoid non-essential travel"):
		return Reconsider, true
	case strings.Contains(lower, "high degree of caution"):
		return IncreasedCaution, true
	case strings.Contains(lower, "normal security precautions"):
		return Normal, true
	}
	return 0, false
}

// caRegionalAreas reads the regional advisories: the AdvisoryContainer
// blocks of class RegionalAdv (or headed "Regional Advisory"). Within one,
// each lead-in sets the level of the places after it; a block whose places
// have no lead-in takes its heading's level. The country's own block
// (ExHigh, AvoidAll, …) names the whole country and gives no area.
func caRegionalAreas(advisories string, place country.Country, name string) []Area {
	if strings.TrimSpace(advisories) == "" {
		return nil
	}
	container := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(advisories), container)
	if err != nil {
		return nil
	}
	var regional []*html.Node
	sawContainer := false
	var find func(n *html.Node)
	find = func(n *html.Node) {
		if n.Type == html.ElementNode && n.DataAtom == atom.Div && htmlHasClass(n, "AdvisoryContainer") {
			sawContainer = true
			if htmlHasClass(n, "RegionalAdv") || strings.HasPrefix(strings.ToLower(htmlFirstHeading(n)), "regional advisory") {
				regional = append(regional, n)
			}
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			find(c)
		}
	}
	for _, n := range nodes {
		find(n)
	}

	var areas []Area
	if !sawContainer {
		// Not the block layout this parser knows: read the whole text, and
		// drop what names the country itself.
		areas = extractAreas(parseHTMLBlocks(advisories), matchCAAdvice)
	}
	for _, block := range regional {
		var b strings.Builder
		for c := block.FirstChild; c != nil; c = c.NextSibling {
			if err := html.Render(&b, c); err != nil {
				return nil
			}
		}
		blocks := parseHTMLBlocks(b.String())
		found := extractAreas(blocks, matchCAAdvice)
		if len(found) == 0 {
			found = caHeadedListAreas(blocks)
		}
		areas = append(areas, found...)
	}
	var out []Area
	for _, a := range mergeAreas(areas) {
		if strings.EqualFold(a.Name, name) || strings.EqualFold(a.Name, place.Name) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// caHeadedListAreas reads a regional block that lists places without a
// lead-in: every list entry at the level of the heading above it.
func caHeadedListAreas(blocks []adviceBlock) []Area {
	var areas []Area
	level, heading := Level(0), ""
	for _, b := range blocks {
		switch b.kind {
		case adviceHeading:
			level, _ = caHeadingLevel(b.text)
			heading = b.text
		case adviceList:
			if level == 0 {
				continue
			}
			for _, item := range b.items {
				areas = appendArea(areas, item.label, level, heading+". "+item.full)
			}
		}
	}
	return areas
}

func htmlHasClass(n *html.Node, class string) bool {
	return slices.Contains(strings.Fields(htmlAttr(n, "class")), class)
}

func htmlFirstHeading(n *html.Node) string {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode {
			switch c.DataAtom {
			case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
				return htmlNodeText(c)
			}
		}
	}
	return ""
}

// CollectCAGAC reads the index at indexURL, then, for each country whose
// row has has-regional-advisory = 1, its cta-cap-{code}.json beside the
// index (at most four at a time), adding that document's regional areas
// and its fuller summary to the index's report. The index's level stands:
// it is the one list read at one moment. A country document that fails
// leaves the index's report as it is (without areas) and is listed in
// Failed as "<code>: <error>".
func CollectCAGAC(ctx context.Context, g Getter, indexURL string) (Snapshot, error) {
	snap := Snapshot{Source: CAGAC}
	base, err := url.Parse(indexURL)
	if err != nil {
		return snap, fmt.Errorf("feed: Canada index URL: %w", err)
	}
	index, err := g.Get(ctx, indexURL)
	if err != nil {
		return snap, fmt.Errorf("feed: Canada index: %w", err)
	}
	rows, skipped, err := parseCAIndexRows(index.Body, index.FetchedAt)
	if err != nil {
		return snap, err
	}
	snap.Skipped = skipped

	var regional []int
	for i, row := range rows {
		if row.regional {
			regional = append(regional, i)
		}
	}
	failures := make([]error, len(regional))
	forEachLimited(ctx, len(regional), 4, func(j int) {
		row := &rows[regional[j]]
		code := row.report.CountryCode
		ref := &url.URL{Path: "cta-cap-" + strings.ToLower(code) + ".json"}
		doc, err := g.Get(ctx, base.ResolveReference(ref).String())
		if err != nil {
			failures[j] = err
			return
		}
		detail, err := ParseCACountry(doc.Body, doc.FetchedAt)
		switch {
		case err != nil:
			failures[j] = err
			return
		case detail.CountryCode != code:
			failures[j] = fmt.Errorf("%w: cta-cap-%s.json is about %s", ErrMalformed, strings.ToLower(code), detail.CountryCode)
			return
		}
		row.report.Areas = mergeAreas(append(row.report.Areas, detail.Areas...))
		if detail.Summary != "" {
			row.report.Summary = detail.Summary
		}
	})
	if err := ctx.Err(); err != nil {
		return snap, err
	}
	for j, err := range failures {
		if err != nil {
			snap.Failed = append(snap.Failed, fmt.Sprintf("%s: %v", rows[regional[j]].report.CountryCode, err))
		}
	}
	for _, row := range rows {
		snap.Reports = append(snap.Reports, row.report)
	}
	if len(snap.Reports) == 0 {
		return snap, errors.New("feed: Canada index: no country could be read")
	}
	return snap, nil
}

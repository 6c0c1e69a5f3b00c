package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"meridian.dev/platform/country"
)

// UKCountryRef is one country listed by the FCDO travel-advice index.
type UKCountryRef struct {
	Slug              string // "kenya": the country document is …/foreign-travel-advice/<slug>
	Name              string // "Kenya"
	Synonyms          []string
	UpdatedAt         time.Time // public_updated_at; zero when missing or unreadable
	ChangeDescription string
}

// ErrUnknownCountry marks a document about a place that is not an ISO
// 3166-1 country Meridian knows: collectors skip it rather than fail.
var ErrUnknownCountry = errors.New("feed: unknown country")

// adviceSummaryRunes is about how much of an advisory's text a summary keeps.
const adviceSummaryRunes = 600

// The GOV.UK content API's shapes, reduced to the fields Meridian reads.
type (
	ukIndexDocument struct {
		Links *struct {
			Children *[]ukIndexChild `json:"children"`
		} `json:"links"`
	}
	ukIndexChild struct {
		BasePath        string `json:"base_path"`
		Title           string `json:"title"`
		PublicUpdatedAt string `json:"public_updated_at"`
		Withdrawn       bool   `json:"withdrawn"`
		Details         struct {
			Country           ukCountry `json:"country"`
			ChangeDescription string    `json:"change_description"`
		} `json:"details"`
	}
	ukCountry struct {
		Slug     string   `json:"slug"`
		Name     string   `json:"name"`
		Synonyms []string `json:"synonyms"`
	}
	ukCountryDocument struct {
		BasePath        string     `json:"base_path"`
		DocumentType    string     `json:"document_type"`
		Title           string     `json:"title"`
		Description     string     `json:"description"`
		UpdatedAt       string     `json:"updated_at"`
		PublicUpdatedAt string     `json:"public_updated_at"`
		Details         *ukDetails `json:"details"`
	}
	ukDetails struct {
		Country     ukCountry `json:"country"`
		AlertStatus []string  `json:"alert_status"`
		UpdatedAt   string    `json:"updated_at"`
		Parts       []struct {
			Slug  string `json:"slug"`
			Title string `json:"title"`
			Body  string `json:"body"`
		} `json:"parts"`
	}
)

// ParseUKFCDOIndex reads the index document
// (https://www.gov.uk/api/content/foreign-travel-advice). Withdrawn
// entries are left out. A child without a slug is still listed (with its
// name) so the collector can say it skipped it.
func ParseUKFCDOIndex(body []byte) ([]UKCountryRef, error) {
	var doc ukIndexDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%w: FCDO index: %v", ErrMalformed, err)
	}
	if doc.Links == nil || doc.Links.Children == nil || len(*doc.Links.Children) == 0 {
		return nil, fmt.Errorf("%w: FCDO index: no links.children", ErrMalformed)
	}
	var refs []UKCountryRef
	for _, child := range *doc.Links.Children {
		if child.Withdrawn {
			continue
		}
		slug := child.Details.Country.Slug
		if slug == "" && strings.HasPrefix(child.BasePath, "/foreign-travel-advice/") {
			slug = path.Base(child.BasePath)
		}
		name := child.Details.Country.Name
		if name == "" {
			name = strings.TrimSpace(strings.TrimSuffix(child.Title, "travel advice"))
		}
		refs = append(refs, UKCountryRef{
			Slug:              slug,
			Name:              name,
			Synonyms:          child.Details.Country.Synonyms,
			UpdatedAt:         parseUKTime(child.PublicUpdatedAt, time.Time{}),
			ChangeDescription: strings.TrimSpace(child.Details.ChangeDescription),
		})
	}
	return refs, nil
}

// The FCDO's four alert statuses, most severe first.
var ukAlertStatuses = []struct {
	value     string
	level     Level // the country's level on Meridian's scale
	areaLevel Level // the level of the parts named in the text
	label     string
}{
	{"avoid_all_travel_to_whole_country", DoNotTravel, DoNotTravel, "Advise against all travel to the whole country"},
	{"avoid_all_but_essential_travel_to_whole_country", Reconsider, Reconsider, "Advise against all but essential travel to the whole country"},
	{"avoid_all_travel_to_parts", IncreasedCaution, DoNotTravel, "Advise against all travel to parts of the country"},
	{"avoid_all_but_essential_travel_to_parts", IncreasedCaution, Reconsider, "Advise against all but essential travel to parts of the country"},
}

// ukNoAlertLabel is the FCDO map legend's wording for a country without an
// alert status.
const ukNoAlertLabel = "See travel advice before travelling"

// The parts whose text names the areas the FCDO advises against: today's
// "warnings-and-insurance" and "regional-risks", and "summary" before 2023.
var ukAreaParts = []string{"warnings-and-insurance", "regional-risks", "summary"}

// ParseUKFCDOCountry reads one country document
// (https://www.gov.uk/api/content/foreign-travel-advice/<slug>).
//
// The level comes from details.alert_status: a whole-country status sets
// it (4 or 3); statuses for parts only make the country level 2, with the
// parts as Areas at 4 or 3, read from the warnings and regional-risks
// text. Areas are kept only when they are above the country's level, so
// "advises against all travel to Haiti" is not an area of Haiti. Dates
// later than a day after fetchedAt are not believed (zero fetchedAt: no
// check).
func ParseUKFCDOCountry(body []byte, fetchedAt time.Time) (Report, error) {
	var doc ukCountryDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return Report{}, fmt.Errorf("%w: FCDO country document: %v", ErrMalformed, err)
	}
	if doc.DocumentType != "" && doc.DocumentType != "travel_advice" {
		return Report{}, fmt.Errorf("%w: FCDO country document: document_type %q", ErrMalformed, doc.DocumentType)
	}
	if doc.Details == nil || (doc.Details.Country.Slug == "" && doc.Details.Country.Name == "") {
		return Report{}, fmt.Errorf("%w: FCDO country document: no details.country", ErrMalformed)
	}
	details := doc.Details
	found, ok := lookupUKCountry(details.Country.Name, details.Country.Synonyms, details.Country.Slug)
	if !ok {
		return Report{}, fmt.Errorf("%w: FCDO country %q (slug %q)", ErrUnknownCountry, details.Country.Name, details.Country.Slug)
	}

	level, label, areaLevels := ukLevel(details.AlertStatus)
	report := Report{
		Source:      UKFCDO,
		CountryCode: found.Code,
		Level:       level,
		SourceLabel: label,
		Title:       oneLine(doc.Title),
		PublishedAt: firstUKTime(fetchedAt, doc.PublicUpdatedAt, doc.UpdatedAt, details.UpdatedAt),
		URL:         ukURL(doc.BasePath, details.Country.Slug),
	}
	if report.Title == "" {
		report.Title = oneLine(details.Country.Name + " travel advice")
	}

	partBodies := make(map[string]string, len(details.Parts))
	for _, part := range details.Parts {
		if _, seen := partBodies[part.Slug]; !seen {
			partBodies[part.Slug] = part.Body
		}
	}
	var areas []Area
	for _, slug := range ukAreaParts {
		if body, ok := partBodies[slug]; ok {
			areas = append(areas, extractAreas(parseHTMLBlocks(body), matchFCDOAdvice)...)
		}
	}
	for _, area := range mergeAreas(areas) {
		// Only parts the alert status vouches for: text left behind after
		// an alert was lifted must not raise an area on its own.
		if area.Level > level && areaLevels[area.Level] {
			report.Areas = append(report.Areas, area)
		}
	}

	for _, slug := range []string{"warnings-and-insurance", "summary"} {
		if body, ok := partBodies[slug]; ok {
			report.Summary = truncateWords(plainText(withoutNotes(body)), adviceSummaryRunes)
			break
		}
	}
	if report.Summary == "" {
		report.Summary = truncateWords(oneLine(doc.Description), adviceSummaryRunes)
	}
	return report, nil
}

// ukLevel maps the alert statuses onto the country's level, the FCDO's
// wording for it, and the levels its areas may have.
func ukLevel(statuses []string) (Level, string, map[Level]bool) {
	present := make(map[string]bool, len(statuses))
	for _, s := range statuses {
		present[strings.TrimSpace(s)] = true
	}
	level, label := Normal, ukNoAlertLabel
	var labels []string
	areaLevels := map[Level]bool{}
	for _, status := range ukAlertStatuses {
		if !present[status.value] {
			continue
		}
		areaLevels[status.areaLevel] = true
		labels = append(labels, status.label)
		if status.level > level {
			level = status.level
		}
	}
	if len(labels) > 0 {
		// The most severe status leads; the others follow in lower case
		// ("Advise against all but essential travel to the whole country;
		// all travel to parts of the country").
		label = labels[0]
		for _, more := range labels[1:] {
			label += "; " + strings.TrimPrefix(more, "Advise against ")
		}
	}
	return level, label, areaLevels
}

// lookupUKCountry maps an FCDO country onto ISO: its name first, then its
// synonyms, then the slug read as words ("south-korea").
func lookupUKCountry(name string, synonyms []string, slug string) (country.Country, bool) {
	candidates := append([]string{name}, synonyms...)
	candidates = append(candidates, strings.ReplaceAll(slug, "-", " "))
	for _, candidate := range candidates {
		if strings.TrimSpace(candidate) == "" {
			continue
		}
		if c, ok := country.Lookup(candidate); ok {
			return c, true
		}
	}
	return country.Country{}, false
}

func ukURL(basePath, slug string) string {
	if basePath == "" {
		basePath = "/foreign-travel-advice/" + slug
	}
	return "https://www.gov.uk" + basePath
}

// parseUKTime reads GOV.UK's timestamps, which mix "+01:00", "+00:00",
// "Z" and fractional seconds. An unreadable date, or one more than a day
// after fetchedAt, gives the zero time.
func parseUKTime(value string, fetchedAt time.Time) time.Time {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(value))
	if err != nil || implausibleDate(t, fetchedAt) {
		return time.Time{}
	}
	return t.UTC()
}

func firstUKTime(fetchedAt time.Time, values ...string) time.Time {
	for _, v := range values {
		if t := parseUKTime(v, fetchedAt); !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// implausibleDate says a publication date cannot be right: after the fetch
// (with a day's slack for clock skew), or before the feeds existed.
func implausibleDate(t, fetchedAt time.Time) bool {
	if t.Year() < 1990 {
		return true
	}
	return !fetchedAt.IsZero() && t.After(fetchedAt.Add(24*time.Hour))
}

// CollectUKFCDO reads the FCDO index at base + "/api/content/foreign-travel-advice"
// and then every country document, at most four at a time. A country
// document that cannot be fetched or parsed is listed in Failed as
// "<ISO code or slug>: <error>"; the index failing, or every country
// failing, fails the collect.
func CollectUKFCDO(ctx context.Context, g Getter, base string) (Snapshot, error) {
	snap := Snapshot{Source: UKFCDO}
	indexURL := strings.TrimSuffix(base, "/") + "/api/content/foreign-travel-advice"
	index, err := g.Get(ctx, indexURL)
	if err != nil {
		return snap, fmt.Errorf("feed: FCDO index: %w", err)
	}
	refs, err := ParseUKFCDOIndex(index.Body)
	if err != nil {
		return snap, err
	}

	var wanted []UKCountryRef
	seenSlugs := map[string]bool{}
	for _, ref := range refs {
		switch {
		case ref.Slug == "":
			snap.Skipped = append(snap.Skipped, fmt.Sprintf("FCDO index entry %q has no slug", ref.Name))
		case seenSlugs[ref.Slug]:
			snap.Skipped = append(snap.Skipped, fmt.Sprintf("FCDO index lists %q twice", ref.Slug))
		default:
			seenSlugs[ref.Slug] = true
			wanted = append(wanted, ref)
		}
	}

	type outcome struct {
		report Report
		err    error
	}
	outcomes := make([]outcome, len(wanted))
	forEachLimited(ctx, len(wanted), 4, func(i int) {
		doc, err := g.Get(ctx, indexURL+"/"+wanted[i].Slug)
		if err != nil {
			outcomes[i].err = err
			return
		}
		outcomes[i].report, outcomes[i].err = ParseUKFCDOCountry(doc.Body, doc.FetchedAt)
	})
	if err := ctx.Err(); err != nil {
		return snap, err
	}

	byCode := map[string]string{} // ISO code → the slug that reported it
	for i, o := range outcomes {
		ref := wanted[i]
		switch {
		case errors.Is(o.err, ErrUnknownCountry):
			snap.Skipped = append(snap.Skipped, fmt.Sprintf("FCDO %s: not a country Meridian knows", ref.Slug))
		case o.err != nil:
			snap.Failed = append(snap.Failed, fmt.Sprintf("%s: %v", ukFailureKey(ref), o.err))
		case byCode[o.report.CountryCode] != "":
			snap.Skipped = append(snap.Skipped, fmt.Sprintf("FCDO %s: %s already reported by %s", ref.Slug, o.report.CountryCode, byCode[o.report.CountryCode]))
		default:
			byCode[o.report.CountryCode] = ref.Slug
			snap.Reports = append(snap.Reports, o.report)
		}
	}
	if len(snap.Reports) == 0 && len(snap.Failed) > 0 {
		return snap, fmt.Errorf("feed: FCDO: every country document failed (%d), first: %s", len(snap.Failed), snap.Failed[0])
	}
	return snap, nil
}

// ukFailureKey names a failed country by ISO code when its index entry
// maps onto one, so the store can keep that country's last good report.
func ukFailureKey(ref UKCountryRef) string {
	if c, ok := lookupUKCountry(ref.Name, ref.Synonyms, ref.Slug); ok {
		return c.Code
	}
	return ref.Slug
}

// forEachLimited calls do(0…n-1) with at most limit calls running at once,
// and returns when all have finished. Once ctx is done no new call starts.
func forEachLimited(ctx context.Context, n, limit int, do func(i int)) {
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			do(i)
		}()
	}
	wg.Wait()
}

// ---- Areas in advisory HTML (shared with the Canadian parser) ----

// adviceBlockKind is what a piece of flattened HTML is.
type adviceBlockKind int

const (
	adviceHeading adviceBlockKind = iota
	adviceParagraph
	adviceList
)

// adviceBlock is one heading, paragraph or list of an advisory's HTML, in
// document order: advice is written as a lead-in paragraph followed by a
// list (or paragraphs) of places, under headings that say where.
type adviceBlock struct {
	kind  adviceBlockKind
	text  string           // headings and paragraphs
	items []adviceListItem // lists
}

// adviceListItem is one entry of a list: its own words, and those words with any
// nested list ("excluding: …") folded in.
type adviceListItem struct {
	label string
	full  string
}

// parseHTMLBlocks flattens an HTML fragment into headings, paragraphs and
// lists. The HTML5 parser repairs what the feeds get wrong (a <div> inside
// a <p>, a <ul> straight inside a <ul>) the way browsers do.
func parseHTMLBlocks(fragment string) []adviceBlock {
	container := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(fragment), container)
	if err != nil {
		return nil
	}
	var blocks []adviceBlock
	var inline strings.Builder
	flush := func() {
		if text := oneLine(inline.String()); text != "" {
			blocks = append(blocks, adviceBlock{kind: adviceParagraph, text: text})
		}
		inline.Reset()
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			inline.WriteString(n.Data)
			return
		case n.Type != html.ElementNode:
			return
		}
		switch n.DataAtom {
		case atom.Script, atom.Style, atom.Template:
		case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
			flush()
			if text := htmlNodeText(n); text != "" {
				blocks = append(blocks, adviceBlock{kind: adviceHeading, text: text})
			}
		case atom.P:
			flush()
			inline.WriteString(htmlNodeText(n))
			flush()
		case atom.Ul, atom.Ol:
			flush()
			if items := adviceListItems(n); len(items) > 0 {
				blocks = append(blocks, adviceBlock{kind: adviceList, items: items})
			}
		case atom.A, atom.Abbr, atom.Span, atom.Strong, atom.B, atom.Em, atom.I, atom.U, atom.Small, atom.Sup, atom.Sub, atom.Time, atom.Acronym:
			inline.WriteString(htmlNodeText(n))
		case atom.Br:
			inline.WriteByte(' ')
		default:
			flush()
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
			flush()
		}
	}
	for _, n := range nodes {
		walk(n)
	}
	flush()
	return blocks
}

// adviceListItems reads a list's entries. A list placed straight inside a list,
// after an entry (invalid HTML, but Canada's Mexico advisory does it),
// belongs to that entry, as a browser shows it.
func adviceListItems(list *html.Node) []adviceListItem {
	var items []adviceListItem
	for c := list.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode {
			continue
		}
		switch c.DataAtom {
		case atom.Li:
			label := oneLine(textExcludingLists(c))
			var nested []string
			for gc := c.FirstChild; gc != nil; gc = gc.NextSibling {
				if gc.Type == html.ElementNode && (gc.DataAtom == atom.Ul || gc.DataAtom == atom.Ol) {
					nested = append(nested, nestedAdviceList(gc))
				}
			}
			if label == "" && len(nested) == 0 {
				continue
			}
			items = append(items, adviceListItem{label: label, full: joinNestedText(label, nested...)})
		case atom.Ul, atom.Ol:
			if len(items) == 0 {
				items = append(items, adviceListItems(c)...)
				continue
			}
			last := &items[len(items)-1]
			last.full = joinNestedText(last.full, nestedAdviceList(c))
		}
	}
	return items
}

// nestedAdviceList is a nested list as one line: "a; b; c: d".
func nestedAdviceList(list *html.Node) string {
	var parts []string
	for _, item := range adviceListItems(list) {
		parts = append(parts, item.full)
	}
	return strings.Join(parts, "; ")
}

func joinNestedText(head string, nested ...string) string {
	out := head
	for _, n := range nested {
		if n == "" {
			continue
		}
		switch {
		case out == "":
			out = n
		case strings.HasSuffix(out, ":"):
			out += " " + n
		default:
			out += ": " + n
		}
	}
	return out
}

// htmlNodeText is the readable text under n, whitespace collapsed.
func htmlNodeText(n *html.Node) string {
	var b strings.Builder
	appendNodeText(&b, n, false)
	return oneLine(b.String())
}

func textExcludingLists(n *html.Node) string {
	var b strings.Builder
	appendNodeText(&b, n, true)
	return b.String()
}

func appendNodeText(b *strings.Builder, n *html.Node, skipLists bool) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		switch c.Type {
		case html.TextNode:
			b.WriteString(c.Data)
		case html.ElementNode:
			switch c.DataAtom {
			case atom.Script, atom.Style:
				continue
			case atom.Br:
				b.WriteByte(' ')
				continue
			case atom.Ul, atom.Ol:
				if skipLists {
					continue
				}
			}
			switch c.DataAtom {
			case atom.P, atom.Div, atom.Li, atom.Ul, atom.Ol, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
				b.WriteByte(' ')
				appendNodeText(b, c, skipLists)
				b.WriteByte(' ')
			default:
				appendNodeText(b, c, skipLists)
			}
		}
	}
}

// adviceMatcher recognises a lead-in ("FCDO advises against all travel
// to:") and says the level it sets and the words after "to".
type adviceMatcher func(text string) (level Level, rest string, ok bool)

var fcdoAdvice = regexp.MustCompile(`(?i)\badvises?\s+against\s+all\s+(but\s+essential\s+)?travel\s+to\b`)

// matchFCDOAdvice reads the FCDO's wording, today's ("FCDO advises
// against all travel to:") and the pre-2020 FCO's ("The FCO advise
// against all but essential travel to").
func matchFCDOAdvice(text string) (Level, string, bool) {
	loc := fcdoAdvice.FindStringSubmatchIndex(text)
	if loc == nil {
		return 0, "", false
	}
	level := DoNotTravel
	if loc[2] >= 0 {
		level = Reconsider
	}
	return level, strings.TrimSpace(text[loc[1]:]), true
}

// extractAreas finds the places named after each lead-in: the entries of
// the list that follows it, or, when no list follows, the short paragraphs
// that do (up to the next heading, list, lead-in or sentence of prose);
// or the place named in the lead-in itself ("… all travel to North Sinai.").
func extractAreas(blocks []adviceBlock, match adviceMatcher) []Area {
	var areas []Area
	heading := ""
	for i := 0; i < len(blocks); i++ {
		b := blocks[i]
		if b.kind == adviceHeading {
			heading = b.text
			continue
		}
		if b.kind != adviceParagraph {
			continue
		}
		level, rest, ok := match(b.text)
		if !ok {
			continue
		}
		lead := areaContext(heading, b.text)
		if rest == "" || strings.HasSuffix(rest, ":") {
			if i+1 < len(blocks) && blocks[i+1].kind == adviceList {
				for _, item := range blocks[i+1].items {
					areas = appendArea(areas, item.label, level, lead+" "+item.full)
				}
				i++
				continue
			}
			for i+1 < len(blocks) && blocks[i+1].kind == adviceParagraph && isPlaceLine(blocks[i+1].text, match) {
				i++
				areas = appendArea(areas, blocks[i].text, level, lead+" "+blocks[i].text)
			}
			continue
		}
		if place := inlinePlace(rest); place != "" {
			areas = appendArea(areas, place, level, lead)
		}
	}
	return areas
}

// areaContext is the text an area carries: the heading it sits under and
// the lead-in that named it.
func areaContext(heading, leadIn string) string {
	if heading == "" || strings.HasPrefix(strings.ToLower(heading), "areas where") {
		return leadIn
	}
	return heading + ". " + leadIn
}

// isPlaceLine says a paragraph after a lead-in is a place rather than
// prose: places are short and do not end a sentence.
func isPlaceLine(text string, match adviceMatcher) bool {
	if _, _, ok := match(text); ok {
		return false
	}
	if strings.HasSuffix(text, ".") || strings.HasSuffix(text, ":") {
		return false
	}
	return utf8.RuneCountInString(text) <= 200
}

// inlinePlace is the place in a one-sentence advice, "North Sinai" in
// "… all travel to North Sinai due to the threat …". Lists announced in
// the sentence itself ("to the following …") give none.
func inlinePlace(rest string) string {
	lower := strings.ToLower(rest)
	if strings.HasPrefix(lower, "the following") {
		return ""
	}
	end := len(rest)
	for _, stop := range []string{" due to ", " because ", ". ", "; "} {
		if i := strings.Index(lower, stop); i >= 0 && i < end {
			end = i
		}
	}
	return strings.TrimRight(strings.TrimSpace(rest[:end]), ".,;: ")
}

// areaQualifiers start the part of a place's entry that qualifies it
// ("Chiapas, excluding: …", "Garissa County - except for Garissa Town"):
// the area is named without it; its text keeps the whole entry.
var areaQualifiers = []string{", excluding", " excluding", ", except", " - except", " – except", ", with the exception", ", within", ", in all areas", ", only"}

func appendArea(areas []Area, entry string, level Level, text string) []Area {
	name := strings.TrimSpace(strings.TrimRight(oneLine(entry), ":;,."))
	lower := strings.ToLower(name)
	for _, q := range areaQualifiers {
		if i := strings.Index(lower, q); i > 0 {
			name, lower = strings.TrimSpace(name[:i]), lower[:i]
		}
	}
	if name == "" {
		return areas
	}
	return append(areas, Area{Name: name, Level: level, Text: truncateWords(oneLine(text), adviceSummaryRunes)})
}

// mergeAreas drops repeats (FCDO lists the same places in the warnings and
// in the regional risks): one area per name, at the highest level given.
func mergeAreas(areas []Area) []Area {
	var out []Area
	at := map[string]int{}
	for _, a := range areas {
		key := strings.ToLower(a.Name)
		if i, ok := at[key]; ok {
			if a.Level > out[i].Level {
				out[i] = a
			}
			continue
		}
		at[key] = len(out)
		out = append(out, a)
	}
	return out
}

// withoutNotes removes GOV.UK's boxed notes (the travel-insurance warning
// every country starts with) so a summary begins with the advice itself.
func withoutNotes(fragment string) string {
	container := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(fragment), container)
	if err != nil {
		return fragment
	}
	var b strings.Builder
	for _, n := range nodes {
		removeNotes(n)
		if n.Type == html.ElementNode && n.Data == "div" && htmlAttr(n, "role") == "note" {
			continue
		}
		if err := html.Render(&b, n); err != nil {
			return fragment
		}
	}
	return b.String()
}

func removeNotes(n *html.Node) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type == html.ElementNode && c.DataAtom == atom.Div && htmlAttr(c, "role") == "note" {
			n.RemoveChild(c)
		} else {
			removeNotes(c)
		}
		c = next
	}
}

func htmlAttr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// oneLine trims s and turns every run of white space (non-breaking
// spaces included) into one space.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

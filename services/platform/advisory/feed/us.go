package feed

import (
	"context"
	"encoding/xml"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"meridian.dev/platform/country"
)

// usSummaryRunes bounds a report's summary: enough for the advisory's
// opening paragraphs, short enough for a list view and a notification.
const usSummaryRunes = 600

// earliestPublished is the first plausible advisory date: the feeds carry
// placeholder dates (the US item for Oman says 1970), which read as "no
// date" rather than as a fifty-year-old advisory.
var earliestPublished = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)

type usRSS struct {
	XMLName xml.Name `xml:"rss"`
	Channel struct {
		Items []usItem `xml:"item"`
	} `xml:"channel"`
}

type usItem struct {
	Title       string       `xml:"title"`
	Link        string       `xml:"link"`
	PubDate     string       `xml:"pubDate"`
	Description string       `xml:"description"`
	Categories  []usCategory `xml:"category"`
}

type usCategory struct {
	Domain string `xml:"domain,attr"`
	Value  string `xml:",chardata"`
}

func (it usItem) category(domain string) string {
	for _, c := range it.Categories {
		if strings.EqualFold(c.Domain, domain) {
			return strings.TrimSpace(c.Value)
		}
	}
	return ""
}

// CollectUSState fetches the State Department's advisory RSS feed once and
// parses it.
func CollectUSState(ctx context.Context, g Getter, url string) (Snapshot, error) {
	doc, err := g.Get(ctx, url)
	if err != nil {
		return Snapshot{Source: USState}, fmt.Errorf("us state: %w", err)
	}
	return ParseUSState(doc.Body, doc.FetchedAt)
}

// ParseUSState reads the State Department's TAsTWs.xml RSS document: one
// item per advisory. The country comes from the Country-Tag category (State
// Department codes, see country.FromStateDept), else from the title; the
// level from the Threat-Level category, else the title; indicators from the
// prose. Items that cannot be mapped, and the lower of two items for one
// country, are listed in Skipped. fetchedAt is not part of a report: the
// store records it; the parameter keeps every parser's signature alike.
func ParseUSState(body []byte, fetchedAt time.Time) (Snapshot, error) {
	_ = fetchedAt
	snap := Snapshot{Source: USState}
	var doc usRSS
	// encoding/xml is strict: an HTML error page, a truncated document or
	// another root element all fail here.
	if err := xml.Unmarshal(body, &doc); err != nil {
		return snap, fmt.Errorf("%w: us state rss: %v", ErrMalformed, err)
	}
	if len(doc.Channel.Items) == 0 {
		return snap, fmt.Errorf("%w: us state rss: no items", ErrMalformed)
	}
	index := map[string]int{} // country code → position in snap.Reports
	for _, it := range doc.Channel.Items {
		reports, reason := usReports(it)
		if reason != "" {
			snap.Skipped = append(snap.Skipped, reason)
			continue
		}
		for _, r := range reports {
			at, seen := index[r.CountryCode]
			if !seen {
				index[r.CountryCode] = len(snap.Reports)
				snap.Reports = append(snap.Reports, r)
				continue
			}
			kept := snap.Reports[at]
			if r.Level > kept.Level {
				snap.Reports[at] = r
				r, kept = kept, r
			}
			snap.Skipped = append(snap.Skipped, fmt.Sprintf("%q: %s already reported by %q (level %d kept)",
				r.Title, r.CountryCode, kept.Title, kept.Level))
		}
	}
	return snap, nil
}

var (
	titleLevel = regexp.MustCompile(`(?i)\bLevel\s*([1-4])\s*:\s*([^-–]*)`)
	labelLevel = regexp.MustCompile(`(?i)^\s*Level\s*([1-4])\b`)
)

// usReports maps one item to its reports (several for a tag covering
// several countries), or gives the reason it cannot.
func usReports(it usItem) ([]Report, string) {
	title := plainText(it.Title)
	if title == "" {
		return nil, "an item without a title"
	}
	level, label := usLevel(it, title)
	if level == 0 {
		return nil, fmt.Sprintf("%q: no advisory level", title)
	}
	name := usTitleCountry(title)
	tag := strings.ToUpper(it.category("Country-Tag"))
	var countries []country.Country
	if tag != "" {
		countries = country.StateDeptGroup(tag)
		if len(countries) == 0 {
			if c, ok := country.FromStateDept(tag, name); ok {
				countries = []country.Country{c}
			}
		}
	} else if c, ok := country.Lookup(name); ok {
		// Hong Kong and Macau carried no tag in 2025.
		countries = []country.Country{c}
	}
	if len(countries) == 0 {
		return nil, fmt.Sprintf("%q: unknown country (tag %q)", title, tag)
	}
	description := joinLeadingWords(it.Description)
	text := plainText(description)
	base := Report{
		Source:      USState,
		Level:       level,
		SourceLabel: label,
		Title:       title,
		Summary:     truncateWords(strings.ReplaceAll(text, "\n", " "), usSummaryRunes),
		Indicators:  usIndicators(text),
		PublishedAt: usPublished(it.PubDate),
		URL:         strings.TrimSpace(it.Link),
	}
	out := make([]Report, len(countries))
	for i, c := range countries {
		out[i] = base
		out[i].CountryCode = c.Code
		out[i].Indicators = slices.Clone(base.Indicators)
	}
	return out, ""
}

// usLevel reads the Threat-Level category ("Level 2: Exercise Increased
// Caution"), else the title.
func usLevel(it usItem, title string) (Level, string) {
	if label := plainText(it.category("Threat-Level")); label != "" {
		if m := labelLevel.FindStringSubmatch(label); m != nil {
			n, _ := strconv.Atoi(m[1])
			return Level(n), label
		}
	}
	if m := titleLevel.FindStringSubmatch(title); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Level(n), strings.TrimSpace(fmt.Sprintf("Level %d: %s", n, strings.TrimSpace(m[2])))
	}
	return 0, ""
}

// usTitleCountry is the place a title names: what comes before " - Level"
// or " - See Summaries", without a "Travel Advisory" suffix.
func usTitleCountry(title string) string {
	name := title
	if i := titleLevel.FindStringIndex(name); i != nil {
		name = name[:i[0]]
	}
	for {
		trimmed := strings.TrimSpace(name)
		trimmed = strings.TrimRight(trimmed, "-–— ")
		trimmed = strings.TrimSpace(strings.TrimSuffix(trimmed, "See Summaries"))
		trimmed = strings.TrimRight(trimmed, "-–— ")
		if trimmed == name {
			break
		}
		name = trimmed
	}
	if i := strings.Index(strings.ToLower(name), " travel advisory"); i > 0 {
		name = name[:i]
	}
	return strings.TrimSpace(name)
}

// joinLeadingWords handles descriptions that open with bare words before
// the first paragraph ("Reconsider travel<p>to <b>Saudi Arabia</b> …"):
// the words begin the paragraph's sentence, so that first <p> is read as
// a space rather than a line break.
func joinLeadingWords(description string) string {
	trimmed := strings.TrimLeft(description, " \t\r\n")
	lt := strings.IndexByte(trimmed, '<')
	if lt <= 0 {
		return description
	}
	rest := trimmed[lt:]
	if len(rest) >= 3 && strings.EqualFold(rest[:3], "<p>") {
		return trimmed[:lt] + " " + rest[3:]
	}
	return description
}

// usPublished reads an item's pubDate, "Tue, 14 Oct 2025" with no time or
// zone (UTC midnight), or a full RFC 1123 date; implausible dates are zero.
func usPublished(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"Mon, 02 Jan 2006", "Mon, 2 Jan 2006", time.RFC1123, time.RFC1123Z, "02 Jan 2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Before(earliestPublished) {
				return time.Time{}
			}
			return t.UTC()
		}
	}
	return time.Time{}
}

// The State Department's risk indicators are not structured in the feed;
// they are named in the prose. indicatorWords finds them in a clause.
var indicatorWords = []struct {
	code string
	re   *regexp.Regexp
}{
	{"C", regexp.MustCompile(`\bcrim(e|es|inal)\b`)},
	{"T", regexp.MustCompile(`\bterroris[mt]s?\b`)},
	{"U", regexp.MustCompile(`\bunrest\b|\bdemonstrations?\b|\bprotests?\b`)},
	{"H", regexp.MustCompile(`\bhealth\b|\bdisease|\boutbreaks?\b|\bepidemic`)},
	{"N", regexp.MustCompile(`\bnatural disasters?\b|\bearthquakes?\b|\bhurricanes?\b|\btyphoons?\b|\bvolcan`)},
	{"E", regexp.MustCompile(`\btime[- ]limited events?\b`)},
	{"K", regexp.MustCompile(`\bkidnap|\bhostage`)},
	{"D", regexp.MustCompile(`\bwrongful(ly)? detain|\bwrongful detentions?\b`)},
	{"O", regexp.MustCompile(`\barmed conflict\b|\bland ?mines?\b|\bunexploded ordnance\b|\barbitrary enforcement\b|` +
		`\bexit bans?\b|\bmissiles?\b|\bdrone\b|\bhostilities\b|\bfighting\b|\benvironmental hazards?\b|` +
		`\blimited emergency services\b|\bcommunal violence\b`)},
}

var (
	sentenceEnd = regexp.MustCompile(`[.!?]+(\s|$)|\n`)
	// The letter form of an indicator in a change note: "the “E” (time-
	// limited event) indicator", "the Natural Disaster (N) indicator".
	indicatorLetter  = regexp.MustCompile(`[(“"'‘]([ctuhnekdo])[)”"'’]`)
	removedIndicator = regexp.MustCompile(`remov\w*[^.]*?indicators?`)
	reasonClause     = regexp.MustCompile(`\b(due to|because of)\b`)
	officialFinding  = regexp.MustCompile(`department has determined`)
	otherIndicator   = regexp.MustCompile(`\bother\b`)
	// abbreviations would end a sentence early ("the U.S. citizens … and
	// terrorism" is one sentence).
	abbreviations = strings.NewReplacer("u.s.", "us", "u.k.", "uk", "e.g.", "eg", "i.e.", "ie", "mt.", "mt", "st.", "st", "no.", "no")
)

// usIndicators infers the risk indicators (C T U H N E K D O, sorted) from
// an advisory's text. Only the reasons an advisory gives count: the clauses
// after "due to"/"because of" and the Department's "has determined there is
// a risk of …" finding, plus change notes that add an indicator. A note
// that removes one ("removal of the Natural Disaster (N) indicator")
// removes it even when the reasons still mention the word. Sentences
// elsewhere (a list of what terrorists may target, a link to the terrorism
// reports) do not count.
func usIndicators(text string) []string {
	present, removed := map[string]bool{}, map[string]bool{}
	for _, sentence := range sentenceEnd.Split(abbreviations.Replace(strings.ToLower(text)), -1) {
		if strings.Contains(sentence, "indicator") {
			if strings.Contains(sentence, "no change") {
				continue
			}
			for _, span := range removedIndicator.FindAllString(sentence, -1) {
				for _, code := range indicatorCodes(span, true) {
					removed[code] = true
				}
			}
			rest := removedIndicator.ReplaceAllString(sentence, " ")
			if strings.Contains(rest, "indicator") {
				for _, code := range indicatorCodes(rest, true) {
					present[code] = true
				}
			}
			continue
		}
		if officialFinding.MatchString(sentence) {
			for _, code := range indicatorCodes(sentence, false) {
				present[code] = true
			}
		}
		if loc := reasonClause.FindStringIndex(sentence); loc != nil {
			for _, code := range indicatorCodes(sentence[loc[1]:], false) {
				present[code] = true
			}
		}
	}
	var out []string
	for code := range present {
		if !removed[code] {
			out = append(out, code)
		}
	}
	slices.Sort(out)
	return out
}

// indicatorCodes lists the indicators a clause names, by word or letter.
// Only in a change note ("The Other risk indicator was added") does the
// word "other" name the O indicator; in a reason it is just a word.
func indicatorCodes(clause string, changeNote bool) []string {
	var codes []string
	if changeNote && otherIndicator.MatchString(clause) {
		codes = append(codes, "O")
	}
	for _, w := range indicatorWords {
		if w.re.MatchString(clause) {
			codes = append(codes, w.code)
		}
	}
	for _, m := range indicatorLetter.FindAllStringSubmatch(clause, -1) {
		codes = append(codes, strings.ToUpper(m[1]))
	}
	return codes
}

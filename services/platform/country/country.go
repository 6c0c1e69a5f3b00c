// Package country is Meridian's table of countries: ISO 3166-1 alpha-2
// codes, common English names, the region each belongs to, and the name and
// code translations the official travel-advisory feeds need (their names
// and aliases, and the US State Department's own country tags).
//
// Regions are Meridian's three: AMER (North, Central and South America and
// the Caribbean), EMEA (Europe, the Middle East and Africa) and APAC (Asia
// and Oceania). The split follows the UN M49 geoscheme, with these choices:
//
//   - Western Asia (Türkiye, the Caucasus, the Arabian Peninsula, the Levant)
//     is the Middle East, so EMEA; Iran too, although M49 lists it under
//     Southern Asia.
//   - Central Asia (Kazakhstan, Kyrgyzstan, Tajikistan, Turkmenistan,
//     Uzbekistan) is EMEA: these OSCE states are usually covered with Russia
//     and the Caucasus, by the same desks and on nearer time zones.
//   - South Asia (Afghanistan, Bangladesh, Bhutan, India, the Maldives,
//     Nepal, Pakistan, Sri Lanka) is APAC.
//   - Remote territories take their M49 region (Bouvet Island and South
//     Georgia AMER; the British Indian Ocean Territory and the French
//     Southern Territories EMEA); Antarctica, which M49 leaves out, is APAC,
//     where its gateways and most of its stations' operators are.
package country

import (
	"html"
	"sort"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Country is one ISO 3166-1 country or territory.
type Country struct {
	Code   string // ISO 3166-1 alpha-2, upper case
	Name   string // common English name
	Region string // AMER, EMEA or APAC
}

// Meridian's regions.
const (
	AMER = "AMER"
	EMEA = "EMEA"
	APAC = "APAC"
)

var (
	byCode = make(map[string]Country, len(countries))
	byKey  = make(map[string]string, 3*len(countries))
)

func init() {
	for _, c := range countries {
		byCode[c.Code] = c
		byKey[nameKey(c.Name)] = c.Code
	}
	for code, names := range aliases {
		for _, name := range names {
			byKey[nameKey(name)] = code
		}
	}
}

// Get returns the country with an upper-case ISO 3166-1 alpha-2 code (XK
// for Kosovo included).
func Get(code string) (Country, bool) {
	c, ok := byCode[code]
	return c, ok
}

// All returns every country, sorted by code.
func All() []Country {
	out := make([]Country, len(countries))
	copy(out, countries)
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// Lookup finds a country by its English name, an official name or an alias
// the feeds use ("Burma (Myanmar)", "Korea, South", "Côte d&#039;Ivoire",
// "Mainland China"). It ignores case, accents, HTML entities, punctuation
// and the word "the", and tolerates a trailing "travel advice"/"travel
// advisory", a qualifier in parentheses and a list after a comma, trying in
// turn: the whole name, the name without the parenthesis, what is inside
// the parenthesis, "X, Y" read as "Y X", and the part before the first comma.
func Lookup(name string) (Country, bool) {
	for _, candidate := range candidates(name) {
		if code, ok := byKey[nameKey(candidate)]; ok {
			return byCode[code], true
		}
	}
	return Country{}, false
}

// candidates are the readings of a feed's name, most literal first.
func candidates(name string) []string {
	name = unescape(name)
	name = trimSuffixFold(strings.TrimSpace(name), "travel advice", "travel advisory", "travel advisories")
	out := []string{name}
	bare := name
	if open := strings.IndexByte(name, '('); open >= 0 {
		inner := name[open+1:]
		if end := strings.IndexByte(inner, ')'); end >= 0 {
			bare = strings.TrimSpace(name[:open] + " " + inner[end+1:])
			inner = inner[:end]
		}
		out = append(out, bare, inner)
	}
	if head, tail, ok := strings.Cut(bare, ","); ok {
		out = append(out, tail+" "+head, head)
	}
	return out
}

// unescape decodes HTML entities, twice at most: feeds sometimes escape an
// entity again ("&amp;#039;").
func unescape(s string) string {
	for range 2 {
		if !strings.ContainsRune(s, '&') {
			break
		}
		s = html.UnescapeString(s)
	}
	return s
}

func trimSuffixFold(s string, suffixes ...string) string {
	for _, suffix := range suffixes {
		if len(s) > len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
			return strings.TrimSpace(s[:len(s)-len(suffix)])
		}
	}
	return s
}

// foldSpecial are letters Unicode decomposition leaves whole.
var foldSpecial = map[rune]string{
	'ø': "o", 'Ø': "o", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe",
	'ß': "ss", 'ł': "l", 'Ł': "l", 'đ': "d", 'Đ': "d", 'ı': "i",
}

// nameKey reduces a name to what identifies it: lower-case ASCII letters
// and digits only, without accents, "&" read as "and", "St" as "Saint",
// and every "the" dropped (so "The Gambia", "Gambia, The" and "Gambia"
// agree, as do "Democratic Republic of the Congo" and "… of Congo").
func nameKey(name string) string {
	var folded strings.Builder
	for _, r := range norm.NFD.String(name) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case foldSpecial[r] != "":
			folded.WriteString(foldSpecial[r])
		case r == '&':
			folded.WriteString(" and ")
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			folded.WriteRune(unicode.ToLower(r))
		default:
			folded.WriteByte(' ')
		}
	}
	var key strings.Builder
	for _, word := range strings.Fields(folded.String()) {
		switch word {
		case "the":
			continue
		case "st":
			word = "saint"
		}
		key.WriteString(word)
	}
	return key.String()
}

package feed

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// blockElements end a line of text: paragraphs, headings, list items,
// table rows and the like. Everything else (b, i, a, span, abbr…) is
// inline and adds nothing, so "a<b>rbitrary" stays one word.
var blockElements = map[atom.Atom]bool{
	atom.Address: true, atom.Article: true, atom.Aside: true, atom.Blockquote: true,
	atom.Br: true, atom.Dd: true, atom.Details: true, atom.Div: true, atom.Dl: true,
	atom.Dt: true, atom.Figcaption: true, atom.Figure: true, atom.Footer: true,
	atom.Form: true, atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true,
	atom.H5: true, atom.H6: true, atom.Header: true, atom.Hr: true, atom.Li: true,
	atom.Main: true, atom.Nav: true, atom.Ol: true, atom.P: true, atom.Pre: true,
	atom.Section: true, atom.Summary: true, atom.Table: true, atom.Tbody: true,
	atom.Td: true, atom.Tfoot: true, atom.Th: true, atom.Thead: true, atom.Tr: true,
	atom.Ul: true,
}

// hiddenElements hold text no reader sees.
var hiddenElements = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Template: true, atom.Noscript: true,
	atom.Head: true, atom.Title: true,
}

// plainText turns an HTML fragment into readable plain text: entities
// decoded, each block element on its own line, non-breaking and other
// Unicode spaces read as spaces, runs of whitespace collapsed, every line
// trimmed and empty lines dropped. Text that is not HTML passes through
// with only its whitespace tidied. It never panics: the tokenizer accepts
// anything, and invalid UTF-8 is replaced first.
func plainText(fragment string) string {
	fragment = strings.ToValidUTF8(fragment, "\uFFFD")
	var raw strings.Builder
	raw.Grow(len(fragment))
	z := html.NewTokenizer(strings.NewReader(fragment))
	hidden := 0
	for {
		tokenType := z.Next()
		switch tokenType {
		case html.ErrorToken:
			return tidyLines(raw.String())
		case html.TextToken:
			if hidden == 0 {
				raw.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if hiddenElements[a] && tokenType == html.StartTagToken {
				hidden++
			}
			if blockElements[a] {
				raw.WriteByte('\n')
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if hiddenElements[a] && hidden > 0 {
				hidden--
			}
			if blockElements[a] {
				raw.WriteByte('\n')
			}
		}
	}
}

// tidyLines collapses horizontal whitespace (any Unicode space, U+00A0 and
// U+202F included) to single spaces, trims each line and drops empty ones.
func tidyLines(s string) string {
	var out strings.Builder
	out.Grow(len(s))
	for line := range strings.SplitSeq(s, "\n") {
		words := strings.FieldsFunc(line, isSpace)
		if len(words) == 0 {
			continue
		}
		if out.Len() > 0 {
			out.WriteByte('\n')
		}
		out.WriteString(strings.Join(words, " "))
	}
	return out.String()
}

// isSpace is unicode.IsSpace plus the zero-width characters that editors
// leave between words.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200b' || r == '\u2060' || r == '\ufeff'
}

// truncateWords shortens s to at most limit runes, cutting at the last
// word boundary and marking the cut with an ellipsis.
func truncateWords(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	runes := []rune(s)
	cut := limit - 1 // leave room for the ellipsis
	end := cut
	// runes[end] is the first rune dropped: a space or punctuation there
	// means the word before it is whole.
	for end > cut/2 && !unicode.IsSpace(runes[end]) && !unicode.IsPunct(runes[end]) {
		end--
	}
	if end <= cut/2 { // one very long word: cut inside it
		end = cut
	}
	return strings.TrimRightFunc(string(runes[:end]), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) && r != ')' && r != '"'
	}) + "…"
}

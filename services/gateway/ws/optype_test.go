package ws

import "testing"

func TestOperationType(t *testing.T) {
	cases := []struct{ doc, name, want string }{
		{`{ me { name } }`, "", "query"},
		{`subscription { siteStatusChanged { cursor } }`, "", "subscription"},
		{`subscription Board($r: String) { siteStatusChanged(region: $r) { cursor } }`, "", "subscription"},
		{"# a comment with mutation {\nsubscription S { x }", "", "subscription"},
		{`mutation M { updateSiteStatus(input: {note: "subscription { }"}) { site { id } } }`, "", "mutation"},
		{`query A { me { name } } mutation B { x }`, "B", "mutation"},
		{`query A { me { name } } mutation B { x }`, "", ""},
		{`fragment F on Site { id } subscription S { siteStatusChanged { site { ...F } } }`, "", "subscription"},
		{`query Q { a } `, "Nope", ""},
		{`"""doc { mutation""" subscription { x }`, "", "subscription"},
	}
	for _, c := range cases {
		if got := operationType(c.doc, c.name); got != c.want {
			t.Errorf("operationType(%q, %q) = %q, want %q", c.doc, c.name, got, c.want)
		}
	}
}

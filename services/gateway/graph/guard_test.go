package graph

import (
	"fmt"
	"strings"
	"testing"
	"time"

	gqlerrors "github.com/graph-gophers/graphql-go/errors"
)

func newTestGuard(t *testing.T) *guard {
	t.Helper()
	s, err := NewSchema(Deps{}, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return s.guard
}

func codeOf(e *gqlerrors.QueryError) string {
	c, _ := e.Extensions["code"].(string)
	return c
}

// introspectionShape is as deep as graphql-js's getIntrospectionQuery():
// TypeRef nests ofType seven times under __schema { types { fields { type.
const introspectionShape = `query IntrospectionQuery { __schema { queryType { name } types { ...FullType } } }
fragment FullType on __Type { kind name fields(includeDeprecated: true) { name args { ...InputValue } type { ...TypeRef } } }
fragment InputValue on __InputValue { name type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }`

func TestGuardLeavesIntrospectionOutOfTheDepth(t *testing.T) {
	g := newTestGuard(t)
	if errs := g.check(introspectionShape, "", nil); len(errs) > 0 {
		t.Fatalf("introspection refused: %v", errs)
	}
	// A real query that deep is still refused, in graphql-go's words.
	deep := "{ me " + strings.Repeat("{ a ", 13) + strings.Repeat("} ", 13) + "}"
	errs := g.check(deep, "", nil)
	if len(errs) != 1 || codeOf(errs[0]) != "BAD_USER_INPUT" || !strings.Contains(errs[0].Message, "has depth 13 that exceeds max depth 12") {
		t.Fatalf("a 14-deep query: %v", errs)
	}
	// A real query through introspection fields' siblings counts as usual.
	if errs := g.check(`{ __typename me { subject } }`, "", nil); len(errs) > 0 {
		t.Fatalf("__typename: %v", errs)
	}
}

func TestGuardCountsCostAndAliases(t *testing.T) {
	g := newTestGuard(t)
	board := `{ sites(first: 500) { edges { cursor node { id code name city region { code } status { level posture version } } } pageInfo { hasNextPage endCursor } } }`
	if errs := g.check(board, "", nil); len(errs) > 0 {
		t.Fatalf("the board's own query refused: %v", errs)
	}
	escalations := `{ escalations(first: 50) { edges { node { id status tier site { code status { level } } region { code }
		timeline { at kind actor note tier recipient channel attempt } } } } }`
	if errs := g.check(escalations, "", nil); len(errs) > 0 {
		t.Fatalf("a page of escalations with timelines refused: %v", errs)
	}

	// The attack the issue measured: 700 aliases of the board with 500
	// entries of history each, in 18 KB.
	var b strings.Builder
	b.WriteString("{")
	for i := range 700 {
		fmt.Fprintf(&b, "s%d:sites(first:500){...H}", i)
	}
	b.WriteString("} fragment H on SiteConnection{edges{node{statusHistory(first:500){edges{node{version}}}}}}")
	if b.Len() > DefaultLimits.MaxQueryLength {
		t.Fatalf("the attack is %d bytes, longer than the length limit it must fit in", b.Len())
	}
	errs := g.check(b.String(), "", nil)
	if len(errs) != 1 || codeOf(errs[0]) != "BAD_USER_INPUT" || errs[0].Extensions["aliases"] != 700 {
		t.Fatalf("700 aliases: %v", errs)
	}
	// Without aliases, one such field is already far too costly.
	one := `{ sites(first: 500) { edges { node { statusHistory(first: 500) { edges { node { version } } } } } } }`
	errs = g.check(one, "", nil)
	if len(errs) != 1 || codeOf(errs[0]) != "BAD_USER_INPUT" || errs[0].Extensions["maxCost"] != DefaultLimits.MaxCost {
		t.Fatalf("sites × statusHistory of 500 each: %v", errs)
	}
	if c, _ := errs[0].Extensions["cost"].(int64); c < 250_000 {
		t.Errorf("cost %v, want at least 500 × 500", errs[0].Extensions["cost"])
	}
	// `first` given by a variable counts as given.
	byVar := `query($n: Int) { sites(first: $n) { edges { node { statusHistory(first: $n) { edges { node { version } } } } } } }`
	if errs := g.check(byVar, "", map[string]any{"n": float64(500)}); len(errs) != 1 {
		t.Fatalf("first from a variable: %v", errs)
	}
	if errs := g.check(byVar, "", map[string]any{"n": float64(20)}); len(errs) > 0 {
		t.Fatalf("20 × 20 refused: %v", errs)
	}
	// The schema's default counts when first is absent: 50 sites × 20.
	if errs := g.check(`{ sites { edges { node { statusHistory { edges { node { version note updatedBy } } } } } } }`, "", nil); len(errs) > 0 {
		t.Fatalf("defaults refused: %v", errs)
	}
}

func TestGuardMeasuresFragmentsOnce(t *testing.T) {
	g := newTestGuard(t)
	// Each fragment spreads the next twice: 2^30 fields once expanded.
	var b strings.Builder
	b.WriteString("{ me { ...F0 } }\n")
	for i := range 30 {
		fmt.Fprintf(&b, "fragment F%d on Viewer { subject ...F%d ...F%d }\n", i, i+1, i+1)
	}
	b.WriteString("fragment F30 on Viewer { subject }\n")
	start := time.Now()
	errs := g.check(b.String(), "", nil)
	if len(errs) != 1 || errs[0].Extensions["maxCost"] == nil {
		t.Fatalf("an exponential fragment chain: %v", errs)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("measuring took %s", d) // a bound on the guard's own work, not a speed claim
	}
	// A cycle (which graphql-go refuses) does not hang the guard.
	if errs := g.check("{ me { ...A } } fragment A on Viewer { subject ...B } fragment B on Viewer { ...A }", "", nil); len(errs) != 0 {
		t.Fatalf("a fragment cycle: %v", errs)
	}
}

func TestGuardRefusesTextPostgresCannotStore(t *testing.T) {
	g := newTestGuard(t)
	doc := `mutation($input: AddEscalationNoteInput!) { addEscalationNote(input: $input) { clientMutationId } }`
	for name, note := range map[string]string{"NUL": "fire\x00alarm", "invalid UTF-8": "fire \xff alarm"} {
		errs := g.check(doc, "", map[string]any{"input": map[string]any{"escalationId": "x", "note": note}})
		if len(errs) != 1 || codeOf(errs[0]) != "BAD_USER_INPUT" || errs[0].Extensions["field"] != "note" || !strings.Contains(errs[0].Message, "note") {
			t.Errorf("%s in a variable: %v", name, errs)
		}
	}
	literal := `mutation { addEscalationNote(input: {escalationId: "x", note: "fire\u0000alarm"}) { clientMutationId } }`
	errs := g.check(literal, "", nil)
	if len(errs) != 1 || errs[0].Extensions["field"] != "note" {
		t.Errorf("NUL in a literal: %v", errs)
	}
	if errs := g.check(doc, "", map[string]any{"input": map[string]any{"escalationId": "x", "note": "fire alarm, é ✓"}}); len(errs) > 0 {
		t.Errorf("ordinary text refused: %v", errs)
	}
}

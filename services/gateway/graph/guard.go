package graph

import (
	"errors"
	"fmt"
	"math"
	"sync"

	schemaast "github.com/graph-gophers/graphql-go/ast"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"meridian.dev/platform/fault"
)

// Limits protect the server from expensive documents.
type Limits struct {
	// MaxDepth bounds how deeply fields nest. Introspection (__schema,
	// __type) does not count: the standard introspection query every
	// GraphQL tool sends is 13 levels deep, and its size is bounded by the
	// schema, not by the data.
	MaxDepth int
	// MaxQueryLength bounds the document, in bytes.
	MaxQueryLength int
	// MaxCost bounds how much an operation may make the server do: the
	// number of objects and fields it could resolve, lists counted at the
	// size asked for (`first`, or its default) — see cost.
	MaxCost int
	// MaxAliases bounds how many fields a document renames: aliases are
	// how one request asks for the same expensive field many times.
	MaxAliases int
}

// DefaultLimits fit every document the product's own clients send, with
// room: the board's 500 sites cost about 3,000, a page of 50 escalations
// with their timelines about 10,000.
var DefaultLimits = Limits{MaxDepth: 12, MaxQueryLength: 20_000, MaxCost: 50_000, MaxAliases: 50}

// unboundedListSize is what a list without `first` (a timeline, an
// incident's escalations) counts as: such lists are short in practice, and
// one that is not still cannot multiply unboundedly, since nesting is bound.
const unboundedListSize = 10

// guard measures a document before graphql-go runs it: depth (without
// introspection), cost, aliases, and text the database could not store.
// graphql-go keeps its parser internal, so the document is parsed here with
// gqlparser and measured against graphql-go's own view of the schema; a
// document gqlparser cannot parse is left for graphql-go to refuse with its
// usual message.
type guard struct {
	schema *schemaast.Schema
	limits Limits

	mu   sync.Mutex
	docs map[string]*parsed // by text
}

// parsed is a document with what can be known of it without its variables,
// worked out once however often clients send it.
type parsed struct {
	doc     *ast.QueryDocument
	badText *fault.Error // a string literal Postgres cannot store
	aliases int
}

// maxCachedDocs bounds the parsed-document cache: clients send a handful of
// documents over and over, with new variables.
const maxCachedDocs = 512

func newGuard(s *schemaast.Schema, l Limits) (*guard, error) {
	if s.RootOperationTypes["query"] == nil {
		return nil, fmt.Errorf("guard: the schema has no query type")
	}
	return &guard{schema: s, limits: l, docs: map[string]*parsed{}}, nil
}

func (g *guard) parse(query string) (*parsed, bool) {
	g.mu.Lock()
	p, ok := g.docs[query]
	g.mu.Unlock()
	if ok {
		return p, true
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return nil, false
	}
	p = &parsed{doc: doc, badText: checkDocumentText(doc), aliases: countAliases(doc)}
	g.mu.Lock()
	if len(g.docs) >= maxCachedDocs {
		clear(g.docs)
	}
	g.docs[query] = p
	g.mu.Unlock()
	return p, true
}

// check returns the reasons to refuse the document, or none.
func (g *guard) check(query, operationName string, variables map[string]any) []*gqlerrors.QueryError {
	if g.limits.MaxQueryLength > 0 && len(query) > g.limits.MaxQueryLength {
		return nil // graphql-go refuses it, saying so
	}
	p, ok := g.parse(query)
	if !ok {
		return nil // a syntax error: graphql-go reports it
	}
	doc := p.doc
	if err := checkVariablesText(variables); err != nil {
		return []*gqlerrors.QueryError{refusal(err)}
	}
	if p.badText != nil {
		return []*gqlerrors.QueryError{refusal(p.badText)}
	}
	if n := p.aliases; g.limits.MaxAliases > 0 && n > g.limits.MaxAliases {
		return []*gqlerrors.QueryError{{Message: fmt.Sprintf("the document renames %d fields with aliases; at most %d are allowed", n, g.limits.MaxAliases),
			Extensions: map[string]any{"code": string(fault.BadUserInput), "aliases": n, "maxAliases": g.limits.MaxAliases}}}
	}
	op := pickOperation(doc, operationName)
	if op == nil {
		return nil // graphql-go says which operation is missing
	}
	root := g.schema.RootOperationTypes[string(op.Operation)]
	if root == nil {
		return nil
	}
	w := &walker{schema: g.schema, doc: doc, vars: variables, memo: map[memoKey]measure{}, visiting: map[string]bool{}}
	m := w.selections(op.SelectionSet, root, false)
	if g.limits.MaxDepth > 0 && len(m.deepest) > g.limits.MaxDepth {
		// The same words graphql-go used when it measured depth itself.
		return []*gqlerrors.QueryError{{Message: fmt.Sprintf("Field %q has depth %d that exceeds max depth %d",
			m.deepest[g.limits.MaxDepth], g.limits.MaxDepth+1, g.limits.MaxDepth),
			Extensions: map[string]any{"code": string(fault.BadUserInput)}}}
	}
	if g.limits.MaxCost > 0 && m.cost > int64(g.limits.MaxCost) {
		return []*gqlerrors.QueryError{{Message: fmt.Sprintf("the operation could resolve about %s fields, more than the %d allowed; ask for fewer items (first) or fewer fields",
			costText(m.cost), g.limits.MaxCost),
			Extensions: map[string]any{"code": string(fault.BadUserInput), "cost": m.cost, "maxCost": g.limits.MaxCost}}}
	}
	return nil
}

func costText(c int64) string {
	if c >= saturated {
		return "more than a trillion"
	}
	return fmt.Sprint(c)
}

func refusal(err *fault.Error) *gqlerrors.QueryError {
	return &gqlerrors.QueryError{Message: err.Message, Extensions: map[string]any{"code": string(err.Code), "field": err.Field}}
}

func pickOperation(doc *ast.QueryDocument, name string) *ast.OperationDefinition {
	if name == "" {
		if len(doc.Operations) == 1 {
			return doc.Operations[0]
		}
		return nil
	}
	return doc.Operations.ForName(name)
}

// countAliases counts the fields the document renames, in every operation
// and fragment: bounded by the text, whatever the fragments expand to.
func countAliases(doc *ast.QueryDocument) int {
	n := 0
	var walk func(ast.SelectionSet)
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if s.Alias != "" && s.Alias != s.Name {
					n++
				}
				walk(s.SelectionSet)
			case *ast.InlineFragment:
				walk(s.SelectionSet)
			}
		}
	}
	for _, op := range doc.Operations {
		walk(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		walk(f.SelectionSet)
	}
	return n
}

// checkVariablesText refuses a variable holding text PostgreSQL cannot
// store, naming the innermost input field that holds it.
func checkVariablesText(vars map[string]any) *fault.Error {
	var walk func(field string, v any) *fault.Error
	walk = func(field string, v any) *fault.Error {
		switch v := v.(type) {
		case string:
			if err := textFault(field, v); err != nil {
				return err
			}
		case map[string]any:
			for k, child := range v {
				if err := walk(k, child); err != nil {
					return err
				}
			}
		case []any:
			for _, child := range v {
				if err := walk(field, child); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for name, v := range vars {
		if err := walk(name, v); err != nil {
			return err
		}
	}
	return nil
}

func textFault(field, s string) *fault.Error {
	var f *fault.Error
	if errors.As(fault.CheckText(field, s), &f) {
		return f
	}
	return nil
}

// checkDocumentText does the same for string literals written in the
// document itself (their escapes decoded, so "\u0000" is caught).
func checkDocumentText(doc *ast.QueryDocument) *fault.Error {
	var value func(field string, v *ast.Value) *fault.Error
	value = func(field string, v *ast.Value) *fault.Error {
		if v == nil {
			return nil
		}
		switch v.Kind {
		case ast.StringValue, ast.BlockValue:
			if err := textFault(field, v.Raw); err != nil {
				return err
			}
		case ast.ObjectValue:
			for _, c := range v.Children {
				if err := value(c.Name, c.Value); err != nil {
					return err
				}
			}
		case ast.ListValue:
			for _, c := range v.Children {
				if err := value(field, c.Value); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var walk func(ast.SelectionSet) *fault.Error
	walk = func(set ast.SelectionSet) *fault.Error {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				for _, a := range s.Arguments {
					if err := value(a.Name, a.Value); err != nil {
						return err
					}
				}
				if err := walk(s.SelectionSet); err != nil {
					return err
				}
			case *ast.InlineFragment:
				if err := walk(s.SelectionSet); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, op := range doc.Operations {
		for _, v := range op.VariableDefinitions {
			if err := value(v.Variable, v.DefaultValue); err != nil {
				return err
			}
		}
		if err := walk(op.SelectionSet); err != nil {
			return err
		}
	}
	for _, f := range doc.Fragments {
		if err := walk(f.SelectionSet); err != nil {
			return err
		}
	}
	return nil
}

// saturated caps a cost: past it, the exact figure no longer matters.
const saturated = int64(1e12)

func add(a, b int64) int64 { return min(a+b, saturated) }

func mul(a, b int64) int64 {
	if a != 0 && b > saturated/a {
		return saturated
	}
	return min(a*b, saturated)
}

// measure is what a selection set costs and how deep it goes: deepest is
// the names of the fields along its deepest path.
type measure struct {
	cost    int64
	deepest []string
}

type memoKey struct {
	fragment      string
	typeName      string
	parentCounted bool
}

// walker measures an operation. The cost of a selection set is the sum,
// over its fields, of 1 plus the cost of the field's own selection times
// how many times it runs: a field with a `first` argument runs its
// selection `first` times (its argument, or the schema's default); any
// other list runs it unboundedListSize times, except a connection's edges,
// which `first` already counted. Fragments are measured once per type they
// are spread into, so a document cannot make the measuring itself
// expensive, and a cycle (which graphql-go refuses) counts nothing.
type walker struct {
	schema   *schemaast.Schema
	doc      *ast.QueryDocument
	vars     map[string]any
	memo     map[memoKey]measure
	visiting map[string]bool
}

func (w *walker) selections(set ast.SelectionSet, parent schemaast.NamedType, counted bool) measure {
	var m measure
	for _, sel := range set {
		var sub measure
		switch s := sel.(type) {
		case *ast.Field:
			sub = w.field(s, parent, counted)
		case *ast.InlineFragment:
			t := parent
			if s.TypeCondition != "" {
				if named, ok := w.schema.Types[s.TypeCondition]; ok {
					t = named
				}
			}
			sub = w.selections(s.SelectionSet, t, counted)
		case *ast.FragmentSpread:
			sub = w.spread(s, parent, counted)
		}
		m.cost = add(m.cost, sub.cost)
		if len(sub.deepest) > len(m.deepest) {
			m.deepest = sub.deepest
		}
	}
	return m
}

func (w *walker) spread(s *ast.FragmentSpread, parent schemaast.NamedType, counted bool) measure {
	def := w.doc.Fragments.ForName(s.Name)
	if def == nil || w.visiting[s.Name] {
		return measure{}
	}
	t := parent
	if named, ok := w.schema.Types[def.TypeCondition]; ok {
		t = named
	}
	key := memoKey{fragment: s.Name, typeName: t.TypeName(), parentCounted: counted}
	if m, ok := w.memo[key]; ok {
		return m
	}
	w.visiting[s.Name] = true
	m := w.selections(def.SelectionSet, t, counted)
	delete(w.visiting, s.Name)
	w.memo[key] = m
	return m
}

func (w *walker) field(f *ast.Field, parent schemaast.NamedType, parentCounted bool) measure {
	switch f.Name {
	case "__schema", "__type":
		return measure{} // introspection: bounded by the schema itself
	case "__typename":
		return measure{deepest: []string{f.Name}}
	}
	def := fieldDefinition(parent, f.Name)
	if def == nil {
		// Unknown here (graphql-go's validation names it), but its depth
		// still counts: a document too deep is refused as such.
		child := w.selections(f.SelectionSet, nil, false)
		return measure{cost: add(1, child.cost), deepest: append([]string{f.Name}, child.deepest...)}
	}
	first, hasFirst := w.first(f, def)
	times := int64(1)
	switch {
	case hasFirst:
		times = first
	case isList(def.Type) && !parentCounted:
		times = unboundedListSize
	}
	child := w.selections(f.SelectionSet, namedOf(def.Type), hasFirst)
	return measure{cost: add(1, mul(times, child.cost)), deepest: append([]string{f.Name}, child.deepest...)}
}

// first is the field's `first` argument as the request sets it (a literal,
// a variable, or the schema's default).
func (w *walker) first(f *ast.Field, def *schemaast.FieldDefinition) (int64, bool) {
	argDef := def.Arguments.Get("first")
	if argDef == nil {
		return 0, false
	}
	if a := f.Arguments.ForName("first"); a != nil && a.Value != nil {
		switch a.Value.Kind {
		case ast.IntValue:
			var n int64
			if _, err := fmt.Sscan(a.Value.Raw, &n); err == nil {
				return max(n, 0), true
			}
		case ast.Variable:
			if n, ok := number(w.vars[a.Value.Raw]); ok {
				return n, true
			}
		}
	}
	if argDef.Default != nil {
		if n, ok := number(argDef.Default.Deserialize(nil)); ok {
			return n, true
		}
	}
	return unboundedListSize, true
}

func number(v any) (int64, bool) {
	switch n := v.(type) {
	case int32:
		return max(int64(n), 0), true
	case int:
		return max(int64(n), 0), true
	case int64:
		return max(n, 0), true
	case float64:
		if math.IsNaN(n) || n < 0 {
			return 0, true
		}
		return int64(min(n, float64(saturated))), true
	}
	return 0, false
}

func fieldDefinition(t schemaast.NamedType, name string) *schemaast.FieldDefinition {
	switch t := t.(type) {
	case *schemaast.ObjectTypeDefinition:
		return t.Fields.Get(name)
	case *schemaast.InterfaceTypeDefinition:
		return t.Fields.Get(name)
	}
	return nil
}

func isList(t schemaast.Type) bool {
	for {
		switch x := t.(type) {
		case *schemaast.NonNull:
			t = x.OfType
		case *schemaast.List:
			return true
		default:
			return false
		}
	}
}

func namedOf(t schemaast.Type) schemaast.NamedType {
	for {
		switch x := t.(type) {
		case *schemaast.NonNull:
			t = x.OfType
		case *schemaast.List:
			t = x.OfType
		case schemaast.NamedType:
			return x
		default:
			return nil
		}
	}
}

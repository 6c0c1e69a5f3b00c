package ws

// operationType returns "query", "mutation" or "subscription" for the
// operation a document would run, or "" when it cannot tell. Only a
// subscription is ever shared between subscribers: a mutation sent twice
// must run twice. graphql-go keeps its parser internal, so this scans the
// document's top-level tokens, skipping comments, strings and bodies.
func operationType(doc, operationName string) string {
	type op struct{ typ, name string }
	var ops []op
	depth, i, n := 0, 0, len(doc)
	isNameStart := func(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	word := func() string {
		start := i
		for i < n && (isNameStart(doc[i]) || doc[i] >= '0' && doc[i] <= '9') {
			i++
		}
		return doc[start:i]
	}
	skipString := func() {
		if i+2 < n && doc[i+1] == '"' && doc[i+2] == '"' {
			i += 3
			for i+2 < n && !(doc[i] == '"' && doc[i+1] == '"' && doc[i+2] == '"') {
				i++
			}
			i += 3
			return
		}
		for i++; i < n && doc[i] != '"'; i++ {
			if doc[i] == '\\' {
				i++
			}
		}
		i++
	}
	// openBody moves past the '{' that opens the definition's selection set.
	openBody := func() {
		for i < n && doc[i] != '{' {
			if doc[i] == '"' {
				skipString()
				continue
			}
			i++
		}
		if i < n {
			depth++
			i++
		}
	}
	for i < n {
		c := doc[i]
		switch {
		case c == '#':
			for i < n && doc[i] != '\n' {
				i++
			}
		case c == '"':
			skipString()
		case c == '{':
			if depth == 0 {
				ops = append(ops, op{"query", ""}) // shorthand query
			}
			depth++
			i++
		case c == '}':
			depth--
			i++
		case depth == 0 && isNameStart(c):
			switch w := word(); w {
			case "query", "mutation", "subscription":
				for i < n && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\n' || doc[i] == '\r') {
					i++
				}
				name := ""
				if i < n && isNameStart(doc[i]) {
					name = word()
				}
				ops = append(ops, op{w, name})
				openBody()
			case "fragment":
				openBody()
			}
		default:
			i++
		}
	}
	if operationName == "" {
		if len(ops) == 1 {
			return ops[0].typ
		}
		return ""
	}
	for _, o := range ops {
		if o.name == operationName {
			return o.typ
		}
	}
	return ""
}

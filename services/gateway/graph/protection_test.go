package graph_test

import (
	"testing"

	"meridian.dev/gateway/graph"
)

// PerCaller: a document whose answer depends on the caller's clearance
// (any protection type, however it is reached) is not shared over the
// WebSocket; the others still are.
func TestPerCallerFindsProtectionTypes(t *testing.T) {
	s, err := graph.NewSchema(graph.Deps{}, graph.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		doc, op string
		want    bool
	}{
		"detailUpdated":          {doc: `subscription($id: ID!) { detailUpdated(detailId: $id) { cursor kind } }`, want: true},
		"siteStatusChanged":      {doc: `subscription { siteStatusChanged { cursor site { code } } }`},
		"escalations":            {doc: `subscription { escalationUpdated { cursor escalation { id status } } }`},
		"affected sites only":    {doc: `query($id: ID!) { incident(id: $id) { affected { sites { distanceKm } } } }`},
		"affected details":       {doc: `query($id: ID!) { incident(id: $id) { affected { details { via } } } }`, want: true},
		"through a fragment":     {doc: `query($id: ID!) { incident(id: $id) { ...A } } fragment A on Incident { affected { ...D } } fragment D on Affected { details { via } }`, want: true},
		"node on Detail":         {doc: `query($id: ID!) { node(id: $id) { id ... on Detail { status } } }`, want: true},
		"node on Site":           {doc: `query($id: ID!) { node(id: $id) { id ... on Site { code } } }`},
		"typename only":          {doc: `query { __typename }`},
		"unreadable":             {doc: `subscription { detailUpdated(`, want: true},
		"named, protection":      {doc: `query A { sites { edges { node { id } } } } query B { protectees { edges { node { id } } } }`, op: "B", want: true},
		"named, not protection":  {doc: `query A { sites { edges { node { id } } } } query B { protectees { edges { node { id } } } }`, op: "A"},
		"unknown operation name": {doc: `query A { sites { edges { node { id } } } }`, op: "Z", want: true},
		"recursive fragments":    {doc: `query { ...F } fragment F on Query { me { subject } ...F }`},
	} {
		if got := s.PerCaller(c.doc, c.op); got != c.want {
			t.Errorf("%s: PerCaller = %v, want %v", name, got, c.want)
		}
	}
}

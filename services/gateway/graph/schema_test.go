package graph_test

import (
	"testing"

	"meridian.dev/gateway/graph"
)

// TestSchemaMatchesResolvers parses the SDL (schema/graphql/*.graphql)
// against the resolvers. graphql-go checks every field, argument and type
// against a Go method or field, so a mismatch fails here, in CI, and never at
// a deploy's start-up. The stores are not needed to check the shapes.
func TestSchemaMatchesResolvers(t *testing.T) {
	schema, err := graph.NewSchema(graph.Deps{}, graph.DefaultLimits)
	if err != nil {
		t.Fatalf("the SDL does not match the resolvers: %v", err)
	}
	// The whole contract was loaded, not a fragment of it.
	types := schema.AST().Types
	for _, name := range []string{"Query", "Mutation", "Subscription", "Site", "Escalation", "SiteStatusChangedEvent",
		"EscalationUpdatedEvent", "Node", "PageInfo", "UpdateSiteStatusInput", "StatusLevel", "Time"} {
		if types[name] == nil {
			t.Errorf("type %s is missing from the parsed schema", name)
		}
	}
	// Documents the product's clients send stay valid.
	vars := map[string]map[string]any{
		"update": {"input": map[string]any{"siteId": "x", "level": "HIGH", "posture": "OPEN", "expectedVersion": 1}},
		"node":   {"id": "x"},
	}
	for name, doc := range map[string]string{
		"board": `query($region: String, $level: StatusLevel, $after: String) { sites(region: $region, level: $level, first: 50, after: $after) {
			edges { cursor node { id code name city countryCode timezone criticality region { code name timezone }
				location { latitude longitude } status { level posture note version updatedAt updatedBy } } }
			pageInfo { hasNextPage endCursor } } }`,
		"update": `mutation($input: UpdateSiteStatusInput!) { updateSiteStatus(input: $input) {
			clientMutationId site { id status { version } } escalation { id status tier } } }`,
		"live": `subscription($region: String, $after: String) { siteStatusChanged(region: $region, after: $after) {
			cursor site { id code region { code } } previous { level posture version } current { level posture note version updatedBy } } }`,
		"escalations": `subscription { escalationUpdated { cursor escalation { id status tier acknowledgedBy startedAt
			site { code } region { code } timeline { at kind actor note } } } }`,
		"node": `query($id: ID!) { node(id: $id) { id ... on Site { code } ... on Escalation { status } } }`,
	} {
		if errs := schema.ValidateWithVariables(doc, vars[name]); len(errs) > 0 {
			t.Errorf("%s: %v", name, errs)
		}
	}
	if errs := schema.Validate(`{ me { password } }`); len(errs) == 0 {
		t.Errorf("a query for a field the SDL lacks validated")
	}
}

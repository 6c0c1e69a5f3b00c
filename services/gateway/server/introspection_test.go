package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/gateway/stacktest"
)

// introspectScript returns the reference client's folder, node, and the
// folder of the SDL files, or fails the test saying how to get them: a
// missing tool is a failure, never a skip.
func introspectScript(t *testing.T) (dir, node, sdl string) {
	t.Helper()
	dir, node = referenceClient(t)
	if _, err := os.Stat(filepath.Join(dir, "introspect.mjs")); err != nil {
		t.Fatalf("the reference introspection script is missing (%v): it belongs in %s", err, dir)
	}
	sdl, err := filepath.Abs(filepath.Join("..", "..", "..", "schema", "graphql"))
	if err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(sdl, "*.graphql")); len(files) == 0 {
		t.Fatalf("no SDL files in %s", sdl)
	}
	return dir, node, sdl
}

// introspectionSummary is the one JSON line introspect.mjs prints.
type introspectionSummary struct {
	Types              int `json:"types"`
	QueryFields        int `json:"queryFields"`
	MutationFields     int `json:"mutationFields"`
	SubscriptionFields int `json:"subscriptionFields"`
	SDLFiles           int `json:"sdlFiles"`
}

// deepEscalations nests real fields: escalations › edges › node (3 levels),
// then pairs of incident › escalations (2 each), then tail, written
// whole.
func deepEscalations(pairs int, tail string) string {
	return "{ escalations(first: 1) { edges { node { " + strings.Repeat("incident { escalations { ", pairs) +
		tail + " " + strings.Repeat("} } ", pairs) + "} } } }"
}

// TestIntrospectionByStandardTools: graphql-js's own introspection query,
// which GraphiQL, Apollo and graphql-codegen send first and which is 13
// levels deep, is answered; the answer builds into a valid client schema
// identical to the SDL files; and a real query 13 levels deep is still
// refused.
func TestIntrospectionByStandardTools(t *testing.T) {
	t.Parallel()
	dir, node, sdl := introspectScript(t) // fail before starting anything when it is missing
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	token := s.Token(t, stacktest.TravelTeam) // the least privileged role

	t.Run("graphql-js builds the served schema and it matches the SDL files", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*stacktest.WaitLimit)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "introspect.mjs", s.GW.URL, token, "--sdl="+sdl)
		cmd.Dir = dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			t.Fatalf("introspect.mjs exited %d; stdout %q; stderr %s", exit.ExitCode(), stdout.String(), stderr.String())
		case err != nil:
			t.Fatalf("node introspect.mjs: %v; stderr %s", err, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if len(lines) != 1 {
			t.Fatalf("introspect.mjs printed %d lines, want one JSON line: %q", len(lines), stdout.String())
		}
		var got introspectionSummary
		if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
			t.Fatalf("introspect.mjs printed %q: %v", lines[0], err)
		}
		if got.Types <= 0 || got.QueryFields <= 0 || got.MutationFields <= 0 || got.SubscriptionFields <= 0 {
			t.Errorf("introspect.mjs found %+v, want types and every root's fields", got)
		}
		files, _ := filepath.Glob(filepath.Join(sdl, "*.graphql"))
		if got.SDLFiles != len(files) {
			t.Errorf("introspect.mjs compared %d SDL files, %s holds %d", got.SDLFiles, sdl, len(files))
		}

		// The counts describe this gateway: the same as a plain HTTP
		// introspection of the root types says.
		var roots struct {
			Schema struct {
				QueryType, MutationType, SubscriptionType struct{ Fields []struct{ Name string } }
			} `json:"__schema"`
		}
		s.GW.Query(t, token, `{ __schema { queryType { fields { name } } mutationType { fields { name } } subscriptionType { fields { name } } } }`, nil).Decode(t, &roots)
		if n := len(roots.Schema.QueryType.Fields); n != got.QueryFields {
			t.Errorf("introspect.mjs counted %d query fields, the gateway lists %d", got.QueryFields, n)
		}
		if n := len(roots.Schema.MutationType.Fields); n != got.MutationFields {
			t.Errorf("introspect.mjs counted %d mutation fields, the gateway lists %d", got.MutationFields, n)
		}
		if n := len(roots.Schema.SubscriptionType.Fields); n != got.SubscriptionFields {
			t.Errorf("introspect.mjs counted %d subscription fields, the gateway lists %d", got.SubscriptionFields, n)
		}
		t.Logf("introspect.mjs: %s", lines[0])
	})

	t.Run("a real query 13 levels deep is refused, 12 is served", func(t *testing.T) {
		deep := deepEscalations(4, "site { code }") // 3 + 8 + 2 = 13 levels
		r := s.GW.Query(t, token, deep, nil)
		if r.Status != http.StatusOK {
			t.Errorf("HTTP %d, want 200 with a GraphQL error: %s", r.Status, r.Body)
		}
		e := r.Refused(t, "BAD_USER_INPUT")
		if !strings.Contains(e.Message, "exceeds max depth 12") || !strings.Contains(e.Message, `"code" has depth 13`) {
			t.Errorf("message %q, want the depth 13 and the limit 12", e.Message)
		}
		if len(r.Data) > 0 && string(r.Data) != "null" {
			t.Errorf("a refused query answered data %s", r.Data)
		}

		// One level less: served.
		var out struct {
			Escalations struct{ Edges []json.RawMessage }
		}
		s.GW.Query(t, token, deepEscalations(3, "site { region { code } }"), nil).Decode(t, &out) // 3 + 6 + 3
	})
}

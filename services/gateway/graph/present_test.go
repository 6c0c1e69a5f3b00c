package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/site"
)

func TestPresent(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	secret := errors.New("pq: password authentication failed for user meridian at 10.1.2.3")
	errs := Present(context.Background(), log, []*gqlerrors.QueryError{
		{Message: "syntax error: unexpected EOF"},
		{Message: "wrapped", ResolverError: fmt.Errorf("site: %w", fault.Invalid("note", "must be at most %d characters", 2000))},
		{Message: "sentinel", ResolverError: fmt.Errorf("%w (expected version 1, current version 2)", site.ErrConflict)},
		{Message: "auth", ResolverError: auth.ErrUnauthenticated},
		{Message: "boom", ResolverError: secret},
		{Message: "kept", Extensions: map[string]any{"code": "CUSTOM"}},
		nil,
	})
	want := []struct{ code, field, message string }{
		{"BAD_USER_INPUT", "", "syntax error: unexpected EOF"},
		{"BAD_USER_INPUT", "note", "site: note: must be at most 2000 characters"},
		{"CONFLICT", "", "the site's status changed since you read it; reload and try again (expected version 1, current version 2)"},
		{"UNAUTHENTICATED", "", "a valid bearer token is required"},
		{"INTERNAL", "", ""},
		{"CUSTOM", "", "kept"},
	}
	for i, w := range want {
		e := errs[i]
		if got := e.Extensions["code"]; got != w.code {
			t.Errorf("error %d: code %v, want %s", i, got, w.code)
		}
		if got, _ := e.Extensions["field"].(string); got != w.field {
			t.Errorf("error %d: field %q, want %q", i, got, w.field)
		}
		if w.message != "" && e.Message != w.message {
			t.Errorf("error %d: message %q, want %q", i, e.Message, w.message)
		}
	}
	internal := errs[4]
	if strings.Contains(internal.Message, "password") || strings.Contains(internal.Message, "10.1.2.3") {
		t.Errorf("an internal error shows its internals: %q", internal.Message)
	}
	if !strings.Contains(internal.Message, "internal error") {
		t.Errorf("internal error message %q", internal.Message)
	}
	if !strings.Contains(logs.String(), "password authentication failed") {
		t.Errorf("the internal error was not logged: %s", logs.String())
	}
}

func TestGlobalIDs(t *testing.T) {
	id := uuid.New()
	got, err := parseID(encodeID(kindSite, id), kindSite, "siteId")
	if err != nil || got != id {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	for _, bad := range []string{"", "not base64 !", string(encodeID(kindEscalation, id)), "U2l0ZTpub3QtYS11dWlk" /* Site:not-a-uuid */} {
		_, err := parseID(graphql.ID(bad), kindSite, "siteId")
		var f *fault.Error
		if !errors.As(err, &f) || f.Code != fault.BadUserInput || f.Field != "siteId" {
			t.Errorf("parseID(%q) = %v, want BAD_USER_INPUT on siteId", bad, err)
		}
	}
}

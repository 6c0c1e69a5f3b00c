package audit_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/testenv"
)

// TestRestrictedEntriesAreReadByTheNamedAndGlobalLeads: an entry restricted
// to some people (a duress incident's trail) is read by them and by global
// leads; auditors and admins read every other entry, in full pages whose
// cursors walk past the hidden ones.
func TestRestrictedEntriesAreReadByTheNamedAndGlobalLeads(t *testing.T) {
	t.Parallel()
	pool := testenv.NewPool(t)
	ctx := context.Background()
	entries := []audit.Entry{
		{Action: "site.create", ObjectID: "1"},
		{Action: "incident.raise", ObjectID: "2", RestrictedTo: []string{"pa-liam"}},
		{Action: "site.create", ObjectID: "3"},
		{Action: "incident.raise", ObjectID: "4", RestrictedTo: []string{"pa-omar", "pa-liam"}},
		{Action: "incident.raise", ObjectID: "5", RestrictedTo: []string{"pa-omar"}},
		{Action: "site.create", ObjectID: "6"},
	}
	for _, e := range entries {
		e.Actor, e.ObjectType, e.After = "tester", "Thing", map[string]string{"id": e.ObjectID}
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return audit.Record(ctx, tx, e) }); err != nil {
			t.Fatal(err)
		}
	}
	log := audit.NewReader(pool)
	cases := []struct {
		who  auth.Identity
		want []string // object IDs, newest first
	}{
		{auth.Identity{Subject: "gl-ada", Roles: []string{auth.RoleGlobalLead}}, []string{"6", "5", "4", "3", "2", "1"}},
		{auth.Identity{Subject: "pa-liam", Roles: []string{auth.RoleProtectionAgent}}, []string{"6", "4", "3", "2", "1"}},
		{auth.Identity{Subject: "pa-omar", Roles: []string{auth.RoleProtectionAgent}}, []string{"6", "5", "4", "3", "1"}},
		{auth.Identity{Subject: "au-aude", Roles: []string{auth.RoleAuditor}}, []string{"6", "3", "1"}},
		{auth.Identity{Subject: "ad-adam", Roles: []string{auth.RoleAdmin}, Regions: []string{"AMER", "EMEA", "APAC"}}, []string{"6", "3", "1"}},
		{auth.Identity{}, []string{"6", "3", "1"}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q", c.who.Subject), func(t *testing.T) {
			var got []string
			var after int64
			for {
				page, more, err := log.List(ctx, audit.Filter{Viewer: c.who}, 1, after)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) != 1 {
					t.Fatalf("a page of %d entries after %d", len(page), after)
				}
				got = append(got, page[0].ObjectID)
				if !more {
					break
				}
				after = page[0].ID
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("read %v, want %v", got, c.want)
			}
		})
	}
}

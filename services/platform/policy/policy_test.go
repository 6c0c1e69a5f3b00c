package policy_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/policy"
)

// globalOnly are the mutations no regional manager may make, in any region:
// escalation policies shape paging for everyone.
var globalOnly = []policy.Action{policy.ManagePolicies, policy.ManageDirectory}

// rule is what a role may do, written down independently of Allow.
type rule struct {
	read            bool // may ReadAll
	mutateAnywhere  bool // every mutation in every region
	mutateInRegions bool // every mutation, only in the regions its token lists
}

// rules is the policy as documented: regional managers change their own
// regions, global leads and admins change everything, every other role only
// reads.
var rules = map[string]rule{
	auth.RoleGlobalLead:      {read: true, mutateAnywhere: true},
	auth.RoleRegionalManager: {read: true, mutateInRegions: true},
	auth.RoleTravelTeam:      {read: true},
	auth.RoleProtectionAgent: {read: true},
	auth.RoleAuditor:         {read: true},
	auth.RoleAdmin:           {read: true, mutateAnywhere: true},
}

var regions = []string{"AMER", "EMEA", "APAC"}

type caller struct {
	name string
	id   auth.Identity
}

func callers() []caller {
	var cs []caller
	for _, role := range auth.KnownRoles {
		if role == auth.RoleRegionalManager {
			cs = append(cs,
				caller{"regional_manager_EMEA", auth.Identity{Subject: "rm-emea", Roles: []string{role}, Regions: []string{"EMEA"}}},
				caller{"regional_manager_EMEA_APAC", auth.Identity{Subject: "rm-emea-apac", Roles: []string{role}, Regions: []string{"EMEA", "APAC"}}},
				caller{"regional_manager_no_regions", auth.Identity{Subject: "rm-none", Roles: []string{role}}},
			)
			continue
		}
		// Regions on a non-manager token must not grant anything.
		cs = append(cs, caller{role, auth.Identity{Subject: "u-" + role, Roles: []string{role}, Regions: []string{"EMEA"}}})
	}
	cs = append(cs,
		caller{"no_roles", auth.Identity{Subject: "nobody", Regions: regions}},
		caller{"unknown_role", auth.Identity{Subject: "root", Roles: []string{"superuser"}, Regions: regions}},
	)
	return cs
}

// expected computes the decision from the rule table. It returns the
// sentinel the error must match, or nil when the action is allowed.
func expected(id auth.Identity, action policy.Action, region string) error {
	if id.Subject == "" {
		return auth.ErrUnauthenticated
	}
	allowed := false
	for _, role := range id.Roles {
		r, ok := rules[role]
		if !ok {
			continue
		}
		switch {
		case action == policy.ReadAll:
			allowed = allowed || r.read
		case r.mutateAnywhere:
			allowed = true
		case r.mutateInRegions && slices.Contains(id.Regions, region) && !slices.Contains(globalOnly, action):
			allowed = true
		}
	}
	if allowed {
		return nil
	}
	return policy.ErrForbidden
}

func TestRuleTableCoversEveryKnownRole(t *testing.T) {
	t.Parallel()
	for _, role := range auth.KnownRoles {
		if _, ok := rules[role]; !ok {
			t.Errorf("role %q is in auth.KnownRoles but has no rule in this test: decide what it may do", role)
		}
	}
	if len(rules) != len(auth.KnownRoles) {
		t.Errorf("rule table has %d roles, auth.KnownRoles has %d", len(rules), len(auth.KnownRoles))
	}
	if slices.Contains(policy.Mutations, policy.ReadAll) {
		t.Errorf("policy.Mutations must not contain ReadAll")
	}
	if len(policy.Mutations) < 4 {
		t.Errorf("policy.Mutations = %v, want at least the four documented mutations", policy.Mutations)
	}
}

func TestAllowMatrix(t *testing.T) {
	t.Parallel()
	actions := append([]policy.Action{policy.ReadAll}, policy.Mutations...)
	for _, c := range callers() {
		for _, action := range actions {
			for _, region := range regions {
				t.Run(fmt.Sprintf("%s/%s/%s", c.name, action, region), func(t *testing.T) {
					t.Parallel()
					want := expected(c.id, action, region)
					got := policy.Allow(c.id, action, region)
					switch {
					case want == nil && got != nil:
						t.Fatalf("Allow(%+v, %s, %s) = %v, want allowed", c.id, action, region, got)
					case want != nil && got == nil:
						t.Fatalf("Allow(%+v, %s, %s) allowed, want %v", c.id, action, region, want)
					case want != nil && !errors.Is(got, want):
						t.Fatalf("Allow(%+v, %s, %s) = %v, want errors.Is %v", c.id, action, region, got, want)
					}
				})
			}
		}
	}
}

// TestAllowSpotChecks pins a few decisions literally, so a mistake shared by
// the rule table and Allow cannot hide.
func TestAllowSpotChecks(t *testing.T) {
	t.Parallel()
	emea := auth.Identity{Subject: "rm", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"EMEA"}}
	tests := []struct {
		name   string
		id     auth.Identity
		action policy.Action
		region string
		want   error
	}{
		{"manager in own region", emea, policy.UpdateSiteStatus, "EMEA", nil},
		{"manager in other region", emea, policy.UpdateSiteStatus, "AMER", policy.ErrForbidden},
		{"manager region is case sensitive", emea, policy.UpdateSiteStatus, "emea", policy.ErrForbidden},
		{"manager empty region", emea, policy.CreateSite, "", policy.ErrForbidden},
		{"auditor cannot resolve", auth.Identity{Subject: "a", Roles: []string{auth.RoleAuditor}, Regions: []string{"EMEA"}}, policy.ResolveEscalation, "EMEA", policy.ErrForbidden},
		{"auditor reads", auth.Identity{Subject: "a", Roles: []string{auth.RoleAuditor}}, policy.ReadAll, "", nil},
		{"no role cannot read", auth.Identity{Subject: "x"}, policy.ReadAll, "", policy.ErrForbidden},
		{"global lead anywhere", auth.Identity{Subject: "g", Roles: []string{auth.RoleGlobalLead}}, policy.AcknowledgeEscalation, "APAC", nil},
		{"admin anywhere", auth.Identity{Subject: "ad", Roles: []string{auth.RoleAdmin}}, policy.CreateSite, "AMER", nil},
		{"empty subject admin", auth.Identity{Roles: []string{auth.RoleAdmin}}, policy.CreateSite, "AMER", auth.ErrUnauthenticated},
		{"empty subject read", auth.Identity{Roles: []string{auth.RoleAuditor}}, policy.ReadAll, "", auth.ErrUnauthenticated},
		{"unknown action", auth.Identity{Subject: "rm", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"EMEA"}}, policy.Action("site.delete"), "EMEA", policy.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := policy.Allow(tt.id, tt.action, tt.region)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("got %v, want allowed", got)
				}
				return
			}
			if !errors.Is(got, tt.want) {
				t.Fatalf("got %v, want errors.Is %v", got, tt.want)
			}
		})
	}
}

func TestEmptySubjectIsUnauthenticatedNotForbidden(t *testing.T) {
	t.Parallel()
	for _, role := range append([]string{""}, auth.KnownRoles...) {
		id := auth.Identity{Roles: []string{role}, Regions: regions}
		for _, action := range append([]policy.Action{policy.ReadAll}, policy.Mutations...) {
			for _, region := range regions {
				err := policy.Allow(id, action, region)
				if !errors.Is(err, auth.ErrUnauthenticated) {
					t.Errorf("role %q %s %s: got %v, want ErrUnauthenticated", role, action, region, err)
				}
				if errors.Is(err, policy.ErrForbidden) {
					t.Errorf("role %q %s %s: empty subject must not read as FORBIDDEN", role, action, region)
				}
			}
		}
	}
}

// TestReadAudit: the audit log is for the people who answer for it.
func TestReadAudit(t *testing.T) {
	for _, c := range []struct {
		roles []string
		ok    bool
	}{
		{[]string{auth.RoleAuditor}, true},
		{[]string{auth.RoleGlobalLead}, true},
		{[]string{auth.RoleAdmin}, true},
		{[]string{auth.RoleRegionalManager}, false},
		{[]string{auth.RoleTravelTeam}, false},
		{[]string{auth.RoleProtectionAgent}, false},
		{nil, false},
	} {
		err := policy.Allow(auth.Identity{Subject: "s", Roles: c.roles, Regions: regions}, policy.ReadAudit, "")
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, policy.ErrForbidden)) {
			t.Errorf("roles %v: Allow(ReadAudit) = %v, want allowed %v", c.roles, err, c.ok)
		}
	}
}

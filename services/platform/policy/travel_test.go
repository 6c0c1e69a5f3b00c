package policy_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/policy"
)

// travelRule is the travel policy as the issue states it, written down
// independently of the code: the travel team manages trips and advisories
// and decides level 3; global leads all of that and level 4; admins and
// global leads edit impact radii; regional managers read trips in their
// regions without the purpose; auditors read; nobody else.
type travelRule struct {
	manageTrips, manageAdvisories, manageRadii bool
	decideUpTo                                 int // highest level the role may decide; 0: none
	readAll, readOwnRegions, purpose           bool
}

var travelRules = map[string]travelRule{
	auth.RoleTravelTeam:      {manageTrips: true, manageAdvisories: true, decideUpTo: 3, readAll: true, purpose: true},
	auth.RoleGlobalLead:      {manageTrips: true, manageAdvisories: true, manageRadii: true, decideUpTo: 4, readAll: true, purpose: true},
	auth.RoleAdmin:           {manageRadii: true},
	auth.RoleAuditor:         {readAll: true, purpose: true},
	auth.RoleRegionalManager: {readOwnRegions: true},
	auth.RoleProtectionAgent: {},
}

func TestTravelRuleTableCoversEveryKnownRole(t *testing.T) {
	for _, role := range auth.KnownRoles {
		if _, ok := travelRules[role]; !ok {
			t.Errorf("role %q has no travel rule in this test: decide what it may do", role)
		}
	}
}

func TestTravelMatrix(t *testing.T) {
	t.Parallel()
	for _, c := range callers() {
		var want travelRule
		for _, role := range c.id.Roles {
			r := travelRules[role]
			want.manageTrips = want.manageTrips || r.manageTrips
			want.manageAdvisories = want.manageAdvisories || r.manageAdvisories
			want.manageRadii = want.manageRadii || r.manageRadii
			want.decideUpTo = max(want.decideUpTo, r.decideUpTo)
			want.readAll = want.readAll || r.readAll
			want.readOwnRegions = want.readOwnRegions || (r.readOwnRegions && len(c.id.Regions) > 0)
			want.purpose = want.purpose || r.purpose
		}
		allowed := map[policy.Action]bool{
			policy.ManageTrips:       want.manageTrips,
			policy.ManageAdvisories:  want.manageAdvisories,
			policy.ManageImpactRadii: want.manageRadii,
		}
		for _, action := range policy.TravelMutations {
			t.Run(fmt.Sprintf("%s/%s", c.name, action), func(t *testing.T) {
				err := policy.AllowTravel(c.id, action)
				if allowed[action] != (err == nil) {
					t.Fatalf("AllowTravel(%s, %s) = %v, want allowed=%v", c.name, action, err, allowed[action])
				}
				if err != nil && !errors.Is(err, policy.ErrForbidden) {
					t.Fatalf("refusal %v is not FORBIDDEN", err)
				}
			})
		}
		for level := 1; level <= 4; level++ {
			t.Run(fmt.Sprintf("%s/decide/%d", c.name, level), func(t *testing.T) {
				err := policy.DecideTrip(c.id, level)
				if ok := level <= want.decideUpTo; ok != (err == nil) {
					t.Fatalf("DecideTrip(%s, %d) = %v, want allowed=%v", c.name, level, err, ok)
				}
			})
		}
		t.Run(c.name+"/read", func(t *testing.T) {
			scope, err := policy.ReadTrips(c.id)
			switch {
			case want.readAll:
				if err != nil || !scope.All || scope.Purpose != want.purpose {
					t.Fatalf("ReadTrips(%s) = %+v, %v; want all trips, purpose=%v", c.name, scope, err, want.purpose)
				}
			case want.readOwnRegions:
				if err != nil || scope.All || scope.Purpose || !slices.Equal(scope.Regions, c.id.Regions) {
					t.Fatalf("ReadTrips(%s) = %+v, %v; want regions %v without purpose", c.name, scope, err, c.id.Regions)
				}
			default:
				if !errors.Is(err, policy.ErrForbidden) {
					t.Fatalf("ReadTrips(%s) = %+v, %v; want FORBIDDEN", c.name, scope, err)
				}
			}
		})
	}
}

func TestTravelUnauthenticated(t *testing.T) {
	id := auth.Identity{Roles: []string{auth.RoleGlobalLead}}
	for _, action := range policy.TravelMutations {
		if err := policy.AllowTravel(id, action); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: %v, want UNAUTHENTICATED", action, err)
		}
	}
	if _, err := policy.ReadTrips(id); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("ReadTrips: %v", err)
	}
	if err := policy.DecideTrip(id, 3); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("DecideTrip: %v", err)
	}
}

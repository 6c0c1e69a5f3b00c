package policy

import (
	"fmt"

	"meridian.dev/platform/auth"
)

// Travel actions are decided by role alone: trips and advisories are not
// owned by a region. What a regional manager may read is narrowed by
// TripScope instead.
const (
	// ManageTrips creates, imports, extends, submits and cancels trips.
	ManageTrips Action = "trip.manage"
	// ManageAdvisories sets analysts' overrides and refreshes feeds on demand.
	ManageAdvisories Action = "advisory.manage"
	// ManageImpactRadii edits the impact radius table.
	ManageImpactRadii Action = "proximity.manage_radii"
)

// TravelMutations lists every travel action AllowTravel decides, for the
// policy matrix test.
var TravelMutations = []Action{ManageTrips, ManageAdvisories, ManageImpactRadii}

// travelRoles is who may do each travel action. Admins run the system
// (radii are configuration) but do not manage people's travel.
var travelRoles = map[Action][]string{
	ManageTrips:       {auth.RoleTravelTeam, auth.RoleGlobalLead},
	ManageAdvisories:  {auth.RoleTravelTeam, auth.RoleGlobalLead},
	ManageImpactRadii: {auth.RoleGlobalLead, auth.RoleAdmin},
}

// AllowTravel returns nil when id may perform a travel action.
func AllowTravel(id auth.Identity, action Action) error {
	if id.Subject == "" {
		return auth.ErrUnauthenticated
	}
	for _, role := range travelRoles[action] {
		if id.HasRole(role) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrForbidden, action)
}

// TripScope is what of trips and travellers' whereabouts a caller may read.
type TripScope struct {
	// All: every trip; otherwise only trips with a segment in Regions.
	All     bool
	Regions []string
	// Purpose: whether the trip's purpose is shown (the travel team, global
	// leads and auditors); regional managers see who, where and when only.
	Purpose bool
}

// ReadTrips returns the caller's view of trips and of whoIsWhere.
func ReadTrips(id auth.Identity) (TripScope, error) {
	if id.Subject == "" {
		return TripScope{}, auth.ErrUnauthenticated
	}
	if id.HasRole(auth.RoleTravelTeam) || id.HasRole(auth.RoleGlobalLead) || id.HasRole(auth.RoleAuditor) {
		return TripScope{All: true, Purpose: true}, nil
	}
	if id.HasRole(auth.RoleRegionalManager) && len(id.Regions) > 0 {
		return TripScope{Regions: append([]string(nil), id.Regions...)}, nil
	}
	return TripScope{}, fmt.Errorf("%w: trips are for the travel team, global leads, auditors and regional managers", ErrForbidden)
}

// DecideTrip returns nil when id may approve or reject a trip whose
// approval was requested at level: the travel team up to level 3, only a
// global lead at level 4. The approval workflow enforces the same rule.
func DecideTrip(id auth.Identity, level int) error {
	if id.Subject == "" {
		return auth.ErrUnauthenticated
	}
	if id.HasRole(auth.RoleGlobalLead) {
		return nil
	}
	if level >= 4 {
		return fmt.Errorf("%w: a level-4 trip needs a global lead's decision", ErrForbidden)
	}
	if id.HasRole(auth.RoleTravelTeam) {
		return nil
	}
	return fmt.Errorf("%w: only the travel team or a global lead may decide a trip", ErrForbidden)
}

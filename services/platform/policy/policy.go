// Package policy decides every action in Meridian by role and region, deny
// by default. Resolvers ask it before touching a store; nothing else grants
// access. Acting on one escalation also depends on the escalation itself
// (whom its tiers call on), so escalation.Authority decides those actions,
// in the workflow and in Postgres alike.
package policy

import (
	"fmt"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
)

// Action is something a caller may try to do.
type Action string

const (
	ReadAll               Action = "read"
	CreateSite            Action = "site.create"
	UpdateSiteStatus      Action = "site.update_status"
	AcknowledgeEscalation Action = "escalation.acknowledge"
	ResolveEscalation     Action = "escalation.resolve"
	ManageSchedule        Action = "schedule.manage"
	ManagePolicies        Action = "policy.manage"
	RaiseIncident         Action = "incident.raise"
	HandOffEscalation     Action = "escalation.hand_off"
	// ManageDirectory changes how other people are paged.
	ManageDirectory Action = "directory.manage"
	// ReadAudit reads the audit log: who changed what, before and after.
	ReadAudit Action = "audit.read"
)

// Mutations lists every action that changes state and that Allow decides
// by region, for the policy matrix test. Acting on an escalation
// (acknowledge, resolve, hand off …) depends on the escalation itself and is
// decided by escalation.Authority.
var Mutations = []Action{CreateSite, UpdateSiteStatus, ManageSchedule, ManagePolicies, RaiseIncident, ManageDirectory}

// ErrForbidden is what a denied caller sees.
var ErrForbidden = fault.New(fault.Forbidden, "you are not allowed to do this")

// Allow returns nil when id may perform action on an object in region, and
// an error wrapping ErrForbidden otherwise. region is ignored for ReadAll.
func Allow(id auth.Identity, action Action, region string) error {
	if id.Subject == "" {
		return auth.ErrUnauthenticated
	}
	if action == ReadAll {
		// Every authenticated role reads the board: coordination needs the
		// whole picture. Roles that may only read are read-only below.
		for _, r := range auth.KnownRoles {
			if id.HasRole(r) {
				return nil
			}
		}
		return fmt.Errorf("%w: no known role", ErrForbidden)
	}
	if id.HasRole(auth.RoleAdmin) || id.HasRole(auth.RoleGlobalLead) {
		return nil
	}
	switch action {
	case ReadAudit:
		if id.HasRole(auth.RoleAuditor) {
			return nil
		}
	case CreateSite, UpdateSiteStatus, ManageSchedule, RaiseIncident:
		if id.HasRole(auth.RoleRegionalManager) && id.InRegion(region) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s in %s", ErrForbidden, action, region)
}

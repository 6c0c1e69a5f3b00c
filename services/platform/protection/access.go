package protection

import (
	"fmt"
	"slices"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/policy"
)

// Standing is what one caller may see of a protectee or a detail.
type Standing int

const (
	// Hidden: the caller has no business with it; it does not exist for
	// them (NOT_FOUND), so its existence does not leak.
	Hidden Standing = iota
	// Masked: the caller sees the record, sensitive fields null.
	Masked
	// Cleared: the caller has the need to know.
	Cleared
)

// assigned reports whether subject leads or is an agent of d.
func assigned(d Detail, subject string) bool {
	return d.Leader == subject || slices.Contains(d.Agents, subject)
}

// ProtecteeStanding is id's standing on a protectee whose details are
// details: global leads and the leader and agents of a detail not ended are
// cleared; admins and auditors (who manage and audit the records), managers
// of a region one of its details operates in, and people once on one of its
// details see it masked; nobody else sees it.
func ProtecteeStanding(id auth.Identity, details []Detail) Standing {
	if id.Subject == "" {
		return Hidden
	}
	if id.HasRole(auth.RoleGlobalLead) {
		return Cleared
	}
	for _, d := range details {
		if d.Status != StatusEnded && assigned(d, id.Subject) {
			return Cleared
		}
	}
	if id.HasRole(auth.RoleAdmin) || id.HasRole(auth.RoleAuditor) {
		return Masked
	}
	for _, d := range details {
		if assigned(d, id.Subject) || (id.HasRole(auth.RoleRegionalManager) && id.InRegion(d.Region)) {
			return Masked
		}
	}
	return Hidden
}

// DetailStanding is id's standing on detail d of a protectee whose details
// are all (d among them): cleared for the protectee is cleared for each of
// its details; otherwise a detail is seen masked by admins, auditors, the
// managers of its region and the people once on it.
func DetailStanding(id auth.Identity, d Detail, all []Detail) Standing {
	if ProtecteeStanding(id, all) == Cleared {
		return Cleared
	}
	if id.Subject == "" {
		return Hidden
	}
	if id.HasRole(auth.RoleAdmin) || id.HasRole(auth.RoleAuditor) || assigned(d, id.Subject) ||
		(id.HasRole(auth.RoleRegionalManager) && id.InRegion(d.Region)) {
		return Masked
	}
	return Hidden
}

// Protection actions, for the policy matrix.
const (
	// ManageProtectees creates protectees and details.
	ManageProtectees policy.Action = "protection.manage"
	// EditProfile replaces a protectee's profile.
	EditProfile policy.Action = "protection.edit_profile"
	// EditDetail changes a detail: agents, status, threat level, movements,
	// safe havens.
	EditDetail policy.Action = "protection.edit_detail"
	// AddAdvanceNote writes an advance note on a detail.
	AddAdvanceNote policy.Action = "protection.advance_note"
	// FieldReport checks in and reports positions.
	FieldReport policy.Action = "protection.field_report"
	// SetCodes sets one's own check-in codes.
	SetCodes policy.Action = "protection.set_codes"
	// ReadAccessLog reads protectionAccessLog.
	ReadAccessLog policy.Action = "protection.read_access_log"
)

// Actions lists every protection action, for the policy matrix test.
var Actions = []policy.Action{ManageProtectees, EditProfile, EditDetail, AddAdvanceNote, FieldReport, SetCodes, ReadAccessLog}

// Allow decides a protection action. d is the detail acted on (nil for
// ManageProtectees, SetCodes and ReadAccessLog); for EditProfile, details
// are the protectee's details and d is nil.
//
//   - Global leads and admins create protectees and details, and edit any
//     detail and profile (admins write profiles they may not read).
//   - A detail's leader edits it (agents, status, threat level, movements,
//     havens) until it ends, and the profile of its protectee.
//   - The leader and the agents of an active detail check in, report
//     positions and add advance notes; so may global leads and admins add
//     notes.
//   - Anyone holding the protection_agent role sets their own codes.
//   - Auditors, global leads and admins read the access log.
func Allow(id auth.Identity, action policy.Action, d *Detail, details []Detail) error {
	if id.Subject == "" {
		return auth.ErrUnauthenticated
	}
	lead := id.HasRole(auth.RoleGlobalLead) || id.HasRole(auth.RoleAdmin)
	switch action {
	case ManageProtectees:
		if lead {
			return nil
		}
	case EditProfile:
		if lead {
			return nil
		}
		for _, x := range details {
			if x.Status != StatusEnded && x.Leader == id.Subject {
				return nil
			}
		}
	case EditDetail:
		if lead || (d != nil && d.Status != StatusEnded && d.Leader == id.Subject) {
			return nil
		}
	case AddAdvanceNote:
		if lead || (d != nil && d.Status == StatusActive && assigned(*d, id.Subject)) ||
			(d != nil && d.Status != StatusEnded && d.Leader == id.Subject) {
			return nil
		}
	case FieldReport:
		if d != nil && assigned(*d, id.Subject) {
			if d.Status != StatusActive {
				return ErrNotActive
			}
			return nil
		}
		return ErrNotOnDetail
	case SetCodes:
		if id.HasRole(auth.RoleProtectionAgent) {
			return nil
		}
	case ReadAccessLog:
		if lead || id.HasRole(auth.RoleAuditor) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", policy.ErrForbidden, action)
}

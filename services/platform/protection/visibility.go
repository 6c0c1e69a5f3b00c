package protection

import (
	"fmt"
	"strings"

	"meridian.dev/platform/auth"
)

// The lists (Protectees, Details) filter in SQL to what the viewer may
// see, so that a page is never short of rows the gateway then hides. The
// conditions mirror ProtecteeStanding and DetailStanding (a test holds
// them to each other): whatever those call Hidden is never listed.

// sqlArgs collects the positional arguments of a query being built.
type sqlArgs []any

func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
}

// seesAll reports whether the viewer stands Masked or better on every
// record: global leads (cleared), admins and auditors (masked).
func seesAll(v auth.Identity) bool {
	return v.HasRole(auth.RoleGlobalLead) || v.HasRole(auth.RoleAdmin) || v.HasRole(auth.RoleAuditor)
}

// assignedSQL holds when the person whose subject is the placeholder sub
// leads or is an agent of the detail aliased alias.
func assignedSQL(alias, sub string) string {
	return fmt.Sprintf(`(%[1]s.leader = %[2]s OR EXISTS (SELECT 1 FROM detail_agents %[1]s_a
		WHERE %[1]s_a.detail_id = %[1]s.id AND %[1]s_a.subject = %[2]s))`, alias, sub)
}

// managedSQL holds when the viewer manages the region of the detail
// aliased alias; "" when they manage none.
func managedSQL(v auth.Identity, alias string, args *sqlArgs) string {
	if !v.HasRole(auth.RoleRegionalManager) || len(v.Regions) == 0 {
		return ""
	}
	return alias + ".region = ANY(" + args.add(v.Regions) + ")"
}

func anyOf(conds ...string) string {
	var kept []string
	for _, c := range conds {
		if c != "" {
			kept = append(kept, c)
		}
	}
	return "(" + strings.Join(kept, " OR ") + ")"
}

// visibleDetailSQL is a condition on the detail aliased d: the viewer is
// on it (now or once), manages its region, or is cleared for its
// protectee (on one of its details not ended).
func visibleDetailSQL(v auth.Identity, args *sqlArgs) string {
	if v.Subject == "" {
		return "false"
	}
	if seesAll(v) {
		return "true"
	}
	sub := args.add(v.Subject)
	cleared := `EXISTS (SELECT 1 FROM details o WHERE o.protectee_id = d.protectee_id AND o.status <> 'ENDED' AND ` +
		assignedSQL("o", sub) + `)`
	return anyOf(assignedSQL("d", sub), managedSQL(v, "d", args), cleared)
}

// visibleProtecteeSQL is a condition on the protectee aliased p: the
// viewer sees one of its details by being on it or managing its region
// (being cleared for p implies being on one of them).
func visibleProtecteeSQL(v auth.Identity, args *sqlArgs) string {
	if v.Subject == "" {
		return "false"
	}
	if seesAll(v) {
		return "true"
	}
	sub := args.add(v.Subject)
	return `EXISTS (SELECT 1 FROM details pd WHERE pd.protectee_id = p.id AND ` +
		anyOf(assignedSQL("pd", sub), managedSQL(v, "pd", args)) + `)`
}

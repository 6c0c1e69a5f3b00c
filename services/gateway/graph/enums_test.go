package graph_test

import (
	"slices"
	"testing"

	"github.com/graph-gophers/graphql-go/ast"

	"meridian.dev/gateway/graph"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/protection"
)

// TestEnumsAreTheDomainsConstants: every enum of the API that names a
// domain's constants names exactly those, so adding a timeline kind, a
// role or a disposition in one place and not the other fails here.
func TestEnumsAreTheDomainsConstants(t *testing.T) {
	s, err := graph.NewSchema(graph.Deps{}, graph.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	for enum, want := range map[string][]string{
		"TimelineKind":        escalation.TimelineKinds,
		"Role":                auth.KnownRoles,
		"Disposition":         escalation.Dispositions,
		"NotificationChannel": notify.Channels,
		"TargetKind":          {escalation.TargetRole, escalation.TargetUser, escalation.TargetSchedule, escalation.TargetDuty},
		"Severity":            {string(escalation.SEV1), string(escalation.SEV2), string(escalation.SEV3), string(escalation.SEV4)},
		"EscalationStatus":    {string(escalation.StatusOpen), string(escalation.StatusAcknowledged), string(escalation.StatusResolved)},
		"ThreatLevel":         protection.ThreatLevels,
		"DetailStatus":        {protection.StatusPlanned, protection.StatusActive, protection.StatusEnded},
		"MovementStatus":      protection.MovementStatuses,
		"SafeHavenKind":       protection.SafeHavenKinds,
		"DetailEventKind": {protection.EventCheckIn, protection.EventCheckInMissed, protection.EventPosition, protection.EventMovement,
			protection.EventThreatLevel, protection.EventStatus, protection.EventAgents, protection.EventSafeHaven, protection.EventAdvanceNote},
	} {
		def, ok := s.AST().Types[enum].(*ast.EnumTypeDefinition)
		if !ok {
			t.Errorf("enum %s is missing", enum)
			continue
		}
		var got []string
		for _, v := range def.EnumValuesDefinition {
			got = append(got, v.EnumValue)
		}
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
			t.Errorf("enum %s = %v, the domain's constants are %v", enum, got, want)
		}
	}
}

package protection

import (
	"reflect"
	"testing"

	wfescalation "meridian.dev/workflows/escalation"
	"meridian.dev/workflows/feeds"
	"meridian.dev/workflows/travel"
)

// TestActivityMethodsDoNotShadowOtherPackages: the SDK maps an activity's
// Go method name to the name it was registered under too, and a workflow
// that executes an activity by a string equal to another package's method
// name gets that package's activity. Escalation, travel, feed and watch
// activities share one worker, so their methods must have distinct Go
// names, and no registered name may be another package's method name.
func TestActivityMethodsDoNotShadowOtherPackages(t *testing.T) {
	types := map[string]reflect.Type{
		"escalation": reflect.TypeOf(&wfescalation.Activities{}),
		"travel":     reflect.TypeOf(&travel.Activities{}),
		"feeds":      reflect.TypeOf(&feeds.Activities{}),
		"protection": reflect.TypeOf(&Activities{}),
	}
	seen := map[string]string{}
	for pkg, typ := range types {
		for i := range typ.NumMethod() {
			name := typ.Method(i).Name
			if other, ok := seen[name]; ok {
				t.Errorf("activity method %s is declared by both %s and %s: rename one", name, other, pkg)
			}
			seen[name] = pkg
		}
	}
	// Escalation registers its methods under their own names; that is
	// only a clash when another package declares the name.
	registered := map[string][]string{
		"protection": {ActivityRemind, ActivityMissed, ActivityRecovery},
		"escalation": {wfescalation.ActivityPage, wfescalation.ActivityRecordStep, wfescalation.ActivityDecide,
			wfescalation.ActivityHandOff, wfescalation.ActivityPlanPages, wfescalation.ActivityDeliver},
		"travel": {travel.ActivityAsk, travel.ActivityRecordStep, travel.ActivityDecide},
	}
	for owner, names := range registered {
		for _, name := range names {
			if pkg, ok := seen[name]; ok && pkg != owner {
				t.Errorf("%s registers an activity as %s, which is a Go method of %s.Activities", owner, name, pkg)
			}
		}
	}
}

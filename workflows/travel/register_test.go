package travel

import (
	"reflect"
	"testing"

	wfescalation "meridian.dev/workflows/escalation"
	"meridian.dev/workflows/feeds"
)

// TestActivityMethodsDoNotShadowOtherPackages: the Temporal Go SDK maps an
// activity's Go method name to the name it was registered under, and a
// workflow that executes an activity by a string that equals another
// package's method name gets that package's activity. Escalation, travel and
// feed activities share one worker and task queue, so their registered
// methods must have distinct Go names (this once sent escalations'
// "RecordStep" to the trip timeline).
func TestActivityMethodsDoNotShadowOtherPackages(t *testing.T) {
	seen := map[string]string{}
	for pkg, typ := range map[string]reflect.Type{
		"escalation": reflect.TypeOf(&wfescalation.Activities{}),
		"travel":     reflect.TypeOf(&Activities{}),
		"feeds":      reflect.TypeOf(&feeds.Activities{}),
	} {
		for i := range typ.NumMethod() {
			name := typ.Method(i).Name
			if other, ok := seen[name]; ok {
				t.Errorf("activity method %s is declared by both %s and %s: rename one", name, other, pkg)
			}
			seen[name] = pkg
		}
	}
	// The registered names other packages' workflows execute by string
	// must not be a travel method's Go name either.
	for _, name := range []string{wfescalation.ActivityPage, wfescalation.ActivityRecordStep, wfescalation.ActivityDecide,
		wfescalation.ActivityHandOff, wfescalation.ActivityPlanPages, wfescalation.ActivityDeliver} {
		if _, ok := reflect.TypeOf(&Activities{}).MethodByName(name); ok {
			t.Errorf("travel.Activities has a method named %s, which escalations execute by that name", name)
		}
	}
}

package ws

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/platform/auth"
)

// countingExecutor counts executions and runs each until it is stopped.
type countingExecutor struct {
	mu  sync.Mutex
	ran []string // "subject: field" of each execution
}

func (e *countingExecutor) Subscribe(ctx context.Context, query, _ string, _ map[string]any) (<-chan any, error) {
	id, _ := auth.FromContext(ctx)
	field := "siteStatusChanged"
	if strings.Contains(query, "detailUpdated") {
		field = "detailUpdated"
	}
	e.mu.Lock()
	e.ran = append(e.ran, id.Subject+": "+field)
	e.mu.Unlock()
	c := make(chan any)
	go func() { <-ctx.Done(); close(c) }()
	return c, nil
}

// Subscribers with the same roles and regions share one execution, unless
// the document's answer depends on who asks (PerCaller): then each caller
// has their own, run as them, and only one caller's own subscriptions share.
func TestPerCallerSubscriptionsAreNotSharedAcrossCallers(t *testing.T) {
	exec := &countingExecutor{}
	h := NewHandler(exec, nil, slog.New(slog.DiscardHandler), Options{
		PerCaller: func(query, _ string) bool { return strings.Contains(query, "detailUpdated") },
	})
	agent := func(subject string) auth.Identity {
		return auth.Identity{Subject: subject, Roles: []string{auth.RoleProtectionAgent}}
	}
	detail := subscribePayload{Query: `subscription($id: ID!) { detailUpdated(detailId: $id) { kind } }`, Variables: map[string]any{"id": "D1"}}
	sites := subscribePayload{Query: `subscription { siteStatusChanged { cursor } }`}
	ctx := context.Background()
	var members []*member
	join := func(id auth.Identity, p subscribePayload) {
		m := &member{conn: &connection{ops: map[string]func(){}}, id: "1"}
		members = append(members, m)
		h.join(ctx, id, p, m)
	}
	join(agent("pa-liam"), detail)
	join(agent("pa-petra"), detail)
	join(agent("pa-petra"), detail) // a second screen of the same agent
	join(agent("pa-liam"), sites)
	join(agent("pa-petra"), sites)

	h.mu.Lock()
	groups := len(h.groups)
	sizes := map[int]int{}
	for _, g := range h.groups {
		g.mu.Lock()
		sizes[len(g.members)]++
		g.mu.Unlock()
	}
	h.mu.Unlock()
	if groups != 3 {
		t.Errorf("%d executions, want 3: one detailUpdated per agent, one siteStatusChanged for both", groups)
	}
	if sizes[2] != 2 || sizes[1] != 1 {
		t.Errorf("group sizes %v, want two groups of 2 (petra's screens, the sites) and one of 1 (liam)", sizes)
	}
	// Executions start on their own goroutines.
	deadline := time.Now().Add(10 * time.Second)
	var ran []string
	for {
		exec.mu.Lock()
		ran = slices.Clone(exec.ran)
		exec.mu.Unlock()
		if len(ran) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	slices.Sort(ran)
	if want := []string{"pa-liam: detailUpdated", "pa-liam: siteStatusChanged", "pa-petra: detailUpdated"}; !slices.Equal(ran, want) {
		t.Errorf("executions ran as %v, want %v", ran, want)
	}
	for _, m := range members {
		h.leave(m)
	}
}

// Without PerCaller (or for a document it does not claim), the subject
// does not enter the key.
func TestGroupKeyIgnoresTheSubjectUnlessPerCaller(t *testing.T) {
	p := subscribePayload{Query: `subscription { siteStatusChanged { cursor } }`}
	a := auth.Identity{Subject: "a", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"EMEA"}}
	b := auth.Identity{Subject: "b", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"EMEA"}}
	if groupKey(a, p, false) != groupKey(b, p, false) {
		t.Error("two managers of one region do not share a site subscription")
	}
	if groupKey(a, p, true) == groupKey(b, p, true) {
		t.Error("a per-caller subscription is shared between two subjects")
	}
	c := auth.Identity{Subject: "a", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"APAC"}}
	if groupKey(a, p, true) == groupKey(c, p, true) {
		t.Error("the same subject with other regions shares")
	}
}

package server_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/gateway/graph"
	"meridian.dev/gateway/stacktest"
)

// aliasAttack is the request the issue measured: 700 aliases of the board,
// each site with 500 entries of its history, kept under the length limit
// by a fragment.
func aliasAttack() string {
	var b strings.Builder
	b.WriteString("{")
	for i := range 700 {
		fmt.Fprintf(&b, "s%d:sites(first:500){...H}", i)
	}
	b.WriteString("} fragment H on SiteConnection{edges{node{statusHistory(first:500){edges{node{version}}}}}}")
	return b.String()
}

// boardQuery is the board as its screen loads it: every site, a dozen
// fields each.
const boardQuery = `{ sites(first: 500) {
  edges { cursor node { id code name city countryCode timezone criticality
    region { code name } location { latitude longitude }
    status { level posture note version updatedAt updatedBy } } }
  pageInfo { hasNextPage endCursor } } }`

// escalationPageQuery is a page of 50 escalations with their timelines.
const escalationPageQuery = `{ escalations(first: 50) {
  edges { cursor node { id status tier severity startedAt acknowledgedBy
    site { code name status { level posture } } region { code }
    policy { name version }
    timeline { at kind actor note tier recipient channel attempt } } }
  pageInfo { hasNextPage endCursor } } }`

// heapWatch samples the process's heap until stopped, for the report: the
// gateway runs in the test process.
type heapWatch struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
}

func watchHeap() *heapWatch {
	w := &heapWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			w.peak = max(w.peak, m.HeapAlloc)
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *heapWatch) Stop() uint64 {
	close(w.stop)
	<-w.done
	return w.peak
}

func heapNow() (heapAlloc, totalAlloc uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.TotalAlloc
}

const mib = 1 << 20

// TestCostAndAliasLimits: a document that asks for the same expensive
// field hundreds of times under aliases, or one whose lists multiply past
// the cost limit, is refused before anything runs, saying by how much;
// the product's own documents (the board, a page of escalations with
// their timelines) stay inside the limits.
func TestCostAndAliasLimits(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	token := s.Token(t, stacktest.GlobalLead)
	// Something to read: a few escalations, and history on their sites.
	for _, code := range []string{"LON-HQ", "NYC-HQ", "SIN-HQ"} {
		s.SetStatus(t, s.GW, stacktest.GlobalLead, code, "HIGH", "RESTRICTED", "limits test")
		if p := s.SetStatus(t, s.GW, stacktest.GlobalLead, code, "CRITICAL", "LOCKDOWN", "limits test"); p.Escalation == nil {
			t.Fatalf("CRITICAL/LOCKDOWN at %s opened no escalation", code)
		}
	}

	attack := aliasAttack()
	if len(attack) > graph.DefaultLimits.MaxQueryLength || len(attack) < 15_000 {
		t.Fatalf("the attack is %d bytes; it must be about 18 KB, within the %d-byte length limit", len(attack), graph.DefaultLimits.MaxQueryLength)
	}

	t.Run("700 aliases are refused", func(t *testing.T) {
		r := s.GW.Query(t, token, attack, nil)
		if r.Status != http.StatusOK {
			t.Errorf("HTTP %d, want 200", r.Status)
		}
		e := r.Refused(t, "BAD_USER_INPUT")
		if n, _ := e.Extensions["aliases"].(float64); n != 700 {
			t.Errorf("extensions.aliases = %v, want 700: %s", e.Extensions["aliases"], r.Body)
		}
		if n, _ := e.Extensions["maxAliases"].(float64); int(n) != graph.DefaultLimits.MaxAliases {
			t.Errorf("extensions.maxAliases = %v, want %d", e.Extensions["maxAliases"], graph.DefaultLimits.MaxAliases)
		}
		if len(r.Data) > 0 && string(r.Data) != "null" {
			t.Errorf("a refused document answered data: %.200s", r.Data)
		}
	})

	t.Run("one field whose lists multiply past the cost is refused", func(t *testing.T) {
		r := s.GW.Query(t, token, `{ sites(first: 500) { edges { node { statusHistory(first: 500) { edges { node { version } } } } } } }`, nil)
		e := r.Refused(t, "BAD_USER_INPUT")
		if c, _ := e.Extensions["cost"].(float64); c < 500*500 {
			t.Errorf("extensions.cost = %v, want at least 500 × 500: %s", e.Extensions["cost"], r.Body)
		}
		if c, _ := e.Extensions["maxCost"].(float64); int(c) != graph.DefaultLimits.MaxCost {
			t.Errorf("extensions.maxCost = %v, want %d", e.Extensions["maxCost"], graph.DefaultLimits.MaxCost)
		}
		// The same through a variable.
		r = s.GW.Query(t, token, `query($n: Int) { sites(first: $n) { edges { node { statusHistory(first: $n) { edges { node { version } } } } } } }`, map[string]any{"n": 500})
		if e := r.Refused(t, "BAD_USER_INPUT"); e.Extensions["maxCost"] == nil {
			t.Errorf("first from a variable: %s", r.Body)
		}
	})

	t.Run("the board is served", func(t *testing.T) {
		var out struct {
			Sites struct {
				Edges []struct {
					Node struct {
						Code   string
						Status struct{ Level string }
					}
				}
			}
		}
		s.GW.Query(t, token, boardQuery, nil).Decode(t, &out)
		if len(out.Sites.Edges) != len(s.Sites) {
			t.Errorf("the board lists %d sites, want %d", len(out.Sites.Edges), len(s.Sites))
		}
	})

	t.Run("a page of 50 escalations with their timelines is served", func(t *testing.T) {
		var out struct {
			Escalations struct {
				Edges []struct {
					Node struct {
						Site     struct{ Code string }
						Timeline []struct{ Kind string }
					}
				}
			}
		}
		s.GW.Query(t, token, escalationPageQuery, nil).Decode(t, &out)
		if len(out.Escalations.Edges) != 3 {
			t.Fatalf("%d escalations listed, want the 3 opened", len(out.Escalations.Edges))
		}
		for _, e := range out.Escalations.Edges {
			if len(e.Node.Timeline) == 0 || e.Node.Timeline[0].Kind != "OPENED" {
				t.Errorf("escalation of %s: timeline %+v, want it to start OPENED", e.Node.Site.Code, e.Node.Timeline)
			}
		}
	})

	t.Run("the attack five times, for the heap figures", func(t *testing.T) {
		heapBefore, allocBefore := heapNow()
		w := watchHeap()
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				s.GW.Query(t, token, attack, nil).Refused(t, "BAD_USER_INPUT")
			})
		}
		wg.Wait()
		peak := w.Stop()
		heapAfter, allocAfter := heapNow()
		t.Logf("heap (the whole test process, other parallel tests included): %.1f MiB before, %.1f MiB peak while 5 attacks ran, %.1f MiB after; %.1f MiB allocated meanwhile",
			float64(heapBefore)/mib, float64(peak)/mib, float64(heapAfter)/mib, float64(allocAfter-allocBefore)/mib)
	})
}

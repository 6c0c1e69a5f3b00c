package stacktest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/advisory/feed/feedserver"
	"meridian.dev/platform/directory"
	"meridian.dev/platform/proximity"
	"meridian.dev/worker/demo"
	wserver "meridian.dev/worker/server"
	feedswf "meridian.dev/workflows/feeds"
)

// The public feeds, as a stack sees them: every stack has its own feed
// server over the project's fixtures (feedserver.New), so a test that makes
// a document fail never disturbs another, and nothing reaches the internet.

// startFeeds serves the fixtures for this stack. It starts before the
// worker, so its cleanup runs after the worker's: no run of the worker ever
// finds the server gone.
func (s *Stack) startFeeds(t testing.TB) {
	t.Helper()
	s.Feeds = feedserver.New()
	srv := httptest.NewServer(s.Feeds)
	t.Cleanup(srv.Close)
	s.FeedsURL = srv.URL
}

// feedConfig points the worker at the stack's feed server. Schedules stay
// off: the dev server's namespace is shared by every test package running
// at once, and a schedule reading on its own would change data behind a
// test's back. Tests read a feed on demand (RefreshAdvisories,
// RunEventIngest) instead.
func (s *Stack) feedConfig() wserver.FeedConfig {
	return wserver.FeedConfig{
		URLs:      feedserver.URLs(s.FeedsURL),
		USGS:      feedserver.USGSURL(s.FeedsURL),
		Every:     time.Hour,
		Events:    time.Hour,
		Schedules: false,
	}
}

// RefreshAdvisoriesMutation reads one advisory source now; its variable is
// $source (an AdvisorySource), its data a RefreshResult under
// "refreshAdvisories".
const RefreshAdvisoriesMutation = `mutation($source: AdvisorySource!) {
  refreshAdvisories(input: { source: $source }) { source fetched changed levelsChanged error }
}`

// RefreshResult is refreshAdvisories' answer.
type RefreshResult struct {
	Source        string
	Fetched       int
	Changed       int
	LevelsChanged int
	Error         *string
}

// AdvisorySources are the four sources' names in the API, in feed.Sources
// order.
func AdvisorySources() []string {
	out := make([]string, len(feed.Sources))
	for i, src := range feed.Sources {
		out[i] = string(src)
	}
	return out
}

// RefreshAdvisories runs refreshAdvisories for source as subject and
// returns its answer, whatever the run's outcome (Error says why a run
// stored nothing).
func (s *Stack) RefreshAdvisories(t testing.TB, subject, source string) RefreshResult {
	t.Helper()
	var out struct{ RefreshAdvisories RefreshResult }
	s.GW.Query(t, s.Token(t, subject), RefreshAdvisoriesMutation, map[string]any{"source": source}).Decode(t, &out)
	if out.RefreshAdvisories.Source != source {
		t.Fatalf("refreshAdvisories(%s) answered for %q", source, out.RefreshAdvisories.Source)
	}
	return out.RefreshAdvisories
}

// LoadAdvisories reads every advisory source from the fixtures as the
// travel team, and fails the test unless each run read something and
// stored it.
func (s *Stack) LoadAdvisories(t testing.TB) map[string]RefreshResult {
	t.Helper()
	out := map[string]RefreshResult{}
	for _, src := range AdvisorySources() {
		r := s.RefreshAdvisories(t, TravelTeam, src)
		if r.Error != nil || r.Fetched == 0 {
			t.Fatalf("refreshAdvisories(%s) from the fixtures: fetched %d, error %v", src, r.Fetched, deref(r.Error))
		}
		out[src] = r
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// RunEventIngest runs the worker's earthquake ingestion once, as its
// schedule would: the EventIngest workflow on the stack's task queue,
// through Temporal (there is no GraphQL trigger for it). It returns the
// run's summary, and fails the test when the run fails.
func (s *Stack) RunEventIngest(t testing.TB) proximity.EventSummary {
	t.Helper()
	tc, err := client.Dial(client.Options{HostPort: s.TemporalHost, Namespace: "default"})
	if err != nil {
		t.Fatalf("stacktest: dial Temporal: %v", err)
	}
	defer tc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), WaitLimit)
	defer cancel()
	id := fmt.Sprintf("%s-events-ingest-%d", s.TaskQueue, time.Now().UnixNano())
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: s.TaskQueue, WorkflowExecutionTimeout: WaitLimit},
		feedswf.WorkflowEventIngest)
	if err != nil {
		t.Fatalf("stacktest: start %s: %v", id, err)
	}
	var sum proximity.EventSummary
	if err := run.Get(ctx, &sum); err != nil {
		t.Fatalf("stacktest: %s: %v", id, err)
	}
	return sum
}

// LoadTravellers adds the demo travellers (demo.Travellers: tr-tomas,
// tr-keiko, tr-marta) to the directory, without their demo trips, so
// trips can name them. Stacks do not have them by default: they are
// people without a role, kept out of the stacks that do not need them.
func (s *Stack) LoadTravellers(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
	defer cancel()
	people := directory.NewStore(s.Pool)
	for _, p := range demo.Travellers {
		if err := people.Upsert(ctx, p); err != nil {
			t.Fatalf("stacktest: traveller %s: %v", p.Subject, err)
		}
	}
}

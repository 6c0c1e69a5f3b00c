package feeds

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"meridian.dev/platform/advisory"
	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/proximity"
)

// The unit tests run the ingest workflows in the SDK's test environment
// with the real activities over ingesters of the test's own, which answer
// what each attempt is told to and record the calls.

// scriptedAdvisories answers each Run with the next of answers (the last
// one repeats) and records the sources it was asked for.
type scriptedAdvisories struct {
	mu      sync.Mutex
	calls   []feed.Source
	answers []func(feed.Source) (advisory.RunSummary, error)
}

func (s *scriptedAdvisories) Run(_ context.Context, src feed.Source) (advisory.RunSummary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, src)
	answer := s.answers[min(len(s.calls), len(s.answers))-1]
	return answer(src)
}

func (s *scriptedAdvisories) sources() []feed.Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]feed.Source(nil), s.calls...)
}

type scriptedEvents struct {
	mu      sync.Mutex
	calls   int
	answers []func() (proximity.EventSummary, error)
}

func (s *scriptedEvents) Run(context.Context) (proximity.EventSummary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.answers[min(s.calls, len(s.answers))-1]()
}

func newEnv(t *testing.T, a *Activities) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	Register(env, a)
	return env
}

var errCollect = errors.New("feed: malformed document: travel.state.gov answered an HTML error page")

func TestAdvisoryIngestReturnsTheSummary(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ing := &scriptedAdvisories{answers: []func(feed.Source) (advisory.RunSummary, error){
		func(src feed.Source) (advisory.RunSummary, error) {
			return advisory.RunSummary{Source: src, Fetched: 211, Changed: 3, LevelsChanged: 1, At: at}, nil
		},
	}}
	env := newEnv(t, &Activities{Advisories: ing})
	env.ExecuteWorkflow(WorkflowAdvisoryIngest, feed.UKFCDO)

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var sum advisory.RunSummary
	require.NoError(t, env.GetWorkflowResult(&sum))
	require.Equal(t, advisory.RunSummary{Source: feed.UKFCDO, Fetched: 211, Changed: 3, LevelsChanged: 1, At: at}, sum)
	require.Equal(t, []feed.Source{feed.UKFCDO}, ing.sources())
}

func TestAdvisoryIngestRetriesThenReportsTheFailureInTheSummary(t *testing.T) {
	t.Parallel()
	ing := &scriptedAdvisories{answers: []func(feed.Source) (advisory.RunSummary, error){
		func(src feed.Source) (advisory.RunSummary, error) {
			return advisory.RunSummary{Source: src, Error: errCollect.Error()}, errCollect
		},
	}}
	env := newEnv(t, &Activities{Advisories: ing})
	start := env.Now()
	env.ExecuteWorkflow(WorkflowAdvisoryIngest, feed.USState)

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "a feed that cannot be read is a result, not a failed run")
	var sum advisory.RunSummary
	require.NoError(t, env.GetWorkflowResult(&sum))
	require.Equal(t, feed.USState, sum.Source)
	require.Equal(t, errCollect.Error(), sum.Error, "the ingester's own words, without Temporal's wrapping")
	require.Len(t, ing.sources(), ingestAttempts, "a few attempts, not forever")
	require.GreaterOrEqual(t, env.Now().Sub(start), 30*time.Second, "backoff between attempts: 10 s, then 20 s")
}

// TestAdvisoryIngestDoesNotRetryAnUnusableFeed: a malformed document or a
// suspiciously small snapshot is what the source serves now; the run
// reports it at once (refreshAdvisories answers in seconds, not 30).
func TestAdvisoryIngestDoesNotRetryAnUnusableFeed(t *testing.T) {
	t.Parallel()
	for name, cause := range map[string]error{
		"malformed":  fmt.Errorf("us state: %w: an HTML page, not RSS", feed.ErrMalformed),
		"suspicious": fmt.Errorf("%w: suspiciously small: 3 countries where 180 were stored", advisory.ErrRefused),
	} {
		t.Run(name, func(t *testing.T) {
			ing := &scriptedAdvisories{answers: []func(feed.Source) (advisory.RunSummary, error){
				func(src feed.Source) (advisory.RunSummary, error) {
					return advisory.RunSummary{Source: src, Error: cause.Error()}, cause
				},
			}}
			env := newEnv(t, &Activities{Advisories: ing})
			env.ExecuteWorkflow(WorkflowAdvisoryIngest, feed.USState)
			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())
			var sum advisory.RunSummary
			require.NoError(t, env.GetWorkflowResult(&sum))
			require.Equal(t, cause.Error(), sum.Error)
			require.Len(t, ing.sources(), 1, "one attempt")
		})
	}
}

func TestAdvisoryIngestRecoversOnARetry(t *testing.T) {
	t.Parallel()
	ing := &scriptedAdvisories{answers: []func(feed.Source) (advisory.RunSummary, error){
		func(src feed.Source) (advisory.RunSummary, error) {
			return advisory.RunSummary{Source: src}, errCollect
		},
		func(src feed.Source) (advisory.RunSummary, error) {
			return advisory.RunSummary{Source: src, Fetched: 180}, nil
		},
	}}
	env := newEnv(t, &Activities{Advisories: ing})
	env.ExecuteWorkflow(WorkflowAdvisoryIngest, feed.CAGAC)

	var sum advisory.RunSummary
	require.NoError(t, env.GetWorkflowResult(&sum))
	require.Equal(t, advisory.RunSummary{Source: feed.CAGAC, Fetched: 180}, sum)
	require.Len(t, ing.sources(), 2)
}

func TestAdvisoryIngestRefusesAnUnknownSourceAtOnce(t *testing.T) {
	t.Parallel()
	ing := &scriptedAdvisories{}
	env := newEnv(t, &Activities{Advisories: ing})
	env.ExecuteWorkflow(WorkflowAdvisoryIngest, feed.Source("NZ_SAFETRAVEL"))

	var sum advisory.RunSummary
	require.NoError(t, env.GetWorkflowResult(&sum))
	require.Contains(t, sum.Error, `unknown advisory source "NZ_SAFETRAVEL"`)
	require.Empty(t, ing.sources(), "no ingester run, no retry")
}

func TestEventIngestReturnsTheSummary(t *testing.T) {
	t.Parallel()
	ing := &scriptedEvents{answers: []func() (proximity.EventSummary, error){
		func() (proximity.EventSummary, error) {
			return proximity.EventSummary{Fetched: 42, New: 5, Updated: 2, IncidentsRaised: 1, Skipped: []string{"ak0001: no coordinates"}}, nil
		},
	}}
	env := newEnv(t, &Activities{Events: ing})
	env.ExecuteWorkflow(WorkflowEventIngest)

	require.NoError(t, env.GetWorkflowError())
	var sum proximity.EventSummary
	require.NoError(t, env.GetWorkflowResult(&sum))
	require.Equal(t, proximity.EventSummary{Fetched: 42, New: 5, Updated: 2, IncidentsRaised: 1, Skipped: []string{"ak0001: no coordinates"}}, sum)
	require.Equal(t, 1, ing.calls)
}

func TestEventIngestFailsAfterItsAttempts(t *testing.T) {
	t.Parallel()
	ing := &scriptedEvents{answers: []func() (proximity.EventSummary, error){
		func() (proximity.EventSummary, error) {
			return proximity.EventSummary{}, errors.New("usgs: 503 Service Unavailable")
		},
	}}
	env := newEnv(t, &Activities{Events: ing})
	env.ExecuteWorkflow(WorkflowEventIngest)

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "want the ingester's error, got %v", err)
	require.Equal(t, "usgs: 503 Service Unavailable", app.Message())
	require.Equal(t, ingestAttempts, ing.calls)
}

func TestScheduleIDs(t *testing.T) {
	t.Parallel()
	var ids []string
	for _, s := range (ScheduleConfig{}).schedules() {
		ids = append(ids, s.id)
	}
	require.Equal(t, []string{
		"advisory-ingest-us-state", "advisory-ingest-uk-fcdo", "advisory-ingest-ca-gac",
		"advisory-ingest-au-smartraveller", "events-ingest-usgs",
	}, ids)
	cfg := ScheduleConfig{AdvisoryEvery: map[feed.Source]time.Duration{feed.UKFCDO: 3 * time.Hour}, EventsEvery: time.Minute, IDPrefix: "t1-"}
	every := map[string]time.Duration{}
	for _, s := range cfg.schedules() {
		every[s.id] = s.every
	}
	require.Equal(t, map[string]time.Duration{
		"t1-advisory-ingest-us-state": DefaultAdvisoryEvery, "t1-advisory-ingest-uk-fcdo": 3 * time.Hour,
		"t1-advisory-ingest-ca-gac": DefaultAdvisoryEvery, "t1-advisory-ingest-au-smartraveller": DefaultAdvisoryEvery,
		"t1-events-ingest-usgs": time.Minute,
	}, every)
}

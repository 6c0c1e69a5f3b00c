package feeds

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"

	"meridian.dev/platform/advisory"
	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/advisory/feed/fixtures"
	"meridian.dev/platform/proximity"
	"meridian.dev/platform/testenv"
	"meridian.dev/workflows/engine"
	"meridian.dev/workflows/historytest"
)

// Engine tests on the Temporal dev server: the schedules are real, and so
// are the worker and the workflows they start; the ingesters are the test's
// own and only record the calls. Every schedule carries a prefix unique to
// the test and is deleted when it ends: the dev server is shared.

// recordingAdvisories answers every run with a summary naming its source.
type recordingAdvisories struct{ calls chan feed.Source }

func (r *recordingAdvisories) Run(_ context.Context, src feed.Source) (advisory.RunSummary, error) {
	r.calls <- src
	return advisory.RunSummary{Source: src, Fetched: 7, Changed: 2, At: time.Now().UTC()}, nil
}

type recordingEvents struct{ calls chan struct{} }

func (r *recordingEvents) Run(context.Context) (proximity.EventSummary, error) {
	r.calls <- struct{}{}
	return proximity.EventSummary{Fetched: 3, New: 3}, nil
}

type engineFixture struct {
	tc         client.Client
	tq         string
	prefix     string
	advisories *recordingAdvisories
	events     *recordingEvents
}

func newEngineFixture(t *testing.T) *engineFixture {
	t.Helper()
	addr := testenv.TemporalAddress(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tc, err := engine.Dial(ctx, addr, "default", historytest.QuietLogger())
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	t.Cleanup(tc.Close)
	f := &engineFixture{
		tc: tc, tq: testenv.Unique(t, "tq"), prefix: testenv.Unique(t, "sched") + "-",
		advisories: &recordingAdvisories{calls: make(chan feed.Source, 64)},
		events:     &recordingEvents{calls: make(chan struct{}, 64)},
	}
	w := worker.New(tc, f.tq, worker.Options{})
	Register(w, &Activities{Advisories: f.advisories, Events: f.events})
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return f
}

func (f *engineFixture) ids() []string {
	ids := make([]string, 0, len(feed.Sources)+1)
	for _, src := range feed.Sources {
		ids = append(ids, AdvisoryScheduleID(f.prefix, src))
	}
	return append(ids, EventsScheduleID(f.prefix))
}

// deleteSchedules removes every schedule the test may have created.
func (f *engineFixture) deleteSchedules(t *testing.T) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, id := range f.ids() {
			_ = f.tc.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
		}
	})
}

func (f *engineFixture) describe(t *testing.T, id string) *client.ScheduleDescription {
	t.Helper()
	d, err := f.tc.ScheduleClient().GetHandle(context.Background(), id).Describe(context.Background())
	if err != nil {
		t.Fatalf("describe %s: %v", id, err)
	}
	return d
}

func interval(t *testing.T, d *client.ScheduleDescription) time.Duration {
	t.Helper()
	if d.Schedule.Spec == nil || len(d.Schedule.Spec.Intervals) != 1 {
		t.Fatalf("spec = %+v, want one interval", d.Schedule.Spec)
	}
	return d.Schedule.Spec.Intervals[0].Every
}

func TestEnsureSchedulesCreatesUpdatesAndRuns(t *testing.T) {
	t.Parallel()
	f := newEngineFixture(t)
	f.deleteSchedules(t)
	ctx := context.Background()
	cfg := ScheduleConfig{TaskQueue: f.tq, IDPrefix: f.prefix, EventsEvery: 10 * time.Minute}
	if err := EnsureSchedules(ctx, f.tc, cfg); err != nil {
		t.Fatalf("ensure: %v", err)
	}

	// Five schedules, each on its interval with SKIP, described in its memo.
	wantEvery := map[string]time.Duration{EventsScheduleID(f.prefix): 10 * time.Minute}
	for _, src := range feed.Sources {
		wantEvery[AdvisoryScheduleID(f.prefix, src)] = DefaultAdvisoryEvery
	}
	for id, every := range wantEvery {
		d := f.describe(t, id)
		if got := interval(t, d); got != every {
			t.Errorf("%s: interval %s, want %s", id, got, every)
		}
		if d.Schedule.Policy == nil || d.Schedule.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP {
			t.Errorf("%s: policy %+v, want overlap SKIP", id, d.Schedule.Policy)
		}
		action, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
		if !ok || action.TaskQueue != f.tq {
			t.Errorf("%s: action %+v, want a workflow on %s", id, d.Schedule.Action, f.tq)
		}
		var description string
		if p := d.Memo.GetFields()["description"]; p == nil || converter.GetDefaultDataConverter().FromPayload(p, &description) != nil ||
			!strings.Contains(description, "every") {
			t.Errorf("%s: memo description %q", id, description)
		}
	}

	// Each ran at once on creation, on this test's worker.
	seen := map[feed.Source]bool{}
	deadline := time.After(historytest.AwaitTimeout)
	for len(seen) < len(feed.Sources) {
		select {
		case src := <-f.advisories.calls:
			seen[src] = true
		case <-deadline:
			t.Fatalf("advisory runs triggered on creation: only %v", seen)
		}
	}
	select {
	case <-f.events.calls:
	case <-deadline:
		t.Fatal("the event schedule did not run on creation")
	}

	// A restarted worker with another interval updates instead of failing;
	// an unchanged configuration is left alone.
	cfg.AdvisoryEvery = map[feed.Source]time.Duration{feed.UKFCDO: 3 * time.Hour}
	if err := EnsureSchedules(ctx, f.tc, cfg); err != nil {
		t.Fatalf("ensure again with a new interval: %v", err)
	}
	uk := f.describe(t, AdvisoryScheduleID(f.prefix, feed.UKFCDO))
	if got := interval(t, uk); got != 3*time.Hour {
		t.Fatalf("UK interval after the update = %s, want 3h", got)
	}
	if uk.Schedule.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP {
		t.Fatalf("UK overlap after the update = %s", uk.Schedule.Policy.Overlap)
	}
	us := f.describe(t, AdvisoryScheduleID(f.prefix, feed.USState))
	before := us.Info.LastUpdateAt
	if err := EnsureSchedules(ctx, f.tc, cfg); err != nil {
		t.Fatalf("ensure a third time: %v", err)
	}
	if after := f.describe(t, AdvisoryScheduleID(f.prefix, feed.USState)).Info.LastUpdateAt; !after.Equal(before) {
		t.Fatalf("an unchanged schedule was rewritten (last update %s → %s)", before, after)
	}

	// Disabled pauses them; enabled again resumes those it paused.
	cfg.Disabled = true
	if err := EnsureSchedules(ctx, f.tc, cfg); err != nil {
		t.Fatalf("disable: %v", err)
	}
	for id := range wantEvery {
		if st := f.describe(t, id).Schedule.State; st == nil || !st.Paused {
			t.Fatalf("%s not paused while disabled: %+v", id, st)
		}
	}
	cfg.Disabled = false
	if err := EnsureSchedules(ctx, f.tc, cfg); err != nil {
		t.Fatalf("enable: %v", err)
	}
	for id := range wantEvery {
		if st := f.describe(t, id).Schedule.State; st == nil || st.Paused {
			t.Fatalf("%s still paused after enabling: %+v", id, st)
		}
	}

	// A triggered schedule runs the workflow again; its result is the
	// ingester's summary.
	events := f.describe(t, EventsScheduleID(f.prefix))
	if err := f.tc.ScheduleClient().GetHandle(ctx, EventsScheduleID(f.prefix)).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatalf("trigger: %v", err)
	}
	select {
	case <-f.events.calls:
	case <-time.After(historytest.AwaitTimeout):
		t.Fatal("the triggered event schedule did not run")
	}
	var run client.ScheduleWorkflowExecution
	for end := time.Now().Add(historytest.AwaitTimeout); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		d := f.describe(t, EventsScheduleID(f.prefix))
		if n := len(d.Info.RecentActions); n > len(events.Info.RecentActions) {
			run = *d.Info.RecentActions[n-1].StartWorkflowResult
			break
		}
	}
	if run.WorkflowID == "" {
		t.Fatal("the triggered run does not show in the schedule's recent actions")
	}
	var sum proximity.EventSummary
	if err := f.tc.GetWorkflow(ctx, run.WorkflowID, run.FirstExecutionRunID).Get(ctx, &sum); err != nil {
		t.Fatalf("triggered run: %v", err)
	}
	if sum.Fetched != 3 || sum.New != 3 {
		t.Fatalf("triggered run's result = %+v", sum)
	}
}

func TestDisabledCreatesNothing(t *testing.T) {
	t.Parallel()
	f := newEngineFixture(t)
	f.deleteSchedules(t)
	if err := EnsureSchedules(context.Background(), f.tc, ScheduleConfig{TaskQueue: f.tq, IDPrefix: f.prefix, Disabled: true}); err != nil {
		t.Fatalf("ensure disabled: %v", err)
	}
	for _, id := range f.ids() {
		if _, err := f.tc.ScheduleClient().GetHandle(context.Background(), id).Describe(context.Background()); !isNotFound(err) {
			t.Fatalf("%s: describe = %v, want not found", id, err)
		}
	}
}

func TestRunNowReturnsTheSummary(t *testing.T) {
	t.Parallel()
	f := newEngineFixture(t)
	sum, err := RunNow(context.Background(), f.tc, f.tq, feed.AUSmartraveller)
	if err != nil {
		t.Fatalf("run now: %v", err)
	}
	if sum.Source != feed.AUSmartraveller || sum.Fetched != 7 || sum.Changed != 2 || sum.Error != "" {
		t.Fatalf("summary = %+v", sum)
	}
	if got := <-f.advisories.calls; got != feed.AUSmartraveller {
		t.Fatalf("ingester ran %s", got)
	}
	if _, err := RunNow(context.Background(), f.tc, f.tq, feed.Source("XX")); err == nil {
		t.Fatal("an unknown source was run")
	}
}

// documents is a feed.Getter over documents held in memory, by URL.
type documents map[string][]byte

func (d documents) Get(_ context.Context, url string) (feed.Document, error) {
	body, ok := d[url]
	if !ok {
		return feed.Document{}, fmt.Errorf("no document at %s", url)
	}
	return feed.Document{URL: url, Body: body, FetchedAt: time.Now().UTC()}, nil
}

// TestRunNowStoresAdvisories runs the refresh end to end: the workflow on
// the dev server, the real advisory ingester over a fresh Postgres, reading
// the project's own Smartraveller and State Department fixtures, and the
// real published samples in ../shared/feeds as well when they are there.
func TestRunNowStoresAdvisories(t *testing.T) {
	t.Parallel()
	type reading struct {
		src  feed.Source
		name string
		body func(t *testing.T) []byte
	}
	own := func(path string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			body, err := fixtures.FS.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return body
		}
	}
	readings := []reading{
		{feed.AUSmartraveller, "own AU fixture", own("au/destinations-export.json")},
		{feed.USState, "own US fixture", own("us/TAsTWs.xml")},
	}
	shared := filepath.Join("..", "..", "..", "shared", "feeds")
	for _, s := range []struct {
		src  feed.Source
		file string
	}{{feed.AUSmartraveller, "au-smartraveller-destinations-export.json"}, {feed.USState, "us-state-rss.xml"}} {
		path := filepath.Join(shared, s.file)
		if _, err := os.Stat(path); err != nil {
			continue // the shared samples are not on every machine
		}
		readings = append(readings, reading{s.src, "shared " + s.file, func(t *testing.T) []byte {
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return body
		}})
	}
	for _, r := range readings {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			f := newEngineFixture(t)
			pool := testenv.NewPool(t)
			url := "test://" + string(r.src)
			ingesting := &Activities{Advisories: &advisory.Ingester{
				Store: advisory.NewStore(pool), Getter: documents{url: r.body(t)},
				URLs: map[feed.Source]string{r.src: url}, Log: historytest.QuietLogger(),
			}}
			tq := f.tq + "-real"
			w := worker.New(f.tc, tq, worker.Options{})
			Register(w, ingesting)
			if err := w.Start(); err != nil {
				t.Fatalf("start worker: %v", err)
			}
			t.Cleanup(w.Stop)

			sum, err := RunNow(context.Background(), f.tc, tq, r.src)
			if err != nil {
				t.Fatalf("run now: %v", err)
			}
			if sum.Source != r.src || sum.Error != "" || sum.Fetched == 0 || sum.Changed == 0 {
				t.Fatalf("summary = %+v", sum)
			}
			var stored int
			if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM advisories WHERE source = $1`, string(r.src)).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if stored == 0 || stored > sum.Fetched {
				t.Fatalf("%d advisories stored for %d fetched", stored, sum.Fetched)
			}
		})
	}
}

package feeds

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"meridian.dev/platform/advisory"
	"meridian.dev/platform/advisory/feed"
)

// Default intervals: the advisory sources change a few times a day at
// most; earthquakes matter within minutes.
const (
	DefaultAdvisoryEvery = time.Hour
	DefaultEventsEvery   = 5 * time.Minute
)

// ScheduleConfig says how often each feed is read.
type ScheduleConfig struct {
	// TaskQueue is where the runs' workflows and activities go; the worker
	// that registered this package polls it.
	TaskQueue string
	// AdvisoryEvery is each advisory source's interval; a source missing
	// (or zero) here is read every DefaultAdvisoryEvery.
	AdvisoryEvery map[feed.Source]time.Duration
	// EventsEvery is the event feed's interval; 0 means DefaultEventsEvery.
	EventsEvery time.Duration
	// Disabled pauses the schedules (and creates none that are missing):
	// for deployments that must not reach the public internet. Schedules
	// paused this way are resumed when Disabled is turned off; a schedule
	// an operator paused by hand stays paused.
	Disabled bool
	// IDPrefix is put before every schedule ID (and the runs' workflow
	// IDs); "" in production, unique per test on the shared dev server.
	IDPrefix string
}

// disabledNote marks a schedule paused by ScheduleConfig.Disabled, so that
// only those are resumed when it is turned off.
const disabledNote = "paused by Meridian: feed schedules are disabled in the worker's configuration"

// scheduled is one schedule EnsureSchedules keeps.
type scheduled struct {
	id          string
	workflow    string
	args        []any
	every       time.Duration
	description string
}

// AdvisoryScheduleID is the schedule of one advisory source:
// advisory-ingest-us-state, advisory-ingest-uk-fcdo, …
func AdvisoryScheduleID(prefix string, src feed.Source) string {
	return prefix + "advisory-ingest-" + slug(src)
}

// EventsScheduleID is the event feed's schedule.
func EventsScheduleID(prefix string) string { return prefix + "events-ingest-usgs" }

func slug(src feed.Source) string {
	return strings.ReplaceAll(strings.ToLower(string(src)), "_", "-")
}

func (cfg ScheduleConfig) schedules() []scheduled {
	var out []scheduled
	for _, src := range feed.Sources {
		every := cfg.AdvisoryEvery[src]
		if every <= 0 {
			every = DefaultAdvisoryEvery
		}
		out = append(out, scheduled{
			id: AdvisoryScheduleID(cfg.IDPrefix, src), workflow: WorkflowAdvisoryIngest, args: []any{src}, every: every,
			description: fmt.Sprintf("Reads the %s travel advisories into Meridian every %s (workflow %s).", src, every, WorkflowAdvisoryIngest),
		})
	}
	every := cfg.EventsEvery
	if every <= 0 {
		every = DefaultEventsEvery
	}
	return append(out, scheduled{
		id: EventsScheduleID(cfg.IDPrefix), workflow: WorkflowEventIngest, every: every,
		description: fmt.Sprintf("Reads the USGS earthquake feed every %s and raises incidents near our people and sites (workflow %s).", every, WorkflowEventIngest),
	})
}

// EnsureSchedules creates the feed schedules that are missing and brings
// the others to cfg, so every worker may call it at start: one Temporal
// Schedule per advisory source and one for the event feed, each on an
// interval with the SKIP overlap policy (a slow run is never doubled). A
// new schedule runs at once, so a fresh installation has data within a
// minute instead of an interval.
func EnsureSchedules(ctx context.Context, c client.Client, cfg ScheduleConfig) error {
	if cfg.TaskQueue == "" {
		return errors.New("feeds: schedules need a task queue")
	}
	var errs []error
	for _, s := range cfg.schedules() {
		if err := ensure(ctx, c.ScheduleClient(), cfg, s); err != nil {
			errs = append(errs, fmt.Errorf("feeds: schedule %s: %w", s.id, err))
		}
	}
	return errors.Join(errs...)
}

func (s scheduled) spec() client.ScheduleSpec {
	return client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: s.every}}}
}

func (s scheduled) action(cfg ScheduleConfig) *client.ScheduleWorkflowAction {
	return &client.ScheduleWorkflowAction{
		// Temporal appends the scheduled time to make each run's ID.
		ID: s.id, Workflow: s.workflow, Args: s.args, TaskQueue: cfg.TaskQueue,
		WorkflowExecutionTimeout: runTimeout,
	}
}

// catchupWindow: after an outage, one late run is worth taking; a backlog
// of them is not (SKIP would run them one after another).
func (s scheduled) catchupWindow() time.Duration { return max(s.every, time.Minute) }

func ensure(ctx context.Context, sc client.ScheduleClient, cfg ScheduleConfig, s scheduled) error {
	handle := sc.GetHandle(ctx, s.id)
	if cfg.Disabled {
		err := handle.Pause(ctx, client.SchedulePauseOptions{Note: disabledNote})
		if isNotFound(err) {
			return nil // nothing to pause, and nothing is created
		}
		return err
	}
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID: s.id, Spec: s.spec(), Action: s.action(cfg),
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: s.catchupWindow(),
		TriggerImmediately: true,
		Memo:               map[string]any{"description": s.description},
		Note:               s.description,
	})
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return err
	}
	// It exists (another worker, or this one before a restart): bring it to
	// this configuration instead.
	resume := false
	err = handle.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		current := in.Description.Schedule
		resume = current.State != nil && current.State.Paused && current.State.Note == disabledNote
		if upToDate(current, s, cfg) {
			return nil, temporal.ErrSkipScheduleUpdate
		}
		spec := s.spec()
		current.Spec = &spec
		current.Action = s.action(cfg)
		if current.Policy == nil {
			current.Policy = &client.SchedulePolicies{}
		}
		current.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
		current.Policy.CatchupWindow = s.catchupWindow()
		return &client.ScheduleUpdate{Schedule: &current}, nil
	}})
	if err != nil {
		return err
	}
	if resume {
		return handle.Unpause(ctx, client.ScheduleUnpauseOptions{Note: s.description})
	}
	return nil
}

// upToDate reports whether an existing schedule already does what s says,
// so that restarting workers do not rewrite it each time.
func upToDate(current client.Schedule, s scheduled, cfg ScheduleConfig) bool {
	action, ok := current.Action.(*client.ScheduleWorkflowAction)
	if !ok || current.Spec == nil || current.Policy == nil {
		return false
	}
	wf, _ := action.Workflow.(string)
	intervals := current.Spec.Intervals
	return wf == s.workflow && action.TaskQueue == cfg.TaskQueue && action.WorkflowExecutionTimeout == runTimeout &&
		len(intervals) == 1 && intervals[0].Every == s.every && intervals[0].Offset == 0 &&
		len(current.Spec.Calendars) == 0 && len(current.Spec.CronExpressions) == 0 &&
		current.Policy.Overlap == enumspb.SCHEDULE_OVERLAP_POLICY_SKIP && current.Policy.CatchupWindow == s.catchupWindow()
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// RunNowTimeout is how long RunNow waits for the run's result.
const RunNowTimeout = 60 * time.Second

// RunNow reads one advisory source at once, as a workflow on taskQueue
// (ID advisory-refresh-<source>-<unix nanos>), and returns what it did.
// A feed that could not be read is a summary with Error, not an error: the
// error is for a run that did not answer within RunNowTimeout (it goes on,
// and advisorySources shows its outcome) or could not start.
func RunNow(ctx context.Context, c client.Client, taskQueue string, src feed.Source) (advisory.RunSummary, error) {
	if !slices.Contains(feed.Sources, src) {
		return advisory.RunSummary{}, fmt.Errorf("feeds: unknown advisory source %q", src)
	}
	ctx, cancel := context.WithTimeout(ctx, RunNowTimeout)
	defer cancel()
	id := fmt.Sprintf("advisory-refresh-%s-%d", slug(src), time.Now().UnixNano())
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: taskQueue, WorkflowExecutionTimeout: runTimeout,
	}, WorkflowAdvisoryIngest, src)
	if err != nil {
		return advisory.RunSummary{}, fmt.Errorf("feeds: start %s: %w", id, err)
	}
	var sum advisory.RunSummary
	if err := run.Get(ctx, &sum); err != nil {
		return advisory.RunSummary{}, fmt.Errorf("feeds: %s: %w", id, err)
	}
	return sum, nil
}

// Package feeds reads the public feeds on Temporal Schedules: each official
// travel-advisory source, and the USGS earthquake feed for proximity. A
// schedule starts one short workflow per run, whose single activity runs
// the platform's ingester; the workflow's result is the ingester's summary,
// so the schedule's recent runs in Temporal say what each read did.
package feeds

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"meridian.dev/platform/advisory"
	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/proximity"
)

// Registered names: schedules start workflows by name, so renaming a Go
// function never breaks a schedule.
const (
	WorkflowAdvisoryIngest   = "AdvisoryIngest"
	WorkflowEventIngest      = "EventIngest"
	ActivityIngestAdvisories = "IngestAdvisories"
	ActivityIngestEvents     = "IngestEvents"
)

// Ingest attempts: each attempt reads the whole feed (the fetcher retries
// single requests behind it), so a few attempts with backoff cover a feed
// that is briefly down; after that the next scheduled run tries again.
const (
	ingestAttempts = 3
	ingestTimeout  = 5 * time.Minute
)

// runTimeout bounds a whole run (every attempt and its backoff). With the
// SKIP overlap policy a run that never ended would stop its schedule, so a
// stuck run is ended by Temporal instead.
const runTimeout = ingestAttempts*ingestTimeout + 5*time.Minute

// AdvisoryIngester reads one advisory source into Postgres
// (*advisory.Ingester).
type AdvisoryIngester interface {
	Run(ctx context.Context, src feed.Source) (advisory.RunSummary, error)
}

// EventIngester reads the event feed into Postgres and raises incidents near
// our people and sites (*proximity.EventsIngester).
type EventIngester interface {
	Run(ctx context.Context) (proximity.EventSummary, error)
}

// Activities holds the ingesters the activities run.
type Activities struct {
	Advisories AdvisoryIngester
	Events     EventIngester
}

// errBadSource is the error type of a run for a source that does not exist:
// retrying cannot help.
const errBadSource = "BadSource"

// errUnusableFeed is the error type of a run whose source answered with a
// malformed document or a suspiciously small snapshot.
const errUnusableFeed = "UnusableFeed"

// IngestAdvisories runs one advisory source. A failed collection is recorded
// by the ingester on the source (advisorySources shows it) and returned as
// the error, so Temporal retries it a few times.
func (a *Activities) IngestAdvisories(ctx context.Context, src feed.Source) (advisory.RunSummary, error) {
	if !slices.Contains(feed.Sources, src) {
		return advisory.RunSummary{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("unknown advisory source %q", src), errBadSource, nil)
	}
	sum, err := a.Advisories.Run(ctx, src)
	if errors.Is(err, feed.ErrMalformed) || errors.Is(err, advisory.ErrRefused) {
		// A document that is not the feed's format, or a snapshot too
		// small to trust, is what the source serves now: asking again in
		// seconds gets the same answer (the fetcher has already retried
		// what a retry can fix). The next scheduled run tries again.
		return sum, temporal.NewNonRetryableApplicationError(err.Error(), errUnusableFeed, err)
	}
	return sum, err
}

// IngestEvents runs the event feed once.
func (a *Activities) IngestEvents(ctx context.Context) (proximity.EventSummary, error) {
	return a.Events.Run(ctx)
}

func ingestOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: ingestTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			MaximumAttempts: ingestAttempts, NonRetryableErrorTypes: []string{errBadSource, errUnusableFeed}},
	})
}

// AdvisoryIngest reads one source and returns what the run did. When every
// attempt failed, the run still completes, with the cause in the summary's
// Error: the ingester has recorded it on the source and the last good
// advisories stay; the next scheduled run tries again.
func AdvisoryIngest(ctx workflow.Context, src feed.Source) (advisory.RunSummary, error) {
	var sum advisory.RunSummary
	err := workflow.ExecuteActivity(ingestOptions(ctx), ActivityIngestAdvisories, src).Get(ctx, &sum)
	if err == nil {
		return sum, nil
	}
	var cancelled *temporal.CanceledError
	if errors.As(err, &cancelled) {
		return sum, err
	}
	return advisory.RunSummary{Source: src, Error: causeOf(err), At: workflow.Now(ctx).UTC()}, nil
}

// EventIngest reads the event feed and returns what the run did. The
// summary has no place for an error, so a run whose every attempt failed
// fails, and Temporal shows it as failed in the schedule's recent runs.
func EventIngest(ctx workflow.Context) (proximity.EventSummary, error) {
	var sum proximity.EventSummary
	err := workflow.ExecuteActivity(ingestOptions(ctx), ActivityIngestEvents).Get(ctx, &sum)
	return sum, err
}

// causeOf is the ingester's own message, without Temporal's wrapping
// ("activity error (type: …, attempt: 3): …").
func causeOf(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return fmt.Sprintf("the run timed out (%s)", timeout.TimeoutType())
	}
	return err.Error()
}

// Register adds both workflows and their activities to w under their
// stable names.
func Register(w worker.Registry, a *Activities) {
	w.RegisterWorkflowWithOptions(AdvisoryIngest, workflow.RegisterOptions{Name: WorkflowAdvisoryIngest})
	w.RegisterWorkflowWithOptions(EventIngest, workflow.RegisterOptions{Name: WorkflowEventIngest})
	w.RegisterActivityWithOptions(a.IngestAdvisories, activity.RegisterOptions{Name: ActivityIngestAdvisories})
	w.RegisterActivityWithOptions(a.IngestEvents, activity.RegisterOptions{Name: ActivityIngestEvents})
}

package advisory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"meridian.dev/platform/advisory/feed"
)

// Ingester runs one source end to end: sweep expired overrides, collect the
// feed, store the snapshot (or record why not).
type Ingester struct {
	Store  *Store
	Getter feed.Getter
	// URLs overrides a source's feed URL; a source missing here reads
	// its real endpoint (feed.DefaultURLs).
	URLs map[feed.Source]string
	Log  *slog.Logger
}

// Run collects and applies one source. A failed collection or a refused
// snapshot leaves the stored advisories alone and is recorded on the source;
// the summary then carries the error too. The summary always names the
// source and the time of the run.
func (in *Ingester) Run(ctx context.Context, src feed.Source) (RunSummary, error) {
	log := in.Log
	if log == nil {
		log = slog.Default()
	}
	sum := RunSummary{Source: src, At: time.Now()}
	if !slices.Contains(feed.Sources, src) {
		err := fmt.Errorf("advisory: unknown source %q", src)
		sum.Error = err.Error()
		return sum, err
	}
	// Overrides expire on their own time, not the feed's; sweeping on every
	// run bounds how long an expired one lingers. Its failure must not stop
	// the feed from being read.
	if swept, err := in.Store.SweepExpired(ctx); err != nil {
		log.ErrorContext(ctx, "advisory: sweeping expired overrides failed", "err", err)
	} else if swept > 0 {
		log.InfoContext(ctx, "advisory: expired overrides swept", "count", swept)
	}

	// An empty URL makes Collect read the source's real endpoint.
	snap, err := feed.Collect(ctx, src, in.Getter, in.URLs[src])
	if err != nil {
		sum.Error = err.Error()
		if ferr := in.Store.RecordFailure(ctx, src, err); ferr != nil {
			err = errors.Join(err, ferr)
		}
		log.WarnContext(ctx, "advisory: collecting failed; the last good data stays", "source", src, "err", err)
		return sum, err
	}
	if snap.Source == "" {
		snap.Source = src
	}
	if len(snap.Skipped) > 0 || len(snap.Failed) > 0 {
		log.InfoContext(ctx, "advisory: collected with gaps", "source", src, "reports", len(snap.Reports),
			"skipped", len(snap.Skipped), "failed", len(snap.Failed), "firstFailed", first(snap.Failed))
	}
	applied, err := in.Store.Apply(ctx, snap, time.Now())
	applied.Source = src
	if err != nil {
		applied.Error = err.Error()
		log.WarnContext(ctx, "advisory: snapshot not stored; the last good data stays", "source", src, "err", err)
		return applied, err
	}
	log.InfoContext(ctx, "advisory: source applied", "source", src, "fetched", applied.Fetched,
		"changed", applied.Changed, "levelsChanged", applied.LevelsChanged)
	return applied, nil
}

func first(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[0]
}

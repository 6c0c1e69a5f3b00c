package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"go.temporal.io/sdk/client"

	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/config"
	"meridian.dev/platform/proximity"
	feedswf "meridian.dev/workflows/feeds"
)

// feedEnv names each source's URL variable.
var feedEnv = map[feed.Source]string{
	feed.USState:         "MERIDIAN_FEED_US_STATE_URL",
	feed.UKFCDO:          "MERIDIAN_FEED_UK_FCDO_URL",
	feed.CAGAC:           "MERIDIAN_FEED_CA_URL",
	feed.AUSmartraveller: "MERIDIAN_FEED_AU_URL",
}

func readFeedConfig(r *config.Reader) FeedConfig {
	defaults := feed.DefaultURLs()
	c := FeedConfig{URLs: map[feed.Source]string{}}
	for _, src := range feed.Sources {
		c.URLs[src] = r.String(feedEnv[src], defaults[src])
	}
	c.USGS = r.String("MERIDIAN_FEED_USGS_URL", proximity.USGSFeedURL)
	c.Every = r.Duration("MERIDIAN_FEED_INTERVAL", time.Hour)
	c.Events = r.Duration("MERIDIAN_EVENTS_INTERVAL", 5*time.Minute)
	c.Schedules = r.Bool("MERIDIAN_FEED_SCHEDULES", true)
	c.SchedulePrefix = r.String("MERIDIAN_FEED_SCHEDULE_PREFIX", "")
	return c
}

// validate refuses a configuration that could never fetch anything.
func (c FeedConfig) validate() error {
	all := map[string]string{"MERIDIAN_FEED_USGS_URL": c.USGS}
	for src, u := range c.URLs {
		all[feedEnv[src]] = u
	}
	for name, raw := range all {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("worker: %s must be an http(s) URL, got %q", name, raw)
		}
	}
	if c.Every < time.Minute || c.Events < time.Minute {
		return fmt.Errorf("worker: MERIDIAN_FEED_INTERVAL and MERIDIAN_EVENTS_INTERVAL must be at least 1m")
	}
	return nil
}

// ensureSchedules creates or updates the feeds' Temporal Schedules once
// Temporal answers, retrying in the background: the worker must start
// (and relay outbox rows) while Temporal is still coming up.
func ensureSchedules(ctx context.Context, tc client.Client, taskQueue string, c FeedConfig, log *slog.Logger) error {
	if !c.Schedules {
		return nil
	}
	every := map[feed.Source]time.Duration{}
	for _, src := range feed.Sources {
		every[src] = c.Every
	}
	cfg := feedswf.ScheduleConfig{TaskQueue: taskQueue, AdvisoryEvery: every, EventsEvery: c.Events, IDPrefix: c.SchedulePrefix}
	backoff := time.Second
	for {
		err := feedswf.EnsureSchedules(ctx, tc, cfg)
		if err == nil {
			log.InfoContext(ctx, "feed schedules in place", "advisories_every", c.Every.String(), "events_every", c.Events.String())
			return nil
		}
		log.WarnContext(ctx, "feed schedules not in place yet; retrying", "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// Package server is the worker process: configuration and run loop. It is a
// package, not main, so tests and the benchmark run the real thing in-process.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"golang.org/x/sync/errgroup"

	"meridian.dev/platform/advisory"
	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/config"
	"meridian.dev/platform/directory"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/health"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/live"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/postgres"
	"meridian.dev/platform/protection"
	"meridian.dev/platform/proximity"
	"meridian.dev/platform/schedule"
	"meridian.dev/platform/telemetry"
	"meridian.dev/platform/travel"
	"meridian.dev/worker/relay"
	"meridian.dev/workflows/engine"
	wf "meridian.dev/workflows/escalation"
	feedswf "meridian.dev/workflows/feeds"
	incidentwf "meridian.dev/workflows/incident"
	protectionwf "meridian.dev/workflows/protection"
	travelwf "meridian.dev/workflows/travel"
)

// Config is every setting of the worker.
type Config struct {
	config.Common
	HTTPAddr      string        // WORKER_HTTP_ADDR: /healthz, /readyz, /metrics
	PagerURL      string        // MERIDIAN_PAGER_WEBHOOK_URL: the default webhook, for people without their own
	PagerSecret   string        // MERIDIAN_PAGER_SECRET: HMAC-SHA256 key for page signatures
	TierWait      time.Duration // MERIDIAN_ESCALATION_TIER_WAIT: wait per tier before the next is paged
	TaskQueue     string        // MERIDIAN_TASK_QUEUE: Temporal task queue for escalations
	RunMigrations bool          // MERIDIAN_MIGRATE: apply migrations at start (default true)
	// SMTP: MERIDIAN_SMTP_ADDR (host:port; empty: no email), MERIDIAN_SMTP_FROM,
	// MERIDIAN_SMTP_USERNAME, MERIDIAN_SMTP_PASSWORD.
	SMTP notify.SMTPConfig
	// RestrictPersonalTargets (MERIDIAN_RESTRICT_PERSONAL_PAGE_TARGETS;
	// default true in production) refuses people's own webhook and Slack
	// URLs that reach loopback, private or link-local addresses.
	RestrictPersonalTargets bool
	// Feeds is where the official advisories and the earthquake feed are
	// read from, and how often.
	Feeds FeedConfig
}

// FeedConfig configures ingestion. Unset URLs are the real public feeds
// (feed.DefaultURLs, proximity.USGSFeedURL); `make run` points them at the
// development feed server (`meridianctl feedserver`) instead.
type FeedConfig struct {
	URLs   map[feed.Source]string // MERIDIAN_FEED_US_STATE_URL, _UK_FCDO_URL, _CA_URL, _AU_URL
	USGS   string                 // MERIDIAN_FEED_USGS_URL
	Every  time.Duration          // MERIDIAN_FEED_INTERVAL: each advisory source's schedule (default 1h)
	Events time.Duration          // MERIDIAN_EVENTS_INTERVAL: the earthquake feed's schedule (default 5m)
	// Schedules (MERIDIAN_FEED_SCHEDULES, default true) creates or updates
	// the Temporal Schedules at start; off, feeds are read on demand only.
	Schedules bool
	// SchedulePrefix (MERIDIAN_FEED_SCHEDULE_PREFIX) keeps several
	// deployments (or test stacks) on one Temporal namespace apart.
	SchedulePrefix string
}

// DevelopmentPagerSecret signs pages outside production.
const DevelopmentPagerSecret = "meridian-development-pager-secret"

// LoadConfig reads the environment.
func LoadConfig() (Config, error) {
	var r config.Reader
	c := Config{
		Common:        config.ReadCommon(&r),
		HTTPAddr:      r.String("WORKER_HTTP_ADDR", "127.0.0.1:8081"),
		PagerURL:      r.String("MERIDIAN_PAGER_WEBHOOK_URL", ""),
		PagerSecret:   r.String("MERIDIAN_PAGER_SECRET", DevelopmentPagerSecret),
		TierWait:      r.Duration("MERIDIAN_ESCALATION_TIER_WAIT", 5*time.Minute),
		TaskQueue:     r.String("MERIDIAN_TASK_QUEUE", wf.TaskQueue),
		RunMigrations: r.String("MERIDIAN_MIGRATE", "true") == "true",
		SMTP: notify.SMTPConfig{
			Addr:     r.String("MERIDIAN_SMTP_ADDR", ""),
			From:     r.String("MERIDIAN_SMTP_FROM", "Meridian <meridian@localhost>"),
			Username: r.String("MERIDIAN_SMTP_USERNAME", ""),
			Password: r.String("MERIDIAN_SMTP_PASSWORD", ""),
		},
	}
	c.RestrictPersonalTargets = r.Bool("MERIDIAN_RESTRICT_PERSONAL_PAGE_TARGETS", c.Production())
	c.Feeds = readFeedConfig(&r)
	if err := r.Err(); err != nil {
		return c, err
	}
	if c.Production() {
		if c.PagerURL == "" {
			return c, errors.New("worker: MERIDIAN_PAGER_WEBHOOK_URL is required in production: pages would go nowhere")
		}
		if c.PagerSecret == DevelopmentPagerSecret || len(c.PagerSecret) < 32 {
			return c, errors.New("worker: MERIDIAN_PAGER_SECRET must be a non-default secret of at least 32 bytes in production")
		}
	}
	if c.PagerURL == "" {
		c.PagerURL = "http://127.0.0.1:8089/pages" // `meridianctl pagesink`, started by make run
	}
	if err := c.Feeds.validate(); err != nil {
		return c, err
	}
	if c.TierWait <= 0 {
		return c, errors.New("worker: MERIDIAN_ESCALATION_TIER_WAIT must be positive")
	}
	return c, nil
}

// Run runs the worker until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	log := telemetry.DefaultLogger(cfg.LogLevel, cfg.LogFormat)
	tel, err := telemetry.Setup(ctx, "meridian-worker", cfg.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer shutdown(tel)

	if cfg.RunMigrations {
		if err := postgres.Migrate(ctx, cfg.DatabaseURL); err != nil {
			return err
		}
	}
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	rdb, err := live.Connect(ctx, cfg.RedisURL)
	if rdb == nil {
		return err
	}
	if err != nil {
		// The relay keeps rows waiting until Redis is back; start anyway.
		log.WarnContext(ctx, "redis not answering; outbox rows will wait", "err", err)
	}
	defer rdb.Close()

	tc, err := engine.Lazy(cfg.TemporalHost, cfg.TemporalNS, log)
	if err != nil {
		return err
	}
	defer tc.Close()

	dir := directory.NewStore(pool)
	activities := &wf.Activities{
		Escalations: escalation.NewStore(pool),
		Directory:   dir,
		Schedules:   schedule.NewStore(pool),
		Sender: notify.NewSender(cfg.PagerSecret, cfg.PagerURL, cfg.SMTP,
			notify.SenderOptions{RestrictPersonalTargets: cfg.RestrictPersonalTargets}),
		TierWait: cfg.TierWait,
		Log:      log,
	}

	incidents := incident.NewStore(pool)
	trips := travel.NewStore(pool)
	getter := &feed.HTTPGetter{Cache: advisory.NewDocumentCache(pool)}
	travelActivities := &travelwf.Activities{Trips: trips, Directory: dir, Sender: activities.Sender, Log: log}
	feedActivities := &feedswf.Activities{
		Advisories: &advisory.Ingester{Store: advisory.NewStore(pool), Getter: getter, URLs: cfg.Feeds.URLs, Log: log},
		Events:     &proximity.EventsIngester{Events: proximity.NewEvents(pool, incidents), Getter: getter, URL: cfg.Feeds.USGS},
	}

	details := protection.NewStore(pool, rdb, cfg.RedisPrefix)
	watchActivities := &protectionwf.Activities{Store: details, Directory: dir, Sender: activities.Sender, Log: log}

	r := outbox.NewRelay(pool, log)
	(&relay.Handlers{
		Publisher: live.NewPublisher(rdb, live.Keys{Prefix: cfg.RedisPrefix}), Temporal: tc, TaskQueue: cfg.TaskQueue, TierWait: cfg.TierWait,
		Trips: trips, Notifier: &travel.Notifier{Directory: dir, Sender: activities.Sender, Log: log},
		Protection:         details,
		ProtectionNotifier: &protection.Notifier{Store: details, Directory: dir, Sender: activities.Sender, Log: log},
	}).Register(r)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tel.MetricsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /readyz", health.Handler(
		health.Check{Name: "postgres", Ping: pool.Ping},
		health.Check{Name: "redis", Ping: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
		health.Check{Name: "temporal", Ping: engine.Ping(tc)},
	))
	srv := &http.Server{Addr: cfg.HTTPAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("worker: listen %s: %w", cfg.HTTPAddr, err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return runTemporalWorker(gctx, tc, cfg.TaskQueue, log, func(w worker.Worker) {
			wf.Register(w, activities)
			incidentwf.Register(w)
			travelwf.Register(w, travelActivities)
			protectionwf.Register(w, watchActivities)
			feedswf.Register(w, feedActivities)
		})
	})
	g.Go(func() error { return ensureSchedules(gctx, tc, cfg.TaskQueue, cfg.Feeds, log) })
	g.Go(func() error { return r.Run(gctx) })
	// Delivered outbox rows stay a day for inspection, then go.
	g.Go(func() error { return outbox.PruneEvery(gctx, pool, 24*time.Hour, 10*time.Minute, log) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	log.InfoContext(ctx, "worker started", "http", ln.Addr().String(), "task_queue", cfg.TaskQueue, "pager", notify.RedactURL(cfg.PagerURL), "smtp", cfg.SMTP.Addr)
	return g.Wait()
}

// runTemporalWorker polls Temporal until ctx ends. If Temporal is down it
// keeps trying instead of exiting: the outbox relay beside it must go on
// delivering live status to Redis meanwhile.
func runTemporalWorker(ctx context.Context, tc client.Client, taskQueue string, log *slog.Logger, register func(worker.Worker)) error {
	backoff := time.Second
	for {
		w := worker.New(tc, taskQueue, worker.Options{})
		register(w)
		err := w.Start()
		if err == nil {
			<-ctx.Done()
			w.Stop()
			return nil
		}
		log.WarnContext(ctx, "temporal worker cannot start yet; retrying", "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func shutdown(tel *telemetry.Telemetry) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		slog.Warn("telemetry shutdown", "err", err)
	}
}

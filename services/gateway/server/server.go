// Package server is the gateway process: configuration and run loop. It is a
// package, not main, so tests and the benchmark run the real thing in-process.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"golang.org/x/sync/errgroup"

	"meridian.dev/gateway/graph"
	"meridian.dev/gateway/web"
	"meridian.dev/gateway/ws"
	"meridian.dev/platform/advisory"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/config"
	"meridian.dev/platform/directory"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/health"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/limit"
	"meridian.dev/platform/live"
	"meridian.dev/platform/postgres"
	"meridian.dev/platform/protection"
	"meridian.dev/platform/proximity"
	"meridian.dev/platform/schedule"
	"meridian.dev/platform/site"
	"meridian.dev/platform/telemetry"
	"meridian.dev/platform/travel"
	"meridian.dev/workflows/engine"
	wf "meridian.dev/workflows/escalation"
)

// Config is every setting of the gateway.
type Config struct {
	config.Common
	Addr           string        // GATEWAY_ADDR, default 127.0.0.1:8080
	Auth           auth.Config   // MERIDIAN_JWT_SECRET, MERIDIAN_JWT_ISSUER, MERIDIAN_JWT_AUDIENCE
	RateLimit      int           // MERIDIAN_MUTATION_RATE_LIMIT: mutations per caller per window; 0 disables
	RateWindow     time.Duration // MERIDIAN_MUTATION_RATE_WINDOW, default 1m
	AllowedOrigins []string      // MERIDIAN_ALLOWED_ORIGINS: browser origins besides the gateway's own allowed to open WebSockets, in every environment
	Limits         graph.Limits  // GRAPHQL_MAX_DEPTH, GRAPHQL_MAX_QUERY_LENGTH, GRAPHQL_MAX_COST, GRAPHQL_MAX_ALIASES
	TaskQueue      string        // MERIDIAN_TASK_QUEUE: the worker's, where on-demand feed refreshes run
}

// LoadConfig reads the environment and refuses unsafe production settings.
func LoadConfig() (Config, error) {
	var r config.Reader
	c := Config{Common: config.ReadCommon(&r)}
	c.Addr = r.String("GATEWAY_ADDR", "127.0.0.1:8080")
	c.Auth = auth.ReadConfig(&r, c.Production())
	c.TaskQueue = r.String("MERIDIAN_TASK_QUEUE", wf.TaskQueue)
	c.RateLimit = r.Int("MERIDIAN_MUTATION_RATE_LIMIT", 120)
	c.RateWindow = r.Duration("MERIDIAN_MUTATION_RATE_WINDOW", time.Minute)
	if v := r.String("MERIDIAN_ALLOWED_ORIGINS", ""); v != "" {
		c.AllowedOrigins = strings.Split(v, ",")
	}
	c.Limits = graph.Limits{
		MaxDepth:       r.Int("GRAPHQL_MAX_DEPTH", graph.DefaultLimits.MaxDepth),
		MaxQueryLength: r.Int("GRAPHQL_MAX_QUERY_LENGTH", graph.DefaultLimits.MaxQueryLength),
		MaxCost:        r.Int("GRAPHQL_MAX_COST", graph.DefaultLimits.MaxCost),
		MaxAliases:     r.Int("GRAPHQL_MAX_ALIASES", graph.DefaultLimits.MaxAliases),
	}
	if err := r.Err(); err != nil {
		return c, err
	}
	if err := c.Auth.Validate(c.Production()); err != nil {
		return c, err
	}
	return c, nil
}

// Run serves until ctx ends. onListen, when set, learns the bound address
// (useful with GATEWAY_ADDR=127.0.0.1:0).
func Run(ctx context.Context, cfg Config, onListen func(addr string)) error {
	log := telemetry.DefaultLogger(cfg.LogLevel, cfg.LogFormat)
	tel, err := telemetry.Setup(ctx, "meridian-gateway", cfg.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(sctx)
	}()

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
		log.WarnContext(ctx, "redis not answering; the board falls back to postgres until it does", "err", err)
	}
	defer rdb.Close()
	tc, err := engine.Lazy(cfg.TemporalHost, cfg.TemporalNS, log)
	if err != nil {
		return err
	}
	defer tc.Close()

	keys := live.Keys{Prefix: cfg.RedisPrefix}
	hub := live.NewHub(rdb, keys, log)
	escalations := escalation.NewStore(pool)
	incidents := incident.NewStore(pool)
	schema, err := graph.NewSchema(graph.Deps{
		Pool:        pool,
		Sites:       site.NewStore(pool, escalations),
		Escalations: escalations,
		Live:        live.NewPublisher(rdb, keys),
		Hub:         hub,
		Limiter:     limit.New(rdb, cfg.RedisPrefix, cfg.RateLimit, cfg.RateWindow, log),
		Schedules:   schedule.NewStore(pool),
		Directory:   directory.NewStore(pool).RequireHTTPS(cfg.Production()),
		Incidents:   incidents,
		Advisories:  advisory.NewStore(pool),
		Trips:       travel.NewStore(pool),
		Radii:       proximity.NewRadii(pool),
		Events:      proximity.NewEvents(pool, incidents),
		Protection:  protection.NewStore(pool, rdb, cfg.RedisPrefix),
		TaskQueue:   cfg.TaskQueue,
		Engine:      tc,
		Log:         log,
	}, cfg.Limits)
	if err != nil {
		return fmt.Errorf("gateway: schema: %w", err)
	}
	verifier := auth.NewVerifier(cfg.Auth)
	board, err := web.New(web.Embedded())
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if !board.Built() {
		log.WarnContext(ctx, "the board is not built into this gateway; / serves how to build it (make board)")
	}
	wsHandler := ws.NewHandler(schema, verifier, log, ws.Options{
		CheckOrigin:    originChecker(cfg),
		Present:        present(log),
		PrepareContext: graph.WithLoaders,
		PerCaller:      schema.PerCaller,
	})

	mux := http.NewServeMux()
	mux.Handle("/graphql", otelhttp.NewHandler(&graphqlHandler{schema: schema, verifier: verifier, ws: wsHandler, board: board, log: log}, "graphql"))
	mux.Handle("GET /metrics", tel.MetricsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /readyz", health.Handler(
		health.Check{Name: "postgres", Ping: pool.Ping},
		health.Check{Name: "redis", Ping: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
		health.Check{Name: "temporal", Ping: engine.Ping(tc)},
	))
	// The board: / and its assets, and 404 for any path nothing else
	// serves. Not method-qualified, so that it answers POST / with 405 and
	// its security headers itself.
	mux.Handle("/", board)
	if cfg.Development() {
		// The persona picker of the board's sign-in: tokens for anyone who
		// asks, so only on a developer's machine. Anywhere else (production,
		// staging, a typo) the path falls through to the board's 404.
		mux.Handle("GET /board/personas", web.Personas(cfg.Auth, log))
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listen %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}

	g, gctx := errgroup.WithContext(ctx)
	// The hub outlives the WebSockets: were it to stop first, every
	// subscription would complete, and a completed subscription is over for
	// its client. Closing the sockets first makes clients reconnect and
	// resume instead.
	hubCtx, stopHub := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHub()
	g.Go(func() error { return hub.Run(hubCtx) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		defer stopHub()
		// Hijacked WebSocket connections are not Shutdown's to close.
		wsHandler.Shutdown()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	log.InfoContext(ctx, "gateway listening", "addr", ln.Addr().String())
	if onListen != nil {
		onListen(ln.Addr().String())
	}
	return g.Wait()
}

// originChecker decides which browsers may open a WebSocket: pages served by
// this gateway (the board, GraphiQL), and those of the origins listed in
// MERIDIAN_ALLOWED_ORIGINS; in every environment, so that development
// behaves as production does. A request without an Origin header is not
// from a browser (the graphql-ws client in Node, the Go tests) and is
// allowed: its token is all it has. A refused upgrade is answered 403.
//
// The gateway's own origin is recognised by its host: the Origin's
// host[:port] equals the request's Host, whatever the scheme, since TLS may
// end at a proxy in front. A proxy that rewrites Host needs its public
// origin listed in MERIDIAN_ALLOWED_ORIGINS.
func originChecker(cfg Config) func(*http.Request) bool {
	allowed := make(map[string]bool, len(cfg.AllowedOrigins))
	for _, o := range cfg.AllowedOrigins {
		if o = normalOrigin(o); o != "" {
			allowed[o] = true
		}
	}
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" {
			return true // not a browser
		}
		if allowed[normalOrigin(origin)] {
			return true
		}
		u, err := url.Parse(origin)
		if err != nil || u.Host == "" {
			return false // "null" (a sandboxed frame, a file:// page) or garbage
		}
		return strings.EqualFold(withoutDefaultPort(u.Host, u.Scheme), withoutDefaultPort(r.Host, u.Scheme))
	}
}

// normalOrigin is an origin as compared: lower case, no trailing slash, no
// default port. "" when o is not an origin.
func normalOrigin(o string) string {
	o = strings.TrimSuffix(strings.TrimSpace(o), "/")
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme + "://" + strings.ToLower(withoutDefaultPort(u.Host, scheme))
}

// withoutDefaultPort drops ":80" from an http or ws host and ":443" from an
// https or wss one: browsers leave the default port out of Origin, clients
// may write it in Host.
func withoutDefaultPort(host, scheme string) string {
	switch strings.ToLower(scheme) {
	case "http", "ws":
		return strings.TrimSuffix(host, ":80")
	case "https", "wss":
		return strings.TrimSuffix(host, ":443")
	}
	return host
}

// Package engine connects Meridian processes to Temporal with tracing and
// metrics wired the same way everywhere.
package engine

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
)

// Options returns client options with OpenTelemetry tracing (HTTP request →
// workflow → activity in one trace) and metrics.
func Options(hostPort, namespace string, log *slog.Logger) (client.Options, error) {
	tracing, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: otel.Tracer("meridian/temporal")})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal tracing: %w", err)
	}
	return client.Options{
		HostPort:       hostPort,
		Namespace:      namespace,
		Logger:         tlog.NewStructuredLogger(log.With("component", "temporal")),
		Interceptors:   []interceptor.ClientInterceptor{tracing},
		MetricsHandler: temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{Meter: otel.Meter("meridian/temporal")}),
	}, nil
}

// Dial connects now and fails when Temporal does not answer.
func Dial(ctx context.Context, hostPort, namespace string, log *slog.Logger) (client.Client, error) {
	opts, err := Options(hostPort, namespace, log)
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("temporal: dial %s: %w", hostPort, err)
	}
	return c, nil
}

// Lazy returns a client that connects on first use, so a process can start
// (and report not ready) while Temporal is still coming up.
func Lazy(hostPort, namespace string, log *slog.Logger) (client.Client, error) {
	opts, err := Options(hostPort, namespace, log)
	if err != nil {
		return nil, err
	}
	c, err := client.NewLazyClient(opts)
	if err != nil {
		return nil, fmt.Errorf("temporal: %w", err)
	}
	return c, nil
}

// Ping checks that Temporal answers, for readiness probes.
func Ping(c client.Client) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}
}

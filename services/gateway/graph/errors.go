package graph

import (
	"context"
	"errors"
	"log/slog"

	gqlerrors "github.com/graph-gophers/graphql-go/errors"

	"meridian.dev/platform/fault"
	"meridian.dev/platform/telemetry"
)

// Present rewrites every error of a response into Meridian's contract: a
// stable extensions.code, a message safe to show, and for unknown failures
// only the trace ID, while the real error goes to the log. It is the one
// place domain errors become GraphQL errors.
func Present(ctx context.Context, log *slog.Logger, errs []*gqlerrors.QueryError) []*gqlerrors.QueryError {
	for _, e := range errs {
		if e == nil {
			continue
		}
		if e.ResolverError == nil {
			// Parse, validation, depth and length errors: the query itself
			// is wrong.
			if e.Extensions == nil {
				e.Extensions = map[string]any{}
			}
			if _, ok := e.Extensions["code"]; !ok {
				e.Extensions["code"] = string(fault.BadUserInput)
			}
			continue
		}
		var f *fault.Error
		if errors.As(e.ResolverError, &f) {
			e.Message = e.ResolverError.Error()
			e.Extensions = map[string]any{"code": string(f.Code)}
			if f.Field != "" {
				e.Extensions["field"] = f.Field
			}
			continue
		}
		traceID := telemetry.TraceID(ctx)
		log.ErrorContext(ctx, "resolver failed", "err", e.ResolverError, "path", e.Path)
		e.Message = "internal error; quote trace " + traceID + " to support"
		e.Extensions = map[string]any{"code": string(fault.Internal), "traceId": traceID}
	}
	return errs
}

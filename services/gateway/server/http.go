package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	gqlerrors "github.com/graph-gophers/graphql-go/errors"

	"meridian.dev/gateway/graph"
	"meridian.dev/gateway/web"
	"meridian.dev/gateway/ws"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/telemetry"
)

// MaxBodyBytes bounds a GraphQL request body; larger ones get HTTP 413.
const MaxBodyBytes = 1 << 20

type graphqlHandler struct {
	schema   *graph.Schema
	verifier *auth.Verifier
	ws       *ws.Handler
	board    *web.Site // serves GraphiQL to browsers
	log      *slog.Logger
}

type request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

func (h *graphqlHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ws.IsUpgrade(r) {
		h.ws.ServeHTTP(w, r)
		return
	}
	switch r.Method {
	case http.MethodPost:
	case http.MethodGet:
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			// GraphiQL, built with the board and served from the gateway
			// itself, so it works with no internet.
			h.board.ServeGraphiQL(w, r)
			return
		}
		w.Header().Set("Allow", "POST")
		writeErrors(w, http.StatusMethodNotAllowed, fault.BadUserInput, "send GraphQL requests with POST")
		return
	default:
		w.Header().Set("Allow", "POST")
		writeErrors(w, http.StatusMethodNotAllowed, fault.BadUserInput, "send GraphQL requests with POST")
		return
	}
	ctx := r.Context()
	if v := r.Header.Get("Authorization"); v != "" {
		id, err := h.verifier.VerifyHeader(v)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="meridian"`)
			writeErrors(w, http.StatusUnauthorized, fault.Unauthenticated, auth.ErrUnauthenticated.Message)
			return
		}
		ctx = auth.WithIdentity(ctx, id)
	}
	// Read the whole body first: an oversized body is 413 whatever it holds.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeErrors(w, http.StatusRequestEntityTooLarge, fault.BadUserInput, "request body is larger than 1 MiB")
			return
		}
		writeErrors(w, http.StatusBadRequest, fault.BadUserInput, "could not read the request body")
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		writeErrors(w, http.StatusBadRequest, fault.BadUserInput, "request body must be JSON: {\"query\": \"…\", \"variables\": {…}}")
		return
	}
	if strings.TrimSpace(req.Query) == "" {
		writeErrors(w, http.StatusBadRequest, fault.BadUserInput, "query is required")
		return
	}
	ctx = graph.WithLoaders(ctx)
	// graphql-go recovers from panics in resolvers, not from those while it
	// writes a result: answer those too, instead of an empty response.
	defer func() {
		if v := recover(); v != nil {
			traceID := telemetry.TraceID(ctx)
			h.log.ErrorContext(ctx, "graphql request panicked", "panic", v, "stack", string(debug.Stack()))
			writeErrors(w, http.StatusInternalServerError, fault.Internal, "internal error; quote trace "+traceID+" to support")
		}
	}()
	resp := h.schema.Exec(ctx, req.Query, req.OperationName, req.Variables)
	resp.Errors = graph.Present(ctx, h.log, resp.Errors)
	body, err = json.Marshal(resp)
	if err != nil {
		// Encoded whole before a byte is written, so a value that cannot be
		// encoded is answered with an error, never with an empty body.
		h.log.ErrorContext(ctx, "encode response", "err", err)
		writeErrors(w, http.StatusInternalServerError, fault.Internal, "internal error; quote trace "+telemetry.TraceID(ctx)+" to support")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if _, err := w.Write(append(body, '\n')); err != nil {
		h.log.WarnContext(ctx, "write response", "err", err)
	}
}

func writeErrors(w http.ResponseWriter, status int, code fault.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []*gqlerrors.QueryError{{
		Message: msg, Extensions: map[string]any{"code": string(code)},
	}}})
}

// present adapts graph.Present for the WebSocket transport.
func present(log *slog.Logger) func(context.Context, []*gqlerrors.QueryError) []*gqlerrors.QueryError {
	return func(ctx context.Context, errs []*gqlerrors.QueryError) []*gqlerrors.QueryError {
		return graph.Present(ctx, log, errs)
	}
}

package graph

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/protection"
	"meridian.dev/platform/telemetry"
)

// The protection access log: every sensitive field a resolver returns
// unmasked is noted in the operation's accessLog, and the operation's
// answer leaves the gateway only once those notes are written
// (protection.Store.LogAccess). A read that could not be logged is not
// returned: the answer is replaced by an INTERNAL error (fail closed).

// accessWriter writes access log entries: the protection store, or a test's.
type accessWriter interface {
	LogAccess(ctx context.Context, entries []protection.Access) error
}

// accessKey is what entries are merged on: one row per actor, protectee and
// detail, listing every field read, however many objects were read.
type accessKey struct {
	actor     string
	protectee uuid.UUID
	detail    uuid.UUID // uuid.Nil: a field of the protectee itself
}

// accessLog collects one operation's reads (for a subscription, one
// event's: see Schema.Subscribe).
type accessLog struct {
	mu      sync.Mutex
	entries map[accessKey][]string
	order   []accessKey
}

type accessLogKey struct{}

// withAccessLog returns ctx carrying a fresh access log.
func withAccessLog(ctx context.Context) (context.Context, *accessLog) {
	l := &accessLog{entries: map[accessKey][]string{}}
	return context.WithValue(ctx, accessLogKey{}, l), l
}

// errNoAccessLog: a sensitive field resolved outside an operation that logs
// its reads. Refusing it keeps a resolver added by mistake on another path
// from returning what nobody would know was read.
var errNoAccessLog = errors.New("protection: sensitive field resolved without an access log")

// noteRead records that the caller was given fields of protectee (of
// detail, unless it is uuid.Nil). The error means the fields must not be
// returned.
func noteRead(ctx context.Context, protectee, detail uuid.UUID, fields ...string) error {
	l, _ := ctx.Value(accessLogKey{}).(*accessLog)
	if l == nil {
		return errNoAccessLog
	}
	id, err := auth.FromContext(ctx)
	if err != nil {
		return err
	}
	k := accessKey{actor: id.Subject, protectee: protectee, detail: detail}
	l.mu.Lock()
	defer l.mu.Unlock()
	have, seen := l.entries[k]
	if !seen {
		l.order = append(l.order, k)
	}
	for _, f := range fields {
		if !slices.Contains(have, f) {
			have = append(have, f)
		}
	}
	l.entries[k] = have
	return nil
}

// drain returns the entries noted so far, in the order first noted, and
// forgets them.
func (l *accessLog) drain(at time.Time, traceID string) []protection.Access {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]protection.Access, 0, len(l.order))
	for _, k := range l.order {
		a := protection.Access{At: at, Actor: k.actor, ProtecteeID: k.protectee, Fields: slices.Sorted(slices.Values(l.entries[k])), TraceID: traceID}
		if k.detail != uuid.Nil {
			d := k.detail
			a.DetailID = &d
		}
		out = append(out, a)
	}
	clear(l.entries)
	l.order = l.order[:0]
	return out
}

// errWithheld marks an answer replaced because its reads could not be
// logged.
var errWithheld = errors.New("protection access log not written, answer withheld")

// flushAccess writes what l noted and returns resp, or, when the log cannot
// be written, an answer holding nothing but an INTERNAL error (withheld).
func flushAccess(ctx context.Context, w accessWriter, l *accessLog, resp *graphql.Response) (_ *graphql.Response, withheld bool) {
	entries := l.drain(time.Now(), telemetry.TraceID(ctx))
	if len(entries) == 0 {
		return resp, false
	}
	var err error
	if w == nil {
		err = errors.New("no access log writer is configured")
	} else {
		err = w.LogAccess(ctx, entries)
	}
	if err == nil {
		return resp, false
	}
	// The store's error is kept for the log only (%v, not %w): Present
	// tells the caller INTERNAL and the trace, whatever kind it was.
	return &graphql.Response{Errors: []*gqlerrors.QueryError{{
		Message:       "internal error",
		ResolverError: fmt.Errorf("%w: %v", errWithheld, err),
	}}}, true
}

// flushEach passes on in's responses, each once the reads it carries are
// logged; after a withheld one it stops, so a subscription never goes on
// delivering what it cannot log.
func flushEach(ctx context.Context, w accessWriter, l *accessLog, in <-chan any) <-chan any {
	out := make(chan any)
	go func() {
		defer close(out)
		for res := range in {
			withheld := false
			if resp, ok := res.(*graphql.Response); ok {
				// The events of one subscription are resolved one after
				// another, so what the log holds now is this response's
				// reads, perhaps with the next one's first: logged early,
				// never a read delivered before it is logged.
				res, withheld = flushAccess(ctx, w, l, resp)
			}
			select {
			case out <- res:
			case <-ctx.Done():
				return
			}
			if withheld {
				return
			}
		}
	}()
	return out
}

package graph

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/protection"
)

type recordingWriter struct {
	calls [][]protection.Access
	err   error
}

func (w *recordingWriter) LogAccess(_ context.Context, entries []protection.Access) error {
	w.calls = append(w.calls, entries)
	return w.err
}

func asCaller(subject string) context.Context {
	return auth.WithIdentity(context.Background(), auth.Identity{Subject: subject, Roles: []string{auth.RoleProtectionAgent}})
}

// Reads of one operation become one row per protectee and detail, however
// many objects and fields were read, each field named once.
func TestAccessLogMergesReadsPerProtecteeAndDetail(t *testing.T) {
	ctx, l := withAccessLog(asCaller("pa-petra"))
	p1, p2 := uuid.New(), uuid.New()
	d1, d2 := uuid.New(), uuid.New()
	for range 50 { // a list of 50 movements, each with two places
		must(t, noteRead(ctx, p1, d1, protection.FieldMovementPlaces))
		must(t, noteRead(ctx, p1, d1, protection.FieldMovementPlaces, protection.FieldMovementTimes))
	}
	must(t, noteRead(ctx, p1, uuid.Nil, protection.FieldProfile))
	must(t, noteRead(ctx, p1, d2, protection.FieldLastPosition))
	must(t, noteRead(ctx, p2, uuid.Nil, protection.FieldProfile))
	must(t, noteRead(ctx, p1, d1, protection.FieldLastPosition))

	at := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	got := l.drain(at, "trace-1")
	if len(got) != 4 {
		t.Fatalf("%d rows, want 4 (one per protectee and detail): %+v", len(got), got)
	}
	want := []struct {
		protectee uuid.UUID
		detail    *uuid.UUID
		fields    []string
	}{
		{p1, &d1, []string{protection.FieldLastPosition, protection.FieldMovementPlaces, protection.FieldMovementTimes}},
		{p1, nil, []string{protection.FieldProfile}},
		{p1, &d2, []string{protection.FieldLastPosition}},
		{p2, nil, []string{protection.FieldProfile}},
	}
	for i, w := range want {
		g := got[i]
		if g.Actor != "pa-petra" || g.ProtecteeID != w.protectee || g.TraceID != "trace-1" || !g.At.Equal(at) {
			t.Errorf("row %d = %+v", i, g)
		}
		if (g.DetailID == nil) != (w.detail == nil) || (g.DetailID != nil && *g.DetailID != *w.detail) {
			t.Errorf("row %d detail = %v, want %v", i, g.DetailID, w.detail)
		}
		if !slices.Equal(g.Fields, w.fields) {
			t.Errorf("row %d fields = %v, want %v", i, g.Fields, w.fields)
		}
	}
	if again := l.drain(at, "trace-1"); len(again) != 0 {
		t.Errorf("a drained log gave %d rows again", len(again))
	}
}

// A sensitive field resolved where nobody would log it is refused rather
// than returned unlogged.
func TestNoteReadOutsideAnOperationFails(t *testing.T) {
	if err := noteRead(asCaller("gl-ada"), uuid.New(), uuid.Nil, protection.FieldProfile); !errors.Is(err, errNoAccessLog) {
		t.Fatalf("noteRead without a log = %v, want errNoAccessLog", err)
	}
	ctx, _ := withAccessLog(context.Background())
	if err := noteRead(ctx, uuid.New(), uuid.Nil, protection.FieldProfile); err == nil {
		t.Fatal("noteRead without a caller succeeded")
	}
}

// An answer whose reads were logged leaves as it is; one whose log failed
// leaves as nothing but an INTERNAL error; one that read nothing sensitive
// writes nothing.
func TestFlushAccessFailsClosed(t *testing.T) {
	data := []byte(`{"detail":{"lastPosition":{"latitude":51.5}}}`)
	pid, did := uuid.New(), uuid.New()

	t.Run("logged", func(t *testing.T) {
		ctx, l := withAccessLog(asCaller("pa-petra"))
		must(t, noteRead(ctx, pid, did, protection.FieldLastPosition))
		w := &recordingWriter{}
		resp, withheld := flushAccess(ctx, w, l, &graphql.Response{Data: data})
		if withheld || string(resp.Data) != string(data) || len(resp.Errors) != 0 {
			t.Fatalf("logged answer changed: %+v (withheld %v)", resp, withheld)
		}
		if len(w.calls) != 1 || len(w.calls[0]) != 1 || w.calls[0][0].Actor != "pa-petra" {
			t.Fatalf("writes = %+v, want one batch of one row", w.calls)
		}
	})
	t.Run("nothing read", func(t *testing.T) {
		ctx, l := withAccessLog(asCaller("pa-petra"))
		w := &recordingWriter{err: errors.New("down")}
		if resp, withheld := flushAccess(ctx, w, l, &graphql.Response{Data: data}); withheld || string(resp.Data) != string(data) {
			t.Fatalf("an answer without sensitive reads was withheld: %+v", resp)
		}
		if len(w.calls) != 0 {
			t.Fatalf("%d writes for an answer that read nothing sensitive", len(w.calls))
		}
	})
	for name, w := range map[string]accessWriter{"write fails": &recordingWriter{err: fault.New(fault.Conflict, "boom")}, "no writer": nil} {
		t.Run(name, func(t *testing.T) {
			ctx, l := withAccessLog(asCaller("pa-petra"))
			must(t, noteRead(ctx, pid, did, protection.FieldLastPosition))
			resp, withheld := flushAccess(ctx, w, l, &graphql.Response{Data: data})
			if !withheld || resp.Data != nil || len(resp.Errors) != 1 {
				t.Fatalf("answer after a failed log = %+v (withheld %v), want only an error", resp, withheld)
			}
			errs := Present(ctx, slog.New(slog.DiscardHandler), resp.Errors)
			if code := errs[0].Extensions["code"]; code != string(fault.Internal) {
				t.Errorf("code %v, want INTERNAL (whatever the store's error was)", code)
			}
		})
	}
}

// Over a subscription each event leaves once its reads are logged; after
// one whose log failed, nothing more is delivered.
func TestFlushEachStopsAfterAWithheldEvent(t *testing.T) {
	ctx, l := withAccessLog(asCaller("pa-liam"))
	pid, did := uuid.New(), uuid.New()
	w := &recordingWriter{}
	in := make(chan any)
	out := flushEach(ctx, w, l, in)

	must(t, noteRead(ctx, pid, did, protection.FieldLastPosition))
	in <- &graphql.Response{Data: []byte(`{"n":1}`)}
	if r := (<-out).(*graphql.Response); string(r.Data) != `{"n":1}` || len(w.calls) != 1 {
		t.Fatalf("first event: %+v, %d writes", r, len(w.calls))
	}
	in <- &graphql.Response{Data: []byte(`{"n":2}`)} // read nothing sensitive
	if r := (<-out).(*graphql.Response); string(r.Data) != `{"n":2}` || len(w.calls) != 1 {
		t.Fatalf("second event: %+v, %d writes", r, len(w.calls))
	}
	w.err = errors.New("database gone")
	must(t, noteRead(ctx, pid, did, protection.FieldCheckInPositions))
	in <- &graphql.Response{Data: []byte(`{"n":3}`)}
	if r := (<-out).(*graphql.Response); r.Data != nil || len(r.Errors) != 1 {
		t.Fatalf("third event, log failed: %+v, want the error alone", r)
	}
	select {
	case r, ok := <-out:
		if ok {
			t.Fatalf("delivered %+v after a withheld event", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end after a withheld event")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// perCallerTypes names exactly the object types of 60_protection.graphql:
// a type added there and not here would be shared between subscribers.
func TestPerCallerTypesAreTheProtectionSDLs(t *testing.T) {
	sdl, err := os.ReadFile("../../../schema/graphql/60_protection.graphql")
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, m := range regexp.MustCompile(`(?m)^type (\w+)`).FindAllStringSubmatch(string(sdl), -1) {
		declared = append(declared, m[1])
	}
	known := slices.Collect(maps.Keys(perCallerTypes))
	slices.Sort(declared)
	slices.Sort(known)
	if !slices.Equal(declared, known) {
		t.Errorf("60_protection.graphql declares %v; perCallerTypes holds %v", declared, known)
	}
}

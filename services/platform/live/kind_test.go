package live

import (
	"context"
	"testing"
	"time"
)

type testEvent struct {
	Region string `json:"region"`
	N      int    `json:"n"`
}

var testKind = Kind[testEvent]{Name: "test.event", Region: func(e testEvent) string { return e.Region }}

// TestKindRoundTrip: what a Kind publishes, Watch delivers as the same Go
// value, filtered by kind and region, with its cursor; an entry of the kind
// that does not decode is skipped, not delivered half-read.
func TestKindRoundTrip(t *testing.T) {
	f := newFixture(t)
	run := f.startHub(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := Watch(ctx, run.hub, testKind, "EMEA", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, publish := range []func() error{
		func() error { return testKind.Publish(ctx, f.pub, testEvent{Region: "APAC", N: 1}) },
		func() error { return f.pub.Publish(ctx, testKind.Name, "EMEA", []byte("not json")) },
		func() error { return f.pub.Publish(ctx, "another.kind", "EMEA", []byte(`{"region":"EMEA","n":3}`)) },
		func() error { return testKind.Publish(ctx, f.pub, testEvent{Region: "EMEA", N: 2}) },
	} {
		if err := publish(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case got := <-events:
		if got.Event != (testEvent{Region: "EMEA", N: 2}) || !validID(got.Cursor) {
			t.Fatalf("delivered %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered within 10 s")
	}
	cancel()
	select {
	case _, open := <-events:
		if open {
			t.Fatal("an event after the one published for EMEA")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the channel stayed open after its context ended")
	}
}

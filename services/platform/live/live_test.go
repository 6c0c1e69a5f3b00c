package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"meridian.dev/platform/fault"
	"meridian.dev/platform/testenv"
)

type fixture struct {
	rdb  *redis.Client
	keys Keys
	pub  *Publisher
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	keys := Keys{Prefix: prefix}
	return fixture{rdb: rdb, keys: keys, pub: NewPublisher(rdb, keys)}
}

type hubRun struct {
	hub      *Hub
	cancel   context.CancelFunc
	done     chan error
	stopOnce *sync.Once
	wake     func()
}

// startHub runs a hub and waits until it knows its stream position, so a
// subscriber's replay and live delivery meet where they should. The hub is
// stopped when the test ends.
func (f fixture) startHub(t *testing.T) hubRun {
	t.Helper()
	hub := NewHub(f.rdb, f.keys, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	run := hubRun{hub: hub, cancel: cancel, done: make(chan error, 1), stopOnce: &sync.Once{},
		// An entry on the stream ends the hub's blocking read at once, so
		// the test need not wait out the blocking read after cancelling.
		wake: func() {
			f.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: f.keys.Stream(), Values: []string{"type", "wake"}})
		},
	}
	go func() { run.done <- hub.Run(ctx) }()
	t.Cleanup(func() { run.stop(t, true) })
	deadline := time.Now().Add(5 * time.Second)
	for {
		hub.mu.Lock()
		last := hub.last
		hub.mu.Unlock()
		if last != "" {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatal("hub did not read its stream position within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop cancels the hub and waits for Run to return; with wake set it also
// ends the blocking stream read early.
func (r hubRun) stop(t *testing.T, wake bool) {
	t.Helper()
	r.stopOnce.Do(func() {
		r.cancel()
		if wake {
			r.wake()
		}
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("hub.Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("hub.Run did not return within 10s of cancel")
		}
	})
}

type body struct {
	N int `json:"n"`
}

func (f fixture) publish(t *testing.T, region string, n int) {
	t.Helper()
	data, _ := json.Marshal(body{N: n})
	if err := f.pub.Publish(context.Background(), TypeEscalation, region, data); err != nil {
		t.Fatalf("Publish %d: %v", n, err)
	}
}

func number(t *testing.T, ev Event) int {
	t.Helper()
	var b body
	if err := json.Unmarshal(ev.Data, &b); err != nil {
		t.Fatalf("event %s data %q: %v", ev.ID, ev.Data, err)
	}
	return b.N
}

// next receives one event or fails after timeout.
func next(t *testing.T, s *Subscription, timeout time.Duration) Event {
	t.Helper()
	select {
	case ev, ok := <-s.C:
		if !ok {
			t.Fatalf("subscription closed early: %v", s.Err())
		}
		return ev
	case <-time.After(timeout):
		t.Fatalf("no event within %s", timeout)
	}
	return Event{}
}

func (f fixture) streamIDs(t *testing.T) []string {
	t.Helper()
	msgs, err := f.rdb.XRange(context.Background(), f.keys.Stream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

func TestPublishSiteStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	v2 := []byte(`{"level":"HIGH","version":2}`)
	if err := f.pub.PublishSiteStatus(ctx, "site-1", "EMEA", 2, v2, []byte(`{"event":2}`)); err != nil {
		t.Fatalf("PublishSiteStatus: %v", err)
	}
	got, err := f.pub.Statuses(ctx, []string{"site-1", "site-missing"})
	if err != nil {
		t.Fatalf("Statuses: %v", err)
	}
	if len(got) != 1 || got["site-1"].Version != 2 || string(got["site-1"].JSON) != string(v2) {
		t.Fatalf("Statuses = %+v, want only site-1 at version 2", got)
	}
	msgs, err := f.rdb.XRange(ctx, f.keys.Stream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("stream has %d entries, want 1", len(msgs))
	}
	ev := decode(msgs[0])
	if ev.Type != TypeSiteStatus || ev.Region != "EMEA" || string(ev.Data) != `{"event":2}` || ev.ID != msgs[0].ID {
		t.Errorf("stream event = %+v", ev)
	}

	// An older or equal version never moves the board back.
	for _, v := range []int32{1, 2} {
		stale := []byte(fmt.Sprintf(`{"stale":%d}`, v))
		if err := f.pub.PublishSiteStatus(ctx, "site-1", "EMEA", v, stale, []byte(`{}`)); err != nil {
			t.Fatalf("PublishSiteStatus v%d: %v", v, err)
		}
		got, err := f.pub.Statuses(ctx, []string{"site-1"})
		if err != nil {
			t.Fatal(err)
		}
		if got["site-1"].Version != 2 || string(got["site-1"].JSON) != string(v2) {
			t.Errorf("after publishing v%d: %+v, want v2 kept", v, got["site-1"])
		}
	}
	// A newer one does.
	v10 := []byte(`{"level":"CRITICAL","version":10}`)
	if err := f.pub.PublishSiteStatus(ctx, "site-1", "EMEA", 10, v10, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	got, err = f.pub.Statuses(ctx, []string{"site-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got["site-1"].Version != 10 || string(got["site-1"].JSON) != string(v10) {
		t.Errorf("after v10: %+v", got["site-1"])
	}
	if empty, err := f.pub.Statuses(ctx, nil); err != nil || len(empty) != 0 {
		t.Errorf("Statuses(nil) = %v, %v", empty, err)
	}
}

// TestPublishSiteStatusNeedsNoCachedScript: a fresh, restarted or flushed
// Redis has no cached script; publishing must still work (EVALSHA falls back
// to EVAL), and a replayed or stale version must add nothing to the stream.
func TestPublishSiteStatusNeedsNoCachedScript(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	// Safe on the shared server: every script user in Meridian falls back
	// to EVAL by itself.
	if err := f.rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatalf("SCRIPT FLUSH: %v", err)
	}
	if err := f.pub.PublishSiteStatus(ctx, "s", "AMER", 2, []byte(`{"v":2}`), []byte(`{}`)); err != nil {
		t.Fatalf("PublishSiteStatus after SCRIPT FLUSH: %v", err)
	}
	// The same version again (a replayed outbox row) and an older one.
	for _, v := range []int32{2, 1} {
		if err := f.pub.PublishSiteStatus(ctx, "s", "AMER", v, []byte(`{"v":0}`), []byte(`{}`)); err != nil {
			t.Fatalf("PublishSiteStatus v%d: %v", v, err)
		}
	}
	got, err := f.pub.Statuses(ctx, []string{"s"})
	if err != nil || got["s"].Version != 2 || string(got["s"].JSON) != `{"v":2}` {
		t.Fatalf("Statuses = %+v, %v", got, err)
	}
	if n := len(f.streamIDs(t)); n != 1 {
		t.Errorf("stream has %d entries, want exactly 1: stale or replayed versions must not be announced", n)
	}
}

func TestHubDeliversFilteredEventsInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	run := f.startHub(t)
	sub, err := run.hub.Subscribe(context.Background(), "", func(ev Event) bool { return ev.Region == "EMEA" })
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()
	all, err := run.hub.Subscribe(context.Background(), "", func(Event) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	regions := []string{"EMEA", "AMER", "EMEA", "APAC", "AMER", "EMEA", "EMEA"}
	for i, r := range regions {
		f.publish(t, r, i+1)
	}
	var got []int
	lastID := ""
	for range 4 {
		ev := next(t, sub, 5*time.Second)
		if ev.Region != "EMEA" || ev.Type != TypeEscalation {
			t.Errorf("filtered subscriber got %+v", ev)
		}
		if lastID != "" && compareIDs(ev.ID, lastID) <= 0 {
			t.Errorf("event IDs out of order: %s after %s", ev.ID, lastID)
		}
		lastID = ev.ID
		got = append(got, number(t, ev))
	}
	if fmt.Sprint(got) != "[1 3 6 7]" {
		t.Errorf("EMEA subscriber got %v, want [1 3 6 7]", got)
	}
	for i := range regions {
		if n := number(t, next(t, all, 5*time.Second)); n != i+1 {
			t.Errorf("unfiltered subscriber event %d = %d", i+1, n)
		}
	}
	// Nothing else is waiting: the next event seen is the next accepted one.
	f.publish(t, "APAC", 8)
	f.publish(t, "EMEA", 9)
	if n := number(t, next(t, sub, 5*time.Second)); n != 9 {
		t.Errorf("after the burst, filtered subscriber got %d, want 9", n)
	}
}

func TestHubResumeReplaysThenGoesLive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	run := f.startHub(t)
	const before, during = 300, 300
	for i := 1; i <= before; i++ {
		f.publish(t, "EMEA", i)
	}
	ids := f.streamIDs(t)
	if len(ids) != before {
		t.Fatalf("stream has %d entries, want %d", len(ids), before)
	}
	cursor := ids[1] // event 2

	// Keep publishing while the subscriber replays.
	published := make(chan error, 1)
	go func() {
		for i := before + 1; i <= before+during; i++ {
			data, _ := json.Marshal(body{N: i})
			if err := f.pub.Publish(context.Background(), TypeEscalation, "EMEA", data); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	sub, err := run.hub.Subscribe(context.Background(), cursor, func(Event) bool { return true })
	if err != nil {
		t.Fatalf("Subscribe(after=%s): %v", cursor, err)
	}
	defer sub.Close()
	want := 3
	lastID := cursor
	for want <= before+during {
		ev := next(t, sub, 5*time.Second)
		n := number(t, ev)
		if n != want {
			t.Fatalf("got event %d, want %d (no duplicates, no gaps)", n, want)
		}
		if compareIDs(ev.ID, lastID) <= 0 {
			t.Fatalf("event %d has ID %s, not after %s", n, ev.ID, lastID)
		}
		lastID = ev.ID
		want++
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	f.publish(t, "EMEA", before+during+1)
	if n := number(t, next(t, sub, 5*time.Second)); n != before+during+1 {
		t.Errorf("live event after replay = %d", n)
	}

	// Resuming from the newest cursor replays nothing and continues live.
	latest, err := run.hub.Subscribe(context.Background(), lastID, func(Event) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer latest.Close()
	f.publish(t, "EMEA", 9999)
	if n := number(t, next(t, latest, 5*time.Second)); n != before+during+1 {
		t.Errorf("first event after the newest cursor = %d, want %d", n, before+during+1)
	}
	if n := number(t, next(t, latest, 5*time.Second)); n != 9999 {
		t.Errorf("then %d, want 9999", n)
	}
}

func TestHubResumeRespectsFilter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	run := f.startHub(t)
	for i, r := range []string{"EMEA", "AMER", "EMEA", "AMER", "EMEA"} {
		f.publish(t, r, i+1)
	}
	ids := f.streamIDs(t)
	sub, err := run.hub.Subscribe(context.Background(), ids[0], func(ev Event) bool { return ev.Region == "AMER" })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	f.publish(t, "EMEA", 6)
	f.publish(t, "AMER", 7)
	var got []int
	for range 3 {
		got = append(got, number(t, next(t, sub, 5*time.Second)))
	}
	if fmt.Sprint(got) != "[2 4 7]" {
		t.Errorf("got %v, want [2 4 7]", got)
	}
}

// TestHubCursor: the cursor of a stream nobody has written to replays the
// first events written after it; once entries after it are trimmed it is
// refused as expired, like any other.
func TestHubCursor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	run := f.startHub(t)
	ctx := context.Background()

	start, err := run.hub.Cursor(ctx)
	if err != nil {
		t.Fatalf("Cursor on an empty stream: %v", err)
	}
	f.publish(t, "EMEA", 1)
	f.publish(t, "EMEA", 2)
	sub, err := run.hub.Subscribe(ctx, start, func(Event) bool { return true })
	if err != nil {
		t.Fatalf("Subscribe(cursor of the empty stream %q) = %v", start, err)
	}
	for want := 1; want <= 2; want++ {
		if n := number(t, next(t, sub, 5*time.Second)); n != want {
			t.Fatalf("event %d replayed from the empty stream's cursor = %d", want, n)
		}
	}
	sub.Close()

	now, err := run.hub.Cursor(ctx)
	if err != nil || now == start {
		t.Fatalf("Cursor after two events = %q, %v; want a new position", now, err)
	}
	f.publish(t, "EMEA", 3)
	sub, err = run.hub.Subscribe(ctx, now, func(Event) bool { return true })
	if err != nil {
		t.Fatalf("Subscribe(cursor) = %v", err)
	}
	if n := number(t, next(t, sub, 5*time.Second)); n != 3 {
		t.Fatalf("first event after the cursor = %d, want 3", n)
	}
	sub.Close()

	if err := f.rdb.XTrimMaxLen(ctx, f.keys.Stream(), 1).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := run.hub.Subscribe(ctx, start, func(Event) bool { return true }); !errors.Is(err, ErrCursorExpired) {
		t.Errorf("Subscribe(empty stream's cursor, after trimming) = %v, want ErrCursorExpired", err)
	}
}

func TestHubRejectsBadCursors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	run := f.startHub(t)
	for _, bad := range []string{"garbage", "12", "1-x", "-1-0", "01-1", "1-2-3", "1 -2", "$"} {
		sub, err := run.hub.Subscribe(context.Background(), bad, func(Event) bool { return true })
		if sub != nil {
			t.Errorf("Subscribe(%q) returned a subscription", bad)
		}
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Code != fault.BadUserInput || fe.Field != "after" {
			t.Errorf("Subscribe(%q) = %v, want BAD_USER_INPUT on after", bad, err)
		}
	}

	// A cursor older than the retained stream cannot be resumed without a gap.
	for i := 1; i <= 5; i++ {
		f.publish(t, "EMEA", i)
	}
	ids := f.streamIDs(t)
	if err := f.rdb.XTrimMaxLen(context.Background(), f.keys.Stream(), 2).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := run.hub.Subscribe(context.Background(), ids[0], func(Event) bool { return true })
	if !errors.Is(err, ErrCursorExpired) || fault.CodeOf(err) != fault.BadUserInput {
		t.Errorf("Subscribe(trimmed cursor) = %v, want ErrCursorExpired", err)
	}
	// The cursor just before the oldest retained entry is still complete.
	sub, err := run.hub.Subscribe(context.Background(), ids[3], func(Event) bool { return true })
	if err != nil {
		t.Fatalf("Subscribe(oldest retained) = %v", err)
	}
	defer sub.Close()
	if n := number(t, next(t, sub, 5*time.Second)); n != 5 {
		t.Errorf("replay after the oldest retained entry = %d, want 5", n)
	}
}

func TestHubDropsSlowSubscriber(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	run := f.startHub(t)
	ctx := context.Background()
	slow, err := run.hub.Subscribe(ctx, "", func(Event) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	fast, err := run.hub.Subscribe(ctx, "", func(Event) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()

	const total = subscriberBuffer + 76
	received := 0
	for sent := 0; sent < total; {
		chunk := min(100, total-sent)
		pipe := f.rdb.Pipeline()
		for i := range chunk {
			f.pub.append(ctx, pipe, TypeEscalation, "EMEA", fmt.Appendf(nil, `{"n":%d}`, sent+i+1))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		sent += chunk
		// The fast subscriber keeps up, chunk by chunk.
		for received < sent {
			received++
			if n := number(t, next(t, fast, 5*time.Second)); n != received {
				t.Fatalf("fast subscriber got %d, want %d", n, received)
			}
		}
	}

	// The slow one holds exactly its buffer, then its channel is closed.
	got := 0
	for ev := range slow.C {
		got++
		if n := number(t, ev); n != got {
			t.Fatalf("slow subscriber event %d = %d", got, n)
		}
	}
	if got != subscriberBuffer {
		t.Errorf("slow subscriber got %d events before being dropped, want %d", got, subscriberBuffer)
	}
	if !errors.Is(slow.Err(), ErrTooSlow) {
		t.Errorf("slow.Err() = %v, want ErrTooSlow", slow.Err())
	}
	if fast.Err() != nil {
		t.Errorf("fast.Err() = %v", fast.Err())
	}
	f.publish(t, "EMEA", total+1)
	if n := number(t, next(t, fast, 5*time.Second)); n != total+1 {
		t.Errorf("fast subscriber after the drop got %d", n)
	}
	slow.Close() // closing a dropped subscription is harmless
}

func TestSubscriptionClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	run := f.startHub(t)
	ctx := context.Background()
	sub, err := run.hub.Subscribe(ctx, "", func(Event) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	other, err := run.hub.Subscribe(ctx, "", func(Event) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	f.publish(t, "EMEA", 1)
	if n := number(t, next(t, sub, 5*time.Second)); n != 1 {
		t.Fatalf("got %d", n)
	}
	next(t, other, 5*time.Second)
	sub.Close()
	sub.Close() // twice is harmless
	f.publish(t, "EMEA", 2)
	if n := number(t, next(t, other, 5*time.Second)); n != 2 {
		t.Fatalf("other subscriber got %d, want 2", n)
	}
	if ev, ok := <-sub.C; ok {
		t.Fatalf("closed subscription received %+v", ev)
	}
	if sub.Err() != nil {
		t.Errorf("Err() after Close = %v, want nil", sub.Err())
	}
	run.hub.mu.Lock()
	n := len(run.hub.subs)
	run.hub.mu.Unlock()
	if n != 1 {
		t.Errorf("hub holds %d subscriptions, want 1", n)
	}
}

func TestHubStopClosesSubscriptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	run := f.startHub(t)
	sub, err := run.hub.Subscribe(context.Background(), "", func(Event) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	// No wake-up here: Run must notice the cancel on its own.
	run.stop(t, false)
	select {
	case _, ok := <-sub.C:
		if ok {
			t.Fatal("received an event after the hub stopped")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscription still open after the hub stopped")
	}
	if !errors.Is(sub.Err(), context.Canceled) {
		t.Errorf("Err() = %v, want context.Canceled", sub.Err())
	}
}

func TestIDs(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"0-0", "1-0", "1700000000000-12", "18446744073709551615-18446744073709551615"} {
		if !validID(ok) {
			t.Errorf("validID(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "0", "-", "1-", "-1", "a-1", "1-1 ", "+1-1", "1-01"} {
		if validID(bad) {
			t.Errorf("validID(%q) = true", bad)
		}
	}
	cases := []struct {
		a, b string
		want int
	}{
		{"1-0", "1-0", 0}, {"1-0", "1-1", -1}, {"2-0", "1-9", 1}, {"10-0", "9-0", 1}, {"1-10", "1-9", 1},
	}
	for _, c := range cases {
		if got := compareIDs(c.a, c.b); got != c.want {
			t.Errorf("compareIDs(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// TestHubResumeFarBehind: a client thousands of events behind — more than a
// live subscriber's buffer — still resumes without loss, while new events
// keep arriving during its replay.
func TestHubResumeFarBehind(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	run := f.startHub(t)
	const backlog = 3000
	pipe := f.rdb.Pipeline()
	for i := 1; i <= backlog; i++ {
		data, _ := json.Marshal(body{N: i})
		pipe.XAdd(context.Background(), &redis.XAddArgs{Stream: f.keys.Stream(),
			Values: []string{"type", TypeEscalation, "region", "EMEA", "data", string(data)}})
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := f.streamIDs(t)[0]
	sub, err := run.hub.Subscribe(context.Background(), first, func(Event) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	go func() {
		for i := backlog + 1; i <= backlog+50; i++ {
			data, _ := json.Marshal(body{N: i})
			_ = f.pub.Publish(context.Background(), TypeEscalation, "EMEA", data)
		}
	}()
	for want := 2; want <= backlog+50; want++ {
		if got := number(t, next(t, sub, 5*time.Second)); got != want {
			t.Fatalf("event %d arrived where %d was due: replay must be gapless and in order", got, want)
		}
	}
}

// TestHubCursorAheadOfReplica: a cursor from a replica that has read further
// than this one must not make this replica deliver events again.
func TestHubCursorAheadOfReplica(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	run := f.startHub(t)
	f.publish(t, "EMEA", 1)
	f.publish(t, "EMEA", 2)
	ids := f.streamIDs(t)
	// Pretend this replica is behind: it last delivered event 1.
	run.hub.mu.Lock()
	run.hub.last = ids[0]
	run.hub.mu.Unlock()
	sub, err := run.hub.Subscribe(context.Background(), ids[1], func(Event) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	f.publish(t, "EMEA", 3)
	if got := number(t, next(t, sub, 5*time.Second)); got != 3 {
		t.Fatalf("first event after cursor of event 2 was %d, want 3", got)
	}
}

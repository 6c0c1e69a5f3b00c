package server_test

import (
	"testing"
	"time"

	"meridian.dev/gateway/stacktest"
)

// TestLiveCursor: Query.liveCursor is the stream's position, and a
// subscription made with it replays a change made after the cursor was taken
// but before the subscription existed — the gap between a client's snapshot
// and its subscription, which the board closes this way. On a fresh stack,
// whose stream nobody has written to, the cursor works the same.
func TestLiveCursor(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	token := s.Token(t, stacktest.EMEAManager)

	s.GW.Query(t, "", `{ liveCursor }`, nil).Refused(t, "UNAUTHENTICATED")

	cursorNow := func() string {
		t.Helper()
		var answer struct{ LiveCursor string }
		s.GW.Query(t, token, `{ liveCursor }`, nil).Decode(t, &answer)
		if answer.LiveCursor == "" {
			t.Fatal("liveCursor is empty")
		}
		return answer.LiveCursor
	}
	// changeThenReplay changes code's status after taking a cursor, waits
	// until the change is on the stream, and only then subscribes from the
	// cursor: the change must be the first event of code.
	c := stacktest.DialWS(t, s.GW, token)
	changeThenReplay := func(id, code, level string) {
		t.Helper()
		taken := cursorNow()
		changed := s.SetStatus(t, s.GW, stacktest.EMEAManager, code, level, "RESTRICTED", "between snapshot and subscription")
		s.RequireWorkerRunning(t)
		deadline := time.Now().Add(10 * time.Second)
		for cursorNow() == taken {
			if time.Now().After(deadline) {
				t.Fatalf("the %s change never reached the stream (liveCursor did not move from %s)", code, taken)
			}
			time.Sleep(50 * time.Millisecond)
		}
		sub := c.Subscribe(t, id, stacktest.StatusSubscription, map[string]any{"after": taken})
		for {
			ev := sub.NextStatusEvent(t)
			if ev.Site.Code != code {
				continue // another site's change, written after the cursor too
			}
			if ev.Current.Version != changed.Site.Status.Version || ev.Current.Level != level {
				t.Fatalf("first %s event after cursor %s: v%d %s, want v%d %s",
					code, taken, ev.Current.Version, ev.Current.Level, changed.Site.Status.Version, level)
			}
			return
		}
	}

	changeThenReplay("from-the-start", "LON-HQ", "ELEVATED") // the stream was empty when the cursor was taken
	changeThenReplay("from-an-event", "FRA-DC", "HIGH")
}

package server_test

import (
	"testing"
	"time"

	"meridian.dev/gateway/stacktest"
)

// TestLiveCursor: Query.liveCursor is the stream's position, and a
// subscription made with it replays a change made after the cursor was taken
// but before the subscription existed — the gap between a client's snapshot
// and its subscription, which the board closes this way.
func TestLiveCursor(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	token := s.Token(t, stacktest.EMEAManager)

	s.GW.Query(t, "", `{ liveCursor }`, nil).Refused(t, "UNAUTHENTICATED")

	type cursorAnswer struct{ LiveCursor *string }
	var fresh cursorAnswer
	s.GW.Query(t, token, `{ liveCursor }`, nil).Decode(t, &fresh)
	if fresh.LiveCursor != nil {
		t.Fatalf("liveCursor on a stack whose stream holds nothing = %q, want null", *fresh.LiveCursor)
	}

	// Put events on the stream, and know the hub has read them.
	c := stacktest.DialWS(t, s.GW, token)
	s.PrimedSubscription(t, c, "primer", "", "WAW-OFC", stacktest.EMEAManager)

	var taken cursorAnswer
	s.GW.Query(t, token, `{ liveCursor }`, nil).Decode(t, &taken)
	if taken.LiveCursor == nil || *taken.LiveCursor == "" {
		t.Fatal("liveCursor is null after status changes reached the stream")
	}

	// A change after the cursor, on the stream before anyone subscribes.
	changed := s.SetStatus(t, s.GW, stacktest.EMEAManager, "LON-HQ", "ELEVATED", "RESTRICTED", "between snapshot and subscription")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var now cursorAnswer
		s.GW.Query(t, token, `{ liveCursor }`, nil).Decode(t, &now)
		if now.LiveCursor != nil && *now.LiveCursor != *taken.LiveCursor {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the LON-HQ change never reached the stream (liveCursor did not move)")
		}
		time.Sleep(50 * time.Millisecond)
	}

	sub := c.Subscribe(t, "resumed", stacktest.StatusSubscription, map[string]any{"after": *taken.LiveCursor})
	for {
		ev := sub.NextStatusEvent(t)
		if ev.Site.Code == "WAW-OFC" {
			continue // a primer event still trailing in
		}
		if ev.Site.Code != "LON-HQ" || ev.Current.Version != changed.Site.Status.Version || ev.Current.Level != "ELEVATED" {
			t.Fatalf("first event after the cursor: %s v%d %s, want LON-HQ v%d ELEVATED",
				ev.Site.Code, ev.Current.Version, ev.Current.Level, changed.Site.Status.Version)
		}
		break
	}
}

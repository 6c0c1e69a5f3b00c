package feedserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"meridian.dev/platform/proximity/usgs"
)

// TestRecentEventsAreToday: the development server's earthquake feed is
// moved to now, keeps its shape (the real parser reads it) and the spacing
// of its events, and stays the same document (and ETag) while it runs.
func TestRecentEventsAreToday(t *testing.T) {
	now := time.Now()
	recent, err := NewRecent(now)
	if err != nil {
		t.Fatal(err)
	}
	get := func(s *Server) (usgs.Feed, string) {
		srv := httptest.NewServer(s)
		defer srv.Close()
		resp, err := http.Get(srv.URL + USGSPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		f, err := usgs.Parse(body)
		if err != nil {
			t.Fatalf("the served feed does not parse: %v", err)
		}
		return f, resp.Header.Get("ETag")
	}
	original, _ := get(New())
	moved, etag := get(recent)
	if len(moved.Events) == 0 || len(moved.Events) != len(original.Events) {
		t.Fatalf("%d events moved, %d in the fixture", len(moved.Events), len(original.Events))
	}
	newest := moved.Events[0].Time
	for _, e := range moved.Events {
		if e.Time.After(newest) {
			newest = e.Time
		}
	}
	if want := now.Add(-10 * time.Minute); newest.Sub(want).Abs() > time.Second {
		t.Errorf("newest event at %s, want %s", newest, want)
	}
	delta := moved.Events[0].Time.Sub(original.Events[0].Time)
	for i := range moved.Events {
		if got := moved.Events[i].Time.Sub(original.Events[i].Time); got != delta {
			t.Errorf("event %s moved by %s, the first by %s", moved.Events[i].ID, got, delta)
		}
	}
	if _, again := get(recent); again != etag {
		t.Errorf("ETag changed from %s to %s between two requests", etag, again)
	}
}

package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"meridian.dev/gateway/server"
	"meridian.dev/gateway/stacktest"
)

type boardSite struct {
	Code   string
	Status stacktest.StatusView
}

func readBoard(t testing.TB, g *stacktest.Gateway, token, region string) map[string]stacktest.StatusView {
	t.Helper()
	var out struct {
		Sites struct {
			Edges []struct{ Node boardSite }
		}
	}
	g.Query(t, token, `query($region: String) { sites(region: $region, first: 500) {
		edges { node { code status { level posture note version updatedAt updatedBy } } } } }`,
		map[string]any{"region": region}).Decode(t, &out)
	board := map[string]stacktest.StatusView{}
	for _, e := range out.Sites.Edges {
		board[e.Node.Code] = e.Node.Status
	}
	return board
}

// liveKey is the Redis hash holding a site's live status (live.Keys).
func liveKey(t testing.TB, s *stacktest.Stack, code string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(s.Site(t, code).ID)
	if err != nil {
		t.Fatalf("site ID of %s: %v", code, err)
	}
	_, id, _ := strings.Cut(string(raw), ":")
	return s.Prefix + "site:" + id + ":status"
}

// waitLiveVersion waits until the worker's relay has written version v of
// the site's status to Redis.
func waitLiveVersion(t testing.TB, s *stacktest.Stack, code string, v int) {
	t.Helper()
	deadline := time.Now().Add(stacktest.WaitLimit)
	for {
		got, err := s.Redis.HGet(context.Background(), liveKey(t, s, code), "version").Result()
		if err == nil {
			if n, _ := strconv.Atoi(got); n >= v {
				return
			}
		}
		s.RequireWorkerRunning(t)
		if time.Now().After(deadline) {
			t.Fatalf("the relay did not write version %d of %s to Redis within %s (have %q, %v)", v, code, stacktest.WaitLimit, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBoardFallsBackToPostgres checks where the board's status comes from:
// Redis when it holds the same or a newer version, Postgres when Redis is
// behind or unreachable. A gateway whose Redis is dead still serves the
// board and still accepts a status change, and the change reaches Redis
// through the outbox once a relay can deliver it.
func TestBoardFallsBackToPostgres(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	ctx := context.Background()
	tok := s.Token(t, stacktest.EMEAManager)

	// A change travels Postgres → outbox → relay → Redis → board.
	p := s.SetStatus(t, s.GW, stacktest.EMEAManager, "PAR-OFC", "HIGH", "RESTRICTED", "strike at the station")
	waitLiveVersion(t, s, "PAR-OFC", p.Site.Status.Version)
	if got := readBoard(t, s.GW, tok, "EMEA")["PAR-OFC"]; got.Level != "HIGH" || got.Posture != "RESTRICTED" || got.Version != 2 {
		t.Fatalf("board after the relay: PAR-OFC = %+v", got)
	}

	// Prove the board reads Redis: a live status at the same version as
	// Postgres, with a note only Redis holds, is what the board shows...
	live, _ := json.Marshal(stacktest.StatusView{Level: "ELEVATED", Posture: "OPEN", Note: "only in redis", Version: 1,
		UpdatedAt: time.Now().UTC().Format(time.RFC3339Nano), UpdatedBy: "redis"})
	if err := s.Redis.HSet(ctx, liveKey(t, s, "FRA-DC"), "version", 1, "json", string(live)).Err(); err != nil {
		t.Fatal(err)
	}
	// ...while a live status older than Postgres's is ignored.
	stale, _ := json.Marshal(stacktest.StatusView{Level: "CRITICAL", Posture: "CLOSED", Note: "stale", Version: 1,
		UpdatedAt: time.Now().UTC().Format(time.RFC3339Nano), UpdatedBy: "redis"})
	s.SetStatus(t, s.GW, stacktest.EMEAManager, "MIL-OFC", "ELEVATED", "OPEN", "newer in postgres")
	waitLiveVersion(t, s, "MIL-OFC", 2)
	if err := s.Redis.HSet(ctx, liveKey(t, s, "MIL-OFC"), "version", 1, "json", string(stale)).Err(); err != nil {
		t.Fatal(err)
	}
	board := readBoard(t, s.GW, tok, "EMEA")
	if got := board["FRA-DC"]; got.Note != "only in redis" || got.Level != "ELEVATED" {
		t.Errorf("board with a live status in Redis: FRA-DC = %+v, want Redis's", got)
	}
	if got := board["MIL-OFC"]; got.Note != "newer in postgres" || got.Version != 2 {
		t.Errorf("board with Redis behind Postgres: MIL-OFC = %+v, want Postgres's", got)
	}

	// A gateway whose Redis does not answer: nothing listens on port 1. It
	// allows one mutation per caller, to show the limiter fails open.
	dead := s.StartGateway(t, func(c *server.Config) {
		c.RedisURL = "redis://127.0.0.1:1/0"
		c.RateLimit = 1
		c.RateWindow = time.Hour
	})
	if code, _, body := get(t, dead.Base+"/readyz", nil); code != http.StatusServiceUnavailable || !strings.Contains(body, "redis") {
		t.Errorf("/readyz with Redis down: %d %q, want 503 naming redis", code, body)
	}
	if code, _, _ := get(t, dead.Base+"/healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz with Redis down: %d, want 200: the process itself is fine", code)
	}

	board = readBoard(t, dead, tok, "EMEA")
	if len(board) != 12 {
		t.Errorf("board without Redis lists %d EMEA sites, want 12", len(board))
	}
	if got := board["PAR-OFC"]; got.Level != "HIGH" || got.Posture != "RESTRICTED" || got.Version != 2 || got.Note != "strike at the station" {
		t.Errorf("board without Redis: PAR-OFC = %+v, want Postgres's HIGH/RESTRICTED v2", got)
	}
	if got := board["FRA-DC"]; got.Level != "NORMAL" || got.Note != "" || got.UpdatedBy != "demo-loader" {
		t.Errorf("board without Redis: FRA-DC = %+v, want Postgres's NORMAL", got)
	}

	// Changes still go through: Postgres is the record, and the outbox
	// holds each change until a relay can deliver it.
	first := s.SetStatus(t, dead, stacktest.EMEAManager, "PAR-OFC", "ELEVATED", "OPEN", "strike over")
	second := s.SetStatus(t, dead, stacktest.EMEAManager, "PAR-OFC", "NORMAL", "OPEN", "back to normal")
	if first.Site.Status.Version != 3 || second.Site.Status.Version != 4 {
		t.Fatalf("changes through the Redis-less gateway: versions %d and %d, want 3 and 4", first.Site.Status.Version, second.Site.Status.Version)
	}
	if got := readBoard(t, dead, tok, "EMEA")["PAR-OFC"]; got.Level != "NORMAL" || got.Version != 4 {
		t.Errorf("board without Redis after the change: PAR-OFC = %+v", got)
	}
	var outboxed int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE topic = 'site.status_changed'
		AND payload->'site'->>'code' = 'PAR-OFC' AND (payload->'site'->'status'->>'version')::int IN (3, 4)`).Scan(&outboxed); err != nil {
		t.Fatal(err)
	}
	if outboxed != 2 {
		t.Errorf("outbox rows for the two changes: %d, want 2", outboxed)
	}
	// The worker, whose Redis answers, delivers them: nothing was lost.
	waitLiveVersion(t, s, "PAR-OFC", 4)
	if got := readBoard(t, s.GW, tok, "EMEA")["PAR-OFC"]; got.Level != "NORMAL" || got.Version != 4 || got.Note != "back to normal" {
		t.Errorf("board with Redis once relayed: PAR-OFC = %+v", got)
	}
}

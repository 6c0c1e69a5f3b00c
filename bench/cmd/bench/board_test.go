package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// checkBoard is Part 6's correctness at TestRunTiny's size: the board drew
// every site on every load and every accepted change, the bare page drew
// its own, every escalation the part opened was paged once and ended.
func checkBoard(t *testing.T, r *BoardReport, out string) {
	t.Helper()
	if r == nil {
		t.Fatal("board part missing")
	}
	if r.Opened != 5 || r.Escalations != r.Opened || r.OpenErrors != 0 || r.NotOpened != 0 {
		t.Errorf("board: opened %d escalations (%d errors: %s, %d not opened), %d open when loaded; want 5, all open",
			r.Opened, r.OpenErrors, r.FirstOpenError, r.NotOpened, r.Escalations)
	}
	if r.Paged != r.Opened || r.PageDuplicates != 0 || r.LaterTierPages != 0 {
		t.Errorf("board: %d of %d escalations paged, %d duplicates, %d later-tier; want all, once", r.Paged, r.Opened, r.PageDuplicates, r.LaterTierPages)
	}
	if len(r.Loads) != 1 {
		t.Fatalf("board: %d loads; want 1", len(r.Loads))
	}
	if l := r.Loads[0]; l.SiteCount != r.Sites || l.FirstRender <= 0 || l.Wall <= 0 {
		t.Errorf("board load = %+v; want all %d sites drawn and positive times", l, r.Sites)
	}
	if r.Sent == 0 || r.ChangeErrors != 0 || r.Painted != r.Sent || len(r.NotPainted) != 0 {
		t.Errorf("board: %d changes sent (%d errors: %s), %d painted, never drawn: %v; want some, none failed, all drawn",
			r.Sent, r.ChangeErrors, r.FirstChangeErr, r.Painted, r.NotPainted)
	}
	if r.OverlayPixelsOff != 0 {
		t.Errorf("board: the sites' canvas differs from a full redraw in %d pixels after the changes; want 0", r.OverlayPixelsOff)
	}
	if r.IdleFrames.N == 0 || r.LoadFrames.N == 0 || r.ChangePixel.N != r.Painted || !r.FinalConnected {
		t.Errorf("board: %d idle and %d load frames, %d latencies for %d painted, connected at the end: %v; want frames, a latency per change, connected",
			r.IdleFrames.N, r.LoadFrames.N, r.ChangePixel.N, r.Painted, r.FinalConnected)
	}
	if b := r.Bare; b.ReadyTimeout || b.EmptyRAF.N == 0 || b.IdleFrames.N == 0 || b.Changes == 0 || b.Painted != b.Changes {
		t.Errorf("bare page = %+v; want it ready, frames of each kind, every change drawn", b)
	}
	if r.ResolveErrors != 0 || r.Unfinished != 0 {
		t.Errorf("board cleanup: %d resolve errors (%s), %d unfinished workflows (%s); want none", r.ResolveErrors, r.FirstResolveError, r.Unfinished, r.FirstUnfinished)
	}
	if !strings.Contains(out, "change → pixel p99 (ms)") {
		t.Errorf("the final table has no board rows")
	}
}

// TestBoardFill checks how the browser's painted entries are matched with
// the changes the driver sent: by site and version, a later version of the
// same site counting as drawing the earlier one, warm-up changes left out.
func TestBoardFill(t *testing.T) {
	base := time.UnixMilli(1_800_000_000_000)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	changes := []*boardChange{
		{code: "A", version: 2, start: at(0), accepted: at(10), measured: true},
		{code: "B", version: 5, start: at(5), accepted: at(20), measured: true},  // drawn only at version 6
		{code: "C", version: 3, start: at(8), accepted: at(30), measured: true},  // never drawn
		{code: "D", version: 9, start: at(9), accepted: at(15), measured: false}, // warm-up
		{code: "E", version: 4, start: at(12), accepted: at(40), measured: true}, // drawn before the response came
	}
	res := &boardEvent{}
	res.Board.Connection = "connected"
	res.Board.LoadFrames = []float64{16.7, 16.6, 50, 16.7}
	for _, p := range []struct {
		code    string
		version int32
		at      int
	}{
		{"A", 1, -500}, // an earlier version, from the first render
		{"A", 2, 60},
		{"A", 2, 90}, // a later frame of the same version does not count
		{"B", 6, 120},
		{"D", 9, 25},
		{"E", 4, 35},
	} {
		res.Board.Painted = append(res.Board.Painted, struct {
			Code    string `json:"code"`
			Version int32  `json:"version"`
			At      int64  `json:"at"`
		}{p.code, p.version, at(p.at).UnixMilli()})
	}
	res.Bare.Changes = 2
	res.Bare.LatenciesMs = []float64{20, 40}

	r := &BoardReport{}
	r.fill(res, changes, 2*time.Second)
	if r.Sent != 4 || r.Painted != 3 || r.Superseded != 1 || len(r.NotPainted) != 1 || r.NotPainted[0] != "C@3" {
		t.Fatalf("sent %d, painted %d, superseded %d, never drawn %v; want 4, 3, 1, [C@3]", r.Sent, r.Painted, r.Superseded, r.NotPainted)
	}
	// Response → pixel: A 50 ms, B 100 ms, E -5 ms.
	if r.ChangePixel.N != 3 || r.ChangePixel.Max != 100*time.Millisecond || r.ChangePixel.P50 != 50*time.Millisecond {
		t.Fatalf("change → pixel = %+v; want 3 samples, p50 50 ms, max 100 ms", r.ChangePixel)
	}
	if r.FromStart.Max != 115*time.Millisecond {
		t.Fatalf("start → pixel max = %s; want 115ms (B)", r.FromStart.Max)
	}
	if r.AchievedRate != 2 || !r.FinalConnected || r.LoadDrops != 1 {
		t.Fatalf("rate %.1f, connected %v, drops %d; want 2/s, true, 1", r.AchievedRate, r.FinalConnected, r.LoadDrops)
	}
	if r.Bare.Painted != 2 || r.Bare.ChangePixel.Max != 40*time.Millisecond {
		t.Fatalf("bare = %+v; want 2 painted, max 40 ms", r.Bare)
	}
	if got := r.problems(); len(got) == 0 || !strings.Contains(strings.Join(got, "; "), "1 of 4 changes never drawn") {
		t.Fatalf("problems = %v; want the change never drawn among them", got)
	}
}

func TestBoardFlags(t *testing.T) {
	def, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !def.runs("board") || def.BoardSites != 5000 || def.BoardEscalations != 200 || def.BoardRate != 100 ||
		def.BoardDuration != 20*time.Second || def.BoardLoads != 3 {
		t.Fatalf("default board config = %+v; want part 6 in all, 5000 sites, 200 escalations, 100 changes/s for 20 s, 3 loads", def)
	}
	quick, err := parseFlags([]string{"-quick", "-parts", "board", "-board-loads", "2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !quick.runs("board") || quick.runs("travel") || quick.BoardDuration != 5*time.Second || quick.BoardLoads != 2 || quick.BoardSites != 5000 {
		t.Fatalf("quick board config = %+v; want only part 6, 5 s of changes, the explicit 2 loads, 5000 sites", quick)
	}
	for _, bad := range [][]string{
		{"-board-sites", "0"}, {"-board-escalations", "0"}, {"-board-rate", "0"}, {"-board-loads", "0"}, {"-board-duration", "0s"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%v) accepted it", bad)
		}
	}
}

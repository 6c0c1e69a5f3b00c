package advisory_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/platform/advisory"
	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/testenv"
)

// memoryGetter serves documents from a map, like the fetcher would.
type memoryGetter map[string][]byte

func (g memoryGetter) Get(_ context.Context, url string) (feed.Document, error) {
	body, ok := g[url]
	if !ok {
		return feed.Document{}, fmt.Errorf("feed: GET %s: 404 Not Found", url)
	}
	return feed.Document{URL: url, Body: body, FetchedAt: time.Now()}, nil
}

type failingGetter struct{ err error }

func (g failingGetter) Get(context.Context, string) (feed.Document, error) {
	return feed.Document{}, g.err
}

const usURL = "https://feeds.test/TAsTWs.xml"

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestIngesterRunStoresAFeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	in := &advisory.Ingester{Store: st, Getter: memoryGetter{usURL: readFixture(t, "testdata/us-state-tiny.xml")},
		URLs: map[feed.Source]string{feed.USState: usURL}}

	sum, err := in.Run(ctx, feed.USState)
	if err != nil {
		t.Fatalf("Run: %v (%+v)", err, sum)
	}
	if sum.Source != feed.USState || sum.Fetched != 4 || sum.Changed != 4 || sum.LevelsChanged != 3 || sum.Error != "" || sum.At.IsZero() {
		t.Fatalf("summary = %+v, want 4 fetched and changed, 3 levels moved (Australia stays 1)", sum)
	}
	levels, err := st.Levels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"HT": 4, "NG": 3, "AU": 1, "HK": 2}
	if fmt.Sprint(levels) != fmt.Sprint(want) {
		t.Errorf("levels = %v, want %v (State Department tags mapped to ISO codes)", levels, want)
	}

	again, err := in.Run(ctx, feed.USState)
	if err != nil || again.Changed != 0 || again.LevelsChanged != 0 {
		t.Errorf("second run = %+v, %v; want nothing changed", again, err)
	}
}

func TestIngesterRunRecordsAFailedCollection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	apply(t, st, snapshot(feed.USState, report(feed.USState, "HT", feed.DoNotTravel)), fetched)
	before := everything(t, pool)
	down := errors.New("feed: GET https://travel.state.gov/_res/rss/TAsTWs.xml: giving up after 3 attempts: 503 Service Unavailable")
	in := &advisory.Ingester{Store: st, Getter: failingGetter{down}}

	sum, err := in.Run(ctx, feed.USState)
	if !errors.Is(err, down) {
		t.Fatalf("Run error = %v, want the getter's", err)
	}
	if sum.Source != feed.USState || sum.At.IsZero() || !strings.Contains(sum.Error, "503 Service Unavailable") || sum.Changed != 0 {
		t.Errorf("summary = %+v, want the source, a time and the error", sum)
	}
	wantUnchanged(t, before, everything(t, pool))
	if s := sourceStatus(t, st, feed.USState); !strings.Contains(s.LastError, "503 Service Unavailable") || s.Countries != 1 {
		t.Errorf("status = %+v, want the failure recorded and the last good country kept", s)
	}

	sum, err = in.Run(ctx, "NOWHERE")
	if err == nil || sum.Source != "NOWHERE" || sum.Error == "" || sum.At.IsZero() {
		t.Errorf("Run(unknown source) = %+v, %v; want an error with source and time", sum, err)
	}
}

func TestIngesterRunSweepsExpiredOverrides(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	soon := time.Now().Add(2 * time.Second)
	if _, err := st.SetOverride(ctx, "analyst", advisory.OverrideInput{Country: "HT", Level: ptr(2), Reason: "Calm week", ExpiresAt: &soon}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	// Even a run whose feed is down sweeps.
	in := &advisory.Ingester{Store: st, Getter: failingGetter{errors.New("down")}}
	if _, err := in.Run(ctx, feed.USState); err == nil {
		t.Fatal("Run with a failing getter succeeded")
	}
	if n := count(t, pool, `SELECT count(*) FROM advisory_overrides`); n != 0 {
		t.Errorf("%d overrides left, want the expired one swept", n)
	}
	if r, _ := riskOf(t, pool, "HT"); r != (riskRow{Level: 1, Version: 2, Rule: advisory.RuleSourceMax}) {
		t.Errorf("HT = %+v, want back to 1 at version 2", r)
	}
}

// The real published feeds, when the shared folder is there: the whole 2025
// US feed is stored, a second reading changes nothing, Australia's export
// joins it, and the 9-item 2026 US excerpt is refused as a suspicious
// shrink rather than taken as the world.
func TestIngesterOverSharedFeeds(t *testing.T) {
	t.Parallel()
	dir := testenv.SharedFeeds(t)
	full, err := os.ReadFile(filepath.Join(dir, "us-state-rss.xml"))
	if err != nil {
		t.Fatal(err)
	}
	excerpt := readFixture(t, filepath.Join(dir, "us-state-rss-2026-excerpt.xml"))
	ctx := context.Background()
	pool := testenv.NewPool(t)
	st := advisory.NewStore(pool)
	getter := memoryGetter{usURL: full}
	in := &advisory.Ingester{Store: st, Getter: getter, URLs: map[feed.Source]string{feed.USState: usURL}}

	sum, err := in.Run(ctx, feed.USState)
	if err != nil {
		t.Fatalf("Run over the 2025 feed: %v", err)
	}
	stored := count(t, pool, `SELECT count(*) FROM advisories`)
	t.Logf("2025 feed: %+v; %d countries stored", sum, stored)
	if stored < 190 || sum.Changed != stored {
		t.Errorf("2025 feed stored %d countries (%+v), want about 200, each a change", stored, sum)
	}
	if n := count(t, pool, `SELECT count(*) FROM country_risk WHERE level = 4`); n < 10 {
		t.Errorf("%d countries at level 4, want the usual dozen or more", n)
	}
	if again, err := in.Run(ctx, feed.USState); err != nil || again.Changed != 0 {
		t.Errorf("second reading = %+v, %v; want nothing changed", again, err)
	}

	// Australia's export beside it: each country's level is then the
	// higher of the two sources'.
	const auURL = "https://feeds.test/destinations-export"
	getter[auURL] = readFixture(t, filepath.Join(dir, "au-smartraveller-destinations-export.json"))
	in.URLs[feed.AUSmartraveller] = auURL
	au, err := in.Run(ctx, feed.AUSmartraveller)
	if err != nil {
		t.Fatalf("Run over the Australian export: %v", err)
	}
	t.Logf("Australian export: %+v", au)
	if n := count(t, pool, `SELECT count(*) FROM advisories WHERE source = 'AU_SMARTRAVELLER'`); n < 150 {
		t.Errorf("%d Australian countries stored, want most of the 180 rows", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM country_risk r
		WHERE r.level <> (SELECT max(level) FROM advisories a WHERE a.country_code = r.country_code)`); n != 0 {
		t.Errorf("%d countries' level is not the higher of US and Australia", n)
	}

	before := everything(t, pool)
	getter[usURL] = excerpt
	sum, err = in.Run(ctx, feed.USState)
	if !errors.Is(err, advisory.ErrRefused) || !strings.Contains(sum.Error, "suspiciously small") {
		t.Fatalf("the 9-item excerpt: %+v, %v; want refused as suspiciously small", sum, err)
	}
	wantUnchanged(t, before, everything(t, pool))
}

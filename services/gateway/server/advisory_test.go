package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/gateway/stacktest"
	"meridian.dev/platform/advisory/feed/feedserver"
	"meridian.dev/platform/advisory/feed/fixtures"
	"meridian.dev/platform/testenv"
	feedswf "meridian.dev/workflows/feeds"
)

const countryRiskQuery = `query($country: String!) {
  countryRisk(country: $country) {
    country { code name region { code } }
    level rule
    advisories { source level sourceLabel title url fetchedAt publishedAt areas { name level text } }
    override { area level reason setBy setAt expiresAt }
    areaOverrides { area level reason setBy }
  }
}`

const advisoriesQuery = `query($country: String, $source: AdvisorySource, $minLevel: Int, $first: Int, $after: String) {
  advisories(country: $country, source: $source, minLevel: $minLevel, first: $first, after: $after) {
    edges { cursor node { source country { code } level sourceLabel fetchedAt } }
    pageInfo { hasNextPage endCursor }
  }
}`

const advisorySourcesQuery = `{ advisorySources { source lastSuccessAt lastAttemptAt lastError countries } }`

const setOverrideMutation = `mutation($input: SetAdvisoryOverrideInput!) {
  setAdvisoryOverride(input: $input) {
    countryRisk { country { code } level rule override { area level reason setBy setAt expiresAt } areaOverrides { area level reason setBy } }
  }
}`

const advisoryChangedSubscription = `subscription($country: String, $after: String) {
  advisoryChanged(country: $country, after: $after) { country { code name } level previousLevel rule cause at cursor }
}`

type advisoryView struct {
	Source      string
	Level       int
	SourceLabel string
	Title       string
	URL         string
	FetchedAt   time.Time
	PublishedAt *time.Time
	Areas       []struct {
		Name  string
		Level int
		Text  string
	}
}

type overrideView struct {
	Area      *string
	Level     int
	Reason    string
	SetBy     string
	SetAt     time.Time
	ExpiresAt *time.Time
}

type countryRiskView struct {
	Country struct {
		Code, Name string
		Region     *struct{ Code string }
	}
	Level         int
	Rule          string
	Advisories    []advisoryView
	Override      *overrideView
	AreaOverrides []overrideView
}

type sourceStatusView struct {
	Source        string
	LastSuccessAt *time.Time
	LastAttemptAt *time.Time
	LastError     *string
	Countries     int
}

type advisoryChangedView struct {
	Country       struct{ Code, Name string }
	Level         int
	PreviousLevel *int
	Rule          string
	Cause         string
	At            time.Time
	Cursor        string
}

func countryRisk(t testing.TB, s *stacktest.Stack, subject, code string) countryRiskView {
	t.Helper()
	var out struct{ CountryRisk countryRiskView }
	s.GW.Query(t, s.Token(t, subject), countryRiskQuery, map[string]any{"country": code}).Decode(t, &out)
	return out.CountryRisk
}

func advisorySources(t testing.TB, s *stacktest.Stack) map[string]sourceStatusView {
	t.Helper()
	var out struct{ AdvisorySources []sourceStatusView }
	s.GW.Query(t, s.Token(t, stacktest.Auditor), advisorySourcesQuery, nil).Decode(t, &out)
	m := map[string]sourceStatusView{}
	for _, src := range out.AdvisorySources {
		m[src.Source] = src
	}
	return m
}

type advisoryEdge struct {
	Cursor string
	Node   struct {
		Source      string
		Country     struct{ Code string }
		Level       int
		SourceLabel string
		FetchedAt   time.Time
	}
}

// allAdvisories pages through advisories with args, pageSize at a time.
func allAdvisories(t testing.TB, s *stacktest.Stack, args map[string]any, pageSize int) []advisoryEdge {
	t.Helper()
	var all []advisoryEdge
	after := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("advisories did not end after %d pages", pages)
		}
		vars := map[string]any{"first": pageSize}
		for k, v := range args {
			vars[k] = v
		}
		if after != "" {
			vars["after"] = after
		}
		var out struct {
			Advisories struct {
				Edges    []advisoryEdge
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
		s.GW.Query(t, s.Token(t, stacktest.Auditor), advisoriesQuery, vars).Decode(t, &out)
		page := out.Advisories
		if len(page.Edges) > pageSize || page.PageInfo.HasNextPage && len(page.Edges) != pageSize {
			t.Fatalf("a page of first: %d holds %d edges, hasNextPage %v", pageSize, len(page.Edges), page.PageInfo.HasNextPage)
		}
		all = append(all, page.Edges...)
		if !page.PageInfo.HasNextPage {
			return all
		}
		if page.PageInfo.EndCursor == nil || *page.PageInfo.EndCursor != page.Edges[len(page.Edges)-1].Cursor {
			t.Fatalf("endCursor %v is not the last edge's cursor", page.PageInfo.EndCursor)
		}
		after = *page.PageInfo.EndCursor
	}
}

// riskJSON is a country's risk as comparable text: a run that stored
// nothing leaves it byte for byte, fetchedAt included.
func riskJSON(t testing.TB, r countryRiskView) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAdvisoryRefreshFromFeeds: the travel team reads each of the four
// official feeds on demand, through the worker's ingestion workflow, from
// the stack's feed server; what they say is readable by country and by
// level; a second read is conditional and changes nothing; a feed that
// breaks is reported and leaves the last good data in use.
func TestAdvisoryRefreshFromFeeds(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})

	before := advisorySources(t, s)
	for _, src := range stacktest.AdvisorySources() {
		if st, ok := before[src]; !ok || st.LastSuccessAt != nil || st.Countries != 0 {
			t.Errorf("before any run, advisorySources shows %s as %+v, want listed, never successful, no countries", src, st)
		}
	}
	loaded := s.LoadAdvisories(t)
	for src, r := range loaded {
		if r.Changed == 0 {
			t.Errorf("the first run of %s changed nothing: %+v", src, r)
		}
	}
	if loaded["US_STATE"].LevelsChanged == 0 {
		t.Errorf("the first run of US_STATE moved no country's level: %+v", loaded["US_STATE"])
	}
	sources := advisorySources(t, s)
	for _, src := range stacktest.AdvisorySources() {
		st := sources[src]
		if st.LastSuccessAt == nil || st.LastAttemptAt == nil || st.LastError != nil || st.Countries == 0 {
			t.Errorf("after a good run advisorySources shows %s as %+v", src, st)
		}
		if st.Countries > loaded[src].Fetched {
			t.Errorf("%s covers %d countries after reading %d reports", src, st.Countries, loaded[src].Fetched)
		}
	}

	t.Run("Haiti is level 4 by every source", func(t *testing.T) {
		ht := countryRisk(t, s, stacktest.AMERManager, "ht")
		if ht.Country.Code != "HT" || ht.Country.Name != "Haiti" || ht.Country.Region == nil || ht.Country.Region.Code != "AMER" {
			t.Errorf("countryRisk(ht).country = %+v", ht.Country)
		}
		if ht.Level != 4 || ht.Rule != "SOURCE_MAX" || ht.Override != nil || len(ht.AreaOverrides) != 0 {
			t.Errorf("countryRisk(HT) = level %d rule %s override %+v, want 4 by SOURCE_MAX, no override", ht.Level, ht.Rule, ht.Override)
		}
		var got []string
		for _, a := range ht.Advisories {
			got = append(got, a.Source)
			if a.Level < 1 || a.Level > 4 || a.SourceLabel == "" || a.Title == "" || a.FetchedAt.IsZero() {
				t.Errorf("HT advisory of %s lacks a level, label, title or fetchedAt: %+v", a.Source, a)
			}
			if !strings.HasPrefix(a.URL, "https://") {
				t.Errorf("HT advisory of %s links to %q, want the source's public https page", a.Source, a.URL)
			}
		}
		slices.Sort(got)
		want := stacktest.AdvisorySources()
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("HT advisories come from %v, want one per source %v", got, want)
		}
	})

	t.Run("areas are read where the sources name them", func(t *testing.T) {
		for _, code := range []string{"KE", "MX"} {
			r := countryRisk(t, s, stacktest.TravelTeam, code)
			withAreas := 0
			for _, a := range r.Advisories {
				if len(a.Areas) == 0 {
					continue
				}
				withAreas++
				for _, area := range a.Areas {
					if area.Name == "" || area.Level < 1 || area.Level > 4 {
						t.Errorf("%s area of %s: %+v", code, a.Source, area)
					}
				}
			}
			if withAreas < 2 {
				t.Errorf("%s: %d sources give areas, want the UK's and Canada's at least: %+v", code, withAreas, r.Advisories)
			}
			if r.Level != 2 || r.Rule != "SOURCE_MAX" {
				t.Errorf("%s: level %d by %s; an area at level 3 or 4 must not raise the whole country", code, r.Level, r.Rule)
			}
		}
	})

	t.Run("advisories pages through level 4 by cursor", func(t *testing.T) {
		whole := allAdvisories(t, s, map[string]any{"minLevel": 4}, 200)
		paged := allAdvisories(t, s, map[string]any{"minLevel": 4}, 3)
		if len(whole) < 4 || len(paged) != len(whole) {
			t.Fatalf("advisories(minLevel: 4): %d in one page, %d in pages of 3", len(whole), len(paged))
		}
		seen := map[string]bool{}
		for i, e := range paged {
			key := e.Node.Country.Code + "/" + e.Node.Source
			if e.Node.Level < 4 || seen[key] {
				t.Errorf("edge %d: %s at level %d (seen before: %v)", i, key, e.Node.Level, seen[key])
			}
			seen[key] = true
			if w := whole[i].Node; w.Country.Code != e.Node.Country.Code || w.Source != e.Node.Source {
				t.Errorf("edge %d: paged %s, whole %s/%s: paging changes the order", i, key, w.Country.Code, w.Source)
			}
		}
		if !seen["HT/US_STATE"] || !seen["HT/AU_SMARTRAVELLER"] {
			t.Errorf("level-4 advisories lack Haiti: %v", seen)
		}
		var out struct {
			Advisories struct{ Edges []advisoryEdge }
		}
		s.GW.Query(t, s.Token(t, stacktest.Auditor), advisoriesQuery, map[string]any{"country": "ht", "source": "UK_FCDO"}).Decode(t, &out)
		if len(out.Advisories.Edges) != 1 || out.Advisories.Edges[0].Node.Country.Code != "HT" || out.Advisories.Edges[0].Node.Source != "UK_FCDO" {
			t.Errorf("advisories(country: ht, source: UK_FCDO) = %+v", out.Advisories.Edges)
		}
		s.GW.Query(t, s.Token(t, stacktest.Auditor), advisoriesQuery, map[string]any{"after": "not-a-cursor"}).Refused(t, "BAD_USER_INPUT")
	})

	t.Run("a second read is conditional and changes nothing", func(t *testing.T) {
		ctx := context.Background()
		usURL := feedserver.URLs(s.FeedsURL)["US_STATE"]
		var etag string
		if err := s.Pool.QueryRow(ctx, `SELECT etag FROM feed_documents WHERE url = $1`, usURL).Scan(&etag); err != nil || etag == "" {
			t.Fatalf("the worker kept no validator for %s (etag %q, %v): the next read cannot be conditional", usURL, etag, err)
		}
		// What the stored validator gets from the server: a 304, no body.
		req, err := http.NewRequest(http.MethodGet, usURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("If-None-Match", etag)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Fatalf("the feed server answers the stored ETag with %d, want 304", resp.StatusCode)
		}

		htBefore := countryRisk(t, s, stacktest.Auditor, "HT")
		requests := s.Feeds.Requests(feedserver.USStatePath)
		again := s.RefreshAdvisories(t, stacktest.GlobalLead, "US_STATE")
		if again.Error != nil || again.Fetched != loaded["US_STATE"].Fetched || again.Changed != 0 || again.LevelsChanged != 0 {
			t.Errorf("the second US run answered %+v, want the same %d reports, nothing changed", again, loaded["US_STATE"].Fetched)
		}
		if n := s.Feeds.Requests(feedserver.USStatePath) - requests; n != 1 {
			t.Errorf("the second US run made %d requests, want one conditional request", n)
		}
		htAfter := countryRisk(t, s, stacktest.Auditor, "HT")
		if htAfter.Level != htBefore.Level || htAfter.Rule != htBefore.Rule || len(htAfter.Advisories) != len(htBefore.Advisories) {
			t.Errorf("HT changed on an unchanged feed: %+v → %+v", htBefore, htAfter)
		}
		if after := advisorySources(t, s)["US_STATE"]; after.LastSuccessAt == nil || !after.LastSuccessAt.After(*sources["US_STATE"].LastSuccessAt) {
			t.Errorf("an unchanged feed is still a success: lastSuccessAt %v, was %v", after.LastSuccessAt, sources["US_STATE"].LastSuccessAt)
		}

		// The UK source is an index and a document per country: each is
		// asked for once more, conditionally.
		ukDoc := feedserver.UKBasePath + "/api/content/foreign-travel-advice/haiti"
		ukRequests := s.Feeds.Requests(ukDoc)
		if r := s.RefreshAdvisories(t, stacktest.TravelTeam, "UK_FCDO"); r.Error != nil || r.Changed != 0 {
			t.Errorf("the second UK run answered %+v, want nothing changed", r)
		}
		if n := s.Feeds.Requests(ukDoc) - ukRequests; n != 1 {
			t.Errorf("the second UK run asked for Haiti %d times, want once", n)
		}
	})

	t.Run("a broken feed is reported and the last good data stays", func(t *testing.T) {
		// The ingestion workflow tries three times with backoff before it
		// reports a failure (about 30 s), so the three breakages are read
		// side by side; each leaves every source's data as it was.
		ukIndex := feedserver.UKBasePath + "/api/content/foreign-travel-advice"
		cases := []struct {
			name, source, path, wantError string
			breakIt                       func(t *testing.T, path string)
		}{
			{"an HTML maintenance page", "US_STATE", feedserver.USStatePath, "HTML", func(t *testing.T, path string) {
				s.Feeds.Fail(path, http.StatusOK, "text/html; charset=utf-8",
					[]byte("<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head><body><h1>Down for maintenance</h1></body></html>\n"))
			}},
			{"a truncated index", "UK_FCDO", ukIndex, "", func(t *testing.T, path string) {
				whole := fixture(t, "uk/index.json")
				s.Feeds.Replace(path, "application/json; charset=utf-8", whole[:len(whole)/2])
			}},
			{"a suspiciously small snapshot", "AU_SMARTRAVELLER", feedserver.AUPath, "suspiciously small", func(t *testing.T, path string) {
				var rows []json.RawMessage
				if err := json.Unmarshal(fixture(t, "au/destinations-export.json"), &rows); err != nil || len(rows) < 20 {
					t.Fatalf("the AU fixture is not a list of destinations (%d rows): %v", len(rows), err)
				}
				small, err := json.Marshal(rows[:3])
				if err != nil {
					t.Fatal(err)
				}
				s.Feeds.Replace(path, "application/json", small)
			}},
		}
		risks := map[string]string{}
		for _, code := range []string{"HT", "KE", "MX"} {
			risks[code] = riskJSON(t, countryRisk(t, s, stacktest.Auditor, code))
		}
		stored := map[string][]advisoryEdge{}
		for _, c := range cases {
			stored[c.source] = allAdvisories(t, s, map[string]any{"source": c.source}, 200)
			c.breakIt(t, c.path)
			defer s.Feeds.Restore(c.path)
		}
		// Side by side: go test runs only GOMAXPROCS parallel subtests at
		// once, and these mostly wait.
		answers := make([]slowAnswer, len(cases))
		token := s.Token(t, stacktest.TravelTeam)
		var wg sync.WaitGroup
		for i, c := range cases {
			wg.Go(func() { answers[i] = slowRefresh(s, token, c.source) })
		}
		wg.Wait()

		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				a := answers[i]
				if a.err != nil {
					t.Fatalf("refreshAdvisories(%s): %v", c.source, a.err)
				}
				t.Logf("refreshAdvisories(%s) over %s answered in %s", c.source, c.name, a.took.Round(100*time.Millisecond))
				r := a.result
				if r.Source != c.source || r.Error == nil || *r.Error == "" || r.Changed != 0 || r.LevelsChanged != 0 {
					t.Fatalf("refreshAdvisories(%s) over %s answered %+v, want an error and nothing changed", c.source, c.name, r)
				}
				if !strings.Contains(*r.Error, c.wantError) {
					t.Errorf("the error %q does not say %q", *r.Error, c.wantError)
				}
				st := advisorySources(t, s)[c.source]
				if st.LastError == nil || *st.LastError == "" || st.LastSuccessAt == nil || !st.LastAttemptAt.After(*st.LastSuccessAt) {
					t.Errorf("advisorySources shows %s as %+v, want the error, and the last success kept", c.source, st)
				}
				if st.Countries != len(stored[c.source]) {
					t.Errorf("%s covers %d countries after a failed run, %d before", c.source, st.Countries, len(stored[c.source]))
				}
				after := allAdvisories(t, s, map[string]any{"source": c.source}, 200)
				if fmt.Sprint(after) != fmt.Sprint(stored[c.source]) {
					t.Errorf("%s's advisories changed after a failed run", c.source)
				}
			})
		}
		for code, was := range risks {
			if now := riskJSON(t, countryRisk(t, s, stacktest.Auditor, code)); now != was {
				t.Errorf("countryRisk(%s) changed after the failed runs:\nbefore %s\nafter  %s", code, was, now)
			}
		}
	})

	t.Run("a recovered feed clears the error", func(t *testing.T) {
		r := s.RefreshAdvisories(t, stacktest.TravelTeam, "US_STATE")
		if r.Error != nil {
			t.Fatalf("the restored US feed: %v", *r.Error)
		}
		if st := advisorySources(t, s)["US_STATE"]; st.LastError != nil {
			t.Errorf("lastError %q stays after a good run", *st.LastError)
		}
	})

	t.Run("the published feeds in shared/feeds are read end to end", func(t *testing.T) {
		dir := testenv.SharedFeeds(t)
		for _, c := range []struct{ source, path, file, ctype string }{
			{"US_STATE", feedserver.USStatePath, "us-state-rss.xml", "application/rss+xml; charset=utf-8"},
			{"AU_SMARTRAVELLER", feedserver.AUPath, "au-smartraveller-destinations-export.json", "application/json"},
		} {
			body, err := os.ReadFile(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			s.Feeds.Replace(c.path, c.ctype, body)
			r := s.RefreshAdvisories(t, stacktest.TravelTeam, c.source)
			s.Feeds.Restore(c.path)
			if r.Error != nil || r.Fetched < 100 {
				t.Errorf("%s from the published sample %s: fetched %d, error %v", c.source, c.file, r.Fetched, r.Error)
			}
			if st := advisorySources(t, s)[c.source]; st.Countries < 100 || st.LastError != nil {
				t.Errorf("%s after the published sample: %+v", c.source, st)
			}
		}
	})
}

// slowRefreshLimit bounds a refresh of a broken feed. The ingestion
// workflow tries three times with a 10 s then 20 s backoff before it gives
// the failure back (workflows/feeds/ingest.go, ingestOptions), so the
// answer takes over 30 s: longer than stacktest.RequestTimeout.
const slowRefreshLimit = feedswf.RunNowTimeout + 15*time.Second

// slowAnswer is what slowRefresh got back.
type slowAnswer struct {
	result stacktest.RefreshResult
	took   time.Duration
	err    error
}

// slowRefresh is Stack.RefreshAdvisories for a run expected to fail, with a
// client that waits up to slowRefreshLimit for the answer. It reports
// instead of failing the test, so several may run in goroutines.
func slowRefresh(s *stacktest.Stack, token, source string) slowAnswer {
	body, err := json.Marshal(map[string]any{"query": stacktest.RefreshAdvisoriesMutation, "variables": map[string]any{"source": source}})
	if err != nil {
		return slowAnswer{err: err}
	}
	req, err := http.NewRequest(http.MethodPost, s.GW.URL, bytes.NewReader(body))
	if err != nil {
		return slowAnswer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	started := time.Now()
	resp, err := (&http.Client{Timeout: slowRefreshLimit}).Do(req)
	if err != nil {
		return slowAnswer{err: err}
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			RefreshAdvisories stacktest.RefreshResult
		}
		Errors []stacktest.GQLError
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || len(out.Errors) > 0 {
		return slowAnswer{err: fmt.Errorf("HTTP %d, errors %+v, decode %v", resp.StatusCode, out.Errors, err)}
	}
	return slowAnswer{result: out.Data.RefreshAdvisories, took: time.Since(started)}
}

// fixture is one of the feed server's own documents, to break on purpose.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(fixtures.FS, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAdvisoryOverride: an analyst's override decides a country's level at
// once, is audited, reaches advisoryChanged subscribers, and clearing it
// gives the sources back their say. Bad input and callers who may not
// manage advisories change nothing.
func TestAdvisoryOverride(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{Tables: []string{"advisory_overrides", "country_risk", "country_risk_versions"}})
	s.LoadAdvisories(t)

	// A cursor the gateway has delivered: the subscription below resumes
	// from it, so it misses nothing whenever its subscribe lands.
	ws := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.Auditor))
	_, primed := s.PrimedSubscription(t, ws, "primer", "", "AMS-OFC", stacktest.EMEAManager)
	sub := ws.Subscribe(t, "haiti", advisoryChangedSubscription, map[string]any{"country": "HT", "after": primed})
	nextChange := func(t *testing.T) advisoryChangedView {
		t.Helper()
		var out struct{ AdvisoryChanged advisoryChangedView }
		if err := json.Unmarshal(sub.Next(t), &out); err != nil {
			t.Fatal(err)
		}
		return out.AdvisoryChanged
	}

	expires := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	var set struct {
		SetAdvisoryOverride struct{ CountryRisk countryRiskView }
	}
	s.GW.Query(t, s.Token(t, stacktest.TravelTeam), setOverrideMutation, map[string]any{"input": map[string]any{
		"country": "ht", "level": 2, "reason": "Escorted programme with the UN mission; security cleared", "expiresAt": expires.Format(time.RFC3339),
	}}).Decode(t, &set)
	risk := set.SetAdvisoryOverride.CountryRisk
	if risk.Country.Code != "HT" || risk.Level != 2 || risk.Rule != "OVERRIDE" || risk.Override == nil ||
		risk.Override.Level != 2 || risk.Override.SetBy != stacktest.TravelTeam || risk.Override.Area != nil ||
		risk.Override.ExpiresAt == nil || !risk.Override.ExpiresAt.Equal(expires) {
		t.Fatalf("setAdvisoryOverride answered %+v", risk)
	}
	if read := countryRisk(t, s, stacktest.APACManager, "HT"); read.Level != 2 || read.Rule != "OVERRIDE" || len(read.Advisories) != 4 {
		t.Errorf("countryRisk(HT) after the override: level %d by %s with %d advisories, want 2 by OVERRIDE with the sources still shown",
			read.Level, read.Rule, len(read.Advisories))
	}

	ev := nextChange(t)
	if ev.Country.Code != "HT" || ev.Country.Name != "Haiti" || ev.Level != 2 || ev.PreviousLevel == nil || *ev.PreviousLevel != 4 ||
		ev.Rule != "OVERRIDE" || !strings.Contains(ev.Cause, stacktest.TravelTeam) || ev.At.IsZero() {
		t.Errorf("advisoryChanged after the override: %+v", ev)
	}
	if !cursorAfter(t, ev.Cursor, primed) {
		t.Errorf("the event's cursor %s does not follow %s", ev.Cursor, primed)
	}

	entries := readAuditLog(t, s, s.Token(t, stacktest.Auditor), map[string]any{"action": "advisory.override"}, 50)
	if len(entries) != 1 || entries[0].Actor != stacktest.TravelTeam || entries[0].ObjectType != "Country" || entries[0].ObjectID != "HT" {
		t.Fatalf("the audit log holds %+v, want the travel team's override of HT", entries)
	}
	var audited struct{ Level int }
	if err := json.Unmarshal(entries[0].After, &audited); err != nil || audited.Level != 2 || string(entries[0].Before) != "null" {
		t.Errorf("audited before %s after %s, want nothing before and level 2 after", entries[0].Before, entries[0].After)
	}

	// An area override stands beside the country's level.
	s.GW.Query(t, s.Token(t, stacktest.GlobalLead), setOverrideMutation, map[string]any{"input": map[string]any{
		"country": "KE", "area": "Lamu County", "level": 4, "reason": "Kidnapping threat on the coast road",
	}}).Decode(t, &set)
	if ke := set.SetAdvisoryOverride.CountryRisk; ke.Level != 2 || ke.Rule != "SOURCE_MAX" || len(ke.AreaOverrides) != 1 ||
		ke.AreaOverrides[0].Area == nil || *ke.AreaOverrides[0].Area != "Lamu County" || ke.AreaOverrides[0].Level != 4 {
		t.Errorf("an area override of KE answered %+v, want the country at 2 by SOURCE_MAX and the area at 4", ke)
	}

	// Clearing gives the sources back their say.
	s.GW.Query(t, s.Token(t, stacktest.GlobalLead), setOverrideMutation, map[string]any{"input": map[string]any{"country": "HT", "level": nil}}).Decode(t, &set)
	if risk := set.SetAdvisoryOverride.CountryRisk; risk.Level != 4 || risk.Rule != "SOURCE_MAX" || risk.Override != nil {
		t.Errorf("clearing the HT override answered %+v, want 4 by SOURCE_MAX", risk)
	}
	cleared := nextChange(t)
	if cleared.Level != 4 || cleared.PreviousLevel == nil || *cleared.PreviousLevel != 2 || cleared.Rule != "SOURCE_MAX" || !cursorAfter(t, cleared.Cursor, ev.Cursor) {
		t.Errorf("advisoryChanged after clearing: %+v", cleared)
	}

	t.Run("bad input changes nothing", func(t *testing.T) {
		tok := s.Token(t, stacktest.TravelTeam)
		good := func() map[string]any {
			return map[string]any{"country": "HT", "level": 3, "reason": "Election week"}
		}
		s.Unchanged(t, func() {
			for _, c := range []struct {
				field string
				edit  func(map[string]any)
			}{
				{"country", func(in map[string]any) { in["country"] = "XX" }},
				{"country", func(in map[string]any) { in["country"] = "Haiti" }},
				{"level", func(in map[string]any) { in["level"] = 5 }},
				{"level", func(in map[string]any) { in["level"] = 0 }},
				{"reason", func(in map[string]any) { delete(in, "reason") }},
				{"reason", func(in map[string]any) { in["reason"] = "   " }},
				{"reason", func(in map[string]any) { in["reason"] = "bad\x00byte" }},
				{"expiresAt", func(in map[string]any) { in["expiresAt"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) }},
			} {
				in := good()
				c.edit(in)
				s.GW.Query(t, tok, setOverrideMutation, map[string]any{"input": in}).RefusedField(t, c.field)
			}
		})
		if r := countryRisk(t, s, stacktest.Auditor, "HT"); r.Level != 4 || r.Rule != "SOURCE_MAX" {
			t.Errorf("HT after refused overrides: %d by %s", r.Level, r.Rule)
		}
	})

	t.Run("only the travel team and global leads manage advisories", func(t *testing.T) {
		for _, who := range []string{stacktest.AMERManager, stacktest.EMEAManager, stacktest.Auditor, stacktest.ProtectionAgent, stacktest.Admin} {
			s.Unchanged(t, func() {
				s.GW.Query(t, s.Token(t, who), setOverrideMutation, map[string]any{"input": map[string]any{
					"country": "HT", "level": 1, "reason": "no risk at all"}}).Refused(t, "FORBIDDEN")
				s.GW.Query(t, s.Token(t, who), stacktest.RefreshAdvisoriesMutation, map[string]any{"source": "UK_FCDO"}).Refused(t, "FORBIDDEN")
			})
		}
		s.Unchanged(t, func() {
			s.GW.Query(t, "", setOverrideMutation, map[string]any{"input": map[string]any{
				"country": "HT", "level": 1, "reason": "no risk at all"}}).Refused(t, "UNAUTHENTICATED")
		})
		if r := countryRisk(t, s, stacktest.Auditor, "HT"); r.Level != 4 || r.Rule != "SOURCE_MAX" {
			t.Errorf("HT after refused callers: %d by %s", r.Level, r.Rule)
		}
	})
}

package feed

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memoryCache is a DocumentCache in a map, for tests.
type memoryCache struct {
	mu    sync.Mutex
	docs  map[string]CachedDocument
	saves int
}

func newMemoryCache() *memoryCache { return &memoryCache{docs: map[string]CachedDocument{}} }

func (c *memoryCache) Lookup(_ context.Context, url string) (CachedDocument, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.docs[url]
	return d, ok, nil
}

func (c *memoryCache) Save(_ context.Context, d CachedDocument) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.docs[d.URL] = d
	c.saves++
	return nil
}

func (c *memoryCache) get(url string) (CachedDocument, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.docs[url]
	return d, ok
}

// fastGetter retries quickly so the tests do not sleep for seconds.
func fastGetter(cache DocumentCache) *HTTPGetter {
	return &HTTPGetter{Backoff: time.Millisecond, Cache: cache}
}

func TestGetSendsValidatorsAndServesCachedBodyOn304(t *testing.T) {
	const etag = `"v1"`
	const lastModified = "Wed, 07 Oct 2026 10:23:50 GMT"
	var requests atomic.Int32
	var gotAgent, gotINM, gotIMS string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		gotAgent = r.Header.Get("User-Agent")
		gotINM = r.Header.Get("If-None-Match")
		gotIMS = r.Header.Get("If-Modified-Since")
		if gotINM == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", lastModified)
		_, _ = w.Write([]byte(`{"title":"Kenya travel advice"}`))
	}))
	defer srv.Close()

	cache := newMemoryCache()
	g := fastGetter(cache)
	url := srv.URL + "/api/content/foreign-travel-advice/kenya"

	first, err := g.Get(context.Background(), url)
	if err != nil {
		t.Fatalf("first Get: %v", err)
	}
	if gotINM != "" || gotIMS != "" {
		t.Errorf("first request was conditional: If-None-Match %q, If-Modified-Since %q", gotINM, gotIMS)
	}
	if gotAgent != defaultUserAgent {
		t.Errorf("User-Agent = %q, want %q", gotAgent, defaultUserAgent)
	}
	saved, ok := cache.get(url)
	if !ok || saved.ETag != etag || saved.LastModified != lastModified || string(saved.Body) != string(first.Body) {
		t.Fatalf("cache after first Get = %+v (present %v)", saved, ok)
	}

	before := time.Now()
	second, err := g.Get(context.Background(), url)
	if err != nil {
		t.Fatalf("second Get: %v", err)
	}
	if gotINM != etag || gotIMS != lastModified {
		t.Errorf("second request sent If-None-Match %q, If-Modified-Since %q; want %q, %q", gotINM, gotIMS, etag, lastModified)
	}
	if string(second.Body) != `{"title":"Kenya travel advice"}` {
		t.Errorf("304 body = %q, want the cached body", second.Body)
	}
	if second.FetchedAt.Before(before) {
		t.Errorf("304 FetchedAt = %v, want now (after %v)", second.FetchedAt, before)
	}
	if second.URL != url {
		t.Errorf("URL = %q, want %q", second.URL, url)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("server saw %d requests, want 2", n)
	}
}

func TestGetRetriesTransientFailuresThenSucceeds(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusBadGateway} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if requests.Add(1) < 3 {
					w.WriteHeader(status)
					return
				}
				_, _ = w.Write([]byte(`{"ok":true}`))
			}))
			defer srv.Close()

			doc, err := fastGetter(nil).Get(context.Background(), srv.URL+"/index.json")
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if string(doc.Body) != `{"ok":true}` || requests.Load() != 3 {
				t.Errorf("body %q after %d requests, want {\"ok\":true} after 3", doc.Body, requests.Load())
			}
		})
	}
}

func TestGetRetriesABrokenConnection(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			// Promise more than is sent, then hang up: a body cut short.
			w.Header().Set("Content-Length", "1000")
			_, _ = w.Write([]byte(`{"data":`))
			hj, ok := w.(http.Hijacker)
			if !ok {
				t.Error("response writer cannot hijack")
				return
			}
			conn, _, _ := hj.Hijack()
			_ = conn.Close()
			return
		}
		_, _ = w.Write([]byte(`{"data":{}}`))
	}))
	defer srv.Close()

	cache := newMemoryCache()
	doc, err := fastGetter(cache).Get(context.Background(), srv.URL+"/index.json")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if string(doc.Body) != `{"data":{}}` || requests.Load() != 2 {
		t.Errorf("body %q after %d requests, want the whole body after 2", doc.Body, requests.Load())
	}
	if saved, _ := cache.get(srv.URL + "/index.json"); string(saved.Body) != `{"data":{}}` {
		t.Errorf("cached body = %q", saved.Body)
	}
}

func TestGetGivesUpAfterAttempts(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()

	g := fastGetter(nil)
	g.Attempts = 4
	_, err := g.Get(context.Background(), srv.URL+"/feed.xml?key=secret-token")
	if err == nil {
		t.Fatal("Get succeeded against a server that always fails")
	}
	if n := requests.Load(); n != 4 {
		t.Errorf("server saw %d requests, want 4", n)
	}
	msg := err.Error()
	if !strings.Contains(msg, "giving up after 4 attempts") || !strings.Contains(msg, "status 500") {
		t.Errorf("error %q does not say it gave up on status 500", msg)
	}
	if !strings.Contains(msg, srv.URL+"/feed.xml") || strings.Contains(msg, "secret-token") {
		t.Errorf("error %q must name the URL without its query string", msg)
	}
}

func TestGetDoesNotRetryClientErrors(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()

	_, err := fastGetter(nil).Get(context.Background(), srv.URL+"/api/content/foreign-travel-advice/atlantis")
	if err == nil || !strings.Contains(err.Error(), "status 404") {
		t.Fatalf("err = %v, want status 404", err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1 (no retry on 404)", n)
	}
}

func TestGetRetriesNetworkErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/index.json"
	srv.Close() // nothing listens any more: connection refused

	g := fastGetter(nil)
	g.Attempts = 2
	_, err := g.Get(context.Background(), url)
	if err == nil || !strings.Contains(err.Error(), "giving up after 2 attempts") {
		t.Fatalf("err = %v, want giving up after 2 attempts", err)
	}
}

func TestGetRefusesBodiesOverTheLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":"` + strings.Repeat("x", 200) + `"}`))
	}))
	defer srv.Close()

	cache := newMemoryCache()
	g := fastGetter(cache)
	g.MaxBytes = 100
	_, err := g.Get(context.Background(), srv.URL+"/big.json")
	if err == nil || !strings.Contains(err.Error(), "larger than 100 bytes") {
		t.Fatalf("err = %v, want a size error", err)
	}
	if cache.saves != 0 {
		t.Errorf("cache saved %d documents, want none", cache.saves)
	}

	g.MaxBytes = 300
	if _, err := g.Get(context.Background(), srv.URL+"/big.json"); err != nil {
		t.Errorf("Get within the limit: %v", err)
	}
}

func TestGetRefusesHTMLPages(t *testing.T) {
	cases := map[string]struct {
		contentType string
		body        string
	}{
		"content type":       {"text/html; charset=utf-8", `{"looks":"like json"}`},
		"doctype":            {"application/json", "\n  <!DOCTYPE html><html><body>Service unavailable</body></html>"},
		"bom and html":       {"application/octet-stream", "\uFEFF <HTML><head><title>Error</title></head></HTML>"},
		"html no doctype ws": {"", "\r\n\t<html lang=\"en\"><body>Just a moment...</body></html>"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()

			cache := newMemoryCache()
			_, err := fastGetter(cache).Get(context.Background(), srv.URL+"/index.json")
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if cache.saves != 0 {
				t.Errorf("an HTML page was cached")
			}
		})
	}
}

func TestGetCachesOnlyWellFormedBodies(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		cached bool
	}{
		{"json", `{"data":{"KE":{"advisory-state":1}}}`, true},
		{"xml with html entities", `<?xml version="1.0" encoding="ISO-8859-1"?><rss><channel><title>A &amp; B&nbsp;</title></channel></rss>`, true},
		{"truncated json", `{"data":{"KE":{"advisory-state":1}`, false},
		{"truncated xml", `<rss><channel><item><title>Kenya</title></item>`, false},
		{"empty", ``, false},
		{"plain text", `Service temporarily unavailable`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("ETag", `"abc"`)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()

			cache := newMemoryCache()
			url := srv.URL + "/doc"
			doc, err := fastGetter(cache).Get(context.Background(), url)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if string(doc.Body) != tc.body {
				t.Errorf("body = %q, want %q", doc.Body, tc.body)
			}
			if _, ok := cache.get(url); ok != tc.cached {
				t.Errorf("cached = %v, want %v", ok, tc.cached)
			}
		})
	}
}

func TestGetKeepsTheGoodCopyWhenANewBodyIsTruncated(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			w.Header().Set("ETag", `"good"`)
			_, _ = w.Write([]byte(`{"complete":true}`))
			return
		}
		w.Header().Set("ETag", `"bad"`)
		_, _ = w.Write([]byte(`{"complete":tr`))
	}))
	defer srv.Close()

	cache := newMemoryCache()
	g := fastGetter(cache)
	url := srv.URL + "/doc.json"
	if _, err := g.Get(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Get(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	saved, _ := cache.get(url)
	if saved.ETag != `"good"` || string(saved.Body) != `{"complete":true}` {
		t.Errorf("cache = %q %q, want the first, complete copy", saved.ETag, saved.Body)
	}
}

func TestGetStopsWhenTheContextIsCancelled(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	g := &HTTPGetter{Backoff: time.Hour} // a retry would block for an hour
	start := time.Now()
	_, err := g.Get(ctx, srv.URL+"/slow.json")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Get returned after %v, want promptly after the cancel", elapsed)
	}
}

func TestGetStopsWaitingBetweenAttemptsWhenCancelled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	g := &HTTPGetter{Backoff: time.Hour}
	start := time.Now()
	_, err := g.Get(ctx, srv.URL+"/index.json")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "status 503") {
		t.Fatalf("err = %v, want the deadline and the last failure", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Get returned after %v", elapsed)
	}
}

func TestGetHonoursRetryAfter(t *testing.T) {
	var requests atomic.Int32
	var firstAt, secondAt time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			firstAt = time.Now()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		secondAt = time.Now()
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()

	if _, err := fastGetter(nil).Get(context.Background(), srv.URL+"/x.json"); err != nil {
		t.Fatal(err)
	}
	if gap := secondAt.Sub(firstAt); gap < 900*time.Millisecond {
		t.Errorf("retried after %v, want about the 1 s the server asked for", gap)
	}
}

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"https://www.gov.uk/api/content/foreign-travel-advice?key=abc#x":    "https://www.gov.uk/api/content/foreign-travel-advice",
		"https://user:pass@example.org/a.json?token=1":                      "https://example.org/a.json",
		"https://data.international.gc.ca/travel-voyage/index-updated.json": "https://data.international.gc.ca/travel-voyage/index-updated.json",
		"::not a url?secret": "::not a url",
	}
	for in, want := range cases {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

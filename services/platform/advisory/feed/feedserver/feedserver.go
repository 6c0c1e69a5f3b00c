// Package feedserver serves the project's own feed fixtures over HTTP at the
// paths the real services use, with ETag and Last-Modified validators, so
// `make run` shows advisories and earthquakes with no internet and tests
// fetch over real HTTP. Tests can also make a document fail or change.
package feedserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/advisory/feed/fixtures"
)

// Paths under the server's base URL.
const (
	USStatePath = "/us/TAsTWs.xml"
	UKBasePath  = "/uk" // + /api/content/foreign-travel-advice[/slug]
	CAIndexPath = "/ca/travel-voyage/index-updated.json"
	AUPath      = "/au/destinations-export"
	USGSPath    = "/usgs/2.5_day.geojson"
)

// URLs are the feeds' URLs on a server at base (http://host:port).
func URLs(base string) map[feed.Source]string {
	return map[feed.Source]string{
		feed.USState:         base + USStatePath,
		feed.UKFCDO:          base + UKBasePath,
		feed.CAGAC:           base + CAIndexPath,
		feed.AUSmartraveller: base + AUPath,
	}
}

// USGSURL is the earthquake feed's URL on a server at base.
func USGSURL(base string) string { return base + USGSPath }

// modified is the Last-Modified of every fixture: they change with the
// code, not at run time.
var modified = time.Date(2026, 10, 7, 12, 0, 0, 0, time.UTC)

// Server serves the fixtures. The zero value is not usable; call New.
type Server struct {
	mu        sync.Mutex
	overrides map[string]override
	requests  map[string]int
	// recent, when set, is the earthquake feed with its times moved so
	// that its newest event happened minutes before the server started.
	recent []byte
}

type override struct {
	status int
	body   []byte
	ctype  string
}

// New returns a server over the embedded fixtures, as they are: tests know
// their times.
func New() *Server {
	return &Server{overrides: map[string]override{}, requests: map[string]int{}}
}

// NewRecent returns a server whose earthquake feed is moved to now (its
// newest event ten minutes before now, the others as far before that as in
// the fixture), as a "past day" feed always is: under `make run` today's
// travellers are near today's quakes. The times are moved once, so the
// document and its ETag stay the same while the server runs.
func NewRecent(now time.Time) (*Server, error) {
	s := New()
	body, err := fs.ReadFile(fixtures.FS, "usgs/2.5_day.geojson")
	if err != nil {
		return nil, err
	}
	if s.recent, err = shiftEvents(body, now.Add(-10*time.Minute)); err != nil {
		return nil, fmt.Errorf("feedserver: earthquake fixture: %w", err)
	}
	return s, nil
}

// shiftEvents moves every millisecond time of a GeoJSON summary feed
// (metadata.generated, each feature's time and updated) by the same amount,
// so that the newest event's time is newest.
func shiftEvents(body []byte, newest time.Time) ([]byte, error) {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	features, _ := doc["features"].([]any)
	var latest int64
	for _, f := range features {
		props, _ := f.(map[string]any)["properties"].(map[string]any)
		if n, ok := props["time"].(json.Number); ok {
			if v, err := n.Int64(); err == nil && v > latest {
				latest = v
			}
		}
	}
	delta := newest.UnixMilli() - latest
	shift := func(m map[string]any, key string) {
		if n, ok := m[key].(json.Number); ok {
			if v, err := n.Int64(); err == nil {
				m[key] = v + delta
			}
		}
	}
	if meta, ok := doc["metadata"].(map[string]any); ok {
		shift(meta, "generated")
	}
	for _, f := range features {
		if props, ok := f.(map[string]any)["properties"].(map[string]any); ok {
			shift(props, "time")
			shift(props, "updated")
		}
	}
	return json.Marshal(doc)
}

// Fail makes requests for urlPath answer status with body (an HTML error
// page, say) until Restore.
func (s *Server) Fail(urlPath string, status int, contentType string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.overrides[urlPath] = override{status: status, body: body, ctype: contentType}
}

// Replace serves body for urlPath (200) until Restore.
func (s *Server) Replace(urlPath, contentType string, body []byte) {
	s.Fail(urlPath, http.StatusOK, contentType, body)
}

// Restore serves the fixture again for urlPath.
func (s *Server) Restore(urlPath string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.overrides, urlPath)
}

// Requests counts the requests for urlPath so far.
func (s *Server) Requests(urlPath string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[urlPath]
}

// fixtureFor maps a request path onto a fixture file.
func fixtureFor(urlPath string) (file, contentType string, ok bool) {
	const ukAPI = UKBasePath + "/api/content/foreign-travel-advice"
	switch {
	case urlPath == USStatePath:
		return "us/TAsTWs.xml", "application/rss+xml; charset=utf-8", true
	case urlPath == AUPath:
		return "au/destinations-export.json", "application/json", true
	case urlPath == USGSPath:
		return "usgs/2.5_day.geojson", "application/geo+json", true
	case urlPath == ukAPI:
		return "uk/index.json", "application/json; charset=utf-8", true
	case strings.HasPrefix(urlPath, ukAPI+"/"):
		slug := strings.TrimPrefix(urlPath, ukAPI+"/")
		if slug == "" || strings.ContainsAny(slug, "/.") {
			return "", "", false
		}
		return "uk/" + slug + ".json", "application/json; charset=utf-8", true
	case path.Dir(urlPath) == path.Dir(CAIndexPath):
		name := path.Base(urlPath)
		if !strings.HasSuffix(name, ".json") {
			return "", "", false
		}
		return "ca/" + name, "application/json", true
	}
	return "", "", false
}

// ServeHTTP answers GET and HEAD with the fixture, honouring If-None-Match
// and If-Modified-Since as the real servers do.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	s.requests[r.URL.Path]++
	o, overridden := s.overrides[r.URL.Path]
	s.mu.Unlock()
	if overridden {
		if o.ctype != "" {
			w.Header().Set("Content-Type", o.ctype)
		}
		w.WriteHeader(o.status)
		_, _ = w.Write(o.body)
		return
	}
	file, ctype, ok := fixtureFor(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, err := fs.ReadFile(fixtures.FS, file)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if r.URL.Path == USGSPath && s.recent != nil {
		body = s.recent
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", modified.Format(http.TimeFormat))
	if match := r.Header.Get("If-None-Match"); match != "" {
		if match == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	} else if since, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !modified.After(since) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write(body)
}

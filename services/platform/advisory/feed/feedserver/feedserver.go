// Package feedserver serves the project's own feed fixtures over HTTP at the
// paths the real services use, with ETag and Last-Modified validators, so
// `make run` shows advisories and earthquakes with no internet and tests
// fetch over real HTTP. Tests can also make a document fail or change.
package feedserver

import (
	"crypto/sha256"
	"encoding/hex"
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
}

type override struct {
	status int
	body   []byte
	ctype  string
}

// New returns a server over the embedded fixtures.
func New() *Server {
	return &Server{overrides: map[string]override{}, requests: map[string]int{}}
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

// Package web serves the GSOC board and GraphiQL: the files `npm run build`
// in services/board writes to static/dist, embedded in the gateway at compile
// time so that the board works with no internet and no files beside the
// binary. When the gateway was built without them (a plain `go build`, no
// Node.js), it serves a page saying how to build the board instead.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// static holds README.md (committed, so the pattern always matches and a
// build without Node compiles) and, once the board is built, dist/. "all:"
// keeps files whose names start with '_' or '.', which Vite may emit.
//
//go:embed all:static
var static embed.FS

// Embedded is the board's build as compiled into this binary: the contents
// of static/dist, empty when the board was not built.
func Embedded() fs.FS {
	dist, err := fs.Sub(static, "static/dist")
	if err != nil {
		// fs.Sub fails only for an invalid path, and this one is a constant.
		panic(err)
	}
	return dist
}

// The build's two pages, at the root of dist.
const (
	boardPage    = "index.html"
	graphiqlPage = "graphiql.html"
)

// Cache policies. Vite names every file under assets/ after a hash of its
// contents, so a name never changes meaning and browsers may keep it for a
// year without asking; the pages (and the few unhashed files at the root)
// name the current assets, so browsers revalidate them on every load (a
// 304 thanks to the ETag), and a new build is seen at once.
const (
	cacheImmutable   = "public, max-age=31536000, immutable"
	cacheRevalidate  = "no-cache"
	assetsPathPrefix = "/assets/"
)

// Site serves one build of the board. Its files are read once, in New.
type Site struct {
	board    *file            // nil when not built
	graphiql *file            // nil when not built
	files    map[string]*file // by URL path: "/assets/index-3bX9aQ1c.js", "/favicon.svg"
	notBuilt *file
	built    bool
}

type file struct {
	body         []byte
	contentType  string
	cacheControl string
	etag         string
}

// New reads the build in dist (index.html, graphiql.html, assets/…, as
// `npm run build` in services/board writes them). A dist without
// index.html, or one that does not exist, is a board not built: then every
// page is the how-to-build page and there are no assets.
func New(dist fs.FS) (*Site, error) {
	s := &Site{files: map[string]*file{}, notBuilt: newFile([]byte(notBuiltPage), "text/html; charset=utf-8", cacheRevalidate)}
	if dist == nil {
		return s, nil
	}
	err := fs.WalkDir(dist, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil // directories are walked, never served; nor are links or devices
		}
		body, err := fs.ReadFile(dist, name)
		if err != nil {
			return err
		}
		switch {
		case name == boardPage:
			s.board = newFile(body, "text/html; charset=utf-8", cacheRevalidate)
		case name == graphiqlPage:
			s.graphiql = newFile(body, "text/html; charset=utf-8", cacheRevalidate)
		case strings.HasPrefix(name, "assets/"):
			s.files["/"+name] = newFile(body, contentType(name), cacheImmutable)
		case !strings.Contains(name, "/") && path.Ext(name) != ".html":
			// Vite copies the board's public/ folder to the root of dist
			// (a favicon, say): served under their own names.
			s.files["/"+name] = newFile(body, contentType(name), cacheRevalidate)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("web: read the board's build: %w", err)
	}
	if s.board == nil {
		// Assets without their page are a half-written or foreign folder:
		// serve none of it rather than a board that cannot load.
		s.files, s.graphiql = map[string]*file{}, nil
		return s, nil
	}
	s.built = true
	return s, nil
}

func newFile(body []byte, contentType, cacheControl string) *file {
	sum := sha256.Sum256(body)
	return &file{body: body, contentType: contentType, cacheControl: cacheControl, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// contentTypes are the types of what a Vite build of the board emits, fixed
// here rather than read from the host's mime.types, which differs between
// machines: with X-Content-Type-Options: nosniff, a script served under a
// wrong type does not run.
var contentTypes = map[string]string{
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".map":   "application/json",
	".json":  "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".webp":  "image/webp",
	".ico":   "image/x-icon",
	".woff":  "font/woff",
	".woff2": "font/woff2",
	".ttf":   "font/ttf",
	".wasm":  "application/wasm",
	".txt":   "text/plain; charset=utf-8",
	".pbf":   "application/x-protobuf",
}

func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// Built reports whether the board's build was found (dist/index.html).
func (s *Site) Built() bool { return s.built }

// ServeHTTP serves the board at /, its assets under /assets/ and the files
// at the root of the build by their names; any other path is 404 (never a
// directory listing), and a method other than GET or HEAD on a path it
// serves is 405. Every answer carries the security headers.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	SetSecurityHeaders(w, r)
	var f *file
	switch {
	case r.URL.Path == "/":
		f = s.board
		if f == nil {
			f = s.notBuilt
		}
	default:
		f = s.files[r.URL.Path]
	}
	if f == nil {
		http.NotFound(w, r)
		return
	}
	serve(w, r, f)
}

// ServeGraphiQL serves the GraphiQL page (GET /graphql from a browser),
// under GraphiQLContentSecurityPolicy, or the how-to-build page when the
// board, which builds GraphiQL too, was not built.
func (s *Site) ServeGraphiQL(w http.ResponseWriter, r *http.Request) {
	SetSecurityHeaders(w, r)
	f := s.graphiql
	if f == nil {
		f = s.notBuilt // plain HTML: the board's policy suits it
	} else {
		w.Header().Set("Content-Security-Policy", GraphiQLContentSecurityPolicy(r.Host))
	}
	serve(w, r, f)
}

func serve(w http.ResponseWriter, r *http.Request, f *file) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: use GET", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", f.cacheControl)
	h.Set("ETag", f.etag)
	// ServeContent answers If-None-Match with 304, ranges with 206, and
	// HEAD without a body. Embedded files have no modification time.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

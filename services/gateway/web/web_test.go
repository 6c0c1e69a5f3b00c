package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"meridian.dev/platform/auth"
	"meridian.dev/worker/demo"
)

// wantCSP is the contract's policy for a request to example.com, the host
// httptest.NewRequest gives; written out whole so that any change to the
// policy is a deliberate one.
const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; " +
	"connect-src 'self' ws://example.com wss://example.com; worker-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const (
	boardHTML    = `<!doctype html><html><head><script type="module" src="/assets/index-3bX9aQ1c.js"></script><link rel="stylesheet" href="/assets/index-Zk2pQ7wE.css"></head><body><div id="app"></div></body></html>`
	graphiqlHTML = `<!doctype html><html><head><script type="module" src="/assets/graphiql-Hq81xYzA.js"></script></head><body><div id="graphiql"></div></body></html>`
	boardJS      = `console.log("board")`
)

// builtDist is what `npm run build` in services/board writes, in miniature.
func builtDist() fstest.MapFS {
	return fstest.MapFS{
		"index.html":                            {Data: []byte(boardHTML)},
		"graphiql.html":                         {Data: []byte(graphiqlHTML)},
		"favicon.svg":                           {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
		"assets/index-3bX9aQ1c.js":              {Data: []byte(boardJS)},
		"assets/index-Zk2pQ7wE.css":             {Data: []byte(`body{margin:0}`)},
		"assets/graphiql-Hq81xYzA.js":           {Data: []byte(`console.log("graphiql")`)},
		"assets/maplibre-gl-csp-worker-Ab12.js": {Data: []byte(`self.onmessage=()=>{}`)},
		"assets/inter-latin-400-Qq9.woff2":      {Data: []byte{0x77, 0x4f, 0x46, 0x32}},
	}
}

func newSite(t *testing.T, dist fs.FS) *Site {
	t.Helper()
	s, err := New(dist)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func do(h http.Handler, method, target string, edit func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	if edit != nil {
		edit(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// wantGraphiQLCSP is wantCSP with what GraphiQL needs (see
// GraphiQLContentSecurityPolicy): inline styles and data: fonts.
const wantGraphiQLCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; " +
	"connect-src 'self' ws://example.com wss://example.com; worker-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func checkSecurityHeaders(t *testing.T, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	checkHeaders(t, what, w, wantCSP)
}

func checkHeaders(t *testing.T, what string, w *httptest.ResponseRecorder, csp string) {
	t.Helper()
	for name, want := range map[string]string{
		"Content-Security-Policy": csp,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	} {
		if got := w.Header().Get(name); got != want {
			t.Errorf("%s: %s = %q, want %q", what, name, got, want)
		}
	}
}

func TestWebServesTheBuiltBoard(t *testing.T) {
	site := newSite(t, builtDist())
	if !site.Built() {
		t.Fatal("Built() = false with index.html present")
	}

	t.Run("the board at /", func(t *testing.T) {
		w := do(site, http.MethodGet, "/", nil)
		if w.Code != http.StatusOK || w.Body.String() != boardHTML {
			t.Fatalf("GET /: HTTP %d, %q", w.Code, w.Body.String())
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("the page's Cache-Control is %q; it names the current assets, so it must be revalidated", cc)
		}
		checkSecurityHeaders(t, "GET /", w)

		etag := w.Header().Get("ETag")
		if etag == "" {
			t.Fatal("no ETag: a no-cache page would be downloaded whole on every load")
		}
		again := do(site, http.MethodGet, "/", func(r *http.Request) { r.Header.Set("If-None-Match", etag) })
		if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("revalidation with the ETag: HTTP %d, %d bytes; want 304 and none", again.Code, again.Body.Len())
		}
		checkSecurityHeaders(t, "304 for /", again)

		head := do(site, http.MethodHead, "/", nil)
		if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("Content-Length") != strconv.Itoa(len(boardHTML)) {
			t.Errorf("HEAD /: HTTP %d, %d bytes, Content-Length %q", head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
		}
	})

	t.Run("hashed assets, cached for good, typed by extension", func(t *testing.T) {
		for path, want := range map[string]string{
			"/assets/index-3bX9aQ1c.js":              "text/javascript; charset=utf-8",
			"/assets/index-Zk2pQ7wE.css":             "text/css; charset=utf-8",
			"/assets/maplibre-gl-csp-worker-Ab12.js": "text/javascript; charset=utf-8",
			"/assets/inter-latin-400-Qq9.woff2":      "font/woff2",
		} {
			w := do(site, http.MethodGet, path, nil)
			if w.Code != http.StatusOK {
				t.Errorf("GET %s: HTTP %d", path, w.Code)
				continue
			}
			if ct := w.Header().Get("Content-Type"); ct != want {
				t.Errorf("GET %s: Content-Type %q, want %q", path, ct, want)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
				t.Errorf("GET %s: Cache-Control %q", path, cc)
			}
			checkSecurityHeaders(t, "GET "+path, w)
		}
		if w := do(site, http.MethodGet, "/assets/index-3bX9aQ1c.js", nil); w.Body.String() != boardJS {
			t.Errorf("the script's body is %q", w.Body.String())
		}
	})

	t.Run("files at the root of the build, revalidated", func(t *testing.T) {
		w := do(site, http.MethodGet, "/favicon.svg", nil)
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/svg+xml" || w.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("GET /favicon.svg: HTTP %d, %q, %q", w.Code, w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"))
		}
	})

	t.Run("GraphiQL", func(t *testing.T) {
		w := do(http.HandlerFunc(site.ServeGraphiQL), http.MethodGet, "/graphql", nil)
		if w.Code != http.StatusOK || w.Body.String() != graphiqlHTML || w.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("GraphiQL: HTTP %d, %q, Cache-Control %q", w.Code, w.Body.String(), w.Header().Get("Cache-Control"))
		}
		checkHeaders(t, "GraphiQL", w, wantGraphiQLCSP)
	})

	t.Run("404 for anything else, with the headers, and no listings", func(t *testing.T) {
		for _, path := range []string{
			"/assets/missing-00000000.js", "/assets/", "/assets", "/index.html", "/graphiql.html",
			"/nothing", "/assets/../index.html", "/static/README.md",
		} {
			w := do(site, http.MethodGet, path, nil)
			if w.Code != http.StatusNotFound {
				t.Errorf("GET %s: HTTP %d, want 404", path, w.Code)
			}
			if strings.Contains(w.Body.String(), "index-3bX9aQ1c.js") {
				t.Errorf("GET %s lists files: %q", path, w.Body.String())
			}
			checkSecurityHeaders(t, "GET "+path, w)
		}
	})

	t.Run("405 for methods other than GET and HEAD", func(t *testing.T) {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			for _, path := range []string{"/", "/assets/index-3bX9aQ1c.js"} {
				w := do(site, m, path, nil)
				if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
					t.Errorf("%s %s: HTTP %d, Allow %q", m, path, w.Code, w.Header().Get("Allow"))
				}
				checkSecurityHeaders(t, m+" "+path, w)
			}
		}
		w := do(http.HandlerFunc(site.ServeGraphiQL), http.MethodPost, "/graphql", nil)
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("GraphiQL by POST: HTTP %d", w.Code)
		}
	})
}

func TestWebServesHowToBuildWhenNotBuilt(t *testing.T) {
	for name, dist := range map[string]fs.FS{
		"no dist folder":       nil,
		"empty dist":           fstest.MapFS{},
		"assets without pages": fstest.MapFS{"assets/index-3bX9aQ1c.js": {Data: []byte(boardJS)}},
	} {
		t.Run(name, func(t *testing.T) {
			site := newSite(t, dist)
			if site.Built() {
				t.Fatal("Built() = true without index.html")
			}
			for what, h := range map[string]http.Handler{"/": site, "GraphiQL": http.HandlerFunc(site.ServeGraphiQL)} {
				w := do(h, http.MethodGet, "/", nil)
				body := w.Body.String()
				if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
					t.Errorf("%s: HTTP %d, %q", what, w.Code, w.Header().Get("Content-Type"))
				}
				checkSecurityHeaders(t, what, w)
				for _, want := range []string{"The board is not built", "make board", "make run", "Node.js 20", "npm", "cd services/board &amp;&amp; npm ci &amp;&amp; npm run build", "rebuild"} {
					if !strings.Contains(body, want) {
						t.Errorf("%s: the page does not say %q", what, want)
					}
				}
				// Nothing the policy would refuse, so the browser's console
				// stays clean: no script, no inline style, nothing fetched.
				for _, banned := range []string{"<script", "<style", "style=", "src=", "<link rel=\"stylesheet"} {
					if strings.Contains(strings.ToLower(body), banned) {
						t.Errorf("%s: the page contains %q", what, banned)
					}
				}
				// An icon of its own, or the browser asks for /favicon.ico
				// and logs the 404.
				if !strings.Contains(body, `<link rel="icon" href="data:,">`) {
					t.Errorf("%s: the page has no icon of its own", what)
				}
			}
			if w := do(site, http.MethodGet, "/assets/index-3bX9aQ1c.js", nil); w.Code != http.StatusNotFound {
				t.Errorf("an asset of a board not built: HTTP %d, want 404", w.Code)
			}
			if w := do(site, http.MethodPost, "/", nil); w.Code != http.StatusMethodNotAllowed {
				t.Errorf("POST / when not built: HTTP %d, want 405", w.Code)
			}
		})
	}
}

// A dist that cannot be read is an error at start, not a board that
// half-loads.
func TestWebRefusesAnUnreadableBuild(t *testing.T) {
	if _, err := New(brokenFS{}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("New over a failing file system: %v", err)
	}
}

type brokenFS struct{}

func (brokenFS) Open(string) (fs.File, error) { return nil, errors.New("disk on fire") }

func TestWebEmbeddedBuildMatchesTheFolder(t *testing.T) {
	site := newSite(t, Embedded())
	_, err := fs.Stat(Embedded(), "index.html")
	if site.Built() != (err == nil) {
		t.Fatalf("Built() = %v, but stat dist/index.html: %v", site.Built(), err)
	}
	if _, err := fs.Stat(static, "static/README.md"); err != nil {
		t.Fatalf("static/README.md is not embedded: %v", err)
	}
}

func TestWebContentSecurityPolicyHost(t *testing.T) {
	const before = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; "
	const after = "; worker-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	for host, connect := range map[string]string{
		"127.0.0.1:8080":                  "connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080",
		"Board.Example":                   "connect-src 'self' ws://Board.Example wss://Board.Example",
		"[::1]:8080":                      "connect-src 'self' ws://[::1]:8080 wss://[::1]:8080",
		"gsoc-wall.internal":              "connect-src 'self' ws://gsoc-wall.internal wss://gsoc-wall.internal",
		"":                                "connect-src 'self'",
		"evil.example; script-src *":      "connect-src 'self'",
		"evil.example ws://elsewhere":     "connect-src 'self'",
		"a.example,b.example":             "connect-src 'self'",
		"evil.example'":                   "connect-src 'self'",
		"h\u00e9te.example":               "connect-src 'self'",
		"a.example/path":                  "connect-src 'self'",
		"evil.example\r\nSet-Cookie: x=1": "connect-src 'self'",
	} {
		if got, want := ContentSecurityPolicy(host), before+connect+after; got != want {
			t.Errorf("Host %q:\n got %s\nwant %s", host, got, want)
		}
	}
}

func TestWebPersonasTokensAreTheGatewaysOwn(t *testing.T) {
	cfg := auth.Config{Secret: "web-test-secret-0123456789abcdefghij", Issuer: "meridian", Audience: "meridian-api"}
	h := Personas(cfg, slog.New(slog.DiscardHandler))
	w := do(h, http.MethodGet, "/board/personas", nil)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("HTTP %d, Content-Type %q, Cache-Control %q", w.Code, w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"))
	}
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Error("personas are readable cross-origin")
	}
	var out struct{ Personas []map[string]json.RawMessage }
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Personas) != len(demo.Personas) {
		t.Fatalf("%d personas, want %d", len(out.Personas), len(demo.Personas))
	}
	verifier := auth.NewVerifier(cfg)
	other := auth.NewVerifier(auth.Config{Secret: auth.DevelopmentSecret, Issuer: "meridian", Audience: "meridian-api"})
	for i, raw := range out.Personas {
		keys := make([]string, 0, len(raw))
		for k := range raw {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"name", "regions", "roles", "subject", "token"}; !slices.Equal(keys, want) {
			t.Errorf("persona %d has fields %v, want %v", i, keys, want)
		}
		var p Persona
		if err := json.Unmarshal(mustJSON(t, raw), &p); err != nil {
			t.Fatal(err)
		}
		d := demo.Personas[i]
		if p.Subject != d.Subject || p.Name != d.Name || !slices.Equal(p.Roles, d.Roles) || !slices.Equal(p.Regions, d.Regions) {
			t.Errorf("persona %d = %+v, want %s %q %v %v", i, p, d.Subject, d.Name, d.Roles, d.Regions)
		}
		if string(raw["regions"]) == "null" || string(raw["roles"]) == "null" {
			t.Errorf("persona %s: roles %s, regions %s; want lists, never null", p.Subject, raw["roles"], raw["regions"])
		}
		id, err := verifier.Verify(p.Token)
		if err != nil || id.Subject != d.Subject || !slices.Equal(id.Roles, d.Roles) {
			t.Errorf("persona %s: token verifies as %+v, %v", d.Subject, id, err)
		}
		if _, err := other.Verify(p.Token); err == nil {
			t.Errorf("persona %s: token signed with the development secret, not the gateway's", d.Subject)
		}
		if left := time.Until(tokenExpiry(t, p.Token)); left < PersonaTokenTTL-time.Minute || left > PersonaTokenTTL {
			t.Errorf("persona %s: token expires in %s, want %s", d.Subject, left, PersonaTokenTTL)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tokenExpiry reads a JWT's exp claim (the signature was checked by Verify).
func tokenExpiry(t *testing.T, token string) time.Time {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return time.Unix(claims.Exp, 0)
}

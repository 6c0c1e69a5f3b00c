package server_test

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"meridian.dev/gateway/server"
	"meridian.dev/gateway/stacktest"
	"meridian.dev/gateway/web"
	"meridian.dev/worker/demo"
)

// checkSecurityHeaders fails t unless hdr carries the contract's page
// headers for a gateway at base (http://host:port), with the policy
// written out whole.
func checkSecurityHeaders(t *testing.T, what string, hdr http.Header, base string) {
	t.Helper()
	checkHeaders(t, what, hdr, base, "style-src 'self'; img-src 'self' data: blob:; font-src 'self';")
}

// checkGraphiQLHeaders is checkSecurityHeaders for GraphiQL, which, once
// built, allows inline styles and data: fonts (web.GraphiQLContentSecurityPolicy
// says why); the how-to-build page in its place has the board's policy.
func checkGraphiQLHeaders(t *testing.T, hdr http.Header, base string) {
	t.Helper()
	if _, err := fs.Stat(web.Embedded(), "graphiql.html"); err != nil {
		checkSecurityHeaders(t, "GraphiQL (not built)", hdr, base)
		return
	}
	checkHeaders(t, "GraphiQL", hdr, base, "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:;")
}

func checkHeaders(t *testing.T, what string, hdr http.Header, base, styleImgFont string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	csp := "default-src 'none'; script-src 'self'; " + styleImgFont + " " +
		"connect-src 'self' ws://" + u.Host + " wss://" + u.Host + "; worker-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	for name, want := range map[string]string{
		"Content-Security-Policy": csp,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	} {
		if got := hdr.Get(name); got != want {
			t.Errorf("%s: %s = %q, want %q", what, name, got, want)
		}
	}
}

// embeddedPage is what the gateway must serve for one of the build's pages
// ("index.html", "graphiql.html"): the file compiled into this binary, or
// the how-to-build page when the board was not built. It checks which of
// the two it is against the embedded folder itself.
func embeddedPage(t *testing.T, name string) string {
	t.Helper()
	site, err := web.New(web.Embedded())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if name == "graphiql.html" {
		site.ServeGraphiQL(rec, req)
	} else {
		site.ServeHTTP(rec, req)
	}
	page := rec.Body.String()
	if file, err := fs.ReadFile(web.Embedded(), name); err == nil {
		if page != string(file) {
			t.Fatalf("the web package serves something other than the embedded %s", name)
		}
	} else if !strings.Contains(page, "The board is not built") {
		t.Fatalf("no embedded %s (%v), and the page served is not the how-to-build page", name, err)
	}
	return page
}

// assetReference finds the board's own scripts in its page: what a browser
// loads next.
var assetReference = regexp.MustCompile(`(?:src|href)="(/assets/[^"]+\.js)"`)

func TestWebBoardFromTheGateway(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	g := s.GW
	board := embeddedPage(t, "index.html")

	t.Run("the board at /", func(t *testing.T) {
		code, hdr, body := get(t, g.Base+"/", map[string]string{"Accept": "text/html"})
		if code != http.StatusOK || hdr.Get("Content-Type") != "text/html; charset=utf-8" || hdr.Get("Cache-Control") != "no-cache" {
			t.Fatalf("GET /: HTTP %d, %q, Cache-Control %q", code, hdr.Get("Content-Type"), hdr.Get("Cache-Control"))
		}
		if body != board {
			t.Errorf("GET /: not the embedded page (%d bytes, want %d)", len(body), len(board))
		}
		checkSecurityHeaders(t, "GET /", hdr, g.Base)
	})

	// With the board built, every script its page names is served typed,
	// cached for good and under the same policy; without it there are no
	// assets. Either way an unknown asset is 404.
	t.Run("assets", func(t *testing.T) {
		refs := assetReference.FindAllStringSubmatch(board, -1)
		if _, err := fs.Stat(web.Embedded(), "index.html"); err == nil && len(refs) == 0 {
			t.Fatalf("the built board's page names no script under /assets/: %s", board)
		}
		for _, ref := range refs {
			code, hdr, body := get(t, g.Base+ref[1], nil)
			if code != http.StatusOK || body == "" {
				t.Errorf("GET %s: HTTP %d, %d bytes", ref[1], code, len(body))
			}
			if ct := hdr.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
				t.Errorf("GET %s: Content-Type %q", ref[1], ct)
			}
			if cc := hdr.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
				t.Errorf("GET %s: Cache-Control %q", ref[1], cc)
			}
			checkSecurityHeaders(t, "GET "+ref[1], hdr, g.Base)
		}
		for _, path := range []string{"/assets/not-there-00000000.js", "/assets/", "/no-such-page"} {
			code, hdr, _ := get(t, g.Base+path, nil)
			if code != http.StatusNotFound {
				t.Errorf("GET %s: HTTP %d, want 404", path, code)
			}
			checkSecurityHeaders(t, "GET "+path, hdr, g.Base)
		}
	})

	t.Run("POST / is 405", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, g.Base+"/", strings.NewReader(`{"query":"{ me { subject } }"}`))
		if err != nil {
			t.Fatal(err)
		}
		r := g.Send(t, req)
		if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST /: HTTP %d, Allow %q", r.Status, r.Header.Get("Allow"))
		}
		checkSecurityHeaders(t, "POST /", r.Header, g.Base)
	})

	t.Run("GraphiQL is served offline at /graphql", func(t *testing.T) {
		code, hdr, body := get(t, g.URL, map[string]string{"Accept": "text/html"})
		if code != http.StatusOK || body != embeddedPage(t, "graphiql.html") {
			t.Errorf("GraphiQL: HTTP %d, %d bytes", code, len(body))
		}
		checkGraphiQLHeaders(t, hdr, g.Base)
	})
}

type personasAnswer struct {
	Personas []web.Persona
}

func TestPersonasOutsideProductionOnly(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})

	t.Run("development: every demo persona, with a token this gateway accepts", func(t *testing.T) {
		code, hdr, body := get(t, s.GW.Base+"/board/personas", nil)
		if code != http.StatusOK || hdr.Get("Content-Type") != "application/json" || hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("GET /board/personas: HTTP %d, %q, Cache-Control %q: %s", code, hdr.Get("Content-Type"), hdr.Get("Cache-Control"), body)
		}
		var out personasAnswer
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Personas) != len(demo.Personas) {
			t.Fatalf("%d personas, want %d", len(out.Personas), len(demo.Personas))
		}
		for i, p := range out.Personas {
			if p.Subject != demo.Personas[i].Subject || p.Name != demo.Personas[i].Name || p.Token == "" {
				t.Errorf("persona %d: %s %q, token %d bytes", i, p.Subject, p.Name, len(p.Token))
				continue
			}
			var me struct{ Me struct{ Subject string } }
			s.GW.Query(t, p.Token, `{ me { subject } }`, nil).Decode(t, &me)
			if me.Me.Subject != p.Subject {
				t.Errorf("with %s's token, me.subject = %q", p.Subject, me.Me.Subject)
			}
		}
	})

	t.Run("any other environment: 404", func(t *testing.T) {
		staging := s.StartGateway(t, func(c *server.Config) { c.Env = "staging" })
		if code, _, body := get(t, staging.Base+"/board/personas", nil); code != http.StatusNotFound || strings.Contains(body, "token") {
			t.Errorf("GET /board/personas with MERIDIAN_ENV=staging: HTTP %d: %s", code, body)
		}
	})

	t.Run("production: 404", func(t *testing.T) {
		prod := s.StartGateway(t, func(c *server.Config) { c.Env = "production" })
		// The stack's JWT secret is one production accepts, so this is a
		// gateway LoadConfig would let start.
		if err := s.Auth.Validate(true); err != nil {
			t.Fatalf("the test's production gateway has a configuration production refuses: %v", err)
		}
		code, hdr, body := get(t, prod.Base+"/board/personas", nil)
		if code != http.StatusNotFound || strings.Contains(body, "token") {
			t.Errorf("GET /board/personas in production: HTTP %d: %s", code, body)
		}
		checkSecurityHeaders(t, "GET /board/personas in production", hdr, prod.Base)
		// The production gateway is otherwise the same: it serves the board
		// and answers the API.
		if code, _, _ := get(t, prod.Base+"/", nil); code != http.StatusOK {
			t.Errorf("GET / in production: HTTP %d", code)
		}
		var me struct{ Me struct{ Subject string } }
		prod.Query(t, s.Token(t, stacktest.EMEAManager), `{ me { subject } }`, nil).Decode(t, &me)
		if me.Me.Subject != stacktest.EMEAManager {
			t.Errorf("production gateway: me.subject = %q", me.Me.Subject)
		}
	})
}

package web

import (
	"net/http"
	"strings"
)

// ContentSecurityPolicy is the policy of the board, of every asset and of the
// how-to-build page, for a request whose Host header is host. Scripts, styles, fonts and workers come only
// from the gateway itself (the board's build has no inline script, and
// MapLibre's CSP build loads its worker from a file, so neither
// 'unsafe-inline' nor blob: workers are needed); connections go only to the
// gateway, over HTTP and over WebSocket. img-src allows data: and blob:
// because MapLibre draws the markers' icons on a canvas and hands them over
// as image data. connect-src names ws://host and wss://host explicitly:
// browsers that predate CSP Level 3 do not count a WebSocket to the same
// host as 'self'.
//
// A host that is not a plain host[:port] (anything outside
// [A-Za-z0-9.:-] and the brackets of an IPv6 literal) is left out, leaving
// connect-src 'self': the Host header is the client's to write, and a value
// with a space or a semicolon would otherwise add sources or directives to
// the policy.
func ContentSecurityPolicy(host string) string {
	return policy(host, "'self'", "'self'")
}

// GraphiQLContentSecurityPolicy is the GraphiQL page's policy: the board's,
// with two sources more that GraphiQL 3 cannot do without, and that only
// this developer's page gets. style-src 'unsafe-inline': its dialogs
// (settings, shortcuts) are Radix dialogs, whose scroll lock
// (react-remove-scroll-bar) writes a <style> element while one is open.
// font-src data:: graphiql's stylesheet carries its fonts (Roboto, Fira
// Code) as data: URLs. Refused, each is an error in the console, and the
// fonts fall back to the system's. Scripts stay 'self' only, so neither
// lets anything run; and neither reaches the board, whose page keeps
// ContentSecurityPolicy.
func GraphiQLContentSecurityPolicy(host string) string {
	return policy(host, "'self' 'unsafe-inline'", "'self' data:")
}

func policy(host, styleSrc, fontSrc string) string {
	connect := "connect-src 'self'"
	if safeHost(host) {
		connect += " ws://" + host + " wss://" + host
	}
	return "default-src 'none'; script-src 'self'; style-src " + styleSrc + "; img-src 'self' data: blob:; font-src " + fontSrc + "; " +
		connect + "; worker-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

func safeHost(host string) bool {
	if host == "" {
		return false
	}
	for _, c := range host {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune(".:-[]", c):
		default:
			return false
		}
	}
	return true
}

// SetSecurityHeaders sets the headers every page and asset carries: the
// Content-Security-Policy for r's Host, no MIME sniffing (a file is only
// ever what its Content-Type says), no Referer leaving the board (its URLs
// are nobody else's business), and no framing (X-Frame-Options for browsers
// that ignore frame-ancestors).
func SetSecurityHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy(r.Host))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// Secure sets the security headers before next answers.
func Secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetSecurityHeaders(w, r)
		next.ServeHTTP(w, r)
	})
}

package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"meridian.dev/gateway/stacktest"
)

func get(t *testing.T, url string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: stacktest.RequestTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// TestHealthAndMetrics is deliberately not parallel: OpenTelemetry's meter
// provider is process-global, and the gateway binds its HTTP metrics to the
// one its own start installed. Sequential tests run before parallel ones, so
// no other stack starts meanwhile.
func TestHealthAndMetrics(t *testing.T) {
	s := stacktest.New(t, stacktest.Options{NoWorker: true})

	if code, _, body := get(t, s.GW.Base+"/healthz", nil); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, _, body := get(t, s.GW.Base+"/readyz", nil); code != http.StatusOK || strings.TrimSpace(body) != "ready" {
		t.Errorf("/readyz with PostgreSQL, Redis and Temporal answering: %d %q", code, body)
	}
	// The board (or, in a gateway built without it, the page saying how to
	// build it) lives at the root now.
	if code, hdr, _ := get(t, s.GW.Base+"/", nil); code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Errorf("GET /: want the board's HTML page, got %d %q", code, hdr.Get("Content-Type"))
	}

	var me struct{ Me struct{ Subject string } }
	s.GW.Query(t, s.Token(t, stacktest.GlobalLead), `{ me { subject } }`, nil).Decode(t, &me)
	if me.Me.Subject != stacktest.GlobalLead {
		t.Fatalf("me.subject = %q", me.Me.Subject)
	}

	code, hdr, metrics := get(t, s.GW.Base+"/metrics", nil)
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{
		"go_goroutines ",                               // Go runtime
		"go_memstats_heap_alloc_bytes ",                // Go runtime
		"http_server_request_duration_seconds_bucket{", // HTTP server, from the request above
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}
}

package server_test

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"meridian.dev/gateway/stacktest"
	"meridian.dev/platform/notify/sink"
)

// otlpCollector is a real OTLP/HTTP receiver: the processes' exporters send
// it protobuf ExportTraceServiceRequests over HTTP, as to a collector.
type otlpCollector struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []span
}

type span struct {
	Name, TraceID, Service string
}

func newOTLPCollector(t *testing.T) *otlpCollector {
	c := &otlpCollector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			service := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.GetKey() == "service.name" {
					service = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, sp := range ss.GetSpans() {
					c.spans = append(c.spans, span{Name: sp.GetName(), TraceID: hex.EncodeToString(sp.GetTraceId()), Service: service})
				}
			}
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *otlpCollector) trace(id string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for _, s := range c.spans {
		if s.TraceID == id {
			names = append(names, s.Name)
		}
	}
	return names
}

func (c *otlpCollector) traceOf(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.spans {
		if s.Name == name {
			return s.TraceID
		}
	}
	return ""
}

// TestOneTracePerEscalatingStatusChange: the HTTP request, the GraphQL
// mutation, its Postgres queries, the relay's delivery, the workflow start,
// the workflow's paging activity and its webhook call all land in one trace,
// exported over OTLP. Not parallel: it sets the batch span processor's delay through the
// environment, and the tracer provider is process-wide.
func TestOneTracePerEscalatingStatusChange(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100") // milliseconds: export promptly
	collector := newOTLPCollector(t)
	s := stacktest.New(t, stacktest.Options{OTLPEndpoint: collector.srv.URL})
	s.SetStatus(t, s.GW, "rm-emea-emil", "PAR-OFC", "CRITICAL", "EVACUATED", "trace me")
	s.WaitPage(t, "tier-1", func(p sink.Received) bool { return p.Page.Tier == 1 && p.Page.Site == "PAR-OFC" })

	// The workflow's own RunWorkflow span ends only when the escalation
	// does; the activities it schedules (planning, then delivering) prove the
	// workflow runs in the trace.
	want := []string{"POST /graphql", "Mutation.updateSiteStatus", "INSERT", "outbox.deliver escalation.opened",
		"StartWorkflow:Escalation", "StartActivity:PlanPages", "RunActivity:PlanPages", "StartActivity:Deliver", "RunActivity:Deliver", "HTTP POST"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		id := collector.traceOf("outbox.deliver escalation.opened")
		var names []string
		if id != "" {
			names = collector.trace(id)
		}
		missing := missingNames(names, want)
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the escalating status change's trace %q lacks %v; it has %v", id, missing, names)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// missingNames lists the wanted span names (exact, or as a prefix of a name
// such as "GraphQL field: updateSiteStatus") not present in names.
func missingNames(names, want []string) []string {
	var missing []string
	for _, w := range want {
		found := false
		for _, n := range names {
			if n == w || strings.Contains(n, w) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	return missing
}

package stacktest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// RequestTimeout bounds every HTTP request the harness makes.
const RequestTimeout = 30 * time.Second

var httpClient = &http.Client{Timeout: RequestTimeout}

// GQLError is one entry of a GraphQL response's errors.
type GQLError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is the error's extensions.code (UNAUTHENTICATED, FORBIDDEN, …).
func (e GQLError) Code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

// Result is one HTTP answer of the gateway; Data and Errors are decoded
// when it is JSON.
type Result struct {
	Status int
	Header http.Header
	Body   []byte
	Data   json.RawMessage `json:"data"`
	Errors []GQLError      `json:"errors"`
}

// Post sends a raw request body to the GraphQL endpoint, with the bearer
// token when not empty. Every answer must be a JSON error envelope or a
// GraphQL response, and never a 5xx.
func (g *Gateway) Post(t testing.TB, token string, contentType string, body []byte) Result {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return g.Send(t, req)
}

// Send sends any request; a 5xx answer fails the test (Errorf), a JSON
// answer that does not decode fails it at once.
func (g *Gateway) Send(t testing.TB, req *http.Request) Result {
	t.Helper()
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	r := Result{Status: resp.StatusCode, Header: resp.Header, Body: body}
	if resp.StatusCode >= 500 {
		t.Errorf("%s %s answered %d: %s", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("response is not JSON: %v: %s", err, body)
		}
	}
	return r
}

// Query posts a GraphQL document with its variables as token's caller ("":
// anonymous).
func (g *Gateway) Query(t testing.TB, token, query string, vars map[string]any) Result {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return g.Post(t, token, "application/json", body)
}

// Decode requires a successful answer (HTTP 200, no errors) and decodes its
// data into out.
func (r Result) Decode(t testing.TB, out any) {
	t.Helper()
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("want a successful answer, got HTTP %d: %s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatalf("decode data: %v: %s", err, r.Data)
	}
}

// Refused requires exactly one error, with extensions.code code and a
// message, and returns it.
func (r Result) Refused(t testing.TB, code string) GQLError {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("want one %s error, got HTTP %d: %s", code, r.Status, r.Body)
	}
	e := r.Errors[0]
	if e.Code() != code {
		t.Fatalf("want extensions.code %s, got %q: %s", code, e.Code(), r.Body)
	}
	if e.Message == "" {
		t.Errorf("%s error without a message: %s", code, r.Body)
	}
	return e
}

// RefusedField requires one BAD_USER_INPUT error whose extensions.field and
// message name field, and returns it.
func (r Result) RefusedField(t testing.TB, field string) GQLError {
	t.Helper()
	e := r.Refused(t, "BAD_USER_INPUT")
	if got, _ := e.Extensions["field"].(string); got != field {
		t.Errorf("want extensions.field %q, got %q: %s", field, got, r.Body)
	}
	if !strings.Contains(e.Message, field) {
		t.Errorf("message %q does not name the field %q", e.Message, field)
	}
	return e
}

package escalation

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/directory"
	esc "meridian.dev/platform/escalation"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/site"
	"meridian.dev/platform/testenv"
	"meridian.dev/workflows/historytest"
)

const testSecret = "test-pager-secret-0123456789abcdef"

func allow(string) error { return nil }

// fixture is a fresh database holding one EMEA site gone CRITICAL, the open
// escalation that opened, and a directory of people to page.
type fixture struct {
	pool        *pgxpool.Pool
	escalations *esc.Store
	directory   *directory.Store
	site        site.Site
	escalation  esc.Escalation
}

// The directory: two EMEA managers, one AMER manager, one global lead.
var people = []directory.Person{
	{Subject: "mgr-emea-1", Name: "Eva Emea", Email: "eva@example.com", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"EMEA"}},
	{Subject: "mgr-emea-2", Name: "Emil Emea", Email: "emil@example.com", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"EMEA", "APAC"}},
	{Subject: "mgr-amer-1", Name: "Ann Amer", Email: "ann@example.com", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"AMER"}},
	{Subject: "lead-1", Name: "Gil Lead", Email: "gil@example.com", Roles: []string{auth.RoleGlobalLead}},
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	f := &fixture{pool: pool, escalations: esc.NewStore(pool), directory: directory.NewStore(pool)}
	for _, p := range people {
		if err := f.directory.Upsert(ctx, p); err != nil {
			t.Fatalf("upsert %s: %v", p.Subject, err)
		}
	}
	sites := site.NewStore(pool, f.escalations)
	s, err := sites.Create(ctx, "tester", site.NewSite{Code: "PAR-HQ", Name: "Paris headquarters", Region: "EMEA",
		CountryCode: "FR", City: "Paris", Timezone: "Europe/Paris", Criticality: "HIGH", Latitude: 48.8566, Longitude: 2.3522}, allow)
	if err != nil {
		t.Fatalf("create site: %v", err)
	}
	res, err := sites.UpdateStatus(ctx, "mgr-emea-1", site.StatusChange{SiteID: s.ID, Level: site.LevelCritical,
		Posture: site.PostureLockdown, Note: "intruder on site", ExpectedVersion: s.Status.Version}, allow)
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if res.Escalation == nil || res.Escalation.Status != esc.StatusOpen {
		t.Fatalf("a CRITICAL status must open an escalation, got %+v", res.Escalation)
	}
	f.site, f.escalation = res.Site, *res.Escalation
	return f
}

// input is what the relay starts the workflow with for this escalation.
func (f *fixture) input(wait time.Duration) Input {
	e := f.escalation
	return Input{EscalationID: e.ID.String(), SiteID: e.SiteID.String(), SiteCode: f.site.Code, SiteName: f.site.Name,
		Region: e.Region, Level: e.TriggerLevel, Posture: e.TriggerPosture, Note: f.site.Status.Note,
		Policy: DefaultPolicy(e.Region, wait)}
}

func (f *fixture) activities(p *notify.Sender) *Activities {
	return &Activities{Escalations: f.escalations, Directory: f.directory, Sender: p, Log: historytest.QuietLogger()}
}

// countKind counts the timeline entries of kind.
func (f *fixture) countKind(t *testing.T, kind string) int {
	t.Helper()
	entries, err := f.escalations.Timeline(context.Background(), f.escalation.ID)
	if err != nil {
		t.Fatalf("timeline: %v", err)
	}
	n := 0
	for _, e := range entries {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// received is one webhook request as the receiver saw it.
type received struct {
	At        time.Time // when it arrived
	Header    http.Header
	Body      []byte
	Page      Page
	VerifyErr error // Verify's answer with the receiver's secret
}

// receiver is a real HTTP peer standing in for the paging provider. It
// verifies each request the way a provider would and answers Status.
type receiver struct {
	srv    *httptest.Server
	status atomic.Int32
	ch     chan received

	mu  sync.Mutex
	all []received
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{ch: make(chan received, 64)}
	r.status.Store(http.StatusNoContent)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		got := received{At: time.Now(), Header: req.Header.Clone(), Body: body}
		got.VerifyErr = notify.Verify(testSecret, req.Header.Get("X-Meridian-Timestamp"), req.Header.Get("X-Meridian-Signature"),
			body, time.Now(), 5*time.Minute)
		if req.Method != http.MethodPost {
			got.VerifyErr = &methodError{req.Method}
		}
		_ = json.Unmarshal(body, &got.Page)
		r.mu.Lock()
		r.all = append(r.all, got)
		r.mu.Unlock()
		select {
		case r.ch <- got:
		default:
		}
		w.WriteHeader(int(r.status.Load()))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

type methodError struct{ method string }

func (e *methodError) Error() string { return "unexpected method " + e.method }

func (r *receiver) pager() *notify.Sender {
	return notify.NewSender(testSecret, r.srv.URL, notify.SMTPConfig{})
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.all)
}

// next waits for the next request.
func (r *receiver) next(t *testing.T, within time.Duration) received {
	t.Helper()
	select {
	case got := <-r.ch:
		return got
	case <-time.After(within):
		t.Fatalf("no page arrived within %s", within)
		return received{}
	}
}

// none fails when a request arrives within d.
func (r *receiver) none(t *testing.T, d time.Duration, why string) {
	t.Helper()
	select {
	case got := <-r.ch:
		t.Fatalf("%s, but a page arrived: tier %d to %v", why, got.Page.Tier, subjects(got.Page.Recipients))
	case <-time.After(d):
	}
}

func subjects(ps []directory.Person) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Subject
	}
	return out
}

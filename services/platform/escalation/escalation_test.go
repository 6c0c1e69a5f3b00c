package escalation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/site"
	"meridian.dev/platform/testenv"
)

type env struct {
	pool  *pgxpool.Pool
	sites *site.Store
	escs  *escalation.Store
}

func newEnv(t *testing.T) env {
	t.Helper()
	pool := testenv.NewPool(t)
	escs := escalation.NewStore(pool)
	return env{pool: pool, sites: site.NewStore(pool, escs), escs: escs}
}

func allow(string) error { return nil }

// open creates a site in region and raises it to CRITICAL, which opens an
// escalation through the real status-change path.
func (e env) open(t *testing.T, code, region string) escalation.Escalation {
	t.Helper()
	ctx := context.Background()
	s, err := e.sites.Create(ctx, "creator", site.NewSite{Code: code, Name: code + " office", Region: region, CountryCode: "DE",
		City: "Berlin", Latitude: 52.52, Longitude: 13.40, Timezone: "Europe/Berlin", Criticality: "HIGH"}, allow)
	if err != nil {
		t.Fatalf("create site: %v", err)
	}
	res, err := e.sites.UpdateStatus(ctx, "rm", site.StatusChange{SiteID: s.ID, Level: site.LevelCritical,
		Posture: site.PostureLockdown, Note: "armed intruder", ExpectedVersion: 1}, allow)
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if res.Escalation == nil {
		t.Fatal("CRITICAL/LOCKDOWN opened no escalation")
	}
	return *res.Escalation
}

func (e env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

var tables = []string{"escalations", "escalation_timeline", "audit_log", "outbox"}

func (e env) rows(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tbl := range tables {
		out[tbl] = e.count(t, "SELECT count(*) FROM "+tbl)
	}
	return out
}

func (e env) wantUnchanged(t *testing.T, before map[string]int) {
	t.Helper()
	after := e.rows(t)
	for _, tbl := range tables {
		if after[tbl] != before[tbl] {
			t.Errorf("%s: %d rows, want %d (nothing written)", tbl, after[tbl], before[tbl])
		}
	}
}

// lastChanged returns the newest escalation.changed outbox payload for id.
func (e env) lastChanged(t *testing.T, id uuid.UUID) escalation.ChangedEvent {
	t.Helper()
	var payload []byte
	err := e.pool.QueryRow(context.Background(), `SELECT payload FROM outbox WHERE topic = $1
		AND payload->'escalation'->>'id' = $2 ORDER BY id DESC LIMIT 1`, outbox.TopicEscalationChanged, id.String()).Scan(&payload)
	if err != nil {
		t.Fatalf("escalation.changed row: %v", err)
	}
	var ev escalation.ChangedEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func (e env) lastAudit(t *testing.T, action, objectID string) (actor string, before, after escalation.Escalation) {
	t.Helper()
	var b, a []byte
	err := e.pool.QueryRow(context.Background(), `SELECT actor, before, after FROM audit_log WHERE action = $1 AND object_id = $2
		ORDER BY id DESC LIMIT 1`, action, objectID).Scan(&actor, &b, &a)
	if err != nil {
		t.Fatalf("audit row %s: %v", action, err)
	}
	if err := json.Unmarshal(b, &before); err != nil {
		t.Fatalf("audit before: %v", err)
	}
	if err := json.Unmarshal(a, &after); err != nil {
		t.Fatalf("audit after: %v", err)
	}
	return actor, before, after
}

func TestAcknowledgeThenResolve(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	esc := e.open(t, "BER-1", "EMEA")

	before := e.rows(t)
	var asked string
	acked, err := e.escs.Acknowledge(ctx, "lead-1", esc.ID, "I have it", func(region string) error { asked = region; return nil })
	if err != nil {
		t.Fatalf("Acknowledge: %v", err)
	}
	if asked != "EMEA" {
		t.Errorf("authorize asked about %q, want EMEA", asked)
	}
	if acked.Status != escalation.StatusAcknowledged || acked.AcknowledgedBy == nil || *acked.AcknowledgedBy != "lead-1" || acked.ID != esc.ID {
		t.Errorf("acknowledged = %+v", acked)
	}
	after := e.rows(t)
	for tbl, want := range map[string]int{"escalations": 0, "escalation_timeline": 1, "audit_log": 1, "outbox": 1} {
		if d := after[tbl] - before[tbl]; d != want {
			t.Errorf("acknowledge: %s +%d, want +%d", tbl, d, want)
		}
	}
	actor, ab, aa := e.lastAudit(t, "escalation.acknowledge", esc.ID.String())
	if actor != "lead-1" || ab.Status != escalation.StatusOpen || aa.Status != escalation.StatusAcknowledged {
		t.Errorf("audit: actor %q before %s after %s", actor, ab.Status, aa.Status)
	}
	ev := e.lastChanged(t, esc.ID)
	if ev.Signal != escalation.SignalAcknowledge || ev.Actor != "lead-1" || ev.Note != "I have it" || ev.Escalation.Status != escalation.StatusAcknowledged {
		t.Errorf("changed event = %+v", ev)
	}

	// A second acknowledgement is a conflict naming who acknowledged.
	before = e.rows(t)
	_, err = e.escs.Acknowledge(ctx, "lead-2", esc.ID, "", allow)
	if !errors.Is(err, escalation.ErrAlreadyAcked) || fault.CodeOf(err) != fault.Conflict {
		t.Fatalf("second Acknowledge = %v, want ErrAlreadyAcked (CONFLICT)", err)
	}
	if !strings.Contains(err.Error(), "lead-1") {
		t.Errorf("conflict %q does not say who acknowledged", err)
	}
	e.wantUnchanged(t, before)

	resolved, err := e.escs.Resolve(ctx, "lead-2", esc.ID, "police on site, all clear", allow)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if resolved.Status != escalation.StatusResolved || resolved.AcknowledgedBy == nil || *resolved.AcknowledgedBy != "lead-1" {
		t.Errorf("resolved = %+v", resolved)
	}
	ev = e.lastChanged(t, esc.ID)
	if ev.Signal != escalation.SignalResolve || ev.Actor != "lead-2" || ev.Escalation.Status != escalation.StatusResolved {
		t.Errorf("changed event = %+v", ev)
	}
	actor, rb, ra := e.lastAudit(t, "escalation.resolve", esc.ID.String())
	if actor != "lead-2" || rb.Status != escalation.StatusAcknowledged || ra.Status != escalation.StatusResolved {
		t.Errorf("resolve audit: actor %q before %s after %s", actor, rb.Status, ra.Status)
	}

	tl, err := e.escs.Timeline(ctx, esc.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, s := range tl {
		kinds = append(kinds, s.Kind)
	}
	if got := strings.Join(kinds, ","); got != "OPENED,ACKNOWLEDGED,RESOLVED" {
		t.Errorf("timeline kinds = %s", got)
	}
	if tl[1].Actor != "lead-1" || tl[1].Note != "I have it" || tl[2].Actor != "lead-2" {
		t.Errorf("timeline = %+v", tl)
	}

	// Nothing moves a resolved escalation.
	before = e.rows(t)
	for name, call := range map[string]func() (escalation.Escalation, error){
		"acknowledge": func() (escalation.Escalation, error) { return e.escs.Acknowledge(ctx, "lead-3", esc.ID, "", allow) },
		"resolve":     func() (escalation.Escalation, error) { return e.escs.Resolve(ctx, "lead-3", esc.ID, "", allow) },
	} {
		if _, err := call(); !errors.Is(err, escalation.ErrAlreadyResolved) || fault.CodeOf(err) != fault.Conflict {
			t.Errorf("%s after resolve = %v, want ErrAlreadyResolved (CONFLICT)", name, err)
		}
	}
	e.wantUnchanged(t, before)
	got, err := e.escs.Get(ctx, esc.ID)
	if err != nil || got.Status != escalation.StatusResolved {
		t.Errorf("Get = %+v, %v", got, err)
	}
}

func TestResolveWithoutAcknowledge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	esc := e.open(t, "MUC-1", "EMEA")
	res, err := e.escs.Resolve(context.Background(), "lead", esc.ID, "false alarm", allow)
	if err != nil || res.Status != escalation.StatusResolved || res.AcknowledgedBy != nil {
		t.Fatalf("Resolve from OPEN = %+v, %v", res, err)
	}
	if n := e.count(t, "SELECT count(*) FROM escalations WHERE id = $1 AND resolved_by = 'lead' AND resolved_at IS NOT NULL", esc.ID); n != 1 {
		t.Errorf("resolved_by/resolved_at not stored")
	}
}

func TestTransitionRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	esc := e.open(t, "HAM-1", "EMEA")
	errDenied := errors.New("not your region")
	tests := []struct {
		name      string
		id        uuid.UUID
		note      string
		authorize escalation.Authorize
		want      error
		field     string
	}{
		{"unknown escalation", uuid.New(), "", allow, escalation.ErrNotFound, ""},
		{"authorize refuses", esc.ID, "", func(string) error { return errDenied }, errDenied, ""},
		{"note of 2001 characters", esc.ID, strings.Repeat("x", 2001), allow, nil, "note"},
		{"note of 2001 multi-byte characters", esc.ID, strings.Repeat("ß", 2001), allow, nil, "note"},
	}
	for _, tt := range tests {
		for _, op := range []string{"acknowledge", "resolve"} {
			t.Run(tt.name+"/"+op, func(t *testing.T) {
				before := e.rows(t)
				f := e.escs.Acknowledge
				if op == "resolve" {
					f = e.escs.Resolve
				}
				_, err := f(ctx, "lead", tt.id, tt.note, tt.authorize)
				if tt.field != "" {
					var fe *fault.Error
					if !errors.As(err, &fe) || fe.Code != fault.BadUserInput || fe.Field != tt.field {
						t.Fatalf("got %v, want BAD_USER_INPUT on %s", err, tt.field)
					}
				} else if !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
				e.wantUnchanged(t, before)
			})
		}
	}
	got, err := e.escs.Get(ctx, esc.ID)
	if err != nil || got.Status != escalation.StatusOpen {
		t.Fatalf("escalation moved: %+v, %v", got, err)
	}
	// 2000 characters, multi-byte, is accepted.
	long := strings.Repeat("ß€😀x", 500)
	if _, err := e.escs.Acknowledge(ctx, "lead", esc.ID, long, allow); err != nil {
		t.Fatalf("Acknowledge with a 2000-character note: %v", err)
	}
	tl, err := e.escs.Timeline(ctx, esc.ID)
	if err != nil || tl[len(tl)-1].Note != long {
		t.Errorf("note not stored intact: %v", err)
	}
	if _, err := e.escs.Get(ctx, uuid.New()); !errors.Is(err, escalation.ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}
}

func TestRecordStep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	esc := e.open(t, "FRA-1", "EMEA")
	changed := func() int {
		return e.count(t, `SELECT count(*) FROM outbox WHERE topic = $1 AND payload->'escalation'->>'id' = $2`,
			outbox.TopicEscalationChanged, esc.ID.String())
	}
	timeline := func() int {
		return e.count(t, "SELECT count(*) FROM escalation_timeline WHERE escalation_id = $1", esc.ID)
	}
	tier := func() int32 {
		got, err := e.escs.Get(ctx, esc.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Tier
	}
	baseTimeline, baseChanged := timeline(), changed()

	step := escalation.Step{EscalationID: esc.ID, Kind: escalation.KindPaged, Actor: "meridian", Note: "tier 2 paged", Tier: 2,
		DedupeKey: esc.ID.String() + ":tier2:round1:paged"}
	for i := range 2 {
		if err := e.escs.RecordStep(ctx, step); err != nil {
			t.Fatalf("RecordStep attempt %d: %v", i+1, err)
		}
	}
	if got := timeline() - baseTimeline; got != 1 {
		t.Errorf("same DedupeKey twice wrote %d timeline rows, want 1", got)
	}
	if got := changed() - baseChanged; got != 1 {
		t.Errorf("same DedupeKey twice announced %d changes, want 1", got)
	}
	if got := tier(); got != 2 {
		t.Errorf("tier = %d, want 2", got)
	}
	if ev := e.lastChanged(t, esc.ID); ev.Escalation.Tier != 2 || ev.Signal != "" {
		t.Errorf("changed event = %+v, want tier 2 and no signal", ev)
	}

	// GREATEST: a lower or zero tier never lowers it; a higher one raises it.
	for _, s := range []struct {
		tier int32
		want int32
	}{{1, 2}, {0, 2}, {3, 3}, {2, 3}} {
		err := e.escs.RecordStep(ctx, escalation.Step{EscalationID: esc.ID, Kind: escalation.KindTimedOut, Actor: "meridian",
			Tier: s.tier, DedupeKey: fmt.Sprintf("%s:step-tier-%d-%d", esc.ID, s.tier, s.want)})
		if err != nil {
			t.Fatalf("RecordStep tier %d: %v", s.tier, err)
		}
		if got := tier(); got != s.want {
			t.Errorf("after a tier-%d step: tier = %d, want %d", s.tier, got, s.want)
		}
	}
	if got := timeline() - baseTimeline; got != 5 {
		t.Errorf("timeline rows = %d, want 5", got)
	}

	// Steps without a key are not deduplicated against each other.
	for range 2 {
		if err := e.escs.RecordStep(ctx, escalation.Step{EscalationID: esc.ID, Kind: escalation.KindPageFailed, Actor: "meridian"}); err != nil {
			t.Fatalf("RecordStep without key: %v", err)
		}
	}
	if got := timeline() - baseTimeline; got != 7 {
		t.Errorf("two keyless steps: timeline rows = %d, want 7", got)
	}

	before := e.rows(t)
	if err := e.escs.RecordStep(ctx, escalation.Step{EscalationID: uuid.New(), Kind: escalation.KindPaged, Actor: "meridian", DedupeKey: "x"}); err == nil {
		t.Error("RecordStep for an unknown escalation succeeded")
	}
	e.wantUnchanged(t, before)
}

func TestList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	a := e.open(t, "AM-1", "AMER")
	b := e.open(t, "EM-1", "EMEA")
	c := e.open(t, "EM-2", "EMEA")
	if _, err := e.escs.Resolve(ctx, "lead", b.ID, "", allow); err != nil {
		t.Fatal(err)
	}
	ids := func(list []escalation.Escalation) []uuid.UUID {
		var out []uuid.UUID
		for _, x := range list {
			out = append(out, x.ID)
		}
		return out
	}
	tests := []struct {
		f    escalation.Filter
		want []uuid.UUID
	}{
		{escalation.Filter{}, []uuid.UUID{c.ID, b.ID, a.ID}},
		{escalation.Filter{Region: "EMEA"}, []uuid.UUID{c.ID, b.ID}},
		{escalation.Filter{Status: escalation.StatusOpen}, []uuid.UUID{c.ID, a.ID}},
		{escalation.Filter{Region: "EMEA", Status: escalation.StatusResolved}, []uuid.UUID{b.ID}},
		{escalation.Filter{Region: "APAC"}, nil},
	}
	for _, tt := range tests {
		list, more, err := e.escs.List(ctx, tt.f, 10, "")
		if err != nil {
			t.Fatalf("List(%+v): %v", tt.f, err)
		}
		if got := ids(list); fmt.Sprint(got) != fmt.Sprint(tt.want) || more {
			t.Errorf("List(%+v) = %v (more %v), want %v", tt.f, got, more, tt.want)
		}
	}
	var paged []uuid.UUID
	after := ""
	for range 5 {
		list, more, err := e.escs.List(ctx, escalation.Filter{}, 2, after)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, ids(list)...)
		if !more {
			break
		}
		after = list[len(list)-1].ID.String()
	}
	if fmt.Sprint(paged) != fmt.Sprint([]uuid.UUID{c.ID, b.ID, a.ID}) {
		t.Errorf("paged list = %v", paged)
	}
	if _, _, err := e.escs.List(ctx, escalation.Filter{}, 2, "not-a-uuid"); fault.CodeOf(err) != fault.BadUserInput {
		t.Errorf("List with a bad cursor = %v, want BAD_USER_INPUT", err)
	}
}

package site_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/site"
	"meridian.dev/platform/testenv"
)

// ---------------------------------------------------------------- unit tests

func goodNewSite() site.NewSite {
	return site.NewSite{
		Code: "PAR-HQ", Name: "Paris headquarters", Region: "EMEA", CountryCode: "FR", City: "Paris",
		Latitude: 48.8566, Longitude: 2.3522, Timezone: "Europe/Paris", Criticality: "HIGH",
	}
}

// wantInvalid fails unless err is a BAD_USER_INPUT fault naming field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want BAD_USER_INPUT on %q", field)
	}
	var f *fault.Error
	if !errors.As(err, &f) {
		t.Fatalf("got %v (%T), want a *fault.Error on %q", err, err, field)
	}
	if f.Code != fault.BadUserInput || f.Field != field {
		t.Fatalf("got code %s field %q (%v), want BAD_USER_INPUT on %q", f.Code, f.Field, err, field)
	}
}

func TestNewSiteValidateRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(*site.NewSite)
		field string
	}{
		{"empty code", func(n *site.NewSite) { n.Code = "" }, "code"},
		{"one-character code", func(n *site.NewSite) { n.Code = "P" }, "code"},
		{"code with space", func(n *site.NewSite) { n.Code = "PAR HQ" }, "code"},
		{"code starting with dash", func(n *site.NewSite) { n.Code = "-PAR" }, "code"},
		{"code of 33 characters", func(n *site.NewSite) { n.Code = strings.Repeat("A", 33) }, "code"},
		{"code with accent", func(n *site.NewSite) { n.Code = "PARÎS" }, "code"},
		{"empty name", func(n *site.NewSite) { n.Name = "" }, "name"},
		{"blank name", func(n *site.NewSite) { n.Name = "   " }, "name"},
		{"name of 201 runes", func(n *site.NewSite) { n.Name = strings.Repeat("é", 201) }, "name"},
		{"empty city", func(n *site.NewSite) { n.City = "" }, "city"},
		{"blank city", func(n *site.NewSite) { n.City = "\t" }, "city"},
		{"city of 201 runes", func(n *site.NewSite) { n.City = strings.Repeat("東", 201) }, "city"},
		{"country XX", func(n *site.NewSite) { n.CountryCode = "XX" }, "countryCode"},
		{"country usa", func(n *site.NewSite) { n.CountryCode = "usa" }, "countryCode"},
		{"country empty", func(n *site.NewSite) { n.CountryCode = "" }, "countryCode"},
		{"country UK", func(n *site.NewSite) { n.CountryCode = "UK" }, "countryCode"},
		{"latitude 91", func(n *site.NewSite) { n.Latitude = 91 }, "latitude"},
		{"latitude -90.0001", func(n *site.NewSite) { n.Latitude = -90.0001 }, "latitude"},
		{"latitude NaN", func(n *site.NewSite) { n.Latitude = math.NaN() }, "latitude"},
		{"latitude +Inf", func(n *site.NewSite) { n.Latitude = math.Inf(1) }, "latitude"},
		{"longitude -181", func(n *site.NewSite) { n.Longitude = -181 }, "longitude"},
		{"longitude 180.5", func(n *site.NewSite) { n.Longitude = 180.5 }, "longitude"},
		{"longitude NaN", func(n *site.NewSite) { n.Longitude = math.NaN() }, "longitude"},
		{"timezone Mars/Base", func(n *site.NewSite) { n.Timezone = "Mars/Base" }, "timezone"},
		{"timezone UTC+2", func(n *site.NewSite) { n.Timezone = "UTC+2" }, "timezone"},
		{"timezone Local", func(n *site.NewSite) { n.Timezone = "Local" }, "timezone"},
		{"timezone empty", func(n *site.NewSite) { n.Timezone = "" }, "timezone"},
		{"timezone abbreviation", func(n *site.NewSite) { n.Timezone = "CET" }, "timezone"},
		{"criticality EXTREME", func(n *site.NewSite) { n.Criticality = "EXTREME" }, "criticality"},
		{"criticality empty", func(n *site.NewSite) { n.Criticality = "" }, "criticality"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := goodNewSite()
			tt.edit(&n)
			wantInvalid(t, n.Validate(), tt.field)
		})
	}
}

func TestNewSiteValidateAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*site.NewSite)
	}{
		{"good", func(*site.NewSite) {}},
		{"two-character code", func(n *site.NewSite) { n.Code = "P1" }},
		{"32-character code", func(n *site.NewSite) { n.Code = strings.Repeat("A", 32) }},
		{"200-rune name", func(n *site.NewSite) { n.Name = strings.Repeat("é", 200) }},
		{"poles and antimeridian", func(n *site.NewSite) { n.Latitude, n.Longitude = -90, 180 }},
		{"other pole", func(n *site.NewSite) { n.Latitude, n.Longitude = 90, -180 }},
		{"UTC", func(n *site.NewSite) { n.Timezone = "UTC" }},
		{"three-part zone", func(n *site.NewSite) { n.Timezone = "America/Argentina/Buenos_Aires" }},
		{"LOW", func(n *site.NewSite) { n.Criticality = "LOW" }},
		{"CRITICAL", func(n *site.NewSite) { n.Criticality = "CRITICAL" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := goodNewSite()
			tt.edit(&n)
			if err := n.Validate(); err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
		})
	}
}

func TestNewSiteValidateNormalises(t *testing.T) {
	t.Parallel()
	n := goodNewSite()
	n.Code, n.Name, n.City, n.Region, n.CountryCode = "  par-hq ", "  Paris HQ ", " Paris ", " emea ", " fr "
	if err := n.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	if n.Code != "PAR-HQ" || n.Name != "Paris HQ" || n.City != "Paris" || n.Region != "EMEA" || n.CountryCode != "FR" {
		t.Fatalf("not normalised: %+v", n)
	}
}

func goodChange() site.StatusChange {
	return site.StatusChange{SiteID: uuid.New(), Level: site.LevelHigh, Posture: site.PostureRestricted, Note: "protest nearby", ExpectedVersion: 1}
}

func TestStatusChangeValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(*site.StatusChange)
		field string // "" means valid
	}{
		{"good", func(*site.StatusChange) {}, ""},
		{"unknown level", func(c *site.StatusChange) { c.Level = "SEVERE" }, "level"},
		{"empty level", func(c *site.StatusChange) { c.Level = "" }, "level"},
		{"lowercase level", func(c *site.StatusChange) { c.Level = "critical" }, "level"},
		{"unknown posture", func(c *site.StatusChange) { c.Posture = "PANIC" }, "posture"},
		{"empty posture", func(c *site.StatusChange) { c.Posture = "" }, "posture"},
		{"note of 2001 ASCII runes", func(c *site.StatusChange) { c.Note = strings.Repeat("a", 2001) }, "note"},
		{"note of 2001 three-byte runes", func(c *site.StatusChange) { c.Note = strings.Repeat("€", 2001) }, "note"},
		{"note of 2001 four-byte runes", func(c *site.StatusChange) { c.Note = strings.Repeat("😀", 2001) }, "note"},
		{"note of 2000 ASCII runes", func(c *site.StatusChange) { c.Note = strings.Repeat("a", 2000) }, ""},
		{"note of 2000 three-byte runes", func(c *site.StatusChange) { c.Note = strings.Repeat("€", 2000) }, ""},
		{"note of 2000 four-byte runes", func(c *site.StatusChange) { c.Note = strings.Repeat("😀", 2000) }, ""},
		{"note of 2000 mixed runes", func(c *site.StatusChange) { c.Note = strings.Repeat("a€😀é", 500) }, ""},
		{"expectedVersion 0", func(c *site.StatusChange) { c.ExpectedVersion = 0 }, "expectedVersion"},
		{"expectedVersion -1", func(c *site.StatusChange) { c.ExpectedVersion = -1 }, "expectedVersion"},
		{"clientMutationId of 129", func(c *site.StatusChange) { c.ClientMutationID = strings.Repeat("m", 129) }, "clientMutationId"},
		{"clientMutationId of 128", func(c *site.StatusChange) { c.ClientMutationID = strings.Repeat("m", 128) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := goodChange()
			tt.edit(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			wantInvalid(t, err, tt.field)
		})
	}
}

func TestIsCountryCode(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"FR", "US", "GB", "JP", "ZW", "AD", "SS", "AX"} {
		if !site.IsCountryCode(c) {
			t.Errorf("IsCountryCode(%q) = false, want true", c)
		}
	}
	for _, c := range []string{"XX", "usa", "USA", "us", "fr", "UK", "EU", "", "F", " FR"} {
		if site.IsCountryCode(c) {
			t.Errorf("IsCountryCode(%q) = true, want false", c)
		}
	}
	n := 0
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			if site.IsCountryCode(string([]rune{a, b})) {
				n++
			}
		}
	}
	if n != 249 {
		t.Errorf("%d assigned codes, want the 249 of ISO 3166-1", n)
	}
}

func TestStatusEscalates(t *testing.T) {
	t.Parallel()
	levels := []site.Level{site.LevelNormal, site.LevelElevated, site.LevelHigh, site.LevelCritical}
	postures := []site.Posture{site.PostureOpen, site.PostureRestricted, site.PostureLockdown, site.PostureEvacuated, site.PostureClosed}
	for _, l := range levels {
		for _, p := range postures {
			want := l == site.LevelCritical || p == site.PostureLockdown || p == site.PostureEvacuated
			if got := (site.Status{Level: l, Posture: p}).Escalates(); got != want {
				t.Errorf("%s/%s Escalates = %v, want %v", l, p, got, want)
			}
		}
	}
}

func TestClampFirst(t *testing.T) {
	t.Parallel()
	for _, ok := range []int32{0, 1, site.MaxPageSize} {
		if n, err := site.ClampFirst(ok); err != nil || n != int(ok) {
			t.Errorf("ClampFirst(%d) = %d, %v", ok, n, err)
		}
	}
	for _, bad := range []int32{-1, site.MaxPageSize + 1} {
		_, err := site.ClampFirst(bad)
		wantInvalid(t, err, "first")
	}
}

// --------------------------------------------------------- integration tests

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

func (e env) create(t *testing.T, code, region string) site.Site {
	t.Helper()
	n := goodNewSite()
	n.Code, n.Region = code, region
	s, err := e.sites.Create(context.Background(), "creator", n, allow)
	if err != nil {
		t.Fatalf("Create %s: %v", code, err)
	}
	return s
}

func (e env) update(t *testing.T, s site.Site, version int32, level site.Level, posture site.Posture) site.StatusResult {
	t.Helper()
	res, err := e.sites.UpdateStatus(context.Background(), "manager", site.StatusChange{
		SiteID: s.ID, Level: level, Posture: posture, Note: fmt.Sprintf("v%d", version+1), ExpectedVersion: version,
	}, allow)
	if err != nil {
		t.Fatalf("UpdateStatus %s v%d → %s/%s: %v", s.Code, version, level, posture, err)
	}
	return res
}

func (e env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

var tables = []string{"sites", "site_status_history", "audit_log", "outbox", "escalations", "escalation_timeline", "mutation_receipts"}

// rows counts every table a change may write.
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

func TestCreateAndGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	n := goodNewSite()
	n.Code, n.Region = " par-hq ", " emea "
	var askedRegion string
	created, err := e.sites.Create(ctx, "alice", n, func(region string) error { askedRegion = region; return nil })
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if askedRegion != "EMEA" {
		t.Errorf("authorize asked about region %q, want EMEA", askedRegion)
	}
	if created.Code != "PAR-HQ" || created.Region != "EMEA" || created.Name != n.Name || created.City != "Paris" ||
		created.CountryCode != "FR" || created.Latitude != n.Latitude || created.Longitude != n.Longitude ||
		created.Timezone != "Europe/Paris" || created.Criticality != "HIGH" {
		t.Errorf("created = %+v", created)
	}
	if st := created.Status; st.Level != site.LevelNormal || st.Posture != site.PostureOpen || st.Version != 1 || st.UpdatedBy != "alice" || st.UpdatedAt.IsZero() {
		t.Errorf("initial status = %+v, want NORMAL/OPEN v1 by alice", st)
	}
	got, err := e.sites.Get(ctx, created.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.ID != created.ID || got.Code != created.Code || got.Status.Version != 1 || !got.Status.UpdatedAt.Equal(created.Status.UpdatedAt) {
		t.Errorf("Get = %+v, want %+v", got, created)
	}
	if n := e.count(t, "SELECT count(*) FROM site_status_history WHERE site_id = $1 AND version = 1", created.ID); n != 1 {
		t.Errorf("history rows for v1 = %d, want 1", n)
	}
	if n := e.count(t, "SELECT count(*) FROM audit_log WHERE action = 'site.create' AND actor = 'alice' AND object_id = $1 AND before IS NULL", created.ID.String()); n != 1 {
		t.Errorf("create audit rows = %d, want 1", n)
	}
	if _, err := e.sites.Get(ctx, uuid.New()); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}
}

func TestCreateDuplicateCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "DUP-1", "AMER")
	before := e.rows(t)
	n := goodNewSite()
	n.Code, n.Region = "dup-1", "APAC"
	_, err := e.sites.Create(context.Background(), "bob", n, allow)
	if !errors.Is(err, site.ErrCodeUsed) {
		t.Fatalf("Create duplicate = %v, want ErrCodeUsed", err)
	}
	if fault.CodeOf(err) != fault.Conflict {
		t.Errorf("CodeOf = %s, want CONFLICT", fault.CodeOf(err))
	}
	e.wantUnchanged(t, before)
}

func TestCreateUnknownRegion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := e.rows(t)
	n := goodNewSite()
	n.Region = "MARS"
	_, err := e.sites.Create(context.Background(), "bob", n, allow)
	wantInvalid(t, err, "region")
	e.wantUnchanged(t, before)
	for _, tbl := range []string{"sites", "audit_log", "outbox"} {
		if before[tbl] != 0 {
			t.Errorf("fresh database has %d rows in %s", before[tbl], tbl)
		}
	}
}

func TestCreateInvalidOrUnauthorizedWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := e.rows(t)
	errDenied := errors.New("denied")
	if _, err := e.sites.Create(context.Background(), "bob", goodNewSite(), func(string) error { return errDenied }); !errors.Is(err, errDenied) {
		t.Errorf("Create with refusing authorize = %v, want its error", err)
	}
	bad := goodNewSite()
	bad.Latitude = 95
	called := false
	_, err := e.sites.Create(context.Background(), "bob", bad, func(string) error { called = true; return nil })
	wantInvalid(t, err, "latitude")
	if called {
		t.Error("authorize was asked about an invalid site")
	}
	e.wantUnchanged(t, before)
}

type auditRow struct {
	Actor, Action, ObjectType, ObjectID string
	Before, After                       []byte
	Xmin                                string
}

func (e env) auditRows(t *testing.T, action, objectID string) []auditRow {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT actor, action, object_type, object_id, before, after, xmin::text
		FROM audit_log WHERE action = $1 AND object_id = $2 ORDER BY id`, action, objectID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var a auditRow
		if err := rows.Scan(&a.Actor, &a.Action, &a.ObjectType, &a.ObjectID, &a.Before, &a.After, &a.Xmin); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type outboxRow struct {
	ID      int64
	Topic   string
	Payload []byte
	Xmin    string
}

func (e env) outboxRows(t *testing.T, topic string) []outboxRow {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT id, topic, payload, xmin::text FROM outbox WHERE topic = $1 ORDER BY id`, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var o outboxRow
		if err := rows.Scan(&o.ID, &o.Topic, &o.Payload, &o.Xmin); err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUpdateStatusWritesEverythingInOneTransaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.create(t, "LON-1", "EMEA")
	before := e.rows(t)
	var askedRegion string
	res, err := e.sites.UpdateStatus(ctx, "rm-emea", site.StatusChange{
		SiteID: s.ID, Level: site.LevelHigh, Posture: site.PostureRestricted, Note: "road closures", ExpectedVersion: 1,
	}, func(region string) error { askedRegion = region; return nil })
	if err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
	if askedRegion != "EMEA" {
		t.Errorf("authorize asked about %q, want the site's region EMEA", askedRegion)
	}
	if res.Replayed || res.Escalation != nil {
		t.Errorf("Replayed=%v Escalation=%v, want a fresh, non-escalating change", res.Replayed, res.Escalation)
	}
	if st := res.Site.Status; st.Version != 2 || st.Level != site.LevelHigh || st.Posture != site.PostureRestricted || st.Note != "road closures" || st.UpdatedBy != "rm-emea" {
		t.Errorf("result status = %+v", st)
	}
	if res.Previous.Version != 1 || res.Previous.Level != site.LevelNormal {
		t.Errorf("previous = %+v, want NORMAL v1", res.Previous)
	}
	got, err := e.sites.Get(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Version != 2 || got.Status.Level != site.LevelHigh || !got.Status.UpdatedAt.Equal(res.Site.Status.UpdatedAt) {
		t.Errorf("stored status = %+v, want %+v", got.Status, res.Site.Status)
	}

	after := e.rows(t)
	wantDelta := map[string]int{"site_status_history": 1, "audit_log": 1, "outbox": 1}
	for _, tbl := range tables {
		if d := after[tbl] - before[tbl]; d != wantDelta[tbl] {
			t.Errorf("%s: %d new rows, want %d", tbl, d, wantDelta[tbl])
		}
	}

	var histXmin, siteXmin string
	var hist site.Status
	if err := e.pool.QueryRow(ctx, `SELECT level, posture, note, version, changed_by, xmin::text FROM site_status_history
		WHERE site_id = $1 AND version = 2`, s.ID).Scan(&hist.Level, &hist.Posture, &hist.Note, &hist.Version, &hist.UpdatedBy, &histXmin); err != nil {
		t.Fatalf("history row: %v", err)
	}
	if hist.Level != site.LevelHigh || hist.Posture != site.PostureRestricted || hist.Note != "road closures" || hist.UpdatedBy != "rm-emea" {
		t.Errorf("history row = %+v", hist)
	}
	if err := e.pool.QueryRow(ctx, `SELECT xmin::text FROM sites WHERE id = $1`, s.ID).Scan(&siteXmin); err != nil {
		t.Fatal(err)
	}

	audits := e.auditRows(t, "site.update_status", s.ID.String())
	if len(audits) != 1 {
		t.Fatalf("audit rows = %d, want 1", len(audits))
	}
	a := audits[0]
	if a.Actor != "rm-emea" || a.ObjectType != "Site" {
		t.Errorf("audit row = %+v", a)
	}
	var auditBefore, auditAfter site.Status
	if err := json.Unmarshal(a.Before, &auditBefore); err != nil {
		t.Fatalf("audit before: %v (%s)", err, a.Before)
	}
	if err := json.Unmarshal(a.After, &auditAfter); err != nil {
		t.Fatalf("audit after: %v (%s)", err, a.After)
	}
	if auditBefore.Version != 1 || auditBefore.Level != site.LevelNormal || auditAfter.Version != 2 || auditAfter.Level != site.LevelHigh || auditAfter.Note != "road closures" {
		t.Errorf("audit before=%+v after=%+v", auditBefore, auditAfter)
	}

	events := e.outboxRows(t, outbox.TopicSiteStatusChanged)
	if len(events) != 1 {
		t.Fatalf("outbox %s rows = %d, want 1", outbox.TopicSiteStatusChanged, len(events))
	}
	var ev site.StatusChangedEvent
	if err := json.Unmarshal(events[0].Payload, &ev); err != nil {
		t.Fatalf("outbox payload: %v", err)
	}
	if ev.Site.ID != s.ID || ev.Site.Code != "LON-1" || ev.Site.Region != "EMEA" || ev.Site.Status.Version != 2 || ev.Previous.Version != 1 {
		t.Errorf("outbox payload = %+v", ev)
	}

	// Every row carries the ID of the transaction that wrote it: one ID,
	// one transaction.
	if siteXmin != histXmin || siteXmin != a.Xmin || siteXmin != events[0].Xmin {
		t.Errorf("written by different transactions: site %s, history %s, audit %s, outbox %s", siteXmin, histXmin, a.Xmin, events[0].Xmin)
	}
}

func TestUpdateStatusRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.create(t, "NYC-1", "AMER")
	e.update(t, s, 1, site.LevelElevated, site.PostureOpen) // now at version 2
	errDenied := errors.New("not your region")

	tests := []struct {
		name      string
		change    site.StatusChange
		authorize site.Authorize
		want      error
	}{
		{"stale version", site.StatusChange{SiteID: s.ID, Level: site.LevelHigh, Posture: site.PostureOpen, ExpectedVersion: 1}, allow, site.ErrConflict},
		{"future version", site.StatusChange{SiteID: s.ID, Level: site.LevelHigh, Posture: site.PostureOpen, ExpectedVersion: 3}, allow, site.ErrConflict},
		{"stale version with mutation id", site.StatusChange{SiteID: s.ID, Level: site.LevelHigh, Posture: site.PostureOpen, ExpectedVersion: 1, ClientMutationID: "fresh-id"}, allow, site.ErrConflict},
		{"unknown site", site.StatusChange{SiteID: uuid.New(), Level: site.LevelHigh, Posture: site.PostureOpen, ExpectedVersion: 1}, allow, site.ErrNotFound},
		{"authorize refuses", site.StatusChange{SiteID: s.ID, Level: site.LevelCritical, Posture: site.PostureLockdown, ExpectedVersion: 2, ClientMutationID: "denied-id"}, func(string) error { return errDenied }, errDenied},
	}
	// Sequential: each case checks that nothing at all was written.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.rows(t)
			res, err := e.sites.UpdateStatus(ctx, "manager", tt.change, tt.authorize)
			if !errors.Is(err, tt.want) {
				t.Fatalf("UpdateStatus = %+v, %v; want %v", res, err, tt.want)
			}
			e.wantUnchanged(t, before)
			got, err := e.sites.Get(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status.Version != 2 || got.Status.Level != site.LevelElevated {
				t.Errorf("site status moved to %+v", got.Status)
			}
		})
	}
	if code := fault.CodeOf(fmt.Errorf("resolver: %w", site.ErrConflict)); code != fault.Conflict {
		t.Errorf("ErrConflict code = %s", code)
	}
	if code := fault.CodeOf(site.ErrNotFound); code != fault.NotFound {
		t.Errorf("ErrNotFound code = %s", code)
	}
}

func TestUpdateStatusIdempotentReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.create(t, "SIN-1", "APAC")
	change := site.StatusChange{SiteID: s.ID, Level: site.LevelElevated, Posture: site.PostureRestricted, Note: "typhoon watch",
		ExpectedVersion: 1, ClientMutationID: "mut-42"}
	first, err := e.sites.UpdateStatus(ctx, "rm-apac", change, allow)
	if err != nil {
		t.Fatalf("first: %v", err)
	}
	if first.Replayed {
		t.Fatal("first call reported Replayed")
	}
	before := e.rows(t)
	second, err := e.sites.UpdateStatus(ctx, "rm-apac", change, allow)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if !second.Replayed {
		t.Fatal("retry with the same clientMutationId was not Replayed")
	}
	if second.Site.Status.Version != 2 || second.Site.ID != s.ID || second.Site.Status.Note != "typhoon watch" {
		t.Errorf("replayed site = %+v, want version 2", second.Site)
	}
	e.wantUnchanged(t, before)
	if n := e.count(t, "SELECT count(*) FROM site_status_history WHERE site_id = $1 AND version > 1", s.ID); n != 1 {
		t.Errorf("history rows after retry = %d, want 1", n)
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE topic = $1", outbox.TopicSiteStatusChanged); n != 1 {
		t.Errorf("outbox rows after retry = %d, want 1", n)
	}

	// The receipt belongs to its subject: another caller using the same
	// clientMutationId makes its own change.
	other, err := e.sites.UpdateStatus(ctx, "someone-else", site.StatusChange{SiteID: s.ID, Level: site.LevelHigh,
		Posture: site.PostureRestricted, ExpectedVersion: 2, ClientMutationID: "mut-42"}, allow)
	if err != nil || other.Replayed || other.Site.Status.Version != 3 {
		t.Errorf("other subject, same id = %+v, %v; want a fresh change to version 3", other, err)
	}
}

func TestUpdateStatusConcurrentConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.create(t, "RACE-1", "EMEA")
	const n = 8
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = e.sites.UpdateStatus(ctx, fmt.Sprintf("manager-%d", i), site.StatusChange{
				SiteID: s.ID, Level: site.LevelHigh, Posture: site.PostureRestricted, Note: fmt.Sprint(i), ExpectedVersion: 1,
			}, allow)
		})
	}
	close(start)
	wg.Wait()
	ok, conflicts := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, site.ErrConflict):
			conflicts++
		default:
			t.Errorf("goroutine %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if ok != 1 || conflicts != n-1 {
		t.Fatalf("%d succeeded and %d conflicted, want 1 and %d", ok, conflicts, n-1)
	}
	got, err := e.sites.Get(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Version != 2 {
		t.Errorf("version = %d, want 2", got.Status.Version)
	}
	if c := e.count(t, "SELECT count(*) FROM site_status_history WHERE site_id = $1", s.ID); c != 2 {
		t.Errorf("history rows = %d, want 2 (create + one change)", c)
	}
	if c := e.count(t, "SELECT count(*) FROM outbox"); c != 1 {
		t.Errorf("outbox rows = %d, want 1", c)
	}
}

// TestUpdateStatusConcurrentRetry sends the same mutation (same subject and
// clientMutationId) several times at once, as a client retrying on a timeout
// does: every call must get the first call's answer, never CONFLICT.
func TestUpdateStatusConcurrentRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.create(t, "RETRY-1", "EMEA")
	const n = 8
	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make([]site.StatusResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = e.sites.UpdateStatus(ctx, "rm-emea", site.StatusChange{
				SiteID: s.ID, Level: site.LevelCritical, Posture: site.PostureLockdown, Note: "intruder", ExpectedVersion: 1,
				ClientMutationID: "retry-me",
			}, allow)
		})
	}
	close(start)
	wg.Wait()
	fresh := 0
	var escID uuid.UUID
	for i := range n {
		if errs[i] != nil {
			t.Errorf("call %d: %v, want the first call's answer", i, errs[i])
			continue
		}
		if !results[i].Replayed {
			fresh++
		}
		if results[i].Site.Status.Version != 2 {
			t.Errorf("call %d: version %d, want 2", i, results[i].Site.Status.Version)
		}
		if results[i].Escalation == nil {
			t.Errorf("call %d: no escalation in the answer", i)
			continue
		}
		if escID == uuid.Nil {
			escID = results[i].Escalation.ID
		} else if results[i].Escalation.ID != escID {
			t.Errorf("call %d: escalation %s, want %s", i, results[i].Escalation.ID, escID)
		}
	}
	if fresh != 1 {
		t.Errorf("%d calls applied the change, want exactly 1", fresh)
	}
	if c := e.count(t, "SELECT count(*) FROM site_status_history WHERE site_id = $1", s.ID); c != 2 {
		t.Errorf("history rows = %d, want 2", c)
	}
	if c := e.count(t, "SELECT count(*) FROM escalations"); c != 1 {
		t.Errorf("escalations = %d, want 1", c)
	}
}

func TestStatusChangeOpensJoinsAndReopensEscalation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.create(t, "HKG-1", "APAC")

	calm := e.update(t, s, 1, site.LevelHigh, site.PostureRestricted)
	if calm.Escalation != nil {
		t.Fatalf("HIGH/RESTRICTED opened escalation %+v", calm.Escalation)
	}
	if c := e.count(t, "SELECT count(*) FROM escalations"); c != 0 {
		t.Fatalf("escalations = %d after a non-escalating change", c)
	}

	res := e.update(t, s, 2, site.LevelCritical, site.PostureRestricted)
	esc := res.Escalation
	if esc == nil {
		t.Fatal("CRITICAL did not open an escalation")
	}
	if esc.Status != escalation.StatusOpen || esc.SiteID != s.ID || esc.Region != "APAC" || esc.TriggerLevel != "CRITICAL" ||
		esc.TriggerPosture != "RESTRICTED" || esc.Tier != 0 || esc.AcknowledgedBy != nil {
		t.Errorf("escalation = %+v", esc)
	}
	if esc.WorkflowID != "escalation-"+esc.ID.String() || esc.WorkflowID != escalation.WorkflowID(esc.ID) {
		t.Errorf("workflow id = %q", esc.WorkflowID)
	}
	stored, err := e.escs.Get(ctx, esc.ID)
	if err != nil || stored.Status != escalation.StatusOpen || stored.WorkflowID != esc.WorkflowID {
		t.Errorf("stored escalation = %+v, %v", stored, err)
	}
	tl, err := e.escs.Timeline(ctx, esc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl) != 1 || tl[0].Kind != escalation.KindOpened || tl[0].Actor != "manager" || !strings.Contains(tl[0].Note, "HKG-1") {
		t.Errorf("timeline = %+v, want one OPENED entry by manager", tl)
	}
	opened := e.outboxRows(t, outbox.TopicEscalationOpened)
	if len(opened) != 1 {
		t.Fatalf("escalation.opened rows = %d, want 1", len(opened))
	}
	var oe escalation.OpenedEvent
	if err := json.Unmarshal(opened[0].Payload, &oe); err != nil {
		t.Fatal(err)
	}
	if oe.Escalation.ID != esc.ID || oe.Escalation.WorkflowID != esc.WorkflowID || oe.SiteCode != "HKG-1" || oe.SiteName != s.Name {
		t.Errorf("opened event = %+v", oe)
	}
	changed := e.outboxRows(t, outbox.TopicEscalationChanged)
	if len(changed) != 1 {
		t.Fatalf("escalation.changed rows = %d, want 1", len(changed))
	}
	statusRows := e.outboxRows(t, outbox.TopicSiteStatusChanged)
	last := statusRows[len(statusRows)-1]
	if last.Xmin != opened[0].Xmin || last.Xmin != changed[0].Xmin {
		t.Errorf("status change and escalation written by different transactions")
	}
	if n := len(e.auditRows(t, "escalation.open", esc.ID.String())); n != 1 {
		t.Errorf("escalation.open audit rows = %d, want 1", n)
	}

	// A second alarm joins the open escalation.
	joined := e.update(t, s, 3, site.LevelHigh, site.PostureLockdown)
	if joined.Escalation == nil || joined.Escalation.ID != esc.ID {
		t.Fatalf("second escalating change got %+v, want to join %s", joined.Escalation, esc.ID)
	}
	if c := e.count(t, "SELECT count(*) FROM escalations"); c != 1 {
		t.Errorf("escalations = %d, want 1", c)
	}
	if c := len(e.outboxRows(t, outbox.TopicEscalationOpened)); c != 1 {
		t.Errorf("escalation.opened rows = %d after joining, want 1", c)
	}
	// Even after acknowledgement the escalation is still the live one.
	if _, err := e.escs.Acknowledge(ctx, "lead", esc.ID, "on it", allow); err != nil {
		t.Fatal(err)
	}
	again := e.update(t, s, 4, site.LevelCritical, site.PostureEvacuated)
	if again.Escalation == nil || again.Escalation.ID != esc.ID {
		t.Fatalf("change during acknowledged escalation got %+v, want to join %s", again.Escalation, esc.ID)
	}

	// After Resolve, a new alarm opens a new escalation.
	if _, err := e.escs.Resolve(ctx, "lead", esc.ID, "all clear", allow); err != nil {
		t.Fatal(err)
	}
	calmAgain := e.update(t, s, 5, site.LevelNormal, site.PostureOpen)
	if calmAgain.Escalation != nil {
		t.Errorf("NORMAL/OPEN returned escalation %+v", calmAgain.Escalation)
	}
	reopened := e.update(t, s, 6, site.LevelNormal, site.PostureEvacuated)
	if reopened.Escalation == nil || reopened.Escalation.ID == esc.ID {
		t.Fatalf("escalating change after resolve got %+v, want a new escalation", reopened.Escalation)
	}
	if reopened.Escalation.Status != escalation.StatusOpen || reopened.Escalation.TriggerPosture != "EVACUATED" {
		t.Errorf("new escalation = %+v", reopened.Escalation)
	}
	if c := e.count(t, "SELECT count(*) FROM escalations"); c != 2 {
		t.Errorf("escalations = %d, want 2", c)
	}
	if c := len(e.outboxRows(t, outbox.TopicEscalationOpened)); c != 2 {
		t.Errorf("escalation.opened rows = %d, want 2", c)
	}
}

func TestEveryEscalatingStatusOpensOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		level   site.Level
		posture site.Posture
		opens   bool
	}{
		{site.LevelCritical, site.PostureOpen, true},
		{site.LevelNormal, site.PostureLockdown, true},
		{site.LevelElevated, site.PostureEvacuated, true},
		{site.LevelHigh, site.PostureClosed, false},
		{site.LevelHigh, site.PostureRestricted, false},
		{site.LevelElevated, site.PostureOpen, false},
	}
	for i, tt := range tests {
		s := e.create(t, fmt.Sprintf("ESC-%d", i), "EMEA")
		res := e.update(t, s, 1, tt.level, tt.posture)
		if got := res.Escalation != nil; got != tt.opens {
			t.Errorf("%s/%s opened an escalation: %v, want %v", tt.level, tt.posture, got, tt.opens)
		}
	}
}

func TestReplayReturnsTheEscalation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.create(t, "RPL-1", "AMER")
	change := site.StatusChange{SiteID: s.ID, Level: site.LevelCritical, Posture: site.PostureLockdown, ExpectedVersion: 1, ClientMutationID: "m-1"}
	first, err := e.sites.UpdateStatus(ctx, "rm", change, allow)
	if err != nil || first.Escalation == nil {
		t.Fatalf("first = %+v, %v", first, err)
	}
	second, err := e.sites.UpdateStatus(ctx, "rm", change, allow)
	if err != nil || !second.Replayed || second.Escalation == nil || second.Escalation.ID != first.Escalation.ID {
		t.Fatalf("replay = %+v, %v; want the same escalation %s", second, err, first.Escalation.ID)
	}
}

func TestHistoryPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.create(t, "HIS-1", "EMEA")
	other := e.create(t, "HIS-2", "EMEA")
	levels := []site.Level{site.LevelElevated, site.LevelHigh, site.LevelElevated, site.LevelNormal, site.LevelHigh}
	for i, l := range levels {
		e.update(t, s, int32(i+1), l, site.PostureOpen)
		e.update(t, other, int32(i+1), l, site.PostureRestricted)
	}
	// s has versions 1..6; read them newest first, two at a time.
	var versions []int32
	after := ""
	pages := 0
	for {
		page, err := e.sites.History(ctx, s.ID, 2, after)
		if err != nil {
			t.Fatalf("History(after=%q): %v", after, err)
		}
		pages++
		if len(page.Items) != len(page.Cursors) {
			t.Fatalf("%d items but %d cursors", len(page.Items), len(page.Cursors))
		}
		for _, st := range page.Items {
			versions = append(versions, st.Version)
			if st.Posture != site.PostureOpen {
				t.Errorf("history of %s contains %+v from another site", s.Code, st)
			}
		}
		wantNext := pages < 3
		if page.HasNextPage != wantNext {
			t.Errorf("page %d HasNextPage = %v, want %v", pages, page.HasNextPage, wantNext)
		}
		if !page.HasNextPage || pages > 5 {
			break
		}
		after = page.Cursors[len(page.Cursors)-1]
	}
	if want := []int32{6, 5, 4, 3, 2, 1}; !slices.Equal(versions, want) {
		t.Errorf("versions = %v, want %v", versions, want)
	}

	all, err := e.sites.History(ctx, s.ID, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 6 || all.HasNextPage || all.Items[0].Level != site.LevelHigh || all.Items[0].UpdatedBy != "manager" || all.Items[5].UpdatedBy != "creator" {
		t.Errorf("full history = %+v", all)
	}
	exact, err := e.sites.History(ctx, s.ID, 6, "")
	if err != nil || len(exact.Items) != 6 || exact.HasNextPage {
		t.Errorf("first=6 of 6: %d items, HasNextPage %v, %v", len(exact.Items), exact.HasNextPage, err)
	}
	if page, err := e.sites.History(ctx, uuid.New(), 10, ""); err != nil || len(page.Items) != 0 || page.HasNextPage {
		t.Errorf("history of unknown site = %+v, %v", page, err)
	}

	listPage, err := e.sites.List(ctx, site.Filter{}, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"garbage!", "aGlzdG9yeTp4", listPage.Cursors[0]} { // "history:x", a list cursor
		_, err := e.sites.History(ctx, s.ID, 2, bad)
		wantInvalid(t, err, "after")
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	layout := []struct {
		code, region string
		level        site.Level
	}{
		{"A-1", "AMER", site.LevelNormal},
		{"B-2", "AMER", site.LevelHigh},
		{"C-3", "EMEA", site.LevelNormal},
		{"D-4", "EMEA", site.LevelHigh},
		{"E-5", "EMEA", site.LevelElevated},
		{"F-6", "APAC", site.LevelNormal},
	}
	ids := map[string]uuid.UUID{}
	// Create out of order: List orders by code, not by insertion.
	for _, i := range []int{3, 0, 5, 1, 4, 2} {
		l := layout[i]
		s := e.create(t, l.code, l.region)
		ids[l.code] = s.ID
		if l.level != site.LevelNormal {
			e.update(t, s, 1, l.level, site.PostureOpen)
		}
	}
	codes := func(p site.Page[site.Site]) []string {
		var out []string
		for _, s := range p.Items {
			out = append(out, s.Code)
		}
		return out
	}
	filters := []struct {
		f    site.Filter
		want []string
	}{
		{site.Filter{}, []string{"A-1", "B-2", "C-3", "D-4", "E-5", "F-6"}},
		{site.Filter{Region: "EMEA"}, []string{"C-3", "D-4", "E-5"}},
		{site.Filter{Level: site.LevelHigh}, []string{"B-2", "D-4"}},
		{site.Filter{Region: "EMEA", Level: site.LevelHigh}, []string{"D-4"}},
		{site.Filter{Region: "APAC", Level: site.LevelHigh}, nil},
		{site.Filter{Region: "MARS"}, nil},
	}
	for _, tt := range filters {
		page, err := e.sites.List(ctx, tt.f, 100, "")
		if err != nil {
			t.Fatalf("List(%+v): %v", tt.f, err)
		}
		if got := codes(page); !slices.Equal(got, tt.want) || page.HasNextPage {
			t.Errorf("List(%+v) = %v (next %v), want %v", tt.f, got, page.HasNextPage, tt.want)
		}
		for _, s := range page.Items {
			if s.ID != ids[s.Code] {
				t.Errorf("%s has id %s, want %s", s.Code, s.ID, ids[s.Code])
			}
		}
	}

	// Walk every filter two at a time.
	for _, tt := range filters {
		var got []string
		after := ""
		for range 10 {
			page, err := e.sites.List(ctx, tt.f, 2, after)
			if err != nil {
				t.Fatalf("List(%+v, after %q): %v", tt.f, after, err)
			}
			got = append(got, codes(page)...)
			if !page.HasNextPage {
				break
			}
			if len(page.Items) != 2 || len(page.Cursors) != 2 {
				t.Fatalf("a page with a next page has %d items", len(page.Items))
			}
			after = page.Cursors[1]
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("paged List(%+v) = %v, want %v", tt.f, got, tt.want)
		}
	}

	empty, err := e.sites.List(ctx, site.Filter{}, 0, "")
	if err != nil || len(empty.Items) != 0 || !empty.HasNextPage {
		t.Errorf("first=0: %+v, %v; want no items and a next page", empty, err)
	}
	hist, err := e.sites.History(ctx, ids["B-2"], 1, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"%%%", "c2l0ZQ", hist.Cursors[0]} { // "site" with no key, a history cursor
		_, err := e.sites.List(ctx, site.Filter{}, 2, bad)
		wantInvalid(t, err, "after")
	}

	many, err := e.sites.GetMany(ctx, []uuid.UUID{ids["A-1"], ids["F-6"], uuid.New()})
	if err != nil {
		t.Fatal(err)
	}
	if len(many) != 2 || many[ids["A-1"]].Code != "A-1" || many[ids["F-6"]].Code != "F-6" {
		t.Errorf("GetMany = %v", many)
	}
}

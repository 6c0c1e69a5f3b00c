package protection

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
)

// counting returns a context that counts the argon2id derivations made
// under it.
func counting() (context.Context, *atomic.Int64) {
	var n atomic.Int64
	return context.WithValue(context.Background(), derivationCounterKey{}, &n), &n
}

// written is what one check-in wrote, with the detail's and the check-in's
// IDs replaced by placeholders so that two check-ins can be compared field
// by field.
type written struct {
	CheckIns []map[string]any
	Detail   map[string]any
	Timeline []map[string]any
	Audit    []map[string]any
	Outbox   []map[string]any // every row, its payload without the duress only the relay reads
}

// rowsAsMaps reads a query's rows as column → value.
func (e *ciEnv) rowsAsMaps(query string, args ...any) []map[string]any {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), query, args...)
	if err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			e.t.Fatal(err)
		}
		m := map[string]any{}
		for i, f := range rows.FieldDescriptions() {
			m[f.Name] = vals[i]
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// anonymize replaces the detail's and the check-in's IDs wherever they
// appear in a row's text.
func anonymize(rows []map[string]any, ids ...string) []map[string]any {
	for _, m := range rows {
		for k, v := range m {
			raw, err := json.Marshal(v)
			if err != nil {
				continue
			}
			s := string(raw)
			for _, id := range ids {
				s = strings.ReplaceAll(s, id, "<id>")
			}
			m[k] = s
		}
	}
	return rows
}

// writtenBy reads what was written for the detail after the given audit,
// timeline and outbox marks.
func (e *ciEnv) writtenBy(detailID uuid.UUID, marks [3]int) written {
	e.t.Helper()
	checkIns := e.rowsAsMaps(`SELECT id, agent, at, latitude, longitude, note, next_due, client_mutation_id FROM check_ins
		WHERE detail_id = $1`, detailID)
	if len(checkIns) != 1 {
		e.t.Fatalf("%d check-ins on %s, want 1", len(checkIns), detailID)
	}
	checkInID := checkIns[0]["id"].([16]byte)
	ids := []string{detailID.String(), uuid.UUID(checkInID).String()}
	for _, m := range checkIns {
		delete(m, "id")
	}
	detail := e.rowsAsMaps(`SELECT status, last_check_in_at, last_check_in_by, last_check_in_lat, last_check_in_lon,
		next_check_in_due, failed_codes, position_lat, position_lon FROM details WHERE id = $1`, detailID)
	return written{
		CheckIns: anonymize(checkIns, ids...),
		Detail:   anonymize(detail, ids...)[0],
		Timeline: anonymize(e.rowsAsMaps(`SELECT at, kind, actor, note, dedupe_key FROM detail_timeline
			WHERE detail_id = $1 AND id > $2 ORDER BY id`, detailID, marks[1]), ids...),
		Audit: anonymize(e.rowsAsMaps(`SELECT actor, action, object_type, object_id, before, after, restricted_to FROM audit_log
			WHERE id > $1 AND object_id = $2 ORDER BY id`, marks[0], detailID.String()), ids...),
		Outbox: anonymize(e.rowsAsMaps(`SELECT topic, payload - 'duress' AS payload FROM outbox WHERE id > $1 ORDER BY id`,
			marks[2]), ids...),
	}
}

// checkedInDuress reads the duress carried by each of the detail's
// CHECKED_IN watch rows, oldest first: nil for a row that carries none.
func (e *ciEnv) checkedInDuress(detailID uuid.UUID) []*Duress {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT payload->'duress' FROM outbox
		WHERE topic = $1 AND payload->>'command' = $2 AND payload->>'detailId' = $3 ORDER BY id`,
		TopicWatch, WatchCheckedIn, detailID.String())
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []*Duress
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			e.t.Fatal(err)
		}
		var d *Duress
		if raw != nil {
			d = new(Duress)
			if err := json.Unmarshal(raw, d); err != nil {
				e.t.Fatalf("duress %s: %v", raw, err)
			}
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *ciEnv) marks() [3]int {
	e.t.Helper()
	return [3]int{
		e.count(`SELECT coalesce(max(id), 0) FROM audit_log`),
		e.count(`SELECT coalesce(max(id), 0) FROM detail_timeline`),
		e.count(`SELECT coalesce(max(id), 0) FROM outbox`),
	}
}

func TestDuressCheckInLooksExactlyLikeAnOrdinaryOne(t *testing.T) {
	e := newCIEnv(t)
	e.setCodes(ciAgent)
	ordinaryDetail := e.activeDetail("Helena Vance")
	duressDetail := e.activeDetail("Helena Vance")
	e.now = e.now.Add(10 * time.Minute)
	here := &Point{Latitude: 51.5074, Longitude: -0.1278}

	checkIn := func(d Detail, code string) (Receipt, written, int64) {
		t.Helper()
		marks := e.marks()
		ctx, n := counting()
		r, err := e.store.CheckIn(ctx, ciAgent, CheckInInput{DetailID: d.ID, Code: code, Position: here, Note: "all quiet",
			ClientMutationID: "tap-1"})
		if err != nil {
			t.Fatalf("check-in with %q: %v", code, err)
		}
		return r, e.writtenBy(d.ID, marks), n.Load()
	}
	r1, w1, n1 := checkIn(ordinaryDetail, ciCode)
	r2, w2, n2 := checkIn(duressDetail, ciDuress)

	if n1 != 1 || n2 != 1 {
		t.Errorf("derivations: ordinary %d, duress %d; want 1 each", n1, n2)
	}
	if r1 != r2 {
		t.Errorf("receipts differ: ordinary %+v, duress %+v", r1, r2)
	}
	j1, _ := json.Marshal(r1)
	j2, _ := json.Marshal(r2)
	if string(j1) != string(j2) {
		t.Errorf("receipts encode differently: %s vs %s", j1, j2)
	}
	if want := (Receipt{At: e.now, NextDue: e.now.Add(ordinaryDetail.Interval)}); r1 != want {
		t.Errorf("receipt %+v, want %+v", r1, want)
	}
	for _, c := range []struct {
		name string
		a, b any
	}{
		{"check_ins", w1.CheckIns, w2.CheckIns},
		{"details", w1.Detail, w2.Detail},
		{"timeline", w1.Timeline, w2.Timeline},
		{"audit", w1.Audit, w2.Audit},
		{"outbox (stream and watch, but the duress)", w1.Outbox, w2.Outbox},
	} {
		if !reflect.DeepEqual(c.a, c.b) {
			t.Errorf("%s differ:\nordinary %v\nduress   %v", c.name, c.a, c.b)
		}
	}
	// What they wrote is what a check-in should write.
	if len(w1.Timeline) != 1 || w1.Timeline[0]["kind"] != `"`+StepCheckedIn+`"` {
		t.Errorf("timeline: %v, want one CHECKED_IN", w1.Timeline)
	}
	if len(w1.Audit) != 1 || w1.Audit[0]["action"] != `"detail.check_in"` || strings.Contains(w1.Audit[0]["after"].(string), "51.5") {
		t.Errorf("audit: %v, want one detail.check_in without the position", w1.Audit)
	}
	// The same topics, in the same order, and so the same number of rows:
	// nothing in the trace of the write tells the duress.
	topicsOf := func(w written) []string {
		var topics []string
		for _, o := range w.Outbox {
			topics = append(topics, o["topic"].(string))
		}
		return topics
	}
	want := []string{`"` + TopicDetailChanged + `"`, `"` + TopicWatch + `"`}
	if got := topicsOf(w1); !reflect.DeepEqual(got, want) {
		t.Errorf("ordinary outbox topics %v, want %v", got, want)
	}
	if got := topicsOf(w2); !reflect.DeepEqual(got, want) {
		t.Errorf("duress outbox topics %v, want %v", got, want)
	}

	// Only the relay can tell: the duress check-in's own watch row carries
	// the duress, with the check-in's position; the ordinary one's none.
	if got := e.checkedInDuress(ordinaryDetail.ID); len(got) != 1 || got[0] != nil {
		t.Errorf("the ordinary check-in's CHECKED_IN rows carry %v, want one without a duress", got)
	}
	got := e.checkedInDuress(duressDetail.ID)
	if len(got) != 1 || got[0] == nil {
		t.Fatalf("the duress check-in's CHECKED_IN rows carry %v, want one with its duress", got)
	}
	var duressCheckIn uuid.UUID
	if err := e.pool.QueryRow(context.Background(), `SELECT id FROM check_ins WHERE detail_id = $1`, duressDetail.ID).Scan(&duressCheckIn); err != nil {
		t.Fatal(err)
	}
	wantDuress := Duress{CheckInID: duressCheckIn, DetailID: duressDetail.ID, Agent: ciAgent.Subject, At: e.now, Position: here}
	if d := got[0]; d.CheckInID != wantDuress.CheckInID || d.DetailID != wantDuress.DetailID || d.Agent != wantDuress.Agent ||
		!d.At.Equal(wantDuress.At) || d.Position == nil || *d.Position != *here {
		t.Errorf("duress %+v, want %+v", *d, wantDuress)
	}
}

// Without a position of its own, a duress check-in carries none: the
// detail's last position is the incident's, found when it is raised and
// named with the time it was reported, not the check-in's.
func TestDuressWithoutPositionCarriesNoneAndIsRaisedAtTheLastKnown(t *testing.T) {
	e := newCIEnv(t)
	e.setCodes(ciAgent)
	d := e.activeDetail("Helena Vance")
	ctx := context.Background()
	paris := Point{Latitude: 48.8566, Longitude: 2.3522}
	if _, err := e.store.ReportPosition(ctx, ciAgent2, d.ID, paris, nil); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(25 * time.Minute)
	if _, err := e.store.CheckIn(ctx, ciAgent, CheckInInput{DetailID: d.ID, Code: ciDuress}); err != nil {
		t.Fatal(err)
	}
	got := e.checkedInDuress(d.ID)
	if len(got) != 1 || got[0] == nil {
		t.Fatalf("CHECKED_IN rows carry %v, want one with the duress", got)
	}
	if got[0].Position != nil {
		t.Errorf("duress position %v, want none: the agent sent none", *got[0].Position)
	}
	id, err := e.store.RaiseDuress(ctx, *got[0], ciTierWait)
	if err != nil {
		t.Fatal(err)
	}
	inc := e.incident(id)
	if inc.Location == nil || inc.Location.Latitude != paris.Latitude || inc.Location.Longitude != paris.Longitude {
		t.Errorf("incident location %v, want the detail's last position", inc.Location)
	}
	if !strings.Contains(inc.Title, "at 14:00 UTC") || strings.Contains(inc.Title, "14:25") {
		t.Errorf("title %q, want the last position named with the time it was reported (14:00), not the check-in's", inc.Title)
	}
	// The check-in itself carries no position it was not given.
	if n := e.count(`SELECT count(*) FROM check_ins WHERE detail_id = $1 AND latitude IS NULL AND longitude IS NULL`, d.ID); n != 1 {
		t.Errorf("the check-in row has a position it was not given")
	}
}

func TestWrongCodesAreRefusedCountedAndTheThirdAlertsTheWatch(t *testing.T) {
	e := newCIEnv(t)
	e.setCodes(ciAgent)
	e.setCodes(ciAgent2)
	d := e.activeDetail("Helena Vance")
	codesFailed := func() int {
		return e.count(`SELECT count(*) FROM outbox WHERE topic = $1 AND payload->>'command' = $2 AND payload->>'detailId' = $3`,
			TopicWatch, WatchCodesFail, d.ID.String())
	}
	for i, who := range []auth.Identity{ciAgent, ciAgent2, ciAgent, ciAgent2} {
		ctx, n := counting()
		_, err := e.store.CheckIn(ctx, who, CheckInInput{DetailID: d.ID, Code: "wrong-code-" + who.Subject})
		if !errors.Is(err, ErrWrongCode) {
			t.Fatalf("wrong code %d: want ErrWrongCode, got %v", i+1, err)
		}
		wantFault(t, err, fault.BadUserInput, "code")
		if n.Load() != 1 {
			t.Errorf("wrong code %d: %d derivations, want 1", i+1, n.Load())
		}
		if got := e.count(`SELECT failed_codes FROM details WHERE id = $1`, d.ID); got != i+1 {
			t.Errorf("after wrong code %d: failed_codes = %d", i+1, got)
		}
		want := 0
		if i+1 >= MaxFailedCodes {
			want = 1 // once, at the threshold: not again at the fourth
		}
		if got := codesFailed(); got != want {
			t.Errorf("after wrong code %d: %d CODES_FAILED commands, want %d", i+1, got, want)
		}
	}
	if n := e.count(`SELECT count(*) FROM check_ins`); n != 0 {
		t.Errorf("%d check-ins recorded for wrong codes", n)
	}
	if n := e.count(`SELECT count(*) FROM detail_timeline WHERE detail_id = $1 AND kind = $2`, d.ID, StepCodeRefused); n != 4 {
		t.Errorf("%d CHECK_IN_CODE_REFUSED steps, want 4", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'detail.check_in_refused' AND object_id = $1`, d.ID.String()); n != 4 {
		t.Errorf("%d refusal audit rows, want 4", n)
	}
	var text string
	if err := e.pool.QueryRow(context.Background(), `SELECT string_agg(note, ' ') FROM detail_timeline`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "wrong-code") {
		t.Errorf("the timeline shows an entered code: %s", text)
	}

	// A good check-in forgives them; the next run of wrong codes alerts again.
	if _, err := e.store.CheckIn(context.Background(), ciAgent, CheckInInput{DetailID: d.ID, Code: ciCode}); err != nil {
		t.Fatal(err)
	}
	if got := e.count(`SELECT failed_codes FROM details WHERE id = $1`, d.ID); got != 0 {
		t.Errorf("failed_codes = %d after a good check-in, want 0", got)
	}
	for range MaxFailedCodes {
		if _, err := e.store.CheckIn(context.Background(), ciAgent, CheckInInput{DetailID: d.ID, Code: "wrong-again"}); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("want ErrWrongCode, got %v", err)
		}
	}
	if got := codesFailed(); got != 2 {
		t.Errorf("%d CODES_FAILED commands after a second run, want 2", got)
	}
}

func TestCheckInRefusalsWriteNothingAndDeriveOnce(t *testing.T) {
	e := newCIEnv(t)
	e.setCodes(ciAgent)
	e.setCodes(ciOutsider) // ciAgent2 sets none
	active := e.activeDetail("Helena Vance")
	planned := e.plannedDetail("Marcus Hale")
	ended := e.activeDetail("Ines Duarte")
	if _, err := e.store.End(context.Background(), ciLead, ended.ID, ""); err != nil {
		t.Fatal(err)
	}
	unknown := ciDetailID(t)
	tests := []struct {
		name        string
		who         auth.Identity
		in          CheckInInput
		want        error
		code        fault.Code
		field       string
		derivations int64
	}{
		{"unknown detail", ciAgent, CheckInInput{DetailID: unknown, Code: ciCode}, ErrDetailNotFound, fault.NotFound, "", 1},
		{"unknown detail, no codes", ciAgent2, CheckInInput{DetailID: unknown, Code: ciCode}, ErrDetailNotFound, fault.NotFound, "", 1},
		{"not on the detail", ciOutsider, CheckInInput{DetailID: active.ID, Code: ciCode}, ErrNotOnDetail, fault.Forbidden, "", 1},
		{"not on the detail, duress code", ciOutsider, CheckInInput{DetailID: active.ID, Code: ciDuress}, ErrNotOnDetail, fault.Forbidden, "", 1},
		{"not on the detail, wrong code", ciOutsider, CheckInInput{DetailID: active.ID, Code: "guessing"}, ErrNotOnDetail, fault.Forbidden, "", 1},
		{"a global lead is not on it", ciLead, CheckInInput{DetailID: active.ID, Code: ciCode}, ErrNotOnDetail, fault.Forbidden, "", 1},
		{"planned detail", ciAgent, CheckInInput{DetailID: planned.ID, Code: ciCode}, ErrNotActive, fault.Conflict, "", 1},
		{"ended detail", ciAgent, CheckInInput{DetailID: ended.ID, Code: ciCode}, ErrNotActive, fault.Conflict, "", 1},
		{"ended detail, wrong code", ciAgent, CheckInInput{DetailID: ended.ID, Code: "guessing"}, ErrNotActive, fault.Conflict, "", 1},
		{"no codes set", ciAgent2, CheckInInput{DetailID: active.ID, Code: ciCode}, ErrNoCodes, fault.BadUserInput, "code", 1},
		// Input refusals depend on the input alone: nothing is read or derived.
		{"code too short", ciAgent, CheckInInput{DetailID: active.ID, Code: "12345"}, nil, fault.BadUserInput, "code", 0},
		{"code too long", ciAgent, CheckInInput{DetailID: active.ID, Code: strings.Repeat("9", 65)}, nil, fault.BadUserInput, "code", 0},
		{"code with NUL", ciAgent, CheckInInput{DetailID: active.ID, Code: "abc\x00def"}, nil, fault.BadUserInput, "code", 0},
		{"latitude out of range", ciAgent, CheckInInput{DetailID: active.ID, Code: ciCode, Position: &Point{Latitude: 90.5}}, nil, fault.BadUserInput, "latitude", 0},
		{"longitude out of range", ciAgent, CheckInInput{DetailID: active.ID, Code: ciCode, Position: &Point{Longitude: -181}}, nil, fault.BadUserInput, "longitude", 0},
		{"latitude NaN", ciAgent, CheckInInput{DetailID: active.ID, Code: ciCode, Position: &Point{Latitude: math.NaN()}}, nil, fault.BadUserInput, "latitude", 0},
		{"longitude infinite", ciAgent, CheckInInput{DetailID: active.ID, Code: ciCode, Position: &Point{Longitude: math.Inf(1)}}, nil, fault.BadUserInput, "longitude", 0},
		{"note too long", ciAgent, CheckInInput{DetailID: active.ID, Code: ciCode, Note: strings.Repeat("n", 501)}, nil, fault.BadUserInput, "note", 0},
		{"note not UTF-8", ciAgent, CheckInInput{DetailID: active.ID, Code: ciCode, Note: "\xff"}, nil, fault.BadUserInput, "note", 0},
		{"clientMutationId too long", ciAgent, CheckInInput{DetailID: active.ID, Code: ciCode, ClientMutationID: strings.Repeat("c", 129)}, nil, fault.BadUserInput, "clientMutationId", 0},
		{"anonymous", auth.Identity{}, CheckInInput{DetailID: active.ID, Code: ciCode}, auth.ErrUnauthenticated, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.state()
			ctx, n := counting()
			_, err := e.store.CheckIn(ctx, tt.who, tt.in)
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("want %v, got %v", tt.want, err)
			}
			if tt.code != "" {
				wantFault(t, err, tt.code, tt.field)
			}
			if n.Load() != tt.derivations {
				t.Errorf("%d derivations, want %d", n.Load(), tt.derivations)
			}
			e.assertState(before, tt.name)
		})
	}
}

func TestCheckInRetryWithTheSameClientMutationIDAnswersTheFirstReceipt(t *testing.T) {
	e := newCIEnv(t)
	e.setCodes(ciAgent)
	e.setCodes(ciAgent2)
	d := e.activeDetail("Helena Vance")
	e.now = e.now.Add(5 * time.Minute)
	first, err := e.store.CheckIn(context.Background(), ciAgent, CheckInInput{DetailID: d.ID, Code: ciCode, ClientMutationID: "m-1"})
	if err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(3 * time.Minute)
	for _, code := range []string{ciCode, ciDuress} {
		before := e.state()
		ctx, n := counting()
		again, err := e.store.CheckIn(ctx, ciAgent, CheckInInput{DetailID: d.ID, Code: code, ClientMutationID: "m-1",
			Note: "a different note", Position: &Point{Latitude: 1, Longitude: 1}})
		if err != nil {
			t.Fatalf("retry with %q: %v", code, err)
		}
		if again != first {
			t.Errorf("retry with %q answered %+v, want the first receipt %+v", code, again, first)
		}
		if n.Load() != 1 {
			t.Errorf("retry: %d derivations, want 1", n.Load())
		}
		e.assertState(before, "retry with "+code)
	}
	// The retry must prove who it is: a wrong code is a wrong code.
	if _, err := e.store.CheckIn(context.Background(), ciAgent, CheckInInput{DetailID: d.ID, Code: "guessing", ClientMutationID: "m-1"}); !errors.Is(err, ErrWrongCode) {
		t.Errorf("retry with a wrong code: want ErrWrongCode, got %v", err)
	}
	// Another agent's ID, and the agent's next ID, are other check-ins.
	other, err := e.store.CheckIn(context.Background(), ciAgent2, CheckInInput{DetailID: d.ID, Code: ciCode, ClientMutationID: "m-1"})
	if err != nil || other == first {
		t.Fatalf("another agent with the same ID: %+v, %v", other, err)
	}
	next, err := e.store.CheckIn(context.Background(), ciAgent, CheckInInput{DetailID: d.ID, Code: ciCode, ClientMutationID: "m-2"})
	if err != nil || next == first {
		t.Fatalf("the next ID: %+v, %v", next, err)
	}
	if n := e.count(`SELECT count(*) FROM check_ins WHERE detail_id = $1`, d.ID); n != 3 {
		t.Errorf("%d check-ins, want 3", n)
	}
	// A retry that arrives after the detail ended still gets its answer.
	if _, err := e.store.End(context.Background(), ciLead, d.ID, ""); err != nil {
		t.Fatal(err)
	}
	late, err := e.store.CheckIn(context.Background(), ciAgent, CheckInInput{DetailID: d.ID, Code: ciCode, ClientMutationID: "m-1"})
	if err != nil || late != first {
		t.Errorf("retry after the end: %+v, %v; want %+v", late, err, first)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE topic = $1 AND payload->'duress' IS NOT NULL`, TopicWatch); n != 0 {
		t.Errorf("a retry answered from the first receipt raised a duress (%d rows)", n)
	}
}

func TestCheckInUpdatesTheDetailAndSignalsTheWatch(t *testing.T) {
	e := newCIEnv(t)
	e.setCodes(ciLeader)
	d := e.activeDetail("Helena Vance")
	// A refused code first, to see it forgiven.
	if _, err := e.store.CheckIn(context.Background(), ciLeader, CheckInInput{DetailID: d.ID, Code: "guessing"}); !errors.Is(err, ErrWrongCode) {
		t.Fatal(err)
	}
	e.now = e.now.Add(7 * time.Minute)
	r, err := e.store.CheckIn(context.Background(), ciLeader, CheckInInput{DetailID: d.ID, Code: ciCode,
		Position: &Point{Latitude: 40.4168, Longitude: -3.7038}, Note: "  lobby, all quiet  "})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.store.loadDetail(context.Background(), e.pool, d.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastCheckIn == nil || !got.LastCheckIn.At.Equal(e.now) || got.LastCheckIn.By != ciLeader.Subject ||
		got.LastCheckIn.Position == nil || *got.LastCheckIn.Position != (Point{Latitude: 40.4168, Longitude: -3.7038}) {
		t.Errorf("last check-in %+v", got.LastCheckIn)
	}
	if got.NextDue == nil || !got.NextDue.Equal(r.NextDue) || !r.NextDue.Equal(e.now.Add(d.Interval)) {
		t.Errorf("next due %v, receipt %+v, want now + %s", got.NextDue, r, d.Interval)
	}
	if got.FailedCodes != 0 {
		t.Errorf("failed codes %d", got.FailedCodes)
	}
	var note string
	if err := e.pool.QueryRow(context.Background(), `SELECT note FROM check_ins WHERE detail_id = $1`, d.ID).Scan(&note); err != nil || note != "lobby, all quiet" {
		t.Errorf("stored note %q (%v), want it trimmed", note, err)
	}
	var cmd WatchCommand
	rows := e.rowsAsMaps(`SELECT payload FROM outbox WHERE topic = $1 AND payload->>'command' = $2`, TopicWatch, WatchCheckedIn)
	if len(rows) != 1 {
		t.Fatalf("%d CHECKED_IN commands, want 1", len(rows))
	}
	raw, _ := json.Marshal(rows[0]["payload"])
	if err := json.Unmarshal(raw, &cmd); err != nil {
		t.Fatal(err)
	}
	if cmd.DetailID != d.ID || !cmd.At.Equal(e.now) || cmd.Actor != ciLeader.Subject {
		t.Errorf("watch command %+v", cmd)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE topic = $1 AND payload->>'kind' = $2`, TopicDetailChanged, EventCheckIn); n != 1 {
		t.Errorf("%d CHECK_IN stream events, want 1", n)
	}
}

// Concurrent retries of one check-in record it once.
func TestConcurrentRetriesRecordOneCheckIn(t *testing.T) {
	e := newCIEnv(t)
	e.setCodes(ciAgent)
	d := e.activeDetail("Helena Vance")
	const n = 8
	receipts := make(chan Receipt, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			r, err := e.store.CheckIn(context.Background(), ciAgent, CheckInInput{DetailID: d.ID, Code: ciCode, ClientMutationID: "burst"})
			receipts <- r
			errs <- err
		}()
	}
	var first Receipt
	for i := range n {
		if err := <-errs; err != nil {
			t.Fatalf("retry %d: %v", i, err)
		}
		r := <-receipts
		if i == 0 {
			first = r
		} else if r != first {
			t.Errorf("receipts differ: %+v vs %+v", r, first)
		}
	}
	if got := e.count(`SELECT count(*) FROM check_ins WHERE detail_id = $1`, d.ID); got != 1 {
		t.Errorf("%d check-ins, want 1", got)
	}
	if got := e.count(`SELECT count(*) FROM detail_timeline WHERE detail_id = $1 AND kind = $2`, d.ID, StepCheckedIn); got != 1 {
		t.Errorf("%d CHECKED_IN steps, want 1", got)
	}
}

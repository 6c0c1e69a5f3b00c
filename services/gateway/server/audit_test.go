package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian.dev/gateway/stacktest"
)

const auditLogQuery = `query($objectId: ID, $actor: String, $action: String, $since: Time, $until: Time, $first: Int, $after: String) {
  auditLog(objectId: $objectId, actor: $actor, action: $action, since: $since, until: $until, first: $first, after: $after) {
    edges { cursor node {
      at actor action objectType objectId
      object { __typename id ... on Site { code } }
      before after traceId
    } }
    pageInfo { hasNextPage endCursor }
  }
}`

type auditEntryView struct {
	Cursor     string `json:"-"`
	At         time.Time
	Actor      string
	Action     string
	ObjectType string
	ObjectID   string `json:"objectId"`
	Object     *struct {
		Typename string `json:"__typename"`
		ID       string
		Code     string
	}
	Before, After json.RawMessage
	TraceID       string `json:"traceId"`
}

// auditStatus is a site's status as an audit entry stores it.
type auditStatus struct {
	Level, Posture, Note, UpdatedBy string
	Version                         int
}

type auditPage struct {
	Entries   []auditEntryView
	HasNext   bool
	EndCursor *string
}

// readAuditPage runs auditLog with the arguments in args (absent ones take
// their defaults) as token's caller and requires success.
func readAuditPage(t *testing.T, s *stacktest.Stack, token string, args map[string]any) auditPage {
	t.Helper()
	var out struct {
		AuditLog struct {
			Edges []struct {
				Cursor string
				Node   auditEntryView
			}
			PageInfo struct {
				HasNextPage bool
				EndCursor   *string
			}
		}
	}
	s.GW.Query(t, token, auditLogQuery, args).Decode(t, &out)
	p := auditPage{HasNext: out.AuditLog.PageInfo.HasNextPage, EndCursor: out.AuditLog.PageInfo.EndCursor}
	for _, e := range out.AuditLog.Edges {
		e.Node.Cursor = e.Cursor
		p.Entries = append(p.Entries, e.Node)
	}
	return p
}

// readAuditLog pages through the whole log as filtered by args, pageSize
// entries at a time, checking each page's pageInfo.
func readAuditLog(t *testing.T, s *stacktest.Stack, token string, args map[string]any, pageSize int) []auditEntryView {
	t.Helper()
	var all []auditEntryView
	var after string
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			t.Fatalf("auditLog did not end after %d pages", pages)
		}
		a := map[string]any{"first": pageSize}
		for k, v := range args {
			a[k] = v
		}
		if after != "" {
			a["after"] = after
		}
		p := readAuditPage(t, s, token, a)
		if len(p.Entries) > pageSize {
			t.Fatalf("a page of first: %d holds %d entries", pageSize, len(p.Entries))
		}
		if p.HasNext && len(p.Entries) != pageSize {
			t.Fatalf("a page of %d entries (first: %d) says more follow", len(p.Entries), pageSize)
		}
		all = append(all, p.Entries...)
		if len(p.Entries) > 0 && (p.EndCursor == nil || *p.EndCursor != p.Entries[len(p.Entries)-1].Cursor) {
			t.Fatalf("endCursor %v is not the page's last cursor %q", p.EndCursor, p.Entries[len(p.Entries)-1].Cursor)
		}
		if !p.HasNext {
			return all
		}
		after = *p.EndCursor
	}
}

func auditCursors(entries []auditEntryView) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Cursor
	}
	return out
}

func auditWhere(all []auditEntryView, keep func(auditEntryView) bool) []auditEntryView {
	var out []auditEntryView
	for _, e := range all {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func auditSummary(entries []auditEntryView) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.At.Format(time.RFC3339Nano) + " " + e.Actor + " " + e.Action + " " + e.ObjectType + ":" + e.ObjectID
	}
	return out
}

// sameAuditEntries requires got to be want, entry for entry, in order.
func sameAuditEntries(t *testing.T, what string, got, want []auditEntryView) {
	t.Helper()
	if !slices.Equal(auditCursors(got), auditCursors(want)) {
		t.Errorf("%s: got %d entries\n  %s\nwant %d\n  %s", what, len(got), strings.Join(auditSummary(got), "\n  "),
			len(want), strings.Join(auditSummary(want), "\n  "))
	}
}

var traceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestAuditLog: auditors, global leads and admins read who changed what,
// the object before and after and the request's trace; the filters (object
// by global or raw ID, actor, action, since inclusive, until exclusive)
// and the pagination return exactly the entries they should, newest first;
// other roles are refused and a bad cursor names `after`.
func TestAuditLog(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	ctx := context.Background()
	auditor := s.Token(t, stacktest.Auditor)

	var londonID string
	var was auditStatus
	if err := s.Pool.QueryRow(ctx, `SELECT id::text, status_level, status_posture, status_note, status_version, status_updated_by
		FROM sites WHERE code = 'LON-HQ'`).Scan(&londonID, &was.Level, &was.Posture, &was.Note, &was.Version, &was.UpdatedBy); err != nil {
		t.Fatal(err)
	}

	// Five changes, none of which escalates, so each writes one entry:
	// A, B, C, D, E in this order.
	start := time.Now()
	s.SetStatus(t, s.GW, stacktest.EMEAManager, "LON-HQ", "ELEVATED", "RESTRICTED", "crowd gathering") // A
	s.SetStatus(t, s.GW, stacktest.AMERManager, "NYC-HQ", "ELEVATED", "OPEN", "storm warning")         // B
	s.SetStatus(t, s.GW, stacktest.EMEAManager, "PAR-OFC", "HIGH", "RESTRICTED", "transport strike")   // C
	s.GW.Query(t, s.Token(t, stacktest.EMEAManager), `mutation { setContactMethods(input: {email: "emil.audit@meridian.example"}) { contactMethods { email } } }`, nil).
		Decode(t, new(any)) // D
	s.SetStatus(t, s.GW, stacktest.GlobalLead, "LON-HQ", "NORMAL", "OPEN", "all clear") // E
	end := time.Now()

	all := readAuditLog(t, s, auditor, nil, 500)
	var stored int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if len(all) != stored {
		t.Fatalf("auditLog lists %d entries, audit_log holds %d", len(all), stored)
	}
	if len(all) < 5 {
		t.Fatalf("auditLog lists %d entries, want at least the 5 changes made: %q", len(all), auditSummary(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].At.After(all[i-1].At) {
			t.Errorf("entry %d (%s) is newer than entry %d (%s): want newest first", i, all[i].At, i-1, all[i-1].At)
		}
	}
	mine := all[:5]
	e, d, c, b, a := mine[0], mine[1], mine[2], mine[3], mine[4]
	for i, want := range []struct{ actor, action string }{
		{stacktest.GlobalLead, "site.update_status"}, {stacktest.EMEAManager, "contacts.set"},
		{stacktest.EMEAManager, "site.update_status"}, {stacktest.AMERManager, "site.update_status"},
		{stacktest.EMEAManager, "site.update_status"},
	} {
		if mine[i].Actor != want.actor || mine[i].Action != want.action {
			t.Fatalf("the newest entries are %q, want E, D, C, B, A as made", auditSummary(mine))
		}
	}

	t.Run("the entry says who did what, before and after", func(t *testing.T) {
		if a.ObjectType != "Site" || a.ObjectID != londonID {
			t.Errorf("object %s:%s, want Site:%s", a.ObjectType, a.ObjectID, londonID)
		}
		if a.Object == nil || a.Object.Typename != "Site" || a.Object.Code != "LON-HQ" || a.Object.ID != s.Site(t, "LON-HQ").ID {
			t.Errorf("object = %+v, want the site LON-HQ", a.Object)
		}
		var before, after auditStatus
		if err := json.Unmarshal(a.Before, &before); err != nil {
			t.Errorf("before %s: %v", a.Before, err)
		}
		if err := json.Unmarshal(a.After, &after); err != nil {
			t.Errorf("after %s: %v", a.After, err)
		}
		if before != was {
			t.Errorf("before = %+v, want the status as it was: %+v", before, was)
		}
		if want := (auditStatus{Level: "ELEVATED", Posture: "RESTRICTED", Note: "crowd gathering", UpdatedBy: stacktest.EMEAManager, Version: was.Version + 1}); after != want {
			t.Errorf("after = %+v, want %+v", after, want)
		}
		if !traceIDPattern.MatchString(a.TraceID) || a.TraceID == strings.Repeat("0", 32) {
			t.Errorf("traceId %q, want a W3C trace ID", a.TraceID)
		}
		if a.At.Before(start.Add(-time.Minute)) || a.At.After(end.Add(time.Minute)) {
			t.Errorf("at %s, want the time of the change (%s … %s)", a.At, start, end)
		}
		if d.ObjectType != "Person" || d.ObjectID != stacktest.EMEAManager || d.Object != nil {
			t.Errorf("the contact change names %s:%s (object %+v), want Person:%s and no node", d.ObjectType, d.ObjectID, d.Object, stacktest.EMEAManager)
		}
	})

	t.Run("auditors, global leads and admins read it", func(t *testing.T) {
		for _, who := range []string{stacktest.Auditor, stacktest.GlobalLead, stacktest.Admin} {
			got := readAuditPage(t, s, s.Token(t, who), map[string]any{"objectId": s.Site(t, "LON-HQ").ID, "first": 2}).Entries
			if len(got) != 2 || got[0].Cursor != e.Cursor || got[1].Cursor != a.Cursor || got[1].Actor != stacktest.EMEAManager ||
				got[1].Action != "site.update_status" || got[1].Object == nil || got[1].Object.Code != "LON-HQ" || got[1].TraceID != a.TraceID {
				t.Errorf("%s reads LON-HQ's entries as %q, want E and A", who, auditSummary(got))
			}
		}
	})

	t.Run("filters", func(t *testing.T) {
		cases := []struct {
			name string
			args map[string]any
			keep func(auditEntryView) bool
			mine []auditEntryView // the newest of them, when given: the changes made above
		}{
			{"a site by its global ID", map[string]any{"objectId": s.Site(t, "LON-HQ").ID},
				func(x auditEntryView) bool { return x.ObjectType == "Site" && x.ObjectID == londonID }, []auditEntryView{e, a}}, // then its creation
			{"a person by subject", map[string]any{"objectId": stacktest.EMEAManager},
				func(x auditEntryView) bool { return x.ObjectID == stacktest.EMEAManager }, []auditEntryView{d}},
			{"an actor", map[string]any{"actor": stacktest.EMEAManager},
				func(x auditEntryView) bool { return x.Actor == stacktest.EMEAManager }, []auditEntryView{d, c, a}},
			{"an action", map[string]any{"action": "site.update_status"},
				func(x auditEntryView) bool { return x.Action == "site.update_status" }, nil},
			{"an actor and an action", map[string]any{"actor": stacktest.EMEAManager, "action": "site.update_status"},
				func(x auditEntryView) bool {
					return x.Actor == stacktest.EMEAManager && x.Action == "site.update_status"
				}, []auditEntryView{c, a}},
			{"since inclusive, until exclusive", map[string]any{"since": b.At.Format(time.RFC3339Nano), "until": e.At.Format(time.RFC3339Nano)},
				func(x auditEntryView) bool { return !x.At.Before(b.At) && x.At.Before(e.At) }, []auditEntryView{d, c, b}},
			{"since the newest", map[string]any{"since": e.At.Format(time.RFC3339Nano)},
				func(x auditEntryView) bool { return !x.At.Before(e.At) }, []auditEntryView{e}},
			{"until the first change", map[string]any{"until": a.At.Format(time.RFC3339Nano)},
				func(x auditEntryView) bool { return x.At.Before(a.At) }, nil},
			{"since equals until", map[string]any{"since": c.At.Format(time.RFC3339Nano), "until": c.At.Format(time.RFC3339Nano)},
				func(auditEntryView) bool { return false }, nil},
			{"an actor who changed nothing", map[string]any{"actor": stacktest.TravelTeam},
				func(x auditEntryView) bool { return x.Actor == stacktest.TravelTeam }, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				want := auditWhere(all, tc.keep)
				if tc.mine != nil {
					sameAuditEntries(t, "the newest expected entries, from the whole log", want[:min(len(want), len(tc.mine))], tc.mine)
				}
				sameAuditEntries(t, "auditLog", readAuditLog(t, s, auditor, tc.args, 500), want)
				// Two at a time: the same entries, each once, in order.
				sameAuditEntries(t, "auditLog two at a time", readAuditLog(t, s, auditor, tc.args, 2), want)
			})
		}
		if got := readAuditLog(t, s, auditor, map[string]any{"action": "site.update_status"}, 500); len(got) < 4 {
			t.Errorf("action site.update_status: %d entries, want at least the 4 status changes", len(got))
		}
	})

	t.Run("pagination returns every entry once, newest first", func(t *testing.T) {
		for _, size := range []int{1, 2, 3} {
			sameAuditEntries(t, fmt.Sprintf("pages of %d", size), readAuditLog(t, s, auditor, nil, size), all)
		}
		// Without first, a page is 50 entries.
		var dflt struct {
			AuditLog struct {
				Edges    []struct{ Cursor string }
				PageInfo struct{ HasNextPage bool }
			}
		}
		s.GW.Query(t, auditor, `{ auditLog { edges { cursor } pageInfo { hasNextPage } } }`, nil).Decode(t, &dflt)
		if n := len(dflt.AuditLog.Edges); n != min(50, len(all)) || dflt.AuditLog.PageInfo.HasNextPage != (len(all) > 50) {
			t.Errorf("auditLog without first: %d entries (more: %v), want %d of %d", n, dflt.AuditLog.PageInfo.HasNextPage, min(50, len(all)), len(all))
		}
		// Nor with a $first the variables leave out: the argument's default
		// applies, as the GraphQL spec says.
		if n := len(readAuditPage(t, s, auditor, nil).Entries); n != min(50, len(all)) {
			t.Errorf("auditLog(first: $first) without $first: %d entries, want %d", n, min(50, len(all)))
		}
		// A page ends where the next begins.
		p1 := readAuditPage(t, s, auditor, map[string]any{"first": 2})
		p2 := readAuditPage(t, s, auditor, map[string]any{"first": 2, "after": *p1.EndCursor})
		if !p1.HasNext || len(p1.Entries) != 2 || len(p2.Entries) != 2 ||
			p1.Entries[0].Cursor != e.Cursor || p1.Entries[1].Cursor != d.Cursor || p2.Entries[0].Cursor != c.Cursor || p2.Entries[1].Cursor != b.Cursor {
			t.Errorf("pages of two: %q then %q, want E D then C B", auditSummary(p1.Entries), auditSummary(p2.Entries))
		}
	})

	t.Run("other roles are refused", func(t *testing.T) {
		for _, who := range []string{stacktest.EMEAManager, stacktest.AMERManager, stacktest.TravelTeam, stacktest.ProtectionAgent} {
			s.GW.Query(t, s.Token(t, who), `{ auditLog { edges { node { action } } } }`, nil).Refused(t, "FORBIDDEN")
			s.GW.Query(t, s.Token(t, who), auditLogQuery, map[string]any{"objectId": s.Site(t, "LON-HQ").ID, "first": 5}).Refused(t, "FORBIDDEN")
			s.GW.Query(t, s.Token(t, who), auditLogQuery, nil).Refused(t, "FORBIDDEN")
		}
		s.GW.Query(t, "", `{ auditLog { edges { node { action } } } }`, nil).Refused(t, "UNAUTHENTICATED")
	})

	t.Run("a bad cursor names after", func(t *testing.T) {
		for _, cursor := range []string{"not-a-cursor", "0", "-3", s.Site(t, "LON-HQ").ID} {
			s.GW.Query(t, auditor, auditLogQuery, map[string]any{"after": cursor, "first": 5}).RefusedField(t, "after")
		}
		s.GW.Query(t, auditor, `{ auditLog(after: "nope") { edges { cursor } } }`, nil).RefusedField(t, "after")
		s.GW.Query(t, auditor, auditLogQuery, map[string]any{"first": -1}).RefusedField(t, "first")
	})
}

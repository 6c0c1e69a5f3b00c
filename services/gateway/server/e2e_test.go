package server_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"meridian.dev/gateway/stacktest"
	"meridian.dev/platform/notify/sink"
)

const decisionMutation = `mutation($id: ID!, $note: String, $cmid: String) {
  %s(input: {escalationId: $id, note: $note, clientMutationId: $cmid}) {
    clientMutationId
    escalation { id status tier acknowledgedBy site { code } region { code } }
  }
}`

func decide(t testing.TB, s *stacktest.Stack, subject, mutation, escalationID, note string) stacktest.EscalationView {
	t.Helper()
	var out map[string]struct {
		ClientMutationID *string
		Escalation       stacktest.EscalationView
	}
	s.GW.Query(t, s.Token(t, subject), strings.Replace(decisionMutation, "%s", mutation, 1),
		map[string]any{"id": escalationID, "note": note, "cmid": mutation + "-1"}).Decode(t, &out)
	p := out[mutation]
	if p.ClientMutationID == nil || *p.ClientMutationID != mutation+"-1" {
		t.Errorf("%s: clientMutationId not echoed", mutation)
	}
	return p.Escalation
}

type timelineEntry struct{ Kind, Actor, Note string }

func escalationOf(t testing.TB, s *stacktest.Stack, id string) (stacktest.EscalationView, []timelineEntry) {
	t.Helper()
	var out struct {
		Escalation struct {
			stacktest.EscalationView
			Timeline []timelineEntry
		}
	}
	s.GW.Query(t, s.Token(t, stacktest.GlobalLead), `query($id: ID!) { escalation(id: $id) {
		id status tier acknowledgedBy site { code } region { code } timeline { kind actor note } } }`,
		map[string]any{"id": id}).Decode(t, &out)
	return out.Escalation.EscalationView, out.Escalation.Timeline
}

// nextEscalationEvent returns the next event of escalation id whose state
// match accepts, skipping the steps in between.
func nextEscalationEvent(t testing.TB, sub *stacktest.Subscription, id, what string, match func(stacktest.EscalationView) bool) stacktest.EscalationEvent {
	t.Helper()
	for {
		ev := sub.NextEscalationEvent(t)
		if ev.Escalation.ID != id {
			t.Fatalf("escalationUpdated(EMEA): an event of another escalation: %+v", ev.Escalation)
		}
		if ev.Cursor == "" {
			t.Errorf("escalationUpdated event without a cursor")
		}
		if match(ev.Escalation) {
			return ev
		}
		if ev.Escalation.Status == "RESOLVED" {
			t.Fatalf("escalation resolved before %s", what)
		}
	}
}

// TestEndToEndEscalation follows one incident through every part: a
// regional manager locks a site down over HTTP, subscribers see it over
// WebSocket, the relay starts the Temporal workflow, the pager webhook
// receives a signed tier-1 page, the acknowledgement stops the climb and the
// resolution closes it.
func TestEndToEndEscalation(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})

	emea := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.EMEAManager))
	board, c0 := s.PrimedSubscription(t, emea, "board", "EMEA", "AMS-OFC", stacktest.EMEAManager)
	// Made with `after`, these miss nothing from c0 on, whenever the
	// gateway gets to them.
	escalations := emea.Subscribe(t, "escalations", stacktest.EscalationSubscription, map[string]any{"region": "EMEA", "after": c0})
	amer := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.AMERManager))
	amerBoard := amer.Subscribe(t, "amer-board", stacktest.StatusSubscription, map[string]any{"region": "AMER", "after": c0})
	// The global lead's screen follows EMEA too, on its own connection.
	lead := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.GlobalLead))
	leadBoard := lead.Subscribe(t, "lead-board", stacktest.StatusSubscription, map[string]any{"region": "EMEA", "after": c0})

	// The lockdown.
	p := s.SetStatus(t, s.GW, stacktest.EMEAManager, "LON-HQ", "CRITICAL", "LOCKDOWN", "armed intruder reported in the lobby")
	if p.Escalation == nil {
		t.Fatalf("CRITICAL/LOCKDOWN opened no escalation")
	}
	esc := *p.Escalation
	if esc.Status != "OPEN" || esc.Site.Code != "LON-HQ" || esc.Region.Code != "EMEA" || esc.Tier != 0 || esc.AcknowledgedBy != nil {
		t.Errorf("escalation in the payload = %+v", esc)
	}
	if p.Site.Status.Version != 2 || p.Site.Status.UpdatedBy != stacktest.EMEAManager {
		t.Errorf("site in the payload = %+v", p.Site)
	}

	// Every EMEA screen sees the change with what it was before.
	for name, sub := range map[string]*stacktest.Subscription{"board": board, "lead-board": leadBoard} {
		ev := statusEventSkipping(t, sub, "AMS-OFC")
		if ev.Site.Code != "LON-HQ" || ev.Site.Region.Code != "EMEA" || ev.Site.ID != s.Site(t, "LON-HQ").ID {
			t.Fatalf("%s: event of %+v, want LON-HQ", name, ev.Site)
		}
		if ev.Previous.Level != "NORMAL" || ev.Previous.Posture != "OPEN" || ev.Previous.Version != 1 {
			t.Errorf("%s: previous = %+v, want NORMAL/OPEN v1", name, ev.Previous)
		}
		if ev.Current.Level != "CRITICAL" || ev.Current.Posture != "LOCKDOWN" || ev.Current.Version != 2 ||
			ev.Current.Note != "armed intruder reported in the lobby" || ev.Current.UpdatedBy != stacktest.EMEAManager {
			t.Errorf("%s: current = %+v", name, ev.Current)
		}
		if ev.Site.Status.Level != "CRITICAL" || ev.Site.Status.Version != 2 {
			t.Errorf("%s: site.status = %+v, want the current status", name, ev.Site.Status)
		}
		if ev.Cursor == "" || ev.Cursor == c0 {
			t.Errorf("%s: cursor %q", name, ev.Cursor)
		}
	}

	// The escalation opens and tier 1 — the EMEA managers — is paged.
	opened := nextEscalationEvent(t, escalations, esc.ID, "the first event", func(e stacktest.EscalationView) bool { return true })
	if opened.Escalation.Status != "OPEN" || opened.Escalation.Tier != 0 || opened.Escalation.Site.Code != "LON-HQ" {
		t.Errorf("first escalation event = %+v, want OPEN at tier 0", opened.Escalation)
	}
	page := s.WaitPage(t, "tier-1", func(p sink.Received) bool { return p.Page.EscalationID == idOf(t, esc.ID) && p.Page.Tier == 1 })
	// The sink records a webhook only once its signature (and timestamp)
	// verified against the stack's pager secret; it refused none.
	if rej := s.Rejections(); len(rej) > 0 {
		t.Errorf("the sink refused %d pages, the first as: %v", len(rej), rej[0].Err)
	}
	pg := page.Page
	if pg.Site != "LON-HQ" || pg.Region != "EMEA" || pg.Level != "CRITICAL" || pg.Posture != "LOCKDOWN" ||
		pg.Note != "armed intruder reported in the lobby" || pg.TierName != "regional managers" {
		t.Errorf("tier-1 page = %+v", pg)
	}
	var recipients []string
	for _, r := range pg.Recipients {
		recipients = append(recipients, r.Subject)
	}
	if !slices.Equal(recipients, []string{stacktest.EMEAManager}) {
		t.Errorf("tier 1 paged %v, want the EMEA manager only", recipients)
	}
	if page.IdempotencyKey == "" || page.IdempotencyKey != pg.IdempotencyKey {
		t.Errorf("Idempotency-Key header %q, body %q", page.IdempotencyKey, pg.IdempotencyKey)
	}
	paged := nextEscalationEvent(t, escalations, esc.ID, "the tier-1 page", func(e stacktest.EscalationView) bool { return e.Tier >= 1 })
	if paged.Escalation.Tier != 1 || paged.Escalation.Status != "OPEN" {
		t.Errorf("escalation after the page = %+v, want OPEN at tier 1", paged.Escalation)
	}

	// The site is evacuated while the escalation is open: it stays the one
	// escalation, and later escalation events show the site as it is now.
	s.SetStatus(t, s.GW, stacktest.EMEAManager, "LON-HQ", "CRITICAL", "EVACUATED", "building evacuated")
	for name, sub := range map[string]*stacktest.Subscription{"board": board, "lead-board": leadBoard} {
		if ev := statusEventSkipping(t, sub, "AMS-OFC"); ev.Site.Code != "LON-HQ" || ev.Current.Posture != "EVACUATED" || ev.Previous.Posture != "LOCKDOWN" {
			t.Errorf("%s: evacuation event = %s %+v → %+v", name, ev.Site.Code, ev.Previous, ev.Current)
		}
	}

	// The EMEA manager acknowledges: the climb stops.
	acked := decide(t, s, stacktest.EMEAManager, "acknowledgeEscalation", esc.ID, "on my way")
	if acked.Status != "ACKNOWLEDGED" || acked.AcknowledgedBy == nil || *acked.AcknowledgedBy != stacktest.EMEAManager {
		t.Fatalf("acknowledgeEscalation = %+v", acked)
	}
	ackEvent := nextEscalationEvent(t, escalations, esc.ID, "the acknowledgement", func(e stacktest.EscalationView) bool { return e.Status == "ACKNOWLEDGED" })
	if ackEvent.Escalation.AcknowledgedBy == nil || *ackEvent.Escalation.AcknowledgedBy != stacktest.EMEAManager {
		t.Errorf("acknowledged event = %+v", ackEvent.Escalation)
	}
	if st := ackEvent.Escalation.Site.Status; st.Posture != "EVACUATED" || st.Version != 3 {
		t.Errorf("acknowledged event shows the site as %+v, want its current status EVACUATED v3", st)
	}
	_, timeline := escalationOf(t, s, esc.ID)
	var kinds []string
	for _, e := range timeline {
		kinds = append(kinds, e.Kind)
	}
	if !isSubsequence([]string{"OPENED", "PAGED", "ACKNOWLEDGED"}, kinds) {
		t.Errorf("timeline %v lacks OPENED, PAGED, ACKNOWLEDGED in that order", kinds)
	}
	if i := slices.Index(kinds, "TIMED_OUT"); i >= 0 && i < slices.Index(kinds, "ACKNOWLEDGED") {
		t.Fatalf("tier 1 timed out before the acknowledgement (timeline %v): the machine took more than the 2s tier wait to acknowledge", kinds)
	}
	if ack := timeline[slices.Index(kinds, "ACKNOWLEDGED")]; ack.Actor != stacktest.EMEAManager || ack.Note != "on my way" {
		t.Errorf("ACKNOWLEDGED entry = %+v", ack)
	}

	// The page's signature depends on the secret: the same page signed with
	// another is refused. (Checked only now, so that nothing stands between
	// the page and the acknowledgement.)
	if code := stacktest.PostSignedPage(t, s.Sink.URL()+"/pages", "another-secret", *pg); code != http.StatusUnauthorized {
		t.Errorf("the sink answered HTTP %d to a page signed with another secret, want 401", code)
	}
	if rej := s.Rejections(); len(rej) != 1 || !strings.Contains(rej[0].Err.Error(), "signature") {
		t.Errorf("the sink's refusals: %+v, want the one badly signed page", rej)
	}

	// Tier 2 (the global leads) would be paged 2s after tier 1: give it 3s.
	time.Sleep(3 * time.Second)
	for _, p := range s.Pages() {
		if p.Page.EscalationID == idOf(t, esc.ID) && p.Page.Tier != 1 {
			t.Errorf("tier %d paged after the acknowledgement: %+v", p.Page.Tier, p.Page)
		}
	}

	resolved := decide(t, s, stacktest.EMEAManager, "resolveEscalation", esc.ID, "intruder detained")
	if resolved.Status != "RESOLVED" {
		t.Errorf("resolveEscalation = %+v", resolved)
	}
	nextEscalationEvent(t, escalations, esc.ID, "the resolution", func(e stacktest.EscalationView) bool { return e.Status == "RESOLVED" })
	final, timeline := escalationOf(t, s, esc.ID)
	if final.Status != "RESOLVED" || final.Tier != 1 || timeline[len(timeline)-1].Kind != "RESOLVED" {
		t.Errorf("resolved escalation = %+v, timeline %+v", final, timeline)
	}

	// Region filters: the AMER screen never saw the EMEA lockdown; its first
	// event is the AMER change made after it. And the EMEA screen does not
	// see that AMER change.
	s.SetStatus(t, s.GW, stacktest.AMERManager, "CHI-OFC", "ELEVATED", "OPEN", "storm warning")
	if ev := amerBoard.NextStatusEvent(t); ev.Site.Code != "CHI-OFC" || ev.Site.Region.Code != "AMER" {
		t.Errorf("AMER subscriber received %s (%s) first, want CHI-OFC", ev.Site.Code, ev.Site.Region.Code)
	}
	s.SetStatus(t, s.GW, stacktest.EMEAManager, "DXB-OFC", "ELEVATED", "OPEN", "sandstorm")
	if ev := statusEventSkipping(t, board, "AMS-OFC"); ev.Site.Code != "DXB-OFC" {
		t.Errorf("EMEA subscriber received %s (%s) after LON-HQ, want DXB-OFC", ev.Site.Code, ev.Site.Region.Code)
	}
}

// statusEventSkipping is NextStatusEvent ignoring events of the site skip
// (a primer's late events).
func statusEventSkipping(t testing.TB, sub *stacktest.Subscription, skip string) stacktest.StatusEvent {
	t.Helper()
	for {
		ev := sub.NextStatusEvent(t)
		if ev.Site.Code != skip {
			return ev
		}
	}
}

func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// idOf is the raw UUID inside an Escalation global ID, as pages carry it.
func idOf(t testing.TB, global string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(global)
	kind, id, ok := strings.Cut(string(b), ":")
	if err != nil || !ok || kind != "Escalation" {
		t.Fatalf("not an Escalation ID: %q", global)
	}
	return id
}

// cursorAfter reports whether stream cursor a ("ms-seq") comes after b.
func cursorAfter(t testing.TB, a, b string) bool {
	t.Helper()
	parse := func(c string) (ms, seq uint64) {
		l, r, ok := strings.Cut(c, "-")
		var err1, err2 error
		ms, err1 = strconv.ParseUint(l, 10, 64)
		seq, err2 = strconv.ParseUint(r, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("cursor %q is not a stream ID", c)
		}
		return ms, seq
	}
	am, as := parse(a)
	bm, bs := parse(b)
	return am > bm || am == bm && as > bs
}

// TestSubscriptionResume: a client that saw event 1, went away while events
// 2 and 3 happened, and resubscribes with `after` = event 1's cursor gets
// exactly events 2 and 3, then live events, with no repeat.
func TestSubscriptionResume(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	c := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.EMEAManager))
	board, _ := s.PrimedSubscription(t, c, "board", "EMEA", "AMS-OFC", stacktest.EMEAManager)

	changes := []struct{ level, posture string }{{"ELEVATED", "OPEN"}, {"HIGH", "RESTRICTED"}, {"ELEVATED", "OPEN"}, {"NORMAL", "OPEN"}}
	var events []stacktest.StatusEvent
	for _, ch := range changes[:3] {
		s.SetStatus(t, s.GW, stacktest.EMEAManager, "MAD-OFC", ch.level, ch.posture, "")
		ev := statusEventSkipping(t, board, "AMS-OFC")
		if ev.Site.Code != "MAD-OFC" || ev.Current.Level != ch.level {
			t.Fatalf("live event %d = %s %+v", len(events)+1, ev.Site.Code, ev.Current)
		}
		events = append(events, ev)
	}

	resumed := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.EMEAManager))
	sub := resumed.Subscribe(t, "resumed", stacktest.StatusSubscription, map[string]any{"region": "EMEA", "after": events[0].Cursor})
	for i, want := range events[1:] {
		got := sub.NextStatusEvent(t)
		if got.Cursor != want.Cursor || got.Current.Version != want.Current.Version || got.Site.Code != "MAD-OFC" {
			t.Fatalf("replayed event %d: cursor %s v%d, want cursor %s v%d", i+2, got.Cursor, got.Current.Version, want.Cursor, want.Current.Version)
		}
	}
	// Then live: the next event is the next change, not a repeat.
	s.SetStatus(t, s.GW, stacktest.EMEAManager, "MAD-OFC", changes[3].level, changes[3].posture, "")
	live := sub.NextStatusEvent(t)
	if live.Current.Version != events[2].Current.Version+1 || live.Current.Level != "NORMAL" {
		t.Errorf("after the replay: event v%d %s, want v%d NORMAL", live.Current.Version, live.Current.Level, events[2].Current.Version+1)
	}
	if !cursorAfter(t, live.Cursor, events[2].Cursor) {
		t.Errorf("live cursor %s does not follow %s", live.Cursor, events[2].Cursor)
	}

	// A cursor that is not one is refused with the field named.
	bad := resumed.Subscribe(t, "bad", stacktest.StatusSubscription, map[string]any{"after": "yesterday"})
	m := bad.Message(t)
	var errs []stacktest.GQLError
	if m.Type != "error" || json.Unmarshal(m.Payload, &errs) != nil || len(errs) != 1 || errs[0].Code() != "BAD_USER_INPUT" || errs[0].Extensions["field"] != "after" {
		t.Errorf("subscribe with a bogus cursor: %s %s", m.Type, m.Payload)
	}
	// The connection survives a refused subscription.
	resumed.Ping(t)
}

// closeCode reads until the server closes the connection and returns the
// close code.
func closeCode(t *testing.T, conn *websocket.Conn) int {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(stacktest.WaitLimit))
	for {
		_, msg, err := conn.ReadMessage()
		if err == nil {
			t.Logf("message before the close: %s", msg)
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		t.Fatalf("connection ended without a close frame: %v", err)
	}
}

// TestWebSocketProtocol checks graphql-transport-ws's rules at the edges.
func TestWebSocketProtocol(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})

	t.Run("a bad token in connection_init is closed 4403", func(t *testing.T) {
		t.Parallel()
		conn := stacktest.RawDial(t, s.GW)
		if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer not-a-token"}}); err != nil {
			t.Fatal(err)
		}
		if code := closeCode(t, conn); code != 4403 {
			t.Errorf("close code %d, want 4403", code)
		}
	})

	t.Run("connection_init without a token is closed 4403", func(t *testing.T) {
		t.Parallel()
		conn := stacktest.RawDial(t, s.GW)
		if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{}}); err != nil {
			t.Fatal(err)
		}
		if code := closeCode(t, conn); code != 4403 {
			t.Errorf("close code %d, want 4403", code)
		}
	})

	t.Run("no connection_init is closed 4408 after the init timeout", func(t *testing.T) {
		t.Parallel()
		conn := stacktest.RawDial(t, s.GW)
		if code := closeCode(t, conn); code != 4408 {
			t.Errorf("close code %d, want 4408", code)
		}
	})

	t.Run("subscribe before connection_init is closed 4401", func(t *testing.T) {
		t.Parallel()
		conn := stacktest.RawDial(t, s.GW)
		if err := conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { siteStatusChanged { cursor } }"}}); err != nil {
			t.Fatal(err)
		}
		if code := closeCode(t, conn); code != 4401 {
			t.Errorf("close code %d, want 4401", code)
		}
	})

	t.Run("a second connection_init is closed 4429", func(t *testing.T) {
		t.Parallel()
		c := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.Auditor))
		if err := c.Write(stacktest.WSMessage{Type: "connection_init"}); err != nil {
			t.Fatal(err)
		}
		<-c.Done()
		var ce *websocket.CloseError
		if err := c.Err(); !errors.As(err, &ce) || ce.Code != 4429 {
			t.Errorf("connection ended with %v, want close 4429", err)
		}
	})

	t.Run("a bad token in the upgrade request is HTTP 401", func(t *testing.T) {
		t.Parallel()
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
		_, resp, err := d.Dial(s.GW.WS, http.Header{"Authorization": {"Bearer not-a-token"}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("dial with a bad header token: %v, %v", err, resp)
		}
	})

	t.Run("a token in the upgrade request authenticates", func(t *testing.T) {
		t.Parallel()
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
		conn, _, err := d.Dial(s.GW.WS, http.Header{"Authorization": {"Bearer " + s.Token(t, stacktest.Auditor)}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.WriteJSON(map[string]any{"type": "connection_init"}); err != nil {
			t.Fatal(err)
		}
		var ack stacktest.WSMessage
		_ = conn.SetReadDeadline(time.Now().Add(stacktest.WaitLimit))
		if err := conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
			t.Fatalf("want connection_ack, got %+v, %v", ack, err)
		}
		// Queries run over the socket too, as the caller.
		if err := conn.WriteJSON(map[string]any{"id": "q", "type": "subscribe", "payload": map[string]any{"query": "{ me { subject } }"}}); err != nil {
			t.Fatal(err)
		}
		var next stacktest.WSMessage
		if err := conn.ReadJSON(&next); err != nil || next.Type != "next" || !strings.Contains(string(next.Payload), `"subject":"`+stacktest.Auditor+`"`) {
			t.Fatalf("query over WebSocket: %+v, %v", next, err)
		}
		var done stacktest.WSMessage
		if err := conn.ReadJSON(&done); err != nil || done.Type != "complete" || done.ID != "q" {
			t.Errorf("want complete for q, got %+v, %v", done, err)
		}
	})

	t.Run("a subscription with a bad region is an error message", func(t *testing.T) {
		t.Parallel()
		c := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.Auditor))
		m := c.Subscribe(t, "mars", stacktest.StatusSubscription, map[string]any{"region": "MARS"}).Message(t)
		var errs []stacktest.GQLError
		if m.Type != "error" || json.Unmarshal(m.Payload, &errs) != nil || len(errs) != 1 || errs[0].Code() != "BAD_USER_INPUT" || errs[0].Extensions["field"] != "region" {
			t.Errorf("got %s %s", m.Type, m.Payload)
		}
	})
}

// TestShutdownClosesWebSockets: a gateway that shuts down closes every
// WebSocket with 1012 (service restart), which graphql-ws clients retry, so
// screens reconnect to another replica and resume from their last cursor.
// It must not first complete their subscriptions: a completed subscription
// is over for the client, which would then never resubscribe.
func TestShutdownClosesWebSockets(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	g := s.StartGateway(t, nil)
	c := stacktest.DialWS(t, g, s.Token(t, stacktest.Auditor))
	sub := c.Subscribe(t, "board", stacktest.StatusSubscription, nil)
	c.Ping(t) // the subscribe has been handled

	stopped := make(chan struct{})
	go func() { g.Stop(); close(stopped) }()
	select {
	case m := <-sub.Incoming():
		t.Errorf("at shutdown the subscription got %s %s before the close", m.Type, m.Payload)
	case <-c.Done():
	case <-time.After(stacktest.WaitLimit):
		t.Fatalf("the connection is still open %s after the shutdown began", stacktest.WaitLimit)
	}
	<-stopped
	var ce *websocket.CloseError
	if err := c.Err(); !errors.As(err, &ce) || ce.Code != websocket.CloseServiceRestart {
		t.Errorf("connection ended with %v, want close 1012", err)
	}
}

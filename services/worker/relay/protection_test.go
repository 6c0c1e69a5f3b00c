package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/directory"
	"meridian.dev/platform/live"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/protection"
	"meridian.dev/platform/testenv"
	"meridian.dev/worker/relay"
	"meridian.dev/workflows/engine"
	protectionwf "meridian.dev/workflows/protection"
)

// watchRow is the delivery state of one CHECKED_IN watch row of a detail.
func watchRow(t *testing.T, pool *pgxpool.Pool, detailID uuid.UUID, withDuress bool) outboxRow {
	t.Helper()
	var r outboxRow
	err := pool.QueryRow(context.Background(), `SELECT attempts, processed_at IS NOT NULL, last_error FROM outbox
		WHERE topic = $1 AND payload->>'command' = $2 AND payload->>'detailId' = $3 AND (payload->'duress' IS NOT NULL) = $4`,
		protection.TopicWatch, protection.WatchCheckedIn, detailID.String(), withDuress).Scan(&r.Attempts, &r.Processed, &r.LastError)
	if err != nil {
		t.Fatalf("CHECKED_IN row of %s (duress %t): %v", detailID, withDuress, err)
	}
	return r
}

// deliverWatchRow relays until the detail's CHECKED_IN row is delivered.
func deliverWatchRow(t *testing.T, r *outbox.Relay, pool *pgxpool.Pool, detailID uuid.UUID, withDuress bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for relayOnce(t, r); !watchRow(t, pool, detailID, withDuress).Processed; relayOnce(t, r) {
		if time.Now().After(deadline) {
			t.Fatalf("the CHECKED_IN row was never delivered: %+v", watchRow(t, pool, detailID, withDuress))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkedInSignals counts the CHECKED_IN signals the detail's watch got.
func checkedInSignals(t *testing.T, tc client.Client, detailID uuid.UUID) int {
	t.Helper()
	it := tc.GetWorkflowHistory(context.Background(), protection.WatchWorkflowID(detailID), "", false,
		enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of the watch of %s: %v", detailID, err)
		}
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == protectionwf.SignalCheckedIn {
			n++
		}
	}
	return n
}

// TestRelayRaisesADuressBeforeSignallingTheWatch: a duress check-in's own
// CHECKED_IN row carries the duress. With Temporal refusing every call the
// row stays pending, yet the SEV1 DURESS incident is already raised: it
// needs Postgres alone and never waits on the watch. Delivered again once
// Temporal answers, the row signals the watch and raises nothing twice; an
// ordinary check-in's row raises nothing at all.
func TestRelayRaisesADuressBeforeSignallingTheWatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	rdb, prefix := testenv.Redis(t)
	log := quietLogger()
	store := protection.NewStore(pool, rdb, prefix)

	lead := auth.Identity{Subject: "pr-lead", Roles: []string{auth.RoleGlobalLead}}
	agent := auth.Identity{Subject: "pr-agent", Roles: []string{auth.RoleProtectionAgent}}
	people := directory.NewStore(pool)
	for _, p := range []directory.Person{
		{Subject: lead.Subject, Name: "Gil", Roles: lead.Roles},
		{Subject: "pr-leader", Name: "Lena", Roles: []string{auth.RoleProtectionAgent}},
		{Subject: agent.Subject, Name: "Ari", Roles: agent.Roles},
	} {
		if err := people.Upsert(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	const code, duressCode = "blue-heron-42", "red-kite-17"
	if _, err := store.SetCodes(ctx, agent, code, duressCode); err != nil {
		t.Fatal(err)
	}
	p, err := store.CreateProtectee(ctx, lead, protection.NewProtectee{Name: "Helena Vance", ThreatLevel: protection.ThreatHigh})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	d, err := store.CreateDetail(ctx, lead, protection.NewDetail{ProtecteeID: p.ID, Region: "EMEA", Leader: "pr-leader",
		Agents: []string{agent.Subject}, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Start(ctx, lead, d.ID); err != nil {
		t.Fatal(err)
	}

	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	tc, err := engine.Dial(dialCtx, testenv.TemporalAddress(t), "default", log)
	cancel()
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	t.Cleanup(tc.Close)
	tq := testenv.Unique(t, "tq")
	t.Cleanup(func() { terminateAll(t, tc, pool, d.ID) })
	healthy := outbox.NewRelay(pool, log)
	(&relay.Handlers{Publisher: live.NewPublisher(rdb, live.Keys{Prefix: prefix}), Temporal: tc, TaskQueue: tq, TierWait: 2 * time.Second,
		Protection: store}).Register(healthy)
	// The watch is running before the check-ins.
	deadline := time.Now().Add(15 * time.Second)
	for relayOnce(t, healthy); pending(t, pool) != 0; relayOnce(t, healthy) {
		if time.Now().After(deadline) {
			t.Fatalf("%d rows of the detail's start never delivered: %v", pending(t, pool), undelivered(t, pool))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A Temporal that refuses every call (a namespace it does not have).
	refusing, err := client.Dial(client.Options{HostPort: testenv.TemporalAddress(t), Namespace: testenv.Unique(t, "absent")})
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	t.Cleanup(refusing.Close)
	down := outbox.NewRelay(pool, log)
	(&relay.Handlers{Publisher: live.NewPublisher(rdb, live.Keys{Prefix: prefix}), Temporal: refusing, TaskQueue: tq, TierWait: 2 * time.Second,
		Protection: store}).Register(down)

	if _, err := store.CheckIn(ctx, agent, protection.CheckInInput{DetailID: d.ID, Code: duressCode}); err != nil {
		t.Fatal(err)
	}
	var checkInID uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT id FROM check_ins WHERE detail_id = $1`, d.ID).Scan(&checkInID); err != nil {
		t.Fatal(err)
	}
	duressIncidents := func() int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM incidents WHERE kind = $1`, protection.IncidentDuress).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	relayOnce(t, down)
	if row := watchRow(t, pool, d.ID, true); row.Processed || row.Attempts != 1 || row.LastError == "" {
		t.Fatalf("the duress's CHECKED_IN row with Temporal refusing = %+v, want pending after 1 failed attempt", row)
	}
	var ref, severity string
	var restricted []string
	if err := pool.QueryRow(ctx, `SELECT source_ref, severity, restricted_to FROM incidents WHERE kind = $1`,
		protection.IncidentDuress).Scan(&ref, &severity, &restricted); err != nil {
		t.Fatalf("no DURESS incident while Temporal refuses: %v", err)
	}
	if ref != "duress:"+checkInID.String() || severity != "SEV1" || len(restricted) == 0 {
		t.Errorf("DURESS incident source %q, severity %s, restricted to %v; want this check-in's, SEV1, restricted", ref, severity, restricted)
	}
	if n := checkedInSignals(t, tc, d.ID); n != 0 {
		t.Fatalf("the watch got %d CHECKED_IN signals through a refusing Temporal", n)
	}

	// Temporal answers: the retried row signals the watch, raises nothing.
	deliverWatchRow(t, healthy, pool, d.ID, true)
	if n := checkedInSignals(t, tc, d.ID); n != 1 {
		t.Errorf("the watch got %d CHECKED_IN signals, want 1", n)
	}
	if n := duressIncidents(); n != 1 {
		t.Errorf("%d DURESS incidents after the row was retried, want 1", n)
	}

	// An ordinary check-in's row signals the watch and raises nothing.
	if _, err := store.CheckIn(ctx, agent, protection.CheckInInput{DetailID: d.ID, Code: code}); err != nil {
		t.Fatal(err)
	}
	deliverWatchRow(t, healthy, pool, d.ID, false)
	if n := checkedInSignals(t, tc, d.ID); n != 2 {
		t.Errorf("the watch got %d CHECKED_IN signals, want 2", n)
	}
	if n := duressIncidents(); n != 1 {
		t.Errorf("%d DURESS incidents after an ordinary check-in, want 1", n)
	}
}

// terminateAll ends the workflows the test started: the detail's watch and
// the duress's incident and escalations (no worker ever runs them).
func terminateAll(t *testing.T, tc client.Client, pool *pgxpool.Pool, detailID uuid.UUID) {
	ids := []string{protection.WatchWorkflowID(detailID)}
	rows, err := pool.Query(context.Background(), `SELECT workflow_id FROM incidents UNION ALL SELECT workflow_id FROM escalations`)
	if err != nil {
		t.Errorf("workflows to terminate: %v", err)
	} else {
		for rows.Next() {
			var id string
			if rows.Scan(&id) == nil {
				ids = append(ids, id)
			}
		}
		rows.Close()
	}
	for _, id := range ids {
		_ = tc.TerminateWorkflow(context.Background(), id, "", "test over")
	}
}

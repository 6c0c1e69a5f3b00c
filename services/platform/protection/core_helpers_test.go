package protection

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/testenv"
)

// coreClock is the store's now in these tests.
var coreClock = time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)

// The people of these tests: subject → identity.
var (
	idLead    = auth.Identity{Subject: "lead", Roles: []string{auth.RoleGlobalLead}}
	idAdmin   = auth.Identity{Subject: "admin", Roles: []string{auth.RoleAdmin}}
	idAuditor = auth.Identity{Subject: "auditor", Roles: []string{auth.RoleAuditor}}
	idManager = auth.Identity{Subject: "manager", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"EMEA"}}
	idLeader  = auth.Identity{Subject: "leader", Roles: []string{auth.RoleProtectionAgent}}
	idAgent   = auth.Identity{Subject: "agent", Roles: []string{auth.RoleProtectionAgent}}
	idAgent2  = auth.Identity{Subject: "agent2", Roles: []string{auth.RoleProtectionAgent}}
	idOther   = auth.Identity{Subject: "other", Roles: []string{auth.RoleProtectionAgent}}
	idTravel  = auth.Identity{Subject: "traveller", Roles: []string{auth.RoleTravelTeam}}
)

// core is a store on a fresh database and a Redis prefix of its own, with
// the people above in the directory.
type core struct {
	store *Store
	pool  *pgxpool.Pool
	rdb   *redis.Client
}

func newCore(t *testing.T) core {
	t.Helper()
	pool := testenv.NewPool(t)
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	for _, id := range []auth.Identity{idLead, idAdmin, idAuditor, idManager, idLeader, idAgent, idAgent2, idOther, idTravel} {
		if _, err := pool.Exec(ctx, `INSERT INTO users (subject, name, roles, regions) VALUES ($1, $2, $3, $4)`,
			id.Subject, "Person "+id.Subject, id.Roles, append([]string{}, id.Regions...)); err != nil {
			t.Fatalf("insert user %s: %v", id.Subject, err)
		}
	}
	s := NewStore(pool, rdb, prefix)
	s.now = func() time.Time { return coreClock }
	return core{store: s, pool: pool, rdb: rdb}
}

func (c core) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := c.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// coreTables is every table a protection write touches.
var coreTables = []string{"protectees", "details", "detail_agents", "movements", "safe_havens", "advance_notes",
	"detail_positions", "detail_timeline", "protection_access_log", "audit_log", "outbox", "mutation_receipts"}

// snapshot counts the rows of every table a write touches, and what the
// detail rows hold, to prove a refused write left everything alone.
func (c core) snapshot(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range coreTables {
		out[table] = c.count(t, `SELECT count(*) FROM `+table)
	}
	var sum int
	if err := c.pool.QueryRow(context.Background(), `SELECT coalesce(sum(hashtext(d::text)), 0) FROM details d`).Scan(&sum); err != nil {
		t.Fatalf("hash details: %v", err)
	}
	out["details:content"] = sum
	if err := c.pool.QueryRow(context.Background(), `SELECT coalesce(sum(hashtext(m::text)), 0) FROM movements m`).Scan(&sum); err != nil {
		t.Fatalf("hash movements: %v", err)
	}
	out["movements:content"] = sum
	if err := c.pool.QueryRow(context.Background(), `SELECT coalesce(sum(hashtext(p::text)), 0) FROM protectees p`).Scan(&sum); err != nil {
		t.Fatalf("hash protectees: %v", err)
	}
	out["protectees:content"] = sum
	return out
}

func (c core) assertUnchanged(t *testing.T, before map[string]int, what string) {
	t.Helper()
	after := c.snapshot(t)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %s changed from %d to %d", what, k, v, after[k])
		}
	}
}

// wantFault checks err is a fault with code and, for BAD_USER_INPUT, field.
func wantCoreFault(t *testing.T, err error, code fault.Code, field string) {
	t.Helper()
	var f *fault.Error
	if !errors.As(err, &f) {
		t.Fatalf("want %s fault, got %v", code, err)
	}
	if f.Code != code {
		t.Fatalf("want %s, got %s: %v", code, f.Code, err)
	}
	if field != "" && f.Field != field {
		t.Fatalf("want field %q, got %q: %v", field, f.Field, err)
	}
}

func (c core) protectee(t *testing.T, name string) Protectee {
	t.Helper()
	p, err := c.store.CreateProtectee(context.Background(), idLead, NewProtectee{Name: name, ThreatLevel: ThreatHigh})
	if err != nil {
		t.Fatalf("create protectee %s: %v", name, err)
	}
	return p
}

// detail creates a PLANNED detail of p in region, led by leader.
func (c core) detail(t *testing.T, p Protectee, region, leader string, agents ...string) Detail {
	t.Helper()
	d, err := c.store.CreateDetail(context.Background(), idLead, NewDetail{ProtecteeID: p.ID, Region: region, Leader: leader,
		Agents: agents, StartsAt: coreClock.Add(-time.Hour), EndsAt: coreClock.Add(72 * time.Hour)})
	if err != nil {
		t.Fatalf("create detail: %v", err)
	}
	return d
}

func (c core) start(t *testing.T, d Detail) Detail {
	t.Helper()
	d, err := c.store.Start(context.Background(), idLead, d.ID)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return d
}

// outbox reads the payloads of a topic, oldest first.
func coreOutbox[T any](t *testing.T, c core, topic string) []T {
	t.Helper()
	rows, err := c.pool.Query(context.Background(), `SELECT payload FROM outbox WHERE topic = $1 ORDER BY id`, topic)
	if err != nil {
		t.Fatalf("outbox: %v", err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			t.Fatalf("outbox: %v", err)
		}
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("outbox payload %s: %v", raw, err)
		}
		out = append(out, v)
	}
	return out
}

// auditText is every audit row's before and after, and every timeline
// note, as text: what uncleared auditors and managers can read.
func (c core) auditText(t *testing.T) string {
	t.Helper()
	var text string
	if err := c.pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(coalesce(before::text, '') || ' ' ||
		coalesce(after::text, ''), E'\n'), '') FROM audit_log`).Scan(&text); err != nil {
		t.Fatalf("audit text: %v", err)
	}
	var notes string
	if err := c.pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(note, E'\n'), '') FROM detail_timeline`).Scan(&notes); err != nil {
		t.Fatalf("timeline text: %v", err)
	}
	return text + "\n" + notes
}

func coreID(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func corePtr[T any](v T) *T { return &v }

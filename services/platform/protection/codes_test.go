package protection

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/testenv"
)

// The people of the check-in tests.
var (
	ciLead     = auth.Identity{Subject: "ci-lead", Roles: []string{auth.RoleGlobalLead}}
	ciLeader   = auth.Identity{Subject: "ci-leader", Roles: []string{auth.RoleProtectionAgent}}
	ciAgent    = auth.Identity{Subject: "ci-agent", Roles: []string{auth.RoleProtectionAgent}}
	ciAgent2   = auth.Identity{Subject: "ci-agent2", Roles: []string{auth.RoleProtectionAgent}}
	ciOutsider = auth.Identity{Subject: "ci-outsider", Roles: []string{auth.RoleProtectionAgent}}
	ciTravel   = auth.Identity{Subject: "ci-travel", Roles: []string{auth.RoleTravelTeam}}
)

const (
	ciCode   = "blue-heron-42"
	ciDuress = "red-kite-17"
)

// ciEnv is a store on a fresh database with the people above, a clock the
// test moves, and every agent's codes set.
type ciEnv struct {
	t     *testing.T
	store *Store
	pool  *pgxpool.Pool
	now   time.Time
}

func newCIEnv(t *testing.T) *ciEnv {
	t.Helper()
	pool := testenv.NewPool(t)
	rdb, prefix := testenv.Redis(t)
	e := &ciEnv{t: t, pool: pool, now: time.Date(2031, 5, 6, 14, 0, 0, 0, time.UTC)}
	e.store = NewStore(pool, rdb, prefix)
	e.store.now = func() time.Time { return e.now }
	for _, id := range []auth.Identity{ciLead, ciLeader, ciAgent, ciAgent2, ciOutsider, ciTravel} {
		if _, err := pool.Exec(context.Background(), `INSERT INTO users (subject, name, roles, regions) VALUES ($1, $2, $3, '{}')`,
			id.Subject, "Name of "+id.Subject, id.Roles); err != nil {
			t.Fatalf("insert user %s: %v", id.Subject, err)
		}
	}
	return e
}

func (e *ciEnv) setCodes(id auth.Identity) {
	e.t.Helper()
	if _, err := e.store.SetCodes(context.Background(), id, ciCode, ciDuress); err != nil {
		e.t.Fatalf("set codes of %s: %v", id.Subject, err)
	}
}

// activeDetail creates and starts a detail of a new protectee, led by
// ciLeader with ciAgent and ciAgent2, in EMEA, checking in every 30 minutes.
func (e *ciEnv) activeDetail(protectee string) Detail {
	e.t.Helper()
	d := e.plannedDetail(protectee)
	d, err := e.store.Start(context.Background(), ciLead, d.ID)
	if err != nil {
		e.t.Fatalf("start: %v", err)
	}
	return d
}

func (e *ciEnv) plannedDetail(protectee string) Detail {
	e.t.Helper()
	ctx := context.Background()
	p, err := e.store.CreateProtectee(ctx, ciLead, NewProtectee{Name: protectee, ThreatLevel: ThreatHigh})
	if err != nil {
		e.t.Fatalf("create protectee: %v", err)
	}
	d, err := e.store.CreateDetail(ctx, ciLead, NewDetail{ProtecteeID: p.ID, Region: "EMEA", Leader: ciLeader.Subject,
		Agents: []string{ciAgent.Subject, ciAgent2.Subject}, StartsAt: e.now.Add(-time.Hour), EndsAt: e.now.Add(48 * time.Hour)})
	if err != nil {
		e.t.Fatalf("create detail: %v", err)
	}
	return d
}

func (e *ciEnv) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// ciTables are the tables a check-in, a refusal or setting codes writes.
var ciTables = []string{"check_ins", "check_in_codes", "detail_timeline", "audit_log", "outbox", "incidents", "escalations"}

// state is every row count above plus the content of details and codes:
// equal states mean nothing was written.
func (e *ciEnv) state() map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for _, table := range ciTables {
		out[table] = e.count(`SELECT count(*) FROM ` + table)
	}
	out["details:content"] = e.count(`SELECT coalesce(sum(hashtext(d::text)), 0) FROM details d`)
	out["codes:content"] = e.count(`SELECT coalesce(sum(hashtext(c::text)), 0) FROM check_in_codes c`)
	return out
}

func (e *ciEnv) assertState(before map[string]int, what string) {
	e.t.Helper()
	after := e.state()
	for k, v := range before {
		if after[k] != v {
			e.t.Errorf("%s: %s changed from %d to %d", what, k, v, after[k])
		}
	}
}

func wantFault(t *testing.T, err error, code fault.Code, field string) {
	t.Helper()
	var f *fault.Error
	if !errors.As(err, &f) {
		t.Fatalf("want a %s fault, got %v", code, err)
	}
	if f.Code != code || (field != "" && f.Field != field) {
		t.Fatalf("want %s on %q, got %s on %q: %v", code, field, f.Code, f.Field, err)
	}
}

func TestSetCodesRefusesBadCodesAndChangesNothing(t *testing.T) {
	e := newCIEnv(t)
	e.setCodes(ciAgent2) // a row that must survive every refusal unchanged
	long := strings.Repeat("x", maxCodeLength+1)
	tests := []struct {
		name         string
		id           auth.Identity
		code, duress string
		want         fault.Code
		field        string
	}{
		{"code too short", ciAgent, "12345", ciDuress, fault.BadUserInput, "code"},
		{"code too long", ciAgent, long, ciDuress, fault.BadUserInput, "code"},
		{"empty code", ciAgent, "", ciDuress, fault.BadUserInput, "code"},
		{"duress too short", ciAgent, ciCode, "abc", fault.BadUserInput, "duressCode"},
		{"duress too long", ciAgent, ciCode, long, fault.BadUserInput, "duressCode"},
		{"duress equals code", ciAgent, ciCode, ciCode, fault.BadUserInput, "duressCode"},
		{"NUL in code", ciAgent, "abc\x00defg", ciDuress, fault.BadUserInput, "code"},
		{"not UTF-8 duress", ciAgent, ciCode, "abc\xffdefg", fault.BadUserInput, "duressCode"},
		{"six runes but more bytes is fine, five is not", ciAgent, "ééééé", ciDuress, fault.BadUserInput, "code"},
		{"not a protection agent", ciTravel, ciCode, ciDuress, fault.Forbidden, ""},
		{"a global lead is not an agent", ciLead, ciCode, ciDuress, fault.Forbidden, ""},
		{"anonymous", auth.Identity{}, ciCode, ciDuress, fault.Unauthenticated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.state()
			_, err := e.store.SetCodes(context.Background(), tt.id, tt.code, tt.duress)
			if tt.want == fault.Unauthenticated {
				if !errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("want unauthenticated, got %v", err)
				}
			} else {
				wantFault(t, err, tt.want, tt.field)
			}
			e.assertState(before, tt.name)
		})
	}
	// Six characters of more than one byte each are a valid code.
	if _, err := e.store.SetCodes(context.Background(), ciAgent, "éééééé", ciDuress); err != nil {
		t.Fatalf("six two-byte characters: %v", err)
	}
}

func TestSetCodesStoresSlowHashesUnderOneSaltAndAuditsNoSecret(t *testing.T) {
	e := newCIEnv(t)
	ctx := context.Background()
	at, err := e.store.SetCodes(ctx, ciAgent, ciCode, ciDuress)
	if err != nil {
		t.Fatal(err)
	}
	if !at.Equal(e.now) {
		t.Errorf("SetCodes answered %s, want the store's now %s", at, e.now)
	}
	var params string
	var salt, codeHash, duressHash []byte
	var updated time.Time
	if err := e.pool.QueryRow(ctx, `SELECT params, salt, code_hash, duress_hash, updated_at FROM check_in_codes WHERE subject = $1`,
		ciAgent.Subject).Scan(&params, &salt, &codeHash, &duressHash, &updated); err != nil {
		t.Fatal(err)
	}
	if params != "argon2id$v=19$m=19456,t=2,p=1" {
		t.Errorf("params = %q, want OWASP's argon2id parameters", params)
	}
	if len(salt) != saltLength || len(codeHash) != keyLength || len(duressHash) != keyLength {
		t.Fatalf("salt %d bytes, hashes %d and %d bytes; want %d and %d", len(salt), len(codeHash), len(duressHash), saltLength, keyLength)
	}
	if !updated.Equal(at) {
		t.Errorf("updated_at %s, answered %s", updated, at)
	}
	for _, secret := range []string{ciCode, ciDuress} {
		if bytes.Contains(codeHash, []byte(secret)) || bytes.Contains(duressHash, []byte(secret)) || bytes.Contains(salt, []byte(secret)) {
			t.Errorf("the stored row contains the code %q itself", secret)
		}
	}
	// One derivation under the stored salt and parameters checks a code
	// against both hashes.
	k, err := parseKDF(params)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		code                 string
		wantOrdinary, wantDu bool
	}{{ciCode, true, false}, {ciDuress, false, true}, {"not-the-code", false, false}} {
		key, err := derive(ctx, k, tt.code, salt)
		if err != nil {
			t.Fatal(err)
		}
		if o, d := matchCodes(key, codeHash, duressHash); o != tt.wantOrdinary || d != tt.wantDu {
			t.Errorf("code %q: matches ordinary=%v duress=%v, want %v %v", tt.code, o, d, tt.wantOrdinary, tt.wantDu)
		}
	}

	// Neither codes nor hashes reach the audit log.
	var action, after string
	var restricted []string
	if err := e.pool.QueryRow(ctx, `SELECT action, after::text, restricted_to FROM audit_log WHERE object_type = 'CheckInCodes'`).
		Scan(&action, &after, &restricted); err != nil {
		t.Fatal(err)
	}
	if action != "check_in_codes.set" {
		t.Errorf("audit action %q", action)
	}
	for _, secret := range []string{ciCode, ciDuress, hex.EncodeToString(codeHash), hex.EncodeToString(duressHash),
		base64.StdEncoding.EncodeToString(codeHash), base64.StdEncoding.EncodeToString(duressHash), base64.StdEncoding.EncodeToString(salt)} {
		if strings.Contains(after, secret) {
			t.Errorf("audit row %s carries a secret (%q)", after, secret)
		}
	}

	// Setting them again draws a new salt: nothing of the old hashes is reused.
	e.now = e.now.Add(time.Minute)
	if _, err := e.store.SetCodes(ctx, ciAgent, "green-finch-9", "grey-owl-31"); err != nil {
		t.Fatal(err)
	}
	var salt2 []byte
	if err := e.pool.QueryRow(ctx, `SELECT salt FROM check_in_codes WHERE subject = $1`, ciAgent.Subject).Scan(&salt2); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(salt, salt2) {
		t.Errorf("the salt was reused when the codes changed")
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE object_type = 'CheckInCodes' AND after->>'replaced' = 'true'`); n != 1 {
		t.Errorf("%d audit rows say the codes were replaced, want 1", n)
	}
}

func TestSetCodesForSomeoneOutsideTheDirectoryIsRefused(t *testing.T) {
	e := newCIEnv(t)
	stranger := auth.Identity{Subject: "not-in-directory", Roles: []string{auth.RoleProtectionAgent}}
	before := e.state()
	_, err := e.store.SetCodes(context.Background(), stranger, ciCode, ciDuress)
	if !errors.Is(err, ErrNotInDirectory) {
		t.Fatalf("want ErrNotInDirectory, got %v", err)
	}
	e.assertState(before, "stranger's codes")
}

func TestParseKDF(t *testing.T) {
	k, err := parseKDF(currentKDF.String())
	if err != nil || k != currentKDF {
		t.Fatalf("round trip: %+v, %v", k, err)
	}
	for _, bad := range []string{"", "bcrypt$2a$10", "argon2id$v=16$m=19456,t=2,p=1", "argon2id$v=19$m=4,t=2,p=1",
		"argon2id$v=19$m=99999999,t=2,p=1", "argon2id$v=19$m=19456,t=0,p=1", "argon2id$v=19$m=19456,t=99,p=1",
		"argon2id$v=19$m=19456,t=2,p=0", "argon2i$v=19$m=19456,t=2,p=1"} {
		if _, err := parseKDF(bad); err == nil {
			t.Errorf("parseKDF(%q) accepted it", bad)
		}
	}
}

// A code hashed under older, weaker parameters still verifies, under the
// parameters stored beside it.
func TestCheckInVerifiesUnderTheStoredParameters(t *testing.T) {
	e := newCIEnv(t)
	ctx := context.Background()
	d := e.activeDetail("Helena Vance")
	old := kdf{memory: 8192, time: 1, threads: 1}
	salt := bytes.Repeat([]byte{7}, saltLength)
	codeHash, _ := derive(ctx, old, ciCode, salt)
	duressHash, _ := derive(ctx, old, ciDuress, salt)
	if _, err := e.pool.Exec(ctx, `INSERT INTO check_in_codes (subject, params, salt, code_hash, duress_hash) VALUES ($1, $2, $3, $4, $5)`,
		ciAgent.Subject, old.String(), salt, codeHash, duressHash); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CheckIn(ctx, ciAgent, CheckInInput{DetailID: d.ID, Code: ciCode}); err != nil {
		t.Fatalf("check-in under stored parameters: %v", err)
	}
	// A row whose parameters cannot be read fails loudly rather than
	// refusing every code as wrong (which would count towards an alert).
	if _, err := e.pool.Exec(ctx, `UPDATE check_in_codes SET params = 'garbage' WHERE subject = $1`, ciAgent.Subject); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	_, err := e.store.CheckIn(context.WithValue(ctx, derivationCounterKey{}, &n), ciAgent, CheckInInput{DetailID: d.ID, Code: ciCode})
	if err == nil || fault.CodeOf(err) != fault.Internal {
		t.Fatalf("unreadable parameters: want an internal error, got %v", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d derivations, want 1", n.Load())
	}
	if got := e.count(`SELECT failed_codes FROM details WHERE id = $1`, d.ID); got != 0 {
		t.Errorf("failed_codes = %d after an internal error, want 0", got)
	}
}

// ciDetailID is an ID no detail has.
func ciDetailID(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// BenchmarkDerive is the cost every check-in pays once, whatever its
// outcome.
func BenchmarkDerive(b *testing.B) {
	salt := make([]byte, saltLength)
	for b.Loop() {
		if _, err := derive(context.Background(), currentKDF, ciCode, salt); err != nil {
			b.Fatal(err)
		}
	}
}

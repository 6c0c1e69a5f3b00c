package protection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/postgres"
)

// Store keeps the protection domain in Postgres (the record) and each
// detail's last position in Redis (live state).
type Store struct {
	pool   *pgxpool.Pool
	rdb    *redis.Client
	prefix string // Redis key prefix (MERIDIAN_REDIS_PREFIX)
	// now is the clock; tests move it to exercise due times.
	now func() time.Time
	log *slog.Logger
}

// redisTimeout bounds each Redis round trip: live state is an overlay on
// Postgres, and a hung Redis must not hold up a write or a read.
const redisTimeout = 500 * time.Millisecond

func (s *Store) logger() *slog.Logger {
	if s.log != nil {
		return s.log
	}
	return slog.Default()
}

// clock is the store's now, to the microsecond Postgres keeps.
func (s *Store) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

// NewStore returns a store. rdb may be nil: the last position is then read
// from Postgres.
func NewStore(pool *pgxpool.Pool, rdb *redis.Client, prefix string) *Store {
	return &Store{pool: pool, rdb: rdb, prefix: prefix}
}

// DetailFilter narrows Details.
type DetailFilter struct {
	Status string // "" any
	Region string // "" any
}

// --- protectees ---

const protecteeColumns = `p.id, p.name, p.title, p.threat_level, p.profile, p.created_by, p.created_at, p.updated_at`

func scanProtectee(row pgx.Row) (Protectee, error) {
	var p Protectee
	var profile []byte
	if err := row.Scan(&p.ID, &p.Name, &p.Title, &p.ThreatLevel, &profile, &p.CreatedBy, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return Protectee{}, err
	}
	if err := json.Unmarshal(profile, &p.Profile); err != nil {
		return Protectee{}, fmt.Errorf("protection: profile of %s: %w", p.ID, err)
	}
	return p, nil
}

func queryProtectees(ctx context.Context, q pgxQuerier, query string, args ...any) ([]Protectee, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("protection: protectees: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Protectee, error) { return scanProtectee(r) })
	if err != nil {
		return nil, fmt.Errorf("protection: protectees: %w", err)
	}
	return list, nil
}

func loadProtectee(ctx context.Context, q pgxQuerier, id uuid.UUID, forUpdate bool) (Protectee, error) {
	query := `SELECT ` + protecteeColumns + ` FROM protectees p WHERE p.id = $1`
	if forUpdate {
		query += ` FOR NO KEY UPDATE`
	}
	p, err := scanProtectee(q.QueryRow(ctx, query, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Protectee{}, ErrProtecteeNotFound
	}
	if err != nil {
		return Protectee{}, fmt.Errorf("protection: load protectee %s: %w", id, err)
	}
	return p, nil
}

// protecteeAudit is what the audit log keeps of a protectee: auditors and
// admins read the log and are not cleared, so the profile appears only as
// the names of its parts that changed.
type protecteeAudit struct {
	ProtecteeID uuid.UUID `json:"protecteeId"`
	Name        string    `json:"name"`
	Title       string    `json:"title"`
	ThreatLevel string    `json:"threatLevel"`
	Changed     []string  `json:"changed"`
}

// CreateProtectee records a protectee (ManageProtectees), once per
// clientMutationId.
func (s *Store) CreateProtectee(ctx context.Context, actor auth.Identity, n NewProtectee) (Protectee, error) {
	if err := Allow(actor, ManageProtectees, nil, nil); err != nil {
		return Protectee{}, err
	}
	n, err := normalizeNewProtectee(n)
	if err != nil {
		return Protectee{}, err
	}
	if n.ClientMutationID != "" {
		if id, ok, err := s.replayReceipt(ctx, actor.Subject, n.ClientMutationID, opCreateProtectee); ok || err != nil {
			return replayed(ctx, s.pool, id, err, loadProtectee)
		}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Protectee{}, fmt.Errorf("protection: new protectee id: %w", err)
	}
	now := s.clock()
	p := Protectee{ID: id, Name: n.Name, Title: n.Title, ThreatLevel: n.ThreatLevel, Profile: n.Profile,
		CreatedBy: actor.Subject, CreatedAt: now, UpdatedAt: now}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO protectees (id, name, title, threat_level, profile, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, id, p.Name, p.Title, p.ThreatLevel, p.Profile, p.CreatedBy, now)
	if n.ClientMutationID != "" {
		queueReceipt(b, actor.Subject, n.ClientMutationID, opCreateProtectee, id)
	}
	if err := audit.Queue(ctx, b, audit.Entry{Actor: actor.Subject, Action: "protectee.create", ObjectType: "Protectee",
		ObjectID: id.String(), After: protecteeAudit{id, p.Name, p.Title, p.ThreatLevel, profileFields(Profile{}, p.Profile)}}); err != nil {
		return Protectee{}, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	if n.ClientMutationID != "" && postgres.IsUniqueViolation(err, "mutation_receipts_pkey") {
		// A concurrent retry of the same create won the race: answer as it did.
		id, ok, rerr := s.replayReceipt(ctx, actor.Subject, n.ClientMutationID, opCreateProtectee)
		if ok || rerr != nil {
			return replayed(ctx, s.pool, id, rerr, loadProtectee)
		}
		return Protectee{}, errReceiptReused
	}
	if err != nil {
		return Protectee{}, fmt.Errorf("protection: create protectee: %w", err)
	}
	return p, nil
}

func normalizeNewProtectee(n NewProtectee) (NewProtectee, error) {
	var err error
	if n.Name, err = checkName("name", n.Name); err != nil {
		return n, err
	}
	if n.Title, err = checkText("title", n.Title, 0, maxTitleLen); err != nil {
		return n, err
	}
	if n.ThreatLevel, err = checkThreatLevel("threatLevel", n.ThreatLevel); err != nil {
		return n, err
	}
	if n.Profile, err = normalizeProfile(n.Profile); err != nil {
		return n, err
	}
	return n, fault.CheckText("clientMutationId", n.ClientMutationID)
}

// UpdateProfile replaces a protectee's profile (EditProfile). A profile
// equal to the stored one changes nothing and writes nothing.
func (s *Store) UpdateProfile(ctx context.Context, actor auth.Identity, protecteeID uuid.UUID, p Profile) (Protectee, error) {
	p, err := normalizeProfile(p)
	if err != nil {
		return Protectee{}, err
	}
	var out Protectee
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		before, err := loadProtectee(ctx, tx, protecteeID, true)
		if err != nil {
			return err
		}
		// Shared locks: a detail ending meanwhile cannot slip under the decision.
		details, err := queryDetails(ctx, tx, `SELECT `+detailColumns+` FROM details d WHERE d.protectee_id = $1
			FOR SHARE`, protecteeID)
		if err != nil {
			return err
		}
		if err := Allow(actor, EditProfile, nil, details); err != nil {
			return err
		}
		out = before
		changed := profileFields(before.Profile, p)
		if len(changed) == 0 {
			return nil
		}
		out.Profile, out.UpdatedAt = p, s.clock()
		b := &pgx.Batch{}
		b.Queue(`UPDATE protectees SET profile = $2, updated_at = $3 WHERE id = $1`, protecteeID, p, out.UpdatedAt)
		if err := audit.Queue(ctx, b, audit.Entry{Actor: actor.Subject, Action: "protectee.update_profile",
			ObjectType: "Protectee", ObjectID: protecteeID.String(),
			After: protecteeAudit{out.ID, out.Name, out.Title, out.ThreatLevel, changed}}); err != nil {
			return err
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return Protectee{}, err
	}
	return out, nil
}

// Protectee reads one protectee with all its details, for the caller's
// standing to be decided on; no check here.
func (s *Store) Protectee(ctx context.Context, id uuid.UUID) (Protectee, []Detail, error) {
	p, err := loadProtectee(ctx, s.pool, id, false)
	if err != nil {
		return Protectee{}, nil, err
	}
	details, err := queryDetails(ctx, s.pool, `SELECT `+detailColumns+` FROM details d WHERE d.protectee_id = $1
		ORDER BY d.created_at DESC, d.id DESC`, id)
	if err != nil {
		return Protectee{}, nil, err
	}
	return p, details, nil
}

// Protectees pages the protectees viewer stands Masked or Cleared on,
// newest first.
func (s *Store) Protectees(ctx context.Context, viewer auth.Identity, first int, after string) ([]Protectee, bool, error) {
	if err := checkFirst(first); err != nil {
		return nil, false, err
	}
	var args sqlArgs
	where := []string{visibleProtecteeSQL(viewer, &args)}
	if after != "" {
		at, id, err := decodeCursor(protecteeCursorKind, after)
		if err != nil {
			return nil, false, err
		}
		where = append(where, "(p.created_at, p.id) < ("+args.add(at)+", "+args.add(id)+")")
	}
	list, err := queryProtectees(ctx, s.pool, `SELECT `+protecteeColumns+` FROM protectees p WHERE `+
		strings.Join(where, " AND ")+` ORDER BY p.created_at DESC, p.id DESC LIMIT `+args.add(first+1), args...)
	if err != nil {
		return nil, false, err
	}
	list, more := page(list, first)
	return list, more, nil
}

// ProtecteesByID reads several protectees (for loaders); unknown ids are
// absent.
func (s *Store) ProtecteesByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Protectee, error) {
	list, err := queryProtectees(ctx, s.pool, `SELECT `+protecteeColumns+` FROM protectees p WHERE p.id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]Protectee, len(list))
	for _, p := range list {
		out[p.ID] = p
	}
	return out, nil
}

// --- receipts ---

// The operations a receipt remembers: the same clientMutationId sent with
// another operation is refused rather than answered with the wrong record.
const (
	opCreateProtectee = "createProtectee"
	opCreateDetail    = "createDetail"
)

var errReceiptReused = fault.Invalid("clientMutationId", "was already used for another mutation")

// receipt is what a clientMutationId remembers of a create.
type receipt struct {
	ID uuid.UUID `json:"id"`
}

// replayReceipt finds the record an earlier create with the same
// clientMutationId made. The id used with another operation is refused.
func (s *Store) replayReceipt(ctx context.Context, subject, clientMutationID, operation string) (uuid.UUID, bool, error) {
	var r receipt
	var op string
	err := s.pool.QueryRow(ctx, `SELECT operation, result FROM mutation_receipts WHERE subject = $1 AND client_mutation_id = $2`,
		subject, clientMutationID).Scan(&op, &r)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, nil
	}
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("protection: read receipt: %w", err)
	}
	if op != operation {
		return uuid.Nil, false, errReceiptReused
	}
	return r.ID, true, nil
}

func queueReceipt(b *pgx.Batch, subject, clientMutationID, operation string, id uuid.UUID) {
	b.Queue(`INSERT INTO mutation_receipts (subject, client_mutation_id, operation, result) VALUES ($1, $2, $3, $4)`,
		subject, clientMutationID, operation, receipt{ID: id})
}

// replayed loads what a receipt names, as it is now.
func replayed[T any](ctx context.Context, q pgxQuerier, id uuid.UUID, err error,
	load func(context.Context, pgxQuerier, uuid.UUID, bool) (T, error)) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	return load(ctx, q, id, false)
}

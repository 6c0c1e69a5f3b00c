package site

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/live"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/postgres"
)

// Store reads and writes sites in Postgres, the source of truth.
type Store struct {
	pool        *pgxpool.Pool
	escalations *escalation.Store
}

// NewStore returns a store on pool. A status change that calls for an
// escalation opens it through escalations, in the same transaction.
func NewStore(pool *pgxpool.Pool, escalations *escalation.Store) *Store {
	return &Store{pool: pool, escalations: escalations}
}

const siteColumns = `id, code, name, region, country_code, city, latitude, longitude, timezone, criticality,
	status_level, status_posture, status_note, status_version, status_updated_at, status_updated_by`

func scanSite(row pgx.Row) (Site, error) {
	var s Site
	err := row.Scan(&s.ID, &s.Code, &s.Name, &s.Region, &s.CountryCode, &s.City, &s.Latitude, &s.Longitude,
		&s.Timezone, &s.Criticality, &s.Status.Level, &s.Status.Posture, &s.Status.Note, &s.Status.Version,
		&s.Status.UpdatedAt, &s.Status.UpdatedBy)
	return s, err
}

// Get returns one site.
func (st *Store) Get(ctx context.Context, id uuid.UUID) (Site, error) {
	s, err := scanSite(st.pool.QueryRow(ctx, `SELECT `+siteColumns+` FROM sites WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Site{}, ErrNotFound
	}
	if err != nil {
		return Site{}, fmt.Errorf("site: get %s: %w", id, err)
	}
	return s, nil
}

// GetMany returns the sites with the given IDs, keyed by ID; missing IDs are
// simply absent. It backs the per-request loader that avoids N+1 queries.
func (st *Store) GetMany(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Site, error) {
	rows, err := st.pool.Query(ctx, `SELECT `+siteColumns+` FROM sites WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("site: get many: %w", err)
	}
	out := make(map[uuid.UUID]Site, len(ids))
	for rows.Next() {
		s, err := scanSite(rows)
		if err != nil {
			return nil, fmt.Errorf("site: get many: %w", err)
		}
		out[s.ID] = s
	}
	return out, rows.Err()
}

// Filter narrows List.
type Filter struct {
	Region string // empty: every region
	Level  Level  // empty: every level
}

// Page is one page of a cursor-paginated list.
type Page[T any] struct {
	Items       []T
	Cursors     []string
	HasNextPage bool
}

// MaxPageSize bounds `first` on every connection.
const MaxPageSize = 500

// ClampFirst turns a client's `first` into a safe page size.
func ClampFirst(first int32) (int, error) {
	if first < 0 {
		return 0, fault.Invalid("first", "must not be negative")
	}
	if first > MaxPageSize {
		return 0, fault.Invalid("first", "must be at most %d", MaxPageSize)
	}
	return int(first), nil
}

func encodeCursor(kind, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + key))
}

func decodeCursor(kind, cursor string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) <= len(kind)+1 || string(raw[:len(kind)+1]) != kind+":" {
		return "", fault.Invalid("after", "is not a cursor from this list")
	}
	return string(raw[len(kind)+1:]), nil
}

// List returns sites ordered by code, after the cursor.
func (st *Store) List(ctx context.Context, f Filter, first int, after string) (Page[Site], error) {
	var afterCode string
	if after != "" {
		var err error
		if afterCode, err = decodeCursor("site", after); err != nil {
			return Page[Site]{}, err
		}
	}
	rows, err := st.pool.Query(ctx, `SELECT `+siteColumns+` FROM sites
		WHERE ($1 = '' OR region = $1) AND ($2 = '' OR status_level = $2) AND code > $3
		ORDER BY code LIMIT $4`, f.Region, string(f.Level), afterCode, first+1)
	if err != nil {
		return Page[Site]{}, fmt.Errorf("site: list: %w", err)
	}
	sites, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Site, error) { return scanSite(r) })
	if err != nil {
		return Page[Site]{}, fmt.Errorf("site: list: %w", err)
	}
	var page Page[Site]
	if len(sites) > first {
		page.HasNextPage = true
		sites = sites[:first]
	}
	page.Items = sites
	for _, s := range sites {
		page.Cursors = append(page.Cursors, encodeCursor("site", s.Code))
	}
	return page, nil
}

// History returns a site's status history, newest first.
func (st *Store) History(ctx context.Context, id uuid.UUID, first int, after string) (Page[Status], error) {
	before := int64(1 << 62)
	if after != "" {
		key, err := decodeCursor("history", after)
		if err != nil {
			return Page[Status]{}, err
		}
		if _, err := fmt.Sscan(key, &before); err != nil {
			return Page[Status]{}, fault.Invalid("after", "is not a cursor from this list")
		}
	}
	rows, err := st.pool.Query(ctx, `SELECT id, level, posture, note, version, changed_at, changed_by
		FROM site_status_history WHERE site_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, id, before, first+1)
	if err != nil {
		return Page[Status]{}, fmt.Errorf("site: history: %w", err)
	}
	defer rows.Close()
	var page Page[Status]
	for rows.Next() {
		var rowID int64
		var s Status
		if err := rows.Scan(&rowID, &s.Level, &s.Posture, &s.Note, &s.Version, &s.UpdatedAt, &s.UpdatedBy); err != nil {
			return Page[Status]{}, fmt.Errorf("site: history: %w", err)
		}
		if len(page.Items) == first {
			page.HasNextPage = true
			break
		}
		page.Items = append(page.Items, s)
		page.Cursors = append(page.Cursors, encodeCursor("history", fmt.Sprint(rowID)))
	}
	return page, rows.Err()
}

// Authorize is asked, inside the transaction, whether the caller may act on
// a site of the given region. It lets the policy see the locked row.
type Authorize func(region string) error

// Create adds a site with a NORMAL/OPEN status at version 1.
func (st *Store) Create(ctx context.Context, actor string, n NewSite, authorize Authorize) (Site, error) {
	if err := n.Validate(); err != nil {
		return Site{}, err
	}
	if err := authorize(n.Region); err != nil {
		return Site{}, err
	}
	var created Site
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		var known bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM regions WHERE code = $1)`, n.Region).Scan(&known); err != nil {
			return fmt.Errorf("site: check region: %w", err)
		}
		if !known {
			return fault.Invalid("region", "%q is not a known region", n.Region)
		}
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("site: new id: %w", err)
		}
		created, err = scanSite(tx.QueryRow(ctx, `INSERT INTO sites (id, code, name, region, country_code, city, latitude, longitude,
			timezone, criticality, status_updated_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING `+siteColumns,
			id, n.Code, n.Name, n.Region, n.CountryCode, n.City, n.Latitude, n.Longitude, n.Timezone, n.Criticality, actor))
		if postgres.IsUniqueViolation(err, "sites_code_key") {
			return ErrCodeUsed
		}
		if err != nil {
			return fmt.Errorf("site: insert: %w", err)
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO site_status_history (site_id, version, level, posture, note, changed_at, changed_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, created.ID, created.Status.Version, created.Status.Level,
			created.Status.Posture, created.Status.Note, created.Status.UpdatedAt, actor)
		if err := audit.Queue(ctx, b, audit.Entry{Actor: actor, Action: "site.create", ObjectType: "Site",
			ObjectID: created.ID.String(), After: created}); err != nil {
			return err
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return Site{}, err
	}
	return created, nil
}

// StatusResult is what a status change produced.
type StatusResult struct {
	Site     Site
	Previous Status
	// Escalation is the escalation the change opened or joined, if any.
	Escalation *escalation.Escalation
	// Replayed is true when a retried clientMutationId returned the first answer.
	Replayed bool
}

// StatusChanges is the stream kind of StatusChangedEvent: what
// siteStatusChanged subscribers receive, the whole site, so no gateway
// reads Postgres per event.
var StatusChanges = live.Kind[StatusChangedEvent]{
	Name:   live.TypeSiteStatus,
	Region: func(e StatusChangedEvent) string { return e.Site.Region },
}

// StatusChangedEvent is the outbox payload announcing a status change. It
// carries the whole site so subscribers need no further read.
type StatusChangedEvent struct {
	Site     Site   `json:"site"`
	Previous Status `json:"previous"`
}

type receipt struct {
	SiteID       uuid.UUID  `json:"siteId"`
	EscalationID *uuid.UUID `json:"escalationId,omitempty"`
}

// UpdateStatus applies a status change in one transaction: optimistic version
// check, current status, history, escalation when the new status calls for
// one, audit and outbox rows, and the idempotency receipt.
func (st *Store) UpdateStatus(ctx context.Context, actor string, c StatusChange, authorize Authorize) (StatusResult, error) {
	if err := c.Validate(); err != nil {
		return StatusResult{}, err
	}
	if c.ClientMutationID != "" {
		if res, ok, err := st.replay(ctx, actor, c.ClientMutationID); ok || err != nil {
			return res, err
		}
	}
	var res StatusResult
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		before, err := scanSite(tx.QueryRow(ctx, `SELECT `+siteColumns+` FROM sites WHERE id = $1 FOR UPDATE`, c.SiteID))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("site: lock %s: %w", c.SiteID, err)
		}
		if err := authorize(before.Region); err != nil {
			return err
		}
		if before.Status.Version != c.ExpectedVersion {
			return fmt.Errorf("%w (expected version %d, current version %d)", ErrConflict, c.ExpectedVersion, before.Status.Version)
		}
		after := before
		after.Status = Status{Level: c.Level, Posture: c.Posture, Note: c.Note, Version: before.Status.Version + 1,
			UpdatedAt: time.Now().UTC().Truncate(time.Microsecond), UpdatedBy: actor}

		b := &pgx.Batch{}
		b.Queue(`UPDATE sites SET status_level = $2, status_posture = $3, status_note = $4, status_version = $5,
			status_updated_at = $6, status_updated_by = $7 WHERE id = $1`, after.ID, after.Status.Level,
			after.Status.Posture, after.Status.Note, after.Status.Version, after.Status.UpdatedAt, actor)
		b.Queue(`INSERT INTO site_status_history (site_id, version, level, posture, note, changed_at, changed_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, after.ID, after.Status.Version, after.Status.Level,
			after.Status.Posture, after.Status.Note, after.Status.UpdatedAt, actor)
		if err := audit.Queue(ctx, b, audit.Entry{Actor: actor, Action: "site.update_status", ObjectType: "Site",
			ObjectID: after.ID.String(), Before: before.Status, After: after.Status}); err != nil {
			return err
		}
		if err := outbox.QueueEnqueue(ctx, b, outbox.TopicSiteStatusChanged, StatusChangedEvent{Site: after, Previous: before.Status}); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("site: update status %s: %w", c.SiteID, err)
		}

		res = StatusResult{Site: after, Previous: before.Status}
		if after.Status.Escalates() {
			esc, err := st.escalations.OpenForSite(ctx, tx, escalation.Trigger{
				SiteID: after.ID, SiteCode: after.Code, SiteName: after.Name, Region: after.Region,
				Level: string(after.Status.Level), Posture: string(after.Status.Posture), Note: after.Status.Note, Actor: actor,
			})
			if err != nil {
				return err
			}
			res.Escalation = &esc
		}
		if c.ClientMutationID != "" {
			r := receipt{SiteID: after.ID}
			if res.Escalation != nil {
				r.EscalationID = &res.Escalation.ID
			}
			data, _ := json.Marshal(r)
			if _, err := tx.Exec(ctx, `INSERT INTO mutation_receipts (subject, client_mutation_id, operation, result)
				VALUES ($1, $2, 'updateSiteStatus', $3)`, actor, c.ClientMutationID, data); err != nil {
				return fmt.Errorf("site: receipt: %w", err)
			}
		}
		return nil
	})
	if c.ClientMutationID != "" && (errors.Is(err, ErrConflict) || postgres.IsUniqueViolation(err, "mutation_receipts_pkey")) {
		// A concurrent retry of the same mutation won the race: answer as it did.
		// It usually shows as a version conflict, since the winner held the
		// row lock and moved the version before this transaction read it.
		res, ok, rerr := st.replay(ctx, actor, c.ClientMutationID)
		if ok || rerr != nil {
			return res, rerr
		}
	}
	if err != nil {
		return StatusResult{}, err
	}
	return res, nil
}

// replay answers a retried clientMutationId with the state it produced.
func (st *Store) replay(ctx context.Context, actor, clientMutationID string) (StatusResult, bool, error) {
	var data []byte
	err := st.pool.QueryRow(ctx, `SELECT result FROM mutation_receipts WHERE subject = $1 AND client_mutation_id = $2
		AND operation = 'updateSiteStatus'`, actor, clientMutationID).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return StatusResult{}, false, nil
	}
	if err != nil {
		return StatusResult{}, false, fmt.Errorf("site: read receipt: %w", err)
	}
	var r receipt
	if err := json.Unmarshal(data, &r); err != nil {
		return StatusResult{}, false, fmt.Errorf("site: decode receipt: %w", err)
	}
	s, err := st.Get(ctx, r.SiteID)
	if err != nil {
		return StatusResult{}, false, err
	}
	res := StatusResult{Site: s, Replayed: true}
	if r.EscalationID != nil {
		esc, err := st.escalations.Get(ctx, *r.EscalationID)
		if err != nil {
			return StatusResult{}, false, err
		}
		res.Escalation = &esc
	}
	return res, true, nil
}

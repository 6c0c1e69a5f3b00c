// Package incident raises incidents: something is wrong, somewhere, and
// every region it touches must escalate. An incident opens one escalation per
// region, each under the region's own policy; the relay starts one parent
// workflow that runs them as children. Travel (a traveller near an incident)
// and executive protection (a missed check-in, duress) raise incidents the
// same way, naming themselves in Source.
package incident

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/outbox"
)

// ErrNotFound is an unknown incident.
var ErrNotFound = fault.New(fault.NotFound, "incident not found")

// Location is where it happens, when known.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// New is the input for raising an incident.
type New struct {
	Title      string
	Severity   escalation.Severity
	Kind       string // free classification: FIRE, UNREST, MEDICAL, DURESS …
	SourceType string // MANUAL, TRAVEL, PROTECTION …; default MANUAL
	SourceRef  string // the raising domain's own id
	Location   *Location
	SiteIDs    []uuid.UUID
	Regions    []string // affected regions; the sites' regions are added
}

// Incident is a raised incident.
type Incident struct {
	ID         uuid.UUID           `json:"id"`
	Title      string              `json:"title"`
	Severity   escalation.Severity `json:"severity"`
	Kind       string              `json:"kind"`
	SourceType string              `json:"sourceType"`
	SourceRef  string              `json:"sourceRef"`
	Location   *Location           `json:"location,omitempty"`
	SiteIDs    []uuid.UUID         `json:"siteIds"`
	Regions    []string            `json:"regions"`
	CreatedBy  string              `json:"createdBy"`
	CreatedAt  time.Time           `json:"createdAt"`
	WorkflowID string              `json:"workflowId"`
}

// OpenedEvent is the outbox payload that makes the relay start the
// incident's workflow with one child escalation per region.
type OpenedEvent struct {
	Incident    Incident                 `json:"incident"`
	Escalations []escalation.OpenedEvent `json:"escalations"`
}

// WorkflowID is deterministic, like an escalation's.
func WorkflowID(id uuid.UUID) string { return "incident-" + id.String() }

// Store raises and reads incidents.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Authorize is asked whether the caller may raise an incident in every one of
// the regions.
type Authorize func(regions []string) error

// Raise validates the input, records the incident and one escalation per
// region in one transaction, and announces it to the relay.
func (s *Store) Raise(ctx context.Context, actor string, n New, authorize Authorize) (Incident, []escalation.Escalation, error) {
	n.Title = strings.TrimSpace(n.Title)
	n.Kind = strings.ToUpper(strings.TrimSpace(n.Kind))
	if n.SourceType == "" {
		n.SourceType = "MANUAL"
	}
	switch {
	case n.Title == "" || utf8.RuneCountInString(n.Title) > 200:
		return Incident{}, nil, fault.Invalid("title", "must be 1-200 characters")
	case !slices.Contains([]escalation.Severity{escalation.SEV1, escalation.SEV2, escalation.SEV3, escalation.SEV4}, n.Severity):
		return Incident{}, nil, fault.Invalid("severity", "must be SEV1, SEV2, SEV3 or SEV4")
	case n.Kind == "" || len(n.Kind) > 40:
		return Incident{}, nil, fault.Invalid("kind", "must be 1-40 characters, for example FIRE or UNREST")
	case len(n.SiteIDs) > 100:
		return Incident{}, nil, fault.Invalid("siteIds", "at most 100 sites")
	}
	if l := n.Location; l != nil {
		if math.IsNaN(l.Latitude) || l.Latitude < -90 || l.Latitude > 90 {
			return Incident{}, nil, fault.Invalid("latitude", "must be between -90 and 90")
		}
		if math.IsNaN(l.Longitude) || l.Longitude < -180 || l.Longitude > 180 {
			return Incident{}, nil, fault.Invalid("longitude", "must be between -180 and 180")
		}
	}
	var inc Incident
	var escs []escalation.Escalation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		regions := slices.Clone(n.Regions)
		if len(n.SiteIDs) > 0 {
			rows, err := tx.Query(ctx, `SELECT id, region FROM sites WHERE id = ANY($1)`, n.SiteIDs)
			if err != nil {
				return fmt.Errorf("incident: sites: %w", err)
			}
			found := 0
			for rows.Next() {
				var id uuid.UUID
				var region string
				if err := rows.Scan(&id, &region); err != nil {
					rows.Close()
					return err
				}
				found++
				regions = append(regions, region)
			}
			rows.Close()
			if found != len(slices.Compact(slices.Clone(n.SiteIDs))) {
				return fault.Invalid("siteIds", "names a site that does not exist")
			}
		}
		slices.Sort(regions)
		regions = slices.Compact(regions)
		if len(regions) == 0 {
			return fault.Invalid("regions", "name at least one affected region or site")
		}
		var known int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM regions WHERE code = ANY($1)`, regions).Scan(&known); err != nil {
			return fmt.Errorf("incident: regions: %w", err)
		}
		if known != len(regions) {
			return fault.Invalid("regions", "names a region that does not exist")
		}
		if err := authorize(regions); err != nil {
			return err
		}
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		inc = Incident{ID: id, Title: n.Title, Severity: n.Severity, Kind: n.Kind, SourceType: n.SourceType, SourceRef: n.SourceRef,
			Location: n.Location, SiteIDs: append([]uuid.UUID{}, n.SiteIDs...), Regions: regions, CreatedBy: actor, WorkflowID: WorkflowID(id)}
		var lat, lon *float64
		if n.Location != nil {
			lat, lon = &n.Location.Latitude, &n.Location.Longitude
		}
		if err := tx.QueryRow(ctx, `INSERT INTO incidents (id, title, severity, kind, source_type, source_ref, latitude, longitude,
			site_ids, regions, created_by, workflow_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING created_at`,
			id, inc.Title, string(inc.Severity), inc.Kind, inc.SourceType, inc.SourceRef, lat, lon, inc.SiteIDs, regions, actor, inc.WorkflowID).
			Scan(&inc.CreatedAt); err != nil {
			return fmt.Errorf("incident: insert: %w", err)
		}
		ev := OpenedEvent{Incident: inc}
		for _, region := range regions {
			opened, err := escalation.OpenForIncident(ctx, tx, id, region, n.Severity, n.Title, n.Kind, actor)
			if err != nil {
				return err
			}
			ev.Escalations = append(ev.Escalations, opened)
			escs = append(escs, opened.Escalation)
		}
		if err := audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "incident.raise", ObjectType: "Incident", ObjectID: id.String(), After: inc}); err != nil {
			return err
		}
		return outbox.Enqueue(ctx, tx, outbox.TopicIncidentOpened, ev)
	})
	if err != nil {
		return Incident{}, nil, err
	}
	return inc, escs, nil
}

const columns = `id, title, severity, kind, source_type, source_ref, latitude, longitude, site_ids, regions, created_by, created_at, workflow_id`

// Get returns one incident.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (Incident, error) {
	var inc Incident
	var lat, lon *float64
	err := s.pool.QueryRow(ctx, `SELECT `+columns+` FROM incidents WHERE id = $1`, id).Scan(&inc.ID, &inc.Title, &inc.Severity,
		&inc.Kind, &inc.SourceType, &inc.SourceRef, &lat, &lon, &inc.SiteIDs, &inc.Regions, &inc.CreatedBy, &inc.CreatedAt, &inc.WorkflowID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Incident{}, ErrNotFound
	}
	if err != nil {
		return Incident{}, fmt.Errorf("incident: get: %w", err)
	}
	if lat != nil && lon != nil {
		inc.Location = &Location{Latitude: *lat, Longitude: *lon}
	}
	return inc, nil
}

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
	"meridian.dev/platform/auth"
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
	// Policy, when set, is the raising domain's own escalation policy for
	// this incident (a protection detail's leader first), frozen into every
	// region's escalation instead of the region's policy in force.
	Policy *escalation.Policy
	// RestrictedTo, when set, makes the incident visible only to the
	// people named and to global leads: never streamed region-wide, never a
	// hazard near sites or travellers (a duress).
	RestrictedTo []string
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
	// RestrictedTo: see New.RestrictedTo; nil for an ordinary incident.
	RestrictedTo []string `json:"restrictedTo,omitempty"`
}

// Restricted reports whether the incident is restricted (a duress).
func (i Incident) Restricted() bool { return i.RestrictedTo != nil }

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
	if err := checkRestriction(n.RestrictedTo); err != nil {
		return Incident{}, nil, err
	}
	if n.Policy != nil {
		// The policy itself is validated where it is saved, in the
		// transaction below.
		if n.Policy.Severity != n.Severity {
			return Incident{}, nil, fault.Invalid("policy", "the policy's severity must be the incident's")
		}
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
			Location: n.Location, SiteIDs: append([]uuid.UUID{}, n.SiteIDs...), Regions: regions, CreatedBy: actor, WorkflowID: WorkflowID(id),
			RestrictedTo: n.RestrictedTo}
		var lat, lon *float64
		if n.Location != nil {
			lat, lon = &n.Location.Latitude, &n.Location.Longitude
		}
		if err := tx.QueryRow(ctx, `INSERT INTO incidents (id, title, severity, kind, source_type, source_ref, latitude, longitude,
			site_ids, regions, created_by, workflow_id, restricted_to) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING created_at`,
			id, inc.Title, string(inc.Severity), inc.Kind, inc.SourceType, inc.SourceRef, lat, lon, inc.SiteIDs, regions, actor, inc.WorkflowID, inc.RestrictedTo).
			Scan(&inc.CreatedAt); err != nil {
			return fmt.Errorf("incident: insert: %w", err)
		}
		ev := OpenedEvent{Incident: inc}
		var own *escalation.Policy
		if n.Policy != nil {
			saved, err := escalation.SaveIncidentPolicy(ctx, tx, actor, id, *n.Policy)
			if err != nil {
				return err
			}
			own = &saved
		}
		for _, region := range regions {
			opened, err := escalation.OpenForIncident(ctx, tx, escalation.IncidentOpening{Incident: id, Region: region, Severity: n.Severity,
				Title: n.Title, Kind: n.Kind, Actor: actor, Policy: own, RestrictedTo: n.RestrictedTo})
			if err != nil {
				return err
			}
			ev.Escalations = append(ev.Escalations, opened)
			escs = append(escs, opened.Escalation)
		}
		if err := audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "incident.raise", ObjectType: "Incident", ObjectID: id.String(), After: inc,
			RestrictedTo: n.RestrictedTo}); err != nil {
			return err
		}
		return outbox.Enqueue(ctx, tx, outbox.TopicIncidentOpened, ev)
	})
	if err != nil {
		return Incident{}, nil, err
	}
	return inc, escs, nil
}

// checkRestriction refuses a restriction that names nobody: an empty list
// would read as restricted in SQL (restricted_to IS NOT NULL) but as
// ordinary once an outbox payload had dropped it, and the relay would then
// stream the incident region-wide. Global leads always see a restricted
// incident; the list names who else does.
func checkRestriction(to []string) error {
	if to == nil {
		return nil
	}
	if len(to) == 0 || len(to) > 50 {
		return fault.Invalid("restrictedTo", "name 1-50 people (global leads see it anyway)")
	}
	for _, subject := range to {
		if strings.TrimSpace(subject) == "" || subject != strings.TrimSpace(subject) {
			return fault.Invalid("restrictedTo", "names a person by an empty or padded subject")
		}
	}
	return nil
}

const columns = `id, title, severity, kind, source_type, source_ref, latitude, longitude, site_ids, regions, created_by, created_at, workflow_id, restricted_to`

// visible is the SQL condition under which the viewer (escalation's
// ViewerArgs) sees the incident row i. A restricted incident (a duress) is
// seen by global leads, the people it is restricted to and the people any
// of its escalations paged, so that whoever may see one of its escalations
// may follow it to the incident; for anybody else it does not exist.
var visible = `(i.restricted_to IS NULL OR @global_lead::boolean OR @viewer::text = ANY(i.restricted_to)
	OR EXISTS (SELECT 1 FROM escalations e WHERE e.incident_id = i.id AND ` + escalation.PagedSQL("e.id") + `))`

// Get returns one incident, restricted or not: for the domains and the
// engine. The API reads with GetAs.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (Incident, error) {
	return s.get(ctx, auth.Identity{}, id, "TRUE")
}

// GetAs returns one incident as viewer may see it: ErrNotFound, as for an
// unknown ID, when it is restricted and out of their sight.
func (s *Store) GetAs(ctx context.Context, viewer auth.Identity, id uuid.UUID) (Incident, error) {
	return s.get(ctx, viewer, id, visible)
}

func (s *Store) get(ctx context.Context, viewer auth.Identity, id uuid.UUID, condition string) (Incident, error) {
	var inc Incident
	var lat, lon *float64
	args := escalation.ViewerArgs(viewer)
	args["id"] = id
	err := s.pool.QueryRow(ctx, `SELECT `+columns+` FROM incidents i WHERE i.id = @id AND `+condition, args).Scan(&inc.ID, &inc.Title, &inc.Severity,
		&inc.Kind, &inc.SourceType, &inc.SourceRef, &lat, &lon, &inc.SiteIDs, &inc.Regions, &inc.CreatedBy, &inc.CreatedAt, &inc.WorkflowID, &inc.RestrictedTo)
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

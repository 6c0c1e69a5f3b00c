package protection

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/country"
	"meridian.dev/platform/directory"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/postgres"
)

// SystemActor is who the watch's writes name: the incidents it raises and
// the steps it records.
const SystemActor = "system:protection"

// DefaultTierWait is a protection incident's tier wait when the caller
// passes none.
const DefaultTierWait = 5 * time.Minute

// minTierWait is the shortest wait escalation.SaveIncidentPolicy accepts
// for a domain's own policy (people's policies wait at least a minute; the
// worker's configuration, which tests and the benchmark set to seconds,
// may go lower).
const minTierWait = time.Second

// planPlaceRadiusMetres is how near a plan place a position must be for
// that place's country to say which region the position is in.
const planPlaceRadiusMetres = 500_000

// Reference of the incident raised for a missed check-in and for a duress:
// the unique index incidents_source_once raises each once.
func missedRef(detailID uuid.UUID, due time.Time) string {
	return fmt.Sprintf("missed:%s:%d", detailID, due.Unix())
}

func duressRef(checkInID uuid.UUID) string { return "duress:" + checkInID.String() }

func tierWait(w time.Duration) time.Duration {
	if w <= 0 {
		return DefaultTierWait
	}
	return max(w, minTierWait)
}

// missedPolicy is a missed check-in's own policy: the detail's leader,
// then whoever is on call in the region of the last known position, then
// the global leads, on every channel they have.
func missedPolicy(leader, region string, wait time.Duration) escalation.Policy {
	return escalation.Policy{Name: "protection: missed check-in", Severity: escalation.SEV2, Tiers: []escalation.Tier{
		{Name: "detail leader", Targets: []escalation.Target{{Kind: escalation.TargetUser, Subject: leader}}, Wait: wait,
			Channels: notify.Channels},
		{Name: "region on call", Targets: []escalation.Target{{Kind: escalation.TargetSchedule, Region: region}}, Wait: wait,
			Channels: notify.Channels},
		{Name: "global leads", Targets: []escalation.Target{{Kind: escalation.TargetRole, Role: auth.RoleGlobalLead}}, Wait: wait,
			Channels: notify.Channels},
	}}
}

// duressPolicy pages the detail's leader and the global leads at once and
// again, RepeatCount more rounds, until one of them acknowledges. A leader
// who is the one under duress is not paged: the page would show on the
// phone in the hands of whoever holds them. Personal channels only: the
// organisation's webhook may be a room more people read (the escalation
// engine still falls back to it for someone with no personal channel).
func duressPolicy(leader, agent string, wait time.Duration) escalation.Policy {
	targets := []escalation.Target{{Kind: escalation.TargetRole, Role: auth.RoleGlobalLead}}
	if leader != agent {
		targets = append([]escalation.Target{{Kind: escalation.TargetUser, Subject: leader}}, targets...)
	}
	return escalation.Policy{Name: "protection: duress", Severity: escalation.SEV1, RepeatCount: 3, Tiers: []escalation.Tier{
		{Name: "detail leader and global leads", Targets: targets, Wait: wait,
			Channels: []string{notify.ChannelEmail, notify.ChannelSlack}},
	}}
}

// duressAudience is who besides the global leads may see a duress
// incident: the detail's leader, unless the leader is the one under
// duress. The list is never empty (an empty list could read as "not
// restricted"): SystemActor, who is nobody, then stands for "global leads
// only".
func duressAudience(leader, agent string) []string {
	if leader == agent {
		return []string{SystemActor}
	}
	return []string{leader}
}

// raiseOnce raises n, or returns the incident already raised for its
// source reference.
func (s *Store) raiseOnce(ctx context.Context, n incident.New) (uuid.UUID, error) {
	if id, ok, err := s.incidentBySource(ctx, n.SourceRef); ok || err != nil {
		return id, err
	}
	inc, _, err := incident.NewStore(s.pool).Raise(ctx, SystemActor, n, func([]string) error { return nil })
	if postgres.IsUniqueViolation(err, "incidents_source_once") {
		// Raised meanwhile by another attempt: that one is the incident.
		id, ok, err := s.incidentBySource(ctx, n.SourceRef)
		if err == nil && !ok {
			err = fmt.Errorf("protection: incident %s vanished", n.SourceRef)
		}
		return id, err
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("protection: raise %s: %w", n.SourceRef, err)
	}
	return inc.ID, nil
}

// incidentBySource finds the protection incident raised for ref.
func (s *Store) incidentBySource(ctx context.Context, ref string) (uuid.UUID, bool, error) {
	var id uuid.UUID
	// source_ref <> '' lets the planner use the partial index incidents_source_once.
	err := s.pool.QueryRow(ctx, `SELECT id FROM incidents WHERE source_type = $1 AND source_ref = $2 AND source_ref <> ''`,
		SourceType, ref).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, nil
	}
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("protection: incident %s: %w", ref, err)
	}
	return id, true, nil
}

// lastKnownPosition is the newest of the detail's last reported position
// (live, else Postgres's copy) and its last check-in's position.
func (s *Store) lastKnownPosition(ctx context.Context, d Detail) *Position {
	best := d.LastPosition
	if live, err := s.LastPositions(ctx, []uuid.UUID{d.ID}); err != nil {
		// Raising the incident matters more than the freshest position.
		s.logger().WarnContext(ctx, "protection: live position unavailable, using the stored one", "detail", d.ID, "err", err)
	} else if p, ok := live[d.ID]; ok && (best == nil || !p.At.Before(best.At)) {
		best = &p
	}
	if c := d.LastCheckIn; c != nil && c.Position != nil && (best == nil || c.At.After(best.At)) {
		best = &Position{Point: *c.Position, At: c.At}
	}
	return best
}

// regionAt is the region a position is in, for an incident's escalation:
// the region of the country of the nearest place of the detail's plan
// (movement endpoints, safe havens) within 500 km of it. Meridian keeps no
// map of borders; the plan's places are what it knows to lie on the ground
// the detail covers. With no position, or no place of the plan near it,
// the detail's own region.
func (s *Store) regionAt(ctx context.Context, d Detail, p *Point) (string, error) {
	if p == nil {
		return d.Region, nil
	}
	var code string
	err := s.pool.QueryRow(ctx, `WITH here AS (SELECT ST_SetSRID(ST_MakePoint($3, $2), 4326)::geography AS g)
		SELECT country FROM (
			SELECT m.from_country AS country, ST_Distance(m.from_location, here.g) AS metres
			  FROM movements m, here WHERE m.detail_id = $1 AND ST_DWithin(m.from_location, here.g, $4)
			UNION ALL
			SELECT m.to_country, ST_Distance(m.to_location, here.g)
			  FROM movements m, here WHERE m.detail_id = $1 AND ST_DWithin(m.to_location, here.g, $4)
			UNION ALL
			SELECT h.country, ST_Distance(h.location, here.g)
			  FROM safe_havens h, here WHERE h.detail_id = $1 AND ST_DWithin(h.location, here.g, $4)
		) places ORDER BY metres LIMIT 1`, d.ID, p.Latitude, p.Longitude, planPlaceRadiusMetres).Scan(&code)
	if errors.Is(err, pgx.ErrNoRows) {
		return d.Region, nil
	}
	if err != nil {
		return "", fmt.Errorf("protection: region of %s's position: %w", d.ID, err)
	}
	if c, ok := country.Get(strings.ToUpper(code)); ok {
		return c.Region, nil
	}
	return d.Region, nil
}

// protecteeName names the detail's protectee for a title.
func (s *Store) protecteeName(ctx context.Context, protecteeID uuid.UUID) (string, error) {
	var name string
	if err := s.pool.QueryRow(ctx, `SELECT name FROM protectees WHERE id = $1`, protecteeID).Scan(&name); err != nil {
		return "", fmt.Errorf("protection: protectee %s: %w", protecteeID, err)
	}
	return name, nil
}

// personName is a directory name, or the subject when there is none.
func (s *Store) personName(ctx context.Context, subject string) (string, error) {
	names, err := directory.NewStore(s.pool).Names(ctx, []string{subject})
	if err != nil {
		return "", err
	}
	if n := names[subject]; n != "" {
		return n, nil
	}
	return subject, nil
}

// positionWords describes a position for a title: "51.5074, -0.1278 at
// 14:02 UTC".
func positionWords(p *Position) string {
	return fmt.Sprintf("%.4f, %.4f at %s UTC", p.Latitude, p.Longitude, p.At.UTC().Format("15:04"))
}

func locationOf(p *Point) *incident.Location {
	if p == nil {
		return nil
	}
	return &incident.Location{Latitude: p.Latitude, Longitude: p.Longitude}
}

// clip shortens s to at most n characters, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

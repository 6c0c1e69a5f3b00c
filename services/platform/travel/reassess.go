package travel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/country"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/live"
	"meridian.dev/platform/outbox"
)

// StepRiskChanged is the timeline step of a re-assessment that moved a
// trip's level.
const StepRiskChanged = "RISK_CHANGED"

// SystemActor is who re-assessments act as: in the audit log, on the
// timeline, and as the raiser of traveller incidents.
const SystemActor = "system:travel"

// RiskChanges is the stream kind of trip risk changes (tripRiskChanged),
// filtered by the region of the trip's riskiest segment.
var RiskChanges = live.Kind[RiskChanged]{Name: "trip.risk_changed", Region: func(e RiskChanged) string { return e.Region }}

// ReassessSummary is what one re-assessment did.
type ReassessSummary struct {
	// Trips is how many live trips were scored again.
	Trips int `json:"trips"`
	// Changed is how many of them changed level.
	Changed int `json:"changed"`
	// SentForApproval is how many went back for approval.
	SentForApproval int `json:"sentForApproval"`
	// IncidentsRaised counts the traveller incidents this run raised (not
	// those an earlier run already had).
	IncidentsRaised int `json:"incidentsRaised"`
}

func (s *ReassessSummary) add(o ReassessSummary) {
	s.Trips += o.Trips
	s.Changed += o.Changed
	s.SentForApproval += o.SentForApproval
	s.IncidentsRaised += o.IncidentsRaised
}

// reassessBatchSize is how many trips one transaction re-scores: large
// enough that the set-based statements dominate, small enough that row
// locks are held briefly and a failure redoes little.
const reassessBatchSize = 500

// reassessWorkers is how many batches run at once.
const reassessWorkers = 2

// liveTrip is the scope of a re-assessment: trips still to travel or
// travelling (not ended), neither cancelled nor rejected.
const liveTrip = `t.status NOT IN ('CANCELLED', 'REJECTED') AND t.ends_at > $2`

// ReassessCountry scores again every live trip with a segment in country,
// after what is said about the country changed (an advisory, an override).
// cause is recorded with each change ("advisory:KE v3").
func (s *Store) ReassessCountry(ctx context.Context, countryCode, cause string) (ReassessSummary, error) {
	countryCode = strings.ToUpper(strings.TrimSpace(countryCode))
	if _, ok := country.Get(countryCode); !ok {
		return ReassessSummary{}, fault.Invalid("country", "must be an ISO 3166-1 alpha-2 country code")
	}
	if err := fault.CheckText("cause", cause); err != nil {
		return ReassessSummary{}, err
	}
	now := s.now()
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT t.id FROM trip_segments s JOIN trips t ON t.id = s.trip_id
		WHERE s.country_code = $1 AND `+liveTrip+` ORDER BY t.id`, countryCode, now)
	if err != nil {
		return ReassessSummary{}, fmt.Errorf("travel: trips in %s: %w", countryCode, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return ReassessSummary{}, fmt.Errorf("travel: trips in %s: %w", countryCode, err)
	}
	return s.reassess(ctx, ids, cause, now)
}

// ReassessNear scores again every live trip with a segment within the
// largest TRAVELLER radius of an incident just raised; each kind's own
// radius then decides whether the incident counts. An incident without a
// location reaches nobody; a traveller incident (ours) is not chased.
func (s *Store) ReassessNear(ctx context.Context, incidentID uuid.UUID, cause string) (ReassessSummary, error) {
	if err := fault.CheckText("cause", cause); err != nil {
		return ReassessSummary{}, err
	}
	var located bool
	var kind string
	err := s.pool.QueryRow(ctx, `SELECT location IS NOT NULL, kind FROM incidents WHERE id = $1`, incidentID).Scan(&located, &kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return ReassessSummary{}, incident.ErrNotFound
	}
	if err != nil {
		return ReassessSummary{}, fmt.Errorf("travel: incident %s: %w", incidentID, err)
	}
	if !located || kind == TravellerAtRiskKind {
		return ReassessSummary{}, nil
	}
	now := s.now()
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT t.id
		  FROM incidents i
		 CROSS JOIN (SELECT max(radius_km) * 1000 AS metres FROM impact_radii WHERE asset_type = 'TRAVELLER') reach
		  JOIN trip_segments s ON ST_DWithin(s.location, i.location, reach.metres)
		  JOIN trips t ON t.id = s.trip_id
		 WHERE i.id = $1 AND `+liveTrip+` ORDER BY t.id`, incidentID, now)
	if err != nil {
		return ReassessSummary{}, fmt.Errorf("travel: trips near %s: %w", incidentID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return ReassessSummary{}, fmt.Errorf("travel: trips near %s: %w", incidentID, err)
	}
	return s.reassess(ctx, ids, cause, now)
}

// ReassessNearSite re-scores the trips near a site whose status opened or
// closed an escalation: an open one counts as a located incident (kind
// SITE_STATUS) for the segments within its radius.
func (s *Store) ReassessNearSite(ctx context.Context, siteID uuid.UUID, cause string) (ReassessSummary, error) {
	if err := fault.CheckText("cause", cause); err != nil {
		return ReassessSummary{}, err
	}
	now := s.now()
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT t.id
		  FROM sites site
		 CROSS JOIN (SELECT max(radius_km) * 1000 AS metres FROM impact_radii WHERE asset_type = 'TRAVELLER') reach
		  JOIN trip_segments s ON ST_DWithin(s.location, site.location, reach.metres)
		  JOIN trips t ON t.id = s.trip_id
		 WHERE site.id = $1 AND `+liveTrip+` ORDER BY t.id`, siteID, now)
	if err != nil {
		return ReassessSummary{}, fmt.Errorf("travel: trips near site %s: %w", siteID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return ReassessSummary{}, fmt.Errorf("travel: trips near site %s: %w", siteID, err)
	}
	return s.reassess(ctx, ids, cause, now)
}

// reassess scores the trips in batches, each in one transaction, and after
// each batch makes sure every traveller found in danger right now has an
// incident. Batches run on reassessWorkers connections at once: the work
// is Postgres's, and one connection keeps one core busy. Batches hold
// disjoint trips, each locked in id order, so they never wait on each
// other. A failure stops the run; what committed stays, and a retry (the
// relay redelivers) finds those trips unchanged and finishes the rest.
func (s *Store) reassess(ctx context.Context, ids []uuid.UUID, cause string, now time.Time) (ReassessSummary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []uuid.UUID)
	go func() {
		defer close(batches)
		for batch := range slices.Chunk(ids, reassessBatchSize) {
			select {
			case batches <- batch:
			case <-ctx.Done():
				return
			}
		}
	}()
	var mu sync.Mutex
	var sum ReassessSummary
	var failures []error
	var wg sync.WaitGroup
	for range reassessWorkers {
		wg.Go(func() {
			for batch := range batches {
				done, err := s.reassessOne(ctx, batch, cause, now)
				mu.Lock()
				sum.add(done)
				if err != nil {
					failures = append(failures, err)
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return sum, errors.Join(failures...)
}

// reassessOne re-scores one batch, then raises what it found.
func (s *Store) reassessOne(ctx context.Context, batch []uuid.UUID, cause string, now time.Time) (ReassessSummary, error) {
	done, atRisk, err := s.reassessBatch(ctx, batch, cause, now)
	if err != nil {
		return ReassessSummary{}, err
	}
	raised, err := s.ensureTravellerIncidents(ctx, atRisk)
	done.IncidentsRaised += raised
	return done, err
}

// travellerAtRisk is a traveller in danger now, and the stable key of the
// incident that says so.
type travellerAtRisk struct {
	tripID    uuid.UUID
	traveller string
	ref       string
	severity  escalation.Severity
	segment   Segment
	// why ends the incident's title: "(level 4 country)", "12 km from …".
	why string
}

// changedRows gathers, column by column, the rows one batch rewrites, so
// each table is updated by one statement over unnest.
type changedRows struct {
	ids     []uuid.UUID
	levels  []int32
	reasons []string
}

func (c *changedRows) add(id uuid.UUID, r Risk) error {
	data, err := json.Marshal(r.Reasons)
	if err != nil {
		return fmt.Errorf("travel: encode reasons: %w", err)
	}
	c.ids, c.levels, c.reasons = append(c.ids, id), append(c.levels, int32(r.Level)), append(c.reasons, string(data))
	return nil
}

// riskDiffers: a different level, or different words for it.
func riskDiffers(a, b Risk) bool {
	return a.Level != b.Level || !slices.Equal(a.Reasons, b.Reasons)
}

func (s *Store) reassessBatch(ctx context.Context, ids []uuid.UUID, cause string, now time.Time) (ReassessSummary, []travellerAtRisk, error) {
	var sum ReassessSummary
	var atRisk []travellerAtRisk
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		sum, atRisk = ReassessSummary{}, nil
		// Locked in id order, as every batch is, so two runs never deadlock;
		// the scope is checked again under the lock.
		rows, err := tx.Query(ctx, `SELECT `+prefixed("t.", tripColumns)+` FROM trips t WHERE t.id = ANY($1) AND `+liveTrip+`
			ORDER BY t.id FOR UPDATE`, ids, now)
		if err != nil {
			return fmt.Errorf("travel: lock trips: %w", err)
		}
		trips, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Trip, error) { return scanTrip(r) })
		if err != nil {
			return fmt.Errorf("travel: lock trips: %w", err)
		}
		if len(trips) == 0 {
			return nil
		}
		tripIDs := make([]uuid.UUID, len(trips))
		for i, t := range trips {
			tripIDs[i] = t.ID
		}
		rows, err = tx.Query(ctx, `SELECT `+segmentColumns+` FROM trip_segments WHERE trip_id = ANY($1) ORDER BY trip_id, position`, tripIDs)
		if err != nil {
			return fmt.Errorf("travel: segments: %w", err)
		}
		segs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Segment, error) { return scanSegment(r) })
		if err != nil {
			return fmt.Errorf("travel: segments: %w", err)
		}
		sc, err := scoreSegments(ctx, tx, segs, now)
		if err != nil {
			return err
		}

		var segRows, tripRows changedRows
		var steps struct {
			trips       []uuid.UUID
			notes, keys []string
		}
		b := &pgx.Batch{}
		type approvalDue struct {
			before Trip
			risk   Risk
			segs   []Segment
		}
		var approvals []approvalDue
		next := 0
		for _, t := range trips {
			sum.Trips++
			// Segments come ordered by trip, as the trips do.
			first := next
			for next < len(segs) && segs[next].TripID == t.ID {
				next++
			}
			mine := segs[first:next]
			scores := sc.segments[first:next]
			for i := range mine {
				fresh := normalizeRisk(scores[i])
				if riskDiffers(mine[i].Risk, fresh) {
					if err := segRows.add(mine[i].ID, fresh); err != nil {
						return err
					}
				}
				mine[i].Risk = fresh
				atRisk = append(atRisk, travellersAtRisk(t, mine[i], sc.countries[mine[i].Place.CountryCode], sc.near[first+i], now)...)
			}
			risk := normalizeRisk(tripRiskOf(scores))
			if !riskDiffers(t.Risk, risk) {
				continue
			}
			if err := tripRows.add(t.ID, risk); err != nil {
				return err
			}
			if risk.Level == t.Risk.Level {
				continue // new words for the same level: stored, not announced
			}
			sum.Changed++
			top := "no reason remains"
			if len(risk.Reasons) > 0 {
				top = risk.Reasons[0].Text
			}
			steps.trips = append(steps.trips, t.ID)
			steps.notes = append(steps.notes, fmt.Sprintf("level %d → %d: %s", t.Risk.Level, risk.Level, top))
			steps.keys = append(steps.keys, fmt.Sprintf("trip:%s:risk:%d:%d", t.ID, risk.Level, now.UnixMicro()))
			ev := RiskChanged{TripID: t.ID, Traveller: t.Traveller, Region: riskiestRegion(mine), PreviousLevel: t.Risk.Level,
				Level: risk.Level, Reasons: risk.Reasons, Cause: cause, At: now}
			if err := outbox.QueueEnqueue(ctx, b, outbox.TopicTripRiskChanged, ev); err != nil {
				return err
			}
			if err := audit.Queue(ctx, b, audit.Entry{Actor: SystemActor, Action: "trip.reassess", ObjectType: "Trip",
				ObjectID: t.ID.String(), Before: t.Risk, After: map[string]any{"risk": risk, "cause": cause}}); err != nil {
				return err
			}
			if needsNewApproval(t, risk.Level, now) {
				approvals = append(approvals, approvalDue{before: t, risk: risk, segs: mine})
			}
		}
		if len(segRows.ids) > 0 {
			b.Queue(`UPDATE trip_segments s SET risk_level = u.level, risk_reasons = u.reasons::jsonb
				FROM unnest($1::uuid[], $2::int[], $3::text[]) AS u(id, level, reasons) WHERE s.id = u.id`,
				segRows.ids, segRows.levels, segRows.reasons)
		}
		if len(tripRows.ids) > 0 {
			b.Queue(`UPDATE trips t SET risk_level = u.level, risk_reasons = u.reasons::jsonb, assessed_at = $4, updated_at = $4
				FROM unnest($1::uuid[], $2::int[], $3::text[]) AS u(id, level, reasons) WHERE t.id = u.id`,
				tripRows.ids, tripRows.levels, tripRows.reasons, now)
		}
		if len(steps.trips) > 0 {
			b.Queue(`INSERT INTO trip_timeline (trip_id, at, kind, actor, note, dedupe_key)
				SELECT u.trip_id, $4, $5, $6, u.note, u.dedupe_key FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(trip_id, note, dedupe_key)
				ON CONFLICT (dedupe_key) DO NOTHING`, steps.trips, steps.notes, steps.keys, now, StepRiskChanged, SystemActor)
		}
		if b.Len() > 0 {
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return fmt.Errorf("travel: store re-assessment: %w", err)
			}
		}
		for _, due := range approvals {
			if due.before.Status == StatusPendingApproval && due.before.Approval != nil {
				if err := supersedeRound(ctx, tx, due.before, SystemActor, due.risk.Level); err != nil {
					return err
				}
			}
			current := due.before
			current.StartsAt, current.EndsAt = span(due.segs)
			current.Risk = due.risk
			ev, err := requestApproval(ctx, tx, current, due.risk.Level, SystemActor, cause, now)
			if err != nil {
				return err
			}
			if err := audit.Record(ctx, tx, audit.Entry{Actor: SystemActor, Action: "trip.request_approval", ObjectType: "Trip",
				ObjectID: current.ID.String(), Before: due.before, After: ev}); err != nil {
				return err
			}
			sum.SentForApproval++
		}
		return nil
	})
	if err != nil {
		return ReassessSummary{}, nil, err
	}
	return sum, atRisk, nil
}

// needsNewApproval: the trip was approved (or is waiting) for less than
// its new level needs, and has not started. The rule is AddSegment's: an
// approval covers its tier (travel team at ApprovalLevel, a global lead at
// GlobalLeadLevel); NOT_REQUIRED covers none.
func needsNewApproval(t Trip, level int, now time.Time) bool {
	if t.Status != StatusApproved && t.Status != StatusPendingApproval {
		return false
	}
	if t.StartsAt == nil || !t.StartsAt.After(now) || level < ApprovalLevel {
		return false
	}
	return t.Approval == nil || t.Approval.Status == "NOT_REQUIRED" || approvalTier(level) > approvalTier(t.Approval.Level)
}

// riskiestRegion is the region of the country of the trip's riskiest
// segment (the first of equals), "" when unknown.
func riskiestRegion(segs []Segment) string {
	riskiest := -1
	for i := range segs {
		if riskiest < 0 || segs[i].Risk.Level > segs[riskiest].Risk.Level {
			riskiest = i
		}
	}
	if riskiest < 0 {
		return ""
	}
	c, _ := country.Get(segs[riskiest].Place.CountryCode)
	return c.Region
}

// travellersAtRisk lists the incidents a segment the traveller is on right
// now calls for: one when its country's effective level is 4, one per
// incident within the TRAVELLER radius. The keys name the cause, so the
// same cause raises one incident however often it is found.
func travellersAtRisk(t Trip, seg Segment, c countryAdvice, near []nearIncident, now time.Time) []travellerAtRisk {
	if seg.StartsAt.After(now) || !seg.EndsAt.After(now) {
		return nil
	}
	var out []travellerAtRisk
	if c.level() == 4 {
		out = append(out, travellerAtRisk{tripID: t.ID, traveller: t.Traveller, segment: seg, severity: escalation.SEV2,
			ref: fmt.Sprintf("trip:%s:country:%s:level4:v%d", t.ID, seg.Place.CountryCode, c.period),
			why: "(level 4 country)"})
	}
	for _, n := range near {
		severity := escalation.SEV2
		if n.severity == string(escalation.SEV1) {
			severity = escalation.SEV1
		}
		out = append(out, travellerAtRisk{tripID: t.ID, traveller: t.Traveller, segment: seg, severity: severity,
			ref: fmt.Sprintf("trip:%s:incident:%s", t.ID, n.id),
			why: fmt.Sprintf("%s from %s", distanceWords(n.metres), n.title)})
	}
	return out
}

// ensureTravellerIncidents raises the incidents of travellers at risk that
// are not raised yet. It runs on every re-assessment, not only on a change:
// a redelivered event or a crash after the batch committed never loses one,
// and the unique index incidents_source_once never lets one be raised twice.
func (s *Store) ensureTravellerIncidents(ctx context.Context, atRisk []travellerAtRisk) (int, error) {
	if len(atRisk) == 0 {
		return 0, nil
	}
	refs := make([]string, 0, len(atRisk))
	subjects := make([]string, 0, len(atRisk))
	for _, a := range atRisk {
		refs = append(refs, a.ref)
		subjects = append(subjects, a.traveller)
	}
	// source_ref <> '' lets the planner use the partial index incidents_source_once.
	rows, err := s.pool.Query(ctx, `SELECT source_ref FROM incidents
		WHERE source_type = 'TRAVEL' AND source_ref <> '' AND source_ref = ANY($1)`, refs)
	if err != nil {
		return 0, fmt.Errorf("travel: raised incidents: %w", err)
	}
	raisedRefs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("travel: raised incidents: %w", err)
	}
	raisedAlready := make(map[string]bool, len(raisedRefs))
	for _, ref := range raisedRefs {
		raisedAlready[ref] = true
	}
	names, err := s.names(ctx, subjects)
	if err != nil {
		return 0, err
	}
	incidents := incident.NewStore(s.pool)
	allow := func([]string) error { return nil } // the system raises for every region it finds a traveller in
	raised := 0
	var failed []error
	for _, a := range atRisk {
		if raisedAlready[a.ref] {
			continue
		}
		raisedAlready[a.ref] = true // a trip with two current segments in one place raises once
		n := incident.New{Kind: TravellerAtRiskKind, Severity: a.severity, SourceType: "TRAVEL", SourceRef: a.ref,
			Title: clip(fmt.Sprintf("Traveller at risk: %s in %s, %s", nameOr(names, a.traveller), placeWords(a.segment.Place), a.why), 200)}
		if c, ok := country.Get(a.segment.Place.CountryCode); ok {
			n.Regions = []string{c.Region}
		}
		if p := a.segment.Place; p.Latitude != nil && p.Longitude != nil {
			n.Location = &incident.Location{Latitude: *p.Latitude, Longitude: *p.Longitude}
		}
		_, _, err := incidents.Raise(ctx, SystemActor, n, allow)
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "incidents_source_once":
			// Raised meanwhile by another run: that is the one.
		case err != nil:
			failed = append(failed, fmt.Errorf("travel: raise %s: %w", a.ref, err))
		default:
			raised++
		}
	}
	return raised, errors.Join(failed...)
}

// names returns the directory names of subjects.
func (s *Store) names(ctx context.Context, subjects []string) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT subject, name FROM users WHERE subject = ANY($1)`, subjects)
	if err != nil {
		return nil, fmt.Errorf("travel: traveller names: %w", err)
	}
	names := make(map[string]string, len(subjects))
	var subject, name string
	_, err = pgx.ForEachRow(rows, []any{&subject, &name}, func() error {
		names[subject] = name
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("travel: traveller names: %w", err)
	}
	return names, nil
}

func nameOr(names map[string]string, subject string) string {
	if n := names[subject]; n != "" {
		return n
	}
	return subject
}

// placeWords names a place for people: "Nairobi, Kenya".
func placeWords(p Place) string {
	where := p.CountryCode
	if c, ok := country.Get(p.CountryCode); ok {
		where = c.Name
	}
	if p.City == "" {
		return where
	}
	return p.City + ", " + where
}

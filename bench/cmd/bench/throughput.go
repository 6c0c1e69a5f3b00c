package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/outbox"
	"meridian.dev/platform/site"
)

// ThroughputReport is Part 1.
type ThroughputReport struct {
	System *OpsResult
	Raw    *OpsResult
}

// OpsResult is one side of Part 1.
type OpsResult struct {
	Workers    int
	Ops        int // completed inside the measured window
	Errors     int // failed at any time, warm-up included
	FirstError string
	Window     time.Duration
	Latency    Summary
	Usage      Usage
}

// Throughput is completed operations per second of the measured window.
func (r *OpsResult) Throughput() float64 {
	if r == nil || r.Window <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Window.Seconds()
}

// systemThroughput runs Part 1 through the gateway: every client updates its
// own site over GraphQL/HTTP.
func (e *env) systemThroughput(ctx context.Context) (*OpsResult, error) {
	e.logf("part 1, system: %d clients updating their own site through GraphQL over HTTP for %s (after %s warm-up)",
		e.cfg.Clients, e.cfg.Duration, e.cfg.Warmup)
	return e.measureOps(ctx, "throughput", e.sysSites[:e.cfg.Clients], e.updateViaGateway)
}

// rawThroughput runs Part 1's baseline: the same transaction, sent directly
// with pgx.
func (e *env) rawThroughput(ctx context.Context) (*OpsResult, error) {
	e.logf("part 1, raw baseline: %d workers running the same transaction with pgx (pool of %d connections) for %s (after %s warm-up)",
		len(e.rawSites), e.rawConns(), e.cfg.Duration, e.cfg.Warmup)
	res, err := e.measureOps(ctx, "", e.rawSites, e.updateRaw)
	if err != nil {
		return nil, err
	}
	// No relay was running: retire the baseline's outbox rows so the relay,
	// once started, does not publish them as live events.
	if _, err := e.pool.Exec(ctx, `UPDATE outbox SET processed_at = now() WHERE processed_at IS NULL`); err != nil {
		return nil, fmt.Errorf("retire raw outbox rows: %w", err)
	}
	return res, nil
}

// measureOps runs op in a closed loop, one worker per site, for warm-up plus
// the measured duration, and summarises the operations that completed inside
// the measured window.
func (e *env) measureOps(ctx context.Context, profilePhase string, sites []*benchSite, op func(context.Context, *benchSite) error) (*OpsResult, error) {
	res := &OpsResult{Workers: len(sites), Window: e.cfg.Duration}
	start := time.Now()
	measureStart := start.Add(e.cfg.Warmup)
	measureEnd := measureStart.Add(e.cfg.Duration)

	// Resource usage and the optional profile cover the measured window only.
	var usage0, usage1 Usage
	var profileErr error
	windowDone := make(chan struct{})
	time.AfterFunc(e.cfg.Warmup, func() {
		stopProfile := func() {}
		if profilePhase != "" {
			if stop, err := e.startProfile(profilePhase); err != nil {
				profileErr = err
			} else {
				stopProfile = stop
			}
		}
		usage0 = e.usage()
		time.AfterFunc(e.cfg.Duration, func() {
			usage1 = e.usage()
			stopProfile()
			close(windowDone)
		})
	})

	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	for _, s := range sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			errs := 0
			first := ""
			for {
				t0 := time.Now()
				if !t0.Before(measureEnd) || ctx.Err() != nil {
					break
				}
				err := op(ctx, s)
				t1 := time.Now()
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					errs++
					if first == "" {
						first = fmt.Sprintf("%s: %v", s.code, err)
					}
					e.resync(ctx, s)
					continue
				}
				if !t1.Before(measureStart) && t1.Before(measureEnd) {
					lat = append(lat, t1.Sub(t0))
				}
			}
			mu.Lock()
			all = append(all, lat...)
			res.Errors += errs
			if res.FirstError == "" {
				res.FirstError = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	<-windowDone
	if profileErr != nil {
		return nil, profileErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.Usage = usage1.Sub(usage0)
	res.Ops = len(all)
	res.Latency = summarize(all)
	return res, nil
}

// The raw baseline's statements are site.Store.UpdateStatus's, verbatim.
const (
	rawSiteColumns = `id, code, name, region, country_code, city, latitude, longitude, timezone, criticality,
	status_level, status_posture, status_note, status_version, status_updated_at, status_updated_by`
	rawLockSQL   = `SELECT ` + rawSiteColumns + ` FROM sites WHERE id = $1 FOR UPDATE`
	rawUpdateSQL = `UPDATE sites SET status_level = $2, status_posture = $3, status_note = $4, status_version = $5,
			status_updated_at = $6, status_updated_by = $7 WHERE id = $1`
	rawHistorySQL = `INSERT INTO site_status_history (site_id, version, level, posture, note, changed_at, changed_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`
	rawAuditSQL = `INSERT INTO audit_log (actor, action, object_type, object_id, before, after, trace_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)`
	rawOutboxSQL = `INSERT INTO outbox (topic, payload, traceparent) VALUES ($1, $2, $3)`
)

var errRawConflict = errors.New("raw: version conflict")

// updateRaw is the transaction of site.Store.UpdateStatus without the
// service around it: lock the row, check the version, then the update, the
// history, audit and outbox rows in one batch, and commit.
func (e *env) updateRaw(ctx context.Context, s *benchSite) error {
	const actor = "bench-raw"
	level := nextLevel(s.level)
	var after site.Site
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		var before site.Site
		err := tx.QueryRow(ctx, rawLockSQL, s.id).Scan(&before.ID, &before.Code, &before.Name, &before.Region,
			&before.CountryCode, &before.City, &before.Latitude, &before.Longitude, &before.Timezone, &before.Criticality,
			&before.Status.Level, &before.Status.Posture, &before.Status.Note, &before.Status.Version,
			&before.Status.UpdatedAt, &before.Status.UpdatedBy)
		if err != nil {
			return err
		}
		if before.Status.Version != s.version {
			return errRawConflict
		}
		after = before
		after.Status = site.Status{Level: level, Posture: site.PostureOpen, Note: "benchmark", Version: before.Status.Version + 1,
			UpdatedAt: time.Now().UTC().Truncate(time.Microsecond), UpdatedBy: actor}
		beforeJSON, err := json.Marshal(before.Status)
		if err != nil {
			return err
		}
		afterJSON, err := json.Marshal(after.Status)
		if err != nil {
			return err
		}
		payload, err := json.Marshal(site.StatusChangedEvent{Site: after, Previous: before.Status})
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(rawUpdateSQL, after.ID, after.Status.Level, after.Status.Posture, after.Status.Note, after.Status.Version,
			after.Status.UpdatedAt, actor)
		b.Queue(rawHistorySQL, after.ID, after.Status.Version, after.Status.Level, after.Status.Posture, after.Status.Note,
			after.Status.UpdatedAt, actor)
		b.Queue(rawAuditSQL, actor, "site.update_status", "Site", after.ID.String(), beforeJSON, afterJSON, "")
		b.Queue(rawOutboxSQL, outbox.TopicSiteStatusChanged, payload, "")
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return err
	}
	s.version, s.level = after.Status.Version, level
	return nil
}

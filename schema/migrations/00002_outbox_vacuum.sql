-- +goose Up
-- The outbox churns: every row is inserted, updated once and deleted a day
-- later. Vacuum it far more eagerly than the defaults so the relay's claim
-- query never scans long runs of dead index entries.
ALTER TABLE outbox SET (
    autovacuum_vacuum_scale_factor = 0.0,
    autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_insert_scale_factor = 0.0,
    autovacuum_vacuum_insert_threshold = 2000,
    autovacuum_analyze_scale_factor = 0.02
);

-- +goose Down
SELECT 'forward-only migrations';

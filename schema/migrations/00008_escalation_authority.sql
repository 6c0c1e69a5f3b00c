-- +goose Up
-- Who may act on an escalation is decided on the escalation itself: its
-- frozen policy (which tiers target whom), how far it climbed, and whom its
-- tiers paged. The policy was known only by name and version; record which
-- one, so a decision made in Postgres (Temporal unreachable, a note) reads
-- the same targets the workflow holds. NULL: the built-in default.
ALTER TABLE escalations
    ADD COLUMN policy_id uuid REFERENCES escalation_policies(id);

UPDATE escalations e SET policy_id = (
    SELECT p.id FROM escalation_policies p
    WHERE p.severity = e.severity AND p.version = e.policy_version AND p.name = e.policy_name
      AND (p.region = e.region OR p.region IS NULL)
    ORDER BY p.region IS NULL LIMIT 1)
WHERE e.policy_version > 0;

-- A PAGED step lists everyone its tier paged.
ALTER TABLE escalation_timeline
    ADD COLUMN recipients text[];

-- The audit log is read by actor and by time as well as by object.
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

-- +goose Down
SELECT 'forward-only migrations';

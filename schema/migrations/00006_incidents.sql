-- +goose Up
-- An incident is raised by hand (or later by travel and protection) and
-- escalates in every region it touches: one escalation per region, all under
-- the incident, each region seeing the others.
CREATE TABLE incidents (
    id          uuid PRIMARY KEY,
    title       text NOT NULL,
    severity    text NOT NULL CHECK (severity IN ('SEV1', 'SEV2', 'SEV3', 'SEV4')),
    kind        text NOT NULL,
    -- What raised it: SITE_STATUS, MANUAL, TRAVEL, PROTECTION … and its id
    -- there, so other domains can open incidents without engine changes.
    source_type text NOT NULL,
    source_ref  text NOT NULL DEFAULT '',
    latitude    double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision CHECK (longitude BETWEEN -180 AND 180),
    site_ids    uuid[] NOT NULL DEFAULT '{}',
    regions     text[] NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    workflow_id text NOT NULL UNIQUE
);

ALTER TABLE escalations
    ADD COLUMN incident_id uuid REFERENCES incidents(id),
    ALTER COLUMN site_id DROP NOT NULL;
CREATE INDEX escalations_incident ON escalations (incident_id) WHERE incident_id IS NOT NULL;

-- +goose Down
SELECT 'forward-only migrations';

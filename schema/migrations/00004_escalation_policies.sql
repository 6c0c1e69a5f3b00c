-- +goose Up
-- Escalation policies are data: chosen by region and severity, versioned.
-- Editing a policy inserts a new version; an escalation keeps the version it
-- opened with (frozen into its workflow's input).
CREATE TABLE escalation_policies (
    id          uuid PRIMARY KEY,
    region      text REFERENCES regions(code),  -- NULL: any region
    severity    text NOT NULL CHECK (severity IN ('SEV1', 'SEV2', 'SEV3', 'SEV4')),
    version     integer NOT NULL CHECK (version > 0),
    name        text NOT NULL,
    tiers       jsonb NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX escalation_policies_version ON escalation_policies (coalesce(region, '*'), severity, version);

ALTER TABLE escalations
    ADD COLUMN severity text NOT NULL DEFAULT 'SEV1',
    ADD COLUMN policy_name text NOT NULL DEFAULT 'default',
    ADD COLUMN policy_version integer NOT NULL DEFAULT 0;

-- +goose Down
SELECT 'forward-only migrations';

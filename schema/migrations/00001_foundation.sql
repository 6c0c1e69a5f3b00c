-- +goose Up
CREATE TABLE regions (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Z]{2,8}$'),
    name        text NOT NULL,
    timezone    text NOT NULL
);

INSERT INTO regions (code, name, timezone) VALUES
    ('AMER', 'Americas', 'America/New_York'),
    ('EMEA', 'Europe, Middle East and Africa', 'Europe/London'),
    ('APAC', 'Asia-Pacific', 'Asia/Singapore');

-- The directory of people Meridian can page. Identity itself comes from the
-- bearer token; this table says who holds which role where, for paging.
CREATE TABLE users (
    subject     text PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL DEFAULT '',
    roles       text[] NOT NULL DEFAULT '{}',
    regions     text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sites (
    id              uuid PRIMARY KEY,
    code            text NOT NULL UNIQUE,
    name            text NOT NULL,
    region          text NOT NULL REFERENCES regions(code),
    country_code    char(2) NOT NULL,
    city            text NOT NULL,
    latitude        double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude       double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    timezone        text NOT NULL,
    criticality     text NOT NULL,
    status_level    text NOT NULL DEFAULT 'NORMAL',
    status_posture  text NOT NULL DEFAULT 'OPEN',
    status_note     text NOT NULL DEFAULT '',
    status_version  integer NOT NULL DEFAULT 1,
    status_updated_at timestamptz NOT NULL DEFAULT now(),
    status_updated_by text NOT NULL DEFAULT 'system',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sites_region_code ON sites (region, code);
CREATE INDEX sites_level_code ON sites (status_level, code);

CREATE TABLE site_status_history (
    id          bigserial PRIMARY KEY,
    site_id     uuid NOT NULL REFERENCES sites(id),
    version     integer NOT NULL,
    level       text NOT NULL,
    posture     text NOT NULL,
    note        text NOT NULL,
    changed_at  timestamptz NOT NULL,
    changed_by  text NOT NULL,
    UNIQUE (site_id, version)
);

-- A retried mutation with the same clientMutationId returns the first answer
-- instead of applying the change twice.
CREATE TABLE mutation_receipts (
    subject             text NOT NULL,
    client_mutation_id  text NOT NULL,
    operation           text NOT NULL,
    result              jsonb NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, client_mutation_id)
);

CREATE TABLE escalations (
    id              uuid PRIMARY KEY,
    site_id         uuid NOT NULL REFERENCES sites(id),
    region          text NOT NULL REFERENCES regions(code),
    status          text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'ACKNOWLEDGED', 'RESOLVED')),
    tier            integer NOT NULL DEFAULT 0,
    trigger_level   text NOT NULL,
    trigger_posture text NOT NULL,
    acknowledged_by text,
    acknowledged_at timestamptz,
    resolved_by     text,
    resolved_at     timestamptz,
    started_at      timestamptz NOT NULL DEFAULT now(),
    workflow_id     text NOT NULL UNIQUE
);
-- At most one live escalation per site: a second alarm joins the open one.
CREATE UNIQUE INDEX escalations_one_open_per_site ON escalations (site_id) WHERE status <> 'RESOLVED';
CREATE INDEX escalations_region_started ON escalations (region, started_at DESC, id);

CREATE TABLE escalation_timeline (
    id              bigserial PRIMARY KEY,
    escalation_id   uuid NOT NULL REFERENCES escalations(id),
    at              timestamptz NOT NULL DEFAULT now(),
    kind            text NOT NULL,
    actor           text NOT NULL,
    note            text NOT NULL DEFAULT '',
    -- Activities retry; the key makes a retried step land once.
    dedupe_key      text UNIQUE
);
CREATE INDEX escalation_timeline_escalation ON escalation_timeline (escalation_id, id);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    object_type text NOT NULL,
    object_id   text NOT NULL,
    before      jsonb,
    after       jsonb,
    trace_id    text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id, id);

-- Transactional outbox: written in the same transaction as the change it
-- announces, relayed to Redis and Temporal afterwards. A relay outage only
-- delays delivery; it never loses an accepted write.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    topic           text NOT NULL,
    payload         jsonb NOT NULL,
    traceparent     text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at, id) WHERE processed_at IS NULL;

-- +goose StatementBegin
CREATE FUNCTION outbox_notify() RETURNS trigger AS $$
BEGIN
    -- One wake-up per transaction is enough: Postgres folds identical payloads.
    PERFORM pg_notify('meridian_outbox', '');
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_notify();

-- +goose Down
SELECT 'forward-only migrations';

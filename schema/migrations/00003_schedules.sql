-- +goose Up
-- Follow-the-sun: each region's business hours in local wall-clock time, and
-- the order duty passes in. Times are "HH:MM" read in the region's IANA zone,
-- never fixed UTC offsets, so they stay right across daylight-saving changes.
CREATE TABLE region_hours (
    region      text PRIMARY KEY REFERENCES regions(code),
    timezone    text NOT NULL,
    days        smallint[] NOT NULL,  -- 0 = Sunday … 6 = Saturday
    open_local  text NOT NULL CHECK (open_local ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
    close_local text NOT NULL CHECK (close_local ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
    sun_order   integer NOT NULL
);

INSERT INTO region_hours (region, timezone, days, open_local, close_local, sun_order) VALUES
    ('APAC', 'Asia/Singapore',   '{1,2,3,4,5}', '09:00', '18:00', 1),
    ('EMEA', 'Europe/London',    '{1,2,3,4,5}', '09:00', '18:00', 2),
    ('AMER', 'America/New_York', '{1,2,3,4,5}', '09:00', '18:00', 3);

-- On-call rotations: an ordered list of people taking daily or weekly turns
-- that change hands at a local time.
CREATE TABLE rotations (
    id           uuid PRIMARY KEY,
    region       text NOT NULL REFERENCES regions(code),
    name         text NOT NULL,
    timezone     text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('DAILY', 'WEEKLY')),
    handoff_time text NOT NULL CHECK (handoff_time ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
    handoff_day  smallint NOT NULL DEFAULT 1 CHECK (handoff_day BETWEEN 0 AND 6),
    start_date   date NOT NULL,
    participants text[] NOT NULL CHECK (cardinality(participants) > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (region, name)
);

-- An override puts a person on call for a window instead of the rotation.
CREATE TABLE rotation_overrides (
    id          uuid PRIMARY KEY,
    rotation_id uuid NOT NULL REFERENCES rotations(id),
    person      text NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rotation_overrides_rotation_ends ON rotation_overrides (rotation_id, ends_at);

-- +goose Down
SELECT 'forward-only migrations';

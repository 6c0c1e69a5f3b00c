-- +goose Up
-- Executive protection: protectees (principals) with a sensitive profile,
-- details that keep them, their movements, safe havens, advance notes,
-- positions and check-ins, and the log of every read of a sensitive field.

-- A protectee's profile (home address, medical notes, emergency contacts,
-- vehicles, photo reference) is one jsonb document: it is read and masked
-- whole, never queried by its parts.
CREATE TABLE protectees (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    title        text NOT NULL DEFAULT '',
    threat_level text NOT NULL CHECK (threat_level IN ('LOW', 'STANDARD', 'HIGH', 'CRITICAL')),
    profile      jsonb NOT NULL DEFAULT '{}',
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE details (
    id                   uuid PRIMARY KEY,
    protectee_id         uuid NOT NULL REFERENCES protectees(id),
    -- Where the detail operates: whose managers see it, and the region of a
    -- missed check-in when no position places it elsewhere.
    region               text NOT NULL REFERENCES regions(code),
    leader               text NOT NULL REFERENCES users(subject),
    status               text NOT NULL DEFAULT 'PLANNED' CHECK (status IN ('PLANNED', 'ACTIVE', 'ENDED')),
    starts_at            timestamptz NOT NULL,
    ends_at              timestamptz NOT NULL,
    threat_level         text NOT NULL CHECK (threat_level IN ('LOW', 'STANDARD', 'HIGH', 'CRITICAL')),
    -- The interval in force (the threat level's default unless the detail
    -- set its own) and the grace before a missed check-in escalates.
    check_in_interval_s  integer NOT NULL CHECK (check_in_interval_s > 0),
    interval_is_custom   boolean NOT NULL DEFAULT false,
    grace_s              integer NOT NULL CHECK (grace_s >= 0),
    last_check_in_at     timestamptz,
    last_check_in_by     text,
    last_check_in_lat    double precision CHECK (last_check_in_lat BETWEEN -90 AND 90),
    last_check_in_lon    double precision CHECK (last_check_in_lon BETWEEN -180 AND 180),
    next_check_in_due    timestamptz,
    -- The last reported position (Redis holds it live; this row is what
    -- survives Redis and what proximity queries index).
    position_lat         double precision CHECK (position_lat BETWEEN -90 AND 90),
    position_lon         double precision CHECK (position_lon BETWEEN -180 AND 180),
    position_at          timestamptz,
    position             geography(Point, 4326) GENERATED ALWAYS AS (
                             CASE WHEN position_lat IS NOT NULL AND position_lon IS NOT NULL
                                  THEN ST_SetSRID(ST_MakePoint(position_lon, position_lat), 4326)::geography END) STORED,
    -- Wrong codes since the last good check-in; at the threshold the watch
    -- treats the silence as a missed check-in.
    failed_codes         integer NOT NULL DEFAULT 0,
    workflow_id          text NOT NULL UNIQUE,
    created_by           text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    ended_at             timestamptz,
    CHECK (ends_at > starts_at)
);
CREATE INDEX details_protectee ON details (protectee_id);
CREATE INDEX details_status_region ON details (status, region, id);
CREATE INDEX details_position ON details USING gist (position) WHERE status = 'ACTIVE';

-- Agents assigned to a detail (the leader is on details.leader).
CREATE TABLE detail_agents (
    detail_id   uuid NOT NULL REFERENCES details(id),
    subject     text NOT NULL REFERENCES users(subject),
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (detail_id, subject)
);
CREATE INDEX detail_agents_subject ON detail_agents (subject);

CREATE TABLE movements (
    id                uuid PRIMARY KEY,
    detail_id         uuid NOT NULL REFERENCES details(id),
    seq               integer NOT NULL,
    from_city         text NOT NULL,
    from_country      text NOT NULL,
    from_lat          double precision NOT NULL CHECK (from_lat BETWEEN -90 AND 90),
    from_lon          double precision NOT NULL CHECK (from_lon BETWEEN -180 AND 180),
    to_city           text NOT NULL,
    to_country        text NOT NULL,
    to_lat            double precision NOT NULL CHECK (to_lat BETWEEN -90 AND 90),
    to_lon            double precision NOT NULL CHECK (to_lon BETWEEN -180 AND 180),
    from_location     geography(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(from_lon, from_lat), 4326)::geography) STORED,
    to_location       geography(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(to_lon, to_lat), 4326)::geography) STORED,
    planned_departure timestamptz NOT NULL,
    planned_arrival   timestamptz NOT NULL,
    actual_departure  timestamptz,
    actual_arrival    timestamptz,
    departure_zone    text NOT NULL,
    arrival_zone      text NOT NULL,
    vehicle           text NOT NULL DEFAULT '',
    route_notes       text NOT NULL DEFAULT '',
    status            text NOT NULL DEFAULT 'PLANNED' CHECK (status IN ('PLANNED', 'EN_ROUTE', 'ARRIVED', 'DIVERTED')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (detail_id, seq),
    CHECK (planned_arrival >= planned_departure),
    CHECK (actual_arrival IS NULL OR actual_departure IS NULL OR actual_arrival >= actual_departure)
);
CREATE INDEX movements_from ON movements USING gist (from_location);
CREATE INDEX movements_to ON movements USING gist (to_location);

CREATE TABLE safe_havens (
    id         uuid PRIMARY KEY,
    detail_id  uuid NOT NULL REFERENCES details(id),
    kind       text NOT NULL CHECK (kind IN ('HOSPITAL', 'POLICE', 'EMBASSY', 'HOTEL', 'OFFICE', 'OTHER')),
    name       text NOT NULL,
    city       text NOT NULL DEFAULT '',
    country    text NOT NULL,
    latitude   double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude  double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    location   geography(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography) STORED,
    phone      text NOT NULL DEFAULT '',
    notes      text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX safe_havens_detail ON safe_havens (detail_id);
CREATE INDEX safe_havens_location ON safe_havens USING gist (location);

CREATE TABLE advance_notes (
    id          uuid PRIMARY KEY,
    detail_id   uuid NOT NULL REFERENCES details(id),
    movement_id uuid REFERENCES movements(id),
    place       text NOT NULL DEFAULT '',
    noted_for   timestamptz NOT NULL,  -- the date the note is about
    note        text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX advance_notes_detail ON advance_notes (detail_id, noted_for);

-- The track: every reported position.
CREATE TABLE detail_positions (
    id          bigserial PRIMARY KEY,
    detail_id   uuid NOT NULL REFERENCES details(id),
    reported_by text NOT NULL,
    latitude    double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    at          timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX detail_positions_detail ON detail_positions (detail_id, at DESC);

-- Check-ins as everyone sees them. A duress check-in is stored exactly like
-- an ordinary one: the duress is known only to the restricted incident it
-- raises.
CREATE TABLE check_ins (
    id                 uuid PRIMARY KEY,
    detail_id          uuid NOT NULL REFERENCES details(id),
    agent              text NOT NULL,
    at                 timestamptz NOT NULL,
    latitude           double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude          double precision CHECK (longitude BETWEEN -180 AND 180),
    note               text NOT NULL DEFAULT '',
    next_due           timestamptz NOT NULL,
    client_mutation_id text,
    UNIQUE (detail_id, agent, client_mutation_id)
);
CREATE INDEX check_ins_detail ON check_ins (detail_id, at DESC, id DESC);

-- Each agent's codes, only as argon2id hashes under one salt (so one
-- derivation checks a code against both).
CREATE TABLE check_in_codes (
    subject     text PRIMARY KEY REFERENCES users(subject),
    params      text NOT NULL,  -- argon2id parameters the hashes were made with
    salt        bytea NOT NULL,
    code_hash   bytea NOT NULL,
    duress_hash bytea NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE detail_timeline (
    id         bigserial PRIMARY KEY,
    detail_id  uuid NOT NULL REFERENCES details(id),
    at         timestamptz NOT NULL DEFAULT now(),
    kind       text NOT NULL,
    actor      text NOT NULL,
    note       text NOT NULL DEFAULT '',
    dedupe_key text UNIQUE
);
CREATE INDEX detail_timeline_detail ON detail_timeline (detail_id, id);

-- Every read of a sensitive field: who, which protectee (and detail),
-- which fields, when, under which trace.
CREATE TABLE protection_access_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    protectee_id uuid NOT NULL REFERENCES protectees(id),
    detail_id    uuid REFERENCES details(id),
    fields       text[] NOT NULL,
    trace_id     text NOT NULL DEFAULT ''
);
CREATE INDEX protection_access_log_protectee ON protection_access_log (protectee_id, id);

-- Restricted incidents (duress): seen only by the people named and by
-- global leads; never streamed region-wide, never counted as a hazard near
-- sites or travellers. Their escalations and audit rows carry the same list.
ALTER TABLE incidents ADD COLUMN restricted_to text[];
ALTER TABLE escalations ADD COLUMN restricted_to text[];
ALTER TABLE audit_log ADD COLUMN restricted_to text[];

-- A policy written for one incident by the domain that raised it (a
-- detail's leader, then the region's on-call, then the global leads): frozen
-- like any other, never the region's policy in force.
ALTER TABLE escalation_policies ADD COLUMN incident_id uuid REFERENCES incidents(id);
DROP INDEX escalation_policies_version;
CREATE UNIQUE INDEX escalation_policies_version ON escalation_policies (coalesce(region, '*'), severity, version)
    WHERE incident_id IS NULL;

-- Protection incidents are raised once per cause, like travel's.
DROP INDEX incidents_source_once;
CREATE UNIQUE INDEX incidents_source_once ON incidents (source_type, source_ref)
    WHERE source_type IN ('TRAVEL', 'EVENT_FEED', 'PROTECTION') AND source_ref <> '';

-- A missed check-in or a duress is about a person, not a hazard to the
-- places and travellers near it: they stay out of proximity.
CREATE OR REPLACE VIEW located_incidents AS
    SELECT i.id, i.kind, i.title, i.severity, i.latitude, i.longitude, i.location, i.created_at,
           'INCIDENT'::text AS origin, NULL::uuid AS site_id
      FROM incidents i
     WHERE i.location IS NOT NULL
       AND i.restricted_to IS NULL
       AND i.source_type <> 'PROTECTION'
       AND EXISTS (SELECT 1 FROM escalations e WHERE e.incident_id = i.id AND e.status <> 'RESOLVED')
    UNION ALL
    SELECT e.id, 'SITE_STATUS'::text, s.name || ': ' || e.trigger_level || ' / ' || e.trigger_posture, e.severity,
           s.latitude, s.longitude, s.location, e.started_at, 'SITE_STATUS'::text, s.id
      FROM escalations e JOIN sites s ON s.id = e.site_id
     WHERE e.incident_id IS NULL AND e.status <> 'RESOLVED';

-- +goose Down
SELECT 'forward-only migrations';

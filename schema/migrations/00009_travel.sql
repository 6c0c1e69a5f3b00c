-- +goose Up
-- Travel risk: official advisories, trips, approvals and proximity. Distances
-- and radii are PostGIS geography (metres on the WGS 84 spheroid), never
-- hand-written trigonometry. `make run` and `make test` install Debian's
-- postgresql-15-postgis-3 where it is missing.
CREATE EXTENSION IF NOT EXISTS postgis;

-- Every place with coordinates gets a geography point computed from them,
-- with a GiST index, so "within R km" is an index scan.
ALTER TABLE sites ADD COLUMN location geography(Point, 4326)
    GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography) STORED;
CREATE INDEX sites_location ON sites USING gist (location);

ALTER TABLE incidents ADD COLUMN location geography(Point, 4326)
    GENERATED ALWAYS AS (CASE WHEN latitude IS NOT NULL AND longitude IS NOT NULL
        THEN ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography END) STORED;
CREATE INDEX incidents_location ON incidents USING gist (location) WHERE location IS NOT NULL;
-- A domain that raises incidents on its own (travel, the event feed) names
-- the cause in source_ref; one cause raises one incident, however often the
-- relay replays the row that raised it.
CREATE UNIQUE INDEX incidents_source_once ON incidents (source_type, source_ref)
    WHERE source_type IN ('TRAVEL', 'EVENT_FEED') AND source_ref <> '';

-- What each source says about each country now: the last good snapshot.
-- A feed that fails, or shrinks suspiciously, leaves these rows alone.
CREATE TABLE advisories (
    source        text NOT NULL CHECK (source IN ('US_STATE', 'UK_FCDO', 'CA_GAC', 'AU_SMARTRAVELLER')),
    country_code  char(2) NOT NULL,
    level         smallint NOT NULL CHECK (level BETWEEN 1 AND 4),
    source_label  text NOT NULL,            -- the source's own words for its level
    title         text NOT NULL,
    summary       text NOT NULL DEFAULT '',
    indicators    text[] NOT NULL DEFAULT '{}',
    areas         jsonb NOT NULL DEFAULT '[]', -- [{"name","level","text"}], sub-national levels
    published_at  timestamptz,
    fetched_at    timestamptz NOT NULL,
    url           text NOT NULL DEFAULT '',
    content_hash  text NOT NULL,            -- a snapshot that says the same thing changes nothing
    PRIMARY KEY (source, country_code)
);
CREATE INDEX advisories_country ON advisories (country_code);

-- Each source's health, shown on advisorySources.
CREATE TABLE advisory_sources (
    source           text PRIMARY KEY,
    last_attempt_at  timestamptz,
    last_success_at  timestamptz,
    last_error       text NOT NULL DEFAULT '',
    countries        integer NOT NULL DEFAULT 0
);
INSERT INTO advisory_sources (source) VALUES ('US_STATE'), ('UK_FCDO'), ('CA_GAC'), ('AU_SMARTRAVELLER');

-- Conditional requests: the validators and body of the last good answer per
-- URL, so a 304 hands the parser the same document again.
CREATE TABLE feed_documents (
    url            text PRIMARY KEY,
    etag           text NOT NULL DEFAULT '',
    last_modified  text NOT NULL DEFAULT '',
    body           bytea NOT NULL,
    fetched_at     timestamptz NOT NULL
);

-- An analyst's word over the sources: for the whole country (area '') or one
-- named area. Expired overrides are ignored and swept.
CREATE TABLE advisory_overrides (
    country_code  char(2) NOT NULL,
    area          text NOT NULL DEFAULT '',
    level         smallint NOT NULL CHECK (level BETWEEN 1 AND 4),
    reason        text NOT NULL,
    set_by        text NOT NULL,
    set_at        timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    PRIMARY KEY (country_code, area)
);

-- The effective level per country, kept current by every ingestion and
-- override; each change is a version row and an outbox event.
CREATE TABLE country_risk (
    country_code  char(2) PRIMARY KEY,
    level         smallint NOT NULL CHECK (level BETWEEN 1 AND 4),
    rule          text NOT NULL CHECK (rule IN ('SOURCE_MAX', 'OVERRIDE')),
    version       integer NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE country_risk_versions (
    id              bigserial PRIMARY KEY,
    country_code    char(2) NOT NULL,
    version         integer NOT NULL,
    level           smallint NOT NULL,
    previous_level  smallint,
    rule            text NOT NULL,
    cause           text NOT NULL,          -- which source or override moved it
    changed_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (country_code, version)
);

-- Impact radius by incident kind and asset type; kind '*' is the default.
CREATE TABLE impact_radii (
    kind        text NOT NULL CHECK (kind ~ '^([A-Z][A-Z0-9_]{0,39}|\*)$'),
    asset_type  text NOT NULL CHECK (asset_type IN ('SITE', 'TRAVELLER', 'DETAIL')),
    radius_km   double precision NOT NULL CHECK (radius_km > 0 AND radius_km <= 2000),
    updated_by  text NOT NULL DEFAULT 'migration',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, asset_type)
);
INSERT INTO impact_radii (kind, asset_type, radius_km) VALUES
    ('*', 'SITE', 5), ('*', 'TRAVELLER', 10), ('*', 'DETAIL', 10),
    ('EARTHQUAKE', 'SITE', 100), ('EARTHQUAKE', 'TRAVELLER', 150), ('EARTHQUAKE', 'DETAIL', 150),
    ('FIRE', 'SITE', 2), ('FIRE', 'TRAVELLER', 5), ('FIRE', 'DETAIL', 5),
    ('UNREST', 'SITE', 10), ('UNREST', 'TRAVELLER', 25), ('UNREST', 'DETAIL', 25),
    ('TERRORISM', 'SITE', 5), ('TERRORISM', 'TRAVELLER', 20), ('TERRORISM', 'DETAIL', 20),
    ('FLOOD', 'SITE', 25), ('FLOOD', 'TRAVELLER', 50), ('FLOOD', 'DETAIL', 50),
    ('STORM', 'SITE', 100), ('STORM', 'TRAVELLER', 150), ('STORM', 'DETAIL', 150),
    ('MEDICAL', 'SITE', 1), ('MEDICAL', 'TRAVELLER', 2), ('MEDICAL', 'DETAIL', 2),
    ('SITE_STATUS', 'SITE', 1), ('SITE_STATUS', 'TRAVELLER', 5), ('SITE_STATUS', 'DETAIL', 5);

-- Events from public feeds (USGS earthquakes). An event becomes an incident
-- only when someone or something of ours is within its radius.
CREATE TABLE geo_events (
    id           text PRIMARY KEY,          -- '<source>:<the feed''s id>'
    source       text NOT NULL,
    kind         text NOT NULL,
    title        text NOT NULL,
    magnitude    double precision,
    latitude     double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude    double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    depth_km     double precision,
    location     geography(Point, 4326) GENERATED ALWAYS AS
                     (ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography) STORED,
    occurred_at  timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    url          text NOT NULL DEFAULT '',
    incident_id  uuid REFERENCES incidents(id),
    fetched_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX geo_events_time ON geo_events (occurred_at DESC);

-- Everything happening somewhere right now, for proximity: incidents with a
-- location while any of their escalations is unresolved, and sites whose
-- status opened an escalation that is still open (kind SITE_STATUS, at the
-- site). Travel risk and duty of care read only this view.
CREATE VIEW located_incidents AS
    SELECT i.id, i.kind, i.title, i.severity, i.latitude, i.longitude, i.location, i.created_at,
           'INCIDENT'::text AS origin, NULL::uuid AS site_id
      FROM incidents i
     WHERE i.location IS NOT NULL
       AND EXISTS (SELECT 1 FROM escalations e WHERE e.incident_id = i.id AND e.status <> 'RESOLVED')
    UNION ALL
    SELECT e.id, 'SITE_STATUS'::text, s.name || ': ' || e.trigger_level || ' / ' || e.trigger_posture, e.severity,
           s.latitude, s.longitude, s.location, e.started_at, 'SITE_STATUS'::text, s.id
      FROM escalations e JOIN sites s ON s.id = e.site_id
     WHERE e.incident_id IS NULL AND e.status <> 'RESOLVED';

-- Trips: a traveller's ordered segments.
CREATE TABLE trips (
    id                 uuid PRIMARY KEY,
    traveller          text NOT NULL REFERENCES users(subject),
    purpose            text NOT NULL DEFAULT '',
    status             text NOT NULL DEFAULT 'DRAFT'
                           CHECK (status IN ('DRAFT', 'PENDING_APPROVAL', 'APPROVED', 'REJECTED', 'CANCELLED')),
    starts_at          timestamptz,
    ends_at            timestamptz,
    risk_level         smallint NOT NULL DEFAULT 1 CHECK (risk_level BETWEEN 1 AND 4),
    risk_reasons       jsonb NOT NULL DEFAULT '[]',
    assessed_at        timestamptz,
    -- Approval: each request is one workflow, trip-approval-<id>-<round>.
    approval_round     integer NOT NULL DEFAULT 0,
    approval_status    text CHECK (approval_status IN ('PENDING', 'APPROVED', 'REJECTED', 'CANCELLED', 'NOT_REQUIRED')),
    approval_level     smallint,
    approval_deadline  timestamptz,
    decided_by         text,
    decided_at         timestamptz,
    decision_note      text,
    created_by         text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 80); -- re-assessment rewrites risk in place: room for HOT updates
CREATE INDEX trips_traveller ON trips (traveller, starts_at);
CREATE INDEX trips_live ON trips (ends_at) WHERE status NOT IN ('CANCELLED', 'REJECTED');

CREATE TABLE trip_segments (
    id            uuid PRIMARY KEY,
    trip_id       uuid NOT NULL REFERENCES trips(id),
    position      integer NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('FLIGHT', 'RAIL', 'HOTEL', 'GROUND', 'MEETING', 'OTHER')),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    timezone      text NOT NULL,
    -- Where the traveller is during the segment (a flight: where it lands).
    city          text NOT NULL DEFAULT '',
    country_code  char(2) NOT NULL,
    latitude      double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude     double precision CHECK (longitude BETWEEN -180 AND 180),
    location      geography(Point, 4326) GENERATED ALWAYS AS (CASE WHEN latitude IS NOT NULL AND longitude IS NOT NULL
                      THEN ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography END) STORED,
    from_place    jsonb,                    -- flights and rail: {"city","countryCode","latitude","longitude"}
    to_place      jsonb,
    risk_level    smallint NOT NULL DEFAULT 1 CHECK (risk_level BETWEEN 1 AND 4),
    risk_reasons  jsonb NOT NULL DEFAULT '[]',
    CHECK (ends_at >= starts_at),
    UNIQUE (trip_id, position)
) WITH (fillfactor = 70); -- re-assessment rewrites risk in place: room for HOT updates
CREATE INDEX trip_segments_country ON trip_segments (country_code, ends_at);
CREATE INDEX trip_segments_location ON trip_segments USING gist (location) WHERE location IS NOT NULL;

CREATE TABLE trip_timeline (
    id          bigserial PRIMARY KEY,
    trip_id     uuid NOT NULL REFERENCES trips(id),
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    actor       text NOT NULL,
    note        text NOT NULL DEFAULT '',
    dedupe_key  text UNIQUE
);
CREATE INDEX trip_timeline_trip ON trip_timeline (trip_id, id);

-- +goose Down
SELECT 'forward-only migrations';

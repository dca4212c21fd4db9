-- Events herald acknowledged, deliveries to make, and every attempt made; the instances
-- running, per-destination pacing and pauses, and housekeeping locks, shared by every replica.
-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE events (
    event_id      TEXT PRIMARY KEY,
    event_type    TEXT NOT NULL,
    received_at   BIGINT NOT NULL,
    body          TEXT NOT NULL,
    matched_rules TEXT NOT NULL          -- JSON list of rule names
);
CREATE INDEX events_received_at ON events (received_at);

CREATE TABLE deliveries (
    id               BIGSERIAL PRIMARY KEY,
    event_id         TEXT NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
    rule             TEXT NOT NULL,
    action_index     BIGINT NOT NULL,
    channel          TEXT NOT NULL,
    status           TEXT NOT NULL,      -- pending | retrying | sent | dead | skipped
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,    -- due then; while leased, when the lease runs out
    lease_until      BIGINT,             -- claimed until then
    lease_owner      TEXT,               -- by this instance
    lease_token      BIGINT,             -- with this claim: only it may record the outcome
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    round_started_at BIGINT NOT NULL,    -- when retrying began (creation, or the last replay)
    updated_at       BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (channel, next_attempt_at, id)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_status ON deliveries (status, id);
CREATE INDEX deliveries_owner ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE attempts (
    id           BIGSERIAL PRIMARY KEY,
    delivery_id  BIGINT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    started_at   BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    outcome      TEXT NOT NULL,          -- sent | retry | failed
    status_code  BIGINT,
    detail       TEXT NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_id);

CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    info         TEXT NOT NULL
);

CREATE TABLE destinations (
    channel         TEXT PRIMARY KEY,
    next_allowed_at BIGINT NOT NULL DEFAULT 0,
    paused_until    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE locks (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until BIGINT NOT NULL
);

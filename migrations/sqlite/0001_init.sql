-- Events herald acknowledged, deliveries to make, and every attempt made.
-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE events (
    event_id      TEXT PRIMARY KEY NOT NULL,
    event_type    TEXT NOT NULL,
    received_at   INTEGER NOT NULL,
    body          TEXT NOT NULL,
    matched_rules TEXT NOT NULL          -- JSON list of rule names
);
CREATE INDEX events_received_at ON events (received_at);

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
    rule            TEXT NOT NULL,
    action_index    INTEGER NOT NULL,
    channel         TEXT NOT NULL,
    status          TEXT NOT NULL,       -- pending | retrying | sent | dead | skipped
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,    -- due then; while leased, when the lease runs out
    lease_until     INTEGER,             -- claimed by a worker until then
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    round_started_at INTEGER NOT NULL,   -- when retrying began (creation, or the last replay)
    updated_at      INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (channel, status, next_attempt_at);
CREATE INDEX deliveries_event ON deliveries (event_id);

CREATE TABLE attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    started_at   INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    outcome      TEXT NOT NULL,          -- sent | retry | failed
    status_code  INTEGER,
    detail       TEXT NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_id);

-- Leases name their holder (an instance of herald) and carry a claim token: an outcome is
-- recorded only by the holder of the current claim, and the leases of an instance that stopped
-- heartbeating are released at once.
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
ALTER TABLE deliveries ADD COLUMN lease_token INTEGER;
CREATE INDEX deliveries_owner ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;

-- Each running herald, and when it last proved it is alive (and that the store can commit).
CREATE TABLE instances (
    id           TEXT PRIMARY KEY NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    info         TEXT NOT NULL       -- host and process, for people
);
DROP TABLE heartbeat;

-- Per destination, for everyone sending to it: when the next message may start (pacing) and
-- until when it asked for a pause (429 Retry-After).
CREATE TABLE destinations (
    channel         TEXT PRIMARY KEY NOT NULL,
    next_allowed_at INTEGER NOT NULL DEFAULT 0,
    paused_until    INTEGER NOT NULL DEFAULT 0
);

-- Housekeeping that runs once however many instances there are (purge, sweeping the leases
-- of instances that stopped): whoever holds a lock until `until` does it.
CREATE TABLE locks (
    name  TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    until INTEGER NOT NULL
);

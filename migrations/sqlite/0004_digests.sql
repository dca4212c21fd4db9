-- Digests: deliveries collected into one message per action and key, sent when due. A digest
-- is one row here and one delivery of its own (`digest_of`), which is claimed and sent like
-- any other; the deliveries it collects wait in it (`digest_id`, status `digest`).
ALTER TABLE deliveries ADD COLUMN digest_id INTEGER;
ALTER TABLE deliveries ADD COLUMN digest_of INTEGER;
CREATE INDEX deliveries_digest ON deliveries (digest_id) WHERE digest_id IS NOT NULL;

CREATE TABLE digests (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    channel        TEXT NOT NULL,
    rule           TEXT NOT NULL,
    action_index   INTEGER NOT NULL,
    key            TEXT NOT NULL,
    state          TEXT NOT NULL,       -- open (collecting) | closed (being sent, or sent)
    opened_at      INTEGER NOT NULL,
    due_at         INTEGER NOT NULL,
    immediate_left INTEGER NOT NULL,    -- how many more go at once (first: now, throttle)
    size           INTEGER NOT NULL DEFAULT 0,
    max            INTEGER,
    delivery_id    INTEGER REFERENCES deliveries (id) ON DELETE CASCADE
);
-- One open digest per action and key: replicas opening one at once meet here.
CREATE UNIQUE INDEX digests_open ON digests (channel, rule, action_index, key) WHERE state = 'open';
CREATE INDEX digests_delivery ON digests (delivery_id);

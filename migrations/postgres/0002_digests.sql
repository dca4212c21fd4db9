-- Digests: deliveries collected into one message per action and key, sent when due. A digest
-- is one row here and one delivery of its own (`digest_of`), which is claimed and sent like
-- any other; the deliveries it collects wait in it (`digest_id`, status `digest`).
ALTER TABLE deliveries ADD COLUMN digest_id BIGINT;
ALTER TABLE deliveries ADD COLUMN digest_of BIGINT;
CREATE INDEX deliveries_digest ON deliveries (digest_id) WHERE digest_id IS NOT NULL;

CREATE TABLE digests (
    id             BIGSERIAL PRIMARY KEY,
    channel        TEXT NOT NULL,
    rule           TEXT NOT NULL,
    action_index   BIGINT NOT NULL,
    key            TEXT NOT NULL,
    state          TEXT NOT NULL,       -- open (collecting) | closed (being sent, or sent)
    opened_at      BIGINT NOT NULL,
    due_at         BIGINT NOT NULL,
    immediate_left BIGINT NOT NULL,    -- how many more go at once (first: now, throttle)
    size           BIGINT NOT NULL DEFAULT 0,
    max            BIGINT,
    delivery_id    BIGINT REFERENCES deliveries (id) ON DELETE CASCADE
);
-- One open digest per action and key: replicas opening one at once meet here.
CREATE UNIQUE INDEX digests_open ON digests (channel, rule, action_index, key) WHERE state = 'open';
CREATE INDEX digests_delivery ON digests (delivery_id);

-- Held deliveries are claimed when their working hours open, like retries when due.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (channel, next_attempt_at, id)
    WHERE status IN ('pending', 'retrying', 'held');

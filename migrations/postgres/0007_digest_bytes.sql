-- How many bytes of events a digest has collected: past MAX_DIGEST_BYTES it is due at once,
-- whatever its `max`, so that no digest holds (and renders) without bound.
ALTER TABLE digests ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;

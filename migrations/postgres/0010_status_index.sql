-- Deliveries by state: one index on (status, id), carrying `event_id` for "events whose
-- deliveries are …" (an index-only scan), instead of that and a second on (status, event_id),
-- which cost a write at a random place whenever a delivery was made or changed state.
DROP INDEX deliveries_status_event;
DROP INDEX deliveries_status;
CREATE INDEX deliveries_status ON deliveries (status, id) INCLUDE (event_id);

-- Deliveries by state, in the order they were made: the status page's "events whose
-- deliveries are dead" and "deliveries that are retrying, newest first". Keyed by (status, id)
-- instead of (status, event_id): a new delivery, and a delivery changing state, go to the end
-- of their state's run instead of a random place in it (with SuperOffice's GUID EventIds,
-- about one page written per event fewer). `event_id` rides along after the id, which orders
-- nothing, so that "events whose deliveries are …" still reads the index alone.
DROP INDEX deliveries_status_event;
CREATE INDEX deliveries_status ON deliveries (status, id, event_id);

-- Deliveries by state are found by `deliveries_status` (status, id), which this store had
-- from the start: the status page's (status, event_id) index only cost a write at a random
-- place in it whenever a delivery was made or changed state.
DROP INDEX deliveries_status_event;

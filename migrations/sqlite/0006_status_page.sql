-- The status page: an event's headers as received, and indexes for its filters (search by
-- PrimaryKey or ContextIdentifier, events by type, by the state of their deliveries) and for
-- each channel's last success and failure.
ALTER TABLE events ADD COLUMN headers TEXT;
CREATE INDEX events_primary_key ON events (CAST(json_extract(body, '$.PrimaryKey') AS TEXT));
CREATE INDEX events_context ON events (json_extract(body, '$.ContextIdentifier'));
CREATE INDEX events_type_received ON events (event_type, received_at);
CREATE INDEX deliveries_status_event ON deliveries (status, event_id);
CREATE INDEX deliveries_channel_updated ON deliveries (channel, status, updated_at);

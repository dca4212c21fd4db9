-- Each event's content (a digest of Event, PrimaryKey, ContextIdentifier, Timestamp, Changes
-- and ChangedByAssociateId) for 24 hours: SuperOffice may send one event again under a new
-- EventId in its next cycle of retries, and that must not be delivered twice.
CREATE TABLE event_contents (
    content_key TEXT PRIMARY KEY NOT NULL,
    event_id    TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX event_contents_received_at ON event_contents (received_at);

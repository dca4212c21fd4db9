-- Bodies PostgreSQL's jsonb cannot read (a `\u0000` escape, or a lone surrogate such as
-- `\ud800`, both of which SuperOffice can send) keep their raw text in `body`, the body of
-- record, and a copy with each such escape as `\ufffd` in `doc` (NULL when the body reads as it
-- is). The status page's indexes and filters read `COALESCE(doc, body)`, which always casts.
ALTER TABLE events ADD COLUMN doc TEXT;
DROP INDEX events_primary_key;
DROP INDEX events_context;
CREATE INDEX events_primary_key ON events (((COALESCE(doc, body)::jsonb) ->> 'PrimaryKey'));
CREATE INDEX events_context ON events (((COALESCE(doc, body)::jsonb) ->> 'ContextIdentifier'));

-- What an event is about, in a line ("Quote 1042 · ACME AS · Server upgrade · 120000 NOK"):
-- from its own fields when it arrives, again from enriched data; shown and searched by the
-- status page.
ALTER TABLE events ADD COLUMN about TEXT;

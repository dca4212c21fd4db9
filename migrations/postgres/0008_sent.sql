-- What each attempt sent (the destination, headers that are not credentials, the body), as
-- JSON, cut to `serve --keep-sent` and redacted; NULL when nothing was sent or keeping is off.
ALTER TABLE attempts ADD COLUMN sent TEXT;

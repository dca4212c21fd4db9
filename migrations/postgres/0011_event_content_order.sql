-- Content keys lead with the event's Timestamp (cut to 40 characters), so that each new key
-- goes at the end of the index instead of at a random place. The keys kept so far get theirs
-- from the event they belong to (none when the event is gone or its Timestamp is not
-- plain ASCII as SuperOffice's are: such a key stops matching, at worst one event delivered
-- again in the 24 hours after the upgrade).
UPDATE event_contents SET content_key = COALESCE((
    SELECT CASE WHEN jsonb_typeof(COALESCE(e.doc, e.body)::jsonb -> 'Timestamp') = 'string'
                 AND COALESCE(e.doc, e.body)::jsonb ->> 'Timestamp' !~ '[^ -~]'
                THEN substr(COALESCE(e.doc, e.body)::jsonb ->> 'Timestamp', 1, 40) END
    FROM events e WHERE e.event_id = event_contents.event_id), '') || ' ' || content_key;

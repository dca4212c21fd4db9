-- Content keys lead with the event's Timestamp (cut to 40 characters), so that each new key
-- goes at the end of the index instead of at a random place. The keys kept so far get theirs
-- from the event they belong to (none when the event is gone, its body is not JSON
-- that SQLite reads, or its Timestamp is not plain ASCII as SuperOffice's are: such a key stops
-- matching, at worst one event delivered again in the 24 hours after the upgrade).
UPDATE event_contents SET content_key = COALESCE((
    SELECT CASE WHEN json_valid(e.body) THEN
               CASE WHEN json_type(e.body, '$.Timestamp') = 'text'
                     AND json_extract(e.body, '$.Timestamp') NOT GLOB '*[^ -~]*'
                    THEN substr(json_extract(e.body, '$.Timestamp'), 1, 40) END END
    FROM events e WHERE e.event_id = event_contents.event_id), '') || ' ' || content_key;

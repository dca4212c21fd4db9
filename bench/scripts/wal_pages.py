#!/usr/bin/env python3
"""Which B-trees of herald's SQLite schema each accepted and delivered event writes.

Applies migrations/sqlite/ to a fresh database, stores EVENTS events the way herald's writer
does (the event, its content key, one delivery; then the delivery marked sent with its attempt),
BATCH events and the previous batch's outcomes per commit, and counts the WAL frames (pages
written) each commit appends, by the B-tree they belong to (SQLite's dbstat). A checkpoint copies
each page again, so fewer frames is less work twice. BENCHMARKS.md, "Issue 25".

The statements below touch the same rows, tables and indexes as the writer's in
src/store/sqlite/write.rs and record.rs (their conflict clauses left out or simplified: no
conflict arises here): change them together, or the counts describe what herald no longer
writes.

    python3 bench/scripts/wal_pages.py [--events 2000] [--batch 10] [--guid-ids]
        [--migrations DIR (default: this repository's migrations/sqlite)] [--random-content-keys]

--guid-ids gives events SuperOffice's GUID EventIds (the benchmark's are sequential);
--random-content-keys keys contents by the digest alone, as herald did before they led with
the event's Timestamp.
"""
import argparse
import collections
import glob
import hashlib
import json
import os
import sqlite3
import struct
import tempfile

AT = 1_700_000_000_000


def event(i, guid_ids):
    eid = hashlib.md5(str(i).encode()).hexdigest() if guid_ids else f"bench-{i:08}-abc"
    stamp = "2026-11-20T10:00:00.%07dZ" % i
    body = json.dumps({
        "EventId": eid, "Timestamp": stamp, "Changes": [], "Event": "quote.ordered",
        "PrimaryKey": i, "Entity": "quote", "ContextIdentifier": "Cust12345",
        "ChangedByAssociateId": 37201, "WebhookName": "bench"})
    return eid, stamp, body


def commit(db, events, outcomes, args):
    db.execute("BEGIN")
    ids = []
    for i in events:
        eid, stamp, body = event(i, args.guid_ids)
        at = AT + i
        digest = hashlib.sha256(body.encode()).hexdigest()
        key = digest if args.random_content_keys else f"{stamp} {digest}"
        db.execute(
            "INSERT INTO event_contents (content_key, event_id, received_at) VALUES (?, ?, ?)"
            " ON CONFLICT (content_key) DO NOTHING", (key, eid, at))
        db.execute(
            "INSERT INTO events (event_id, event_type, received_at, body, matched_rules, headers, about)"
            " VALUES (?, 'quote.ordered', ?, ?, '[\"all\"]', ?, ?)",
            (eid, at, body, '{"content-type":"application/json"}', f"Quote {i} · Cust12345"))
        row = db.execute(
            "INSERT INTO deliveries (event_id, rule, action_index, channel, status, attempts,"
            " next_attempt_at, lease_until, lease_owner, lease_token, created_at,"
            " round_started_at, updated_at)"
            " VALUES (?, 'all', 0, 'sink', 'pending', 0, ?, ?, 'instance', 1, ?, ?, ?) RETURNING id",
            (eid, at + 60_000, at + 60_000, at, at, at)).fetchone()
        ids.append(row[0])
    sent = json.dumps({"kind": "webhook", "to": "POST http://127.0.0.1:9/…", "body": "{}"})
    for d in outcomes:
        db.execute(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, lease_until = NULL,"
            " lease_owner = NULL, lease_token = NULL, updated_at = ? WHERE id = ? AND lease_token = 1",
            (AT + 100_000 + d, d))
        db.execute(
            "INSERT INTO attempts (delivery_id, started_at, duration_ms, outcome, status_code,"
            " detail, sent) VALUES (?, ?, 1, 'sent', 200, '200 OK', ?)", (d, AT + 100_000, sent))
    db.execute("COMMIT")
    return ids


def wal_pages(path):
    with open(path + "-wal", "rb") as f:
        wal = f.read()
    size = struct.unpack(">I", wal[8:12])[0]
    offset, pages = 32, []
    while offset + 24 + size <= len(wal):
        pages.append(struct.unpack(">I", wal[offset:offset + 4])[0])
        offset += 24 + size
    return pages


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=2000)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--guid-ids", action="store_true")
    p.add_argument("--random-content-keys", action="store_true")
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--migrations", default=os.path.join(here, "..", "..", "migrations", "sqlite"))
    args = p.parse_args()
    path = os.path.join(tempfile.mkdtemp(), "herald.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA wal_autocheckpoint = 0")
    for f in sorted(glob.glob(os.path.join(args.migrations, "*.sql"))):
        with open(f) as sql:
            db.executescript(f"BEGIN; {sql.read()}; COMMIT;")
    # As many events stored before as measured, so that the trees are not tiny.
    previous = []
    for start in range(0, args.events, 100):
        previous = commit(db, range(start, start + 100), previous, args)
    commit(db, [], previous, args)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    previous = []
    n = args.events
    for start in range(n, 2 * n, args.batch):
        previous = commit(db, range(start, start + args.batch), previous, args)
    pages = wal_pages(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    trees = dict((page, name) for name, page in db.execute("SELECT name, pageno FROM dbstat"))
    counts = collections.Counter(trees.get(p, "(free)") for p in pages)
    print(f"{len(pages)} pages written for {n} events, {args.batch} a commit: "
          f"{len(pages) / n:.2f} per event")
    for name, count in counts.most_common():
        print(f"  {name:36} {count / n:.2f}")


if __name__ == "__main__":
    main()

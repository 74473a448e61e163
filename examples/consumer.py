#!/usr/bin/env python3
"""Mirror redis-cdc streams into Redis hashes, one hash per row: `<db>.<table>:<key>`.

A consumer group reads every `<prefix><db>.<table>` stream with XREADGROUP. Each entry is applied
and acknowledged in one MULTI/EXEC transaction (delete the hash, write the new row image, XACK),
so an entry is applied exactly once even if the consumer is killed at any point: an entry that
was not acknowledged was not applied either, and is read again from the pending list on restart.
Applying a full row image is idempotent, so a second consumer racing on a redelivered entry
writes the same hash.

Reads all three entry layouts of `cdc.format`: `flat` (op/db/table/key/after fields),
`debezium-extended` (fields `key`, `value` and the record headers) and `debezium` (one field: key
JSON -> event JSON); Debezium schema-change events (a stream the prefix matches only when it has no
trailing separator) are acknowledged and skipped.
The `flat` layout's whole-table entries follow the replay rule of docs/events.md: `t` deletes the
table's hashes; between `resync-begin` and `resync-end` the hashes written are noted in a set
(`<group>:resync:<db>.<table>`), and `resync-end` deletes the table's other hashes (rows deleted
while the module could not see them).

    pip install redis
    python3 examples/consumer.py --redis redis://localhost:16379 --prefix cdc:

Hash field values are the column values as text: strings as they are, everything else as JSON.
"""

import argparse
import hashlib
import json
import sys
import time

import redis

OFFSET_KEY_DEFAULT = "cdc:offset"


WHOLE_TABLE_OPS = ("t", "resync-begin", "resync-end")


def parse_entry(fields):
    """An entry's fields -> (op, db, table, key dict or None, row image dict or None)."""
    if "op" in fields:  # flat
        if fields["op"] in WHOLE_TABLE_OPS:
            return fields["op"], fields["db"], fields["table"], None, None
        key = json.loads(fields["key"])
        after = json.loads(fields["after"]) if "after" in fields else None
        before = json.loads(fields["before"]) if "before" in fields else None
        return fields["op"], fields["db"], fields["table"], key, after if after is not None else before
    if "value" in fields and "key" in fields:  # debezium-extended
        key_text, event_text = fields["key"], fields["value"]
    elif len(fields) == 1:  # debezium (compact): field = key JSON, value = event JSON
        (key_text, event_text), = fields.items()
    else:
        raise ValueError(f"unknown entry layout: {sorted(fields)}")
    event = json.loads(event_text)
    if "op" not in event:  # a Debezium schema-change event (a DDL statement): no row
        return None, None, None, None, None
    # The Debezium Redis sink writes the string "default" for a null key (no primary key).
    key = None if key_text == "default" else json.loads(key_text)
    src = event["source"]
    row = event["after"] if event["after"] is not None else event["before"]
    return event["op"], src["db"], src["table"], key, row


def hash_key(db, table, key, row):
    """`db.table:<key>`: the key columns' values joined by ':'; a digest of the whole row when
    the table has no primary key."""
    if key:
        ident = ":".join(str(v) for v in key.values())
    else:
        ident = hashlib.sha1(json.dumps(row, sort_keys=True).encode()).hexdigest()
    return f"{db}.{table}:{ident}"


def as_text(v):
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def table_hashes(r, db, table):
    """The hashes of `db.table` (SCAN with the names' glob characters escaped)."""
    prefix = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in f"{db}.{table}:")
    return list(r.scan_iter(match=prefix + "*", count=1000))


def apply_and_ack(r, stream, group, entry_id, fields):
    op, db, table, key, row = parse_entry(fields)
    if op is None:
        r.xack(stream, group, entry_id)
        return "ddl", stream
    # Hashes written since a resync-begin of this table (exists only between the markers).
    noted = f"{group}:resync:{db}.{table}"
    pipe = r.pipeline(transaction=True)  # MULTI ... EXEC
    if op in WHOLE_TABLE_OPS:
        if op == "t":
            for k in table_hashes(r, db, table):
                pipe.delete(k)
        elif op == "resync-begin":
            pipe.delete(noted)
            pipe.sadd(noted, "")  # a member, so that the set exists while the re-read runs
        elif r.exists(noted):  # resync-end
            for k in table_hashes(r, db, table):
                if not r.sismember(noted, k):
                    pipe.delete(k)
            pipe.delete(noted)
        pipe.xack(stream, group, entry_id)
        pipe.execute()
        return op, f"{db}.{table}"
    target = hash_key(db, table, key, row)
    pipe.delete(target)
    if op in ("c", "r", "u") and row:
        pipe.hset(target, mapping={col: as_text(v) for col, v in row.items() if v is not None})
        if r.exists(noted):
            pipe.sadd(noted, target)
    pipe.xack(stream, group, entry_id)
    pipe.execute()
    return op, target


def find_streams(r, prefix, offset_key):
    return sorted(
        k for k in r.scan_iter(match=prefix + "*", _type="STREAM", count=1000) if k != offset_key
    )


def ensure_group(r, stream, group):
    try:
        r.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--redis", default="redis://localhost:6379")
    p.add_argument("--prefix", default="cdc:", help="cdc.stream-prefix")
    p.add_argument("--offset-key", default=OFFSET_KEY_DEFAULT, help="cdc.offset-key (not a stream)")
    p.add_argument("--group", default="mirror")
    p.add_argument("--consumer", default="mirror-1")
    p.add_argument("--idle-exit", type=float, default=0,
                   help="exit after this many seconds without new entries (0: run forever)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()

    r = redis.Redis.from_url(args.redis, decode_responses=True)
    streams = []
    last_new = time.monotonic()
    applied = 0
    # Start with our own pending entries (read but not acknowledged before a crash), then new ones.
    cursor = "0"
    while True:
        found = find_streams(r, args.prefix, args.offset_key)
        for s in found:
            if s not in streams:
                ensure_group(r, s, args.group)
                streams.append(s)
        if not streams:
            time.sleep(0.5)
        else:
            reply = r.xreadgroup(args.group, args.consumer, {s: cursor for s in streams},
                                 count=500, block=None if cursor == "0" else 1000)
            got = 0
            for stream, entries in reply or []:
                for entry_id, fields in entries:
                    if not fields:  # a pending entry trimmed away meanwhile
                        r.xack(stream, args.group, entry_id)
                        continue
                    op, target = apply_and_ack(r, stream, args.group, entry_id, fields)
                    got += 1
                    if not args.quiet:
                        print(f"{stream} {entry_id} {op} -> {target}", flush=True)
            applied += got
            if cursor == "0" and got == 0:
                cursor = ">"
            if got:
                last_new = time.monotonic()
        if args.idle_exit and time.monotonic() - last_new > args.idle_exit:
            print(f"applied {applied} entries", file=sys.stderr)
            return


if __name__ == "__main__":
    main()

//! What the module wrote, read back: replies as text, stream entries, CDC.STATUS, positions,
//! and the checks that a stream replays to its table (docs/events.md).

use std::collections::{BTreeMap, HashMap};
use std::thread::sleep;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use super::servers::{MariaDb, RedisServer};

// ------------------------------------------------------------------------------------------------
// Replies and stream entries
// ------------------------------------------------------------------------------------------------

/// Poll `f` every 50 ms until it returns true; panic naming `what` after `timeout`.
pub fn wait_until<F: FnMut() -> bool>(timeout: Duration, what: &str, mut f: F) {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        sleep(Duration::from_millis(50));
    }
}

/// Render a reply as text: strings as themselves, numbers in decimal, nil as "", nested
/// arrays/maps as JSON.
pub fn value_to_string(v: &redis::Value) -> String {
    match v {
        redis::Value::Nil => String::new(),
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Okay => "OK".to_string(),
        redis::Value::Int(i) => i.to_string(),
        redis::Value::Double(d) => d.to_string(),
        redis::Value::Boolean(b) => b.to_string(),
        redis::Value::VerbatimString { text, .. } => text.clone(),
        redis::Value::BigNumber(n) => n.to_string(),
        other => value_to_json(other).to_string(),
    }
}

/// A reply as JSON: arrays/sets as arrays, maps (and flat arrays are NOT guessed) as objects,
/// strings as strings, integers as numbers, nil as null.
pub fn value_to_json(v: &redis::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        redis::Value::Nil => J::Null,
        redis::Value::Int(i) => J::from(*i),
        redis::Value::Boolean(b) => J::Bool(*b),
        redis::Value::Double(d) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            J::Array(items.iter().map(value_to_json).collect())
        }
        redis::Value::Map(pairs) => J::Object(
            pairs
                .iter()
                .map(|(k, v)| (value_to_string(k), value_to_json(v)))
                .collect(),
        ),
        redis::Value::Attribute { data, .. } => value_to_json(data),
        redis::Value::Push { data, .. } => J::Array(data.iter().map(value_to_json).collect()),
        redis::Value::ServerError(e) => J::String(format!("{e:?}")),
        other => J::String(value_to_string(other)),
    }
}

/// A stream entry: (id, [(field, value)...]).
pub type StreamEntry = (String, Vec<(String, String)>);

/// All entries of a stream, in order (XRANGE, paged by 10000).
pub fn stream_entries<C: redis::ConnectionLike>(conn: &mut C, key: &str) -> Vec<StreamEntry> {
    let mut out: Vec<StreamEntry> = Vec::new();
    let mut start = "-".to_string();
    loop {
        let reply: redis::Value = redis::cmd("XRANGE")
            .arg(key)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(10_000)
            .query(conn)
            .unwrap_or_else(|e| panic!("XRANGE {key} failed: {e}"));
        let page = parse_entries(&reply);
        let n = page.len();
        if let Some((last, _)) = page.last() {
            start = format!("({last}");
        }
        out.extend(page);
        if n < 10_000 {
            return out;
        }
    }
}

/// Parse an XRANGE-style reply.
pub fn parse_entries(reply: &redis::Value) -> Vec<StreamEntry> {
    let redis::Value::Array(items) = reply else {
        panic!("unexpected XRANGE reply {reply:?}")
    };
    items
        .iter()
        .map(|item| match item {
            redis::Value::Array(pair) if pair.len() == 2 => {
                let id = value_to_string(&pair[0]);
                let fields = match &pair[1] {
                    redis::Value::Array(kv) => kv
                        .chunks(2)
                        .map(|c| {
                            (
                                value_to_string(&c[0]),
                                c.get(1).map(value_to_string).unwrap_or_default(),
                            )
                        })
                        .collect(),
                    redis::Value::Map(kv) => kv
                        .iter()
                        .map(|(k, v)| (value_to_string(k), value_to_string(v)))
                        .collect(),
                    other => panic!("unexpected stream entry fields {other:?}"),
                };
                (id, fields)
            }
            other => panic!("unexpected stream entry {other:?}"),
        })
        .collect()
}

/// The value of `field` in an entry's fields.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Field names of an entry, in order, as docs/events.md lays them out for its op (MariaDB: with
/// gtid).
fn expected_fields(op: &str) -> Vec<&'static str> {
    match op {
        "c" => vec!["op", "db", "table", "key", "after", "ts_ms", "pos", "gtid"],
        "u" => vec![
            "op", "db", "table", "key", "before", "after", "ts_ms", "pos", "gtid",
        ],
        "d" => vec!["op", "db", "table", "key", "before", "ts_ms", "pos", "gtid"],
        "r" => vec!["op", "db", "table", "key", "after", "ts_ms", "pos"],
        "t" => vec!["op", "db", "table", "ts_ms", "pos", "gtid"],
        "resync-begin" | "resync-end" => vec!["op", "db", "table", "ts_ms", "pos"],
        other => panic!("unexpected op {other:?}"),
    }
}

/// Check the entry layout of docs/events.md (fields in order, JSON objects, a recent `ts_ms`, a
/// `pos` and a `gtid`) on every entry of `schema.table`'s stream; returns the entries.
pub fn check_entries(redis: &RedisServer, schema: &str, table: &str) -> Vec<StreamEntry> {
    let entries = entries(redis, schema, table);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for (id, fields) in &entries {
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        let op = field(fields, "op").unwrap_or_else(|| panic!("{id}: no op in {fields:?}"));
        assert_eq!(names, expected_fields(op), "entry {id} fields: {fields:?}");
        assert_eq!(field(fields, "db"), Some(schema), "{id}");
        assert_eq!(field(fields, "table"), Some(table), "{id}");
        for f in ["key", "before", "after"] {
            if let Some(v) = field(fields, f) {
                let j: serde_json::Value = serde_json::from_str(v)
                    .unwrap_or_else(|e| panic!("{id}: {f} is not JSON ({e}): {v}"));
                assert!(j.is_object(), "{id}: {f} is not an object: {v}");
            }
        }
        let ts: u64 = field(fields, "ts_ms").unwrap().parse().expect("ts_ms");
        assert!(
            ts <= now + 2000 && ts + 600_000 > now,
            "{id}: ts_ms {ts} is not a recent commit time (now {now})"
        );
        let pos = field(fields, "pos").unwrap();
        if let Some(rest) = pos.strip_prefix("snapshot:") {
            // A snapshot or resync entry: `snapshot:<id>:<db.table>:<n, begin or end>`.
            let (snap, rest) = rest.split_once(':').unwrap_or_default();
            assert!(snap.parse::<u64>().is_ok(), "{id}: pos {pos:?}");
            let (t, n) = rest.rsplit_once(':').unwrap_or_default();
            assert_eq!(t, format!("{schema}.{table}"), "{id}: pos {pos:?}");
            assert!(
                n.parse::<u64>().is_ok() || n == "begin" || n == "end",
                "{id}: pos {pos:?}"
            );
            continue;
        }
        parse_row_pos(pos);
        let gtid = field(fields, "gtid").unwrap();
        let g: Vec<&str> = gtid.split('-').collect();
        assert!(
            g.len() == 3 && g.iter().all(|p| p.parse::<u64>().is_ok()),
            "{id}: gtid {gtid:?} is not domain-server-seq"
        );
    }
    entries
}

/// Parse a JSON field of an entry.
pub fn json_field(fields: &[(String, String)], name: &str) -> serde_json::Value {
    let text = field(fields, name).unwrap_or_else(|| panic!("entry has no {name}: {fields:?}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name} is not JSON ({e}): {text}"))
}

/// Entries of the stream of `schema.table` (`cdc:<schema>.<table>`).
pub fn entries(redis: &RedisServer, schema: &str, table: &str) -> Vec<StreamEntry> {
    stream_entries(&mut redis.client(), &format!("cdc:{schema}.{table}"))
}

/// XLEN of a key (0 when it does not exist); panics on an error reply.
pub fn xlen(redis: &RedisServer, key: &str) -> u64 {
    match redis.cmd(&["XLEN", key]) {
        redis::Value::Int(n) => n as u64,
        other => panic!("XLEN {key}: {other:?}"),
    }
}

/// A field of an INFO section, as text.
pub fn info_field(redis: &RedisServer, section: &str, name: &str) -> Option<String> {
    let text: String = redis::cmd("INFO")
        .arg(section)
        .query(&mut redis.client())
        .ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(&format!("{name}:"))
            .map(|v| v.trim().to_string())
    })
}

/// `VmRSS` / `VmHWM` of a process in bytes.
pub fn proc_mem(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// "Replay is the table" (docs/events.md): apply entries in order to an empty table —
/// `c`/`r`/`u`: upsert `after` under `key`; `d`: delete `key`; `t`: empty the table;
/// `resync-end`: delete the keys not written (by `c`/`r`/`u`) since the `resync-begin`. Returns
/// key JSON (canonical text, as re-serialized by serde_json) → row. Panics on an entry that
/// lacks `op`, `key` or a needed `after`, or has an unknown op.
pub fn replay(entries: &[StreamEntry]) -> BTreeMap<String, serde_json::Value> {
    let mut table = BTreeMap::new();
    // Keys written since a resync-begin marker.
    let mut rewritten: Option<std::collections::HashSet<String>> = None;
    for (id, fields) in entries {
        let op = field(fields, "op").unwrap_or_else(|| panic!("entry {id} has no op: {fields:?}"));
        if matches!(op, "t" | "resync-begin" | "resync-end") {
            assert!(
                field(fields, "key").is_none(),
                "entry {id}: a {op} entry has no key: {fields:?}"
            );
            match op {
                "t" => table.clear(),
                "resync-begin" => rewritten = Some(Default::default()),
                _ => {
                    let kept = rewritten
                        .take()
                        .unwrap_or_else(|| panic!("entry {id}: resync-end without a begin"));
                    table.retain(|k, _| kept.contains(k));
                }
            }
            continue;
        }
        let key =
            field(fields, "key").unwrap_or_else(|| panic!("entry {id} has no key: {fields:?}"));
        let key = canonical_json(key, id);
        match op {
            "c" | "r" | "u" => {
                let after = field(fields, "after")
                    .unwrap_or_else(|| panic!("entry {id} op {op} has no after: {fields:?}"));
                let after: serde_json::Value = serde_json::from_str(after)
                    .unwrap_or_else(|e| panic!("entry {id}: after is not JSON ({e}): {after}"));
                if let Some(set) = rewritten.as_mut() {
                    set.insert(key.clone());
                }
                table.insert(key, after);
            }
            "d" => {
                table.remove(&key);
            }
            other => panic!("entry {id} has unknown op {other:?}: {fields:?}"),
        }
    }
    table
}

fn canonical_json(text: &str, id: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .unwrap_or_else(|e| panic!("entry {id}: key is not JSON ({e}): {text}"))
        .to_string()
}

/// `CDC.STATUS` as field → value text (flat field/value array under RESP2, or a map; nested
/// values rendered as JSON text, e.g. `snapshot` → `[]`).
pub fn status_map<C: redis::ConnectionLike>(conn: &mut C) -> HashMap<String, String> {
    let reply: redis::Value = redis::cmd("CDC.STATUS")
        .query(conn)
        .unwrap_or_else(|e| panic!("CDC.STATUS failed: {e}"));
    reply_to_map(&reply)
}

/// A flat field/value array (RESP2) or a map (RESP3) as field → value text.
pub fn reply_to_map(reply: &redis::Value) -> HashMap<String, String> {
    match reply {
        redis::Value::Array(items) => {
            assert!(
                items.len() % 2 == 0,
                "odd-length field/value reply: {reply:?}"
            );
            items
                .chunks(2)
                .map(|c| (value_to_string(&c[0]), value_to_string(&c[1])))
                .collect()
        }
        redis::Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| (value_to_string(k), value_to_string(v)))
            .collect(),
        other => panic!("expected a field/value reply, got {other:?}"),
    }
}

// ------------------------------------------------------------------------------------------------
// Positions, status, waiting for the module
// ------------------------------------------------------------------------------------------------

/// `FILE:OFFSET` (a position of CDC.STATUS or `SHOW MASTER STATUS`) as (file number, offset),
/// for ordering positions.
pub fn parse_position(s: &str) -> Option<(u64, u64)> {
    let (file, off) = s.rsplit_once(':')?;
    let n = file.rsplit_once('.')?.1.parse().ok()?;
    Some((n, off.parse().ok()?))
}

/// The `pos` of an entry, `FILE:OFFSET:ROW` (docs/events.md), as (file number, offset, row);
/// panics on anything else, including a file not named `mysql-bin.NNNNNN` (every test server
/// writes `mysql-bin`).
pub fn parse_row_pos(pos: &str) -> (u64, u64, u64) {
    let parts: Vec<&str> = pos.split(':').collect();
    assert_eq!(parts.len(), 3, "pos {pos:?} is not FILE:OFFSET:ROW");
    let (name, num) = parts[0]
        .rsplit_once('.')
        .unwrap_or_else(|| panic!("pos {pos:?}: file has no number"));
    assert_eq!(
        name, "mysql-bin",
        "pos {pos:?}: unexpected binlog file name"
    );
    assert!(
        num.len() == 6 && num.bytes().all(|b| b.is_ascii_digit()),
        "pos {pos:?}: file suffix is not 6 digits"
    );
    let n = |s: &str| {
        s.parse::<u64>()
            .unwrap_or_else(|_| panic!("pos {pos:?}: {s:?} is not a number"))
    };
    (n(num), n(parts[1]), n(parts[2]))
}

/// One CDC.STATUS field (on a fresh connection).
pub fn status_field(redis: &RedisServer, name: &str) -> String {
    status_map(&mut redis.client())
        .remove(name)
        .unwrap_or_default()
}

/// Wait until CDC.STATUS `state` is `state` (polling every 25 ms, so that short states are
/// seen); returns the status that had it. The panic message shows the last status.
pub fn wait_state(redis: &RedisServer, state: &str, timeout: Duration) -> HashMap<String, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = status(redis);
        if last.get("state").map(String::as_str) == Some(state) {
            return last;
        }
        if Instant::now() > deadline {
            panic!("state never became {state} within {timeout:?}; last CDC.STATUS {last:?}");
        }
        sleep(Duration::from_millis(25));
    }
}

/// Wait until the module's position has reached what `SHOW MASTER STATUS` says now (so every
/// transaction committed before this call is in Redis).
pub fn wait_caught_up(redis: &RedisServer, db: &MariaDb, timeout: Duration) {
    let (file, pos) = db.master_status();
    let target = parse_position(&format!("{file}:{pos}")).expect("master status position");
    let deadline = Instant::now() + timeout;
    loop {
        let st = status_map(&mut redis.client());
        let p = st.get("position").and_then(|p| parse_position(p));
        if p.is_some_and(|p| p >= target) {
            return;
        }
        if Instant::now() > deadline {
            panic!("module never reached {file}:{pos} within {timeout:?}; last CDC.STATUS {st:?}");
        }
        sleep(Duration::from_millis(50));
    }
}

/// CDC.STATUS as a map (on a fresh connection).
pub fn status(r: &RedisServer) -> HashMap<String, String> {
    status_map(&mut r.client())
}

/// Wait until no snapshot runs, the state is `streaming` and the position is exactly what
/// `SHOW MASTER STATUS` says (the module has written everything the source has).
pub fn wait_snapshot_done_and_caught_up(r: &RedisServer, db: &MariaDb, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let s = status(r);
        let (file, pos) = db.master_status();
        if s.get("snapshot").map(String::as_str) == Some("[]")
            && s.get("state").map(String::as_str) == Some("streaming")
            && s.get("position") == Some(&format!("{file}:{pos}"))
        {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for snapshot done and position at the source's end ({file}:{pos}); last CDC.STATUS {s:?}");
        }
        sleep(Duration::from_millis(50));
    }
}

/// One line per entry, `op key before after`, for assertions and panic messages.
pub fn entry_lines(entries: &[StreamEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|(_, f)| {
            format!(
                "{} {} {} {}",
                field(f, "op").unwrap_or("?"),
                field(f, "key").unwrap_or("?"),
                field(f, "before").unwrap_or("-"),
                field(f, "after").unwrap_or("-")
            )
        })
        .collect()
}

/// Wait up to 30 s until `stream` has at least `n` entries; returns them all.
pub fn wait_entries(r: &RedisServer, stream: &str, n: usize) -> Vec<StreamEntry> {
    let mut c = r.client();
    let mut last = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        last = stream_entries(&mut c, stream);
        if last.len() >= n {
            return last;
        }
        sleep(Duration::from_millis(50));
    }
    panic!(
        "{stream}: {} of {n} entries after 30 s; status {:?}; entries {:?}",
        last.len(),
        status_map(&mut c),
        entry_lines(&last)
    );
}

/// A JSON object as text with its keys sorted (so that keys built here and by the module
/// compare whatever their key order).
pub fn canonical(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => {
            let sorted: BTreeMap<&String, &serde_json::Value> = m.iter().collect();
            serde_json::to_string(&sorted).unwrap_or_default()
        }
        other => other.to_string(),
    }
}

/// `replay` with canonical keys.
pub fn replay_canonical(entries: &[StreamEntry]) -> BTreeMap<String, serde_json::Value> {
    replay(entries)
        .into_iter()
        .map(|(k, v)| {
            let k: serde_json::Value = serde_json::from_str(&k).unwrap_or(serde_json::Value::Null);
            (canonical(&k), v)
        })
        .collect()
}

/// `SELECT *` of `db.table` as canonical key -> row object, in the form the stream carries for
/// integer (number), DECIMAL (string with exact scale), CHAR/VARCHAR (string) columns and NULL.
/// The key is the primary key, or every column when the table has none.
pub fn table_json(db: &MariaDb, schema: &str, table: &str) -> BTreeMap<String, serde_json::Value> {
    table_json_of(db, schema, table, "*")
}

/// [`table_json`] with every column, INVISIBLE ones too (which `SELECT *` leaves out and the
/// entries carry: docs/types.md), in the table's column order.
pub fn table_json_all_columns(
    db: &MariaDb,
    schema: &str,
    table: &str,
) -> BTreeMap<String, serde_json::Value> {
    let names: Vec<String> = db
        .query_strings(&format!(
            "SELECT CONCAT('`', COLUMN_NAME, '`') FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA='{schema}' AND TABLE_NAME='{table}' ORDER BY ORDINAL_POSITION"
        ))
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    table_json_of(db, schema, table, &names.join(", "))
}

/// `SELECT <columns>` of `db.table` as [`table_json`] describes it.
fn table_json_of(
    db: &MariaDb,
    schema: &str,
    table: &str,
    columns: &str,
) -> BTreeMap<String, serde_json::Value> {
    use mysql::consts::ColumnType as T;
    let pk: Vec<String> = db
        .query_strings(&format!(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA='{schema}' \
             AND TABLE_NAME='{table}' AND CONSTRAINT_NAME='PRIMARY' ORDER BY ORDINAL_POSITION"
        ))
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    // No primary key: the first UNIQUE index whose columns are all NOT NULL, as the server
    // lists them (as the module keys such a table); else all columns.
    let pk = if pk.is_empty() {
        let rows = db.query_strings(&format!(
            "SELECT INDEX_NAME, COLUMN_NAME, NULLABLE FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA='{schema}' AND TABLE_NAME='{table}' AND NON_UNIQUE = 0"
        ));
        let text =
            |r: &Vec<Option<String>>, i: usize| r.get(i).cloned().flatten().unwrap_or_default();
        let mut order: Vec<String> = Vec::new();
        for r in &rows {
            if !order.contains(&text(r, 0)) {
                order.push(text(r, 0));
            }
        }
        order
            .iter()
            .map(|index| {
                rows.iter()
                    .filter(|r| text(r, 0) == *index)
                    .collect::<Vec<_>>()
            })
            .find(|cols| cols.iter().all(|r| !text(r, 2).eq_ignore_ascii_case("YES")))
            .map(|cols| cols.iter().map(|r| text(r, 1)).collect())
            .unwrap_or_default()
    } else {
        pk
    };
    let mut conn = db.conn();
    let mut result = conn
        .query_iter(format!("SELECT {columns} FROM `{schema}`.`{table}`"))
        .unwrap_or_else(|e| panic!("SELECT {columns} FROM {schema}.{table}: {e}"));
    let columns: Vec<(String, T)> = result
        .columns()
        .as_ref()
        .iter()
        .map(|c| (c.name_str().into_owned(), c.column_type()))
        .collect();
    let mut out = BTreeMap::new();
    for row in result.by_ref() {
        let row = row.expect("row");
        let mut obj = serde_json::Map::new();
        for (i, (name, ty)) in columns.iter().enumerate() {
            let text = match row.as_ref(i) {
                Some(mysql::Value::NULL) | None => None,
                Some(mysql::Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                Some(other) => Some(other.as_sql(false).trim_matches('\'').to_string()),
            };
            let v = match (text, ty) {
                (None, _) => serde_json::Value::Null,
                (
                    Some(t),
                    T::MYSQL_TYPE_TINY
                    | T::MYSQL_TYPE_SHORT
                    | T::MYSQL_TYPE_INT24
                    | T::MYSQL_TYPE_LONG
                    | T::MYSQL_TYPE_LONGLONG,
                ) => serde_json::from_str(&t).unwrap_or_else(|e| panic!("int {t}: {e}")),
                (Some(t), _) => serde_json::Value::String(t),
            };
            obj.insert(name.clone(), v);
        }
        let key: serde_json::Map<String, serde_json::Value> = obj
            .iter()
            .filter(|(k, _)| pk.is_empty() || pk.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let key = canonical(&serde_json::Value::Object(key));
        assert!(
            out.insert(key.clone(), serde_json::Value::Object(obj))
                .is_none(),
            "{schema}.{table} has two rows with key {key}: replay cannot tell them apart"
        );
    }
    out
}

/// Assert that replaying the stream of `schema.table` equals `SELECT *` of the table, with a
/// short diff; returns the entries.
pub fn assert_replay_equals_table(
    redis: &RedisServer,
    db: &MariaDb,
    schema: &str,
    table: &str,
) -> Vec<StreamEntry> {
    let list = entries(redis, schema, table);
    assert_replays_to_table(&list, db, schema, table);
    list
}

/// Assert that replaying `entries` (of one stream) equals `SELECT *` of `schema.table`.
pub fn assert_replays_to_table(entries: &[StreamEntry], db: &MariaDb, schema: &str, table: &str) {
    let replayed = replay_canonical(entries);
    let expected = table_json(db, schema, table);
    if replayed != expected {
        let missing: Vec<_> = expected
            .iter()
            .filter(|(k, v)| replayed.get(*k) != Some(v))
            .take(5)
            .collect();
        let extra: Vec<_> = replayed
            .iter()
            .filter(|(k, v)| expected.get(*k) != Some(v))
            .take(5)
            .collect();
        panic!(
            "replay of cdc:{schema}.{table} ({} entries, {} rows) != SELECT * ({} rows)\n\
             in table but not (or different) in replay: {missing:?}\n\
             in replay but not (or different) in table: {extra:?}",
            entries.len(),
            replayed.len(),
            expected.len()
        );
    }
}

/// The GTID of the session's last transaction (`@@last_gtid`), as an application takes it
/// for CDC.WAIT.
pub fn last_gtid(conn: &mut mysql::Conn) -> String {
    conn.query_first("SELECT @@last_gtid")
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("SELECT @@last_gtid gave nothing"))
}

/// `CDC.WAIT <position> 10000` on `client`: the position reached; panics on an error reply.
pub fn cdc_wait(client: &mut redis::Connection, position: &str) -> String {
    redis::cmd("CDC.WAIT")
        .arg(position)
        .arg(10_000)
        .query(client)
        .unwrap_or_else(|e| panic!("CDC.WAIT {position}: {e}"))
}

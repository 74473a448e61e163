//! The initial snapshot (docs/snapshot.md): existing rows as `r` entries, interleaved with live
//! changes so that replaying a stream gives its table; resumable across a crash of
//! redis-server; the `cdc.snapshot` modes `never` and `when-needed`.

use crate::support::*;
use mysql::prelude::Queryable;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const BIG_ROWS: u64 = 100_000;

fn create_big(db: &MariaDb, table: &str, rows: u64) {
    db.exec(&format!(
        "CREATE TABLE test.{table} (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40), d DECIMAL(10,2))"
    ));
    db.exec("SET SESSION max_recursive_iterations = 10000000");
    db.exec(&format!(
        "INSERT INTO test.{table} WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
         SELECT i, i, CONCAT('row-', i), i / 100 FROM n"
    ));
}

/// A thread that keeps inserting, updating and deleting rows of `table` until stopped.
struct Churn {
    stop: Arc<AtomicBool>,
    ops: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl Churn {
    fn start(db: &MariaDb, table: &str, max_id: u64) -> Churn {
        let mut conn = db.conn();
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        let (st, n) = (stop.clone(), ops.clone());
        let table = table.to_string();
        let handle = std::thread::spawn(move || {
            let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
            let mut rnd = move |m: u64| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed % m
            };
            while !st.load(Ordering::Relaxed) {
                let id = rnd(max_id + max_id / 10) + 1;
                let sql = match rnd(5) {
                    0 | 1 => format!("UPDATE test.{table} SET v = v + 1, s = CONCAT('u-', v), d = d + 0.01 WHERE id = {id}"),
                    2 => format!("DELETE FROM test.{table} WHERE id = {id}"),
                    3 => format!(
                        "INSERT INTO test.{table} VALUES ({id}, {id}, 'ins', 1.50) ON DUPLICATE KEY UPDATE v = v + 1000, s = 'dup'"
                    ),
                    _ => format!(
                        "BEGIN; UPDATE test.{table} SET v = v - 1 WHERE id IN ({id}, {}, {}); DELETE FROM test.{table} WHERE id = {}; COMMIT",
                        id + 1,
                        id + 7,
                        id + 3
                    ),
                };
                conn.query_drop(&sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                n.fetch_add(1, Ordering::Relaxed);
            }
        });
        Churn {
            stop,
            ops,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().expect("churn thread panicked");
        }
        self.ops.load(Ordering::Relaxed)
    }
}

impl Drop for Churn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn snapshot_idle(r: &RedisServer) -> bool {
    let s = status(r);
    s.get("snapshot").map(String::as_str) == Some("[]")
        && s.get("state").map(String::as_str) == Some("streaming")
}

fn assert_unique_pos(entries: &[StreamEntry]) {
    let mut seen = HashSet::new();
    for (id, f) in entries {
        let pos = field(f, "pos").unwrap_or_else(|| panic!("entry {id} has no pos"));
        assert!(
            seen.insert(pos.to_string()),
            "pos {pos} repeats (entry {id})"
        );
    }
}

#[test]
fn snapshot_of_100k_rows_under_concurrent_writes_replays_to_the_table() {
    let db = MariaDb::start();
    create_big(&db, "big", BIG_ROWS);
    let churn = Churn::start(&db, "big", BIG_ROWS);
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    // Progress shows while the snapshot runs.
    let mut seen_progress = false;
    wait_until(Duration::from_secs(120), "snapshot to finish", || {
        let s = status(&r);
        let snap = s.get("snapshot").cloned().unwrap_or_default();
        if s.get("state").map(String::as_str) == Some("snapshotting")
            && snap.contains("test.big")
            && snap.contains("rows_estimated")
        {
            seen_progress = true;
        }
        snapshot_idle(&r)
    });
    let took = started.elapsed();
    let ops = churn.finish();
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    let entries = assert_replay_equals_table(&r, &db, "test", "big");
    assert_unique_pos(&entries);
    let reads: Vec<_> = entries
        .iter()
        .filter(|(_, f)| field(f, "op") == Some("r"))
        .collect();
    assert!(
        reads.len() as u64 >= BIG_ROWS * 8 / 10,
        "only {} r entries",
        reads.len()
    );
    let ts: HashSet<_> = reads
        .iter()
        .map(|(_, f)| field(f, "ts_ms").unwrap().to_string())
        .collect();
    assert_eq!(ts.len(), 1, "r entries carry the snapshot start time");
    for (id, f) in &reads {
        assert!(
            field(f, "pos").unwrap().starts_with(&format!(
                "snapshot:{}:test.big:",
                field(f, "ts_ms").unwrap()
            )),
            "{id}: {f:?}"
        );
        assert!(field(f, "before").is_none(), "{id}: r has no before");
    }
    assert!(
        seen_progress,
        "CDC.STATUS never showed the snapshot's progress"
    );
    let live = entries.len() - reads.len();
    eprintln!(
        "snapshot of {} rows took {:.2}s ({:.0} rows/s) with {ops} concurrent writes ({live} live entries)",
        reads.len(),
        took.as_secs_f64(),
        reads.len() as f64 / took.as_secs_f64()
    );
    assert!(ops > 0 && live > 0, "no concurrent changes were streamed");
}

#[test]
fn kill9_of_redis_mid_snapshot_resumes_without_duplicates_or_gaps() {
    let db = MariaDb::start();
    create_big(&db, "k", BIG_ROWS);
    let churn = Churn::start(&db, "k", BIG_ROWS);
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    let mut done_at_kill = 0u64;
    wait_until(
        Duration::from_secs(90),
        "snapshot to be partly written",
        || {
            let n = xlen(&r, "cdc:test.k");
            done_at_kill = n;
            n >= 20_000
        },
    );
    r.kill9();
    r.restart();
    let after_restart = xlen(&r, "cdc:test.k");
    assert!(
        after_restart > 0 && after_restart < BIG_ROWS,
        "restart found {after_restart} entries (killed at {done_at_kill})"
    );
    // The stored progress is there.
    let offset = reply_to_map(&r.cmd(&["HGETALL", "cdc:offset"]));
    assert!(
        offset.get("snapshot").is_some_and(|s| s.contains("test.k")),
        "{offset:?}"
    );
    wait_until(
        Duration::from_secs(120),
        "resumed snapshot to finish",
        || snapshot_idle(&r),
    );
    churn.finish();
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    let entries = assert_replay_equals_table(&r, &db, "test", "k");
    assert_unique_pos(&entries);
    let offset = reply_to_map(&r.cmd(&["HGETALL", "cdc:offset"]));
    assert_eq!(
        offset.get("snapshot").map(String::as_str),
        Some(""),
        "{offset:?}"
    );
}

#[test]
fn snapshot_reads_keyless_and_composite_key_tables_and_renders_like_the_binlog() {
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.nokey (a INT, b VARCHAR(10))");
    db.exec("INSERT INTO test.nokey VALUES (1, 'x'), (1, 'x'), (2, NULL)");
    db.exec("CREATE TABLE test.comp (a INT, b VARCHAR(10), c INT, PRIMARY KEY (b, a))");
    db.exec("SET SESSION max_recursive_iterations = 10000000");
    db.exec(
        "INSERT IGNORE INTO test.comp WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 9000) \
         SELECT i % 7, CONCAT('k', i % 1300), i FROM n",
    );
    db.exec(
        "CREATE TABLE test.types (id INT PRIMARY KEY, tu TINYINT UNSIGNED, mi MEDIUMINT, bu BIGINT UNSIGNED,
           de DECIMAL(12,3), fl FLOAT, dbl DOUBLE, b1 BIT(1), b10 BIT(10), da DATE, dt DATETIME(3),
           ts TIMESTAMP(6) NULL, ti TIME(2), ye YEAR, la VARCHAR(10) CHARACTER SET latin1, u8 VARCHAR(20) CHARACTER SET utf8mb4,
           bi BINARY(4), bl BLOB, en ENUM('a','b','c'), se SET('x','y','z'), js JSON, nu INT NULL,
           i4 INET4, i6 INET6, uu UUID)",
    );
    let types_row = |id: i32| {
        format!(
            "INSERT INTO test.types VALUES ({id}, 255, -5, 18446744073709551615, -12.5, 1.5, -2.25, 1, 1023,
             '2024-01-31', '2024-01-31 12:34:56.789', '2024-05-06 07:08:09.654321', '12:00:00.5', 2024,
             'caf\u{e9}', '\u{1f600} ok', 'ab', x'00ff', 'b', 'x,z', '{{\"k\": [1, 2.50]}}', NULL,
             '10.0.0.1', '2001:db8::1', '123e4567-e89b-12d3-a456-426614174000')"
        )
    };
    db.exec(&types_row(1));
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    wait_until(Duration::from_secs(60), "snapshot to finish", || {
        snapshot_idle(&r)
    });
    db.exec(&types_row(2));
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(30));

    // Keyless: read whole, key = every column, duplicates kept as separate entries.
    let nokey = stream_entries(&mut r.client(), "cdc:test.nokey");
    assert_eq!(nokey.len(), 3, "{nokey:?}");
    assert!(nokey.iter().all(|(_, f)| field(f, "op") == Some("r")));
    assert_eq!(field(&nokey[2].1, "key"), Some(r#"{"a":2,"b":null}"#));

    // Composite key: chunks resume on (b, a); every row exactly once.
    let comp = stream_entries(&mut r.client(), "cdc:test.comp");
    let n: usize = db
        .query_one("SELECT COUNT(*) FROM test.comp")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(comp.len(), n);
    let keys: HashSet<_> = comp
        .iter()
        .map(|(_, f)| field(f, "key").unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), n);
    assert_unique_pos(&comp);

    // Every type renders the same from SELECT (r) and from the binlog (c).
    let types = stream_entries(&mut r.client(), "cdc:test.types");
    assert_eq!(types.len(), 2);
    assert_eq!(field(&types[0].1, "op"), Some("r"));
    assert_eq!(field(&types[1].1, "op"), Some("c"));
    let mut a: serde_json::Value =
        serde_json::from_str(field(&types[0].1, "after").unwrap()).unwrap();
    let mut b: serde_json::Value =
        serde_json::from_str(field(&types[1].1, "after").unwrap()).unwrap();
    a["id"] = serde_json::Value::Null;
    b["id"] = serde_json::Value::Null;
    assert_eq!(a, b, "snapshot and binlog render a row differently");
    assert_eq!(a["i4"], "10.0.0.1");
}

#[test]
fn snapshot_never_starts_at_the_current_end() {
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40), d DECIMAL(10,2)); INSERT INTO test.t VALUES (1, 1, 'a', 1.00)");
    let r = RedisServer::start(&["mysql-url", &db.url(), "snapshot", "never"]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(30));
    db.exec("INSERT INTO test.t VALUES (2, 2, 'b', 2.00)");
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(30));
    let entries = stream_entries(&mut r.client(), "cdc:test.t");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(field(&entries[0].1, "op"), Some("c"));
}

/// Pause, change rows, purge the binlog the stored position is in, resume.
fn purge_while_paused(r: &RedisServer, db: &MariaDb) {
    assert_eq!(value_to_string(&r.cmd(&["CDC.PAUSE"])), "OK");
    wait_until(Duration::from_secs(10), "paused", || {
        status(r).get("state").map(String::as_str) == Some("paused")
    });
    db.exec("UPDATE test.t SET v = v + 100 WHERE id <= 50; DELETE FROM test.t WHERE id > 900; INSERT INTO test.t VALUES (5000, 1, 'new', 0.50)");
    db.exec("FLUSH BINARY LOGS");
    let (file, _) = db.master_status();
    // MariaDB keeps a file while a dump thread or crash recovery still needs it: retry.
    wait_until(
        Duration::from_secs(30),
        "the old binlog to be purged",
        || {
            db.exec(&format!("PURGE BINARY LOGS TO '{file}'"));
            db.query_strings("SHOW BINARY LOGS").len() == 1
        },
    );
    assert_eq!(value_to_string(&r.cmd(&["CDC.RESUME"])), "OK");
}

#[test]
fn when_needed_resnapshots_after_binlog_purge() {
    let db = MariaDb::start();
    create_big(&db, "t", 1000);
    let r = RedisServer::start(&["mysql-url", &db.url(), "snapshot", "when-needed"]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    purge_while_paused(&r, &db);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    let entries = assert_replay_equals_table(&r, &db, "test", "t");
    // The stream starts afresh with the new snapshot (it cannot be reconciled across the gap).
    let ops: Vec<_> = entries
        .iter()
        .map(|(_, f)| (field(f, "op").unwrap(), field(f, "pos").unwrap()))
        .filter(|(o, _)| *o != "r")
        .collect();
    assert!(
        ops.is_empty(),
        "only the new snapshot remains: {ops:?} {}",
        r.log()
    );
    assert_eq!(entries.len(), 901);
}

#[test]
fn initial_mode_reports_a_purged_position_as_an_error() {
    let db = MariaDb::start();
    create_big(&db, "t", 1000);
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    let (stored_file, _) = db.master_status();
    purge_while_paused(&r, &db);
    wait_until(Duration::from_secs(30), "state error", || {
        status(&r).get("state").map(String::as_str) == Some("error")
    });
    let err = status(&r).get("last_error").cloned().unwrap_or_default();
    assert!(
        err.contains(&stored_file) && err.contains("when-needed"),
        "{err}"
    );
}

/// A table without a primary key but with a NOT NULL UNIQUE index is keyed by that index, the
/// same in snapshot and stream entries, in the flat and the Debezium formats.
#[test]
fn a_not_null_unique_index_keys_snapshot_and_stream_alike() {
    for format in ["flat", "debezium-extended"] {
        let db = MariaDb::start();
        db.exec(
            "CREATE TABLE test.u (a INT NOT NULL, b VARCHAR(5), n INT NULL, UNIQUE KEY un (n), UNIQUE KEY ua (a));
             INSERT INTO test.u VALUES (1, 'x', NULL)",
        );
        let r = RedisServer::start(&["mysql-url", &db.url(), "format", format]);
        wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
        db.exec("INSERT INTO test.u VALUES (2, 'y', 5)");
        let entries = wait_entries(&r, "cdc:test.u", 2);
        let keys: Vec<serde_json::Value> =
            entries.iter().map(|(_, f)| json_field(f, "key")).collect();
        assert_eq!(
            keys,
            [serde_json::json!({"a": 1}), serde_json::json!({"a": 2})],
            "format {format}"
        );
    }
}

/// `DEL cdc:offset` while streaming (also `FLUSHALL`, or eviction): the next write notices it,
/// and the module starts anew at the source's current end with a snapshot (framed by markers,
/// as the streams still hold entries), so replay still equals the table; with `FLUSHALL` the
/// streams start over from an ordinary snapshot.
#[test]
fn deleting_the_offset_key_starts_anew_with_a_snapshot() {
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.o (id INT PRIMARY KEY, v INT); INSERT INTO test.o VALUES (1, 1), (2, 2)",
    );
    let url = db.url();
    let r = RedisServer::start(&["--cdc.mysql-url", &url]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    r.cmd(&["DEL", "cdc:offset"]);
    // Changes the module cannot place any more: the deleted row must leave the replay.
    db.exec("DELETE FROM test.o WHERE id = 1; INSERT INTO test.o VALUES (3, 3)");
    let mut c = r.client();
    wait_until(CATCH_UP, "the new snapshot's end marker", || {
        stream_entries(&mut c, "cdc:test.o")
            .iter()
            .any(|(_, f)| field(f, "op") == Some("resync-end"))
    });
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    assert_replay_equals_table(&r, &db, "test", "o");
    assert!(
        r.log().contains("was deleted"),
        "no warning naming the cause"
    );

    r.cmd(&["FLUSHALL"]);
    db.exec("UPDATE test.o SET v = 30 WHERE id = 3");
    wait_until(CATCH_UP, "the streams to start over", || {
        let e = stream_entries(&mut c, "cdc:test.o");
        e.iter()
            .filter(|(_, f)| field(f, "op") == Some("r"))
            .count()
            == 2
    });
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let list = assert_replay_equals_table(&r, &db, "test", "o");
    assert!(
        list.iter()
            .all(|(_, f)| !field(f, "op").is_some_and(|o| o.starts_with("resync"))),
        "an initial snapshot into empty streams has no markers"
    );
    assert!(matches!(
        r.cmd(&["EXISTS", "cdc:offset"]),
        redis::Value::Int(1)
    ));
}

/// A stored snapshot or resync queue naming a table that `cdc.tables` no longer captures (the
/// config changed while it waited, issue 13, 9): that table is not read; the others are.
#[test]
fn a_queued_read_of_a_table_no_longer_captured_is_dropped() {
    let db = MariaDb::start();
    db.exec(
        "CREATE DATABASE q; CREATE TABLE q.a (id INT PRIMARY KEY); CREATE TABLE q.b (id INT PRIMARY KEY);
         INSERT INTO q.a VALUES (1); INSERT INTO q.b VALUES (1)",
    );
    let url = db.url();
    let r = RedisServer::start(&[
        "--cdc.mysql-url",
        &url,
        "--cdc.tables",
        "q.*",
        "--cdc.snapshot",
        "never",
    ]);
    wait_state(&r, "streaming", STREAMING);
    r.cmd(&["CDC.PAUSE"]);
    wait_state(&r, "paused", STREAMING);
    r.cmd(&[
        "HSET",
        "cdc:offset",
        "snapshot",
        r#"{"ts":1,"queue":["q.a","q.b"],"after":[{"i":0}],"rows":1,"markers":true}"#,
    ]);
    r.cmd(&["CONFIG", "SET", "cdc.tables", "q.b"]);
    r.cmd(&["CDC.RESUME"]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    assert_eq!(
        xlen(&r, "cdc:q.a"),
        0,
        "a table no longer captured was read"
    );
    let b = entry_lines(&entries(&r, "q", "b"));
    assert_eq!(
        b,
        [
            "resync-begin ? - -",
            r#"r {"id":1} - {"id":1}"#,
            "resync-end ? - -"
        ]
    );
}

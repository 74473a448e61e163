//! The initial snapshot (docs/snapshot.md): existing rows as `r` entries, interleaved with live
//! changes so that replaying a stream gives its table; resumable across a crash of
//! redis-server; the `cdc.snapshot` modes `never` and `when-needed`.

use crate::support::*;
use mysql::prelude::Queryable;
use std::collections::{BTreeMap, HashSet};
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
    assert_each_pos_once(entries, "the stream");
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

/// With the mirror on, a new snapshot (the position was lost) leaves exactly the table's rows:
/// the keys of rows deleted while the binlog that said so was lost are dropped at the end of
/// each table's read (docs/mirror.md).
#[test]
fn a_new_snapshot_drops_the_mirror_keys_of_rows_deleted_meanwhile() {
    let db = MariaDb::start();
    create_big(&db, "t", 1000);
    let r = RedisServer::start(&[
        "mysql-url",
        &db.url(),
        "snapshot",
        "when-needed",
        "mirror",
        "hash",
    ]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    let keys = |r: &RedisServer| -> usize {
        let k: Vec<String> = redis::cmd("KEYS")
            .arg("test.t:*")
            .query(&mut r.client())
            .unwrap_or_default();
        k.len()
    };
    assert_eq!(keys(&r), 1000);
    purge_while_paused(&r, &db);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    wait_until(
        Duration::from_secs(30),
        "the mirror to equal the table",
        || keys(&r) == 901,
    );
    let v: Option<String> = redis::cmd("HGET")
        .arg("test.t:5000")
        .arg("s")
        .query(&mut r.client())
        .unwrap_or_default();
    assert_eq!(v.as_deref(), Some("new"));
    let tables = value_to_json(&r.cmd(&["CDC.TABLES"])).to_string();
    assert!(tables.contains(r#""keys",901"#), "{tables}");
    // Nothing of the re-read's bookkeeping is left behind.
    let left: Vec<String> = redis::cmd("KEYS")
        .arg("cdc:offset:mirror-seen:*")
        .query(&mut r.client())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
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

/// `DEL` of the offset key in the middle of the initial snapshot, `FLUSHALL` under load and
/// `FLUSHDB` in the middle of the snapshot it starts, `DEL` again while streaming: every time
/// the module starts anew with a snapshot while writes go on (a load of small transactions, and
/// churn on a table of 60k rows). At the end every stream replays to its table and no `pos`
/// repeats.
#[test]
fn flushes_and_del_of_the_offset_key_under_load_and_mid_snapshot_replay_to_the_tables() {
    let db = MariaDb::start();
    create_big(&db, "big", 60_000);
    create_load_tables(&db, "fl");
    let url = db.url();
    let r = RedisServer::start(&["mysql-url", &url, "tables", "fl.*, test.big"]);
    let churn = Churn::start(&db, "big", 60_000);
    let load = Load::start(db.port(), "fl", 31, LOAD_PAUSE);
    // Wait until the snapshot reads test.big (and has written some of it), then `cmd`.
    let mid_snapshot = |what: &str, cmd: &[&str]| {
        let mut c = r.client();
        wait_until(CATCH_UP, &format!("test.big being read ({what})"), || {
            let s = status_map(&mut c);
            s["snapshot"].contains("test.big") && xlen(&r, "cdc:test.big") > 1000
        });
        r.cmd(cmd);
    };
    let settle = |what: &str| {
        wait_until(
            CATCH_UP,
            &format!("the snapshot after {what} to end"),
            || snapshot_idle(&r),
        );
        load.wait_progress(100, Duration::from_secs(60));
    };
    mid_snapshot("the initial snapshot", &["DEL", "cdc:offset"]);
    // The new snapshot starts (and finishes) after the DEL.
    wait_until(CATCH_UP, "the re-read's begin marker", || {
        entries(&r, "test", "big")
            .iter()
            .any(|(_, f)| field(f, "op") == Some("resync-begin"))
    });
    settle("DEL mid-snapshot");
    r.cmd(&["FLUSHALL"]);
    mid_snapshot("after FLUSHALL", &["FLUSHDB"]);
    settle("FLUSHDB mid-snapshot");
    r.cmd(&["DEL", "cdc:offset"]);
    wait_until(CATCH_UP, "a snapshot to start", || !snapshot_idle(&r));
    settle("DEL while streaming");
    load.stop();
    churn.finish();
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    for (schema, table) in [("fl", "t"), ("fl", "log"), ("test", "big")] {
        let list = entries(&r, schema, table);
        assert_each_pos_once(&list, table);
        assert_replays_to_table(&list, &db, schema, table);
    }
    assert!(
        r.log().contains("was deleted"),
        "no warning naming the cause"
    );
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

/// `INSERT ... SELECT` of `rows` rows into `db_table` (`id` from 1, then `cols`, SQL over `i`).
fn fill_rows(db: &MariaDb, db_table: &str, rows: u64, cols: &str) {
    db.exec("SET SESSION max_recursive_iterations = 10000000");
    db.exec(&format!(
        "INSERT INTO {db_table} WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
         SELECT i, {cols} FROM n"
    ));
}

fn ops<'a>(entries: &'a [StreamEntry], op: &str) -> Vec<&'a StreamEntry> {
    entries
        .iter()
        .filter(|(_, f)| field(f, "op") == Some(op))
        .collect()
}

/// Whether the source is still running the snapshot's SELECT of `from` (`` `db`.`t` ``).
fn source_still_reading(db: &MariaDb, from: &str) -> bool {
    let n = db.query_one(&format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
         WHERE INFO LIKE 'SELECT %FROM {from}' AND ID <> CONNECTION_ID()"
    ));
    n.as_deref().is_some_and(|n| n != "0")
}

/// A table without a key (issue 13, 4) is read in one read view, but streamed: its rows reach
/// Redis piece by piece while the source is still sending them (the module never holds the
/// table: 30,000 rows of 600 bytes, many times a piece and more than socket buffers hold), and
/// Redis answers meanwhile. Changes made during the read come after every `r` entry (the reader
/// waits at the view's position until the last piece), and replay equals the table.
#[test]
fn a_keyless_table_is_streamed_in_pieces_from_one_read_view() {
    const ROWS: u64 = 30_000;
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.nk (id INT NOT NULL, v INT, s VARCHAR(700))");
    fill_rows(&db, "test.nk", ROWS, "i, REPEAT(CHAR(97 + i % 26), 600)");
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    let mut c = r.client();
    // The lengths Redis shows while the snapshot is written, polled in a tight loop of its own:
    // the whole read takes a fraction of a second, so the 50 ms loop below may see one partial
    // length only (it did on a loaded CI machine).
    let lens = {
        let mut poll = r.client();
        std::thread::spawn(move || {
            let (mut lens, deadline) = (HashSet::new(), Instant::now() + Duration::from_secs(60));
            while Instant::now() < deadline {
                let n: u64 = redis::cmd("XLEN")
                    .arg("cdc:test.nk")
                    .query(&mut poll)
                    .unwrap();
                if n >= ROWS {
                    break;
                }
                if n > 0 {
                    lens.insert(n);
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            lens
        })
    };
    let (mut reading_while_written, mut changed) = (false, false);
    let mut slowest_ping = Duration::ZERO;
    wait_until(Duration::from_secs(60), "the keyless snapshot", || {
        let n = xlen(&r, "cdc:test.nk");
        if n > 0 && n < ROWS {
            reading_while_written |= source_still_reading(&db, "`test`.`nk`");
            let t = Instant::now();
            let pong: String = redis::cmd("PING").query(&mut c).unwrap();
            assert_eq!(pong, "PONG");
            slowest_ping = slowest_ping.max(t.elapsed());
            if !changed {
                // Changes after the read view's position: streamed after the last piece.
                db.exec(&format!(
                    "UPDATE test.nk SET v = -v WHERE id = 5; DELETE FROM test.nk WHERE id = 7; \
                     INSERT INTO test.nk VALUES ({}, 0, 'new')",
                    ROWS + 1
                ));
                changed = true;
            }
        }
        snapshot_idle(&r) && n >= ROWS
    });
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    assert!(changed, "never saw the snapshot partly written");
    let lens = lens.join().expect("the XLEN poller");
    // Whether the source was still sending when rows arrived depends on socket buffers and the
    // machine's load (it flaked on a loaded CI machine), so it is reported, not asserted; the
    // bounded memory is asserted by keyless_snapshot_runs_in_bounded_module_memory_....
    eprintln!(
        "keyless pieces: source still reading while written: {reading_while_written}; {} partial lengths seen",
        lens.len()
    );
    // Two partial lengths at least (a loaded machine polls few of them).
    assert!(lens.len() >= 2, "written in too few pieces: {lens:?}");
    // Redis answers meanwhile (a generous bound: the point is no multi-second stall).
    assert!(
        slowest_ping < Duration::from_secs(2),
        "PING took {slowest_ping:?}"
    );
    let entries = assert_replay_equals_table(&r, &db, "test", "nk");
    assert_unique_pos(&entries);
    let reads = ops(&entries, "r");
    assert_eq!(reads.len() as u64, ROWS, "every row once");
    let last_read = entries
        .iter()
        .rposition(|(_, f)| field(f, "op") == Some("r"))
        .unwrap();
    // The changes follow the snapshot rows (an update of a keyless row changes its key: a
    // delete and a create).
    let after: Vec<_> = entries[last_read + 1..]
        .iter()
        .map(|(_, f)| field(f, "op").unwrap())
        .collect();
    assert_eq!(after, ["d", "c", "d", "c"]);
}

/// kill -9 of redis-server in the middle of a table without a key, then in the middle of a
/// table keyed by a NOT NULL UNIQUE index (no primary key). The keyless table has no order to
/// resume in: it is read again from the start, in a new read view, and its `pos` numbers go
/// on (never repeat); replay is right because the changes between the two views are streamed
/// in between. The unique-keyed table is read in chunks of its key and resumes after the last
/// chunk written: each of its rows exactly once.
#[test]
fn kill9_mid_snapshot_rereads_a_keyless_table_and_resumes_a_unique_keyed_one() {
    const ROWS: u64 = 60_000;
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.a_nk (id INT NOT NULL, v INT, s VARCHAR(40));
         CREATE TABLE test.b_uk (id INT NOT NULL, v INT, s VARCHAR(40), UNIQUE KEY u (id))",
    );
    fill_rows(&db, "test.a_nk", ROWS, "i, CONCAT('row-', i)");
    fill_rows(&db, "test.b_uk", ROWS, "i, CONCAT('row-', i)");
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    // Kill when `stream` is partly written; returns the stored progress just before the kill
    // and a time (ms) after which every entry was written after the restart.
    let kill_mid = |stream: &str, before_restart: &mut dyn FnMut()| {
        let mut seen = 0;
        wait_until(
            Duration::from_secs(60),
            "the table to be partly written",
            || {
                seen = xlen(&r, stream);
                seen >= ROWS / 6
            },
        );
        let progress = reply_to_map(&r.cmd(&["HGETALL", "cdc:offset"]))
            .remove("snapshot")
            .unwrap_or_default();
        r.kill9();
        assert!(
            seen < ROWS,
            "{stream} was finished before the kill ({seen})"
        );
        let killed_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        before_restart();
        std::thread::sleep(Duration::from_millis(5));
        r.restart();
        (progress, killed_at)
    };
    let written_before =
        |id: &str, t: u64| id.split('-').next().unwrap().parse::<u64>().unwrap() <= t;
    // Changes while the keyless table is read (and stored with the position), none after the
    // kill (so that its re-read has the rows of the table as it ends).
    let mut churn = Some({
        let mut conn = db.conn();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut i = 0u64;
            while !st.load(Ordering::Relaxed) {
                i += 1;
                let id = i * 97 % ROWS + 1;
                conn.query_drop(match i % 3 {
                    0 => format!("DELETE FROM test.a_nk WHERE id = {id}"),
                    1 => format!("UPDATE test.a_nk SET v = v + 1 WHERE id = {id}"),
                    _ => format!("INSERT INTO test.a_nk VALUES ({}, 0, 'new')", ROWS + i),
                })
                .unwrap();
            }
        });
        (stop, handle)
    });
    let (progress, a_killed) = kill_mid("cdc:test.a_nk", &mut || {
        if let Some((stop, handle)) = churn.take() {
            stop.store(true, Ordering::Relaxed);
            handle.join().unwrap();
        }
    });
    assert!(
        progress.contains(r#""queue":["test.a_nk""#) && progress.contains(r#""after":null"#),
        "stored progress of the keyless table: {progress}"
    );
    let (progress, _) = kill_mid("cdc:test.b_uk", &mut || {});
    assert!(
        progress.contains(r#""queue":["test.b_uk""#) && !progress.contains(r#""after":null"#),
        "stored progress of the unique-keyed table (its last key): {progress}"
    );
    wait_until(Duration::from_secs(60), "the snapshot to finish", || {
        snapshot_idle(&r)
    });
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);

    // Keyless: what was written before the kill, then the whole table again, numbered on.
    let a = assert_replay_equals_table(&r, &db, "test", "a_nk");
    assert_unique_pos(&a);
    let reads = ops(&a, "r");
    let before = reads
        .iter()
        .filter(|(id, _)| written_before(id, a_killed))
        .count();
    assert!(before > 0, "nothing of the keyless table was stored");
    let rows_now: usize = db
        .query_one("SELECT COUNT(*) FROM test.a_nk")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        reads.len(),
        before + rows_now,
        "the keyless table is read again whole, once"
    );
    let first_again = field(&reads[before].1, "pos").unwrap();
    assert!(
        first_again.ends_with(&format!(":test.a_nk:{before}")),
        "the re-read's pos numbers go on after the stored ones: {first_again}"
    );

    // Unique-keyed: resumed after its last chunk; every row exactly once, keyed by `id`.
    let b = stream_entries(&mut r.client(), "cdc:test.b_uk");
    assert_unique_pos(&b);
    let keys: HashSet<_> = b.iter().map(|(_, f)| field(f, "key").unwrap()).collect();
    assert_eq!(
        (b.len(), keys.len()),
        (ROWS as usize, ROWS as usize),
        "each row of the unique-keyed table once"
    );
    assert_eq!(field(&b[0].1, "key"), Some(r#"{"id":1}"#));
    let rows = |m: BTreeMap<String, serde_json::Value>| -> Vec<String> {
        let mut v: Vec<String> = m.values().map(canonical).collect();
        v.sort();
        v
    };
    assert!(
        rows(replay(&b)) == rows(table_json(&db, "test", "b_uk")),
        "replay of test.b_uk != SELECT *"
    );
}

/// A MariaDB INVISIBLE column as the only NOT NULL UNIQUE key (what MySQL's generated invisible
/// primary key is too): the snapshot selects it by name (`SELECT *` would leave it out), keys
/// and chunks by it like the binlog's entries, and replay equals the table.
#[test]
fn an_invisible_unique_column_keys_the_snapshot_like_the_binlog() {
    const ROWS: u64 = 10_000;
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.inv (rid BIGINT UNSIGNED NOT NULL AUTO_INCREMENT INVISIBLE, v INT, UNIQUE KEY (rid))",
    );
    db.exec("SET SESSION max_recursive_iterations = 10000000");
    db.exec(&format!(
        "INSERT INTO test.inv (v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS}) SELECT i FROM n"
    ));
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    db.exec("INSERT INTO test.inv (v) VALUES (-1); DELETE FROM test.inv WHERE v = 3");
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let entries = stream_entries(&mut r.client(), "cdc:test.inv");
    assert_eq!(entries.len() as u64, ROWS + 2);
    assert_eq!(field(&entries[0].1, "key"), Some(r#"{"rid":1}"#));
    assert_eq!(
        field(&entries[0].1, "after"),
        Some(r#"{"rid":1,"v":1}"#),
        "the invisible column is in the row"
    );
    let c = &entries[ROWS as usize].1;
    assert_eq!(field(c, "op"), Some("c"));
    let new_rid = db.query_one("SELECT MAX(rid) FROM test.inv").unwrap();
    let new_key = format!(r#"{{"rid":{new_rid}}}"#);
    assert_eq!(field(c, "key"), Some(new_key.as_str()));
    let d = &entries[ROWS as usize + 1].1;
    assert_eq!(
        (field(d, "op"), field(d, "key")),
        (Some("d"), Some(r#"{"rid":3}"#))
    );
    // Replay by key: one row per rid, as the table.
    let replayed = replay(&entries);
    let n: usize = db
        .query_one("SELECT COUNT(*) FROM test.inv")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(replayed.len(), n);
    assert!(replayed.contains_key(&new_key));
    assert!(!replayed.contains_key(r#"{"rid":3}"#));
}

/// The snapshot of a table without a key runs in bounded module memory (issue 13, 4: it used
/// to be read and rendered whole: 1M rows grew redis-server's RSS by ~750 MB outside
/// `used_memory`), and MODULE UNLOAD in the middle of a re-read of it is quick (the read is cut
/// between pieces, not drained); loaded again, the re-read starts over and, framed by its
/// markers, replays to the table.
#[test]
fn keyless_snapshot_runs_in_bounded_module_memory_and_unloads_quickly() {
    const ROWS: u64 = 100_000;
    let (db, r) = keyless_snapshot_memory(ROWS, 80);
    // MODULE UNLOAD in the middle of a re-read.
    assert_eq!(value_to_string(&r.cmd(&["CDC.RESYNC", "test.lg"])), "OK");
    wait_until(
        Duration::from_secs(60),
        "the re-read to be under way",
        || xlen(&r, "cdc:test.lg") >= ROWS + ROWS / 5,
    );
    let t = Instant::now();
    r.try_cmd(&["MODULE", "UNLOAD", "cdc"])
        .unwrap_or_else(|e| panic!("unload refused: {e}"));
    let took = t.elapsed();
    eprintln!("MODULE UNLOAD in the middle of a keyless re-read took {took:?}");
    assert!(took < Duration::from_secs(2), "MODULE UNLOAD took {took:?}");
    assert!(
        xlen(&r, "cdc:test.lg") < 2 * ROWS,
        "the re-read finished before the unload"
    );
    let t = Instant::now();
    while source_still_reading(&db, "`test`.`lg`") {
        if t.elapsed() > Duration::from_secs(5) {
            // What the server is doing with the cut read (it flaked once on a loaded CI machine).
            let rows = db.query_strings(
                "SELECT ID, COMMAND, TIME_MS, STATE, LEFT(INFO, 60) FROM information_schema.PROCESSLIST \
                 WHERE ID <> CONNECTION_ID()",
            );
            panic!("the source still sends the cut read 5 s after the unload: {rows:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "the source stopped sending {:?} after the unload",
        t.elapsed()
    );
    db.exec("DELETE FROM test.lg WHERE id % 1000 = 7; UPDATE test.lg SET msg = 'changed' WHERE id % 1000 = 8");
    let url = db.url();
    let args = loadex_args(&["mysql-url", &url]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    r.cmd(&args);
    wait_until(Duration::from_secs(300), "the re-read to finish", || {
        snapshot_idle(&r)
    });
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let entries = assert_replay_equals_table(&r, &db, "test", "lg");
    assert_unique_pos(&entries);
    assert_eq!(
        (
            ops(&entries, "resync-begin").len(),
            ops(&entries, "resync-end").len()
        ),
        (1, 1),
        "one re-read, started over after the reload"
    );
}

/// A keyless read cut while the source is stalled on a full window (Redis busy, the writer and
/// so the reader waiting) ends on the source at once. After a plain shutdown and close of the
/// socket, MariaDB learned of it only at its next zero-window probe, seconds later (the probe
/// interval doubles through the stall), or at `net_write_timeout`, keeping its read view open:
/// the module closes such a socket with an RST.
#[test]
fn a_keyless_read_cut_while_the_source_is_stalled_ends_on_the_source_at_once() {
    const ROWS: u64 = 300_000;
    let db = MariaDb::start();
    db.exec(&format!(
        "CREATE TABLE test.lg (id BIGINT NOT NULL, at INT, msg VARCHAR(200));
         INSERT INTO test.lg SELECT seq, seq % 86400, REPEAT(CHAR(97 + seq % 26), 190)
         FROM test.seq_1_to_{ROWS}"
    ));
    let r = RedisServer::start_with(
        &["--enable-debug-command", "yes"],
        &["mysql-url", &db.url()],
    );
    // As soon as the first rows are in (the table is many times what the socket buffers and
    // the module's channel hold, so the source is still sending).
    let t = Instant::now();
    while xlen(&r, "cdc:test.lg") == 0 {
        assert!(t.elapsed() < Duration::from_secs(60), "no snapshot rows");
        std::thread::sleep(Duration::from_millis(1));
    }
    // Redis busy for 7 s: the writer waits for the lock, the reader for the channel, and the
    // source for the socket, its zero-window probes backing off to seconds apart.
    let sleeper = {
        let mut c = r.client();
        std::thread::spawn(move || {
            let _: redis::RedisResult<()> = redis::cmd("DEBUG").arg("SLEEP").arg(7).query(&mut c);
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        source_still_reading(&db, "`test`.`lg`"),
        "the source finished sending before the stall"
    );
    // Runs as soon as the sleep ends, before the writer gets the lock back.
    r.try_cmd(&["MODULE", "UNLOAD", "cdc"])
        .unwrap_or_else(|e| panic!("unload refused: {e}"));
    sleeper.join().expect("DEBUG SLEEP");
    assert!(
        xlen(&r, "cdc:test.lg") < ROWS,
        "the snapshot finished before the unload"
    );
    let t = Instant::now();
    while source_still_reading(&db, "`test`.`lg`") {
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "the source still sends the cut read {:?} after the unload",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "the stalled source stopped sending {:?} after the unload",
        t.elapsed()
    );
}

/// The operator's case: 1M rows (~13 s; `KEYLESS_ROWS=n` for another size). Run with
/// `cargo test --release --test main -- --ignored keyless_snapshot_of_a_million --nocapture`.
/// Measured: the module's heap peaks ~65 MB above its start (the read whole took ~1.3 GB).
#[test]
#[ignore]
fn keyless_snapshot_of_a_million_rows_runs_in_bounded_module_memory() {
    keyless_snapshot_memory(
        std::env::var("KEYLESS_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000),
        80,
    );
}

/// Snapshot `test.lg`, a keyless table of `rows` rows of ~200 bytes, into an empty redis-server
/// and assert that RSS - used_memory (the module's heap) stays within `limit_mb` of where it
/// started.
fn keyless_snapshot_memory(rows: u64, limit_mb: u64) -> (MariaDb, RedisServer) {
    let db = MariaDb::start();
    db.exec(&format!(
        "CREATE TABLE test.lg (id BIGINT NOT NULL, at INT, msg VARCHAR(200));
         INSERT INTO test.lg SELECT seq, seq % 86400, REPEAT(CHAR(97 + seq % 26), 190)
         FROM test.seq_1_to_{rows}"
    ));
    let url = db.url();
    let r = RedisServer::start(&["mysql-url", &url, "enabled", "no"]);
    let pid = r.pid();
    let used = |r: &RedisServer| -> u64 {
        info_field(r, "memory", "used_memory")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let baseline = proc_mem(pid, "VmRSS").saturating_sub(used(&r));
    let started = Instant::now();
    r.cmd(&["CONFIG", "SET", "cdc.enabled", "yes"]);
    let mut peak_extra = 0u64;
    wait_until(Duration::from_secs(300), "the keyless snapshot", || {
        peak_extra = peak_extra.max(proc_mem(pid, "VmRSS").saturating_sub(used(&r)));
        xlen(&r, "cdc:test.lg") >= rows && snapshot_idle(&r)
    });
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    eprintln!(
        "keyless snapshot of {rows} rows in {:.1?}: RSS - used_memory baseline {:.0} MB, peak {:.0} MB; \
         VmHWM {:.0} MB, used_memory {:.0} MB",
        started.elapsed(),
        mb(baseline),
        mb(peak_extra),
        mb(proc_mem(pid, "VmHWM")),
        mb(used(&r))
    );
    assert!(
        peak_extra < baseline + limit_mb * 1024 * 1024,
        "module memory not bounded: RSS - used_memory peaked at {:.0} MB (baseline {:.0} MB)",
        mb(peak_extra),
        mb(baseline)
    );

    (db, r)
}

/// What docs/snapshot.md advises for a table without a key: an invisible key added while the
/// module streams keys the entries after the ALTER, and a re-read of the table is chunked by
/// it and keyed alike, so replay (with the re-read's markers) gives the table by that key.
#[test]
fn an_invisible_key_added_to_a_keyless_table_keys_its_entries_and_its_reread() {
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.audit (who VARCHAR(10), what INT); INSERT INTO test.audit VALUES ('a', 1), ('b', 2)");
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    db.exec(
        "ALTER TABLE test.audit ADD COLUMN rid BIGINT UNSIGNED NOT NULL AUTO_INCREMENT INVISIBLE, ADD UNIQUE KEY (rid);
         UPDATE test.audit SET what = 20 WHERE who = 'b'; INSERT INTO test.audit (who, what) VALUES ('c', 3)",
    );
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    assert_eq!(value_to_string(&r.cmd(&["CDC.RESYNC", "test.audit"])), "OK");
    wait_until(Duration::from_secs(30), "the re-read", || {
        stream_entries(&mut r.client(), "cdc:test.audit")
            .iter()
            .any(|(_, f)| field(f, "op") == Some("resync-end"))
    });
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let entries = stream_entries(&mut r.client(), "cdc:test.audit");
    let after_alter: Vec<_> = entries
        .iter()
        .skip(2)
        .filter_map(|(_, f)| field(f, "key"))
        .collect();
    assert!(
        after_alter.iter().all(|k| k.starts_with(r#"{"rid":"#)),
        "{entries:?}"
    );
    let replayed = replay(&entries);
    let table: BTreeMap<String, serde_json::Value> = db
        .query_strings("SELECT rid, who, what FROM test.audit")
        .into_iter()
        .map(|r| {
            let v = |i: usize| r[i].clone().unwrap();
            (
                format!(r#"{{"rid":{}}}"#, v(0)),
                serde_json::json!({"who": v(1), "what": v(2).parse::<i64>().unwrap(), "rid": v(0).parse::<u64>().unwrap()}),
            )
        })
        .collect();
    assert_eq!(replayed, table);
}

/// Keyset chunks page on keys in the column's own character set and collation: a latin1
/// text key with non-ASCII values and a binary key, each over several chunks, give every row
/// exactly once.
#[test]
fn chunks_page_on_non_utf8_and_binary_keys() {
    const ROWS: u64 = 10_000;
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.l1 (k VARCHAR(12) CHARACTER SET latin1 PRIMARY KEY, v INT);
         CREATE TABLE test.bin (k VARBINARY(12) PRIMARY KEY, v INT)",
    );
    db.exec("SET SESSION max_recursive_iterations = 10000000");
    for (t, expr) in [
        (
            "l1",
            "CONCAT(IF(i % 2, _latin1 x'e9', _latin1 x'c4'), LPAD(i, 6, '0'))",
        ),
        ("bin", "CONCAT(IF(i % 2, x'ff', x'80'), LPAD(i, 6, '0'))"),
    ] {
        db.exec(&format!(
            "INSERT INTO test.{t} WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS}) SELECT {expr}, i FROM n"
        ));
    }
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    for t in ["l1", "bin"] {
        let entries = stream_entries(&mut r.client(), &format!("cdc:test.{t}"));
        let keys: HashSet<_> = entries
            .iter()
            .map(|(_, f)| field(f, "key").unwrap())
            .collect();
        assert_eq!(
            (entries.len(), keys.len()),
            (ROWS as usize, ROWS as usize),
            "test.{t}: every row once"
        );
    }
}

/// Chunks are bounded in bytes too: rows of 64 KB after small ones (so that the table's
/// average misleads the first chunk sizes) are read in chunks cut at about 8 MB, each row
/// exactly once, and replay equals the table.
#[test]
fn wide_rows_are_chunked_by_bytes_each_row_once() {
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.wide (id INT PRIMARY KEY, pad LONGTEXT)");
    db.exec("SET SESSION max_recursive_iterations = 10000000");
    db.exec(
        "INSERT INTO test.wide WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1400) \
         SELECT i, IF(i <= 1000, CONCAT('small-', i), REPEAT(CHAR(97 + i % 26), 65000)) FROM n",
    );
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let entries = assert_replay_equals_table(&r, &db, "test", "wide");
    assert_eq!(entries.len(), 1400, "each row once");
    assert_unique_pos(&entries);
}

/// Keys with ENUM and SET columns whose members are not in alphabetical order: the snapshot
/// pages through them in the order `ORDER BY` gives (member order), so no row is skipped or
/// read twice across chunks.
#[test]
fn enum_and_set_keys_page_in_member_order() {
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.e (k ENUM('zulu','alpha','mike') NOT NULL, s SET('x','b','a') NOT NULL, id INT NOT NULL, v INT, PRIMARY KEY (k, s, id));
         SET SESSION max_recursive_iterations = 10000000;
         INSERT INTO test.e WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12000)
           SELECT ELT(1 + i % 3, 'zulu', 'alpha', 'mike'), ELT(1 + i % 4, 'x', 'b', 'a', 'x,a'), i, i FROM n;",
    );
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(120));
    let entries = assert_replay_equals_table(&r, &db, "test", "e");
    assert_eq!(entries.len(), 12000, "each row read once");
}

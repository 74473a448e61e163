//! CDC.RESYNC (docs/snapshot.md, docs/commands.md): re-read tables while streaming goes on;
//! CDC.TABLES.

use crate::support::*;
use mysql::prelude::Queryable;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn fill(db: &MariaDb, table: &str, rows: u64) {
    db.exec(&format!(
        "CREATE TABLE test.{table} (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40))"
    ));
    db.exec("SET SESSION max_recursive_iterations = 10000000");
    db.exec(&format!(
        "INSERT INTO test.{table} WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
         SELECT i, i, CONCAT('row-', i) FROM n"
    ));
}

fn err_text(r: &RedisServer, args: &[&str]) -> String {
    match r.try_cmd(args) {
        Ok(v) => panic!("{args:?} succeeded: {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn resync_of_one_table_under_concurrent_writes_replays_to_the_table() {
    let db = MariaDb::start();
    fill(&db, "a", 30_000);
    fill(&db, "b", 10);
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    let b_before = stream_entries(&mut r.client(), "cdc:test.b").len();
    let a_before = stream_entries(&mut r.client(), "cdc:test.a").len();

    let stop = Arc::new(AtomicBool::new(false));
    let mut conn = db.conn();
    let st = stop.clone();
    let churn = std::thread::spawn(move || {
        let mut i: u64 = 0;
        while !st.load(Ordering::Relaxed) {
            i += 1;
            let id = (i * 7919) % 33_000 + 1;
            let sql = match i % 4 {
                0 => format!("DELETE FROM test.a WHERE id = {id}"),
                1 => format!("INSERT INTO test.a VALUES ({id}, 0, 'new') ON DUPLICATE KEY UPDATE v = v + 1000"),
                _ => format!("UPDATE test.a SET v = v + 1, s = 'upd' WHERE id = {id}"),
            };
            conn.query_drop(&sql).unwrap();
        }
        i
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(value_to_string(&r.cmd(&["CDC.RESYNC", "test.a"])), "OK");
    // Progress right away; a second request for the same table replies OK (docs/snapshot.md) and
    // is not doubled (one begin marker below).
    let snap = status(&r).get("snapshot").cloned().unwrap_or_default();
    assert!(snap.contains("test.a"), "{snap}");
    assert_eq!(value_to_string(&r.cmd(&["CDC.RESYNC", "test.a"])), "OK");
    let mut seen_state = false;
    wait_until(Duration::from_secs(90), "resync to finish", || {
        let s = status(&r);
        seen_state |= s.get("state").map(String::as_str) == Some("snapshotting");
        s.get("snapshot").map(String::as_str) == Some("[]")
    });
    stop.store(true, Ordering::Relaxed);
    let ops = churn.join().unwrap();
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));

    let entries = stream_entries(&mut r.client(), "cdc:test.a");
    assert_eq!(
        replay_canonical(&entries),
        table_json(&db, "test", "a"),
        "replay of test.a differs after resync ({ops} writes)"
    );
    // Replaying only from the resync's begin marker on gives the table too (a consumer that
    // lost its copy): every row of the table is re-read or written after the marker.
    let from_resync = &entries[a_before..];
    let begin = from_resync
        .iter()
        .position(|(_, f)| field(f, "op") == Some("resync-begin"))
        .expect("a resync-begin marker");
    let first_r = from_resync
        .iter()
        .position(|(_, f)| field(f, "op") == Some("r"))
        .unwrap();
    assert!(
        begin < first_r,
        "the begin marker comes before the re-read rows"
    );
    assert_eq!(
        from_resync
            .iter()
            .filter(|(_, f)| field(f, "op") == Some("resync-end"))
            .count(),
        1
    );
    let rebuilt = replay_canonical(&from_resync[begin..]);
    assert_eq!(rebuilt, table_json(&db, "test", "a"));
    let reads = from_resync
        .iter()
        .filter(|(_, f)| field(f, "op") == Some("r"))
        .count();
    assert!(reads >= 25_000, "{reads} r entries");
    let pos: Vec<_> = from_resync
        .iter()
        .filter_map(|(_, f)| field(f, "pos"))
        .collect();
    assert_eq!(
        pos.len(),
        pos.iter().collect::<HashSet<_>>().len(),
        "a pos repeats"
    );
    assert_eq!(
        stream_entries(&mut r.client(), "cdc:test.b").len(),
        b_before,
        "test.b was not resynced"
    );
    assert!(
        seen_state,
        "state never showed snapshotting during the resync"
    );
}

/// A database name with a dot (`shop.eu`) and a table name with one (`test.t.x`): snapshotted,
/// streamed and re-read like any other. A dotted database is listed in backticks; CDC.RESYNC
/// takes the name as typed too.
#[test]
fn names_with_dots_are_snapshotted_streamed_and_resynced() {
    let db = MariaDb::start();
    db.exec(
        "CREATE DATABASE `shop.eu`;
         CREATE TABLE `shop.eu`.orders (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40));
         INSERT INTO `shop.eu`.orders VALUES (1, 1, 'a'), (2, 2, 'b');
         CREATE TABLE test.`t.x` (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40));
         INSERT INTO test.`t.x` VALUES (1, 10, 'x');",
    );
    let r = RedisServer::start(&["mysql-url", &db.url(), "tables", "`shop.eu`.*,test.*"]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    db.exec(
        "INSERT INTO `shop.eu`.orders VALUES (3, 3, 'c');
         UPDATE test.`t.x` SET v = 11;",
    );
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(30));
    let orders = stream_entries(&mut r.client(), "cdc:shop.eu.orders");
    let ops: Vec<&str> = orders
        .iter()
        .map(|(_, f)| field(f, "op").unwrap_or("?"))
        .collect();
    assert_eq!(ops, ["r", "r", "c"]);
    assert_eq!(field(&orders[0].1, "db"), Some("shop.eu"));
    assert_eq!(field(&orders[0].1, "table"), Some("orders"));
    assert_eq!(
        replay_canonical(&orders),
        table_json(&db, "shop.eu", "orders")
    );
    let tx = stream_entries(&mut r.client(), "cdc:test.t.x");
    assert_eq!(tx.len(), 2, "{tx:?}");
    assert_eq!(field(&tx[0].1, "table"), Some("t.x"));
    assert_eq!(replay_canonical(&tx), table_json(&db, "test", "t.x"));

    let tables = value_to_json(&r.cmd(&["CDC.TABLES"])).to_string();
    assert!(
        tables.contains("`shop.eu`.orders") && tables.contains("test.t.x"),
        "{tables}"
    );
    // As typed, and in the listed form: both re-read the table (markers around 3 rows).
    for (name, total) in [("shop.eu.orders", 8), ("`shop.eu`.orders", 13)] {
        assert_eq!(
            value_to_string(&r.cmd(&["CDC.RESYNC", name])),
            "OK",
            "{name}"
        );
        wait_until(Duration::from_secs(30), "resync of shop.eu.orders", || {
            stream_entries(&mut r.client(), "cdc:shop.eu.orders").len() == total
                && status(&r).get("snapshot").map(String::as_str) == Some("[]")
        });
    }
    assert_eq!(value_to_string(&r.cmd(&["CDC.RESYNC", "test.t.x"])), "OK");
    wait_until(Duration::from_secs(30), "resync of test.t.x", || {
        stream_entries(&mut r.client(), "cdc:test.t.x").len() == 5
    });
    let orders = stream_entries(&mut r.client(), "cdc:shop.eu.orders");
    assert_eq!(
        replay_canonical(&orders),
        table_json(&db, "shop.eu", "orders")
    );
}

#[test]
fn resync_rejects_unknown_and_excluded_tables() {
    let db = MariaDb::start();
    fill(&db, "a", 10);
    fill(&db, "secret", 3);
    let r = RedisServer::start(&["mysql-url", &db.url(), "exclude-tables", "test.secret"]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    let e = err_text(&r, &["CDC.RESYNC", "test.nope"]);
    assert!(e.contains("unknown table test.nope"), "{e}");
    let e = err_text(&r, &["CDC.RESYNC", "test.a", "test.nope", "other.x"]);
    assert!(e.contains("test.nope") && e.contains("other.x"), "{e}");
    let e = err_text(&r, &["CDC.RESYNC", "test.secret"]);
    assert!(
        e.contains("test.secret") && e.contains("not captured"),
        "{e}"
    );
    assert!(!r.exists_stream("cdc:test.secret"));
    // Nothing was queued by the refused requests.
    assert_eq!(status(&r).get("snapshot").map(String::as_str), Some("[]"));

    // With no table named, every captured table is read again: 10 rows between a begin and an
    // end marker.
    assert_eq!(value_to_string(&r.cmd(&["CDC.RESYNC"])), "OK");
    wait_until(Duration::from_secs(30), "resync of all", || {
        stream_entries(&mut r.client(), "cdc:test.a").len() == 22
            && status(&r).get("snapshot").map(String::as_str) == Some("[]")
    });

    // CDC.TABLES: each captured table, its stream, entries written, last change time.
    let tables = value_to_json(&r.cmd(&["CDC.TABLES"]));
    let text = tables.to_string();
    assert!(
        text.contains("test.a") && text.contains("cdc:test.a"),
        "{text}"
    );
    assert!(!text.contains("test.secret"), "{text}");
    let rows = tables.as_array().unwrap();
    let a = rows
        .iter()
        .find(|row| row.to_string().contains("\"cdc:test.a\""))
        .unwrap()
        .as_array()
        .unwrap()
        .clone();
    let get = |name: &str| {
        a.iter()
            .position(|v| v == name)
            .map(|i| a[i + 1].clone())
            .unwrap()
    };
    assert_eq!(get("entries"), serde_json::json!(22));
    assert!(get("last_change_ms").as_i64().unwrap() > 1_600_000_000_000);
}

trait StreamExists {
    fn exists_stream(&self, key: &str) -> bool;
}

impl StreamExists for RedisServer {
    fn exists_stream(&self, key: &str) -> bool {
        matches!(self.cmd(&["EXISTS", key]), redis::Value::Int(1))
    }
}

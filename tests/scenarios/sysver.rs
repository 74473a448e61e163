//! MariaDB system-versioned tables (`WITH SYSTEM VERSIONING`): the table keeps old versions of
//! its rows as history rows, and the binlog carries them (an UPDATE logs the update of the
//! current row and an insert of the history row; a DELETE logs an update that ends the current
//! row; DELETE HISTORY deletes history rows). Entries are the current rows only, keyed by the
//! declared primary key, with the columns of `SELECT *`, in the snapshot and the stream alike:
//! replaying the stream gives `SELECT *` (docs/events.md, "System-versioned tables").

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Tables of every kind of versioning, with rows and history before the module starts.
const TABLES: &str = "
    CREATE TABLE test.v (id INT PRIMARY KEY, a VARCHAR(10), n INT) WITH SYSTEM VERSIONING;
    CREATE TABLE test.e (id INT PRIMARY KEY, a INT,
        start_ts TIMESTAMP(6) GENERATED ALWAYS AS ROW START,
        end_ts TIMESTAMP(6) GENERATED ALWAYS AS ROW END,
        PERIOD FOR SYSTEM_TIME (start_ts, end_ts)) WITH SYSTEM VERSIONING;
    CREATE TABLE test.nk (a INT, b VARCHAR(5)) WITH SYSTEM VERSIONING;
    INSERT INTO test.v VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3);
    UPDATE test.v SET n = 10 WHERE id = 1;
    DELETE FROM test.v WHERE id = 3;
    INSERT INTO test.e (id, a) VALUES (1, 1), (2, 2);
    UPDATE test.e SET a = 20 WHERE id = 2;
    INSERT INTO test.nk VALUES (1, 'x'), (2, 'y');
    UPDATE test.nk SET b = 'z' WHERE a = 2;";

/// Every kind of change, single- and multi-row, in and out of transactions.
const CHANGES: &[&str] = &[
    "INSERT INTO test.v VALUES (4, 'four', 4)",
    "UPDATE test.v SET a = 'uno' WHERE id = 1",
    "UPDATE test.v SET id = 5 WHERE id = 2",
    "DELETE FROM test.v WHERE id = 4",
    "INSERT INTO test.v VALUES (6, 'six', 6), (7, 'seven', 7), (8, 'eight', 8)",
    "UPDATE test.v SET n = n + 100 WHERE id >= 5",
    "UPDATE test.v SET id = id + 10 WHERE id IN (6, 7)",
    "BEGIN; DELETE FROM test.v WHERE id > 10; INSERT INTO test.v VALUES (16, 'again', 0); \
     UPDATE test.v SET a = NULL WHERE id = 1; COMMIT",
    "DELETE HISTORY FROM test.v",
    "UPDATE test.v SET a = 'after' WHERE id = 1",
    "INSERT INTO test.e (id, a) VALUES (3, 3), (4, 4)",
    "UPDATE test.e SET a = a + 1",
    "UPDATE test.e SET id = 9 WHERE id = 1",
    "DELETE FROM test.e WHERE id = 3",
    "DELETE HISTORY FROM test.e BEFORE SYSTEM_TIME NOW(6)",
    "INSERT INTO test.nk VALUES (3, 'w')",
    "UPDATE test.nk SET b = 'q' WHERE a = 1",
    "DELETE FROM test.nk WHERE a = 3",
];

/// Replay of a Debezium-format stream (fields `key`/`value`): `c`/`r`/`u` upsert `after` by key,
/// `d` deletes the key. Canonical key -> row.
fn replay_debezium(entries: &[StreamEntry]) -> BTreeMap<String, Value> {
    let mut table = BTreeMap::new();
    for (id, f) in entries {
        let key = canonical(&json_field(f, "key"));
        let value = json_field(f, "value");
        match value["op"].as_str() {
            Some("c" | "r" | "u") => {
                table.insert(key, value["after"].clone());
            }
            Some("d") => {
                table.remove(&key);
            }
            other => panic!("entry {id}: op {other:?}: {f:?}"),
        }
    }
    table
}

/// The key of an entry: JSON, or null for the Debezium sink's `default` (no primary key).
fn key_of(f: &[(String, String)]) -> Value {
    match field(f, "key") {
        Some("default") | None => Value::Null,
        Some(_) => json_field(f, "key"),
    }
}

/// The key and the row of an entry in either format.
fn key_and_row(format: &str, f: &[(String, String)]) -> (Value, Value) {
    if format == "flat" {
        let row = match field(f, "after") {
            Some(_) => json_field(f, "after"),
            None => json_field(f, "before"),
        };
        (key_of(f), row)
    } else {
        let v = json_field(f, "value");
        let row = if v["after"].is_null() {
            v["before"].clone()
        } else {
            v["after"].clone()
        };
        (key_of(f), row)
    }
}

/// `test.e` as replay should show it: its visible period columns in the entries' TIMESTAMP
/// form (UTC, 6 digits), keyed by the declared key `id` (not `end_ts`, which MariaDB adds).
fn e_table(db: &MariaDb) -> BTreeMap<String, Value> {
    db.exec("SET time_zone = '+00:00'");
    let fmt = "'%Y-%m-%dT%H:%i:%s.%fZ'";
    db.query_strings(&format!(
        "SELECT id, a, DATE_FORMAT(start_ts, {fmt}), DATE_FORMAT(end_ts, {fmt}) FROM test.e"
    ))
    .into_iter()
    .map(|r| {
        let s = |i: usize| r[i].clone().unwrap_or_default();
        let id: i64 = s(0).parse().unwrap();
        let row = serde_json::json!({
            "id": id, "a": s(1).parse::<i64>().unwrap(), "start_ts": s(2), "end_ts": s(3)
        });
        (canonical(&serde_json::json!({ "id": id })), row)
    })
    .collect()
}

/// Snapshot, then every kind of change; replay equals SELECT * and every entry has the
/// declared key and the columns of SELECT *.
fn current_rows_only(format: &str) {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = MariaDb::start();
    db.exec(TABLES);
    let r = RedisServer::start(&["mysql-url", &db.url(), "format", format]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    // The snapshot read the current rows only.
    for (t, n) in [("v", 2), ("e", 2), ("nk", 2)] {
        assert_eq!(entries(&r, "test", t).len(), n, "snapshot of test.{t}");
    }
    for sql in CHANGES {
        db.exec(sql);
    }
    wait_caught_up(&r, &db, CATCH_UP);

    let expected_columns = |t: &str| -> Vec<&str> {
        match t {
            "v" => vec!["id", "a", "n"],
            "e" => vec!["id", "a", "start_ts", "end_ts"],
            _ => vec!["a", "b"],
        }
    };
    for t in ["v", "e", "nk"] {
        let list = entries(&r, "test", t);
        for (id, f) in &list {
            let (key, row) = key_and_row(format, f);
            let cols: Vec<&str> = row
                .as_object()
                .unwrap_or_else(|| panic!("{t} {id}: no row in {f:?}"))
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(cols, expected_columns(t), "test.{t} entry {id}: {f:?}");
            let key_cols: Vec<&str> = match &key {
                Value::Object(m) => m.keys().map(String::as_str).collect(),
                _ => Vec::new(),
            };
            let want_key = match (t, format) {
                ("nk", "flat") => expected_columns(t),
                ("nk", _) => Vec::new(), // the Debezium sink's `default`
                _ => vec!["id"],
            };
            assert_eq!(key_cols, want_key, "test.{t} entry {id}: {f:?}");
        }
        if t == "nk" && format != "flat" {
            // No key: every row has the same `default` key in the Debezium formats.
            continue;
        }
        let replayed = if format == "flat" {
            replay_canonical(&list)
        } else {
            replay_debezium(&list)
        };
        let expected = match t {
            "e" => e_table(&db),
            _ => table_json(&db, "test", t),
        };
        assert_eq!(replayed, expected, "replay of test.{t} ({format})");
    }
    // The history is still there: these rows were versions, not lost changes.
    let all: u64 = db
        .query_one("SELECT COUNT(*) FROM test.v FOR SYSTEM_TIME ALL")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(all > table_json(&db, "test", "v").len() as u64);
}

#[test]
fn flat_entries_are_the_current_rows() {
    current_rows_only("flat");
}

#[test]
fn debezium_entries_are_the_current_rows() {
    current_rows_only("debezium-extended");
}

/// A captured table gets system versioning and loses it again, also while the module is
/// paused (the shapes follow the DDL), with full and with minimal row metadata.
fn add_and_drop_versioning(metadata_args: &[&str]) {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = MariaDb::start_with(metadata_args);
    db.exec(
        "CREATE TABLE test.p (id INT PRIMARY KEY, a VARCHAR(10));
         INSERT INTO test.p VALUES (1, 'a'), (2, 'b')",
    );
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    db.exec(
        "ALTER TABLE test.p ADD SYSTEM VERSIONING;
         INSERT INTO test.p VALUES (3, 'c');
         UPDATE test.p SET a = 'A' WHERE id = 1;
         DELETE FROM test.p WHERE id = 2",
    );
    wait_caught_up(&r, &db, CATCH_UP);
    assert_replay_equals_table(&r, &db, "test", "p");

    // Paused: the module decodes these rows after all of the DDL has run.
    r.cmd(&["CDC.PAUSE"]);
    wait_state(&r, "paused", Duration::from_secs(10));
    db.exec(
        "UPDATE test.p SET id = 4 WHERE id = 3;
         SET SESSION system_versioning_alter_history = KEEP;
         ALTER TABLE test.p ADD COLUMN n INT;
         INSERT INTO test.p VALUES (5, 'e', 5), (6, 'f', 6);
         UPDATE test.p SET n = 7 WHERE id IN (1, 5);
         DELETE FROM test.p WHERE id = 6;
         DELETE HISTORY FROM test.p;
         UPDATE test.p SET a = 'AA' WHERE id = 1;
         ALTER TABLE test.p DROP SYSTEM VERSIONING;
         INSERT INTO test.p VALUES (8, 'h', 8);
         UPDATE test.p SET a = 'E' WHERE id = 5;
         DELETE FROM test.p WHERE id = 4;
         ALTER TABLE test.p ADD SYSTEM VERSIONING;
         UPDATE test.p SET n = 9 WHERE id = 8;
         DELETE FROM test.p WHERE id = 5",
    );
    r.cmd(&["CDC.RESUME"]);
    // (The ADD COLUMN re-reads the table: wait for it too.)
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let list = assert_replay_equals_table(&r, &db, "test", "p");
    for (id, f) in &list {
        if field(f, "key").is_none() {
            continue; // a re-read's marker
        }
        let key = json_field(f, "key");
        assert_eq!(
            key.as_object().map(|m| m.len()),
            Some(1),
            "entry {id}: {f:?}"
        );
        for image in ["before", "after"] {
            if field(f, image).is_some() {
                let row = json_field(f, image);
                assert!(
                    row.get("row_start").is_none() && row.get("row_end").is_none(),
                    "entry {id}: {f:?}"
                );
            }
        }
    }
}

#[test]
fn add_and_drop_system_versioning_with_full_row_metadata() {
    add_and_drop_versioning(&[]);
}

#[test]
fn add_and_drop_system_versioning_with_minimal_row_metadata() {
    add_and_drop_versioning(&["--binlog-row-metadata=MINIMAL"]);
}

/// Transaction-precise versioning (BIGINT UNSIGNED transaction ids): MariaDB logs its DML as
/// statements even under binlog_format=ROW, so each change is a re-read of the table; the
/// re-read has the current rows, keyed by `id`, without the invisible period columns.
#[test]
fn transaction_precise_tables_are_re_read() {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.x (id INT PRIMARY KEY, a INT,
            s BIGINT UNSIGNED GENERATED ALWAYS AS ROW START INVISIBLE,
            e BIGINT UNSIGNED GENERATED ALWAYS AS ROW END INVISIBLE,
            PERIOD FOR SYSTEM_TIME (s, e)) ENGINE=InnoDB WITH SYSTEM VERSIONING;
         INSERT INTO test.x VALUES (1, 1), (2, 2)",
    );
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    assert_replay_equals_table(&r, &db, "test", "x");
    db.exec("UPDATE test.x SET a = 10 WHERE id = 1; DELETE FROM test.x WHERE id = 2; INSERT INTO test.x VALUES (3, 3)");
    wait_until(CATCH_UP, "the re-read after the statements", || {
        let list = entries(&r, "test", "x");
        replay_canonical(&list) == table_json(&db, "test", "x")
            && status_field(&r, "snapshot") == "[]"
    });
    for (id, f) in entries(&r, "test", "x") {
        if let Some(k) = field(&f, "key") {
            assert_eq!(
                serde_json::from_str::<Value>(k)
                    .ok()
                    .and_then(|k| k.as_object().map(|m| m.len())),
                Some(1),
                "entry {id}: {f:?}"
            );
        }
    }
}

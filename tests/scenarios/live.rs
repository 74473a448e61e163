//! End-to-end streaming tests: a private MariaDB, redis-server with the module, real traffic;
//! the streams are checked against `SELECT *` ("replay is the table") and the entry layout of
//! docs/events.md.
//!
//! The module starts at the source's current binlog end when the offset hash is empty, so each
//! test creates its schema first, starts Redis, waits for `streaming`, and only then writes.
//! Tests that do not restart MariaDB share one (`shared_mariadb`) and use their own databases.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::support::*;
use mysql::prelude::Queryable;

/// Start Redis following `db` with extra module args, and wait for `streaming`.
fn redis_following(db: &MariaDb, module_args: &[&str]) -> RedisServer {
    let url = db.url();
    let mut args = vec!["mysql-url", url.as_str()];
    args.extend_from_slice(module_args);
    let redis = RedisServer::start(&args);
    wait_state(&redis, "streaming", STREAMING);
    redis
}

#[test]
fn many_transactions_replay_equals_select_and_entries_follow_spec() {
    let db = shared_mariadb();
    // An anonymous ''@'localhost'-style user would shadow cdc@'%' for some clients.
    assert_eq!(
        db.query_one("SELECT COUNT(*) FROM mysql.user WHERE user = ''")
            .as_deref(),
        Some("0"),
        "the MariaDB template has anonymous users"
    );
    db.exec(
        "CREATE DATABASE live_many;
         CREATE TABLE live_many.items (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(10,2),
             qty INT NULL);
         CREATE TABLE live_many.nokey (a INT, b VARCHAR(20), c DECIMAL(8,3));
         CREATE TABLE live_many.pairs (k1 INT, k2 VARCHAR(10), v BIGINT, amount DECIMAL(12,4),
             PRIMARY KEY (k1, k2));
         CREATE TABLE live_many.ignored_other (id INT PRIMARY KEY)",
    );
    let redis = redis_following(
        &db,
        &[
            "tables",
            "live_many.*",
            "exclude-tables",
            "live_many.ignored_*",
        ],
    );

    let mut rng = Lcg(42);
    let mut conn = db.conn();
    for t in 0..200i64 {
        let mut sql = String::from("BEGIN;");
        // Several rows in one statement: one rows event with several rows.
        let rows: Vec<String> = (0..5)
            .map(|i| {
                let id = t * 5 + i;
                let qty = if id % 4 == 0 {
                    "NULL".to_string()
                } else {
                    (id * 3).to_string()
                };
                format!("({id}, 'item-{id}', {}.{:02}, {qty})", id % 1000, id % 100)
            })
            .collect();
        sql += &format!("INSERT INTO live_many.items VALUES {};", rows.join(","));
        if t > 0 {
            sql += &format!(
                "UPDATE live_many.items SET price = price + 1.01, name = CONCAT(name, 'x') WHERE id = {};",
                rng.next((t * 5) as u64)
            );
        }
        if t % 3 == 2 {
            sql += &format!(
                "DELETE FROM live_many.items WHERE id = {};",
                rng.next((t * 5) as u64)
            );
        }
        if t % 7 == 6 {
            // A primary-key change.
            sql += &format!(
                "UPDATE live_many.items SET id = id + 100000 WHERE id = {};",
                t * 5 - 1
            );
        }
        sql += &format!(
            "INSERT INTO live_many.nokey VALUES ({}, 'n{t}', {t}.125), ({}, NULL, -0.001);",
            t * 2,
            t * 2 + 1
        );
        if t % 4 == 3 {
            sql += &format!(
                "UPDATE live_many.nokey SET c = c + 0.5, b = 'upd' WHERE a = {};",
                t * 2 - 2
            );
        }
        if t % 5 == 4 {
            sql += &format!("DELETE FROM live_many.nokey WHERE a = {};", t * 2 - 3);
        }
        sql += &format!(
            "INSERT INTO live_many.pairs VALUES ({t}, 'k{}', {}, {t}.0001), ({t}, 'z', -{t}, -0.5);",
            t % 3,
            t * 1_000_000_007
        );
        if t % 6 == 5 {
            // Composite primary-key change.
            sql += &format!(
                "UPDATE live_many.pairs SET k2 = 'moved' WHERE k1 = {} AND k2 = 'z';",
                t - 1
            );
        }
        if t % 10 == 9 {
            // One statement updating many rows.
            sql += &format!(
                "UPDATE live_many.pairs SET v = v + 1, amount = amount * 2 WHERE k1 > {};",
                t - 20
            );
        }
        if t % 50 == 0 {
            sql += &format!("INSERT INTO live_many.ignored_other VALUES ({t});");
        }
        sql += "COMMIT";
        exec_all(&mut conn, &sql).unwrap_or_else(|e| panic!("txn {t}: {e}\n{sql}"));
    }
    wait_caught_up(&redis, &db, CATCH_UP);

    let mut all: Vec<(String, (u64, u64, u64))> = Vec::new();
    let mut total = 0usize;
    for table in ["items", "nokey", "pairs"] {
        assert_replay_equals_table(&redis, &db, "live_many", table);
        let entries = check_entries(&redis, "live_many", table);
        total += entries.len();
        for (id, fields) in &entries {
            all.push((id.clone(), parse_row_pos(field(fields, "pos").unwrap())));
        }
    }
    assert!(total > 2000, "only {total} entries");
    let unique: HashSet<_> = all.iter().map(|(_, p)| *p).collect();
    assert_eq!(unique.len(), all.len(), "pos values are not unique");

    // Commit order across streams: sorted by pos, the entry IDs' milliseconds never go back.
    all.sort_by_key(|(_, p)| *p);
    let ms = |id: &str| -> u64 { id.split('-').next().unwrap().parse().unwrap() };
    for w in all.windows(2) {
        assert!(
            ms(&w[0].0) <= ms(&w[1].0),
            "entry at {:?} (id {}) was written after entry at {:?} (id {})",
            w[0].1,
            w[0].0,
            w[1].1,
            w[1].0
        );
    }

    // Nothing of the uncaptured tables.
    let mut con = redis.client();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("cdc:live_many.*")
        .query(&mut con)
        .unwrap();
    let keys: HashSet<String> = keys.into_iter().collect();
    let want: HashSet<String> = ["items", "nokey", "pairs"]
        .iter()
        .map(|t| format!("cdc:live_many.{t}"))
        .collect();
    assert_eq!(keys, want);

    // CDC.TABLES counts what was written.
    let tables = redis.cmd(&["CDC.TABLES"]);
    let redis::Value::Array(rows) = tables else {
        panic!("CDC.TABLES: {tables:?}")
    };
    let mut counted = BTreeMap::new();
    for r in &rows {
        let m = reply_to_map(r);
        counted.insert(m["table"].clone(), m["entries"].parse::<usize>().unwrap());
    }
    for table in ["items", "nokey", "pairs"] {
        let n = xlen(&redis, &format!("cdc:live_many.{table}")) as usize;
        assert_eq!(
            counted.get(&format!("live_many.{table}")),
            Some(&n),
            "CDC.TABLES {counted:?}"
        );
    }
    let events: usize = status_field(&redis, "events").parse().unwrap();
    assert_eq!(events, total, "CDC.STATUS events");
}

#[test]
fn rolled_back_work_leaves_no_entry_and_mixed_transactions_write_only_captured_tables() {
    let db = shared_mariadb();
    db.exec(
        "CREATE DATABASE live_rb; CREATE DATABASE live_rb_other;
         CREATE TABLE live_rb.t (id INT PRIMARY KEY, v VARCHAR(10));
         CREATE TABLE live_rb.skip_t (id INT PRIMARY KEY);
         CREATE TABLE live_rb.aria (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=Aria;
         CREATE TABLE live_rb_other.t (id INT PRIMARY KEY)",
    );
    let redis = redis_following(
        &db,
        &["tables", "live_rb.*", "exclude-tables", "live_rb.skip_*"],
    );

    let mut c = db.conn();
    // Plain rollback.
    exec_all(&mut c, "BEGIN; INSERT INTO live_rb.t VALUES (100, 'gone'); INSERT INTO live_rb.skip_t VALUES (100); ROLLBACK")
        .unwrap();
    // Rollback to a savepoint: only the work after it is undone.
    exec_all(
        &mut c,
        "BEGIN; INSERT INTO live_rb.t VALUES (1, 'a'); SAVEPOINT s1;
         INSERT INTO live_rb.t VALUES (2, 'undone'); UPDATE live_rb.t SET v = 'undone' WHERE id = 1;
         ROLLBACK TO SAVEPOINT s1; INSERT INTO live_rb.t VALUES (3, 'c'); COMMIT",
    )
    .unwrap();
    // Captured, excluded and unlisted tables in one transaction.
    exec_all(
        &mut c,
        "BEGIN; INSERT INTO live_rb.t VALUES (4, 'd'); INSERT INTO live_rb.skip_t VALUES (1);
         INSERT INTO live_rb_other.t VALUES (1); UPDATE live_rb.t SET v = 'y' WHERE id = 1;
         INSERT INTO live_rb.skip_t VALUES (2); DELETE FROM live_rb.t WHERE id = 3; COMMIT",
    )
    .unwrap();
    // A non-transactional (Aria) change inside a rolled-back transaction stays in the table (and
    // in the binlog); the InnoDB change does not.
    exec_all(&mut c,
        "BEGIN; INSERT INTO live_rb.t VALUES (200, 'gone'); INSERT INTO live_rb.aria VALUES (1, 'kept'); ROLLBACK",
    )
    .unwrap();
    c.query_drop("INSERT INTO live_rb.aria VALUES (2, 'auto')")
        .unwrap();
    c.query_drop("INSERT INTO live_rb.t VALUES (5, 'last')")
        .unwrap();
    wait_caught_up(&redis, &db, CATCH_UP);

    let entries = check_entries(&redis, "live_rb", "t");
    let ops: Vec<(String, String)> = entries
        .iter()
        .map(|(_, f)| {
            (
                field(f, "op").unwrap().to_string(),
                field(f, "key").unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [("c", 1), ("c", 3), ("c", 4), ("u", 1), ("d", 3), ("c", 5)]
        .iter()
        .map(|(o, k)| (o.to_string(), format!("{{\"id\":{k}}}")))
        .collect();
    assert_eq!(ops, want, "entries of live_rb.t");
    assert_replay_equals_table(&redis, &db, "live_rb", "t");
    assert_replay_equals_table(&redis, &db, "live_rb", "aria");

    let mut con = redis.client();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("cdc:live_rb*")
        .query(&mut con)
        .unwrap();
    let keys: HashSet<String> = keys.into_iter().collect();
    let want: HashSet<String> = ["cdc:live_rb.t", "cdc:live_rb.aria"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(keys, want);
}

#[test]
fn table_filters_with_wildcards_and_system_schemas() {
    let db = shared_mariadb();
    db.exec(
        "CREATE DATABASE flt_a; CREATE DATABASE flt_b; CREATE DATABASE flt_c;
         CREATE TABLE flt_a.orders (id INT PRIMARY KEY);
         CREATE TABLE flt_a.tmp_x (id INT PRIMARY KEY);
         CREATE TABLE flt_b.keep_1 (id INT PRIMARY KEY);
         CREATE TABLE flt_b.keep_12 (id INT PRIMARY KEY);
         CREATE TABLE flt_b.other (id INT PRIMARY KEY);
         CREATE TABLE flt_c.t (id INT PRIMARY KEY);
         CREATE TABLE mysql.cdc_probe (id INT PRIMARY KEY) ENGINE=InnoDB",
    );
    let narrow = redis_following(
        &db,
        &[
            "tables",
            "flt_a.*, flt_b.keep_?",
            "exclude-tables",
            "flt_a.tmp_*",
        ],
    );
    let wide = redis_following(&db, &[]);
    assert_eq!(
        status_field(&narrow, "tables"),
        "2",
        "narrow: captured tables"
    );

    for t in [
        "flt_a.orders",
        "flt_a.tmp_x",
        "flt_b.keep_1",
        "flt_b.keep_12",
        "flt_b.other",
        "flt_c.t",
        "mysql.cdc_probe",
    ] {
        db.exec(&format!("INSERT INTO {t} VALUES (1)"));
    }
    wait_caught_up(&narrow, &db, CATCH_UP);
    wait_caught_up(&wide, &db, CATCH_UP);

    let keys = |r: &RedisServer, pattern: &str| -> HashSet<String> {
        let v: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut r.client())
            .unwrap();
        v.into_iter().collect()
    };
    let set = |v: &[&str]| -> HashSet<String> { v.iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        keys(&narrow, "cdc:*"),
        set(&[
            "cdc:flt_a.orders",
            "cdc:flt_b.keep_1",
            "cdc:offset",
            // The schema history (table shapes) next to the position.
            "cdc:offset:schema"
        ])
    );
    // `*.*` takes every user table, never a system schema.
    let wide_keys = keys(&wide, "cdc:*");
    for k in [
        "cdc:flt_a.orders",
        "cdc:flt_a.tmp_x",
        "cdc:flt_b.keep_1",
        "cdc:flt_b.keep_12",
        "cdc:flt_b.other",
        "cdc:flt_c.t",
    ] {
        assert!(wide_keys.contains(k), "{k} missing in {wide_keys:?}");
    }
    assert!(
        !wide_keys.iter().any(|k| k.starts_with("cdc:mysql.")),
        "a system schema was captured: {wide_keys:?}"
    );

    // Filters change at run time, and nothing is lost over the change.
    narrow.cmd(&["CONFIG", "SET", "cdc.exclude-tables", ""]);
    db.exec("INSERT INTO flt_a.tmp_x VALUES (2); INSERT INTO flt_a.orders VALUES (2)");
    wait_caught_up(&narrow, &db, CATCH_UP);
    assert_replay_equals_table(&narrow, &db, "flt_a", "orders");
    let tmp = stream_entries(&mut narrow.client(), "cdc:flt_a.tmp_x");
    assert_eq!(tmp.len(), 1, "{tmp:?}");
    assert_eq!(field(&tmp[0].1, "key"), Some("{\"id\":2}"));
}

#[test]
fn position_equals_master_status_also_after_uncaptured_traffic() {
    let db = MariaDb::start();
    db.exec(
        "CREATE DATABASE pos_a; CREATE DATABASE pos_b;
         CREATE TABLE pos_a.t (id INT PRIMARY KEY); CREATE TABLE pos_b.t (id INT PRIMARY KEY)",
    );
    let redis = redis_following(&db, &["tables", "pos_a.*"]);
    let master = |db: &MariaDb| {
        let (f, p) = db.master_status();
        format!("{f}:{p}")
    };
    let offset_hash = |redis: &RedisServer| {
        let m = reply_to_map(&redis.cmd(&["HGETALL", "cdc:offset"]));
        format!("{}:{}", m["file"], m["pos"])
    };
    let wait_equal = |redis: &RedisServer, what: &str| {
        let want = master(&db);
        wait_until(
            Duration::from_secs(10),
            &format!("position {want} ({what})"),
            || status_field(redis, "position") == want && offset_hash(redis) == want,
        );
    };
    wait_equal(&redis, "at start");

    for i in 0..20 {
        db.exec(&format!("INSERT INTO pos_a.t VALUES ({i})"));
    }
    wait_equal(&redis, "after captured traffic");
    wait_until(
        Duration::from_secs(5),
        "lag_ms 0 when caught up and idle",
        || status_field(&redis, "lag_ms") == "0",
    );

    // Only uncaptured tables: the position still follows the source.
    for i in 0..20 {
        db.exec(&format!("INSERT INTO pos_b.t VALUES ({i})"));
    }
    wait_equal(&redis, "after uncaptured traffic only");
    db.exec("CREATE TABLE pos_b.ddl (id INT)");
    wait_equal(&redis, "after DDL");
    assert_eq!(status_field(&redis, "lag_ms"), "0");

    // A clean restart of Redis resumes there and writes nothing twice.
    redis.restart();
    wait_state(&redis, "streaming", STREAMING);
    db.exec("INSERT INTO pos_a.t VALUES (100)");
    wait_equal(&redis, "after a Redis restart");
    assert_replay_equals_table(&redis, &db, "pos_a", "t");
    assert_eq!(stream_entries(&mut redis.client(), "cdc:pos_a.t").len(), 21);
}

#[test]
fn mariadb_restart_during_streaming_neither_loses_nor_repeats() {
    let db = MariaDb::start();
    db.exec(
        "CREATE DATABASE mr; CREATE TABLE mr.t (id INT PRIMARY KEY, v VARCHAR(20), d DECIMAL(6,1))",
    );
    let redis = redis_following(&db, &["tables", "mr.*"]);
    let insert = |from: i64| {
        let mut c = db.conn();
        for t in 0..50 {
            let rows: Vec<String> = (0..10)
                .map(|i| {
                    let id = from + t * 10 + i;
                    format!("({id}, 'v{id}', {id}.5)")
                })
                .collect();
            c.query_drop(format!("INSERT INTO mr.t VALUES {}", rows.join(",")))
                .unwrap();
        }
        c.query_drop(format!(
            "UPDATE mr.t SET v = 'upd' WHERE id >= {from} AND id < {}",
            from + 10
        ))
        .unwrap();
    };
    insert(0);
    // Restart while the module may still be working through the first half.
    db.restart();
    insert(1000);
    wait_state(&redis, "streaming", STREAMING);
    wait_caught_up(&redis, &db, CATCH_UP);

    let entries = check_entries(&redis, "mr", "t");
    let pos: HashSet<_> = entries
        .iter()
        .map(|(_, f)| parse_row_pos(field(f, "pos").unwrap()))
        .collect();
    assert_eq!(pos.len(), entries.len(), "duplicate pos");
    assert_eq!(entries.len(), 1020, "1000 inserts and 20 updates");
    assert!(
        pos.iter().any(|p| p.0 == 2),
        "no entry from the binlog file written after the restart"
    );
    assert_replay_equals_table(&redis, &db, "mr", "t");
    let st = status_map(&mut redis.client());
    let (f, p) = db.master_status();
    assert_eq!(st["position"], format!("{f}:{p}"));
}

#[test]
fn binlog_checksum_none_gives_the_right_file_names() {
    let db = MariaDb::start_with(&["--binlog-checksum=NONE"]);
    assert_eq!(
        db.query_one("SELECT @@binlog_checksum").as_deref(),
        Some("NONE")
    );
    db.exec("CREATE DATABASE ck; CREATE TABLE ck.t (id INT PRIMARY KEY)");
    let redis = redis_following(&db, &["tables", "ck.*"]);
    db.exec("INSERT INTO ck.t VALUES (1), (2)");
    wait_caught_up(&redis, &db, CATCH_UP);
    // Resuming from a stored position starts with the artificial rotate again.
    redis.restart();
    wait_state(&redis, "streaming", STREAMING);
    db.exec("FLUSH BINARY LOGS; INSERT INTO ck.t VALUES (3)");
    wait_caught_up(&redis, &db, CATCH_UP);
    let entries = check_entries(&redis, "ck", "t");
    let files: Vec<u64> = entries
        .iter()
        .map(|(_, f)| parse_row_pos(field(f, "pos").unwrap()).0)
        .collect();
    assert_eq!(files, vec![1, 1, 2]);
    assert_replay_equals_table(&redis, &db, "ck", "t");
    // MariaDB writes the BINLOG_CHECKPOINT of a FLUSH BINARY LOGS a moment later: the module's
    // position must reach the end with it (a position-only update follows within a heartbeat).
    wait_until(CATCH_UP, "position at the source's end", || {
        let (f, p) = db.master_status();
        status_field(&redis, "position") == format!("{f}:{p}")
    });
}

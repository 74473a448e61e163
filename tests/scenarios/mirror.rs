//! The mirror (docs/mirror.md): captured tables kept as one Redis hash per row, written in the
//! same atomic unit as the entries; after the snapshot and every change the mirror equals
//! `SELECT *` in text form.

use crate::support::*;
use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) type Rows = BTreeMap<String, BTreeMap<String, String>>;

/// The mirror keys `<key_prefix>:*` (`<mirror-prefix><db>.<table>`) with their fields.
pub(crate) fn mirror_keys(r: &RedisServer, key_prefix: &str) -> Rows {
    let mut c = r.client();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{key_prefix}:*"))
        .query(&mut c)
        .unwrap();
    keys.into_iter()
        .map(|k| {
            let h: BTreeMap<String, String> = redis::cmd("HGETALL").arg(&k).query(&mut c).unwrap();
            (k, h)
        })
        .collect()
}

/// `SELECT cols FROM db_table` as the mirror should hold it under `key_prefix`: keyed by the
/// first column, NULL columns absent.
fn table_rows(db: &MariaDb, key_prefix: &str, db_table: &str, cols: &[&str]) -> Rows {
    db.query_strings(&format!("SELECT {} FROM {db_table}", cols.join(", ")))
        .into_iter()
        .map(|row| {
            let key = format!("{key_prefix}:{}", row[0].clone().unwrap_or_default());
            let fields = cols
                .iter()
                .zip(row)
                .filter_map(|(n, v)| v.map(|v| (n.to_string(), v)))
                .collect();
            (key, fields)
        })
        .collect()
}

/// The mirror keys of `test.m` under mirror prefix `prefix`.
fn mirror(r: &RedisServer, prefix: &str) -> Rows {
    mirror_keys(r, &format!("{prefix}test.m"))
}

/// `SELECT *` of `test.m` as the mirror should hold it under mirror prefix `prefix`.
fn table(db: &MariaDb, prefix: &str) -> Rows {
    table_rows(
        db,
        &format!("{prefix}test.m"),
        "test.m",
        &["id", "name", "amount", "note"],
    )
}

/// A field of `table`'s row in CDC.TABLES (null when the row has no such field).
fn tables_field(r: &RedisServer, table: &str, field: &str) -> serde_json::Value {
    let rows = value_to_json(&r.cmd(&["CDC.TABLES"]));
    let row = rows
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|row| row.to_string().contains(&format!("\"{table}\"")))
        })
        .and_then(|row| row.as_array().cloned())
        .unwrap_or_default();
    row.iter()
        .position(|v| v == field)
        .and_then(|i| row.get(i + 1).cloned())
        .unwrap_or_default()
}

fn wait_mirror_equal(r: &RedisServer, db: &MariaDb, prefix: &str, what: &str) {
    wait_caught_up(r, db, Duration::from_secs(30));
    wait_until(Duration::from_secs(30), what, || {
        mirror(r, prefix) == table(db, prefix)
    });
}

#[test]
fn the_hash_mirror_equals_the_table_through_snapshot_changes_truncate_and_resync() {
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.m (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, amount DECIMAL(10,2), note VARCHAR(20));
         INSERT INTO test.m VALUES (1, 'one', 1.50, 'n1'), (2, 'two', NULL, NULL), (3, 'three', 3.00, 'x');
         CREATE TABLE test.nokey (a INT, b INT); INSERT INTO test.nokey VALUES (1, 1);",
    );
    let r = RedisServer::start(&[
        "mysql-url",
        &db.url(),
        "mirror",
        "hash",
        "mirror-prefix",
        "m:",
    ]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    wait_mirror_equal(&r, &db, "m:", "the mirror after the snapshot");
    assert_eq!(mirror(&r, "m:").len(), 3);
    // The stream is unaffected by the mirror; the keyless table has no mirror keys.
    assert_eq!(stream_entries(&mut r.client(), "cdc:test.m").len(), 3);
    // The counters count stream entries, not the mirror's notes of the snapshot's begin and end.
    assert_eq!(tables_field(&r, "test.m", "entries"), 3);
    assert_eq!(tables_field(&r, "test.nokey", "entries"), 1);
    assert_eq!(status_field(&r, "events"), "4");
    let nokey: Vec<String> = redis::cmd("KEYS")
        .arg("m:test.nokey*")
        .query(&mut r.client())
        .unwrap();
    assert!(nokey.is_empty(), "{nokey:?}");
    // CDC.TABLES says which tables are mirrored, and how many keys each has.
    assert_eq!(tables_field(&r, "test.m", "mirror"), "hash");
    assert_eq!(tables_field(&r, "test.m", "keys"), 3);
    assert_eq!(
        tables_field(&r, "test.nokey", "mirror"),
        "no: no primary key"
    );
    assert_eq!(
        tables_field(&r, "test.nokey", "keys"),
        serde_json::Value::Null
    );

    db.exec(
        "INSERT INTO test.m VALUES (4, 'four', 4.25, NULL);
         UPDATE test.m SET note = NULL, amount = 9.99 WHERE id = 1;
         UPDATE test.m SET note = 'set' WHERE id = 2;
         DELETE FROM test.m WHERE id = 3;
         UPDATE test.m SET id = 40 WHERE id = 4;
         BEGIN; INSERT INTO test.m VALUES (5, 'five', 5, 'a'); UPDATE test.m SET name = 'FIVE' WHERE id = 5; COMMIT;",
    );
    wait_mirror_equal(&r, &db, "m:", "the mirror after changes");
    let one = &mirror(&r, "m:")["m:test.m:1"];
    assert!(
        !one.contains_key("note"),
        "a column set to NULL leaves the hash: {one:?}"
    );
    assert_eq!(one["amount"], "9.99");
    assert_eq!(tables_field(&r, "test.m", "keys"), 4);

    // A field the row does not have (as a column dropped or renamed leaves until the table's
    // re-read): the next update of the row writes it whole, in the new shape.
    r.cmd(&["HSET", "m:test.m:2", "gone", "x"]);
    db.exec("UPDATE test.m SET amount = 2.5 WHERE id = 2");
    wait_mirror_equal(
        &r,
        &db,
        "m:",
        "the mirror after an update of a row with a stale field",
    );

    // Rows deleted where the binlog does not show it, then a resync: their keys go.
    let mut c = db.conn();
    use mysql::prelude::Queryable;
    c.query_drop("SET SESSION sql_log_bin = 0").unwrap();
    c.query_drop("DELETE FROM test.m WHERE id IN (1, 2)")
        .unwrap();
    c.query_drop("SET SESSION sql_log_bin = 1").unwrap();
    assert_eq!(
        mirror(&r, "m:").len(),
        4,
        "the module cannot see those deletes"
    );
    assert_eq!(value_to_string(&r.cmd(&["CDC.RESYNC", "test.m"])), "OK");
    wait_until(Duration::from_secs(30), "the resync", || {
        status(&r).get("snapshot").map(String::as_str) == Some("[]")
    });
    wait_mirror_equal(&r, &db, "m:", "the mirror after the resync");
    assert_eq!(mirror(&r, "m:").len(), 2);
    assert_eq!(
        tables_field(&r, "test.m", "keys"),
        2,
        "exact again after a resync"
    );

    db.exec("TRUNCATE TABLE test.m");
    wait_mirror_equal(&r, &db, "m:", "the mirror after TRUNCATE");
    assert!(mirror(&r, "m:").is_empty());
    assert_eq!(tables_field(&r, "test.m", "keys"), 0);
    db.exec("INSERT INTO test.m VALUES (7, 'seven', 7, NULL)");
    wait_mirror_equal(&r, &db, "m:", "the mirror after a new insert");
    assert_eq!(tables_field(&r, "test.m", "keys"), 1);

    // Column DDL: the rows take the new shape (the table is re-read by itself).
    db.exec(
        "INSERT INTO test.m VALUES (8, 'eight', NULL, 'n8');
         ALTER TABLE test.m ADD COLUMN extra INT NOT NULL DEFAULT 7;
         ALTER TABLE test.m DROP COLUMN note;
         UPDATE test.m SET extra = 9 WHERE id = 8;",
    );
    wait_caught_up(&r, &db, Duration::from_secs(30));
    let cols = ["id", "name", "amount", "extra"];
    wait_until(
        Duration::from_secs(30),
        "the mirror in the new shape",
        || mirror(&r, "m:") == table_rows(&db, "m:test.m", "test.m", &cols),
    );
}

/// `cdc.streams no`: the mirror and the position only, no stream entries.
#[test]
fn with_streams_off_only_the_mirror_is_written() {
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.m (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, amount DECIMAL(10,2), note VARCHAR(20));
         INSERT INTO test.m VALUES (1, 'one', 1.50, 'n1');",
    );
    let r = RedisServer::start(&["mysql-url", &db.url(), "mirror", "hash", "streams", "no"]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    db.exec("INSERT INTO test.m VALUES (2, 'two', 2, NULL); UPDATE test.m SET name = 'uno' WHERE id = 1;");
    wait_mirror_equal(&r, &db, "", "the mirror");
    assert!(!matches!(
        r.cmd(&["EXISTS", "cdc:test.m"]),
        redis::Value::Int(1)
    ));
    assert_eq!(mirror(&r, "").len(), 2);
}

/// A composite key whose string parts hold `:` (or `\`): rows that joined with `:` alone would
/// share one key (`('x:y','z')`, `('x','y:z')`) each keep their own, the string parts escaped
/// (docs/mirror.md), through the snapshot, inserts, updates, a key change and deletes.
#[test]
fn string_key_parts_with_colons_never_make_two_rows_share_a_key() {
    let db = MariaDb::start();
    db.exec(
        r"CREATE TABLE test.ck (a VARCHAR(20), b VARCHAR(20), v INT, PRIMARY KEY (a, b));
         INSERT INTO test.ck VALUES ('x:y', 'z', 1), ('x', 'y:z', 2), ('a\\', 'b', 3), ('a', '\\b', 4);",
    );
    let r = RedisServer::start(&["mysql-url", &db.url(), "mirror", "hash"]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    let escape = |s: &str| s.replace('\\', r"\\").replace(':', r"\:");
    let expected = |db: &MariaDb| -> Rows {
        db.query_strings("SELECT a, b, v FROM test.ck")
            .into_iter()
            .map(|row| {
                let [a, b, v] = [0, 1, 2].map(|i| row[i].clone().unwrap_or_default());
                let key = format!("test.ck:{}:{}", escape(&a), escape(&b));
                let fields = [("a", a), ("b", b), ("v", v)]
                    .map(|(n, x)| (n.to_string(), x))
                    .into();
                (key, fields)
            })
            .collect()
    };
    assert_eq!(
        mirror_keys(&r, "test.ck"),
        expected(&db),
        "after the snapshot"
    );
    assert_eq!(mirror_keys(&r, "test.ck").len(), 4);
    db.exec(
        "INSERT INTO test.ck VALUES ('p:q', 'r', 5), ('p', 'q:r', 6);
         UPDATE test.ck SET v = 20 WHERE a = 'x';
         UPDATE test.ck SET b = 's:t' WHERE a = 'p:q';
         DELETE FROM test.ck WHERE a = 'x:y';",
    );
    wait_caught_up(&r, &db, Duration::from_secs(30));
    wait_until(Duration::from_secs(30), "the mirror", || {
        mirror_keys(&r, "test.ck") == expected(&db)
    });
    assert_eq!(mirror_keys(&r, "test.ck").len(), 5);
}

/// Turning the mirror on for tables already streamed fills it by a re-read (and a new prefix
/// fills the new keys).
#[test]
fn turning_the_mirror_on_at_run_time_fills_it() {
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.m (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, amount DECIMAL(10,2), note VARCHAR(20));
         INSERT INTO test.m VALUES (1, 'one', 1.50, 'n1'), (2, 'two', NULL, NULL);",
    );
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    db.exec("INSERT INTO test.m VALUES (3, 'three', 3, NULL)");
    wait_caught_up(&r, &db, Duration::from_secs(30));
    assert!(mirror(&r, "").is_empty());
    r.cmd(&["CONFIG", "SET", "cdc.mirror", "hash"]);
    wait_mirror_equal(
        &r,
        &db,
        "",
        "the mirror filled after CONFIG SET cdc.mirror hash",
    );
    assert_eq!(mirror(&r, "").len(), 3);
    assert_eq!(tables_field(&r, "test.m", "keys"), 3);
    db.exec("UPDATE test.m SET note = 'x' WHERE id = 3");
    wait_mirror_equal(&r, &db, "", "the mirror after an update");
}

/// `cdc.mirror json` without RedisJSON: refused at load and by CONFIG SET, naming the module.
#[test]
fn json_mirror_without_redisjson_is_refused_naming_it() {
    let db = MariaDb::start();
    // As a load argument: the module does not load, and says why.
    let r = RedisServer::start_plain();
    let module = module_path();
    let url = db.url();
    let refused = r.try_cmd(&[
        "MODULE",
        "LOAD",
        module.to_str().unwrap_or_default(),
        "mysql-url",
        &url,
        "mirror",
        "json",
    ]);
    assert!(refused.is_err(), "loaded with mirror json and no RedisJSON");
    assert!(
        r.log().contains("RedisJSON"),
        "the log names RedisJSON: {}",
        r.log()
    );
    // CONFIG SET refuses it and keeps the mirror as it was.
    let r = RedisServer::start(&["mysql-url", &url, "mirror", "hash"]);
    let e = r
        .try_cmd(&["CONFIG", "SET", "cdc.mirror", "json"])
        .expect_err("CONFIG SET cdc.mirror json without RedisJSON");
    assert!(e.to_string().contains("RedisJSON"), "{e}");
    let v = r.cmd(&["CONFIG", "GET", "cdc.mirror"]);
    assert!(format!("{v:?}").contains("hash"), "{v:?}");
}

/// On Valkey with RediSearch and RedisJSON: the JSON mirror is the flat `after` object of each
/// row, and FT.SEARCH over the hash mirror finds a row by a word of a VARCHAR column once
/// CDC.WAIT says its transaction is written.
#[test]
fn json_mirror_and_redisearch_over_the_hash_mirror_on_valkey() {
    let Some(stack) = Flavor::valkey_with_stack() else {
        return;
    };
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.m (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, amount DECIMAL(10,2), note VARCHAR(20));
         INSERT INTO test.m VALUES (1, 'red apple', 1.50, 'n1'), (2, 'green pear', NULL, NULL);",
    );
    let json = RedisServer::start_on(
        &stack,
        &[],
        &[
            "mysql-url",
            &db.url(),
            "mirror",
            "json",
            "mirror-prefix",
            "j:",
        ],
    );
    let hash = RedisServer::start_on(&stack, &[], &["mysql-url", &db.url(), "mirror", "hash"]);
    hash.cmd(&[
        "FT.CREATE",
        "idx",
        "ON",
        "HASH",
        "PREFIX",
        "1",
        "test.m:",
        "SCHEMA",
        "name",
        "TEXT",
        "amount",
        "NUMERIC",
    ]);
    for r in [&json, &hash] {
        wait_snapshot_done_and_caught_up(r, &db, Duration::from_secs(60));
    }
    let doc = value_to_string(&json.cmd(&["JSON.GET", "j:test.m:1"]));
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"id": 1, "name": "red apple", "amount": "1.50", "note": "n1"})
    );

    let mut conn = db.conn();
    use mysql::prelude::Queryable;
    for i in 3..=30 {
        conn.query_drop(format!(
            "INSERT INTO test.m VALUES ({i}, 'word{i} basket', {i}, NULL)"
        ))
        .unwrap();
        let gtid = last_gtid(&mut conn);
        for r in [&json, &hash] {
            cdc_wait(&mut r.client(), &gtid);
        }
        let found = format!(
            "{:?}",
            hash.cmd(&["FT.SEARCH", "idx", &format!("@name:word{i}"), "NOCONTENT"])
        );
        assert!(
            found.contains(&format!("test.m:{i}")),
            "row {i} not found after CDC.WAIT: {found}"
        );
        let doc = value_to_string(&json.cmd(&["JSON.GET", &format!("j:test.m:{i}"), "$.name"]));
        assert!(doc.contains(&format!("word{i} basket")), "{doc}");
    }
    conn.query_drop("DELETE FROM test.m WHERE id = 3").unwrap();
    conn.query_drop("UPDATE test.m SET amount = 99 WHERE id = 4")
        .unwrap();
    let gtid = last_gtid(&mut conn);
    for r in [&json, &hash] {
        cdc_wait(&mut r.client(), &gtid);
    }
    let found = format!(
        "{:?}",
        hash.cmd(&["FT.SEARCH", "idx", "@amount:[99 99]", "NOCONTENT"])
    );
    assert!(found.contains("test.m:4"), "{found}");
    assert!(!matches!(
        json.cmd(&["EXISTS", "j:test.m:3"]),
        redis::Value::Int(1)
    ));
    assert_eq!(mirror(&hash, ""), table(&db, ""));
}

/// kill -9 of redis-server (AOF always) under a load of small transactions, twice: the mirror
/// still equals the tables; a replica's mirror equals the primary's.
#[test]
fn the_mirror_survives_kill9_under_load_and_replicates() {
    let db = MariaDb::start();
    let url = db.url();
    let r = RedisServer::start(&module_args(&url, "mk.*", &["mirror", "hash"]));
    wait_state(&r, "streaming", STREAMING);
    create_load_tables(&db, "mk");
    let load = Load::start(db.port(), "mk", 3, LOAD_PAUSE);
    for round in 0..2 {
        load.wait_progress(100, Duration::from_secs(60));
        wait_until(Duration::from_secs(30), "mirror keys", || {
            !mirror_keys(&r, "mk.log").is_empty()
        });
        r.kill9();
        load.wait_progress(30 + 30 * round, Duration::from_secs(60));
        r.restart();
        wait_state(&r, "streaming", STREAMING);
    }
    let port = r.port().to_string();
    let replica = RedisServer::start_with(
        &["--replicaof", "127.0.0.1", &port],
        &module_args(&url, "mk.*", &["mirror", "hash"]),
    );
    load.wait_progress(100, Duration::from_secs(60));
    load.stop();
    wait_caught_up(&r, &db, CATCH_UP);
    for (t, cols) in [
        ("mk.t", &["id", "v", "note"][..]),
        ("mk.log", &["id", "note"][..]),
    ] {
        let expected = table_rows(&db, t, t, cols);
        assert!(!expected.is_empty());
        assert_eq!(
            mirror_keys(&r, t),
            expected,
            "{t}: mirror differs from the table"
        );
        // The key count is written in the same unit as the keys: exact through the kills.
        assert_eq!(
            tables_field(&r, t, "keys"),
            expected.len(),
            "{t}: key count"
        );
        wait_until(Duration::from_secs(60), "the replica's mirror", || {
            mirror_keys(&replica, t) == expected
        });
    }
}

/// A prepared XA transaction reaches the mirror at XA COMMIT (held with its entries until
/// then), and never after XA ROLLBACK.
#[test]
fn xa_transactions_reach_the_mirror_at_commit_only() {
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.m (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, amount DECIMAL(10,2), note VARCHAR(20))",
    );
    let r = RedisServer::start(&["mysql-url", &db.url(), "mirror", "hash", "streams", "no"]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    db.exec(
        "XA START 'rb'; INSERT INTO test.m VALUES (1, 'rolled back', 1, NULL); XA END 'rb'; XA PREPARE 'rb';",
    );
    wait_caught_up(&r, &db, Duration::from_secs(30));
    assert!(
        mirror(&r, "").is_empty(),
        "prepared rows reached the mirror"
    );
    db.exec("XA ROLLBACK 'rb';");
    db.exec(
        "XA START 'ok'; INSERT INTO test.m VALUES (2, 'committed', 2, NULL); XA END 'ok'; XA PREPARE 'ok';",
    );
    wait_caught_up(&r, &db, Duration::from_secs(30));
    assert!(
        mirror(&r, "").is_empty(),
        "prepared rows reached the mirror"
    );
    db.exec("XA COMMIT 'ok';");
    // Also CDC.STATUS shows the position of the XA COMMIT (it showed none after the released
    // rows were counted).
    wait_mirror_equal(&r, &db, "", "the mirror after XA COMMIT");
    assert_eq!(mirror(&r, "").len(), 1);
}

/// `test.m` with `rows` rows, mirrored under `m:` into a redis-server that takes DEBUG
/// commands (DEBUG POPULATE fills it with other keys), after its snapshot.
fn mirrored_with_debug(rows: u32) -> (MariaDb, RedisServer) {
    let db = MariaDb::start();
    db.exec(&format!(
        "CREATE TABLE test.m (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, amount DECIMAL(10,2), note VARCHAR(20));
         INSERT INTO test.m SELECT seq, CONCAT('n', seq), seq / 4, NULL FROM test.seq_1_to_{rows};",
    ));
    let url = db.url();
    let args = ["mysql-url", &url, "mirror", "hash", "mirror-prefix", "m:"];
    let r = RedisServer::start_with(&["--enable-debug-command", "yes"], &args);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    wait_mirror_equal(&r, &db, "m:", "the mirror after the snapshot");
    (db, r)
}

/// In a Redis of many other keys, a table's keys are found by a SCAN of the whole keyspace
/// (TRUNCATE, a re-read's end): that is done ahead of the marker in holds of about 1 ms, not
/// in one hold that blocks Redis for as long as the SCAN takes. The mirror equals the table
/// after each, the other keys are untouched, and a replica equals its primary.
#[test]
fn a_truncate_and_a_resync_end_sweep_a_large_keyspace_in_short_holds() {
    const FILLER: u64 = 1_000_000;
    let (db, r) = mirrored_with_debug(2000);
    let url = db.url();
    let args = ["mysql-url", &url, "mirror", "hash", "mirror-prefix", "m:"];
    let replica =
        RedisServer::start_with(&["--replicaof", "127.0.0.1", &r.port().to_string()], &args);
    r.cmd(&["DEBUG", "POPULATE", &FILLER.to_string(), "filler"]);
    let dbsize = |r: &RedisServer| match r.cmd(&["DBSIZE"]) {
        redis::Value::Int(n) => n as u64,
        other => panic!("DBSIZE: {other:?}"),
    };
    let before = dbsize(&r);

    // Rows deleted where the binlog does not show it, then a resync: their keys go.
    let mut c = db.conn();
    use mysql::prelude::Queryable;
    c.query_drop("SET SESSION sql_log_bin = 0").unwrap();
    c.query_drop("DELETE FROM test.m WHERE id > 1500").unwrap();
    c.query_drop("SET SESSION sql_log_bin = 1").unwrap();
    assert_eq!(value_to_string(&r.cmd(&["CDC.RESYNC", "test.m"])), "OK");
    wait_until(Duration::from_secs(60), "the resync", || {
        status(&r).get("snapshot").map(String::as_str) == Some("[]")
    });
    wait_mirror_equal(&r, &db, "m:", "the mirror after the resync");
    assert_eq!(dbsize(&r), before - 500, "only the deleted rows' keys go");

    // TRUNCATE, then new rows: the sweep deletes the old keys, never the new ones.
    db.exec("TRUNCATE TABLE test.m; INSERT INTO test.m VALUES (1, 'again', NULL, NULL), (9999, 'new', 1, 'x');");
    wait_mirror_equal(&r, &db, "m:", "the mirror after TRUNCATE and new rows");
    assert_eq!(mirror(&r, "m:").len(), 2);
    assert_eq!(tables_field(&r, "test.m", "keys"), 2);
    assert_eq!(dbsize(&r), before - 2000 + 2);

    // Each sweep took many holds of about 1 ms of work, not one of the whole SCAN (with a
    // million keys, tens of ms of CPU): the longest hold's CPU time stays far below that.
    let cpu_us: u64 = info_field(&r, "cdc", "cdc_max_lock_cpu_us")
        .and_then(|v| v.parse().ok())
        .expect("INFO cdc max_lock_cpu_us");
    eprintln!("longest lock hold: {cpu_us} µs of CPU");
    assert!(cpu_us < 25_000, "longest lock hold {cpu_us} µs of CPU");

    wait_until(Duration::from_secs(60), "the replica", || {
        redis::cmd("DBSIZE")
            .query::<u64>(&mut replica.client())
            .is_ok_and(|n| n == dbsize(&r))
    });
    assert_eq!(mirror(&replica, "m:"), mirror(&r, "m:"));
}

/// A re-read's end is swept ahead of its hold, and its last chunk of rows is written in that
/// hold: rows that exist in the source all along never vanish from the mirror meanwhile
/// (a client polling them always finds all).
#[test]
fn a_re_reads_end_never_hides_rows_that_exist() {
    let (db, r) = mirrored_with_debug(600);
    r.cmd(&["DEBUG", "POPULATE", "1000000", "filler"]);
    let keys: Vec<String> = (1..=600).map(|i| format!("m:test.m:{i}")).collect();
    let mut c = r.client();
    assert_eq!(value_to_string(&r.cmd(&["CDC.RESYNC", "test.m"])), "OK");
    let started = std::time::Instant::now();
    let mut fewest = 600i64;
    let mut polls = 0u64;
    // Until the re-read is over, and a while after (its end's sweep and hold).
    let mut done_at: Option<std::time::Instant> = None;
    while done_at.is_none_or(|d| d.elapsed() < Duration::from_secs(1)) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the resync did not end"
        );
        let n: i64 = redis::cmd("EXISTS").arg(&keys).query(&mut c).unwrap();
        fewest = fewest.min(n);
        polls += 1;
        if done_at.is_none() && status(&r).get("snapshot").map(String::as_str) == Some("[]") {
            done_at = Some(std::time::Instant::now());
        }
    }
    wait_mirror_equal(&r, &db, "m:", "the mirror after the resync");
    assert_eq!(
        fewest, 600,
        "rows that exist in the source vanished from the mirror during the resync ({polls} polls)"
    );
}

/// A table that loses its primary key is no longer mirrored: its re-read (a key change) drops
/// its keys; one that gains a key is re-read into the mirror.
#[test]
fn a_table_losing_or_gaining_its_key_leaves_or_joins_the_mirror() {
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.m (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, amount DECIMAL(10,2), note VARCHAR(20));
         INSERT INTO test.m VALUES (1, 'one', 1, NULL), (2, 'two', 2, 'x');
         CREATE TABLE test.k (id INT NOT NULL, v INT); INSERT INTO test.k VALUES (1, 1);",
    );
    let url = db.url();
    let r = RedisServer::start(&["mysql-url", &url, "mirror", "hash"]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    wait_mirror_equal(&r, &db, "", "the mirror after the snapshot");
    assert_eq!(tables_field(&r, "test.m", "mirror"), "hash");
    assert_eq!(tables_field(&r, "test.k", "mirror"), "no: no primary key");
    // A keyless table gaining a key joins the mirror, and CDC.TABLES says so in this session.
    db.exec("ALTER TABLE test.k ADD PRIMARY KEY (id)");
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    wait_until(Duration::from_secs(30), "test.k's mirror key", || {
        value_to_string(&r.cmd(&["EXISTS", "test.k:1"])) == "1"
    });
    assert_eq!(tables_field(&r, "test.k", "mirror"), "hash");
    assert_eq!(tables_field(&r, "test.k", "keys"), 1);
    db.exec(
        "ALTER TABLE test.m DROP PRIMARY KEY; INSERT INTO test.m VALUES (3, 'three', 3, NULL);",
    );
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    wait_until(Duration::from_secs(30), "the keys gone", || {
        mirror(&r, "").is_empty()
    });
    // CDC.TABLES follows the key change in this session, not only the next one.
    assert_eq!(tables_field(&r, "test.m", "mirror"), "no: no primary key");
    assert_eq!(tables_field(&r, "test.m", "keys"), serde_json::Value::Null);
    db.exec("ALTER TABLE test.m ADD PRIMARY KEY (id); UPDATE test.m SET note = 'y' WHERE id = 3;");
    wait_mirror_equal(&r, &db, "", "the mirror after the key came back");
    assert_eq!(mirror(&r, "").len(), 3);
    assert_eq!(tables_field(&r, "test.m", "mirror"), "hash");
    assert_eq!(tables_field(&r, "test.m", "keys"), 3);
    // A key change with no row change after it: CDC.TABLES says so once it is processed.
    db.exec("ALTER TABLE test.m DROP PRIMARY KEY");
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    assert_eq!(tables_field(&r, "test.m", "mirror"), "no: no primary key");
}

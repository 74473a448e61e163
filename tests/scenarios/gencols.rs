//! Generated columns (VIRTUAL, PERSISTENT/STORED) and INVISIBLE columns (docs/types.md,
//! "Generated and invisible columns"): the binlog's rows carry every column of the table, the
//! virtual ones computed and the invisible ones too; the snapshot selects the same columns by
//! name, so `r` and `c`/`u`/`d` entries have one set of columns, in the table's order, with
//! `binlog_row_metadata` FULL or MINIMAL (names then from information_schema and the DDL the
//! module follows). Replay equals a SELECT of every column (`SELECT *` plus the invisible
//! ones); the hash mirror too, an invisible key included. DDL that adds, drops or hides such
//! columns, while streaming or while the module is paused, leaves every row with the shape it
//! was written with. MariaDB's hidden hash columns of long UNIQUE indexes (`DB_ROW_HASH_<n>`,
//! which no SELECT shows) are in no entry. The Debezium formats carry the same columns.

use crate::support::*;
use std::collections::BTreeMap;

/// Every column of `schema.table` in ordinal order, and those `SELECT *` shows.
fn columns(db: &MariaDb, schema: &str, table: &str) -> (Vec<String>, Vec<String>) {
    let rows = db.query_strings(&format!(
        "SELECT COLUMN_NAME, EXTRA FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA='{schema}' AND TABLE_NAME='{table}' ORDER BY ORDINAL_POSITION"
    ));
    let text = |r: &Vec<Option<String>>, i: usize| r[i].clone().unwrap_or_default();
    let all = rows.iter().map(|r| text(r, 0)).collect();
    let visible = rows
        .iter()
        .filter(|r| !text(r, 1).to_ascii_uppercase().contains("INVISIBLE"))
        .map(|r| text(r, 0))
        .collect();
    (all, visible)
}

/// The column names of a row object of an entry, in order.
fn names_of(fields: &[(String, String)], image: &str) -> Option<Vec<String>> {
    let text = field(fields, image)?;
    let obj: serde_json::Value = serde_json::from_str(text).expect("row JSON");
    Some(obj.as_object().expect("object").keys().cloned().collect())
}

/// Every `before`/`after` image of `list` has exactly the columns `names`, in that order.
fn assert_images_have(list: &[StreamEntry], names: &[String]) {
    let mut seen = 0;
    for (id, fields) in list {
        for image in ["before", "after"] {
            if let Some(got) = names_of(fields, image) {
                assert_eq!(got, names, "entry {id} {image}: {fields:?}");
                seen += 1;
            }
        }
    }
    assert!(seen > 0, "no row images in {list:?}");
}

/// Replay of `schema.table`'s stream equals the SELECT of every column (and its `r` and
/// change entries carry the same columns, those of the table now).
fn assert_replay_equals_every_column(r: &RedisServer, db: &MariaDb, schema: &str, table: &str) {
    let list = entries(r, schema, table);
    let (all, visible) = columns(db, schema, table);
    assert_images_have(&list, &all);
    // `SELECT *`'s columns are among them, in the same order.
    let shown: Vec<&String> = all.iter().filter(|c| visible.contains(c)).collect();
    assert_eq!(shown, visible.iter().collect::<Vec<_>>());
    assert_replays_to_every_column(&list, db, schema, table);
}

/// Replay of `list` (the stream of `schema.table`) equals the SELECT of every column.
fn assert_replays_to_every_column(list: &[StreamEntry], db: &MariaDb, schema: &str, table: &str) {
    let replayed = replay_canonical(list);
    let mut expected = table_json_all_columns(db, schema, table);
    // JSON columns are embedded in the entries: parse the SELECT's text.
    for row in expected.values_mut() {
        if let Some(j) = row.get_mut("j") {
            if let Some(text) = j.as_str() {
                *j = serde_json::from_str(text).expect("JSON column");
            }
        }
    }
    assert!(
        replayed == expected,
        "replay of {schema}.{table} != SELECT of every column\nreplay: {replayed:?}\ntable: {expected:?}\nentries: {:#?}",
        entry_lines(list)
    );
}

type Rows = BTreeMap<String, BTreeMap<String, String>>;

/// The hash mirror keys `<prefix><schema>.<table>:*` with their fields.
fn mirror(r: &RedisServer, prefix: &str, schema: &str, table: &str) -> Rows {
    crate::mirror::mirror_keys(r, &format!("{prefix}{schema}.{table}"))
}

/// Every column of `schema.table` as the hash mirror holds it (text, NULL absent), keyed by
/// `key_col` (a one-column key).
fn mirror_of_table(db: &MariaDb, prefix: &str, schema: &str, table: &str, key_col: &str) -> Rows {
    let (all, _) = columns(db, schema, table);
    let quoted: Vec<String> = all.iter().map(|c| format!("`{c}`")).collect();
    let k = all.iter().position(|c| c == key_col).expect("key column");
    db.query_strings(&format!(
        "SELECT {} FROM `{schema}`.`{table}`",
        quoted.join(", ")
    ))
    .into_iter()
    .map(|row| {
        let key = format!(
            "{prefix}{schema}.{table}:{}",
            row[k].clone().unwrap_or_default()
        );
        let fields = all
            .iter()
            .zip(row)
            .filter_map(|(n, v)| v.map(|v| (n.clone(), v)))
            .map(|(n, v)| {
                // The JSON column in the mirror's compact form.
                let v = match n.as_str() {
                    "j" => serde_json::from_str::<serde_json::Value>(&v)
                        .expect("JSON column")
                        .to_string(),
                    _ => v,
                };
                (n, v)
            })
            .collect();
        (key, fields)
    })
    .collect()
}

const TABLES: &str = "CREATE DATABASE gc;
    CREATE TABLE gc.t (
      id INT PRIMARY KEY,
      a INT,
      b VARCHAR(20),
      v INT AS (a * 10) VIRTUAL,
      vi INT GENERATED ALWAYS AS (a + 1) VIRTUAL,
      s VARCHAR(40) AS (CONCAT(b, ':', a)) PERSISTENT,
      h INT INVISIBLE DEFAULT 7,
      tx TEXT,
      vt VARCHAR(10) AS (LEFT(tx, 3)) VIRTUAL,
      d DECIMAL(8,2) GENERATED ALWAYS AS (a / 4) STORED,
      j JSON AS (JSON_OBJECT('a', a)) VIRTUAL,
      INDEX (vi));
    CREATE TABLE gc.k (rid INT NOT NULL INVISIBLE DEFAULT 0, a INT, v INT AS (a * 2) VIRTUAL, UNIQUE KEY (rid));
    CREATE TABLE gc.n (a INT, v INT AS (a - 1) VIRTUAL, h VARCHAR(5) INVISIBLE);
    CREATE TABLE gc.other (id INT PRIMARY KEY, a INT);
    INSERT INTO gc.t (id, a, b, h, tx) VALUES (1, 1, 'one', 11, 'alpha'), (2, 2, 'two', NULL, NULL), (3, 3, 'three', 33, 'gamma');
    INSERT INTO gc.k (rid, a) VALUES (1, 10), (2, 20);
    INSERT INTO gc.n (a, h) VALUES (1, 'x'), (2, NULL);
    INSERT INTO gc.other VALUES (1, 100), (3, 300);";

/// The changes: every kind of DML whose rows events carry the computed columns.
const CHANGES: &str = "INSERT INTO gc.t (id, a, b, h, tx) VALUES (4, 4, 'four', 44, 'delta');
    INSERT INTO gc.t (id, a, b) VALUES (1, 0, 'dup') ON DUPLICATE KEY UPDATE a = a + 100;
    REPLACE INTO gc.t (id, a, b, h, tx) VALUES (2, 22, 'two2', 2, 'beta');
    UPDATE gc.t SET b = 'by-index' WHERE vi = 4;
    UPDATE gc.t SET tx = 'epsilon' WHERE id = 4;
    UPDATE gc.t SET h = h + 1 WHERE id = 1;
    UPDATE gc.t JOIN gc.other o ON o.id = gc.t.id SET gc.t.a = o.a WHERE o.id = 3;
    INSERT INTO gc.t (id, a, b, tx) SELECT id + 10, a, 'copy', 'zeta' FROM gc.other;
    DELETE gc.t FROM gc.t JOIN gc.other o ON o.id + 10 = gc.t.id WHERE o.id = 1;
    DELETE FROM gc.t WHERE v = 40;
    UPDATE gc.t SET id = 5 WHERE id = 2;
    INSERT INTO gc.k (rid, a) VALUES (3, 30);
    UPDATE gc.k SET a = 11 WHERE rid = 1;
    UPDATE gc.k SET rid = 4 WHERE rid = 2;
    DELETE FROM gc.k WHERE v = 60;
    INSERT INTO gc.n (a, h) VALUES (3, 'z');
    UPDATE gc.n SET h = 'y' WHERE a = 2;
    DELETE FROM gc.n WHERE v = 0;";

fn generated_and_invisible_columns(metadata: &str) {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = MariaDb::start_with(&[metadata]);
    db.exec(TABLES);
    let url = db.url();
    let r = RedisServer::start(&[
        "mysql-url",
        &url,
        "tables",
        "gc.*",
        "mirror",
        "hash",
        "mirror-prefix",
        "m:",
    ]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    // The snapshot: every column, the invisible ones and the computed ones.
    let first = check_entries(&r, "gc", "t");
    assert_eq!(
        field(&first[0].1, "after"),
        Some(
            r#"{"id":1,"a":1,"b":"one","v":10,"vi":2,"s":"one:1","h":11,"tx":"alpha","vt":"alp","d":"0.25","j":{"a":1}}"#
        ),
    );
    for table in ["t", "k", "n"] {
        assert_replay_equals_every_column(&r, &db, "gc", table);
    }
    db.exec(CHANGES);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let list = check_entries(&r, "gc", "t");
    let ops: String = list.iter().filter_map(|(_, f)| field(f, "op")).collect();
    // (A key change is a `d` and a `c`: docs/events.md.)
    assert_eq!(ops, "rrrcuuuuuuccdddc", "{:#?}", entry_lines(&list));
    for table in ["t", "k", "n"] {
        assert_replay_equals_every_column(&r, &db, "gc", table);
    }
    // The stream's images carry what the table's rows had, computed columns included: the
    // row updated through the indexed virtual column, before and after.
    let by_index = list
        .iter()
        .find(|(_, f)| field(f, "after").is_some_and(|a| a.contains("by-index")))
        .expect("the update through vi");
    assert_eq!(
        field(&by_index.1, "before"),
        Some(
            r#"{"id":3,"a":3,"b":"three","v":30,"vi":4,"s":"three:3","h":33,"tx":"gamma","vt":"gam","d":"0.75","j":{"a":3}}"#
        )
    );
    // The mirror holds the same columns; a table keyed by an invisible column is mirrored by it.
    for (table, key) in [("t", "id"), ("k", "rid")] {
        assert_eq!(
            mirror(&r, "m:", "gc", table),
            mirror_of_table(&db, "m:", "gc", table, key)
        );
    }
    assert_eq!(
        mirror(&r, "m:", "gc", "k")["m:gc.k:4"],
        BTreeMap::from([
            ("rid".to_string(), "4".to_string()),
            ("a".to_string(), "20".to_string()),
            ("v".to_string(), "40".to_string())
        ])
    );
}

#[test]
fn generated_and_invisible_columns_replay_to_every_column_with_full_metadata() {
    generated_and_invisible_columns("--binlog-row-metadata=FULL");
}

#[test]
fn generated_and_invisible_columns_replay_to_every_column_with_minimal_metadata() {
    generated_and_invisible_columns("--binlog-row-metadata=MINIMAL");
}

/// The entries of `schema.table` that come from the binlog's rows (not re-reads), as
/// [`entry_lines`], once there are `n`.
fn change_lines(r: &RedisServer, schema: &str, table: &str, n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    wait_until(CATCH_UP, "the row changes", || {
        lines = entry_lines(&entries(r, schema, table))
            .into_iter()
            .filter(|l| !l.starts_with("r ") && !l.starts_with("resync-"))
            .collect();
        lines.len() >= n
    });
    lines
}

/// ADD/DROP of VIRTUAL, STORED and INVISIBLE columns and MODIFY to INVISIBLE and back, between
/// rows: each row's entry has the columns the table had when it was written. `paused`: all of
/// it happens while the module is paused (it reads the rows when information_schema already
/// shows the final shape); else while it streams.
fn ddl_on_generated_and_invisible_columns(metadata: &str, paused: bool) {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = MariaDb::start_with(&[metadata]);
    db.exec(
        "CREATE DATABASE g; CREATE TABLE g.t (id INT PRIMARY KEY, a INT, b VARCHAR(10));
         INSERT INTO g.t VALUES (1, 1, 'one')",
    );
    let url = db.url();
    let r = RedisServer::start(&["mysql-url", &url, "tables", "g.*"]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    if paused {
        r.cmd(&["CDC.PAUSE"]);
        wait_state(&r, "paused", STREAMING);
    }
    db.exec(
        "INSERT INTO g.t VALUES (2, 2, 'two');
         ALTER TABLE g.t ADD COLUMN v INT AS (a * 10) VIRTUAL AFTER id;
         INSERT INTO g.t (id, a, b) VALUES (3, 3, 'three');
         ALTER TABLE g.t ADD COLUMN s VARCHAR(12) GENERATED ALWAYS AS (CONCAT(b, '!')) STORED FIRST;
         INSERT INTO g.t (id, a, b) VALUES (4, 4, 'four');
         ALTER TABLE g.t ADD COLUMN h INT INVISIBLE DEFAULT 5 AFTER a;
         INSERT INTO g.t (id, a, b, h) VALUES (5, 5, 'five', 55);
         ALTER TABLE g.t DROP COLUMN v;
         INSERT INTO g.t (id, a, b) VALUES (6, 6, 'six');
         ALTER TABLE g.t MODIFY b VARCHAR(10) INVISIBLE;
         INSERT INTO g.t (id, a, b) VALUES (7, 7, 'seven');
         ALTER TABLE g.t MODIFY h INT DEFAULT 5;
         INSERT INTO g.t (id, a, h, b) VALUES (8, 8, 85, 'eight');
         ALTER TABLE g.t DROP COLUMN s;
         UPDATE g.t SET a = 10 WHERE id = 1;
         ALTER TABLE g.t ADD COLUMN w INT AS (a + 1) PERSISTENT, ADD COLUMN x INT AS (a + 2) VIRTUAL INVISIBLE FIRST;
         DELETE FROM g.t WHERE id = 2;
         ALTER TABLE g.t DROP COLUMN h, MODIFY b VARCHAR(10);
         UPDATE g.t SET a = 30 WHERE id = 3;",
    );
    if paused {
        r.cmd(&["CDC.RESUME"]);
    }
    let got = change_lines(&r, "g", "t", 10);
    assert_eq!(
        got,
        [
            r#"c {"id":2} - {"id":2,"a":2,"b":"two"}"#,
            r#"c {"id":3} - {"id":3,"v":30,"a":3,"b":"three"}"#,
            r#"c {"id":4} - {"s":"four!","id":4,"v":40,"a":4,"b":"four"}"#,
            r#"c {"id":5} - {"s":"five!","id":5,"v":50,"a":5,"h":55,"b":"five"}"#,
            r#"c {"id":6} - {"s":"six!","id":6,"a":6,"h":5,"b":"six"}"#,
            r#"c {"id":7} - {"s":"seven!","id":7,"a":7,"h":5,"b":"seven"}"#,
            r#"c {"id":8} - {"s":"eight!","id":8,"a":8,"h":85,"b":"eight"}"#,
            r#"u {"id":1} {"id":1,"a":1,"h":5,"b":"one"} {"id":1,"a":10,"h":5,"b":"one"}"#,
            r#"d {"id":2} {"x":4,"id":2,"a":2,"h":5,"b":"two","w":3} -"#,
            r#"u {"id":3} {"x":5,"id":3,"a":3,"b":"three","w":4} {"x":32,"id":3,"a":30,"b":"three","w":31}"#,
        ]
    );
    // The re-reads the ALTERs asked for end with the table's shape now: replay is the table.
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let list = entries(&r, "g", "t");
    let replayed = replay_canonical(&list);
    assert_eq!(replayed, table_json_all_columns(&db, "g", "t"));
}

#[test]
fn ddl_on_generated_and_invisible_columns_while_paused_with_full_metadata() {
    ddl_on_generated_and_invisible_columns("--binlog-row-metadata=FULL", true);
}

#[test]
fn ddl_on_generated_and_invisible_columns_while_paused_with_minimal_metadata() {
    ddl_on_generated_and_invisible_columns("--binlog-row-metadata=MINIMAL", true);
}

#[test]
fn ddl_on_generated_and_invisible_columns_while_streaming_with_minimal_metadata() {
    ddl_on_generated_and_invisible_columns("--binlog-row-metadata=MINIMAL", false);
}

fn shape_resyncs(r: &RedisServer) -> u64 {
    info_field(r, "cdc", "cdc_shape_resyncs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// No entry of `list` names one of MariaDB's hidden hash columns.
fn assert_no_hash_column(list: &[StreamEntry]) {
    let text = format!("{list:?}");
    assert!(!text.contains("DB_ROW_HASH"), "{:#?}", entry_lines(list));
}

/// MariaDB's long UNIQUE indexes (over TEXT/BLOB, longer than InnoDB's key limit, or `USING HASH`) have a hidden BIGINT
/// column `DB_ROW_HASH_<n>` each, after every other column: in the binlog's rows, never in
/// information_schema or a SELECT. Entries leave it out, snapshot and stream alike; a table
/// keyed by such an index (NOT NULL) has the same key in both, so that its deletes delete;
/// with MINIMAL metadata its rows still decode (no re-read of the table at each change). DDL
/// that adds a column before the hash column, or adds and drops such an index, while the
/// module is paused, keeps each row's own shape.
fn long_unique_indexes(metadata: &str) {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = MariaDb::start_with(&[metadata]);
    db.exec(
        "CREATE DATABASE lu;
         CREATE TABLE lu.t (id INT PRIMARY KEY, t TEXT, b VARCHAR(3000), UNIQUE (t), UNIQUE (b, id));
         CREATE TABLE lu.k (t TEXT NOT NULL, a INT, v INT AS (a * 2) VIRTUAL, UNIQUE (t));
         CREATE TABLE lu.h (id INT PRIMARY KEY, n INT, UNIQUE (n) USING HASH);
         CREATE TABLE lu.m (id INT PRIMARY KEY, n INT, UNIQUE (n)) ENGINE=MEMORY;
         CREATE TABLE lu.v (id INT PRIMARY KEY, t TEXT, UNIQUE (t)) WITH SYSTEM VERSIONING;
         INSERT INTO lu.t VALUES (1, 'one', 'x'), (2, 'two', NULL);
         INSERT INTO lu.k (t, a) VALUES ('k1', 1), ('k2', 2);
         INSERT INTO lu.h VALUES (1, 1);
         INSERT INTO lu.m VALUES (1, 1);
         INSERT INTO lu.v VALUES (1, 'v1'), (2, 'v2');",
    );
    let url = db.url();
    let r = RedisServer::start(&[
        "mysql-url",
        &url,
        "tables",
        "lu.*",
        "mirror",
        "hash",
        "mirror-prefix",
        "m:",
    ]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    db.exec(
        "INSERT INTO lu.t VALUES (3, 'three', 'y');
         UPDATE lu.t SET t = 'uno' WHERE id = 1;
         DELETE FROM lu.t WHERE id = 2;
         INSERT INTO lu.k (t, a) VALUES ('k3', 3);
         UPDATE lu.k SET a = 10 WHERE t = 'k1';
         DELETE FROM lu.k WHERE t = 'k2';
         INSERT INTO lu.h VALUES (2, 2); UPDATE lu.h SET n = 10 WHERE id = 1;
         INSERT INTO lu.m VALUES (2, 2); DELETE FROM lu.m WHERE id = 1;
         INSERT INTO lu.v VALUES (3, 'v3'); UPDATE lu.v SET t = 'v1b' WHERE id = 1; DELETE FROM lu.v WHERE id = 2;",
    );
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    for table in ["t", "k", "h", "m", "v"] {
        let list = check_entries(&r, "lu", table);
        assert_no_hash_column(&list);
        assert!(
            list.iter().any(|(_, f)| field(f, "op") == Some("c")),
            "{table}: the changes are entries of their own, not re-reads: {:#?}",
            entry_lines(&list)
        );
        assert_replay_equals_every_column(&r, &db, "lu", table);
    }
    assert_eq!(shape_resyncs(&r), 0, "no table was re-read");
    // Keyed by the NOT NULL long UNIQUE column in the snapshot and the stream alike.
    let k = entry_lines(&entries(&r, "lu", "k"));
    assert!(
        k.contains(&r#"d {"t":"k2"} {"t":"k2","a":2,"v":4} -"#.to_string()),
        "{k:#?}"
    );
    wait_until(CATCH_UP, "the mirror", || {
        mirror(&r, "m:", "lu", "k") == mirror_of_table(&db, "m:", "lu", "k", "t")
    });

    // DDL while paused: a column added before the hash columns, a long UNIQUE index added
    // (one more hash column) and one dropped.
    r.cmd(&["CDC.PAUSE"]);
    wait_state(&r, "paused", STREAMING);
    db.exec(
        "INSERT INTO lu.t VALUES (4, 'four', 'z');
         ALTER TABLE lu.t ADD COLUMN z INT;
         INSERT INTO lu.t VALUES (5, 'five', 'w', 5);
         ALTER TABLE lu.t ADD COLUMN c TEXT, ADD UNIQUE (c);
         INSERT INTO lu.t VALUES (6, 'six', NULL, 6, 'c6');
         ALTER TABLE lu.t DROP INDEX t;
         UPDATE lu.t SET z = 50 WHERE id = 5;",
    );
    r.cmd(&["CDC.RESUME"]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let list = entries(&r, "lu", "t");
    assert_no_hash_column(&list);
    let lines = entry_lines(&list);
    for line in [
        r#"c {"id":4} - {"id":4,"t":"four","b":"z"}"#,
        r#"c {"id":5} - {"id":5,"t":"five","b":"w","z":5}"#,
    ] {
        assert!(lines.contains(&line.to_string()), "{line} in {lines:#?}");
    }
    if metadata.ends_with("FULL") {
        // The binlog's names: every row as it was, whatever the module knew of the indexes.
        for line in [
            r#"c {"id":6} - {"id":6,"t":"six","b":null,"z":6,"c":"c6"}"#,
            r#"u {"id":5} {"id":5,"t":"five","b":"w","z":5,"c":null} {"id":5,"t":"five","b":"w","z":50,"c":null}"#,
        ] {
            assert!(lines.contains(&line.to_string()), "{line} in {lines:#?}");
        }
    }
    assert_replays_to_every_column(&list, &db, "lu", "t");
}

#[test]
fn long_unique_hash_columns_stay_out_of_the_entries_with_full_metadata() {
    long_unique_indexes("--binlog-row-metadata=FULL");
}

#[test]
fn long_unique_hash_columns_stay_out_of_the_entries_with_minimal_metadata() {
    long_unique_indexes("--binlog-row-metadata=MINIMAL");
}

/// `cdc.format debezium-extended`: the change events' `after` carries the same columns as the
/// flat format (computed and invisible ones, no hash column), and the schema-change events list
/// them as the table has them (Debezium's `generated` is about AUTO_INCREMENT, so `false`).
#[test]
fn debezium_events_carry_generated_and_invisible_columns_but_no_hash_column() {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = MariaDb::start();
    db.exec("CREATE DATABASE dz");
    let url = db.url();
    let r = RedisServer::start(&[
        "mysql-url",
        &url,
        "tables",
        "dz.*",
        "snapshot",
        "never",
        "format",
        "debezium-extended",
        "stream-prefix",
        "dbserver1.",
    ]);
    wait_state(&r, "streaming", STREAMING);
    db.exec(
        "CREATE TABLE dz.t (id INT PRIMARY KEY, a INT, v INT AS (a * 10) VIRTUAL,
           s VARCHAR(20) AS (CONCAT('s', a)) PERSISTENT, h INT INVISIBLE DEFAULT 7, t TEXT, UNIQUE (t));
         INSERT INTO dz.t (id, a, t) VALUES (1, 1, 'one');
         ALTER TABLE dz.t ADD COLUMN w INT AS (a + 1) VIRTUAL AFTER a;
         UPDATE dz.t SET a = 2 WHERE id = 1;",
    );
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let parse = |s: &str| -> serde_json::Value { serde_json::from_str(s).expect("JSON") };
    let events: Vec<serde_json::Value> = stream_entries(&mut r.client(), "dbserver1.dz.t")
        .iter()
        .map(|(_, f)| parse(field(f, "value").expect("value")))
        // Not the re-read the ALTER asks for.
        .filter(|e| e["op"] != "r")
        .collect();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[0]["after"],
        serde_json::json!({"id": 1, "a": 1, "v": 10, "s": "s1", "h": 7, "t": "one"})
    );
    assert_eq!(
        keys(&events[1]["before"]),
        ["id", "a", "w", "v", "s", "h", "t"]
    );
    assert_eq!(events[1]["after"]["w"], 3);
    assert_eq!(events[1]["after"]["v"], 20);
    // The schema changes: CREATE and ALTER, with the table's columns.
    let changes: Vec<serde_json::Value> = stream_entries(&mut r.client(), "dbserver1")
        .iter()
        .map(|(_, f)| parse(field(f, "value").expect("value")))
        .collect();
    let columns: Vec<Vec<String>> = changes
        .iter()
        .map(|e| {
            e["tableChanges"][0]["table"]["columns"]
                .as_array()
                .unwrap_or_else(|| panic!("columns in {e}"))
                .iter()
                .map(|c| {
                    assert_eq!(c["generated"], false, "{c}");
                    c["name"].as_str().unwrap_or("?").to_string()
                })
                .collect()
        })
        .collect();
    assert_eq!(
        columns,
        [
            vec!["id", "a", "v", "s", "h", "t"],
            vec!["id", "a", "w", "v", "s", "h", "t"]
        ]
    );
}

//! Changes the binlog does not carry as rows: TRUNCATE and DROP TABLE (`t` entries), and DML
//! logged as a statement (`binlog_format=STATEMENT` or MIXED in one session), which the module
//! re-reads. Each ends with replay of the stream == `SELECT *` (docs/events.md).

use crate::support::*;

fn streaming(db: &MariaDb) -> RedisServer {
    let url = db.url();
    let r = RedisServer::start(&["--cdc.mysql-url", &url, "--cdc.snapshot", "never"]);
    wait_state(&r, "streaming", STREAMING);
    r
}

#[test]
fn truncate_and_drop_then_create_replay_to_the_table() {
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.t (id INT PRIMARY KEY, a VARCHAR(10))");
    let r = streaming(&db);
    db.exec(
        "INSERT INTO test.t VALUES (1, 'x'), (2, 'y'), (3, 'z');
         TRUNCATE TABLE test.t;
         INSERT INTO test.t VALUES (4, 'w');",
    );
    let got = wait_entries(&r, "cdc:test.t", 5);
    assert_eq!(
        entry_lines(&got)[3..],
        ["t ? - -", r#"c {"id":4} - {"id":4,"a":"w"}"#]
    );
    assert_replays_to_table(&got, &db, "test", "t");
    check_entries(&r, "test", "t");

    // DROP + CREATE with other columns: `t`, then the new shape.
    db.exec(
        "DROP TABLE test.t;
         CREATE TABLE test.t (x VARCHAR(5) PRIMARY KEY, n INT);
         INSERT INTO test.t VALUES ('a', 1);",
    );
    let got = wait_entries(&r, "cdc:test.t", 7);
    assert_eq!(
        entry_lines(&got)[5..],
        ["t ? - -", r#"c {"x":"a"} - {"x":"a","n":1}"#]
    );
    assert_replays_to_table(&got, &db, "test", "t");
    // A dropped table leaves CDC.TABLES; one created again under the name is listed.
    db.exec("CREATE TABLE test.z (id INT PRIMARY KEY); INSERT INTO test.z VALUES (1); DROP TABLE test.z");
    wait_entries(&r, "cdc:test.z", 2);
    wait_caught_up(&r, &db, CATCH_UP);
    let tables = value_to_json(&r.cmd(&["CDC.TABLES"])).to_string();
    assert!(
        tables.contains("\"test.t\"") && !tables.contains("\"test.z\""),
        "{tables}"
    );
    assert_eq!(status_field(&r, "state"), "streaming");
}

/// `SET SESSION binlog_format=STATEMENT` (what pt-table-checksum and other tools do): the
/// INSERT, UPDATE and DELETE reach the binlog as statements. The module re-reads the table
/// (framed by resync markers, so the deleted row goes too), warns with the fix, and counts it.
#[test]
fn statement_logged_dml_is_re_read_and_replays_to_the_table() {
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.s (id INT PRIMARY KEY, v INT)");
    let r = streaming(&db);
    db.exec("INSERT INTO test.s VALUES (1, 1), (2, 2), (3, 3)");
    wait_entries(&r, "cdc:test.s", 3);
    db.exec(
        "SET SESSION binlog_format = STATEMENT;
         INSERT INTO test.s VALUES (4, 4);
         UPDATE test.s SET v = v + 10 WHERE id <= 2;
         DELETE FROM test.s WHERE id = 3;
         SET SESSION binlog_format = ROW;",
    );
    let mut c = r.client();
    let mut entries = Vec::new();
    wait_until(CATCH_UP, "the re-read's end marker", || {
        entries = stream_entries(&mut c, "cdc:test.s");
        entries
            .iter()
            .filter(|(_, f)| field(f, "op") == Some("resync-end"))
            .count()
            >= 1
    });
    // Rows written after the re-read still stream as rows.
    db.exec("INSERT INTO test.s VALUES (5, 5)");
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let entries = stream_entries(&mut c, "cdc:test.s");
    // (Each autocommitted statement asked for a re-read, so one may still follow the insert.)
    assert!(
        entries
            .iter()
            .any(|(_, f)| field(f, "op") == Some("c") && field(f, "key") == Some(r#"{"id":5}"#)),
        "the insert after the re-read is a row entry"
    );
    assert_replays_to_table(&entries, &db, "test", "s");
    check_entries(&r, "test", "s");
    let resyncs: u64 = info_field(&r, "cdc", "cdc_statement_resyncs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(resyncs >= 1, "INFO cdc_statement_resyncs = {resyncs}");
    let log = r.log();
    assert!(
        log.contains("on test.s at mysql-bin.") && log.contains("SET GLOBAL binlog_format=ROW"),
        "no warning naming the table, position and fix in the Redis log"
    );
    assert_eq!(status_field(&r, "state"), "streaming");
}

/// XA: rows appear at `XA COMMIT`, never at `XA PREPARE`, and not at all after `XA ROLLBACK`;
/// `XA COMMIT ... ONE PHASE` is an ordinary transaction. Between PREPARE and COMMIT the rows
/// are held in Redis (`<offset-key>:xa:<xid>`, in the same atomic unit as the position), so a
/// kill -9 of redis-server there loses nothing and doubles nothing.
#[test]
fn xa_rows_appear_at_commit_only_also_across_a_redis_crash() {
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.x (id INT PRIMARY KEY, v INT)");
    let r = streaming(&db);
    db.exec(
        "XA START 'rb'; INSERT INTO test.x VALUES (1, 1); XA END 'rb'; XA PREPARE 'rb';
         XA ROLLBACK 'rb';
         XA START 'one'; INSERT INTO test.x VALUES (2, 2); XA END 'one'; XA COMMIT 'one' ONE PHASE;
         XA START 'two'; INSERT INTO test.x VALUES (3, 3), (4, 4); XA END 'two'; XA PREPARE 'two';",
    );
    // The prepared rows are held, not written: only the one-phase row is in the stream.
    let hold = "cdc:offset:xa:74776f,,1";
    wait_until(CATCH_UP, "the prepared XA transaction held", || {
        matches!(r.cmd(&["EXISTS", hold]), redis::Value::Int(1))
    });
    wait_caught_up(&r, &db, CATCH_UP);
    let lines = entry_lines(&stream_entries(&mut r.client(), "cdc:test.x"));
    assert_eq!(lines, [r#"c {"id":2} - {"id":2,"v":2}"#]);

    r.kill9();
    r.restart();
    wait_state(&r, "streaming", STREAMING);
    db.exec("XA COMMIT 'two'; INSERT INTO test.x VALUES (5, 5)");
    let got = wait_entries(&r, "cdc:test.x", 4);
    wait_caught_up(&r, &db, CATCH_UP);
    let got_now = stream_entries(&mut r.client(), "cdc:test.x");
    assert_eq!(
        got_now.len(),
        got.len(),
        "entries doubled after the restart"
    );
    assert_eq!(
        entry_lines(&got_now)[1..],
        [
            r#"c {"id":3} - {"id":3,"v":3}"#,
            r#"c {"id":4} - {"id":4,"v":4}"#,
            r#"c {"id":5} - {"id":5,"v":5}"#
        ]
    );
    assert!(
        matches!(r.cmd(&["EXISTS", hold]), redis::Value::Int(0)),
        "the hold is gone after XA COMMIT"
    );
    assert_replays_to_table(&got_now, &db, "test", "x");
    assert_eq!(status_field(&r, "state"), "streaming");
}

/// RENAME TABLE: the old name's stream ends with `t` (replay: empty), and the new name is
/// re-read (its rows never appeared as changes of that name), so each stream replays to what
/// its name holds.
#[test]
fn rename_empties_the_old_name_and_re_reads_the_new_one() {
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.a (id INT PRIMARY KEY, v INT)");
    let r = streaming(&db);
    db.exec("INSERT INTO test.a VALUES (1, 1), (2, 2), (3, 3)");
    wait_entries(&r, "cdc:test.a", 3);
    db.exec("RENAME TABLE test.a TO test.b; INSERT INTO test.b VALUES (4, 4)");
    let mut c = r.client();
    wait_until(CATCH_UP, "the re-read of test.b", || {
        stream_entries(&mut c, "cdc:test.b")
            .iter()
            .any(|(_, f)| field(f, "op") == Some("resync-end"))
    });
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let a = stream_entries(&mut c, "cdc:test.a");
    assert_eq!(entry_lines(&a).last().map(String::as_str), Some("t ? - -"));
    assert!(replay(&a).is_empty(), "replay of the old name is not empty");
    assert_replays_to_table(&stream_entries(&mut c, "cdc:test.b"), &db, "test", "b");
    // CDC.TABLES follows the rename.
    let tables = value_to_json(&r.cmd(&["CDC.TABLES"])).to_string();
    assert!(
        tables.contains("\"test.b\"") && !tables.contains("\"test.a\""),
        "{tables}"
    );
    assert_eq!(status_field(&r, "state"), "streaming");
}

/// `SET SESSION binlog_row_image=MINIMAL` (or NOBLOB): that session's rows events lack columns,
/// so no entry can hold the whole row. The module re-reads the table instead of stopping, warns
/// with the fix, counts it, and goes on streaming.
#[test]
fn a_session_with_minimal_row_images_is_re_read_and_replays_to_the_table() {
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.m (id INT PRIMARY KEY, v INT, note TEXT)");
    let r = streaming(&db);
    db.exec("INSERT INTO test.m VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c')");
    wait_entries(&r, "cdc:test.m", 3);
    db.exec(
        "SET SESSION binlog_row_image = MINIMAL;
         UPDATE test.m SET v = 10 WHERE id = 1;
         DELETE FROM test.m WHERE id = 2;
         SET SESSION binlog_row_image = FULL;
         INSERT INTO test.m VALUES (4, 4, 'd');",
    );
    let mut c = r.client();
    wait_until(CATCH_UP, "the re-read of test.m", || {
        stream_entries(&mut c, "cdc:test.m")
            .iter()
            .any(|(_, f)| field(f, "op") == Some("resync-end"))
    });
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    assert_replays_to_table(&stream_entries(&mut c, "cdc:test.m"), &db, "test", "m");
    let n: u64 = info_field(&r, "cdc", "cdc_row_image_resyncs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(n >= 1, "INFO cdc_row_image_resyncs = {n}");
    assert!(
        r.log().contains("binlog_row_image=FULL"),
        "no warning with the fix"
    );
    assert_eq!(status_field(&r, "state"), "streaming");
}

/// An automatic re-read is kept in Redis with the position that passed its statement (the set
/// `<offset-key>:reread`) until a snapshot queue written after it holds it: a kill -9 of
/// redis-server before the re-read could read anything loses nothing. The re-read is held up
/// here by a table lock of the writing session.
#[test]
fn a_pending_re_read_survives_a_redis_kill9() {
    use mysql::prelude::Queryable;
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.p (id INT PRIMARY KEY, v INT); INSERT INTO test.p VALUES (1, 1), (2, 2)",
    );
    let r = streaming(&db);
    let mut locker = db.conn();
    locker
        .query_drop(
            "SET SESSION binlog_format = STATEMENT;
             LOCK TABLES test.p WRITE;
             INSERT INTO test.p VALUES (3, 3);
             DELETE FROM test.p WHERE id = 1",
        )
        .expect("statements under a table lock");
    wait_until(CATCH_UP, "the re-read to be asked for", || {
        value_to_json(&r.cmd(&["SMEMBERS", "cdc:offset:reread"]))
            .to_string()
            .contains("test.p")
    });
    r.kill9();
    r.restart();
    locker.query_drop("UNLOCK TABLES").expect("unlock");
    let mut c = r.client();
    wait_until(CATCH_UP, "the re-read's end marker", || {
        stream_entries(&mut c, "cdc:test.p")
            .iter()
            .any(|(_, f)| field(f, "op") == Some("resync-end"))
    });
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let entries = stream_entries(&mut c, "cdc:test.p");
    assert_replays_to_table(&entries, &db, "test", "p");
    assert_eq!(
        value_to_json(&r.cmd(&["SMEMBERS", "cdc:offset:reread"])),
        serde_json::json!([])
    );
}

/// DML logged as a statement inside a prepared XA transaction: the re-read it asks for waits
/// for XA COMMIT (a read before it would not see the rows), held in Redis with the prepared
/// rows, so a kill -9 of redis-server between PREPARE and COMMIT still re-reads the table.
#[test]
fn a_re_read_asked_for_inside_a_prepared_xa_survives_a_redis_kill9() {
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.q (id INT PRIMARY KEY, v INT); INSERT INTO test.q VALUES (1, 1)");
    let r = streaming(&db);
    db.exec(
        "SET SESSION binlog_format = STATEMENT;
         XA START 'sx'; INSERT INTO test.q VALUES (2, 2); DELETE FROM test.q WHERE id = 1;
         XA END 'sx'; XA PREPARE 'sx';",
    );
    let hold = "cdc:offset:xa:7378,,1";
    wait_until(CATCH_UP, "the prepared XA transaction held", || {
        matches!(r.cmd(&["EXISTS", hold]), redis::Value::Int(1))
    });
    wait_caught_up(&r, &db, CATCH_UP);
    // Nothing re-read yet: the re-read would see the table as before the commit.
    let mut c = r.client();
    assert!(stream_entries(&mut c, "cdc:test.q").is_empty());
    r.kill9();
    r.restart();
    wait_state(&r, "streaming", STREAMING);
    db.exec("XA COMMIT 'sx'");
    let mut c = r.client();
    wait_until(CATCH_UP, "the re-read's end marker", || {
        stream_entries(&mut c, "cdc:test.q")
            .iter()
            .any(|(_, f)| field(f, "op") == Some("resync-end"))
    });
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let entries = stream_entries(&mut c, "cdc:test.q");
    assert_replays_to_table(&entries, &db, "test", "q");
    assert!(matches!(r.cmd(&["EXISTS", hold]), redis::Value::Int(0)));
    assert_eq!(
        value_to_json(&r.cmd(&["SMEMBERS", "cdc:offset:reread"])),
        serde_json::json!([])
    );
}

/// An XA transaction prepared before the module's first start and committed after it: the
/// snapshot could not see its rows and the binlog had them before the starting point, so at its
/// XA COMMIT the module re-reads every captured table (which ones it wrote is unknown).
#[test]
fn an_xa_prepared_before_the_start_is_re_read_at_its_commit() {
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.u (id INT PRIMARY KEY, v INT); INSERT INTO test.u VALUES (1, 1);
         XA START 'early'; INSERT INTO test.u VALUES (2, 2); XA END 'early'; XA PREPARE 'early';",
    );
    let url = db.url();
    let r = RedisServer::start(&["--cdc.mysql-url", &url]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    db.exec("XA COMMIT 'early'");
    let mut c = r.client();
    wait_until(CATCH_UP, "the re-read's end marker", || {
        stream_entries(&mut c, "cdc:test.u")
            .iter()
            .any(|(_, f)| field(f, "op") == Some("resync-end"))
    });
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let entries = stream_entries(&mut c, "cdc:test.u");
    assert_replays_to_table(&entries, &db, "test", "u");
    assert!(r.log().contains("never saw its PREPARE"));
}

/// Wait until the module has caught up and every re-read is done, then until the replay of
/// each table's stream equals `SELECT *` (a re-read asked for by the last event may start
/// just after the module reports caught up), and assert it.
fn settle(r: &RedisServer, db: &MariaDb, tables: &[(&str, &str)]) {
    wait_snapshot_done_and_caught_up(r, db, CATCH_UP);
    let mut c = r.client();
    for (schema, table) in tables {
        let stream = format!("cdc:{schema}.{table}");
        wait_until(CATCH_UP, &format!("replay of {stream} == SELECT *"), || {
            replay_canonical(&stream_entries(&mut c, &stream)) == table_json(db, schema, table)
        });
        assert_replays_to_table(&stream_entries(&mut c, &stream), db, schema, table);
    }
    // A re-read asked for by the last event may have started meanwhile: let it end too.
    wait_snapshot_done_and_caught_up(r, db, CATCH_UP);
}

fn ops_of(r: &RedisServer, stream: &str) -> Vec<String> {
    stream_entries(&mut r.client(), stream)
        .iter()
        .map(|(_, f)| field(f, "op").unwrap_or("?").to_string())
        .collect()
}

fn listed(r: &RedisServer) -> String {
    value_to_json(&r.cmd(&["CDC.TABLES"])).to_string()
}

/// DDL that removes or moves rows without rows events (docs/events.md): TRUNCATE PARTITION,
/// DROP PARTITION, EXCHANGE PARTITION, MariaDB CONVERT PARTITION / CONVERT TABLE re-read the
/// tables involved, so each stream replays to its table; a table converted into a partition
/// is gone (`t`, and it leaves CDC.TABLES); ALTER TABLE ... RENAME is a rename.
#[test]
fn partition_ddl_re_reads_and_replays_to_the_tables() {
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.p (id INT PRIMARY KEY, v INT) PARTITION BY RANGE (id) (
           PARTITION p0 VALUES LESS THAN (10), PARTITION p1 VALUES LESS THAN (20),
           PARTITION p2 VALUES LESS THAN (30), PARTITION p3 VALUES LESS THAN (40));
         CREATE TABLE test.u (id INT PRIMARY KEY, v INT);",
    );
    let r = streaming(&db);
    db.exec(
        "INSERT INTO test.p VALUES (1, 1), (2, 2), (11, 11), (12, 12), (21, 21), (31, 31), (32, 32);
         INSERT INTO test.u VALUES (25, 250), (26, 260);",
    );
    wait_entries(&r, "cdc:test.p", 7);
    wait_entries(&r, "cdc:test.u", 2);
    db.exec(
        "ALTER TABLE test.p TRUNCATE PARTITION p0;
         ALTER TABLE test.p DROP PARTITION p1;
         ALTER TABLE test.p EXCHANGE PARTITION p2 WITH TABLE test.u;
         ALTER TABLE test.p CONVERT PARTITION p3 TO TABLE test.q;
         INSERT INTO test.p VALUES (3, 3);",
    );
    settle(&r, &db, &[("test", "p"), ("test", "u"), ("test", "q")]);
    assert!(
        ops_of(&r, "cdc:test.p").contains(&"resync-end".to_string()),
        "no re-read of test.p"
    );

    // test.q back into a partition: its rows are in test.p, test.q is gone.
    db.exec(
        "ALTER TABLE test.p CONVERT TABLE test.q TO PARTITION p3 VALUES LESS THAN (40);
         ALTER TABLE test.u RENAME TO test.u2;",
    );
    settle(&r, &db, &[("test", "p"), ("test", "u2")]);
    let q = stream_entries(&mut r.client(), "cdc:test.q");
    assert_eq!(entry_lines(&q).last().map(String::as_str), Some("t ? - -"));
    assert!(
        replay(&q).is_empty(),
        "replay of the converted table is not empty"
    );
    assert!(replay(&stream_entries(&mut r.client(), "cdc:test.u")).is_empty());
    let tables = listed(&r);
    assert!(
        !tables.contains("\"test.q\"")
            && !tables.contains("\"test.u\"")
            && tables.contains("\"test.u2\""),
        "{tables}"
    );
    assert_eq!(status_field(&r, "state"), "streaming");
}

/// DROP DATABASE: a `t` in the stream of each captured table of it (also one created after
/// the module started), which leave CDC.TABLES. MariaDB CREATE OR REPLACE TABLE: `t`, then the
/// new table (also CREATE OR REPLACE ... SELECT, logged as the create and rows). A DROP TABLE
/// list mixing captured and uncaptured tables: `t` for the captured ones.
#[test]
fn drop_database_create_or_replace_and_mixed_drop_lists_replay_to_the_tables() {
    let db = MariaDb::start();
    db.exec(
        "CREATE DATABASE d;
         CREATE TABLE d.a (id INT PRIMARY KEY); CREATE TABLE d.b (id INT PRIMARY KEY);
         CREATE TABLE test.c (id INT PRIMARY KEY, v INT);
         CREATE TABLE test.keep (id INT PRIMARY KEY); CREATE TABLE test.skip (id INT PRIMARY KEY);",
    );
    let url = db.url();
    let r = RedisServer::start(&[
        "--cdc.mysql-url",
        &url,
        "--cdc.snapshot",
        "never",
        "--cdc.exclude-tables",
        "test.skip",
    ]);
    wait_state(&r, "streaming", STREAMING);
    db.exec(
        "INSERT INTO d.a VALUES (1), (2); INSERT INTO d.b VALUES (1);
         CREATE TABLE d.late (id INT PRIMARY KEY); INSERT INTO d.late VALUES (7);
         INSERT INTO test.c VALUES (1, 1), (2, 2);
         INSERT INTO test.keep VALUES (1); INSERT INTO test.skip VALUES (1);",
    );
    wait_entries(&r, "cdc:d.late", 1);
    wait_entries(&r, "cdc:test.keep", 1);
    db.exec("DROP DATABASE d");
    for t in ["a", "b", "late"] {
        let got = wait_entries(&r, &format!("cdc:d.{t}"), if t == "a" { 3 } else { 2 });
        assert_eq!(
            entry_lines(&got).last().map(String::as_str),
            Some("t ? - -"),
            "d.{t}"
        );
        assert!(replay(&got).is_empty(), "replay of d.{t} is not empty");
    }
    wait_caught_up(&r, &db, CATCH_UP);
    let tables = listed(&r);
    assert!(!tables.contains("\"d."), "{tables}");

    db.exec(
        "CREATE OR REPLACE TABLE test.c (id INT PRIMARY KEY, w VARCHAR(5));
         INSERT INTO test.c VALUES (5, 'x');",
    );
    settle(&r, &db, &[("test", "c")]);
    db.exec("CREATE OR REPLACE TABLE test.c (id INT PRIMARY KEY, w VARCHAR(5)) SELECT 9 AS id, 'y' AS w");
    settle(&r, &db, &[("test", "c")]);
    let ops = ops_of(&r, "cdc:test.c");
    assert_eq!(ops.iter().filter(|o| *o == "t").count(), 2, "{ops:?}");
    assert!(
        listed(&r).contains("\"test.c\""),
        "CREATE OR REPLACE keeps the table listed"
    );

    db.exec("DROP TABLE test.skip, test.keep");
    let keep = wait_entries(&r, "cdc:test.keep", 2);
    assert_eq!(entry_lines(&keep)[1], "t ? - -");
    wait_caught_up(&r, &db, CATCH_UP);
    assert!(stream_entries(&mut r.client(), "cdc:test.skip").is_empty());
    assert_eq!(status_field(&r, "state"), "streaming");
}

/// `SET SESSION binlog_format=STATEMENT`: an INSERT into a table that is not captured, whose
/// trigger writes a captured one, logs only the INSERT (a replica runs the trigger again); so
/// do writes through a view and a `SELECT f()` whose function writes. The module follows the
/// statement to the triggers, views and functions and re-reads the captured tables they
/// write. Without the privileges to see them (the test user has SELECT only: triggers need
/// TRIGGER, view definitions SHOW VIEW), it re-reads every captured table.
#[test]
fn statement_writes_through_triggers_views_and_functions_are_re_read() {
    let db = MariaDb::start();
    db.exec(
        "CREATE TABLE test.cap (id INT PRIMARY KEY, v INT);
         CREATE TABLE test.other (id INT PRIMARY KEY);
         CREATE DATABASE side;
         CREATE TABLE side.log (id INT PRIMARY KEY);
         CREATE TRIGGER side.log_ai AFTER INSERT ON side.log FOR EACH ROW
           INSERT INTO test.cap VALUES (NEW.id, NEW.id * 10) ON DUPLICATE KEY UPDATE v = NEW.id * 10;
         CREATE VIEW side.capview AS SELECT id, v FROM test.cap;
         SET GLOBAL log_bin_trust_function_creators = 1;",
    );
    db.exec(
        "CREATE FUNCTION side.bump(x INT) RETURNS INT MODIFIES SQL DATA
         BEGIN UPDATE test.cap SET v = v + 1 WHERE id = x; RETURN x; END",
    );
    let url = db.url();
    let r = RedisServer::start(&[
        "--cdc.mysql-url",
        &url,
        "--cdc.snapshot",
        "never",
        "--cdc.exclude-tables",
        "side.*",
    ]);
    wait_state(&r, "streaming", STREAMING);
    db.exec("INSERT INTO test.cap VALUES (1, 1), (2, 2); INSERT INTO test.other VALUES (1)");
    wait_entries(&r, "cdc:test.cap", 2);
    wait_entries(&r, "cdc:test.other", 1);

    // The module's user cannot see the trigger: every captured table is re-read.
    db.exec(
        "SET SESSION binlog_format = STATEMENT;
         INSERT INTO side.log VALUES (3);
         SET SESSION binlog_format = ROW;",
    );
    settle(&r, &db, &[("test", "cap"), ("test", "other")]);
    assert!(
        ops_of(&r, "cdc:test.other").contains(&"resync-end".to_string()),
        "test.other was not re-read"
    );
    assert!(
        r.log().contains("TRIGGER privilege"),
        "no warning naming the privilege"
    );

    // With TRIGGER and SHOW VIEW, only what the statements write is re-read.
    db.exec("GRANT TRIGGER, SHOW VIEW ON *.* TO 'cdc'@'%'");
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    let other_before = ops_of(&r, "cdc:test.other").len();
    db.exec(
        "SET SESSION binlog_format = STATEMENT;
         INSERT INTO side.log VALUES (4);
         INSERT INTO side.capview VALUES (5, 5);
         SELECT side.bump(1);
         DELETE FROM side.capview WHERE id = 2;
         SET SESSION binlog_format = ROW;
         INSERT INTO test.cap VALUES (6, 6);",
    );
    settle(&r, &db, &[("test", "cap"), ("test", "other")]);
    let cap = table_json(&db, "test", "cap");
    assert_eq!(cap.len(), 5, "{cap:?}"); // 1 (bumped), 3, 4, 5, 6
    assert_eq!(
        ops_of(&r, "cdc:test.other").len(),
        other_before,
        "test.other was re-read although nothing wrote it"
    );
    assert!(
        r.log()
            .contains("on test.cap (with its triggers, views and stored functions)"),
        "no warning naming the table reached through the trigger"
    );
    assert_eq!(status_field(&r, "state"), "streaming");
}

/// `LOAD DATA` under statement logging: the file travels in BEGIN_LOAD_QUERY/APPEND_BLOCK
/// events and the statement in EXECUTE_LOAD_QUERY, no rows: the module re-reads the table.
#[test]
fn statement_logged_load_data_is_re_read() {
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.ld (id INT PRIMARY KEY, v INT)");
    let r = streaming(&db);
    db.exec("INSERT INTO test.ld VALUES (1, 1)");
    wait_entries(&r, "cdc:test.ld", 1);
    let csv = std::env::temp_dir().join(format!("cdc-load-{}.csv", std::process::id()));
    std::fs::write(&csv, "2,20\n3,30\n").expect("write the csv");
    db.exec(&format!(
        "SET SESSION binlog_format = STATEMENT;
         LOAD DATA INFILE '{}' INTO TABLE test.ld FIELDS TERMINATED BY ',';
         SET SESSION binlog_format = ROW;",
        csv.display()
    ));
    let _ = std::fs::remove_file(&csv);
    assert_eq!(
        table_json(&db, "test", "ld").len(),
        3,
        "the load did not run"
    );
    settle(&r, &db, &[("test", "ld")]);
    assert!(
        r.log().contains("a LOAD on test.ld at mysql-bin."),
        "no warning naming the LOAD DATA"
    );
}

/// Foreign-key actions run inside InnoDB and reach the binlog as nothing: a DELETE or UPDATE of
/// a parent row logs only the parent's row. The module looks the keys up and re-reads the
/// captured children (docs/events.md, "Foreign-key actions"): ON DELETE CASCADE between two
/// captured tables and on to a grandchild, ON DELETE SET NULL from an uncaptured parent, ON
/// UPDATE CASCADE of a referenced key. A table that is nobody's parent is not re-read, nor is
/// a child when its parent's UPDATE leaves the referenced columns alone.
#[test]
fn foreign_key_actions_re_read_the_captured_children() {
    let db = MariaDb::start();
    db.exec(
        "CREATE DATABASE side;
         CREATE TABLE side.owner (id INT PRIMARY KEY);
         CREATE TABLE test.parent (id INT PRIMARY KEY, code INT UNIQUE, v INT);
         CREATE TABLE test.child (id INT PRIMARY KEY, pid INT,
           FOREIGN KEY (pid) REFERENCES test.parent (id) ON DELETE CASCADE);
         CREATE TABLE test.grand (id INT PRIMARY KEY, cid INT,
           FOREIGN KEY (cid) REFERENCES test.child (id) ON DELETE CASCADE);
         CREATE TABLE test.held (id INT PRIMARY KEY, owner INT NULL,
           FOREIGN KEY (owner) REFERENCES side.owner (id) ON DELETE SET NULL);
         CREATE TABLE test.bycode (id INT PRIMARY KEY, code INT,
           FOREIGN KEY (code) REFERENCES test.parent (code) ON UPDATE CASCADE);
         CREATE TABLE test.plain (id INT PRIMARY KEY, v INT);",
    );
    let url = db.url();
    let r = RedisServer::start(&[
        "--cdc.mysql-url",
        &url,
        "--cdc.snapshot",
        "never",
        "--cdc.exclude-tables",
        "side.*",
    ]);
    wait_state(&r, "streaming", STREAMING);
    db.exec(
        "INSERT INTO side.owner VALUES (1), (2);
         INSERT INTO test.parent VALUES (1, 1, 0), (2, 2, 0), (3, 3, 0);
         INSERT INTO test.child VALUES (10, 1), (11, 1), (12, 2);
         INSERT INTO test.grand VALUES (100, 10), (101, 11), (102, 12);
         INSERT INTO test.held VALUES (1, 1), (2, 1), (3, 2);
         INSERT INTO test.bycode VALUES (1, 2), (2, 3);
         INSERT INTO test.plain VALUES (1, 1), (2, 2);",
    );
    let all = [
        ("test", "parent"),
        ("test", "child"),
        ("test", "grand"),
        ("test", "held"),
        ("test", "bycode"),
        ("test", "plain"),
    ];
    settle(&r, &db, &all);
    let resyncs = || -> u64 {
        info_field(&r, "cdc", "cdc_cascade_resyncs")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(resyncs(), 0);

    // Not parents of anything with an action: no re-read.
    let bycode_before = ops_of(&r, "cdc:test.bycode").len();
    db.exec(
        "UPDATE test.plain SET v = 5 WHERE id = 1;
         DELETE FROM test.plain WHERE id = 2;
         UPDATE test.parent SET v = 1 WHERE id = 2;",
    );
    settle(&r, &db, &all);
    assert_eq!(resyncs(), 0);
    assert!(
        !ops_of(&r, "cdc:test.plain").contains(&"resync-end".to_string()),
        "test.plain was re-read"
    );
    assert_eq!(ops_of(&r, "cdc:test.bycode").len(), bycode_before);

    // Two levels of ON DELETE CASCADE.
    db.exec("DELETE FROM test.parent WHERE id = 1");
    settle(&r, &db, &all);
    assert_eq!(table_json(&db, "test", "grand").len(), 1);
    assert!(r.log().contains("through foreign-key actions"));
    // ON DELETE SET NULL from an uncaptured parent.
    db.exec("DELETE FROM side.owner WHERE id = 1");
    settle(&r, &db, &all);
    // ON UPDATE CASCADE of a referenced key, in a transaction with other rows.
    db.exec(
        "BEGIN; UPDATE test.parent SET code = 20 WHERE id = 2;
         INSERT INTO test.plain VALUES (3, 3); COMMIT;",
    );
    settle(&r, &db, &all);
    assert_eq!(
        table_json(&db, "test", "bycode").len(),
        2,
        "the test's data changed"
    );
    assert!(resyncs() >= 3, "INFO cdc_cascade_resyncs = {}", resyncs());
    assert!(
        !ops_of(&r, "cdc:test.plain").contains(&"resync-end".to_string()),
        "test.plain was re-read"
    );
    assert_eq!(status_field(&r, "state"), "streaming");
}

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

//! Schema changes in the middle of a stream, with `binlog_row_metadata=FULL` and `MINIMAL`:
//! rows logged before an ALTER keep the old shape, rows after it get the new one, even when the
//! module reads them after all the DDL has run (it is paused meanwhile, so information_schema
//! already shows the final shape when the old rows are decoded). An ALTER that changes columns
//! re-reads its table afterwards (its rows take the new shape without rows events), so replay
//! equals the table again.

use crate::support::*;
use std::time::Duration;

fn alter_mid_stream(metadata_args: &[&str]) {
    let db = MariaDb::start_with(metadata_args);
    db.exec("CREATE TABLE test.t (id INT PRIMARY KEY, a VARCHAR(10))");
    let url = db.url();
    let r = RedisServer::start(&["--cdc.mysql-url", &url, "--cdc.snapshot", "never"]);
    wait_until(Duration::from_secs(30), "streaming", || {
        status_field(&r, "state") == "streaming"
    });
    db.exec("INSERT INTO test.t VALUES (1, 'x')");
    wait_entries(&r, "cdc:test.t", 1);

    r.cmd(&["CDC.PAUSE"]);
    wait_until(Duration::from_secs(10), "paused", || {
        status_field(&r, "state") == "paused"
    });
    db.exec(
        "INSERT INTO test.t VALUES (2, 'y');
         ALTER TABLE test.t ADD COLUMN n INT UNSIGNED AFTER id;
         INSERT INTO test.t VALUES (3, 4294967295, 'z');
         ALTER TABLE test.t DROP COLUMN a;
         INSERT INTO test.t VALUES (4, 5);
         ALTER TABLE test.t CHANGE n m BIGINT;
         ALTER TABLE test.t RENAME COLUMN m TO k;
         UPDATE test.t SET k = -7 WHERE id = 1;
         ALTER TABLE test.t ADD COLUMN e ENUM('p','q') FIRST, ADD COLUMN j JSON;
         INSERT INTO test.t VALUES ('q', 6, 8, '{\"a\": 1}');
         DELETE FROM test.t WHERE k IS NULL;
         ALTER TABLE test.t MODIFY k BIGINT NOT NULL AFTER e, DROP PRIMARY KEY, ADD PRIMARY KEY (k, id);
         INSERT INTO test.t VALUES ('p', 9, 7, NULL);
         RENAME TABLE test.t TO test.t_old;
         INSERT INTO test.t_old VALUES (NULL, 10, 10, '[]');
         DROP TABLE test.t_old;
         CREATE TABLE test.t (x VARCHAR(5) PRIMARY KEY, s SET('a','b','c'));
         INSERT INTO test.t VALUES ('k', 'a,c');",
    );
    r.cmd(&["CDC.RESUME"]);
    let got = wait_change_lines(&r, "cdc:test.t", 10);
    let expected = [
        r#"c {"id":1} - {"id":1,"a":"x"}"#,
        r#"c {"id":2} - {"id":2,"a":"y"}"#,
        r#"c {"id":3} - {"id":3,"n":4294967295,"a":"z"}"#,
        r#"c {"id":4} - {"id":4,"n":5}"#,
        r#"u {"id":1} {"id":1,"k":null} {"id":1,"k":-7}"#,
        r#"c {"id":6} - {"e":"q","id":6,"k":8,"j":{"a":1}}"#,
        r#"d {"id":2} {"e":null,"id":2,"k":null,"j":null} -"#,
        r#"c {"k":9,"id":7} - {"e":"p","k":9,"id":7,"j":null}"#,
        // RENAME TABLE test.t TO test.t_old: the rows are gone from test.t.
        "t ? - -",
        r#"c {"x":"k"} - {"x":"k","s":"a,c"}"#,
    ];
    assert_eq!(got, expected);
    let old = entry_lines(&wait_entries(&r, "cdc:test.t_old", 2));
    // DROP TABLE: a `t` entry, so that replay of the old stream is the (gone) table: empty.
    assert_eq!(
        old,
        [
            r#"c {"k":10,"id":10} - {"e":null,"k":10,"id":10,"j":[]}"#,
            "t ? - -"
        ]
    );
    // The re-reads the ALTERs and the RENAME asked for end, and streaming goes on: replay
    // equals the table that has the name now.
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    assert_replay_equals_table(&r, &db, "test", "t");
}

/// The entries of `stream` that come from the binlog's rows (not the re-reads: `r` entries and
/// their markers), once there are `n`, as [`entry_lines`].
fn wait_change_lines(r: &RedisServer, stream: &str, n: usize) -> Vec<String> {
    let mut c = r.client();
    let mut lines = Vec::new();
    wait_until(CATCH_UP, "the row changes", || {
        lines = entry_lines(&stream_entries(&mut c, stream))
            .into_iter()
            .filter(|l| !l.starts_with("r ") && !l.starts_with("resync-"))
            .collect();
        lines.len() >= n
    });
    lines
}

#[test]
fn alter_mid_stream_with_full_row_metadata() {
    alter_mid_stream(&[]);
}

#[test]
fn alter_mid_stream_with_minimal_row_metadata() {
    alter_mid_stream(&["--binlog-row-metadata=MINIMAL"]);
}

/// MariaDB `log_bin_compress=ON`: the DDL arrives as QUERY_COMPRESSED events.
#[test]
fn alter_mid_stream_with_minimal_metadata_and_compressed_binlog() {
    alter_mid_stream(&[
        "--binlog-row-metadata=MINIMAL",
        "--log-bin-compress=ON",
        "--log-bin-compress-min-len=10",
    ]);
}

fn shape_resyncs(r: &RedisServer) -> u64 {
    info_field(r, "cdc", "cdc_shape_resyncs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Issue 12, 5: with MINIMAL metadata (MySQL 8's default), DDL while the module is paused,
/// on a table it has only snapshotted: the rows written before each ALTER decode with the
/// shape they were written with (stored in Redis with the position since the start), not with
/// today's, and nothing is re-read.
#[test]
fn ddl_during_a_pause_decodes_each_row_with_its_own_shape() {
    let db = MariaDb::start_with(&["--binlog-row-metadata=MINIMAL"]);
    db.exec("CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY, a VARCHAR(10)); INSERT INTO s.t VALUES (1, 'one')");
    let url = db.url();
    let r = RedisServer::start(&["--cdc.mysql-url", &url, "--cdc.tables", "s.*"]);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    r.cmd(&["CDC.PAUSE"]);
    wait_state(&r, "paused", STREAMING);
    db.exec(
        "INSERT INTO s.t VALUES (2, 'two');
         ALTER TABLE s.t ADD COLUMN c DATE AFTER id;
         INSERT INTO s.t VALUES (3, '2024-02-29', 'three');
         ALTER TABLE s.t DROP COLUMN a;
         INSERT INTO s.t VALUES (4, '2025-01-01');",
    );
    r.cmd(&["CDC.RESUME"]);
    let got = wait_change_lines(&r, "cdc:s.t", 3);
    assert_eq!(
        got,
        [
            r#"c {"id":2} - {"id":2,"a":"two"}"#,
            r#"c {"id":3} - {"id":3,"c":"2024-02-29","a":"three"}"#,
            r#"c {"id":4} - {"id":4,"c":"2025-01-01"}"#,
        ]
    );
    assert_eq!(shape_resyncs(&r), 0);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    assert_replay_equals_table(&r, &db, "s", "t");
}

/// The same across a kill -9 of redis-server: the shapes come back from the AOF with the
/// position they are valid at.
#[test]
fn ddl_while_redis_is_down_decodes_each_row_with_its_own_shape() {
    let db = MariaDb::start_with(&["--binlog-row-metadata=MINIMAL"]);
    db.exec("CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY, a VARCHAR(10))");
    let url = db.url();
    let r = RedisServer::start(&["--cdc.mysql-url", &url, "--cdc.tables", "s.*"]);
    wait_state(&r, "streaming", STREAMING);
    db.exec("INSERT INTO s.t VALUES (1, 'one'); ALTER TABLE s.t ADD COLUMN n INT");
    wait_entries(&r, "cdc:s.t", 1);
    wait_caught_up(&r, &db, CATCH_UP);
    r.kill9();
    db.exec(
        "INSERT INTO s.t VALUES (2, 'two', 2);
         ALTER TABLE s.t CHANGE a b VARCHAR(10), ADD COLUMN d DATE AFTER id;
         INSERT INTO s.t VALUES (3, '2024-02-29', 'three', 3);
         ALTER TABLE s.t DROP COLUMN b;
         UPDATE s.t SET n = 20 WHERE id = 2;",
    );
    r.restart();
    let got = wait_change_lines(&r, "cdc:s.t", 4);
    assert_eq!(
        got,
        [
            r#"c {"id":1} - {"id":1,"a":"one"}"#,
            r#"c {"id":2} - {"id":2,"a":"two","n":2}"#,
            r#"c {"id":3} - {"id":3,"d":"2024-02-29","b":"three","n":3}"#,
            r#"u {"id":2} {"id":2,"d":null,"n":2} {"id":2,"d":null,"n":20}"#,
        ]
    );
    assert_eq!(shape_resyncs(&r), 0);
    wait_snapshot_done_and_caught_up(&r, &db, CATCH_UP);
    assert_replay_equals_table(&r, &db, "s", "t");
}

/// A table whose stored shape is missing (deleted here; also a table the module has not read
/// yet) reshaped before the module looks at it: the rows it cannot decode are not written, and
/// the table is re-read so that replay equals the table; streaming goes on.
#[test]
fn a_table_reshaped_before_its_first_look_is_re_read() {
    let db = MariaDb::start_with(&["--binlog-row-metadata=MINIMAL"]);
    db.exec("CREATE TABLE test.h (id INT PRIMARY KEY, a VARCHAR(10))");
    let url = db.url();
    let r = RedisServer::start(&["--cdc.mysql-url", &url, "--cdc.snapshot", "never"]);
    wait_state(&r, "streaming", STREAMING);
    r.cmd(&["CDC.PAUSE"]);
    wait_state(&r, "paused", STREAMING);
    // Forget the shape the module stored at its start: the first look at information_schema
    // happens after the ALTER, so the old row cannot be matched to a shape.
    r.cmd(&["DEL", "cdc:offset:schema"]);
    db.exec("INSERT INTO test.h VALUES (1, 'x'); ALTER TABLE test.h ADD COLUMN b INT; INSERT INTO test.h VALUES (2, 'y', 3); DELETE FROM test.h WHERE id = 2");
    r.cmd(&["CDC.RESUME"]);
    wait_until(Duration::from_secs(30), "the re-read", || {
        shape_resyncs(&r) > 0
    });
    wait_caught_up(&r, &db, CATCH_UP);
    wait_until(Duration::from_secs(30), "the re-read to end", || {
        status_field(&r, "state") == "streaming"
            && entry_lines(&entries(&r, "test", "h"))
                .last()
                .is_some_and(|l| l.starts_with("resync-end"))
    });
    let list = assert_replay_equals_table(&r, &db, "test", "h");
    // Nothing was decoded with the wrong shape: the row written before the ALTER is not an
    // entry of its own, a re-read brings it.
    let lines = entry_lines(&list);
    let changes: Vec<&String> = lines
        .iter()
        .filter(|l| !l.starts_with("r ") && !l.starts_with("resync-"))
        .collect();
    assert_eq!(
        changes,
        [
            r#"c {"id":2} - {"id":2,"a":"y","b":3}"#,
            r#"d {"id":2} {"id":2,"a":"y","b":3} -"#,
        ]
    );
    assert!(
        lines.contains(&r#"r {"id":1} - {"id":1,"a":"x","b":null}"#.to_string()),
        "{lines:?}"
    );
}

/// An ALTER that changes only which columns key the table (ADD/DROP PRIMARY KEY, a UNIQUE index
/// of NOT NULL columns on a table without one) changes the entries' `key`: the table is re-read,
/// and replay by key stays the table. `unique`: also the steps where a UNIQUE index becomes or
/// stops being the key (with MINIMAL metadata the module does not follow UNIQUE indexes through
/// DDL: README Limits).
fn key_change_mid_stream(metadata_args: &[&str], unique: bool) {
    let db = MariaDb::start_with(metadata_args);
    db.exec(
        "CREATE TABLE test.k (id INT NOT NULL, a VARCHAR(10));
         INSERT INTO test.k VALUES (1, 'x'), (2, 'y');",
    );
    let url = db.url();
    let r = RedisServer::start(&["--cdc.mysql-url", &url]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    db.exec(
        "INSERT INTO test.k VALUES (3, 'z');
         ALTER TABLE test.k ADD PRIMARY KEY (id);
         UPDATE test.k SET a = 'x2' WHERE id = 1;
         DELETE FROM test.k WHERE id = 2;",
    );
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    assert_replay_equals_table(&r, &db, "test", "k");
    db.exec(
        "ALTER TABLE test.k DROP PRIMARY KEY, ADD UNIQUE (a);
         UPDATE test.k SET a = 'z3' WHERE id = 3;",
    );
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    assert_replay_equals_table(&r, &db, "test", "k");
    if !unique {
        return;
    }
    db.exec(
        "ALTER TABLE test.k MODIFY a VARCHAR(10) NOT NULL;
         UPDATE test.k SET id = 30 WHERE id = 3;",
    );
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    assert_replay_equals_table(&r, &db, "test", "k");
    db.exec(
        "ALTER TABLE test.k DROP INDEX a;
         UPDATE test.k SET a = 'x3' WHERE id = 1;",
    );
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    assert_replay_equals_table(&r, &db, "test", "k");
}

#[test]
fn a_key_change_mid_stream_keeps_replay_equal_with_full_metadata() {
    key_change_mid_stream(&[], true);
}

#[test]
fn a_key_change_mid_stream_keeps_replay_equal_with_minimal_metadata() {
    key_change_mid_stream(&["--binlog-row-metadata=MINIMAL"], false);
}

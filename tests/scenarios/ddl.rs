//! Schema changes in the middle of a stream, with `binlog_row_metadata=FULL` and `MINIMAL`:
//! rows logged before an ALTER keep the old shape, rows after it get the new one, even when the
//! module reads them after all the DDL has run (it is paused meanwhile, so information_schema
//! already shows the final shape when the old rows are decoded).

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
    let got = entry_lines(&wait_entries(&r, "cdc:test.t", 10));
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
    // The re-read the RENAME asked for (of test.t_old, gone by then) ends, and streaming goes on.
    wait_state(&r, "streaming", STREAMING);
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

/// A table reshaped behind the module's back (its shape read after DDL the module could not
/// follow) must stop the module in `error`, naming the position, with nothing wrong written.
#[test]
fn unfollowable_reshape_halts_with_minimal_metadata() {
    let db = MariaDb::start_with(&["--binlog-row-metadata=MINIMAL"]);
    db.exec("CREATE TABLE test.h (id INT PRIMARY KEY, a VARCHAR(10))");
    let url = db.url();
    let r = RedisServer::start(&["--cdc.mysql-url", &url, "--cdc.snapshot", "never"]);
    wait_until(Duration::from_secs(30), "streaming", || {
        status_field(&r, "state") == "streaming"
    });
    r.cmd(&["CDC.PAUSE"]);
    wait_until(Duration::from_secs(10), "paused", || {
        status_field(&r, "state") == "paused"
    });
    // The module has never seen test.h: its first look at information_schema happens after
    // the ALTER, so the old row cannot be matched to a shape.
    db.exec("INSERT INTO test.h VALUES (1, 'x'); ALTER TABLE test.h ADD COLUMN b INT; INSERT INTO test.h VALUES (2, 'y', 3)");
    r.cmd(&["CDC.RESUME"]);
    let mut c = r.client();
    wait_until(Duration::from_secs(30), "error", || {
        status_field(&r, "state") == "error"
    });
    let status = status_map(&mut c);
    let err = status.get("last_error").cloned().unwrap_or_default();
    assert!(
        err.contains("test.h") && err.contains("mysql-bin.") && err.contains("2 columns"),
        "{err}"
    );
    assert!(stream_entries(&mut c, "cdc:test.h").is_empty());
}

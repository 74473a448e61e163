//! Tests of the test harness itself (tests/support): MariaDB and redis-server fixtures, helpers.

use std::time::Duration;

use crate::support::*;
use mysql::prelude::Queryable;

#[test]
fn mariadb_starts_with_row_binlog_and_replication_user() {
    let db = MariaDb::start();
    assert!(db.port() > 0);
    assert!(db.pid() > 0);

    db.exec(
        "CREATE TABLE test.t (id INT PRIMARY KEY, name VARCHAR(20), n DECIMAL(10,2));
         INSERT INTO test.t VALUES (1, 'a', 1.5), (2, NULL, -0.25)",
    );
    let rows = db.query_strings("SELECT id, name, n FROM test.t ORDER BY id");
    assert_eq!(
        rows,
        vec![
            vec![Some("1".into()), Some("a".into()), Some("1.50".into())],
            vec![Some("2".into()), None, Some("-0.25".into())],
        ]
    );

    let (file, pos) = db.master_status();
    assert!(file.starts_with("mysql-bin."), "binlog file {file}");
    assert!(pos > 4, "binlog position {pos}");

    assert_eq!(
        db.query_one("SELECT @@binlog_format").as_deref(),
        Some("ROW")
    );
    assert_eq!(
        db.query_one("SELECT @@binlog_row_image").as_deref(),
        Some("FULL")
    );
    assert_eq!(
        db.query_one("SELECT @@binlog_row_metadata").as_deref(),
        Some("FULL")
    );
    assert_eq!(db.query_one("SELECT @@server_id").as_deref(), Some("1"));

    // The replication user can log in and read the binlog position.
    let mut cdc = mysql::Conn::new(mysql::Opts::from_url(&db.url()).unwrap()).unwrap();
    let status: Vec<mysql::Row> = cdc.query("SHOW MASTER STATUS").unwrap();
    assert_eq!(status.len(), 1);
    let grants: Vec<String> = cdc.query("SHOW GRANTS").unwrap();
    let grants = grants.join("\n");
    for privilege in ["REPLICATION SLAVE", "BINLOG MONITOR", "SELECT"] {
        assert!(
            grants.contains(privilege),
            "{privilege} missing in {grants}"
        );
    }

    // Root URL works too.
    let mut root = mysql::Conn::new(mysql::Opts::from_url(&db.root_url()).unwrap()).unwrap();
    let n: Option<u64> = root.query_first("SELECT COUNT(*) FROM test.t").unwrap();
    assert_eq!(n, Some(2));
}

#[test]
fn mariadb_restart_keeps_data_and_port_and_kill9_recovers() {
    let db = MariaDb::start();
    let port = db.port();
    db.exec("CREATE TABLE test.k (id INT PRIMARY KEY); INSERT INTO test.k VALUES (1)");
    let pid1 = db.pid();
    let (file1, _) = db.master_status();

    db.restart();
    assert_eq!(db.port(), port);
    assert_ne!(db.pid(), pid1);
    assert_eq!(
        db.query_one("SELECT COUNT(*) FROM test.k").as_deref(),
        Some("1")
    );
    // A restart rotates the binlog.
    let (file2, _) = db.master_status();
    assert!(file2 > file1, "{file2} after {file1}");

    db.exec("INSERT INTO test.k VALUES (2)");
    db.kill9();
    assert!(!db.is_running());
    db.start_again();
    assert_eq!(
        db.query_one("SELECT COUNT(*) FROM test.k").as_deref(),
        Some("2")
    );

    // exec shares one session across calls.
    db.exec("BEGIN");
    db.exec("INSERT INTO test.k VALUES (3)");
    db.exec("COMMIT");
    assert_eq!(
        db.query_one("SELECT MAX(id) FROM test.k").as_deref(),
        Some("3")
    );
}

#[test]
fn two_mariadb_at_once_are_independent() {
    let a = MariaDb::start();
    let b = MariaDb::start_with(&["--server-id=7", "--binlog-row-metadata=MINIMAL"]);
    assert_ne!(a.port(), b.port());
    assert_ne!(a.pid(), b.pid());
    assert_ne!(a.dir(), b.dir());
    a.exec("CREATE TABLE test.only_a (id INT PRIMARY KEY)");
    assert!(b.query_strings("SHOW TABLES IN test").is_empty());
    // extra args override the defaults
    assert_eq!(b.query_one("SELECT @@server_id").as_deref(), Some("7"));
    assert_eq!(
        b.query_one("SELECT @@binlog_row_metadata").as_deref(),
        Some("MINIMAL")
    );
    assert_eq!(
        a.query_one("SELECT @@binlog_row_metadata").as_deref(),
        Some("FULL")
    );
}

#[test]
fn mariadb_drop_stops_the_server_and_removes_its_dir() {
    let db = MariaDb::start();
    let pid = db.pid();
    let dir = db.dir().to_path_buf();
    drop(db);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} still alive"
    );
    if std::env::var_os("CDC_KEEP_TMP").is_none() {
        assert!(!dir.exists(), "{} not removed", dir.display());
    }
}

#[test]
fn redis_plain_starts_restarts_with_aof_and_stops() {
    let r = RedisServer::start_plain();
    assert_eq!(value_to_string(&r.cmd(&["PING"])), "PONG");
    r.cmd(&[
        "XADD",
        "s",
        "*",
        "op",
        "c",
        "key",
        "{\"id\":1}",
        "after",
        "{\"id\":1,\"v\":\"a\"}",
    ]);
    r.cmd(&[
        "XADD",
        "s",
        "*",
        "op",
        "c",
        "key",
        "{\"id\": 2}",
        "after",
        "{\"id\":2,\"v\":\"b\"}",
    ]);
    r.cmd(&[
        "XADD",
        "s",
        "*",
        "op",
        "u",
        "key",
        "{\"id\":1}",
        "before",
        "{\"id\":1,\"v\":\"a\"}",
        "after",
        "{\"id\":1,\"v\":\"A\"}",
    ]);
    r.cmd(&[
        "XADD",
        "s",
        "*",
        "op",
        "d",
        "key",
        "{\"id\":2}",
        "before",
        "{\"id\":2,\"v\":\"b\"}",
    ]);
    r.cmd(&[
        "XADD",
        "s",
        "*",
        "op",
        "r",
        "key",
        "{\"id\":3}",
        "after",
        "{\"id\":3,\"v\":null}",
    ]);

    let mut con = r.client();
    let entries = stream_entries(&mut con, "s");
    assert_eq!(entries.len(), 5);
    assert_eq!(field(&entries[0].1, "op"), Some("c"));
    let table = replay(&entries);
    assert_eq!(table.len(), 2);
    assert_eq!(table["{\"id\":1}"], serde_json::json!({"id": 1, "v": "A"}));
    assert_eq!(table["{\"id\":3}"], serde_json::json!({"id": 3, "v": null}));

    // Flat field/value replies parse into a map.
    r.cmd(&["HSET", "h", "a", "1", "b", "2"]);
    let m = reply_to_map(&r.cmd(&["HGETALL", "h"]));
    assert_eq!(m.get("b").map(String::as_str), Some("2"));
    assert!(r.try_cmd(&["NOSUCHCOMMAND"]).is_err());

    // kill -9 then restart: AOF with appendfsync always keeps everything.
    let port = r.port();
    let pid = r.pid();
    r.kill9();
    r.restart();
    assert_eq!(r.port(), port);
    assert_ne!(r.pid(), pid);
    assert_eq!(stream_entries(&mut r.client(), "s"), entries);
    assert!(r.log().contains("Ready to accept connections"));

    let pid = r.pid();
    drop(r);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "redis pid {pid} alive"
    );
}

#[test]
fn wait_until_returns_and_times_out() {
    let mut n = 0;
    wait_until(Duration::from_secs(5), "counter", || {
        n += 1;
        n > 3
    });
    let err = std::panic::catch_unwind(|| {
        wait_until(Duration::from_millis(200), "never-true condition", || false)
    })
    .unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("never-true condition"), "{msg}");
}

#[test]
fn redis_with_module_loads_and_answers_status() {
    if !module_built() {
        eprintln!(
            "NOTICE: {} not built; skipping the module-load check (run `cargo build --release`)",
            module_path().display()
        );
        return;
    }
    // While src/ is still a stub the .so may not be a Redis module yet.
    let so = std::fs::read(module_path()).unwrap();
    if !so.windows(18).any(|w| w == b"RedisModule_OnLoad") {
        eprintln!(
            "NOTICE: {} has no RedisModule_OnLoad yet; skipping",
            module_path().display()
        );
        return;
    }
    let r = RedisServer::start(&[]);
    let modules = value_to_json(&r.cmd(&["MODULE", "LIST"])).to_string();
    assert!(
        modules.contains("\"cdc\""),
        "module cdc not listed: {modules}"
    );
    let status = status_map(&mut r.client());
    assert_eq!(
        status.get("state").map(String::as_str),
        Some("unconfigured"),
        "{status:?}"
    );
}

#[test]
fn exec_reports_an_error_in_a_later_statement() {
    let db = MariaDb::start();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db.exec("SELECT 1; INSERT INTO test.nonexistent VALUES (1)")
    }));
    assert!(
        r.is_err(),
        "exec swallowed the error of its second statement"
    );
}

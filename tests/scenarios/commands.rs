//! Commands and configuration: CDC.STATUS/PAUSE/RESUME/TABLES, CONFIG SET of `cdc.*` at run
//! time (good and bad values), a wrong password and an unreachable source, secrets.
//!
//! Tests that need MariaDB share one (`shared_mariadb`) and use their own databases.

use std::io::{Read, Write};
use std::thread::sleep;
use std::time::Duration;

use crate::support::*;

fn err_text(r: redis::RedisResult<redis::Value>) -> String {
    match r {
        Ok(v) => panic!("expected an error reply, got {v:?}"),
        Err(e) => {
            // "ERR msg" comes back as kind + detail; put them back together.
            let code = e.code().unwrap_or("");
            let detail = e.detail().unwrap_or("");
            format!("{code} {detail}")
        }
    }
}

#[test]
fn bad_command_arguments_get_standard_errors() {
    check_command_arguments(&RedisServer::start(&[]));
}

/// Arity errors, CDC.STATUS's fields in order (RESP2 array, RESP3 map), CDC.TABLES with no
/// source, on a server with the module loaded and no source (also run on Valkey).
pub(crate) fn check_command_arguments(redis: &RedisServer) {
    for cmd in ["CDC.STATUS", "CDC.PAUSE", "CDC.RESUME", "CDC.TABLES"] {
        let e = err_text(redis.try_cmd(&[cmd, "extra"]));
        assert!(
            e.starts_with("ERR wrong number of arguments"),
            "{cmd} extra -> {e}"
        );
        let e = err_text(redis.try_cmd(&[cmd, "a", "b"]));
        assert!(
            e.starts_with("ERR wrong number of arguments"),
            "{cmd} a b -> {e}"
        );
    }
    assert_eq!(value_to_string(&redis.cmd(&["PING"])), "PONG");

    // CDC.STATUS: every field of docs/commands.md, in order (RESP2: a flat array).
    let reply = redis.cmd(&["CDC.STATUS"]);
    let redis::Value::Array(items) = &reply else {
        panic!("CDC.STATUS under RESP2: {reply:?}")
    };
    let names: Vec<String> = items.chunks(2).map(|c| value_to_string(&c[0])).collect();
    assert_eq!(
        names,
        [
            "state",
            "source",
            "position",
            "gtid",
            "lag_ms",
            "events",
            "transactions",
            "tables",
            "snapshot",
            "last_error",
            "uptime_s",
            "warnings"
        ]
    );
    let st = reply_to_map(&reply);
    assert_eq!(st["state"], "unconfigured");
    assert_eq!(st["snapshot"], "[]");

    // RESP3 clients get a map.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"HELLO 3\r\n").unwrap();
    sleep(Duration::from_millis(200));
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf).unwrap();
    s.write_all(b"CDC.STATUS\r\n").unwrap();
    let n = s.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"%12\r\n"),
        "RESP3 CDC.STATUS: {:?}",
        String::from_utf8_lossy(&buf[..n])
    );

    // CDC.TABLES with no source: an empty array.
    assert_eq!(redis.cmd(&["CDC.TABLES"]), redis::Value::Array(vec![]));
}

#[test]
fn config_set_of_bad_values_is_refused_naming_the_parameter() {
    check_config_set_values(&RedisServer::start(&[]));
}

/// Bad `CONFIG SET cdc.*` values are refused naming the parameter and change nothing; good
/// ones are taken (also run on Valkey).
pub(crate) fn check_config_set_values(redis: &RedisServer) {
    // Every config's default, as docs/configuration.md lists them.
    let defaults = reply_to_map(&redis.cmd(&["CONFIG", "GET", "cdc.*"]));
    for (param, value) in [
        ("cdc.mysql-url", ""),
        ("cdc.server-id", "0"),
        ("cdc.tables", "*.*"),
        ("cdc.exclude-tables", ""),
        ("cdc.stream-prefix", "cdc:"),
        ("cdc.offset-key", "cdc:offset"),
        ("cdc.snapshot", "initial"),
        ("cdc.stream-maxlen", "0"),
        ("cdc.format", "flat"),
        ("cdc.max-memory-percent", "90"),
        ("cdc.enabled", "yes"),
        ("cdc.exclude-columns", ""),
        ("cdc.mask-columns", ""),
        ("cdc.mask-salt", ""),
        ("cdc.mirror", "off"),
        ("cdc.mirror-prefix", ""),
        ("cdc.streams", "yes"),
        ("cdc.schema-changes", "yes"),
    ] {
        assert_eq!(
            defaults.get(param).map(String::as_str),
            Some(value),
            "default of {param}"
        );
    }
    let cases = [
        ("cdc.format", "xml"),
        ("cdc.mysql-url", "nope"),
        ("cdc.mysql-url", "http://u:p@h:1"),
        ("cdc.tables", "nodot"),
        ("cdc.tables", "a.b.c"),
        ("cdc.exclude-tables", "nodot"),
        ("cdc.offset-key", ""),
        ("cdc.server-id", "-1"),
        ("cdc.server-id", "abc"),
        ("cdc.enabled", "maybe"),
        ("cdc.schema-changes", "maybe"),
        ("cdc.server-id", "4294967296"),
        ("cdc.snapshot", "sometimes"),
        ("cdc.max-memory-percent", "0"),
        ("cdc.max-memory-percent", "101"),
        ("cdc.stream-maxlen", "-1"),
        ("cdc.mirror", "xml"),
        ("cdc.streams", "maybe"),
        ("cdc.exclude-columns", "a.b"),
        ("cdc.mask-columns", "a.b.c.d"),
        ("cdc.mysql-url", "mysql://u:secret@h:1?ssl-mode=bogus"),
        (
            "cdc.mysql-url",
            "mysql://u:secret@h:1?ssl-ca=/nonexistent/ca.pem",
        ),
    ];
    for (param, value) in cases {
        let before = reply_to_map(&redis.cmd(&["CONFIG", "GET", param]));
        let e = err_text(redis.try_cmd(&["CONFIG", "SET", param, value]));
        assert!(
            e.contains(param),
            "CONFIG SET {param} {value:?}: error does not name the parameter: {e}"
        );
        let after = reply_to_map(&redis.cmd(&["CONFIG", "GET", param]));
        assert_eq!(before, after, "{param} changed after a refused CONFIG SET");
    }
    assert_eq!(value_to_string(&redis.cmd(&["PING"])), "PONG");
    assert_eq!(status_field(redis, "state"), "unconfigured");
    // A check of the certificate without the CA to check it against is refused up front, not
    // failed at every connect (the other TLS refusals: tls.rs).
    let e = err_text(redis.try_cmd(&[
        "CONFIG",
        "SET",
        "cdc.mysql-url",
        "mysql://u:secret@h:1?ssl-mode=verify-ca",
    ]));
    assert!(e.contains("needs ssl-ca") && !e.contains("secret"), "{e}");

    // Good values are taken.
    redis.cmd(&["CONFIG", "SET", "cdc.tables", "a.*, b.c?"]);
    redis.cmd(&["CONFIG", "SET", "cdc.format", "flat"]);
    let got = reply_to_map(&redis.cmd(&["CONFIG", "GET", "cdc.tables"]));
    assert_eq!(got["cdc.tables"], "a.*, b.c?");
}

#[test]
fn config_set_mysql_url_at_run_time_starts_streaming() {
    let db = shared_mariadb();
    db.exec("CREATE DATABASE cmd_url; CREATE TABLE cmd_url.t (id INT PRIMARY KEY, v VARCHAR(10))");
    let redis = RedisServer::start(&["tables", "cmd_url.*"]);
    wait_state(&redis, "unconfigured", STREAMING);
    assert_eq!(status_field(&redis, "source"), "");

    redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", &db.url()]);
    wait_state(&redis, "streaming", STREAMING);
    let got = reply_to_map(&redis.cmd(&["CONFIG", "GET", "cdc.mysql-url"]));
    assert_eq!(
        got["cdc.mysql-url"],
        db.url(),
        "CONFIG GET returns the value as set"
    );
    db.exec("INSERT INTO cmd_url.t VALUES (1, 'a'), (2, 'b'); UPDATE cmd_url.t SET v = 'c' WHERE id = 2");
    wait_caught_up(&redis, &db, CATCH_UP);
    assert_replay_equals_table(&redis, &db, "cmd_url", "t");
    assert_eq!(xlen(&redis, "cdc:cmd_url.t"), 3);
    assert_eq!(status_field(&redis, "tables"), "1");

    // Back to no URL: idle again, nothing more is written.
    redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", ""]);
    wait_state(&redis, "unconfigured", STREAMING);
    db.exec("INSERT INTO cmd_url.t VALUES (3, 'x')");
    sleep(Duration::from_millis(1500));
    assert_eq!(xlen(&redis, "cdc:cmd_url.t"), 3);
    // And set again: resumes at the stored position, the missed row arrives.
    redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", &db.url()]);
    wait_state(&redis, "streaming", STREAMING);
    wait_caught_up(&redis, &db, CATCH_UP);
    assert_eq!(xlen(&redis, "cdc:cmd_url.t"), 4);
    assert_replay_equals_table(&redis, &db, "cmd_url", "t");
}

#[test]
fn wrong_password_and_unreachable_host_are_reported_and_recover_without_leaking_secrets() {
    const WRONG: &str = "Wr0ng-Pa55word";
    const UNREACHABLE: &str = "Unreach-S3cret";
    let db = shared_mariadb();
    db.exec("CREATE DATABASE cmd_auth; CREATE TABLE cmd_auth.t (id INT PRIMARY KEY)");
    let bad_url = format!("mysql://{CDC_USER}:{WRONG}@127.0.0.1:{}", db.port());
    let redis = RedisServer::start_with(
        &["--slowlog-log-slower-than", "0", "--loglevel", "verbose"],
        &["tables", "cmd_auth.*", "mysql-url", &bad_url],
    );
    let wait_error = |needle: &str| {
        wait_until(
            Duration::from_secs(20),
            &format!("last_error mentioning {needle:?}"),
            || {
                let st = status_map(&mut redis.client());
                matches!(st["state"].as_str(), "connecting" | "error")
                    && st["last_error"].to_lowercase().contains(needle)
            },
        );
        assert_eq!(value_to_string(&redis.cmd(&["PING"])), "PONG");
        redis.cmd(&["SET", "still", "serving"]);
    };
    wait_error("access denied");
    let st = status_map(&mut redis.client());
    assert!(
        st["last_error"].contains("cdc.mysql-url"),
        "the error should say what to fix: {}",
        st["last_error"]
    );

    // Unreachable: nothing listens on this port.
    let dead = format!("mysql://{CDC_USER}:{UNREACHABLE}@127.0.0.1:{}", free_port());
    redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", &dead]);
    wait_error("cannot connect");
    // Long enough for a few retries with backoff.
    sleep(Duration::from_secs(3));
    assert_eq!(value_to_string(&redis.cmd(&["PING"])), "PONG");

    // Fixed by CONFIG SET: streams at once (no waiting out the backoff).
    redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", &db.url()]);
    wait_state(&redis, "streaming", Duration::from_secs(10));
    db.exec("INSERT INTO cmd_auth.t VALUES (1), (2)");
    wait_caught_up(&redis, &db, CATCH_UP);
    assert_eq!(xlen(&redis, "cdc:cmd_auth.t"), 2);
    let source = status_field(&redis, "source");
    assert!(
        source.starts_with(&format!("127.0.0.1:{}", db.port())),
        "source {source:?}"
    );

    // No password anywhere but CONFIG GET.
    let mut places = vec![
        ("CDC.STATUS", value_to_string(&redis.cmd(&["CDC.STATUS"]))),
        ("INFO", value_to_string(&redis.cmd(&["INFO", "everything"]))),
        ("INFO cdc", value_to_string(&redis.cmd(&["INFO", "cdc"]))),
        (
            "SLOWLOG",
            value_to_json(&redis.cmd(&["SLOWLOG", "GET", "1000"])).to_string(),
        ),
        (
            "CLIENT LIST",
            value_to_string(&redis.cmd(&["CLIENT", "LIST"])),
        ),
        (
            "MODULE LIST",
            value_to_json(&redis.cmd(&["MODULE", "LIST"])).to_string(),
        ),
    ];
    places.push(("redis log", redis.log()));
    for (what, text) in &places {
        for secret in [WRONG, UNREACHABLE, CDC_PASSWORD] {
            assert!(
                !text.contains(secret),
                "{secret} appears in {what}:\n{text}"
            );
        }
    }
    assert!(
        places[3].1.contains("CONFIG"),
        "SLOWLOG should hold the CONFIG SET calls: {}",
        places[3].1
    );
}

#[test]
fn pause_and_resume_hold_entries_back_and_then_deliver_all() {
    let db = shared_mariadb();
    db.exec("CREATE DATABASE cmd_pause; CREATE TABLE cmd_pause.t (id INT PRIMARY KEY, n INT)");
    let redis = RedisServer::start(&["tables", "cmd_pause.*", "mysql-url", &db.url()]);
    wait_state(&redis, "streaming", STREAMING);
    db.exec("INSERT INTO cmd_pause.t VALUES (0, 0)");
    wait_caught_up(&redis, &db, CATCH_UP);
    assert_eq!(xlen(&redis, "cdc:cmd_pause.t"), 1);

    assert_eq!(value_to_string(&redis.cmd(&["CDC.PAUSE"])), "OK");
    wait_state(&redis, "paused", Duration::from_secs(10));
    for i in 1..=20 {
        db.exec(&format!(
            "INSERT INTO cmd_pause.t VALUES ({i}, {i}); UPDATE cmd_pause.t SET n = n + 1 WHERE id = 0"
        ));
    }
    sleep(Duration::from_millis(1500));
    assert_eq!(
        xlen(&redis, "cdc:cmd_pause.t"),
        1,
        "entries written while paused"
    );
    assert_eq!(status_field(&redis, "state"), "paused");

    assert_eq!(value_to_string(&redis.cmd(&["CDC.RESUME"])), "OK");
    wait_state(&redis, "streaming", STREAMING);
    wait_caught_up(&redis, &db, CATCH_UP);
    assert_eq!(xlen(&redis, "cdc:cmd_pause.t"), 41);
    assert_replay_equals_table(&redis, &db, "cmd_pause", "t");
}

#[test]
fn enabled_no_stops_following_and_yes_catches_up() {
    let db = shared_mariadb();
    db.exec("CREATE DATABASE cmd_enabled; CREATE TABLE cmd_enabled.t (id INT PRIMARY KEY)");
    let redis = RedisServer::start(&["tables", "cmd_enabled.*", "mysql-url", &db.url()]);
    wait_state(&redis, "streaming", STREAMING);

    redis.cmd(&["CONFIG", "SET", "cdc.enabled", "no"]);
    wait_until(Duration::from_secs(10), "state to leave streaming", || {
        status_field(&redis, "state") != "streaming"
    });
    db.exec("INSERT INTO cmd_enabled.t VALUES (1), (2), (3)");
    sleep(Duration::from_millis(1500));
    assert_eq!(
        xlen(&redis, "cdc:cmd_enabled.t"),
        0,
        "entries written while disabled"
    );

    redis.cmd(&["CONFIG", "SET", "cdc.enabled", "yes"]);
    wait_state(&redis, "streaming", STREAMING);
    db.exec("INSERT INTO cmd_enabled.t VALUES (4)");
    wait_caught_up(&redis, &db, CATCH_UP);
    assert_eq!(xlen(&redis, "cdc:cmd_enabled.t"), 4);
    assert_replay_equals_table(&redis, &db, "cmd_enabled", "t");
}

/// A stream key or the offset key holding another type is refused before anything of the batch
/// is written: CDC.STATUS names the key; once it is removed, every change arrives exactly once.
#[test]
fn a_key_of_another_type_is_refused_whole_and_named() {
    let db = shared_mariadb();
    db.exec(
        "CREATE DATABASE cmd_wt; CREATE TABLE cmd_wt.t (id INT PRIMARY KEY); \
         CREATE TABLE cmd_wt.u (id INT PRIMARY KEY)",
    );
    let redis = RedisServer::start(&["tables", "cmd_wt.*", "mysql-url", &db.url()]);
    wait_state(&redis, "streaming", STREAMING);
    db.exec("INSERT INTO cmd_wt.t VALUES (0)");
    wait_caught_up(&redis, &db, CATCH_UP);
    let refused = |key: &str, what: &str| {
        wait_until(CATCH_UP, "the key named in last_error", || {
            let e = status_field(&redis, "last_error");
            e.contains(key) && e.contains(what)
        });
        assert_eq!(
            xlen(&redis, "cdc:cmd_wt.t"),
            1,
            "part of a refused batch was written"
        );
    };

    // A stream key taken by a string.
    redis.cmd(&["SET", "cdc:cmd_wt.u", "not a stream"]);
    db.exec("BEGIN; INSERT INTO cmd_wt.t VALUES (1); INSERT INTO cmd_wt.u VALUES (1); COMMIT");
    refused("cdc:cmd_wt.u", "another type than a stream");
    redis.cmd(&["DEL", "cdc:cmd_wt.u"]);
    wait_caught_up(&redis, &db, CATCH_UP);
    assert_eq!(xlen(&redis, "cdc:cmd_wt.t"), 2);
    assert_eq!(xlen(&redis, "cdc:cmd_wt.u"), 1);

    // The offset key taken by a string (the real one kept aside).
    redis.cmd(&["RENAME", "cdc:offset", "saved-offset"]);
    redis.cmd(&["SET", "cdc:offset", "not a hash"]);
    db.exec("INSERT INTO cmd_wt.t VALUES (2)");
    wait_until(CATCH_UP, "the offset key named in last_error", || {
        status_field(&redis, "last_error").contains("cdc:offset")
    });
    assert_eq!(
        xlen(&redis, "cdc:cmd_wt.t"),
        2,
        "entries written without their position"
    );
    redis.cmd(&["DEL", "cdc:offset"]);
    redis.cmd(&["RENAME", "saved-offset", "cdc:offset"]);
    wait_caught_up(&redis, &db, CATCH_UP);
    assert_eq!(xlen(&redis, "cdc:cmd_wt.t"), 3);
    assert_replay_equals_table(&redis, &db, "cmd_wt", "t");
    assert_replay_equals_table(&redis, &db, "cmd_wt", "u");
}

/// `maxmemory-policy allkeys-*` can evict the offset hash and the streams (issue 13, 9): a
/// warning in the log and in CDC.STATUS `warnings` naming the fix; none under `noeviction`.
#[test]
fn an_evicting_maxmemory_policy_is_warned_about() {
    let db = shared_mariadb();
    db.exec("CREATE DATABASE cmd_ev; CREATE TABLE cmd_ev.t (id INT PRIMARY KEY)");
    let url = db.url();
    let redis = RedisServer::start_with(
        &["--maxmemory-policy", "allkeys-lru"],
        &["mysql-url", &url, "tables", "cmd_ev.*"],
    );
    wait_state(&redis, "streaming", STREAMING);
    let w = status_field(&redis, "warnings");
    assert!(
        w.contains("allkeys-lru") && w.contains("noeviction"),
        "CDC.STATUS warnings: {w:?}"
    );
    assert!(redis
        .log()
        .contains("maxmemory-policy allkeys-lru can evict"));
    redis.cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    redis.cmd(&["CDC.PAUSE"]);
    wait_state(&redis, "paused", STREAMING);
    redis.cmd(&["CDC.RESUME"]);
    wait_state(&redis, "streaming", STREAMING);
    assert_eq!(status_field(&redis, "warnings"), "");
}

/// Wait until `redis` is in state `error` with a `last_error` that names `fix`.
fn wait_error_naming(redis: &RedisServer, timeout: Duration, fix: &str) {
    wait_until(timeout, &format!("an error naming {fix}"), || {
        let st = status(redis);
        st["state"] == "error" && st["last_error"].contains(fix)
    });
}

/// A source whose `binlog_format` is not ROW, or whose `binlog_row_image` is not FULL: state
/// `error` naming the `SET GLOBAL` to run; once it has run, the module goes on by itself.
#[test]
fn binlog_format_and_row_image_are_named_with_the_fix_and_recover_once_fixed() {
    let db = MariaDb::start_with(&["--binlog-format=MIXED"]);
    db.exec("CREATE TABLE test.t (id INT PRIMARY KEY, v INT)");
    let redis = RedisServer::start(&["mysql-url", &db.url(), "tables", "test.*"]);
    let wait_error = |fix: &str| wait_error_naming(&redis, Duration::from_secs(30), fix);
    wait_error("SET GLOBAL binlog_format=ROW");
    db.exec("SET GLOBAL binlog_format = ROW");
    wait_state(&redis, "streaming", STREAMING);
    // A new session: the cached one keeps the MIXED it started with.
    exec_all(&mut db.conn(), "INSERT INTO test.t VALUES (1, 1), (2, 2)").unwrap();
    wait_caught_up(&redis, &db, CATCH_UP);
    assert_replay_equals_table(&redis, &db, "test", "t");

    db.exec("SET GLOBAL binlog_row_image = MINIMAL");
    redis.cmd(&["CDC.PAUSE"]);
    wait_state(&redis, "paused", STREAMING);
    redis.cmd(&["CDC.RESUME"]);
    wait_error("SET GLOBAL binlog_row_image=FULL");
    db.exec("SET GLOBAL binlog_row_image = FULL");
    wait_state(&redis, "streaming", STREAMING);
    exec_all(
        &mut db.conn(),
        "UPDATE test.t SET v = 3 WHERE id = 2; INSERT INTO test.t VALUES (3, 3)",
    )
    .unwrap();
    wait_caught_up(&redis, &db, CATCH_UP);
    assert_replay_equals_table(&redis, &db, "test", "t");
    assert_eq!(status_field(&redis, "last_error"), "");
}

/// A source with the binary log off is a CDC.STATUS error that names the fix, and nothing is
/// written (no position, no stream) while it lasts.
#[test]
fn a_source_without_the_binary_log_is_an_error_naming_log_bin() {
    let db = MariaDb::start_with(&["--skip-log-bin"]);
    db.exec("CREATE TABLE test.t (id INT PRIMARY KEY); INSERT INTO test.t VALUES (1)");
    let redis = RedisServer::start(&["mysql-url", &db.url(), "tables", "test.*"]);
    wait_error_naming(&redis, Duration::from_secs(30), "--log-bin");
    assert_eq!(xlen(&redis, "cdc:test.t"), 0);
    assert_eq!(redis.cmd(&["EXISTS", "cdc:offset"]), redis::Value::Int(0));
}

/// Missing privileges are named with the GRANT to run (issue 13, 3 and 8): no REPLICATION SLAVE
/// is not "check the user and password"; a user who can see no captured table at all is told
/// so, not left `streaming` with `tables 0`.
#[test]
fn missing_privileges_are_named_with_the_grant() {
    let db = shared_mariadb();
    db.exec(
        "CREATE DATABASE cmd_pv; CREATE TABLE cmd_pv.t (id INT PRIMARY KEY); INSERT INTO cmd_pv.t VALUES (1);
         CREATE USER 'norepl'@'%' IDENTIFIED BY 'pw'; GRANT SELECT, BINLOG MONITOR ON *.* TO 'norepl'@'%';
         CREATE USER 'nosel'@'%' IDENTIFIED BY 'pw'; GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'nosel'@'%';",
    );
    let url = |user: &str| format!("mysql://{user}:pw@127.0.0.1:{}", db.port());
    let r = RedisServer::start(&["mysql-url", &url("norepl"), "tables", "cmd_pv.*"]);
    wait_error_naming(&r, CATCH_UP, "REPLICATION SLAVE");
    let err = status_field(&r, "last_error");
    assert!(!err.contains("check the user and password"), "{err}");
    drop(r);
    let r = RedisServer::start(&["mysql-url", &url("nosel"), "tables", "cmd_pv.*"]);
    wait_error_naming(&r, CATCH_UP, "GRANT SELECT");
}

/// A captured table the user cannot read (issue 13, 3): information_schema hides it, so it was
/// not snapshotted; its first rows in the binlog are an error naming the GRANT, not a stream
/// that silently lacks the rows that existed. After the GRANT the module goes on by itself and
/// re-reads the table: replay equals the table.
#[test]
fn a_captured_table_the_user_cannot_read_is_an_error_until_granted_then_re_read() {
    let db = shared_mariadb();
    db.exec(
        "CREATE DATABASE cmd_pt_ok; CREATE TABLE cmd_pt_ok.t (id INT PRIMARY KEY, v INT); INSERT INTO cmd_pt_ok.t VALUES (1, 1);
         CREATE DATABASE cmd_pt_no; CREATE TABLE cmd_pt_no.t (id INT PRIMARY KEY, v INT); INSERT INTO cmd_pt_no.t VALUES (1, 1), (2, 2);
         CREATE USER 'partsel'@'%' IDENTIFIED BY 'pw';
         GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'partsel'@'%';
         GRANT SELECT ON cmd_pt_ok.* TO 'partsel'@'%';",
    );
    let url = format!("mysql://partsel:pw@127.0.0.1:{}", db.port());
    let r = RedisServer::start(&["mysql-url", &url, "tables", "cmd_pt_*.*"]);
    wait_state(&r, "streaming", STREAMING);
    assert_eq!(stream_entries(&mut r.client(), "cdc:cmd_pt_ok.t").len(), 1);
    db.exec("INSERT INTO cmd_pt_no.t VALUES (3, 3)");
    wait_until(CATCH_UP, "an error naming the table and the GRANT", || {
        let st = status(&r);
        st["state"] == "error"
            && st["last_error"].contains("cmd_pt_no.t")
            && st["last_error"].contains("GRANT SELECT ON `cmd_pt_no`.* TO 'partsel'")
    });
    // Nothing of the unreadable table was written meanwhile.
    assert!(stream_entries(&mut r.client(), "cdc:cmd_pt_no.t").is_empty());
    db.exec("GRANT SELECT ON cmd_pt_no.* TO 'partsel'@'%'");
    wait_until(
        Duration::from_secs(60),
        "the table re-read after the GRANT",
        || {
            let entries = stream_entries(&mut r.client(), "cdc:cmd_pt_no.t");
            status(&r)["state"] == "streaming"
                && status(&r).get("snapshot").map(String::as_str) == Some("[]")
                && replay_canonical(&entries) == table_json(&db, "cmd_pt_no", "t")
        },
    );
    assert_eq!(status_field(&r, "last_error"), "");
}

/// A wrong password is an `error` that stays `error` while the module retries (issue 13, 8: it
/// alternated with `connecting` at every attempt), naming the user and password as the fix.
#[test]
fn a_wrong_password_stays_an_error_while_retrying() {
    let db = shared_mariadb();
    let url = format!("mysql://cdc:wrong-password@127.0.0.1:{}", db.port());
    let r = RedisServer::start(&["mysql-url", &url]);
    wait_state(&r, "error", STREAMING);
    for _ in 0..30 {
        let st = status(&r);
        assert_eq!(st["state"], "error", "{st:?}");
        assert!(st["last_error"].contains("user and password"), "{st:?}");
        assert!(!st["last_error"].contains("wrong-password"), "{st:?}");
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// Load arguments (issue 13, 7): an unknown name was ignored without a word; now the load
/// fails naming it (never a value: a URL standing where a name should is shown as
/// `(redacted)`) and the names. Every config's name, bare or `cdc.`-prefixed, is a valid
/// argument.
#[test]
fn load_arguments_with_wrong_names_fail_the_load_loudly() {
    check_load_arguments(&RedisServer::start_plain());
}

/// On a server without the module: MODULE LOAD with wrong argument names fails loudly, a plain
/// load works, and after MODULE UNLOAD a load with every config by its bare name works (also
/// run on Valkey, where a second load once failed on the ACL category the first one left).
pub(crate) fn check_load_arguments(redis: &RedisServer) {
    let so = module_path().display().to_string();
    let e = redis
        .try_cmd(&["MODULE", "LOAD", &so, "mysql-ur", "x"])
        .expect_err("an unknown name must fail the load");
    assert!(!format!("{e:?}").contains("S3cret"), "{e:?}");
    let e = redis
        .try_cmd(&["MODULE", "LOAD", &so, "mysql://u:S3cret@h", "x"])
        .expect_err("a URL without its name must fail the load");
    assert!(!format!("{e:?}").contains("S3cret"), "{e:?}");
    let log = redis.log();
    assert!(
        log.contains("unknown module argument 'mysql-ur'")
            && log.contains("unknown module argument '(redacted)'")
            && log.contains("mysql-url, tables"),
        "{log}"
    );
    assert!(!log.contains("S3cret"), "the password reached the log");
    assert!(redis
        .try_cmd(&["MODULE", "LOAD", &so, "tables", "s.*", "enabled"])
        .is_err());
    // Every registered config, by its bare name, with its default value.
    redis.cmd(&["MODULE", "LOAD", &so]);
    let all = reply_to_map(&redis.cmd(&["CONFIG", "GET", "cdc.*"]));
    redis.cmd(&["MODULE", "UNLOAD", "cdc"]);
    let mut args: Vec<String> = vec!["MODULE".into(), "LOAD".into(), so.clone()];
    for (name, value) in &all {
        args.push(name.trim_start_matches("cdc.").to_string());
        args.push(value.clone());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    redis.cmd(&refs);
    assert_eq!(reply_to_map(&redis.cmd(&["CONFIG", "GET", "cdc.*"])), all);
    // And by their cdc. names (as --cdc.<name> and redis.conf spell them).
    redis.cmd(&["MODULE", "UNLOAD", "cdc"]);
    let mut args: Vec<String> = vec!["MODULE".into(), "LOAD".into(), so];
    for (name, value) in &all {
        args.push(name.clone());
        args.push(if name == "cdc.tables" {
            "pre.*".into()
        } else {
            value.clone()
        });
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    redis.cmd(&refs);
    let got = reply_to_map(&redis.cmd(&["CONFIG", "GET", "cdc.*"]));
    assert_eq!(got["cdc.tables"], "pre.*");
}

/// `CONFIG SET` of `cdc.*` under load, each a restart of the pipeline from the stored position:
/// the URL to the same server as another user, `cdc.server-id`, table patterns that keep the
/// captured set, `cdc.snapshot` and `cdc.max-memory-percent`; in the middle of the initial
/// snapshot of a 60k-row table that is being updated, and in the middle of a transaction of
/// 30k rows. Nothing lost, nothing twice.
#[test]
fn config_changes_under_load_mid_snapshot_and_mid_transaction_lose_and_repeat_nothing() {
    use mysql::prelude::Queryable;
    let db = MariaDb::start();
    db.exec(
        "CREATE DATABASE cs; CREATE TABLE cs.big (id INT PRIMARY KEY, v INT, pad VARCHAR(100));
         INSERT INTO cs.big SELECT seq, 0, REPEAT('b', 60) FROM cs.seq_1_to_60000;
         CREATE USER 'cdc2'@'%' IDENTIFIED BY 'other-secret';
         GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO 'cdc2'@'%'",
    );
    let url = db.url();
    let url2 = format!("mysql://cdc2:other-secret@127.0.0.1:{}", db.port());
    let redis = RedisServer::start(&["mysql-url", &url, "tables", "cs.*"]);
    wait_until(CATCH_UP, "the snapshot to read cs.big", || {
        xlen(&redis, "cdc:cs.big") > 0
    });
    // Created once the snapshot runs: streamed from their first row, never snapshotted.
    create_load_tables(&db, "cs");
    db.exec("CREATE TABLE cs.tx (id INT PRIMARY KEY, pad VARCHAR(200))");
    let load = Load::start(db.port(), "cs", 51, LOAD_PAUSE);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let updater = {
        let (stop, port) = (stop.clone(), db.port());
        std::thread::spawn(move || {
            let mut c = patient_conn(port);
            let mut rng = Lcg(9);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = 1 + rng.next(60_000);
                c.query_drop(format!(
                    "UPDATE cs.big SET v = v + 1, pad = 'upd' WHERE id IN ({id}, {})",
                    60_001 - id
                ))
                .expect("update");
                sleep(Duration::from_millis(3));
            }
        })
    };
    let changes: [(&str, &str); 8] = [
        ("cdc.mysql-url", &url2),
        ("cdc.server-id", "4242"),
        ("cdc.exclude-tables", "cs.nothing_*"),
        ("cdc.tables", "cs.*, elsewhere.*"),
        ("cdc.snapshot", "when-needed"),
        ("cdc.max-memory-percent", "95"),
        ("cdc.mysql-url", &url),
        ("cdc.server-id", "0"),
    ];
    // Mid-snapshot: two changes while cs.big is read.
    let mut restarts = 0;
    for (name, value) in &changes[..2] {
        let n = xlen(&redis, "cdc:cs.big");
        if n >= 60_000 {
            break;
        }
        redis.cmd(&["CONFIG", "SET", name, value]);
        restarts += 1;
        wait_until(CATCH_UP, "the snapshot to go on", || {
            xlen(&redis, "cdc:cs.big") > n + 2000 || status(&redis)["snapshot"] == "[]"
        });
    }
    eprintln!("{restarts} config changes mid-snapshot");
    wait_until(CATCH_UP, "the snapshot to end", || {
        xlen(&redis, "cdc:cs.big") >= 60_000 && status(&redis)["snapshot"] == "[]"
    });
    for (name, value) in &changes[2..] {
        load.wait_progress(40, Duration::from_secs(60));
        redis.cmd(&["CONFIG", "SET", name, value]);
    }
    // Mid-transaction: the URL switched while a 30k-row transaction is written.
    let key = "cdc:cs.tx";
    for (round, u) in [&url2, &url].into_iter().enumerate() {
        let from = round as u64 * 30_000;
        let insert = insert_in_one_transaction(db.port(), "cs.tx", from, 30_000, 100);
        let at = when_between(&redis, key, from + 600, from + 30_000 - 600, || false);
        redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", u]);
        eprintln!("URL changed at XLEN {at:?} of {key}");
        insert.join().expect("insert thread").expect("large insert");
        wait_until(CATCH_UP, "the transaction written", || {
            xlen(&redis, key) >= from + 30_000
        });
    }
    load.wait_progress(50, Duration::from_secs(60));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    updater.join().expect("updater");
    load.stop();
    wait_snapshot_done_and_caught_up(&redis, &db, CATCH_UP);
    verify_load(&redis, &db, "cs", true);
    for table in ["big", "tx"] {
        let list = entries(&redis, "cs", table);
        assert_each_pos_once(&list, table);
        assert_replays_to_table(&list, &db, "cs", table);
    }
    assert_eq!(xlen(&redis, key), 60_000);
}

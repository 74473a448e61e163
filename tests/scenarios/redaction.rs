//! The password of `cdc.mysql-url` on every path that sets it (issue 13, 7): load arguments in
//! redis.conf (also `cdc.`-prefixed), MODULE LOAD, MODULE LOADEX ARGS and CONFIG, CONFIG SET.
//! Each time: the module streams with the URL, CONFIG GET returns it as set, and SLOWLOG,
//! MONITOR, MODULE LIST, INFO, CDC.STATUS, CLIENT LIST and the Redis log do not show the
//! password (docs/configuration.md, "Sensitive configs"); CONFIG REWRITE writes a file that
//! restarts streaming.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::*;

/// A connection in MONITOR mode: what Redis showed it, read at the end.
struct Monitor(TcpStream);

impl Monitor {
    fn start(redis: &RedisServer) -> Monitor {
        let mut s = TcpStream::connect(("127.0.0.1", redis.port())).expect("connect for MONITOR");
        s.write_all(b"MONITOR\r\n").unwrap();
        let mut ok = [0u8; 5];
        s.read_exact(&mut ok).unwrap();
        assert_eq!(&ok, b"+OK\r\n");
        Monitor(s)
    }

    /// Everything shown so far, after a `SET <probe> 1` (so that it is known to work).
    fn text(&mut self, redis: &RedisServer, probe: &str) -> String {
        redis.cmd(&["SET", probe, "1"]);
        self.0
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let (mut all, mut buf) = (Vec::new(), [0u8; 65536]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.0.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(_) if String::from_utf8_lossy(&all).contains(probe) => break,
                Err(_) => {}
            }
        }
        let text = String::from_utf8_lossy(&all).into_owned();
        assert!(text.contains(probe), "MONITOR did not show {probe}: {text}");
        text
    }
}

fn config_get(redis: &RedisServer, name: &str) -> String {
    reply_to_map(&redis.cmd(&["CONFIG", "GET", name]))
        .remove(name)
        .unwrap_or_else(|| panic!("CONFIG GET {name}: no such config"))
}

/// The `args` MODULE LIST shows for `cdc`.
fn module_list_args(redis: &RedisServer) -> Vec<String> {
    let list = value_to_json(&redis.cmd(&["MODULE", "LIST"]));
    for module in list.as_array().expect("MODULE LIST is an array") {
        let m = module
            .as_array()
            .expect("a module is a flat array under RESP2");
        let get = |k: &str| m.iter().position(|v| v == k).map(|i| &m[i + 1]);
        if get("name").and_then(|v| v.as_str()) == Some("cdc") {
            let args = get("args").and_then(|v| v.as_array()).expect("args");
            return args
                .iter()
                .map(|a| a.as_str().unwrap_or_default().to_string())
                .collect();
        }
    }
    panic!("cdc is not in MODULE LIST: {list}");
}

/// SLOWLOG GET, every entry's arguments joined by spaces.
fn slowlog(redis: &RedisServer) -> Vec<String> {
    let log = value_to_json(&redis.cmd(&["SLOWLOG", "GET", "1000000"]));
    log.as_array()
        .expect("SLOWLOG GET is an array")
        .iter()
        .map(|e| {
            e[3].as_array()
                .expect("entry arguments")
                .iter()
                .map(|a| a.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// `secret` is nowhere Redis shows commands, arguments or state, but in `allowed` SLOWLOG
/// entries; also not in `extra` (MONITOR).
fn assert_hidden(
    redis: &RedisServer,
    secret: &str,
    extra: &[(&str, String)],
    allowed: impl Fn(&str) -> bool,
) {
    let mut places = vec![
        ("CDC.STATUS", value_to_string(&redis.cmd(&["CDC.STATUS"]))),
        ("INFO", value_to_string(&redis.cmd(&["INFO", "everything"]))),
        (
            "MODULE LIST",
            value_to_json(&redis.cmd(&["MODULE", "LIST"])).to_string(),
        ),
        (
            "CLIENT LIST",
            value_to_string(&redis.cmd(&["CLIENT", "LIST"])),
        ),
        ("redis log", redis.log()),
    ];
    places.extend(extra.iter().cloned());
    for (what, text) in &places {
        assert!(
            !text.contains(secret),
            "{secret} appears in {what}:\n{text}"
        );
    }
    for entry in slowlog(redis) {
        assert!(
            !entry.contains(secret) || allowed(&entry),
            "{secret} appears in SLOWLOG: {entry}"
        );
    }
}

const SLOWLOG_ALL: &[&str] = &[
    "--slowlog-log-slower-than",
    "0",
    "--slowlog-max-len",
    "100000",
];

/// `loadmodule <so> mysql-url URL cdc.tables ...` in redis.conf: the URL is `(redacted)` in
/// MODULE LIST and SLOWLOG, CONFIG REWRITE writes `(redacted)` on the loadmodule line and the
/// URL on its own `cdc.mysql-url` line, and Redis restarted from that file streams again.
#[test]
fn a_load_argument_url_is_hidden_and_config_rewrite_keeps_it() {
    let db = shared_mariadb();
    db.exec(
        "CREATE DATABASE red_conf; CREATE TABLE red_conf.t (id INT PRIMARY KEY, v VARCHAR(10))",
    );
    let url = db.url();
    let redis = RedisServer::start_with_config(&format!(
        "slowlog-log-slower-than 0\nslowlog-max-len 100000\n\
         loadmodule {{module}} mysql-url {url} cdc.tables red_conf.* snapshot never\n"
    ));
    let mut monitor = Monitor::start(&redis);
    wait_state(&redis, "streaming", STREAMING);
    let expected_args = [
        "mysql-url",
        "(redacted)",
        "cdc.tables",
        "red_conf.*",
        "snapshot",
        "never",
    ];
    assert_eq!(module_list_args(&redis), expected_args);
    assert_eq!(config_get(&redis, "cdc.mysql-url"), url);
    assert_eq!(config_get(&redis, "cdc.tables"), "red_conf.*");
    db.exec("INSERT INTO red_conf.t VALUES (1, 'a'), (2, 'b')");
    wait_caught_up(&redis, &db, CATCH_UP);
    assert_replay_equals_table(&redis, &db, "red_conf", "t");

    redis.cmd(&["CONFIG", "REWRITE"]);
    let conf = std::fs::read_to_string(redis.config_path()).unwrap();
    let loadmodule: Vec<&str> = conf
        .lines()
        .filter(|l| l.starts_with("loadmodule "))
        .collect();
    assert_eq!(loadmodule.len(), 1, "{conf}");
    assert!(
        loadmodule[0].ends_with(&format!(" {}", expected_args.join(" "))),
        "{conf}"
    );
    assert!(
        conf.lines()
            .any(|l| l == format!("cdc.mysql-url \"{url}\"")),
        "CONFIG REWRITE should write the URL on its own line:\n{conf}"
    );
    let shown = monitor.text(&redis, "red-conf-probe");
    assert_hidden(&redis, CDC_PASSWORD, &[("MONITOR", shown)], |_| false);

    // Restarted from the rewritten file: `(redacted)` on the loadmodule line counts as no
    // argument, the URL comes from its own line, and the module streams from where it was.
    redis.restart();
    wait_state(&redis, "streaming", STREAMING);
    assert_eq!(module_list_args(&redis), expected_args);
    assert_eq!(config_get(&redis, "cdc.mysql-url"), url);
    db.exec("INSERT INTO red_conf.t VALUES (3, 'c'); UPDATE red_conf.t SET v = 'd' WHERE id = 1");
    wait_caught_up(&redis, &db, CATCH_UP);
    assert_replay_equals_table(&redis, &db, "red_conf", "t");
    assert_eq!(xlen(&redis, "cdc:red_conf.t"), 4);
    assert!(
        !redis.log().contains("stands for a value given elsewhere"),
        "no warning when the URL line is there"
    );
    assert_hidden(&redis, CDC_PASSWORD, &[], |_| false);

    // `(redacted)` without the cdc.mysql-url line: unconfigured, and the log says why.
    let conf = std::fs::read_to_string(redis.config_path()).unwrap();
    let without: Vec<&str> = conf
        .lines()
        .filter(|l| !l.starts_with("cdc.mysql-url "))
        .collect();
    std::fs::write(redis.config_path(), without.join("\n")).unwrap();
    redis.restart();
    wait_state(&redis, "unconfigured", STREAMING);
    assert!(
        redis.log().contains("stands for a value given elsewhere"),
        "{}",
        redis.log()
    );
}

/// MODULE LOAD (with `cdc.`-prefixed names), MODULE LOADEX ... ARGS and CONFIG SET: the module
/// streams with the URL each time and the password shows nowhere. MODULE LOADEX ... CONFIG
/// cdc.mysql-url is parsed by Redis itself: SLOWLOG keeps that command as typed, which no
/// module can change (documented), and it shows nowhere else.
#[test]
fn module_load_loadex_and_config_set_never_show_the_password() {
    let db = shared_mariadb();
    db.exec("CREATE DATABASE red_cmd; CREATE TABLE red_cmd.t (id INT PRIMARY KEY, v VARCHAR(10))");
    let url = db.url();
    let so = module_path().display().to_string();
    let redis = RedisServer::start_plain_with(SLOWLOG_ALL);
    let mut monitor = Monitor::start(&redis);
    let mut next_id = 1;
    let mut streams_a_row = |redis: &RedisServer| {
        wait_state(redis, "streaming", STREAMING);
        assert_eq!(config_get(redis, "cdc.mysql-url"), url);
        db.exec(&format!("INSERT INTO red_cmd.t VALUES ({next_id}, 'r')"));
        wait_caught_up(redis, &db, CATCH_UP);
        assert_replay_equals_table(redis, &db, "red_cmd", "t");
        assert_eq!(xlen(redis, "cdc:red_cmd.t"), next_id);
        next_id += 1;
    };

    redis.cmd(&[
        "MODULE",
        "LOAD",
        &so,
        "cdc.mysql-url",
        &url,
        "CDC.tables",
        "red_cmd.*",
        "cdc.snapshot",
        "never",
    ]);
    assert_eq!(
        module_list_args(&redis),
        [
            "cdc.mysql-url",
            "(redacted)",
            "CDC.tables",
            "red_cmd.*",
            "cdc.snapshot",
            "never"
        ]
    );
    assert_eq!(config_get(&redis, "cdc.tables"), "red_cmd.*");
    streams_a_row(&redis);

    redis.cmd(&["MODULE", "UNLOAD", "cdc"]);
    redis.cmd(&[
        "MODULE",
        "LOADEX",
        &so,
        "CONFIG",
        "cdc.tables",
        "red_cmd.*",
        "ARGS",
        "mysql-url",
        &url,
    ]);
    assert_eq!(module_list_args(&redis), ["mysql-url", "(redacted)"]);
    streams_a_row(&redis);

    redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", ""]);
    wait_state(&redis, "unconfigured", STREAMING);
    redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", &url]);
    streams_a_row(&redis);

    let shown = monitor.text(&redis, "red-cmd-probe-1");
    assert_hidden(&redis, CDC_PASSWORD, &[("MONITOR", shown)], |_| false);
    let log = slowlog(&redis);
    for cmd in [
        "MODULE LOAD",
        "MODULE LOADEX",
        "CONFIG SET cdc.mysql-url (redacted",
    ] {
        assert!(
            log.iter().any(|e| e.starts_with(cmd)),
            "SLOWLOG should hold {cmd}: {log:?}"
        );
    }

    // MODULE LOADEX ... CONFIG cdc.mysql-url URL: only its own SLOWLOG entry shows the URL.
    redis.cmd(&["MODULE", "UNLOAD", "cdc"]);
    redis.cmd(&[
        "MODULE",
        "LOADEX",
        &so,
        "CONFIG",
        "cdc.mysql-url",
        &url,
        "CONFIG",
        "cdc.tables",
        "red_cmd.*",
    ]);
    assert_eq!(module_list_args(&redis), Vec::<String>::new());
    streams_a_row(&redis);
    let shown = monitor.text(&redis, "red-cmd-probe-2");
    assert_hidden(&redis, CDC_PASSWORD, &[("MONITOR", shown)], |entry| {
        entry.starts_with("MODULE LOADEX ") && entry.contains(" CONFIG cdc.mysql-url ")
    });
}

//! Fault injection (the "exactly once" guarantee of docs/events.md): kill -9 of redis-server
//! under load and in the middle of a large transaction, kill -9 / freeze of MariaDB and a cut
//! binlog connection, a GTID failover to a replica MariaDB, a purged binlog, back-pressure,
//! unload and shutdown.
//!
//! Every scenario ends with the same end-to-end checks (`support::verify_load`): no
//! `pos` twice, GTIDs never going back, the insert-only table's ids each exactly once and in
//! order, and replaying the mutable table's stream gives `SELECT *`.
//!
//! Redis runs with `appendonly yes` and `appendfsync always` (the harness default), the
//! settings the guarantee needs.

use crate::support::*;
use mysql::prelude::Queryable;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// kill -9 of redis-server three times while a load of small transactions runs; every restart
/// resumes from the position in the AOF, which covers exactly the entries in the AOF.
#[test]
fn redis_kill9_under_continuous_load_loses_and_repeats_nothing() {
    let db = MariaDb::start();
    let url = db.url();
    let redis = RedisServer::start(&module_args(&url, "k9.*", &[]));
    wait_state(&redis, "streaming", STREAMING);
    create_load_tables(&db, "k9");
    let load = Load::start(db.port(), "k9", 1, LOAD_PAUSE);
    for round in 0..3 {
        load.wait_progress(150, Duration::from_secs(60));
        wait_until(Duration::from_secs(30), "entries to arrive", || {
            xlen(&redis, "cdc:k9.log") > 0
        });
        redis.kill9();
        // The source moves on while Redis is down.
        load.wait_progress(30 + 30 * round, Duration::from_secs(60));
        redis.restart();
        wait_state(&redis, "streaming", STREAMING);
    }
    load.wait_progress(100, Duration::from_secs(60));
    let (committed, _) = load.stop();
    wait_caught_up(&redis, &db, CATCH_UP);
    let v = verify_load(&redis, &db, "k9", true);
    assert!(
        v.log_entries as u64 >= committed,
        "{v:?} vs {committed} transactions"
    );
    // Every entry written across the restarts has the layout of docs/events.md.
    check_entries(&redis, "k9", "t");
    check_entries(&redis, "k9", "log");
}

/// What operators run on a live Redis, under load: BGREWRITEAOF (then kill -9, so the restart
/// reads the rewritten base plus the new increments), BGSAVE, DEBUG RELOAD (save, flush, load
/// back while the module runs) and DEBUG LOADAOF. Each leaves the streams and the position
/// together: nothing lost, nothing twice.
#[test]
fn aof_rewrite_save_and_reload_under_load_lose_and_repeat_nothing() {
    let db = MariaDb::start();
    let url = db.url();
    let redis = RedisServer::start_with(
        &["--enable-debug-command", "yes"],
        &module_args(&url, "rw.*", &[]),
    );
    wait_state(&redis, "streaming", STREAMING);
    create_load_tables(&db, "rw");
    let load = Load::start(db.port(), "rw", 21, LOAD_PAUSE);
    let rewritten = |r: &RedisServer| {
        info_field(r, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
            && info_field(r, "persistence", "aof_rewrite_scheduled").as_deref() == Some("0")
    };
    load.wait_progress(150, Duration::from_secs(60));
    redis.cmd(&["BGREWRITEAOF"]);
    wait_until(Duration::from_secs(30), "the AOF rewrite to end", || {
        rewritten(&redis)
    });
    load.wait_progress(100, Duration::from_secs(60));
    redis.kill9();
    load.wait_progress(50, Duration::from_secs(60));
    redis.restart();
    wait_state(&redis, "streaming", STREAMING);
    load.wait_progress(100, Duration::from_secs(60));
    redis.cmd(&["BGSAVE"]);
    load.wait_progress(100, Duration::from_secs(60));
    for round in 0..3 {
        let cmd: &[&str] = if round == 1 {
            &["DEBUG", "LOADAOF"]
        } else {
            &["DEBUG", "RELOAD"]
        };
        // (DEBUG RELOAD refuses while a BGSAVE's child runs.)
        wait_until(Duration::from_secs(30), "no child process", || {
            info_field(&redis, "persistence", "rdb_bgsave_in_progress").as_deref() == Some("0")
                && rewritten(&redis)
        });
        redis.cmd(cmd);
        load.wait_progress(100, Duration::from_secs(60));
        wait_state(&redis, "streaming", STREAMING);
    }
    // And a rewrite while the module writes, then a clean restart.
    redis.cmd(&["BGREWRITEAOF"]);
    load.wait_progress(100, Duration::from_secs(60));
    wait_until(Duration::from_secs(30), "the AOF rewrite to end", || {
        rewritten(&redis)
    });
    redis.kill9();
    redis.restart();
    wait_state(&redis, "streaming", STREAMING);
    load.wait_progress(100, Duration::from_secs(60));
    load.stop();
    wait_caught_up(&redis, &db, CATCH_UP);
    verify_load(&redis, &db, "rw", true);
    check_entries(&redis, "rw", "log");
}

/// One transaction of 30k rows (one statement, many rows events) is handed over in chunks of
/// 64 entries ("inside transaction T after change n"); kill -9 while the stream holds some but
/// not all of them, then again while the restarted module re-reads it and skips what was
/// written.
#[test]
fn redis_kill9_inside_a_large_transaction_resumes_after_the_written_chunk() {
    const N: u64 = 30_000;
    let db = MariaDb::start();
    let url = db.url();
    let redis = RedisServer::start(&module_args(&url, "big.*", &[]));
    wait_state(&redis, "streaming", STREAMING);
    db.exec("CREATE DATABASE big; CREATE TABLE big.t (id INT PRIMARY KEY, pad VARCHAR(120))");
    db.exec("INSERT INTO big.t VALUES (-1, 'before'), (-2, 'before')");
    let key = "cdc:big.t";
    let mut kills_inside = 0;
    for round in 0..2u64 {
        let before = 2 + round * N;
        wait_until(
            Duration::from_secs(60),
            "previous rows in the stream",
            || xlen(&redis, key) >= before,
        );
        let port = db.port();
        let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let insert_failed = failed.clone();
        let insert = std::thread::spawn(move || {
            let mut c = patient_conn(port);
            let r = c.query_drop(format!(
                "INSERT INTO big.t SELECT seq + {}, REPEAT('x', 100) FROM big.seq_1_to_{N}",
                round * N
            ));
            insert_failed.store(r.is_err(), std::sync::atomic::Ordering::Relaxed);
            r.expect("large insert");
        });
        // Kill while the stream holds some but not all of the transaction.
        let mut con = redis.client();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut at_kill = None;
        while Instant::now() < deadline {
            let n: u64 = redis::cmd("XLEN").arg(key).query(&mut con).unwrap_or(0);
            if n > before + 600 && n < before + N - 600 {
                redis.kill9();
                at_kill = Some(n);
                break;
            }
            if n >= before + N || failed.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            sleep(Duration::from_micros(300));
        }
        insert.join().expect("insert thread");
        let Some(at_kill) = at_kill else {
            panic!("round {round}: the transaction was never caught half-written (XLEN polled too slowly?)");
        };
        kills_inside += 1;
        redis.restart();
        // (No bound on XLEN here: between the poll and the kill, and between the restart and
        // a poll, the writer appends thousands of entries a second. The kill is inside the
        // transaction by the bounds on `at_kill`; the checks at the end prove the rest.)
        // Again while the module re-reads the transaction and skips the written part.
        let mut con = redis.client();
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let n: u64 = redis::cmd("XLEN").arg(key).query(&mut con).unwrap_or(0);
            if n > at_kill + 600 && n < before + N - 300 {
                redis.kill9();
                kills_inside += 1;
                redis.restart();
                break;
            }
            if n >= before + N {
                break;
            }
            sleep(Duration::from_micros(300));
        }
        wait_state(&redis, "streaming", STREAMING);
    }
    db.exec("INSERT INTO big.t VALUES (-3, 'after'); UPDATE big.t SET pad = 'u' WHERE id = 7");
    wait_caught_up(&redis, &db, CATCH_UP);
    eprintln!("kills inside the large transaction: {kills_inside}");
    let list = entries(&redis, "big", "t");
    assert_eq!(
        list.len() as u64,
        2 * N + 4,
        "entries: 2 + 2x{N} + 1 insert + 1 update"
    );
    let mut seen = std::collections::HashSet::new();
    let mut last = None;
    for (id, f) in &list {
        let pos = parse_row_pos(field(f, "pos").expect("pos"));
        assert!(seen.insert(pos), "pos {pos:?} twice (entry {id})");
        assert!(
            last.is_none_or(|l| l < pos),
            "entry {id} pos {pos:?} not after {last:?}"
        );
        last = Some(pos);
    }
    let ids: Vec<i64> = list
        .iter()
        .filter(|(_, f)| field(f, "op") == Some("c"))
        .map(|(_, f)| json_field(f, "after")["id"].as_i64().expect("id"))
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "an insert streamed twice");
    assert_eq!(ids.len() as u64, 2 * N + 3);
    let replayed = replay(&list);
    assert_eq!(replayed.len() as u64, 2 * N + 3);
    assert_eq!(replayed["{\"id\":7}"]["pad"], "u");
    check_entries(&redis, "big", "t");
    assert_replay_equals_table(&redis, &db, "big", "t");
}

/// kill -9 of MariaDB under load, twice: the module notices, shows `connecting` with the last
/// error, retries with backoff, and resumes from its stored position.
#[test]
fn mariadb_kill9_under_load_module_reconnects_and_resumes_exactly() {
    let db = MariaDb::start();
    let url = db.url();
    let redis = RedisServer::start(&module_args(&url, "mk.*", &[]));
    wait_state(&redis, "streaming", STREAMING);
    create_load_tables(&db, "mk");
    let load = Load::start(db.port(), "mk", 2, LOAD_PAUSE);
    for _ in 0..2 {
        load.wait_progress(200, Duration::from_secs(60));
        db.kill9();
        let st = wait_state(&redis, "connecting", Duration::from_secs(30));
        assert!(
            !st["last_error"].is_empty(),
            "connecting without last_error: {st:?}"
        );
        sleep(Duration::from_secs(2));
        let st = status(&redis);
        assert_eq!(st["state"], "connecting", "{st:?}");
        assert!(
            st["last_error"].contains("retrying in"),
            "no backoff shown: {st:?}"
        );
        db.start_again();
        wait_state(&redis, "streaming", STREAMING);
    }
    load.wait_progress(200, Duration::from_secs(60));
    load.stop();
    wait_caught_up(&redis, &db, CATCH_UP);
    verify_load(&redis, &db, "mk", true);
    assert!(
        redis.log().contains("streaming from"),
        "no reconnect in the log:\n{}",
        redis.log()
    );
}

/// MariaDB goes away (kill -9, then a clean shutdown) while the module is writing a committed
/// transaction of 70k rows: DEBUG SLEEP holds the writer until the source is gone, with the
/// transaction only partly read after the kill -9 (the reader's channel and the sockets'
/// buffers, ~40k such rows, hold less than it; a clean shutdown sends more of it first). The module reconnects, reads the transaction again from its start
/// and skips what it wrote.
#[test]
fn mariadb_gone_while_a_large_transaction_is_written_resumes_inside_it() {
    const N: u64 = 70_000;
    let db = MariaDb::start();
    let url = db.url();
    let redis = RedisServer::start_with(
        &["--enable-debug-command", "yes"],
        &module_args(&url, "mbig.*", &[]),
    );
    wait_state(&redis, "streaming", STREAMING);
    db.exec("CREATE DATABASE mbig; CREATE TABLE mbig.t (id INT PRIMARY KEY, pad VARCHAR(500))");
    db.exec("INSERT INTO mbig.t VALUES (-1, 'before')");
    let key = "cdc:mbig.t";
    for round in 0..2u64 {
        let before = 1 + round * N;
        wait_until(
            Duration::from_secs(60),
            "previous rows in the stream",
            || xlen(&redis, key) >= before,
        );
        insert_in_one_transaction(db.port(), "mbig.t", round * N, N, 200)
            .join()
            .expect("insert thread")
            .expect("large insert");
        let Some(at) = when_between(&redis, key, before + 20, before + 20_000, || false) else {
            panic!("round {round}: the transaction was never caught half-written");
        };
        // (A clean shutdown lets the dump thread send on for a while: the writer waits longer.)
        let secs = if round == 0 { 2 } else { 5 };
        let sleeper = {
            let mut c = redis.client();
            std::thread::spawn(move || {
                let _: redis::RedisResult<()> =
                    redis::cmd("DEBUG").arg("SLEEP").arg(secs).query(&mut c);
            })
        };
        sleep(Duration::from_millis(200));
        if round == 0 {
            db.kill9();
        } else {
            db.stop();
        }
        sleeper.join().expect("DEBUG SLEEP");
        wait_state(&redis, "connecting", Duration::from_secs(30));
        let n = xlen(&redis, key);
        eprintln!(
            "round {round}: source gone at XLEN {at}, {n} once written (of {})",
            before + N
        );
        // (A clean shutdown lets the dump thread send what it can first: often most of the
        // transaction, so only the kill -9 round is sure to cut it.)
        assert!(
            round == 1 || n < before + N,
            "round {round}: the whole transaction was read before the source went away"
        );
        db.start_again();
        wait_state(&redis, "streaming", STREAMING);
    }
    db.exec("INSERT INTO mbig.t VALUES (-3, 'after'); UPDATE mbig.t SET pad = 'u' WHERE id = 7");
    wait_caught_up(&redis, &db, CATCH_UP);
    let list = entries(&redis, "mbig", "t");
    assert_eq!(
        list.len() as u64,
        2 * N + 3,
        "entries: 1 + 2x{N} + 1 insert + 1 update"
    );
    assert_each_pos_once(&list, key);
    let mut last = None;
    for (id, f) in &list {
        let pos = parse_row_pos(field(f, "pos").expect("pos"));
        assert!(
            last.is_none_or(|l| l < pos),
            "entry {id} pos {pos:?} not after {last:?}"
        );
        last = Some(pos);
    }
    assert_replays_to_table(&list, &db, "mbig", "t");
}

/// `KILL <id>` of the module's `Binlog Dump` thread (a cut connection), then a frozen source
/// (SIGSTOP: no TCP error, no heartbeat): both are noticed, shown, and resumed exactly.
#[test]
fn cut_binlog_connection_and_frozen_source_are_noticed_and_resumed() {
    let db = MariaDb::start();
    let url = db.url();
    let redis = RedisServer::start(&module_args(&url, "cut.*", &[]));
    wait_state(&redis, "streaming", STREAMING);
    create_load_tables(&db, "cut");
    let load = Load::start(db.port(), "cut", 3, LOAD_PAUSE);
    load.wait_progress(200, Duration::from_secs(60));

    let ids = binlog_dump_ids(&db);
    assert_eq!(ids.len(), 1, "one Binlog Dump thread: {ids:?}");
    db.exec(&format!("KILL {}", ids[0]));
    let mut saw_connecting = false;
    wait_until(Duration::from_secs(30), "a new binlog connection", || {
        let st = status(&redis);
        saw_connecting |= st["state"] == "connecting" && !st["last_error"].is_empty();
        let now = binlog_dump_ids(&db);
        st["state"] == "streaming" && now.len() == 1 && now[0] != ids[0]
    });
    assert!(
        saw_connecting,
        "the cut connection was never shown as connecting"
    );
    // Once the pipeline writes again, last_error goes; the errors counter keeps the history.
    load.wait_progress(200, Duration::from_secs(60));
    wait_until(Duration::from_secs(30), "last_error cleared", || {
        status(&redis)["last_error"].is_empty()
    });
    let errors: u64 = info_field(&redis, "cdc", "cdc_errors")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(errors >= 1, "INFO cdc_errors = {errors}");

    // Freeze the source: only the read timeout (a few missed heartbeats) can tell.
    let pid = db.pid().to_string();
    let frozen = Instant::now();
    std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap();
    let st = std::panic::catch_unwind(|| wait_state(&redis, "connecting", Duration::from_secs(40)));
    std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap();
    let st = st.unwrap_or_else(|_| panic!("a frozen source was not noticed"));
    eprintln!(
        "frozen source noticed after {:?}: {}",
        frozen.elapsed(),
        st["last_error"]
    );
    wait_state(&redis, "streaming", STREAMING);
    load.wait_progress(200, Duration::from_secs(60));
    load.stop();
    wait_caught_up(&redis, &db, CATCH_UP);
    verify_load(&redis, &db, "cut", true);
}

/// Start MariaDB B replicating A by GTID (`log_slave_updates`, so B's binlog has A's GTIDs).
fn start_replica_of(a: &MariaDb) -> MariaDb {
    let b = MariaDb::start_with(&["--server-id=2", "--log-slave-updates=ON"]);
    b.exec(&format!(
        "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='{CDC_USER}', \
         MASTER_PASSWORD='{CDC_PASSWORD}', MASTER_USE_GTID=slave_pos; START SLAVE",
        a.port()
    ));
    b
}

/// Wait until `b` has applied `gtid` (MASTER_GTID_WAIT).
fn wait_applied(b: &MariaDb, gtid: &str) {
    let r = b.query_one(&format!("SELECT MASTER_GTID_WAIT('{gtid}', 60)"));
    if r.as_deref() != Some("0") {
        let status = b.query_strings("SHOW SLAVE STATUS");
        panic!(
            "replica did not reach {gtid} (gtid_slave_pos {:?}): {status:?}",
            b.query_one("SELECT @@gtid_slave_pos")
        );
    }
}

/// GTID failover (MariaDB): the module follows A under load; CONFIG SET points it at B (a
/// replica of A with the same GTID history) mid-load; later back at A; then A is killed and the
/// module is pointed at B, which becomes the primary. Nothing lost, nothing doubled, entries
/// carry `gtid`.
#[test]
fn gtid_failover_to_a_replica_mariadb_loses_and_repeats_nothing() {
    let a = MariaDb::start();
    let b = start_replica_of(&a);
    let url_a = a.url();
    let url_b = b.url();
    let redis = RedisServer::start(&module_args(&url_a, "fo.*", &[]));
    wait_state(&redis, "streaming", STREAMING);
    create_load_tables(&a, "fo");
    let load = Load::start(a.port(), "fo", 4, LOAD_PAUSE);
    load.wait_progress(200, Duration::from_secs(60));

    // Switch to B while A keeps taking writes: B must hold what the module has written.
    let switch = |to: &MariaDb, url: &str| {
        redis.cmd(&["CDC.PAUSE"]);
        wait_state(&redis, "paused", Duration::from_secs(10));
        let gtid = status(&redis)["gtid"].clone();
        assert!(!gtid.is_empty(), "no GTID position");
        // (MASTER_GTID_WAIT only works on a replica; A, the origin, has it all anyway.)
        wait_until(
            Duration::from_secs(60),
            "the new source to have the module's GTID",
            || {
                seq_of(&to.query_one("SELECT @@gtid_binlog_pos").unwrap_or_default())
                    >= seq_of(&gtid)
            },
        );
        redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", url]);
        redis.cmd(&["CDC.RESUME"]);
        wait_state(&redis, "streaming", STREAMING);
    };
    switch(&b, &url_b);
    load.wait_progress(200, Duration::from_secs(60));
    assert!(
        status(&redis)["source"].contains(&b.port().to_string()),
        "not following B: {:?}",
        status(&redis)
    );
    // A's writes reach the module through B.
    let a_gtid = a.query_one("SELECT @@gtid_binlog_pos").unwrap();
    wait_applied(&b, &a_gtid);
    wait_until(
        Duration::from_secs(60),
        "the module to pass A's GTID via B",
        || {
            let g = status(&redis)["gtid"].clone();
            seq_of(&g) >= seq_of(&a_gtid)
        },
    );
    // And back to A.
    switch(&a, &url_a);
    load.wait_progress(200, Duration::from_secs(60));

    // kill -9 of A under load, then point the module at B (promoted: replication stopped).
    a.kill9();
    let (committed, _) = load.stop();
    wait_until(Duration::from_secs(60), "B to apply its relay log", || {
        let rows = b.query_strings("SHOW SLAVE STATUS");
        let s = b.query_one("SELECT @@gtid_slave_pos").unwrap_or_default();
        sleep(Duration::from_millis(300));
        let again = b.query_one("SELECT @@gtid_slave_pos").unwrap_or_default();
        !rows.is_empty() && s == again
    });
    b.exec("STOP SLAVE");
    let module_gtid = status(&redis)["gtid"].clone();
    let b_gtid = b.query_one("SELECT @@gtid_binlog_pos").unwrap();
    assert!(
        seq_of(&module_gtid) <= seq_of(&b_gtid),
        "the module has A's transaction {module_gtid} that B never got ({b_gtid}): a real divergence, not testable as exact"
    );
    redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", &url_b]);
    wait_state(&redis, "streaming", STREAMING);
    // B is the primary now: writes there continue the history.
    let load = Load::start_at(b.port(), "fo", 5, LOAD_PAUSE, 10_000_000);
    load.wait_progress(100, Duration::from_secs(60));
    load.stop();
    wait_caught_up(&redis, &b, CATCH_UP);
    let v = verify_load(&redis, &b, "fo", false);
    assert!(v.log_entries as u64 > committed, "{v:?}");
    let log = entries(&redis, "fo", "log");
    assert!(log
        .iter()
        .all(|(_, f)| field(f, "gtid").is_some_and(|g| g.starts_with("0-"))));
    assert!(
        log.iter()
            .any(|(_, f)| field(f, "gtid").is_some_and(|g| g.starts_with("0-2-"))),
        "no entry of B's own transactions: last gtids {:?}",
        log.iter()
            .rev()
            .take(5)
            .map(|(_, f)| field(f, "gtid"))
            .collect::<Vec<_>>()
    );
}

/// GTID failover in the middle of a transaction of 30k rows (with captured and uncaptured rows
/// before the captured ones): CDC.PAUSE stops the module with the position inside the
/// transaction, the URL moves to B (a replica of A, where offsets mean nothing), and the module
/// asks B for the transaction by GTID and skips the changes it wrote. Then the same from B back
/// to A, and with a kill -9 of A on the way to B.
#[test]
fn gtid_failover_in_the_middle_of_a_large_transaction_writes_each_row_once() {
    const N: u64 = 30_000;
    let a = MariaDb::start();
    let b = start_replica_of(&a);
    let (url_a, url_b) = (a.url(), b.url());
    let redis = RedisServer::start(&module_args(&url_a, "gb.t", &[]));
    wait_state(&redis, "streaming", STREAMING);
    a.exec(
        "CREATE DATABASE gb; CREATE TABLE gb.t (id INT PRIMARY KEY, pad VARCHAR(200));
         CREATE TABLE gb.skip (id INT PRIMARY KEY)",
    );
    let key = "cdc:gb.t";
    let rounds: [(&str, &MariaDb, bool); 3] =
        [(&url_b, &b, false), (&url_a, &a, false), (&url_b, &b, true)];
    for (round, (to_url, to, kill_a)) in rounds.into_iter().enumerate() {
        let from = round as u64 * N;
        let port = a.port();
        let insert = std::thread::spawn(move || {
            let mut c = patient_conn(port);
            exec_all(
                &mut c,
                &format!(
                    "BEGIN; INSERT INTO gb.skip VALUES ({round}); INSERT INTO gb.t VALUES (-{}, 'first');
                     INSERT INTO gb.t SELECT seq + {from}, REPEAT('t', 100) FROM gb.seq_1_to_{N}; COMMIT",
                    round + 10
                ),
            )
        });
        let before = from + round as u64;
        let at = when_between(&redis, key, before + 600, before + N - 600, || false);
        redis.cmd(&["CDC.PAUSE"]);
        insert
            .join()
            .expect("insert thread")
            .expect("large transaction");
        wait_state(&redis, "paused", Duration::from_secs(10));
        let st = reply_to_map(&redis.cmd(&["HGETALL", "cdc:offset"]));
        eprintln!(
            "round {round}: paused at XLEN {at:?} -> {}, offset {st:?}",
            xlen(&redis, key)
        );
        let a_gtid = a.query_one("SELECT @@gtid_binlog_pos").unwrap_or_default();
        wait_applied(&b, &a_gtid);
        if kill_a {
            a.kill9();
            b.exec("STOP SLAVE");
        }
        redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", to_url]);
        redis.cmd(&["CDC.RESUME"]);
        wait_state(&redis, "streaming", STREAMING);
        wait_caught_up(&redis, to, CATCH_UP);
        assert_eq!(
            xlen(&redis, key),
            before + 1 + N,
            "round {round}: entries after resuming on the other server"
        );
    }
    b.exec("INSERT INTO gb.t VALUES (-1, 'after'); UPDATE gb.t SET pad = 'u' WHERE id = 7");
    wait_caught_up(&redis, &b, CATCH_UP);
    let list = entries(&redis, "gb", "t");
    assert_eq!(list.len() as u64, 3 * N + 3 + 2);
    // Positions of two servers mix: each (server's) pos once is what can be asked.
    assert_replays_to_table(&list, &b, "gb", "t");
    let ids: Vec<i64> = list
        .iter()
        .filter(|(_, f)| field(f, "op") == Some("c"))
        .map(|(_, f)| json_field(f, "after")["id"].as_i64().expect("id"))
        .collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an insert streamed twice");
}

/// Sequence number of the (single-domain) MariaDB GTID state `0-1-42`.
fn seq_of(gtid: &str) -> u64 {
    gtid.split(',')
        .filter_map(|g| g.rsplit('-').next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// A source that rotates its binlog every few transactions (`max_binlog_size` 4096) and a DBA
/// who runs FLUSH BINARY LOGS and PURGE BINARY LOGS TO the module's stored file in a loop,
/// while a load runs, a 60k-row table is snapshotted (its chunks' positions land in fresh
/// files, some only just rotated to) with updates to it, and Redis is killed once mid-snapshot:
/// nothing lost, nothing twice.
///
/// Ignored in `make test` until the loss it finds is fixed: about once in 25 runs under load
/// one update of rot.big is missing from the stream (2026-12-01: id 41364 replayed as its
/// snapshot row `v=0`, the table has `v=1, pad='upd'`; the row was read after the restart in a
/// view older than the update, whose event never reached the stream). Run it by hand, in a loop
/// next to the suite:
/// `cargo test --release --test main -- --ignored binlog_rotation_and_purges --nocapture`.
#[test]
#[ignore]
fn binlog_rotation_and_purges_racing_with_the_reader_and_the_snapshot_lose_nothing() {
    let db = MariaDb::start_with(&["--max-binlog-size=4096"]);
    db.exec(
        "CREATE DATABASE rot; CREATE TABLE rot.big (id INT PRIMARY KEY, v INT, pad VARCHAR(100));
         INSERT INTO rot.big SELECT seq, 0, REPEAT('b', 60) FROM rot.seq_1_to_60000",
    );
    let url = db.url();
    let redis = RedisServer::start(&["mysql-url", &url, "tables", "rot.*"]);
    // Created once the snapshot runs: streamed from their first row, never snapshotted.
    wait_until(CATCH_UP, "the snapshot to read rot.big", || {
        xlen(&redis, "cdc:rot.big") > 0
    });
    create_load_tables(&db, "rot");
    let load = Load::start(db.port(), "rot", 41, LOAD_PAUSE);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let purger = {
        let (stop, port, rport) = (stop.clone(), db.port(), redis.port());
        std::thread::spawn(move || {
            let mut c = patient_conn(port);
            let client = redis::Client::open(format!("redis://127.0.0.1:{rport}/")).unwrap();
            let mut rng = Lcg(7);
            let (mut flushes, mut purges) = (0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = 1 + rng.next(60_000);
                c.query_drop(format!(
                    "UPDATE rot.big SET v = v + 1, pad = 'upd' WHERE id IN ({id}, {})",
                    id / 2 + 1
                ))
                .expect("update");
                if rng.next(4) == 0 {
                    c.query_drop("FLUSH BINARY LOGS").expect("flush");
                    flushes += 1;
                }
                // Purge everything before the module's stored file (it still needs that one).
                let file: Option<String> = client
                    .get_connection()
                    .and_then(|mut r| {
                        redis::cmd("HGET")
                            .arg("cdc:offset")
                            .arg("file")
                            .query(&mut r)
                    })
                    .ok()
                    .flatten();
                if let Some(f) = file {
                    if c.query_drop(format!("PURGE BINARY LOGS TO '{f}'")).is_ok() {
                        purges += 1;
                    }
                }
                sleep(Duration::from_millis(10));
            }
            (flushes, purges)
        })
    };
    let mut c = redis.client();
    wait_until(CATCH_UP, "rot.big half read", || {
        xlen(&redis, "cdc:rot.big") > 10_000
    });
    let st = status_map(&mut c);
    eprintln!(
        "kill -9 with snapshot {} at XLEN {}",
        st["snapshot"],
        xlen(&redis, "cdc:rot.big")
    );
    redis.kill9();
    load.wait_progress(30, Duration::from_secs(60));
    redis.restart();
    wait_until(CATCH_UP, "the snapshot to end", || {
        let s = status(&redis);
        s["snapshot"] == "[]" && s["state"] == "streaming"
    });
    load.wait_progress(300, Duration::from_secs(60));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (flushes, purges) = purger.join().expect("purger");
    load.stop();
    wait_snapshot_done_and_caught_up(&redis, &db, CATCH_UP);
    let (file, _) = db.master_status();
    eprintln!("{flushes} FLUSH BINARY LOGS, {purges} PURGE; now at {file}");
    verify_load(&redis, &db, "rot", true);
    let big = entries(&redis, "rot", "big");
    assert_each_pos_once(&big, "rot.big");
    assert_replays_to_table(&big, &db, "rot", "big");
}

/// The stored position is no longer on the source (binlogs flushed and purged while paused):
/// state `error` naming the position and the fix.
#[test]
fn purged_binlog_position_gives_error_naming_position_and_fix() {
    let db = MariaDb::start();
    let url = db.url();
    let redis = RedisServer::start(&module_args(&url, "pg.*", &[]));
    wait_state(&redis, "streaming", STREAMING);
    db.exec(
        "CREATE DATABASE pg; CREATE TABLE pg.t (id INT PRIMARY KEY); INSERT INTO pg.t VALUES (1)",
    );
    wait_caught_up(&redis, &db, CATCH_UP);
    redis.cmd(&["CDC.PAUSE"]);
    wait_state(&redis, "paused", Duration::from_secs(10));
    let stored = reply_to_map(&redis.cmd(&["HGETALL", "cdc:offset"]));
    let stored_file = stored["file"].clone();
    for i in 2..5 {
        db.exec(&format!("INSERT INTO pg.t VALUES ({i}); FLUSH BINARY LOGS"));
    }
    let (newest, _) = db.master_status();
    db.exec(&format!("PURGE BINARY LOGS TO '{newest}'"));
    redis.cmd(&["CDC.RESUME"]);
    let st = wait_state(&redis, "error", Duration::from_secs(30));
    let err = &st["last_error"];
    assert!(
        err.contains(&stored_file),
        "last_error does not name the position {stored_file}: {err}"
    );
    assert!(
        err.contains("when-needed") || err.contains("DEL cdc:offset"),
        "last_error does not name the fix: {err}"
    );
    // Nothing was written past the gap.
    assert_eq!(xlen(&redis, "cdc:pg.t"), 1);
}

/// RESET MASTER on the source (issue 13, 5): its binlog restarts shorter than the stored offset
/// and its GTID position falls behind the stored one. The module refuses to read (it would skip
/// or misread events), names both causes and fixes, and `DEL cdc:offset` starts it anew with a
/// snapshot: replay equals the table.
#[test]
fn reset_master_is_detected_and_named() {
    let db = MariaDb::start();
    db.exec("CREATE DATABASE rm; CREATE TABLE rm.t (id INT PRIMARY KEY, pad VARCHAR(200))");
    let url = db.url();
    let redis = RedisServer::start(&["mysql-url", &url, "tables", "rm.*"]);
    wait_state(&redis, "streaming", STREAMING);
    for i in 0..20 {
        db.exec(&format!("INSERT INTO rm.t VALUES ({i}, REPEAT('x', 200))"));
    }
    wait_caught_up(&redis, &db, CATCH_UP);
    redis.cmd(&["CDC.PAUSE"]);
    wait_state(&redis, "paused", Duration::from_secs(10));
    db.exec("RESET MASTER; DELETE FROM rm.t WHERE id < 5; INSERT INTO rm.t VALUES (100, 'y')");
    redis.cmd(&["CDC.RESUME"]);
    let st = wait_state(&redis, "error", Duration::from_secs(30));
    let err = &st["last_error"];
    assert!(
        err.contains("ahead of this source")
            && err.contains("RESET MASTER")
            && err.contains("DEL cdc:offset"),
        "{err}"
    );
    assert_eq!(
        xlen(&redis, "cdc:rm.t"),
        20,
        "nothing read from the reset binlog"
    );
    redis.cmd(&["DEL", "cdc:offset"]);
    wait_snapshot_done_and_caught_up(&redis, &db, CATCH_UP);
    assert_replay_equals_table(&redis, &db, "rm", "t");
}

/// cdc.mysql-url pointed at another server by mistake (same server_id, its own binlog), then
/// back (issue 13, 1): an error naming both possibilities while it points there, and streaming
/// again from the stored position once it points back: no flag outlives its session.
#[test]
fn another_server_by_mistake_then_back_resumes_exactly() {
    let a = MariaDb::start();
    let b = MariaDb::start();
    a.exec("CREATE DATABASE ws; CREATE TABLE ws.t (id INT PRIMARY KEY)");
    b.exec("CREATE DATABASE ws; CREATE TABLE ws.t (id INT PRIMARY KEY)");
    let redis = RedisServer::start(&module_args(&a.url(), "ws.*", &[]));
    wait_state(&redis, "streaming", STREAMING);
    for i in 0..10 {
        a.exec(&format!("INSERT INTO ws.t VALUES ({i})"));
    }
    wait_caught_up(&redis, &a, CATCH_UP);
    redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", &b.url()]);
    let st = wait_state(&redis, "error", Duration::from_secs(30));
    assert!(st["last_error"].contains("another server"), "{st:?}");
    a.exec("INSERT INTO ws.t VALUES (100); DELETE FROM ws.t WHERE id = 3");
    redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", &a.url()]);
    wait_state(&redis, "streaming", STREAMING);
    wait_caught_up(&redis, &a, CATCH_UP);
    let list = assert_replay_equals_table(&redis, &a, "ws", "t");
    assert_eq!(list.len(), 12, "every change once");
}

/// Back-pressure: with `maxmemory 30mb` and `cdc.max-memory-percent 50`, the module stops
/// (state `backpressure`) instead of pushing Redis to OOM — also when what it has already read
/// is a large transaction of 16 KB rows — clients can still write, and it resumes by itself
/// when memory drops; nothing is lost.
#[test]
fn backpressure_pauses_reading_below_maxmemory_and_resumes_by_itself() {
    const SMALL: u64 = 20_000;
    const BIG: u64 = 2_500;
    let db = MariaDb::start();
    let url = db.url();
    let redis = RedisServer::start_with(
        &["--maxmemory", "30mb"],
        &module_args(&url, "bp.*", &["max-memory-percent", "50"]),
    );
    wait_state(&redis, "streaming", STREAMING);
    db.exec("CREATE DATABASE bp; CREATE TABLE bp.t (id INT PRIMARY KEY, pad MEDIUMTEXT)");
    // Watch memory and client writes the whole time.
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let watching = watching.clone();
        let port = redis.port();
        std::thread::spawn(move || {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
            let mut con = client.get_connection().unwrap();
            let (mut max_used, mut oom) = (0u64, Vec::new());
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                let info: String = redis::cmd("INFO").arg("memory").query(&mut con).unwrap();
                let used: u64 = info
                    .lines()
                    .find_map(|l| l.strip_prefix("used_memory:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                max_used = max_used.max(used);
                if let Err(e) = redis::cmd("SET")
                    .arg("client-key")
                    .arg("x")
                    .query::<()>(&mut con)
                {
                    oom.push(e.to_string());
                }
                sleep(Duration::from_millis(5));
            }
            (max_used, oom)
        })
    };
    // One transaction of 2500 rows of 16 KB (~40 MB: the limit is reached inside it, with more
    // of it already read), then 20k entries of ~2 KB.
    let mut c = db.conn();
    c.query_drop(format!(
        "INSERT INTO bp.t SELECT 1000000 + seq, REPEAT('q', 16000) FROM bp.seq_1_to_{BIG}"
    ))
    .unwrap();
    for chunk in 0..SMALL / 500 {
        let rows: Vec<String> = (0..500)
            .map(|i| format!("({}, REPEAT('p', 1000))", chunk * 500 + i))
            .collect();
        c.query_drop(format!("INSERT INTO bp.t VALUES {}", rows.join(",")))
            .unwrap();
    }
    let st = wait_state(&redis, "backpressure", Duration::from_secs(60));
    eprintln!("backpressure at position {}", st["position"]);
    // It stays paused, below maxmemory, while clients can still write.
    sleep(Duration::from_secs(2));
    assert_eq!(status(&redis)["state"], "backpressure");
    let n1 = xlen(&redis, "cdc:bp.t");
    sleep(Duration::from_millis(500));
    assert_eq!(
        xlen(&redis, "cdc:bp.t"),
        n1,
        "still writing in backpressure"
    );
    assert!(n1 < BIG);
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let (max_used, oom) = watcher.join().unwrap();
    eprintln!(
        "max used_memory {} MB with {n1} entries written",
        max_used >> 20
    );
    assert!(
        oom.is_empty(),
        "clients got errors: {:?}",
        &oom[..oom.len().min(3)]
    );
    // The limit (15 MB) plus at most what one write adds (512 entries of 16 KB).
    assert!(
        max_used < 24 * 1024 * 1024,
        "used_memory {max_used} overshot the limit"
    );
    // Memory drops (here: more room): it resumes by itself and catches up.
    redis.cmd(&["CONFIG", "SET", "maxmemory", "500mb"]);
    wait_caught_up(&redis, &db, CATCH_UP);
    assert_eq!(status(&redis)["state"], "streaming");
    let list = entries(&redis, "bp", "t");
    assert_eq!(list.len() as u64, SMALL + BIG);
    let pos: std::collections::HashSet<_> = list
        .iter()
        .map(|(_, f)| field(f, "pos").unwrap().to_string())
        .collect();
    assert_eq!(pos.len() as u64, SMALL + BIG, "duplicate pos");
    assert_eq!(replay(&list).len() as u64, SMALL + BIG);
}

/// One transaction of ~300k rows of ~200 bytes streams with the module's memory bounded:
/// redis-server's RSS minus Redis's own `used_memory` (the module allocates with the system
/// allocator, outside `used_memory`) stays small while the stream grows by ~100 MB.
#[test]
fn large_transaction_streams_with_bounded_module_memory() {
    large_transaction_memory(300_000, 150);
}

/// The heavy variant of issue 5 (5M rows, ~1.2 GB of row data, ~2 GB of stream): run with
/// `cargo test --release --test main -- --ignored huge --nocapture` (needs ~6 GB of RAM and
/// ~10 GB of disk for binlog and AOF, and several minutes).
#[test]
#[ignore]
fn huge_transaction_streams_with_bounded_module_memory() {
    large_transaction_memory(5_000_000, 200);
}

fn large_transaction_memory(rows: u64, limit_mb: u64) {
    let db = MariaDb::start_with(&[
        "--max-binlog-cache-size=16G",
        "--innodb-buffer-pool-size=256M",
    ]);
    let url = db.url();
    let redis = RedisServer::start(&module_args(&url, "mem.*", &[]));
    wait_state(&redis, "streaming", STREAMING);
    db.exec("CREATE DATABASE mem; CREATE TABLE mem.t (id INT PRIMARY KEY, pad VARCHAR(200))");
    db.exec("INSERT INTO mem.t VALUES (0, 'warm-up')");
    wait_caught_up(&redis, &db, CATCH_UP);
    let pid = redis.pid();
    let used = |r: &RedisServer| -> u64 {
        info_field(r, "memory", "used_memory")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let baseline = proc_mem(pid, "VmRSS").saturating_sub(used(&redis));
    let started = Instant::now();
    let port = db.port();
    let mut insert = std::thread::spawn(move || {
        let mut c = patient_conn(port);
        c.query_drop(format!(
            "INSERT INTO mem.t SELECT seq, REPEAT(CHAR(97 + seq % 26), 190) FROM mem.seq_1_to_{rows}"
        ))
        .map_err(|e| e.to_string())
    });
    let mut peak_extra = 0u64;
    let mut peak_rss = 0u64;
    let key = "cdc:mem.t";
    loop {
        let rss = proc_mem(pid, "VmRSS");
        let u = used(&redis);
        peak_extra = peak_extra.max(rss.saturating_sub(u));
        peak_rss = peak_rss.max(rss);
        if insert.is_finished() {
            if xlen(&redis, key) > rows {
                break;
            }
            // A failed insert shows here instead of a timeout.
            let done = std::mem::replace(&mut insert, std::thread::spawn(|| Ok(())));
            done.join().expect("insert thread").expect("large insert");
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "did not finish"
        );
        sleep(Duration::from_millis(50));
    }
    insert.join().expect("insert thread").expect("large insert");
    wait_caught_up(&redis, &db, CATCH_UP);
    let hwm = proc_mem(pid, "VmHWM");
    let final_used = used(&redis);
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    eprintln!(
        "{rows} rows in one transaction streamed in {:.1?}: peak RSS {:.0} MB (VmHWM {:.0} MB), \
         used_memory at end {:.0} MB, RSS-used_memory baseline {:.0} MB, peak {:.0} MB",
        started.elapsed(),
        mb(peak_rss),
        mb(hwm),
        mb(final_used),
        mb(baseline),
        mb(peak_extra)
    );
    assert_eq!(xlen(&redis, key), rows + 1);
    assert!(
        peak_extra < baseline + limit_mb * 1024 * 1024,
        "module memory not bounded: RSS - used_memory peaked at {:.0} MB (baseline {:.0} MB)",
        mb(peak_extra),
        mb(baseline)
    );
}

/// MODULE UNLOAD while streaming under load stops the threads (the binlog connection closes)
/// and leaves the offset hash covering exactly the written entries: loading the module again
/// resumes with no loss and no duplicate. SHUTDOWN under load likewise (restart from the AOF).
#[test]
fn unload_and_shutdown_while_streaming_stop_cleanly_and_keep_the_exact_position() {
    unload_and_shutdown_under_load(&Flavor::redis());
}

/// The scenario above on a server of `flavor` (also run on Valkey).
pub(crate) fn unload_and_shutdown_under_load(flavor: &Flavor) {
    let db = MariaDb::start();
    let url = db.url();
    let args = module_args(&url, "ul.*", &[]);
    let redis = RedisServer::start_on(flavor, &[], &args);
    wait_state(&redis, "streaming", STREAMING);
    create_load_tables(&db, "ul");
    let load = Load::start(db.port(), "ul", 6, LOAD_PAUSE);
    for round in 0..2 {
        load.wait_progress(200, Duration::from_secs(60));
        let t = Instant::now();
        match redis.try_cmd(&["MODULE", "UNLOAD", "cdc"]) {
            Ok(_) => {}
            Err(e) => {
                let log = redis.log();
                assert!(
                    log.contains("unload refused"),
                    "unload failed without a clear log line: {e}\n{log}"
                );
                panic!("round {round}: unload refused: {e}");
            }
        }
        eprintln!("MODULE UNLOAD took {:?}", t.elapsed());
        wait_until(
            Duration::from_secs(10),
            "the binlog connection to close",
            || binlog_dump_ids(&db).is_empty(),
        );
        let n = xlen(&redis, "cdc:ul.log");
        load.wait_progress(50, Duration::from_secs(60));
        assert_eq!(
            xlen(&redis, "cdc:ul.log"),
            n,
            "entries written after unload"
        );
        let load_args = loadex_args(&args);
        let load_refs: Vec<&str> = load_args.iter().map(String::as_str).collect();
        redis.cmd(&load_refs);
        wait_state(&redis, "streaming", STREAMING);
    }
    load.wait_progress(200, Duration::from_secs(60));
    // SHUTDOWN under load: the AOF is fsynced; the restart resumes exactly.
    let _ = redis.try_cmd(&["SHUTDOWN"]);
    wait_until(Duration::from_secs(20), "redis-server to exit", || {
        !redis.is_running()
    });
    load.wait_progress(50, Duration::from_secs(60));
    redis.restart();
    wait_state(&redis, "streaming", STREAMING);
    load.wait_progress(100, Duration::from_secs(60));
    load.stop();
    wait_caught_up(&redis, &db, CATCH_UP);
    verify_load(&redis, &db, "ul", true);
    let log = redis.log();
    let panics: Vec<_> = log.lines().filter(|l| l.contains("panic")).collect();
    assert!(panics.is_empty(), "{panics:?}");
}

/// MODULE UNLOAD / MODULE LOADEX twenty times under load (issue 13, 2): each load streams again
/// from the stored position, no thread or file descriptor is left behind by an unloaded copy,
/// and every change is in its stream exactly once.
#[test]
fn twenty_unload_load_cycles_leak_nothing_and_lose_nothing() {
    let db = MariaDb::start();
    let url = db.url();
    let args = module_args(&url, "uc.*", &[]);
    let redis = RedisServer::start(&args);
    wait_state(&redis, "streaming", STREAMING);
    create_load_tables(&db, "uc");
    let load = Load::start(db.port(), "uc", 2, LOAD_PAUSE);
    load.wait_progress(50, Duration::from_secs(60));
    let count = |what: &str| {
        std::fs::read_dir(format!("/proc/{}/{what}", redis.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let (threads, fds) = (count("task"), count("fd"));
    let load_args = loadex_args(&args);
    let load_refs: Vec<&str> = load_args.iter().map(String::as_str).collect();
    for round in 0..20 {
        redis
            .try_cmd(&["MODULE", "UNLOAD", "cdc"])
            .unwrap_or_else(|e| panic!("round {round}: unload refused: {e}"));
        redis.cmd(&load_refs);
        wait_state(&redis, "streaming", STREAMING);
        load.wait_progress(10, Duration::from_secs(60));
    }
    load.stop();
    wait_caught_up(&redis, &db, CATCH_UP);
    // The threads and connections of the copy loaded now, and nothing of the twenty before.
    let (threads_now, fds_now) = (count("task"), count("fd"));
    assert!(
        threads_now <= threads + 1,
        "threads {threads} -> {threads_now} after 20 cycles"
    );
    assert!(fds_now <= fds + 2, "fds {fds} -> {fds_now} after 20 cycles");
    verify_load(&redis, &db, "uc", true);
}

/// MODULE UNLOAD in the middle of a transaction of 2 x 20k rows (table `a`, then table `b`),
/// then MODULE LOADEX with other table patterns while MariaDB keeps changing: first `b` joins
/// the captured tables (its rows all come after the written chunk: every one is written), then
/// it leaves them again in the next such transaction. `a` gets each row exactly once.
#[test]
fn unload_mid_transaction_and_load_with_other_tables_writes_each_row_once() {
    const N: u64 = 20_000;
    let db = MariaDb::start();
    let url = db.url();
    let narrow = module_args(&url, "ug.*", &["exclude-tables", "ug.b"]);
    let wide = module_args(&url, "ug.*", &[]);
    let redis = RedisServer::start(&narrow);
    wait_state(&redis, "streaming", STREAMING);
    create_load_tables(&db, "ug");
    db.exec(
        "CREATE TABLE ug.a (id INT PRIMARY KEY, pad VARCHAR(200));
         CREATE TABLE ug.b (id INT PRIMARY KEY, pad VARCHAR(200))",
    );
    let load = Load::start(db.port(), "ug", 61, LOAD_PAUSE);
    let key = "cdc:ug.a";
    for (round, next) in [&wide, &narrow].into_iter().enumerate() {
        let from = round as u64 * N;
        let port = db.port();
        let insert = std::thread::spawn(move || {
            let mut c = patient_conn(port);
            exec_all(
                &mut c,
                &format!(
                    "BEGIN; INSERT INTO ug.a SELECT seq + {from}, REPEAT('a', 100) FROM ug.seq_1_to_{N};
                     INSERT INTO ug.b SELECT seq + {from}, REPEAT('b', 100) FROM ug.seq_1_to_{N}; COMMIT"
                ),
            )
        });
        let at = when_between(&redis, key, from + 600, from + N - 600, || false);
        redis
            .try_cmd(&["MODULE", "UNLOAD", "cdc"])
            .unwrap_or_else(|e| panic!("round {round}: unload refused: {e}"));
        eprintln!("round {round}: unloaded at XLEN {at:?} of {key}");
        insert
            .join()
            .expect("insert thread")
            .expect("large transaction");
        load.wait_progress(30, Duration::from_secs(60));
        let load_args = loadex_args(next);
        let load_refs: Vec<&str> = load_args.iter().map(String::as_str).collect();
        redis.cmd(&load_refs);
        wait_state(&redis, "streaming", STREAMING);
        wait_until(CATCH_UP, "the transaction written", || {
            xlen(&redis, key) >= from + N
        });
    }
    load.wait_progress(50, Duration::from_secs(60));
    load.stop();
    wait_caught_up(&redis, &db, CATCH_UP);
    verify_load(&redis, &db, "ug", true);
    let a = entries(&redis, "ug", "a");
    assert_eq!(a.len() as u64, 2 * N);
    assert_each_pos_once(&a, "ug.a");
    assert_replays_to_table(&a, &db, "ug", "a");
    // `b`: the first transaction's rows (captured from its load on), none of the second's.
    let b = entries(&redis, "ug", "b");
    assert_each_pos_once(&b, "ug.b");
    let ids: Vec<u64> = b
        .iter()
        .map(|(_, f)| json_field(f, "after")["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, (1..=N).collect::<Vec<_>>(), "ug.b");
}

/// Rows of megabytes (a LONGTEXT document per row) queued while the module was paused: every
/// row arrives whole, and while Redis is busy (DEBUG SLEEP holds the lock the writer needs),
/// what the reader queues for the writer is bounded in bytes, not only in batches: 64 batches
/// of such rows would be 128 MB of module heap.
#[test]
fn megabyte_rows_arrive_whole_with_bounded_module_memory() {
    const ROWS: u64 = 100;
    const ROW_BYTES: u64 = 2_000_000;
    let db = MariaDb::start_with(&["--max-allowed-packet=64M"]);
    let url = db.url();
    let redis = RedisServer::start_with(
        &["--enable-debug-command", "yes"],
        &module_args(&url, "big.*", &[]),
    );
    wait_state(&redis, "streaming", STREAMING);
    db.exec("CREATE DATABASE big; CREATE TABLE big.t (id INT PRIMARY KEY, doc LONGTEXT)");
    db.exec("INSERT INTO big.t VALUES (0, 'warm-up')");
    wait_caught_up(&redis, &db, CATCH_UP);
    let pid = redis.pid();
    redis.cmd(&["CDC.PAUSE"]);
    wait_state(&redis, "paused", STREAMING);
    for id in 1..=ROWS {
        db.exec(&format!(
            "INSERT INTO big.t VALUES ({id}, REPEAT(CHAR(97 + {id} % 26), {ROW_BYTES}))"
        ));
    }
    redis.cmd(&["CDC.RESUME"]);
    // Once entries flow, Redis sleeps with its lock held: the writer waits, the reader fills
    // the channel.
    let started = Instant::now();
    while xlen(&redis, "cdc:big.t") < 3 {
        assert!(
            started.elapsed() < CATCH_UP,
            "no entries: {:?}",
            status(&redis)
        );
        sleep(Duration::from_millis(1));
    }
    let rss_before = proc_mem(pid, "VmRSS");
    let sleeper = {
        let mut c = redis.client();
        std::thread::spawn(move || {
            let _: redis::RedisResult<()> = redis::cmd("DEBUG").arg("SLEEP").arg(2).query(&mut c);
        })
    };
    let mut peak = 0u64;
    while !sleeper.is_finished() {
        peak = peak.max(proc_mem(pid, "VmRSS"));
        sleep(Duration::from_millis(5));
    }
    sleeper.join().expect("DEBUG SLEEP");
    let started = Instant::now();
    while xlen(&redis, "cdc:big.t") < ROWS + 1 {
        assert!(
            started.elapsed() < CATCH_UP,
            "not caught up: {:?}",
            status(&redis)
        );
        sleep(Duration::from_millis(10));
    }
    let mb = |b: u64| b / (1024 * 1024);
    let growth = peak.saturating_sub(rss_before);
    eprintln!(
        "{ROWS} rows of {ROW_BYTES} bytes: RSS grew by {} MB while Redis was busy",
        mb(growth)
    );
    // Each entry is whole: its `after` carries the document the row holds.
    for (_, fields) in entries(&redis, "big", "t").iter().skip(1) {
        let after = json_field(fields, "after");
        let id = after["id"].as_u64().expect("id");
        let doc = after["doc"].as_str().expect("doc");
        assert_eq!(doc.len() as u64, ROW_BYTES, "row {id}");
        let c = char::from(b'a' + (id % 26) as u8);
        assert!(
            doc.chars().all(|x| x == c),
            "row {id} holds other characters"
        );
    }
    assert!(
        growth < 100 * 1024 * 1024,
        "entries queued for the writer not bounded by bytes: RSS grew by {} MB",
        mb(growth)
    );
}

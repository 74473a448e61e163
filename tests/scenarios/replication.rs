//! Redis replication and failover (issue 5; "Replicas" in docs/events.md): a replica never follows
//! MySQL and gets the primary's entries and position by replication, one MULTI/EXEC per batch;
//! a promoted replica resumes from the replicated position; a demoted primary stops;
//! `cdc.stream-maxlen` trimming replicates so that a replica stays equal.

use crate::support::*;
use std::path::Path;
use std::time::Duration;

fn start_replica(primary: &RedisServer, module_args: &[&str]) -> RedisServer {
    start_replica_on(&Flavor::redis(), primary, module_args)
}

/// A replica of `primary` on `flavor`'s server, with the module, once its link is up.
fn start_replica_on(flavor: &Flavor, primary: &RedisServer, module_args: &[&str]) -> RedisServer {
    let port = primary.port().to_string();
    let r = RedisServer::start_on(flavor, &["--replicaof", "127.0.0.1", &port], module_args);
    wait_until(Duration::from_secs(30), "the replica to sync", || {
        info_field(&r, "replication", "master_link_status").as_deref() == Some("up")
    });
    r
}

/// Wait until the replica's streams and offset hash equal the primary's.
fn wait_replica_equal(primary: &RedisServer, replica: &RedisServer, keys: &[&str]) {
    wait_until(Duration::from_secs(60), "the replica to catch up", || {
        keys.iter().all(|k| xlen(primary, k) == xlen(replica, k))
            && primary.cmd(&["HGETALL", "cdc:offset"]) == replica.cmd(&["HGETALL", "cdc:offset"])
    });
    for k in keys {
        assert_eq!(
            stream_entries(&mut primary.client(), k),
            stream_entries(&mut replica.client(), k),
            "{k} differs on the replica"
        );
    }
}

/// The commands of a server's incremental AOF files (Redis 7 multi-part AOF), in order.
fn aof_commands(dir: &Path) -> Vec<Vec<String>> {
    let aof_dir = dir.join("appendonlydir");
    let mut files: Vec<_> = std::fs::read_dir(&aof_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", aof_dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let data = std::fs::read(&f).unwrap();
        let mut i = 0;
        let line = |i: &mut usize| -> String {
            let start = *i;
            while *i + 1 < data.len() && &data[*i..*i + 2] != b"\r\n" {
                *i += 1;
            }
            let s = String::from_utf8_lossy(&data[start..*i]).into_owned();
            *i += 2;
            s
        };
        while i < data.len() {
            let head = line(&mut i);
            let n: usize = head
                .trim_start_matches('*')
                .parse()
                .unwrap_or_else(|_| panic!("bad AOF line {head:?}"));
            let mut cmd = Vec::with_capacity(n);
            for _ in 0..n {
                let len: usize = line(&mut i).trim_start_matches('$').parse().unwrap();
                cmd.push(String::from_utf8_lossy(&data[i..i + len]).into_owned());
                i += len + 2;
            }
            out.push(cmd);
        }
    }
    out
}

/// Every XADD of the module sits in a MULTI/EXEC whose last command is the HSET of the offset
/// hash: entries and the position covering them are one unit. Returns the number of units.
fn assert_batches_are_units(cmds: &[Vec<String>], who: &str) -> usize {
    let mut units = 0;
    let mut in_multi: Option<Vec<&Vec<String>>> = None;
    for c in cmds {
        let name = c[0].to_ascii_uppercase();
        match name.as_str() {
            "MULTI" => {
                assert!(in_multi.is_none(), "{who}: nested MULTI");
                in_multi = Some(Vec::new());
            }
            "EXEC" => {
                let body = in_multi
                    .take()
                    .unwrap_or_else(|| panic!("{who}: EXEC without MULTI"));
                if body.iter().any(|c| c[0].eq_ignore_ascii_case("XADD")) {
                    let last = body.last().unwrap();
                    assert!(
                        last[0].eq_ignore_ascii_case("HSET") && last[1] == "cdc:offset",
                        "{who}: a batch does not end with the position: {:?}",
                        last
                    );
                    units += 1;
                }
            }
            _ => match in_multi.as_mut() {
                Some(body) => body.push(c),
                None => assert!(
                    !name.starts_with('X'),
                    "{who}: {c:?} outside MULTI/EXEC (entries apart from their position)"
                ),
            },
        }
    }
    units
}

/// A replica (module loaded, same URL) is state `replica` and never connects to MySQL; the
/// primary's batches reach its AOF as MULTI/EXEC units (entries + position), and its streams
/// and offset hash equal the primary's.
#[test]
fn replica_never_follows_mysql_and_gets_each_batch_as_one_multi_exec() {
    check_replica_never_follows_mysql(&Flavor::redis(), "rp");
}

/// The replica check above, primary and replica on `flavor`'s server (also run on Valkey:
/// valkey.rs), the load in `schema`.
pub(crate) fn check_replica_never_follows_mysql(flavor: &Flavor, schema: &str) {
    let db = MariaDb::start();
    let url = db.url();
    let pattern = format!("{schema}.*");
    let args = module_args(&url, &pattern, &[]);
    let primary = RedisServer::start_on(flavor, &[], &args);
    wait_state(&primary, "streaming", STREAMING);
    let replica = start_replica_on(flavor, &primary, &args);
    wait_state(&replica, "replica", STREAMING);
    create_load_tables(&db, schema);
    let load = Load::start(db.port(), schema, 11, LOAD_PAUSE);
    for _ in 0..5 {
        load.wait_progress(100, Duration::from_secs(60));
        assert_eq!(
            binlog_dump_ids(&db).len(),
            1,
            "the replica connected to MySQL"
        );
        assert_eq!(status(&replica)["state"], "replica");
    }
    load.stop();
    wait_caught_up(&primary, &db, CATCH_UP);
    let (t, log) = (format!("cdc:{schema}.t"), format!("cdc:{schema}.log"));
    wait_replica_equal(&primary, &replica, &[&t, &log]);
    verify_load(&replica, &db, schema, true);
    let units_primary = assert_batches_are_units(&aof_commands(primary.dir()), "primary AOF");
    let units_replica = assert_batches_are_units(&aof_commands(replica.dir()), "replica AOF");
    assert!(
        units_primary > 10 && units_replica > 10,
        "{units_primary} / {units_replica}"
    );
    assert_eq!(binlog_dump_ids(&db).len(), 1);
}

/// kill -9 of the primary under load, REPLICAOF NO ONE on the replica: it starts streaming
/// from the replicated position; replay on it equals the table, no duplicate. The old primary,
/// restarted and made a replica of the new one (REPLICAOF host port), stops streaming.
#[test]
fn promoted_replica_resumes_from_the_replicated_position_and_a_demoted_primary_stops() {
    let db = MariaDb::start();
    let url = db.url();
    let args = module_args(&url, "pr.*", &[]);
    let primary = RedisServer::start(&args);
    wait_state(&primary, "streaming", STREAMING);
    let replica = start_replica(&primary, &args);
    wait_state(&replica, "replica", STREAMING);
    create_load_tables(&db, "pr");
    let load = Load::start(db.port(), "pr", 12, LOAD_PAUSE);
    load.wait_progress(300, Duration::from_secs(60));
    primary.kill9();
    load.wait_progress(50, Duration::from_secs(60));
    replica.cmd(&["REPLICAOF", "NO", "ONE"]);
    wait_state(&replica, "streaming", STREAMING);
    load.wait_progress(200, Duration::from_secs(60));
    assert_eq!(binlog_dump_ids(&db).len(), 1);

    // The old primary comes back (from its AOF, as a primary: it streams again) and is demoted.
    primary.restart();
    wait_state(&primary, "streaming", STREAMING);
    primary.cmd(&["REPLICAOF", "127.0.0.1", &replica.port().to_string()]);
    wait_state(&primary, "replica", Duration::from_secs(30));
    wait_until(Duration::from_secs(30), "one binlog reader", || {
        binlog_dump_ids(&db).len() == 1
    });
    load.wait_progress(100, Duration::from_secs(60));
    assert_eq!(status(&primary)["state"], "replica");
    load.stop();
    wait_caught_up(&replica, &db, CATCH_UP);
    verify_load(&replica, &db, "pr", true);
    wait_replica_equal(&replica, &primary, &["cdc:pr.t", "cdc:pr.log"]);
    assert_eq!(binlog_dump_ids(&db).len(), 1);
}

/// kill -9 of the primary while it writes a transaction of 30k rows chunk by chunk, and
/// REPLICAOF NO ONE on its replica: the replica holds some of the chunks with the position
/// inside the transaction that covers them, reads the transaction again and skips them. Then a
/// second one, failed over back to the old primary (restarted as a replica of the new one) by
/// REPLICAOF NO ONE while the new primary is alive and writing it.
#[test]
fn failover_in_the_middle_of_a_large_transaction_writes_each_row_once() {
    const N: u64 = 30_000;
    let db = MariaDb::start();
    let url = db.url();
    let args = module_args(&url, "fbig.*", &[]);
    let a = RedisServer::start(&args);
    wait_state(&a, "streaming", STREAMING);
    let b = start_replica(&a, &args);
    wait_state(&b, "replica", STREAMING);
    db.exec("CREATE DATABASE fbig; CREATE TABLE fbig.t (id INT PRIMARY KEY, pad VARCHAR(200))");
    db.exec("INSERT INTO fbig.t VALUES (-1, 'before')");
    let key = "cdc:fbig.t";
    wait_until(
        Duration::from_secs(60),
        "the first row on the replica",
        || xlen(&b, key) == 1,
    );
    let insert = insert_in_one_transaction(db.port(), "fbig.t", 0, N, 100);
    // Watched on the replica: it must hold some chunks but not all.
    let Some(at) = when_between(&b, key, 1 + 600, 1 + N - 600, || false) else {
        panic!("the transaction was never caught half-written on the replica");
    };
    a.kill9();
    insert.join().expect("insert thread").expect("large insert");
    let on_b = xlen(&b, key);
    eprintln!("primary killed with XLEN {at} on the replica, then {on_b}");
    b.cmd(&["REPLICAOF", "NO", "ONE"]);
    wait_state(&b, "streaming", STREAMING);
    wait_caught_up(&b, &db, CATCH_UP);
    assert_eq!(xlen(&b, key), 1 + N);

    // The old primary comes back as a replica of B; B writes a second large transaction and
    // is demoted in its middle (a planned switchover: B stops, A takes over).
    a.restart();
    a.cmd(&["REPLICAOF", "127.0.0.1", &b.port().to_string()]);
    wait_state(&a, "replica", Duration::from_secs(30));
    wait_until(Duration::from_secs(60), "A to sync from B", || {
        info_field(&a, "replication", "master_link_status").as_deref() == Some("up")
            && xlen(&a, key) == 1 + N
    });
    let insert = insert_in_one_transaction(db.port(), "fbig.t", N, N, 100);
    let Some(at) = when_between(&a, key, 1 + N + 600, 1 + 2 * N - 600, || false) else {
        panic!("the second transaction was never caught half-written on the replica");
    };
    b.cmd(&["REPLICAOF", "127.0.0.1", &a.port().to_string()]);
    a.cmd(&["REPLICAOF", "NO", "ONE"]);
    insert.join().expect("insert thread").expect("large insert");
    eprintln!("switched over at XLEN {at} on A");
    wait_state(&a, "streaming", STREAMING);
    wait_state(&b, "replica", STREAMING);
    db.exec("INSERT INTO fbig.t VALUES (-3, 'after'); UPDATE fbig.t SET pad = 'u' WHERE id = 7");
    wait_caught_up(&a, &db, CATCH_UP);
    let list = entries(&a, "fbig", "t");
    assert_eq!(list.len() as u64, 2 * N + 3);
    assert_each_pos_once(&list, key);
    assert_replays_to_table(&list, &db, "fbig", "t");
    wait_replica_equal(&a, &b, &[key]);
    assert_eq!(binlog_dump_ids(&db).len(), 1);
}

/// `CLIENT PAUSE <ms> WRITE` (and `ALL`) under load and in the middle of a transaction of 30k
/// rows: Redis keeps its dataset fixed (the module writes nothing while the pause lasts;
/// writing aborted redis-server on an assertion) and the module goes on once it ends.
#[test]
fn client_pause_holds_the_writer_back_and_it_goes_on_after() {
    const N: u64 = 30_000;
    let db = MariaDb::start();
    let url = db.url();
    let a = RedisServer::start(&module_args(&url, "cp.*", &[]));
    wait_state(&a, "streaming", STREAMING);
    create_load_tables(&db, "cp");
    db.exec("CREATE TABLE cp.big (id INT PRIMARY KEY, pad VARCHAR(200))");
    let load = Load::start(db.port(), "cp", 81, LOAD_PAUSE);
    for (round, mode) in ["WRITE", "ALL", "WRITE"].into_iter().enumerate() {
        load.wait_progress(50, Duration::from_secs(60));
        let first = round as u64 * N;
        let insert = insert_in_one_transaction(db.port(), "cp.big", first, N, 100);
        let at = when_between(&a, "cdc:cp.big", first + 600, first + N - 600, || false);
        a.cmd(&["CLIENT", "PAUSE", "1500", mode]);
        // (XLEN is a read: answered during a WRITE pause, and after an ALL pause.)
        let n = xlen(&a, "cdc:cp.big");
        let log = xlen(&a, "cdc:cp.log");
        std::thread::sleep(Duration::from_millis(700));
        assert!(a.is_running(), "redis-server died during CLIENT PAUSE");
        if mode == "WRITE" {
            assert_eq!(xlen(&a, "cdc:cp.big"), n, "written while paused");
            assert_eq!(xlen(&a, "cdc:cp.log"), log, "written while paused");
        }
        eprintln!("round {round}: CLIENT PAUSE {mode} at XLEN {at:?}");
        insert.join().expect("insert thread").expect("large insert");
        wait_until(CATCH_UP, "the transaction written", || {
            xlen(&a, "cdc:cp.big") >= first + N
        });
    }
    load.wait_progress(50, Duration::from_secs(60));
    load.stop();
    wait_caught_up(&a, &db, CATCH_UP);
    verify_load(&a, &db, "cp", true);
    let list = entries(&a, "cp", "big");
    assert_eq!(list.len() as u64, 3 * N);
    assert_each_pos_once(&list, "cdc:cp.big");
    assert_replays_to_table(&list, &db, "cp", "big");
}

/// Redis's own FAILOVER command (pause writes, let the replica catch up, swap roles) while
/// the primary writes a transaction of 30k rows and a load of small ones runs; then back. The
/// module stops on the demoted node and resumes on the promoted one from the replicated
/// position: nothing lost, nothing twice, the two nodes equal.
#[test]
fn failover_command_under_load_and_mid_transaction_loses_and_repeats_nothing() {
    const N: u64 = 30_000;
    let db = MariaDb::start();
    let url = db.url();
    let args = module_args(&url, "fc.*", &[]);
    let a = RedisServer::start(&args);
    wait_state(&a, "streaming", STREAMING);
    let b = start_replica(&a, &args);
    wait_state(&b, "replica", STREAMING);
    create_load_tables(&db, "fc");
    db.exec("CREATE TABLE fc.big (id INT PRIMARY KEY, pad VARCHAR(200))");
    let load = Load::start(db.port(), "fc", 71, LOAD_PAUSE);
    let key = "cdc:fc.big";
    for (round, (from, to)) in [(&a, &b), (&b, &a)].into_iter().enumerate() {
        load.wait_progress(100, Duration::from_secs(60));
        let first = round as u64 * N;
        let insert = insert_in_one_transaction(db.port(), "fc.big", first, N, 100);
        let at = when_between(from, key, first + 600, first + N - 600, || false);
        from.cmd(&[
            "FAILOVER",
            "TO",
            "127.0.0.1",
            &to.port().to_string(),
            "TIMEOUT",
            "10000",
        ]);
        insert.join().expect("insert thread").expect("large insert");
        wait_until(Duration::from_secs(30), "the roles to swap", || {
            info_field(to, "replication", "role").as_deref() == Some("master")
                && info_field(from, "replication", "role").as_deref() == Some("slave")
        });
        eprintln!("round {round}: FAILOVER at XLEN {at:?}");
        wait_state(to, "streaming", STREAMING);
        wait_state(from, "replica", STREAMING);
        wait_until(CATCH_UP, "the transaction written", || {
            xlen(to, key) >= first + N
        });
    }
    load.wait_progress(100, Duration::from_secs(60));
    load.stop();
    wait_caught_up(&a, &db, CATCH_UP);
    verify_load(&a, &db, "fc", true);
    let list = entries(&a, "fc", "big");
    assert_eq!(list.len() as u64, 2 * N);
    assert_each_pos_once(&list, key);
    assert_replays_to_table(&list, &db, "fc", "big");
    wait_replica_equal(&a, &b, &[key, "cdc:fc.t", "cdc:fc.log"]);
    assert_eq!(binlog_dump_ids(&db).len(), 1);
}

/// `cdc.stream-maxlen 1000` trims every stream the module writes (XLEN stays near 1000 while
/// 10k entries per stream are written) and the trimming replicates: the replica stays equal.
#[test]
fn stream_maxlen_trims_every_stream_and_the_replica_stays_equal() {
    let db = MariaDb::start();
    let url = db.url();
    let args = module_args(&url, "ml.*", &["stream-maxlen", "1000"]);
    let primary = RedisServer::start(&args);
    wait_state(&primary, "streaming", STREAMING);
    let replica = start_replica(&primary, &args);
    db.exec("CREATE DATABASE ml; CREATE TABLE ml.a (id INT PRIMARY KEY); CREATE TABLE ml.b (id INT PRIMARY KEY)");
    let mut max_len = 0;
    for chunk in 0..100 {
        let rows: Vec<String> = (0..100).map(|i| format!("({})", chunk * 100 + i)).collect();
        let rows = rows.join(",");
        db.exec(&format!(
            "INSERT INTO ml.a VALUES {rows}; INSERT INTO ml.b VALUES {rows}"
        ));
        if chunk % 10 == 0 {
            max_len = max_len
                .max(xlen(&primary, "cdc:ml.a"))
                .max(xlen(&primary, "cdc:ml.b"));
        }
    }
    wait_caught_up(&primary, &db, CATCH_UP);
    for k in ["cdc:ml.a", "cdc:ml.b"] {
        let n = xlen(&primary, k);
        max_len = max_len.max(n);
        assert!((1000..1300).contains(&n), "{k}: XLEN {n} not near 1000");
        let list = stream_entries(&mut primary.client(), k);
        let last = json_field(&list.last().unwrap().1, "after");
        assert_eq!(last["id"], 9999, "{k}: the newest entry is kept");
    }
    assert!(max_len < 1600, "XLEN reached {max_len}");
    wait_replica_equal(&primary, &replica, &["cdc:ml.a", "cdc:ml.b"]);
}

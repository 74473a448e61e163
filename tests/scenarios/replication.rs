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

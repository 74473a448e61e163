//! Redis Cluster (issue 16, docs/cluster.md): 3 primaries and 3 replicas, each loading the
//! module with the same configuration. Each primary streams the tables whose hash tag
//! `{db.table}` lands in its slots, with the table's stream, mirror and position in that slot;
//! no node writes a key of a slot it does not serve; a promoted replica resumes its tables
//! from their replicated positions, with no gap and no duplicate.

use crate::support::*;
use redis_cdc_core::cluster::key_slot;
use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TABLES: usize = 12;

/// Six nodes made one cluster by `redis-cli --cluster create ... --cluster-replicas 1`.
struct Cluster {
    nodes: Vec<RedisServer>,
}

impl Cluster {
    fn start(flavor: &Flavor, module_args: &[&str]) -> Cluster {
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| {
                RedisServer::start_on(
                    flavor,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                    ],
                    module_args,
                )
            })
            .collect();
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"].map(String::from));
        let out = Command::new("redis-cli")
            .args(&args)
            .output()
            .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let c = Cluster { nodes };
        wait_until(Duration::from_secs(60), "the cluster to be ok", || {
            c.nodes.iter().all(|n| {
                info_like(n, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
            }) && c.primaries().len() == 3
        });
        c
    }

    fn alive(&self) -> impl Iterator<Item = &RedisServer> {
        self.nodes.iter().filter(|n| n.is_running())
    }

    /// The running nodes that are primaries now.
    fn primaries(&self) -> Vec<&RedisServer> {
        self.alive()
            .filter(|n| {
                info_field(n, "replication", "role").as_deref() == Some("master")
                    && n.cmd(&["CLUSTER", "MYID"]) != redis::Value::Nil
            })
            .collect()
    }

    /// The node serving `key` (the others answer MOVED).
    fn owner(&self, key: &str) -> &RedisServer {
        self.alive()
            .find(|n| {
                info_field(n, "replication", "role").as_deref() == Some("master")
                    && n.try_cmd(&["EXISTS", key]).is_ok()
            })
            .unwrap_or_else(|| panic!("no node serves {key}"))
    }
}

/// A `field:value` of a text reply (`CLUSTER INFO`).
fn info_like(n: &RedisServer, cmd: &[&str], field: &str) -> Option<String> {
    let text = value_to_string(&n.try_cmd(cmd).ok()?);
    text.lines().find_map(|l| {
        l.trim()
            .strip_prefix(field)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

fn stream_key(schema: &str, table: usize) -> String {
    format!("cdc:{{{schema}.t{table}}}")
}

fn create_tables(db: &MariaDb, schema: &str) {
    db.exec(&format!("DROP DATABASE IF EXISTS {schema}"));
    db.exec(&format!("CREATE DATABASE {schema}"));
    for t in 0..TABLES {
        db.exec(&format!(
            "CREATE TABLE {schema}.t{t} (id INT PRIMARY KEY, v VARCHAR(40), n INT NOT NULL DEFAULT 0)"
        ));
        db.exec(&format!(
            "INSERT INTO {schema}.t{t} (id, v) VALUES (1, 'before'), (2, 'before')"
        ));
    }
}

/// Transactions across the tables until stopped: each inserts a row into one table and updates
/// a row of another (so transactions span tables of different nodes). Returns the count.
struct Workload {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Workload {
    fn start(db: &MariaDb, schema: &str) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let (s, d) = (stop.clone(), done.clone());
        let port = db.port();
        let schema = schema.to_string();
        let thread = std::thread::spawn(move || {
            let mut conn = patient_conn(port);
            let mut i: u64 = 0;
            while !s.load(Ordering::Relaxed) {
                let t = (i as usize) % TABLES;
                let u = (i as usize * 5 + 3) % TABLES;
                let sql = format!(
                    "BEGIN; INSERT INTO {schema}.t{t} (id, v) VALUES ({}, 'w{i}'); UPDATE {schema}.t{u} SET n = n + 1 WHERE id = 1; COMMIT",
                    100 + i
                );
                if exec_all(&mut conn, &sql).is_ok() {
                    i += 1;
                    d.store(i, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Workload {
            stop,
            done,
            thread: Some(thread),
        }
    }

    fn wait(&self, n: u64) {
        let start = self.done.load(Ordering::Relaxed);
        wait_until(Duration::from_secs(60), "the workload to progress", || {
            self.done.load(Ordering::Relaxed) >= start + n
        });
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.done.load(Ordering::Relaxed)
    }
}

/// Every primary has finished its snapshot and written everything the source has.
fn wait_all_caught_up(c: &Cluster, db: &MariaDb) {
    for p in c.primaries() {
        wait_snapshot_done_and_caught_up(p, db, CATCH_UP);
    }
}

/// Each table's stream is on the node serving its slot, replays to `SELECT *`, and has each
/// change once (no two entries with one `pos`, positions increasing); no primary holds a key of
/// a slot it does not serve. Returns the owner's port of each table.
fn check_tables(c: &Cluster, db: &MariaDb, schema: &str) -> Vec<u16> {
    let mut owners = Vec::new();
    for t in 0..TABLES {
        let key = stream_key(schema, t);
        let owner = c.owner(&key);
        owners.push(owner.port());
        let entries = stream_entries(&mut owner.client(), &key);
        assert!(
            !entries.is_empty(),
            "{key} is empty on its owner {}: CDC.STATUS {:?}, CLUSTER NODES {}, log tail {}",
            owner.port(),
            status(owner),
            value_to_string(&owner.cmd(&["CLUSTER", "NODES"])),
            tail(&owner.log(), 3000)
        );
        assert_replays_to_table(&entries, db, schema, &format!("t{t}"));
        let mut seen = BTreeSet::new();
        let mut last: Option<(u64, u64, u64)> = None;
        for (id, fields) in &entries {
            let pos = field(fields, "pos").unwrap_or_default().to_string();
            assert!(seen.insert(pos.clone()), "{key}: {pos} twice (entry {id})");
            if pos.starts_with("snapshot:") {
                continue;
            }
            let p = parse_row_pos(&pos);
            assert!(
                last.is_none_or(|l| l < p),
                "{key}: {pos} after {last:?}: not in commit order"
            );
            last = Some(p);
        }
        let position = format!("cdc:offset:{{{schema}.t{t}}}");
        assert_eq!(
            value_to_string(&owner.cmd(&["EXISTS", &position])),
            "1",
            "{position} is on the table's node"
        );
    }
    for p in c.primaries() {
        let mine = my_slots(p);
        let keys = value_to_json(&p.cmd(&["KEYS", "*"]));
        for k in keys.as_array().into_iter().flatten() {
            let k = k.as_str().unwrap_or_default();
            assert!(
                mine.contains(&key_slot(k.as_bytes())),
                "node {} holds {k}, of a slot it does not serve",
                p.port()
            );
        }
    }
    owners
}

fn tail(s: &str, n: usize) -> &str {
    let mut i = s.len().saturating_sub(n);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

/// A field of a map reply (RESP2: a flat array of fields and values; RESP3: an object).
fn lookup(row: &serde_json::Value, f: &str) -> String {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match row {
        serde_json::Value::Object(m) => m.get(f).map(text).unwrap_or_default(),
        serde_json::Value::Array(a) => a
            .chunks(2)
            .find(|p| p[0].as_str() == Some(f))
            .and_then(|p| p.get(1))
            .map(text)
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The slots a node serves (its `myself` line of CLUSTER NODES).
fn my_slots(n: &RedisServer) -> BTreeSet<u16> {
    let text = value_to_string(&n.cmd(&["CLUSTER", "NODES"]));
    let me = redis_cdc_core::cluster::parse_nodes(&text)
        .into_iter()
        .find(|n| n.myself)
        .expect("a myself line");
    (0..16384u16).filter(|s| me.slots.contains(*s)).collect()
}

fn module_args(url: &str, schema: &str) -> Vec<String> {
    [
        "mysql-url",
        url,
        "tables",
        &format!("{schema}.*"),
        "mirror",
        "hash",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The cluster streams each table on its slot's primary (after a snapshot there), the
/// replicas stay idle, CDC.TABLES of a primary names its tables only.
#[test]
fn each_primary_streams_the_tables_of_its_slots() {
    check_each_primary_streams_the_tables_of_its_slots(&Flavor::redis(), "clu1");
}

/// The same on a Valkey 8.1 cluster.
#[test]
fn each_valkey_primary_streams_the_tables_of_its_slots() {
    let Some(valkey) = Flavor::valkey() else {
        return;
    };
    check_each_primary_streams_the_tables_of_its_slots(&valkey, "clu4");
}

fn check_each_primary_streams_the_tables_of_its_slots(flavor: &Flavor, schema: &str) {
    let started = Instant::now();
    let db = shared_mariadb();
    create_tables(&db, schema);
    let url = db.url();
    let args = module_args(&url, schema);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = Cluster::start(flavor, &args);
    let w = Workload::start(&db, schema);
    w.wait(200);
    w.stop();
    wait_all_caught_up(&c, &db);
    let owners = check_tables(&c, &db, schema);
    let distinct: BTreeSet<u16> = owners.iter().copied().collect();
    assert_eq!(distinct.len(), 3, "the tables land on all three primaries");
    for n in c.alive() {
        let role = info_field(n, "replication", "role").unwrap_or_default();
        let state = status_field(n, "state");
        if role == "slave" {
            assert_eq!(state, "replica", "a replica stays idle");
        }
    }
    // CDC.TABLES of each primary: its own tables.
    for p in c.primaries() {
        let tables = value_to_string(&p.cmd(&["CDC.TABLES"]));
        for (t, owner) in owners.iter().enumerate() {
            let name = format!("{schema}.t{t}");
            let mine = *owner == p.port();
            assert_eq!(
                tables.contains(&format!("{name}\n"))
                    || tables.contains(&format!("{name} "))
                    || tables.contains(&stream_key(schema, t)),
                mine,
                "CDC.TABLES of {} and {name}: {tables}",
                p.port()
            );
        }
    }
    // CDC.CLUSTER on a primary: table -> the primary streaming it.
    for n in c.primaries() {
        let rows = value_to_json(&n.cmd(&["CDC.CLUSTER"]));
        let rows = rows.as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), TABLES, "CDC.CLUSTER on {}: {rows:?}", n.port());
        for row in &rows {
            let get = |f: &str| lookup(row, f);
            let table = get("table");
            let t: usize = table
                .rsplit_once(".t")
                .and_then(|(_, t)| t.parse().ok())
                .unwrap_or_else(|| panic!("a table of the test: {row:?}"));
            assert_eq!(
                get("address"),
                format!("127.0.0.1:{}", owners[t]),
                "{row:?}"
            );
            assert_eq!(get("here") == "1", owners[t] == n.port(), "{row:?}");
        }
    }
    // CDC.RESYNC of another node's table names where to run it; on its node it runs.
    let other = c
        .primaries()
        .into_iter()
        .find(|p| p.port() != owners[0])
        .expect("another primary");
    let err = other
        .try_cmd(&["CDC.RESYNC", &format!("{schema}.t0")])
        .expect_err("another node's table");
    assert!(
        format!("{err:?}").contains("another node"),
        "CDC.RESYNC elsewhere: {err:?}"
    );
    // The mirror: each row a hash on the table's node.
    for (t, port) in owners.iter().enumerate() {
        let key = format!("{{{schema}.t{t}}}:1");
        let owner = c.owner(&key);
        assert_eq!(owner.port(), *port, "{key} is on its table's node");
        let row = value_to_json(&owner.cmd(&["HGET", &key, "v"]));
        assert_eq!(row, serde_json::json!("before"), "{key}");
    }
    eprintln!(
        "cluster streaming test on {}: {:?}",
        flavor.name(),
        started.elapsed()
    );
}

/// A primary killed -9 under a workload and its replica promoted (CLUSTER FAILOVER TAKEOVER):
/// the promoted replica resumes the primary's tables from their replicated positions, so every
/// table's stream has each change once, in order, and replays to its table.
#[test]
fn a_promoted_replica_resumes_its_tables_with_no_gap_and_no_duplicate() {
    let started = Instant::now();
    let db = shared_mariadb();
    let schema = "clu2";
    create_tables(&db, schema);
    let url = db.url();
    let args = module_args(&url, schema);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = Cluster::start(&Flavor::redis(), &args);
    let w = Workload::start(&db, schema);
    w.wait(150);
    // The primary of t0's slot, and its replica.
    let victim = c.owner(&stream_key(schema, 0));
    let victim_id = value_to_string(&victim.cmd(&["CLUSTER", "MYID"]));
    let replica = c
        .alive()
        .find(|n| {
            value_to_string(&n.cmd(&["CLUSTER", "NODES"]))
                .lines()
                .any(|l| l.contains("myself,slave") && l.contains(&victim_id))
        })
        .expect("the victim's replica");
    victim.kill9();
    replica.cmd(&["CLUSTER", "FAILOVER", "TAKEOVER"]);
    wait_until(Duration::from_secs(30), "the replica to take over", || {
        info_field(replica, "replication", "role").as_deref() == Some("master")
    });
    wait_state(replica, "streaming", STREAMING);
    w.wait(150);
    let n = w.stop();
    wait_all_caught_up(&c, &db);
    let owners = check_tables(&c, &db, schema);
    assert_eq!(
        owners[0],
        replica.port(),
        "t0 is now on the promoted replica"
    );
    eprintln!(
        "cluster failover test: {n} transactions, {:?}",
        started.elapsed()
    );
}

/// Move the slot of `key` from its primary to `to` as `redis-cli --cluster reshard` does:
/// IMPORTING / MIGRATING, MIGRATE of its keys, then SETSLOT NODE on every primary.
fn move_slot(c: &Cluster, key: &str, to: &RedisServer) {
    let slot = key_slot(key.as_bytes()).to_string();
    let from = c.owner(key);
    let from_id = value_to_string(&from.cmd(&["CLUSTER", "MYID"]));
    let to_id = value_to_string(&to.cmd(&["CLUSTER", "MYID"]));
    to.cmd(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id]);
    from.cmd(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]);
    let port = to.port().to_string();
    loop {
        let keys = value_to_json(&from.cmd(&["CLUSTER", "GETKEYSINSLOT", &slot, "100"]));
        let keys: Vec<String> = keys
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(String::from))
            .collect();
        if keys.is_empty() {
            break;
        }
        let mut args: Vec<&str> = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
        args.extend(keys.iter().map(String::as_str));
        from.cmd(&args);
    }
    for p in c.primaries() {
        p.cmd(&["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]);
    }
}

/// The slot of a busy table moved to another primary under a workload: the new primary resumes
/// the table from its position (moved with its stream), so its stream has each change once.
#[test]
fn a_table_whose_slot_moves_resumes_on_its_new_primary_exactly_once() {
    let started = Instant::now();
    let db = shared_mariadb();
    let schema = "clu3";
    create_tables(&db, schema);
    let url = db.url();
    let args = module_args(&url, schema);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = Cluster::start(&Flavor::redis(), &args);
    let w = Workload::start(&db, schema);
    w.wait(150);
    // A table whose slot is not its primary's lowest (that slot holds the node's own hash).
    let (t, from) = (0..TABLES)
        .map(|t| (t, c.owner(&stream_key(schema, t))))
        .find(|(t, n)| my_slots(n).first() != Some(&key_slot(stream_key(schema, *t).as_bytes())))
        .expect("a table to move");
    let key = stream_key(schema, t);
    let to = c
        .primaries()
        .into_iter()
        .find(|p| p.port() != from.port())
        .expect("another primary");
    move_slot(&c, &key, to);
    assert_eq!(c.owner(&key).port(), to.port());
    w.wait(150);
    let n = w.stop();
    wait_all_caught_up(&c, &db);
    let owners = check_tables(&c, &db, schema);
    assert_eq!(owners[t], to.port(), "t{t} is on its new primary");
    eprintln!(
        "cluster slot move test: {n} transactions, {:?}",
        started.elapsed()
    );
}

/// The long variant (`--ignored`): under a workload, the slots of several tables move between
/// primaries one after another, then a primary is killed -9 and its replica takes over; every
/// table's stream still has each change once, in order, and replays to its table.
#[test]
#[ignore]
fn soak_slot_moves_and_a_failover_under_load_keep_every_table_exact() {
    let started = Instant::now();
    let db = shared_mariadb();
    let schema = "clu5";
    create_tables(&db, schema);
    let url = db.url();
    let args = module_args(&url, schema);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = Cluster::start(&Flavor::redis(), &args);
    let w = Workload::start(&db, schema);
    w.wait(300);
    for round in 0..6 {
        let t = (round * 5) % TABLES;
        let key = stream_key(schema, t);
        let from = c.owner(&key);
        if my_slots(from).first() == Some(&key_slot(key.as_bytes())) {
            continue;
        }
        let primaries = c.primaries();
        let to = primaries
            .iter()
            .find(|p| p.port() != from.port())
            .expect("another primary");
        move_slot(&c, &key, to);
        w.wait(200);
    }
    let victim = c.owner(&stream_key(schema, 1));
    let victim_id = value_to_string(&victim.cmd(&["CLUSTER", "MYID"]));
    let replica = c
        .alive()
        .find(|n| {
            value_to_string(&n.cmd(&["CLUSTER", "NODES"]))
                .lines()
                .any(|l| l.contains("myself,slave") && l.contains(&victim_id))
        })
        .expect("the victim's replica");
    victim.kill9();
    replica.cmd(&["CLUSTER", "FAILOVER", "TAKEOVER"]);
    w.wait(500);
    let n = w.stop();
    wait_all_caught_up(&c, &db);
    check_tables(&c, &db, schema);
    eprintln!("cluster soak: {n} transactions, {:?}", started.elapsed());
}

//! The load of the fault-injection scenarios (faults, replication): small transactions in a
//! thread that survives its server being killed, and the end-to-end checks of docs/events.md
//! (exactly once, in order, replay = `SELECT *`) on what the module wrote of it.
//!
//! Every load uses two tables in its own database:
//! * `<db>.t (id, v, note)`: inserted, updated and deleted (replay must equal `SELECT *`);
//! * `<db>.log (id, note)`: insert only, ids handed out in commit order, so that the stream
//!   must hold every id of the table exactly once and in ascending order (exact counts).
use super::servers::{module_path, MariaDb, RedisServer};
use super::streams::{
    assert_replays_to_table, entries, field, json_field, parse_row_pos, wait_until,
};
use mysql::prelude::Queryable;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{sleep, JoinHandle};
use std::time::Duration;

/// Module args that make a test independent of the snapshot mode's default: start at the
/// source's current end (tables are created and filled after the module streams).
pub fn module_args<'a>(url: &'a str, schema: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["mysql-url", url, "snapshot", "never"];
    if !schema.is_empty() {
        v.push("tables");
        v.push(schema);
    }
    v.extend_from_slice(extra);
    v
}

/// `MODULE LOADEX <module> CONFIG cdc.<name> <value> ...` for the module arguments `args`.
pub fn loadex_args(args: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = vec![
        "MODULE".into(),
        "LOADEX".into(),
        module_path().display().to_string(),
    ];
    for pair in args.chunks(2) {
        out.push("CONFIG".into());
        out.push(format!("cdc.{}", pair[0]));
        out.push(pair[1].to_string());
    }
    out
}

/// Create `<db>.t` and `<db>.log`.
pub fn create_load_tables(db: &MariaDb, schema: &str) {
    db.exec(&format!(
        "CREATE DATABASE IF NOT EXISTS {schema};
         CREATE TABLE {schema}.t (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(60));
         CREATE TABLE {schema}.log (id BIGINT PRIMARY KEY, note VARCHAR(60))"
    ));
}

/// A root connection to `127.0.0.1:port` with short timeouts (so that a killed or frozen
/// server is noticed by the load too).
pub fn root_conn(port: u16) -> mysql::Result<mysql::Conn> {
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(port)
        .user(Some("root"))
        .prefer_socket(false)
        .tcp_connect_timeout(Some(Duration::from_secs(2)))
        .read_timeout(Some(Duration::from_secs(5)))
        .write_timeout(Some(Duration::from_secs(5)));
    mysql::Conn::new(opts)
}

/// A root connection without read timeout (for statements that run long).
pub fn patient_conn(port: u16) -> mysql::Conn {
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(port)
        .user(Some("root"))
        .prefer_socket(false);
    mysql::Conn::new(opts).expect("connect to MariaDB")
}

/// A load of small transactions running in a thread until `stop()`.
pub struct Load {
    stop: Arc<AtomicBool>,
    committed: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl Load {
    /// Start writing to `<schema>` on the server at `port` (reconnecting whenever it fails).
    /// `pause` between transactions keeps the load from eating the 2 shared cores.
    pub fn start(port: u16, schema: &str, seed: u64, pause: Duration) -> Load {
        Load::start_at(port, schema, seed, pause, 1)
    }

    /// As `start`, with log ids from `first_log_id` (a second load on the same tables).
    pub fn start_at(
        port: u16,
        schema: &str,
        seed: u64,
        pause: Duration,
        first_log_id: u64,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (s, c, f) = (stop.clone(), committed.clone(), failed.clone());
        let schema = schema.to_string();
        let handle = std::thread::spawn(move || {
            load_loop(port, &schema, seed, pause, first_log_id, &s, &c, &f)
        });
        Load {
            stop,
            committed,
            failed,
            handle: Some(handle),
        }
    }

    /// Transactions committed so far (acknowledged by the server).
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// Wait until `n` more transactions than now are committed.
    pub fn wait_progress(&self, n: u64, timeout: Duration) {
        let from = self.committed();
        wait_until(timeout, &format!("{n} more load transactions"), || {
            self.committed() >= from + n
        });
    }

    /// Stop and wait for the thread; returns (committed, failed) transaction counts.
    pub fn stop(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().expect("load thread panicked");
        }
        (self.committed(), self.failed.load(Ordering::Relaxed))
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A small deterministic generator (tests must not depend on a rand crate).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

#[allow(clippy::too_many_arguments)]
fn load_loop(
    port: u16,
    schema: &str,
    seed: u64,
    pause: Duration,
    first_log_id: u64,
    stop: &AtomicBool,
    committed: &AtomicU64,
    failed: &AtomicU64,
) {
    let mut rng = Lcg(seed);
    let mut conn: Option<mysql::Conn> = None;
    // Log ids: a transaction whose commit fails is never retried with the same ids (whether
    // it committed or not is for the checks to find out from the table).
    let mut next_log = first_log_id;
    // The connection of a transaction whose commit failed (a read timeout: the server may be
    // frozen, with the transaction still in its socket): gone before the next transaction, so
    // that it cannot commit after a later one and the log's ids stay in commit order.
    let mut stale: Option<u32> = None;
    while !stop.load(Ordering::Relaxed) {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match root_conn(port) {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    sleep(Duration::from_millis(100));
                    continue;
                }
            },
        };
        if let Some(id) = stale {
            if !settle(c, id) {
                conn = None;
                sleep(Duration::from_millis(100));
                continue;
            }
            stale = None;
        }
        let mut sql = String::from("BEGIN;");
        for _ in 0..1 + rng.next(3) {
            sql += &format!(
                "INSERT INTO {schema}.log VALUES ({next_log}, 'log {next_log} {}');",
                rng.next(1_000_000)
            );
            next_log += 1;
        }
        for _ in 0..1 + rng.next(3) {
            let id = rng.next(300);
            match rng.next(5) {
                0 => sql += &format!("DELETE FROM {schema}.t WHERE id = {id};"),
                1 => sql += &format!("UPDATE {schema}.t SET v = v + 1, note = 'upd {id}' WHERE id = {id};"),
                _ => {
                    sql += &format!(
                        "INSERT INTO {schema}.t VALUES ({id}, {v}, 'row {id}') ON DUPLICATE KEY UPDATE v = {v}, note = CONCAT('re ', {v});",
                        v = rng.next(1_000_000)
                    )
                }
            }
        }
        sql += "COMMIT";
        match c.query_drop(&sql) {
            Ok(()) => {
                committed.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                failed.fetch_add(1, Ordering::Relaxed);
                stale = Some(c.connection_id());
                conn = None;
                sleep(Duration::from_millis(50));
            }
        }
        if !pause.is_zero() {
            sleep(pause);
        }
    }
}

/// Kill connection `id` and wait until its thread is gone (its transaction committed or rolled
/// back); false when `c` failed meanwhile.
fn settle(c: &mut mysql::Conn, id: u32) -> bool {
    let _ = c.query_drop(format!("KILL {id}"));
    for _ in 0..300 {
        let left: mysql::Result<Option<u64>> = c.query_first(format!(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {id}"
        ));
        match left {
            Ok(Some(0)) => return true,
            Ok(_) => sleep(Duration::from_millis(100)),
            Err(_) => return false,
        }
    }
    false
}

/// `SELECT id FROM <schema>.log ORDER BY id`.
pub fn log_ids(db: &MariaDb, schema: &str) -> Vec<u64> {
    db.query_strings(&format!("SELECT id FROM {schema}.log ORDER BY id"))
        .into_iter()
        .map(|r| r[0].as_deref().unwrap_or("0").parse().unwrap())
        .collect()
}

/// What `verify_load` found (`t_entries` shows in assertion messages).
#[derive(Debug)]
pub struct Verified {
    #[allow(dead_code)]
    pub t_entries: usize,
    pub log_entries: usize,
}

/// The checks of docs/events.md on a load's streams against the source tables:
/// * no `pos` twice (across both streams), and `pos` ascending in each stream when
///   `single_source` (after a source failover positions of two servers mix);
/// * `gtid` present on every entry and its sequence never going back (no transaction twice);
/// * the log stream holds every id of the log table exactly once, in ascending order;
/// * replaying the t stream gives `SELECT * FROM t`.
pub fn verify_load(
    redis: &RedisServer,
    db: &MariaDb,
    schema: &str,
    single_source: bool,
) -> Verified {
    let t = entries(redis, schema, "t");
    let log = entries(redis, schema, "log");
    let mut seen = HashSet::new();
    for (stream, list) in [("t", &t), ("log", &log)] {
        let mut last_pos: Option<(u64, u64, u64)> = None;
        let mut last_seq: Option<u64> = None;
        for (id, f) in list.iter() {
            let pos =
                field(f, "pos").unwrap_or_else(|| panic!("entry {id} of {stream} has no pos"));
            if single_source {
                assert!(
                    seen.insert(pos.to_string()),
                    "pos {pos} written twice (entry {id} of {stream})"
                );
                let p = parse_row_pos(pos);
                assert!(
                    last_pos.is_none_or(|l| l < p),
                    "{stream}: pos {pos} (entry {id}) is not after {last_pos:?}"
                );
                last_pos = Some(p);
            }
            let gtid = field(f, "gtid")
                .unwrap_or_else(|| panic!("entry {id} of {stream} has no gtid: {f:?}"));
            let seq: u64 = gtid
                .rsplit('-')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("gtid {gtid} is not domain-server-seq"));
            assert!(
                last_seq.is_none_or(|l| l <= seq),
                "{stream}: gtid {gtid} (entry {id}) goes back after seq {last_seq:?}: a transaction written twice"
            );
            last_seq = Some(seq);
        }
    }
    // log: exactly the table's ids, once each, in commit order.
    let streamed: Vec<u64> = log
        .iter()
        .map(|(_, f)| {
            assert_eq!(field(f, "op"), Some("c"), "log is insert-only: {f:?}");
            json_field(f, "after")["id"].as_u64().expect("log id")
        })
        .collect();
    let expected = log_ids(db, schema);
    if streamed != expected {
        let s: HashSet<_> = streamed.iter().collect();
        let e: HashSet<_> = expected.iter().collect();
        let mut missing: Vec<_> = e.difference(&s).copied().collect();
        missing.sort();
        let mut dup = streamed.clone();
        dup.sort();
        dup.dedup();
        panic!(
            "{schema}.log stream ({} entries, {} distinct) != table ({} rows): missing {:?}, duplicated {}, out of order {}",
            streamed.len(),
            s.len(),
            expected.len(),
            &missing[..missing.len().min(10)],
            streamed.len() - dup.len(),
            streamed.windows(2).any(|w| w[0] >= w[1])
        );
    }
    assert_replays_to_table(&t, db, schema, "t");
    Verified {
        t_entries: t.len(),
        log_entries: log.len(),
    }
}

/// Connection ids of `Binlog Dump` threads on `db`.
pub fn binlog_dump_ids(db: &MariaDb) -> Vec<u64> {
    db.query_strings(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
    )
    .into_iter()
    .filter_map(|r| r[0].as_deref().and_then(|s| s.parse().ok()))
    .collect()
}

/// The pause between two transactions of a fault scenario's `Load` (keeps it from eating the
/// two shared cores while still writing a few hundred transactions a second).
pub const LOAD_PAUSE: Duration = Duration::from_millis(2);

/// Every entry of `list` has a `pos` no other entry has (also `snapshot:...` ones); returns
/// how many entries there are.
pub fn assert_each_pos_once(list: &[super::streams::StreamEntry], what: &str) -> usize {
    let mut seen = HashSet::new();
    for (id, f) in list {
        let pos = field(f, "pos").unwrap_or_else(|| panic!("{what}: entry {id} has no pos"));
        assert!(
            seen.insert(pos.to_string()),
            "{what}: pos {pos} written twice (entry {id})"
        );
    }
    list.len()
}

/// Start `INSERT INTO <table> SELECT seq + <from>, REPEAT('x', <pad>) FROM seq_1_to_<n>` (one
/// transaction) on a connection of its own; the thread returns the statement's error text.
pub fn insert_in_one_transaction(
    port: u16,
    table: &str,
    from: u64,
    n: u64,
    pad: u64,
) -> JoinHandle<Result<(), String>> {
    let schema = table.split('.').next().unwrap_or(table);
    let sql = format!(
        "INSERT INTO {table} SELECT seq + {from}, REPEAT('x', {pad}) FROM {schema}.seq_1_to_{n}"
    );
    std::thread::spawn(move || {
        let mut c = patient_conn(port);
        c.query_drop(sql).map_err(|e| e.to_string())
    })
}

/// Poll `key`'s XLEN (tightly: the writer appends thousands a second) until it is strictly
/// between `lo` and `hi`, and return it; None once it reached `hi` or `done()` says the writer
/// cannot get there.
pub fn when_between(
    redis: &RedisServer,
    key: &str,
    lo: u64,
    hi: u64,
    mut done: impl FnMut() -> bool,
) -> Option<u64> {
    let mut con = redis.client();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        let n: u64 = redis::cmd("XLEN").arg(key).query(&mut con).unwrap_or(0);
        if n > lo && n < hi {
            return Some(n);
        }
        if n >= hi || done() {
            return None;
        }
        sleep(Duration::from_micros(300));
    }
    None
}

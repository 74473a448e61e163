//! `make bench`: catch-up throughput against peers, lock hold, client latency and memory;
//! `make bench MODE=live`: commit->entry latency at a steady transaction rate;
//! `make bench MODE=snapshot`: the initial snapshot of an existing table;
//! `make bench MODE=mirror`: the catch-up with the mirror;
//! `make bench MODE=cluster`: the catch-up by a Redis Cluster of 3 primaries against one
//! redis-server, over one binlog of tables spread evenly across the primaries.
//!
//! It starts its own MariaDB and redis-server (the integration tests' support library,
//! tests/support), generates the binlog with the module paused, resumes it and times the
//! catch-up; on the same binlog range it times `mariadb-binlog --verbose` (the C decoder) and a
//! do-it-yourself pipeline in Python (benches/diy_pipeline.py). Results are printed and written
//! to benches/RESULTS.md.

// The bench uses only part of the support library.
#[allow(dead_code, unused_imports)]
#[path = "../tests/support/mod.rs"]
mod support;

use mysql::prelude::Queryable;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

const TABLE_DDL: &str = "CREATE TABLE bench.items (
    id BIGINT PRIMARY KEY,
    qty INT NOT NULL,
    price DECIMAL(12,2) NOT NULL,
    name VARCHAR(64) NOT NULL,
    updated DATETIME(6) NOT NULL,
    status ENUM('new','paid','shipped','cancelled') NOT NULL,
    note TEXT,
    attrs JSON)";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn start_db() -> MariaDb {
    let db = MariaDb::start_with(&[
        "--innodb-buffer-pool-size=512M",
        "--innodb-flush-log-at-trx-commit=0",
        "--sync-binlog=0",
        "--max-binlog-size=1073741824",
    ]);
    db.exec("CREATE DATABASE bench");
    db.exec(TABLE_DDL);
    db
}

/// A redis-server configured as every pipeline of the bench sees it: AOF with
/// `appendfsync always` (BENCH_FSYNC=everysec measures without an fsync per event-loop
/// iteration), no automatic AOF rewrite (its fork and RDB child would compete for the 2 cores
/// at a moment that differs from run to run). `module_args` configure the module.
fn start_redis(module_args: &[&str]) -> RedisServer {
    let fsync = std::env::var("BENCH_FSYNC").unwrap_or_else(|_| "always".into());
    RedisServer::start_with(
        &[
            "--appendfsync",
            fsync.as_str(),
            "--auto-aof-rewrite-percentage",
            "0",
        ],
        module_args,
    )
}

fn start_servers() -> (MariaDb, RedisServer) {
    let db = start_db();
    let url = db.url();
    let redis = start_redis(&["mysql-url", url.as_str(), "snapshot", "never"]);
    wait_state(&redis, "streaming", STREAMING);
    (db, redis)
}

/// CPU seconds (user + system) used so far by each thread of `pid`, summed by thread name.
fn thread_cpu(pid: u32) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        // "tid (comm) state ppid ...": utime and stime are fields 14 and 15.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| rest.get(i).and_then(|v| v.parse::<u64>().ok()))
            .sum();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        *out.entry(comm).or_insert(0.0) += ticks as f64 / hz;
    }
    out
}

/// CPU used by each thread of `pid` since `before` (from [`thread_cpu`]), as "name 0.12 s, ...".
fn cpu_since(pid: u32, before: &std::collections::BTreeMap<String, f64>) -> Vec<String> {
    thread_cpu(pid)
        .into_iter()
        .map(|(name, s)| {
            let used = s - before.get(&name).copied().unwrap_or(0.0);
            (name, used)
        })
        .filter(|(_, s)| *s >= 0.01)
        .map(|(name, s)| format!("{name} {s:.2} s"))
        .collect()
}

/// A redis-server whose module follows `db` with cdc.snapshot `snapshot`, disabled until
/// [`enable_module`].
/// BENCH_MODULE_ARGS: more module arguments, space-separated `name value` pairs (e.g.
/// `mask-columns bench.items.name exclude-columns bench.items.note mask-salt s`).
fn start_disabled_module(db: &MariaDb, snapshot: &str) -> RedisServer {
    let args = disabled_module_args(db, snapshot);
    start_redis(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The module arguments of [`start_disabled_module`] (and of a cluster's nodes).
fn disabled_module_args(db: &MariaDb, snapshot: &str) -> Vec<String> {
    let extra = std::env::var("BENCH_MODULE_ARGS").unwrap_or_default();
    let mut args: Vec<String> = [
        "mysql-url",
        &db.url(),
        "snapshot",
        snapshot,
        "enabled",
        "no",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.split_whitespace().map(str::to_string));
    args
}

/// The offset hash's `mirror` field for the BENCH_MODULE_ARGS in force (mode and prefix).
fn bench_mirror_setting() -> String {
    let extra = std::env::var("BENCH_MODULE_ARGS").unwrap_or_default();
    let words: Vec<&str> = extra.split_whitespace().collect();
    let value = |name: &str| {
        words
            .iter()
            .position(|w| *w == name)
            .and_then(|i| words.get(i + 1))
            .copied()
    };
    match value("mirror") {
        Some(mode) if mode != "off" => format!("{mode} {}", value("mirror-prefix").unwrap_or("")),
        _ => String::new(),
    }
}

fn enable_module(c: &mut redis::Connection) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("cdc.enabled")
        .arg("yes")
        .query(c)
        .expect("enable the module");
}

/// Generate `txns` transactions of `per_txn` changes: 70% inserts, 20% updates, 10% deletes.
fn generate(db: &MariaDb, txns: usize, per_txn: usize) -> usize {
    generate_into(db, &["bench.items".to_string()], txns, per_txn)
}

/// [`generate`] into `tables` (of `TABLE_DDL`'s columns), taking turns: transaction `t` writes
/// `tables[t % n]`, each table with the same mix.
fn generate_into(db: &MariaDb, tables: &[String], txns: usize, per_txn: usize) -> usize {
    let mut conn = db.conn();
    // Per table: the next id to insert and the lowest id not deleted.
    let mut ids: Vec<(u64, u64)> = vec![(1, 1); tables.len()];
    let mut changes = 0;
    for t in 0..txns {
        let table = &tables[t % tables.len()];
        let (next_id, live_lo) = &mut ids[t % tables.len()];
        conn.query_drop("BEGIN").expect("begin");
        match (t / tables.len()) % 10 {
            0..=6 => {
                let mut sql = format!("INSERT INTO {table} VALUES ");
                for i in 0..per_txn {
                    let id = *next_id + i as u64;
                    if i > 0 {
                        sql.push(',');
                    }
                    sql.push_str(&format!(
                        "({id},{q},{p}.{c:02},'item-{id}-name','2024-05-01 12:00:00.{us:06}','{st}','note for item {id}: lorem ipsum dolor sit amet','{{\"id\":{id},\"tags\":[\"a\",\"b\"],\"w\":{q}.5}}')",
                        q = id % 1000,
                        p = id % 100000,
                        c = id % 100,
                        us = id % 1_000_000,
                        st = ["new", "paid", "shipped", "cancelled"][(id % 4) as usize],
                    ));
                }
                conn.query_drop(sql).expect("insert");
                *next_id += per_txn as u64;
            }
            7 | 8 => {
                let lo = *live_lo;
                conn.query_drop(format!(
                    "UPDATE {table} SET qty = qty + 1, status = 'paid', updated = NOW(6) WHERE id >= {lo} AND id < {}",
                    lo + per_txn as u64
                ))
                .expect("update");
            }
            _ => {
                let lo = *live_lo;
                conn.query_drop(format!(
                    "DELETE FROM {table} WHERE id >= {lo} AND id < {}",
                    lo + per_txn as u64
                ))
                .expect("delete");
                *live_lo += per_txn as u64;
            }
        }
        conn.query_drop("COMMIT").expect("commit");
        changes += per_txn;
    }
    changes
}

/// PING the server continuously; returns (max, p99) round trip in µs.
fn pinger(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(u64, u64, usize)> {
    std::thread::spawn(move || {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return (0, 0, 0);
        };
        let _ = s.set_nodelay(true);
        let mut buf = [0u8; 64];
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            if s.write_all(b"PING\r\n").is_err() || s.read(&mut buf).is_err() {
                break;
            }
            samples.push(t.elapsed().as_micros() as u64);
            std::thread::sleep(Duration::from_millis(1));
        }
        samples.sort_unstable();
        let max = samples.last().copied().unwrap_or(0);
        let p99 = samples.get(samples.len() * 99 / 100).copied().unwrap_or(0);
        (max, p99, samples.len())
    })
}

struct Row {
    what: String,
    rows_per_s: f64,
    secs: f64,
    note: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// A number of `INFO cdc` (`cdc_<field>`), 0 when absent.
fn info_u64(redis: &RedisServer, field: &str) -> u64 {
    info_field(redis, "cdc", &format!("cdc_{field}"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One catch-up of the module over the generated binlog range, into a fresh redis-server.
struct ModuleRun {
    secs: f64,
    max_lock_us: u64,
    max_lock_cpu_us: u64,
    lock_holds: u64,
    lock_holds_over_2ms: u64,
    ping_p99_us: u64,
    ping_max_us: u64,
    pings: usize,
    rss_before_kb: u64,
    hwm_kb: u64,
    used_peak_kb: u64,
    /// CPU time of redis-server's threads during the catch-up.
    cpu: String,
    /// fsync/fdatasync calls of redis-server during the catch-up (None: perf could not count).
    fsyncs: Option<u64>,
    /// Time the writer waited for the Redis lock during the catch-up.
    lock_wait_us: u64,
}

impl ModuleRun {
    /// "AOF fsyncs per 1000 entries, share of the catch-up the writer waited for the lock".
    fn commit_note(&self, entries: usize) -> String {
        let fsyncs = match self.fsyncs {
            Some(n) => format!("{:.1}", n as f64 * 1000.0 / entries.max(1) as f64),
            None => "n/a (perf stat unavailable)".into(),
        };
        format!(
            "{fsyncs} AOF fsyncs per 1000 entries; writer waited for the lock {:.0}% of the time",
            100.0 * self.lock_wait_us as f64 / (self.secs * 1e6).max(1.0)
        )
    }
}

/// The CPU model, from /proc/cpuinfo.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "CPU model unknown".into())
}

/// The median time of a 4 KiB write + fdatasync, as the AOF does with appendfsync always,
/// on the disk the test servers use.
fn fsync_latency() -> String {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    let path = test_tmp_dir().join(format!("fsync-probe-{}", std::process::id()));
    let Ok(mut f) = std::fs::File::create(&path) else {
        return "not measured".into();
    };
    let block = [7u8; 4096];
    let mut times = Vec::new();
    for i in 0..200u64 {
        let t = Instant::now();
        let ok = f.write_all(&block).is_ok() && f.sync_data().is_ok();
        if !ok {
            break;
        }
        times.push(t.elapsed().as_secs_f64() * 1e6);
        if i % 50 == 49 {
            let _ = f.write_at(&block, 0);
        }
    }
    let _ = std::fs::remove_file(&path);
    if times.is_empty() {
        return "not measured".into();
    }
    format!(
        "{:.0} µs (median of {})",
        median(times.clone()),
        times.len()
    )
}

/// The run of median time.
fn median_run(runs: &[ModuleRun]) -> &ModuleRun {
    let mut sorted: Vec<&ModuleRun> = runs.iter().collect();
    sorted.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    sorted[sorted.len() / 2]
}

/// Count redis-server's fsync and fdatasync calls (the AOF's, with appendfsync always) with
/// `perf stat` on their tracepoints, until [`fsync_count`] stops it.
fn fsync_counter(pid: u32) -> Option<(std::process::Child, std::path::PathBuf)> {
    let out = std::env::temp_dir().join(format!("cdc-bench-fsync-{pid}.txt"));
    let child = Command::new("perf")
        .args([
            "stat",
            "-x,",
            "-e",
            "syscalls:sys_enter_fdatasync",
            "-e",
            "syscalls:sys_enter_fsync",
            "-o",
        ])
        .arg(&out)
        .arg("-p")
        .arg(pid.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    Some((child, out))
}

fn fsync_count(counter: Option<(std::process::Child, std::path::PathBuf)>) -> Option<u64> {
    let (mut child, out) = counter?;
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let text = std::fs::read_to_string(&out).ok()?;
    let _ = std::fs::remove_file(&out);
    let counts: Vec<u64> = text
        .lines()
        .filter(|l| l.contains("syscalls:sys_enter_"))
        .filter_map(|l| l.split(',').next()?.trim().parse().ok())
        .collect();
    (!counts.is_empty()).then(|| counts.iter().sum())
}

/// Start a redis-server whose module is disabled, store `file:start` as its position, enable
/// it and time until it has written everything up to `file:end`. The server is returned so
/// that its entries can be read.
fn module_run(
    db: &MariaDb,
    file: &str,
    start: u64,
    end: u64,
    changes: usize,
) -> (ModuleRun, RedisServer) {
    let redis = start_disabled_module(db, "never");
    let mut c = redis.client();
    let _: () = redis::cmd("HSET")
        .arg("cdc:offset")
        .arg("file")
        .arg(file)
        .arg("pos")
        .arg(start)
        // The mirror setting the (empty) mirror is kept with: no filling re-read at the start
        // (docs/mirror.md), so that only the catch-up is measured.
        .arg("mirror")
        .arg(bench_mirror_setting())
        .query(&mut c)
        .expect("store the start position");
    let rss_before_kb = proc_mem(redis.pid(), "VmRSS") / 1024;
    let stop = Arc::new(AtomicBool::new(false));
    let ping = pinger(redis.port(), stop.clone());
    // BENCH_PERF=FILE records a CPU profile of redis-server (module threads included) during
    // the first catch-up: `perf report -i FILE --no-children --sort comm,symbol`.
    let perf = std::env::var("BENCH_PERF").ok().and_then(|out| {
        Command::new("perf")
            .args([
                "record",
                "-F",
                "1999",
                "-e",
                "cpu-clock",
                "-g",
                "-o",
                &out,
                "-p",
            ])
            .arg(redis.pid().to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()
    });
    if perf.is_some() {
        std::thread::sleep(Duration::from_millis(500));
    }
    let fsyncs = fsync_counter(redis.pid());
    if fsyncs.is_some() {
        std::thread::sleep(Duration::from_millis(300));
    }
    let cpu_before = thread_cpu(redis.pid());
    let db_cpu = |db: &MariaDb| thread_cpu(db.pid()).values().sum::<f64>();
    let db_cpu_before = db_cpu(db);
    let t0 = Instant::now();
    enable_module(&mut c);
    let target = format!("{file}:{end}");
    loop {
        let st = status_map(&mut c);
        if st.get("position") == Some(&target) {
            break;
        }
        if t0.elapsed() > Duration::from_secs(600) {
            panic!("catch-up did not finish: {st:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let secs = t0.elapsed().as_secs_f64();
    let fsyncs = fsync_count(fsyncs);
    let mut cpu = cpu_since(redis.pid(), &cpu_before);
    cpu.push(format!("(mariadbd {:.2} s)", db_cpu(db) - db_cpu_before));
    let cpu = cpu.join(", ");
    stop.store(true, Ordering::Relaxed);
    if let Some(mut p) = perf {
        let _ = Command::new("kill")
            .args(["-INT", &p.id().to_string()])
            .status();
        let _ = p.wait();
    }
    let (ping_max_us, ping_p99_us, pings) = ping.join().unwrap_or((0, 0, 0));
    let events = info_u64(&redis, "events");
    assert_eq!(
        events as usize, changes,
        "every change must be written once"
    );
    let ms = |f: &str| info_u64(&redis, f) / 1000;
    eprintln!(
        "module: {:.2} s; writer: lock held {} ms, waiting for the lock {} ms, waiting for the reader {} ms",
        secs,
        ms("lock_held_us"),
        ms("lock_wait_us"),
        ms("writer_idle_us")
    );
    let used: String = redis::cmd("INFO")
        .arg("memory")
        .query(&mut c)
        .unwrap_or_default();
    let used_peak_kb = used
        .lines()
        .find_map(|l| {
            l.strip_prefix("used_memory_peak:")
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024;
    let run = ModuleRun {
        secs,
        max_lock_us: info_u64(&redis, "max_lock_us"),
        max_lock_cpu_us: info_u64(&redis, "max_lock_cpu_us"),
        lock_holds: info_u64(&redis, "lock_holds"),
        lock_holds_over_2ms: info_u64(&redis, "lock_holds_over_2ms"),
        ping_p99_us,
        ping_max_us,
        pings,
        rss_before_kb,
        hwm_kb: proc_mem(redis.pid(), "VmHWM") / 1024,
        used_peak_kb,
        cpu,
        fsyncs,
        lock_wait_us: info_u64(&redis, "lock_wait_us"),
    };
    (run, redis)
}

/// The entries the module wrote, as one RESP stream of `XADD <key> * field value ...`
/// commands: what the fastest client (redis-cli --pipe) sends to store the same data.
fn entries_as_commands(c: &mut redis::Connection, stream: &str, key: &str) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut n = 0;
    let mut from = "-".to_string();
    loop {
        let reply: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
            .arg(stream)
            .arg(&from)
            .arg("+")
            .arg("COUNT")
            .arg(10_000)
            .query(c)
            .expect("XRANGE");
        let Some(last) = reply.last().map(|(id, _)| id.clone()) else {
            break;
        };
        for (_, fields) in &reply {
            out.extend_from_slice(format!("*{}\r\n", 3 + fields.len()).as_bytes());
            let mut arg = |a: &[u8]| {
                out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                out.extend_from_slice(a);
                out.extend_from_slice(b"\r\n");
            };
            arg(b"XADD");
            arg(key.as_bytes());
            arg(b"*");
            for f in fields {
                arg(f);
            }
            n += 1;
        }
        from = format!("({last}");
    }
    (out, n)
}

/// Time `redis-cli --pipe` storing `commands` into a fresh redis-server.
fn redis_cli_pipe(commands: &std::path::Path, expected: usize) -> Option<f64> {
    let redis = start_redis(&[]);
    let input = std::fs::File::open(commands).ok()?;
    let t = Instant::now();
    let out = Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "--pipe"])
        .stdin(input)
        .output()
        .ok()?;
    let secs = t.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let ok = out.status.success() && text.contains(&format!("errors: 0, replies: {expected}"));
    if !ok {
        eprintln!("redis-cli --pipe failed: {text}");
        return None;
    }
    Some(secs)
}

/// The 1-minute load average at the start of a run (`?` when unknown).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// (transactions, changes per transaction, runs) of a catch-up bench: BENCH_TXNS,
/// BENCH_ROWS_PER_TXN, BENCH_RUNS.
fn catchup_size() -> (usize, usize, usize) {
    (
        env_usize("BENCH_TXNS", 350),
        env_usize("BENCH_ROWS_PER_TXN", 1000),
        env_usize("BENCH_RUNS", 3).max(1),
    )
}

fn catchup() {
    let load_avg = load_average();
    let (txns, per_txn, runs) = catchup_size();
    let db = start_db();
    let (file, start) = db.master_status();
    let t = Instant::now();
    let changes = generate(&db, txns, per_txn);
    let gen_s = t.elapsed().as_secs_f64();
    let (end_file, end) = db.master_status();
    assert_eq!(file, end_file, "the generated binlog must fit in one file");
    eprintln!("generated {changes} changes in {txns} transactions ({gen_s:.1}s), binlog {file}:{start}..{end}");

    // The module, `runs` times, each into a fresh redis-server.
    let mut module_runs = Vec::new();
    let mut commands = None;
    for i in 0..runs {
        if i > 0 {
            std::env::remove_var("BENCH_PERF");
        }
        let (run, redis) = module_run(&db, &file, start, end, changes);
        if commands.is_none() {
            let mut c = redis.client();
            commands = Some(entries_as_commands(
                &mut c,
                "cdc:bench.items",
                "pipe:bench.items",
            ));
        }
        module_runs.push(run);
    }
    let module_s = median(module_runs.iter().map(|r| r.secs).collect());
    let first = &module_runs[0];

    // The same entries stored by redis-cli --pipe: the Redis side alone, fastest client.
    let pipe_s = commands.and_then(|(cmds, n)| {
        let path =
            std::env::temp_dir().join(format!("redis-cdc-bench-{}.resp", std::process::id()));
        std::fs::write(&path, cmds).ok()?;
        let times: Vec<f64> = (0..runs).filter_map(|_| redis_cli_pipe(&path, n)).collect();
        let _ = std::fs::remove_file(&path);
        (times.len() == runs).then(|| median(times))
    });

    // (a) the C decoder alone.
    let mut c_times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new("mariadb-binlog")
            .args([
                "--read-from-remote-server",
                "--host=127.0.0.1",
                &format!("--port={}", db.port()),
                "--user=cdc",
                "--password=cdc-secret",
                &format!("--start-position={start}"),
                &format!("--stop-position={end}"),
                "--verbose",
                &file,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run mariadb-binlog");
        c_times.push(t.elapsed().as_secs_f64());
        assert!(
            out.status.success(),
            "mariadb-binlog failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let c_s = median(c_times);

    // (b) the do-it-yourself Python pipeline, when its venv is there.
    let venv_py = std::env::var("BENCH_PYTHON").unwrap_or_default();
    let mut diy_times = Vec::new();
    if !venv_py.is_empty() && std::path::Path::new(&venv_py).exists() {
        for _ in 0..runs {
            let redis = start_redis(&[]);
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/diy_pipeline.py");
            let out = Command::new(&venv_py)
                .args([
                    script,
                    &db.port().to_string(),
                    "cdc",
                    "cdc-secret",
                    &file,
                    &start.to_string(),
                    &end.to_string(),
                    &redis.port().to_string(),
                    "diy:bench.items",
                ])
                .output()
                .expect("run diy pipeline");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let mut it = text.split_whitespace();
            match (
                it.next().and_then(|n| n.parse::<u64>().ok()),
                it.next().and_then(|s| s.parse::<f64>().ok()),
            ) {
                (Some(n), Some(s)) if n as usize == changes => diy_times.push(s),
                _ => {
                    eprintln!(
                        "diy pipeline failed: {text} {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    break;
                }
            }
        }
    } else {
        eprintln!(
            "BENCH_PYTHON not set: skipping the do-it-yourself pipeline (make bench sets it up)"
        );
    }

    let worst_hold = module_runs.iter().map(|r| r.max_lock_us).max().unwrap_or(0);
    let worst_cpu_hold = module_runs
        .iter()
        .map(|r| r.max_lock_cpu_us)
        .max()
        .unwrap_or(0);
    let holds: u64 = module_runs.iter().map(|r| r.lock_holds).sum();
    let long_holds: u64 = module_runs.iter().map(|r| r.lock_holds_over_2ms).sum();
    let mut rows = vec![Row {
        what: "redis-cdc (catch-up, entries in Redis)".into(),
        rows_per_s: changes as f64 / module_s,
        secs: module_s,
        note: format!(
            "lock hold max {:.2} ms wall, {:.2} ms on CPU; {long_holds} of {holds} holds over 2 ms; {}",
            worst_hold as f64 / 1000.0,
            worst_cpu_hold as f64 / 1000.0,
            median_run(&module_runs).commit_note(changes)
        ),
    }];
    if let Some(s) = pipe_s {
        rows.push(Row {
            what: "redis-cli --pipe of the same entries (Redis alone, fastest client)".into(),
            rows_per_s: changes as f64 / s,
            secs: s,
            note: "XADD commands, one connection".into(),
        });
    }
    rows.push(Row {
        what: "mariadb-binlog --verbose (C decoder only, to /dev/null)".into(),
        rows_per_s: changes as f64 / c_s,
        secs: c_s,
        note: String::new(),
    });
    if !diy_times.is_empty() {
        let s = median(diy_times);
        rows.push(Row {
            what: "DIY: python-mysql-replication + redis-py XADD (pipeline 1000)".into(),
            rows_per_s: changes as f64 / s,
            secs: s,
            note: String::new(),
        });
    }
    let fsync = std::env::var("BENCH_FSYNC").unwrap_or_else(|_| "always".into());
    let mut md = String::new();
    md.push_str(&format!(
        "Catch-up of {changes} row changes ({txns} transactions of {per_txn}; 70% insert, 20% update, 10% delete; 8-column table with decimal, varchar, datetime(6), enum, text, JSON), {} CPUs ({}; load average {} at the start), fsync of 4 KiB on the disk of the test directory {}, each pipeline into an empty redis-server with AOF `appendfsync {fsync}`. Medians of {runs} runs.\n\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        cpu_model(),
        load_avg,
        fsync_latency(),
    ));
    md.push_str("| pipeline | rows/s | seconds | note |\n|---|---:|---:|---|\n");
    for r in &rows {
        md.push_str(&format!(
            "| {} | {:.0} | {:.2} | {} |\n",
            r.what, r.rows_per_s, r.secs, r.note
        ));
    }
    md.push('\n');
    for r in &rows[1..] {
        let name = r.what.split(" (").next().unwrap_or(&r.what);
        md.push_str(&format!(
            "- module / {name}: **{:.2}x**\n",
            rows[0].rows_per_s / r.rows_per_s
        ));
    }
    md.push_str(&format!(
        "- Redis PING during catch-up (first run): p99 {:.2} ms, max {:.2} ms ({} pings)\n",
        first.ping_p99_us as f64 / 1000.0,
        first.ping_max_us as f64 / 1000.0,
        first.pings
    ));
    md.push_str(&format!(
        "- CPU time of redis-server's threads (and of MariaDB) during the catch-up (first run, {:.2} s): {}\n",
        first.secs, first.cpu
    ));
    md.push_str(&format!(
        "- redis-server RSS {} MiB before, peak {} MiB; Redis used_memory peak {} MiB (the streams); module heap ≈ peak RSS − used_memory peak ≈ {} MiB\n",
        first.rss_before_kb / 1024,
        first.hwm_kb / 1024,
        first.used_peak_kb / 1024,
        first.hwm_kb.saturating_sub(first.used_peak_kb) / 1024
    ));
    println!("\n{md}");
    write_results("catchup", &md);
}

fn live() {
    let rate = env_usize("BENCH_RATE", 2000);
    let secs = env_usize("BENCH_SECONDS", 30);
    let (db, redis) = start_servers();
    let sent: Arc<Mutex<Vec<(u64, Instant)>>> =
        Arc::new(Mutex::new(Vec::with_capacity(rate * secs)));
    let got: Arc<Mutex<Vec<(u64, Instant)>>> =
        Arc::new(Mutex::new(Vec::with_capacity(rate * secs)));
    let done = Arc::new(AtomicBool::new(false));
    let last_id = Arc::new(AtomicU64::new(0));
    // Consumer: XREAD BLOCK on the stream, note the arrival time of each id.
    let consumer = {
        let got = got.clone();
        let done = done.clone();
        let port = redis.port();
        std::thread::spawn(move || {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client");
            let mut c = client.get_connection().expect("conn");
            let mut last = "$".to_string();
            while !done.load(Ordering::Relaxed) {
                let reply: redis::Value = match redis::cmd("XREAD")
                    .arg("BLOCK")
                    .arg(200)
                    .arg("STREAMS")
                    .arg("cdc:bench.items")
                    .arg(&last)
                    .query(&mut c)
                {
                    Ok(v) => v,
                    Err(_) => continue,
                };
                let now = Instant::now();
                if let redis::Value::Array(streams) = &reply {
                    for s in streams {
                        if let redis::Value::Array(kv) = s {
                            if let Some(entries) = kv.get(1) {
                                for (id, fields) in parse_entries(entries) {
                                    last = id;
                                    if let Some(key) = field(&fields, "key") {
                                        let v: serde_json::Value =
                                            serde_json::from_str(key).unwrap_or_default();
                                        if let Some(n) = v.get("id").and_then(|x| x.as_u64()) {
                                            got.lock()
                                                .unwrap_or_else(|p| p.into_inner())
                                                .push((n, now));
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        })
    };
    // Producer: one autocommit INSERT per transaction at a steady rate.
    let mut conn = db.conn();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let t0 = Instant::now();
    let mut next = t0;
    let mut id = 0u64;
    while t0.elapsed() < Duration::from_secs(secs as u64) {
        id += 1;
        conn.query_drop(format!(
            "INSERT INTO bench.items VALUES ({id},1,9.99,'n','2024-05-01 12:00:00','new','x','{{}}')"
        ))
        .expect("insert");
        sent.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, Instant::now()));
        next += interval;
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    last_id.store(id, Ordering::Relaxed);
    let achieved = id as f64 / t0.elapsed().as_secs_f64();
    wait_until(Duration::from_secs(60), "all live entries", || {
        got.lock().map(|g| g.len() as u64 >= id).unwrap_or(false)
    });
    done.store(true, Ordering::Relaxed);
    let _ = consumer.join();
    let sent = sent.lock().unwrap_or_else(|p| p.into_inner());
    let got = got.lock().unwrap_or_else(|p| p.into_inner());
    let arrival: std::collections::HashMap<u64, Instant> = got.iter().copied().collect();
    let mut lat: Vec<u64> = sent
        .iter()
        .filter_map(|(i, t)| {
            arrival
                .get(i)
                .map(|a| a.saturating_duration_since(*t).as_micros() as u64)
        })
        .collect();
    lat.sort_unstable();
    let pct = |p: usize| lat.get(lat.len() * p / 100).copied().unwrap_or(0) as f64 / 1000.0;
    let md = format!(
        "Live: {id} single-row transactions at {achieved:.0}/s for {secs} s (target {rate}/s).\n\n| commit→entry latency | ms |\n|---|---:|\n| p50 | {:.2} |\n| p99 | {:.2} |\n| max | {:.2} |\n",
        pct(50),
        pct(99),
        lat.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    println!("\n{md}");
    write_results("live", &md);
    drop(redis);
    drop(db);
}

fn write_results(section: &str, md: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/RESULTS.md");
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let begin = format!("<!-- {section} -->");
    let end = format!("<!-- /{section} -->");
    let block = format!("{begin}\n{md}{end}\n");
    let new = match (old.find(&begin), old.find(&end)) {
        (Some(b), Some(e)) => format!(
            "{}{}{}",
            &old[..b],
            block,
            &old[e + end.len()..].trim_start_matches('\n')
        ),
        _ => {
            let header = if old.is_empty() {
                "# Benchmark results (`make bench`)\n\n".to_string()
            } else {
                old
            };
            format!("{header}{block}\n")
        }
    };
    let _ = std::fs::write(path, new);
}

/// `make bench MODE=snapshot`: the initial snapshot of an existing table of BENCH_ROWS rows
/// (default 350k, the catch-up's columns) into an empty redis-server, against
/// `mariadb-dump --single-transaction --quick` of the same table to /dev/null.
fn snapshot() {
    let rows = env_usize("BENCH_ROWS", 350_000);
    let db = start_db();
    db.exec(&format!(
        "INSERT INTO bench.items SELECT seq, seq % 1000, (seq % 100000) + 0.25, \
         CONCAT('item-', seq, '-name'), '2024-05-01 12:00:00.123456', \
         ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'cancelled'), \
         CONCAT('note for item ', seq, ': lorem ipsum dolor sit amet'), \
         CONCAT('{{\"id\":', seq, ',\"tags\":[\"a\",\"b\"],\"w\":', seq % 1000, '.5}}') \
         FROM bench.seq_1_to_{rows}"
    ));
    let redis = start_disabled_module(&db, "initial");
    let mut c = redis.client();
    let cpu_before = thread_cpu(redis.pid());
    let t0 = Instant::now();
    enable_module(&mut c);
    loop {
        if xlen(&redis, "cdc:bench.items") >= rows as u64 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "snapshot did not finish"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_since(redis.pid(), &cpu_before).join(", ");
    wait_snapshot_done_and_caught_up(&redis, &db, Duration::from_secs(60));
    let max_lock_us = info_u64(&redis, "max_lock_us");

    let t = Instant::now();
    let out = Command::new("mariadb-dump")
        .args([
            "--host=127.0.0.1",
            &format!("--port={}", db.port()),
            "--user=cdc",
            "--password=cdc-secret",
            "--single-transaction",
            "--quick",
            "bench",
            "items",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run mariadb-dump");
    let dump_s = t.elapsed().as_secs_f64();
    if !out.status.success() {
        eprintln!(
            "mariadb-dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut md = format!(
        "Initial snapshot of a {rows}-row table (the catch-up's columns) into an empty redis-server.\n\n\
         | pipeline | rows/s | seconds |\n|---|---:|---:|\n\
         | redis-cdc snapshot (entries in Redis) | {:.0} | {secs:.2} |\n",
        rows as f64 / secs
    );
    if out.status.success() {
        md.push_str(&format!(
            "| mariadb-dump --single-transaction --quick (to /dev/null) | {:.0} | {dump_s:.2} |\n",
            rows as f64 / dump_s
        ));
    }
    md.push_str(&format!(
        "\n- longest lock hold {:.2} ms; CPU time of redis-server's threads: {cpu}\n",
        max_lock_us as f64 / 1000.0
    ));
    println!("\n{md}");
    write_results("snapshot", &md);
}

/// MODE=mirror: the catch-up of one generated binlog by the module with streams only, with the
/// hash mirror, and with the mirror alone (`cdc.streams no`), each into a fresh redis-server;
/// the goals (docs/mirror.md): the mirror at least 60% of streams-only, mirror alone at least
/// as fast as streams-only.
fn mirror() {
    let (txns, per_txn, runs) = catchup_size();
    let db = start_db();
    let (file, start) = db.master_status();
    let changes = generate(&db, txns, per_txn);
    let (_, end) = db.master_status();
    let base = std::env::var("BENCH_MODULE_ARGS").unwrap_or_default();
    let variants = [
        ("streams only", String::new()),
        ("streams + mirror hash", "mirror hash".to_string()),
        (
            "mirror hash, cdc.streams no",
            "mirror hash streams no".to_string(),
        ),
    ];
    // BENCH_PERF profiles the first run of "streams + mirror hash" (BENCH_PERF_VARIANT=0, 1, 2:
    // of the variant with that index). The variants take turns within each round, so that a
    // machine whose load drifts slows them alike.
    let perf = std::env::var("BENCH_PERF").ok();
    let perf_variant: usize = std::env::var("BENCH_PERF_VARIANT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    std::env::remove_var("BENCH_PERF");
    let mut times: Vec<Vec<ModuleRun>> = variants.iter().map(|_| Vec::new()).collect();
    let mut holds = vec![0u64; variants.len()];
    for run_no in 0..runs {
        for (i, (_, args)) in variants.iter().enumerate() {
            std::env::set_var("BENCH_MODULE_ARGS", format!("{base} {args}"));
            match &perf {
                Some(out) if i == perf_variant && run_no == 0 => {
                    std::env::set_var("BENCH_PERF", out)
                }
                _ => std::env::remove_var("BENCH_PERF"),
            }
            let (run, _redis) = module_run(&db, &file, start, end, changes);
            holds[i] = holds[i].max(run.max_lock_us);
            times[i].push(run);
        }
    }
    let rows: Vec<Row> = variants
        .iter()
        .zip(times)
        .zip(holds)
        .map(|(((what, _), t), h)| {
            let m = median_run(&t);
            Row {
                what: what.to_string(),
                rows_per_s: changes as f64 / m.secs,
                secs: m.secs,
                note: format!(
                    "lock hold max {:.2} ms; {}",
                    h as f64 / 1000.0,
                    m.commit_note(changes)
                ),
            }
        })
        .collect();
    std::env::set_var("BENCH_MODULE_ARGS", base);
    let mut md = format!(
        "Catch-up of {changes} row changes ({txns} transactions of {per_txn}), medians of {runs} runs, each into an empty redis-server (AOF always).\n\n| pipeline | rows/s | seconds | note |\n|---|---:|---:|---|\n"
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {:.0} | {:.2} | {} |\n",
            r.what, r.rows_per_s, r.secs, r.note
        ));
    }
    let ratio = |i: usize| rows[i].rows_per_s / rows[0].rows_per_s;
    md.push_str(&format!(
        "\n- streams + mirror / streams only: **{:.0}%** (goal: at least 60%)\n- mirror alone / streams only: **{:.0}%** (goal: at least 100%)\n",
        100.0 * ratio(1),
        100.0 * ratio(2)
    ));
    println!("\n{md}");
    write_results("mirror", &md);
}

/// MODE=cluster: tables per primary (`bench.items_<i>`, their hash tags `{bench.items_<i>}`
/// in the slots of each of the 3 primaries that `redis-cli --cluster create` makes).
const CLUSTER_TABLES_PER_PRIMARY: usize = 2;

/// `n` table names per primary of a 3-primary cluster as `redis-cli --cluster create` splits
/// the slots (0-5460, 5461-10922, 10923-16383), in the order primary 0, 1, 2, 0, ...
fn cluster_tables(n: usize) -> Vec<String> {
    let mut per: Vec<Vec<String>> = vec![Vec::new(); 3];
    for i in 0.. {
        if per.iter().all(|p| p.len() >= n) {
            break;
        }
        let name = format!("bench.items_{i}");
        let slot = redis_cdc_core::cluster::table_slot(&name);
        let node = match slot {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        };
        if per[node].len() < n {
            per[node].push(name);
        }
    }
    (0..n)
        .flat_map(|i| per.iter().map(move |p| p[i].clone()))
        .collect()
}

/// The changes [`generate_into`] writes to table `i` of `n`.
fn changes_of(i: usize, n: usize, txns: usize, per_txn: usize) -> u64 {
    ((txns + n - 1 - i) / n * per_txn) as u64
}

/// MariaDB's `Bytes_sent` (to all its clients: here the binlog dump threads, almost only).
fn bytes_sent(db: &MariaDb) -> u64 {
    db.query_strings("SHOW GLOBAL STATUS LIKE 'Bytes_sent'")
        .first()
        .and_then(|r| r.get(1).cloned().flatten())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One primary of a cluster catch-up.
struct NodeRun {
    port: u16,
    tables: usize,
    events: u64,
    bytes_read: u64,
    secs: f64,
    cpu: String,
    max_lock_us: u64,
}

/// One catch-up of the generated binlog range by a cluster of 3 primaries (BENCH_CLUSTER_REPLICAS
/// replicas each, default none), every node's module disabled until its offset hash holds the
/// start: the time from enabling them until the last has written everything.
struct ClusterRun {
    secs: f64,
    nodes: Vec<NodeRun>,
    /// MariaDB's `Bytes_sent` during the catch-up, and its CPU seconds.
    sent: u64,
    db_cpu: f64,
}

fn cluster_run(
    db: &MariaDb,
    (file, start, end): (&str, u64, u64),
    (txns, per_txn): (usize, usize),
    tables: &[String],
) -> ClusterRun {
    let changes = txns * per_txn;
    let fsync = std::env::var("BENCH_FSYNC").unwrap_or_else(|_| "always".into());
    let replicas = env_usize("BENCH_CLUSTER_REPLICAS", 0);
    let args = disabled_module_args(db, "never");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = Cluster::start_with(
        &Flavor::redis(),
        3,
        replicas,
        &[
            "--appendfsync",
            fsync.as_str(),
            "--auto-aof-rewrite-percentage",
            "0",
        ],
        &args,
    );
    let primaries = c.primaries();
    // Each node's own offset hash (`cdc:offset{n<i>}`, docs/cluster.md) with the start and the
    // slots it serves, so that no table counts as newly received (which would re-read it).
    for p in &primaries {
        let me = myself(p);
        let first = me.slots.first().expect("a primary serves slots");
        let key = format!("cdc:offset{}", redis_cdc_core::cluster::tag_for_slot(first));
        let start = start.to_string();
        let slots = me.slots.ranges();
        let mirror = bench_mirror_setting();
        p.cmd(&[
            "HSET", &key, "file", file, "pos", &start, "mirror", &mirror, "slots", &slots,
        ]);
        let mine = tables
            .iter()
            .filter(|t| me.slots.contains(redis_cdc_core::cluster::table_slot(t)))
            .count();
        assert_eq!(
            mine,
            CLUSTER_TABLES_PER_PRIMARY,
            "primary {} serves {mine} of the tables {tables:?}: they are not spread evenly",
            p.port()
        );
    }
    let cpu_before: Vec<_> = primaries.iter().map(|p| thread_cpu(p.pid())).collect();
    let db_cpu = |db: &MariaDb| thread_cpu(db.pid()).values().sum::<f64>();
    let db_cpu_before = db_cpu(db);
    let sent_before = bytes_sent(db);
    let mut conns: Vec<redis::Connection> = primaries.iter().map(|p| p.client()).collect();
    let t0 = Instant::now();
    for conn in conns.iter_mut() {
        enable_module(conn);
    }
    // A primary is done when it has written every change of its tables: its position reaches
    // the binlog's end only at the source's next heartbeat (up to 1 s later) when the last
    // transactions are of other primaries' tables (a transaction with nothing to write moves
    // the stored position at most every so often).
    let expected: Vec<u64> = primaries
        .iter()
        .map(|p| {
            let me = myself(p);
            tables
                .iter()
                .enumerate()
                .filter(|(_, t)| me.slots.contains(redis_cdc_core::cluster::table_slot(t)))
                .map(|(i, _)| changes_of(i, tables.len(), txns, per_txn))
                .sum()
        })
        .collect();
    assert_eq!(expected.iter().sum::<u64>() as usize, changes);
    let mut done: Vec<Option<f64>> = vec![None; primaries.len()];
    while done.iter().any(Option::is_none) {
        for (i, p) in primaries.iter().enumerate() {
            if done[i].is_none() && info_u64(p, "events") >= expected[i] {
                done[i] = Some(t0.elapsed().as_secs_f64());
            }
        }
        if t0.elapsed() > Duration::from_secs(600) {
            panic!("the cluster's catch-up did not finish: {done:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu: Vec<String> = primaries
        .iter()
        .zip(&cpu_before)
        .map(|(p, before)| cpu_since(p.pid(), before).join(", "))
        .collect();
    let db_cpu = db_cpu(db) - db_cpu_before;
    // Every primary reads to the binlog's end (bytes read, bytes sent).
    let target = format!("{file}:{end}");
    for conn in conns.iter_mut() {
        wait_until(
            Duration::from_secs(30),
            "a primary's position to reach the end",
            || status_map(conn).get("position") == Some(&target),
        );
    }
    let sent = bytes_sent(db).saturating_sub(sent_before);
    let nodes: Vec<NodeRun> = primaries
        .iter()
        .zip(cpu)
        .zip(&done)
        .map(|((p, cpu), secs)| {
            let me = myself(p);
            NodeRun {
                port: p.port(),
                tables: tables
                    .iter()
                    .filter(|t| me.slots.contains(redis_cdc_core::cluster::table_slot(t)))
                    .count(),
                events: info_u64(p, "events"),
                bytes_read: info_u64(p, "bytes_read"),
                secs: secs.unwrap_or(0.0),
                cpu,
                max_lock_us: info_u64(p, "max_lock_us"),
            }
        })
        .collect();
    let events: u64 = nodes.iter().map(|n| n.events).sum();
    assert_eq!(
        events as usize, changes,
        "every change must be written once, by one primary"
    );
    ClusterRun {
        secs,
        nodes,
        sent,
        db_cpu,
    }
}

/// `make bench MODE=cluster`: one binlog of BENCH_TXNS transactions of BENCH_ROWS_PER_TXN
/// changes over 6 tables, 2 in the slots of each primary; its catch-up by one redis-server
/// (not a cluster) and by a cluster of 3 primaries, taking turns BENCH_RUNS times; the total
/// rows/s of each, their ratio, and the binlog transfer per primary (each reads it whole).
fn cluster_mode() {
    let load_avg = load_average();
    let (txns, per_txn, runs) = catchup_size();
    let replicas = env_usize("BENCH_CLUSTER_REPLICAS", 0);
    let tables = cluster_tables(CLUSTER_TABLES_PER_PRIMARY);
    let db = start_db();
    for t in &tables {
        db.exec(&TABLE_DDL.replace("bench.items", t));
    }
    let (file, start) = db.master_status();
    let changes = generate_into(&db, &tables, txns, per_txn);
    let (end_file, end) = db.master_status();
    assert_eq!(file, end_file, "the generated binlog must fit in one file");
    let binlog = end - start;
    eprintln!("generated {changes} changes in {txns} transactions over {tables:?}, binlog {file}:{start}..{end}");
    // BENCH_PERF does not apply here.
    std::env::remove_var("BENCH_PERF");
    // One redis-server's run, the binlog bytes it read, and what MariaDB sent meanwhile.
    let mut singles: Vec<(ModuleRun, u64, u64)> = Vec::new();
    let mut clusters: Vec<ClusterRun> = Vec::new();
    for _ in 0..runs {
        let sent_before = bytes_sent(&db);
        let (run, redis) = module_run(&db, &file, start, end, changes);
        let sent = bytes_sent(&db).saturating_sub(sent_before);
        singles.push((run, info_u64(&redis, "bytes_read"), sent));
        drop(redis);
        clusters.push(cluster_run(
            &db,
            (&file, start, end),
            (txns, per_txn),
            &tables,
        ));
    }
    let single_s = median(singles.iter().map(|r| r.0.secs).collect());
    let cluster_s = median(clusters.iter().map(|r| r.secs).collect());
    let single_rate = changes as f64 / single_s;
    let cluster_rate = changes as f64 / cluster_s;
    let (first_single, single_read, single_sent) = &singles[0];
    let first = &clusters[0];
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let fsync = std::env::var("BENCH_FSYNC").unwrap_or_else(|_| "always".into());
    let replicas_note = match replicas {
        0 => "no replicas".to_string(),
        n => format!("{n} replica(s) each"),
    };
    let mut md = format!(
        "Catch-up of {changes} row changes ({txns} transactions of {per_txn}, the catch-up's mix and columns) over {} tables taking turns ({}), {CLUSTER_TABLES_PER_PRIMARY} in the slots of each primary; binlog range {:.1} MiB. {} CPUs ({}; load average {load_avg} at the start), AOF `appendfsync {fsync}` on every node. One redis-server (not a cluster) and a Redis Cluster of 3 primaries ({replicas_note}) take turns, each into fresh servers; medians of {runs} runs. The cluster's time: from enabling the module on the 3 primaries until the last has written everything.\n\n",
        tables.len(),
        tables.join(", "),
        mib(binlog),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        cpu_model(),
    );
    md.push_str("| pipeline | rows/s | seconds | note |\n|---|---:|---:|---|\n");
    md.push_str(&format!(
        "| one redis-server, all {} tables | {single_rate:.0} | {single_s:.2} | lock hold max {:.2} ms |\n",
        tables.len(),
        singles.iter().map(|r| r.0.max_lock_us).max().unwrap_or(0) as f64 / 1000.0
    ));
    let median_cluster = {
        let mut sorted: Vec<&ClusterRun> = clusters.iter().collect();
        sorted.sort_by(|a, b| a.secs.total_cmp(&b.secs));
        sorted[sorted.len() / 2]
    };
    md.push_str(&format!(
        "| Redis Cluster, 3 primaries, {CLUSTER_TABLES_PER_PRIMARY} tables each (total) | {cluster_rate:.0} | {cluster_s:.2} | the primaries done after {} s |\n",
        median_cluster
            .nodes
            .iter()
            .map(|n| format!("{:.2}", n.secs))
            .collect::<Vec<_>>()
            .join(" / "),
    ));
    md.push_str(&format!(
        "\n- cluster / one redis-server: **{:.2}x** (on 2 cores the 3 primaries share the CPUs the one server has to itself)\n",
        cluster_rate / single_rate
    ));
    let per_node: Vec<String> = first
        .nodes
        .iter()
        .map(|n| format!("{:.1}", mib(n.bytes_read)))
        .collect();
    let node_avg = first.nodes.iter().map(|n| n.bytes_read).sum::<u64>() as f64
        / first.nodes.len().max(1) as f64;
    md.push_str(&format!(
        "- binlog transfer (first run): one redis-server read {:.1} MiB of binlog events (MariaDB sent {:.1} MiB). Each primary of the cluster read {} MiB, **{:.2}x** one server's: the whole binlog, the rows events of the other primaries' tables skipped undecoded; MariaDB sent {:.1} MiB in all, **{:.2}x** one server's (one dump thread per primary). (The binlog file range is {:.1} MiB: MariaDB does not send the Annotate_rows events, the statements' text, to a reader that does not ask for them.)\n",
        mib(*single_read),
        mib(*single_sent),
        per_node.join(" / "),
        node_avg / (*single_read).max(1) as f64,
        mib(first.sent),
        first.sent as f64 / (*single_sent).max(1) as f64,
        mib(binlog),
    ));
    md.push_str(&format!(
        "- CPU during the catch-up (first run): one redis-server ({:.2} s): {}; the cluster ({:.2} s, mariadbd {:.2} s):\n",
        first_single.secs, first_single.cpu, first.secs, first.db_cpu
    ));
    for n in &first.nodes {
        md.push_str(&format!(
            "  - primary :{} ({} tables, {} entries, read {:.1} MiB, done after {:.2} s, lock hold max {:.2} ms): {}\n",
            n.port,
            n.tables,
            n.events,
            mib(n.bytes_read),
            n.secs,
            n.max_lock_us as f64 / 1000.0,
            n.cpu
        ));
    }
    println!("\n{md}");
    write_results("cluster", &md);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = std::env::var("BENCH_MODE").unwrap_or_else(|_| "catchup".into());
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let _ = BufReader::new(std::io::empty()).lines();
    match mode.as_str() {
        "live" => live(),
        "snapshot" => snapshot(),
        "mirror" => mirror(),
        "cluster" => cluster_mode(),
        "all" => {
            catchup();
            snapshot();
            live();
        }
        _ => catchup(),
    }
}

//! Shared status: written by the pipeline threads, read by CDC.STATUS, CDC.TABLES and INFO.
//! One source of truth for the names of every field: CDC.STATUS shows [`Status::fields`], INFO
//! shows [`info_fields`], rendered from the same list.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The states of the module (docs/commands.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Unconfigured,
    Connecting,
    Snapshotting,
    Streaming,
    Paused,
    Backpressure,
    Error,
    Replica,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unconfigured => "unconfigured",
            State::Connecting => "connecting",
            State::Snapshotting => "snapshotting",
            State::Streaming => "streaming",
            State::Paused => "paused",
            State::Backpressure => "backpressure",
            State::Error => "error",
            State::Replica => "replica",
        }
    }

    /// A stable number for monitoring (INFO `state_code`).
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Per captured table counters (CDC.TABLES).
#[derive(Debug, Clone, Default)]
pub struct TableStats {
    pub stream: String,
    pub entries: u64,
    /// Commit time of the last change written, ms since the epoch (0 = none yet).
    pub last_change_ms: u64,
    /// CDC.TABLES `mirror`: `hash`, `json`, `off`, or `no: no primary key` (empty: not known
    /// yet, a table created since the session started).
    pub mirror: String,
}

/// Progress of one table's snapshot or resync.
#[derive(Debug, Clone, Default)]
pub struct SnapshotProgress {
    pub table: String,
    pub rows_done: u64,
    pub rows_estimated: u64,
}

#[derive(Debug)]
pub struct Inner {
    pub state: State,
    /// `host:port (version)` of the source, never the password.
    pub source: String,
    /// `FILE:OFFSET` where the module resumes.
    pub position: String,
    pub gtid: String,
    pub last_error: String,
    pub last_error_ms: u64,
    pub tables: BTreeMap<String, TableStats>,
    pub snapshot: Vec<SnapshotProgress>,
    /// Settings that put the guarantees at risk without stopping the module (set at each
    /// session's start): CDC.STATUS `warnings`.
    pub warnings: Vec<String>,
}

pub struct Status {
    inner: Mutex<Inner>,
    pub events: AtomicU64,
    pub transactions: AtomicU64,
    pub errors: AtomicU64,
    pub bytes_read: AtomicU64,
    /// Automatic re-reads of tables written by DML the binlog carried as a statement.
    pub statement_resyncs: AtomicU64,
    /// Automatic re-reads of tables whose rows events lacked columns (binlog_row_image).
    pub row_image_resyncs: AtomicU64,
    /// Automatic re-reads of tables whose table map did not fit the known shape.
    pub shape_resyncs: AtomicU64,
    /// Automatic re-reads of captured tables whose rows foreign-key actions changed.
    pub cascade_resyncs: AtomicU64,
    /// Commit time of the last transaction written, ms since the epoch.
    pub last_commit_ms: AtomicU64,
    /// The reader has seen the end of the source's binlog (a heartbeat) and no captured change
    /// since; with `batches_written == batches_sent` the module is caught up.
    pub caught_up: AtomicBool,
    /// Batches the reader handed to the writer, and batches the writer wrote (the supervisor
    /// makes them equal before a session starts: batches of an ended session are dropped).
    pub batches_sent: AtomicU64,
    pub batches_written: AtomicU64,
    /// Longest time the writer held the Redis lock, µs (wall clock).
    pub max_lock_us: AtomicU64,
    /// Longest CPU time the writer spent in one lock hold, µs: `max_lock_us` less the time the
    /// OS scheduler gave the writer's CPU to other threads during that hold.
    pub max_lock_cpu_us: AtomicU64,
    /// Lock holds, and those that lasted more than 2 ms (wall clock).
    pub lock_holds: AtomicU64,
    pub lock_holds_over_2ms: AtomicU64,
    /// Total time the writer held the Redis lock, µs.
    pub lock_held_us: AtomicU64,
    /// Total time the writer waited for the Redis lock (the main thread held it), µs.
    pub lock_wait_us: AtomicU64,
    /// Total time the writer waited for work from the reader, µs.
    pub writer_idle_us: AtomicU64,
    /// Snapshot batches (chunk entries with their progress) written to Redis since load.
    pub snapshot_batches: AtomicU64,
    loaded: Instant,
}

pub static STATUS: LazyLock<Status> = LazyLock::new(|| Status {
    inner: Mutex::new(Inner {
        state: State::Unconfigured,
        source: String::new(),
        position: String::new(),
        gtid: String::new(),
        last_error: String::new(),
        warnings: Vec::new(),
        last_error_ms: 0,
        tables: BTreeMap::new(),
        snapshot: Vec::new(),
    }),
    events: AtomicU64::new(0),
    transactions: AtomicU64::new(0),
    errors: AtomicU64::new(0),
    bytes_read: AtomicU64::new(0),
    statement_resyncs: AtomicU64::new(0),
    row_image_resyncs: AtomicU64::new(0),
    shape_resyncs: AtomicU64::new(0),
    cascade_resyncs: AtomicU64::new(0),
    last_commit_ms: AtomicU64::new(0),
    caught_up: AtomicBool::new(false),
    batches_sent: AtomicU64::new(0),
    batches_written: AtomicU64::new(0),
    max_lock_us: AtomicU64::new(0),
    max_lock_cpu_us: AtomicU64::new(0),
    lock_holds: AtomicU64::new(0),
    lock_holds_over_2ms: AtomicU64::new(0),
    lock_held_us: AtomicU64::new(0),
    lock_wait_us: AtomicU64::new(0),
    writer_idle_us: AtomicU64::new(0),
    snapshot_batches: AtomicU64::new(0),
    loaded: Instant::now(),
});

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A value of a status field.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusValue {
    Str(String),
    Int(u64),
    /// Nested records (per-table snapshot progress).
    List(Vec<Vec<(&'static str, StatusValue)>>),
}

impl Status {
    /// Account one hold of the Redis lock by the writer: `wall` µs, of which it ran `cpu` µs.
    pub fn record_lock_hold(&self, wall: u64, cpu: u64) {
        self.lock_held_us.fetch_add(wall, Ordering::Relaxed);
        self.max_lock_us.fetch_max(wall, Ordering::Relaxed);
        self.max_lock_cpu_us
            .fetch_max(cpu.min(wall), Ordering::Relaxed);
        self.lock_holds.fetch_add(1, Ordering::Relaxed);
        if wall > 2_000 {
            self.lock_holds_over_2ms.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lock the string part; never poisoned for readers (a panicking writer leaves valid data).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> State {
        self.lock().state
    }

    /// Add a warning (CDC.STATUS `warnings`) and log it, once: a warning already shown since
    /// the session started is not repeated.
    pub fn warn(&self, text: String) {
        let mut g = self.lock();
        if !g.warnings.contains(&text) {
            log::warn!("{text}");
            g.warnings.push(text);
        }
    }

    pub fn set_state(&self, s: State) {
        self.lock().state = s;
    }

    /// Record an error (cause and fix), with its time; `state` becomes the given one.
    pub fn set_error(&self, state: State, msg: &str) {
        let mut g = self.lock();
        g.state = state;
        g.last_error = msg.to_string();
        g.last_error_ms = now_ms();
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The problem behind `last_error` is gone (the pipeline wrote to Redis again): the text
    /// goes; `errors` and the log keep the history.
    pub fn clear_error(&self) {
        let mut g = self.lock();
        if !g.last_error.is_empty() {
            log::info!("recovered from: {}", g.last_error);
            g.last_error.clear();
            g.last_error_ms = 0;
        }
    }

    pub fn lag_ms(&self) -> u64 {
        let last = self.last_commit_ms.load(Ordering::Relaxed);
        let all_written = self.batches_written.load(Ordering::Relaxed)
            == self.batches_sent.load(Ordering::Relaxed);
        if last == 0 || (self.caught_up.load(Ordering::Relaxed) && all_written) {
            0
        } else {
            now_ms().saturating_sub(last)
        }
    }

    /// Every field of CDC.STATUS, in order (docs/commands.md); INFO renders the same list.
    pub fn fields(&self) -> Vec<(&'static str, StatusValue)> {
        let g = self.lock();
        let last_error = if g.last_error.is_empty() {
            String::new()
        } else {
            format!(
                "{} (at {} ms since the epoch)",
                g.last_error, g.last_error_ms
            )
        };
        vec![
            ("state", StatusValue::Str(g.state.as_str().into())),
            ("source", StatusValue::Str(g.source.clone())),
            ("position", StatusValue::Str(g.position.clone())),
            ("gtid", StatusValue::Str(g.gtid.clone())),
            ("lag_ms", StatusValue::Int(self.lag_ms())),
            (
                "events",
                StatusValue::Int(self.events.load(Ordering::Relaxed)),
            ),
            (
                "transactions",
                StatusValue::Int(self.transactions.load(Ordering::Relaxed)),
            ),
            ("tables", StatusValue::Int(g.tables.len() as u64)),
            (
                "snapshot",
                StatusValue::List(
                    g.snapshot
                        .iter()
                        .map(|p| {
                            vec![
                                ("table", StatusValue::Str(p.table.clone())),
                                ("rows_done", StatusValue::Int(p.rows_done)),
                                ("rows_estimated", StatusValue::Int(p.rows_estimated)),
                            ]
                        })
                        .collect(),
                ),
            ),
            ("last_error", StatusValue::Str(last_error)),
            (
                "uptime_s",
                StatusValue::Int(self.loaded.elapsed().as_secs()),
            ),
            ("warnings", StatusValue::Str(g.warnings.join("; "))),
        ]
    }

    /// A captured table that was dropped or renamed away: no longer listed.
    pub fn forget_table(&self, table: &str) {
        self.lock().tables.remove(table);
    }

    /// Count entries written per stream (called by the writer after each batch).
    pub fn record_written(&self, per_table: &BTreeMap<&str, (&str, u64)>, commit_ms: u64) {
        if per_table.is_empty() {
            return;
        }
        let mut g = self.lock();
        for (table, (stream, n)) in per_table {
            let t = g.tables.entry(table.to_string()).or_default();
            if t.stream != *stream {
                t.stream = stream.to_string();
            }
            t.entries += n;
            // Snapshot batches carry no commit time: they count as changed now.
            t.last_change_ms = if commit_ms > 0 { commit_ms } else { now_ms() };
        }
    }
}

/// CDC.TABLES `mirror` of a table under `cdc.mirror` `mode`: the mode, or (mirror on) that the
/// mirror cannot key a table without a key.
pub fn mirror_label(mode: redis_cdc_core::format::mirror::MirrorMode, keyed: bool) -> String {
    if keyed || mode == redis_cdc_core::format::mirror::MirrorMode::Off {
        mode.as_str().to_string()
    } else {
        "no: no primary key".to_string()
    }
}

impl Status {
    /// A table's key changed (its shape written with a batch: ALTER TABLE ADD or DROP PRIMARY
    /// KEY, a UNIQUE index on a table without one): CDC.TABLES `mirror` says so from now on.
    pub fn record_keys<'a>(
        &self,
        keyed: impl IntoIterator<Item = (&'a str, bool)>,
        mode: redis_cdc_core::format::mirror::MirrorMode,
    ) {
        let mut g = self.lock();
        for (table, keyed) in keyed {
            if let Some(t) = g.tables.get_mut(table) {
                t.mirror = mirror_label(mode, keyed);
            }
        }
    }
}

/// A value of an INFO field.
#[derive(Debug, Clone, PartialEq)]
pub enum InfoValue {
    Str(String),
    Int(i64),
}

/// The INFO fields: CDC.STATUS's list (one source of truth), with the state also as a number,
/// snapshot progress as totals, and the counters CDC.STATUS does not show.
pub fn info_fields() -> Vec<(String, InfoValue)> {
    let mut out = Vec::new();
    for (name, value) in STATUS.fields() {
        match value {
            // INFO is line-oriented and clients split values on ',' and '=': keep text flat.
            StatusValue::Str(s) => out.push((
                name.to_string(),
                InfoValue::Str(s.replace(['\r', '\n'], " ").replace(',', ";")),
            )),
            StatusValue::Int(i) => out.push((
                name.to_string(),
                InfoValue::Int(i.min(i64::MAX as u64) as i64),
            )),
            StatusValue::List(items) => {
                let sum = |field: &str| -> i64 {
                    items
                        .iter()
                        .flat_map(|rec| rec.iter())
                        .filter(|(k, _)| *k == field)
                        .map(|(_, v)| {
                            if let StatusValue::Int(i) = v {
                                *i as i64
                            } else {
                                0
                            }
                        })
                        .sum()
                };
                out.push((format!("{name}_tables"), InfoValue::Int(items.len() as i64)));
                out.push((
                    format!("{name}_rows_done"),
                    InfoValue::Int(sum("rows_done")),
                ));
                out.push((
                    format!("{name}_rows_estimated"),
                    InfoValue::Int(sum("rows_estimated")),
                ));
            }
        }
        if name == "state" {
            out.push((
                "state_code".into(),
                InfoValue::Int(STATUS.state().code() as i64),
            ));
        }
    }
    let counter = |a: &AtomicU64| a.load(Ordering::Relaxed).min(i64::MAX as u64) as i64;
    for (name, value) in [
        ("errors", &STATUS.errors),
        ("bytes_read", &STATUS.bytes_read),
        ("statement_resyncs", &STATUS.statement_resyncs),
        ("row_image_resyncs", &STATUS.row_image_resyncs),
        ("shape_resyncs", &STATUS.shape_resyncs),
        ("cascade_resyncs", &STATUS.cascade_resyncs),
        ("max_lock_us", &STATUS.max_lock_us),
        ("max_lock_cpu_us", &STATUS.max_lock_cpu_us),
        ("lock_holds", &STATUS.lock_holds),
        ("lock_holds_over_2ms", &STATUS.lock_holds_over_2ms),
        ("lock_held_us", &STATUS.lock_held_us),
        ("lock_wait_us", &STATUS.lock_wait_us),
        ("writer_idle_us", &STATUS.writer_idle_us),
    ] {
        out.push((name.into(), InfoValue::Int(counter(value))));
    }
    out
}

//! The lifecycle of the pipeline (DESIGN "a supervisor owns the lifecycle").
//!
//! One long-lived thread decides what should run: nothing while unconfigured, disabled,
//! paused or a replica; otherwise a session = connect, check prerequisites, load the stored
//! position, then a reader thread and a writer thread joined by a bounded channel. Errors end
//! the session; the supervisor records the cause in the status and retries with backoff.
//! Commands and config changes never touch MySQL on the Redis main thread: they send a
//! [`Control`] message here.

use crate::config::Config;
use crate::config::SnapshotMode;
use crate::redis_lock::DetachedCtx;
use crate::sink::{Writer, WriterExit};
use crate::source::binlog::{Interrupt, Reader};
use crate::source::snapshot::{Gate, Snapshotter};
use crate::source::{self, SourceError};
use crate::status::now_ms;
use crate::status::{State, STATUS};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use redis_cdc_core::model::position::{Checkpoint, Position, SnapshotState, SNAPSHOT_FIELD};
use redis_module::{CallOptionsBuilder, CallResult, ContextFlags};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Messages to the supervisor.
#[derive(Debug)]
pub enum Control {
    /// Some `cdc.*` config changed: rebuild and restart the session if it differs.
    ConfigChanged,
    Pause,
    Resume,
    /// CDC.RESYNC: re-read these tables (`db.table`, already validated) while streaming.
    Resync(Vec<String>),
    /// Module unload: stop everything and exit.
    Shutdown,
}

/// How the supervisor reads the current configuration (lib.rs owns the module configs).
pub type ConfigSource = fn() -> Result<Config, String>;

struct Handle {
    tx: Sender<Control>,
    thread: Mutex<Option<JoinHandle<()>>>,
    shutdown: Arc<AtomicBool>,
}

static HANDLE: OnceLock<Handle> = OnceLock::new();

/// Start the supervisor thread (once per module load).
pub fn start(config: ConfigSource) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let shutdown = Arc::new(AtomicBool::new(false));
    let sd = shutdown.clone();
    let thread = std::thread::Builder::new()
        .name("cdc-supervisor".into())
        .spawn(move || {
            let mut sup = Supervisor {
                rx,
                config,
                shutdown: sd,
                paused: false,
                pending_resync: Vec::new(),
                position_gone: false,
            };
            if catch_unwind(AssertUnwindSafe(|| sup.run())).is_err() {
                STATUS.set_error(State::Error, "internal error: the supervisor panicked (see the Redis log); reload the module");
            }
        });
    match thread {
        Ok(t) => {
            let _ = HANDLE.set(Handle {
                tx,
                thread: Mutex::new(Some(t)),
                shutdown,
            });
        }
        Err(e) => STATUS.set_error(
            State::Error,
            &format!("cannot start the supervisor thread: {e}"),
        ),
    }
}

/// Send a message to the supervisor; false when it is not running.
pub fn send(msg: Control) -> bool {
    HANDLE.get().is_some_and(|h| h.tx.send(msg).is_ok())
}

/// Stop everything; wait up to `timeout`. True when all threads ended.
pub fn shutdown(timeout: Duration) -> bool {
    let Some(h) = HANDLE.get() else { return true };
    h.shutdown.store(true, Ordering::SeqCst);
    let _ = h.tx.send(Control::Shutdown);
    let deadline = Instant::now() + timeout;
    let mut guard = h.thread.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(t) = guard.as_ref() {
        while !t.is_finished() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    if let Some(t) = guard.take() {
        let _ = t.join();
    }
    true
}

struct Supervisor {
    rx: Receiver<Control>,
    config: ConfigSource,
    shutdown: Arc<AtomicBool>,
    paused: bool,
    /// Resync requests received while no session runs (given to the next one).
    pending_resync: Vec<String>,
    /// The last session failed because its position is gone from the source.
    position_gone: bool,
}

/// Why a session or a wait ended.
enum Wake {
    /// Re-evaluate (config changed, paused, resumed, timeout).
    Again,
    Shutdown,
}

/// A running reader + writer.
struct Session {
    stop: Arc<AtomicBool>,
    interrupt: Arc<Interrupt>,
    reader: JoinHandle<Result<(), SourceError>>,
    writer: JoinHandle<WriterExit>,
    snapshot: JoinHandle<Result<(), SourceError>>,
    resync: Sender<Vec<String>>,
    config: Config,
}

impl Supervisor {
    fn run(&mut self) {
        let mut backoff = Duration::from_secs(1);
        loop {
            if self.shutdown.load(Ordering::SeqCst) {
                return;
            }
            let config = match (self.config)() {
                Ok(c) => c,
                Err(e) => {
                    STATUS.set_error(State::Error, &e);
                    if let Wake::Shutdown = self.wait(Duration::from_secs(3600)) {
                        return;
                    }
                    continue;
                }
            };
            // Never follow MySQL on a replica: its entries come from the primary.
            match self.role() {
                None => return,
                Some(Role::Replica) => {
                    STATUS.set_state(State::Replica);
                    if let Wake::Shutdown = self.wait(Duration::from_millis(500)) {
                        return;
                    }
                    continue;
                }
                Some(Role::Loading) => {
                    if let Wake::Shutdown = self.wait(Duration::from_millis(100)) {
                        return;
                    }
                    continue;
                }
                Some(Role::Primary) => {}
            }
            let Some(url) = config.source.clone() else {
                STATUS.set_state(State::Unconfigured);
                STATUS.lock().source.clear();
                if let Wake::Shutdown = self.wait(Duration::from_secs(3600)) {
                    return;
                }
                continue;
            };
            if !config.enabled || self.paused {
                STATUS.set_state(State::Paused);
                if let Wake::Shutdown = self.wait(Duration::from_secs(3600)) {
                    return;
                }
                continue;
            }
            STATUS.set_state(State::Connecting);
            STATUS.lock().source = url.address();
            let started = Instant::now();
            let outcome = self.session(config);
            match outcome {
                Ok(Wake::Shutdown) => return,
                Ok(Wake::Again) => {
                    backoff = Duration::from_secs(1);
                }
                Err(e) => {
                    let state = match &e {
                        SourceError::Retry(_) => State::Connecting,
                        _ => State::Error,
                    };
                    self.position_gone = matches!(e, SourceError::PositionGone(_));
                    log::warn!("{e}");
                    STATUS.set_error(state, &format!("{e} (retrying in {}s)", backoff.as_secs()));
                    if started.elapsed() > Duration::from_secs(60) {
                        backoff = Duration::from_secs(1);
                    }
                    if let Wake::Shutdown = self.wait(backoff) {
                        return;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Wait for a control message or the timeout; handles pause/resume.
    fn wait(&mut self, timeout: Duration) -> Wake {
        match self.rx.recv_timeout(timeout) {
            Ok(msg) => self.apply(msg),
            Err(RecvTimeoutError::Timeout) => Wake::Again,
            Err(RecvTimeoutError::Disconnected) => Wake::Shutdown,
        }
    }

    fn apply(&mut self, msg: Control) -> Wake {
        match msg {
            Control::Shutdown => Wake::Shutdown,
            Control::Pause => {
                self.paused = true;
                Wake::Again
            }
            Control::Resume => {
                self.paused = false;
                Wake::Again
            }
            Control::ConfigChanged => Wake::Again,
            Control::Resync(tables) => {
                for t in tables {
                    if !self.pending_resync.contains(&t) {
                        self.pending_resync.push(t);
                    }
                }
                Wake::Again
            }
        }
    }

    fn role(&self) -> Option<Role> {
        let ctx = DetachedCtx::new()?;
        let locked = loop {
            if self.shutdown.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(l) = ctx.try_lock() {
                break l;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let flags = locked.get_flags();
        Some(if flags.contains(ContextFlags::LOADING) {
            Role::Loading
        } else if flags.contains(ContextFlags::SLAVE) {
            Role::Replica
        } else {
            Role::Primary
        })
    }

    /// Run one session until it ends. Ok(wake) for a requested end, Err for a failure.
    fn session(&mut self, config: Config) -> Result<Wake, SourceError> {
        let Some(url) = config.source.clone() else {
            return Ok(Wake::Again);
        };
        let mut conn = source::connect(&url)?;
        let info = source::probe(&mut conn)?;
        STATUS.lock().source = format!("{} ({})", url.address(), info.version);
        if !info.full_metadata {
            log::warn!("the source logs binlog_row_metadata=MINIMAL: column names come from information_schema");
        }
        let captured = register_tables(&mut conn, &config)?;
        let (checkpoint, snapshot, by_gtid) =
            self.starting_point(&config, &mut conn, &info, &captured)?;
        drop(conn);
        {
            let mut g = STATUS.lock();
            g.position = checkpoint.position.to_string();
            g.gtid.clone_from(&checkpoint.gtid);
        }

        // Batches the last session handed over but never wrote are gone with its channel.
        STATUS
            .batches_written
            .store(STATUS.batches_sent.load(Ordering::SeqCst), Ordering::SeqCst);
        STATUS.caught_up.store(false, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let backpressure = Arc::new(AtomicBool::new(false));
        let interrupt = Arc::new(Interrupt::default());
        let gate = Arc::new(Gate::new(&checkpoint));
        let (tx, rx) = crate::sink::channel();
        let writer = Writer {
            offset_key: config.offset_key.clone(),
            stream_maxlen: config.stream_maxlen,
            max_memory_ratio: config.max_memory_percent as f32 / 100.0,
            stop: stop.clone(),
            backpressure: backpressure.clone(),
        };
        let writer = spawn("cdc-writer", move || writer.run(rx), WriterExit::Failed)?;
        let shared_config = Arc::new(config.clone());
        let (resync_tx, resync_rx) = crossbeam_channel::unbounded();
        let snapshotter = Snapshotter {
            config: shared_config.clone(),
            url: url.clone(),
            info: info.clone(),
            stop: stop.clone(),
            gate: gate.clone(),
            tx: tx.clone(),
            requests: resync_rx,
        };
        let reader = Reader {
            config: shared_config,
            url,
            info,
            stop: stop.clone(),
            backpressure,
            interrupt: interrupt.clone(),
            tx,
            by_gtid,
            gate,
            resync: resync_tx.clone(),
            captured: captured.clone(),
        };
        STATUS.set_state(if snapshot.is_some() {
            State::Snapshotting
        } else {
            State::Streaming
        });
        let reader = spawn(
            "cdc-reader",
            move || reader.run(checkpoint),
            |msg| Err(SourceError::Halt(msg)),
        )?;
        let snapshot = spawn(
            "cdc-snapshot",
            move || snapshotter.run(snapshot),
            |msg| Err(SourceError::Halt(msg)),
        )?;
        if !self.pending_resync.is_empty() {
            let _ = resync_tx.send(std::mem::take(&mut self.pending_resync));
        }
        let session = Session {
            stop,
            interrupt,
            reader,
            writer,
            snapshot,
            resync: resync_tx,
            config,
        };
        self.supervise(session)
    }

    fn supervise(&mut self, s: Session) -> Result<Wake, SourceError> {
        let mut last_role_check = Instant::now();
        let wake = loop {
            if s.reader.is_finished() || s.writer.is_finished() || s.snapshot.is_finished() {
                break None;
            }
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Control::ConfigChanged) => match (self.config)() {
                    Ok(c) if c == s.config => {}
                    _ => break Some(Wake::Again),
                },
                Ok(Control::Resync(tables)) => {
                    let _ = s.resync.send(tables);
                }
                Ok(msg) => break Some(self.apply(msg)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break Some(Wake::Shutdown),
            }
            if last_role_check.elapsed() > Duration::from_millis(500) {
                last_role_check = Instant::now();
                match self.role() {
                    None => break Some(Wake::Shutdown),
                    Some(Role::Primary) => {}
                    Some(_) => break Some(Wake::Again),
                }
            }
        };
        s.stop.store(true, Ordering::SeqCst);
        s.interrupt.fire();
        let reader = s.reader.join();
        let snapshot = s.snapshot.join();
        let writer = s.writer.join();
        if let Some(w) = wake {
            return Ok(w);
        }
        match writer {
            Ok(WriterExit::Replica) => {
                STATUS.set_state(State::Replica);
                return Ok(Wake::Again);
            }
            Ok(WriterExit::Failed(e)) => {
                return Err(SourceError::Retry(format!("writing to Redis failed: {e}")))
            }
            Ok(WriterExit::Stopped) => {}
            Err(_) => {
                return Err(SourceError::Halt(
                    "internal error: the writer panicked (see the Redis log)".into(),
                ))
            }
        }
        match reader {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(SourceError::Halt(
                    "internal error: the reader panicked (see the Redis log)".into(),
                ))
            }
        }
        match snapshot {
            Ok(Ok(())) => Ok(Wake::Again),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SourceError::Halt(
                "internal error: the snapshot panicked (see the Redis log)".into(),
            )),
        }
    }

    /// Where this session starts: the stored position (and snapshot progress), or — with no
    /// stored position, or one the source no longer has under `when-needed` — the source's
    /// current end with a snapshot of every captured table (`cdc.snapshot`, SPEC §1).
    fn starting_point(
        &mut self,
        config: &Config,
        conn: &mut mysql::Conn,
        info: &source::ServerInfo,
        captured: &[String],
    ) -> Result<(Checkpoint, Option<SnapshotState>, bool), SourceError> {
        let (stored, snapshot) = self.load_checkpoint(config)?;
        if let Some(cp) = &stored {
            if cp.source_id != 0 && cp.source_id != info.server_id {
                // Another server (a failover): its binlog offsets mean nothing here; its GTID
                // history is the same, so resume from the GTID state.
                if info.flavor == source::Flavor::MariaDb && !cp.gtid.is_empty() {
                    log::warn!(
                        "the source is now server_id {} (the position was written for server_id {}): resuming by GTID {}",
                        info.server_id, cp.source_id, cp.gtid
                    );
                    self.position_gone = false;
                    return Ok((cp.clone(), snapshot, true));
                }
                return Err(SourceError::Setup(format!(
                    "the stored position {} belongs to the source with server_id {}, but this source has server_id {} and there is no GTID position to resume from: point cdc.mysql-url back at the original server, or DEL {} to start at this server's current end (changes in between are not captured)",
                    cp.position, cp.source_id, info.server_id, config.offset_key
                )));
            }
        }
        let gone = match &stored {
            Some(cp) => self.position_gone || !position_on_source(conn, &cp.position)?,
            None => false,
        };
        self.position_gone = false;
        if let (Some(cp), false) = (&stored, gone) {
            return Ok((cp.clone(), snapshot, false));
        }
        let (pos, gtid) = source::master_status(conn, info.flavor)?;
        let cp = Checkpoint {
            position: pos,
            written_through: None,
            written_count: 0,
            gtid,
            source_id: info.server_id,
        };
        let mut trim: Vec<String> = Vec::new();
        if let Some(old) = &stored {
            if config.snapshot != SnapshotMode::WhenNeeded {
                return Err(SourceError::PositionGone(format!(
                    "the stored position {} (in {}) is no longer on the source (binlog purged): set cdc.snapshot when-needed to re-snapshot, or DEL {} to start at the source's current end",
                    old.position, config.offset_key, config.offset_key
                )));
            }
            // The streams cannot be reconciled across the gap: they start afresh (consumer
            // groups stay), so that replaying a stream still gives its table.
            log::warn!(
                "the stored position {} is gone from the source: re-snapshotting every captured table (cdc.snapshot when-needed)",
                old.position
            );
            trim = captured
                .iter()
                .filter_map(|t| t.split_once('.').map(|(d, n)| config.stream_key(d, n)))
                .collect();
        }
        let snapshot = match config.snapshot {
            SnapshotMode::Never => None,
            _ if captured.is_empty() => None,
            _ => Some(SnapshotState {
                ts_ms: now_ms(),
                queue: captured.to_vec(),
                after: None,
                rows: 0,
            }),
        };
        // Store the starting point (and the snapshot to do) at once: a restart before the first
        // change must neither jump ahead nor forget the snapshot.
        self.store_checkpoint(config, &cp, snapshot.as_ref(), &trim)?;
        Ok((cp, snapshot, false))
    }

    fn load_checkpoint(
        &self,
        config: &Config,
    ) -> Result<(Option<Checkpoint>, Option<SnapshotState>), SourceError> {
        let ctx = DetachedCtx::new()
            .ok_or_else(|| SourceError::Retry("no thread-safe context".into()))?;
        let locked = self.lock(&ctx)?;
        let reply = locked.call("HGETALL", &[config.offset_key.as_str()]);
        drop(locked);
        let values = match reply {
            Ok(redis_module::RedisValue::Array(v)) => v,
            Ok(_) => Vec::new(),
            Err(e) => {
                return Err(SourceError::Setup(format!(
                    "cannot read the offset hash {}: {e}",
                    config.offset_key
                )))
            }
        };
        let strings: Vec<String> = values.into_iter().map(redis_value_string).collect();
        let pairs: Vec<(&str, &str)> = strings
            .chunks_exact(2)
            .map(|c| (c[0].as_str(), c[1].as_str()))
            .collect();
        let get = |k: &str| pairs.iter().find(|(f, _)| *f == k).map(|(_, v)| *v);
        let bad = |e: String| {
            SourceError::Setup(format!(
                "{e}: fix or DEL the key {} (the module then starts at the source's current end)",
                config.offset_key
            ))
        };
        let cp = Checkpoint::from_fields(get).map_err(bad)?;
        let snapshot = SnapshotState::from_field(get(SNAPSHOT_FIELD)).map_err(bad)?;
        Ok((cp, snapshot))
    }

    /// Write the position and snapshot progress (and empty the `trim` streams) as one unit.
    fn store_checkpoint(
        &self,
        config: &Config,
        cp: &Checkpoint,
        snapshot: Option<&SnapshotState>,
        trim: &[String],
    ) -> Result<(), SourceError> {
        let ctx = DetachedCtx::new()
            .ok_or_else(|| SourceError::Retry("no thread-safe context".into()))?;
        let locked = self.lock(&ctx)?;
        if locked.get_flags().contains(ContextFlags::SLAVE) {
            return Err(SourceError::Retry("this Redis became a replica".into()));
        }
        let fields = cp.to_fields();
        let snap = snapshot.map(SnapshotState::to_field).unwrap_or_default();
        let mut args: Vec<&str> = vec![config.offset_key.as_str()];
        for (k, v) in &fields {
            args.push(k);
            args.push(v);
        }
        args.push(SNAPSHOT_FIELD);
        args.push(&snap);
        let opts = CallOptionsBuilder::new()
            .replicate()
            .errors_as_replies()
            .build();
        for key in trim {
            let r: CallResult = locked.call_ext("XTRIM", &opts, &[key.as_str(), "MAXLEN", "0"]);
            if let Err(e) = r {
                return Err(SourceError::Setup(format!(
                    "cannot trim the stream {key}: {}",
                    e.to_utf8_string().unwrap_or_default()
                )));
            }
        }
        let r: CallResult = locked.call_ext("HSET", &opts, args.as_slice());
        match r {
            Err(e) => Err(SourceError::Setup(format!(
                "cannot write the offset hash {}: {}",
                config.offset_key,
                e.to_utf8_string().unwrap_or_default()
            ))),
            Ok(_) => Ok(()),
        }
    }

    fn lock<'a>(&self, ctx: &'a DetachedCtx) -> Result<crate::redis_lock::Locked<'a>, SourceError> {
        loop {
            if self.shutdown.load(Ordering::SeqCst) {
                return Err(SourceError::Retry("shutting down".into()));
            }
            if let Some(l) = ctx.try_lock() {
                return Ok(l);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

enum Role {
    Primary,
    Replica,
    Loading,
}

fn redis_value_string(v: redis_module::RedisValue) -> String {
    use redis_module::RedisValue as V;
    match v {
        V::SimpleString(s) | V::BulkString(s) => s,
        V::SimpleStringStatic(s) => s.to_string(),
        V::BulkRedisString(s) => s.to_string_lossy(),
        V::StringBuffer(b) => String::from_utf8_lossy(&b).into_owned(),
        V::Integer(i) => i.to_string(),
        _ => String::new(),
    }
}

/// Whether the source still has the binlog file of `pos` (`SHOW BINARY LOGS`).
fn position_on_source(conn: &mut mysql::Conn, pos: &Position) -> Result<bool, SourceError> {
    let files = source::binlog_files(conn)?;
    Ok(files.is_empty() || files.contains(&pos.file))
}

/// Record the captured tables in the status (CDC.STATUS `tables`, CDC.TABLES); returns them.
fn register_tables(conn: &mut mysql::Conn, config: &Config) -> Result<Vec<String>, SourceError> {
    use mysql::prelude::Queryable;
    let rows: Vec<(String, String)> = conn
        .query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'")
        .map_err(|e| SourceError::from_mysql("listing tables", e))?;
    let mut g = STATUS.lock();
    g.tables.retain(|name, _| {
        name.split_once('.')
            .is_some_and(|(d, t)| config.filter.matches(d, t))
    });
    let mut captured = Vec::new();
    for (db, table) in rows {
        if config.filter.matches(&db, &table) {
            let name = format!("{db}.{table}");
            let t = g.tables.entry(name.clone()).or_default();
            t.stream = config.stream_key(&db, &table);
            captured.push(name);
        }
    }
    captured.sort();
    Ok(captured)
}

/// Spawn a pipeline thread whose panics become `on_panic(message)` instead of unwinding.
fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
    on_panic: impl FnOnce(String) -> T + Send + 'static,
) -> Result<JoinHandle<T>, SourceError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || match catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => v,
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                on_panic(format!("internal error (panic: {msg})"))
            }
        })
        .map_err(|e| SourceError::Retry(format!("cannot start a thread: {e}")))
}

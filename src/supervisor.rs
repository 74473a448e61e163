//! The lifecycle of the pipeline (DESIGN "a supervisor owns the lifecycle").
//!
//! One long-lived thread decides what should run: nothing while unconfigured, disabled,
//! paused or a replica; otherwise a session = connect, check prerequisites, load the stored
//! position, then a reader thread and a writer thread joined by a bounded channel. Errors end
//! the session; the supervisor records the cause in the status and retries with backoff.
//! Commands and config changes never touch MySQL on the Redis main thread: they send a
//! [`Control`] message here.

use crate::config::Config;
use crate::redis_lock::DetachedCtx;
use crate::sink::{Writer, WriterExit};
use crate::source::binlog::{Interrupt, Reader};
use crate::source::position::Checkpoint;
use crate::source::{self, SourceError};
use crate::status::{State, STATUS};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
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
        Err(e) => STATUS.set_error(State::Error, &format!("cannot start the supervisor thread: {e}")),
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
        let Some(url) = config.source.clone() else { return Ok(Wake::Again) };
        let mut conn = source::connect(&url)?;
        let info = source::probe(&mut conn)?;
        STATUS.lock().source = format!("{} ({})", url.address(), info.version);
        if !info.full_metadata {
            log::warn!("the source logs binlog_row_metadata=MINIMAL: column names come from information_schema");
        }
        register_tables(&mut conn, &config)?;
        let stored = self.load_checkpoint(&config)?;
        let checkpoint = match stored {
            Some(cp) => cp,
            None => {
                let (pos, gtid) = source::master_status(&mut conn, info.flavor)?;
                let cp = Checkpoint {
                    position: pos,
                    written_through: None,
                    gtid,
                };
                // Store the starting point at once: a restart before the first change must not
                // jump ahead and miss what happened in between.
                self.store_checkpoint(&config, &cp)?;
                cp
            }
        };
        drop(conn);
        {
            let mut g = STATUS.lock();
            g.position = checkpoint.position.to_string();
            g.gtid.clone_from(&checkpoint.gtid);
        }

        let stop = Arc::new(AtomicBool::new(false));
        let backpressure = Arc::new(AtomicBool::new(false));
        let interrupt = Arc::new(Interrupt::default());
        let (tx, rx) = bounded(64);
        let writer = Writer {
            offset_key: config.offset_key.clone(),
            stream_maxlen: config.stream_maxlen,
            max_memory_ratio: config.max_memory_percent as f32 / 100.0,
            stop: stop.clone(),
            backpressure: backpressure.clone(),
        };
        let writer = spawn("cdc-writer", move || writer.run(rx), |msg| WriterExit::Failed(msg))?;
        let reader = Reader {
            config: Arc::new(config.clone()),
            url,
            info,
            stop: stop.clone(),
            backpressure,
            interrupt: interrupt.clone(),
            tx,
        };
        let reader = spawn("cdc-reader", move || reader.run(checkpoint), |msg| Err(SourceError::Halt(msg)))?;
        STATUS.set_state(State::Streaming);
        let session = Session {
            stop,
            interrupt,
            reader,
            writer,
            config,
        };
        self.supervise(session)
    }

    fn supervise(&mut self, s: Session) -> Result<Wake, SourceError> {
        let mut last_role_check = Instant::now();
        let wake = loop {
            if s.reader.is_finished() || s.writer.is_finished() {
                break None;
            }
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Control::ConfigChanged) => match (self.config)() {
                    Ok(c) if c == s.config => {}
                    _ => break Some(Wake::Again),
                },
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
        let writer = s.writer.join();
        if let Some(w) = wake {
            return Ok(w);
        }
        match writer {
            Ok(WriterExit::Replica) => {
                STATUS.set_state(State::Replica);
                return Ok(Wake::Again);
            }
            Ok(WriterExit::Failed(e)) => return Err(SourceError::Retry(format!("writing to Redis failed: {e}"))),
            Ok(WriterExit::Stopped) => {}
            Err(_) => return Err(SourceError::Halt("internal error: the writer panicked (see the Redis log)".into())),
        }
        match reader {
            Ok(Ok(())) => Ok(Wake::Again),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SourceError::Halt("internal error: the reader panicked (see the Redis log)".into())),
        }
    }

    fn load_checkpoint(&self, config: &Config) -> Result<Option<Checkpoint>, SourceError> {
        let ctx = DetachedCtx::new().ok_or_else(|| SourceError::Retry("no thread-safe context".into()))?;
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
        Checkpoint::from_fields(|k| pairs.iter().find(|(f, _)| *f == k).map(|(_, v)| *v)).map_err(|e| {
            SourceError::Setup(format!(
                "{e}: fix or DEL the key {} (the module then starts at the source's current end)",
                config.offset_key
            ))
        })
    }

    fn store_checkpoint(&self, config: &Config, cp: &Checkpoint) -> Result<(), SourceError> {
        let ctx = DetachedCtx::new().ok_or_else(|| SourceError::Retry("no thread-safe context".into()))?;
        let locked = self.lock(&ctx)?;
        if locked.get_flags().contains(ContextFlags::SLAVE) {
            return Err(SourceError::Retry("this Redis became a replica".into()));
        }
        let fields = cp.to_fields();
        let mut args: Vec<&str> = vec![config.offset_key.as_str()];
        for (k, v) in &fields {
            args.push(k);
            args.push(v);
        }
        let opts = CallOptionsBuilder::new().replicate().errors_as_replies().build();
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

/// Record the captured tables in the status (CDC.STATUS `tables`, CDC.TABLES).
fn register_tables(conn: &mut mysql::Conn, config: &Config) -> Result<(), SourceError> {
    use mysql::prelude::Queryable;
    let rows: Vec<(String, String)> = conn
        .query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'")
        .map_err(|e| SourceError::from_mysql("listing tables", e))?;
    let mut g = STATUS.lock();
    g.tables.retain(|name, _| {
        name.split_once('.')
            .is_some_and(|(d, t)| config.filter.matches(d, t))
    });
    for (db, table) in rows {
        if config.filter.matches(&db, &table) {
            let t = g.tables.entry(format!("{db}.{table}")).or_default();
            t.stream = config.stream_key(&db, &table);
        }
    }
    Ok(())
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

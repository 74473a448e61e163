//! The lifecycle of the pipeline: the supervisor owns it.
//!
//! One long-lived thread decides what should run: nothing while unconfigured, disabled,
//! paused or a replica; otherwise a [session](session::Session) = connect, check
//! prerequisites, decide where to start ([`plan`]), then a reader thread, a snapshot thread and
//! a writer thread joined by a bounded channel. Errors end the session; the supervisor records
//! the cause in the status and acts on the error's [`Recovery`]: retry with backoff, re-check
//! the setup with backoff, or halt until the user acts. It alone sets the pipeline state: the
//! session's threads send it [state events](crate::state_event::StateEvent).
//! Commands, config changes and the server's role-change event never touch MySQL on the Redis
//! main thread: they send a [`Control`] message here.

mod plan;
mod session;

use crate::config::Config;
use crate::error::{CdcError, Recovery};
use crate::ffi::thread_ctx::DetachedCtx;
use crate::status::{State, STATUS};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use redis_cdc_core::columns::ColumnRules;
use redis_module::server_events::ServerRole;
use redis_module::{Context, ContextFlags};
use session::{Ended, Session};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
    /// The server's replication role changed (`REPLICAOF`, a failover); true: now a replica.
    RoleChanged {
        replica: bool,
    },
    /// Module unload: stop everything and exit.
    Shutdown,
}

/// How the supervisor reads the current configuration (lib.rs owns the module configs).
pub type ConfigSource = fn() -> Result<Config, String>;

struct Handle {
    tx: crossbeam_channel::Sender<Control>,
    thread: JoinHandle<()>,
    shutdown: Arc<AtomicBool>,
}

/// The running supervisor. Emptied by [`shutdown`]: glibc may keep the module's code and
/// statics loaded across MODULE UNLOAD and MODULE LOAD, and the next load must start afresh.
static HANDLE: Mutex<Option<Handle>> = Mutex::new(None);

fn handle() -> std::sync::MutexGuard<'static, Option<Handle>> {
    HANDLE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Start the supervisor thread (once per module load).
pub fn start(config: ConfigSource) {
    let mut guard = handle();
    if guard.is_some() {
        log::warn!("the cdc supervisor is already running");
        return;
    }
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
                columns: None,
            };
            if catch_unwind(AssertUnwindSafe(|| sup.run())).is_err() {
                STATUS.set_error(State::Error, "internal error: the supervisor panicked (see the Redis log); reload the module");
            }
        });
    match thread {
        Ok(thread) => {
            *guard = Some(Handle {
                tx,
                thread,
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
    handle().as_ref().is_some_and(|h| h.tx.send(msg).is_ok())
}

/// Stop everything; wait up to `timeout`. True when all threads ended.
pub fn shutdown(timeout: Duration) -> bool {
    let mut guard = handle();
    let Some(h) = guard.as_ref() else { return true };
    h.shutdown.store(true, Ordering::SeqCst);
    let _ = h.tx.send(Control::Shutdown);
    let deadline = Instant::now() + timeout;
    while !h.thread.is_finished() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Some(h) = guard.take() {
        let _ = h.thread.join();
    }
    true
}

/// The server's role-change event (Redis 6.0+; fires on `REPLICAOF host port`,
/// `REPLICAOF NO ONE` and failovers). Runs on the Redis main thread holding the lock: only
/// sends a message. Redis drops the subscription when the module is unloaded.
#[redis_module_macros::role_changed_event_handler]
fn on_role_changed(_ctx: &Context, role: ServerRole) {
    let replica = role == ServerRole::Replica;
    let _ = catch_unwind(|| send(Control::RoleChanged { replica }));
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
    /// The column rules the last session ran with (None before the first).
    columns: Option<ColumnRules>,
}

/// Why a session or a wait ended.
enum Wake {
    /// Re-evaluate (config changed, paused, resumed, role changed, timeout).
    Again,
    Shutdown,
}

/// Waits of the lifecycle loop.
const IDLE: Duration = Duration::from_secs(3600);
const LOADING_RECHECK: Duration = Duration::from_millis(100);
/// How often a running session's threads are checked for having ended.
const SESSION_TICK: Duration = Duration::from_millis(100);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A session that ran this long resets the backoff when it fails.
const STABLE_SESSION: Duration = Duration::from_secs(60);

impl Supervisor {
    fn run(&mut self) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            if self.shutdown.load(Ordering::SeqCst) {
                return;
            }
            let config = match (self.config)() {
                Ok(c) => c,
                Err(e) => {
                    STATUS.set_error(State::Error, &e);
                    if let Wake::Shutdown = self.wait(IDLE) {
                        return;
                    }
                    continue;
                }
            };
            // Never follow MySQL on a replica: its entries come from the primary. The role is
            // read here; a change while waiting arrives as Control::RoleChanged.
            match self.role() {
                None => return,
                Some(Role::Replica) => {
                    STATUS.set_state(State::Replica);
                    if let Wake::Shutdown = self.wait(IDLE) {
                        return;
                    }
                    continue;
                }
                Some(Role::Loading) => {
                    if let Wake::Shutdown = self.wait(LOADING_RECHECK) {
                        return;
                    }
                    continue;
                }
                Some(Role::Primary) => {}
            }
            let Some(url) = config.source.clone() else {
                STATUS.set_state(State::Unconfigured);
                STATUS.lock().source.clear();
                if let Wake::Shutdown = self.wait(IDLE) {
                    return;
                }
                continue;
            };
            if !config.enabled || self.paused {
                STATUS.set_state(State::Paused);
                if let Wake::Shutdown = self.wait(IDLE) {
                    return;
                }
                continue;
            }
            // A retry after an error that needs the user's action stays `error` while it tries
            // (it flipped to `connecting` at every attempt); a session that opens sets its state.
            if STATUS.state() != State::Error {
                STATUS.set_state(State::Connecting);
            }
            STATUS.lock().source = url.address();
            let started = Instant::now();
            let outcome = self.session(config);
            match outcome {
                Ok(Wake::Shutdown) => return,
                Ok(Wake::Again) => {
                    backoff = FIRST_BACKOFF;
                }
                Err(e) => {
                    let recovery = e.recovery();
                    self.position_gone = recovery == Recovery::Resnapshot;
                    log::warn!("{e}");
                    if recovery == Recovery::Halt {
                        // Retrying would meet the same event again: stop until the user acts.
                        STATUS.set_error(
                            State::Error,
                            &format!("{e} (halted: fix the cause, then CDC.RESUME)"),
                        );
                        backoff = FIRST_BACKOFF;
                        if let Wake::Shutdown = self.wait_for_user() {
                            return;
                        }
                        continue;
                    }
                    let state = match recovery {
                        Recovery::Retry => State::Connecting,
                        _ => State::Error,
                    };
                    STATUS.set_error(state, &format!("{e} (retrying in {}s)", backoff.as_secs()));
                    if started.elapsed() > STABLE_SESSION {
                        backoff = FIRST_BACKOFF;
                    }
                    if let Wake::Shutdown = self.wait(backoff) {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
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

    /// After a halt: wait for any control message (a config change, CDC.RESUME, CDC.RESYNC,
    /// CDC.PAUSE, a role change), never for a timeout.
    fn wait_for_user(&mut self) -> Wake {
        match self.rx.recv() {
            Ok(msg) => self.apply(msg),
            Err(_) => Wake::Shutdown,
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
            Control::ConfigChanged | Control::RoleChanged { .. } => Wake::Again,
            Control::Resync(tables) => {
                let mut queued: std::collections::HashSet<String> =
                    self.pending_resync.iter().cloned().collect();
                for t in tables {
                    if queued.insert(t.clone()) {
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
    fn session(&mut self, config: Config) -> Result<Wake, CdcError> {
        self.resync_for_column_rules(&config);
        let position_gone = std::mem::take(&mut self.position_gone);
        let offset_key = config.offset_key.clone();
        let s = Session::open(
            config,
            position_gone,
            &self.shutdown,
            &mut self.pending_resync,
        )?;
        let wake = self.supervise(&s);
        let ended = s.end();
        if let Some(w) = wake {
            return Ok(w);
        }
        match ended? {
            Ended::Replica => {
                STATUS.set_state(State::Replica);
                Ok(Wake::Again)
            }
            Ended::Stopped => Ok(Wake::Again),
            Ended::OffsetGone => {
                log::warn!(
                    "the offset key {} was deleted (DEL, FLUSHALL or eviction by maxmemory-policy): the position is lost; starting anew at the source's current end (with a snapshot unless cdc.snapshot never)",
                    offset_key
                );
                Ok(Wake::Again)
            }
        }
    }

    /// A change of `cdc.exclude-columns`, `cdc.mask-columns` or `cdc.mask-salt` since the last
    /// session changes the entries of the tables they name: re-read those tables (as
    /// CDC.RESYNC), so that replay gives their rows in the new form, and a key column masked
    /// since no longer leaves rows under their old key (docs/configuration.md).
    fn resync_for_column_rules(&mut self, config: &Config) {
        let Some(last) = self.columns.replace(config.columns.clone()) else {
            return;
        };
        if last == config.columns {
            return;
        }
        let new = &config.columns;
        let tables: Vec<String> = STATUS
            .lock()
            .tables
            .keys()
            .filter(|t| {
                t.split_once('.').is_some_and(|(d, n)| {
                    config.filter.matches(d, n) && (last.touches(d, n) || new.touches(d, n))
                })
            })
            .cloned()
            .collect();
        for t in tables {
            if !self.pending_resync.contains(&t) {
                log::info!("re-reading {t}: cdc.exclude-columns, cdc.mask-columns or cdc.mask-salt changed");
                self.pending_resync.push(t);
            }
        }
    }

    /// Serve control messages and state events while the session runs. Some(wake) when a
    /// message ends the session, None when one of its threads ended by itself.
    fn supervise(&mut self, s: &Session) -> Option<Wake> {
        loop {
            if s.finished() {
                return None;
            }
            crossbeam_channel::select! {
                recv(self.rx) -> msg => match msg {
                    Ok(Control::ConfigChanged) => match (self.config)() {
                        Ok(c) if c == s.config => {}
                        _ => return Some(Wake::Again),
                    },
                    Ok(Control::Resync(tables)) => s.resync(tables),
                    Ok(Control::RoleChanged { replica }) => {
                        if replica {
                            return Some(Wake::Again);
                        }
                    }
                    Ok(msg) => return Some(self.apply(msg)),
                    Err(_) => return Some(Wake::Shutdown),
                },
                recv(s.events) -> event => {
                    if let Ok(event) = event {
                        let held_back = s.backpressure.load(Ordering::Relaxed);
                        if let Some(next) = session::next_state(STATUS.state(), event, held_back) {
                            STATUS.set_state(next);
                        }
                    }
                }
                default(SESSION_TICK) => {}
            }
        }
    }
}

enum Role {
    Primary,
    Replica,
    Loading,
}

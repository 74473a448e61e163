//! One session: connect, check the source, decide where to start, then run the binlog reader,
//! the snapshot thread and the writer, joined by a bounded channel, until one of them ends or
//! the supervisor stops them.

use super::plan::{self, SourceFacts, Start};
use crate::config::{Config, SnapshotMode};
use crate::error::CdcError;
use crate::sink::{offsets, Writer, WriterExit};
use crate::source::binlog::{Interrupt, Reader};
use crate::source::snapshot::{Gate, Snapshotter};
use crate::source::{self, ServerInfo};
use crate::state_event::StateEvent;
use crate::status::{now_ms, State, STATUS};
use crossbeam_channel::{Receiver, Sender};
use redis_cdc_core::format::mirror::MirrorMode;
use redis_cdc_core::model::name::{split_table, table_name};
use redis_cdc_core::model::position::{Checkpoint, SnapshotState};
use redis_cdc_core::schema::Shapes;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The threads of a running session.
pub(super) struct Session {
    /// Asks every thread of the session to end.
    stop: Arc<AtomicBool>,
    /// Wakes the binlog reader out of its blocking read.
    interrupt: Arc<Interrupt>,
    reader: JoinHandle<Result<(), CdcError>>,
    writer: JoinHandle<WriterExit>,
    snapshot: JoinHandle<Result<(), CdcError>>,
    /// CDC.RESYNC requests for the snapshot thread.
    resync: Sender<Vec<String>>,
    /// The configuration the session runs with.
    pub config: Config,
    /// State events of the writer and the snapshot thread.
    pub events: Receiver<StateEvent>,
    /// The writer's back-pressure flag (the reader waits while it is set).
    pub backpressure: Arc<AtomicBool>,
}

/// How a session ended without an error.
pub(super) enum Ended {
    /// Its threads stopped (asked to, or the snapshot thread finished its work).
    Stopped,
    /// The offset key was deleted while it ran: the next session starts anew.
    OffsetGone,
    /// The writer found this Redis a replica.
    Replica,
}

/// The next pipeline state after a worker thread's event, if it changes. `backpressure`: the
/// writer holds the reader back right now (a snapshot that ends then leaves `backpressure`).
pub(super) fn next_state(current: State, event: StateEvent, backpressure: bool) -> Option<State> {
    match event {
        StateEvent::Backpressure(true) if current == State::Streaming => Some(State::Backpressure),
        StateEvent::Backpressure(false) if current == State::Backpressure => Some(State::Streaming),
        StateEvent::Snapshotting(true)
            if matches!(current, State::Streaming | State::Connecting) =>
        {
            Some(State::Snapshotting)
        }
        StateEvent::Snapshotting(false) if current == State::Snapshotting => {
            Some(if backpressure {
                State::Backpressure
            } else {
                State::Streaming
            })
        }
        _ => None,
    }
}

impl Session {
    /// Connect, plan the starting point and start the threads. `position_gone`: the last
    /// session was told the stored position is gone. `resync`: tables waiting to be re-read
    /// (handed to the session once it runs).
    pub(super) fn open(
        config: Config,
        position_gone: bool,
        shutdown: &AtomicBool,
        resync: &mut Vec<String>,
    ) -> Result<Session, CdcError> {
        let Some(url) = config.source.clone() else {
            return Err(CdcError::setup("cdc.mysql-url is not set".into()));
        };
        // CONFIG SET and the load refuse `json` without RedisJSON already (config.rs); this is
        // the net for a server where it is gone since, rather than failing every JSON.SET.
        if config.mirror.mode == MirrorMode::Json && !offsets::has_command("JSON.SET", shutdown)? {
            return Err(CdcError::setup(
                "cdc.mirror json needs the RedisJSON module (JSON.SET is unknown here): load rejson.so before this module, or use cdc.mirror hash".into(),
            ));
        }
        let mut conn = source::connect(&url)?;
        let info = source::probe(&mut conn)?;
        // Debezium's connector context: the connector of this source, a new run id.
        redis_cdc_core::format::debezium::set_source(info.flavor, run_id());
        // Every connection of the session has the same TLS settings: this one stands for all.
        let tls = source::describe_tls(&url, source::tls_version(&mut conn).as_deref());
        STATUS.lock().source = format!("{} ({}, {tls})", url.address(), info.version);
        let warnings: Vec<String> = offsets::eviction_warning(shutdown)?.into_iter().collect();
        for w in &warnings {
            log::warn!("{w}");
        }
        STATUS.lock().warnings = warnings;
        if !info.full_metadata {
            log::warn!("the source logs binlog_row_metadata=MINIMAL: column names come from information_schema");
        }
        let captured = register_tables(&mut conn, &config)?;
        // Cluster mode: this node's own offset hash, and the tables it streams (those of the
        // slots it serves); the session's parts run with that offset hash (docs/cluster.md).
        let mut run = config.clone();
        let cluster = if config.cluster {
            let c = offsets::load_cluster(&config.offset_key, &captured, shutdown)?;
            let Some(node_key) = c.node_key.clone() else {
                return Err(CdcError::retry(
                    "this cluster node serves no hash slot: it streams no table until it serves one".into(),
                ));
            };
            crate::cluster::session_started(&node_key, &captured);
            run.offset_key = node_key;
            // The node's offset hash is gone (its slot moved to another node) but tables of
            // its slots have positions: it resumes from the oldest, each table from its own.
            if let Some(oldest) = c.positions.values().reduce(|a, b| {
                if redis_cdc_core::cluster::before(b, a) {
                    b
                } else {
                    a
                }
            }) {
                if !offsets::any_exists(std::slice::from_ref(&run.offset_key), shutdown)? {
                    log::info!(
                        "{} is new: resuming the tables of this node's slots from their own positions (the oldest: {})",
                        run.offset_key,
                        oldest.position
                    );
                    offsets::store(&run.offset_key, oldest, None, &[], shutdown)?;
                }
            }
            Some(c)
        } else {
            None
        };
        let owned: Vec<String> = match &cluster {
            Some(c) => {
                let mine = |t: &str| c.slots.contains(redis_cdc_core::cluster::table_slot(t));
                // CDC.TABLES and CDC.STATUS `tables` of a node: the tables it streams.
                STATUS.lock().tables.retain(|t, _| mine(t));
                captured.iter().filter(|t| mine(t)).cloned().collect()
            }
            None => captured.clone(),
        };
        if let Some(w) = config.columns.salt_warning() {
            STATUS.warn(w);
        }
        // Best effort: the reader and the snapshot warn too, when they meet the table.
        match source::column_warnings(&mut conn, info.flavor, &config, &captured) {
            Ok(ws) => ws.into_iter().for_each(|w| STATUS.warn(w)),
            Err(e) => log::debug!("checking cdc.exclude-columns against the keys: {e}"),
        }
        if captured.is_empty() {
            // information_schema shows a user only the tables it has privileges on: none at
            // all is a missing grant, not an empty database (issue 13, 3).
            if !source::can_select_something(&mut conn)? {
                return Err(CdcError::setup(format!(
                    "the user of cdc.mysql-url has no SELECT privilege, so it sees no table (the snapshot and the table shapes need it): GRANT SELECT ON <each schema of cdc.tables>.* TO it (cdc.tables is {:?})",
                    config.filter.included()
                )));
            }
            STATUS.lock().warnings.push(format!(
                "no table the user can see matches cdc.tables ({:?}): tables created later are captured; a table the user cannot SELECT is invisible to it (GRANT SELECT)",
                config.filter.included()
            ));
        }
        let (mut checkpoint, snapshot, by_gtid, shapes) = starting_point(
            &run,
            &mut conn,
            &info,
            &owned,
            position_gone,
            shutdown,
            resync,
        )?;
        if let (Some(c), None) = (&cluster, &shapes) {
            // A new starting point: its snapshot reads the tables of these slots.
            offsets::set_field(
                &run.offset_key,
                offsets::SLOTS_FIELD,
                &c.slots.ranges(),
                shutdown,
            )?;
        }
        // A table without a position (its key deleted) resumes after the last change its
        // stream holds, when the reader starts before it (docs/cluster.md).
        let mut last_entries = std::collections::HashMap::new();
        if let Some(c) = &cluster {
            for t in owned.iter().filter(|t| !c.positions.contains_key(*t)) {
                let Some((db, table)) = split_table(t) else {
                    continue;
                };
                if let Some(e) = offsets::last_entry(&run.stream_key(&db, &table), shutdown)? {
                    last_entries.insert(t.clone(), e);
                }
            }
        }
        let view = cluster.map(|c| {
            let (start, view) = cluster_view(
                c,
                last_entries,
                &checkpoint,
                shapes.is_some(),
                &owned,
                resync,
            );
            checkpoint = start;
            view
        });
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
        let held_back = backpressure.clone();
        let interrupt = Arc::new(Interrupt::default());
        let gate = Arc::new(Gate::new(&checkpoint));
        let (events_tx, events) = crossbeam_channel::unbounded();
        let (tx, rx) = crate::sink::channel();
        let (resync_tx, resync_rx) = crossbeam_channel::unbounded();
        let writer = Writer {
            offset_key: run.offset_key.clone(),
            stream_maxlen: config.stream_maxlen,
            max_memory_ratio: config.max_memory_percent as f32 / 100.0,
            stop: stop.clone(),
            backpressure: backpressure.clone(),
            events: events_tx.clone(),
            rereads: resync_tx.clone(),
            unseen_xa_rereads: (config.snapshot != SnapshotMode::Never).then(|| owned.clone()),
            cluster: view.as_ref().map(|v| crate::sink::WriterCluster {
                slots: v.slots.clone(),
                offset_key: config.offset_key.clone(),
            }),
        };
        let writer = spawn("cdc-writer", move || writer.run(rx), WriterExit::Failed)?;
        let shared_config = Arc::new(run);
        let snapshotter = Snapshotter {
            config: shared_config.clone(),
            url: url.clone(),
            info: info.clone(),
            stop: stop.clone(),
            gate: gate.clone(),
            tx: tx.clone(),
            requests: resync_rx,
            events: events_tx,
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
            all_captured: Default::default(),
            cluster: view,
        };
        STATUS.set_state(if snapshot.is_some() {
            State::Snapshotting
        } else {
            State::Streaming
        });
        let reader = spawn(
            "cdc-reader",
            move || reader.run(checkpoint, shapes),
            |msg| Err(CdcError::halt(msg)),
        )?;
        let snapshot = spawn(
            "cdc-snapshot",
            move || snapshotter.run(snapshot),
            |msg| Err(CdcError::halt(msg)),
        )?;
        if !resync.is_empty() {
            let _ = resync_tx.send(std::mem::take(resync));
        }
        Ok(Session {
            stop,
            interrupt,
            reader,
            writer,
            snapshot,
            resync: resync_tx,
            config,
            events,
            backpressure: held_back,
        })
    }

    /// One of the threads has ended (the session is over).
    pub(super) fn finished(&self) -> bool {
        self.reader.is_finished() || self.writer.is_finished() || self.snapshot.is_finished()
    }

    /// Hand CDC.RESYNC tables to the snapshot thread.
    pub(super) fn resync(&self, tables: Vec<String>) {
        let _ = self.resync.send(tables);
    }

    /// Stop the threads, wait for them, and say how the session ended: the writer's failure
    /// first, then the reader's, then the snapshot's.
    pub(super) fn end(self) -> Result<Ended, CdcError> {
        self.stop.store(true, Ordering::SeqCst);
        self.interrupt.fire();
        let reader = self.reader.join();
        let snapshot = self.snapshot.join();
        let writer = self.writer.join();
        match writer {
            Ok(WriterExit::Replica) => return Ok(Ended::Replica),
            Ok(WriterExit::OffsetGone) => return Ok(Ended::OffsetGone),
            Ok(WriterExit::Failed(e)) => {
                return Err(CdcError::retry(format!("writing to Redis failed: {e}")))
            }
            Ok(WriterExit::Stopped | WriterExit::SlotsMoved) => {}
            Err(_) => {
                return Err(CdcError::halt(
                    "internal error: the writer panicked (see the Redis log)".into(),
                ))
            }
        }
        match reader {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(CdcError::halt(
                    "internal error: the reader panicked (see the Redis log)".into(),
                ))
            }
        }
        match snapshot {
            Ok(Ok(())) => Ok(Ended::Stopped),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(CdcError::halt(
                "internal error: the snapshot panicked (see the Redis log)".into(),
            )),
        }
    }
}

/// Cluster mode: where the reader starts and where each table resumes. `node` is the node's
/// own checkpoint; a table of a slot it did not serve when it last wrote resumes from its own
/// position (the reader then starts at the oldest of those), a table written here past `node`
/// from its own, every other table from `node`. A table without a position whose stream's last
/// change (`last`) is at or after the reader's start resumes after that change. `resumed`: the
/// session resumes a stored position (not a new start, whose snapshot reads the tables); then
/// a table of a new slot without any position, or whose stream ends before the reader's start
/// (what came between may be missing from it), is re-read.
fn cluster_view(
    c: offsets::ClusterStored,
    mut last: std::collections::HashMap<String, redis_cdc_core::cluster::LastEntry>,
    node: &Checkpoint,
    resumed: bool,
    owned: &[String],
    resync: &mut Vec<String>,
) -> (Checkpoint, redis_cdc_core::cluster::ClusterView) {
    use redis_cdc_core::cluster::{before, table_slot, ClusterView};
    let mut start = node.clone();
    let mut positions = std::collections::HashMap::new();
    for (table, cp) in c.positions {
        let gained = !c.stored_slots.contains(table_slot(&table));
        if gained || before(node, &cp) {
            if before(&cp, &start) {
                start = cp.clone();
            }
            positions.insert(table, cp);
        }
    }
    // Nothing after the stream's last change is missed, and nothing up to it written again.
    last.retain(|t, e| {
        let keep = !positions.contains_key(t) && e.at_or_after(&start);
        if keep {
            log::info!(
                "{t} has no position: resuming it after the last change its stream holds ({}:{})",
                e.position,
                match e.row {
                    redis_cdc_core::cluster::EntryRow::Change(r)
                    | redis_cdc_core::cluster::EntryRow::EventRow { row: r, .. } => r,
                }
            );
        }
        keep
    });
    if resumed {
        for t in owned {
            if !c.stored_slots.contains(table_slot(t))
                && !positions.contains_key(t)
                && !last.contains_key(t)
                && !resync.contains(t)
            {
                log::info!("re-reading {t}: its slot is new to this node and it has no position (nor a stream ahead of this node's)");
                resync.push(t.clone());
            }
        }
    }
    let default = (start != *node).then(|| node.clone());
    log::info!(
        "cluster: streaming the tables of slots {} from {} ({} with a position of their own)",
        c.slots.ranges(),
        start.position,
        positions.len()
    );
    (
        start,
        ClusterView {
            slots: c.slots,
            positions,
            last_entries: last,
            default,
        },
    )
}

/// Where this session starts: gather the facts (stored checkpoint, the source's binlog files),
/// let [`plan::plan`] decide, and carry the decision out. A fresh start or a re-snapshot stores
/// its starting point (and the snapshot to do) at once: a restart before the first change must
/// neither jump ahead nor forget the snapshot. Returns the checkpoint to read from, the
/// snapshot progress, whether to resume by GTID, and the schema history valid there (None
/// for a new starting point: the reader reads today's shapes).
fn starting_point(
    config: &Config,
    conn: &mut mysql::Conn,
    info: &ServerInfo,
    captured: &[String],
    position_gone: bool,
    shutdown: &AtomicBool,
    resync: &mut Vec<String>,
) -> Result<(Checkpoint, Option<SnapshotState>, bool, Option<Shapes>), CdcError> {
    let offsets::Stored {
        checkpoint: stored,
        snapshot,
        shapes,
        rereads,
        mirror,
    } = offsets::load(&config.offset_key, shutdown)?;
    // A table no longer captured (cdc.tables changed since) is not read any more.
    let is_captured: std::collections::HashSet<&str> =
        captured.iter().map(String::as_str).collect();
    let snapshot = snapshot
        .map(|mut s| {
            if s.queue
                .first()
                .is_some_and(|t| !is_captured.contains(t.as_str()))
            {
                // The table being read goes: the next one starts from its beginning.
                s.finish_first();
            }
            s.queue.retain(|t| is_captured.contains(t.as_str()));
            s
        })
        .filter(|s| !s.queue.is_empty());
    let mirror_now = mirror_setting(config);
    // Re-reads asked for before a restart and not yet queued for good: queued again when the
    // session resumes at the stored position (a new starting point drops them).
    let resume = |resync: &mut Vec<String>| {
        for t in rereads.iter().filter(|t| is_captured.contains(t.as_str())) {
            if !resync.contains(t) {
                log::info!("re-reading {t}: asked for before the restart");
                resync.push(t.clone());
            }
        }
        // The mirror turned on (or its mode or prefix changed) since its keys were written:
        // fill it by re-reading every captured table (docs/mirror.md).
        if config.mirror.is_on() && mirror != mirror_now {
            log::info!("cdc.mirror is on for tables already streamed: re-reading them to fill it");
            for t in captured {
                if !resync.contains(t) {
                    resync.push(t.clone());
                }
            }
        }
        // Tables the binlog wrote while the user could not read them: readable now.
        let mut unreadable = source::UNREADABLE.lock().unwrap_or_else(|p| p.into_inner());
        unreadable.retain(|t| {
            if !is_captured.contains(t.as_str()) {
                return true;
            }
            if !resync.contains(t) {
                log::info!("re-reading {t}: the user can read it now");
                resync.push(t.clone());
            }
            false
        });
    };
    // The mirror setting the keys are kept with, stored once this session has started.
    let record_mirror = || -> Result<(), CdcError> {
        if mirror == mirror_now {
            return Ok(());
        }
        offsets::set_field(
            &config.offset_key,
            offsets::MIRROR_FIELD,
            &mirror_now,
            shutdown,
        )
    };
    let same_server = stored
        .as_ref()
        .is_some_and(|cp| cp.source_id == 0 || cp.source_id == info.server_id);
    let facts = SourceFacts {
        server_id: info.server_id,
        resumes_by_gtid: info.flavor == source::Flavor::MariaDb,
        // Only asked when it matters: a position of this server.
        binlog_files: if same_server {
            source::binlog_files(conn)?
        } else {
            Vec::new()
        },
        gtid_now: if same_server && info.flavor == source::Flavor::MariaDb {
            Some(source::gtid_binlog_pos(conn)?)
        } else {
            None
        },
        position_gone,
    };
    let start = plan::plan(stored.as_ref(), config.snapshot, &facts, &config.offset_key);
    let (stored, resnapshot) = match (start, stored) {
        (Start::Refuse(e), _) => return Err(e),
        (Start::AtPosition, Some(cp)) => {
            resume(resync);
            record_mirror()?;
            return Ok((cp, snapshot, false, Some(shapes)));
        }
        (Start::ByGtid, Some(cp)) => {
            log::warn!(
                "the source is now server_id {} (the position was written for server_id {}): resuming by GTID {}",
                info.server_id, cp.source_id, cp.gtid
            );
            resume(resync);
            record_mirror()?;
            return Ok((cp, snapshot, true, Some(shapes)));
        }
        (Start::Resnapshot, Some(cp)) => (Some(cp), true),
        (_, stored) => (stored, false),
    };
    let (pos, gtid) = source::master_status(conn, info.flavor)?;
    let cp = Checkpoint {
        position: pos,
        written_through: None,
        written_count: 0,
        gtid,
        source_id: info.server_id,
    };
    let streams: Vec<String> = captured
        .iter()
        .filter_map(|t| split_table(t).map(|(d, n)| config.stream_key(&d, &n)))
        .collect();
    let mut trim: Vec<String> = Vec::new();
    if let (Some(old), true) = (&stored, resnapshot) {
        // The streams cannot be reconciled across the gap: they start afresh (consumer
        // groups stay), so that replaying a stream still gives its table.
        log::warn!(
            "the stored position {} is gone from the source: re-snapshotting every captured table (cdc.snapshot when-needed)",
            old.position
        );
        trim.clone_from(&streams);
    }
    let snapshot = match config.snapshot {
        SnapshotMode::Never => None,
        _ if captured.is_empty() => None,
        _ => Some(SnapshotState {
            ts_ms: now_ms(),
            queue: captured.to_vec(),
            // The initial snapshot, or a re-snapshot into emptied streams: no markers. Streams
            // that hold entries (the offset key alone was deleted) get them, so that replay
            // drops the rows deleted since.
            markers: trim.is_empty() && offsets::any_exists(&streams, shutdown)?,
            ..SnapshotState::default()
        }),
    };
    offsets::store(&config.offset_key, &cp, snapshot.as_ref(), &trim, shutdown)?;
    record_mirror()?;
    Ok((cp, snapshot, false, None))
}

/// Record the captured tables in the status (CDC.STATUS `tables`, CDC.TABLES); returns them.
fn register_tables(conn: &mut mysql::Conn, config: &Config) -> Result<Vec<String>, CdcError> {
    let rows = source::captured_tables(conn, &config.filter)?;
    let keyed = if config.mirror.is_on() {
        source::keyed_tables(conn)?
    } else {
        Default::default()
    };
    let mut g = STATUS.lock();
    g.tables
        .retain(|name, _| split_table(name).is_some_and(|(d, t)| config.filter.matches(&d, &t)));
    let mut captured = Vec::new();
    for (db, table) in rows {
        let name = table_name(&db, &table);
        let mirrored = !config.mirror.is_on() || keyed.contains(&(db.clone(), table.clone()));
        let t = g.tables.entry(name.clone()).or_default();
        t.stream = config.stream_key(&db, &table);
        t.mirror = crate::status::mirror_label(config.mirror.mode, mirrored);
        captured.push(name);
    }
    Ok(captured)
}

/// Spawn a pipeline thread whose panics become `on_panic(message)` instead of unwinding.
fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
    on_panic: impl FnOnce(String) -> T + Send + 'static,
) -> Result<JoinHandle<T>, CdcError> {
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
        .map_err(|e| CdcError::retry(format!("cannot start a thread: {e}")))
}

/// A random UUID (version 4) naming this run of the pipeline (Debezium's `runId` header).
fn run_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No /dev/urandom: the clock and std's randomly keyed hasher.
        use std::hash::{BuildHasher, Hasher};
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(now_ms() as u128 * 1_000_003 + i as u128);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    redis_cdc_core::format::debezium::run_id_from(bytes)
}

/// `cdc.mirror` and `cdc.mirror-prefix` as stored in the offset hash (empty when off).
fn mirror_setting(config: &Config) -> String {
    if config.mirror.is_on() {
        format!("{} {}", config.mirror.mode.as_str(), config.mirror.prefix)
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_events_apply_only_from_the_states_they_leave() {
        use State::*;
        use StateEvent::{Backpressure as Bp, Snapshotting as Snap};
        #[rustfmt::skip]
        let table: &[(State, StateEvent, Option<State>)] = &[
            (Streaming, Bp(true), Some(Backpressure)),
            (Snapshotting, Bp(true), None),
            (Paused, Bp(true), None),
            (Backpressure, Bp(false), Some(Streaming)),
            (Snapshotting, Bp(false), None),
            (Streaming, Snap(true), Some(Snapshotting)),
            (Connecting, Snap(true), Some(Snapshotting)),
            (Backpressure, Snap(true), None),
            (Error, Snap(true), None),
            (Snapshotting, Snap(false), Some(Streaming)),
            (Backpressure, Snap(false), None),
            (Streaming, Snap(false), None),
        ];
        for (current, event, next) in table {
            assert_eq!(
                next_state(*current, *event, false),
                *next,
                "{current:?} {event:?}"
            );
        }
        // Back-pressure that began while a snapshot ran shows once the snapshot is over.
        assert_eq!(
            next_state(Snapshotting, Snap(false), true),
            Some(Backpressure)
        );
    }
}

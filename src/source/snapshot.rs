//! The snapshot: existing rows as `r` entries, read in primary-key chunks while the binlog is
//! followed, resumable, without locking writers out of the source.
//!
//! # What has to hold
//!
//! Replaying a table's stream (docs/events.md: `c`/`r`/`u`: upsert `after` by `key`; `d`:
//! delete `key`) must give the table at every point, and no change may be lost or overwritten
//! by an older snapshot row. The binlog reader streams live changes from a position `R` while the
//! snapshot reads the table; the danger is a snapshot row older than a change already streamed
//! for the same key (the change would be undone) or newer than a change streamed after it
//! (harmless for replay, but only if it is exactly the table state at that stream point).
//!
//! # The algorithm: every chunk is injected at the binlog position of its read view
//!
//! For each chunk of a table (rows with primary key greater than the last key written, in key
//! order, at most [`CHUNK_ROWS`]):
//!
//! 1. The snapshot thread puts a *hold* on the [`Gate`]: from now on the reader does not start
//!    emitting a new transaction until it knows where the chunk goes.
//! 2. It opens a read whose binlog position `P` is known exactly (below, per source). The
//!    chunk's rows are then exactly the table's rows as of `P`: every transaction that ends at or
//!    before `P` in the binlog is visible, none that starts at or after `P` is.
//! 3. It tells the gate `P`. The reader goes on streaming the transactions that start before
//!    `P` (they all end at or before `P`: a transaction is one contiguous group in the binlog,
//!    written at commit), and stops before the first transaction starting at or after `P`.
//! 4. It reads the chunk, renders the `r` entries, and hands them to the gate. They go to the
//!    writer at the moment the reader has handed over every transaction before `P` and none
//!    after it: exactly the stream point that the rows describe. Whoever of the two threads
//!    gets there second sends them, under the gate's mutex, so nothing can slip in between.
//!
//! So at every point of the stream, each key's latest entry describes the row as of that
//! point: a change before `P` is either in the chunk's row (which replaces it with the same or a
//! newer value of the same point) or concerns a key outside the chunk; a change after `P` comes
//! after the chunk in the stream. A change to a key of a chunk not yet read is streamed as
//! usual (an upsert or a delete of a key the replay may not have yet: both replay correctly)
//! and the later chunk, read at a later `P`, holds the row as of its own point. The reader is
//! held only while the chunk is read and only once it reaches `P` (a few milliseconds per
//! chunk); the source's writers are not held at all on MariaDB.
//!
//! Tables without a primary key have no order to resume in: they are read whole, as one chunk.
//!
//! # Where `P` comes from
//!
//! * **MariaDB** — `START TRANSACTION WITH CONSISTENT SNAPSHOT` followed by
//!   `SHOW STATUS LIKE 'binlog_snapshot_%'`: MariaDB makes the InnoDB read view and the binlog
//!   position (`binlog_snapshot_file`, `binlog_snapshot_position`) consistent with each other,
//!   without any lock ("Enhancements for START TRANSACTION WITH CONSISTENT SNAPSHOT",
//!   <https://mariadb.com/kb/en/enhancements-for-start-transaction-with-consistent-snapshot/>;
//!   this is what `mariadb-dump --single-transaction --master-data` relies on to skip
//!   `FLUSH TABLES WITH READ LOCK`). No privilege beyond SELECT is needed.
//! * **MySQL** has no such status variable. Instead of a global read lock, each chunk is read
//!   with a *locking read* in a REPEATABLE READ transaction: `SELECT ... FOR SHARE` on the key
//!   range, then `SHOW MASTER STATUS` (8.4: `SHOW BINARY LOG STATUS`) while the shared locks are
//!   held, then COMMIT. A locking read returns the latest committed version of each row and
//!   waits for any transaction that holds a row lock on it, and InnoDB releases row locks only
//!   after the transaction is in the binlog (two-phase commit: binlog write, then engine
//!   commit); the next-key locks of the range scan also block inserts into the range
//!   ("Locking Reads" and "Locks Set by Different SQL Statements in InnoDB", MySQL 8.0 Reference
//!   Manual 17.7.2.4 and 17.7.3). So every change to the range before our read is in the
//!   binlog before `P`, and every change after it waits for our COMMIT and is written after
//!   `P`. Writers are blocked only on the rows of the chunk being read, for the milliseconds of
//!   the read; a table without a primary key is locked (shared) for its whole scan.
//!
//! # Resuming
//!
//! The progress (tables still to read, the key of the last row written, the row count) lives in
//! the offset hash field `snapshot` ([`SnapshotState`]) and goes to Redis in the same atomic
//! unit as the entries it covers and the reader's position at the injection point. A restart
//! reads the stored progress and carries on with the next chunk, at a new `P`, from the key
//! after the last one written: no row twice, none missed. The initial snapshot's queue is
//! stored with the starting binlog position before anything is read.

use crate::config::{Config, SourceUrl};
use crate::sink::BatchSender;
use crate::source::{connect, info_columns, Flavor, ServerInfo, SourceError};
use crate::state_event::StateEvent;
use crate::status::{now_ms, SnapshotProgress, State, STATUS};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use mysql::prelude::Queryable;
use mysql::Value;
use redis_cdc_core::columns::ColumnPlan;
use redis_cdc_core::decode::sql::{decode_key, encode_key, schema_from_info, to_row};
use redis_cdc_core::format::{self, Change, Format};
use redis_cdc_core::model::batch::{Batch, Entry};
use redis_cdc_core::model::change::{ChangeSource, Op};
use redis_cdc_core::model::position::{Checkpoint, Position, SnapshotState};
use redis_cdc_core::schema::{versioning, TableSchema};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Rows read per chunk (one read view, one injection point).
pub const CHUNK_ROWS: usize = 4096;

/// Entries per batch handed to the writer (each batch carries its own progress, so that the
/// writer's lock is held briefly and a crash between batches loses nothing).
const BATCH_ROWS: usize = 256;

// ------------------------------------------------------------------------------------------
// The gate between the reader and the snapshot
// ------------------------------------------------------------------------------------------

/// Where the reader and the snapshot meet: the reader reports how far it has handed over the
/// binlog, the snapshot asks it to stop at a chunk's position. See the module docs.
#[derive(Default)]
pub struct Gate {
    inner: Mutex<GateInner>,
    cv: Condvar,
}

#[derive(Default)]
struct GateInner {
    /// Every transaction ending at or before this position has been handed to the writer and no
    /// transaction starting after it has begun (the reader is between transactions here).
    done_through: Option<Position>,
    /// The reader's restart point at `done_through` (goes with the chunk's entries).
    checkpoint: Checkpoint,
    /// The reader is inside a transaction (`done_through` is where it started).
    in_txn: bool,
    hold: Option<Hold>,
}

struct Hold {
    /// The chunk's position; None while the snapshot is still noting it.
    at: Option<Position>,
    /// The chunk's batches, once read (their checkpoints are filled in when sent).
    chunk: Option<Vec<Batch>>,
}

impl Gate {
    /// A gate for a reader that starts at `start`.
    pub fn new(start: &Checkpoint) -> Gate {
        Gate {
            inner: Mutex::new(GateInner {
                done_through: Some(start.position.clone()),
                checkpoint: start.clone(),
                in_txn: start.written_through.is_some(),
                hold: None,
            }),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GateInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait for a change of the gate, at most 100 ms (callers re-check a stop flag).
    fn wait<'a>(&self, g: MutexGuard<'a, GateInner>) -> MutexGuard<'a, GateInner> {
        self.cv
            .wait_timeout(g, Duration::from_millis(100))
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0)
    }

    /// Reader: between transactions at `cp` (everything before it handed over). Sends a waiting
    /// chunk whose position has been reached.
    pub fn reader_at_boundary(&self, cp: &Checkpoint, tx: &BatchSender) -> Result<(), SourceError> {
        let mut g = self.lock();
        // Never backwards (artificial events at the start of a stream may carry old offsets).
        if g.done_through.as_ref().is_none_or(|d| cp.position >= *d) {
            g.done_through = Some(cp.position.clone());
            g.checkpoint = cp.clone();
        }
        g.in_txn = false;
        self.send_if_reached(&mut g, tx)
    }

    /// Reader: about to start a transaction whose first event begins at `start`. Returns when it
    /// may go on; waits (bounded by `stop`) while a hold says a chunk goes first.
    /// `cp` is the reader's restart point there (the previous transaction is over, whether or
    /// not it ended with a commit event).
    pub fn reader_begins(
        &self,
        start: &Position,
        cp: &Checkpoint,
        tx: &BatchSender,
        stop: &AtomicBool,
    ) -> Result<(), SourceError> {
        let mut g = self.lock();
        if g.done_through.as_ref().is_none_or(|d| start >= d) {
            // Only events outside transactions lie between the last boundary and `start`.
            g.done_through = Some(start.clone());
            if cp.position <= *start && g.checkpoint.position <= cp.position {
                g.checkpoint = cp.clone();
            }
        }
        g.in_txn = false;
        loop {
            match &g.hold {
                None => break,
                Some(Hold { at: Some(p), .. }) if start < p => break,
                Some(Hold {
                    at: Some(_),
                    chunk: Some(_),
                }) => {
                    self.send_if_reached(&mut g, tx)?;
                    continue;
                }
                _ => {}
            }
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            g = self.wait(g);
        }
        g.in_txn = true;
        Ok(())
    }

    /// Snapshot: stop the reader before its next transaction (the chunk's position follows).
    fn hold(&self) {
        self.lock().hold = Some(Hold {
            at: None,
            chunk: None,
        });
        self.cv.notify_all();
    }

    /// Snapshot: the chunk's position; the reader may stream every transaction before it.
    fn hold_at(&self, p: Position) {
        if let Some(h) = self.lock().hold.as_mut() {
            h.at = Some(p);
        }
        self.cv.notify_all();
    }

    /// Snapshot: give up the hold (an error, or a stop).
    fn release(&self) {
        self.lock().hold = None;
        self.cv.notify_all();
    }

    /// Snapshot: the chunk's batches. Sent at once when the reader is at the chunk's position,
    /// else by the reader when it gets there; returns once they are sent (or on a stop).
    fn deliver(
        &self,
        batches: Vec<Batch>,
        tx: &BatchSender,
        stop: &AtomicBool,
    ) -> Result<(), SourceError> {
        let mut g = self.lock();
        match g.hold.as_mut() {
            Some(h) => h.chunk = Some(batches),
            None => return Err(SourceError::retry("snapshot hold lost".into())),
        }
        self.send_if_reached(&mut g, tx)?;
        while g.hold.is_some() {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            g = self.wait(g);
        }
        Ok(())
    }

    /// Send the held chunk if the reader is between transactions at or past its position.
    fn send_if_reached(&self, g: &mut GateInner, tx: &BatchSender) -> Result<(), SourceError> {
        let reached = match (&g.hold, &g.done_through) {
            (
                Some(Hold {
                    at: Some(p),
                    chunk: Some(_),
                }),
                Some(d),
            ) => !g.in_txn && d >= p,
            _ => false,
        };
        if !reached {
            return Ok(());
        }
        let Some(hold) = g.hold.take() else {
            return Ok(());
        };
        self.cv.notify_all();
        for mut b in hold.chunk.unwrap_or_default() {
            b.checkpoint = g.checkpoint.clone();
            b.position = g.checkpoint.position.to_string();
            // Counted like the reader's batches: lag is 0 only when everything sent is written.
            STATUS
                .batches_sent
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tx.send(b)
                .map_err(|_| SourceError::retry("the writer stopped".into()))?;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// The snapshot thread
// ------------------------------------------------------------------------------------------

/// Reads the tables of its queue chunk by chunk; takes more (CDC.RESYNC) from `requests`.
pub struct Snapshotter {
    pub config: Arc<Config>,
    pub url: SourceUrl,
    pub info: ServerInfo,
    pub stop: Arc<AtomicBool>,
    pub gate: Arc<Gate>,
    pub tx: BatchSender,
    /// Tables to (re-)read, from CDC.RESYNC.
    pub requests: Receiver<Vec<String>>,
    /// Tells the supervisor when there are tables to read or none left (it sets the state).
    pub events: crate::state_event::StateEvents,
}

/// A table being read.
struct TableRead {
    name: String,
    schema: Arc<TableSchema>,
    /// `cdc.exclude-columns` / `cdc.mask-columns` for this table (None: every column as is).
    plan: Option<ColumnPlan>,
    stream: Arc<str>,
    label: Arc<str>,
    select: String,
    /// Columns of the primary key in key order (indexes into the schema's columns).
    key: Vec<usize>,
}

impl Snapshotter {
    /// Run until stopped; `state` is the stored progress (None = nothing to read yet).
    pub fn run(self, state: Option<SnapshotState>) -> Result<(), SourceError> {
        let result = self.run_inner(state);
        self.gate.release();
        STATUS.lock().snapshot.clear();
        result
    }

    fn run_inner(&self, state: Option<SnapshotState>) -> Result<(), SourceError> {
        let mut state = state.unwrap_or_default();
        // Batches handed over by this thread, to know when the writer has written them all.
        let mut sent = STATUS.snapshot_batches.load(Ordering::Relaxed);
        let mut conn: Option<mysql::Conn> = None;
        show_queue(&state, None);
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            // Take new requests (without waiting while there is work).
            let wait = if state.queue.is_empty() {
                Duration::from_millis(100)
            } else {
                Duration::ZERO
            };
            match self.requests.recv_timeout(wait) {
                Ok(tables) => {
                    if state.queue.is_empty() {
                        state = SnapshotState {
                            ts_ms: now_ms(),
                            ..SnapshotState::default()
                        };
                    }
                    join(&mut state, tables);
                    show_queue(&state, None);
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            let Some(table) = state.queue.first().cloned() else {
                if STATUS.state() == State::Snapshotting {
                    let _ = self.events.send(StateEvent::Snapshotting(false));
                }
                continue;
            };
            let c = match conn.as_mut() {
                Some(c) => c,
                None => conn.insert(self.open()?),
            };
            if matches!(STATUS.state(), State::Streaming | State::Connecting) {
                let _ = self.events.send(StateEvent::Snapshotting(true));
            }
            let Some(read) = self.prepare(c, &table)? else {
                log::warn!("snapshot: {table} no longer exists; skipped");
                // A re-read that wrote its begin marker ends with its end marker.
                let end = (state.rows > 0 || state.after.is_some())
                    .then(|| self.marker(&table, &state, Op::ResyncEnd))
                    .flatten();
                state.finish_first();
                self.send_progress(c, &mut state, end.into_iter().collect())?;
                sent += 1;
                show_queue(&state, None);
                continue;
            };
            let estimated = estimate_rows(c, &table);
            show_queue(&state, Some(estimated));
            if state.rows == 0 && state.after.is_none() {
                log::info!("snapshot of {table} started (about {estimated} rows)");
            }
            loop {
                if self.stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let (done, batches) = self.chunk(c, &read, &mut state)?;
                sent += batches;
                if done {
                    // Report a table done only once it is in Redis.
                    while STATUS.snapshot_batches.load(Ordering::Relaxed) < sent {
                        if self.stop.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    show_queue(&state, Some(estimated));
                    log::info!("snapshot of {table} finished");
                    break;
                }
                show_queue(&state, Some(estimated));
                // A resync request while a table is read joins the queue.
                while let Ok(tables) = self.requests.try_recv() {
                    join(&mut state, tables);
                }
            }
        }
    }

    fn open(&self) -> Result<mysql::Conn, SourceError> {
        let mut c = connect(&self.url)?;
        // Raw column bytes (the binlog's form, decoded by the same code), UTC TIMESTAMPs, and
        // REPEATABLE READ (MySQL's locking reads need its next-key locks).
        for q in [
            "SET character_set_results = binary",
            "SET time_zone = '+00:00'",
            "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        ] {
            c.query_drop(q)
                .map_err(|e| SourceError::from_mysql("preparing the snapshot connection", e))?;
        }
        Ok(c)
    }

    /// Schema and SELECT of `table`; None when the table is gone.
    fn prepare(&self, c: &mut mysql::Conn, table: &str) -> Result<Option<TableRead>, SourceError> {
        let Some((db, name)) = table.split_once('.') else {
            return Ok(None);
        };
        let info = info_columns(c, self.info.flavor, db, name)?;
        if info.is_empty() {
            return Ok(None);
        }
        // A system-versioned table: the columns of SELECT * (which shows current rows only),
        // keyed by the declared primary key, as the binlog's entries (schema::versioning).
        let info = versioning::entry_columns(&info);
        let schema = schema_from_info(db, name, &info)
            .map_err(|e| SourceError::halt(format!("snapshot of {table}: {e}")))?;
        let cols: Vec<String> = schema
            .columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect();
        let select = format!(
            "SELECT {} FROM {}.{}",
            cols.join(", "),
            quote_ident(db),
            quote_ident(name)
        );
        let plan = self.config.columns.plan(&schema, self.config.format);
        if let Some(w) = plan.as_ref().and_then(ColumnPlan::warning) {
            STATUS.warn(w);
        }
        Ok(Some(TableRead {
            name: table.to_string(),
            plan,
            key: schema.primary_key.clone(),
            stream: self.config.stream_key(db, name).into(),
            label: table.into(),
            schema: Arc::new(schema),
            select,
        }))
    }

    /// Read, render and hand over the next chunk of `read`: (the table is finished, batches sent).
    fn chunk(
        &self,
        c: &mut mysql::Conn,
        read: &TableRead,
        state: &mut SnapshotState,
    ) -> Result<(bool, u64), SourceError> {
        let (sql, params) = chunk_query(read, state.after.as_ref())?;
        self.gate.hold();
        let rows = match self.read_at_position(c, &sql, params) {
            Ok(r) => r,
            Err(e) => {
                self.gate.release();
                let _ = c.query_drop("ROLLBACK");
                return Err(e);
            }
        };
        let whole = read.key.is_empty();
        let finished = whole || rows.len() < CHUNK_ROWS;
        let mut batches = Vec::with_capacity(rows.len() / BATCH_ROWS + 1);
        let mut entries = Vec::with_capacity(BATCH_ROWS.min(rows.len()) + 2);
        let total = rows.len();
        if state.rows == 0 && state.after.is_none() {
            if state.markers {
                // Each re-read of a table has an id of its own, so `pos` stays unique also
                // when one queue reads a table twice.
                state.ts_ms = now_ms().max(state.ts_ms + 1);
            }
            entries.extend(self.marker(&read.name, state, Op::ResyncBegin));
        }
        for (i, raw) in rows.into_iter().enumerate() {
            let key_values: Vec<Value> = read
                .key
                .iter()
                .map(|k| raw.get(*k).cloned().unwrap_or(Value::NULL))
                .collect();
            let row = to_row(&read.schema, raw).map_err(|e| {
                self.gate.release();
                SourceError::halt(format!("snapshot of {}: {e}", read.name))
            })?;
            // The entry's row and shape (cdc.exclude-columns, cdc.mask-columns).
            let (row, shape) = match &read.plan {
                Some(plan) => (plan.apply(row), plan.shape()),
                None => (row, &*read.schema),
            };
            let change = Change {
                op: Op::Read,
                table: shape,
                before: None,
                after: Some(&row),
                ts_ms: state.ts_ms,
                source: ChangeSource::Snapshot {
                    id: state.ts_ms,
                    table: read.name.clone(),
                    n: state.rows,
                },
                gtid: None,
                key_peer: None,
            };
            entries.push(Entry {
                stream: read.stream.clone(),
                table: read.label.clone(),
                fields: format::render(self.config.format, &change),
            });
            state.rows += 1;
            if !whole {
                state.after = Some(encode_key(&key_values));
            }
            let last = i + 1 == total;
            if entries.len() >= BATCH_ROWS || last {
                if last && finished {
                    entries.extend(self.marker(&read.name, state, Op::ResyncEnd));
                    state.finish_first();
                }
                batches.push(progress_batch(std::mem::take(&mut entries), state));
            }
        }
        if total == 0 {
            entries.extend(self.marker(&read.name, state, Op::ResyncEnd));
            state.finish_first();
            batches.push(progress_batch(entries, state));
        }
        let n = batches.len() as u64;
        self.gate.deliver(batches, &self.tx, &self.stop)?;
        Ok((finished, n))
    }

    /// The begin or end marker of a re-read (`state.markers`), in the flat format (the
    /// Debezium formats have no such event: none there).
    fn marker(&self, table: &str, state: &SnapshotState, op: Op) -> Option<Entry> {
        if !state.markers || self.config.format != Format::Flat {
            return None;
        }
        let (db, name) = table.split_once('.')?;
        let shape = TableSchema::names_only(db, name);
        let change = Change {
            op,
            table: &shape,
            before: None,
            after: None,
            ts_ms: state.ts_ms,
            source: ChangeSource::SnapshotMark {
                id: state.ts_ms,
                table: table.to_string(),
                end: op == Op::ResyncEnd,
            },
            gtid: None,
            key_peer: None,
        };
        Some(Entry {
            stream: self.config.stream_key(db, name).into(),
            table: table.into(),
            fields: format::render(self.config.format, &change),
        })
    }

    /// Progress alone (a table skipped), injected like a chunk so its checkpoint is right.
    fn send_progress(
        &self,
        c: &mut mysql::Conn,
        state: &mut SnapshotState,
        entries: Vec<Entry>,
    ) -> Result<(), SourceError> {
        self.gate.hold();
        let p = match self.position_now(c) {
            Ok(p) => p,
            Err(e) => {
                self.gate.release();
                return Err(e);
            }
        };
        self.gate.hold_at(p);
        self.gate
            .deliver(vec![progress_batch(entries, state)], &self.tx, &self.stop)
    }

    fn position_now(&self, c: &mut mysql::Conn) -> Result<Position, SourceError> {
        crate::source::master_status(c, self.info.flavor).map(|(p, _)| p)
    }

    /// Run the chunk's SELECT in a read whose binlog position is known, and tell the gate.
    fn read_at_position(
        &self,
        c: &mut mysql::Conn,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<Vec<Vec<Value>>, SourceError> {
        let err = |what: &'static str| move |e| SourceError::from_mysql(what, e);
        match self.info.flavor {
            Flavor::MariaDb => {
                c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                    .map_err(err("starting the snapshot transaction"))?;
                let status: Vec<(String, String)> = c
                    .query("SHOW STATUS LIKE 'binlog_snapshot_%'")
                    .map_err(err("reading binlog_snapshot_file/position"))?;
                let get = |n: &str| {
                    status
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(n))
                        .map(|(_, v)| v.clone())
                };
                let file = get("binlog_snapshot_file").unwrap_or_default();
                let file = file.rsplit('/').next().unwrap_or_default().to_string();
                let offset: u64 = get("binlog_snapshot_position")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if file.is_empty() || offset == 0 {
                    return Err(SourceError::setup(
                        "the source reports no binlog_snapshot_file/position: the binary log must be on (--log-bin)".into(),
                    ));
                }
                self.gate.hold_at(Position::new(file, offset));
                let rows: Vec<mysql::Row> = c
                    .exec(sql, params)
                    .map_err(err("reading a snapshot chunk"))?;
                c.query_drop("COMMIT")
                    .map_err(err("ending the snapshot transaction"))?;
                Ok(rows.into_iter().map(mysql::Row::unwrap).collect())
            }
            Flavor::MySql => {
                c.query_drop("START TRANSACTION")
                    .map_err(err("starting the snapshot transaction"))?;
                let locking = format!("{sql} FOR SHARE");
                let rows: Vec<mysql::Row> = c
                    .exec(locking, params)
                    .map_err(err("reading a snapshot chunk"))?;
                let p = self.position_now(c)?;
                self.gate.hold_at(p);
                c.query_drop("COMMIT")
                    .map_err(err("ending the snapshot transaction"))?;
                Ok(rows.into_iter().map(mysql::Row::unwrap).collect())
            }
        }
    }
}

/// Queue re-reads of `tables`: a table not queued joins the end; the table being read is queued
/// once more when part of it was read already (those rows may be older than the request).
fn join(state: &mut SnapshotState, tables: Vec<String>) {
    mark_rereads(state);
    state.joined.extend(tables.iter().cloned());
    let reading = state.rows > 0 || state.after.is_some();
    let mut queued: std::collections::HashSet<String> = state
        .queue
        .iter()
        .skip(usize::from(reading))
        .cloned()
        .collect();
    for t in tables {
        if queued.insert(t.clone()) {
            state.queue.push(t);
        }
    }
}

/// Re-reads (of tables whose streams may hold rows gone since) are framed by markers
/// (docs/snapshot.md), and so is the rest of a queue they join: from the next table on when one
/// is being read (its begin marker was not written, so it gets no end marker either).
fn mark_rereads(state: &mut SnapshotState) {
    if state.rows == 0 && state.after.is_none() {
        state.markers = true;
    } else {
        state.markers_next = true;
    }
}

fn progress_batch(entries: Vec<Entry>, state: &mut SnapshotState) -> Batch {
    Batch {
        entries,
        // Filled in by the gate with the reader's checkpoint at the injection point.
        checkpoint: Checkpoint::default(),
        position: String::new(),
        txns: 0,
        commit_ms: 0,
        snapshot: Some(state.to_field()),
        xa: None,
        gone: Vec::new(),
        shapes: Vec::new(),
        rereads: Vec::new(),
        rereads_queued: std::mem::take(&mut state.joined),
    }
}

/// CDC.STATUS `snapshot`: the queue, with rows done for the table being read.
fn show_queue(state: &SnapshotState, estimated_first: Option<u64>) {
    let mut g = STATUS.lock();
    let old = std::mem::take(&mut g.snapshot);
    g.snapshot = state
        .queue
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let prev = old.iter().find(|p| p.table == *t);
            SnapshotProgress {
                table: t.clone(),
                rows_done: if i == 0 { state.rows } else { 0 },
                rows_estimated: match (i, estimated_first) {
                    (0, Some(e)) => e.max(state.rows),
                    _ => prev.map(|p| p.rows_estimated).unwrap_or(0),
                },
            }
        })
        .collect();
}

/// `information_schema.TABLES.TABLE_ROWS` (an InnoDB estimate).
fn estimate_rows(c: &mut mysql::Conn, table: &str) -> u64 {
    let Some((db, name)) = table.split_once('.') else {
        return 0;
    };
    c.exec_first::<Option<u64>, _, _>(
        "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
        (db, name),
    )
    .ok()
    .flatten()
    .flatten()
    .unwrap_or(0)
}

/// The chunk's SELECT: keyset pagination on the primary key (`(a > ?) OR (a = ? AND b > ?)`,
/// which both servers turn into an index range), or the whole table without one.
fn chunk_query(
    read: &TableRead,
    after: Option<&serde_json::Value>,
) -> Result<(String, Vec<Value>), SourceError> {
    if read.key.is_empty() {
        return Ok((read.select.clone(), Vec::new()));
    }
    let names: Vec<String> = read
        .key
        .iter()
        .map(|k| quote_ident(&read.schema.columns[*k].name))
        .collect();
    let order = names.join(", ");
    let mut params = Vec::new();
    let mut sql = read.select.clone();
    if let Some(after) = after {
        let last = decode_key(after).map_err(|e| {
            SourceError::setup(format!("offset hash: snapshot key of {}: {e}", read.name))
        })?;
        if last.len() != names.len() {
            return Err(SourceError::setup(format!(
                "the primary key of {} changed during its snapshot: CDC.RESYNC {}",
                read.name, read.name
            )));
        }
        let mut ors = Vec::new();
        for i in 0..names.len() {
            let mut ands = Vec::new();
            for j in 0..i {
                ands.push(format!("{} = ?", names[j]));
                params.push(last[j].clone());
            }
            ands.push(format!("{} > ?", names[i]));
            params.push(last[i].clone());
            ors.push(format!("({})", ands.join(" AND ")));
        }
        sql.push_str(&format!(" WHERE {}", ors.join(" OR ")));
    }
    sql.push_str(&format!(" ORDER BY {order} LIMIT {CHUNK_ROWS}"));
    Ok((sql, params))
}

fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_cdc_core::schema::InfoColumn;

    fn info(name: &str, data_type: &str, column_type: &str, pk: Option<u32>) -> InfoColumn {
        InfoColumn {
            name: name.into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            collation: Some(45),
            charset: Some("utf8mb4".into()),
            pk_ordinal: pk,
            is_json: false,
            ..InfoColumn::default()
        }
    }

    #[test]
    fn keyset_query_for_composite_keys() {
        let s = schema_from_info(
            "db",
            "t",
            &[
                info("a", "int", "int(11)", Some(1)),
                info("b", "int", "int(11)", Some(2)),
            ],
        )
        .unwrap();
        let read = TableRead {
            name: "db.t".into(),
            key: s.primary_key.clone(),
            schema: Arc::new(s),
            plan: None,
            stream: "cdc:db.t".into(),
            label: "db.t".into(),
            select: "SELECT `a`, `b` FROM `db`.`t`".into(),
        };
        let (sql, p) = chunk_query(&read, None).unwrap();
        assert_eq!(
            sql,
            format!("SELECT `a`, `b` FROM `db`.`t` ORDER BY `a`, `b` LIMIT {CHUNK_ROWS}")
        );
        assert!(p.is_empty());
        let after = encode_key(&[Value::Int(1), Value::Int(2)]);
        let (sql, p) = chunk_query(&read, Some(&after)).unwrap();
        assert!(
            sql.contains("WHERE (`a` > ?) OR (`a` = ? AND `b` > ?) ORDER BY"),
            "{sql}"
        );
        assert_eq!(p, vec![Value::Int(1), Value::Int(1), Value::Int(2)]);
    }

    #[test]
    fn a_re_read_of_the_table_being_read_is_queued_again_with_markers() {
        let mut st = SnapshotState {
            queue: vec!["db.a".into(), "db.b".into()],
            ..SnapshotState::default()
        };
        // Not started: already queued, nothing to add; markers from the start.
        join(&mut st, vec!["db.a".into()]);
        assert_eq!(st.queue, ["db.a", "db.b"]);
        assert!(st.markers);
        // Partly read: its earlier rows may be stale, so it is read again after the others;
        // markers from the next table on (db.a's begin marker was not written).
        let mut st = SnapshotState {
            queue: vec!["db.a".into(), "db.b".into()],
            rows: 10,
            ..SnapshotState::default()
        };
        join(&mut st, vec!["db.a".into(), "db.b".into()]);
        assert_eq!(st.queue, ["db.a", "db.b", "db.a"]);
        assert!(!st.markers && st.markers_next);
        st.finish_first();
        assert!(st.markers && !st.markers_next);
    }

    #[test]
    fn gate_sends_a_chunk_only_at_its_position() {
        let start = Checkpoint {
            position: Position::new("b.000001", 100),
            ..Checkpoint::default()
        };
        let gate = Gate::new(&start);
        let (tx, rx) = crate::sink::channel();
        let stop = AtomicBool::new(false);
        gate.hold();
        gate.hold_at(Position::new("b.000001", 300));
        // The reader may stream a transaction starting before P.
        gate.reader_begins(&Position::new("b.000001", 100), &start, &tx, &stop)
            .unwrap();
        let chunk = vec![progress_batch(Vec::new(), &mut SnapshotState::default())];
        {
            let mut g = gate.lock();
            g.hold.as_mut().unwrap().chunk = Some(chunk);
            gate.send_if_reached(&mut g, &tx).unwrap();
        }
        assert!(rx.try_recv().is_none(), "sent before the reader reached P");
        let cp = Checkpoint {
            position: Position::new("b.000001", 300),
            ..Checkpoint::default()
        };
        gate.reader_at_boundary(&cp, &tx).unwrap();
        let b = rx.try_recv().expect("chunk sent at P");
        assert_eq!(b.checkpoint.position, cp.position);
        assert!(gate.lock().hold.is_none());
    }
}

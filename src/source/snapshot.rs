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
//! A table's *key* is its primary key, else its first UNIQUE index whose columns are all NOT
//! NULL (what InnoDB and the entries' `key` use too; `source::info_columns`). For each chunk of
//! a table (rows with key greater than the last key written, in key order, at most
//! [`CHUNK_ROWS`], fewer for wide rows, and cut at about `CHUNK_BYTES`):
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
//! # Tables without a key
//!
//! A table with neither a primary key nor a NOT NULL UNIQUE index has no order that a later
//! read view could carry on from (a row's place in a scan is not stable across views, equal rows
//! cannot be told apart, and ordering by every column is neither total — NULLs, collations,
//! BLOB prefixes — nor cheap). So it is read in *one* read view at one `P`, as one chunk, but
//! never held whole: its rows are streamed from the server (`exec_iter`) and handed over in
//! *pieces* of at most [`CHUNK_ROWS`] rows or `CHUNK_BYTES`, each rendered and sent through
//! the writer's bounded channel before the next piece is read. The server waits on its socket
//! meanwhile. The hold of step 1 lasts from the first piece to the last (`Gate::deliver` with
//! `more`): every piece goes at the same stream point, the reader waits at `P`, and the writer
//! takes the pieces batch by batch, releasing Redis's lock between batches. What the module
//! holds is bounded by a piece plus the channel (`sink::MAX_BYTES_IN_FLIGHT`), whatever the
//! table's size.
//!
//! The price is the wait of the reader: live changes of *every* table written after `P` reach
//! Redis only once the last piece is written (the entries of a later transaction never precede
//! those of an earlier one, across streams), so the stall lasts as long as the table takes to
//! write, about its rows divided by the writer's rate. Letting the reader pass `P` would write
//! the table's own later changes before the `r` rows they change (a deleted row would come
//! back), and holding those back in memory would be unbounded again. docs/snapshot.md tells
//! users to give such a table a key (an invisible one does).
//!
//! A stop (unload, pause, config change) is noticed between pieces; the read is cut by shutting
//! its socket down, since dropping an unfinished result reads it to its end, and by closing it
//! with an RST, so that the server ends the read (and its read view) at once rather than at its
//! `net_write_timeout`.
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
//!   the read. A table without a key is locked whole by such a scan on a second connection,
//!   only until the streaming connection has opened its read view and `P` is noted
//!   (`Snapshotter::open_read_view`).
//!
//! # Resuming
//!
//! The progress (tables still to read, the key of the last row written, the row count) lives in
//! the offset hash field `snapshot` ([`SnapshotState`]) and goes to Redis in the same atomic
//! unit as the entries it covers and the reader's position at the injection point. A restart
//! reads the stored progress and carries on with the next chunk, at a new `P`, from the key
//! after the last one written: no row twice, none missed. The initial snapshot's queue is
//! stored with the starting binlog position before anything is read.
//!
//! A table without a key is stored piece by piece the same way (the row count, no key), so a
//! restart in its middle reads it again from the start, at a new `P'`, numbering its `r`
//! entries on from the stored count (`pos` never repeats). Replay stays right: the rows written
//! before the restart describe the table at `P`, the stored position makes the reader stream
//! every change between `P` and `P'` (a row deleted meanwhile gets its `d`), and the re-read
//! rewrites every row there is at `P'`. Only the `r` entries of the rows written before the
//! restart are repeated, as upserts of the same or newer rows. A re-read (CDC.RESYNC) keeps its
//! one begin marker and ends with its end marker as usual.

use crate::config::{Config, SourceUrl};
use crate::sink::BatchSender;
use crate::source::{connect, info_columns, Flavor, ServerInfo, SourceError};
use crate::state_event::StateEvent;
use crate::status::{now_ms, SnapshotProgress, State, STATUS};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use mysql::prelude::Queryable;
use mysql::Value;
use redis_cdc_core::columns::ColumnPlan;
use redis_cdc_core::decode::charset::{self, Charset};
use redis_cdc_core::decode::sql::{decode_key, encode_key, schema_from_info, to_row};
use redis_cdc_core::format::mirror::MirrorWrite;
use redis_cdc_core::format::{self, Change, Format};
use redis_cdc_core::model::batch::{Batch, Entry};
use redis_cdc_core::model::change::{ChangeSource, Op};
use redis_cdc_core::model::name::split_table;
use redis_cdc_core::model::position::{Checkpoint, Position, SnapshotState};
use redis_cdc_core::schema::{ColumnKind, ColumnSchema, TableSchema};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Rows read per chunk (one read view, one injection point).
pub const CHUNK_ROWS: usize = 4096;

/// Entries per batch handed to the writer (each batch carries its own progress, so that the
/// writer's lock is held briefly and a crash between batches loses nothing).
const BATCH_ROWS: usize = 256;

/// A batch is cut earlier once its entries reach about this many bytes (wide rows).
const BATCH_BYTES: usize = 1 << 20;

/// A chunk, or a piece of a table without a key, is cut once its rows reach about this many
/// bytes (wide rows): with the writer's channel (`sink::MAX_BYTES_IN_FLIGHT`), this bounds what
/// the module holds.
const CHUNK_BYTES: usize = 8 << 20;

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
    /// More pieces of the same read follow `chunk` (a table without a key): the hold stays
    /// once it is sent, so the reader waits at `at` until the last piece.
    more: bool,
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
                    ..
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
            more: false,
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
    /// `more`: another piece of the same read follows, and the hold stays until it is sent.
    fn deliver(
        &self,
        batches: Vec<Batch>,
        more: bool,
        tx: &BatchSender,
        stop: &AtomicBool,
    ) -> Result<(), SourceError> {
        let mut g = self.lock();
        match g.hold.as_mut() {
            Some(h) => {
                h.chunk = Some(batches);
                h.more = more;
            }
            None => return Err(SourceError::retry("snapshot hold lost".into())),
        }
        self.send_if_reached(&mut g, tx)?;
        while g.hold.as_ref().is_some_and(|h| h.chunk.is_some()) {
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
                    ..
                }),
                Some(d),
            ) => !g.in_txn && d >= p,
            _ => false,
        };
        if !reached {
            return Ok(());
        }
        // The last piece gives the hold up; an earlier one leaves it (the reader stays at P).
        let chunk = match g.hold.as_mut() {
            Some(h) if h.more => h.chunk.take(),
            _ => g.hold.take().and_then(|h| h.chunk),
        };
        self.cv.notify_all();
        for mut b in chunk.unwrap_or_default() {
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
    /// The table's quoted name, `` `db`.`table` ``.
    from: String,
    /// Columns of the key in key order (indexes into the schema's columns): the primary key,
    /// else the first UNIQUE index whose columns are all NOT NULL; empty for neither.
    key: Vec<usize>,
    /// Rows per chunk (`LIMIT`): [`CHUNK_ROWS`], fewer when the rows are wide (`chunk_limit`).
    limit: std::cell::Cell<usize>,
}

impl TableRead {
    /// How to read the table of `schema` (whose stream is `stream`): every column by name,
    /// keyed by the schema's key.
    fn new(schema: TableSchema, stream: Arc<str>) -> TableRead {
        // ENUM and SET as their number (member index, bit set), as the binlog has them: their
        // text comes in the column's character set (the connection reads results as binary),
        // and the members, as information_schema spells them, name it as for the binlog.
        let cols: Vec<String> = schema
            .columns
            .iter()
            .map(|c| match c.kind {
                ColumnKind::Enum | ColumnKind::Set => format!("{}+0", quote_ident(&c.name)),
                _ => quote_ident(&c.name),
            })
            .collect();
        // Every column by name: `SELECT *` leaves INVISIBLE columns out (MariaDB's, MySQL's
        // generated invisible primary key), and the binlog's rows have them.
        let from = format!("{}.{}", quote_ident(&schema.db), quote_ident(&schema.table));
        let name = redis_cdc_core::model::name::table_name(&schema.db, &schema.table);
        TableRead {
            select: format!("SELECT {} FROM {from}", cols.join(", ")),
            from,
            key: schema.primary_key.clone(),
            limit: std::cell::Cell::new(CHUNK_ROWS),
            stream,
            label: name.as_str().into(),
            plan: None,
            name,
            schema: Arc::new(schema),
        }
    }
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
            let (estimated, avg_row) = estimate_rows(c, &table);
            read.limit.set(chunk_limit(avg_row));
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
        let Some((db, name)) = split_table(table) else {
            return Ok(None);
        };
        let (db, name) = (db.as_str(), name.as_str());
        let info = info_columns(c, self.info.flavor, db, name)?;
        if info.is_empty() {
            return Ok(None);
        }
        // A system-versioned table: the columns of SELECT * (which shows current rows only),
        // keyed by the declared primary key, as the binlog's entries (schema::versioning).
        let info = redis_cdc_core::schema::entry_columns(&info);
        let schema = schema_from_info(db, name, &info)
            .map_err(|e| SourceError::halt(format!("snapshot of {table}: {e}")))?;
        let plan = self.config.columns.plan(&schema, self.config.format);
        if let Some(w) = plan.as_ref().and_then(ColumnPlan::warning) {
            STATUS.warn(w);
        }
        let mut read = TableRead::new(schema, self.config.stream_key(db, name).into());
        read.plan = plan;
        Ok(Some(read))
    }

    /// Read, render and hand over the next chunk of `read`: (the table is finished, batches sent).
    fn chunk(
        &self,
        c: &mut mysql::Conn,
        read: &TableRead,
        state: &mut SnapshotState,
    ) -> Result<(bool, u64), SourceError> {
        if read.key.is_empty() {
            return self.keyless(c, read, state);
        }
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
        let ChunkRows {
            rows,
            bytes,
            complete,
        } = rows;
        let finished = complete && rows.len() < read.limit.get();
        if let Some(per_row) = bytes.checked_div(rows.len()) {
            read.limit.set(chunk_limit(per_row as u64));
        }
        let batches = match self.render(read, state, rows, finished) {
            Ok(b) => b,
            Err(e) => {
                self.gate.release();
                return Err(e);
            }
        };
        let n = batches.len() as u64;
        self.gate.deliver(batches, false, &self.tx, &self.stop)?;
        Ok((finished, n))
    }

    /// Read a table without a key: one read view at a known `P` for the whole table, its rows
    /// streamed from the server (never collected) and handed over in pieces of at most
    /// [`CHUNK_ROWS`] rows or [`CHUNK_BYTES`], each sent through the bounded channel before the
    /// next is read, while the gate keeps the reader at `P` (module docs, "Tables without a
    /// key"). A stop is noticed between pieces: the read is then abandoned by cutting its
    /// socket (draining the rest of a large table would take as long as reading it).
    fn keyless(
        &self,
        c: &mut mysql::Conn,
        read: &TableRead,
        state: &mut SnapshotState,
    ) -> Result<(bool, u64), SourceError> {
        self.gate.hold();
        let p = match self.open_read_view(c, read) {
            Ok(p) => p,
            Err(e) => {
                self.gate.release();
                let _ = c.query_drop("ROLLBACK");
                return Err(e);
            }
        };
        self.gate.hold_at(p);
        let fd = c.as_raw_fd();
        let mut sent = 0u64;
        let mut piece: Vec<Vec<Value>> = Vec::new();
        let streamed = match c.exec_iter(read.select.as_str(), ()) {
            Err(e) => Err(SourceError::from_mysql("reading a table without a key", e)),
            Ok(mut rows) => {
                let outcome = (|| {
                    let mut bytes = 0usize;
                    for row in rows.by_ref() {
                        let row = row
                            .map_err(|e| {
                                SourceError::from_mysql("reading a table without a key", e)
                            })?
                            .unwrap();
                        bytes += row_bytes(&row);
                        piece.push(row);
                        if piece.len() < CHUNK_ROWS && bytes < CHUNK_BYTES {
                            continue;
                        }
                        if self.stop.load(Ordering::Relaxed) {
                            return Ok(false);
                        }
                        let batches =
                            self.render(read, state, std::mem::take(&mut piece), false)?;
                        bytes = 0;
                        sent += batches.len() as u64;
                        self.gate.deliver(batches, true, &self.tx, &self.stop)?;
                        if self.stop.load(Ordering::Relaxed) {
                            return Ok(false);
                        }
                        show_queue(state, None);
                    }
                    Ok(!self.stop.load(Ordering::Relaxed))
                })();
                if !matches!(outcome, Ok(true)) {
                    // Dropping an unfinished result reads it to its end: cut it short instead.
                    crate::ffi::os::cut_socket(fd);
                }
                outcome
            }
        };
        let finish = match streamed {
            Ok(true) => c
                .query_drop("COMMIT")
                .map_err(|e| SourceError::from_mysql("ending the snapshot transaction", e))
                .and_then(|()| self.render(read, state, std::mem::take(&mut piece), true)),
            Ok(false) => {
                self.gate.release();
                return Ok((false, sent));
            }
            Err(e) => Err(e),
        };
        let batches = match finish {
            Ok(b) => b,
            Err(e) => {
                self.gate.release();
                return Err(e);
            }
        };
        sent += batches.len() as u64;
        self.gate.deliver(batches, false, &self.tx, &self.stop)?;
        Ok((true, sent))
    }

    /// Render `rows` of `read` as `r` entries, in batches of at most [`BATCH_ROWS`] entries or
    /// about [`BATCH_BYTES`], each carrying the progress after its last row. `last`: the table
    /// is finished with these rows (its end marker follows them, and the next table is first).
    fn render(
        &self,
        read: &TableRead,
        state: &mut SnapshotState,
        rows: Vec<Vec<Value>>,
        last: bool,
    ) -> Result<Vec<Batch>, SourceError> {
        let total = rows.len();
        let mut batches = Vec::with_capacity(total / BATCH_ROWS + 1);
        let mut entries = Vec::with_capacity(BATCH_ROWS.min(total) + 2);
        let mut bytes = 0usize;
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
            let row = to_row(&read.schema, raw)
                .map_err(|e| SourceError::halt(format!("snapshot of {}: {e}", read.name)))?;
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
            let entry = Entry {
                stream: read.stream.clone(),
                table: read.label.clone(),
                fields: if self.config.streams {
                    format::render(self.config.format, &change)
                } else {
                    Vec::new()
                },
                mirror: self.config.mirror.write(&change),
            };
            bytes += entry_bytes(&entry);
            entries.push(entry);
            state.rows += 1;
            if !read.key.is_empty() {
                state.after = Some(encode_key(&key_values));
            }
            let end = i + 1 == total;
            if entries.len() >= BATCH_ROWS || bytes >= BATCH_BYTES || end {
                if end && last {
                    entries.extend(self.marker(&read.name, state, Op::ResyncEnd));
                    state.finish_first();
                }
                batches.push(progress_batch(std::mem::take(&mut entries), state));
                bytes = 0;
            }
        }
        if total == 0 && last {
            entries.extend(self.marker(&read.name, state, Op::ResyncEnd));
            state.finish_first();
            batches.push(progress_batch(entries, state));
        }
        Ok(batches)
    }

    /// The begin or end marker of a re-read (`state.markers`): an entry in the flat format
    /// (the Debezium formats have no such event), and the mirror's (it drops the table's keys
    /// the re-read did not write). A snapshot's reads get the mirror's markers only: a new
    /// snapshot (the position was lost) may find the keys of rows deleted meanwhile, which
    /// its end marker drops; into an empty mirror the writer ignores them (`if_keys`).
    fn marker(&self, table: &str, state: &SnapshotState, op: Op) -> Option<Entry> {
        let in_stream = state.markers && self.config.format == Format::Flat && self.config.streams;
        if !(in_stream || self.config.mirror.is_on()) {
            return None;
        }
        let (db, name) = split_table(table)?;
        let shape = TableSchema::names_only(&db, &name);
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
            stream: self.config.stream_key(&db, &name).into(),
            table: table.into(),
            fields: if in_stream {
                format::render(self.config.format, &change)
            } else {
                Vec::new()
            },
            mirror: self.config.mirror.write(&change).map(|w| match w {
                MirrorWrite::ResyncBegin { pattern, .. } => MirrorWrite::ResyncBegin {
                    pattern,
                    if_keys: !state.markers,
                },
                w => w,
            }),
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
        self.gate.deliver(
            vec![progress_batch(entries, state)],
            false,
            &self.tx,
            &self.stop,
        )
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
    ) -> Result<ChunkRows, SourceError> {
        let err = |what: &'static str| move |e| SourceError::from_mysql(what, e);
        match self.info.flavor {
            Flavor::MariaDb => {
                let p = mariadb_read_view(c)?;
                self.gate.hold_at(p);
                let rows = read_chunk(c, sql, params)?;
                c.query_drop("COMMIT")
                    .map_err(err("ending the snapshot transaction"))?;
                Ok(rows)
            }
            Flavor::MySql => {
                c.query_drop("START TRANSACTION")
                    .map_err(err("starting the snapshot transaction"))?;
                let rows = read_chunk(c, &format!("{sql} FOR SHARE"), params)?;
                let p = self.position_now(c)?;
                self.gate.hold_at(p);
                c.query_drop("COMMIT")
                    .map_err(err("ending the snapshot transaction"))?;
                Ok(rows)
            }
        }
    }

    /// Open, on `c`, a read view of the whole of `read` (a table without a key) and return its
    /// binlog position `P`: the table's rows in the view are exactly its rows at `P`. The
    /// transaction stays open for the caller's streamed read.
    ///
    /// * MariaDB: as for every chunk, `START TRANSACTION WITH CONSISTENT SNAPSHOT` and
    ///   `binlog_snapshot_file/position`; no lock.
    /// * MySQL: a locking read of the whole table on a second connection (`SELECT 1 ... FOR
    ///   SHARE`, next-key locks on every row and gap, waiting for every transaction that
    ///   changed the table to commit, so each is in the binlog before `P`) holds the table
    ///   still while `c` opens its read view (`WITH CONSISTENT SNAPSHOT` makes it at once) and
    ///   `SHOW MASTER STATUS` gives `P`; then that connection commits. Writers of the table wait
    ///   for the locking scan only (the server scanning the table, not the module's writing it),
    ///   writers of other tables not at all.
    fn open_read_view(
        &self,
        c: &mut mysql::Conn,
        read: &TableRead,
    ) -> Result<Position, SourceError> {
        let err = |what: &'static str| move |e| SourceError::from_mysql(what, e);
        match self.info.flavor {
            Flavor::MariaDb => mariadb_read_view(c),
            Flavor::MySql => {
                let mut lock = self.open()?;
                lock.query_drop("START TRANSACTION")
                    .map_err(err("starting the table lock transaction"))?;
                let locking = format!("SELECT 1 FROM {} FOR SHARE", read.from);
                for row in lock
                    .query_iter(locking)
                    .map_err(err("locking a table without a key"))?
                {
                    row.map_err(err("locking a table without a key"))?;
                }
                c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                    .map_err(err("starting the snapshot transaction"))?;
                let p = self.position_now(&mut lock)?;
                lock.query_drop("COMMIT")
                    .map_err(err("ending the table lock transaction"))?;
                Ok(p)
            }
        }
    }
}

/// The rows of a chunk as read.
struct ChunkRows {
    /// The rows kept, in key order.
    rows: Vec<Vec<Value>>,
    /// Their approximate size.
    bytes: usize,
    /// Every row the query returned was kept (false: cut at [`CHUNK_BYTES`]; the next chunk
    /// starts after the last row kept).
    complete: bool,
}

/// Run a chunk's SELECT, keeping its rows up to about [`CHUNK_BYTES`] (at least one): the rest
/// is read and dropped, so that a chunk of wide rows never holds more.
fn read_chunk(
    c: &mut mysql::Conn,
    sql: &str,
    params: Vec<Value>,
) -> Result<ChunkRows, SourceError> {
    let err = |e| SourceError::from_mysql("reading a snapshot chunk", e);
    let mut out = ChunkRows {
        rows: Vec::new(),
        bytes: 0,
        complete: true,
    };
    for row in c.exec_iter(sql, params).map_err(err)? {
        let row = row.map_err(err)?.unwrap();
        if out.bytes >= CHUNK_BYTES {
            out.complete = false;
            continue;
        }
        out.bytes += row_bytes(&row);
        out.rows.push(row);
    }
    Ok(out)
}

/// MariaDB: start a transaction whose read view and binlog position are consistent
/// (`START TRANSACTION WITH CONSISTENT SNAPSHOT` and `binlog_snapshot_file/position`).
fn mariadb_read_view(c: &mut mysql::Conn) -> Result<Position, SourceError> {
    let err = |what: &'static str| move |e| SourceError::from_mysql(what, e);
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
    Ok(Position::new(file, offset))
}

/// Approximate heap bytes of a row read from the source.
fn row_bytes(row: &[Value]) -> usize {
    row.iter()
        .map(|v| match v {
            Value::Bytes(b) => 32 + b.len(),
            _ => 32,
        })
        .sum()
}

/// Approximate heap bytes of a rendered entry (as `Batch::bytes` counts them).
fn entry_bytes(e: &Entry) -> usize {
    64 + e
        .fields
        .iter()
        .map(|(k, v)| 16 + k.len() + v.len())
        .sum::<usize>()
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

/// `information_schema.TABLES.TABLE_ROWS` and `AVG_ROW_LENGTH` (InnoDB estimates).
fn estimate_rows(c: &mut mysql::Conn, table: &str) -> (u64, u64) {
    let Some((db, name)) = split_table(table) else {
        return (0, 0);
    };
    let row: Option<(Option<u64>, Option<u64>)> = c
        .exec_first(
            "SELECT TABLE_ROWS, AVG_ROW_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (db, name),
        )
        .ok()
        .flatten();
    let (rows, avg) = row.unwrap_or_default();
    (rows.unwrap_or(0), avg.unwrap_or(0))
}

/// Rows per chunk for rows of about `row_bytes` bytes: [`CHUNK_ROWS`], fewer for wide rows, so
/// that a chunk is rarely cut at [`CHUNK_BYTES`] (the rest of a cut chunk is read and dropped).
fn chunk_limit(row_bytes: u64) -> usize {
    let per_row = usize::try_from(row_bytes).unwrap_or(usize::MAX).max(1);
    (CHUNK_BYTES / per_row).clamp(1, CHUNK_ROWS)
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
        let last: Vec<Value> = read
            .key
            .iter()
            .zip(last)
            .map(|(k, v)| key_param(&read.schema.columns[*k], v))
            .collect();
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
    sql.push_str(&format!(" ORDER BY {order} LIMIT {}", read.limit.get()));
    Ok((sql, params))
}

/// A key value as read (raw bytes, in the column's character set: the connection reads
/// results as binary) made a parameter the server compares as `ORDER BY` sorts: text in UTF-8,
/// the connection's character set, which the server converts to the column's (raw latin1 bytes
/// would be invalid UTF-8: "Illegal mix of collations"); ENUM and SET as their number (member
/// index, bit set), because `ORDER BY` sorts them by member order while a comparison with text
/// compares the names: chunks would skip or repeat rows when the members are not in
/// alphabetical order. Other values as they are.
fn key_param(col: &ColumnSchema, v: Value) -> Value {
    match (&col.kind, v) {
        (ColumnKind::Text { charset }, Value::Bytes(b)) if *charset != Charset::Utf8 => {
            Value::Bytes(charset::to_utf8(*charset, b).into_bytes())
        }
        (ColumnKind::Enum, Value::Bytes(b)) => match member_index(&col.enum_values, &b) {
            Some(i) => Value::UInt(i as u64 + 1),
            // '' (an invalid value stored as index 0)
            None if b.is_empty() => Value::UInt(0),
            None => Value::Bytes(b),
        },
        (ColumnKind::Set, Value::Bytes(b)) => {
            let mut bits = 0u64;
            for m in b.split(|c| *c == b',').filter(|m| !m.is_empty()) {
                match member_index(&col.set_values, m) {
                    Some(i) if i < 64 => bits |= 1 << i,
                    _ => return Value::Bytes(b),
                }
            }
            Value::UInt(bits)
        }
        (_, v) => v,
    }
}

/// The index of the member named `name` (as the server spells it, or differing in case).
fn member_index(members: &[String], name: &[u8]) -> Option<usize> {
    members
        .iter()
        .position(|m| m.as_bytes() == name)
        .or_else(|| {
            members
                .iter()
                .position(|m| m.as_bytes().eq_ignore_ascii_case(name))
        })
}

pub(crate) fn quote_ident(s: &str) -> String {
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
    fn enum_and_set_key_parameters_are_their_numbers() {
        let schema = schema_from_info(
            "d",
            "t",
            &[
                info("e", "enum", "enum('z','a')", Some(1)),
                info("s", "set", "set('x','b','a')", Some(2)),
            ],
        )
        .unwrap();
        let (e, s) = (&schema.columns[0], &schema.columns[1]);
        assert_eq!(key_param(e, Value::Bytes(b"a".to_vec())), Value::UInt(2));
        assert_eq!(key_param(e, Value::Bytes(b"".to_vec())), Value::UInt(0));
        assert_eq!(key_param(s, Value::Bytes(b"x,a".to_vec())), Value::UInt(5));
        assert_eq!(key_param(s, Value::Bytes(b"".to_vec())), Value::UInt(0));
        // Not a member (cannot happen): compared as it is.
        assert_eq!(
            key_param(e, Value::Bytes(b"q".to_vec())),
            Value::Bytes(b"q".to_vec())
        );
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
        let read = TableRead::new(s, "cdc:db.t".into());
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

    /// A table without a primary key is chunked by its first NOT NULL UNIQUE index
    /// (`source::info_columns` gives its columns key ordinals); an INVISIBLE column, which
    /// `SELECT *` would leave out, is selected by name and keys the chunks (MariaDB's INVISIBLE,
    /// MySQL's generated invisible primary key `my_row_id`).
    #[test]
    fn keyset_query_for_an_invisible_unique_key() {
        let rid = InfoColumn {
            invisible: true,
            ..info("rid", "bigint", "bigint(20) unsigned", Some(1))
        };
        let s = schema_from_info(
            "db",
            "log",
            &[info("msg", "varchar", "varchar(20)", None), rid],
        )
        .unwrap();
        let read = TableRead::new(s, "cdc:db.log".into());
        assert_eq!(read.key, vec![1]);
        assert_eq!(read.name, "db.log");
        assert_eq!(read.from, "`db`.`log`");
        let (sql, p) = chunk_query(&read, Some(&encode_key(&[Value::UInt(42)]))).unwrap();
        assert_eq!(
            sql,
            format!(
                "SELECT `msg`, `rid` FROM `db`.`log` WHERE (`rid` > ?) ORDER BY `rid` LIMIT {CHUNK_ROWS}"
            )
        );
        assert_eq!(p, vec![Value::UInt(42)]);
        // Without any key: no order to page in; read whole (streamed, in pieces).
        let s = schema_from_info("db", "k", &[info("a", "int", "int(11)", None)]).unwrap();
        let read = TableRead::new(s, "cdc:db.k".into());
        assert!(read.key.is_empty());
        assert_eq!(read.select, "SELECT `a` FROM `db`.`k`");
    }

    /// Keyset parameters of text keys go in UTF-8 (the connection's character set), converted
    /// from the column's; binary keys and other values as read.
    #[test]
    fn keyset_parameters_of_text_keys_are_utf8() {
        let latin1 = InfoColumn {
            charset: Some("latin1".into()),
            collation: Some(8),
            ..info("k", "varchar", "varchar(10)", Some(1))
        };
        let bin = InfoColumn {
            charset: None,
            collation: Some(63),
            ..info("b", "varbinary", "varbinary(10)", Some(2))
        };
        let s = schema_from_info("db", "t", &[latin1, bin]).unwrap();
        let read = TableRead::new(s, "cdc:db.t".into());
        let after = encode_key(&[Value::Bytes(vec![0xe9, b'a']), Value::Bytes(vec![0xff])]);
        let (_, p) = chunk_query(&read, Some(&after)).unwrap();
        assert_eq!(
            p,
            vec![
                Value::Bytes("\u{e9}a".as_bytes().to_vec()),
                Value::Bytes("\u{e9}a".as_bytes().to_vec()),
                Value::Bytes(vec![0xff])
            ]
        );
    }

    /// A table without a key goes in pieces of one read view: the reader stays held at the
    /// view's position from the first piece to the last, and each piece goes when handed over.
    #[test]
    fn gate_holds_the_reader_from_the_first_piece_to_the_last() {
        let p = Position::new("b.000001", 300);
        let at_p = Checkpoint {
            position: p.clone(),
            ..Checkpoint::default()
        };
        let gate = Arc::new(Gate::new(&at_p));
        let (tx, rx) = crate::sink::channel();
        let stop = Arc::new(AtomicBool::new(false));
        gate.hold();
        gate.hold_at(p.clone());
        let piece = |rows: u64| {
            let mut st = SnapshotState {
                queue: vec!["db.k".into()],
                rows,
                ..SnapshotState::default()
            };
            vec![progress_batch(Vec::new(), &mut st)]
        };
        // The reader is at P: the first piece goes at once, and the hold stays.
        gate.deliver(piece(1), true, &tx, &stop).unwrap();
        assert_eq!(rx.try_recv().expect("first piece").checkpoint.position, p);
        assert!(gate.lock().hold.is_some());
        // A transaction after P waits for the last piece.
        let released = Arc::new(AtomicBool::new(false));
        let reader = {
            let (gate, tx, stop, released) =
                (gate.clone(), tx.clone(), stop.clone(), released.clone());
            let start = Position::new("b.000001", 400);
            std::thread::spawn(move || {
                gate.reader_begins(&start, &at_p, &tx, &stop).unwrap();
                released.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(150));
        assert!(
            !released.load(Ordering::SeqCst),
            "the reader passed P between pieces"
        );
        gate.deliver(piece(2), true, &tx, &stop).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        assert!(
            !released.load(Ordering::SeqCst),
            "the reader passed P between pieces"
        );
        gate.deliver(piece(3), false, &tx, &stop).unwrap();
        reader.join().unwrap();
        assert!(released.load(Ordering::SeqCst));
        assert!(gate.lock().hold.is_none());
        let rows: Vec<u64> = std::iter::from_fn(|| rx.try_recv())
            .map(|b| {
                SnapshotState::from_field(b.snapshot.as_deref())
                    .unwrap()
                    .unwrap()
                    .rows
            })
            .collect();
        assert_eq!(rows, [2, 3], "pieces in order, each once");
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

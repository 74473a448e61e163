//! The binlog reader: source events -> transactions of row changes -> batches for the writer.
//!
//! # What the position means
//!
//! MySQL writes a transaction to the binlog only when it commits, as one contiguous group:
//! `GTID` (or `BEGIN`), table maps and rows events, then `XID` (or `COMMIT`). The reader buffers
//! a transaction's entries and hands them to the writer with a [`Checkpoint`] naming the end of
//! the commit event: resuming there starts exactly at the next transaction, so nothing is
//! repeated and nothing skipped. Events outside transactions (rotate, format description,
//! heartbeats, DDL) move the checkpoint forward too, so a caught-up module resumes at
//! `SHOW MASTER STATUS`.
//!
//! A transaction larger than [`CHUNK_ENTRIES`] is handed over in chunks; the checkpoint of a
//! chunk is "the transaction starting at offset S, after its first n changes", and a restart
//! re-reads that transaction from S and skips the n changes already written. Memory stays
//! bounded by the chunk size times the channel capacity, whatever the transaction's size.
//!
//! Rolled-back work never reaches the binlog (InnoDB writes a transaction only on commit); a
//! `ROLLBACK` query that does appear (mixed engines) discards what was buffered.

use crate::config::{Config, SourceUrl};
use crate::sink::BatchSender;
use crate::source::snapshot::Gate;
use crate::source::{connect, connect_with_timeout, info_columns, Flavor, ServerInfo, SourceError};
use crate::status::{now_ms, STATUS};
use mysql::binlog::events::{Event, EventData};
use mysql::prelude::Queryable;
use mysql::BinlogRequest;
use redis_cdc_core::decode::format_uuid;
use redis_cdc_core::decode::rows::{for_each_payload_event, for_each_row};
use redis_cdc_core::format::{self, Change};
use redis_cdc_core::model::batch::{Batch, Entry};
use redis_cdc_core::model::change::{ChangeSource, Op, Row};
use redis_cdc_core::model::position::{Checkpoint, MariaGtid, MariaGtidState, Position};
use redis_cdc_core::schema::{InfoColumn, TableSchema};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries buffered before a transaction is handed over in chunks.
pub const CHUNK_ENTRIES: usize = 64;

/// How often an advancing position with no entries is written (for uncaptured traffic).
const POSITION_ONLY_EVERY: Duration = Duration::from_millis(200);

/// The heartbeat the source sends when it has nothing to send, so that a stop is noticed and a
/// dead connection detected (the read timeout is a few heartbeats).
const HEARTBEAT: Duration = Duration::from_secs(1);

// MariaDB's own event types (notes §2.5).
const MARIA_ANNOTATE_ROWS: u8 = 0xa0;
const MARIA_BINLOG_CHECKPOINT: u8 = 0xa1;
const MARIA_GTID: u8 = 0xa2;
const MARIA_GTID_LIST: u8 = 0xa3;
const MARIA_START_ENCRYPTION: u8 = 0xa4;
const MARIA_COMPRESSED_FIRST: u8 = 0xa5;
const MARIA_COMPRESSED_LAST: u8 = 0xab;

/// A captured (or ignored) table as the reader knows it from its latest table map.
struct TableCtx {
    /// The raw TABLE_MAP body this was built from: identical maps reuse the schema.
    raw: Vec<u8>,
    /// None when the table is not captured.
    captured: Option<Captured>,
}

struct Captured {
    schema: TableSchema,
    stream: Arc<str>,
    name: Arc<str>,
}

/// Shared handle that lets another thread interrupt a blocking binlog read.
#[derive(Default)]
pub struct Interrupt {
    fd: Mutex<Option<RawFd>>,
}

impl Interrupt {
    /// Shut the binlog socket down: the blocked read returns an error at once.
    pub fn fire(&self) {
        let g = self.fd.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(fd) = *g {
            // The fd belongs to the live binlog connection: the reader clears the slot (under
            // this mutex) before the connection is dropped, so it is never a reused fd.
            crate::ffi::os::shutdown_socket(fd);
        }
    }

    fn set(&self, fd: Option<RawFd>) {
        *self.fd.lock().unwrap_or_else(|p| p.into_inner()) = fd;
    }
}

pub struct Reader {
    pub config: Arc<Config>,
    pub url: SourceUrl,
    pub info: ServerInfo,
    pub stop: Arc<AtomicBool>,
    pub backpressure: Arc<AtomicBool>,
    pub interrupt: Arc<Interrupt>,
    pub tx: BatchSender,
    /// Resume from `checkpoint.gtid` instead of its file and offset (MariaDB, after the source
    /// changed to another server with the same GTID history).
    pub by_gtid: bool,
    /// Where snapshot chunks join the stream (see `source::snapshot`).
    pub gate: Arc<Gate>,
}

/// The transaction being assembled.
#[derive(Default)]
struct Txn {
    active: bool,
    /// Where the transaction's first event starts (restart point for chunked transactions).
    start: Position,
    gtid: Option<String>,
    maria_gtid: Option<MariaGtid>,
    ts_ms: u64,
    /// Changes up to this (rows event offset, change index) were written before a restart.
    skip_through: Option<(u64, u32)>,
    /// A MariaDB standalone GTID (DDL): the next query ends the group.
    standalone: bool,
    /// A `BEGIN` query opened the group (MySQL DML); without it a MySQL query is DDL.
    explicit_begin: bool,
    /// The last change emitted: (rows event offset, change index).
    last_change: Option<(u64, u32)>,
    /// Captured changes seen in this transaction (written or skipped).
    emitted: u64,
    /// When resuming by GTID inside a chunked transaction: captured changes to skip.
    skip_count: u64,
}

struct State {
    file: String,
    /// Restart point when outside a transaction.
    checkpoint: Checkpoint,
    maria_gtids: MariaGtidState,
    txn: Txn,
    pending: Vec<Entry>,
    /// A checkpoint advanced by events with no entries, not yet handed over.
    unsent: bool,
    last_sent: Instant,
    /// Changes of the first transaction already written (from a chunked checkpoint).
    initial_skip: Option<(u64, u32)>,
    /// The same, as a count of captured changes, when resuming by GTID.
    initial_skip_count: u64,
    /// End of the last DDL followed in `info_cache` (the known shapes are valid from there).
    ddl_pos: Position,
    tables: HashMap<u64, TableCtx>,
    info_cache: HashMap<(String, String), Vec<InfoColumn>>,
    info_conn: Option<mysql::Conn>,
    /// Inside a TRANSACTION_PAYLOAD_EVENT or a MariaDB compressed event: its (start, end) stand
    /// for the inner events' positions, and rows are numbered across it so `pos` stays unique.
    payload: Option<PayloadCtx>,
}

#[derive(Clone, Copy)]
struct PayloadCtx {
    start: u64,
    end: u64,
    rows: u32,
}

impl Reader {
    /// Follow the binlog from `start` until stopped or an error. Returns Ok(()) on a stop.
    pub fn run(&self, start: Checkpoint) -> Result<(), SourceError> {
        let mut conn = connect_with_timeout(&self.url, HEARTBEAT * 10)?;
        let heartbeat_ns = HEARTBEAT.as_nanos() as u64;
        let setup = |c: &mut mysql::Conn, q: &str| {
            c.query_drop(q)
                .map_err(|e| SourceError::from_mysql("preparing the binlog connection", e))
        };
        setup(
            &mut conn,
            &format!("SET @master_heartbeat_period = {heartbeat_ns}"),
        )?;
        if self.info.flavor == Flavor::MariaDb {
            // GTID-aware replica: MariaDB then sends its GTID events instead of dummies.
            setup(&mut conn, "SET @mariadb_slave_capability = 4")?;
            if self.by_gtid {
                // The server starts right after these GTIDs (last applied per domain); file
                // and offset of the request are then ignored (notes §2.5).
                let state: MariaGtidState = start
                    .gtid
                    .parse()
                    .map_err(|e| SourceError::Setup(format!("stored GTID state: {e}")))?;
                setup(&mut conn, &format!("SET @slave_connect_state = '{state}'"))?;
                setup(&mut conn, "SET @slave_gtid_strict_mode = 0")?;
                setup(&mut conn, "SET @slave_gtid_ignore_duplicates = 0")?;
            }
        }
        let fd = conn.as_raw_fd();
        let mut st = State {
            file: start.position.file.clone(),
            checkpoint: Checkpoint {
                written_through: None,
                written_count: 0,
                source_id: self.info.server_id,
                ..start.clone()
            },
            maria_gtids: start.gtid.parse().unwrap_or_default(),
            txn: Txn::default(),
            pending: Vec::new(),
            unsent: false,
            last_sent: Instant::now(),
            initial_skip: if self.by_gtid {
                None
            } else {
                start.written_through
            },
            initial_skip_count: if self.by_gtid { start.written_count } else { 0 },
            ddl_pos: Position::default(),
            tables: HashMap::new(),
            info_cache: HashMap::new(),
            info_conn: None,
            payload: None,
        };
        (st.info_cache, st.ddl_pos) =
            crate::source::shapes::restore_shapes(&self.url.address(), &start.position);
        let request = BinlogRequest::new(self.config.server_id)
            .with_filename(start.position.file.as_bytes().to_vec())
            .with_pos(start.position.offset);
        self.interrupt.set(Some(fd));
        let result = (|| {
            let stream = conn.get_binlog_stream(request).map_err(|e| {
                SourceError::from_mysql(&format!("requesting the binlog at {}", start.position), e)
            })?;
            log::info!("streaming from {}", start.position);
            for ev in stream {
                if self.stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let ev = ev.map_err(|e| {
                    SourceError::from_mysql(
                        &format!("reading the binlog after {}", st.checkpoint.position),
                        e,
                    )
                })?;
                self.handle(&mut st, &ev)?;
                while self.backpressure.load(Ordering::Relaxed) {
                    if self.stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            if self.stop.load(Ordering::Relaxed) {
                Ok(())
            } else {
                Err(SourceError::Retry(format!(
                    "the source closed the binlog stream after {}",
                    st.checkpoint.position
                )))
            }
        })();
        self.interrupt.set(None);
        crate::source::shapes::save_shapes(
            &self.url.address(),
            st.ddl_pos.clone(),
            std::mem::take(&mut st.info_cache),
        );
        match result {
            // A stop that interrupted the socket shows up as a read error: it is a stop.
            Err(_) if self.stop.load(Ordering::Relaxed) => Ok(()),
            r => r,
        }
    }

    fn send(&self, st: &mut State, batch: Batch) -> Result<(), SourceError> {
        st.last_sent = Instant::now();
        st.unsent = false;
        STATUS.batches_sent.fetch_add(1, Ordering::Relaxed);
        self.tx
            .send(batch)
            .map_err(|_| SourceError::Retry("the writer stopped".into()))
    }

    fn position_string(st: &State, end: u64) -> String {
        format!("{}:{}", st.file, end)
    }

    fn handle(&self, st: &mut State, ev: &Event) -> Result<(), SourceError> {
        let header = ev.header();
        let (start, end) = match st.payload {
            Some(p) => (p.start, p.end),
            None => {
                let end = header.log_pos() as u64;
                (end.saturating_sub(header.event_size() as u64), end)
            }
        };
        STATUS
            .bytes_read
            .fetch_add(header.event_size() as u64, Ordering::Relaxed);
        let raw_type = header.event_type_raw();
        match raw_type {
            MARIA_GTID => {
                let d = ev.data();
                if d.len() < 13 {
                    return Err(SourceError::Halt(format!(
                        "truncated MariaDB GTID event at {}",
                        at(&st.file, start)
                    )));
                }
                let seq = u64::from_le_bytes(d[0..8].try_into().unwrap_or_default());
                let domain = u32::from_le_bytes(d[8..12].try_into().unwrap_or_default());
                let flags = d[12];
                let g = MariaGtid {
                    domain,
                    server: header.server_id(),
                    seq,
                };
                self.begin(st, start, header.timestamp())?;
                st.txn.gtid = Some(g.to_string());
                st.txn.maria_gtid = Some(g);
                st.txn.standalone = flags & 0x01 != 0;
                return Ok(());
            }
            MARIA_COMPRESSED_FIRST..=MARIA_COMPRESSED_LAST => {
                // log_bin_compress=ON: handle the plain event it stands for, at this position.
                let plain = redis_cdc_core::decode::rows::maria_uncompressed_event(ev)
                    .map_err(|e| SourceError::Halt(format!("{e} at {}", at(&st.file, start))))?;
                let outer = st.payload;
                st.payload = Some(outer.unwrap_or(PayloadCtx {
                    start,
                    end,
                    rows: 0,
                }));
                let r = self.handle(st, &plain);
                st.payload = outer;
                return r;
            }
            MARIA_ANNOTATE_ROWS
            | MARIA_BINLOG_CHECKPOINT
            | MARIA_GTID_LIST
            | MARIA_START_ENCRYPTION => {
                self.advance(st, end)?;
                return Ok(());
            }
            _ => {}
        }
        let data = ev.read_data().map_err(|e| {
            SourceError::Halt(format!(
                "cannot parse binlog event type {raw_type} at {}: {e}",
                at(&st.file, start)
            ))
        })?;
        let Some(data) = data else {
            // Unknown event types carry no row data we know of; skip them.
            self.advance(st, end)?;
            return Ok(());
        };
        match data {
            EventData::RotateEvent(r) => {
                let mut name = r.name_raw().to_vec();
                if end == 0 && ends_with_own_crc32(ev) {
                    // The first, artificial rotate comes before any format description, so
                    // nothing strips its checksum: the name carries the 4 CRC bytes (notes
                    // pitfall 15). MariaDB adds them whenever the client announced checksum
                    // support (the mysql crate always does), even with binlog_checksum=NONE,
                    // so the CRC itself is the test.
                    name.truncate(name.len().saturating_sub(4));
                }
                st.file = String::from_utf8_lossy(&name).into_owned();
                if !st.txn.active {
                    st.checkpoint.position = Position::new(st.file.clone(), r.position());
                    st.unsent = true;
                    self.gate.reader_at_boundary(&st.checkpoint, &self.tx)?;
                }
                // Table ids are only unique within a binlog file.
                st.tables.clear();
            }
            EventData::FormatDescriptionEvent(_) => self.advance(st, end)?,
            EventData::HeartbeatEvent => {
                if !st.txn.active {
                    if st.unsent {
                        self.flush_position(st, end)?;
                    }
                    // The source has nothing more; lag is 0 once the writer has written
                    // every batch handed over (Status::lag_ms).
                    STATUS.caught_up.store(true, Ordering::Relaxed);
                }
            }
            EventData::GtidEvent(g) => {
                self.begin(st, start, header.timestamp())?;
                let sid = g.sid();
                st.txn.gtid = Some(format!("{}:{}", format_uuid(&sid), g.gno()));
                let ts = g.immediate_commit_timestamp();
                if ts > 0 {
                    st.txn.ts_ms = ts / 1000;
                }
            }
            EventData::AnonymousGtidEvent(_) => self.begin(st, start, header.timestamp())?,
            EventData::QueryEvent(q) => {
                let sql = q.query();
                let trimmed = sql.trim();
                if trimmed.eq_ignore_ascii_case("BEGIN") {
                    if !st.txn.active {
                        self.begin(st, start, header.timestamp())?;
                    }
                    st.txn.explicit_begin = true;
                } else if trimmed.eq_ignore_ascii_case("COMMIT") {
                    self.commit(st, end)?;
                } else if trimmed
                    .get(..8)
                    .is_some_and(|p| p.eq_ignore_ascii_case("ROLLBACK"))
                    && !trimmed.to_ascii_uppercase().starts_with("ROLLBACK TO")
                {
                    st.pending.clear();
                    self.commit(st, end)?;
                } else {
                    // DDL (or a statement we do not replicate): follow its column changes in
                    // the known shapes, at this position (schema::apply_ddl says why).
                    redis_cdc_core::schema::apply_ddl(&mut st.info_cache, &q.schema(), trimmed);
                    st.ddl_pos = Position::new(st.file.clone(), end);
                    st.tables.clear();
                    // MySQL logs DDL as GTID + the statement, with no BEGIN: the statement
                    // ends the group (MariaDB flags such a GTID as standalone).
                    let mysql_ddl = self.info.flavor == Flavor::MySql && !st.txn.explicit_begin;
                    if !st.txn.active || st.txn.standalone || mysql_ddl {
                        self.commit(st, end)?;
                    }
                }
            }
            EventData::XidEvent(_) => self.commit(st, end)?,
            EventData::TransactionPayloadEvent(p) => {
                // MySQL binlog_transaction_compression: the transaction's events (GTID
                // outside, table maps, rows, XID inside) arrive compressed in one event.
                st.payload = Some(PayloadCtx {
                    start,
                    end,
                    rows: 0,
                });
                let mut failure = None;
                let r = for_each_payload_event(ev.fde(), &p, |inner| {
                    self.handle(st, inner).map_err(|e| {
                        failure = Some(e);
                        String::new()
                    })
                });
                st.payload = None;
                if let Some(e) = failure {
                    return Err(e);
                }
                r.map_err(|e| SourceError::Halt(format!("{e} at {}", at(&st.file, start))))?;
            }
            EventData::TableMapEvent(tme) => {
                let id = tme.table_id();
                let raw = ev.data();
                if st.tables.get(&id).is_some_and(|t| t.raw == raw) {
                    return Ok(());
                }
                let db = tme.database_name().into_owned();
                let table = tme.table_name().into_owned();
                let captured = if self.config.filter.matches(&db, &table) {
                    let info = self.info_for(
                        st,
                        &db,
                        &table,
                        !self.info.full_metadata || self.info.flavor == Flavor::MariaDb,
                    )?;
                    let schema =
                        TableSchema::from_table_map(&tme, info.as_deref()).map_err(|e| {
                            SourceError::Halt(format!(
                                "table map of {db}.{table} at {}: {e}",
                                at(&st.file, start)
                            ))
                        })?;
                    if !schema.named {
                        return Err(SourceError::Halt(format!(
                            "no column names for {db}.{table} at {}: set binlog_row_metadata=FULL on the source or grant SELECT on the table",
                            at(&st.file, start)
                        )));
                    }
                    Some(Captured {
                        stream: self.config.stream_key(&db, &table).into(),
                        name: format!("{db}.{table}").into(),
                        schema,
                    })
                } else {
                    None
                };
                st.tables.insert(
                    id,
                    TableCtx {
                        raw: raw.to_vec(),
                        captured,
                    },
                );
            }
            EventData::RowsEvent(rows) => {
                let id = rows.table_id();
                let Some(tctx) = st.tables.get(&id) else {
                    return Err(SourceError::Halt(format!(
                        "rows event for unknown table id {id} at {}",
                        at(&st.file, start)
                    )));
                };
                let Some(cap) = &tctx.captured else {
                    return Ok(());
                };
                let op = match rows {
                    mysql::binlog::events::RowsEventData::WriteRowsEventV1(_)
                    | mysql::binlog::events::RowsEventData::WriteRowsEvent(_) => Op::Create,
                    mysql::binlog::events::RowsEventData::DeleteRowsEventV1(_)
                    | mysql::binlog::events::RowsEventData::DeleteRowsEvent(_) => Op::Delete,
                    _ => Op::Update,
                };
                let mut out: Vec<Entry> = Vec::new();
                let mut row_idx = st.payload.map_or(0, |p| p.rows);
                let txn = &mut st.txn;
                let file = st.file.clone();
                let fmt = self.config.format;
                let server_id = header.server_id();
                let mut emit = |op: Op,
                                before: Option<&Row>,
                                after: Option<&Row>,
                                row_idx: &mut u32,
                                txn: &mut Txn| {
                    let idx = *row_idx;
                    *row_idx += 1;
                    txn.emitted += 1;
                    if txn.skip_through.is_some_and(|s| (start, idx) <= s)
                        || txn.emitted <= txn.skip_count
                    {
                        return;
                    }
                    txn.last_change = Some((start, idx));
                    let change = Change {
                        op,
                        table: &cap.schema,
                        before,
                        after,
                        ts_ms: txn.ts_ms,
                        source: ChangeSource::Binlog {
                            file: file.clone(),
                            offset: start,
                            row: idx,
                            server_id,
                        },
                        gtid: txn.gtid.as_deref(),
                    };
                    out.push(Entry {
                        stream: cap.stream.clone(),
                        table: cap.name.clone(),
                        fields: format::render(fmt, &change),
                    });
                };
                for_each_row(&rows, &cap.schema, |(before, after)| {
                    match (op, &before, &after) {
                        (Op::Update, Some(b), Some(a)) if key_changed(&cap.schema, b, a) => {
                            // A key change (primary key, or any column of a table without
                            // one) is a delete of the old key and a create of the new one, so
                            // that replaying by key rebuilds the table.
                            emit(Op::Delete, Some(b), None, &mut row_idx, txn);
                            emit(Op::Create, None, Some(a), &mut row_idx, txn);
                        }
                        _ => emit(op, before.as_ref(), after.as_ref(), &mut row_idx, txn),
                    }
                    Ok(())
                })
                .map_err(|e| {
                    SourceError::Halt(format!(
                        "cannot decode row of {} at {}: {e}",
                        cap.name,
                        at(&st.file, start)
                    ))
                })?;
                if let Some(p) = st.payload.as_mut() {
                    p.rows = row_idx;
                }
                STATUS.caught_up.store(false, Ordering::Relaxed);
                st.pending.append(&mut out);
                if st.pending.len() >= CHUNK_ENTRIES && st.txn.active {
                    let checkpoint = Checkpoint {
                        position: st.txn.start.clone(),
                        written_through: st.txn.last_change,
                        written_count: st.txn.emitted,
                        source_id: self.info.server_id,
                        gtid: st.maria_gtids_or(&st.checkpoint.gtid),
                    };
                    let batch = Batch {
                        entries: std::mem::take(&mut st.pending),
                        checkpoint,
                        position: Self::position_string(st, end),
                        txns: 0,
                        commit_ms: 0,
                        snapshot: None,
                    };
                    self.send(st, batch)?;
                }
            }
            _ => self.advance(st, end)?,
        }
        Ok(())
    }

    /// Fetch (and cache) information_schema columns when they are needed.
    fn info_for(
        &self,
        st: &mut State,
        db: &str,
        table: &str,
        needed: bool,
    ) -> Result<Option<Vec<InfoColumn>>, SourceError> {
        if !needed {
            return Ok(None);
        }
        let key = (db.to_string(), table.to_string());
        if let Some(v) = st.info_cache.get(&key) {
            return Ok(Some(v.clone()));
        }
        if st.info_conn.is_none() {
            st.info_conn = Some(connect(&self.url)?);
        }
        let Some(conn) = st.info_conn.as_mut() else {
            return Ok(None);
        };
        let cols = info_columns(conn, self.info.flavor, db, table)?;
        st.info_cache.insert(key, cols.clone());
        Ok(Some(cols))
    }

    fn begin(&self, st: &mut State, start: u64, ts: u32) -> Result<(), SourceError> {
        // A snapshot chunk read at this position goes into the stream before this transaction.
        self.gate.reader_begins(
            &Position::new(st.file.clone(), start),
            &st.checkpoint,
            &self.tx,
            &self.stop,
        )?;
        let skip = if st.checkpoint.position == Position::new(st.file.clone(), start) {
            st.initial_skip.take()
        } else {
            st.initial_skip = None;
            None
        };
        // Resuming by GTID, the first transaction the server sends is the one in progress.
        let skip_count = std::mem::take(&mut st.initial_skip_count);
        st.txn = Txn {
            active: true,
            start: Position::new(st.file.clone(), start),
            gtid: None,
            maria_gtid: None,
            ts_ms: ts as u64 * 1000,
            skip_through: skip,
            standalone: false,
            explicit_begin: false,
            last_change: None,
            emitted: 0,
            skip_count,
        };
        Ok(())
    }

    /// An event outside any transaction moved the position.
    fn advance(&self, st: &mut State, end: u64) -> Result<(), SourceError> {
        if !st.txn.active && end > 0 {
            st.checkpoint.position = Position::new(st.file.clone(), end);
            st.unsent = true;
            if st.last_sent.elapsed() >= POSITION_ONLY_EVERY {
                self.flush_position(st, end)?;
            }
            self.gate.reader_at_boundary(&st.checkpoint, &self.tx)?;
        }
        Ok(())
    }

    fn flush_position(&self, st: &mut State, end: u64) -> Result<(), SourceError> {
        let batch = Batch {
            entries: Vec::new(),
            checkpoint: st.checkpoint.clone(),
            position: if end > 0 {
                Self::position_string(st, end)
            } else {
                st.checkpoint.position.to_string()
            },
            txns: 0,
            commit_ms: 0,
            snapshot: None,
        };
        self.send(st, batch)
    }

    fn commit(&self, st: &mut State, end: u64) -> Result<(), SourceError> {
        let txn = std::mem::take(&mut st.txn);
        if let Some(g) = txn.maria_gtid {
            st.maria_gtids.apply(g);
        }
        if end > 0 {
            st.checkpoint.position = Position::new(st.file.clone(), end);
        }
        st.checkpoint.written_through = None;
        st.checkpoint.written_count = 0;
        st.initial_skip_count = 0;
        st.checkpoint.gtid = if st.maria_gtids.is_empty() {
            txn.gtid
                .clone()
                .unwrap_or_else(|| st.checkpoint.gtid.clone())
        } else {
            st.maria_gtids.to_string()
        };
        st.initial_skip = None;
        if st.pending.is_empty() && st.last_sent.elapsed() < POSITION_ONLY_EVERY {
            st.unsent = true;
            return self.gate.reader_at_boundary(&st.checkpoint, &self.tx);
        }
        let batch = Batch {
            entries: std::mem::take(&mut st.pending),
            checkpoint: st.checkpoint.clone(),
            position: st.checkpoint.position.to_string(),
            txns: 1,
            commit_ms: if txn.ts_ms > 0 { txn.ts_ms } else { now_ms() },
            snapshot: None,
        };
        self.send(st, batch)?;
        self.gate.reader_at_boundary(&st.checkpoint, &self.tx)
    }
}

impl State {
    fn maria_gtids_or(&self, fallback: &str) -> String {
        if self.maria_gtids.is_empty() {
            fallback.to_string()
        } else {
            self.maria_gtids.to_string()
        }
    }
}

/// Whether the last 4 bytes of the event's body are the CRC32 of the header and the rest of
/// the body: an event whose checksum was not stripped.
fn ends_with_own_crc32(ev: &Event) -> bool {
    let h = ev.header();
    let data = ev.data();
    let Some(cut) = data.len().checked_sub(4) else {
        return false;
    };
    let mut header = Vec::with_capacity(19);
    header.extend_from_slice(&h.timestamp().to_le_bytes());
    header.push(h.event_type_raw());
    header.extend_from_slice(&h.server_id().to_le_bytes());
    header.extend_from_slice(&h.event_size().to_le_bytes());
    header.extend_from_slice(&h.log_pos().to_le_bytes());
    header.extend_from_slice(&h.flags_raw().to_le_bytes());
    let crc = crc32(crc32(0, &header), &data[..cut]);
    data[cut..] == crc.to_le_bytes()
}

/// CRC-32 (IEEE, as binlog checksums use), bitwise: it only runs once per connection.
fn crc32(crc: u32, bytes: &[u8]) -> u32 {
    let mut c = !crc;
    for b in bytes {
        c ^= u32::from(*b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Whether an update changes the entry key. Without a primary key the key is the whole row
/// (SPEC §2), so every real change of such a row changes its key.
fn key_changed(schema: &TableSchema, before: &Row, after: &Row) -> bool {
    if schema.primary_key.is_empty() {
        return before != after;
    }
    schema
        .primary_key
        .iter()
        .any(|i| before.get(*i) != after.get(*i))
}

/// `FILE:OFFSET` of an event, for error messages.
fn at(file: &str, offset: u64) -> String {
    format!("{file}:{offset}")
}

#[cfg(test)]
mod tests {
    use super::crc32;

    #[test]
    fn crc32_matches_the_ieee_check_value() {
        assert_eq!(crc32(0, b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(crc32(0, b"1234"), b"56789"), 0xCBF4_3926);
        assert_eq!(crc32(0, b""), 0);
    }
}

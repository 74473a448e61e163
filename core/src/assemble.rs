//! The transaction assembler: binlog events in, transactions of stream entries and checkpoints
//! out. Pure: no network, no Redis, no clock of its own; the reader thread does the I/O around
//! it and forwards what it outputs.
//!
//! # What the position means
//!
//! MySQL writes a transaction to the binlog only when it commits, as one contiguous group:
//! `GTID` (or `BEGIN`), table maps and rows events, then `XID` (or `COMMIT`). The assembler
//! buffers a transaction's entries and outputs them as one [`Batch`] with a [`Checkpoint`]
//! naming the end of the commit event: resuming there starts exactly at the next transaction,
//! so nothing is repeated and nothing skipped. Events outside transactions (rotate, format
//! description, heartbeats, DDL) move the checkpoint forward too, so a caught-up module resumes
//! at `SHOW MASTER STATUS`.
//!
//! A transaction larger than [`CHUNK_ENTRIES`] or [`CHUNK_BYTES`] is output in chunks; the checkpoint of a chunk
//! is "the transaction starting at offset S, after its first n changes", and a restart re-reads
//! that transaction from S and skips the n changes already written (or, resuming by GTID on
//! another server where offsets differ, the first n captured changes). Memory stays bounded by
//! the chunk size, whatever the transaction's size.
//!
//! Rolled-back work never reaches the binlog (InnoDB writes a transaction only on commit); a
//! `ROLLBACK` query that does appear (mixed engines) discards what was buffered.
//!
//! docs/events.md describes the entries and the event kinds handled here.

use crate::columns::{ColumnPlan, ColumnRules};
use crate::decode::format_uuid;
use crate::decode::rows::{for_each_payload_event, for_each_row, maria_uncompressed_event};
use crate::filter::TableFilter;
use crate::format::mirror::Mirror;
use crate::format::{self, Change, Format};
use crate::model::batch::{Batch, Entry, ShapeChange, XaOp};
use crate::model::change::{ChangeSource, Op, Row};
use crate::model::name::table_name;
use crate::model::position::{Checkpoint, MariaGtid, MariaGtidState, MysqlGtidSet, Position};
use crate::schema::code::{CodeLookup, ParentChange, StatementCode, Untold};
use crate::schema::versioning::Versioned;
use crate::schema::{
    apply_ddl, created_table, dml_tables, dropped_database, emptied_tables,
    is_function_call_statement, rekeyed_table, renamed_tables, reread_tables, shape_field,
    shape_value, strip_set_statement, table_ddl, InfoColumn, Rekey, Shapes, TableDdl, TableSchema,
};
use mysql_common::binlog::events::{Event, EventData, RowsEventData};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Entries buffered before a transaction is output in chunks.
pub const CHUNK_ENTRIES: usize = 64;

/// Bytes of entries buffered before a transaction is output in chunks: large rows (BLOBs,
/// long JSON) then reach Redis a few at a time, each chunk under its own short lock hold.
pub const CHUNK_BYTES: usize = 1 << 20;

/// How often an advancing position with no entries is output (for uncaptured traffic).
pub const POSITION_ONLY_EVERY: Duration = Duration::from_millis(200);

// MariaDB's own event types (docs/events.md, "Binlog events").
const MARIA_ANNOTATE_ROWS: u8 = 0xa0;
const MARIA_BINLOG_CHECKPOINT: u8 = 0xa1;
const MARIA_GTID: u8 = 0xa2;
const MARIA_GTID_LIST: u8 = 0xa3;
const MARIA_START_ENCRYPTION: u8 = 0xa4;
const MARIA_COMPRESSED_FIRST: u8 = 0xa5;
const MARIA_COMPRESSED_LAST: u8 = 0xab;
// MySQL's HEARTBEAT_LOG_EVENT_V2 (sent only to replicas that ask for it; the client library
// does not know it).
const HEARTBEAT_V2: u8 = 0x29;
// MySQL 5.1 pre-GA rows events: rows in a format the client library does not read.
const PRE_GA_ROWS_FIRST: u8 = 0x14;
const PRE_GA_ROWS_LAST: u8 = 0x16;
// MariaDB's compressed rows events of the v2 layout, which it does not write.
const MARIA_COMPRESSED_V2_FIRST: u8 = 0xa9;
// Header flag: a replica that does not know the event may skip it.
const LOG_EVENT_IGNORABLE_F: u16 = 0x80;
// Flags of MariaDB's GTID event.
const MARIA_FL_GROUP_COMMIT_ID: u8 = 0x02;
const MARIA_FL_PREPARED_XA: u8 = 0x40;

/// Which server family the source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    MySql,
    MariaDb,
}

/// What the assembler needs to know about the capture and the source.
#[derive(Debug, Clone)]
pub struct Settings {
    pub filter: TableFilter,
    pub format: Format,
    /// `cdc.stream-prefix`: a table's stream is `<prefix><db>.<table>`.
    pub stream_prefix: String,
    /// Redis Cluster mode: a table's stream is `<prefix>{<db>.<table>}` (crate::cluster).
    pub cluster: bool,
    pub flavor: Flavor,
    /// The source logs `binlog_row_metadata=FULL` (names come with every table map).
    pub full_metadata: bool,
    /// `server_id` of the source (goes into every checkpoint).
    pub source_id: u32,
    /// `cdc.schema-changes`: the Debezium formats write each captured table's DDL as a
    /// schema-change event (docs/debezium.md).
    pub schema_changes: bool,
    /// `cdc.mirror`, `cdc.mirror-prefix`: the rows kept as hashes or JSON documents.
    pub mirror: Mirror,
    /// `cdc.streams`: false writes no stream entries (the mirror and the position only).
    pub streams: bool,
    /// `cdc.exclude-columns` / `cdc.mask-columns` / `cdc.mask-salt`.
    pub columns: ColumnRules,
}

impl Settings {
    /// The stream of `db`.`table` (`cdc.stream-prefix`, and its hash tag in cluster mode).
    pub fn stream_key(&self, db: &str, table: &str) -> String {
        crate::cluster::stream_key(&self.stream_prefix, db, table, self.cluster)
    }

    /// A change's stream entry fields: none with `cdc.streams no`.
    pub fn render(&self, change: &Change<'_>) -> format::Fields {
        if self.streams {
            format::render(self.format, change)
        } else {
            Vec::new()
        }
    }

    /// Decoding needs information_schema's shapes: names without FULL metadata, and MariaDB's
    /// JSON alias, UUID and INET types, which no table map tells.
    pub fn needs_shapes(&self) -> bool {
        !self.full_metadata || self.flavor == Flavor::MariaDb
    }
}

/// What one event made the assembler say, in order. The reader acts on each in turn.
pub enum Output {
    /// A transaction whose first event starts at `start` begins; `checkpoint` is the restart
    /// point before it (a snapshot chunk read at or before `start` goes into the stream first).
    TxnBegins {
        start: Position,
        checkpoint: Checkpoint,
    },
    /// Hand this batch to the writer.
    Batch(Batch),
    /// Between transactions at this checkpoint: everything before it has been output.
    Boundary(Checkpoint),
    /// A heartbeat outside a transaction: the source has nothing more to send.
    CaughtUp,
    /// Captured rows were decoded: the module is behind the source again.
    Behind,
    /// Something that puts a guarantee at risk without stopping the module (an excluded key
    /// column, masked instead): CDC.STATUS `warnings`, the log.
    Warning(String),
    /// Rows the binlog does not carry (a statement-logged INSERT/UPDATE/DELETE on a captured
    /// table, a table renamed to a captured name): these tables (`db.table`; None: every
    /// captured table, when the statement's tables could not be told) must be re-read so that
    /// replay equals the table again. `reason` names the statement, position and the fix.
    Resync {
        tables: Option<Vec<String>>,
        reason: String,
        cause: ResyncCause,
    },
}

/// Why the assembler asks for a re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResyncCause {
    /// DML logged as a statement: the source should log rows (a warning, counted).
    #[default]
    Statement,
    /// `RENAME TABLE` to a captured name: its rows never appeared as changes of that name.
    Rename,
    /// A rows event without every column (`binlog_row_image` MINIMAL or NOBLOB): the source
    /// should log full rows (a warning, counted).
    RowImage,
    /// A table map the known shape cannot decode (the table changed in a way the module did not
    /// follow, e.g. DDL before the first look at a table): its rows up to here are skipped and
    /// the table re-read (a warning, counted).
    Shape,
    /// DDL that removes or moves rows without rows events (partition TRUNCATE/DROP/EXCHANGE/
    /// CONVERT, IMPORT TABLESPACE): ordinary, logged, not counted.
    Ddl,
    /// An INCIDENT event: the source says its binlog lacks changes (a warning).
    Incident,
    /// An event whose rows the module cannot read (an unknown event kind, a pre-GA or MariaDB
    /// v2 compressed rows event): a warning.
    Unknown,
    /// A group with captured rows that ends in `ROLLBACK` or rolls back to a savepoint: only
    /// logged so when non-transactional tables changed too, so which rows stayed cannot be
    /// told (a warning).
    Rollback,
    /// A DELETE or UPDATE of the parent of a foreign key with an action (ON DELETE/ON UPDATE
    /// CASCADE, SET NULL, SET DEFAULT) whose child is captured: InnoDB changes the child rows
    /// without rows events (logged, counted).
    Cascade,
}

/// Looks up a table's columns (`db`, `table`) in information_schema, with the caller's error.
pub type Columns<'a, E> = dyn FnMut(&str, &str) -> Result<Vec<InfoColumn>, E> + 'a;

/// Why an event could not be assembled.
#[derive(Debug)]
pub enum AssembleError<E> {
    /// The event cannot be decoded or makes no sense here: stop, never write a wrong entry.
    Halt(String),
    /// Looking up a table's columns failed (the caller's own error).
    Lookup(E),
    /// A look-up of the source's metadata failed (the source restarting, the network): read
    /// this part of the binlog again later.
    Retry(String),
}

/// A captured (or ignored) table as known from its latest table map.
struct TableCtx {
    /// The raw TABLE_MAP body this was built from: identical maps reuse the schema.
    raw: Vec<u8>,
    /// None when the table is not captured.
    captured: Option<Captured>,
    /// `db`, `table`: a rows event of any table may be the parent side of foreign-key actions.
    name: (String, String),
    /// An uncaptured table's shape from its map, when an UPDATE of it may change captured rows
    /// through ON UPDATE actions (to tell whether the referenced columns changed).
    parent_schema: Option<TableSchema>,
}

struct Captured {
    /// The table map's schema: every column its rows carry (what decodes them).
    schema: TableSchema,
    stream: Arc<str>,
    name: Arc<str>,
    /// MariaDB's hidden hash columns of long UNIQUE indexes (schema::hash_columns): their
    /// indexes in a decoded row, and the schema without them. Entries never carry them.
    hash: Option<(Vec<usize>, TableSchema)>,
    /// A MariaDB system-versioned table: only its current rows are entries.
    versioned: Option<Versioned>,
    /// The excluded and masked columns of [`Captured::shape`] (None: every column as is).
    plan: Option<ColumnPlan>,
}

impl Captured {
    /// The shape of the table's rows (the current rows of a system-versioned table).
    fn shape(&self) -> &TableSchema {
        match (&self.versioned, &self.hash) {
            (Some(v), _) => v.shape(),
            (None, Some((_, shape))) => shape,
            (None, None) => &self.schema,
        }
    }

    /// A decoded row without the hash columns.
    fn without_hash(&self, row: Option<Row>) -> Option<Row> {
        match (&self.hash, row) {
            (Some((hidden, _)), Some(row)) => Some(
                row.into_iter()
                    .enumerate()
                    .filter(|(i, _)| !hidden.contains(i))
                    .map(|(_, c)| c)
                    .collect(),
            ),
            (_, row) => row,
        }
    }

    /// The shape of the table's entries: [`Captured::shape`] without its excluded columns.
    fn entry_shape(&self) -> &TableSchema {
        self.plan.as_ref().map_or(self.shape(), ColumnPlan::shape)
    }

    /// A row of [`Captured::shape`] as the entries carry it (masked, excluded columns gone).
    fn entry_row(&self, row: Option<Row>) -> Option<Row> {
        match &self.plan {
            Some(plan) => row.map(|r| plan.apply(r)),
            None => row,
        }
    }
}

/// The transaction being assembled.
#[derive(Default)]
struct Txn {
    active: bool,
    /// Where the transaction's first event starts (restart point for chunked transactions).
    start: Position,
    gtid: Option<String>,
    maria_gtid: Option<MariaGtid>,
    /// MySQL: the number of `gtid` (its source, `uuid[:tag]`, is `gtid` before the last ':').
    mysql_gno: Option<u64>,
    ts_ms: u64,
    /// Changes up to this (rows event offset, change index) were written before a restart.
    skip_through: Option<(u64, u32)>,
    /// A MariaDB standalone GTID (DDL): the next query ends the group.
    standalone: bool,
    /// A `BEGIN` query opened the group (MySQL DML); without it a MySQL query is DDL.
    explicit_begin: bool,
    /// The last change output: (rows event offset, change index).
    last_change: Option<(u64, u32)>,
    /// Captured changes seen in this transaction (written or skipped).
    emitted: u64,
    /// Bytes of the entries buffered since the last chunk of this transaction was output.
    pending_bytes: usize,
    /// When resuming by GTID inside a chunked transaction: captured changes to skip.
    skip_count: u64,
    /// Re-reads asked for by statement-logged DML in this transaction, output at its end.
    resync: Option<Resync>,
    /// The XID of the XA transaction being assembled (its entries are held until XA COMMIT).
    xa: Option<String>,
    /// What the batch that ends this group does with a prepared XA transaction.
    xa_op: Option<XaOp>,
    /// Chunks of this XA transaction were already handed over as held.
    xa_held: bool,
    /// Captured tables this group dropped or renamed away.
    gone: Vec<String>,
    /// Re-reads a prepared XA transaction asked for (held with its rows until XA COMMIT).
    held_rereads: Vec<String>,
    /// Captured tables this group has rows of (re-read when it rolls back).
    touched: BTreeSet<Arc<str>>,
}

/// Tables to re-read (None: every captured table) and why.
#[derive(Default)]
struct Resync {
    tables: Option<std::collections::BTreeSet<String>>,
    reasons: Vec<String>,
    cause: ResyncCause,
}

impl Resync {
    fn add(&mut self, tables: Option<Vec<String>>, reason: String) {
        match (self.tables.as_mut(), tables) {
            (Some(have), Some(more)) => have.extend(more),
            (None, Some(more)) if self.reasons.is_empty() => {
                self.tables = Some(more.into_iter().collect())
            }
            _ => self.tables = None,
        }
        self.reasons.push(reason);
    }

    /// The tables as a batch's `rereads` (`*`: every captured table).
    fn tables(&self) -> Vec<String> {
        match &self.tables {
            Some(t) => t.iter().cloned().collect(),
            None => vec!["*".to_string()],
        }
    }

    fn output(self) -> Output {
        Output::Resync {
            tables: self.tables.map(|t| t.into_iter().collect()),
            reason: self.reasons.join("; "),
            cause: self.cause,
        }
    }
}

/// Inside a TRANSACTION_PAYLOAD_EVENT or a MariaDB compressed event: its (start, end) stand for
/// the inner events' positions, and rows are numbered across it so `pos` stays unique.
#[derive(Clone, Copy)]
struct PayloadCtx {
    start: u64,
    end: u64,
    rows: u32,
}

/// Binlog events -> batches of whole transactions (or chunks) and checkpoints.
pub struct Assembler {
    settings: Settings,
    /// The binlog file being read.
    file: Arc<str>,
    /// Restart point when outside a transaction.
    checkpoint: Checkpoint,
    maria_gtids: MariaGtidState,
    /// MySQL: the GTID set written (the stored one, plus each transaction's GTID and each
    /// binlog file's PREVIOUS_GTIDS).
    mysql_gtids: MysqlGtidSet,
    txn: Txn,
    pending: Vec<Entry>,
    /// A checkpoint advanced by events with no entries, not yet output as a batch.
    unsent: bool,
    last_sent: Option<Instant>,
    /// Changes of the first transaction already written (from a chunked checkpoint).
    initial_skip: Option<(u64, u32)>,
    /// The same, as a count of captured changes, when resuming by GTID.
    initial_skip_count: u64,
    tables: HashMap<u64, TableCtx>,
    /// Set by a handler that cannot go on (returned as a halt by `push`).
    halted: Option<String>,
    /// Set by a handler whose look-up failed (returned as a retry by `push`).
    retry: Option<String>,
    /// Re-reads asked for inside prepared XA transactions, output at their XA COMMIT (kept in
    /// memory only: a restart between PREPARE and COMMIT forgets them).
    xa_resyncs: HashMap<String, Resync>,
    /// Known table shapes (information_schema columns), followed through DDL: the schema
    /// history, valid at the checkpoint it came with.
    shapes: Shapes,
    /// Captured tables whose shape changed since the last batch (written with the next one).
    shapes_dirty: BTreeSet<(String, String)>,
    /// Shapes read from information_schema at a table map: today's, which may already include
    /// DDL still ahead in the binlog (so they are read again after each DDL of their table).
    shapes_fresh: HashSet<(String, String)>,
    payload: Option<PayloadCtx>,
    /// Captured tables known to exist (at the start, from table maps, CREATE and RENAME): what
    /// a `DROP DATABASE` empties.
    known: BTreeSet<(String, String)>,
    /// The key columns of each captured table's last table map in this session: a map that
    /// keys the table by other columns (ALTER TABLE ADD/DROP PRIMARY KEY, a UNIQUE index added
    /// or dropped on a table without one) re-reads it, so that replay by key stays the table.
    keyed: HashMap<(String, String), Vec<String>>,
    /// Follows statement-logged DML to what its triggers, views and functions write.
    code: Option<StatementCode>,
    /// Redis Cluster mode: the tables this node streams and where each resumes.
    cluster: Option<crate::cluster::ClusterView>,
}

impl Assembler {
    /// An assembler resuming at `start`. `by_gtid`: the source was asked to start after the
    /// GTIDs of `start` (its file and offset do not apply). `shapes` is the schema history stored
    /// with `start` (the table shapes valid there); each batch carries its changes.
    pub fn new(settings: Settings, start: &Checkpoint, by_gtid: bool, shapes: Shapes) -> Assembler {
        Assembler {
            file: start.position.file.as_str().into(),
            checkpoint: Checkpoint {
                written_through: None,
                written_count: 0,
                source_id: settings.source_id,
                ..start.clone()
            },
            maria_gtids: start.gtid.parse().unwrap_or_default(),
            mysql_gtids: MysqlGtidSet::from_stored(&start.gtid).unwrap_or_default(),
            txn: Txn::default(),
            pending: Vec::new(),
            unsent: false,
            last_sent: None,
            initial_skip: if by_gtid { None } else { start.written_through },
            initial_skip_count: if by_gtid { start.written_count } else { 0 },
            tables: HashMap::new(),
            xa_resyncs: HashMap::new(),
            halted: None,
            retry: None,
            shapes,
            shapes_dirty: BTreeSet::new(),
            shapes_fresh: HashSet::new(),
            payload: None,
            known: BTreeSet::new(),
            keyed: HashMap::new(),
            code: None,
            cluster: None,
            settings,
        }
    }

    /// Redis Cluster mode: decode and write only the rows of the tables `view` owns, each from
    /// its own position on (crate::cluster).
    pub fn set_cluster(&mut self, view: crate::cluster::ClusterView) {
        self.cluster = Some(view);
    }

    /// Captured tables (`db.table`) that exist at the start: a `DROP DATABASE` writes a `t`
    /// entry for each of its captured tables known here or seen since.
    pub fn know_tables(&mut self, tables: impl IntoIterator<Item = String>) {
        let split = |t: String| {
            t.split_once('.')
                .map(|(d, n)| (d.to_string(), n.to_string()))
        };
        self.known.extend(tables.into_iter().filter_map(split));
    }

    /// How to look up triggers, views and stored routines, to follow statement-logged DML to
    /// the tables they write (without it, only the tables a statement names are re-read).
    pub fn set_code_lookup(&mut self, lookup: CodeLookup) {
        self.code = Some(StatementCode::new(lookup));
    }

    /// The restart point outside a transaction (the last boundary passed).
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// A shape read from information_schema at the start position (a new starting point is the
    /// source's current end, so today's shapes are the ones valid there); stored with the
    /// first batch.
    pub fn learn_shape(&mut self, db: &str, table: &str, columns: Vec<InfoColumn>) {
        let key = (db.to_string(), table.to_string());
        self.shapes.insert(key.clone(), columns);
        self.shapes_dirty.insert(key);
    }

    /// Output the restart point with what changed since the last batch (the shapes learnt at
    /// the start), outside a transaction.
    pub fn flush(&mut self, now: Instant, out: &mut Vec<Output>) {
        if !self.txn.active && !self.shapes_dirty.is_empty() {
            self.flush_position(0, now, out);
        }
    }

    /// The schema history changes since the last batch, for the batch being built.
    fn shape_changes(&mut self) -> Vec<ShapeChange> {
        std::mem::take(&mut self.shapes_dirty)
            .into_iter()
            .map(|(db, table)| ShapeChange {
                field: shape_field(&db, &table),
                value: self.shapes.get(&(db, table)).map(|c| shape_value(c)),
            })
            .collect()
    }

    /// Assemble one event read at `now`. `columns` looks up a table's columns in
    /// information_schema when the binlog does not carry what decoding needs (called once per
    /// table; the answer is then followed through DDL).
    pub fn push<E>(
        &mut self,
        ev: &Event,
        now: Instant,
        columns: &mut Columns<'_, E>,
        out: &mut Vec<Output>,
    ) -> Result<(), AssembleError<E>> {
        let header = ev.header();
        let (start, end) = match self.payload {
            Some(p) => (p.start, p.end),
            None => {
                let end = header.log_pos() as u64;
                (end.saturating_sub(header.event_size() as u64), end)
            }
        };
        let raw_type = header.event_type_raw();
        match raw_type {
            MARIA_GTID => return self.on_maria_gtid(ev, start, out),
            HEARTBEAT_V2 => {
                self.on_heartbeat(end, now, out);
                return Ok(());
            }
            PRE_GA_ROWS_FIRST..=PRE_GA_ROWS_LAST
            | MARIA_COMPRESSED_V2_FIRST..=MARIA_COMPRESSED_LAST => {
                // Rows in a layout the module does not decode (never written by MySQL 8 or
                // MariaDB 10.5+): re-read their table rather than lose or guess them.
                self.unreadable_rows(ev, start, end, now, out);
                return Ok(());
            }
            MARIA_COMPRESSED_FIRST..MARIA_COMPRESSED_V2_FIRST => {
                // log_bin_compress=ON: handle the plain event it stands for, at this position.
                let plain = maria_uncompressed_event(ev)
                    .map_err(|e| AssembleError::Halt(format!("{e} at {}", self.at(start))))?;
                let outer = self.payload;
                self.payload = Some(outer.unwrap_or(PayloadCtx {
                    start,
                    end,
                    rows: 0,
                }));
                let r = self.push(&plain, now, columns, out);
                self.payload = outer;
                return r;
            }
            MARIA_ANNOTATE_ROWS
            | MARIA_BINLOG_CHECKPOINT
            | MARIA_GTID_LIST
            | MARIA_START_ENCRYPTION => {
                self.advance(end, now, out);
                return Ok(());
            }
            _ => {}
        }
        let data = ev.read_data().map_err(|e| {
            AssembleError::Halt(format!(
                "cannot parse binlog event type {raw_type} at {}: {e}",
                self.at(start)
            ))
        })?;
        let Some(data) = data else {
            // A kind the client library does not know (docs/events.md: "unknown kinds").
            self.unknown_event(ev, start, end, now, out);
            return Ok(());
        };
        // Every kind explicitly (docs/events.md, "Binlog events": one row per arm).
        match data {
            EventData::RotateEvent(r) => self.on_rotate(ev, r.name_raw(), r.position(), end, out),
            EventData::FormatDescriptionEvent(_) => self.advance(end, now, out),
            EventData::HeartbeatEvent => self.on_heartbeat(end, now, out),
            EventData::UnknownEvent => self.unknown_event(ev, start, end, now, out),
            // No row data: the position moves (inside a transaction, nothing).
            EventData::StartEventV3(_)
            | EventData::StopEvent
            | EventData::SlaveEvent
            | EventData::IntvarEvent(_)
            | EventData::RandEvent(_)
            | EventData::UserVarEvent(_)
            | EventData::IgnorableEvent(_)
            | EventData::RowsQueryEvent(_)
            | EventData::TransactionContextEvent(_)
            | EventData::ViewChangeEvent(_)
            | EventData::BeginLoadQueryEvent(_)
            | EventData::AppendBlockEvent(_)
            | EventData::DeleteFileEvent(_) => self.advance(end, now, out),
            EventData::ExecuteLoadQueryEvent(q) => {
                // LOAD DATA logged as a statement: its file went in BEGIN_LOAD_QUERY and
                // APPEND_BLOCK events, its rows are not in the binlog. A statement like others.
                let ts = header.timestamp();
                self.query_event(&q.schema(), &q.query(), start, end, ts, now, out)?;
            }
            EventData::LoadEvent(_)
            | EventData::CreateFileEvent(_)
            | EventData::ExecLoadEvent(_)
            | EventData::NewLoadEvent(_) => {
                // MySQL 3.23-4.x LOAD DATA events: rows not in the binlog, table not told.
                let reason = format!(
                    "an old-style LOAD DATA event (type {raw_type}) at {}: its rows are not in the binlog; re-reading every captured table",
                    self.at(start)
                );
                self.resync_at_commit(None, reason, ResyncCause::Statement, out);
                self.advance(end, now, out);
            }
            EventData::PreGaWriteRowsEvent(_)
            | EventData::PreGaUpdateRowsEvent(_)
            | EventData::PreGaDeleteRowsEvent(_) => self.unreadable_rows(ev, start, end, now, out),
            EventData::IncidentEvent(i) => {
                let reason = format!(
                    "the source logged an incident at {} ({:?}: {}): its binlog may lack changes; re-reading every captured table",
                    self.at(start),
                    i.incident_type(),
                    i.message()
                );
                self.resync_at_commit(None, reason, ResyncCause::Incident, out);
                self.end_group_if_implicit(end, now, out);
            }
            EventData::PreviousGtidsEvent(p) => {
                // MySQL writes what was executed before this binlog file at its start: all of
                // it is behind the module now (it read the files before, or started after).
                for sid in p.sids() {
                    let tag = sid.tag().map(|t| format!(":{t}")).unwrap_or_default();
                    let key = format!("{}{tag}", format_uuid(&sid.uuid())).to_ascii_lowercase();
                    for i in sid.intervals() {
                        // Intervals of the event end exclusive.
                        self.mysql_gtids
                            .add_range(&key, i.start(), i.end().saturating_sub(1));
                    }
                }
                if self.maria_gtids.is_empty() && !self.mysql_gtids.is_empty() {
                    self.checkpoint.gtid = self.mysql_gtids.to_string();
                }
                self.advance(end, now, out);
            }
            EventData::GtidEvent(g) => {
                self.begin(start, header.timestamp(), out);
                let sid = g.sid();
                // MySQL 8.4 tagged GTIDs: `uuid:tag:n` (MySQL keeps tags in lower case).
                let tag = g
                    .tag()
                    .map(|t| format!(":{t}").to_ascii_lowercase())
                    .unwrap_or_default();
                self.txn.gtid = Some(format!("{}{tag}:{}", format_uuid(&sid), g.gno()));
                self.txn.mysql_gno = Some(g.gno());
                let ts = g.immediate_commit_timestamp();
                if ts > 0 {
                    self.txn.ts_ms = ts / 1000;
                }
            }
            EventData::AnonymousGtidEvent(_) => self.begin(start, header.timestamp(), out),
            EventData::QueryEvent(q) => {
                let ts = header.timestamp();
                self.query_event(&q.schema(), &q.query(), start, end, ts, now, out)?;
            }
            EventData::XidEvent(_) => self.commit(end, now, out),
            EventData::XaPrepareLogEvent(body) => {
                let xid = xa_prepare_xid(&body).or_else(|| self.txn.xa.clone());
                let Some(xid) = xid else {
                    return Err(AssembleError::Halt(format!(
                        "XA PREPARE at {} without a readable XID",
                        self.at(start)
                    )));
                };
                if self.txn.xa.as_ref().is_some_and(|x| *x != xid) {
                    return Err(AssembleError::Halt(format!(
                        "XA PREPARE at {} names XID {xid}, but its XA START named {}",
                        self.at(start),
                        self.txn.xa.as_deref().unwrap_or_default()
                    )));
                }
                if body.first().is_some_and(|one_phase| *one_phase != 0) {
                    // MySQL logs `XA COMMIT ... ONE PHASE` as a prepare event flagged one-phase:
                    // a commit.
                    self.commit_one_phase(xid, end, now, out);
                } else {
                    // XA PREPARE ends the group: its entries are held until XA COMMIT.
                    self.txn.xa_op = Some(XaOp::Hold(xid.clone()));
                    // Re-reads this transaction asks for wait for its commit (they would read
                    // the rows as before it).
                    if let Some(r) = self.txn.resync.take() {
                        // Held with the rows too, so that a restart before the commit keeps
                        // them (the writer queues them at XA COMMIT).
                        self.txn.held_rereads = r.tables();
                        self.xa_resyncs.insert(xid, r);
                    }
                    self.commit(end, now, out);
                }
            }
            EventData::TransactionPayloadEvent(p) => {
                // MySQL binlog_transaction_compression: the transaction's events (GTID
                // outside, table maps, rows, XID inside) arrive compressed in one event.
                self.payload = Some(PayloadCtx {
                    start,
                    end,
                    rows: 0,
                });
                let mut failure = None;
                let r = for_each_payload_event(ev.fde(), &p, |inner| {
                    self.push(inner, now, columns, out).map_err(|e| {
                        failure = Some(e);
                        String::new()
                    })
                });
                self.payload = None;
                if let Some(e) = failure {
                    return Err(e);
                }
                r.map_err(|e| AssembleError::Halt(format!("{e} at {}", self.at(start))))?;
            }
            EventData::TableMapEvent(tme) => {
                let id = tme.table_id();
                let raw = ev.data();
                if self.tables.get(&id).is_some_and(|t| t.raw == raw) {
                    return Ok(());
                }
                let db = tme.database_name().into_owned();
                let table = tme.table_name().into_owned();
                let wanted = self.settings.filter.matches(&db, &table);
                let name = (db.clone(), table.clone());
                let captured = if wanted {
                    let new_db = self
                        .known
                        .range((db.clone(), String::new())..)
                        .next()
                        .is_none_or(|(d, _)| *d != db);
                    if self.known.insert((db.clone(), table.clone())) && new_db {
                        // Foreign keys are looked up by the captured tables' databases.
                        if let Some(code) = self.code.as_mut() {
                            code.forget_keys();
                        }
                    }
                    self.captured(&tme, db, table, start, columns, out)?
                } else {
                    None
                };
                let parent_schema = if captured.is_none() && self.updates_reach_captured(&name) {
                    TableSchema::from_table_map(&tme, None, self.settings.flavor).ok()
                } else {
                    None
                };
                // A map no known shape fits is looked at again when it repeats (its rows are
                // skipped each time, and each time the table is re-read).
                let raw = if wanted && captured.is_none() {
                    Vec::new()
                } else {
                    raw.to_vec()
                };
                self.tables.insert(
                    id,
                    TableCtx {
                        raw,
                        captured,
                        name,
                        parent_schema,
                    },
                );
            }
            EventData::RowsEvent(rows) => {
                self.on_rows(&rows, start, end, header.server_id(), now, out)?
            }
        }
        Ok(())
    }

    fn on_heartbeat(&mut self, end: u64, now: Instant, out: &mut Vec<Output>) {
        if !self.txn.active {
            if self.unsent {
                self.flush_position(end, now, out);
            }
            // The source has nothing more; lag is 0 once the writer has written every batch
            // handed over.
            out.push(Output::CaughtUp);
        }
    }

    /// An event kind the module does not know. Flagged ignorable by the source (any replica
    /// may skip it): skipped. Otherwise it may carry changes the module cannot see: every
    /// captured table is re-read once its group ends, and the module goes on.
    fn unknown_event(
        &mut self,
        ev: &Event,
        start: u64,
        end: u64,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let h = ev.header();
        if h.flags_raw() & LOG_EVENT_IGNORABLE_F == 0 {
            let reason = format!(
                "an unknown binlog event (type {}) at {} may carry changes: re-reading every captured table",
                h.event_type_raw(),
                self.at(start)
            );
            self.resync_at_commit(None, reason, ResyncCause::Unknown, out);
        }
        self.advance(end, now, out);
    }

    /// A rows event in a layout the module does not decode: its table (found by the table id
    /// its body starts with) is re-read once the group ends; every captured table when that id
    /// has no table map.
    fn unreadable_rows(
        &mut self,
        ev: &Event,
        start: u64,
        end: u64,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let d = ev.data();
        let id = d.get(..6).map(|b| {
            let mut v = [0u8; 8];
            v[..6].copy_from_slice(b);
            u64::from_le_bytes(v)
        });
        let tables = match id.and_then(|id| self.tables.get(&id)) {
            Some(TableCtx { captured: None, .. }) => {
                self.advance(end, now, out);
                return;
            }
            Some(TableCtx {
                captured: Some(c), ..
            }) => Some(vec![c.name.to_string()]),
            None => None,
        };
        let reason =
            format!(
            "a rows event of a kind the module does not decode (type {:#x}) at {}: re-reading {}{}",
            ev.header().event_type_raw(),
            self.at(start),
            tables.as_ref().map_or("every captured table".to_string(), |t| t.join(", ")),
            if ev.header().event_type_raw() >= MARIA_COMPRESSED_V2_FIRST {
                "; SET GLOBAL log_bin_compress=OFF on the source avoids it"
            } else {
                ""
            }
        );
        self.resync_at_commit(tables, reason, ResyncCause::Unknown, out);
        self.advance(end, now, out);
    }

    /// After a statement that is a group of its own when no transaction is open, after a
    /// standalone MariaDB GTID, or on MySQL without `BEGIN`: end the group (as DDL does).
    fn end_group_if_implicit(&mut self, end: u64, now: Instant, out: &mut Vec<Output>) {
        let mysql_ddl = self.settings.flavor == Flavor::MySql && !self.txn.explicit_begin;
        if !self.txn.active || self.txn.standalone || mysql_ddl {
            self.commit(end, now, out);
        }
    }

    /// A QUERY (or EXECUTE_LOAD_QUERY) event: [`Self::on_query`], and the halt it may set.
    #[allow(clippy::too_many_arguments)]
    fn query_event<E>(
        &mut self,
        schema: &str,
        query: &str,
        start: u64,
        end: u64,
        ts: u32,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Result<(), AssembleError<E>> {
        self.on_query(schema, query, start, end, ts, now, out);
        if let Some(msg) = self.retry.take() {
            return Err(AssembleError::Retry(msg));
        }
        match self.halted.take() {
            Some(msg) => Err(AssembleError::Halt(msg)),
            None => Ok(()),
        }
    }

    fn on_maria_gtid<E>(
        &mut self,
        ev: &Event,
        start: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), AssembleError<E>> {
        let header = ev.header();
        let d = ev.data();
        if d.len() < 13 {
            return Err(AssembleError::Halt(format!(
                "truncated MariaDB GTID event at {}",
                self.at(start)
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
        self.begin(start, header.timestamp(), out);
        self.txn.gtid = Some(g.to_string());
        self.txn.maria_gtid = Some(g);
        self.txn.standalone = flags & 0x01 != 0;
        if flags & MARIA_FL_PREPARED_XA != 0 {
            // XA START: the XID follows (after a group commit id when flagged).
            let at = if flags & MARIA_FL_GROUP_COMMIT_ID != 0 {
                21
            } else {
                13
            };
            self.txn.xa = d.get(at..).and_then(|x| {
                let format_id = u32::from_le_bytes(x.get(..4)?.try_into().ok()?);
                let (g, b) = (*x.get(4)? as usize, *x.get(5)? as usize);
                Some(xid_text(
                    format_id,
                    x.get(6..6 + g)?,
                    x.get(6 + g..6 + g + b)?,
                ))
            });
        }
        Ok(())
    }

    fn on_rotate(
        &mut self,
        ev: &Event,
        name: &[u8],
        position: u64,
        end: u64,
        out: &mut Vec<Output>,
    ) {
        let mut name = name.to_vec();
        if end == 0 && ends_with_own_crc32(ev) {
            // The first, artificial rotate comes before any format description, so nothing
            // strips its checksum: the name carries the 4 CRC bytes (docs/internals.md, 10:
            // "The first ROTATE carries its checksum"). MariaDB adds them whenever the client announced checksum support
            // (the mysql crate always does), even with binlog_checksum=NONE, so the CRC itself
            // is the test.
            name.truncate(name.len().saturating_sub(4));
        }
        self.file = String::from_utf8_lossy(&name).into();
        if !self.txn.active {
            self.checkpoint.position = Position::new(self.file.to_string(), position);
            self.unsent = true;
            out.push(Output::Boundary(self.checkpoint.clone()));
        }
        // Table ids are only unique within a binlog file.
        self.tables.clear();
    }

    #[allow(clippy::too_many_arguments)]
    fn on_query(
        &mut self,
        schema: &str,
        sql: &str,
        start: u64,
        end: u64,
        ts: u32,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        // MariaDB `SET STATEMENT var=value[, ...] FOR <statement>`: the statement is what counts.
        let trimmed = strip_set_statement(sql.trim());
        if let Some(xa) = XaStatement::parse(trimmed) {
            if xa == XaStatement::Unreadable {
                // Held rows would never be released or dropped: stop rather than guess.
                self.halted = Some(format!(
                    "cannot read the XID of `{}` at {}",
                    trimmed.chars().take(120).collect::<String>(),
                    self.at(start)
                ));
                return;
            }
            self.on_xa(xa, start, end, ts, now, out);
        } else if trimmed.eq_ignore_ascii_case("BEGIN") {
            if !self.txn.active {
                self.begin(start, ts, out);
            }
            self.txn.explicit_begin = true;
        } else if trimmed.eq_ignore_ascii_case("COMMIT") {
            self.commit(end, now, out);
        } else if trimmed
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("ROLLBACK"))
        {
            // Logged only when non-transactional tables changed too (InnoDB writes nothing of a
            // rolled-back transaction), so which captured rows stayed cannot be told: drop what
            // is buffered and re-read the captured tables the group has rows of (chunks of it
            // may be written already).
            let to_savepoint = trimmed.to_ascii_uppercase().starts_with("ROLLBACK TO");
            if !self.txn.touched.is_empty() {
                let tables: Vec<String> = self.txn.touched.iter().map(|t| t.to_string()).collect();
                let reason = format!(
                    "`{}` at {} after rows of {}: re-reading them",
                    trimmed.chars().take(60).collect::<String>(),
                    self.at(start),
                    tables.join(", ")
                );
                self.resync_at_commit(Some(tables), reason, ResyncCause::Rollback, out);
            }
            if !to_savepoint {
                self.pending.clear();
                self.commit(end, now, out);
            }
        } else if ["SAVEPOINT", "RELEASE"].iter().any(|w| {
            trimmed
                .split_whitespace()
                .next()
                .is_some_and(|f| f.eq_ignore_ascii_case(w))
        }) {
            // A statement of the group, no change of its own.
        } else if let Some(tables) = dml_tables(trimmed, schema) {
            self.on_statement_dml(trimmed, schema, tables, false, start, out);
        } else if is_function_call_statement(trimmed) {
            // `SELECT f()` is logged only when f writes (DO is logged as SELECT).
            self.on_statement_dml(trimmed, schema, Vec::new(), true, start, out);
        } else {
            self.on_ddl(schema, trimmed, start, end, ts, now, out);
        }
    }

    /// DDL (or a statement we do not replicate). TRUNCATE and DROP TABLE of a captured table
    /// are `t` entries (the binlog carries no rows for them), RENAME is a `t` for the old name
    /// and a re-read of the new one; then its column changes are followed in the known shapes,
    /// at this position (schema::apply_ddl says why).
    #[allow(clippy::too_many_arguments)]
    fn on_ddl(
        &mut self,
        schema: &str,
        trimmed: &str,
        start: u64,
        end: u64,
        ts: u32,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let renamed = renamed_tables(trimmed, schema);
        let mut emptied = emptied_tables(trimmed, schema);
        emptied.extend(self.ddl_moves(schema, trimmed, start, out));
        // RENAME: the old name's rows are gone from it, and the new name's are re-read.
        emptied.extend(renamed.iter().map(|(from, _)| from.clone()));
        // Dropped or renamed away (not truncated, nor created again by CREATE OR REPLACE): the
        // table leaves CDC.TABLES.
        let truncate = trimmed
            .get(..8)
            .is_some_and(|w| w.eq_ignore_ascii_case("TRUNCATE"))
            || created_table(trimmed, schema).is_some_and(|c| c.or_replace);
        if !truncate {
            let gone = emptied
                .iter()
                .filter(|(db, t)| self.settings.filter.matches(db, t))
                .map(|(db, t)| table_name(db, t));
            self.txn.gone.extend(gone);
        }
        self.on_emptied(emptied, start, ts);
        let to: Vec<String> = renamed
            .iter()
            .filter(|(_, (db, t))| self.settings.filter.matches(db, t))
            .map(|(_, (db, t))| table_name(db, t))
            .collect();
        if !to.is_empty() {
            let reason = format!(
                "{} renamed at {}: re-reading {}",
                renamed
                    .iter()
                    .map(|((d, t), (d2, t2))| format!("{d}.{t} -> {d2}.{t2}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.at(start),
                to.join(", ")
            );
            self.resync_at_commit(Some(to), reason, ResyncCause::Rename, out);
        }
        self.follow_ddl(schema, trimmed);
        self.on_schema_change(schema, trimmed, start, ts);
        self.tables.clear();
        // MySQL logs DDL as GTID + the statement, with no BEGIN: the statement ends the
        // group (MariaDB flags such a GTID as standalone).
        let mysql_ddl = self.settings.flavor == Flavor::MySql && !self.txn.explicit_begin;
        if !self.txn.active || self.txn.standalone || mysql_ddl {
            self.commit(end, now, out);
        }
    }

    /// Follow a DDL statement in the known shapes; the captured tables whose shape it changed
    /// go to the schema history with the batch that passes it. A shape read from
    /// information_schema at a table map may already include this DDL: it is dropped instead,
    /// and read again at the table's next table map.
    fn follow_ddl(&mut self, schema: &str, sql: &str) {
        let touched = apply_ddl(&mut self.shapes, schema, sql);
        let changed: Vec<(String, String)> = touched
            .into_iter()
            .filter(|(k, before)| before.as_ref() != self.shapes.get(k))
            .map(|(k, _)| k)
            .collect();
        for key in changed {
            if self.shapes_fresh.remove(&key) {
                self.shapes.remove(&key);
            }
            if self.settings.filter.matches(&key.0, &key.1) {
                self.shapes_dirty.insert(key);
            }
        }
    }

    /// The Debezium formats' schema-change events (`cdc.schema-changes`): one per captured
    /// table the statement creates, alters, renames or drops, in the stream named after the
    /// logical name, with the table's shape as now known (docs/debezium.md).
    fn on_schema_change(&mut self, schema: &str, sql: &str, start: u64, ts: u32) {
        let Some(layout) = self.settings.format.debezium_layout() else {
            return;
        };
        if !self.settings.schema_changes {
            return;
        }
        let captured = |(db, t): &(String, String)| self.settings.filter.matches(db, t);
        let changes: Vec<TableDdl> = table_ddl(sql, schema)
            .into_iter()
            .filter(|c| captured(&c.table) || c.renamed_from.as_ref().is_some_and(captured))
            .collect();
        let stream: Arc<str> =
            format::debezium::logical_name_for_prefix(&self.settings.stream_prefix).into();
        for c in &changes {
            let (db, table) = &c.table;
            // `source.table`: the statement's tables in this database.
            let tables: Vec<&str> = changes
                .iter()
                .filter(|o| o.table.0 == *db)
                .map(|o| o.table.1.as_str())
                .collect();
            // Without the excluded columns, as the table's entries.
            // MariaDB's hidden hash columns are no columns of the table for Debezium either.
            let shape: Option<Vec<InfoColumn>> = self.shapes.get(&c.table).map(|cols| {
                let cols: Vec<InfoColumn> = cols.iter().filter(|c| !c.hash).cloned().collect();
                self.settings
                    .columns
                    .describe(db, table, &cols)
                    .into_owned()
            });
            let sc = format::debezium::SchemaChange {
                kind: c.kind,
                db,
                table,
                shape: shape.as_deref(),
                ddl: &c.ddl,
                source_tables: &tables.join(","),
                ts_ms: if self.txn.ts_ms > 0 {
                    self.txn.ts_ms
                } else {
                    ts as u64 * 1000
                },
                file: self.file.as_ref(),
                pos: start,
                server_id: self.settings.source_id,
                gtid: self.txn.gtid.as_deref(),
            };
            if !self.settings.streams {
                continue;
            }
            self.pending.push(Entry {
                stream: stream.clone(),
                table: "".into(), // not a table's entry: no CDC.TABLES counter
                fields: format::debezium::render_schema_change(&sc, layout),
                mirror: None,
            });
        }
    }

    /// What DDL does to rows besides TRUNCATE, DROP TABLE and RENAME (on_ddl): re-reads of the
    /// captured tables whose rows partition maintenance (schema::reread_tables) or a
    /// statement-logged `CREATE TABLE ... SELECT` changed without rows events; the captured
    /// tables a `DROP DATABASE` takes with it (returned: they are emptied like dropped tables);
    /// the captured tables known to exist.
    fn ddl_moves(
        &mut self,
        schema: &str,
        sql: &str,
        start: u64,
        out: &mut Vec<Output>,
    ) -> Vec<(String, String)> {
        if let Some(code) = self.code.as_mut() {
            code.forget(); // triggers, views or routines may have changed
        }
        let filter = &self.settings.filter;
        let captured = |(d, t): &(String, String)| filter.matches(d, t);
        let name = |(d, t): &(String, String)| table_name(d, t);
        let text: String = sql.chars().take(120).collect();
        let at = self.at(start);
        let reread = reread_tables(sql, schema);
        let renamed = renamed_tables(sql, schema);
        let emptied = emptied_tables(sql, schema);
        let to_read: Vec<String> = reread.iter().filter(|t| captured(t)).map(name).collect();
        // A key change: entries before it no longer match by key (`note_key` sees it at the
        // table's next map only when one came before in the session).
        let rekeyed = rekeyed_table(sql, schema).and_then(|(t, how)| {
            let has_key =
                (self.shapes.get(&t)).map(|cols| cols.iter().any(|c| c.pk_ordinal.is_some()));
            ((how == Rekey::Always || has_key != Some(true)) && !reread.contains(&t)).then_some(t)
        });
        let to_rekey = rekeyed.as_ref().filter(|t| captured(t)).map(name);
        let created = created_table(sql, schema);
        let statement_ctas = created
            .as_ref()
            .filter(|c| c.select && captured(&c.table))
            .map(|c| name(&c.table));
        // DROP DATABASE: every captured table of it known here.
        let dropped: Vec<(String, String)> = dropped_database(sql)
            .map(|d| {
                self.known
                    .iter()
                    .filter(|(db, _)| *db == d)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        // Re-read or gone anyway: a new key seen next is not a change to re-read for.
        for t in (reread
            .iter()
            .chain(&rekeyed)
            .chain(&emptied)
            .chain(&dropped))
        .chain(renamed.iter().flat_map(|(a, b)| [a, b]))
        {
            self.keyed.remove(t);
        }
        // The captured tables known to exist, for a later DROP DATABASE.
        let mut born: Vec<(String, String)> = renamed
            .into_iter()
            .map(|(from, to)| {
                self.known.remove(&from);
                to
            })
            .collect();
        born.extend(reread);
        born.extend(created.map(|c| c.table));
        for t in emptied.iter().chain(&dropped) {
            self.known.remove(t);
        }
        let born: Vec<_> = born.into_iter().filter(|t| captured(t)).collect();
        self.known.extend(born);
        if !to_read.is_empty() {
            let reason = format!(
                "`{text}` at {at} changed rows without rows events: re-reading {}",
                to_read.join(", ")
            );
            self.resync_at_commit(Some(to_read), reason, ResyncCause::Ddl, out);
        }
        if let Some(t) = to_rekey {
            let reason = format!(
                "`{text}` at {at} may change the columns that key {t}'s entries: re-reading it, so that replay by key is the table"
            );
            self.resync_at_commit(Some(vec![t]), reason, ResyncCause::Ddl, out);
        }
        if let Some(t) = statement_ctas {
            let reason = format!(
                "a CREATE TABLE ... SELECT at {at} was logged as a statement, its rows are not in the binlog: re-reading {t}; SET GLOBAL binlog_format=ROW (and in my.cnf), and ROW in the sessions that write"
            );
            self.resync_at_commit(Some(vec![t]), reason, ResyncCause::Statement, out);
        }
        // MySQL 8.0.21+ logs CREATE TABLE ... SELECT as `CREATE TABLE ... START TRANSACTION`
        // followed by the rows and an XID: one group, which this statement does not end.
        let words: Vec<&str> = sql.split_whitespace().rev().take(2).collect();
        if self.txn.active
            && words.len() == 2
            && words[0].eq_ignore_ascii_case("TRANSACTION")
            && words[1].eq_ignore_ascii_case("START")
        {
            self.txn.explicit_begin = true;
        }
        dropped
    }

    /// The XA statements of the binlog. MySQL: `XA START xid` opens the group, `XA END`, then an
    /// XA_PREPARE event ends it; `XA COMMIT xid` / `XA ROLLBACK xid` come later in a group of their
    /// own (`XA COMMIT xid ONE PHASE` ends the group that XA START opened). MariaDB puts the
    /// XA START in its GTID event and logs the rest the same way.
    fn on_xa(
        &mut self,
        xa: XaStatement,
        start: u64,
        end: u64,
        ts: u32,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        match xa {
            XaStatement::Start(xid) => {
                if !self.txn.active {
                    self.begin(start, ts, out);
                }
                self.txn.explicit_begin = true;
                self.txn.xa = xid.or(self.txn.xa.take());
            }
            XaStatement::End(xid) => {
                self.txn.xa = self.txn.xa.take().or(xid);
            }
            XaStatement::CommitOnePhase => match self.txn.xa.clone() {
                Some(xid) => self.commit_one_phase(xid, end, now, out),
                None => self.commit(end, now, out),
            },
            XaStatement::Commit(xid) => {
                if let Some(r) = self.xa_resyncs.remove(&xid) {
                    let resync = self.txn.resync.get_or_insert_with(Resync::default);
                    resync.cause = r.cause;
                    for reason in r.reasons {
                        resync.add(r.tables.clone().map(|t| t.into_iter().collect()), reason);
                    }
                }
                self.txn.xa_op = Some(XaOp::Release(xid));
                self.commit(end, now, out);
            }
            XaStatement::Unreadable => {}
            XaStatement::Rollback(xid) => {
                self.xa_resyncs.remove(&xid);
                self.pending.clear();
                self.txn.xa = None;
                self.txn.xa_op = Some(XaOp::Discard(xid));
                self.commit(end, now, out);
            }
        }
    }

    /// `XA COMMIT ... ONE PHASE`: an ordinary commit, unless chunks of the transaction were
    /// already held (a large one): then they are released with the rest.
    fn commit_one_phase(&mut self, xid: String, end: u64, now: Instant, out: &mut Vec<Output>) {
        self.txn.xa = None;
        if std::mem::take(&mut self.txn.xa_held) {
            self.txn.xa_op = Some(XaOp::Release(xid));
        }
        self.commit(end, now, out);
    }

    /// A DML statement logged as a statement (`binlog_format=STATEMENT`, or MIXED): its row
    /// changes are not in the binlog, so the captured tables it writes are re-read.
    /// `calls_only`: a `SELECT f()`, whose writes are all in the functions it calls.
    fn on_statement_dml(
        &mut self,
        sql: &str,
        schema: &str,
        tables: Vec<(String, String)>,
        calls_only: bool,
        start: u64,
        out: &mut Vec<Output>,
    ) {
        let verb = sql
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let mut fix = "SET GLOBAL binlog_format=ROW (and in my.cnf), and make the sessions that write these tables use ROW (SET SESSION binlog_format=ROW; tools such as pt-table-checksum set STATEMENT themselves)".to_string();
        if self.settings.flavor == Flavor::MariaDb {
            // Seen on 10.11 under binlog_format=ROW (schema::versioning).
            fix.push_str("; MariaDB logs DML on transaction-precise system-versioned tables (BIGINT UNSIGNED ROW START/END) as statements whatever the format: such tables are re-read at every change");
        }
        let at = self.at(start);
        // The triggers, views and stored functions the statement involves write too, and the
        // binlog has only the statement (schema::code).
        let told = !tables.is_empty() || calls_only;
        let own = tables.len();
        let on = if tables.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = tables.iter().map(|(d, t)| format!("{d}.{t}")).collect();
            format!(" on {}", names.join(", "))
        };
        let written = match (&mut self.code, told) {
            (_, false) => Err(Untold::Hidden("its tables could not be told".to_string())),
            (Some(code), true) => code.written(sql, schema, tables),
            (None, true) => Ok(tables.into_iter().collect()),
        };
        let tables = match written {
            Ok(w) if !w.is_empty() => w,
            Ok(_) => {
                // A SELECT is logged only when a function it calls writes: not found (dropped
                // since, or no lookup), so which tables cannot be told.
                BTreeSet::new()
            }
            // Read the statement again once the source answers (it may be restarting).
            Err(Untold::Lookup(e)) => {
                self.retry = Some(format!(
                    "looking up what the {verb}{on} at {at} (logged as a statement) runs: {e}"
                ));
                return;
            }
            Err(Untold::Hidden(why)) => {
                self.resync_at_commit(
                    None,
                    format!(
                        "a {verb}{on} at {at} was logged as a statement and {why}: re-reading every captured table; {fix}"
                    ),
                    ResyncCause::Statement,
                    out,
                );
                return;
            }
        };
        if tables.is_empty() {
            self.resync_at_commit(
                None,
                format!(
                    "a {verb} at {at} was logged as a statement and the stored function it calls could not be found: re-reading every captured table; {fix}"
                ),
                ResyncCause::Statement,
                out,
            );
            return;
        }
        let through = if tables.len() > own {
            " (with its triggers, views and stored functions)"
        } else {
            ""
        };
        let captured: Vec<String> = tables
            .iter()
            .filter(|(db, t)| self.settings.filter.matches(db, t))
            .map(|(db, t)| table_name(db, t))
            .collect();
        if captured.is_empty() {
            return;
        }
        let reason = format!(
            "a {verb} on {}{through} at {at} was logged as a statement, not as rows: re-reading the table; {fix}",
            captured.join(", ")
        );
        self.resync_at_commit(Some(captured), reason, ResyncCause::Statement, out);
    }

    /// A re-read once the transaction is over (one for all its statements), or now outside one.
    fn resync_at_commit(
        &mut self,
        tables: Option<Vec<String>>,
        reason: String,
        cause: ResyncCause,
        out: &mut Vec<Output>,
    ) {
        let new = || Resync {
            cause,
            ..Resync::default()
        };
        if self.txn.active {
            self.txn.resync.get_or_insert_with(new).add(tables, reason);
        } else {
            let mut r = new();
            r.add(tables, reason);
            out.push(r.output());
        }
    }

    /// `t` entries for the captured tables `sql` empties (flat format; Debezium's connectors
    /// skip truncates by default, so the Debezium formats write none).
    fn on_emptied(&mut self, emptied: Vec<(String, String)>, start: u64, ts: u32) {
        // The Debezium formats write no `t` entry, but the mirror still loses the table's keys.
        let flat = self.settings.format == Format::Flat;
        if !flat && !self.settings.mirror.is_on() {
            return;
        }
        let mut row = 0;
        for (db, table) in emptied {
            if !self.settings.filter.matches(&db, &table) {
                continue;
            }
            // Cluster mode: a table whose own position is past this statement has it already.
            if (self.cluster.as_ref())
                .and_then(|c| c.written_through(&table_name(&db, &table)))
                .is_some_and(|w| w.statement_written(&self.file, start, row))
            {
                continue;
            }
            let shape = TableSchema::names_only(&db, &table);
            let change = Change {
                op: Op::Truncate,
                table: &shape,
                before: None,
                after: None,
                ts_ms: if self.txn.ts_ms > 0 {
                    self.txn.ts_ms
                } else {
                    ts as u64 * 1000
                },
                source: ChangeSource::Binlog {
                    file: self.file.clone(),
                    offset: start,
                    row,
                    event_row: 0,
                    server_id: self.settings.source_id,
                },
                gtid: self.txn.gtid.as_deref(),
                key_peer: None,
            };
            row += 1;
            self.pending.push(Entry {
                stream: self.settings.stream_key(&db, &table).into(),
                table: table_name(&db, &table).into(),
                fields: if flat {
                    self.settings.render(&change)
                } else {
                    Vec::new()
                },
                mirror: self.settings.mirror.write(&change),
            });
        }
    }

    /// The schema of a captured table from its table map (and information_schema where the
    /// map lacks what decoding needs).
    /// None: no shape known can decode it (its rows are skipped and the table re-read).
    fn captured<E>(
        &mut self,
        tme: &mysql_common::binlog::events::TableMapEvent<'_>,
        db: String,
        table: String,
        start: u64,
        columns: &mut Columns<'_, E>,
        out: &mut Vec<Output>,
    ) -> Result<Option<Captured>, AssembleError<E>> {
        let info = if self.settings.needs_shapes() {
            match self.known_shape(tme, &db, &table, start, columns, out)? {
                Some(info) => Some(info),
                // Not decodable with any shape known: its rows are skipped, the table re-read.
                None => return Ok(None),
            }
        } else {
            None
        };
        let schema = TableSchema::from_table_map(tme, info.as_deref(), self.settings.flavor)
            .map_err(|e| {
                AssembleError::Halt(format!(
                    "table map of {db}.{table} at {}: {e}",
                    self.at(start)
                ))
            })?;
        if !schema.named {
            return Err(AssembleError::Halt(format!(
                "no column names for {db}.{table} at {}: set binlog_row_metadata=FULL on the source or grant SELECT on the table",
                self.at(start)
            )));
        }
        let maria = self.settings.flavor == Flavor::MariaDb;
        let hash = maria
            .then(|| schema.without_hash_columns(info.as_deref()))
            .flatten();
        // System versioning is told on the columns without the hash ones (which come last).
        let versioned = maria
            .then(|| {
                let info: Option<Vec<InfoColumn>> = info
                    .as_deref()
                    .map(|i| i.iter().filter(|c| !c.hash).cloned().collect());
                let rows = hash.as_ref().map_or(&schema, |(_, s)| s);
                Versioned::of(rows, info.as_deref())
            })
            .flatten();
        let mut cap = Captured {
            stream: self.settings.stream_key(&db, &table).into(),
            name: table_name(&db, &table).into(),
            schema,
            hash,
            versioned,
            plan: None,
        };
        self.note_key(&cap, start, out);
        // Once per table map (identical maps reuse it), never per row.
        cap.plan = self
            .settings
            .columns
            .plan(cap.shape(), self.settings.format);
        if let Some(w) = cap.plan.as_ref().and_then(ColumnPlan::warning) {
            out.push(Output::Warning(w));
        }
        Ok(Some(cap))
    }

    /// Note the key columns of a captured table's map; when they differ from its previous
    /// map's in this session, the entries' `key` changed with them: entries written before
    /// no longer match by key, so the table is re-read (with markers) once the transaction
    /// ends, and replay by key is the table again.
    fn note_key(&mut self, cap: &Captured, start: u64, out: &mut Vec<Output>) {
        let shape = cap.shape();
        let names: Vec<String> = shape
            .primary_key
            .iter()
            .filter_map(|i| shape.columns.get(*i).map(|c| c.name.clone()))
            .collect();
        let key = (shape.db.clone(), shape.table.clone());
        match self.keyed.insert(key, names.clone()) {
            Some(before) if before != names => {
                let cols = |k: &[String]| {
                    if k.is_empty() {
                        "all columns".to_string()
                    } else {
                        k.join(", ")
                    }
                };
                let reason = format!(
                    "{} is keyed by {} since {} (it was by {}): re-reading it, so that replay by key is the table",
                    cap.name,
                    cols(&names),
                    self.at(start),
                    cols(&before)
                );
                self.resync_at_commit(
                    Some(vec![cap.name.to_string()]),
                    reason,
                    ResyncCause::Ddl,
                    out,
                );
            }
            _ => {}
        }
    }

    /// The shape to decode a table map of `db.table` with: the schema history's, or
    /// information_schema's for a table never seen. A history shape that cannot decode it is
    /// replaced by information_schema's (the module did not follow some change). When the map
    /// does not fit, the table changed in a way the binlog does not tell here (DDL run before
    /// the module first looked at the table, or one it could not follow): this map's rows are
    /// skipped and the table is re-read once the transaction ends (with markers, so replay
    /// equals the table again), with a warning, counted. Returns None then.
    fn known_shape<E>(
        &mut self,
        tme: &mysql_common::binlog::events::TableMapEvent<'_>,
        db: &str,
        table: &str,
        start: u64,
        columns: &mut Columns<'_, E>,
        out: &mut Vec<Output>,
    ) -> Result<Option<Vec<InfoColumn>>, AssembleError<E>> {
        let key = (db.to_string(), table.to_string());
        let info = match self.shapes.get(&key) {
            Some(v) => v.clone(),
            None => self.look_up(&key, columns)?,
        };
        let Err(e) = TableSchema::fits(tme, &info) else {
            // The binlog's names fit any shape. They also tell MariaDB's hidden hash columns
            // (a long UNIQUE index added or dropped, which the DDL follower does not see): the
            // shape takes them, so that it lines up with the map again.
            if let Some(fixed) = TableSchema::hash_columns_by_names(tme, &info) {
                self.shapes.insert(key.clone(), fixed.clone());
                if self.settings.filter.matches(db, table) {
                    self.shapes_dirty.insert(key);
                }
                return Ok(Some(fixed));
            }
            return Ok(Some(info));
        };
        if !self.shapes_fresh.contains(&key) {
            // Later maps are checked against today's shape.
            self.look_up(&key, columns)?;
        }
        let name = table_name(db, table);
        let reason = format!(
            "the table map of {name} at {} does not fit its known shape ({e}): the table changed in a way the module could not follow (DDL before the module first read the table, or one it does not parse); skipping its rows there and re-reading the table; keep binlog_row_metadata=FULL on the source",
            self.at(start)
        );
        self.resync_at_commit(Some(vec![name]), reason, ResyncCause::Shape, out);
        Ok(None)
    }

    /// Read `key`'s shape from information_schema into the known shapes (and the history).
    fn look_up<E>(
        &mut self,
        key: &(String, String),
        columns: &mut Columns<'_, E>,
    ) -> Result<Vec<InfoColumn>, AssembleError<E>> {
        let cols = columns(&key.0, &key.1).map_err(AssembleError::Lookup)?;
        self.shapes.insert(key.clone(), cols.clone());
        self.shapes_fresh.insert(key.clone());
        self.shapes_dirty.insert(key.clone());
        Ok(cols)
    }

    fn on_rows<E>(
        &mut self,
        rows: &RowsEventData<'_>,
        start: u64,
        end: u64,
        server_id: u32,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Result<(), AssembleError<E>> {
        let id = rows.table_id();
        if !self.tables.contains_key(&id) {
            return Err(AssembleError::Halt(format!(
                "rows event for unknown table id {id} at {}",
                self.at(start)
            )));
        }
        self.foreign_key_actions(id, rows, start, out)?;
        let Some(tctx) = self.tables.get(&id) else {
            return Ok(());
        };
        let Some(cap) = &tctx.captured else {
            return Ok(());
        };
        // Cluster mode: another node streams this table; its rows are not decoded here (a
        // compressed payload's row count runs across its events, so those are decoded).
        let cluster = self.cluster.as_ref();
        if self.payload.is_none() && cluster.is_some_and(|c| !c.owns(&cap.name)) {
            return Ok(());
        }
        let table_skip = cluster.and_then(|c| c.written_through(&cap.name));
        if !self.txn.touched.contains(&cap.name) {
            self.txn.touched.insert(cap.name.clone());
        }
        let n = rows.num_columns() as usize;
        let full = |image: Option<usize>| image.is_none_or(|present| present == n);
        if !full(rows.columns_before_image().map(|c| c.count_ones()))
            || !full(rows.columns_after_image().map(|c| c.count_ones()))
        {
            // binlog_row_image=MINIMAL or NOBLOB in the writing session: the rows lack columns,
            // so no entry can hold the whole row. Re-read the table instead.
            let table = cap.name.to_string();
            let reason = format!(
                "a rows event of {table} at {} lacks columns (binlog_row_image=MINIMAL or NOBLOB in the session that wrote it): re-reading the table; SET GLOBAL binlog_row_image=FULL (and in my.cnf), and FULL in the sessions that write",
                self.at(start)
            );
            self.resync_at_commit(Some(vec![table]), reason, ResyncCause::RowImage, out);
            return Ok(());
        }
        let op = match rows {
            RowsEventData::WriteRowsEventV1(_) | RowsEventData::WriteRowsEvent(_) => Op::Create,
            RowsEventData::DeleteRowsEventV1(_) | RowsEventData::DeleteRowsEvent(_) => Op::Delete,
            _ => Op::Update,
        };
        let mut row_idx = self.payload.map_or(0, |p| p.rows);
        let in_payload = self.payload.is_some();
        let txn = &mut self.txn;
        let file = &self.file;
        let fmt = self.settings.format;
        let (mirror, streams) = (&self.settings.mirror, self.settings.streams);
        let pending = &mut self.pending;
        // `width`: change indexes the entry takes (2 for a keyless UPDATE that the Debezium
        // formats write as one `u` where `flat` writes a `d` and a `c`: checkpoints then count
        // the same in every format).
        let mut emit = |op: Op,
                        before: Option<&Row>,
                        after: Option<&Row>,
                        key_peer: Option<&Row>,
                        event_row: u32,
                        width: u32,
                        row_idx: &mut u32| {
            let idx = *row_idx;
            let last = idx + width - 1;
            *row_idx += width;
            txn.emitted += width as u64;
            if txn.skip_through.is_some_and(|s| (start, last) <= s)
                || txn.emitted <= txn.skip_count
                || table_skip.is_some_and(|w| {
                    w.written(&crate::cluster::ChangeAt {
                        txn: &txn.start,
                        file,
                        offset: start,
                        row: idx,
                        last,
                        event_row,
                        delete: op == Op::Delete,
                        payload: in_payload,
                    })
                })
            {
                return;
            }
            txn.last_change = Some((start, last));
            let change = Change {
                op,
                table: cap.entry_shape(),
                before,
                after,
                ts_ms: txn.ts_ms,
                source: ChangeSource::Binlog {
                    file: file.clone(),
                    offset: start,
                    row: idx,
                    event_row,
                    server_id,
                },
                gtid: txn.gtid.as_deref(),
                key_peer,
            };
            let entry = Entry {
                stream: cap.stream.clone(),
                table: cap.name.clone(),
                fields: if streams {
                    format::render(fmt, &change)
                } else {
                    Vec::new()
                },
                mirror: mirror.write(&change),
            };
            txn.pending_bytes += entry.bytes();
            pending.push(entry);
        };
        let mut event_row = 0u32;
        for_each_row(rows, &cap.schema, |(before, after)| {
            let er = event_row;
            event_row += 1;
            let (before, after) = (cap.without_hash(before), cap.without_hash(after));
            // A system-versioned table: history rows are no entries (schema::versioning).
            let (op, before, after) = match &cap.versioned {
                Some(v) => match v.current(op, before, after) {
                    Some(change) => change,
                    None => return Ok(()),
                },
                None => (op, before, after),
            };
            // Told on the whole rows, so that every format and column rule counts the same.
            let key_change = match (op, &before, &after) {
                (Op::Update, Some(b), Some(a)) => key_changed(cap.shape(), b, a),
                _ => false,
            };
            // From here on the rows are the entries' (cdc.exclude-columns, cdc.mask-columns).
            let (before, after) = (cap.entry_row(before), cap.entry_row(after));
            match (op, &before, &after) {
                (Op::Update, Some(b), Some(a))
                    if fmt != Format::Flat && cap.shape().primary_key.is_empty() =>
                {
                    // Debezium: a table without a key has a null key, so no key change: one
                    // `u` for any UPDATE (taking the indexes of the `d` and `c` of `flat`).
                    let width = if key_change { 2 } else { 1 };
                    emit(Op::Update, Some(b), Some(a), None, er, width, &mut row_idx);
                }
                (Op::Update, Some(b), Some(a)) if key_change => {
                    // A key change (primary key, or any column of a table without one) is a
                    // delete of the old key and a create of the new one, so that replaying by
                    // key rebuilds the table.
                    emit(Op::Delete, Some(b), None, Some(a), er, 1, &mut row_idx);
                    emit(Op::Create, None, Some(a), Some(b), er, 1, &mut row_idx);
                }
                _ => emit(
                    op,
                    before.as_ref(),
                    after.as_ref(),
                    None,
                    er,
                    1,
                    &mut row_idx,
                ),
            }
            Ok(())
        })
        .map_err(|e| {
            AssembleError::Halt(format!(
                "cannot decode row of {} at {}: {e}",
                cap.name,
                at(file, start)
            ))
        })?;
        if let Some(p) = self.payload.as_mut() {
            p.rows = row_idx;
        }
        out.push(Output::Behind);
        if (self.pending.len() >= CHUNK_ENTRIES || self.txn.pending_bytes >= CHUNK_BYTES)
            && self.txn.active
        {
            self.txn.pending_bytes = 0;
            let checkpoint = Checkpoint {
                position: self.txn.start.clone(),
                written_through: self.txn.last_change,
                written_count: self.txn.emitted,
                source_id: self.settings.source_id,
                gtid: self.maria_gtids_or(&self.checkpoint.gtid),
            };
            let batch = Batch {
                entries: std::mem::take(&mut self.pending),
                checkpoint,
                position: at(&self.file, end),
                txns: 0,
                commit_ms: 0,
                snapshot: None,
                // A large XA transaction's chunks are held like its last part.
                xa: self.txn.xa.clone().map(XaOp::Hold),
                gone: Vec::new(),
                shapes: self.shape_changes(),
                rereads: Vec::new(),
                rereads_queued: Vec::new(),
            };
            self.txn.xa_held |= batch.xa.is_some();
            self.send(batch, now, out);
        }
        Ok(())
    }

    /// Whether an UPDATE of `db.table` may change captured rows through ON UPDATE actions.
    fn updates_reach_captured(&mut self, (db, table): &(String, String)) -> bool {
        let Some(code) = self.code.as_mut() else {
            return false;
        };
        let filter = &self.settings.filter;
        let captured = |d: &str, t: &str| filter.matches(d, t);
        // A failed lookup: the rows event asks again (and re-reads conservatively).
        code.update_columns(db, table, &self.known, &captured)
            .map_or(true, |c| !c.is_empty())
    }

    /// Foreign-key actions: a DELETE or UPDATE of a parent row makes InnoDB delete, update or
    /// null the child rows without rows events of their own. When the child (transitively) is
    /// captured, it is re-read once the transaction ends (docs/events.md, "Foreign-key
    /// actions"). The keys are looked up once per DDL epoch (schema::code), so a table that is
    /// nobody's parent costs a map lookup per rows event.
    fn foreign_key_actions<E>(
        &mut self,
        id: u64,
        rows: &RowsEventData<'_>,
        start: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), AssembleError<E>> {
        let deleting = matches!(
            rows,
            RowsEventData::DeleteRowsEventV1(_) | RowsEventData::DeleteRowsEvent(_)
        );
        let inserting = matches!(
            rows,
            RowsEventData::WriteRowsEventV1(_) | RowsEventData::WriteRowsEvent(_)
        );
        if inserting {
            return Ok(());
        }
        let (Some(code), Some(t)) = (self.code.as_mut(), self.tables.get(&id)) else {
            return Ok(());
        };
        let (db, table) = (&t.name.0, &t.name.1);
        let filter = &self.settings.filter;
        let captured = |d: &str, t: &str| filter.matches(d, t);
        let known = &self.known;
        let reached = if deleting {
            code.cascades(db, table, ParentChange::Delete, known, &captured)
        } else {
            match code.update_columns(db, table, known, &captured) {
                Ok(watched) if watched.is_empty() => return Ok(()),
                Ok(watched) => {
                    let schema = t
                        .captured
                        .as_ref()
                        .map(|c| &c.schema)
                        .or(t.parent_schema.as_ref());
                    let changed = schema.and_then(|s| changed_columns(rows, s, &watched));
                    if changed.as_ref().is_some_and(|c| c.is_empty()) {
                        return Ok(());
                    }
                    code.cascades(
                        db,
                        table,
                        ParentChange::Update(changed.as_ref()),
                        known,
                        &captured,
                    )
                }
                Err(e) => Err(e),
            }
        };
        let verb = if deleting { "DELETE" } else { "UPDATE" };
        let at = at(&self.file, start);
        let (tables, reason) = match reached {
            Ok(r) if r.is_empty() => return Ok(()),
            Ok(r) => {
                let names: Vec<String> = r.iter().map(|(d, t)| table_name(d, t)).collect();
                let reason = format!(
                    "a {verb} of {db}.{table} at {at} changes rows of {} through foreign-key actions (ON {verb} CASCADE, SET NULL or SET DEFAULT), which the binlog does not carry: re-reading them once the transaction ends",
                    names.join(", ")
                );
                (Some(names), reason)
            }
            // Read this transaction again once the source answers (it may be restarting).
            Err(e) => {
                return Err(AssembleError::Retry(format!(
                    "looking up the foreign keys of {db}.{table} for its {verb} at {at}: {e}"
                )))
            }
        };
        self.resync_at_commit(tables, reason, ResyncCause::Cascade, out);
        Ok(())
    }

    fn send(&mut self, batch: Batch, now: Instant, out: &mut Vec<Output>) {
        self.last_sent = Some(now);
        self.unsent = false;
        out.push(Output::Batch(batch));
    }

    fn sent_recently(&self, now: Instant) -> bool {
        self.last_sent
            .is_some_and(|t| now.saturating_duration_since(t) < POSITION_ONLY_EVERY)
    }

    fn begin(&mut self, start: u64, ts: u32, out: &mut Vec<Output>) {
        let start = Position::new(self.file.to_string(), start);
        // A snapshot chunk read at this position goes into the stream before this transaction.
        out.push(Output::TxnBegins {
            start: start.clone(),
            checkpoint: self.checkpoint.clone(),
        });
        let skip = if self.checkpoint.position == start {
            self.initial_skip.take()
        } else {
            self.initial_skip = None;
            None
        };
        // Resuming by GTID, the first transaction the server sends is the one in progress.
        let skip_count = std::mem::take(&mut self.initial_skip_count);
        self.txn = Txn {
            active: true,
            start,
            ts_ms: ts as u64 * 1000,
            skip_through: skip,
            skip_count,
            ..Txn::default()
        };
    }

    /// An event outside any transaction moved the position.
    fn advance(&mut self, end: u64, now: Instant, out: &mut Vec<Output>) {
        if !self.txn.active && end > 0 {
            self.checkpoint.position = Position::new(self.file.to_string(), end);
            self.unsent = true;
            if !self.sent_recently(now) {
                self.flush_position(end, now, out);
            }
            out.push(Output::Boundary(self.checkpoint.clone()));
        }
    }

    fn flush_position(&mut self, end: u64, now: Instant, out: &mut Vec<Output>) {
        let batch = Batch {
            entries: Vec::new(),
            checkpoint: self.checkpoint.clone(),
            position: if end > 0 {
                at(&self.file, end)
            } else {
                self.checkpoint.position.to_string()
            },
            txns: 0,
            commit_ms: 0,
            snapshot: None,
            xa: None,
            gone: Vec::new(),
            shapes: self.shape_changes(),
            rereads: Vec::new(),
            rereads_queued: Vec::new(),
        };
        self.send(batch, now, out);
    }

    fn commit(&mut self, end: u64, now: Instant, out: &mut Vec<Output>) {
        let txn = std::mem::take(&mut self.txn);
        if let Some(g) = txn.maria_gtid {
            self.maria_gtids.apply(g);
        }
        if end > 0 {
            self.checkpoint.position = Position::new(self.file.to_string(), end);
        }
        self.checkpoint.written_through = None;
        self.checkpoint.written_count = 0;
        self.initial_skip_count = 0;
        if let (Some(gno), Some(sid)) = (
            txn.mysql_gno,
            txn.gtid.as_deref().and_then(|g| g.rsplit_once(':')),
        ) {
            self.mysql_gtids.add(sid.0, gno);
        }
        if !self.maria_gtids.is_empty() {
            self.checkpoint.gtid = self.maria_gtids.to_string();
        } else if !self.mysql_gtids.is_empty() {
            // Written into the string the checkpoint has, keeping its allocation.
            self.checkpoint.gtid.clear();
            self.mysql_gtids.write_to(&mut self.checkpoint.gtid);
        } else if let Some(g) = txn.gtid {
            self.checkpoint.gtid = g;
        }
        self.initial_skip = None;
        let resync = txn.resync;
        if self.pending.is_empty()
            && self.sent_recently(now)
            && txn.xa_op.is_none()
            && txn.gone.is_empty()
            && self.shapes_dirty.is_empty()
            && resync.is_none()
        {
            self.unsent = true;
            out.push(Output::Boundary(self.checkpoint.clone()));
            out.extend(resync.map(Resync::output));
            return;
        }
        // A prepared XA transaction is not committed yet: no transaction, no commit time.
        let prepared = matches!(txn.xa_op, Some(XaOp::Hold(_)));
        let batch = Batch {
            entries: std::mem::take(&mut self.pending),
            checkpoint: self.checkpoint.clone(),
            position: self.checkpoint.position.to_string(),
            txns: u64::from(!prepared),
            // 0 = unknown: the reader takes its own clock.
            commit_ms: if prepared { 0 } else { txn.ts_ms },
            snapshot: None,
            xa: txn.xa_op,
            gone: txn.gone,
            shapes: self.shape_changes(),
            rereads: match &resync {
                Some(r) => r.tables(),
                None => txn.held_rereads,
            },
            rereads_queued: Vec::new(),
        };
        self.send(batch, now, out);
        out.push(Output::Boundary(self.checkpoint.clone()));
        out.extend(resync.map(Resync::output));
    }

    fn maria_gtids_or(&self, fallback: &str) -> String {
        if self.maria_gtids.is_empty() {
            fallback.to_string()
        } else {
            self.maria_gtids.to_string()
        }
    }

    fn at(&self, offset: u64) -> String {
        at(&self.file, offset)
    }
}

/// An XA statement of the binlog, with its XID in the canonical form of [`xid_text`].
#[derive(Debug, PartialEq, Eq)]
enum XaStatement {
    Start(Option<String>),
    End(Option<String>),
    Commit(String),
    CommitOnePhase,
    Rollback(String),
    /// An XA COMMIT or ROLLBACK whose XID does not parse.
    Unreadable,
}

impl XaStatement {
    fn parse(sql: &str) -> Option<XaStatement> {
        let mut words = sql.splitn(3, char::is_whitespace);
        if !words.next()?.eq_ignore_ascii_case("XA") {
            return None;
        }
        let verb = words.next()?.to_ascii_uppercase();
        let rest = words.next().unwrap_or("").trim();
        Some(match verb.as_str() {
            "START" | "BEGIN" => XaStatement::Start(parse_xid(rest)),
            "END" => XaStatement::End(parse_xid(rest)),
            "COMMIT" if rest.to_ascii_uppercase().ends_with("ONE PHASE") => {
                XaStatement::CommitOnePhase
            }
            "COMMIT" => parse_xid(rest).map_or(XaStatement::Unreadable, XaStatement::Commit),
            "ROLLBACK" => parse_xid(rest).map_or(XaStatement::Unreadable, XaStatement::Rollback),
            _ => return None,
        })
    }
}

/// An XID as `<gtrid hex>,<bqual hex>,<formatID>`, the same whether it was read from a
/// statement (`X'7831',X'',1` or `'x1'`) or from an event's binary XID.
fn xid_text(format_id: u32, gtrid: &[u8], bqual: &[u8]) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!("{},{},{format_id}", hex(gtrid), hex(bqual))
}

/// The XID at the start of `text` (`X'hex'` or `'string'` parts, comma-separated: gtrid, then
/// optionally bqual and formatID).
fn parse_xid(text: &str) -> Option<String> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut format_id = 1u32;
    let mut rest = text.trim_start();
    for i in 0..3 {
        if i == 2 {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            // MySQL takes a 64-bit formatID in statements but stores 32 bits in events.
            format_id = digits.parse::<u64>().ok()? as u32;
            break;
        }
        let (bytes, after) = if let Some(r) = rest.strip_prefix(['X', 'x']) {
            let r = r.strip_prefix('\'')?;
            let (h, after) = r.split_once('\'')?;
            if h.len() % 2 != 0 {
                return None;
            }
            let bytes = (0..h.len())
                .step_by(2)
                .map(|k| u8::from_str_radix(h.get(k..k + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            (bytes, after)
        } else {
            let r = rest.strip_prefix('\'')?;
            let (s, after) = r.split_once('\'')?;
            (s.as_bytes().to_vec(), after)
        };
        parts.push(bytes);
        match after.trim_start().strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None => break,
        }
    }
    let gtrid = parts.first()?;
    let bqual = parts.get(1).map(Vec::as_slice).unwrap_or(&[]);
    Some(xid_text(format_id, gtrid, bqual))
}

/// The XID of an XA_PREPARE_LOG_EVENT body: one_phase (1), formatID (4), gtrid length (4),
/// bqual length (4), then gtrid and bqual.
fn xa_prepare_xid(body: &[u8]) -> Option<String> {
    let num = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?))
    };
    let (format_id, g, b) = (num(1)?, num(5)? as usize, num(9)? as usize);
    let data = body.get(13..)?;
    Some(xid_text(format_id, data.get(..g)?, data.get(g..g + b)?))
}

/// Whether the last 4 bytes of the event's body are the CRC32 of the header and the rest of
/// the body: an event whose checksum was not stripped.
fn ends_with_own_crc32(ev: &Event) -> bool {
    let h = ev.header();
    let data = ev.data();
    let Some(cut) = data.len().checked_sub(4) else {
        return false;
    };
    let mut crc = crc32fast::Hasher::new();
    crc.update(&h.timestamp().to_le_bytes());
    crc.update(&[h.event_type_raw()]);
    crc.update(&h.server_id().to_le_bytes());
    crc.update(&h.event_size().to_le_bytes());
    crc.update(&h.log_pos().to_le_bytes());
    crc.update(&h.flags_raw().to_le_bytes());
    crc.update(&data[..cut]);
    data[cut..] == crc.finalize().to_le_bytes()
}

/// Whether an update changes the entry key. Without a primary key the key is the whole row
/// (docs/events.md), so every real change of such a row changes its key.
fn key_changed(schema: &TableSchema, before: &Row, after: &Row) -> bool {
    if schema.primary_key.is_empty() {
        return before != after;
    }
    schema
        .primary_key
        .iter()
        .any(|i| before.get(*i) != after.get(*i))
}

/// Which of the `watched` columns an UPDATE rows event changes in some row. None: cannot be
/// told (no column names, columns missing from the images, rows that do not decode).
fn changed_columns(
    rows: &RowsEventData<'_>,
    schema: &TableSchema,
    watched: &BTreeSet<String>,
) -> Option<BTreeSet<String>> {
    if !schema.named {
        return None;
    }
    let indexes: Vec<(usize, &str)> = schema
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| watched.contains(&c.name))
        .map(|(i, c)| (i, c.name.as_str()))
        .collect();
    let n = rows.num_columns() as usize;
    let full = |image: Option<usize>| image.is_none_or(|present| present == n);
    if !full(rows.columns_before_image().map(|c| c.count_ones()))
        || !full(rows.columns_after_image().map(|c| c.count_ones()))
    {
        // binlog_row_image=MINIMAL/NOBLOB: a column the after image lacks was not assigned.
        let after = rows.columns_after_image()?;
        let assigned = indexes
            .iter()
            .any(|(i, _)| after.get(*i).is_some_and(|b| *b));
        return if assigned {
            None
        } else {
            Some(BTreeSet::new())
        };
    }
    let mut changed = BTreeSet::new();
    for_each_row(rows, schema, |(before, after)| {
        if let (Some(b), Some(a)) = (&before, &after) {
            for (i, name) in &indexes {
                if b.get(*i) != a.get(*i) {
                    changed.insert(name.to_string());
                }
            }
        }
        Ok(())
    })
    .ok()?;
    Some(changed)
}

/// `FILE:OFFSET` of an event, for positions and error messages.
fn at(file: &str, offset: u64) -> String {
    format!("{file}:{offset}")
}

#[cfg(test)]
mod tests {
    //! Synthetic binlogs: each test writes the events a source would send (as bytes, the way
    //! they arrive) and checks what the assembler outputs.
    use super::*;
    use crate::schema::parse_shape;
    use mysql_common::binlog::consts::BinlogVersion;
    use mysql_common::binlog::events::{FormatDescriptionEvent, QueryEvent, RotateEvent, XidEvent};
    use mysql_common::proto::MySerialize;

    const TABLE_ID: u64 = 42;

    /// A binlog being written: events with their positions, one file.
    struct Binlog {
        fde: FormatDescriptionEvent<'static>,
        pos: u32,
        events: Vec<Event>,
    }

    /// The start of a TABLE_MAP body: table id `id`, flags, and the names `db`.`t`.
    fn table_map_head(id: u64, db: &str, t: &str) -> Vec<u8> {
        let mut b = id.to_le_bytes()[..6].to_vec();
        b.extend_from_slice(&1u16.to_le_bytes());
        for name in [db.as_bytes(), t.as_bytes()] {
            b.push(name.len() as u8);
            b.extend_from_slice(name);
            b.push(0);
        }
        b
    }

    impl Binlog {
        fn new() -> Binlog {
            Binlog {
                fde: FormatDescriptionEvent::new(BinlogVersion::Version4),
                pos: 4,
                events: Vec::new(),
            }
        }

        /// Append an event of raw `type_` with `body`; returns its start offset.
        fn raw(&mut self, type_: u8, body: &[u8]) -> u64 {
            self.raw_flagged(type_, body, 0)
        }

        /// Append an event with header `flags`.
        fn raw_flagged(&mut self, type_: u8, body: &[u8], flags: u16) -> u64 {
            let start = self.pos;
            let size = 19 + body.len() as u32;
            self.pos += size;
            let mut b = Vec::new();
            b.extend_from_slice(&1_700_000_000u32.to_le_bytes());
            b.push(type_);
            b.extend_from_slice(&7u32.to_le_bytes()); // server id
            b.extend_from_slice(&size.to_le_bytes());
            b.extend_from_slice(&self.pos.to_le_bytes());
            b.extend_from_slice(&flags.to_le_bytes());
            b.extend_from_slice(body);
            let ev = Event::read(&self.fde, &b[..]).expect("synthetic event reads");
            self.events.push(ev);
            start as u64
        }

        fn query(&mut self, sql: &str) -> u64 {
            let mut body = Vec::new();
            QueryEvent::new(Vec::new(), b"s".to_vec())
                .with_query(sql.as_bytes().to_vec())
                .serialize(&mut body);
            self.raw(2, &body)
        }

        fn xid(&mut self) -> u64 {
            let mut body = Vec::new();
            XidEvent { xid: 1 }.serialize(&mut body);
            self.raw(16, &body)
        }

        fn maria_gtid(&mut self, seq: u64, standalone: bool) -> u64 {
            let mut body = Vec::new();
            body.extend_from_slice(&seq.to_le_bytes());
            body.extend_from_slice(&0u32.to_le_bytes()); // domain
            body.push(u8::from(standalone));
            body.extend_from_slice(&[0; 6]);
            self.raw(MARIA_GTID, &body)
        }

        /// MariaDB's GTID of an `XA START` of `gtrid` (formatID 1, no bqual).
        fn maria_gtid_xa(&mut self, seq: u64, gtrid: &[u8]) -> u64 {
            let mut body = Vec::new();
            body.extend_from_slice(&seq.to_le_bytes());
            body.extend_from_slice(&0u32.to_le_bytes());
            body.push(MARIA_FL_PREPARED_XA);
            body.extend_from_slice(&1u32.to_le_bytes());
            body.push(gtrid.len() as u8);
            body.push(0);
            body.extend_from_slice(gtrid);
            self.raw(MARIA_GTID, &body)
        }

        fn xa_prepare(&mut self, gtrid: &[u8]) -> u64 {
            self.xa_prepare_event(gtrid, false)
        }

        fn xa_prepare_event(&mut self, gtrid: &[u8], one_phase: bool) -> u64 {
            let mut body = vec![u8::from(one_phase)];
            body.extend_from_slice(&1u32.to_le_bytes());
            body.extend_from_slice(&(gtrid.len() as u32).to_le_bytes());
            body.extend_from_slice(&0u32.to_le_bytes());
            body.extend_from_slice(gtrid);
            self.raw(38, &body)
        }

        /// TABLE_MAP of `s.t (id INT PRIMARY KEY, v INT)` with FULL metadata.
        fn table_map(&mut self) -> u64 {
            self.table_map_of(TABLE_ID, "s", "t")
        }

        /// TABLE_MAP of `s.t (id INT, v INT)`, no key, with FULL metadata.
        fn table_map_keyless(&mut self) -> u64 {
            let mut b = table_map_head(TABLE_ID, "s", "t");
            b.push(2);
            b.extend_from_slice(&[3, 3]);
            b.push(0);
            b.push(0b11);
            b.extend_from_slice(&[1, 1, 0]);
            b.extend_from_slice(&[4, 5, 2, b'i', b'd', 1, b'v']);
            self.raw(19, &b)
        }

        /// A v2 rows event of `type_` (30 write, 31 update, 32 delete) with `images` rows, each
        /// image `(id, v)`.
        fn rows(&mut self, type_: u8, images: &[(i32, i32)]) -> u64 {
            self.rows_of(TABLE_ID, type_, images)
        }

        /// A rows event of the table `id` (mapped by `table_map_of`).
        fn rows_of(&mut self, id: u64, type_: u8, images: &[(i32, i32)]) -> u64 {
            let mut b = Vec::new();
            b.extend_from_slice(&id.to_le_bytes()[..6]);
            b.extend_from_slice(&1u16.to_le_bytes()); // end of statement
            b.extend_from_slice(&2u16.to_le_bytes()); // no extra data
            b.push(2);
            b.push(0b11);
            if type_ == 31 {
                b.push(0b11);
            }
            for (id, v) in images {
                b.push(0); // no NULLs
                b.extend_from_slice(&id.to_le_bytes());
                b.extend_from_slice(&v.to_le_bytes());
            }
            self.raw(type_, &b)
        }

        /// A DELETE logged with binlog_row_image=MINIMAL: the before image holds only `id`.
        fn minimal_delete(&mut self, id: i32) -> u64 {
            let mut b = Vec::new();
            b.extend_from_slice(&TABLE_ID.to_le_bytes()[..6]);
            b.extend_from_slice(&1u16.to_le_bytes());
            b.extend_from_slice(&2u16.to_le_bytes());
            b.push(2);
            b.push(0b01);
            b.push(0);
            b.extend_from_slice(&id.to_le_bytes());
            self.raw(32, &b)
        }

        fn inserts(&mut self, ids: std::ops::Range<i32>) -> u64 {
            let rows: Vec<_> = ids.map(|i| (i, i * 10)).collect();
            self.rows(30, &rows)
        }

        /// MySQL's GTID event (GTID_TAGGED_LOG_EVENT when `tag` is given).
        fn mysql_gtid(&mut self, gno: u64, commit_us: u64, tag: Option<&str>) -> u64 {
            use mysql_common::binlog::events::GtidEvent;
            let sid = [0x11; 16];
            let g = match tag {
                Some(t) => GtidEvent::new_tagged(
                    sid,
                    mysql_common::packets::Tag::new(t.to_string()).expect("tag"),
                    gno,
                ),
                None => GtidEvent::new(sid, gno),
            }
            .with_immediate_commit_timestamp(commit_us);
            let mut body = Vec::new();
            g.serialize(&mut body);
            self.raw(if tag.is_some() { 0x2a } else { 33 }, &body)
        }

        /// TABLE_MAP of `db.t` (same columns as `table_map`) under table id `id`.
        fn table_map_of(&mut self, id: u64, db: &str, t: &str) -> u64 {
            let mut b = table_map_head(id, db, t);
            // Two LONG columns, v nullable; optional metadata: SIGNEDNESS, COLUMN_NAME,
            // SIMPLE_PRIMARY_KEY.
            b.extend_from_slice(&[2, 3, 3, 0, 0b10]);
            b.extend_from_slice(&[1, 1, 0]);
            b.extend_from_slice(&[4, 5, 2, b'i', b'd', 1, b'v']);
            b.extend_from_slice(&[8, 1, 0]);
            self.raw(19, &b)
        }

        fn rotate(&mut self, name: &str) -> u64 {
            let mut body = Vec::new();
            RotateEvent::new(4, name.as_bytes().to_vec()).serialize(&mut body);
            self.raw(4, &body)
        }
    }

    fn settings(flavor: Flavor) -> Settings {
        Settings {
            filter: TableFilter::new("*.*", "").expect("filter"),
            format: Format::Flat,
            stream_prefix: "cdc:".into(),
            cluster: false,
            flavor,
            full_metadata: true,
            source_id: 7,
            schema_changes: true,
            mirror: Mirror::default(),
            streams: true,
            columns: Default::default(),
        }
    }

    fn start_at(offset: u64) -> Checkpoint {
        Checkpoint {
            position: Position::new("bin.000001", offset),
            ..Checkpoint::default()
        }
    }

    fn assembler(settings: Settings, start: &Checkpoint, by_gtid: bool) -> Assembler {
        Assembler::new(settings, start, by_gtid, Shapes::new())
    }

    /// Push one event (information_schema answers with no columns).
    fn push(a: &mut Assembler, ev: &Event, out: &mut Vec<Output>) -> Result<(), AssembleError<()>> {
        let mut lookup = |_: &str, _: &str| -> Result<Vec<InfoColumn>, ()> { Ok(Vec::new()) };
        a.push(ev, Instant::now(), &mut lookup, out)
    }

    /// Push `events`; every output, in order.
    fn push_all(a: &mut Assembler, events: &[Event]) -> Vec<Output> {
        let mut out = Vec::new();
        for ev in events {
            push(a, ev, &mut out).unwrap_or_else(|e| panic!("push failed: {e:?}"));
        }
        out
    }

    /// Run `events` through a new assembler (MariaDB, everything captured).
    fn run(events: &[Event], start: &Checkpoint, by_gtid: bool) -> Vec<Output> {
        push_all(
            &mut assembler(settings(Flavor::MariaDb), start, by_gtid),
            events,
        )
    }

    fn batches(out: &[Output]) -> Vec<&Batch> {
        out.iter()
            .filter_map(|o| match o {
                Output::Batch(b) => Some(b),
                _ => None,
            })
            .collect()
    }

    fn resyncs(out: &[Output]) -> Vec<(Option<Vec<String>>, ResyncCause)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Resync { tables, cause, .. } => Some((tables.clone(), *cause)),
                _ => None,
            })
            .collect()
    }

    fn reasons(out: &[Output]) -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Output::Resync { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every entry as `op stream`.
    fn ops(out: &[Output]) -> Vec<String> {
        batches(out)
            .iter()
            .flat_map(|b| &b.entries)
            .map(|e| format!("{} {}", e.fields[0].1, e.table))
            .collect()
    }

    fn tables(names: &[&str]) -> Option<Vec<String>> {
        Some(names.iter().map(|n| n.to_string()).collect())
    }

    fn keys(b: &Batch) -> Vec<String> {
        b.entries
            .iter()
            .map(|e| {
                let f = |n: &str| {
                    e.fields
                        .iter()
                        .find(|(k, _)| k == n)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                format!("{} {}", f("op"), f("key"))
            })
            .collect()
    }

    #[test]
    fn a_transaction_is_one_batch_ending_at_its_commit() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(5, false);
        log.query("BEGIN");
        log.table_map();
        log.inserts(1..3);
        log.rows(31, &[(1, 10), (1, 11)]);
        log.rows(32, &[(2, 20)]);
        log.xid();
        let out = run(&log.events, &start_at(begin), false);
        assert!(matches!(&out[0], Output::TxnBegins { start, .. } if start.offset == begin));
        let b = batches(&out);
        assert_eq!(b.len(), 1);
        assert_eq!(
            keys(b[0]),
            [
                r#"c {"id":1}"#,
                r#"c {"id":2}"#,
                r#"u {"id":1}"#,
                r#"d {"id":2}"#
            ]
        );
        assert_eq!(b[0].txns, 1);
        assert_eq!(
            b[0].checkpoint.position,
            Position::new("bin.000001", log.pos as u64)
        );
        assert_eq!(b[0].checkpoint.gtid, "0-7-5");
        assert_eq!(b[0].checkpoint.written_through, None);
        assert!(matches!(out.last(), Some(Output::Boundary(c)) if c == &b[0].checkpoint));
    }

    #[test]
    fn a_key_change_is_a_delete_and_a_create() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        log.table_map();
        log.rows(31, &[(1, 10), (9, 10)]);
        log.xid();
        let out = run(&log.events, &start_at(begin), false);
        assert_eq!(keys(batches(&out)[0]), [r#"d {"id":1}"#, r#"c {"id":9}"#]);
    }

    /// TABLE_MAP of `s.t (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING` with FULL
    /// metadata: MariaDB logs the implicit `row_start`, `row_end` TIMESTAMP(6) columns and the
    /// key (id, row_end).
    fn versioned_table_map(log: &mut Binlog) -> u64 {
        let mut b = table_map_head(TABLE_ID, "s", "t");
        b.push(4);
        b.extend_from_slice(&[3, 3, 17, 17]); // LONG x2, TIMESTAMP2 x2
        b.extend_from_slice(&[2, 6, 6]); // fsp 6
        b.push(0b0010);
        b.extend_from_slice(&[1, 1, 0]);
        let names: &[&[u8]] = &[b"id", b"v", b"row_start", b"row_end"];
        let mut meta = Vec::new();
        for n in names {
            meta.push(n.len() as u8);
            meta.extend_from_slice(n);
        }
        b.extend_from_slice(&[4, meta.len() as u8]);
        b.extend_from_slice(&meta);
        b.extend_from_slice(&[8, 2, 0, 3]);
        log.raw(19, &b)
    }

    /// Rows of [`versioned_table_map`]: `(id, v, row_end seconds)`, micros 999999 when the
    /// seconds are the current-row maximum.
    fn versioned_rows(log: &mut Binlog, type_: u8, images: &[(i32, i32, u32)]) -> u64 {
        let mut b = Vec::new();
        b.extend_from_slice(&TABLE_ID.to_le_bytes()[..6]);
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.push(4);
        b.push(0b1111);
        if type_ == 31 {
            b.push(0b1111);
        }
        let ts = |b: &mut Vec<u8>, secs: u32, micros: u32| {
            b.extend_from_slice(&secs.to_be_bytes());
            b.extend_from_slice(&micros.to_be_bytes()[1..]);
        };
        for (id, v, end) in images {
            b.push(0);
            b.extend_from_slice(&id.to_le_bytes());
            b.extend_from_slice(&v.to_le_bytes());
            ts(&mut b, 1_700_000_000, 1);
            let max = *end == i32::MAX as u32 || *end == u32::MAX;
            ts(&mut b, *end, if max { 999_999 } else { 7 });
        }
        log.raw(type_, &b)
    }

    #[test]
    fn system_versioned_tables_write_current_rows_only() {
        const MAX: u32 = i32::MAX as u32;
        const NOW: u32 = 1_700_000_100;
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        versioned_table_map(&mut log);
        // INSERT (1), (2), (3)
        versioned_rows(&mut log, 30, &[(1, 10, MAX), (2, 20, MAX), (3, 30, MAX)]);
        // UPDATE v of 1: the current row, then the old version as history.
        versioned_rows(&mut log, 31, &[(1, 10, MAX), (1, 11, MAX)]);
        versioned_rows(&mut log, 30, &[(1, 10, NOW)]);
        // UPDATE the key of 2 to 9.
        versioned_rows(&mut log, 31, &[(2, 20, MAX), (9, 20, MAX)]);
        versioned_rows(&mut log, 30, &[(2, 20, NOW)]);
        // DELETE 3: its row end is set.
        versioned_rows(&mut log, 31, &[(3, 30, MAX), (3, 30, NOW)]);
        // DELETE HISTORY.
        versioned_rows(&mut log, 32, &[(1, 10, NOW), (2, 20, NOW), (3, 30, NOW)]);
        // MariaDB 11.5+: the current-row maximum moved to 2106.
        versioned_rows(&mut log, 30, &[(4, 40, u32::MAX)]);
        log.xid();
        // information_schema: COLUMNS without the implicit columns, completed by the source.
        let mut info = vec![
            InfoColumn {
                name: "id".into(),
                data_type: "int".into(),
                column_type: "int(11)".into(),
                pk_ordinal: Some(1),
                ..InfoColumn::default()
            },
            InfoColumn {
                name: "v".into(),
                data_type: "int".into(),
                column_type: "int(11)".into(),
                ..InfoColumn::default()
            },
        ];
        crate::schema::versioning::complete_info(&mut info, true);
        let expected = [
            r#"c {"id":1}"#,
            r#"c {"id":2}"#,
            r#"c {"id":3}"#,
            r#"u {"id":1}"#,
            r#"d {"id":2}"#,
            r#"c {"id":9}"#,
            r#"d {"id":3}"#,
            r#"c {"id":4}"#,
        ];
        // The shape from information_schema, and (empty answer) from the binlog's names alone.
        for known in [info, Vec::new()] {
            let mut a = assembler(settings(Flavor::MariaDb), &start_at(begin), false);
            let mut lookup =
                |_: &str, _: &str| -> Result<Vec<InfoColumn>, ()> { Ok(known.clone()) };
            let mut out = Vec::new();
            for ev in &log.events {
                a.push(ev, Instant::now(), &mut lookup, &mut out)
                    .unwrap_or_else(|e| panic!("push failed: {e:?}"));
            }
            let b = batches(&out);
            assert_eq!(keys(b[0]), expected);
            // The entries carry the columns of SELECT *: no row_start/row_end.
            let after = b[0].entries[3]
                .fields
                .iter()
                .find(|(k, _)| k == "after")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            assert_eq!(after, r#"{"id":1,"v":11}"#);
        }
    }

    /// The fields of every entry of `out`, as (name, value) text pairs.
    fn all_fields(out: &[Output]) -> Vec<Vec<(String, String)>> {
        batches(out)
            .iter()
            .flat_map(|b| &b.entries)
            .map(|e| {
                e.fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect()
            })
            .collect()
    }

    fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    fn value_json(fields: &[(String, String)]) -> serde_json::Value {
        serde_json::from_str(field(fields, "value")).expect("value is JSON")
    }

    #[test]
    fn debezium_key_change_halves_share_their_row_and_name_each_others_key() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        log.table_map();
        log.rows(31, &[(1, 10), (9, 10), (2, 20), (2, 21)]);
        log.xid();
        let mut s = settings(Flavor::MariaDb);
        s.format = Format::DebeziumExtended;
        let out = push_all(&mut assembler(s, &start_at(begin), false), &log.events);
        let e = all_fields(&out);
        assert_eq!(e.len(), 3);
        let ops: Vec<String> = e.iter().map(|f| value_json(f)["op"].to_string()).collect();
        assert_eq!(ops, ["\"d\"", "\"c\"", "\"u\""]);
        let rows: Vec<u64> = e
            .iter()
            .map(|f| value_json(f)["source"]["row"].as_u64().unwrap())
            .collect();
        assert_eq!(rows, [0, 0, 1]);
        assert_eq!(field(&e[0], "__DEBEZIUM.NEWKEY"), r#"{"id":9}"#);
        assert_eq!(field(&e[1], "__DEBEZIUM.OLDKEY"), r#"{"id":1}"#);
        assert!(value_json(&e[0])["source"]["connector"].is_string());
        assert!(!e[2].iter().any(|(k, _)| k.ends_with("KEY")));
        // flat is untouched: `pos` counts the changes.
        let out = run(&log.events, &start_at(begin), false);
        let pos: Vec<String> = all_fields(&out)
            .iter()
            .map(|f| {
                field(f, "pos")
                    .rsplit(':')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert_eq!(pos, ["0", "1", "2"]);
    }

    #[test]
    fn debezium_keyless_update_is_one_u_and_checkpoints_count_as_in_flat() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        log.table_map_keyless();
        let rows_at = log.rows(31, &[(1, 10), (1, 11), (2, 20), (2, 21), (3, 30), (3, 30)]);
        log.xid();
        let flat = run(&log.events, &start_at(begin), false);
        assert_eq!(
            keys(batches(&flat)[0]),
            [
                r#"d {"id":1,"v":10}"#,
                r#"c {"id":1,"v":11}"#,
                r#"d {"id":2,"v":20}"#,
                r#"c {"id":2,"v":21}"#,
                r#"u {"id":3,"v":30}"#,
            ]
        );
        let mut s = settings(Flavor::MariaDb);
        s.format = Format::Debezium;
        let out = push_all(
            &mut assembler(s.clone(), &start_at(begin), false),
            &log.events,
        );
        let e = all_fields(&out);
        assert_eq!(e.len(), 3);
        for (i, f) in e.iter().enumerate() {
            assert_eq!(f[0].0, "default", "a null key");
            let v: serde_json::Value = serde_json::from_str(&f[0].1).unwrap();
            assert_eq!(v["op"], "u");
            assert_eq!(v["source"]["row"], i as u64);
        }
        let v: serde_json::Value = serde_json::from_str(&e[0][0].1).unwrap();
        assert_eq!(v["before"], serde_json::json!({"id": 1, "v": 10}));
        assert_eq!(v["after"], serde_json::json!({"id": 1, "v": 11}));
        // A restart after flat's first d + c (change indexes 0 and 1) skips exactly the first
        // `u` in the Debezium formats too.
        let resume = Checkpoint {
            written_through: Some((rows_at, 1)),
            ..start_at(begin)
        };
        let out = push_all(&mut assembler(s, &resume, false), &log.events);
        let e = all_fields(&out);
        assert_eq!(e.len(), 2);
        let v: serde_json::Value = serde_json::from_str(&e[0][0].1).unwrap();
        assert_eq!(v["after"], serde_json::json!({"id": 2, "v": 21}));
        let flat = run(&log.events, &resume, false);
        assert_eq!(
            keys(batches(&flat)[0]),
            [
                r#"d {"id":2,"v":20}"#,
                r#"c {"id":2,"v":21}"#,
                r#"u {"id":3,"v":30}"#,
            ]
        );
    }

    #[test]
    fn ddl_of_captured_tables_is_a_debezium_schema_change() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, true);
        let create = log.query("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))");
        log.maria_gtid(2, true);
        log.query("ALTER TABLE t ADD COLUMN f FLOAT(7,3) AFTER id");
        log.maria_gtid(3, true);
        log.query("CREATE TABLE other.x (a INT)");
        log.maria_gtid(4, true);
        log.query("RENAME TABLE t TO u, other.y TO other.z");
        log.maria_gtid(5, true);
        log.query("DROP TABLE `u` /* generated by server */");
        log.maria_gtid(6, true);
        log.query("TRUNCATE TABLE u");
        let mut s = settings(Flavor::MariaDb);
        s.filter = TableFilter::new("s.*", "").expect("filter");
        s.format = Format::Debezium;
        s.stream_prefix = "dbserver1.".into();
        let out = push_all(
            &mut assembler(s.clone(), &start_at(begin), false),
            &log.events,
        );
        let entries: Vec<&Entry> = batches(&out).iter().flat_map(|b| &b.entries).collect();
        assert_eq!(
            entries.len(),
            4,
            "other.* is not captured; TRUNCATE is none"
        );
        assert!(entries
            .iter()
            .all(|e| &*e.stream == "dbserver1" && e.table.is_empty()));
        let v: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| serde_json::from_str(&e.fields[0].1).unwrap())
            .collect();
        assert_eq!(entries[0].fields[0].0, r#"{"databaseName":"s"}"#);
        assert_eq!(
            v[0]["ddl"],
            "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))"
        );
        assert_eq!(v[0]["source"]["pos"], create);
        assert_eq!(v[0]["source"]["table"], "t");
        assert_eq!(v[0]["source"]["gtid"], "0-7-1");
        let t = &v[0]["tableChanges"][0];
        assert_eq!(t["type"], "CREATE");
        assert_eq!(t["id"], "\"s\".\"t\"");
        assert_eq!(
            t["table"]["primaryKeyColumnNames"],
            serde_json::json!(["id"])
        );
        let cols = &t["table"]["columns"];
        assert_eq!(cols[1]["name"], "name");
        assert_eq!(cols[1]["typeName"], "VARCHAR");
        assert_eq!(cols[1]["length"], 20);
        assert_eq!(cols[1]["position"], 2);
        // The shape after the ALTER.
        let t = &v[1]["tableChanges"][0];
        assert_eq!(t["type"], "ALTER");
        let names: Vec<&str> = t["table"]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["id", "f", "name"]);
        let f = &t["table"]["columns"][1];
        assert_eq!(
            (f["typeName"].as_str(), f["jdbcType"].as_i64()),
            (Some("FLOAT"), Some(6))
        );
        assert_eq!(
            (f["length"].as_i64(), f["scale"].as_i64()),
            (Some(7), Some(3))
        );
        // RENAME: the captured pair only, with its clause as the statement, under the new name.
        assert_eq!(v[2]["ddl"], "t TO u");
        assert_eq!(v[2]["tableChanges"][0]["type"], "ALTER");
        assert_eq!(v[2]["tableChanges"][0]["id"], "\"s\".\"u\"");
        assert_eq!(v[2]["tableChanges"][0]["table"]["columns"][0]["name"], "id");
        // DROP: Debezium's own statement text, no table.
        assert_eq!(v[3]["ddl"], "DROP TABLE `s`.`u`");
        assert_eq!(v[3]["tableChanges"][0]["type"], "DROP");
        assert_eq!(v[3]["tableChanges"][0]["table"], serde_json::Value::Null);

        // cdc.schema-changes no, and the flat format: none.
        let mut off = s.clone();
        off.schema_changes = false;
        let out = push_all(&mut assembler(off, &start_at(begin), false), &log.events);
        assert!(batches(&out).iter().all(|b| b.entries.is_empty()));
        let mut flat = s;
        flat.format = Format::Flat;
        let out = push_all(&mut assembler(flat, &start_at(begin), false), &log.events);
        let ops: Vec<String> = all_fields(&out)
            .iter()
            .map(|f| field(f, "op").to_string())
            .collect();
        assert_eq!(
            ops,
            ["t", "t", "t"],
            "flat: RENAME, DROP and TRUNCATE `t` entries only"
        );
    }

    #[test]
    fn ddl_commits_by_itself() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, true);
        log.query("ALTER TABLE t ADD COLUMN w INT");
        let end = log.pos as u64;
        let out = run(&log.events, &start_at(begin), false);
        let b = batches(&out);
        assert_eq!(b.len(), 1);
        assert!(b[0].entries.is_empty());
        assert_eq!(b[0].checkpoint.position.offset, end);
        assert_eq!(b[0].checkpoint.gtid, "0-7-1");
        // MySQL: DDL comes as GTID + the statement, without BEGIN.
        let mut a = assembler(settings(Flavor::MySql), &start_at(4), false);
        let mut log = Binlog::new();
        log.query("CREATE TABLE t (id INT)");
        push_all(&mut a, &log.events);
        assert_eq!(a.checkpoint().position.offset, log.pos as u64);
    }

    #[test]
    fn rollback_discards_what_was_buffered() {
        let mut log = Binlog::new();
        let begin = log.query("BEGIN");
        log.table_map();
        log.inserts(1..4);
        log.query("ROLLBACK");
        let out = run(&log.events, &start_at(begin), false);
        let b = batches(&out);
        assert_eq!(b.len(), 1);
        assert!(b[0].entries.is_empty(), "rolled-back rows were written");
        assert_eq!(b[0].checkpoint.position.offset, log.pos as u64);
        // A ROLLBACK is logged only when non-transactional tables changed too: which of the
        // group's captured rows stayed cannot be told, so their tables are re-read.
        assert_eq!(resyncs(&out), [(tables(&["s.t"]), ResyncCause::Rollback)]);
        // Without captured rows in the group, nothing to re-read.
        let mut log = Binlog::new();
        let begin = log.query("BEGIN");
        log.query("ROLLBACK");
        assert!(resyncs(&run(&log.events, &start_at(begin), false)).is_empty());
    }

    #[test]
    fn rotate_moves_to_the_new_file_and_forgets_table_ids() {
        let mut log = Binlog::new();
        log.table_map();
        log.rotate("bin.000002");
        log.query("BEGIN");
        log.inserts(1..2);
        let mut a = assembler(settings(Flavor::MariaDb), &start_at(4), false);
        let mut out = push_all(&mut a, &log.events[..3]);
        assert_eq!(a.checkpoint().position, Position::new("bin.000002", 4));
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::Boundary(c) if c.position.file == "bin.000002")));
        // Table ids are per file: a rows event without a new table map is refused.
        match push(&mut a, &log.events[3], &mut out) {
            Err(AssembleError::Halt(m)) => {
                assert!(m.contains("unknown table id 42"), "{m}");
                assert!(m.contains("bin.000002:"), "{m}");
            }
            other => panic!("expected a halt, got {other:?}"),
        }
    }

    /// A transaction of 40 + 40 + 10 rows: the first 80 go out as a chunk (more than
    /// CHUNK_ENTRIES buffered), whose checkpoint says "inside the transaction at its start,
    /// after the change (second event, row 39)". A restart there writes only the last 10.
    #[test]
    fn large_transactions_go_in_chunks_and_resume_inside() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(3, false);
        log.table_map();
        log.inserts(0..40);
        let second = log.inserts(40..80);
        log.inserts(80..90);
        log.xid();
        let out = run(&log.events, &start_at(begin), false);
        let b = batches(&out);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].entries.len(), 80);
        assert_eq!(b[0].txns, 0);
        let chunk = &b[0].checkpoint;
        assert_eq!(chunk.position.offset, begin);
        assert_eq!(chunk.written_through, Some((second, 39)));
        assert_eq!(chunk.written_count, 80);
        assert_eq!(b[1].entries.len(), 10);
        assert_eq!(b[1].txns, 1);

        // Resume at the chunk's checkpoint: the same transaction is read again from its start.
        let resumed = run(&log.events, chunk, false);
        let rb = batches(&resumed);
        assert_eq!(rb.len(), 1);
        assert_eq!(
            keys(rb[0]).first().map(String::as_str),
            Some(r#"c {"id":80}"#)
        );
        assert_eq!(rb[0].entries.len(), 10);
        assert_eq!(rb[0].checkpoint, b[1].checkpoint);
    }

    /// Large rows: a transaction of 12 rows of 300 kB goes out in chunks of about CHUNK_BYTES
    /// (each its own short lock hold in the writer), not as one 3.6 MB batch.
    #[test]
    fn transactions_of_large_rows_go_in_chunks_of_bounded_bytes() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(3, false);
        // s.t (id INT PRIMARY KEY, b LONGBLOB), FULL metadata.
        let mut b = table_map_head(TABLE_ID, "s", "t");
        b.extend_from_slice(&[2, 3, 252, 1, 4, 0b10]);
        b.extend_from_slice(&[1, 1, 0]);
        b.extend_from_slice(&[4, 5, 2, b'i', b'd', 1, b'b']);
        b.extend_from_slice(&[8, 1, 0]);
        log.raw(19, &b);
        let blob = vec![b'x'; 300_000];
        for id in 0..12i32 {
            let mut r = Vec::new();
            r.extend_from_slice(&TABLE_ID.to_le_bytes()[..6]);
            r.extend_from_slice(&1u16.to_le_bytes());
            r.extend_from_slice(&2u16.to_le_bytes());
            r.extend_from_slice(&[2, 0b11, 0]);
            r.extend_from_slice(&id.to_le_bytes());
            r.extend_from_slice(&(blob.len() as u32).to_le_bytes());
            r.extend_from_slice(&blob);
            log.raw(30, &r);
        }
        log.xid();
        let out = run(&log.events, &start_at(begin), false);
        let b = batches(&out);
        let sizes: Vec<usize> = b.iter().map(|b| b.entries.len()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 12, "{sizes:?}");
        let bytes: Vec<usize> = b.iter().map(|b| b.bytes()).collect();
        assert!(b.len() >= 3, "{sizes:?} {bytes:?}");
        for batch in &b {
            assert!(
                batch.bytes() <= CHUNK_BYTES + 2 * blob.len(),
                "{}",
                batch.bytes()
            );
        }
    }

    /// Resuming by GTID on another server, byte offsets differ: the first transaction the server
    /// sends is the one in progress, and its first `written_count` captured changes are skipped.
    #[test]
    fn resuming_by_gtid_skips_the_written_count() {
        let mut log = Binlog::new();
        log.maria_gtid(3, false);
        log.table_map();
        log.inserts(0..40);
        log.inserts(40..80);
        log.inserts(80..90);
        log.xid();
        let start = Checkpoint {
            position: Position::new("other.000009", 123_456),
            written_through: Some((999_999, 0)),
            written_count: 80,
            gtid: "0-7-2".into(),
            source_id: 8,
        };
        let out = run(&log.events, &start, true);
        let b = batches(&out);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].entries.len(), 10);
        assert_eq!(keys(b[0])[0], r#"c {"id":80}"#);
        assert_eq!(b[0].checkpoint.gtid, "0-7-3");
        assert_eq!(b[0].checkpoint.written_count, 0);
    }

    #[test]
    fn truncate_clears_the_mirror_in_the_debezium_formats_too() {
        // Debezium's formats write no `t` entry, but the table's mirror keys must still go.
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, true);
        log.query("TRUNCATE TABLE t");
        let mut s = settings(Flavor::MariaDb);
        s.format = Format::Debezium;
        s.mirror = Mirror {
            mode: crate::format::mirror::MirrorMode::Hash,
            prefix: String::new(),
            cluster: false,
        };
        let out = push_all(&mut assembler(s, &start_at(begin), false), &log.events);
        let entries: Vec<&Entry> = batches(&out).iter().flat_map(|b| &b.entries).collect();
        assert_eq!(entries.len(), 1);
        assert!(entries[0].fields.is_empty(), "no stream entry");
        assert!(matches!(
            entries[0].mirror,
            Some(crate::format::mirror::MirrorWrite::Clear { .. })
        ));
    }

    #[test]
    fn truncate_and_drop_are_t_entries_of_captured_tables() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, true);
        log.query("TRUNCATE TABLE t");
        log.maria_gtid(2, true);
        let drop = log.query("DROP TABLE IF EXISTS `t`, mysql.x /* generated by server */");
        log.maria_gtid(3, true);
        log.query("DROP TEMPORARY TABLE t");
        let out = run(&log.events, &start_at(begin), false);
        let entries: Vec<Vec<(String, String)>> = batches(&out)
            .iter()
            .flat_map(|b| &b.entries)
            .map(|e| {
                e.fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect()
            })
            .collect();
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_eq!(
            entries[1],
            [
                pair("op", "t"),
                pair("db", "s"),
                pair("table", "t"),
                pair("ts_ms", "1700000000000"),
                pair("pos", &format!("bin.000001:{drop}:0")),
                pair("gtid", "0-7-2"),
            ]
        );
        assert_eq!(entries[0][0], pair("op", "t"));
        // Debezium's connectors skip truncates by default: no `t` entry in those formats; the
        // DROP is a schema-change event (of the captured table only).
        let mut s = settings(Flavor::MariaDb);
        s.format = Format::Debezium;
        let out = push_all(
            &mut assembler(s.clone(), &start_at(begin), false),
            &log.events,
        );
        let entries: Vec<&Entry> = batches(&out).iter().flat_map(|b| &b.entries).collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(&*entries[0].stream, "cdc");
        assert_eq!(entries[0].fields[0].0, "{\"databaseName\":\"s\"}");
        let v: serde_json::Value = serde_json::from_str(&entries[0].fields[0].1).unwrap();
        assert_eq!(v["ddl"], "DROP TABLE IF EXISTS `s`.`t`");
        assert_eq!(v["tableChanges"][0]["type"], "DROP");
        s.schema_changes = false;
        let out = push_all(&mut assembler(s, &start_at(begin), false), &log.events);
        assert!(batches(&out).iter().all(|b| b.entries.is_empty()));
    }

    #[test]
    fn statement_logged_dml_asks_for_a_resync_of_its_captured_tables() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        log.query("BEGIN");
        let stmt = log.query("update t set v=6 where id=5");
        log.query("DELETE FROM t2 WHERE id > 3");
        log.query("INSERT INTO t VALUES (9, 9)");
        log.xid();
        log.maria_gtid(2, false);
        log.query("BEGIN");
        log.query("INSERT INTO mysql.x VALUES (1)");
        log.xid();
        log.maria_gtid(3, false);
        log.query("BEGIN");
        log.query("WITH c AS (SELECT 1) DELETE FROM t");
        log.xid();
        let out = run(&log.events, &start_at(begin), false);
        let resyncs: Vec<(&Option<Vec<String>>, &String)> = out
            .iter()
            .filter_map(|o| match o {
                Output::Resync { tables, reason, .. } => Some((tables, reason)),
                _ => None,
            })
            .collect();
        assert_eq!(resyncs.len(), 2, "{resyncs:?}");
        // One re-read per transaction, for all the tables its statements wrote.
        assert_eq!(
            resyncs[0].0,
            &Some(vec!["s.t".to_string(), "s.t2".to_string()])
        );
        let reason = resyncs[0].1;
        assert!(reason.contains("UPDATE on s.t"), "{reason}");
        assert!(reason.contains(&format!("bin.000001:{stmt}")), "{reason}");
        assert!(reason.contains("SET GLOBAL binlog_format=ROW"), "{reason}");
        assert_eq!(resyncs[1].0, &None);
        // Not DDL: each transaction still ends at its XID.
        let boundaries: Vec<&str> = out
            .iter()
            .filter_map(|o| match o {
                Output::Boundary(c) => Some(c.gtid.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(boundaries, ["0-7-1", "0-7-2", "0-7-3"]);
    }

    fn xa_ops(out: &[Output]) -> Vec<(Option<XaOp>, usize)> {
        batches(out)
            .iter()
            .filter(|b| b.xa.is_some() || !b.entries.is_empty())
            .map(|b| (b.xa.clone(), b.entries.len()))
            .collect()
    }

    /// MariaDB: XA START in the GTID event, rows, XA END, XA_PREPARE; later XA ROLLBACK or XA
    /// COMMIT in a group of its own. The rows are held at PREPARE, released at COMMIT, dropped
    /// at ROLLBACK, never written as ordinary entries.
    #[test]
    fn xa_changes_are_held_at_prepare_and_released_or_dropped_later() {
        let xid = "7831,,1".to_string();
        let mut log = Binlog::new();
        let begin = log.maria_gtid_xa(3, b"x1");
        log.table_map();
        log.inserts(1..3);
        log.query("XA END X'7831',X'',1");
        log.xa_prepare(b"x1");
        log.maria_gtid(4, false);
        log.query("XA ROLLBACK X'7831',X'',1");
        let out = run(&log.events, &start_at(begin), false);
        assert_eq!(
            xa_ops(&out),
            [
                (Some(XaOp::Hold(xid.clone())), 2),
                (Some(XaOp::Discard(xid.clone())), 0)
            ]
        );
        let held = batches(&out)[0];
        assert_eq!(held.txns, 0, "a prepared transaction is not committed yet");
        assert_eq!(held.checkpoint.gtid, "0-7-3");

        let mut log = Binlog::new();
        let begin = log.maria_gtid_xa(5, b"x1");
        log.table_map();
        log.inserts(1..3);
        log.query("XA END X'7831',X'',1");
        log.xa_prepare(b"x1");
        log.maria_gtid(6, false);
        log.table_map();
        log.inserts(7..8);
        log.xid();
        log.maria_gtid(7, false);
        log.query("XA COMMIT X'7831',X'',1");
        let out = run(&log.events, &start_at(begin), false);
        assert_eq!(
            xa_ops(&out),
            [
                (Some(XaOp::Hold(xid.clone())), 2),
                (None, 1),
                (Some(XaOp::Release(xid)), 0)
            ]
        );
    }

    /// MySQL: XA START and XA END are statements of the group (not DDL that would end it);
    /// `XA COMMIT ... ONE PHASE` is an ordinary commit.
    #[test]
    fn mysql_xa_statements_and_one_phase_commit() {
        let mut log = Binlog::new();
        log.query("XA START 'x3'");
        log.table_map();
        log.inserts(1..2);
        log.query("XA END 'x3'");
        log.query("XA COMMIT 'x3' ONE PHASE");
        log.query("XA START X'7834',X'',1");
        log.table_map();
        log.inserts(2..3);
        log.query("XA END X'7834',X'',1");
        log.xa_prepare(b"x4");
        let mut a = assembler(settings(Flavor::MySql), &start_at(4), false);
        let out = push_all(&mut a, &log.events);
        assert_eq!(
            xa_ops(&out),
            [(None, 1), (Some(XaOp::Hold("7834,,1".into())), 1)]
        );
        assert_eq!(
            XaStatement::parse("XA ROLLBACK 'x4'"),
            Some(XaStatement::Rollback("7834,,1".into()))
        );
        assert_eq!(
            XaStatement::parse("xa commit X'61',X'62',7"),
            Some(XaStatement::Commit("61,62,7".into()))
        );
        assert_eq!(XaStatement::parse("XA RECOVER"), None);
        assert_eq!(
            XaStatement::parse("XA COMMIT 'x',X'',4294967297"),
            Some(XaStatement::Commit("78,,1".into())),
            "MySQL's 64-bit formatID, as its 32 bits stored in events"
        );
        assert_eq!(
            XaStatement::parse("XA COMMIT garbage"),
            Some(XaStatement::Unreadable)
        );
    }

    /// MySQL logs `XA COMMIT ... ONE PHASE` as XA START, rows, XA END and a prepare event
    /// flagged one-phase: a commit. A large one releases the chunks it held with the rest.
    #[test]
    fn mysql_one_phase_prepare_events_commit() {
        let mut log = Binlog::new();
        log.query("XA START 'x5'");
        log.table_map();
        log.inserts(1..2);
        log.query("XA END 'x5'");
        log.xa_prepare_event(b"x5", true);
        log.query("XA START 'x6'");
        log.table_map();
        log.inserts(0..70);
        log.inserts(70..75);
        log.query("XA END 'x6'");
        log.xa_prepare_event(b"x6", true);
        let mut a = assembler(settings(Flavor::MySql), &start_at(4), false);
        let out = push_all(&mut a, &log.events);
        assert_eq!(
            xa_ops(&out),
            [
                (None, 1),
                (Some(XaOp::Hold("7836,,1".into())), 70),
                (Some(XaOp::Release("7836,,1".into())), 5)
            ]
        );
        // An XA COMMIT whose XID cannot be read stops the module (held rows would be stuck).
        let mut log = Binlog::new();
        log.query("XA COMMIT garbage");
        let mut a = assembler(settings(Flavor::MySql), &start_at(4), false);
        let mut out = Vec::new();
        assert!(matches!(
            push(&mut a, &log.events[0], &mut out),
            Err(AssembleError::Halt(m)) if m.contains("XID")
        ));
    }

    /// RENAME TABLE (and ALTER TABLE ... RENAME): `t` in the old name's stream, and a re-read
    /// of the new name.
    #[test]
    fn rename_empties_the_old_name_and_re_reads_the_new_one() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, true);
        log.query("RENAME TABLE a TO b, mysql.x TO c");
        log.maria_gtid(2, true);
        log.query("ALTER TABLE d ADD COLUMN x INT, RENAME TO e");
        let out = run(&log.events, &start_at(begin), false);
        let ops: Vec<String> = batches(&out)
            .iter()
            .flat_map(|b| &b.entries)
            .map(|e| format!("{} {}", e.table, e.fields[0].1))
            .collect();
        assert_eq!(ops, ["s.a t", "s.d t"]);
        assert_eq!(
            resyncs(&out),
            [
                (tables(&["s.b", "s.c"]), ResyncCause::Rename),
                (tables(&["s.e"]), ResyncCause::Rename)
            ]
        );
        assert!(batches(&out).iter().any(|b| b.gone == ["s.d"]));
    }

    /// A session with binlog_row_image=MINIMAL: its rows event lacks columns, so no entry can
    /// hold the row; the table is re-read once the transaction ends, and the module goes on.
    #[test]
    fn a_partial_row_image_asks_for_a_re_read_instead_of_halting() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        log.table_map();
        log.inserts(1..2);
        let at = log.minimal_delete(1);
        log.xid();
        let out = run(&log.events, &start_at(begin), false);
        assert_eq!(keys(batches(&out)[0]), [r#"c {"id":1}"#]);
        let resync: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                Output::Resync {
                    tables,
                    reason,
                    cause,
                } => Some((tables.clone(), reason.clone(), *cause)),
                _ => None,
            })
            .collect();
        assert_eq!(resync.len(), 1);
        assert_eq!(resync[0].0, Some(vec!["s.t".to_string()]));
        assert_eq!(resync[0].2, ResyncCause::RowImage);
        assert!(
            resync[0].1.contains(&format!("bin.000001:{at}")),
            "{}",
            resync[0].1
        );
        assert!(
            resync[0].1.contains("binlog_row_image=FULL"),
            "{}",
            resync[0].1
        );
    }

    #[test]
    fn uncaptured_tables_move_the_position_only() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        log.table_map();
        log.inserts(1..3);
        log.xid();
        let mut s = settings(Flavor::MariaDb);
        s.filter = TableFilter::new("other.*", "").expect("filter");
        let mut a = assembler(s, &start_at(begin), false);
        let out = push_all(&mut a, &log.events);
        assert!(batches(&out).iter().all(|b| b.entries.is_empty()));
        assert_eq!(a.checkpoint().position.offset, log.pos as u64);
        assert!(!out.iter().any(|o| matches!(o, Output::Behind)));
    }

    // Schema history: the shapes decoded with are stored with the position and follow the DDL.

    /// TABLE_MAP of `s.t` with two INT columns and no optional metadata (MINIMAL).
    fn table_map_minimal(log: &mut Binlog) -> u64 {
        let mut b = table_map_head(TABLE_ID, "s", "t");
        b.push(2);
        b.extend_from_slice(&[3, 3]);
        b.push(0);
        b.push(0b10);
        log.raw(19, &b)
    }

    fn int_column(name: &str, pk: Option<u32>) -> InfoColumn {
        InfoColumn {
            name: name.into(),
            data_type: "int".into(),
            column_type: "int(11)".into(),
            collation: None,
            charset: None,
            pk_ordinal: pk,
            ..InfoColumn::default()
        }
    }

    fn shape(names: &[&str]) -> Vec<InfoColumn> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| int_column(n, (i == 0).then_some(1)))
            .collect()
    }

    fn history(names: &[&str]) -> Shapes {
        Shapes::from([(("s".to_string(), "t".to_string()), shape(names))])
    }

    fn minimal_settings() -> Settings {
        Settings {
            full_metadata: false,
            ..settings(Flavor::MariaDb)
        }
    }

    /// Push `events` with information_schema answering `today` (and counting its lookups).
    fn push_with_today(a: &mut Assembler, events: &[Event], today: &[&str]) -> (Vec<Output>, u32) {
        let mut lookups = 0;
        let mut lookup = |_: &str, _: &str| -> Result<Vec<InfoColumn>, ()> {
            lookups += 1;
            Ok(shape(today))
        };
        let mut out = Vec::new();
        for ev in events {
            a.push(ev, Instant::now(), &mut lookup, &mut out)
                .unwrap_or_else(|e| panic!("push failed: {e:?}"));
        }
        (out, lookups)
    }

    fn afters(out: &[Output]) -> Vec<String> {
        batches(out)
            .iter()
            .flat_map(|b| b.entries.iter())
            .filter_map(|e| e.fields.iter().find(|(k, _)| k == "after"))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn insert_txn(log: &mut Binlog, seq: u64, id: i32) {
        log.maria_gtid(seq, false);
        log.query("BEGIN");
        table_map_minimal(log);
        log.inserts(id..id + 1);
        log.xid();
    }

    #[test]
    fn rows_decode_with_the_stored_shape_without_asking_information_schema() {
        let mut log = Binlog::new();
        insert_txn(&mut log, 1, 1);
        // information_schema already shows a later shape: it must not be asked.
        let mut a = Assembler::new(
            minimal_settings(),
            &start_at(4),
            false,
            history(&["id", "v"]),
        );
        let (out, lookups) = push_with_today(&mut a, &log.events, &["id", "w", "v"]);
        assert_eq!(lookups, 0);
        assert_eq!(afters(&out), [r#"{"id":1,"v":10}"#]);
        assert!(batches(&out).iter().all(|b| b.shapes.is_empty()));
    }

    #[test]
    fn a_ddl_stores_the_new_shape_with_the_batch_that_passes_it() {
        let mut log = Binlog::new();
        log.maria_gtid(1, true);
        let ddl_end = {
            log.query("ALTER TABLE t CHANGE v w INT, ADD COLUMN x INT");
            log.pos as u64
        };
        log.maria_gtid(2, true);
        log.query("DROP TABLE t");
        let mut a = Assembler::new(
            minimal_settings(),
            &start_at(4),
            false,
            history(&["id", "v"]),
        );
        let (out, lookups) = push_with_today(&mut a, &log.events, &[]);
        assert_eq!(lookups, 0);
        let b = batches(&out);
        let alter = b
            .iter()
            .find(|b| b.checkpoint.position.offset == ddl_end)
            .expect("the ALTER's batch");
        assert_eq!(alter.shapes.len(), 1);
        let stored = &alter.shapes[0];
        assert_eq!(stored.field, r#"["s","t"]"#);
        let (table, cols) =
            parse_shape(&stored.field, stored.value.as_deref().expect("set")).expect("parses");
        assert_eq!(table, ("s".to_string(), "t".to_string()));
        let names: Vec<_> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "w", "x"]);
        // DROP TABLE removes it from the history.
        let last = b.last().expect("the DROP's batch");
        assert_eq!(last.shapes.len(), 1);
        assert_eq!(last.shapes[0].value, None);
    }

    #[test]
    fn a_shape_read_from_information_schema_is_stored_with_the_next_batch() {
        let mut log = Binlog::new();
        insert_txn(&mut log, 1, 1);
        insert_txn(&mut log, 2, 2);
        let mut a = Assembler::new(minimal_settings(), &start_at(4), false, Shapes::new());
        let (out, lookups) = push_with_today(&mut a, &log.events, &["id", "v"]);
        assert_eq!(lookups, 1);
        let b = batches(&out);
        assert_eq!(b[0].shapes.len(), 1);
        assert!(b[1..].iter().all(|b| b.shapes.is_empty()));
        assert_eq!(afters(&out), [r#"{"id":1,"v":10}"#, r#"{"id":2,"v":20}"#]);
    }

    fn shape_resyncs(out: &[Output]) -> Vec<Vec<String>> {
        out.iter()
            .filter_map(|o| match o {
                Output::Resync {
                    tables: Some(t),
                    cause: ResyncCause::Shape,
                    ..
                } => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_map_the_stored_shape_cannot_decode_is_skipped_and_the_table_re_read() {
        // The history holds three columns (a DDL the module did not follow), the binlog two;
        // information_schema (today) fits: the first map's rows are skipped and the table
        // re-read, the next map decodes with today's shape.
        let mut log = Binlog::new();
        insert_txn(&mut log, 1, 1);
        insert_txn(&mut log, 2, 2);
        let mut a = Assembler::new(
            minimal_settings(),
            &start_at(4),
            false,
            history(&["id", "v", "gone"]),
        );
        let (out, lookups) = push_with_today(&mut a, &log.events, &["id", "v"]);
        assert_eq!(lookups, 1);
        assert_eq!(shape_resyncs(&out), [vec!["s.t".to_string()]]);
        assert_eq!(afters(&out), [r#"{"id":2,"v":20}"#]);
        // Today's shape replaces the wrong one in the history.
        let stored: Vec<_> = batches(&out)
            .iter()
            .flat_map(|b| b.shapes.clone())
            .collect();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            stored[0].value.as_deref(),
            Some(shape_value(&shape(&["id", "v"])).as_str())
        );
    }

    #[test]
    fn rows_of_a_table_reshaped_before_its_first_look_are_re_read_not_halted() {
        // Never seen: information_schema shows the shape after a DDL still ahead in the
        // binlog. Every map before it is skipped (and re-read), information_schema asked once.
        let mut log = Binlog::new();
        insert_txn(&mut log, 1, 1);
        insert_txn(&mut log, 2, 2);
        let mut a = Assembler::new(minimal_settings(), &start_at(4), false, Shapes::new());
        let (out, lookups) = push_with_today(&mut a, &log.events, &["id", "v", "later"]);
        assert_eq!(lookups, 1);
        assert!(afters(&out).is_empty());
        assert_eq!(shape_resyncs(&out).len(), 2);
    }

    // ---- docs/events.md, "Binlog events": one test (or more) per row of the table ----

    fn entry_field(e: &Entry, name: &str) -> Option<String> {
        e.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn caught_up(out: &[Output]) -> usize {
        out.iter().filter(|o| matches!(o, Output::CaughtUp)).count()
    }

    /// Row FORMAT_DESCRIPTION: position only.
    #[test]
    fn event_format_description_moves_the_position() {
        let mut log = Binlog::new();
        let mut body = Vec::new();
        FormatDescriptionEvent::new(BinlogVersion::Version4).serialize(&mut body);
        log.raw(15, &body);
        let mut a = assembler(settings(Flavor::MySql), &start_at(4), false);
        let out = push_all(&mut a, &log.events);
        assert_eq!(a.checkpoint().position.offset, log.pos as u64);
        assert!(ops(&out).is_empty() && resyncs(&out).is_empty());
    }

    /// Row HEARTBEAT / HEARTBEAT_V2: caught up outside a transaction, nothing inside one.
    #[test]
    fn event_heartbeats_mark_caught_up_outside_transactions() {
        let mut log = Binlog::new();
        log.raw(27, b"bin.000001");
        let begin = log.maria_gtid(1, false);
        log.raw(27, b"bin.000001");
        log.raw(HEARTBEAT_V2, b"\x01\x0abin.000001");
        log.table_map();
        log.inserts(1..2);
        log.xid();
        log.raw(HEARTBEAT_V2, b"\x01\x0abin.000001");
        let out = run(&log.events, &start_at(4), false);
        assert_eq!(caught_up(&out), 2, "one before, one after the transaction");
        let first_txn = out
            .iter()
            .position(|o| matches!(o, Output::TxnBegins { start, .. } if start.offset == begin));
        assert!(matches!(out.last(), Some(Output::CaughtUp)));
        assert!(first_txn.is_some_and(|i| out[..i].iter().any(|o| matches!(o, Output::CaughtUp))));
        assert_eq!(ops(&out), ["c s.t"]);
    }

    /// Three MySQL transactions of one insert each: GTID 5, tagged GTID `batch:6`, and an
    /// ANONYMOUS_GTID one.
    fn mysql_gtid_transactions() -> Binlog {
        let mut log = Binlog::new();
        log.mysql_gtid(5, 1_700_000_123_456_789, None);
        log.query("BEGIN");
        log.table_map();
        log.inserts(1..2);
        log.xid();
        log.mysql_gtid(6, 1_700_000_200_000_000, Some("batch"));
        log.query("BEGIN");
        log.table_map();
        log.inserts(2..3);
        log.xid();
        let mut body = Vec::new();
        mysql_common::binlog::events::GtidEvent::new([0; 16], 0).serialize(&mut body);
        log.raw(34, &body);
        log.query("BEGIN");
        log.table_map();
        log.inserts(3..4);
        log.xid();
        log
    }

    /// Rows MySQL GTID (and MySQL 8.4's tagged GTID), ANONYMOUS_GTID.
    #[test]
    fn event_mysql_gtids_open_transactions_with_gtid_and_commit_time() {
        let log = mysql_gtid_transactions();
        let mut a = assembler(settings(Flavor::MySql), &start_at(4), false);
        let out = push_all(&mut a, &log.events);
        let got: Vec<(Option<String>, Option<String>)> = batches(&out)
            .iter()
            .flat_map(|b| &b.entries)
            .map(|e| (entry_field(e, "gtid"), entry_field(e, "ts_ms")))
            .collect();
        let sid = "11111111-1111-1111-1111-111111111111";
        assert_eq!(
            got,
            [
                (Some(format!("{sid}:5")), Some("1700000123456".into())),
                (Some(format!("{sid}:batch:6")), Some("1700000200000".into())),
                (None, Some("1700000000000".into())),
            ]
        );
        assert_eq!(batches(&out).iter().filter(|b| b.txns == 1).count(), 3);
    }

    /// The GTID of each checkpoint after a MySQL event (boundaries and batches, in order).
    fn checkpoint_gtids(out: &[Output]) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for o in out {
            let g = match o {
                Output::Batch(b) => &b.checkpoint.gtid,
                Output::Boundary(cp) => &cp.gtid,
                _ => continue,
            };
            if v.last() != Some(g) {
                v.push(g.clone());
            }
        }
        v
    }

    /// Rows MySQL GTID, PREVIOUS_GTIDS: the checkpoint keeps MySQL's GTID set, the stored one
    /// (other servers' uuids too) plus each transaction's GTID, plus what a binlog file's
    /// PREVIOUS_GTIDS says was executed before it.
    #[test]
    fn mysql_checkpoints_keep_the_gtid_set() {
        use mysql_common::binlog::events::{PreviousGtidsEvent, PreviousGtidsSid};
        use mysql_common::packets::GnoInterval;
        let sid = "11111111-1111-1111-1111-111111111111";
        let other = "4f22ab58-82db-22f2-af44-d91bb9530673";
        // The third transaction, without a GTID, leaves the set as it is.
        let mut log = mysql_gtid_transactions();
        // DDL: GTID + statement.
        log.mysql_gtid(9, 1_700_000_300_000_000, None);
        log.query("CREATE TABLE db.x (i INT PRIMARY KEY)");
        let mut body = Vec::new();
        PreviousGtidsEvent::new(vec![
            // Intervals end exclusive: 1-8, 12.
            PreviousGtidsSid::new([0x11; 16], None, vec![GnoInterval::new(1, 9)]),
            PreviousGtidsSid::new(
                [
                    0x4f, 0x22, 0xab, 0x58, 0x82, 0xdb, 0x22, 0xf2, 0xaf, 0x44, 0xd9, 0x1b, 0xb9,
                    0x53, 0x06, 0x73,
                ],
                None,
                vec![GnoInterval::new(12, 13)],
            ),
        ])
        .serialize(&mut body);
        log.raw(35, &body);

        let start = Checkpoint {
            gtid: format!("{other}:1-10,{sid}:1-4"),
            ..start_at(4)
        };
        let mut a = assembler(settings(Flavor::MySql), &start, false);
        let out = push_all(&mut a, &log.events);
        assert_eq!(
            checkpoint_gtids(&out),
            [
                format!("{sid}:1-5,{other}:1-10"),
                format!("{sid}:1-5:batch:6,{other}:1-10"),
                format!("{sid}:1-5:9:batch:6,{other}:1-10"),
                format!("{sid}:1-9:batch:6,{other}:1-10:12"),
            ]
        );

        // A value stored by a module before the set: the last GTID alone.
        let start = Checkpoint {
            gtid: format!("{sid}:4"),
            ..start_at(4)
        };
        let mut a = assembler(settings(Flavor::MySql), &start, false);
        let out = push_all(&mut a, &log.events[..5]);
        assert_eq!(checkpoint_gtids(&out), [format!("{sid}:1-5")]);

        // Nothing stored (a source with gtid_mode OFF until now): the set starts empty.
        let mut a = assembler(settings(Flavor::MySql), &start_at(4), false);
        let out = push_all(&mut a, &log.events[..5]);
        assert_eq!(checkpoint_gtids(&out), [format!("{sid}:5")]);
    }

    /// Rows QUERY `BEGIN`, QUERY `COMMIT` (MySQL without GTIDs).
    #[test]
    fn event_begin_and_commit_queries_frame_a_transaction() {
        let mut log = Binlog::new();
        let begin = log.query("BEGIN");
        log.table_map();
        log.inserts(1..3);
        log.query("COMMIT");
        let mut a = assembler(settings(Flavor::MySql), &start_at(4), false);
        let out = push_all(&mut a, &log.events);
        assert!(matches!(&out[0], Output::TxnBegins { start, .. } if start.offset == begin));
        let b = batches(&out);
        assert_eq!(b.len(), 1);
        assert_eq!((b[0].entries.len(), b[0].txns), (2, 1));
        assert_eq!(b[0].checkpoint.position.offset, log.pos as u64);
    }

    /// Row QUERY `SAVEPOINT` / `ROLLBACK TO`: the server logs `ROLLBACK TO` only when
    /// non-transactional tables changed too, so the rows after the savepoint are in the binlog
    /// whether they stayed or not: the group's captured tables are re-read after it.
    #[test]
    fn rollback_to_savepoint_re_reads_the_tables_of_the_group() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        log.query("SAVEPOINT a");
        log.table_map();
        log.inserts(1..2);
        log.query("ROLLBACK TO SAVEPOINT a");
        log.query("RELEASE SAVEPOINT a");
        log.inserts(2..3);
        log.xid();
        let out = run(&log.events, &start_at(begin), false);
        assert_eq!(
            ops(&out),
            ["c s.t", "c s.t"],
            "the group goes on to its XID"
        );
        assert_eq!(resyncs(&out), [(tables(&["s.t"]), ResyncCause::Rollback)]);
    }

    /// Row DROP DATABASE: a `t` entry for each captured table of it the module knows (listed at
    /// the start, seen in a table map, created or renamed to since); they leave CDC.TABLES.
    #[test]
    fn drop_database_empties_its_known_captured_tables() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        log.table_map_of(43, "d", "seen");
        log.xid();
        log.maria_gtid(2, true);
        log.query("CREATE TABLE d.made (id INT PRIMARY KEY)");
        log.maria_gtid(3, true);
        log.query("RENAME TABLE d.made TO d.moved");
        log.maria_gtid(4, true);
        let drop = log.query("DROP DATABASE d");
        log.maria_gtid(5, true);
        log.query("DROP SCHEMA IF EXISTS nothing_known");
        let mut a = assembler(settings(Flavor::MariaDb), &start_at(begin), false);
        a.know_tables(["d.listed".to_string(), "e.other".to_string()]);
        let out = push_all(&mut a, &log.events);
        assert_eq!(
            ops(&out),
            ["t d.made", "t d.listed", "t d.moved", "t d.seen"]
        );
        let b = batches(&out);
        let dropped = b
            .iter()
            .find(|b| b.checkpoint.gtid == "0-7-4")
            .expect("the DROP DATABASE batch");
        assert_eq!(dropped.gone, ["d.listed", "d.moved", "d.seen"]);
        let pos: Vec<String> = dropped
            .entries
            .iter()
            .filter_map(|e| entry_field(e, "pos"))
            .collect();
        assert_eq!(
            pos,
            (0..3)
                .map(|i| format!("bin.000001:{drop}:{i}"))
                .collect::<Vec<_>>()
        );
        // Gone from what is known: a second DROP DATABASE d empties nothing.
        let mut log2 = Binlog::new();
        log2.maria_gtid(6, true);
        log2.query("DROP DATABASE d");
        assert!(ops(&push_all(&mut a, &log2.events)).is_empty());
    }

    /// Row CREATE OR REPLACE TABLE (MariaDB): `t`, then the new table's rows; it stays in
    /// CDC.TABLES. A row-logged `CREATE OR REPLACE ... SELECT` is one group: `t`, then the
    /// rows.
    #[test]
    fn create_or_replace_is_a_drop_and_a_create() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, true);
        log.query("CREATE OR REPLACE TABLE t (id INT PRIMARY KEY, v INT)");
        log.maria_gtid(2, false);
        log.query("CREATE OR REPLACE TABLE `s`.`t` (\n  `id` int(11) NOT NULL,\n  `v` int(11)\n)");
        log.table_map();
        log.inserts(1..2);
        log.xid();
        let out = run(&log.events, &start_at(begin), false);
        assert_eq!(ops(&out), ["t s.t", "t s.t", "c s.t"]);
        let b: Vec<&Batch> = batches(&out)
            .into_iter()
            .filter(|b| !b.entries.is_empty())
            .collect();
        assert_eq!(
            b.len(),
            2,
            "the second CREATE OR REPLACE and its rows are one batch"
        );
        assert!(b.iter().all(|b| b.gone.is_empty()));
        assert!(resyncs(&out).is_empty());
    }

    /// Row partition DDL: TRUNCATE/DROP PARTITION, EXCHANGE PARTITION, MariaDB CONVERT
    /// PARTITION/TABLE, IMPORT TABLESPACE change rows without rows events: re-read.
    #[test]
    fn partition_ddl_re_reads_its_tables() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, true);
        for (seq, sql) in [
            "ALTER TABLE t TRUNCATE PARTITION p0",
            "ALTER TABLE t DROP PARTITION p1",
            "ALTER TABLE t EXCHANGE PARTITION p0 WITH TABLE u",
            "ALTER TABLE t EXCHANGE PARTITION p0 WITH TABLE mysql.x",
            "ALTER TABLE t CONVERT PARTITION p1 TO TABLE q",
            "ALTER TABLE t CONVERT TABLE q TO PARTITION p1 VALUES LESS THAN (20)",
            "ALTER TABLE t IMPORT TABLESPACE",
            "ALTER TABLE t ADD PARTITION (PARTITION p9 VALUES LESS THAN (90))",
        ]
        .iter()
        .enumerate()
        {
            if seq > 0 {
                log.maria_gtid(seq as u64 + 1, true);
            }
            log.query(sql);
        }
        let out = run(&log.events, &start_at(begin), false);
        let ddl = |t: &[&str]| (tables(t), ResyncCause::Ddl);
        assert_eq!(
            resyncs(&out),
            [
                ddl(&["s.t"]),
                ddl(&["s.t"]),
                ddl(&["s.t", "s.u"]),
                ddl(&["s.t"]),
                ddl(&["s.q", "s.t"]),
                ddl(&["s.t"]),
                ddl(&["s.t"]),
            ]
        );
        // CONVERT TABLE q TO PARTITION: q is gone.
        assert_eq!(ops(&out), ["t s.q"]);
        assert!(batches(&out).iter().any(|b| b.gone == ["s.q"]));
    }

    /// Row CREATE TABLE ... SELECT: logged as a statement, its rows are not in the binlog (a
    /// re-read); MySQL 8.0.21+ logs it as `CREATE TABLE ... START TRANSACTION`, rows and XID, one
    /// group.
    #[test]
    fn create_table_select_is_re_read_or_one_group() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, true);
        log.query("CREATE TABLE c AS SELECT * FROM t");
        let out = run(&log.events, &start_at(begin), false);
        assert_eq!(resyncs(&out), [(tables(&["s.c"]), ResyncCause::Statement)]);

        let mut log = Binlog::new();
        log.mysql_gtid(9, 1_700_000_000_000_000, None);
        log.query("CREATE TABLE `t` (`id` int NOT NULL, `v` int) START TRANSACTION");
        log.table_map();
        log.inserts(1..3);
        log.xid();
        let mut a = assembler(settings(Flavor::MySql), &start_at(4), false);
        let out = push_all(&mut a, &log.events);
        let b: Vec<&Batch> = batches(&out)
            .into_iter()
            .filter(|b| !b.entries.is_empty() || b.txns > 0)
            .collect();
        assert_eq!(b.len(), 1);
        assert_eq!((b[0].entries.len(), b[0].txns), (2, 1));
        assert_eq!(
            entry_field(&b[0].entries[0], "gtid").as_deref(),
            Some("11111111-1111-1111-1111-111111111111:9")
        );
        assert!(resyncs(&out).is_empty());
    }

    /// Row "statements, triggers and stored functions": statement-logged DML is followed
    /// through the triggers of the tables it writes, the views it writes through and the
    /// functions it calls; what cannot be told re-reads every captured table.
    #[test]
    fn foreign_key_actions_re_read_the_captured_children() {
        use crate::schema::code::{Code, CodeQuery, ForeignKey};
        use std::sync::{Arc, Mutex};
        let fk = |child: &str, on_delete: &str, on_update: &str, cols: (&str, &str)| {
            Code::ForeignKey(ForeignKey {
                child: ("s".into(), child.into()),
                parent: ("p".into(), "parent".into()),
                on_delete: on_delete.into(),
                on_update: on_update.into(),
                columns: vec![(cols.0.into(), cols.1.into())],
            })
        };
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        // The uncaptured p.parent: a DELETE cascades to s.child.
        log.table_map_of(100, "p", "parent");
        log.rows_of(100, 32, &[(1, 5)]);
        log.xid();
        // An UPDATE of its key only: s.nulls follows `v` (ON UPDATE CASCADE), s.child `id`
        // with RESTRICT: nothing changes in captured tables.
        log.maria_gtid(2, false);
        log.table_map_of(100, "p", "parent");
        log.rows_of(100, 31, &[(2, 5), (3, 5)]);
        log.xid();
        // An UPDATE of `v`: s.nulls.
        log.maria_gtid(3, false);
        log.table_map_of(100, "p", "parent");
        log.rows_of(100, 31, &[(3, 5), (3, 6)]);
        log.xid();
        // The captured s.t is nobody's parent: rows, no re-read, no lookup.
        log.maria_gtid(4, false);
        log.table_map();
        log.rows(32, &[(1, 1)]);
        log.rows(31, &[(2, 2), (2, 3)]);
        log.xid();
        let mut s = settings(Flavor::MariaDb);
        s.filter = TableFilter::new("s.*", "").expect("filter");
        let mut a = assembler(s, &start_at(begin), false);
        a.know_tables(["s.t".to_string(), "s.child".to_string()]);
        let asked = Arc::new(Mutex::new(Vec::new()));
        let asked_by = asked.clone();
        a.set_code_lookup(Box::new(move |q| {
            asked_by
                .lock()
                .map_err(|e| e.to_string())?
                .push(format!("{q:?}"));
            Ok(match q {
                CodeQuery::ForeignKeys { db: "s" } => vec![
                    fk("child", "CASCADE", "RESTRICT", ("pid", "id")),
                    fk("nulls", "NO ACTION", "CASCADE", ("pv", "v")),
                ],
                _ => Vec::new(),
            })
        }));
        let out = push_all(&mut a, &log.events);
        assert_eq!(
            resyncs(&out),
            [
                (tables(&["s.child"]), ResyncCause::Cascade),
                (tables(&["s.nulls"]), ResyncCause::Cascade)
            ]
        );
        assert!(
            reasons(&out)[0].contains("a DELETE of p.parent"),
            "{:?}",
            reasons(&out)
        );
        assert_eq!(ops(&out), ["d s.t", "u s.t"]);
        // Looked up once: the captured tables' database, then the parents'.
        assert_eq!(
            *asked.lock().expect("lock"),
            [
                "ForeignKeys { db: \"s\" }".to_string(),
                "ForeignKeys { db: \"p\" }".to_string()
            ]
        );
        // DDL forgets: the next DELETE looks the keys up again.
        let mut log2 = Binlog::new();
        log2.pos = log.pos;
        log2.maria_gtid(5, true);
        log2.query("ALTER TABLE s.child ADD COLUMN x INT");
        log2.maria_gtid(6, false);
        log2.table_map_of(100, "p", "parent");
        log2.rows_of(100, 32, &[(3, 6)]);
        log2.xid();
        let out = push_all(&mut a, &log2.events);
        let cascades: Vec<_> = resyncs(&out)
            .into_iter()
            .filter(|(_, c)| *c == ResyncCause::Cascade)
            .collect();
        assert_eq!(cascades, [(tables(&["s.child"]), ResyncCause::Cascade)]);
        assert_eq!(asked.lock().expect("lock").len(), 4);
    }

    #[test]
    fn a_failed_look_up_of_a_statements_code_is_a_retry_not_a_re_read() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        log.query("INSERT INTO s.t VALUES (1)");
        log.xid();
        let mut a = assembler(settings(Flavor::MariaDb), &start_at(begin), false);
        a.set_code_lookup(Box::new(|_| Err("Lost connection to server".into())));
        let mut out = Vec::new();
        let mut failed = None;
        for ev in &log.events {
            if let Err(e) = push(&mut a, ev, &mut out) {
                failed = Some(e);
                break;
            }
        }
        assert!(
            matches!(&failed, Some(AssembleError::Retry(m)) if m.contains("Lost connection")),
            "{failed:?}"
        );
        assert!(
            resyncs(&out).is_empty(),
            "a failed look-up is no reason to re-read"
        );
    }

    #[test]
    fn statement_dml_follows_triggers_views_and_functions() {
        use crate::schema::code::{Code, CodeQuery};
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        for (seq, sql) in [
            "INSERT INTO mysql.log_table VALUES (1)",
            "INSERT INTO v VALUES (1, 1)",
            "SELECT `s`.`f`(7)",
            "DELETE FROM hidden",
            "DO gone()",
            "UPDATE plain SET v = 1",
        ]
        .iter()
        .enumerate()
        {
            if seq > 0 {
                log.maria_gtid(seq as u64 + 1, false);
            }
            log.query(sql);
            log.xid();
        }
        let mut a = assembler(settings(Flavor::MariaDb), &start_at(begin), false);
        a.set_code_lookup(Box::new(|q| {
            Ok(match q {
                CodeQuery::Table {
                    db: "mysql",
                    table: "log_table",
                } => vec![Code::Trigger("INSERT INTO s.t VALUES (NEW.id, 0)".into())],
                CodeQuery::Table {
                    db: "s",
                    table: "v",
                } => vec![Code::View(Some(
                    "select `s`.`base`.`id` AS `id` from `s`.`base`".into(),
                ))],
                CodeQuery::Table {
                    db: "s",
                    table: "hidden",
                } => vec![Code::TriggersHidden],
                CodeQuery::Routines { db: "s" } => vec![Code::Routine {
                    name: "f".into(),
                    body: Some("begin insert into by_f values (1, 1); return 1; end".into()),
                }],
                _ => Vec::new(),
            })
        }));
        let out = push_all(&mut a, &log.events);
        let st = |t: Option<Vec<String>>| (t, ResyncCause::Statement);
        assert_eq!(
            resyncs(&out),
            [
                st(tables(&["s.t"])),
                st(tables(&["s.base"])),
                st(tables(&["s.by_f"])),
                st(None),
                st(None),
                st(tables(&["s.plain"])),
            ]
        );
        let why = reasons(&out);
        assert!(why[0].contains("with its triggers"), "{}", why[0]);
        assert!(why[3].contains("TRIGGER privilege"), "{}", why[3]);
        assert!(why[4].contains("could not be found"), "{}", why[4]);
    }

    /// Row statement DML: MariaDB's `SET STATEMENT ... FOR <DML>` is that DML.
    #[test]
    fn set_statement_for_dml_is_statement_dml() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        log.query("SET STATEMENT max_statement_time=10 FOR DELETE FROM t WHERE id < 5");
        log.xid();
        let out = run(&log.events, &start_at(begin), false);
        assert_eq!(resyncs(&out), [(tables(&["s.t"]), ResyncCause::Statement)]);
    }

    /// Rows BEGIN_LOAD_QUERY, APPEND_BLOCK, EXECUTE_LOAD_QUERY, DELETE_FILE: LOAD DATA logged
    /// as a statement re-reads its table; a load that failed (DELETE_FILE) changed nothing.
    #[test]
    fn event_load_data_logged_as_a_statement_re_reads_its_table() {
        use mysql_common::binlog::consts::LoadDuplicateHandling;
        use mysql_common::binlog::events::ExecuteLoadQueryEvent;
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        let mut block = 7u32.to_le_bytes().to_vec();
        block.extend_from_slice(b"1,2\n3,4\n");
        log.raw(17, &block);
        log.raw(9, &block);
        let mut q = Vec::new();
        ExecuteLoadQueryEvent::new(
            7,
            LoadDuplicateHandling::LOAD_DUP_ERROR,
            Vec::new(),
            b"s".to_vec(),
        )
        .with_query(b"LOAD DATA INFILE '/tmp/x.csv' INTO TABLE t FIELDS TERMINATED BY ','".to_vec())
        .serialize(&mut q);
        let at = log.raw(18, &q);
        log.xid();
        log.maria_gtid(2, false);
        log.raw(17, &block);
        log.raw(11, &7u32.to_le_bytes());
        log.xid();
        let out = run(&log.events, &start_at(begin), false);
        assert_eq!(resyncs(&out), [(tables(&["s.t"]), ResyncCause::Statement)]);
        let why = &reasons(&out)[0];
        assert!(
            why.contains("LOAD on s.t") && why.contains(&format!("bin.000001:{at}")),
            "{why}"
        );
    }

    /// Rows LOAD, CREATE_FILE, EXEC_LOAD, NEW_LOAD (MySQL 3.23-4.x LOAD DATA): every captured
    /// table is re-read.
    #[test]
    fn event_old_load_data_events_re_read_every_captured_table() {
        let mut log = Binlog::new();
        for t in [6u8, 8, 10, 12] {
            log.raw(t, b"\x07\x00\x00\x00old");
        }
        let mut a = assembler(settings(Flavor::MySql), &start_at(4), false);
        let out = push_all(&mut a, &log.events);
        assert_eq!(resyncs(&out), vec![(None, ResyncCause::Statement); 4]);
        assert_eq!(a.checkpoint().position.offset, log.pos as u64);
    }

    /// Row WRITE/UPDATE/DELETE_ROWS v1 (what MariaDB writes).
    #[test]
    fn event_v1_rows_events_are_entries() {
        fn v1(log: &mut Binlog, type_: u8, images: &[(i32, i32)]) {
            let mut b = Vec::new();
            b.extend_from_slice(&TABLE_ID.to_le_bytes()[..6]);
            b.extend_from_slice(&1u16.to_le_bytes());
            b.push(2);
            b.push(0b11);
            if type_ == 24 {
                b.push(0b11);
            }
            for (id, v) in images {
                b.push(0);
                b.extend_from_slice(&id.to_le_bytes());
                b.extend_from_slice(&v.to_le_bytes());
            }
            log.raw(type_, &b);
        }
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        log.table_map();
        v1(&mut log, 23, &[(1, 10), (2, 20)]);
        v1(&mut log, 24, &[(1, 10), (1, 11)]);
        v1(&mut log, 25, &[(2, 20)]);
        log.xid();
        let out = run(&log.events, &start_at(begin), false);
        assert_eq!(
            keys(batches(&out)[0]),
            [
                r#"c {"id":1}"#,
                r#"c {"id":2}"#,
                r#"u {"id":1}"#,
                r#"d {"id":2}"#
            ]
        );
    }

    /// Row "rows layouts the module does not decode" (MySQL 5.1 pre-GA rows 0x14-0x16,
    /// MariaDB compressed v2 rows 0xa9-0xab): their table is re-read; nothing for a table not
    /// captured; every captured table when the table id has no map.
    #[test]
    fn event_rows_the_module_cannot_decode_re_read_their_table() {
        let body = |id: u64| {
            let mut b = id.to_le_bytes()[..6].to_vec();
            b.extend_from_slice(&[1, 0, 2, 0b11, 0]);
            b
        };
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        log.table_map();
        log.table_map_of(43, "mysql", "x");
        log.raw(0x14, &body(TABLE_ID));
        log.xid();
        log.maria_gtid(2, false);
        log.raw(0xa9, &body(43));
        log.xid();
        log.maria_gtid(3, false);
        log.raw(0x16, &body(99));
        log.xid();
        log.maria_gtid(4, false);
        log.raw(0xab, &body(TABLE_ID));
        log.xid();
        let out = run(&log.events, &start_at(begin), false);
        let u = |t| (t, ResyncCause::Unknown);
        assert_eq!(
            resyncs(&out),
            [u(tables(&["s.t"])), u(None), u(tables(&["s.t"]))]
        );
        let why = reasons(&out);
        assert!(why[2].contains("log_bin_compress=OFF"), "{}", why[2]);
        assert!(ops(&out).is_empty());
    }

    /// Rows ANNOTATE_ROWS, BINLOG_CHECKPOINT, GTID_LIST, START_ENCRYPTION (MariaDB): no rows,
    /// position only (the real file's: fixtures::assembler_writes_the_mariadb_file_entries).
    #[test]
    fn event_maria_events_without_rows_move_the_position() {
        let mut log = Binlog::new();
        let mut ends = Vec::new();
        for t in [
            MARIA_BINLOG_CHECKPOINT,
            MARIA_GTID_LIST,
            MARIA_START_ENCRYPTION,
        ] {
            log.raw(t, b"\x00\x00\x00\x00");
            ends.push(log.pos as u64);
        }
        let begin = log.maria_gtid(1, false);
        log.raw(MARIA_ANNOTATE_ROWS, b"INSERT INTO t VALUES (1, 10)");
        log.table_map();
        log.inserts(1..2);
        log.xid();
        let mut a = assembler(settings(Flavor::MariaDb), &start_at(4), false);
        let out = push_all(&mut a, &log.events);
        let bounds: Vec<u64> = out
            .iter()
            .filter_map(|o| match o {
                Output::Boundary(c) if c.position.offset <= begin => Some(c.position.offset),
                _ => None,
            })
            .collect();
        assert_eq!(bounds, ends);
        assert_eq!(ops(&out), ["c s.t"]);
        assert!(resyncs(&out).is_empty());
    }

    /// Rows INTVAR, RAND, USER_VAR, ROWS_QUERY (context of a statement, inside a group) and
    /// PREVIOUS_GTIDS, IGNORABLE, TRANSACTION_CONTEXT, VIEW_CHANGE, STOP, START_V3, SLAVE
    /// (outside): no rows, position only.
    #[test]
    fn event_kinds_without_rows_move_the_position_only() {
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, false);
        log.raw(5, &[2, 5, 0, 0, 0, 0, 0, 0, 0]);
        log.raw(13, &[1; 16]);
        log.raw(14, &[1, 0, 0, 0, b'x', 1]);
        log.raw(29, b"\x1cINSERT INTO t VALUES (1, 10)");
        log.table_map();
        log.inserts(1..2);
        log.xid();
        let mut ends = Vec::new();
        for (t, body) in [
            (35u8, &[0u8; 8][..]),
            (28, b"ignorable"),
            (36, b"context"),
            (37, b"view change"),
            (3, b""),
            (1, b"\x03\x00start v3"),
            (7, b""),
        ] {
            log.raw(t, body);
            ends.push(log.pos as u64);
        }
        let mut a = assembler(settings(Flavor::MariaDb), &start_at(begin), false);
        let out = push_all(&mut a, &log.events);
        assert_eq!(ops(&out), ["c s.t"]);
        assert!(resyncs(&out).is_empty());
        let bounds: Vec<u64> = out
            .iter()
            .filter_map(|o| match o {
                Output::Boundary(c) => Some(c.position.offset),
                _ => None,
            })
            .collect();
        assert_eq!(bounds[1..], ends[..], "{bounds:?}");
    }

    /// Row INCIDENT: the source says its binlog lacks changes: every captured table is re-read
    /// (MySQL may give the incident a GTID of its own: the group ends with it).
    #[test]
    fn event_incident_re_reads_every_captured_table() {
        use mysql_common::binlog::consts::IncidentType;
        use mysql_common::binlog::events::IncidentEvent;
        let mut body = Vec::new();
        IncidentEvent::new(
            IncidentType::INCIDENT_LOST_EVENTS,
            b"error writing to the binary log".to_vec(),
        )
        .serialize(&mut body);
        let mut log = Binlog::new();
        let at = log.raw(26, &body);
        log.mysql_gtid(3, 1_700_000_000_000_000, None);
        log.raw(26, &body);
        let mut a = assembler(settings(Flavor::MySql), &start_at(4), false);
        let out = push_all(&mut a, &log.events);
        assert_eq!(resyncs(&out), vec![(None, ResyncCause::Incident); 2]);
        let why = &reasons(&out)[0];
        assert!(
            why.contains("LOST_EVENTS") && why.contains(&format!("bin.000001:{at}")),
            "{why}"
        );
        assert_eq!(a.checkpoint().position.offset, log.pos as u64);
        assert_eq!(
            a.checkpoint().gtid,
            "11111111-1111-1111-1111-111111111111:3"
        );
    }

    /// Row "unknown kinds": an event kind the module does not know may carry changes: every
    /// captured table is re-read, unless the source flagged it ignorable.
    #[test]
    fn event_unknown_kinds_re_read_every_captured_table_unless_ignorable() {
        let mut log = Binlog::new();
        let zero = log.raw(0, b"");
        log.raw(0x2b, b"new in MySQL 9");
        log.raw(0xac, b"\x01\x00\x00\x00\x01\x00\x00\x00\x00rows");
        log.raw_flagged(0xad, b"may be skipped", LOG_EVENT_IGNORABLE_F);
        let mut a = assembler(settings(Flavor::MariaDb), &start_at(4), false);
        let out = push_all(&mut a, &log.events);
        assert_eq!(resyncs(&out), vec![(None, ResyncCause::Unknown); 3]);
        assert!(reasons(&out)[0].contains(&format!("type 0) at bin.000001:{zero}")));
        assert_eq!(a.checkpoint().position.offset, log.pos as u64);
    }

    /// Rows QUERY_COMPRESSED and WRITE/UPDATE/DELETE_ROWS_COMPRESSED v1 (MariaDB
    /// log_bin_compress): inflated and handled as the plain event, at the compressed event's
    /// position.
    #[test]
    fn event_maria_compressed_events_are_handled_as_their_plain_form() {
        use std::io::Write;
        let packed = |plain: &[u8]| {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(plain).expect("zlib");
            let mut out = vec![0x81, plain.len() as u8];
            out.extend(z.finish().expect("zlib"));
            out
        };
        let mut log = Binlog::new();
        let begin = log.maria_gtid(1, true);
        // QUERY: post-header (13), no status vars, db "s" and its NUL, then the query.
        let mut q = Vec::new();
        QueryEvent::new(Vec::new(), b"s".to_vec())
            .with_query(b"TRUNCATE TABLE t".to_vec())
            .serialize(&mut q);
        let mut body = q[..15].to_vec();
        body.extend(packed(&q[15..]));
        let truncate = log.raw(0xa5, &body);
        log.maria_gtid(2, false);
        log.table_map();
        // WRITE_ROWS v1: table id, flags, 2 columns, bitmap, then the (compressed) rows.
        let mut body = TABLE_ID.to_le_bytes()[..6].to_vec();
        body.extend_from_slice(&[1, 0, 2, 0b11]);
        let mut rows = Vec::new();
        for id in [1i32, 2] {
            rows.push(0);
            rows.extend_from_slice(&id.to_le_bytes());
            rows.extend_from_slice(&(id * 10).to_le_bytes());
        }
        body.extend(packed(&rows));
        let write = log.raw(0xa6, &body);
        log.xid();
        let out = run(&log.events, &start_at(begin), false);
        let pos: Vec<(String, Option<String>)> = batches(&out)
            .iter()
            .flat_map(|b| &b.entries)
            .map(|e| (e.fields[0].1.clone(), entry_field(e, "pos")))
            .collect();
        assert_eq!(
            pos,
            [
                ("t".to_string(), Some(format!("bin.000001:{truncate}:0"))),
                ("c".to_string(), Some(format!("bin.000001:{write}:0"))),
                ("c".to_string(), Some(format!("bin.000001:{write}:1"))),
            ]
        );
    }
}

//! The binlog reader thread: reads events from the source and forwards what the transaction
//! assembler (`redis_cdc_core::assemble`, which documents what the position means) outputs:
//! batches to the writer, transaction boundaries to the snapshot gate, lag to the status.
//!
//! All I/O of following the binlog is here: the replication connection and its settings, the
//! information_schema look-ups the assembler asks for, the channel to the writer.

use crate::config::{Config, SourceUrl};
use crate::sink::BatchSender;
use crate::source::snapshot::Gate;
use crate::source::{connect, connect_with_timeout, info_columns, Flavor, ServerInfo, SourceError};
use crate::status::{now_ms, STATUS};
use mysql::prelude::Queryable;
use mysql::BinlogRequest;
use redis_cdc_core::assemble::{AssembleError, Assembler, Output, ResyncCause, Settings};
use redis_cdc_core::model::name::{split_table, table_name};
use redis_cdc_core::model::position::{Checkpoint, MariaGtidState};
use redis_cdc_core::schema::Shapes;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The heartbeat the source sends when it has nothing to send, so that a stop is noticed and a
/// dead connection detected (the read timeout is a few heartbeats).
const HEARTBEAT: Duration = Duration::from_secs(1);

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
            crate::ffi::os::cut_socket(fd);
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
    /// Re-read requests for the snapshot thread (tables changed by statement-logged DML).
    pub resync: crossbeam_channel::Sender<Vec<String>>,
    /// The captured tables (`db.table`) of this session.
    pub captured: Vec<String>,
    /// The list `captured_now` gave for the last batch that re-reads every table, for the
    /// re-read request that follows it (one look-up for both).
    pub all_captured: std::cell::RefCell<Option<Vec<String>>>,
    /// Cluster mode: the tables this node streams and where each resumes (None outside it).
    pub cluster: Option<redis_cdc_core::cluster::ClusterView>,
}

impl Reader {
    /// Follow the binlog from `start` until stopped or an error. Returns Ok(()) on a stop.
    /// `shapes` is the schema history stored with `start`; None for a new starting point (the
    /// source's current end), where the captured tables' shapes are read at once.
    pub fn run(&self, start: Checkpoint, shapes: Option<Shapes>) -> Result<(), SourceError> {
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
                // and offset of the request are then ignored (docs/internals.md, 9:
                // "MariaDB GTIDs need slave capability 4").
                let state: MariaGtidState = start
                    .gtid
                    .parse()
                    .map_err(|e| SourceError::setup(format!("stored GTID state: {e}")))?;
                setup(&mut conn, &format!("SET @slave_connect_state = '{state}'"))?;
                setup(&mut conn, "SET @slave_gtid_strict_mode = 0")?;
                setup(&mut conn, "SET @slave_gtid_ignore_duplicates = 0")?;
            }
        }
        let fd = conn.as_raw_fd();
        let settings = Settings {
            filter: self.config.filter.clone(),
            format: self.config.format,
            stream_prefix: self.config.stream_prefix.clone(),
            cluster: self.config.cluster,
            flavor: self.info.flavor,
            full_metadata: self.info.full_metadata,
            source_id: self.info.server_id,
            schema_changes: self.config.schema_changes,
            mirror: self.config.mirror.clone(),
            streams: self.config.streams,
            columns: self.config.columns.clone(),
        };
        let needs_shapes = settings.needs_shapes();
        let new_start = shapes.is_none();
        let mut assembler =
            Assembler::new(settings, &start, self.by_gtid, shapes.unwrap_or_default());
        // What a DROP DATABASE empties: the captured tables of this session and those written
        // by earlier ones (CDC.TABLES).
        let listed: Vec<String> = STATUS.lock().tables.keys().cloned().collect();
        assembler.know_tables(self.captured.iter().cloned().chain(listed));
        assembler.set_code_lookup(crate::source::code::lookup(self.url.clone()));
        if let Some(view) = &self.cluster {
            assembler.set_cluster(view.clone());
        }
        let mut info_conn: Option<mysql::Conn> = None;
        let mut columns = |db: &str, table: &str| {
            let conn = match info_conn.as_mut() {
                Some(c) => c,
                None => info_conn.insert(connect(&self.url)?),
            };
            let cols = info_columns(conn, self.info.flavor, db, table)?;
            if cols.is_empty() {
                // information_schema hides the tables a user has no privilege on: the binlog
                // names a captured table that was never snapshotted. Stop, naming the GRANT.
                crate::source::check_readable(conn, &self.url.user, db, table)?;
            }
            Ok(cols)
        };
        if new_start && needs_shapes {
            for (db, table) in self.captured.iter().filter_map(|t| split_table(t)) {
                match columns(&db, &table) {
                    Ok(cols) => assembler.learn_shape(&db, &table, cols),
                    // Read again (and the error reported) at the table's first table map.
                    Err(e) => log::debug!("shape of {db}.{table}: {e}"),
                }
            }
            // Stored at once: a stop before the first event must not lose them.
            let mut out = Vec::new();
            assembler.flush(Instant::now(), &mut out);
            for output in out {
                self.forward(output)?;
            }
        }
        let request = BinlogRequest::new(self.config.server_id)
            .with_filename(start.position.file.as_bytes().to_vec())
            .with_pos(start.position.offset);
        self.interrupt.set(Some(fd));
        let mut outputs = Vec::new();
        let result = (|| {
            let stream = conn.get_binlog_stream(request).map_err(|e| {
                let what = format!("requesting the binlog at {}", start.position);
                match &e {
                    // The user logged in already: "access denied" here is the binlog dump
                    // refused for want of REPLICATION SLAVE (MariaDB sends 1045 for it).
                    mysql::Error::MySqlError(m) if m.code == 1045 => SourceError::setup(format!(
                        "{what}: the user may connect but not read the binlog ({}): GRANT REPLICATION SLAVE ON *.* TO the user of cdc.mysql-url",
                        m.message
                    )),
                    _ => SourceError::from_mysql(&what, e),
                }
            })?;
            log::info!("streaming from {}", start.position);
            for ev in stream {
                if self.stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let ev = ev.map_err(|e| {
                    SourceError::from_mysql(
                        &format!(
                            "reading the binlog after {}",
                            assembler.checkpoint().position
                        ),
                        e,
                    )
                })?;
                STATUS
                    .bytes_read
                    .fetch_add(ev.header().event_size() as u64, Ordering::Relaxed);
                let pushed = assembler.push(&ev, Instant::now(), &mut columns, &mut outputs);
                // What the assembler output before a failure still goes out, in order.
                for output in outputs.drain(..) {
                    self.forward(output)?;
                }
                pushed.map_err(|e| match e {
                    AssembleError::Halt(msg) => SourceError::halt(msg),
                    AssembleError::Lookup(e) => e,
                    AssembleError::Retry(msg) => SourceError::retry(msg),
                })?;
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
                Err(SourceError::retry(format!(
                    "the source closed the binlog stream after {}",
                    assembler.checkpoint().position
                )))
            }
        })();
        self.interrupt.set(None);
        match result {
            // A stop that interrupted the socket shows up as a read error: it is a stop.
            Err(_) if self.stop.load(Ordering::Relaxed) => Ok(()),
            r => r,
        }
    }

    /// Every captured table as of now (tables created since the session started included); the
    /// session's list when the source cannot be asked.
    fn captured_now(&self) -> Vec<String> {
        let listed = connect(&self.url)
            .and_then(|mut c| crate::source::captured_tables(&mut c, &self.config.filter));
        match listed {
            Ok(tables) => tables
                .into_iter()
                .map(|(d, t)| table_name(&d, &t))
                .collect(),
            Err(e) => {
                log::warn!("{e}: re-reading the tables captured at the session's start");
                self.captured.clone()
            }
        }
    }

    /// Act on one output of the assembler.
    fn forward(&self, output: Output) -> Result<(), SourceError> {
        match output {
            Output::TxnBegins { start, checkpoint } => {
                self.gate
                    .reader_begins(&start, &checkpoint, &self.tx, &self.stop)
            }
            Output::Batch(mut batch) => {
                // Kept for the re-read request right after this batch (never an older one).
                *self.all_captured.borrow_mut() = if batch.rereads.iter().any(|t| t == "*") {
                    let all = self.captured_now();
                    batch.rereads.clone_from(&all);
                    Some(all)
                } else {
                    None
                };
                if batch.txns > 0 && batch.commit_ms == 0 {
                    // The source gave no commit time.
                    batch.commit_ms = now_ms();
                }
                STATUS.batches_sent.fetch_add(1, Ordering::Relaxed);
                self.tx
                    .send(batch)
                    .map_err(|_| SourceError::retry("the writer stopped".into()))
            }
            Output::Boundary(checkpoint) => self.gate.reader_at_boundary(&checkpoint, &self.tx),
            Output::CaughtUp => {
                STATUS.caught_up.store(true, Ordering::Relaxed);
                Ok(())
            }
            Output::Behind => {
                STATUS.caught_up.store(false, Ordering::Relaxed);
                Ok(())
            }
            Output::Warning(w) => {
                STATUS.warn(w);
                Ok(())
            }
            Output::Resync {
                tables,
                reason,
                cause,
            } => {
                match cause {
                    ResyncCause::Statement => {
                        log::warn!("{reason}");
                        STATUS.statement_resyncs.fetch_add(1, Ordering::Relaxed);
                    }
                    ResyncCause::RowImage => {
                        log::warn!("{reason}");
                        STATUS.row_image_resyncs.fetch_add(1, Ordering::Relaxed);
                    }
                    ResyncCause::Shape => {
                        log::warn!("{reason}");
                        STATUS.shape_resyncs.fetch_add(1, Ordering::Relaxed);
                    }
                    ResyncCause::Cascade => {
                        log::info!("{reason}");
                        STATUS.cascade_resyncs.fetch_add(1, Ordering::Relaxed);
                    }
                    ResyncCause::Rename | ResyncCause::Ddl => log::info!("{reason}"),
                    ResyncCause::Incident | ResyncCause::Unknown | ResyncCause::Rollback => {
                        log::warn!("{reason}")
                    }
                }
                let tables = tables.unwrap_or_else(|| {
                    self.all_captured
                        .borrow_mut()
                        .take()
                        .unwrap_or_else(|| self.captured_now())
                });
                // The snapshot thread queues it like a CDC.RESYNC (and stores the queue with
                // its first batch); it is gone only when the session ends.
                let _ = self.resync.send(tables);
                Ok(())
            }
        }
    }
}

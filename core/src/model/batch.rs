//! What the source hands to the writer: stream entries and the checkpoint covering them.

use crate::format::mirror::MirrorWrite;
use crate::format::Fields;
use crate::model::position::Checkpoint;
use std::sync::Arc;

/// One stream entry ready to append.
pub struct Entry {
    pub stream: Arc<str>,
    /// `db.table`, for per-table counters.
    pub table: Arc<str>,
    /// The entry's fields; empty with `cdc.streams no` (no stream entry, the mirror only).
    pub fields: Fields,
    /// What the change does to the mirror (`cdc.mirror`), applied in entry order.
    pub mirror: Option<MirrorWrite>,
}

/// Entries and the checkpoint that covers them.
pub struct Batch {
    pub entries: Vec<Entry>,
    pub checkpoint: Checkpoint,
    /// `FILE:OFFSET` to show as the position (end of the last event processed).
    pub position: String,
    /// Transactions completed by this batch.
    pub txns: u64,
    /// Commit time of the last transaction in the batch, ms since the epoch (0 = none).
    pub commit_ms: u64,
    /// New value of the offset hash's snapshot-progress field (a snapshot chunk's batch), written
    /// in the same atomic unit as the entries; None leaves the field as it is.
    pub snapshot: Option<String>,
    /// What this batch does with a prepared XA transaction (None: an ordinary batch).
    pub xa: Option<XaOp>,
    /// Captured tables (`db.table`) this batch's transaction dropped or renamed away: they leave
    /// CDC.TABLES once it is written.
    pub gone: Vec<String>,
    /// Changes to the schema history (the stored table shapes) up to this batch's checkpoint,
    /// written in the same atomic unit as it (docs/layout.md).
    pub shapes: Vec<ShapeChange>,
    /// Tables (`db.table`; `*` = every captured table) whose re-read this batch's transaction
    /// asked for (DML the binlog does not carry as rows): kept in Redis in the same atomic unit
    /// as the position that passes it, until the re-read is queued for good (docs/snapshot.md).
    pub rereads: Vec<String>,
    /// Re-reads this batch's snapshot progress holds in its queue from now on (they leave the
    /// set of re-reads asked for).
    pub rereads_queued: Vec<String>,
}

/// One table's stored shape set (`value` Some: the columns as JSON) or removed (None); `field`
/// names the table (`schema::shape_field`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeChange {
    pub field: String,
    pub value: Option<String>,
}

/// The entries of an XA transaction appear at `XA COMMIT`, never at `XA PREPARE`, and not at
/// all after `XA ROLLBACK`, also across restarts: between PREPARE and COMMIT they are held in
/// Redis (written in the same atomic unit as the position that passed the PREPARE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XaOp {
    /// Hold the batch's entries for the XA transaction `xid` (prepared, or being prepared).
    Hold(String),
    /// `XA COMMIT xid`: append the held entries to their streams, in the order they came.
    Release(String),
    /// `XA ROLLBACK xid`: drop the held entries.
    Discard(String),
}

impl Entry {
    /// Approximate heap bytes (field names, values, per-entry overhead).
    pub fn bytes(&self) -> usize {
        64 + self
            .fields
            .iter()
            .map(|(k, v)| 16 + k.len() + v.len())
            .sum::<usize>()
    }
}

impl Batch {
    /// Approximate heap bytes of the entries.
    pub fn bytes(&self) -> usize {
        self.entries.iter().map(Entry::bytes).sum()
    }
}

//! One row change, as decoded from the binlog or read by a snapshot: plain data, no Redis.

/// The entry's `op` (docs/events.md, 'Entry layout').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
    Delete,
    Read,
    /// The table lost all its rows (TRUNCATE, DROP TABLE): replay empties it.
    Truncate,
    /// A re-read of the table begins: replay notes the keys written from here on.
    ResyncBegin,
    /// The re-read ends: replay deletes the keys not written since its begin marker.
    ResyncEnd,
}

impl Op {
    pub fn code(self) -> &'static str {
        match self {
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Read => "r",
            Op::Truncate => "t",
            Op::ResyncBegin => "resync-begin",
            Op::ResyncEnd => "resync-end",
        }
    }
}

/// A decoded column value, independent of the output format (rendered as docs/types.md and
/// docs/debezium.md say).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    UInt(u64),
    /// Exact decimal text with the declared number of decimals.
    Decimal(String),
    Float(f32),
    Double(f64),
    /// BIT(n): the value and the declared width n.
    Bit {
        value: u64,
        bits: u16,
    },
    Date {
        year: u16,
        month: u8,
        day: u8,
    },
    DateTime {
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        micros: u32,
        fsp: u8,
    },
    /// A UTC instant: seconds since the epoch and microseconds.
    Timestamp {
        secs: i64,
        micros: u32,
        fsp: u8,
    },
    /// TIME: sign, hours (may exceed 24), minutes, seconds, microseconds.
    Time {
        negative: bool,
        hours: u32,
        minute: u8,
        second: u8,
        micros: u32,
        fsp: u8,
    },
    Year(u16),
    Text(String),
    Bytes(Vec<u8>),
    Enum(String),
    Set(String),
    Json(JsonText),
    Geometry {
        srid: u32,
        wkb: Vec<u8>,
    },
    Vector(Vec<f32>),
}

/// A JSON value as compact text: serde_json's form of it (no whitespace, members in document
/// order, numbers exactly as written), which the formats and the mirror write as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    /// Text already in the compact form (`decode::json_text` made it so).
    pub(crate) fn from_compact(text: String) -> JsonText {
        JsonText(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&serde_json::Value> for JsonText {
    fn from(v: &serde_json::Value) -> JsonText {
        JsonText(v.to_string())
    }
}

impl From<serde_json::Value> for JsonText {
    fn from(v: serde_json::Value) -> JsonText {
        JsonText::from(&v)
    }
}

impl std::fmt::Display for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A row: one cell per column of the table, in column order.
pub type Row = Vec<Cell>;

/// Where a change came from; rendered as `pos` (docs/events.md, 'Entry layout').
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeSource {
    /// Binlog file, byte offset of the rows event, index of the change inside it (`row`: a
    /// key change counts twice, and rows are numbered across a compressed transaction so that
    /// `pos` stays unique), the index of the row inside its rows event (`event_row`,
    /// Debezium's `source.row`: both halves of a key change share it), and the server_id of
    /// the source server that wrote the event (Debezium's `source.server_id`).
    Binlog {
        file: std::sync::Arc<str>,
        offset: u64,
        row: u32,
        event_row: u32,
        server_id: u32,
    },
    /// Snapshot or resync `id` (its start time in ms) of `table`, n-th row read.
    Snapshot { id: u64, table: String, n: u64 },
    /// The begin (`end` false) or end marker of resync `id` of `table`.
    SnapshotMark { id: u64, table: String, end: bool },
}

impl ChangeSource {
    pub fn pos(&self) -> String {
        match self {
            ChangeSource::Binlog { file, .. } => {
                let mut s = String::with_capacity(file.len() + 16);
                self.write_pos(&mut s);
                s
            }
            ChangeSource::Snapshot { id, table, n } => format!("snapshot:{id}:{table}:{n}"),
            ChangeSource::SnapshotMark { id, table, end } => {
                format!(
                    "snapshot:{id}:{table}:{}",
                    if *end { "end" } else { "begin" }
                )
            }
        }
    }

    /// Append [`ChangeSource::pos`] (the binlog's without `core::fmt`: once per entry).
    pub fn write_pos(&self, out: &mut String) {
        match self {
            ChangeSource::Binlog {
                file, offset, row, ..
            } => {
                out.push_str(file);
                out.push(':');
                out.push_str(itoa::Buffer::new().format(*offset));
                out.push(':');
                out.push_str(itoa::Buffer::new().format(*row));
            }
            other => out.push_str(&other.pos()),
        }
    }
}

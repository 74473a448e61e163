//! Change -> stream entry fields: pure functions, one module per `cdc.format`.

pub mod debezium;
pub mod flat;
pub mod json;
pub mod mirror;

use crate::model::change::{ChangeSource, Op, Row};
use crate::schema::TableSchema;
use std::borrow::Cow;

/// Where a captured table's entries go and how they look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Flat,
    Debezium,
    DebeziumExtended,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "flat" => Ok(Format::Flat),
            "debezium" => Ok(Format::Debezium),
            "debezium-extended" => Ok(Format::DebeziumExtended),
            other => Err(format!(
                "unknown format '{other}': expected flat, debezium or debezium-extended"
            )),
        }
    }

    /// The Debezium sink layout of this format (None for `flat`).
    pub fn debezium_layout(self) -> Option<debezium::Layout> {
        match self {
            Format::Flat => None,
            Format::Debezium => Some(debezium::Layout::Compact),
            Format::DebeziumExtended => Some(debezium::Layout::Extended),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Flat => "flat",
            Format::Debezium => "debezium",
            Format::DebeziumExtended => "debezium-extended",
        }
    }
}

/// A row change with everything a format needs.
pub struct Change<'a> {
    pub op: Op,
    pub table: &'a TableSchema,
    pub before: Option<&'a Row>,
    pub after: Option<&'a Row>,
    /// Commit time of the source transaction (snapshot start for `r`), ms since the epoch.
    pub ts_ms: u64,
    pub source: ChangeSource,
    pub gtid: Option<&'a str>,
    /// One half of a primary-key change (an UPDATE written as a `d` and a `c`): the other
    /// half's row, the new row on the `d` and the old row on the `c` (Debezium's extended
    /// layout names its key in a header). None for every other change.
    pub key_peer: Option<&'a Row>,
}

/// Field/value pairs of one stream entry, in order.
pub type Fields = Vec<(Cow<'static, str>, String)>;

/// Render `change` in `format`.
pub fn render(format: Format, change: &Change<'_>) -> Fields {
    match format {
        Format::Flat => flat::render(change),
        Format::Debezium => debezium::render(change, debezium::Layout::Compact),
        Format::DebeziumExtended => debezium::render(change, debezium::Layout::Extended),
    }
}

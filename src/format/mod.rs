//! Change -> stream entry fields: pure functions, one module per `cdc.format`.

pub mod debezium;
pub mod flat;
pub mod json;

use crate::change::{ChangeSource, Op, Row};
use crate::config::Format;
use crate::source::schema::TableSchema;
use std::borrow::Cow;

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

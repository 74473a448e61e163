//! The Debezium-compatible layouts (docs/debezium.md): a drop-in for Debezium Server's Redis sink
//! (`debezium.sink.type=redis`) fed by Debezium 3's MySQL or MariaDB connector with the JSON
//! converter and schemas disabled (`debezium.format.schemas.enable=false`).
//!
//! What we follow, and where it is written down (Debezium 3.6 sources):
//! - The sink (debezium-server `RedisStreamChangeConsumer`): one XADD per record to the stream
//!   named after the topic; `message.format=compact` (the default) writes one field/value pair,
//!   field = key JSON, value = event JSON; `extended` writes `key`, `value`, then each record
//!   header as a field named in upper case (`toUpperCase(Locale.ROOT)`), in the iteration order
//!   of the `HashMap` the headers were copied into (`BaseChangeConsumer.convertHeaders`), with
//!   the header converter's text as value (JSON: a string header is a quoted JSON string). A
//!   null key is written as the sink's `null.key` default, the string `default`.
//! - The headers (`DebeziumHeaderProducer`, on by default `extended.headers.enabled`):
//!   `__debezium.context.connectorLogicalName` (`topic.prefix`), `…taskId` (`"0"`),
//!   `…connectorName` (`Module.name()`: `mysql` / `mariadb`), `…runId` (a UUID per task
//!   start); on a primary-key change (`RelationalChangeRecordEmitter`
//!   `.emitUpdateAsPrimaryKeyChangeRecord`) `__debezium.newkey` on the delete and
//!   `__debezium.oldkey` on the create, both halves with the same `source` (so the same
//!   `row`). A table without a primary key has a null key: its UPDATE is one `u`.
//! - The envelope: `before`, `after`, `source`, `transaction`, `op`, `ts_ms`, `ts_us`,
//!   `ts_ns` (`TableSchemaBuilder` defines `transaction` with the record and source, before
//!   `Envelope.Builder.build` adds `op` and the times: Debezium 2.7 on); `source` (`SchemaFactory.sourceInfoSchemaBuilder` +
//!   `BinlogSourceInfoStructMaker`): version, connector, name, ts_ms, snapshot, db, sequence,
//!   ts_us, ts_ns, table, server_id, gtid, file, pos, row (the row's index in its rows
//!   event), thread, query.
//! - Column values (`BinlogValueConverters`, with `decimal.handling.mode=string`,
//!   `time.precision.mode=adaptive_time_microseconds`, `binary.handling.mode=bytes`,
//!   `bigint.unsigned.handling.mode=long`), as Kafka's JsonConverter writes them (Jackson:
//!   `Double.toString` / `Float.toString` for numbers):
//!   DATE `io.debezium.time.Date` = days since the epoch; DATETIME(0-3) `Timestamp` = epoch ms,
//!   DATETIME(4-6) `MicroTimestamp` = epoch µs; TIMESTAMP `ZonedTimestamp` = ISO-8601 in UTC
//!   with exactly fsp fraction digits when fsp > 0, none for fsp 0; TIME `MicroTime` = signed
//!   µs; YEAR int (the binlog's YEAR 0000 is 1900: `RowDeserializers.deserializeYear` adds 1900
//!   to the stored byte); DECIMAL string; FLOAT a float32, but FLOAT(M,D) a float64 (the f32
//!   widened: `BinlogValueConverters.convertFloat`); BIT(1) boolean; BIT(n>1)
//!   `io.debezium.data.Bits` = the bits little-endian in ceil(n/8) bytes (base64);
//!   BINARY/BLOB bytes (base64); JSON `io.debezium.data.Json` = the JSON text as a string;
//!   ENUM/SET strings; GEOMETRY `io.debezium.data.geometry.Geometry` = {"wkb", "srid"}, srid
//!   null for 0 (`BinlogGeometry.fromBytes`).
//! - Schema changes (`EventDispatcher.SchemaChangeEventReceiver`, `BinlogDatabaseSchema`,
//!   `ConnectTableChangeSerializer`): to the topic named `topic.prefix`, key
//!   `{"databaseName"}`, value `source`, `ts_ms`, `databaseName`, `schemaName`, `ddl`,
//!   `tableChanges` [{type, id `"db"."table"`, table {defaultCharsetName,
//!   primaryKeyColumnNames, columns, comment}}]; one event per table of the statement.
//!
//! Choices where we cannot be Debezium are listed in docs/debezium.md ("Where the module
//! cannot be Debezium").

use super::{json, Change, Fields};
use crate::assemble::Flavor;
use crate::calendar::{days_from_civil, seconds_from_civil};
use crate::model::change::{Cell, ChangeSource, Op, Row};
use crate::schema::{
    parse_members, primary_key_of, ColumnKind, InfoColumn, TableDdlKind, TableSchema,
};
use base64::Engine;
use std::borrow::Cow;
use std::fmt::Write;
use std::sync::{Arc, RwLock};

/// The sink's layouts (`debezium.sink.redis.message.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `compact`: one field/value pair, field = key JSON, value = event JSON.
    Compact,
    /// `extended`: fields `key`, `value` and the record headers (what Redis Data Integration
    /// reads).
    Extended,
}

/// The sink's `null.key` default, written for tables without a primary key.
pub const NULL_KEY: &str = "default";

/// Debezium's connector context: what `source` and the context headers say about who wrote
/// the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// `topic.prefix`: `source.name`, the schema-change stream, header connectorLogicalName.
    pub logical_name: String,
    /// `mysql` or `mariadb` (the connector Debezium 3 uses for the source): `source.connector`
    /// and header connectorName.
    pub connector: &'static str,
    /// A UUID per run of the pipeline (Debezium: per task start): header runId.
    pub run_id: String,
}

impl Default for Context {
    fn default() -> Context {
        Context {
            logical_name: logical_name_for_prefix("cdc:"),
            connector: connector_name(Flavor::MySql),
            run_id: "00000000-0000-0000-0000-000000000000".to_string(),
        }
    }
}

/// The context rendering uses, set by the glue (`set_stream_prefix`, `set_source`), with its
/// text rendered once.
static CONTEXT: RwLock<Option<Arc<Rendered>>> = RwLock::new(None);

/// A context with what every event writes of it, rendered once (not per event).
struct Rendered {
    ctx: Arc<Context>,
    /// `"source":{"version":…,"connector":…,"name":…`, the start of the source block.
    source_head: String,
    /// The context headers (the extended layout) with their values, in the order Debezium
    /// adds them.
    headers: [(Header, String); 4],
}

impl Rendered {
    fn of(ctx: Arc<Context>) -> Rendered {
        let mut source_head = String::with_capacity(128);
        source_head.push_str("\"source\":{\"version\":");
        source_head.push_str(VERSION_JSON);
        source_head.push_str(",\"connector\":");
        json::write_str(&mut source_head, ctx.connector);
        source_head.push_str(",\"name\":");
        json::write_str(&mut source_head, &ctx.logical_name);
        let text = |s: &str| {
            let mut out = String::with_capacity(s.len() + 2);
            json::write_str(&mut out, s);
            out
        };
        let headers = [
            (LOGICAL_NAME, text(&ctx.logical_name)),
            (TASK_ID, text("0")),
            (CONNECTOR_NAME, text(ctx.connector)),
            (RUN_ID, text(&ctx.run_id)),
        ];
        Rendered {
            ctx,
            source_head,
            headers,
        }
    }
}

/// The logical name that a stream prefix stands for: the prefix without its trailing separator
/// (`cdc:` -> `cdc`, `dbserver1.` -> `dbserver1`); `redis-cdc` when that leaves nothing.
pub fn logical_name_for_prefix(prefix: &str) -> String {
    let name = prefix.trim_end_matches([':', '.', '/', '_', '-']);
    if name.is_empty() {
        "redis-cdc".to_string()
    } else {
        name.to_string()
    }
}

/// The name of Debezium 3's connector for a source (`Module.name()` of its MySQL and MariaDB
/// connectors): `source.connector` and the connectorName header.
pub fn connector_name(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::MySql => "mysql",
        Flavor::MariaDb => "mariadb",
    }
}

fn update_context(f: impl FnOnce(&mut Context)) {
    let mut g = CONTEXT.write().unwrap_or_else(|p| p.into_inner());
    let mut ctx = g.as_deref().map(|r| (*r.ctx).clone()).unwrap_or_default();
    f(&mut ctx);
    if g.as_deref().map(|r| &*r.ctx) != Some(&ctx) {
        *g = Some(Arc::new(Rendered::of(Arc::new(ctx))));
    }
}

/// Set the logical server name from the stream prefix (called whenever the config is read).
pub fn set_stream_prefix(prefix: &str) {
    let name = logical_name_for_prefix(prefix);
    update_context(|c| c.logical_name = name);
}

/// Set what the source is and this run's id (called when a session has probed the source).
pub fn set_source(flavor: Flavor, run_id: String) {
    update_context(|c| {
        c.connector = connector_name(flavor);
        c.run_id = run_id;
    });
}

/// A run id: `bytes` (random) as a version 4 UUID, `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
pub fn run_id_from(bytes: [u8; 16]) -> String {
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// The current context.
pub fn context() -> Arc<Context> {
    rendered().ctx.clone()
}

/// The current context with its text.
fn rendered() -> Arc<Rendered> {
    let g = CONTEXT.read().unwrap_or_else(|p| p.into_inner());
    g.clone()
        .unwrap_or_else(|| Arc::new(Rendered::of(Arc::default())))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Render `c` in `layout` with the current context and processing time.
pub fn render(c: &Change<'_>, layout: Layout) -> Fields {
    render_in(c, layout, &rendered(), now_ms())
}

/// Render with an explicit context and processing time (pure; used by tests).
pub fn render_with(c: &Change<'_>, layout: Layout, ctx: &Context, processed_ms: u64) -> Fields {
    render_in(
        c,
        layout,
        &Rendered::of(Arc::new(ctx.clone())),
        processed_ms,
    )
}

fn render_in(c: &Change<'_>, layout: Layout, r: &Rendered, processed_ms: u64) -> Fields {
    let key = key_json(c.table, c.after.or(c.before)).unwrap_or_else(|| NULL_KEY.to_string());
    let value = event_json_in(c, r, processed_ms);
    match layout {
        Layout::Compact => vec![(Cow::Owned(key), value)],
        Layout::Extended => {
            let mut f: Fields = Vec::with_capacity(7);
            f.push((Cow::Borrowed("key"), key));
            f.push((Cow::Borrowed("value"), value));
            // A primary-key change: each half names the other half's key.
            let peer = match (c.op, c.key_peer) {
                (Op::Delete, Some(p)) => key_json(c.table, Some(p)).map(|k| (NEW_KEY, k)),
                (Op::Create, Some(p)) => key_json(c.table, Some(p)).map(|k| (OLD_KEY, k)),
                _ => None,
            };
            push_headers(&mut f, r, peer);
            f
        }
    }
}

/// A header: its name as Debezium adds it (what decides the order) and as the sink writes it.
type Header = (&'static str, &'static str);
const NEW_KEY: Header = ("__debezium.newkey", "__DEBEZIUM.NEWKEY");
const OLD_KEY: Header = ("__debezium.oldkey", "__DEBEZIUM.OLDKEY");
const LOGICAL_NAME: Header = (
    "__debezium.context.connectorLogicalName",
    "__DEBEZIUM.CONTEXT.CONNECTORLOGICALNAME",
);
const TASK_ID: Header = ("__debezium.context.taskId", "__DEBEZIUM.CONTEXT.TASKID");
const CONNECTOR_NAME: Header = (
    "__debezium.context.connectorName",
    "__DEBEZIUM.CONTEXT.CONNECTORNAME",
);
const RUN_ID: Header = ("__debezium.context.runId", "__DEBEZIUM.CONTEXT.RUNID");

/// Append the record headers as the extended layout writes them: the record's own header
/// first (a key change's), then the context headers, as Debezium adds them, reordered as the
/// sink's `HashMap` iterates them, names in upper case, values as JSON text.
fn push_headers(f: &mut Fields, r: &Rendered, own: Option<(Header, String)>) {
    let own_header = own.as_ref().map(|(h, _)| *h);
    let mut own = own.map(|(_, value)| value);
    let skip = usize::from(own_header.is_some());
    for &i in header_order(own_header).iter() {
        match i.checked_sub(skip) {
            // The record's own header comes first.
            None => {
                if let (Some((_, upper)), Some(value)) = (own_header, own.take()) {
                    f.push((Cow::Borrowed(upper), value));
                }
            }
            Some(k) => {
                if let Some(((_, upper), value)) = r.headers.get(k) {
                    f.push((Cow::Borrowed(*upper), value.clone()));
                }
            }
        }
    }
}

/// [`java_hash_map_order`] of the headers [`push_headers`] adds after `own`: the same for every
/// event, so worked out once.
fn header_order(own: Option<Header>) -> Cow<'static, [usize]> {
    fn with(own: Option<Header>) -> Vec<usize> {
        let names: Vec<&str> = own
            .into_iter()
            .chain([LOGICAL_NAME, TASK_ID, CONNECTOR_NAME, RUN_ID])
            .map(|(name, _)| name)
            .collect();
        java_hash_map_order(&names)
    }
    static ORDERS: std::sync::OnceLock<[Vec<usize>; 3]> = std::sync::OnceLock::new();
    let orders = ORDERS.get_or_init(|| [with(None), with(Some(NEW_KEY)), with(Some(OLD_KEY))]);
    match own {
        None => Cow::Borrowed(&orders[0]),
        Some(h) if h == NEW_KEY => Cow::Borrowed(&orders[1]),
        Some(h) if h == OLD_KEY => Cow::Borrowed(&orders[2]),
        Some(h) => Cow::Owned(with(Some(h))),
    }
}

/// The order in which a `java.util.HashMap<String, _>` holding `keys` (distinct, inserted in
/// this order, at most 12 so that the table keeps its default 16 buckets) iterates them: by
/// bucket (`String.hashCode` spread as `h ^ (h >>> 16)`, masked to 16), insertion order within
/// a bucket.
pub fn java_hash_map_order(keys: &[&str]) -> Vec<usize> {
    let bucket = |k: &str| {
        let h = k
            .encode_utf16()
            .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(c as u32));
        (h ^ (h >> 16)) & 15
    };
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| bucket(keys[i])); // stable: insertion order within a bucket
    order
}

/// The Debezium key of `row`: its primary-key columns, or None (a null key) when the table has
/// none.
pub fn key_json(t: &TableSchema, row: Option<&Row>) -> Option<String> {
    if t.primary_key.is_empty() {
        return None;
    }
    let row = row?;
    let mut s = String::with_capacity(32);
    write_object(&mut s, t, row, t.primary_key.iter().copied());
    Some(s)
}

/// The `source` block's fields that differ between events.
struct Source<'a> {
    ts_ms: u64,
    snapshot: bool,
    db: &'a str,
    table: &'a str,
    server_id: u32,
    gtid: Option<&'a str>,
    file: &'a str,
    pos: u64,
    row: u32,
}

/// `source.version`: `redis-cdc-` and the version, as a JSON string.
const VERSION_JSON: &str = concat!("\"redis-cdc-", env!("CARGO_PKG_VERSION"), "\"");

/// `"source":{…}` in Debezium's field order (`head`: [`Rendered::source_head`]).
fn write_source(out: &mut String, head: &str, s: &Source<'_>) {
    out.push_str(head);
    out.push_str(",\"ts_ms\":");
    let mut ms = itoa::Buffer::new();
    let ms = ms.format(s.ts_ms);
    out.push_str(ms);
    out.push_str(if s.snapshot {
        ",\"snapshot\":\"true\""
    } else {
        ",\"snapshot\":\"false\""
    });
    out.push_str(",\"db\":");
    json::write_str(out, s.db);
    out.push_str(",\"sequence\":null,\"ts_us\":");
    write_ms_scaled(out, s.ts_ms, ms, 3);
    out.push_str(",\"ts_ns\":");
    write_ms_scaled(out, s.ts_ms, ms, 6);
    out.push_str(",\"table\":");
    json::write_str(out, s.table);
    out.push_str(",\"server_id\":");
    json::write_int(out, s.server_id);
    out.push_str(",\"gtid\":");
    write_opt_str(out, s.gtid);
    out.push_str(",\"file\":");
    json::write_str(out, s.file);
    out.push_str(",\"pos\":");
    json::write_int(out, s.pos);
    out.push_str(",\"row\":");
    json::write_int(out, s.row);
    out.push_str(",\"thread\":null,\"query\":null}");
}

/// The Debezium change event (the record value with schemas disabled).
pub fn event_json(c: &Change<'_>, ctx: &Context, processed_ms: u64) -> String {
    event_json_in(c, &Rendered::of(Arc::new(ctx.clone())), processed_ms)
}

fn event_json_in(c: &Change<'_>, r: &Rendered, processed_ms: u64) -> String {
    let t = c.table;
    let row_len = |row: Option<&Row>| row.map_or(4, |r| json::object_len_hint(t, r));
    // The rows, the source block (names, file, GTID and numbers) and the envelope.
    let mut s = String::with_capacity(
        row_len(c.before)
            + row_len(c.after)
            + 400
            + t.db.len()
            + t.table.len()
            + c.gtid.map_or(0, str::len)
            + r.source_head.len(),
    );
    s.push_str("{\"before\":");
    write_row(&mut s, t, c.before);
    s.push_str(",\"after\":");
    write_row(&mut s, t, c.after);
    s.push(',');
    let (server_id, file, pos, row) = match &c.source {
        ChangeSource::Binlog {
            file,
            offset,
            event_row,
            server_id,
            ..
        } => (*server_id, file.as_ref(), *offset, *event_row),
        ChangeSource::Snapshot { .. } | ChangeSource::SnapshotMark { .. } => (0, "", 0, 0),
    };
    let source = Source {
        ts_ms: c.ts_ms,
        snapshot: !matches!(c.source, ChangeSource::Binlog { .. }),
        db: &t.db,
        table: &t.table,
        server_id,
        gtid: c.gtid,
        file,
        pos,
        row,
    };
    write_source(&mut s, &r.source_head, &source);
    s.push_str(",\"transaction\":null,\"op\":\"");
    s.push_str(c.op.code());
    s.push_str("\",\"ts_ms\":");
    let mut ms = itoa::Buffer::new();
    let ms = ms.format(processed_ms);
    s.push_str(ms);
    s.push_str(",\"ts_us\":");
    write_ms_scaled(&mut s, processed_ms, ms, 3);
    s.push_str(",\"ts_ns\":");
    write_ms_scaled(&mut s, processed_ms, ms, 6);
    s.push('}');
    s
}

/// `ms` × 10^`zeros` (`ms_text`: `ms` in decimal): its digits and the zeros when the product
/// fits, without converting it again; the wrapped product (as the multiplication gave it)
/// otherwise.
fn write_ms_scaled(out: &mut String, ms: u64, ms_text: &str, zeros: u32) {
    let factor = 10u64.pow(zeros);
    match ms.checked_mul(factor) {
        Some(_) if ms != 0 => {
            out.push_str(ms_text);
            out.push_str(&"000000"[..zeros as usize]);
        }
        _ => json::write_int(out, ms.wrapping_mul(factor)),
    }
}

fn write_opt_str(out: &mut String, v: Option<&str>) {
    match v {
        Some(v) => json::write_str(out, v),
        None => out.push_str("null"),
    }
}

fn write_row(out: &mut String, t: &TableSchema, row: Option<&Row>) {
    match row {
        Some(r) => write_object(out, t, r, 0..r.len()),
        None => out.push_str("null"),
    }
}

/// `{"col":value,...}` in Debezium value forms over the given column indexes.
fn write_object(
    out: &mut String,
    table: &TableSchema,
    row: &[Cell],
    cols: impl Iterator<Item = usize>,
) {
    out.push('{');
    let mut first = true;
    for i in cols {
        let (Some(col), Some(value)) = (table.columns.get(i), row.get(i)) else {
            continue;
        };
        if !first {
            out.push(',');
        }
        first = false;
        json::write_str(out, &col.name);
        out.push(':');
        write_value(out, &col.kind, value);
    }
    out.push('}');
}

fn base64_into(out: &mut String, bytes: &[u8]) {
    out.push('"');
    base64::engine::general_purpose::STANDARD.encode_string(bytes, out);
    out.push('"');
}

/// A float as Java's `Double.toString` / `Float.toString` print it (what Jackson writes): the
/// shortest digits that read back as the same value (when one digit does, the closest of up to
/// two digits: `4.9E-324`, Java 19+), in plain notation for 10^-3 <= |v| < 10^7 (at least one
/// fraction digit: `100.0`), otherwise as `d.dddE±n` (`1.0E7`, `1.5E-4`). Non-finite values
/// (MySQL stores none) become null.
fn write_java_float<F>(out: &mut String, v: F, finite: bool)
where
    F: ryu::Float + std::fmt::LowerExp + std::str::FromStr + PartialEq + Copy,
{
    if !finite {
        out.push_str("null");
        return;
    }
    let mut buf = ryu::Buffer::new();
    let (mut digits, mut point, negative) = decimal_digits(buf.format_finite(v));
    if digits.len() == 1 && digits != "0" {
        let two = format!("{v:.1e}");
        if two.parse::<F>().is_ok_and(|t| t == v) {
            (digits, point, _) = decimal_digits(&two);
        }
    }
    if negative {
        out.push('-');
    }
    if digits == "0" {
        out.push_str("0.0");
        return;
    }
    let n = digits.len() as i32;
    if (-2..=7).contains(&point) {
        // 10^-3 <= v < 10^7: plain.
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(&digits);
        } else if point >= n {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (point - n) as usize));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if n > 1 { &digits[1..] } else { "0" });
        let _ = write!(out, "E{}", point - 1);
    }
}

/// A decimal number's text (`-12.5`, `1e-7`, `4.9e-324`) as (significant digits, point, sign):
/// the value is 0.digits × 10^point.
fn decimal_digits(text: &str) -> (String, i32, bool) {
    let (negative, text) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text),
    };
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: String = format!("{int}{frac}");
    let mut point = int.len() as i32 + exp;
    while digits.len() > 1 && digits.starts_with('0') {
        digits.remove(0);
        point -= 1;
    }
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (digits, point, negative)
}

/// Append one value of a column of `kind` in the form Debezium's connector gives it.
pub fn write_value(out: &mut String, kind: &ColumnKind, cell: &Cell) {
    match (kind, cell) {
        // FLOAT(M,D) is a float64 in Debezium: the f32 widened, all its digits.
        (ColumnKind::Float { scaled: true }, Cell::Float(f)) => {
            write_java_float(out, *f as f64, f.is_finite())
        }
        _ => write_cell(out, cell),
    }
}

/// Append one cell in the form Debezium's connector gives it (module doc); a FLOAT cell as a
/// plain FLOAT column's (see [`write_value`] for FLOAT(M,D)).
pub fn write_cell(out: &mut String, cell: &Cell) {
    match cell {
        Cell::Null => out.push_str("null"),
        Cell::Int(i) => json::write_int(out, *i),
        Cell::UInt(u) => json::write_int(out, *u),
        Cell::Decimal(d) => json::write_str(out, d),
        Cell::Float(f) => write_java_float(out, *f, f.is_finite()),
        Cell::Double(d) => write_java_float(out, *d, d.is_finite()),
        Cell::Bit { value, bits } => {
            if *bits <= 1 {
                out.push_str(if *value != 0 { "true" } else { "false" });
            } else {
                // io.debezium.data.Bits: little-endian, sized to hold n bits.
                let n = (*bits as usize).div_ceil(8).min(8);
                base64_into(out, &value.to_le_bytes()[..n]);
            }
        }
        Cell::Date { year, month, day } => {
            json::write_int(
                out,
                days_from_civil(*year as i64, *month as u32, *day as u32),
            );
        }
        Cell::DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micros,
            fsp,
        } => {
            let secs = seconds_from_civil(
                *year as i64,
                *month as u32,
                *day as u32,
                *hour as u32,
                *minute as u32,
                *second as u32,
            );
            if *fsp <= 3 {
                json::write_int(out, secs * 1000 + (*micros / 1000) as i64);
            } else {
                json::write_int(out, secs * 1_000_000 + *micros as i64);
            }
        }
        // ZonedTimestamp: the same ISO-8601 UTC text as the flat form.
        Cell::Timestamp { .. } => json::write_cell(out, cell),
        Cell::Time {
            negative,
            hours,
            minute,
            second,
            micros,
            ..
        } => {
            let total = (*hours as i64 * 3600 + *minute as i64 * 60 + *second as i64) * 1_000_000
                + *micros as i64;
            json::write_int(out, if *negative { -total } else { total });
        }
        // YEAR 0000: the binlog stores 0, which Debezium's deserializer reads as 1900 + 0.
        Cell::Year(0) => out.push_str("1900"),
        Cell::Year(y) => json::write_int(out, *y),
        Cell::Text(s) | Cell::Enum(s) | Cell::Set(s) => json::write_str(out, s),
        Cell::Bytes(b) => base64_into(out, b),
        Cell::Json(v) => json::write_str(out, v.as_str()),
        Cell::Geometry { srid, wkb } => {
            out.push_str("{\"wkb\":");
            base64_into(out, wkb);
            // SRID 0 is "unset" to Debezium: null.
            if *srid == 0 {
                out.push_str(",\"srid\":null}");
            } else {
                let _ = write!(out, ",\"srid\":{srid}}}");
            }
        }
        Cell::Vector(v) => {
            out.push('[');
            for (i, f) in v.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_java_float(out, *f, f.is_finite());
            }
            out.push(']');
        }
    }
}

/// Debezium's name of a table change type.
fn change_type(kind: TableDdlKind) -> &'static str {
    match kind {
        TableDdlKind::Create => "CREATE",
        TableDdlKind::Alter => "ALTER",
        TableDdlKind::Drop => "DROP",
    }
}

/// One schema-change event: a DDL statement's change to one table.
pub struct SchemaChange<'a> {
    pub kind: TableDdlKind,
    /// The table (after the statement: a renamed table's new name).
    pub db: &'a str,
    pub table: &'a str,
    /// The table's columns after the statement, when known (None for DROP, and when the
    /// module does not know the shape at this position: `table` is then null).
    pub shape: Option<&'a [InfoColumn]>,
    /// The statement text Debezium gives this table's event.
    pub ddl: &'a str,
    /// `source.table`: the statement's tables in this database, comma-separated.
    pub source_tables: &'a str,
    /// Commit time of the statement, ms since the epoch.
    pub ts_ms: u64,
    pub file: &'a str,
    /// Offset of the query event.
    pub pos: u64,
    pub server_id: u32,
    pub gtid: Option<&'a str>,
}

/// Render a schema-change event in `layout` with the current context and processing time.
pub fn render_schema_change(sc: &SchemaChange<'_>, layout: Layout) -> Fields {
    render_schema_change_with(sc, layout, &context(), now_ms())
}

/// Render a schema-change event with an explicit context and processing time (pure).
pub fn render_schema_change_with(
    sc: &SchemaChange<'_>,
    layout: Layout,
    ctx: &Context,
    processed_ms: u64,
) -> Fields {
    let mut key = String::with_capacity(32);
    key.push_str("{\"databaseName\":");
    json::write_str(&mut key, sc.db);
    key.push('}');
    let mut v = String::with_capacity(1024);
    v.push('{');
    let source = Source {
        ts_ms: sc.ts_ms,
        snapshot: false,
        db: sc.db,
        table: sc.source_tables,
        server_id: sc.server_id,
        gtid: sc.gtid,
        file: sc.file,
        pos: sc.pos,
        row: 0,
    };
    let r = Rendered::of(Arc::new(ctx.clone()));
    write_source(&mut v, &r.source_head, &source);
    let _ = write!(v, ",\"ts_ms\":{processed_ms},\"databaseName\":");
    json::write_str(&mut v, sc.db);
    v.push_str(",\"schemaName\":null,\"ddl\":");
    json::write_str(&mut v, sc.ddl);
    v.push_str(",\"tableChanges\":[{\"type\":\"");
    v.push_str(change_type(sc.kind));
    v.push_str("\",\"id\":");
    json::write_str(&mut v, &format!("\"{}\".\"{}\"", sc.db, sc.table));
    v.push_str(",\"table\":");
    match (sc.kind, sc.shape) {
        (TableDdlKind::Create | TableDdlKind::Alter, Some(cols)) => write_table(&mut v, cols),
        _ => v.push_str("null"),
    }
    v.push_str("}]}");
    match layout {
        Layout::Compact => vec![(Cow::Owned(key), v)],
        Layout::Extended => {
            let mut f: Fields = Vec::with_capacity(6);
            f.push((Cow::Borrowed("key"), key));
            f.push((Cow::Borrowed("value"), v));
            push_headers(&mut f, &r, None);
            f
        }
    }
}

/// `tableChanges[].table` from a known shape (docs/debezium.md says which fields the shape
/// cannot tell).
fn write_table(out: &mut String, cols: &[InfoColumn]) {
    out.push_str("{\"defaultCharsetName\":null,\"primaryKeyColumnNames\":[");
    for (k, i) in primary_key_of(cols).into_iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        json::write_str(out, &cols[i].name);
    }
    out.push_str("],\"columns\":[");
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_column(out, c, i + 1);
    }
    out.push_str("],\"comment\":null}");
}

/// One column of `tableChanges[].table.columns` (`ConnectTableChangeSerializer` field order).
fn write_column(out: &mut String, c: &InfoColumn, position: usize) {
    let col = DdlColumn::of(c);
    out.push_str("{\"name\":");
    json::write_str(out, &c.name);
    let _ = write!(
        out,
        ",\"jdbcType\":{},\"nativeType\":null,\"typeName\":",
        col.jdbc_type
    );
    json::write_str(out, &col.type_name);
    out.push_str(",\"typeExpression\":");
    json::write_str(out, &col.type_name);
    out.push_str(",\"charsetName\":");
    write_opt_str(out, col.charset);
    out.push_str(",\"length\":");
    match col.length {
        Some(n) => {
            let _ = write!(out, "{n}");
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"scale\":");
    match col.scale {
        Some(n) => {
            let _ = write!(out, "{n}");
        }
        None => out.push_str("null"),
    }
    let _ = write!(
        out,
        ",\"position\":{position},\"optional\":{},\"autoIncremented\":false,\"generated\":false,\"comment\":null,\"defaultValueExpression\":null,\"enumValues\":",
        c.pk_ordinal.is_none()
    );
    match col.enum_values {
        Some(values) => {
            out.push('[');
            for (i, m) in values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // Debezium keeps the members as the DDL spells them: quoted.
                json::write_str(out, &format!("'{}'", m.replace('\'', "''")));
            }
            out.push(']');
        }
        None => out.push_str("null"),
    }
    out.push('}');
}

/// A column as Debezium's MariaDB/MySQL DDL parser describes it, from a known shape.
struct DdlColumn<'a> {
    jdbc_type: i32,
    type_name: String,
    charset: Option<&'a str>,
    length: Option<u64>,
    scale: Option<u64>,
    enum_values: Option<Vec<String>>,
}

impl<'a> DdlColumn<'a> {
    fn of(c: &'a InfoColumn) -> DdlColumn<'a> {
        // java.sql.Types, as the DDL parser's type resolver maps the type keyword.
        const BIT: i32 = -7;
        const SMALLINT: i32 = 5;
        const INTEGER: i32 = 4;
        const BIGINT: i32 = -5;
        const FLOAT: i32 = 6;
        const REAL: i32 = 7;
        const DOUBLE: i32 = 8;
        const NUMERIC: i32 = 2;
        const DECIMAL: i32 = 3;
        const CHAR: i32 = 1;
        const VARCHAR: i32 = 12;
        const NCHAR: i32 = -15;
        const NVARCHAR: i32 = -9;
        const DATE: i32 = 91;
        const TIME: i32 = 92;
        const TIMESTAMP: i32 = 93;
        const TIMESTAMP_WITH_TIMEZONE: i32 = 2014;
        const BINARY: i32 = -2;
        const VARBINARY: i32 = -3;
        const BLOB: i32 = 2004;
        const BOOLEAN: i32 = 16;
        const OTHER: i32 = 1111;
        let dt = c.data_type.as_str();
        let jdbc_type = match dt {
            "tinyint" | "smallint" => SMALLINT,
            "mediumint" | "int" | "integer" | "year" => INTEGER,
            "bigint" | "serial" => BIGINT,
            "float" => FLOAT,
            "real" => REAL,
            "double" => DOUBLE,
            "decimal" | "dec" | "fixed" => DECIMAL,
            "numeric" => NUMERIC,
            "bit" => BIT,
            "date" => DATE,
            "time" => TIME,
            "datetime" => TIMESTAMP,
            "timestamp" => TIMESTAMP_WITH_TIMEZONE,
            "char" | "enum" | "set" => CHAR,
            "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => VARCHAR,
            "nchar" => NCHAR,
            "nvarchar" => NVARCHAR,
            "binary" => BINARY,
            "varbinary" => VARBINARY,
            "tinyblob" | "blob" | "mediumblob" | "longblob" => BLOB,
            "bool" | "boolean" => BOOLEAN,
            _ => OTHER,
        };
        let mut type_name = dt.to_ascii_uppercase();
        let ct = c.column_type.as_str();
        for suffix in ["unsigned", "zerofill"] {
            if ct.split_whitespace().any(|w| w == suffix) {
                type_name.push(' ');
                type_name.push_str(&suffix.to_ascii_uppercase());
            }
        }
        let (length, scale, enum_values) = match dt {
            "enum" => (Some(1), None, Some(parse_members(ct))),
            "set" => {
                let m = parse_members(ct);
                (Some((m.len() * 2).saturating_sub(1) as u64), None, Some(m))
            }
            _ => {
                let args = type_args(ct);
                let (mut length, mut scale) = (args.first().copied(), args.get(1).copied());
                if matches!(dt, "decimal" | "dec" | "fixed" | "numeric") && length.is_none() {
                    (length, scale) = (Some(10), Some(0));
                }
                if dt == "bit" && length.is_none() {
                    length = Some(1);
                }
                (length, scale, None)
            }
        };
        DdlColumn {
            jdbc_type,
            type_name,
            // information_schema's CHARACTER_SET_NAME (none for other types); a shape followed
            // through a DDL statement has none, as Debezium without an explicit CHARACTER SET.
            charset: c.charset.as_deref(),
            length,
            scale,
            enum_values,
        }
    }
}

/// The numbers in the first parentheses of a column type: `decimal(10,2)` -> [10, 2].
fn type_args(column_type: &str) -> Vec<u64> {
    let Some((_, rest)) = column_type.split_once('(') else {
        return Vec::new();
    };
    rest.split(')')
        .next()
        .unwrap_or_default()
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ColumnSchema;
    use mysql_common::constants::ColumnType;

    fn j(c: Cell) -> String {
        let mut s = String::new();
        write_cell(&mut s, &c);
        s
    }

    #[test]
    fn scaled_times_as_the_multiplication_gives_them() {
        for ms in [
            0,
            1,
            7,
            1_714_564_800_123,
            u64::MAX / 1000,
            u64::MAX / 999,
            u64::MAX,
        ] {
            for zeros in [3, 6] {
                let mut text = itoa::Buffer::new();
                let mut out = String::new();
                write_ms_scaled(&mut out, ms, text.format(ms), zeros);
                assert_eq!(out, ms.wrapping_mul(10u64.pow(zeros)).to_string(), "{ms}");
            }
        }
    }

    #[test]
    fn numbers_and_strings() {
        assert_eq!(j(Cell::Null), "null");
        assert_eq!(j(Cell::Int(-5)), "-5");
        assert_eq!(j(Cell::UInt(u64::MAX)), "18446744073709551615");
        // decimal.handling.mode=string keeps the declared scale.
        assert_eq!(j(Cell::Decimal("12.50".into())), "\"12.50\"");
        assert_eq!(j(Cell::Float(1.5)), "1.5");
        assert_eq!(j(Cell::Double(0.1)), "0.1");
        assert_eq!(j(Cell::Double(f64::NAN)), "null");
        assert_eq!(j(Cell::Year(2024)), "2024");
        assert_eq!(j(Cell::Text("é\"".into())), "\"é\\\"\"");
        assert_eq!(j(Cell::Enum("b".into())), "\"b\"");
        assert_eq!(j(Cell::Set("a,c".into())), "\"a,c\"");
    }

    #[test]
    fn bits_are_boolean_or_little_endian_bytes() {
        assert_eq!(j(Cell::Bit { value: 1, bits: 1 }), "true");
        assert_eq!(j(Cell::Bit { value: 0, bits: 1 }), "false");
        // BIT(16) b'0000000100000010' = 0x0102 -> bytes [0x02, 0x01].
        assert_eq!(
            j(Cell::Bit {
                value: 0x0102,
                bits: 16
            }),
            "\"AgE=\""
        );
        // BIT(10): 2 bytes.
        assert_eq!(j(Cell::Bit { value: 5, bits: 10 }), "\"BQA=\"");
        // BIT(64): 8 bytes.
        assert_eq!(
            j(Cell::Bit {
                value: u64::MAX,
                bits: 64
            }),
            "\"//////////8=\""
        );
    }

    #[test]
    fn temporal_forms() {
        // io.debezium.time.Date: days since the epoch.
        assert_eq!(
            j(Cell::Date {
                year: 1970,
                month: 1,
                day: 1
            }),
            "0"
        );
        assert_eq!(
            j(Cell::Date {
                year: 2024,
                month: 1,
                day: 31
            }),
            "19753"
        );
        assert_eq!(
            j(Cell::Date {
                year: 1969,
                month: 12,
                day: 31
            }),
            "-1"
        );
        // Debezium's doc example: DATETIME 2018-06-20 06:37:03 -> 1529476623000.
        let dt = |micros, fsp| Cell::DateTime {
            year: 2018,
            month: 6,
            day: 20,
            hour: 6,
            minute: 37,
            second: 3,
            micros,
            fsp,
        };
        assert_eq!(j(dt(0, 0)), "1529476623000");
        assert_eq!(j(dt(123000, 3)), "1529476623123");
        assert_eq!(j(dt(123456, 6)), "1529476623123456");
        assert_eq!(j(dt(123400, 4)), "1529476623123400");
        // ZonedTimestamp: UTC, fsp digits exactly, none for fsp 0.
        assert_eq!(
            j(Cell::Timestamp {
                secs: 1529476623,
                micros: 0,
                fsp: 0
            }),
            "\"2018-06-20T06:37:03Z\""
        );
        assert_eq!(
            j(Cell::Timestamp {
                secs: 1706704496,
                micros: 120000,
                fsp: 3
            }),
            "\"2024-01-31T12:34:56.120Z\""
        );
        assert_eq!(
            j(Cell::Timestamp {
                secs: 1706704496,
                micros: 5,
                fsp: 6
            }),
            "\"2024-01-31T12:34:56.000005Z\""
        );
        // MicroTime: signed microseconds.
        let t = |negative, hours, micros| Cell::Time {
            negative,
            hours,
            minute: 59,
            second: 59,
            micros,
            fsp: 6,
        };
        assert_eq!(j(t(false, 12, 500000)), "46799500000");
        assert_eq!(j(t(true, 838, 0)), "-3020399000000");
    }

    #[test]
    fn binary_json_geometry_vector() {
        assert_eq!(j(Cell::Bytes(vec![0, 1, 2])), "\"AAEC\"");
        assert_eq!(
            j(Cell::Json(serde_json::json!({"a": [1, "x"]}).into())),
            "\"{\\\"a\\\":[1,\\\"x\\\"]}\""
        );
        assert_eq!(
            j(Cell::Geometry {
                srid: 4326,
                wkb: vec![1]
            }),
            "{\"wkb\":\"AQ==\",\"srid\":4326}"
        );
        assert_eq!(j(Cell::Vector(vec![1.5, -2.0])), "[1.5,-2.0]");
    }

    fn col(name: &str, kind: ColumnKind) -> ColumnSchema {
        ColumnSchema {
            name: name.into(),
            binlog_type: ColumnType::MYSQL_TYPE_LONG,
            meta: vec![],
            unsigned: false,
            kind,
            enum_values: vec![],
            set_values: vec![],
        }
    }

    fn table(pk: Vec<usize>) -> TableSchema {
        TableSchema {
            db: "inventory".into(),
            table: "customers".into(),
            columns: vec![
                col("id", ColumnKind::Int { bytes: 4 }),
                col(
                    "email",
                    ColumnKind::Text {
                        charset: crate::decode::charset::Charset::Utf8,
                    },
                ),
            ],
            primary_key: pk,
            named: true,
        }
    }

    fn ctx() -> Context {
        Context {
            logical_name: "dbserver1".into(),
            connector: "mariadb",
            run_id: "6f1f4d1e-3c2a-4b7e-9a55-0123456789ab".into(),
        }
    }

    fn binlog(row: u32, event_row: u32) -> ChangeSource {
        ChangeSource::Binlog {
            file: "mysql-bin.000003".into(),
            offset: 4331,
            row,
            event_row,
            server_id: 223344,
        }
    }

    fn keys(v: &serde_json::Value) -> Vec<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn envelope_and_layouts() {
        let t = table(vec![0]);
        let before = vec![Cell::Int(1), Cell::Text("a@x".into())];
        let after = vec![Cell::Int(1), Cell::Text("b@x".into())];
        let c = Change {
            op: Op::Update,
            table: &t,
            before: Some(&before),
            after: Some(&after),
            ts_ms: 1_700_000_000_000,
            source: binlog(5, 2),
            gtid: Some("0-1-8"),
            key_peer: None,
        };
        let f = render_with(&c, Layout::Compact, &ctx(), 1_700_000_000_123);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, "{\"id\":1}");
        let v: serde_json::Value = serde_json::from_str(&f[0].1).unwrap();
        assert_eq!(
            keys(&v),
            [
                "before",
                "after",
                "source",
                "transaction",
                "op",
                "ts_ms",
                "ts_us",
                "ts_ns"
            ]
        );
        assert_eq!(v["before"], serde_json::json!({"id": 1, "email": "a@x"}));
        assert_eq!(v["after"], serde_json::json!({"id": 1, "email": "b@x"}));
        assert_eq!(v["op"], "u");
        assert_eq!(v["ts_ms"], 1_700_000_000_123u64);
        assert_eq!(v["ts_us"], 1_700_000_000_123_000u64);
        assert_eq!(v["transaction"], serde_json::Value::Null);
        let s = &v["source"];
        // BinlogSourceInfoStructMaker's order: the common fields, then the binlog ones.
        assert_eq!(
            keys(s),
            [
                "version",
                "connector",
                "name",
                "ts_ms",
                "snapshot",
                "db",
                "sequence",
                "ts_us",
                "ts_ns",
                "table",
                "server_id",
                "gtid",
                "file",
                "pos",
                "row",
                "thread",
                "query"
            ]
        );
        assert_eq!(s["connector"], "mariadb");
        assert_eq!(s["name"], "dbserver1");
        assert_eq!(s["ts_ms"], 1_700_000_000_000u64);
        assert_eq!(s["ts_ns"], 1_700_000_000_000_000_000u64);
        assert_eq!(s["snapshot"], "false");
        assert_eq!(s["db"], "inventory");
        assert_eq!(s["table"], "customers");
        assert_eq!(s["server_id"], 223344);
        assert_eq!(s["gtid"], "0-1-8");
        assert_eq!(s["file"], "mysql-bin.000003");
        assert_eq!(s["pos"], 4331);
        // The row's index in its rows event, not the change index of `pos` in `flat`.
        assert_eq!(s["row"], 2);
        assert!(s["version"].as_str().unwrap().starts_with("redis-cdc-"));

        let mysql = Context {
            connector: connector_name(Flavor::MySql),
            ..ctx()
        };
        let f = render_with(&c, Layout::Compact, &mysql, 1);
        let v: serde_json::Value = serde_json::from_str(&f[0].1).unwrap();
        assert_eq!(v["source"]["connector"], "mysql");

        // Extended: key, value, then the context headers in the sink's HashMap order.
        let f = render_with(&c, Layout::Extended, &ctx(), 1);
        let names: Vec<&str> = f.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(
            names,
            [
                "key",
                "value",
                "__DEBEZIUM.CONTEXT.CONNECTORNAME",
                "__DEBEZIUM.CONTEXT.CONNECTORLOGICALNAME",
                "__DEBEZIUM.CONTEXT.TASKID",
                "__DEBEZIUM.CONTEXT.RUNID",
            ]
        );
        assert_eq!(f[0].1, "{\"id\":1}");
        // Header values are the JSON header converter's text: quoted strings.
        assert_eq!(f[2].1, "\"mariadb\"");
        assert_eq!(f[3].1, "\"dbserver1\"");
        assert_eq!(f[4].1, "\"0\"");
        assert_eq!(f[5].1, "\"6f1f4d1e-3c2a-4b7e-9a55-0123456789ab\"");
    }

    #[test]
    fn key_change_halves_name_each_others_key() {
        let t = table(vec![0]);
        let old = vec![Cell::Int(1), Cell::Text("a@x".into())];
        let new = vec![Cell::Int(2), Cell::Text("a@x".into())];
        let half = |op, before, after, peer, row| Change {
            op,
            table: &t,
            before,
            after,
            ts_ms: 1,
            source: binlog(row, 0),
            gtid: None,
            key_peer: peer,
        };
        let d = render_with(
            &half(Op::Delete, Some(&old), None, Some(&new), 0),
            Layout::Extended,
            &ctx(),
            1,
        );
        let names: Vec<&str> = d.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(
            names,
            [
                "key",
                "value",
                "__DEBEZIUM.CONTEXT.CONNECTORNAME",
                "__DEBEZIUM.CONTEXT.CONNECTORLOGICALNAME",
                "__DEBEZIUM.CONTEXT.TASKID",
                "__DEBEZIUM.NEWKEY",
                "__DEBEZIUM.CONTEXT.RUNID",
            ]
        );
        assert_eq!(d[0].1, "{\"id\":1}");
        assert_eq!(d[5].1, "{\"id\":2}");
        let c = render_with(
            &half(Op::Create, None, Some(&new), Some(&old), 1),
            Layout::Extended,
            &ctx(),
            1,
        );
        let names: Vec<&str> = c.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(
            names,
            [
                "key",
                "value",
                "__DEBEZIUM.CONTEXT.CONNECTORNAME",
                "__DEBEZIUM.OLDKEY",
                "__DEBEZIUM.CONTEXT.CONNECTORLOGICALNAME",
                "__DEBEZIUM.CONTEXT.TASKID",
                "__DEBEZIUM.CONTEXT.RUNID",
            ]
        );
        assert_eq!(c[0].1, "{\"id\":2}");
        assert_eq!(c[3].1, "{\"id\":1}");
        // Both halves carry the row's index in its event: 0 for the create too.
        let v: serde_json::Value = serde_json::from_str(&c[1].1).unwrap();
        assert_eq!(v["source"]["row"], 0);
        // The compact layout has no headers.
        let compact = render_with(
            &half(Op::Create, None, Some(&new), Some(&old), 1),
            Layout::Compact,
            &ctx(),
            1,
        );
        assert_eq!(compact.len(), 1);
    }

    #[test]
    fn java_hash_map_iteration_order() {
        // Buckets (String.hashCode spread, of 16): connectorName 6, oldkey 7,
        // connectorLogicalName 9, taskId 14, newkey and runId 15.
        let names = [
            NEW_KEY.0,
            LOGICAL_NAME.0,
            TASK_ID.0,
            CONNECTOR_NAME.0,
            RUN_ID.0,
        ];
        assert_eq!(java_hash_map_order(&names), [3, 1, 2, 0, 4]);
        // "Aa" and "BB" share a hashCode: insertion order within the bucket.
        assert_eq!(java_hash_map_order(&["BB", "Aa"]), [0, 1]);
        assert_eq!(java_hash_map_order(&["Aa", "BB"]), [0, 1]);
        // "a" (97 -> bucket 1) before "b"? 98 -> bucket 2.
        assert_eq!(java_hash_map_order(&["b", "a"]), [1, 0]);
    }

    #[test]
    fn floats_print_as_java_does() {
        let cases: &[(f64, &str)] = &[
            (0.1, "0.1"),
            (1.0, "1.0"),
            (100.0, "100.0"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1234567.0, "1234567.0"),
            (9999999.0, "9999999.0"),
            (1.0e7, "1.0E7"),
            (12345678.9, "1.23456789E7"),
            (1.5e300, "1.5E300"),
            (1.0e-300, "1.0E-300"),
            (123.456, "123.456"),
            (1234.5670166015625, "1234.5670166015625"),
        ];
        for (v, want) in cases {
            assert_eq!(j(Cell::Double(*v)), *want, "{v}");
        }
        assert_eq!(j(Cell::Float(1234.567)), "1234.567");
        assert_eq!(j(Cell::Float(1.0e10)), "1.0E10");
        // One digit reads back, but two are closer: Java prints two.
        assert_eq!(j(Cell::Double(5.0e-324)), "4.9E-324");
        assert_eq!(j(Cell::Float(f32::from_bits(1))), "1.4E-45");
        assert_eq!(j(Cell::Double(1.0e23)), "1.0E23");
        assert_eq!(j(Cell::Double(2.0)), "2.0");
        assert_eq!(j(Cell::Float(0.5)), "0.5");
        assert_eq!(j(Cell::Vector(vec![1.5, -2.0])), "[1.5,-2.0]");
        // Every double reads back as itself.
        for v in [
            1.0e-5,
            3.3e-3,
            7.77e6,
            1.2e7,
            f64::MAX,
            f64::MIN_POSITIVE,
            5.0e-324,
        ] {
            assert_eq!(j(Cell::Double(v)).parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn float_m_d_is_the_widened_double() {
        let v = |scaled| {
            let mut s = String::new();
            write_value(
                &mut s,
                &ColumnKind::Float { scaled },
                &Cell::Float(1234.567),
            );
            s
        };
        assert_eq!(v(true), "1234.5670166015625");
        assert_eq!(v(false), "1234.567");
        let mut s = String::new();
        write_value(&mut s, &ColumnKind::Float { scaled: true }, &Cell::Null);
        assert_eq!(s, "null");
    }

    #[test]
    fn year_zero_and_srid_zero() {
        assert_eq!(j(Cell::Year(0)), "1900");
        assert_eq!(j(Cell::Year(1901)), "1901");
        assert_eq!(
            j(Cell::Geometry {
                srid: 0,
                wkb: vec![1]
            }),
            "{\"wkb\":\"AQ==\",\"srid\":null}"
        );
    }

    #[test]
    fn snapshot_rows_and_keyless_tables() {
        let t = table(vec![]);
        let after = vec![Cell::Int(7), Cell::Null];
        let c = Change {
            op: Op::Read,
            table: &t,
            before: None,
            after: Some(&after),
            ts_ms: 5,
            source: ChangeSource::Snapshot {
                id: 1,
                table: "inventory.customers".into(),
                n: 3,
            },
            gtid: None,
            key_peer: None,
        };
        let f = render_with(&c, Layout::Extended, &ctx(), 9);
        assert_eq!(f[0].1, NULL_KEY);
        let v: serde_json::Value = serde_json::from_str(&f[1].1).unwrap();
        assert_eq!(v["before"], serde_json::Value::Null);
        assert_eq!(v["after"], serde_json::json!({"id": 7, "email": null}));
        assert_eq!(v["op"], "r");
        assert_eq!(v["source"]["snapshot"], "true");
        assert_eq!(v["source"]["server_id"], 0);
        assert_eq!(v["source"]["gtid"], serde_json::Value::Null);
    }

    fn info(name: &str, data_type: &str, column_type: &str, pk: Option<u32>) -> InfoColumn {
        InfoColumn {
            name: name.into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            collation: None,
            charset: None,
            pk_ordinal: pk,
            ..InfoColumn::default()
        }
    }

    fn schema_change<'a>(
        kind: TableDdlKind,
        shape: Option<&'a [InfoColumn]>,
        ddl: &'a str,
    ) -> SchemaChange<'a> {
        SchemaChange {
            kind,
            db: "inventory",
            table: "customers",
            shape,
            ddl,
            source_tables: "customers",
            ts_ms: 1_700_000_000_000,
            file: "mariadb-bin.000001",
            pos: 1234,
            server_id: 1,
            gtid: Some("0-1-9"),
        }
    }

    #[test]
    fn schema_change_events() {
        let mut name = info("name", "varchar", "varchar(255)", None);
        name.charset = Some("utf8mb4".into());
        let shape = vec![
            info("id", "int", "int(11)", Some(1)),
            name,
            info("price", "decimal", "decimal(10,2) unsigned", None),
            info("size", "enum", "enum('S','M','L')", None),
            info("tags", "set", "set('a','b')", None),
            info("at", "timestamp", "timestamp(3)", None),
        ];
        let sql = "ALTER TABLE customers ADD COLUMN at TIMESTAMP(3)";
        let sc = schema_change(TableDdlKind::Alter, Some(&shape), sql);
        let f = render_schema_change_with(&sc, Layout::Compact, &ctx(), 42);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, "{\"databaseName\":\"inventory\"}");
        let v: serde_json::Value = serde_json::from_str(&f[0].1).unwrap();
        assert_eq!(
            keys(&v),
            [
                "source",
                "ts_ms",
                "databaseName",
                "schemaName",
                "ddl",
                "tableChanges"
            ]
        );
        assert_eq!(v["ts_ms"], 42);
        assert_eq!(v["databaseName"], "inventory");
        assert_eq!(v["schemaName"], serde_json::Value::Null);
        assert_eq!(v["ddl"], sql);
        let s = &v["source"];
        assert_eq!(s["connector"], "mariadb");
        assert_eq!(s["name"], "dbserver1");
        assert_eq!(s["table"], "customers");
        assert_eq!(s["db"], "inventory");
        assert_eq!(s["pos"], 1234);
        assert_eq!(s["row"], 0);
        assert_eq!(s["gtid"], "0-1-9");
        assert_eq!(s["ts_ms"], 1_700_000_000_000u64);
        let change = &v["tableChanges"][0];
        assert_eq!(keys(change), ["type", "id", "table"]);
        assert_eq!(change["type"], "ALTER");
        assert_eq!(change["id"], "\"inventory\".\"customers\"");
        let table = &change["table"];
        assert_eq!(
            keys(table),
            [
                "defaultCharsetName",
                "primaryKeyColumnNames",
                "columns",
                "comment"
            ]
        );
        assert_eq!(table["primaryKeyColumnNames"], serde_json::json!(["id"]));
        let cols = table["columns"].as_array().unwrap();
        assert_eq!(
            keys(&cols[0]),
            [
                "name",
                "jdbcType",
                "nativeType",
                "typeName",
                "typeExpression",
                "charsetName",
                "length",
                "scale",
                "position",
                "optional",
                "autoIncremented",
                "generated",
                "comment",
                "defaultValueExpression",
                "enumValues"
            ]
        );
        let col = |i: usize, k: &str| cols[i][k].clone();
        assert_eq!(col(0, "jdbcType"), 4);
        assert_eq!(col(0, "typeName"), "INT");
        assert_eq!(col(0, "length"), 11);
        assert_eq!(col(0, "position"), 1);
        assert_eq!(col(0, "optional"), false);
        assert_eq!(col(1, "jdbcType"), 12);
        assert_eq!(col(1, "typeName"), "VARCHAR");
        assert_eq!(col(1, "charsetName"), "utf8mb4");
        assert_eq!(col(1, "length"), 255);
        assert_eq!(col(1, "optional"), true);
        assert_eq!(col(2, "jdbcType"), 3);
        assert_eq!(col(2, "typeName"), "DECIMAL UNSIGNED");
        assert_eq!(col(2, "typeExpression"), "DECIMAL UNSIGNED");
        assert_eq!((col(2, "length"), col(2, "scale")), (10.into(), 2.into()));
        assert_eq!(col(3, "jdbcType"), 1);
        assert_eq!(col(3, "length"), 1);
        assert_eq!(
            col(3, "enumValues"),
            serde_json::json!(["'S'", "'M'", "'L'"])
        );
        assert_eq!(col(4, "length"), 3);
        assert_eq!(col(5, "jdbcType"), 2014);
        assert_eq!(col(5, "length"), 3);
        assert_eq!(col(5, "enumValues"), serde_json::Value::Null);

        // DROP: no table; an unknown shape: no table either.
        for (kind, shape) in [
            (TableDdlKind::Drop, Some(shape.as_slice())),
            (TableDdlKind::Create, None),
        ] {
            let sc = schema_change(kind, shape, "x");
            let f = render_schema_change_with(&sc, Layout::Compact, &ctx(), 1);
            let v: serde_json::Value = serde_json::from_str(&f[0].1).unwrap();
            assert_eq!(v["tableChanges"][0]["table"], serde_json::Value::Null);
        }
        let sc = schema_change(TableDdlKind::Create, Some(&shape), "x");
        let f = render_schema_change_with(&sc, Layout::Compact, &ctx(), 1);
        let v: serde_json::Value = serde_json::from_str(&f[0].1).unwrap();
        assert_eq!(v["tableChanges"][0]["type"], "CREATE");

        // Extended: the context headers.
        let f = render_schema_change_with(&sc, Layout::Extended, &ctx(), 1);
        let names: Vec<&str> = f.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(names.len(), 6);
        assert_eq!(names[..2], ["key", "value"]);
        assert_eq!(
            f[2],
            (
                Cow::Borrowed("__DEBEZIUM.CONTEXT.CONNECTORNAME"),
                "\"mariadb\"".into()
            )
        );
    }

    #[test]
    fn logical_name_drops_the_separator() {
        assert_eq!(logical_name_for_prefix("cdc:"), "cdc");
        assert_eq!(logical_name_for_prefix("dbserver1."), "dbserver1");
        assert_eq!(logical_name_for_prefix(""), "redis-cdc");
    }

    #[test]
    fn run_ids_are_version_4_uuids() {
        let id = run_id_from([0xab; 16]);
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, run_id_from([0xac; 16]));
    }
}

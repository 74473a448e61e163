//! The Debezium-compatible layouts (docs/debezium.md): a drop-in for Debezium Server's Redis sink
//! (`debezium.sink.type=redis`) fed by the MySQL connector with the JSON converter and
//! `key.converter.schemas.enable=false` / `value.converter.schemas.enable=false`.
//!
//! What we follow, and where it is written down:
//! - The sink (debezium-server `RedisStreamChangeConsumer`): one XADD per record to the stream
//!   named after the topic; `message.format=compact` (the default) writes one field/value pair,
//!   field = key JSON, value = event JSON; `extended` writes the fields `key` and `value`. A null
//!   key is written as the sink's `null.key` default, the string `default` (tables without a
//!   primary key: the MySQL connector gives them a null key).
//! - The envelope (Debezium MySQL connector, "data change events"): `before`, `after`, `source`
//!   {version, connector, name, ts_ms, snapshot, db, sequence, table, server_id, gtid, file, pos,
//!   row, thread, query}, `op`, `ts_ms`, `transaction`; Debezium 2.6+ adds `ts_us`/`ts_ns` in
//!   both, which we write too (consumers of older versions ignore unknown fields).
//! - Column values (connector "how MySQL data types map", with `decimal.handling.mode=string`,
//!   `time.precision.mode=adaptive_time_microseconds`, `binary.handling.mode=bytes`,
//!   `bigint.unsigned.handling.mode=long`), as the JSON converter writes them:
//!   DATE `io.debezium.time.Date` = days since the epoch; DATETIME(0-3) `Timestamp` = epoch ms,
//!   DATETIME(4-6) `MicroTimestamp` = epoch µs; TIMESTAMP `ZonedTimestamp` = ISO-8601 in UTC
//!   with exactly fsp fraction digits when fsp > 0 (`ZonedTimestamp.getDateTimeFormatter`), none
//!   for fsp 0; TIME `MicroTime` = signed µs; YEAR int; DECIMAL string; BIT(1) boolean;
//!   BIT(n>1) `io.debezium.data.Bits` = the bits little-endian in ceil(n/8) bytes (base64);
//!   BINARY/BLOB bytes (base64); JSON `io.debezium.data.Json` = the JSON text as a string;
//!   ENUM/SET strings; GEOMETRY `io.debezium.data.geometry.Geometry` = {"wkb", "srid"}.
//!
//! Choices where we cannot be Debezium (docs/debezium.md, "Where the module cannot be Debezium"):
//! - `source.name` is the logical server name (Debezium's `topic.prefix`): `cdc.stream-prefix`
//!   without its trailing separator, so `cdc.stream-prefix dbserver1.` reproduces Debezium's
//!   stream names (`dbserver1.inventory.customers`) and `name` (`dbserver1`).
//! - `source.version` names this module (`redis-cdc-<version>`), not a Debezium release.
//! - Snapshot rows carry `snapshot` "true" (never "first"/"last": the writer does not know which
//!   row is last when it renders one), `server_id` 0, `file` "" and `pos` 0.
//! - `thread`, `query`, `sequence` and `transaction` are null (as with Debezium's defaults
//!   without `binlog_rows_query_log_events` and transaction metadata).
//! - No tombstones after deletes (as `tombstones.on.delete=false`): the sink would write them as
//!   the string `default`, which no consumer wants.
//! - BIGINT UNSIGNED above 2^63-1 is written exactly, where `long` mode would overflow.

use super::{json, Change, Fields};
use crate::calendar::{days_from_civil, seconds_from_civil};
use crate::model::change::{Cell, ChangeSource};
use crate::schema::TableSchema;
use base64::Engine;
use std::borrow::Cow;
use std::fmt::Write;
use std::sync::RwLock;

/// The sink's layouts (`debezium.sink.redis.message.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `compact`: one field/value pair, field = key JSON, value = event JSON.
    Compact,
    /// `extended`: fields `key` and `value` (what Redis Data Integration reads).
    Extended,
}

/// The sink's `null.key` default, written for tables without a primary key.
pub const NULL_KEY: &str = "default";

/// Logical server name for `source.name`, set from `cdc.stream-prefix` by the glue.
static LOGICAL_NAME: RwLock<String> = RwLock::new(String::new());

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

/// Set the logical server name from the stream prefix (called whenever the config is read).
pub fn set_stream_prefix(prefix: &str) {
    let name = logical_name_for_prefix(prefix);
    let mut g = LOGICAL_NAME.write().unwrap_or_else(|p| p.into_inner());
    if *g != name {
        *g = name;
    }
}

fn logical_name() -> String {
    let g = LOGICAL_NAME.read().unwrap_or_else(|p| p.into_inner());
    if g.is_empty() {
        logical_name_for_prefix("cdc:")
    } else {
        g.clone()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Render `c` in `layout` with the current logical name and processing time.
pub fn render(c: &Change<'_>, layout: Layout) -> Fields {
    render_with(c, layout, &logical_name(), now_ms())
}

/// Render with an explicit logical name and processing time (pure; used by tests).
pub fn render_with(c: &Change<'_>, layout: Layout, name: &str, processed_ms: u64) -> Fields {
    let key = key_json(c).unwrap_or_else(|| NULL_KEY.to_string());
    let value = event_json(c, name, processed_ms);
    match layout {
        Layout::Compact => vec![(Cow::Owned(key), value)],
        Layout::Extended => vec![(Cow::Borrowed("key"), key), (Cow::Borrowed("value"), value)],
    }
}

/// The Debezium key: the primary-key columns, or None (a null key) when the table has none.
pub fn key_json(c: &Change<'_>) -> Option<String> {
    let t = c.table;
    if t.primary_key.is_empty() {
        return None;
    }
    let row = c.after.or(c.before)?;
    let mut s = String::with_capacity(32);
    write_object(&mut s, t, row, t.primary_key.iter().copied());
    Some(s)
}

/// The Debezium change event (the record value with schemas disabled).
pub fn event_json(c: &Change<'_>, name: &str, processed_ms: u64) -> String {
    let t = c.table;
    let mut s = String::with_capacity(512);
    s.push_str("{\"before\":");
    write_row(&mut s, t, c.before);
    s.push_str(",\"after\":");
    write_row(&mut s, t, c.after);
    s.push_str(",\"source\":{\"version\":");
    json::write_str(&mut s, &format!("redis-cdc-{}", crate::VERSION));
    s.push_str(",\"connector\":\"mysql\",\"name\":");
    json::write_str(&mut s, name);
    let _ = write!(
        s,
        ",\"ts_ms\":{},\"ts_us\":{},\"ts_ns\":{}",
        c.ts_ms,
        c.ts_ms * 1000,
        c.ts_ms * 1_000_000
    );
    let snapshot = matches!(c.source, ChangeSource::Snapshot { .. });
    s.push_str(if snapshot {
        ",\"snapshot\":\"true\""
    } else {
        ",\"snapshot\":\"false\""
    });
    s.push_str(",\"db\":");
    json::write_str(&mut s, &t.db);
    s.push_str(",\"sequence\":null,\"table\":");
    json::write_str(&mut s, &t.table);
    match &c.source {
        ChangeSource::Binlog {
            file,
            offset,
            row,
            server_id,
        } => {
            let _ = write!(s, ",\"server_id\":{server_id},\"gtid\":");
            write_opt_str(&mut s, c.gtid);
            s.push_str(",\"file\":");
            json::write_str(&mut s, file);
            let _ = write!(s, ",\"pos\":{offset},\"row\":{row}");
        }
        ChangeSource::Snapshot { .. } | ChangeSource::SnapshotMark { .. } => {
            s.push_str(",\"server_id\":0,\"gtid\":");
            write_opt_str(&mut s, c.gtid);
            s.push_str(",\"file\":\"\",\"pos\":0,\"row\":0");
        }
    }
    s.push_str(",\"thread\":null,\"query\":null},\"op\":\"");
    s.push_str(c.op.code());
    let _ = write!(
        s,
        "\",\"ts_ms\":{processed_ms},\"ts_us\":{},\"ts_ns\":{},\"transaction\":null}}",
        processed_ms * 1000,
        processed_ms * 1_000_000
    );
    s
}

fn write_opt_str(out: &mut String, v: Option<&str>) {
    match v {
        Some(v) => json::write_str(out, v),
        None => out.push_str("null"),
    }
}

fn write_row(out: &mut String, t: &TableSchema, row: Option<&crate::model::change::Row>) {
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
    json::write_object_with(out, table, row, cols, write_cell);
}

fn base64_into(out: &mut String, bytes: &[u8]) {
    out.push('"');
    base64::engine::general_purpose::STANDARD.encode_string(bytes, out);
    out.push('"');
}

fn write_float<F: ryu::Float>(out: &mut String, v: F, finite: bool) {
    if finite {
        let mut buf = ryu::Buffer::new();
        out.push_str(buf.format_finite(v));
    } else {
        out.push_str("null");
    }
}

/// Append one cell in the form Debezium's MySQL connector gives it (module doc).
pub fn write_cell(out: &mut String, cell: &Cell) {
    match cell {
        Cell::Null => out.push_str("null"),
        Cell::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Cell::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Cell::Decimal(d) => json::write_str(out, d),
        Cell::Float(f) => write_float(out, *f, f.is_finite()),
        Cell::Double(d) => write_float(out, *d, d.is_finite()),
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
            let _ = write!(
                out,
                "{}",
                days_from_civil(*year as i64, *month as u32, *day as u32)
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
                let _ = write!(out, "{}", secs * 1000 + (*micros / 1000) as i64);
            } else {
                let _ = write!(out, "{}", secs * 1_000_000 + *micros as i64);
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
            let _ = write!(out, "{}", if *negative { -total } else { total });
        }
        Cell::Year(y) => {
            let _ = write!(out, "{y}");
        }
        Cell::Text(s) | Cell::Enum(s) | Cell::Set(s) => json::write_str(out, s),
        Cell::Bytes(b) => base64_into(out, b),
        Cell::Json(v) => json::write_str(out, &v.to_string()),
        Cell::Geometry { srid, wkb } => {
            out.push_str("{\"wkb\":");
            base64_into(out, wkb);
            let _ = write!(out, ",\"srid\":{srid}}}");
        }
        Cell::Vector(v) => {
            out.push('[');
            for (i, f) in v.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_float(out, *f, f.is_finite());
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::change::Op;
    use crate::schema::{ColumnKind, ColumnSchema};
    use mysql_common::constants::ColumnType;

    fn j(c: Cell) -> String {
        let mut s = String::new();
        write_cell(&mut s, &c);
        s
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
            j(Cell::Json(serde_json::json!({"a": [1, "x"]}))),
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
            source: ChangeSource::Binlog {
                file: "mysql-bin.000003".into(),
                offset: 4331,
                row: 0,
                server_id: 223344,
            },
            gtid: Some("0-1-8"),
        };
        let f = render_with(&c, Layout::Compact, "dbserver1", 1_700_000_000_123);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, "{\"id\":1}");
        let v: serde_json::Value = serde_json::from_str(&f[0].1).unwrap();
        assert_eq!(v["before"], serde_json::json!({"id": 1, "email": "a@x"}));
        assert_eq!(v["after"], serde_json::json!({"id": 1, "email": "b@x"}));
        assert_eq!(v["op"], "u");
        assert_eq!(v["ts_ms"], 1_700_000_000_123u64);
        assert_eq!(v["transaction"], serde_json::Value::Null);
        let s = &v["source"];
        assert_eq!(s["connector"], "mysql");
        assert_eq!(s["name"], "dbserver1");
        assert_eq!(s["ts_ms"], 1_700_000_000_000u64);
        assert_eq!(s["snapshot"], "false");
        assert_eq!(s["db"], "inventory");
        assert_eq!(s["table"], "customers");
        assert_eq!(s["server_id"], 223344);
        assert_eq!(s["gtid"], "0-1-8");
        assert_eq!(s["file"], "mysql-bin.000003");
        assert_eq!(s["pos"], 4331);
        assert_eq!(s["row"], 0);
        assert!(s["version"].as_str().unwrap().starts_with("redis-cdc-"));

        let f = render_with(&c, Layout::Extended, "dbserver1", 1);
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].0.as_ref(), f[0].1.as_str()), ("key", "{\"id\":1}"));
        assert_eq!(f[1].0, "value");
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
        };
        let f = render_with(&c, Layout::Extended, "cdc", 9);
        assert_eq!(f[0].1, NULL_KEY);
        let v: serde_json::Value = serde_json::from_str(&f[1].1).unwrap();
        assert_eq!(v["before"], serde_json::Value::Null);
        assert_eq!(v["after"], serde_json::json!({"id": 7, "email": null}));
        assert_eq!(v["op"], "r");
        assert_eq!(v["source"]["snapshot"], "true");
        assert_eq!(v["source"]["server_id"], 0);
        assert_eq!(v["source"]["gtid"], serde_json::Value::Null);
    }

    #[test]
    fn logical_name_drops_the_separator() {
        assert_eq!(logical_name_for_prefix("cdc:"), "cdc");
        assert_eq!(logical_name_for_prefix("dbserver1."), "dbserver1");
        assert_eq!(logical_name_for_prefix(""), "redis-cdc");
    }
}

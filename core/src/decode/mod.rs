//! Binlog values to [`Cell`]s: a pure, table-driven function of the column's schema
//! (docs/types.md).
//!
//! `mysql_common` parses the bytes of each value; this module gives them their meaning:
//! signedness, charsets, ENUM/SET members, BIT widths, zero dates, JSON.

pub mod charset;
pub mod json_text;
pub mod rows;
pub mod sql;

use crate::model::change::{Cell, JsonText};
use crate::schema::{ColumnKind, ColumnSchema};
use mysql_common::binlog::jsonb;
use mysql_common::binlog::jsondiff::{JsonDiff, JsonDiffOperation};
use mysql_common::binlog::value::BinlogValue;
use mysql_common::value::Value;

/// Why a value could not be decoded; the caller adds the position and column.
pub type DecodeError = String;

/// Decode one value of column `col`.
pub fn decode_cell(col: &ColumnSchema, v: BinlogValue<'_>) -> Result<Cell, DecodeError> {
    match v {
        BinlogValue::Value(Value::NULL) => Ok(Cell::Null),
        BinlogValue::Value(v) => decode_value(col, v),
        BinlogValue::Jsonb(j) => Ok(Cell::Json(JsonText::from(&jsonb_to_json(j)?))),
        BinlogValue::JsonDiff(_) => Err("partial JSON update without a before image".into()),
    }
}

pub(crate) fn decode_value(col: &ColumnSchema, v: Value) -> Result<Cell, DecodeError> {
    let kind = col.kind;
    let unexpected = |v: &Value| format!("unexpected value {v:?} for {kind:?}");
    match (kind, v) {
        (ColumnKind::Int { bytes }, Value::Int(i)) => Ok(int_cell(i, bytes, col.unsigned)),
        (ColumnKind::Int { .. }, Value::UInt(u)) => Ok(Cell::UInt(u)),
        (ColumnKind::Decimal { .. }, Value::Bytes(b)) => String::from_utf8(b)
            .map(Cell::Decimal)
            .map_err(|_| "bad DECIMAL text".into()),
        (ColumnKind::Float { .. }, Value::Float(f)) => Ok(Cell::Float(f)),
        (ColumnKind::Double, Value::Double(d)) => Ok(Cell::Double(d)),
        (ColumnKind::Float { .. }, Value::Double(d)) => Ok(Cell::Float(d as f32)),
        (ColumnKind::Bit { bits }, Value::Bytes(b)) => {
            if b.len() > 8 {
                return Err("BIT value wider than 64 bits".into());
            }
            let value = b.iter().fold(0u64, |acc, x| (acc << 8) | *x as u64);
            Ok(Cell::Bit { value, bits })
        }
        (ColumnKind::Date, Value::Date(y, m, d, ..)) => Ok(if valid_date(y, m, d) {
            Cell::Date {
                year: y,
                month: m,
                day: d,
            }
        } else {
            Cell::Null
        }),
        (ColumnKind::DateTime { fsp }, Value::Date(y, mo, d, h, mi, s, us)) => {
            Ok(if valid_date(y, mo, d) {
                Cell::DateTime {
                    year: y,
                    month: mo,
                    day: d,
                    hour: h,
                    minute: mi,
                    second: s,
                    micros: us,
                    fsp,
                }
            } else {
                Cell::Null
            })
        }
        (ColumnKind::Timestamp { fsp }, Value::Bytes(b)) => {
            let s = std::str::from_utf8(&b).map_err(|_| "bad TIMESTAMP text")?;
            let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
            let secs: i64 = secs.parse().map_err(|_| "bad TIMESTAMP seconds")?;
            // The binlog stores TIMESTAMP2 seconds as an unsigned 32-bit number, which
            // mysql_common reads as signed: MariaDB 11.5+ values after 2038-01-19 (up to
            // 2106-02-07, the largest being a current row's ROW END) come out negative.
            let secs = if secs < 0 { secs + (1 << 32) } else { secs };
            let micros: u32 = format!("{frac:0<6}")
                .get(..6)
                .ok_or("bad TIMESTAMP fraction")?
                .parse()
                .map_err(|_| "bad TIMESTAMP fraction")?;
            Ok(if secs == 0 && micros == 0 {
                Cell::Null // 0000-00-00 00:00:00
            } else {
                Cell::Timestamp { secs, micros, fsp }
            })
        }
        (ColumnKind::Timestamp { fsp }, Value::Int(secs)) => Ok(if secs == 0 {
            Cell::Null
        } else {
            Cell::Timestamp {
                secs,
                micros: 0,
                fsp,
            }
        }),
        (ColumnKind::Time { fsp }, Value::Time(neg, days, h, m, s, us)) => Ok(Cell::Time {
            negative: neg,
            hours: days * 24 + h as u32,
            minute: m,
            second: s,
            micros: us,
            fsp,
        }),
        (ColumnKind::Year, Value::Bytes(b)) => {
            let y: u16 = std::str::from_utf8(&b)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("bad YEAR")?;
            // The binlog stores YEAR as (year - 1900); 0 means the zero year 0000.
            Ok(Cell::Year(if y == 1900 { 0 } else { y }))
        }
        (ColumnKind::Year, Value::Int(y)) => Ok(Cell::Year(y as u16)),
        (ColumnKind::Text { charset }, Value::Bytes(b)) => {
            Ok(Cell::Text(crate::decode::charset::to_utf8(charset, b)))
        }
        (ColumnKind::Binary { pad }, Value::Bytes(mut b)) => {
            if (b.len() as u32) < pad {
                b.resize(pad as usize, 0);
            }
            Ok(Cell::Bytes(b))
        }
        (ColumnKind::Enum, Value::Int(i)) => Ok(match i {
            0 => Cell::Enum(String::new()),
            i => Cell::Enum(
                col.enum_values
                    .get(i as usize - 1)
                    .cloned()
                    .ok_or_else(|| format!("ENUM index {i} has no member (metadata missing?)"))?,
            ),
        }),
        (ColumnKind::Set, Value::Bytes(b)) => {
            let bits = b.iter().rev().fold(0u64, |acc, x| (acc << 8) | *x as u64);
            let mut members = Vec::new();
            for i in 0..64 {
                if bits & (1u64 << i) != 0 {
                    members.push(
                        col.set_values.get(i).map(String::as_str).ok_or_else(|| {
                            format!("SET bit {i} has no member (metadata missing?)")
                        })?,
                    );
                }
            }
            Ok(Cell::Set(members.join(",")))
        }
        (ColumnKind::Json, Value::Bytes(b)) => {
            // MariaDB's JSON alias: text that passed json_valid; empty strings are not JSON.
            json_text::compact(&b)
                .map(Cell::Json)
                .map_err(|e| format!("JSON column holds invalid JSON: {e}"))
        }
        (ColumnKind::Geometry, Value::Bytes(b)) => {
            if b.len() < 4 {
                return Err("GEOMETRY value shorter than its SRID".into());
            }
            let srid = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            Ok(Cell::Geometry {
                srid,
                wkb: b[4..].to_vec(),
            })
        }
        (ColumnKind::Vector, Value::Bytes(b)) => {
            if b.len() % 4 != 0 {
                return Err("VECTOR value is not a whole number of floats".into());
            }
            Ok(Cell::Vector(
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ))
        }
        // Fixed-length binary values reach the binlog without their trailing zero bytes.
        (ColumnKind::Uuid, Value::Bytes(b)) if b.len() <= 16 => {
            Ok(Cell::Text(format_uuid(&pad16(&b))))
        }
        (ColumnKind::Inet6, Value::Bytes(b)) if b.len() <= 16 => {
            Ok(Cell::Text(std::net::Ipv6Addr::from(pad16(&b)).to_string()))
        }
        (ColumnKind::Inet4, Value::Bytes(b)) if b.len() <= 4 => {
            let mut a = [0u8; 4];
            a[..b.len()].copy_from_slice(&b);
            Ok(Cell::Text(std::net::Ipv4Addr::from(a).to_string()))
        }
        (_, v) => Err(unexpected(&v)),
    }
}

/// TIME2 (MySQL 5.6+ / MariaDB `mysql56_temporal_format`) from its stored bytes. Decoded here
/// because `mysql_common` gets negative values with a fraction and a zero integer part wrong
/// (`-00:00:00.5` came out as `624:63:63.1`). Follows MySQL's `my_time_packed_from_binary` and
/// `TIME_from_longlong_time_packed`.
pub fn time2_cell(b: &[u8], fsp: u8) -> Result<Cell, DecodeError> {
    let need = 3 + (fsp as usize).div_ceil(2);
    if b.len() < need {
        return Err("TIME value is truncated".into());
    }
    let int_part = ((b[0] as i64) << 16 | (b[1] as i64) << 8 | b[2] as i64) - 0x80_0000;
    let packed: i64 = match fsp {
        0 => int_part << 24,
        1 | 2 => {
            let (mut i, mut frac) = (int_part, b[3] as i64);
            if i < 0 && frac != 0 {
                i += 1;
                frac -= 0x100;
            }
            (i << 24) + frac * 10_000
        }
        3 | 4 => {
            let (mut i, mut frac) = (int_part, u16::from_be_bytes([b[3], b[4]]) as i64);
            if i < 0 && frac != 0 {
                i += 1;
                frac -= 0x10000;
            }
            (i << 24) + frac * 100
        }
        _ => {
            let v = b[..6].iter().fold(0i64, |acc, x| (acc << 8) | *x as i64);
            v - 0x8000_0000_0000
        }
    };
    let negative = packed < 0;
    let t = packed.unsigned_abs();
    let hms = t >> 24;
    Ok(Cell::Time {
        negative,
        hours: ((hms >> 12) % (1 << 10)) as u32,
        minute: ((hms >> 6) % (1 << 6)) as u8,
        second: (hms % (1 << 6)) as u8,
        micros: (t % (1 << 24)) as u32,
        fsp,
    })
}

fn int_cell(i: i64, bytes: u8, unsigned: bool) -> Cell {
    if unsigned {
        // mysql_common hands small unsigned types back as Int already; BIGINT UNSIGNED as UInt.
        return Cell::UInt(i as u64 & mask(bytes));
    }
    // mysql_common does not sign-extend MEDIUMINT (docs/internals.md, 'Values as the crate
    // decodes them').
    let i = match bytes {
        3 if i >= 0x80_0000 => i - 0x100_0000,
        _ => i,
    };
    Cell::Int(i)
}

fn mask(bytes: u8) -> u64 {
    if bytes >= 8 {
        u64::MAX
    } else {
        (1u64 << (bytes as u32 * 8)) - 1
    }
}

fn valid_date(y: u16, m: u8, d: u8) -> bool {
    !(y == 0 && m == 0 && d == 0) && (1..=12).contains(&m) && (1..=31).contains(&d)
}

fn pad16(b: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..b.len()].copy_from_slice(b);
    a
}

/// 16 bytes as a UUID in its canonical text (`8-4-4-4-12` lower-case hex digits): MariaDB UUID
/// columns, MySQL server UUIDs of GTIDs.
pub fn format_uuid(b: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*b).hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_common::constants::ColumnType;

    fn col(kind: ColumnKind, unsigned: bool) -> ColumnSchema {
        ColumnSchema {
            name: "c".into(),
            binlog_type: ColumnType::MYSQL_TYPE_LONG,
            meta: vec![],
            unsigned,
            kind,
            enum_values: vec!["a".into(), "b".into()],
            set_values: vec!["x".into(), "y".into(), "z".into()],
        }
    }

    fn dec(kind: ColumnKind, unsigned: bool, v: Value) -> Cell {
        decode_cell(&col(kind, unsigned), BinlogValue::Value(v)).unwrap()
    }

    #[test]
    fn integers_signed_unsigned_and_mediumint() {
        assert_eq!(
            dec(ColumnKind::Int { bytes: 3 }, false, Value::Int(16777211)),
            Cell::Int(-5)
        );
        assert_eq!(
            dec(ColumnKind::Int { bytes: 3 }, false, Value::Int(8388608)),
            Cell::Int(-8388608)
        );
        assert_eq!(
            dec(ColumnKind::Int { bytes: 1 }, true, Value::Int(255)),
            Cell::UInt(255)
        );
        assert_eq!(
            dec(ColumnKind::Int { bytes: 8 }, true, Value::UInt(u64::MAX)),
            Cell::UInt(u64::MAX)
        );
        assert_eq!(
            dec(ColumnKind::Int { bytes: 8 }, false, Value::Int(i64::MIN)),
            Cell::Int(i64::MIN)
        );
    }

    #[test]
    fn enum_set_bit_year() {
        assert_eq!(
            dec(ColumnKind::Enum, false, Value::Int(2)),
            Cell::Enum("b".into())
        );
        assert_eq!(
            dec(ColumnKind::Set, false, Value::Bytes(vec![0b101])),
            Cell::Set("x,z".into())
        );
        assert_eq!(
            dec(
                ColumnKind::Bit { bits: 10 },
                false,
                Value::Bytes(vec![3, 0xff])
            ),
            Cell::Bit {
                value: 1023,
                bits: 10
            }
        );
        assert_eq!(
            dec(ColumnKind::Year, false, Value::Bytes(b"2024".to_vec())),
            Cell::Year(2024)
        );
        assert_eq!(
            dec(ColumnKind::Year, false, Value::Bytes(b"1900".to_vec())),
            Cell::Year(0)
        );
    }

    #[test]
    fn time2_negative_fractions() {
        let t = |b: &[u8], fsp| match time2_cell(b, fsp).unwrap() {
            Cell::Time {
                negative,
                hours,
                minute,
                second,
                micros,
                ..
            } => (negative, hours, minute, second, micros),
            c => panic!("{c:?}"),
        };
        // -00:00:00.5, TIME(1): intpart -1 (0x7fffff), frac byte -50 (0xce).
        assert_eq!(t(&[0x7f, 0xff, 0xff, 0xce], 1), (true, 0, 0, 0, 500_000));
        // 12:00:00.5 TIME(1)
        assert_eq!(t(&[0x80, 0xc0, 0x00, 50], 1), (false, 12, 0, 0, 500_000));
        // -838:59:59 TIME(0)
        let v = 0x80_0000 - ((838 << 12) | (59 << 6) | 59);
        assert_eq!(
            t(&[(v >> 16) as u8, (v >> 8) as u8, v as u8], 0),
            (true, 838, 59, 59, 0)
        );
    }

    #[test]
    fn zero_dates_are_null_and_timestamps_parse() {
        assert_eq!(
            dec(ColumnKind::Date, false, Value::Date(0, 0, 0, 0, 0, 0, 0)),
            Cell::Null
        );
        assert_eq!(
            dec(
                ColumnKind::Timestamp { fsp: 3 },
                false,
                Value::Bytes(b"1714979289.654000".to_vec())
            ),
            Cell::Timestamp {
                secs: 1714979289,
                micros: 654000,
                fsp: 3
            }
        );
        assert_eq!(
            dec(
                ColumnKind::Timestamp { fsp: 0 },
                false,
                Value::Bytes(b"0".to_vec())
            ),
            Cell::Null
        );
        // After 2038 (MariaDB 11.5+): the 32-bit seconds are unsigned.
        assert_eq!(
            dec(
                ColumnKind::Timestamp { fsp: 6 },
                false,
                Value::Bytes(b"-1.999999".to_vec())
            ),
            Cell::Timestamp {
                secs: 4_294_967_295,
                micros: 999_999,
                fsp: 6
            }
        );
        // A fraction that is not digits is an error, not a slice across a UTF-8 character.
        let t = col(ColumnKind::Timestamp { fsp: 6 }, false);
        let odd = "1.\u{e9}\u{e9}\u{20ac}".as_bytes().to_vec();
        assert!(decode_cell(&t, BinlogValue::Value(Value::Bytes(odd))).is_err());
    }

    #[test]
    fn binary_is_padded_and_json_text_parses() {
        assert_eq!(
            dec(ColumnKind::Binary { pad: 4 }, false, Value::Bytes(vec![1])),
            Cell::Bytes(vec![1, 0, 0, 0])
        );
        let Cell::Json(v) = dec(
            ColumnKind::Json,
            false,
            Value::Bytes(br#"{"a": [1, 2.50, 123456789012345678901234567890]}"#.to_vec()),
        ) else {
            panic!("not JSON")
        };
        // Numbers stay exactly as written (arbitrary_precision).
        assert_eq!(
            v.to_string(),
            r#"{"a":[1,2.50,123456789012345678901234567890]}"#
        );
        assert!(decode_cell(
            &col(ColumnKind::Json, false),
            BinlogValue::Value(Value::Bytes(b"{".to_vec()))
        )
        .is_err());
    }

    #[test]
    fn uuids_take_the_canonical_text() {
        let bytes = [
            0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17,
            0x40, 0x00,
        ];
        assert_eq!(format_uuid(&bytes), "123e4567-e89b-12d3-a456-426614174000");
        // The binlog drops trailing zero bytes of a fixed-length binary value.
        assert_eq!(
            dec(ColumnKind::Uuid, false, Value::Bytes(bytes[..15].to_vec())),
            Cell::Text("123e4567-e89b-12d3-a456-426614174000".into())
        );
        assert_eq!(
            format_uuid(&[0xff; 16]),
            "ffffffff-ffff-ffff-ffff-ffffffffffff"
        );
    }
}

/// MySQL binary JSON to a JSON value, as MySQL itself prints it: objects keep their stored key
/// order, integers of any width stay exact, DECIMAL values inside JSON become exact numbers,
/// DATE/TIME/DATETIME values strings (`"2015-01-15 23:24:25.000000"`), other opaque values
/// MySQL's `"base64:typeN:..."` strings.
pub fn jsonb_to_json(v: jsonb::Value<'_>) -> Result<serde_json::Value, DecodeError> {
    jsonb_to_json_at(v, 0)
}

/// MySQL's own limit on JSON nesting; deeper input is hostile (and would overflow the stack).
const MAX_JSON_DEPTH: usize = 100;

fn jsonb_to_json_at(v: jsonb::Value<'_>, depth: usize) -> Result<serde_json::Value, DecodeError> {
    use jsonb::Value as V;
    use serde_json::Value as J;
    let bad = |e: std::io::Error| format!("bad binary JSON: {e}");
    if depth > MAX_JSON_DEPTH {
        return Err(format!(
            "binary JSON nested deeper than {MAX_JSON_DEPTH} levels"
        ));
    }
    let jsonb_to_json = |v| jsonb_to_json_at(v, depth + 1);
    if let V::Opaque(o) = &v {
        // mysql_common sizes a buffer from precision - scale unchecked: a scale above the
        // precision is an allocation of exabytes, which aborts the process.
        if o.value_type() == mysql_common::constants::ColumnType::MYSQL_TYPE_NEWDECIMAL {
            match o.data_raw() {
                [p, s, ..] if *p > 0 && *p <= 65 && s <= p => {}
                _ => {
                    return Err(
                        "bad DECIMAL inside binary JSON: precision/scale out of range".to_string(),
                    )
                }
            }
        }
    }
    Ok(match v {
        V::Null => J::Null,
        V::Bool(b) => J::Bool(b),
        V::I16(x) => J::from(x),
        V::U16(x) => J::from(x),
        V::I32(x) => J::from(x),
        V::U32(x) => J::from(x),
        V::I64(x) => J::from(x),
        V::U64(x) => J::from(x),
        V::F64(x) => serde_json::Number::from_f64(x)
            .map(J::Number)
            .ok_or("binary JSON holds a non-finite double")?,
        V::String(s) => J::String(
            std::str::from_utf8(s.str_raw())
                .map_err(|_| "binary JSON string is not UTF-8")?
                .to_owned(),
        ),
        V::SmallArray(a) => J::Array(
            a.iter()
                .map(|e| e.map_err(bad).and_then(jsonb_to_json))
                .collect::<Result<_, _>>()?,
        ),
        V::LargeArray(a) => J::Array(
            a.iter()
                .map(|e| e.map_err(bad).and_then(jsonb_to_json))
                .collect::<Result<_, _>>()?,
        ),
        V::SmallObject(o) => {
            let mut m = serde_json::Map::new();
            for kv in o.iter() {
                let (k, v) = kv.map_err(bad)?;
                m.insert(k.value().into_owned(), jsonb_to_json(v)?);
            }
            J::Object(m)
        }
        V::LargeObject(o) => {
            let mut m = serde_json::Map::new();
            for kv in o.iter() {
                let (k, v) = kv.map_err(bad)?;
                m.insert(k.value().into_owned(), jsonb_to_json(v)?);
            }
            J::Object(m)
        }
        v @ V::Opaque(_) => {
            use jsonb::{JsonDom, JsonNumber, JsonScalar};
            match v.parse().map_err(bad)? {
                JsonDom::Scalar(JsonScalar::Number(JsonNumber::Decimal(d))) => {
                    let text = d.to_string();
                    serde_json::from_str::<serde_json::Number>(&text)
                        .map(J::Number)
                        .map_err(|_| format!("bad DECIMAL inside JSON: {text}"))?
                }
                dom => J::from(dom),
            }
        }
    })
}

/// One leg of a MySQL JSON path: `.key` / `."key"` or `[n]`.
#[derive(Debug, Clone, PartialEq)]
enum Leg {
    Key(String),
    Index(Index),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Index {
    /// `[n]`
    From0(usize),
    /// `[last]` / `[last-n]`
    FromLast(usize),
}

/// Parse a JSON path as MySQL writes it in partial-update diffs (`$.a[2]."b c"`).
fn parse_path(path: &str) -> Result<Vec<Leg>, DecodeError> {
    let bad = || format!("unsupported JSON path {path:?}");
    let mut rest = path.trim().strip_prefix('$').ok_or_else(bad)?.trim_start();
    let mut legs = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let r = r.trim_start();
            if let Some(q) = r.strip_prefix('"') {
                // Quoted key: JSON string escapes.
                let mut end = None;
                let mut escaped = false;
                for (i, c) in q.char_indices() {
                    match (c, escaped) {
                        ('\\', false) => escaped = true,
                        ('"', false) => {
                            end = Some(i);
                            break;
                        }
                        _ => escaped = false,
                    }
                }
                let end = end.ok_or_else(bad)?;
                let key: String =
                    serde_json::from_str(&format!("\"{}\"", &q[..end])).map_err(|_| bad())?;
                legs.push(Leg::Key(key));
                rest = &q[end + 1..];
            } else {
                let end = r
                    .find(|c: char| c == '.' || c == '[' || c.is_whitespace())
                    .unwrap_or(r.len());
                if end == 0 {
                    return Err(bad());
                }
                legs.push(Leg::Key(r[..end].to_string()));
                rest = &r[end..];
            }
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(bad)?;
            let inner = r[..end].trim();
            let idx = if let Some(l) = inner.strip_prefix("last") {
                let l = l.trim();
                if l.is_empty() {
                    Index::FromLast(0)
                } else {
                    Index::FromLast(
                        l.strip_prefix('-')
                            .ok_or_else(bad)?
                            .trim()
                            .parse()
                            .map_err(|_| bad())?,
                    )
                }
            } else {
                Index::From0(inner.parse().map_err(|_| bad())?)
            };
            legs.push(Leg::Index(idx));
            rest = &r[end + 1..];
        } else {
            return Err(bad());
        }
        rest = rest.trim_start();
    }
    Ok(legs)
}

fn resolve(idx: Index, len: usize) -> Option<usize> {
    match idx {
        Index::From0(n) => Some(n),
        Index::FromLast(n) => len.checked_sub(1 + n),
    }
}

fn walk_mut<'v>(
    mut v: &'v mut serde_json::Value,
    legs: &[Leg],
) -> Option<&'v mut serde_json::Value> {
    for leg in legs {
        v = match (leg, v) {
            (Leg::Key(k), serde_json::Value::Object(m)) => m.get_mut(k)?,
            (Leg::Index(i), serde_json::Value::Array(a)) => {
                let n = resolve(*i, a.len())?;
                a.get_mut(n)?
            }
            _ => return None,
        };
    }
    Some(v)
}

/// Apply MySQL partial JSON update diffs (PARTIAL_UPDATE_ROWS_EVENT,
/// `binlog_row_value_options=PARTIAL_JSON`) to the before value, giving the full after value.
/// Semantics of MySQL's `Json_diff_vector` (sql/json_diff.cc): REPLACE sets an existing value,
/// INSERT adds an object member or inserts into an array at the index (appending past the end),
/// REMOVE deletes a member or element. A diff that does not apply is an error, never a guess.
pub fn apply_json_diffs(
    mut doc: serde_json::Value,
    diffs: &[JsonDiff<'_>],
) -> Result<serde_json::Value, DecodeError> {
    for d in diffs {
        let path = d.path_str().into_owned();
        let legs = parse_path(&path)?;
        let not_found =
            || format!("partial JSON update: path {path} not found in the before value");
        let value = match d.value() {
            Some(v) => Some(jsonb_to_json(v.clone())?),
            None => None,
        };
        match d.operation() {
            JsonDiffOperation::REPLACE => {
                let value = value.ok_or("partial JSON REPLACE without a value")?;
                *walk_mut(&mut doc, &legs).ok_or_else(not_found)? = value;
            }
            JsonDiffOperation::INSERT => {
                let value = value.ok_or("partial JSON INSERT without a value")?;
                let (last, parent) = legs.split_last().ok_or("partial JSON INSERT at the root")?;
                match (last, walk_mut(&mut doc, parent).ok_or_else(not_found)?) {
                    (Leg::Key(k), serde_json::Value::Object(m)) => {
                        m.insert(k.clone(), value);
                    }
                    (Leg::Index(i), serde_json::Value::Array(a)) => {
                        let n = resolve(*i, a.len()).unwrap_or(0).min(a.len());
                        a.insert(n, value);
                    }
                    _ => return Err(not_found()),
                }
            }
            JsonDiffOperation::REMOVE => {
                let (last, parent) = legs.split_last().ok_or("partial JSON REMOVE of the root")?;
                match (last, walk_mut(&mut doc, parent).ok_or_else(not_found)?) {
                    (Leg::Key(k), serde_json::Value::Object(m)) => {
                        m.shift_remove(k).ok_or_else(not_found)?;
                    }
                    (Leg::Index(i), serde_json::Value::Array(a)) => {
                        let n = resolve(*i, a.len())
                            .filter(|n| *n < a.len())
                            .ok_or_else(not_found)?;
                        a.remove(n);
                    }
                    _ => return Err(not_found()),
                }
            }
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn paths_parse() {
        assert_eq!(
            parse_path(r#"$.a[2]."b c".d[last-1]"#).unwrap(),
            vec![
                Leg::Key("a".into()),
                Leg::Index(Index::From0(2)),
                Leg::Key("b c".into()),
                Leg::Key("d".into()),
                Leg::Index(Index::FromLast(1))
            ]
        );
        assert_eq!(parse_path("$").unwrap(), vec![]);
        assert!(parse_path("a.b").is_err());
        assert!(parse_path("$[x]").is_err());
    }

    fn diff(op: u8, path: &str, value: Option<&[u8]>) -> JsonDiff<'static> {
        // Serialized form: op u8, lenenc path, [lenenc value len, binary JSON value].
        let mut b = vec![op, path.len() as u8];
        b.extend_from_slice(path.as_bytes());
        if let Some(v) = value {
            b.push(v.len() as u8);
            b.extend_from_slice(v);
        }
        let mut buf = mysql_common::io::ParseBuf(&b);
        let d: JsonDiff<'_> = buf.parse(()).unwrap();
        d.into_owned()
    }

    #[test]
    fn diffs_apply_replace_insert_remove() {
        let base = serde_json::from_str(r#"{"a":[1,2,3],"b":{"c":"x"},"d":true}"#).unwrap();
        // Binary JSON: type 5 = INT16, type 12 = string (len 2).
        let int7: &[u8] = &[5, 7, 0];
        let s_hi: &[u8] = &[12, 2, b'h', b'i'];
        let diffs = vec![
            diff(0, "$.a[1]", Some(int7)),
            diff(1, "$.a[0]", Some(s_hi)),
            diff(1, "$.b.e", Some(int7)),
            diff(2, "$.d", None),
            diff(1, "$.a[10]", Some(int7)),
            diff(2, "$.a[last]", None),
        ];
        let v = apply_json_diffs(base, &diffs).unwrap();
        assert_eq!(v.to_string(), r#"{"a":["hi",1,7,3],"b":{"c":"x","e":7}}"#);
    }

    #[test]
    fn diff_on_missing_path_is_an_error() {
        let base = serde_json::json!({"a": 1});
        assert!(apply_json_diffs(base.clone(), &[diff(0, "$.zz", Some(&[5, 1, 0]))]).is_err());
        assert!(apply_json_diffs(base, &[diff(2, "$.a.b", None)]).is_err());
    }
}

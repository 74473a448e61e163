//! Binlog values to [`Cell`]s: a pure, table-driven function of the column's schema (SPEC §2).
//!
//! `mysql_common` parses the bytes of each value; this module gives them their meaning:
//! signedness, charsets, ENUM/SET members, BIT widths, zero dates, JSON.

use crate::change::Cell;
use crate::source::schema::{ColumnKind, ColumnSchema};
use mysql::binlog::value::BinlogValue;
use mysql::Value;

/// Why a value could not be decoded; the caller adds the position and column.
pub type DecodeError = String;

/// Decode one value of column `col`.
pub fn decode_cell(col: &ColumnSchema, v: BinlogValue<'_>) -> Result<Cell, DecodeError> {
    match v {
        BinlogValue::Value(Value::NULL) => Ok(Cell::Null),
        BinlogValue::Value(v) => decode_value(col, v),
        BinlogValue::Jsonb(j) => {
            let json =
                serde_json::Value::try_from(j).map_err(|e| format!("bad binary JSON: {e}"))?;
            Ok(Cell::Json(json))
        }
        BinlogValue::JsonDiff(_) => Err("partial JSON update without a before image".into()),
    }
}

fn decode_value(col: &ColumnSchema, v: Value) -> Result<Cell, DecodeError> {
    let kind = col.kind;
    let unexpected = |v: &Value| format!("unexpected value {v:?} for {kind:?}");
    match (kind, v) {
        (ColumnKind::Int { bytes }, Value::Int(i)) => Ok(int_cell(i, bytes, col.unsigned)),
        (ColumnKind::Int { .. }, Value::UInt(u)) => Ok(Cell::UInt(u)),
        (ColumnKind::Decimal { .. }, Value::Bytes(b)) => String::from_utf8(b)
            .map(Cell::Decimal)
            .map_err(|_| "bad DECIMAL text".into()),
        (ColumnKind::Float, Value::Float(f)) => Ok(Cell::Float(f)),
        (ColumnKind::Double, Value::Double(d)) => Ok(Cell::Double(d)),
        (ColumnKind::Float, Value::Double(d)) => Ok(Cell::Float(d as f32)),
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
            let micros: u32 = format!("{frac:0<6}")[..6]
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
        (ColumnKind::Text { collation }, Value::Bytes(b)) => {
            Ok(Cell::Text(crate::charset::to_utf8(collation, b)))
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
            serde_json::from_slice(&b)
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
        (ColumnKind::Uuid, Value::Bytes(b)) if b.len() == 16 => Ok(Cell::Text(format_uuid(&b))),
        (ColumnKind::Inet6, Value::Bytes(b)) if b.len() == 16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b);
            Ok(Cell::Text(std::net::Ipv6Addr::from(a).to_string()))
        }
        (_, v) => Err(unexpected(&v)),
    }
}

fn int_cell(i: i64, bytes: u8, unsigned: bool) -> Cell {
    if unsigned {
        // mysql_common hands small unsigned types back as Int already; BIGINT UNSIGNED as UInt.
        return Cell::UInt(i as u64 & mask(bytes));
    }
    // mysql_common does not sign-extend MEDIUMINT (notes pitfall 10).
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
    !(y == 0 && m == 0 && d == 0) && (1..=12).contains(&m) && d >= 1 && d <= 31
}

fn format_uuid(b: &[u8]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
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
}

/// Apply MySQL partial JSON update diffs (PARTIAL_UPDATE_ROWS_EVENT) to the before value.
pub fn apply_json_diffs(
    _base: Cell,
    _diffs: &[mysql_common::binlog::jsondiff::JsonDiff<'_>],
) -> Result<Cell, DecodeError> {
    Err("partial JSON updates (binlog_row_value_options=PARTIAL_JSON) are not supported yet: SET GLOBAL binlog_row_value_options=''".into())
}

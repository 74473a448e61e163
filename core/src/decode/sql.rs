//! Values read by SELECT (the snapshot) as the cells the binlog gives for the same values, a
//! table's shape from information_schema alone, and primary keys as JSON that round-trips.

use crate::calendar::seconds_from_civil;
use crate::decode::decode_cell;
use crate::model::change::{Cell, Row};
use crate::schema::{
    parse_members, primary_key_of, ColumnKind, ColumnSchema, InfoColumn, TableSchema,
    BINARY_COLLATION,
};
use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::value::Value;

/// A primary key's SQL values as JSON that round-trips exactly (stored in the offset hash).
pub fn encode_key(values: &[Value]) -> serde_json::Value {
    use serde_json::json;
    serde_json::Value::Array(
        values
            .iter()
            .map(|v| match v {
                Value::NULL => serde_json::Value::Null,
                Value::Int(i) => json!({ "i": i }),
                Value::UInt(u) => json!({ "u": u }),
                Value::Float(f) => json!({ "d": *f as f64 }),
                Value::Double(d) => json!({ "d": d }),
                Value::Bytes(b) => json!({ "b": hex(b) }),
                Value::Date(y, mo, d, h, mi, s, us) => json!({ "t": [y, mo, d, h, mi, s, us] }),
                Value::Time(neg, d, h, mi, s, us) => json!({ "tm": [*neg as u8, d, h, mi, s, us] }),
            })
            .collect(),
    )
}

/// The inverse of [`encode_key`].
pub fn decode_key(j: &serde_json::Value) -> Result<Vec<Value>, String> {
    let items = j.as_array().ok_or("not an array")?;
    items
        .iter()
        .map(|v| {
            if v.is_null() {
                return Ok(Value::NULL);
            }
            let num = |k: &str, i: usize| -> Result<u64, String> {
                v.get(k)
                    .and_then(|a| a.get(i))
                    .and_then(|x| x.as_u64())
                    .ok_or_else(|| format!("bad {k} value"))
            };
            if let Some(i) = v.get("i").and_then(|x| x.as_i64()) {
                Ok(Value::Int(i))
            } else if let Some(u) = v.get("u").and_then(|x| x.as_u64()) {
                Ok(Value::UInt(u))
            } else if let Some(d) = v.get("d").and_then(|x| x.as_f64()) {
                Ok(Value::Double(d))
            } else if let Some(b) = v.get("b").and_then(|x| x.as_str()) {
                unhex(b).map(Value::Bytes)
            } else if v.get("t").is_some() {
                Ok(Value::Date(
                    num("t", 0)? as u16,
                    num("t", 1)? as u8,
                    num("t", 2)? as u8,
                    num("t", 3)? as u8,
                    num("t", 4)? as u8,
                    num("t", 5)? as u8,
                    num("t", 6)? as u32,
                ))
            } else if v.get("tm").is_some() {
                Ok(Value::Time(
                    num("tm", 0)? != 0,
                    num("tm", 1)? as u32,
                    num("tm", 2)? as u8,
                    num("tm", 3)? as u8,
                    num("tm", 4)? as u8,
                    num("tm", 5)? as u32,
                ))
            } else {
                Err(format!("unknown key value {v}"))
            }
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return Err("bad hex".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| "bad hex".to_string()))
        .collect()
}

/// One SELECTed row (binary protocol, `character_set_results=binary`, UTC) as cells.
pub fn to_row(schema: &TableSchema, raw: Vec<Value>) -> Result<Row, String> {
    if raw.len() != schema.columns.len() {
        return Err(format!(
            "SELECT returned {} columns, expected {}",
            raw.len(),
            schema.columns.len()
        ));
    }
    schema
        .columns
        .iter()
        .zip(raw)
        .map(|(col, v)| sql_cell(col, v).map_err(|e| format!("column {}: {e}", col.name)))
        .collect()
}

/// A value read by SELECT as the cell the binlog gives for the same value. Where the forms
/// agree (numbers, DECIMAL text, dates, times, raw strings in the column's charset, BIT, JSON,
/// GEOMETRY) the binlog decoder does the work, so both paths render identically.
pub fn sql_cell(col: &ColumnSchema, v: Value) -> Result<Cell, String> {
    let text = |b: Vec<u8>| String::from_utf8(b).map_err(|_| "value is not UTF-8".to_string());
    match (col.kind, v) {
        (_, Value::NULL) => Ok(Cell::Null),
        (ColumnKind::Int { .. }, Value::UInt(u)) if !col.unsigned => {
            Ok(i64::try_from(u).map(Cell::Int).unwrap_or(Cell::UInt(u)))
        }
        (ColumnKind::Int { .. }, Value::Int(i)) if col.unsigned => Ok(Cell::UInt(i as u64)),
        (ColumnKind::Int { .. }, Value::Int(i)) => Ok(Cell::Int(i)),
        (ColumnKind::Enum, Value::Bytes(b)) => Ok(Cell::Enum(text(b)?)),
        (ColumnKind::Set, Value::Bytes(b)) => Ok(Cell::Set(text(b)?)),
        // Selected as `col+0` (the snapshot): the member index or bit set, which the binlog
        // decoder names as it names the binlog's.
        (ColumnKind::Enum, Value::UInt(i)) => {
            let i = i64::try_from(i).map_err(|_| "bad ENUM index")?;
            decode_cell(col, BinlogValue::Value(Value::Int(i)))
        }
        (ColumnKind::Set | ColumnKind::Enum, Value::Double(d)) if d >= 0.0 && d.fract() == 0.0 => {
            sql_cell(col, Value::UInt(d as u64))
        }
        (ColumnKind::Set, Value::Int(bits)) => sql_cell(col, Value::UInt(bits as u64)),
        (ColumnKind::Set, Value::UInt(bits)) => decode_cell(
            col,
            BinlogValue::Value(Value::Bytes(bits.to_le_bytes().to_vec())),
        ),
        (ColumnKind::Year, Value::Int(y)) => Ok(Cell::Year(y as u16)),
        (ColumnKind::Year, Value::UInt(y)) => Ok(Cell::Year(y as u16)),
        (ColumnKind::Year, Value::Bytes(b)) => {
            Ok(Cell::Year(text(b)?.parse().map_err(|_| "bad YEAR")?))
        }
        (ColumnKind::Timestamp { fsp }, Value::Date(y, mo, d, h, mi, s, us)) => {
            Ok(if y == 0 && mo == 0 && d == 0 {
                Cell::Null
            } else {
                Cell::Timestamp {
                    secs: seconds_from_civil(
                        y as i64, mo as u32, d as u32, h as u32, mi as u32, s as u32,
                    ),
                    micros: us,
                    fsp,
                }
            })
        }
        (ColumnKind::Uuid | ColumnKind::Inet6 | ColumnKind::Inet4, Value::Bytes(b)) => {
            Ok(Cell::Text(text(b)?))
        }
        (ColumnKind::Float { .. }, Value::Double(d)) => Ok(Cell::Float(d as f32)),
        (ColumnKind::Double, Value::Float(f)) => Ok(Cell::Double(f as f64)),
        (_, v) => decode_cell(col, BinlogValue::Value(v)),
    }
}

/// A table's schema from information_schema alone (a snapshot has no table map).
pub fn schema_from_info(db: &str, table: &str, info: &[InfoColumn]) -> Result<TableSchema, String> {
    let mut columns = Vec::with_capacity(info.len());
    for ic in info {
        let ct = ic.column_type.as_str();
        let unsigned = ct.contains("unsigned");
        let (binlog_type, kind) = match ic.data_type.as_str() {
            "tinyint" | "bool" | "boolean" => {
                (ColumnType::MYSQL_TYPE_TINY, ColumnKind::Int { bytes: 1 })
            }
            "smallint" => (ColumnType::MYSQL_TYPE_SHORT, ColumnKind::Int { bytes: 2 }),
            "mediumint" => (ColumnType::MYSQL_TYPE_INT24, ColumnKind::Int { bytes: 3 }),
            "int" | "integer" => (ColumnType::MYSQL_TYPE_LONG, ColumnKind::Int { bytes: 4 }),
            "bigint" => (
                ColumnType::MYSQL_TYPE_LONGLONG,
                ColumnKind::Int { bytes: 8 },
            ),
            "decimal" | "numeric" => (
                ColumnType::MYSQL_TYPE_NEWDECIMAL,
                ColumnKind::Decimal {
                    scale: type_args(ct).get(1).copied().unwrap_or(0) as u8,
                },
            ),
            "float" => (
                ColumnType::MYSQL_TYPE_FLOAT,
                ColumnKind::Float {
                    scaled: crate::schema::float_is_scaled(ct),
                },
            ),
            "double" | "real" | "double precision" => {
                (ColumnType::MYSQL_TYPE_DOUBLE, ColumnKind::Double)
            }
            "bit" => (
                ColumnType::MYSQL_TYPE_BIT,
                ColumnKind::Bit {
                    bits: type_args(ct).first().copied().unwrap_or(1).clamp(1, 64) as u16,
                },
            ),
            "date" => (ColumnType::MYSQL_TYPE_DATE, ColumnKind::Date),
            "datetime" => (
                ColumnType::MYSQL_TYPE_DATETIME2,
                ColumnKind::DateTime { fsp: fsp(ct) },
            ),
            "timestamp" => (
                ColumnType::MYSQL_TYPE_TIMESTAMP2,
                ColumnKind::Timestamp { fsp: fsp(ct) },
            ),
            "time" => (
                ColumnType::MYSQL_TYPE_TIME2,
                ColumnKind::Time { fsp: fsp(ct) },
            ),
            "year" => (ColumnType::MYSQL_TYPE_YEAR, ColumnKind::Year),
            "enum" => (ColumnType::MYSQL_TYPE_ENUM, ColumnKind::Enum),
            "set" => (ColumnType::MYSQL_TYPE_SET, ColumnKind::Set),
            "json" => (ColumnType::MYSQL_TYPE_JSON, ColumnKind::Json),
            "uuid" => (ColumnType::MYSQL_TYPE_STRING, ColumnKind::Uuid),
            "inet6" => (ColumnType::MYSQL_TYPE_STRING, ColumnKind::Inet6),
            "inet4" => (ColumnType::MYSQL_TYPE_STRING, ColumnKind::Inet4),
            "vector" => (ColumnType::MYSQL_TYPE_VECTOR, ColumnKind::Vector),
            "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
            | "multipolygon" | "geometrycollection" | "geomcollection" => {
                (ColumnType::MYSQL_TYPE_GEOMETRY, ColumnKind::Geometry)
            }
            "binary" => (
                ColumnType::MYSQL_TYPE_STRING,
                ColumnKind::Binary {
                    pad: type_args(ct).first().copied().unwrap_or(0) as u32,
                },
            ),
            "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
                (ColumnType::MYSQL_TYPE_BLOB, ColumnKind::Binary { pad: 0 })
            }
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => {
                if ic.is_json {
                    (ColumnType::MYSQL_TYPE_BLOB, ColumnKind::Json)
                } else {
                    match ic.collation {
                        Some(BINARY_COLLATION) => {
                            (ColumnType::MYSQL_TYPE_BLOB, ColumnKind::Binary { pad: 0 })
                        }
                        collation => (
                            ColumnType::MYSQL_TYPE_VARCHAR,
                            ColumnKind::Text {
                                charset: ic
                                    .charset
                                    .as_deref()
                                    .map(crate::decode::charset::by_name)
                                    .or_else(|| {
                                        collation.and_then(crate::decode::charset::by_collation)
                                    })
                                    .unwrap_or(crate::decode::charset::Charset::Utf8),
                            },
                        ),
                    }
                }
            }
            other => return Err(format!("column {}: unsupported type {other}", ic.name)),
        };
        let (enum_values, set_values) = match kind {
            ColumnKind::Enum => (parse_members(ct), Vec::new()),
            ColumnKind::Set => (Vec::new(), parse_members(ct)),
            _ => (Vec::new(), Vec::new()),
        };
        columns.push(ColumnSchema {
            name: ic.name.clone(),
            binlog_type,
            meta: Vec::new(),
            unsigned,
            kind,
            enum_values,
            set_values,
        });
    }
    Ok(TableSchema {
        db: db.to_string(),
        table: table.to_string(),
        columns,
        primary_key: primary_key_of(info),
        named: true,
    })
}

/// Numbers inside the parentheses of a COLUMN_TYPE: `decimal(10,2)` -> [10, 2].
fn type_args(column_type: &str) -> Vec<u64> {
    let Some((_, rest)) = column_type.split_once('(') else {
        return Vec::new();
    };
    let inner = rest.split(')').next().unwrap_or("");
    inner
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

fn fsp(column_type: &str) -> u8 {
    type_args(column_type).first().copied().unwrap_or(0).min(6) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, data_type: &str, column_type: &str, pk: Option<u32>) -> InfoColumn {
        InfoColumn {
            name: name.into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            collation: Some(45),
            charset: Some("utf8mb4".into()),
            pk_ordinal: pk,
            is_json: false,
            ..InfoColumn::default()
        }
    }

    #[test]
    fn keys_round_trip_exactly() {
        let vals = vec![
            Value::Int(-5),
            Value::UInt(u64::MAX),
            Value::Bytes(b"a\x00\xffz".to_vec()),
            Value::Date(2024, 1, 31, 12, 34, 56, 123),
            Value::Time(true, 1, 2, 3, 4, 5),
            Value::Double(1.5),
            Value::NULL,
        ];
        let j = encode_key(&vals);
        let back: serde_json::Value = serde_json::from_str(&j.to_string()).unwrap();
        assert_eq!(decode_key(&back).unwrap(), vals);
        assert!(decode_key(&serde_json::json!([{"x": 1}])).is_err());
        assert!(decode_key(&serde_json::json!([{"b": "zz"}])).is_err());
    }

    #[test]
    fn schema_from_information_schema() {
        let cols = vec![
            info("b", "varchar", "varchar(10)", Some(2)),
            info("a", "int", "int(10) unsigned", Some(1)),
            info("d", "decimal", "decimal(10,2)", None),
            info("t", "datetime", "datetime(3)", None),
            info("e", "enum", "enum('x','y')", None),
            info("bits", "bit", "bit(10)", None),
        ];
        let s = schema_from_info("db", "t", &cols).unwrap();
        assert_eq!(s.primary_key, vec![1, 0]);
        assert!(s.columns[1].unsigned);
        assert_eq!(s.columns[2].kind, ColumnKind::Decimal { scale: 2 });
        assert_eq!(s.columns[3].kind, ColumnKind::DateTime { fsp: 3 });
        assert_eq!(s.columns[4].enum_values, vec!["x", "y"]);
        assert_eq!(s.columns[5].kind, ColumnKind::Bit { bits: 10 });
        assert!(schema_from_info("db", "t", &[info("x", "frob", "frob", None)]).is_err());
    }

    #[test]
    fn sql_values_become_binlog_cells() {
        let s = schema_from_info(
            "db",
            "t",
            &[
                info("u", "tinyint", "tinyint(3) unsigned", None),
                info("ts", "timestamp", "timestamp(3)", None),
                info("y", "year", "year(4)", None),
                info("e", "enum", "enum('x','y')", None),
                info("d", "date", "date", None),
            ],
        )
        .unwrap();
        let c = &s.columns;
        assert_eq!(sql_cell(&c[0], Value::Int(255)).unwrap(), Cell::UInt(255));
        assert_eq!(
            sql_cell(&c[1], Value::Date(2024, 5, 6, 7, 8, 9, 654000)).unwrap(),
            Cell::Timestamp {
                secs: 1714979289,
                micros: 654000,
                fsp: 3
            }
        );
        assert_eq!(
            sql_cell(&c[1], Value::Date(0, 0, 0, 0, 0, 0, 0)).unwrap(),
            Cell::Null
        );
        assert_eq!(sql_cell(&c[2], Value::Int(2024)).unwrap(), Cell::Year(2024));
        assert_eq!(
            sql_cell(&c[3], Value::Bytes(b"y".to_vec())).unwrap(),
            Cell::Enum("y".into())
        );
        assert_eq!(
            sql_cell(&c[4], Value::Date(0, 0, 0, 0, 0, 0, 0)).unwrap(),
            Cell::Null
        );
    }
}

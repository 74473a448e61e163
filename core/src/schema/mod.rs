//! Column names, types and charsets of a captured table.
//!
//! The binlog's TABLE_MAP event gives each column's binlog type and type metadata, and — when the
//! source logs `binlog_row_metadata=FULL` — names, signedness, charsets, ENUM/SET members and the
//! primary key. What it never says (MariaDB's JSON alias columns, UUID and INET6 types) and what
//! MINIMAL metadata leaves out comes from `information_schema` through [`InfoColumn`]s.

pub mod code;
mod ddl;
pub mod versioning;

pub use ddl::{
    apply_ddl, code_refs, created_table, dml_tables, dropped_database, emptied_tables,
    is_function_call_statement, rekeyed_table, renamed_tables, reread_tables, strip_set_statement,
    table_ddl, CodeRefs, Created, Rekey, TableDdl, TableDdlKind,
};
pub use versioning::Period;

use crate::assemble::Flavor;
use crate::decode::charset::{self, Charset};
use mysql_common::binlog::events::{OptionalMetaExtractor, TableMapEvent};
use mysql_common::constants::ColumnType;

/// What JSON form a column's values take (docs/types.md); resolved once per table map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// TINYINT..BIGINT; `bytes` is the storage width (1, 2, 3, 4, 8).
    Int {
        bytes: u8,
    },
    Decimal {
        scale: u8,
    },
    /// FLOAT; `scaled`: declared FLOAT(M,D) (Debezium gives those as a double).
    Float {
        scaled: bool,
    },
    Double,
    /// BIT(n), n in 1..=64.
    Bit {
        bits: u16,
    },
    Date,
    DateTime {
        fsp: u8,
    },
    Timestamp {
        fsp: u8,
    },
    Time {
        fsp: u8,
    },
    Year,
    /// CHAR/VARCHAR/TEXT in a character set.
    Text {
        charset: Charset,
    },
    /// BINARY(n) (padded to `pad` bytes), VARBINARY, BLOB.
    Binary {
        pad: u32,
    },
    Enum,
    Set,
    Json,
    Geometry,
    Vector,
    /// MariaDB UUID: 16 bytes shown in the canonical text form.
    Uuid,
    /// MariaDB INET6: 16 bytes shown as an IPv6 (or mapped IPv4) address.
    Inet6,
    /// MariaDB INET4: 4 bytes shown as a dotted IPv4 address.
    Inet4,
}

/// One column as the decoder needs it.
#[derive(Debug, Clone)]
pub struct ColumnSchema {
    pub name: String,
    /// The column's type in the binlog (ENUM/SET already resolved from MYSQL_TYPE_STRING).
    pub binlog_type: ColumnType,
    /// Binlog type metadata bytes.
    pub meta: Vec<u8>,
    pub unsigned: bool,
    pub kind: ColumnKind,
    pub enum_values: Vec<String>,
    pub set_values: Vec<String>,
}

#[cfg(test)]
impl ColumnSchema {
    /// A UTF-8 VARCHAR column named `name` (unit tests' tables).
    pub(crate) fn utf8_text(name: &str) -> ColumnSchema {
        ColumnSchema {
            name: name.to_string(),
            binlog_type: ColumnType::MYSQL_TYPE_VARCHAR,
            meta: vec![],
            unsigned: false,
            kind: ColumnKind::Text {
                charset: crate::decode::charset::Charset::Utf8,
            },
            enum_values: vec![],
            set_values: vec![],
        }
    }
}

/// Whether the charset metadata of a table map (`DEFAULT_CHARSET` / `COLUMN_CHARSET`, one
/// entry per such column, in column order) has an entry for a column of this binlog type: the
/// server's `is_character_type`. Both list CHAR, VARCHAR, TEXT and BLOB columns; MariaDB also
/// GEOMETRY ("base class is blob for geom type"), MySQL 9 also VECTOR. Reading the list with
/// the wrong set gives every string column after such a column the next one's charset: text
/// read as binary, binary as text.
pub fn lists_a_charset(binlog_type: ColumnType, flavor: Flavor) -> bool {
    binlog_type.is_character_type()
        || binlog_type == ColumnType::MYSQL_TYPE_VECTOR
        || (binlog_type == ColumnType::MYSQL_TYPE_GEOMETRY && flavor == Flavor::MariaDb)
}

/// A table as decoded from one TABLE_MAP event.
#[derive(Debug, Clone)]
pub struct TableSchema {
    pub db: String,
    pub table: String,
    pub columns: Vec<ColumnSchema>,
    /// Indexes of the primary-key columns in key order; empty when the table has none.
    pub primary_key: Vec<usize>,
    /// True when names came from the binlog or information_schema (never positional).
    pub named: bool,
}

/// A column as `information_schema.COLUMNS` describes it. Stored in Redis as JSON in the schema
/// history (docs/events.md), so field names are part of the stored form (fields added later
/// take their default when an older history is read).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct InfoColumn {
    pub name: String,
    /// DATA_TYPE, lower case (`int`, `longtext`, `uuid`, `inet6`, `json`...).
    pub data_type: String,
    /// COLUMN_TYPE, lower case (`int(10) unsigned`, `enum('a','b')`...).
    pub column_type: String,
    /// COLLATION id of the column, when it has one.
    pub collation: Option<u16>,
    /// CHARACTER_SET_NAME of the column, when it has one.
    pub charset: Option<String>,
    /// In the primary key, at this 1-based position.
    pub pk_ordinal: Option<u32>,
    /// MariaDB JSON alias: LONGTEXT with a `json_valid` check.
    pub is_json: bool,
    /// A column of a system-versioned table's SYSTEM_TIME period (`GENERATED ALWAYS AS ROW
    /// START/END`, or MariaDB's implicit `row_start`/`row_end`); see [`versioning`].
    pub period: Option<Period>,
    /// INVISIBLE (left out of `SELECT *`); the implicit period columns are.
    pub invisible: bool,
    /// One of MariaDB's hidden long-unique hash columns (`DB_ROW_HASH_<n>`), which information_schema
    /// never lists and no SELECT can read, but the binlog's rows carry (see [`hash_columns`]).
    pub hash: bool,
}

/// The name MariaDB gives its hidden hash column of a long UNIQUE index (`DB_ROW_HASH_1`, ...).
pub const HASH_COLUMN_PREFIX: &str = "DB_ROW_HASH_";

/// MariaDB 10.4+ enforces a UNIQUE index that InnoDB cannot hold as a B-tree (over a BLOB or
/// TEXT column without a prefix length, longer than the key limit, or declared `USING HASH`:
/// information_schema.STATISTICS says INDEX_TYPE `HASH`) through a hidden BIGINT column per such
/// index, after every other column (after the implicit period columns of a system-versioned
/// table too). information_schema and `SELECT` never show it; the binlog's table maps and rows
/// carry it. The known shape of such a table ends with `count` of these (marked
/// [`InfoColumn::hash`]), so that it lines up with the table maps; entries leave them out
/// ([`entry_columns`], [`TableSchema::without_hash_columns`]).
pub fn hash_columns(count: usize) -> Vec<InfoColumn> {
    (1..=count)
        .map(|i| InfoColumn {
            name: format!("{HASH_COLUMN_PREFIX}{i}"),
            data_type: "bigint".into(),
            column_type: "bigint(20)".into(),
            invisible: true,
            hash: true,
            ..InfoColumn::default()
        })
        .collect()
}

/// The columns entries carry, in order: `info` without MariaDB's hash columns and a
/// system-versioned table's invisible period columns (what the snapshot reads).
pub fn entry_columns(info: &[InfoColumn]) -> Vec<InfoColumn> {
    versioning::entry_columns(info)
        .into_iter()
        .filter(|c| !c.hash)
        .collect()
}

/// Binary "charset" id: the value is bytes, not text.
pub const BINARY_COLLATION: u16 = 63;

impl TableSchema {
    /// This table map's schema without MariaDB's hidden hash columns ([`hash_columns`]), and
    /// their indexes (ascending) in a decoded row; None when it has none. `info` is the known
    /// shape it was built with: where that lines up with the map, it marks them; else (a shape
    /// the map does not fit, with `binlog_row_metadata=FULL`) the binlog's names tell: the last
    /// columns, BIGINT, named `DB_ROW_HASH_<n>`, when the table has no column of that name.
    pub fn without_hash_columns(
        &self,
        info: Option<&[InfoColumn]>,
    ) -> Option<(Vec<usize>, TableSchema)> {
        let n = self.columns.len();
        let hidden: Vec<usize> = match info.filter(|i| i.len() == n) {
            Some(info) => (0..n).filter(|i| info[*i].hash).collect(),
            None if self.named => {
                let declared = |name: &str| {
                    info.is_some_and(|i| {
                        i.iter()
                            .any(|c| !c.hash && c.name.eq_ignore_ascii_case(name))
                    })
                };
                let first = self
                    .columns
                    .iter()
                    .rposition(|c| {
                        !(c.binlog_type == ColumnType::MYSQL_TYPE_LONGLONG
                            && c.name.strip_prefix(HASH_COLUMN_PREFIX).is_some_and(|d| {
                                !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
                            })
                            && !declared(&c.name))
                    })
                    .map_or(0, |i| i + 1);
                (first..n).collect()
            }
            None => Vec::new(),
        };
        if hidden.is_empty() {
            return None;
        }
        let shape = self.without_columns(&hidden, |_| true);
        Some((hidden, shape))
    }

    /// This shape without the columns at the indexes `hidden`, its key renumbered; key columns
    /// for which `in_key` is false leave the key too.
    pub(crate) fn without_columns(
        &self,
        hidden: &[usize],
        in_key: impl Fn(usize) -> bool,
    ) -> TableSchema {
        let new_index = |i: usize| -> Option<usize> {
            (!hidden.contains(&i)).then(|| i - hidden.iter().filter(|h| **h < i).count())
        };
        let mut shape = self.clone();
        shape.primary_key = self
            .primary_key
            .iter()
            .filter(|i| in_key(**i))
            .filter_map(|i| new_index(*i))
            .collect();
        shape.columns = self
            .columns
            .iter()
            .enumerate()
            .filter(|(i, _)| !hidden.contains(i))
            .map(|(_, c)| c.clone())
            .collect();
        shape
    }

    /// Just the names of `db.table`, for entries about the whole table (`t`, resync markers),
    /// which carry no row.
    pub fn names_only(db: &str, table: &str) -> TableSchema {
        TableSchema {
            db: db.to_string(),
            table: table.to_string(),
            columns: Vec::new(),
            primary_key: Vec::new(),
            named: true,
        }
    }

    /// Whether the known shape `info` can decode this table map: without column names in the
    /// binlog it must have the same columns, of compatible types. An error means the table
    /// changed in a way the module did not follow (the caller re-reads it).
    pub fn fits(tme: &TableMapEvent<'_>, info: &[InfoColumn]) -> Result<(), String> {
        let n = tme.columns_count() as usize;
        check_str_value_counts(tme)?;
        let meta = OptionalMetaExtractor::new(tme.iter_optional_meta())
            .map_err(|e| format!("bad optional metadata: {e}"))?;
        if meta.iter_column_name().count() == n {
            return Ok(());
        }
        let i = info;
        if i.len() != n {
            return Err(format!(
                "the binlog has {n} columns but the known shape of the table has {}",
                i.len()
            ));
        }
        for (k, ic) in i.iter().enumerate() {
            if let Ok(Some(t)) = tme.get_column_type(k) {
                if !compatible(t, &ic.data_type) {
                    return Err(format!(
                        "column {k} ({}) is {t:?} in the binlog but {} in the known shape",
                        ic.name, ic.data_type
                    ));
                }
            }
        }
        Ok(())
    }

    /// `info` made to line up with a table map whose binlog names show MariaDB hash columns
    /// ([`hash_columns`]) that `info` does not have (or has another number of): a long UNIQUE
    /// index added or dropped by DDL the module follows only in its columns (`ADD UNIQUE (t)`
    /// on a TEXT column). None when the map has no names, or `info` lines up already, or the
    /// map differs from `info` in more than its hash columns.
    pub fn hash_columns_by_names(
        tme: &TableMapEvent<'_>,
        info: &[InfoColumn],
    ) -> Option<Vec<InfoColumn>> {
        let n = tme.columns_count() as usize;
        let names: Vec<String> = OptionalMetaExtractor::new(tme.iter_optional_meta())
            .ok()?
            .iter_column_name()
            .map(|r| r.map(|c| c.name().into_owned()))
            .collect::<Result<_, _>>()
            .ok()?;
        if names.len() != n {
            return None;
        }
        let declared: Vec<&InfoColumn> = info.iter().filter(|c| !c.hash).collect();
        let is_hash = |i: usize| {
            matches!(
                tme.get_column_type(i),
                Ok(Some(ColumnType::MYSQL_TYPE_LONGLONG))
            ) && names[i]
                .strip_prefix(HASH_COLUMN_PREFIX)
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                && !declared
                    .iter()
                    .any(|c| c.name.eq_ignore_ascii_case(&names[i]))
        };
        let hashes = (0..n).rev().take_while(|i| is_hash(*i)).count();
        let same = declared.len() + hashes == n
            && declared
                .iter()
                .zip(&names)
                .all(|(c, name)| c.name.eq_ignore_ascii_case(name));
        if !same || info.len() == n {
            return None;
        }
        let mut fixed: Vec<InfoColumn> = declared.into_iter().cloned().collect();
        fixed.extend(hash_columns(hashes));
        Some(fixed)
    }

    /// Build from a TABLE_MAP event, enriched by information_schema when given (`info` must list
    /// the table's columns in ordinal order; it is ignored when the count does not match).
    /// `flavor`: the server that wrote it, which decides which columns its charset metadata
    /// lists ([`lists_a_charset`]).
    pub fn from_table_map(
        tme: &TableMapEvent<'_>,
        info: Option<&[InfoColumn]>,
        flavor: Flavor,
    ) -> Result<TableSchema, String> {
        let n = tme.columns_count() as usize;
        check_str_value_counts(tme)?;
        let meta = OptionalMetaExtractor::new(tme.iter_optional_meta())
            .map_err(|e| format!("bad optional metadata: {e}"))?;
        if let Some(i) = info {
            Self::fits(tme, i)?;
        }
        let info = info.filter(|i| i.len() == n);
        let mut signedness = meta.iter_signedness();
        let mut charsets = meta.iter_charset();
        let mut enum_set_charsets = meta.iter_enum_and_set_charset();
        let names: Vec<String> = meta
            .iter_column_name()
            .map(|r| r.map(|c| c.name().into_owned()))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("bad column names: {e}"))?;
        let mut primary_key: Vec<usize> = meta
            .iter_primary_key()
            .map(|r| r.map(|i| i as usize))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("bad primary key metadata: {e}"))?;
        let mut enum_values = Vec::new();
        let mut set_values = Vec::new();
        for field in tme.iter_optional_meta() {
            use mysql_common::binlog::events::OptionalMetadataField as F;
            match field.map_err(|e| format!("bad optional metadata: {e}"))? {
                F::EnumStrValue(v) => {
                    for list in v.iter_values() {
                        let list = list.map_err(|e| format!("bad enum metadata: {e}"))?;
                        enum_values.push(
                            list.values()
                                .iter()
                                .map(|s| s.value_raw().to_vec())
                                .collect::<Vec<_>>(),
                        );
                    }
                }
                F::SetStrValue(v) => {
                    for list in v.iter_values() {
                        let list = list.map_err(|e| format!("bad set metadata: {e}"))?;
                        set_values.push(
                            list.values()
                                .iter()
                                .map(|s| s.value_raw().to_vec())
                                .collect::<Vec<_>>(),
                        );
                    }
                }
                _ => {}
            }
        }
        let mut enum_values = enum_values.into_iter();
        let mut set_values = set_values.into_iter();
        let named = names.len() == n || info.is_some();

        let mut columns = Vec::with_capacity(n);
        for i in 0..n {
            let binlog_type = tme
                .get_column_type(i)
                .map_err(|e| format!("column {i}: {e}"))?
                .ok_or_else(|| format!("column {i}: no type"))?;
            let meta_bytes = tme.get_column_metadata(i).unwrap_or(&[]).to_vec();
            let ic = info.map(|v| &v[i]);
            let mut unsigned = if binlog_type.is_numeric_type() {
                signedness.next().unwrap_or(false)
            } else {
                false
            };
            let mut collation = if lists_a_charset(binlog_type, flavor) {
                let listed = charsets
                    .next()
                    .transpose()
                    .map_err(|e| format!("column {i}: bad charset: {e}"))?;
                // A GEOMETRY or VECTOR column's entry (binary) only keeps the list in step.
                listed.filter(|_| binlog_type.is_character_type())
            } else if binlog_type.is_enum_or_set_type() {
                enum_set_charsets
                    .next()
                    .transpose()
                    .map_err(|e| format!("column {i}: bad charset: {e}"))?
            } else {
                None
            };
            if let Some(ic) = ic {
                if ic.column_type.contains("unsigned") {
                    unsigned = true;
                }
                if collation.is_none() {
                    collation = ic.collation;
                }
            }
            // The binlog's collation id names the charset; ids this build does not know
            // (newer MariaDB collations) fall back to information_schema's charset name; a
            // string column with no charset there is binary.
            let cs = collation.and_then(charset::by_collation).or_else(|| {
                ic.map(|c| match (&c.charset, c.collation) {
                    (Some(name), _) => charset::by_name(name),
                    (None, Some(BINARY_COLLATION)) | (None, None) => Charset::Binary,
                    (None, Some(_)) => Charset::Utf8,
                })
            });
            // ENUM/SET members are logged in the column's charset.
            let members = |raw: Vec<Vec<u8>>| -> Vec<String> {
                raw.into_iter()
                    .map(|m| charset::to_utf8(cs.unwrap_or(Charset::Utf8), m))
                    .collect()
            };
            let mut ev = Vec::new();
            let mut sv = Vec::new();
            if binlog_type == ColumnType::MYSQL_TYPE_ENUM {
                ev = members(enum_values.next().unwrap_or_default());
                if ev.is_empty() {
                    ev = ic
                        .map(|c| parse_members(&c.column_type))
                        .unwrap_or_default();
                }
            } else if binlog_type == ColumnType::MYSQL_TYPE_SET {
                sv = members(set_values.next().unwrap_or_default());
                if sv.is_empty() {
                    sv = ic
                        .map(|c| parse_members(&c.column_type))
                        .unwrap_or_default();
                }
            }
            let kind = column_kind(binlog_type, &meta_bytes, cs, ic)
                .map_err(|e| format!("column {i}: {e}"))?;
            let name = match (names.get(i), ic) {
                (Some(n), _) => n.clone(),
                (None, Some(ic)) => ic.name.clone(),
                (None, None) => format!("@{i}"),
            };
            columns.push(ColumnSchema {
                name,
                binlog_type,
                meta: meta_bytes,
                unsigned,
                kind,
                enum_values: ev,
                set_values: sv,
            });
        }
        if primary_key.is_empty() {
            if let Some(info) = info {
                primary_key = primary_key_of(info);
            }
        }
        primary_key.retain(|i| *i < n);
        Ok(TableSchema {
            db: tme.database_name().into_owned(),
            table: tme.table_name().into_owned(),
            columns,
            primary_key,
            named,
        })
    }
}

/// Whether binlog type `t` can hold a column information_schema (or a tracked DDL) calls
/// `data_type`. Unknown names pass: this catches reshaped tables, it is not a type checker.
fn compatible(t: ColumnType, data_type: &str) -> bool {
    use ColumnType::*;
    const KNOWN: &[&str] = &[
        "tinyint",
        "smallint",
        "mediumint",
        "int",
        "bigint",
        "decimal",
        "float",
        "double",
        "bit",
        "date",
        "datetime",
        "timestamp",
        "time",
        "year",
        "char",
        "varchar",
        "binary",
        "varbinary",
        "tinytext",
        "text",
        "mediumtext",
        "longtext",
        "tinyblob",
        "blob",
        "mediumblob",
        "longblob",
        "enum",
        "set",
        "json",
    ];
    if !KNOWN.contains(&data_type) {
        return true;
    }
    let ok: &[&str] = match t {
        MYSQL_TYPE_TINY => &["tinyint"],
        MYSQL_TYPE_SHORT => &["smallint"],
        MYSQL_TYPE_INT24 => &["mediumint"],
        MYSQL_TYPE_LONG => &["int"],
        MYSQL_TYPE_LONGLONG => &["bigint"],
        MYSQL_TYPE_NEWDECIMAL | MYSQL_TYPE_DECIMAL => &["decimal"],
        MYSQL_TYPE_FLOAT => &["float"],
        MYSQL_TYPE_DOUBLE => &["double"],
        MYSQL_TYPE_BIT => &["bit"],
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => &["date"],
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => &["datetime"],
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => &["timestamp"],
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => &["time"],
        MYSQL_TYPE_YEAR => &["year"],
        MYSQL_TYPE_JSON => &["json"],
        MYSQL_TYPE_ENUM => &["enum"],
        MYSQL_TYPE_SET => &["set"],
        MYSQL_TYPE_STRING => &["char", "binary", "enum", "set"],
        MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING => &["varchar", "varbinary", "char", "binary"],
        MYSQL_TYPE_BLOB | MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB => {
            &[
                "tinytext",
                "text",
                "mediumtext",
                "longtext",
                "tinyblob",
                "blob",
                "mediumblob",
                "longblob",
                "json",
            ]
        }
        _ => return true,
    };
    ok.contains(&data_type)
}

/// Members of `enum('a','b')` / `set('x','y')` as information_schema prints them.
pub fn parse_members(column_type: &str) -> Vec<String> {
    let Some(start) = column_type.find('(') else {
        return Vec::new();
    };
    let body = column_type[start + 1..].trim_end_matches(')');
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, in_quote) {
            ('\'', false) => in_quote = true,
            ('\'', true) if chars.peek() == Some(&'\'') => {
                cur.push('\'');
                chars.next();
            }
            ('\'', true) => {
                in_quote = false;
                out.push(std::mem::take(&mut cur));
            }
            ('\\', true) => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (c, true) => cur.push(c),
            _ => {}
        }
    }
    out
}

fn column_kind(
    t: ColumnType,
    meta: &[u8],
    charset: Option<Charset>,
    info: Option<&InfoColumn>,
) -> Result<ColumnKind, String> {
    use ColumnType::*;
    let data_type = info.map(|i| i.data_type.as_str()).unwrap_or("");
    Ok(match t {
        MYSQL_TYPE_TINY => ColumnKind::Int { bytes: 1 },
        MYSQL_TYPE_SHORT => ColumnKind::Int { bytes: 2 },
        MYSQL_TYPE_INT24 => ColumnKind::Int { bytes: 3 },
        MYSQL_TYPE_LONG => ColumnKind::Int { bytes: 4 },
        MYSQL_TYPE_LONGLONG => ColumnKind::Int { bytes: 8 },
        MYSQL_TYPE_NEWDECIMAL | MYSQL_TYPE_DECIMAL => ColumnKind::Decimal {
            scale: meta.get(1).copied().unwrap_or(0),
        },
        MYSQL_TYPE_FLOAT => ColumnKind::Float {
            scaled: info.is_some_and(|i| float_is_scaled(&i.column_type)),
        },
        MYSQL_TYPE_DOUBLE => ColumnKind::Double,
        MYSQL_TYPE_BIT => {
            let bits = meta.get(1).copied().unwrap_or(0) as u16 * 8
                + meta.first().copied().unwrap_or(0) as u16;
            ColumnKind::Bit { bits: bits.max(1) }
        }
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => ColumnKind::Date,
        MYSQL_TYPE_DATETIME => ColumnKind::DateTime { fsp: 0 },
        MYSQL_TYPE_DATETIME2 => ColumnKind::DateTime {
            fsp: meta.first().copied().unwrap_or(0).min(6),
        },
        MYSQL_TYPE_TIMESTAMP => ColumnKind::Timestamp { fsp: 0 },
        MYSQL_TYPE_TIMESTAMP2 => ColumnKind::Timestamp {
            fsp: meta.first().copied().unwrap_or(0).min(6),
        },
        MYSQL_TYPE_TIME => ColumnKind::Time { fsp: 0 },
        MYSQL_TYPE_TIME2 => ColumnKind::Time {
            fsp: meta.first().copied().unwrap_or(0).min(6),
        },
        MYSQL_TYPE_YEAR => ColumnKind::Year,
        MYSQL_TYPE_ENUM => ColumnKind::Enum,
        MYSQL_TYPE_SET => ColumnKind::Set,
        MYSQL_TYPE_JSON => ColumnKind::Json,
        MYSQL_TYPE_GEOMETRY => ColumnKind::Geometry,
        MYSQL_TYPE_VECTOR => ColumnKind::Vector,
        MYSQL_TYPE_STRING
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB => {
            if data_type == "uuid" {
                ColumnKind::Uuid
            } else if data_type == "inet6" {
                ColumnKind::Inet6
            } else if data_type == "inet4" {
                ColumnKind::Inet4
            } else if info.is_some_and(|i| i.is_json) || data_type == "json" {
                ColumnKind::Json
            } else {
                match charset {
                    Some(Charset::Binary) => {
                        let pad = if t == MYSQL_TYPE_STRING {
                            string_length(meta)
                        } else {
                            0
                        };
                        ColumnKind::Binary { pad }
                    }
                    Some(charset) => ColumnKind::Text { charset },
                    // No metadata and no information_schema: treat as UTF-8 text.
                    None => ColumnKind::Text {
                        charset: Charset::Utf8,
                    },
                }
            }
        }
        other => return Err(format!("unsupported column type {other:?}")),
    })
}

/// A FLOAT column declared with a number of decimals, `float(7,3)` (not `float`, nor
/// `float(10)`, which information_schema prints as `float`).
pub fn float_is_scaled(column_type: &str) -> bool {
    column_type
        .split_once('(')
        .is_some_and(|(_, args)| args.split(')').next().is_some_and(|a| a.contains(',')))
}

/// Declared byte length of a CHAR/BINARY column from its MYSQL_TYPE_STRING metadata.
fn string_length(meta: &[u8]) -> u32 {
    match meta {
        [b0, b1, ..] => {
            let (b0, b1) = (*b0 as u32, *b1 as u32);
            if b0 & 0x30 != 0x30 {
                b1 | (((b0 & 0x30) ^ 0x30) << 4)
            } else {
                b1
            }
        }
        _ => 0,
    }
}

/// Known table shapes (information_schema columns), keyed by (db, table), kept current as the
/// binlog goes by.
pub type Shapes = std::collections::HashMap<(String, String), Vec<InfoColumn>>;

/// One table's shape as the schema history stores it: the field is `["db","table"]` (JSON, so
/// that names holding dots stay apart), the value the columns as JSON (docs/layout.md).
pub fn shape_field(db: &str, table: &str) -> String {
    serde_json::json!([db, table]).to_string()
}

/// The columns as stored in the schema history.
pub fn shape_value(columns: &[InfoColumn]) -> String {
    serde_json::to_string(columns).unwrap_or_else(|_| "[]".into())
}

/// Read one stored field/value pair of the schema history back.
pub fn parse_shape(
    field: &str,
    value: &str,
) -> Result<((String, String), Vec<InfoColumn>), String> {
    let (db, table): (String, String) = serde_json::from_str(field)
        .map_err(|e| format!("bad schema history field {field}: {e}"))?;
    let cols: Vec<InfoColumn> = serde_json::from_str(value)
        .map_err(|e| format!("bad schema history value of {db}.{table}: {e}"))?;
    Ok(((db, table), cols))
}

/// Indexes of the primary key columns, in key order (from their 1-based `pk_ordinal`).
pub fn primary_key_of(info: &[InfoColumn]) -> Vec<usize> {
    let mut pk: Vec<(u32, usize)> = info
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.pk_ordinal.map(|o| (o, i)))
        .collect();
    pk.sort();
    pk.into_iter().map(|(_, i)| i).collect()
}

/// mysql_common reserves `Vec::with_capacity(count)` for the ENUM/SET labels of a table map
/// with the count read from the event, unchecked: a malformed count panics (capacity overflow)
/// or aborts the process (an allocation of terabytes). Refuse counts that the bytes cannot hold
/// before it sees them (each label takes at least one byte).
fn check_str_value_counts(tme: &TableMapEvent<'_>) -> Result<(), String> {
    use mysql_common::proto::MySerialize;
    let mut body = Vec::new();
    tme.serialize(&mut body);
    let Some(optional) = optional_metadata(&body) else {
        return Ok(());
    };
    let mut b = optional;
    while let Some((&ty, rest)) = b.split_first() {
        let Some((len, rest)) = lenenc(rest) else {
            return Ok(());
        };
        let Some(value) = rest.get(..len as usize) else {
            return Ok(());
        };
        b = &rest[value.len()..];
        // 5 = SET_STR_VALUE, 6 = ENUM_STR_VALUE: per column a count, then that many labels.
        if ty == 5 || ty == 6 {
            let mut v = value;
            while !v.is_empty() {
                let (count, rest) =
                    lenenc(v).ok_or("bad optional metadata: truncated label count")?;
                if count > rest.len() as u64 {
                    return Err(format!(
                        "bad optional metadata: {count} ENUM/SET labels in {} bytes",
                        rest.len()
                    ));
                }
                v = rest;
                for _ in 0..count {
                    let (l, rest) = lenenc(v).ok_or("bad optional metadata: truncated label")?;
                    v = rest
                        .get(l as usize..)
                        .ok_or("bad optional metadata: truncated label")?;
                }
            }
        }
    }
    Ok(())
}

/// The optional metadata at the end of a TABLE_MAP body (None when the layout does not parse).
fn optional_metadata(body: &[u8]) -> Option<&[u8]> {
    let mut b = body.get(8..)?; // table id (6), flags (2)
    for _ in 0..2 {
        // schema and table: length byte, name, NUL
        let (&len, rest) = b.split_first()?;
        b = rest.get(len as usize + 1..)?;
    }
    let (n, rest) = lenenc(b)?;
    b = rest.get(n as usize..)?;
    let (meta_len, rest) = lenenc(b)?;
    b = rest.get(meta_len as usize..)?;
    b.get((n as usize).div_ceil(8)..)
}

fn lenenc(b: &[u8]) -> Option<(u64, &[u8])> {
    let (&first, rest) = b.split_first()?;
    let width = match first {
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        0xfb | 0xff => return None,
        v => return Some((v as u64, rest)),
    };
    let bytes = rest.get(..width)?;
    let v = bytes
        .iter()
        .rev()
        .fold(0u64, |acc, x| (acc << 8) | *x as u64);
    Some((v, &rest[width..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_metadata_lists_the_columns_each_server_lists() {
        use ColumnType as T;
        for flavor in [Flavor::MySql, Flavor::MariaDb] {
            for t in [
                T::MYSQL_TYPE_STRING,
                T::MYSQL_TYPE_VARCHAR,
                T::MYSQL_TYPE_BLOB,
            ] {
                assert!(lists_a_charset(t, flavor), "{t:?} {flavor:?}");
            }
            for t in [T::MYSQL_TYPE_LONG, T::MYSQL_TYPE_ENUM, T::MYSQL_TYPE_JSON] {
                assert!(!lists_a_charset(t, flavor), "{t:?} {flavor:?}");
            }
            // Only MySQL 9 has VECTOR columns; it lists them.
            assert!(lists_a_charset(T::MYSQL_TYPE_VECTOR, flavor));
        }
        // MariaDB lists GEOMETRY columns (as binary), MySQL does not.
        assert!(lists_a_charset(T::MYSQL_TYPE_GEOMETRY, Flavor::MariaDb));
        assert!(!lists_a_charset(T::MYSQL_TYPE_GEOMETRY, Flavor::MySql));
    }

    /// A table map's schema of `names` (BIGINT for `DB_ROW_HASH_*` and `big*`, else VARCHAR),
    /// keyed by its first column.
    fn mapped(names: &[&str]) -> TableSchema {
        let columns = names
            .iter()
            .map(|n| {
                let mut c = ColumnSchema::utf8_text(n);
                if n.starts_with(HASH_COLUMN_PREFIX) || n.starts_with("big") {
                    c.binlog_type = ColumnType::MYSQL_TYPE_LONGLONG;
                    c.kind = ColumnKind::Int { bytes: 8 };
                }
                c
            })
            .collect();
        TableSchema {
            db: "db".into(),
            table: "t".into(),
            columns,
            primary_key: vec![0],
            named: true,
        }
    }

    fn names(s: &TableSchema) -> Vec<&str> {
        s.columns.iter().map(|c| c.name.as_str()).collect()
    }

    fn text(name: &str) -> InfoColumn {
        InfoColumn {
            name: name.into(),
            data_type: "text".into(),
            column_type: "text".into(),
            ..InfoColumn::default()
        }
    }

    #[test]
    fn hash_columns_leave_the_rows_by_the_known_shape_or_by_their_names() {
        let map = mapped(&["id", "t", "DB_ROW_HASH_1", "DB_ROW_HASH_2"]);
        let mut info = vec![text("id"), text("t")];
        info.extend(hash_columns(2));
        assert_eq!(entry_columns(&info), [text("id"), text("t")]);
        // The shape marks them.
        let (hidden, shape) = map.without_hash_columns(Some(&info)).expect("hash columns");
        assert_eq!((hidden, names(&shape)), (vec![2, 3], vec!["id", "t"]));
        assert_eq!(shape.primary_key, [0]);
        // A shape that does not line up: the binlog's names.
        let stale = [text("id"), text("t")];
        let (hidden, _) = map.without_hash_columns(Some(&stale)).expect("by names");
        assert_eq!(hidden, [2, 3]);
        // ... unless the table has a column of that name.
        let declared = [text("id"), text("t"), text("DB_ROW_HASH_2")];
        assert!(map.without_hash_columns(Some(&declared)).is_none());
        // A table without hash columns, or whose last BIGINT has another name.
        assert!(mapped(&["id", "t"]).without_hash_columns(None).is_none());
        assert!(mapped(&["id", "big"]).without_hash_columns(None).is_none());
        assert!(mapped(&["id", "DB_ROW_HASH_x"])
            .without_hash_columns(None)
            .is_none());
        // Without names (MINIMAL metadata), only a shape that lines up tells.
        let mut unnamed = map.clone();
        unnamed.named = false;
        assert!(unnamed.without_hash_columns(Some(&stale)).is_none());
        assert_eq!(
            unnamed.without_hash_columns(Some(&info)).map(|h| h.0),
            Some(vec![2, 3])
        );
    }

    #[test]
    fn members_parse_quotes_and_escapes() {
        assert_eq!(
            parse_members("enum('a','b c','it''s')"),
            vec!["a", "b c", "it's"]
        );
        assert_eq!(parse_members("set('x',',y')"), vec!["x", ",y"]);
        assert!(parse_members("int(11)").is_empty());
    }

    #[test]
    fn binary_length_from_string_meta() {
        // BINARY(16): real type 0xfe, length 16.
        assert_eq!(string_length(&[0xfe, 16]), 16);
        // CHAR(255) in utf8mb4 = 1020 bytes: high bits of the length live in byte 0.
        assert_eq!(string_length(&[0xce, 0xfc]), 1020);
    }
}

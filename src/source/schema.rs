//! Column names, types and charsets of a captured table.
//!
//! The binlog's TABLE_MAP event gives each column's binlog type and type metadata, and — when the
//! source logs `binlog_row_metadata=FULL` — names, signedness, charsets, ENUM/SET members and the
//! primary key. What it never says (MariaDB's JSON alias columns, UUID and INET6 types) and what
//! MINIMAL metadata leaves out comes from `information_schema` through [`InfoColumn`]s.

use crate::charset::{self, Charset};
use mysql::binlog::events::{OptionalMetaExtractor, TableMapEvent};
use mysql_common::constants::ColumnType;

/// What JSON form a column's values take (SPEC §2); resolved once per table map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// TINYINT..BIGINT; `bytes` is the storage width (1, 2, 3, 4, 8).
    Int {
        bytes: u8,
    },
    Decimal {
        scale: u8,
    },
    Float,
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

/// A column as `information_schema.COLUMNS` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// Binary "charset" id: the value is bytes, not text.
pub const BINARY_COLLATION: u16 = 63;

impl TableSchema {
    /// Build from a TABLE_MAP event, enriched by information_schema when given (`info` must list
    /// the table's columns in ordinal order; it is ignored when the count does not match).
    pub fn from_table_map(
        tme: &TableMapEvent<'_>,
        info: Option<&[InfoColumn]>,
    ) -> Result<TableSchema, String> {
        let n = tme.columns_count() as usize;
        check_str_value_counts(tme)?;
        let meta = OptionalMetaExtractor::new(tme.iter_optional_meta())
            .map_err(|e| format!("bad optional metadata: {e}"))?;
        let logged_names = meta.iter_column_name().count() == n;
        if let (false, Some(i)) = (logged_names, info) {
            // Without names in the binlog the known shape must fit this table map exactly.
            if i.len() != n {
                return Err(format!(
                    "the binlog has {n} columns but the known shape of the table has {}: it changed in a way the module could not follow; CDC.RESYNC the table once the source logs binlog_row_metadata=FULL",
                    i.len()
                ));
            }
            for (k, ic) in i.iter().enumerate() {
                if let Ok(Some(t)) = tme.get_column_type(k) {
                    if !compatible(t, &ic.data_type) {
                        return Err(format!(
                            "column {k} ({}) is {t:?} in the binlog but {} in the known shape: the table changed in a way the module could not follow",
                            ic.name, ic.data_type
                        ));
                    }
                }
            }
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
            use mysql::binlog::events::OptionalMetadataField as F;
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
            let mut collation = if binlog_type.is_character_type() {
                charsets
                    .next()
                    .transpose()
                    .map_err(|e| format!("column {i}: bad charset: {e}"))?
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
        MYSQL_TYPE_FLOAT => ColumnKind::Float,
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

/// Shapes kept across reader sessions (pause/resume, reconnects): the shapes followed up to
/// the end of the last DDL seen, for the source they came from.
static SAVED: std::sync::Mutex<Option<(String, crate::source::position::Position, Shapes)>> =
    std::sync::Mutex::new(None);

/// Keep `shapes` of `source`, valid for any binlog position at or after `valid_from` (the end
/// of the last DDL they followed).
pub fn save_shapes(source: &str, valid_from: crate::source::position::Position, shapes: Shapes) {
    *SAVED.lock().unwrap_or_else(|p| p.into_inner()) =
        Some((source.to_string(), valid_from, shapes));
}

/// The saved shapes of `source` when they are valid at `start`, else none (they will be read
/// from information_schema again). Returns the shapes and the position they are valid from.
pub fn restore_shapes(
    source: &str,
    start: &crate::source::position::Position,
) -> (Shapes, crate::source::position::Position) {
    let saved = SAVED.lock().unwrap_or_else(|p| p.into_inner()).take();
    match saved {
        Some((s, from, shapes)) if s == source && from <= *start => (shapes, from),
        _ => (Shapes::new(), start.clone()),
    }
}

/// Follow one DDL statement of the binlog in `shapes` (sources without full row metadata).
///
/// A shape read from information_schema is the table as of *now*, not as of the binlog position
/// being decoded; re-reading it after each DDL is wrong whenever the module is behind (rows
/// logged before an ALTER would get the new names). So the shape is read once, the first time a
/// table is seen, and from then on edited by the DDL statements the binlog carries, at the
/// position where they take effect: rows before an ALTER decode with the old shape, rows after
/// with the new one. Understood: CREATE TABLE (column list), DROP TABLE, RENAME TABLE, and
/// ALTER TABLE ADD/DROP/CHANGE/MODIFY/RENAME COLUMN (FIRST/AFTER), ADD/DROP PRIMARY KEY,
/// RENAME TO, plus clauses that do not change columns (indexes, options). A statement touching a
/// known table that is not understood forgets that table's shape, which is then re-read from
/// information_schema at its next table map (and checked against it, see `from_table_map`).
pub fn apply_ddl(shapes: &mut Shapes, default_db: &str, sql: &str) {
    let toks = tokenize(sql);
    let mut p = Parser { t: &toks, i: 0 };
    let _ = ddl_statement(&mut p, shapes, default_db);
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare word (keyword or identifier) or a `quoted` identifier (quoted = true).
    Word(String, bool),
    Str(String),
    Punct(char),
}

fn tokenize(sql: &str) -> Vec<Tok> {
    let c: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            i += 2;
            while i < c.len() && !(c[i] == '*' && c.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if (ch == '-' && c.get(i + 1) == Some(&'-')) || ch == '#' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '`' || ch == '\'' || ch == '"' {
            let mut v = String::new();
            i += 1;
            while i < c.len() {
                if c[i] == ch && c.get(i + 1) == Some(&ch) {
                    v.push(ch);
                    i += 2;
                } else if c[i] == ch {
                    i += 1;
                    break;
                } else if c[i] == '\\' && ch != '`' && i + 1 < c.len() {
                    v.push(c[i + 1]);
                    i += 2;
                } else {
                    v.push(c[i]);
                    i += 1;
                }
            }
            out.push(if ch == '`' {
                Tok::Word(v, true)
            } else {
                Tok::Str(v)
            });
        } else if ch.is_alphanumeric() || ch == '_' || ch == '$' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '$') {
                i += 1;
            }
            out.push(Tok::Word(c[start..i].iter().collect(), false));
        } else {
            out.push(Tok::Punct(ch));
            i += 1;
        }
    }
    out
}

struct Parser<'a> {
    t: &'a [Tok],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn kw(&mut self, k: &str) -> bool {
        match self.peek() {
            Some(Tok::Word(w, false)) if w.eq_ignore_ascii_case(k) => {
                self.i += 1;
                true
            }
            _ => false,
        }
    }
    /// `PRIMARY KEY ...` or `CONSTRAINT [name] PRIMARY KEY ...` here: consumed up to its column
    /// list (USING BTREE etc. may precede it). A `CONSTRAINT [name]` before another kind of
    /// constraint is consumed too (the caller then skips that clause).
    fn primary_key_clause(&mut self) -> bool {
        let pk = self.kws(&["primary", "key"])
            || (self.kw("constraint")
                && {
                    if !matches!(self.peek(), Some(Tok::Word(w, false)) if w.eq_ignore_ascii_case("primary"))
                    {
                        self.ident();
                    }
                    self.kws(&["primary", "key"])
                });
        if pk {
            while !matches!(self.peek(), Some(Tok::Punct('(')) | None) {
                self.i += 1;
            }
        }
        pk
    }
    fn kws(&mut self, ks: &[&str]) -> bool {
        let save = self.i;
        if ks.iter().all(|k| self.kw(k)) {
            true
        } else {
            self.i = save;
            false
        }
    }
    fn punct(&mut self, ch: char) -> bool {
        if self.peek() == Some(&Tok::Punct(ch)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn ident(&mut self) -> Option<String> {
        match self.peek() {
            Some(Tok::Word(w, _)) => {
                let w = w.clone();
                self.i += 1;
                Some(w)
            }
            _ => None,
        }
    }
    /// `db.table` or `table`.
    fn table_name(&mut self, default_db: &str) -> Option<(String, String)> {
        let a = self.ident()?;
        if self.punct('.') {
            Some((a, self.ident()?))
        } else {
            Some((default_db.to_string(), a))
        }
    }
    /// Skip to the end of the current clause (a comma or closing parenthesis at depth 0).
    fn skip_clause(&mut self) {
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') if depth == 0 => return,
                Tok::Punct(')') => depth -= 1,
                Tok::Punct(',') | Tok::Punct(';') if depth == 0 => return,
                _ => {}
            }
            self.i += 1;
        }
    }
    fn at_clause_end(&self) -> bool {
        matches!(
            self.peek(),
            None | Some(Tok::Punct(',')) | Some(Tok::Punct(')')) | Some(Tok::Punct(';'))
        )
    }
}

/// A column definition: `name type[(args)] [UNSIGNED] [... PRIMARY KEY ...]`.
fn column_def(p: &mut Parser<'_>) -> Option<(InfoColumn, bool)> {
    let name = p.ident()?;
    let ty = match p.peek() {
        Some(Tok::Word(w, false)) => w.to_ascii_lowercase(),
        _ => return None,
    };
    p.i += 1;
    let mut members = Vec::new();
    if p.punct('(') {
        let mut depth = 0;
        while let Some(t) = p.peek().cloned() {
            p.i += 1;
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') if depth == 0 => break,
                Tok::Punct(')') => depth -= 1,
                Tok::Str(s) => members.push(s),
                _ => {}
            }
        }
    }
    let data_type = match ty.as_str() {
        "integer" => "int".to_string(),
        "bool" | "boolean" => "tinyint".to_string(),
        "dec" | "numeric" | "fixed" => "decimal".to_string(),
        "real" | "double" => "double".to_string(),
        _ => ty.clone(),
    };
    let mut column_type = if ty == "enum" || ty == "set" {
        let quoted: Vec<String> = members
            .iter()
            .map(|m| format!("'{}'", m.replace('\'', "''")))
            .collect();
        format!("{ty}({})", quoted.join(","))
    } else {
        data_type.clone()
    };
    let mut pk = false;
    let mut depth = 0i32;
    while let Some(t) = p.peek() {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') if depth == 0 => break,
            Tok::Punct(')') => depth -= 1,
            Tok::Punct(',') | Tok::Punct(';') if depth == 0 => break,
            Tok::Word(w, false) if depth == 0 && w.eq_ignore_ascii_case("unsigned") => {
                column_type.push_str(" unsigned")
            }
            Tok::Word(w, false) if depth == 0 && w.eq_ignore_ascii_case("primary") => pk = true,
            Tok::Word(w, false)
                if depth == 0
                    && (w.eq_ignore_ascii_case("first") || w.eq_ignore_ascii_case("after")) =>
            {
                break
            }
            _ => {}
        }
        p.i += 1;
    }
    let col = InfoColumn {
        name,
        is_json: data_type == "json",
        data_type,
        column_type,
        collation: None,
        charset: None,
        pk_ordinal: None,
    };
    Some((col, pk))
}

/// `FIRST` / `AFTER col` / nothing: where a column goes.
enum Place {
    Keep,
    First,
    After(String),
}

fn place(p: &mut Parser<'_>) -> Option<Place> {
    if p.kw("first") {
        Some(Place::First)
    } else if p.kw("after") {
        Some(Place::After(p.ident()?))
    } else {
        Some(Place::Keep)
    }
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

fn find(cols: &[InfoColumn], name: &str) -> Option<usize> {
    cols.iter().position(|c| c.name.eq_ignore_ascii_case(name))
}

fn put(cols: &mut Vec<InfoColumn>, col: InfoColumn, at: Place, default: usize) -> Option<()> {
    let idx = match at {
        Place::Keep => default.min(cols.len()),
        Place::First => 0,
        Place::After(a) => find(cols, &a)? + 1,
    };
    cols.insert(idx, col);
    Some(())
}

fn set_pk(cols: &mut [InfoColumn], names: &[String]) -> Option<()> {
    for c in cols.iter_mut() {
        c.pk_ordinal = None;
    }
    for (k, n) in names.iter().enumerate() {
        let i = find(cols, n)?;
        cols[i].pk_ordinal = Some(k as u32 + 1);
    }
    Some(())
}

fn key_columns(p: &mut Parser<'_>) -> Option<Vec<String>> {
    if !p.punct('(') {
        return None;
    }
    let mut names = Vec::new();
    loop {
        names.push(p.ident()?);
        // Prefix lengths, ASC/DESC.
        while !matches!(
            p.peek(),
            Some(Tok::Punct(',')) | Some(Tok::Punct(')')) | None
        ) {
            if p.punct('(') {
                while !p.punct(')') {
                    p.i += 1;
                    p.peek()?;
                }
            } else {
                p.i += 1;
            }
        }
        if p.punct(')') {
            return Some(names);
        }
        p.punct(',');
    }
}

fn ddl_statement(p: &mut Parser<'_>, shapes: &mut Shapes, db: &str) -> Option<()> {
    if p.kw("create") {
        p.kws(&["or", "replace"]);
        p.kw("temporary");
        if !p.kw("table") {
            return Some(()); // CREATE INDEX/VIEW/DATABASE...: no column change
        }
        p.kws(&["if", "not", "exists"]);
        let name = p.table_name(db)?;
        // Unknown forms (LIKE, AS SELECT) forget the shape: information_schema will tell.
        shapes.remove(&name);
        if !p.punct('(') {
            return Some(());
        }
        let mut cols = Vec::new();
        let mut pk_names = Vec::new();
        loop {
            if p.primary_key_clause() {
                pk_names = key_columns(p)?;
                p.skip_clause();
            } else if matches!(p.peek(), Some(Tok::Word(w, false)) if ["key", "index", "unique", "fulltext", "spatial", "foreign", "check", "constraint", "period"].iter().any(|k| w.eq_ignore_ascii_case(k)))
            {
                p.skip_clause();
            } else {
                let (c, pk) = column_def(p)?;
                if pk {
                    pk_names = vec![c.name.clone()];
                }
                cols.push(c);
                p.skip_clause();
            }
            if p.punct(')') {
                break;
            }
            if !p.punct(',') {
                return None;
            }
        }
        set_pk(&mut cols, &pk_names)?;
        shapes.insert(name, cols);
    } else if p.kw("drop") {
        p.kw("temporary");
        if !p.kw("table") {
            return Some(());
        }
        p.kws(&["if", "exists"]);
        loop {
            let name = p.table_name(db)?;
            shapes.remove(&name);
            if !p.punct(',') {
                break;
            }
        }
    } else if p.kw("rename") {
        if !p.kw("table") {
            return Some(());
        }
        loop {
            let from = p.table_name(db)?;
            if !p.kw("to") {
                return None;
            }
            let to = p.table_name(db)?;
            shapes.remove(&to);
            if let Some(v) = shapes.remove(&from) {
                shapes.insert(to, v);
            }
            if !p.punct(',') {
                break;
            }
        }
    } else if p.kw("alter") {
        p.kw("online");
        p.kw("ignore");
        if !p.kw("table") {
            return Some(());
        }
        let name = p.table_name(db)?;
        let Some(mut cols) = shapes.remove(&name) else {
            return Some(());
        };
        let mut new_name = name.clone();
        // On any clause not understood, the shape stays forgotten (removed above).
        alter_clauses(p, &mut cols, &mut new_name, db)?;
        shapes.insert(new_name, cols);
    }
    Some(())
}

fn alter_clauses(
    p: &mut Parser<'_>,
    cols: &mut Vec<InfoColumn>,
    new_name: &mut (String, String),
    db: &str,
) -> Option<()> {
    loop {
        if p.peek().is_none() || p.punct(';') {
            return Some(());
        }
        if p.kw("add") {
            if p.primary_key_clause() {
                let names = key_columns(p)?;
                set_pk(cols, &names)?;
                p.skip_clause();
            } else if matches!(p.peek(), Some(Tok::Word(w, false)) if ["key", "index", "unique", "fulltext", "spatial", "foreign", "check", "constraint", "partition", "period", "system"].iter().any(|k| w.eq_ignore_ascii_case(k)))
            {
                p.skip_clause();
            } else {
                p.kw("column");
                p.kws(&["if", "not", "exists"]);
                if p.punct('(') {
                    loop {
                        let (c, _) = column_def(p)?;
                        p.skip_clause();
                        if find(cols, &c.name).is_some() {
                            return None;
                        }
                        cols.push(c);
                        if p.punct(')') {
                            break;
                        }
                        if !p.punct(',') {
                            return None;
                        }
                    }
                } else {
                    let (c, pk) = column_def(p)?;
                    if find(cols, &c.name).is_some() {
                        return None;
                    }
                    let at = place(p)?;
                    let name = c.name.clone();
                    let end = cols.len();
                    put(cols, c, at, end)?;
                    if pk {
                        set_pk(cols, &[name])?;
                    }
                    p.skip_clause();
                }
            }
        } else if p.kw("drop") {
            if p.kws(&["primary", "key"]) {
                set_pk(cols, &[])?;
            } else if matches!(p.peek(), Some(Tok::Word(w, false)) if ["key", "index", "foreign", "constraint", "check", "partition", "period", "system"].iter().any(|k| w.eq_ignore_ascii_case(k)))
            {
                p.skip_clause();
            } else {
                p.kw("column");
                let if_exists = p.kws(&["if", "exists"]);
                let name = p.ident()?;
                match find(cols, &name) {
                    Some(i) => {
                        cols.remove(i);
                    }
                    None if if_exists => {}
                    None => return None,
                }
                p.skip_clause();
            }
        } else if p.kw("change") {
            p.kw("column");
            p.kws(&["if", "exists"]);
            let old = p.ident()?;
            let i = find(cols, &old)?;
            let (mut c, _) = column_def(p)?;
            c.pk_ordinal = cols[i].pk_ordinal;
            let at = place(p)?;
            cols.remove(i);
            put(cols, c, at, i)?;
            p.skip_clause();
        } else if p.kw("modify") {
            p.kw("column");
            p.kws(&["if", "exists"]);
            let (mut c, _) = column_def(p)?;
            let i = find(cols, &c.name)?;
            c.pk_ordinal = cols[i].pk_ordinal;
            let at = place(p)?;
            cols.remove(i);
            put(cols, c, at, i)?;
            p.skip_clause();
        } else if p.kw("rename") {
            if p.kw("column") {
                let old = p.ident()?;
                if !p.kw("to") {
                    return None;
                }
                let new = p.ident()?;
                let i = find(cols, &old)?;
                cols[i].name = new;
            } else if p.kw("to")
                || p.kw("as")
                || !matches!(p.peek(), Some(Tok::Word(w, false)) if w.eq_ignore_ascii_case("index") || w.eq_ignore_ascii_case("key"))
            {
                *new_name = p.table_name(db)?;
            } else {
                p.skip_clause();
            }
        } else if matches!(p.peek(), Some(Tok::Word(w, false)) if ["alter", "engine", "default", "character", "charset", "collate", "comment", "algorithm", "lock", "force", "row_format", "auto_increment", "key_block_size", "stats_persistent", "stats_auto_recalc", "stats_sample_pages", "pack_keys", "checksum", "min_rows", "max_rows", "avg_row_length", "order", "enable", "disable", "wait", "nowait", "page_checksum", "transactional", "encrypted", "encryption_key_id"].iter().any(|k| w.eq_ignore_ascii_case(k)))
        {
            p.skip_clause();
        } else {
            return None;
        }
        if !p.punct(',') {
            return if p.at_clause_end() { Some(()) } else { None };
        }
    }
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
    fn members_parse_quotes_and_escapes() {
        assert_eq!(
            parse_members("enum('a','b c','it''s')"),
            vec!["a", "b c", "it's"]
        );
        assert_eq!(parse_members("set('x',',y')"), vec!["x", ",y"]);
        assert!(parse_members("int(11)").is_empty());
    }

    fn c(name: &str, ty: &str) -> InfoColumn {
        InfoColumn {
            name: name.into(),
            data_type: ty.into(),
            column_type: ty.into(),
            collation: None,
            charset: None,
            pk_ordinal: None,
            is_json: false,
        }
    }

    fn names(shapes: &Shapes, t: &str) -> Vec<String> {
        shapes
            .get(&("db".to_string(), t.to_string()))
            .map(|v| {
                v.iter()
                    .map(|c| {
                        format!(
                            "{}{}",
                            c.name,
                            c.pk_ordinal.map(|o| format!("#{o}")).unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn ddl_tracks_columns() {
        let mut s = Shapes::new();
        apply_ddl(&mut s, "db", "CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT, `a b` VARCHAR(10) DEFAULT 'x,y', e ENUM('p','q''r') NOT NULL, PRIMARY KEY (id), KEY k (e)) ENGINE=InnoDB");
        assert_eq!(names(&s, "t"), ["id#1", "a b", "e"]);
        let e = &s[&("db".to_string(), "t".to_string())][2];
        assert_eq!(parse_members(&e.column_type), ["p", "q'r"]);
        apply_ddl(&mut s, "db", "ALTER TABLE `db`.`t` ADD COLUMN n INT UNSIGNED AFTER id, DROP COLUMN `a b`, ADD INDEX (n)");
        assert_eq!(names(&s, "t"), ["id#1", "n", "e"]);
        assert!(s[&("db".to_string(), "t".to_string())][1]
            .column_type
            .contains("unsigned"));
        apply_ddl(&mut s, "db", "alter table t change column n m bigint first, rename column e to f, modify id int after m");
        assert_eq!(names(&s, "t"), ["m", "id#1", "f"]);
        apply_ddl(
            &mut s,
            "db",
            "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (f, m)",
        );
        assert_eq!(names(&s, "t"), ["m#2", "id", "f#1"]);
        apply_ddl(&mut s, "db", "ALTER TABLE t ADD (x JSON, y UUID)");
        assert_eq!(names(&s, "t"), ["m#2", "id", "f#1", "x", "y"]);
        assert!(s[&("db".to_string(), "t".to_string())][3].is_json);
        apply_ddl(&mut s, "db", "RENAME TABLE t TO u");
        assert!(names(&s, "t").is_empty());
        assert_eq!(names(&s, "u").len(), 5);
        apply_ddl(&mut s, "db", "ALTER TABLE u RENAME TO v, ENGINE=InnoDB");
        assert_eq!(names(&s, "v").len(), 5);
        apply_ddl(
            &mut s,
            "db",
            "DROP TABLE IF EXISTS `v` /* generated by server */",
        );
        assert!(s.is_empty());
        // Not understood: the shape is forgotten (re-read from information_schema later).
        s.insert(("db".into(), "w".into()), vec![c("a", "int")]);
        apply_ddl(
            &mut s,
            "db",
            "ALTER TABLE w PARTITION BY HASH(a) PARTITIONS 2",
        );
        assert!(s.is_empty());
        // Other tables and statements are left alone.
        s.insert(("db".into(), "w".into()), vec![c("a", "int")]);
        apply_ddl(&mut s, "db", "ALTER TABLE other ADD COLUMN z INT");
        apply_ddl(&mut s, "db", "CREATE INDEX i ON w (a)");
        assert_eq!(names(&s, "w"), ["a"]);
    }

    #[test]
    fn binary_length_from_string_meta() {
        // BINARY(16): real type 0xfe, length 16.
        assert_eq!(string_length(&[0xfe, 16]), 16);
        // CHAR(255) in utf8mb4 = 1020 bytes: high bits of the length live in byte 0.
        assert_eq!(string_length(&[0xce, 0xfc]), 1020);
    }
}

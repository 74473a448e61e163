//! `cdc.exclude-columns`, `cdc.mask-columns` and `cdc.mask-salt`: which columns of a captured
//! table leave the module, and in which form (docs/configuration.md, "Column patterns";
//! docs/types.md, "Masked columns").
//!
//! The patterns ([`ColumnRules`]) are resolved once per table shape into a [`ColumnPlan`]: the
//! shape of the entries (the table without its excluded columns) and, per column, keep, mask or
//! drop. The reader and the snapshot pass every decoded row through the plan of its shape
//! before a format renders it, so no format, key or image can see a value the rules hold back;
//! a table the rules do not touch has no plan and costs nothing.
//!
//! A column of the entry's key is never dropped: replay upserts and deletes by key, so a key
//! without it would merge rows. An excluded key column is masked instead (the plan says so in
//! [`ColumnPlan::warning`]), and a masked key column is masked in the key too: the hash is
//! deterministic, so the key of a row stays the same from insert to delete.

use crate::calendar::civil_from_seconds;
use crate::filter::glob;
use crate::format::{json, Format};
use crate::model::change::{Cell, Row};
use crate::schema::{InfoColumn, TableSchema};
use sha2::{Digest, Sha256};
use std::fmt::{self, Write};
use std::sync::Arc;

/// One `db.table.column` pattern; `*` matches any run of characters, `?` one character.
/// Schema and table names compare case-sensitively (as `cdc.tables`), column names ignoring
/// case (as MySQL compares them).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ColumnPattern {
    db: String,
    table: String,
    /// Lower case.
    column: String,
}

/// A comma-separated list of `db.table.column` patterns (`cdc.exclude-columns`,
/// `cdc.mask-columns`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnPatterns(Vec<ColumnPattern>);

impl ColumnPatterns {
    /// No pattern.
    pub const EMPTY: ColumnPatterns = ColumnPatterns(Vec::new());

    /// Parse a list: items separated by commas, parts by dots; a part may be in backquotes
    /// (`` `my.db`.orders.`e,mail` ``, a doubled backquote inside stands for one).
    pub fn parse(list: &str) -> Result<ColumnPatterns, String> {
        let mut out = Vec::new();
        for item in split_unquoted(list, ',')? {
            let text = item.trim();
            if text.is_empty() {
                continue;
            }
            let parts: Vec<String> = split_unquoted(text, '.')?
                .iter()
                .map(|p| unquote(p.trim()))
                .collect();
            match parts.as_slice() {
                [db, table, column]
                    if !db.is_empty() && !table.is_empty() && !column.is_empty() =>
                {
                    out.push(ColumnPattern {
                        db: db.clone(),
                        table: table.clone(),
                        column: column.to_lowercase(),
                    })
                }
                _ => return Err(format!("pattern '{text}' is not db.table.column")),
            }
        }
        Ok(ColumnPatterns(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when a pattern names `db.table` (whatever its column part).
    fn names_table(&self, db: &str, table: &str) -> bool {
        self.0
            .iter()
            .any(|p| glob(&p.db, db) && glob(&p.table, table))
    }

    /// True when a pattern matches the column; `column` in lower case.
    fn matches(&self, db: &str, table: &str, column: &str) -> bool {
        self.0
            .iter()
            .any(|p| glob(&p.column, column) && glob(&p.db, db) && glob(&p.table, table))
    }
}

/// Split `s` at `sep` outside backquotes; an unterminated backquote is an error.
fn split_unquoted(s: &str, sep: char) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '`' {
            quoted = !quoted; // a doubled backquote toggles twice
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    if quoted {
        return Err(format!("unterminated ` in '{}'", s.trim()));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// A name part without its backquotes (`` `a``b` `` is ``a`b``).
fn unquote(part: &str) -> String {
    match part
        .strip_prefix('`')
        .and_then(|p| p.strip_suffix('`'))
        .filter(|_| part.len() >= 2)
    {
        Some(inner) => inner.replace("``", "`"),
        None => part.to_string(),
    }
}

/// `cdc.exclude-columns`, `cdc.mask-columns` and `cdc.mask-salt` together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnRules {
    exclude: ColumnPatterns,
    mask: ColumnPatterns,
    salt: Salt,
}

/// `cdc.mask-salt`, a secret: Debug never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
struct Salt(Arc<str>);

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "(empty)"
        } else {
            "(set)"
        })
    }
}

/// What a plan does with one column of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Keep,
    Mask,
    Drop,
}

impl ColumnRules {
    pub fn new(exclude: ColumnPatterns, mask: ColumnPatterns, salt: &str) -> ColumnRules {
        ColumnRules {
            exclude,
            mask,
            salt: Salt(salt.into()),
        }
    }

    /// No pattern at all: every column leaves as it is.
    pub fn is_empty(&self) -> bool {
        self.exclude.is_empty() && self.mask.is_empty()
    }

    /// True when the rules may change the entries of `db.table`.
    pub fn touches(&self, db: &str, table: &str) -> bool {
        self.exclude.names_table(db, table) || self.mask.names_table(db, table)
    }

    /// True when `cdc.exclude-columns` may name columns of `db.table`.
    pub fn excludes_in(&self, db: &str, table: &str) -> bool {
        self.exclude.names_table(db, table)
    }

    /// True when `cdc.exclude-columns` names the column `db.table.column`.
    pub fn excludes(&self, db: &str, table: &str, column: &str) -> bool {
        self.exclude.matches(db, table, &column.to_lowercase())
    }

    /// The warning for masking without a salt: hashes of guessable values can be reversed by
    /// hashing candidates.
    pub fn salt_warning(&self) -> Option<String> {
        (!self.mask.is_empty() && self.salt.0.is_empty()).then(|| {
            "cdc.mask-columns is set but cdc.mask-salt is empty: a hash of a guessable value (a phone number, an e-mail address) can be found by hashing candidates; set cdc.mask-salt to a long random secret".to_string()
        })
    }

    /// The warning for an excluded key column (masked instead).
    pub fn key_warning(db: &str, table: &str, column: &str) -> String {
        format!(
            "cdc.exclude-columns names {db}.{table}.{column}, a column of the table's key: it is masked (salted SHA-256) instead of left out, since replay needs the key; list it in cdc.mask-columns to say so"
        )
    }

    /// The plan for the entries of `shape` in `format`; None when the rules leave every column
    /// as it is. The key columns (never dropped) are the primary key (else the first NOT NULL
    /// unique key), or for a table with neither: every column in `flat` (its key is the whole
    /// row), none in the Debezium formats (whose key is then null).
    pub fn plan(&self, shape: &TableSchema, format: Format) -> Option<ColumnPlan> {
        if !self.touches(&shape.db, &shape.table) {
            return None;
        }
        let whole_row_key = shape.primary_key.is_empty() && format == Format::Flat;
        let mut actions = Vec::with_capacity(shape.columns.len());
        let mut excluded_key_columns = Vec::new();
        for (i, col) in shape.columns.iter().enumerate() {
            let name = col.name.to_lowercase();
            let in_key = whole_row_key || shape.primary_key.contains(&i);
            let action = if self.exclude.matches(&shape.db, &shape.table, &name) {
                if in_key {
                    excluded_key_columns.push(col.name.clone());
                    Action::Mask
                } else {
                    Action::Drop
                }
            } else if self.mask.matches(&shape.db, &shape.table, &name) {
                Action::Mask
            } else {
                Action::Keep
            };
            actions.push(action);
        }
        if actions.iter().all(|a| *a == Action::Keep) {
            return None;
        }
        // The entries' shape: the kept and masked columns, key indexes renumbered.
        let mut new_index = Vec::with_capacity(actions.len());
        let mut columns = Vec::with_capacity(actions.len());
        for (col, action) in shape.columns.iter().zip(&actions) {
            new_index.push(columns.len());
            if *action != Action::Drop {
                columns.push(col.clone());
            }
        }
        let entry_shape = TableSchema {
            db: shape.db.clone(),
            table: shape.table.clone(),
            columns,
            primary_key: shape.primary_key.iter().map(|&i| new_index[i]).collect(),
            named: shape.named,
        };
        Some(ColumnPlan {
            drops: actions.contains(&Action::Drop),
            shape: entry_shape,
            actions,
            salt: self.salt.clone(),
            excluded_key_columns,
        })
    }

    /// The columns a Debezium schema-change event describes for `db.table`: without the
    /// excluded ones, as Debezium's `column.exclude.list` leaves them out of the schema (a
    /// primary-key column stays: it is masked). Masked columns keep their declared type.
    pub fn describe<'a>(
        &self,
        db: &str,
        table: &str,
        cols: &'a [InfoColumn],
    ) -> std::borrow::Cow<'a, [InfoColumn]> {
        if !self.exclude.names_table(db, table) {
            return std::borrow::Cow::Borrowed(cols);
        }
        let kept: Vec<InfoColumn> = cols
            .iter()
            .filter(|c| {
                c.pk_ordinal.is_some() || !self.exclude.matches(db, table, &c.name.to_lowercase())
            })
            .cloned()
            .collect();
        std::borrow::Cow::Owned(kept)
    }
}

/// The rules resolved for one table shape: computed when the shape is learnt (a table map, a
/// snapshot's SELECT), applied to each row.
#[derive(Debug, Clone)]
pub struct ColumnPlan {
    /// The entries' shape: the table without its dropped columns.
    shape: TableSchema,
    /// Per column of the table's shape.
    actions: Vec<Action>,
    /// Some action is a drop (rows get shorter).
    drops: bool,
    salt: Salt,
    /// Key columns `cdc.exclude-columns` names: masked instead.
    excluded_key_columns: Vec<String>,
}

impl ColumnPlan {
    /// The shape of the entries (what a format renders rows of this plan with).
    pub fn shape(&self) -> &TableSchema {
        &self.shape
    }

    /// A row of the table as its entries carry it: masked columns hashed, excluded ones gone.
    pub fn apply(&self, mut row: Row) -> Row {
        for (cell, action) in row.iter_mut().zip(&self.actions) {
            if *action == Action::Mask && !matches!(cell, Cell::Null) {
                *cell = Cell::Text(mask(&self.salt.0, cell));
            }
        }
        if self.drops {
            let mut actions = self.actions.iter();
            row.retain(|_| actions.next() != Some(&Action::Drop));
        }
        row
    }

    /// The excluded key columns, masked instead (CDC.STATUS `warnings`).
    pub fn warning(&self) -> Option<String> {
        if self.excluded_key_columns.is_empty() {
            return None;
        }
        let s = &self.shape;
        Some(
            self.excluded_key_columns
                .iter()
                .map(|c| ColumnRules::key_warning(&s.db, &s.table, c))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// A masked value: the lowercase hex SHA-256 of the salt's bytes followed by the value's
/// bytes ([`mask_input`]), which is what MySQL's `SHA2(CONCAT(salt, col), 256)` gives for the
/// types docs/types.md lists. Not for NULL (which stays NULL).
pub fn mask(salt: &str, cell: &Cell) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    mask_input(cell, |bytes| h.update(bytes));
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in h.finalize() {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

/// Feed `sink` the bytes a masked value hashes: what MySQL's `CONCAT` makes of the value (its
/// string form), in UTF-8. Integers and DECIMAL as digits; FLOAT/DOUBLE as the flat format's
/// shortest text; DATE `YYYY-MM-DD`, DATETIME `YYYY-MM-DD hh:mm:ss[.f]` and TIMESTAMP the same
/// in UTC, TIME `[-]hh:mm:ss[.f]` (fsp digits as declared); YEAR four digits; text, ENUM and
/// SET as UTF-8; BINARY/BLOB their bytes; BIT(n) its ceil(n/8) bytes, big-endian; JSON its
/// compact text (as the flat format shows it); GEOMETRY MySQL's internal form (4-byte
/// little-endian SRID, then the WKB); VECTOR its 32-bit floats, little-endian.
fn mask_input(cell: &Cell, mut sink: impl FnMut(&[u8])) {
    let mut text = String::new();
    match cell {
        Cell::Null => {}
        Cell::Int(i) => {
            let _ = write!(text, "{i}");
        }
        Cell::UInt(u) => {
            let _ = write!(text, "{u}");
        }
        Cell::Decimal(s) | Cell::Text(s) | Cell::Enum(s) | Cell::Set(s) => sink(s.as_bytes()),
        Cell::Float(_) | Cell::Double(_) => json::write_cell(&mut text, cell),
        Cell::Bit { value, bits } => {
            let n = (*bits as usize).div_ceil(8).clamp(1, 8);
            sink(&value.to_be_bytes()[8 - n..]);
        }
        Cell::Date { year, month, day } => {
            let _ = write!(text, "{year:04}-{month:02}-{day:02}");
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
            let _ = write!(
                text,
                "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"
            );
            json::write_frac(&mut text, *micros, *fsp);
        }
        Cell::Timestamp { secs, micros, fsp } => {
            let (y, mo, d, h, mi, s) = civil_from_seconds(*secs);
            let _ = write!(text, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
            json::write_frac(&mut text, *micros, *fsp);
        }
        Cell::Time {
            negative,
            hours,
            minute,
            second,
            micros,
            fsp,
        } => {
            if *negative {
                text.push('-');
            }
            let _ = write!(text, "{hours:02}:{minute:02}:{second:02}");
            json::write_frac(&mut text, *micros, *fsp);
        }
        Cell::Year(y) => {
            let _ = write!(text, "{y:04}");
        }
        Cell::Bytes(b) => sink(b),
        Cell::Json(v) => text = v.as_str().to_owned(),
        Cell::Geometry { srid, wkb } => {
            sink(&srid.to_le_bytes());
            sink(wkb);
        }
        Cell::Vector(v) => {
            for f in v {
                sink(&f.to_le_bytes());
            }
        }
    }
    if !text.is_empty() {
        sink(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ColumnSchema;

    fn rules(exclude: &str, mask: &str, salt: &str) -> ColumnRules {
        ColumnRules::new(
            ColumnPatterns::parse(exclude).unwrap(),
            ColumnPatterns::parse(mask).unwrap(),
            salt,
        )
    }

    fn shape(names: &[&str], pk: Vec<usize>) -> TableSchema {
        TableSchema {
            db: "shop".into(),
            table: "users".into(),
            columns: names.iter().map(|n| ColumnSchema::utf8_text(n)).collect(),
            primary_key: pk,
            named: true,
        }
    }

    fn text(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    fn hex_sha256(bytes: &[u8]) -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn patterns_parse_wildcards_quotes_and_case() {
        let p = ColumnPatterns::parse(" shop.users.email , *.*.SSN, `my.db`.`t`.`a``b` ").unwrap();
        assert!(p.matches("shop", "users", "email"));
        assert!(
            !p.matches("shop", "Users", "email"),
            "table names: case-sensitive"
        );
        assert!(p.matches("crm", "x", "ssn"), "column names: any case");
        assert!(p.matches("my.db", "t", "a`b"));
        assert!(!p.matches("shop", "orders", "email"));
        assert!(p.names_table("shop", "users") && p.names_table("any", "thing"));
        let q = ColumnPatterns::parse("shop.user?.e*").unwrap();
        assert!(q.matches("shop", "users", "email") && q.matches("shop", "userx", "e"));
        assert!(!q.names_table("shop", "orders"));
        assert!(ColumnPatterns::parse("").unwrap().is_empty());
        assert!(ColumnPatterns::parse(" , ").unwrap().is_empty());
        for bad in [
            "shop.users",
            "email",
            "a.b.c.d",
            "a..c",
            ".b.c",
            "a.b.",
            "`a.b.c",
            "a.b.c,x",
        ] {
            let e = ColumnPatterns::parse(bad).unwrap_err();
            assert!(
                e.contains("db.table.column") || e.contains("unterminated"),
                "{bad}: {e}"
            );
        }
    }

    /// The column names of a plan's entry shape.
    fn names(plan: &ColumnPlan) -> Vec<&str> {
        plan.shape()
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect()
    }

    #[test]
    fn plan_drops_masks_and_keeps_in_column_order() {
        let r = rules("shop.users.notes", "shop.users.email", "s");
        let s = shape(&["id", "email", "notes", "name"], vec![0]);
        let plan = r.plan(&s, Format::Flat).unwrap();
        assert_eq!(names(&plan), ["id", "email", "name"]);
        assert_eq!(plan.shape().primary_key, vec![0]);
        let row = plan.apply(vec![Cell::Int(1), text("a@b"), text("secret"), text("ann")]);
        assert_eq!(
            row,
            vec![Cell::Int(1), text(&hex_sha256(b"sa@b")), text("ann")]
        );
        // NULL stays NULL.
        let row = plan.apply(vec![Cell::Int(2), Cell::Null, Cell::Null, Cell::Null]);
        assert_eq!(row, vec![Cell::Int(2), Cell::Null, Cell::Null]);
        assert!(plan.warning().is_none());
        // Exclusion wins over masking.
        let both = rules("shop.users.email", "shop.users.*", "s");
        let plan = both.plan(&s, Format::Flat).unwrap();
        assert_eq!(names(&plan), ["id", "notes", "name"]);
    }

    #[test]
    fn untouched_tables_have_no_plan() {
        let r = rules("shop.orders.*", "crm.*.email", "s");
        let s = shape(&["id", "email"], vec![0]);
        assert!(r.plan(&s, Format::Flat).is_none());
        assert!(r.excludes_in("shop", "orders") && !r.excludes_in("crm", "users"));
        assert!(r.touches("crm", "users") && !r.touches("shop", "users"));
        assert!(r.excludes("shop", "orders", "ANY") && !r.excludes("crm", "users", "email"));
        // A touched table whose columns all stay.
        let r = rules("shop.users.ssn", "", "");
        assert!(r.plan(&s, Format::Flat).is_none());
        assert!(rules("", "", "").is_empty());
    }

    #[test]
    fn key_columns_are_masked_never_dropped() {
        // Primary key (b, a) where a is excluded: masked in the key and the row, warned.
        let r = rules("shop.users.a, shop.users.c", "", "k");
        let s = shape(&["a", "b", "c"], vec![1, 0]);
        let plan = r.plan(&s, Format::Debezium).unwrap();
        assert_eq!(names(&plan), ["a", "b"]);
        assert_eq!(plan.shape().primary_key, vec![1, 0]);
        let row = plan.apply(vec![Cell::Int(7), Cell::Int(8), Cell::Int(9)]);
        assert_eq!(row, vec![text(&hex_sha256(b"k7")), Cell::Int(8)]);
        let w = plan.warning().unwrap();
        assert!(
            w.contains("shop.users.a") && w.contains("cdc.mask-columns") && !w.contains(".c,"),
            "{w}"
        );
        // Without a key: `flat` keys by the whole row, so every column is a key column;
        // the Debezium formats have a null key, so the column can go.
        let keyless = shape(&["a", "c"], vec![]);
        let flat = r.plan(&keyless, Format::Flat).unwrap();
        assert_eq!(flat.shape().columns.len(), 2);
        assert!(flat.warning().unwrap().contains("shop.users.c"));
        let dbz = r.plan(&keyless, Format::DebeziumExtended).unwrap();
        assert_eq!(dbz.shape().columns.len(), 0);
        assert!(dbz.warning().is_none());
    }

    #[test]
    fn mask_hashes_the_text_mysql_concat_gives() {
        let m = |c: Cell| mask("salt", &c);
        let h = |s: &str| hex_sha256(format!("salt{s}").as_bytes());
        assert_eq!(m(Cell::Int(-42)), h("-42"));
        assert_eq!(m(Cell::UInt(u64::MAX)), h("18446744073709551615"));
        assert_eq!(m(Cell::Decimal("12.50".into())), h("12.50"));
        assert_eq!(m(Cell::Double(2.5)), h("2.5"));
        assert_eq!(m(Cell::Double(3.0)), h("3"));
        assert_eq!(
            m(Cell::Date {
                year: 2024,
                month: 1,
                day: 31
            }),
            h("2024-01-31")
        );
        assert_eq!(
            m(Cell::DateTime {
                year: 2024,
                month: 1,
                day: 31,
                hour: 12,
                minute: 34,
                second: 56,
                micros: 123000,
                fsp: 3
            }),
            h("2024-01-31 12:34:56.123")
        );
        assert_eq!(
            m(Cell::Timestamp {
                secs: 1706704496,
                micros: 0,
                fsp: 0
            }),
            h("2024-01-31 12:34:56")
        );
        assert_eq!(
            m(Cell::Time {
                negative: true,
                hours: 838,
                minute: 59,
                second: 59,
                micros: 500000,
                fsp: 1
            }),
            h("-838:59:59.5")
        );
        assert_eq!(m(Cell::Year(0)), h("0000"));
        assert_eq!(m(text("héllo")), h("héllo"));
        assert_eq!(m(Cell::Enum("b".into())), h("b"));
        assert_eq!(m(Cell::Set("a,c".into())), h("a,c"));
        assert_eq!(
            m(Cell::Json(serde_json::json!({"a": [1, "x"]}).into())),
            h("{\"a\":[1,\"x\"]}")
        );
        assert_eq!(m(Cell::Bytes(vec![0, 0xff])), hex_sha256(b"salt\x00\xff"));
        // BIT(10) b'1000000001' = 0x201: two bytes, big-endian.
        assert_eq!(
            m(Cell::Bit {
                value: 0x201,
                bits: 10
            }),
            hex_sha256(b"salt\x02\x01")
        );
        assert_eq!(
            m(Cell::Geometry {
                srid: 4326,
                wkb: vec![1, 2]
            }),
            hex_sha256(b"salt\xe6\x10\x00\x00\x01\x02")
        );
        // The known SHA2('abc', 256) of MySQL (FIPS 180-2's test vector), with an empty salt.
        assert_eq!(
            mask("", &text("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_never_shows_the_salt() {
        let r = rules("", "a.b.c", "Pepper-S3cret");
        let text = format!("{r:?}");
        assert!(
            !text.contains("Pepper-S3cret") && text.contains("(set)"),
            "{text}"
        );
        let plan = r.plan(
            &{
                let mut s = shape(&["c"], vec![]);
                s.db = "a".into();
                s.table = "b".into();
                s
            },
            Format::Flat,
        );
        assert!(!format!("{plan:?}").contains("Pepper-S3cret"));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// A name a pattern can spell without quotes (no separator, quote or outer space).
        fn bare() -> impl Strategy<Value = String> {
            "[^,.`\\s]{1,12}"
        }

        fn quoted(name: &str) -> String {
            format!("`{}`", name.replace('`', "``"))
        }

        proptest! {
            #[test]
            fn a_pattern_spelt_from_names_matches_them(
                db in bare(),
                table in bare(),
                column in bare(),
                any_db in "\\PC{1,12}",
                any_column in "\\PC{1,12}",
            ) {
                let p = ColumnPatterns::parse(&format!("{db}.{table}.{column}")).unwrap();
                prop_assert!(p.matches(&db, &table, &column.to_lowercase()));
                prop_assert!(p.names_table(&db, &table));
                // Any name, in backquotes, with a separator list around it.
                let list = format!(
                    "x.y.z, {}.{}.{} ,",
                    quoted(&any_db),
                    quoted(&table),
                    quoted(&any_column)
                );
                let p = ColumnPatterns::parse(&list).unwrap();
                prop_assert!(p.matches(&any_db, &table, &any_column.to_lowercase()));
            }

            #[test]
            fn parsing_never_panics(list in "\\PC{0,40}") {
                let _ = ColumnPatterns::parse(&list);
            }
        }
    }

    #[test]
    fn schema_descriptions_leave_excluded_columns_out() {
        let r = rules("shop.users.notes, shop.users.id", "", "");
        let col = |name: &str, pk: Option<u32>| InfoColumn {
            name: name.into(),
            data_type: "int".into(),
            column_type: "int(11)".into(),
            pk_ordinal: pk,
            ..InfoColumn::default()
        };
        let cols = vec![col("id", Some(1)), col("Notes", None), col("name", None)];
        let names: Vec<String> = r
            .describe("shop", "users", &cols)
            .iter()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(names, ["id", "name"]);
        assert_eq!(r.describe("shop", "orders", &cols).len(), 3);
    }
}

//! The mirror (`cdc.mirror`): each row of a captured table kept as one Redis hash or RedisJSON
//! document, written with the row's entry (docs/mirror.md).
//!
//! A change becomes at most one [`MirrorWrite`]; the writer applies them in order in the same
//! atomic unit as the entries and the position. Tables without a primary key (nor a NOT NULL
//! unique key, which the schema then uses as the key) are not mirrored.

use super::json;
use super::Change;
use crate::model::change::{Cell, Op};
use std::fmt::Write;

/// `cdc.mirror`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MirrorMode {
    #[default]
    Off,
    Hash,
    Json,
}

impl MirrorMode {
    pub fn parse(s: &str) -> Result<MirrorMode, String> {
        match s.to_ascii_lowercase().as_str() {
            "off" | "no" => Ok(MirrorMode::Off),
            "hash" => Ok(MirrorMode::Hash),
            "json" => Ok(MirrorMode::Json),
            other => Err(format!(
                "unknown mirror mode '{other}': expected off, hash or json"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MirrorMode::Off => "off",
            MirrorMode::Hash => "hash",
            MirrorMode::Json => "json",
        }
    }
}

/// How the mirror is kept: its mode and key prefix.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mirror {
    pub mode: MirrorMode,
    pub prefix: String,
    /// Redis Cluster mode: a table's keys start `prefix` + `{db.table}:` (crate::cluster).
    pub cluster: bool,
}

/// One change to the mirror (also kept as JSON in an XA hold).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MirrorWrite {
    /// The key holds exactly this row: hash fields (column, text; NULL columns absent).
    /// `replace` (a snapshot or resync read): the key is rewritten whole, so fields of columns
    /// gone since (DDL) go too; otherwise the fields are set and the `nulls` removed.
    Hash {
        key: String,
        fields: Vec<(String, String)>,
        #[serde(default)]
        nulls: Vec<String>,
        #[serde(default)]
        replace: bool,
    },
    /// The key holds exactly this JSON document (the flat format's row object).
    Json { key: String, doc: String },
    /// The row is gone.
    Del { key: String },
    /// Every key of the table is gone (TRUNCATE, DROP): keys matching `pattern` (a SCAN MATCH
    /// pattern, glob characters of the prefix escaped).
    Clear { pattern: String },
    /// A re-read of the table begins: the writer notes the keys it writes from here.
    /// `if_keys`: only when the table has mirror keys already (a snapshot: into an empty
    /// mirror there is nothing to compare, and noting every key would be wasted).
    ResyncBegin {
        pattern: String,
        #[serde(default)]
        if_keys: bool,
    },
    /// The re-read ends: the table's keys not written since its begin are deleted.
    ResyncEnd { pattern: String },
}

impl Mirror {
    pub fn is_on(&self) -> bool {
        self.mode != MirrorMode::Off
    }

    /// `prefix` + `db.table` + `:`: every key of the table starts so.
    pub fn table_prefix(&self, db: &str, table: &str) -> String {
        crate::cluster::stream_key(&self.prefix, db, table, self.cluster) + ":"
    }

    /// The mirror write of `change`; None when the mirror is off or the table has no key.
    pub fn write(&self, c: &Change<'_>) -> Option<MirrorWrite> {
        if !self.is_on() {
            return None;
        }
        let prefix = self.table_prefix(&c.table.db, &c.table.table);
        let pattern = || glob_escape(&prefix) + "*";
        let key_of = |row: &[Cell]| {
            let mut key = prefix.clone();
            let composite = c.table.primary_key.len() > 1;
            for (n, i) in c.table.primary_key.iter().enumerate() {
                if n > 0 {
                    key.push(':');
                }
                match row.get(*i).unwrap_or(&Cell::Null) {
                    Cell::Text(s) | Cell::Enum(s) | Cell::Set(s) if composite => {
                        push_key_part(&mut key, s)
                    }
                    cell => write_text(&mut key, cell),
                }
            }
            key
        };
        Some(match c.op {
            Op::Truncate => MirrorWrite::Clear { pattern: pattern() },
            Op::ResyncBegin => MirrorWrite::ResyncBegin {
                pattern: pattern(),
                if_keys: false,
            },
            Op::ResyncEnd => MirrorWrite::ResyncEnd { pattern: pattern() },
            _ if c.table.primary_key.is_empty() => return None,
            Op::Create | Op::Update | Op::Read => {
                let row = c.after?;
                let key = key_of(row);
                match self.mode {
                    MirrorMode::Json => {
                        let mut doc = String::with_capacity(128);
                        json::write_object(&mut doc, c.table, row, 0..row.len());
                        MirrorWrite::Json { key, doc }
                    }
                    _ => {
                        let mut fields = Vec::with_capacity(row.len());
                        let mut nulls = Vec::new();
                        for (col, v) in c.table.columns.iter().zip(row.iter()) {
                            if matches!(v, Cell::Null) {
                                nulls.push(col.name.clone());
                            } else {
                                let mut s = String::new();
                                write_text(&mut s, v);
                                fields.push((col.name.clone(), s));
                            }
                        }
                        MirrorWrite::Hash {
                            key,
                            fields,
                            nulls,
                            replace: c.op == Op::Read,
                        }
                    }
                }
            }
            Op::Delete => MirrorWrite::Del {
                key: key_of(c.before?),
            },
        })
    }
}

/// A string part of a composite key: `\` and `:` in it escaped with a `\`, so that two rows
/// never share a key (`('x:y','z')` and `('x','y:z')` would both be `x:y:z`). Other parts have
/// no `:` (numbers, base64) or a fixed number of them (dates and times), and a key of one column
/// is its text as is: there the `:` after the table name is the only separator (docs/mirror.md).
fn push_key_part(key: &mut String, part: &str) {
    for ch in part.chars() {
        if matches!(ch, '\\' | ':') {
            key.push('\\');
        }
        key.push(ch);
    }
}

/// `s` with the glob characters of SCAN MATCH escaped.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// A cell's text form in the mirror (docs/mirror.md): the flat JSON form without JSON quoting
/// (strings, DECIMAL, dates and times, base64 of binary as text), BIT(1) as `1`/`0`, JSON
/// columns as compact JSON text. NULL writes nothing.
pub fn write_text(out: &mut String, cell: &Cell) {
    match cell {
        Cell::Null => {}
        Cell::Text(s) | Cell::Enum(s) | Cell::Set(s) | Cell::Decimal(s) => out.push_str(s),
        Cell::Bit { value, bits: 1 } => out.push(if *value != 0 { '1' } else { '0' }),
        Cell::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Cell::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        other => {
            let start = out.len();
            json::write_cell(out, other);
            // Dates, times and base64 are JSON strings without escapes: drop the quotes.
            if out[start..].starts_with('"') && out.ends_with('"') && out.len() - start >= 2 {
                out.pop();
                out.remove(start);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::change::ChangeSource;
    use crate::schema::{ColumnSchema, TableSchema};

    fn table(pk: Vec<usize>) -> TableSchema {
        let mut t = TableSchema::names_only("shop", "orders");
        for name in ["id", "line", "note", "flag"] {
            t.columns.push(ColumnSchema::utf8_text(name));
        }
        t.primary_key = pk;
        t
    }

    /// A row of [`table`] keyed (42, 3), its `note` NULL.
    fn row() -> Vec<Cell> {
        vec![
            Cell::Int(42),
            Cell::Int(3),
            Cell::Null,
            Cell::Bit { value: 1, bits: 1 },
        ]
    }

    fn change<'a>(
        op: Op,
        t: &'a TableSchema,
        before: Option<&'a Vec<Cell>>,
        after: Option<&'a Vec<Cell>>,
    ) -> Change<'a> {
        Change {
            op,
            table: t,
            before,
            after,
            ts_ms: 0,
            source: ChangeSource::Snapshot {
                id: 1,
                table: "shop.orders".into(),
                n: 0,
            },
            gtid: None,
            key_peer: None,
        }
    }

    #[test]
    fn string_parts_of_a_composite_key_escape_colons_so_rows_never_share_a_key() {
        let m = Mirror {
            mode: MirrorMode::Hash,
            prefix: String::new(),
            cluster: false,
        };
        let key = |pk: Vec<usize>, cells: [Cell; 2]| {
            let t = table(pk);
            let row = vec![cells[0].clone(), cells[1].clone(), Cell::Null, Cell::Null];
            match m.write(&change(Op::Delete, &t, Some(&row), None)) {
                Some(MirrorWrite::Del { key }) => key,
                other => panic!("{other:?}"),
            }
        };
        let text = |s: &str| Cell::Text(s.into());
        let a = key(vec![0, 1], [text("x:y"), text("z")]);
        let b = key(vec![0, 1], [text("x"), text("y:z")]);
        assert_eq!(
            (a.as_str(), b.as_str()),
            (r"shop.orders:x\:y:z", r"shop.orders:x:y\:z")
        );
        assert_eq!(
            key(vec![0, 1], [text(r"a\"), Cell::Enum("b:c".into())]),
            r"shop.orders:a\\:b\:c"
        );
        // Numbers, times and one-column keys stay as they are.
        let at = Cell::DateTime {
            year: 2024,
            month: 1,
            day: 2,
            hour: 3,
            minute: 4,
            second: 5,
            micros: 0,
            fsp: 0,
        };
        assert_eq!(
            key(vec![0, 1], [Cell::Int(7), at]),
            "shop.orders:7:2024-01-02T03:04:05"
        );
        assert_eq!(
            key(vec![0], [text("http://a/b"), Cell::Null]),
            "shop.orders:http://a/b"
        );
    }

    #[test]
    fn in_a_cluster_a_tables_keys_carry_its_hash_tag() {
        let t = table(vec![0, 1]);
        let row = row();
        let m = Mirror {
            mode: MirrorMode::Hash,
            prefix: "m:".into(),
            cluster: true,
        };
        assert_eq!(m.table_prefix("shop", "orders"), "m:{shop.orders}:");
        assert_eq!(
            m.write(&change(Op::Delete, &t, Some(&row), None)),
            Some(MirrorWrite::Del {
                key: "m:{shop.orders}:42:3".into()
            })
        );
        assert_eq!(
            m.write(&change(Op::Truncate, &t, None, None)),
            Some(MirrorWrite::Clear {
                pattern: "m:{shop.orders}:*".into()
            })
        );
    }

    #[test]
    fn rows_become_hashes_keyed_by_the_primary_key_with_nulls_absent() {
        let t = table(vec![0, 1]);
        let row = row();
        let m = Mirror {
            mode: MirrorMode::Hash,
            prefix: "m:".into(),
            cluster: false,
        };
        assert_eq!(
            m.write(&change(Op::Create, &t, None, Some(&row))),
            Some(MirrorWrite::Hash {
                key: "m:shop.orders:42:3".into(),
                fields: vec![
                    ("id".into(), "42".into()),
                    ("line".into(), "3".into()),
                    ("flag".into(), "1".into())
                ],
                nulls: vec!["note".into()],
                replace: false,
            })
        );
        assert_eq!(
            m.write(&change(Op::Delete, &t, Some(&row), None)),
            Some(MirrorWrite::Del {
                key: "m:shop.orders:42:3".into()
            })
        );
        assert_eq!(
            m.write(&change(Op::Truncate, &t, None, None)),
            Some(MirrorWrite::Clear {
                pattern: "m:shop.orders:*".into()
            })
        );
        let json = Mirror {
            mode: MirrorMode::Json,
            prefix: String::new(),
            cluster: false,
        };
        assert_eq!(
            json.write(&change(Op::Read, &t, None, Some(&row))),
            Some(MirrorWrite::Json {
                key: "shop.orders:42:3".into(),
                doc: r#"{"id":42,"line":3,"note":null,"flag":true}"#.into()
            })
        );
        // No key, or the mirror off: nothing.
        assert_eq!(
            m.write(&change(Op::Create, &table(vec![]), None, Some(&row))),
            None
        );
        assert_eq!(
            Mirror::default().write(&change(Op::Create, &t, None, Some(&row))),
            None
        );
    }

    #[test]
    fn text_forms() {
        let text = |c: Cell| {
            let mut s = String::new();
            write_text(&mut s, &c);
            s
        };
        assert_eq!(text(Cell::Decimal("12.50".into())), "12.50");
        assert_eq!(text(Cell::Text("a \"b\"\n".into())), "a \"b\"\n");
        assert_eq!(text(Cell::Double(2.5)), "2.5");
        assert_eq!(text(Cell::Bit { value: 5, bits: 3 }), "5");
        assert_eq!(text(Cell::Bytes(vec![0, 255])), "AP8=");
        assert_eq!(
            text(Cell::Date {
                year: 2024,
                month: 1,
                day: 31
            }),
            "2024-01-31"
        );
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}

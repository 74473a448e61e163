//! MariaDB system-versioned tables (`WITH SYSTEM VERSIONING`): only current rows are entries.
//!
//! Such a table keeps every old version of a row as a *history row* in the table itself. Two
//! period columns say when a version was current: ROW START and ROW END (implicit, INVISIBLE
//! `row_start`/`row_end` TIMESTAMP(6) columns unless the table declares its own, possibly
//! visible, `GENERATED ALWAYS AS ROW START/END` columns). A current row has the largest ROW END
//! there is: `2038-01-19 03:14:07.999999` UTC (MariaDB 11.5 and later on 64-bit systems:
//! `2106-02-07 06:28:15.999999`), or 18446744073709551615 for transaction-precise versioning
//! (BIGINT UNSIGNED transaction ids). The table's primary key silently gets ROW END appended.
//! `SELECT *` shows the current rows only, without the invisible period columns.
//!
//! The binlog shows the machinery (MariaDB 10.11, row format): an UPDATE is an update of the
//! current row (ROW END stays the largest) plus an insert of the history row (ROW END = now); a
//! DELETE is an update of the current row that sets ROW END to now; `DELETE HISTORY` deletes
//! history rows. [`Versioned::current`] turns those into changes of the current rows, keyed by
//! the declared primary key, with the columns of `SELECT *`, as the snapshot reads them
//! (docs/events.md, "System-versioned tables").
//!
//! Transaction-precise tables are logged as statements even under `binlog_format=ROW`, so
//! their DML reaches the module as a re-read of the table (the statement path); the shape
//! rules here make that re-read's entries right too.

use super::{ColumnKind, InfoColumn, TableSchema};
use crate::model::change::{Cell, Op, Row};

/// A column's role in the SYSTEM_TIME period of a system-versioned table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    RowStart,
    RowEnd,
}

/// Names of MariaDB's implicit period columns (a table `WITH SYSTEM VERSIONING` that declares
/// none); they always come last, after every other column.
pub const IMPLICIT_ROW_START: &str = "row_start";
pub const IMPLICIT_ROW_END: &str = "row_end";

/// ROW END of a current row, in seconds since the epoch: MariaDB before 11.5 (TIMESTAMP's
/// 32-bit signed maximum) and 11.5 and later (unsigned 32-bit maximum), both with micros
/// 999999.
const ROW_END_MAX_SECS: [i64; 2] = [2_147_483_647, 4_294_967_295];

/// Whether `cell`, a ROW END value, marks a current row (not a history row).
pub fn is_current(cell: &Cell) -> bool {
    match cell {
        Cell::Timestamp { secs, micros, .. } => {
            *micros == 999_999 && ROW_END_MAX_SECS.contains(secs)
        }
        Cell::UInt(v) => *v == u64::MAX,
        // A BIGINT read as signed: u64::MAX has all bits set.
        Cell::Int(v) => *v == -1,
        _ => false,
    }
}

/// The implicit period columns as information_schema would list them if it did (it leaves
/// them out of COLUMNS).
pub fn implicit_columns() -> [InfoColumn; 2] {
    let col = |name: &str, period| InfoColumn {
        name: name.to_string(),
        data_type: "timestamp".into(),
        column_type: "timestamp(6)".into(),
        period: Some(period),
        invisible: true,
        ..InfoColumn::default()
    };
    [
        col(IMPLICIT_ROW_START, Period::RowStart),
        col(IMPLICIT_ROW_END, Period::RowEnd),
    ]
}

/// A period column that entries leave out: one `SELECT *` does not show.
fn hidden(c: &InfoColumn) -> bool {
    c.period.is_some() && c.invisible
}

/// One of MariaDB's implicit period columns (not a column the table declares).
fn implicit(c: &InfoColumn) -> bool {
    hidden(c)
        && (c.name.eq_ignore_ascii_case(IMPLICIT_ROW_START)
            || c.name.eq_ignore_ascii_case(IMPLICIT_ROW_END))
}

/// Complete a table's information_schema columns: a system-versioned table without declared
/// period columns gets the implicit ones at the end (as the binlog has them), and ROW END
/// leaves the primary key (the declared key identifies a current row).
pub fn complete_info(cols: &mut Vec<InfoColumn>, system_versioned: bool) {
    if system_versioned && !cols.iter().any(|c| c.period == Some(Period::RowEnd)) {
        // Before MariaDB's hidden hash columns, which come after them.
        let at = cols.iter().position(|c| c.hash).unwrap_or(cols.len());
        cols.splice(at..at, implicit_columns());
    }
    drop_row_end_from_key(cols);
}

/// Take ROW END out of the primary key, renumbering the columns after it.
fn drop_row_end_from_key(cols: &mut [InfoColumn]) {
    let Some(o) = cols
        .iter()
        .find(|c| c.period == Some(Period::RowEnd))
        .and_then(|c| c.pk_ordinal)
    else {
        return;
    };
    for c in cols.iter_mut() {
        match c.pk_ordinal {
            Some(x) if x == o => c.pk_ordinal = None,
            Some(x) if x > o => c.pk_ordinal = Some(x - 1),
            _ => {}
        }
    }
}

/// The columns entries carry (those of `SELECT *` among the period columns): what the
/// snapshot reads.
pub fn entry_columns(info: &[InfoColumn]) -> Vec<InfoColumn> {
    info.iter().filter(|c| !hidden(c)).cloned().collect()
}

/// `ALTER TABLE ... ADD SYSTEM VERSIONING` (or a CREATE TABLE with it), for the DDL follower.
pub(crate) fn add_versioning(cols: &mut Vec<InfoColumn>) {
    complete_info(cols, true);
}

/// `ALTER TABLE ... DROP SYSTEM VERSIONING`: the implicit period columns go; declared ones
/// are dropped by their own DROP COLUMN clauses (MariaDB insists on them) and are ordinary
/// columns until then.
pub(crate) fn drop_versioning(cols: &mut Vec<InfoColumn>) {
    cols.retain(|c| !implicit(c));
    for c in cols.iter_mut() {
        c.period = None;
    }
}

/// Where a column added without FIRST/AFTER goes: before the implicit period columns and the
/// hidden hash columns (`super::hash_columns`), which MariaDB keeps last.
pub(crate) fn columns_end(cols: &[InfoColumn]) -> usize {
    cols.iter()
        .position(|c| implicit(c) || c.hash)
        .unwrap_or(cols.len())
}

/// How the rows of one system-versioned table become entries.
#[derive(Debug, Clone)]
pub struct Versioned {
    /// Index of ROW END in a decoded row.
    row_end: usize,
    /// Indexes of the columns entries leave out, ascending.
    hidden: Vec<usize>,
    /// The entries' shape: without the hidden columns, keyed by the declared primary key.
    shape: TableSchema,
}

impl Versioned {
    /// The versioning of the table decoded with `schema`, whose information_schema columns
    /// (ordinal order, [`complete_info`]d) are `info`; None for an ordinary table.
    ///
    /// When `info` does not fit the table map (a table that was versioned when the binlog was
    /// written but is not any more, and whose shape was read from information_schema since),
    /// the binlog's own names tell: MariaDB's implicit `row_start`, `row_end` TIMESTAMP(6)
    /// as the last two columns.
    pub fn of(schema: &TableSchema, info: Option<&[InfoColumn]>) -> Option<Versioned> {
        let n = schema.columns.len();
        let same_name = |i: usize, name: &str| {
            schema
                .columns
                .get(i)
                .is_some_and(|c| c.name.eq_ignore_ascii_case(name))
        };
        // The known shape, when it fits the table map (and names ROW END as the binlog does).
        let by_shape = info.filter(|i| i.len() == n).and_then(|info| {
            let row_end = info.iter().position(|c| c.period == Some(Period::RowEnd))?;
            same_name(row_end, &info[row_end].name).then(|| {
                let hidden = (0..n).filter(|i| self::hidden(&info[*i])).collect();
                (row_end, hidden)
            })
        });
        // Else the binlog's names: the implicit columns, last, when the table has no column of
        // that name of its own.
        let by_names = || {
            let info = info?;
            if info
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(IMPLICIT_ROW_END))
            {
                return None;
            }
            let ts6 = |i: usize, name: &str| {
                same_name(i, name) && schema.columns[i].kind == ColumnKind::Timestamp { fsp: 6 }
            };
            let (s, e) = (n.checked_sub(2)?, n - 1);
            (schema.named && ts6(s, IMPLICIT_ROW_START) && ts6(e, IMPLICIT_ROW_END))
                .then(|| (e, vec![s, e]))
        };
        let (row_end, hidden) = by_shape.or_else(by_names)?;
        let shape = schema.without_columns(&hidden, |i| i != row_end);
        Some(Versioned {
            row_end,
            hidden,
            shape,
        })
    }

    /// The shape of the entries (the snapshot's, see [`entry_columns`]).
    pub fn shape(&self) -> &TableSchema {
        &self.shape
    }

    /// What a decoded change of a versioned table is for its current rows: None for a change
    /// of history rows only; else the change, with the rows as entries carry them.
    ///
    /// * insert of a current row: a create; of a history row (the old version an UPDATE
    ///   keeps): nothing;
    /// * update of a current row that stays current: an update; that ends it (a DELETE, or
    ///   the old key of an UPDATE that changes the key): a delete of its key; of a history row
    ///   into a current one: a create;
    /// * delete of a current row: a delete; of history rows (`DELETE HISTORY`): nothing.
    pub fn current(
        &self,
        op: Op,
        before: Option<Row>,
        after: Option<Row>,
    ) -> Option<(Op, Option<Row>, Option<Row>)> {
        let cur = |r: &Option<Row>| {
            r.as_ref()
                .and_then(|r| r.get(self.row_end))
                .is_some_and(is_current)
        };
        let (b, a) = (cur(&before), cur(&after));
        let (op, before, after) = match op {
            Op::Create if a => (Op::Create, None, after),
            Op::Delete if b => (Op::Delete, before, None),
            Op::Update => match (b, a) {
                (true, true) => (Op::Update, before, after),
                (true, false) => (Op::Delete, before, None),
                (false, true) => (Op::Create, None, after),
                (false, false) => return None,
            },
            Op::Create | Op::Delete => return None,
            other => (other, before, after),
        };
        Some((
            op,
            before.map(|r| self.project(r)),
            after.map(|r| self.project(r)),
        ))
    }

    /// `row` without the hidden columns.
    fn project(&self, row: Row) -> Row {
        if self.hidden.is_empty() {
            return row;
        }
        row.into_iter()
            .enumerate()
            .filter(|(i, _)| !self.hidden.contains(i))
            .map(|(_, c)| c)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ColumnSchema;
    use mysql_common::constants::ColumnType;

    const MAX: Cell = Cell::Timestamp {
        secs: 2_147_483_647,
        micros: 999_999,
        fsp: 6,
    };

    fn ts(secs: i64) -> Cell {
        Cell::Timestamp {
            secs,
            micros: 5,
            fsp: 6,
        }
    }

    fn ic(name: &str, pk: Option<u32>) -> InfoColumn {
        InfoColumn {
            name: name.into(),
            data_type: "int".into(),
            column_type: "int(11)".into(),
            pk_ordinal: pk,
            ..InfoColumn::default()
        }
    }

    fn schema(names: &[&str], pk: Vec<usize>) -> TableSchema {
        let col = |name: &&str| {
            let ts = name.contains("row_") || name.ends_with("_ts");
            ColumnSchema {
                name: name.to_string(),
                binlog_type: if ts {
                    ColumnType::MYSQL_TYPE_TIMESTAMP2
                } else {
                    ColumnType::MYSQL_TYPE_LONG
                },
                meta: Vec::new(),
                unsigned: false,
                kind: if ts {
                    ColumnKind::Timestamp { fsp: 6 }
                } else {
                    ColumnKind::Int { bytes: 4 }
                },
                enum_values: Vec::new(),
                set_values: Vec::new(),
            }
        };
        TableSchema {
            db: "db".into(),
            table: "t".into(),
            columns: names.iter().map(col).collect(),
            primary_key: pk,
            named: true,
        }
    }

    /// `id INT PRIMARY KEY, a INT` WITH SYSTEM VERSIONING, as the binlog and
    /// information_schema show it (KEY_COLUMN_USAGE lists row_end in the key).
    fn implicit_table() -> (TableSchema, Vec<InfoColumn>) {
        let mut info = vec![ic("id", Some(1)), ic("a", None)];
        complete_info(&mut info, true);
        (
            schema(&["id", "a", "row_start", "row_end"], vec![0, 3]),
            info,
        )
    }

    fn row(id: i64, a: i64, end: Cell) -> Row {
        vec![Cell::Int(id), Cell::Int(a), ts(100), end]
    }

    fn visible(id: i64, a: i64) -> Option<Row> {
        Some(vec![Cell::Int(id), Cell::Int(a)])
    }

    #[test]
    fn current_row_ends_of_every_server() {
        assert!(is_current(&MAX));
        assert!(is_current(&Cell::Timestamp {
            secs: 4_294_967_295,
            micros: 999_999,
            fsp: 6
        }));
        assert!(is_current(&Cell::UInt(u64::MAX)));
        assert!(!is_current(&ts(2_147_483_647)));
        assert!(!is_current(&Cell::Timestamp {
            secs: 1_796_048_767,
            micros: 999_999,
            fsp: 6
        }));
        assert!(!is_current(&Cell::UInt(12345)));
        assert!(!is_current(&Cell::Null));
    }

    #[test]
    fn implicit_columns_are_appended_and_leave_the_key() {
        let (_, info) = implicit_table();
        let names: Vec<_> = info.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "a", "row_start", "row_end"]);
        assert_eq!(info[0].pk_ordinal, Some(1));
        assert!(info[2..]
            .iter()
            .all(|c| c.invisible && c.pk_ordinal.is_none()));
        // The snapshot reads what SELECT * shows.
        let shown: Vec<_> = entry_columns(&info).into_iter().map(|c| c.name).collect();
        assert_eq!(shown, ["id", "a"]);
        // Declared period columns: ROW END leaves the key, the rest is renumbered; visible
        // ones stay.
        let mut declared = vec![
            ic("k", Some(1)),
            ic("s_ts", None),
            ic("e_ts", Some(2)),
            ic("j", Some(3)),
        ];
        declared[1].period = Some(Period::RowStart);
        declared[2].period = Some(Period::RowEnd);
        complete_info(&mut declared, true);
        assert_eq!(
            declared.len(),
            4,
            "no implicit columns next to declared ones"
        );
        let pks: Vec<_> = declared.iter().map(|c| c.pk_ordinal).collect();
        assert_eq!(pks, [Some(1), None, None, Some(2)]);
        assert_eq!(entry_columns(&declared).len(), 4);
        // Not versioned: untouched.
        let mut plain = vec![ic("id", Some(1))];
        complete_info(&mut plain, false);
        assert_eq!(plain, vec![ic("id", Some(1))]);
    }

    #[test]
    fn history_rows_are_not_entries() {
        let (s, info) = implicit_table();
        let v = Versioned::of(&s, Some(&info)).expect("versioned");
        assert_eq!(v.shape().columns.len(), 2);
        assert_eq!(v.shape().primary_key, vec![0]);
        let c = |op, b: Option<Row>, a: Option<Row>| v.current(op, b, a);
        // INSERT: a current row.
        assert_eq!(
            c(Op::Create, None, Some(row(1, 1, MAX))),
            Some((Op::Create, None, visible(1, 1)))
        );
        // UPDATE: the current row changes, and the old version is inserted as history.
        assert_eq!(
            c(Op::Update, Some(row(1, 1, MAX)), Some(row(1, 2, MAX))),
            Some((Op::Update, visible(1, 1), visible(1, 2)))
        );
        assert_eq!(c(Op::Create, None, Some(row(1, 1, ts(200)))), None);
        // DELETE: the current row's ROW END is set to now.
        assert_eq!(
            c(Op::Update, Some(row(1, 2, MAX)), Some(row(1, 2, ts(300)))),
            Some((Op::Delete, visible(1, 2), None))
        );
        // DELETE HISTORY.
        assert_eq!(c(Op::Delete, Some(row(1, 1, ts(200))), None), None);
        // A current row deleted outright, a history row updated or made current.
        assert_eq!(
            c(Op::Delete, Some(row(3, 3, MAX)), None),
            Some((Op::Delete, visible(3, 3), None))
        );
        assert_eq!(
            c(Op::Update, Some(row(4, 4, ts(1))), Some(row(4, 4, ts(2)))),
            None
        );
        assert_eq!(
            c(Op::Update, Some(row(4, 4, ts(1))), Some(row(4, 5, MAX))),
            Some((Op::Create, None, visible(4, 5)))
        );
        // MariaDB 11.5+ and transaction-precise maxima.
        let max_2106 = Cell::Timestamp {
            secs: 4_294_967_295,
            micros: 999_999,
            fsp: 6,
        };
        assert_eq!(
            c(Op::Create, None, Some(row(5, 5, max_2106))),
            Some((Op::Create, None, visible(5, 5)))
        );
    }

    #[test]
    fn declared_visible_period_columns_stay_in_the_entries() {
        let mut info = vec![
            ic("id", Some(1)),
            ic("start_ts", None),
            ic("end_ts", Some(2)),
        ];
        info[1].period = Some(Period::RowStart);
        info[2].period = Some(Period::RowEnd);
        complete_info(&mut info, true);
        let s = schema(&["id", "start_ts", "end_ts"], vec![0, 2]);
        let v = Versioned::of(&s, Some(&info)).expect("versioned");
        assert_eq!(v.shape().columns.len(), 3);
        assert_eq!(v.shape().primary_key, vec![0]);
        let cur = vec![Cell::Int(1), ts(1), MAX];
        let old = vec![Cell::Int(1), ts(1), ts(2)];
        assert_eq!(
            v.current(Op::Create, None, Some(cur.clone())),
            Some((Op::Create, None, Some(cur.clone())))
        );
        assert_eq!(v.current(Op::Create, None, Some(old.clone())), None);
        assert_eq!(
            v.current(Op::Update, Some(cur.clone()), Some(old)),
            Some((Op::Delete, Some(cur), None))
        );
    }

    #[test]
    fn binlog_names_tell_when_the_known_shape_does_not_fit() {
        // Versioned when the rows were logged, not any more when information_schema was read.
        let s = schema(&["id", "a", "row_start", "row_end"], vec![0, 3]);
        let today = vec![ic("id", Some(1)), ic("a", None)];
        let v = Versioned::of(&s, Some(&today)).expect("versioned by the binlog's names");
        assert_eq!(v.shape().primary_key, vec![0]);
        assert_eq!(v.shape().columns.len(), 2);
        // A known shape that names another column ROW END than the binlog does is stale.
        let mut stale = vec![
            ic("id", Some(1)),
            ic("a", None),
            ic("x", None),
            ic("y", None),
        ];
        stale[2].period = Some(Period::RowStart);
        stale[3].period = Some(Period::RowEnd);
        let v = Versioned::of(&s, Some(&stale)).expect("versioned by the binlog's names");
        assert_eq!(v.shape().columns.len(), 2);
        // An ordinary table, and one whose own columns happen to be called so.
        let plain = schema(&["id", "a"], vec![0]);
        assert!(Versioned::of(&plain, Some(&today)).is_none());
        let own = vec![
            ic("id", Some(1)),
            ic("row_start", None),
            ic("row_end", None),
        ];
        let s = schema(&["id", "row_start", "row_end"], vec![0]);
        assert!(Versioned::of(&s, Some(&own)).is_none());
        assert!(Versioned::of(&s, None).is_none());
    }
}

//! Rows events to rows of [`Cell`]s, using a table schema built once per table map.
//!
//! `mysql_common` can decode rows itself, but it re-parses the table's optional metadata and
//! builds named column objects for every row; here the per-table work happens once and each row
//! costs one pass over its bytes.

use crate::change::{Cell, Row};
use crate::decode::decode_cell;
use crate::source::schema::{ColumnKind, TableSchema};
use mysql::binlog::events::RowsEventData;
use mysql::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;

/// Before and after images of one row (None where the event kind has no such image).
pub type RowPair = (Option<Row>, Option<Row>);

/// Decode every row of `ev`, calling `f` for each pair of images.
pub fn for_each_row<'a>(
    ev: &'a RowsEventData<'_>,
    schema: &'a TableSchema,
    mut f: impl FnMut(RowPair) -> Result<(), String>,
) -> Result<(), String> {
    let n = ev.num_columns() as usize;
    if n != schema.columns.len() {
        return Err(format!(
            "rows event has {n} columns but the table map of {}.{} has {}",
            schema.db,
            schema.table,
            schema.columns.len()
        ));
    }
    let partial = matches!(ev, RowsEventData::PartialUpdateRowsEvent(_));
    let before_cols = ev.columns_before_image();
    let after_cols = ev.columns_after_image();
    let mut buf = ParseBuf(ev.rows_data());
    while !buf.is_empty() {
        let before = match before_cols {
            Some(cols) => Some(read_image(&mut buf, schema, |i| cols.get(i).is_some_and(|b| *b), cols.count_ones(), false, None)?),
            None => None,
        };
        let after = match after_cols {
            Some(cols) => Some(read_image(
                &mut buf,
                schema,
                |i| cols.get(i).is_some_and(|b| *b),
                cols.count_ones(),
                partial,
                before.as_ref(),
            )?),
            None => None,
        };
        f((before, after))?;
    }
    Ok(())
}

fn read_image<'a>(
    buf: &mut ParseBuf<'a>,
    schema: &'a TableSchema,
    present: impl Fn(usize) -> bool,
    present_count: usize,
    partial: bool,
    before: Option<&Row>,
) -> Result<Row, String> {
    let n = schema.columns.len();
    let mut partial_json: Option<Vec<bool>> = None;
    if partial {
        let opts = read_lenenc(buf)?;
        if opts & 1 != 0 {
            let json_cols = schema
                .columns
                .iter()
                .filter(|c| c.binlog_type == ColumnType::MYSQL_TYPE_JSON)
                .count();
            let bytes = take(buf, json_cols.div_ceil(8))?;
            partial_json = Some((0..json_cols).map(|i| bytes[i / 8] & (1 << (i % 8)) != 0).collect());
        }
    }
    let null_bitmap = take(buf, present_count.div_ceil(8))?.to_vec();
    let mut row = Vec::with_capacity(n);
    let mut image_idx = 0;
    let mut json_idx = 0;
    for (i, col) in schema.columns.iter().enumerate() {
        let is_json = col.binlog_type == ColumnType::MYSQL_TYPE_JSON;
        let is_partial = is_json && partial_json.as_ref().is_some_and(|p| p.get(json_idx).copied().unwrap_or(false));
        if is_json {
            json_idx += 1;
        }
        if !present(i) {
            return Err(format!(
                "column {} of {}.{} is missing from the row image: the source must log binlog_row_image=FULL",
                col.name, schema.db, schema.table
            ));
        }
        let is_null = null_bitmap[image_idx / 8] & (1 << (image_idx % 8)) != 0;
        image_idx += 1;
        if is_null {
            row.push(Cell::Null);
            continue;
        }
        check_meta(col.binlog_type, &col.meta).map_err(|e| format!("column {}: {e}", col.name))?;
        let ctx = (col.binlog_type, col.meta.as_slice(), col.unsigned, is_partial);
        let value: BinlogValue<'a> = buf
            .parse(ctx)
            .map_err(|e| format!("column {}: cannot read value: {e}", col.name))?;
        let cell = match value {
            BinlogValue::JsonDiff(diffs) => {
                let base = before.and_then(|b| b.get(i)).cloned().unwrap_or(Cell::Null);
                crate::decode::apply_json_diffs(base, &diffs).map_err(|e| format!("column {}: {e}", col.name))?
            }
            v => decode_cell(col, v).map_err(|e| format!("column {}: {e}", col.name))?,
        };
        debug_assert!(!matches!((col.kind, &cell), (ColumnKind::Json, Cell::Bytes(_))));
        row.push(cell);
    }
    Ok(row)
}

/// mysql_common indexes the metadata bytes without checking their length; refuse short ones
/// here so that a malformed table map is an error, not a panic.
fn check_meta(t: ColumnType, meta: &[u8]) -> Result<(), String> {
    use ColumnType::*;
    let need = match t {
        MYSQL_TYPE_STRING | MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_BIT | MYSQL_TYPE_NEWDECIMAL
        | MYSQL_TYPE_ENUM | MYSQL_TYPE_SET => 2,
        MYSQL_TYPE_TIMESTAMP2 | MYSQL_TYPE_DATETIME2 | MYSQL_TYPE_TIME2 | MYSQL_TYPE_BLOB | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB | MYSQL_TYPE_GEOMETRY | MYSQL_TYPE_VECTOR
        | MYSQL_TYPE_TYPED_ARRAY => 1,
        _ => 0,
    };
    if meta.len() < need {
        return Err(format!("type {t:?} needs {need} metadata bytes, table map has {}", meta.len()));
    }
    if matches!(t, MYSQL_TYPE_TIMESTAMP2 | MYSQL_TYPE_DATETIME2 | MYSQL_TYPE_TIME2) && meta[0] > 6 {
        return Err(format!("fractional precision {} out of range", meta[0]));
    }
    // mysql_common sizes its buffer from `precision - scale` unchecked: a scale above the
    // precision wraps around to an allocation of exabytes, which aborts the whole process.
    if t == MYSQL_TYPE_NEWDECIMAL && (meta[0] == 0 || meta[0] > 65 || meta[1] > meta[0] || meta[1] > 38) {
        return Err(format!("DECIMAL({},{}) out of range", meta[0], meta[1]));
    }
    Ok(())
}

fn take<'a>(buf: &mut ParseBuf<'a>, n: usize) -> Result<&'a [u8], String> {
    if buf.len() < n {
        return Err("rows event is truncated".into());
    }
    let (head, tail) = buf.0.split_at(n);
    buf.0 = tail;
    Ok(head)
}

fn read_lenenc(buf: &mut ParseBuf<'_>) -> Result<u64, String> {
    let first = *take(buf, 1)?.first().ok_or("rows event is truncated")?;
    let width = match first {
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        0xfb | 0xff => return Err("bad length-encoded integer".into()),
        v => return Ok(v as u64),
    };
    Ok(take(buf, width)?
        .iter()
        .rev()
        .fold(0u64, |acc, b| (acc << 8) | *b as u64))
}

//! Rows events to rows of [`Cell`]s, using a table schema built once per table map.
//!
//! `mysql_common` can decode rows itself, but it re-parses the table's optional metadata and
//! builds named column objects for every row; here the per-table work happens once and each row
//! costs one pass over its bytes.

use crate::decode::decode_cell;
use crate::model::change::{Cell, JsonText, Row};
use crate::schema::{ColumnKind, TableSchema};
use mysql_common::binlog::events::{
    Event, FormatDescriptionEvent, RowsEventData, TransactionPayloadEvent,
};
use mysql_common::binlog::value::BinlogValue;
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
    // A partial JSON update edits the before image's value of its column.
    let mut before_json: Vec<(usize, serde_json::Value)> = Vec::new();
    while !buf.is_empty() {
        let left = buf.len();
        before_json.clear();
        let before = match before_cols {
            Some(cols) => Some(read_image(
                &mut buf,
                schema,
                |i| cols.get(i).is_some_and(|b| *b),
                cols.count_ones(),
                false,
                partial.then_some(&mut before_json),
                &[],
            )?),
            None => None,
        };
        let after = match after_cols {
            Some(cols) => Some(read_image(
                &mut buf,
                schema,
                |i| cols.get(i).is_some_and(|b| *b),
                cols.count_ones(),
                partial,
                None,
                &before_json,
            )?),
            None => None,
        };
        // A row that takes no bytes (a table map of zero columns) would repeat forever.
        if buf.len() == left {
            return Err(format!(
                "rows event of {}.{} has rows of no bytes (a table map without columns?)",
                schema.db, schema.table
            ));
        }
        f((before, after))?;
    }
    Ok(())
}

/// One row image. `keep_json`: where to keep the JSON values read (a partial update's before
/// image); `before_json`: those of the before image, for the partial JSON updates of this one.
fn read_image<'a>(
    buf: &mut ParseBuf<'a>,
    schema: &'a TableSchema,
    present: impl Fn(usize) -> bool,
    present_count: usize,
    partial: bool,
    mut keep_json: Option<&mut Vec<(usize, serde_json::Value)>>,
    before_json: &[(usize, serde_json::Value)],
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
            partial_json = Some(
                (0..json_cols)
                    .map(|i| bytes[i / 8] & (1 << (i % 8)) != 0)
                    .collect(),
            );
        }
    }
    let null_bitmap = take(buf, present_count.div_ceil(8))?.to_vec();
    let mut row = Vec::with_capacity(n);
    let mut json_idx = 0;
    for (i, col) in schema.columns.iter().enumerate() {
        let is_json = col.binlog_type == ColumnType::MYSQL_TYPE_JSON;
        let is_partial = is_json
            && partial_json
                .as_ref()
                .is_some_and(|p| p.get(json_idx).copied().unwrap_or(false));
        if is_json {
            json_idx += 1;
        }
        if !present(i) {
            return Err(format!(
                "column {} of {}.{} is missing from the row image: the source must log binlog_row_image=FULL",
                col.name, schema.db, schema.table
            ));
        }
        // Every column is present (checked above), so image index = column index.
        let is_null = null_bitmap
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0);
        if is_null {
            row.push(Cell::Null);
            continue;
        }
        check_meta(col.binlog_type, &col.meta).map_err(|e| format!("column {}: {e}", col.name))?;
        if col.binlog_type == ColumnType::MYSQL_TYPE_TIME2 {
            let fsp = col.meta.first().copied().unwrap_or(0);
            let bytes = take(buf, 3 + (fsp as usize).div_ceil(2))?;
            row.push(
                crate::decode::time2_cell(bytes, fsp)
                    .map_err(|e| format!("column {}: {e}", col.name))?,
            );
            continue;
        }
        let ctx = (
            col.binlog_type,
            col.meta.as_slice(),
            col.unsigned,
            is_partial,
        );
        let value: BinlogValue<'a> = buf
            .parse(ctx)
            .map_err(|e| format!("column {}: cannot read value: {e}", col.name))?;
        let cell = match value {
            BinlogValue::JsonDiff(diffs) => {
                let base = before_json
                    .iter()
                    .find(|(c, _)| *c == i)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| {
                        format!(
                            "column {}: partial JSON update of a column whose before value is not JSON",
                            col.name
                        )
                    })?;
                let doc = crate::decode::apply_json_diffs(base, &diffs)
                    .map_err(|e| format!("column {}: {e}", col.name))?;
                Cell::Json(JsonText::from(&doc))
            }
            BinlogValue::Jsonb(j) if keep_json.is_some() => {
                let doc = crate::decode::jsonb_to_json(j)
                    .map_err(|e| format!("column {}: {e}", col.name))?;
                let cell = Cell::Json(JsonText::from(&doc));
                if let Some(keep) = keep_json.as_mut() {
                    keep.push((i, doc));
                }
                cell
            }
            v => decode_cell(col, v).map_err(|e| format!("column {}: {e}", col.name))?,
        };
        debug_assert!(!matches!(
            (col.kind, &cell),
            (ColumnKind::Json, Cell::Bytes(_))
        ));
        row.push(cell);
    }
    Ok(row)
}

/// mysql_common indexes the metadata bytes without checking their length; refuse short ones
/// here so that a malformed table map is an error, not a panic.
fn check_meta(t: ColumnType, meta: &[u8]) -> Result<(), String> {
    use ColumnType::*;
    let need = match t {
        MYSQL_TYPE_STRING
        | MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_BIT
        | MYSQL_TYPE_NEWDECIMAL
        | MYSQL_TYPE_ENUM
        | MYSQL_TYPE_SET => 2,
        MYSQL_TYPE_TIMESTAMP2
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIME2
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
        | MYSQL_TYPE_GEOMETRY
        | MYSQL_TYPE_VECTOR
        | MYSQL_TYPE_TYPED_ARRAY => 1,
        _ => 0,
    };
    if meta.len() < need {
        return Err(format!(
            "type {t:?} needs {need} metadata bytes, table map has {}",
            meta.len()
        ));
    }
    if matches!(
        t,
        MYSQL_TYPE_TIMESTAMP2 | MYSQL_TYPE_DATETIME2 | MYSQL_TYPE_TIME2
    ) && meta[0] > 6
    {
        return Err(format!("fractional precision {} out of range", meta[0]));
    }
    // mysql_common sizes its buffer from `precision - scale` unchecked: a scale above the
    // precision wraps around to an allocation of exabytes, which aborts the whole process.
    if t == MYSQL_TYPE_NEWDECIMAL
        && (meta[0] == 0 || meta[0] > 65 || meta[1] > meta[0] || meta[1] > 38)
    {
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

/// Call `f` with each event inside a TRANSACTION_PAYLOAD_EVENT (MySQL 8.0.20+ with
/// `binlog_transaction_compression=ON`), decompressed one event at a time so that a large
/// transaction does not have to fit in memory. The inner events carry no checksums (WL#3549).
pub fn for_each_payload_event(
    fde: &FormatDescriptionEvent<'_>,
    payload: &TransactionPayloadEvent<'_>,
    mut f: impl FnMut(&Event) -> Result<(), String>,
) -> Result<(), String> {
    let mut footer = fde.footer();
    footer.set_checksum_enabled(false);
    let fde = fde.clone().into_owned().with_footer(footer);
    let mut reader = payload
        .decompressed()
        .map_err(|e| format!("cannot decompress the transaction payload: {e}"))?;
    while reader
        .has_data_left()
        .map_err(|e| format!("cannot decompress the transaction payload: {e}"))?
    {
        let ev = Event::read(&fde, &mut reader)
            .map_err(|e| format!("bad event inside the transaction payload: {e}"))?;
        f(&ev)?;
    }
    Ok(())
}

/// MariaDB `log_bin_compress=ON`: rebuild a compressed event (QUERY_COMPRESSED 0xa5,
/// WRITE/UPDATE/DELETE_ROWS_COMPRESSED_V1 0xa6-0xa8) as the plain event it stands for
/// (QUERY 0x02, WRITE/UPDATE/DELETE_ROWS_V1 0x17-0x19), header and all, so that it is parsed and
/// decoded like any other (read without a checksum, which the source computed over the
/// compressed form). The V2 compressed types (0xa9-0xab) are not written by MariaDB and refused.
/// Layout (MariaDB log_event.cc, `binlog_buf_uncompress`): the compressed part starts with a byte
/// `0x80 | lenlen` (algorithm 0 = zlib in bits 4-6), then the uncompressed length in `lenlen`
/// big-endian bytes, then the zlib stream.
pub fn maria_uncompressed_event(ev: &Event) -> Result<Event, String> {
    use mysql_common::binlog::consts::EventType;
    let (header, body, fde) = (ev.header(), ev.data(), ev.fde());
    let raw = header.event_type_raw();
    let bad = || format!("malformed compressed event (type {raw:#x})");
    let (plain_type, split) = match raw {
        0xa5 => {
            // Query post-header: thread id 4, exec time 4, db len 1, error code 2, status len 2.
            let post = fde.get_event_type_header_length(EventType::QUERY_EVENT) as usize;
            let db_len = *body.get(8).ok_or_else(bad)? as usize;
            let status_len = u16::from_le_bytes([*body.get(11).ok_or_else(bad)?, *body.get(12).ok_or_else(bad)?]) as usize;
            (0x02u8, post + status_len + db_len + 1)
        }
        0xa6..=0xa8 => {
            let post = fde.get_event_type_header_length(EventType::WRITE_ROWS_EVENT_V1) as usize;
            let mut buf = ParseBuf(body.get(post..).ok_or_else(bad)?);
            let n = read_lenenc(&mut buf)? as usize;
            let bitmaps = if raw == 0xa7 { 2 } else { 1 };
            let used = body.len() - post - buf.len();
            (raw - 0xa6 + 0x17, post + used + bitmaps * n.div_ceil(8))
        }
        _ => return Err(format!("compressed binlog event type {raw:#x} is not supported: SET GLOBAL log_bin_compress=OFF on the source")),
    };
    let (head, packed) = (
        body.get(..split).ok_or_else(bad)?,
        body.get(split..).ok_or_else(bad)?,
    );
    let first = *packed.first().ok_or_else(bad)?;
    if first & 0x80 == 0 || (first & 0x70) != 0 {
        return Err(bad());
    }
    let lenlen = (first & 0x07) as usize;
    let len_bytes = packed.get(1..1 + lenlen).ok_or_else(bad)?;
    let plain_len = len_bytes
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | *b as usize);
    // The length is the event's word: cap what is reserved up front (a bogus length must
    // not abort redis-server on allocation); `take` below bounds what is read.
    let mut plain = Vec::with_capacity(plain_len.min(16 << 20));
    use std::io::Read;
    flate2::read::ZlibDecoder::new(&packed[1 + lenlen..])
        .take(plain_len as u64 + 1)
        .read_to_end(&mut plain)
        .map_err(|e| format!("cannot inflate compressed event (type {raw:#x}): {e}"))?;
    if plain.len() != plain_len {
        return Err(bad());
    }
    let size = 19 + head.len() + plain.len();
    let mut ev: Vec<u8> = Vec::with_capacity(size);
    ev.extend_from_slice(&header.timestamp().to_le_bytes());
    ev.push(plain_type);
    ev.extend_from_slice(&header.server_id().to_le_bytes());
    ev.extend_from_slice(&(size as u32).to_le_bytes());
    ev.extend_from_slice(&header.log_pos().to_le_bytes());
    ev.extend_from_slice(&header.flags_raw().to_le_bytes());
    ev.extend_from_slice(head);
    ev.extend_from_slice(&plain);
    let mut footer = fde.footer();
    footer.set_checksum_enabled(false);
    let fde = fde.clone().into_owned().with_footer(footer);
    Event::read(&fde, &ev[..])
        .map_err(|e| format!("cannot parse uncompressed event (type {raw:#x}): {e}"))
}

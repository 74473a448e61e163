//! Rows events to rows of [`Cell`]s, using a table schema built once per table map.
//!
//! `mysql_common` can decode rows itself, but it re-parses the table's optional metadata and
//! builds named column objects for every row; here the per-table work happens once and each row
//! costs one pass over its bytes.

use crate::decode::charset::{self, Charset};
use crate::decode::{decode_cell, decode_value, json_text};
use crate::model::change::{Cell, JsonText, Row};
use crate::schema::{ColumnKind, ColumnSchema, TableSchema};
use mysql_common::binlog::events::{
    Event, FormatDescriptionEvent, RowsEventData, TransactionPayloadEvent,
};
use mysql_common::binlog::misc::{datetime_from_packed, my_datetime_packed_from_binary};
use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::value::Value;

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
    let readers: Vec<ValueReader> = schema.columns.iter().map(ValueReader::of).collect();
    // A partial JSON update edits the before image's value of its column.
    let mut before_json: Vec<(usize, serde_json::Value)> = Vec::new();
    while !buf.is_empty() {
        let left = buf.len();
        before_json.clear();
        let before = match before_cols {
            Some(cols) => Some(read_image(
                &mut buf,
                schema,
                &readers,
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
                &readers,
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
#[allow(clippy::too_many_arguments)]
fn read_image<'a>(
    buf: &mut ParseBuf<'a>,
    schema: &'a TableSchema,
    readers: &[ValueReader],
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
    let null_bitmap = take(buf, present_count.div_ceil(8))?;
    let mut row = Vec::with_capacity(n);
    let mut json_idx = 0;
    for ((i, col), reader) in schema.columns.iter().enumerate().zip(readers) {
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
        match reader.read(col, buf) {
            Read::Cell(cell) => {
                row.push(cell);
                continue;
            }
            Read::BadMeta(e) | Read::Failed(e) => return Err(format!("column {}: {e}", col.name)),
            Read::Time2(fsp) => {
                let bytes = take(buf, 3 + (fsp as usize).div_ceil(2))?;
                row.push(
                    crate::decode::time2_cell(bytes, fsp)
                        .map_err(|e| format!("column {}: {e}", col.name))?,
                );
                continue;
            }
            Read::General => {}
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

/// How one column's values are read, worked out once per rows event rather than per value.
/// The usual text and DECIMAL columns are read here straight from the event's bytes (into the
/// cell's string, with no copy in between); the rest by mysql_common, given meaning by
/// [`decode_cell`]. Both give the same cells.
enum ValueReader {
    /// The table map's metadata cannot read this column (the error, at its first value).
    BadMeta(String),
    Time2(u8),
    /// Text behind a little-endian length of `width` bytes.
    Text {
        width: u8,
        charset: Charset,
    },
    /// MariaDB's JSON alias: text behind a length of `width` bytes.
    JsonText {
        width: u8,
    },
    Decimal {
        precision: u8,
        scale: u8,
    },
    /// An integer of `width` bytes (little-endian), as mysql_common gives it to `decode_value`.
    Int {
        width: u8,
        unsigned: bool,
    },
    /// DATETIME2 of `fsp` fraction digits.
    DateTime2 {
        fsp: u8,
    },
    /// An ENUM index of `width` bytes.
    Enum {
        width: u8,
    },
    General,
}

/// What [`ValueReader::read`] did.
enum Read {
    Cell(Cell),
    BadMeta(String),
    /// The value read does not decode (`decode_value`'s error).
    Failed(String),
    Time2(u8),
    /// Read it with mysql_common (also where the fast reading found something unusual: the
    /// general path then reads it, or says what is wrong).
    General,
}

impl ValueReader {
    fn of(col: &ColumnSchema) -> ValueReader {
        use ColumnType::*;
        if let Err(e) = check_meta(col.binlog_type, &col.meta) {
            return ValueReader::BadMeta(e);
        }
        let meta = &col.meta;
        // The length prefix of a string value (mysql_common's reading of the metadata).
        let width = match col.binlog_type {
            MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING => {
                let max = meta[0] as usize | (meta[1] as usize) << 8;
                Some(if max < 256 { 1 } else { 2 })
            }
            MYSQL_TYPE_STRING => {
                let (byte0, byte1) = (meta[0] as usize, meta[1] as usize);
                let max = if byte0 == 0 {
                    byte1 << 8
                } else if byte0 & 0x30 != 0x30 {
                    byte1 | (((byte0 & 0x30) ^ 0x30) << 4)
                } else {
                    byte1
                };
                Some(if max < 256 { 1 } else { 2 })
            }
            MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BLOB
                if (1..=4).contains(&meta[0]) =>
            {
                Some(meta[0])
            }
            _ => None,
        };
        let blob = matches!(
            col.binlog_type,
            MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB | MYSQL_TYPE_BLOB
        );
        match (col.binlog_type, col.kind, width) {
            (MYSQL_TYPE_TIME2, _, _) => ValueReader::Time2(meta[0]),
            (_, ColumnKind::Text { charset }, Some(width)) => ValueReader::Text { width, charset },
            (_, ColumnKind::Json, Some(width)) if blob => ValueReader::JsonText { width },
            (MYSQL_TYPE_NEWDECIMAL, ColumnKind::Decimal { .. }, _) => ValueReader::Decimal {
                precision: meta[0],
                scale: meta[1],
            },
            (
                MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
                | MYSQL_TYPE_LONGLONG,
                ColumnKind::Int { .. },
                _,
            ) => ValueReader::Int {
                width: match col.binlog_type {
                    MYSQL_TYPE_TINY => 1,
                    MYSQL_TYPE_SHORT => 2,
                    MYSQL_TYPE_INT24 => 3,
                    MYSQL_TYPE_LONG => 4,
                    _ => 8,
                },
                unsigned: col.unsigned,
            },
            (MYSQL_TYPE_DATETIME2, ColumnKind::DateTime { .. }, _) => {
                ValueReader::DateTime2 { fsp: meta[0] }
            }
            (MYSQL_TYPE_ENUM, ColumnKind::Enum, _) if matches!(meta[1], 1 | 2) => {
                ValueReader::Enum { width: meta[1] }
            }
            _ => ValueReader::General,
        }
    }

    /// Read one (non-NULL) value of `col` from `buf`, or say how it must be read.
    fn read(&self, col: &ColumnSchema, buf: &mut ParseBuf<'_>) -> Read {
        let decoded = |v: Value| match decode_value(col, v) {
            Ok(cell) => Read::Cell(cell),
            Err(e) => Read::Failed(e),
        };
        match self {
            ValueReader::Int { width, unsigned } => {
                let Some(raw) = take_le(buf, *width as usize) else {
                    return Read::General;
                };
                // mysql_common's forms: unsigned values as read (BIGINT UNSIGNED above
                // i64::MAX as UInt), signed ones sign-extended from their width.
                let bits = 64 - 8 * *width as u32;
                decoded(match (*unsigned, *width) {
                    (true, 8) => i64::try_from(raw).map_or(Value::UInt(raw), Value::Int),
                    (true, _) => Value::Int(raw as i64),
                    (false, _) => Value::Int(((raw << bits) as i64) >> bits),
                })
            }
            ValueReader::DateTime2 { fsp } => {
                let size = 5 + (*fsp as usize).div_ceil(2);
                let Some(bytes) = buf.0.get(..size) else {
                    return Read::General;
                };
                match my_datetime_packed_from_binary(bytes, *fsp as u32) {
                    Ok(packed) => {
                        buf.0 = &buf.0[size..];
                        decoded(datetime_from_packed(packed))
                    }
                    Err(_) => Read::General,
                }
            }
            ValueReader::Enum { width } => match take_le(buf, *width as usize) {
                Some(index) => decoded(Value::Int(index as i64)),
                None => Read::General,
            },
            ValueReader::BadMeta(e) => Read::BadMeta(e.clone()),
            ValueReader::Time2(fsp) => Read::Time2(*fsp),
            ValueReader::General => Read::General,
            ValueReader::Text { width, charset } => match length_prefixed(buf, *width) {
                Some(text) => Read::Cell(Cell::Text(charset::to_utf8_from(*charset, text))),
                None => Read::General,
            },
            ValueReader::JsonText { width } => {
                let before = buf.0;
                match length_prefixed(buf, *width).map(json_text::compact) {
                    Some(Ok(text)) => Read::Cell(Cell::Json(text)),
                    // Invalid JSON: the general path says so.
                    _ => {
                        buf.0 = before;
                        Read::General
                    }
                }
            }
            ValueReader::Decimal { precision, scale } => {
                let size = decimal_bin_size(*precision as usize, *scale as usize);
                match buf
                    .0
                    .get(..size)
                    .and_then(|b| decimal_text(b, *precision as usize, *scale as usize))
                {
                    Some(text) => {
                        buf.0 = &buf.0[size..];
                        Read::Cell(Cell::Decimal(text))
                    }
                    None => Read::General,
                }
            }
        }
    }
}

/// A little-endian unsigned integer of `width` bytes (up to 8); None (nothing taken) when
/// `buf` is shorter.
fn take_le(buf: &mut ParseBuf<'_>, width: usize) -> Option<u64> {
    let bytes = buf.0.get(..width)?;
    buf.0 = &buf.0[width..];
    Some(
        bytes
            .iter()
            .rev()
            .fold(0u64, |acc, b| (acc << 8) | *b as u64),
    )
}

/// The bytes behind a little-endian length of `width` bytes; None (nothing taken) when `buf`
/// is shorter.
fn length_prefixed<'a>(buf: &mut ParseBuf<'a>, width: u8) -> Option<&'a [u8]> {
    let width = width as usize;
    let len = buf
        .0
        .get(..width)?
        .iter()
        .rev()
        .fold(0usize, |acc, b| (acc << 8) | *b as usize);
    let value = buf.0.get(width..width + len)?;
    buf.0 = &buf.0[width + len..];
    Some(value)
}

/// Bytes of a binary DECIMAL(precision, scale) (MySQL's `decimal_bin_size`).
fn decimal_bin_size(precision: usize, scale: usize) -> usize {
    const DIG_TO_BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
    let intg = precision - scale;
    (intg / 9 + scale / 9) * 4 + DIG_TO_BYTES[intg % 9] + DIG_TO_BYTES[scale % 9]
}

/// A binary DECIMAL as the text mysql_common gives it (its `Decimal::read_bin` then
/// `to_string`): sign, integer digits without leading zeros (`0` for none), `.` and `scale`
/// digits. None when a group of digits is out of range (a corrupt value: mysql_common's own
/// reading then decides).
fn decimal_text(b: &[u8], precision: usize, scale: usize) -> Option<String> {
    const POW10: [i32; 10] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
        1_000_000_000,
    ];
    const DIG_TO_BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
    // The sign is the first bit, stored inverted; a negative value's digits are inverted too.
    let negative = b.first()? & 0x80 == 0;
    let mask: i32 = if negative { -1 } else { 0 };
    let mut at = 0;
    // One group of `digits` decimal digits, big-endian and sign-extended as mysql_common reads it.
    let mut group = |digits: usize| -> Option<i32> {
        let len = DIG_TO_BYTES[digits];
        let bytes = b.get(at..at + len)?;
        let mut x = bytes.iter().enumerate().fold(0i64, |acc, (k, &byte)| {
            let byte = if at + k == 0 { byte ^ 0x80 } else { byte };
            (acc << 8) | byte as i64
        });
        // Sign-extend from len bytes.
        let bits = 64 - 8 * len as u32;
        x = (x << bits) >> bits;
        at += len;
        let x = (x as i32) ^ mask;
        (0..POW10[digits]).contains(&x).then_some(x)
    };
    let intg = precision - scale;
    let (prefix, intg_full) = (intg % 9, intg / 9);
    let (suffix, frac_full) = (scale % 9, scale / 9);
    let mut text = String::with_capacity(precision + 2);
    if negative {
        text.push('-');
    }
    let mut int_digits = false;
    let push_group = |text: &mut String, x: i32, width: usize, pad: bool| {
        let mut buf = itoa::Buffer::new();
        let digits = buf.format(x);
        if pad {
            for _ in digits.len()..width {
                text.push('0');
            }
        }
        text.push_str(digits);
    };
    if prefix > 0 {
        let x = group(prefix)?;
        if x != 0 {
            push_group(&mut text, x, prefix, false);
            int_digits = true;
        }
    }
    for _ in 0..intg_full {
        let x = group(9)?;
        if x != 0 || int_digits {
            push_group(&mut text, x, 9, int_digits);
            int_digits = true;
        }
    }
    if !int_digits {
        if scale == 0 {
            // Zero: mysql_common drops the sign.
            return Some("0".to_string());
        }
        text.push('0');
    }
    if scale > 0 {
        text.push('.');
    }
    for _ in 0..frac_full {
        let x = group(9)?;
        push_group(&mut text, x, 9, true);
    }
    if suffix > 0 {
        let x = group(suffix)?;
        push_group(&mut text, x, suffix, true);
    }
    Some(text)
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn column(binlog_type: ColumnType, meta: Vec<u8>, kind: ColumnKind) -> ColumnSchema {
        ColumnSchema {
            name: "c".into(),
            binlog_type,
            meta,
            unsigned: false,
            kind,
            enum_values: vec![],
            set_values: vec![],
        }
    }

    /// The general path: mysql_common reads the value, `decode_cell` gives the cell; with the
    /// bytes left.
    fn general(col: &ColumnSchema, bytes: &[u8]) -> Option<(Cell, usize)> {
        let mut buf = ParseBuf(bytes);
        let v: BinlogValue<'_> = buf
            .parse((col.binlog_type, col.meta.as_slice(), col.unsigned, false))
            .ok()?;
        let cell = decode_cell(col, v).ok()?;
        Some((cell, buf.len()))
    }

    /// The column's reader: the same cell and bytes left whenever it reads the value itself.
    fn check(col: &ColumnSchema, bytes: &[u8]) -> Result<(), TestCaseError> {
        let mut buf = ParseBuf(bytes);
        match ValueReader::of(col).read(col, &mut buf) {
            Read::Cell(cell) => {
                prop_assert_eq!(Some((cell, buf.len())), general(col, bytes), "{:?}", col)
            }
            Read::Failed(_) => prop_assert_eq!(general(col, bytes), None),
            _ => prop_assert_eq!(buf.len(), bytes.len()),
        }
        Ok(())
    }

    fn charset() -> impl Strategy<Value = Charset> {
        prop_oneof![
            Just(Charset::Utf8),
            Just(Charset::Binary),
            Just(crate::decode::charset::by_name("latin1")),
            Just(crate::decode::charset::by_name("gbk")),
            Just(Charset::Utf32),
            Just(Charset::AsciiOnly),
        ]
    }

    /// A length-prefixed value (`width` bytes of length), sometimes lying about its length.
    fn prefixed(width: usize, body: &[u8], lie: Option<u8>) -> Vec<u8> {
        let len = lie.map_or(body.len(), |l| l as usize);
        let mut b = len.to_le_bytes()[..width].to_vec();
        b.extend_from_slice(body);
        b
    }

    /// DECIMAL(precision, scale) bytes from digit groups (in range), as MySQL writes them.
    fn decimal_bytes(precision: usize, scale: usize, negative: bool, seed: &[u32]) -> Vec<u8> {
        const DIG_TO_BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
        let intg = precision - scale;
        let mut groups = Vec::new();
        if !intg.is_multiple_of(9) {
            groups.push(intg % 9);
        }
        groups.extend(std::iter::repeat_n(9, intg / 9 + scale / 9));
        if !scale.is_multiple_of(9) {
            groups.push(scale % 9);
        }
        let mut out = Vec::new();
        for (k, digits) in groups.into_iter().enumerate() {
            let x = seed.get(k).copied().unwrap_or(0) % 10u32.pow(digits as u32);
            let len = DIG_TO_BYTES[digits];
            let mut be = x.to_be_bytes()[4 - len..].to_vec();
            if negative {
                be.iter_mut().for_each(|b| *b = !*b);
            }
            out.extend(be);
        }
        if let Some(b) = out.first_mut() {
            *b ^= 0x80;
        }
        out
    }

    proptest! {
        #[test]
        fn text_columns_read_as_the_general_path(
            cs in charset(),
            body in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..40),
                "[a-z é€😀]{0,20}".prop_map(String::into_bytes),
            ],
            lie in proptest::option::weighted(0.1, any::<u8>()),
            (binlog_type, meta) in prop_oneof![
                (Just(ColumnType::MYSQL_TYPE_VARCHAR), prop_oneof![Just(vec![40, 0]), Just(vec![0, 1])]),
                (Just(ColumnType::MYSQL_TYPE_VAR_STRING), Just(vec![255, 0])),
                (Just(ColumnType::MYSQL_TYPE_STRING), (any::<u8>(), any::<u8>()).prop_map(|(a, b)| vec![a | 0xfe, b])),
                (Just(ColumnType::MYSQL_TYPE_STRING), (any::<u8>(), any::<u8>()).prop_map(|(a, b)| vec![a, b])),
                (Just(ColumnType::MYSQL_TYPE_BLOB), (1u8..=4).prop_map(|w| vec![w])),
                (Just(ColumnType::MYSQL_TYPE_TINY_BLOB), Just(vec![1])),
                (Just(ColumnType::MYSQL_TYPE_BLOB), Just(vec![7])),
            ],
            tail in proptest::collection::vec(any::<u8>(), 0..3),
        ) {
            let col = column(binlog_type, meta, ColumnKind::Text { charset: cs });
            let width = match ValueReader::of(&col) {
                ValueReader::Text { width, .. } => width as usize,
                _ => 1,
            };
            let mut bytes = prefixed(width, &body, lie);
            bytes.extend(tail);
            check(&col, &bytes)?;
        }

        #[test]
        fn numbers_dates_and_enums_read_as_the_general_path(
            (binlog_type, meta, kind) in prop_oneof![
                (1u8..=4).prop_map(|w| {
                    let t = [
                        ColumnType::MYSQL_TYPE_TINY,
                        ColumnType::MYSQL_TYPE_SHORT,
                        ColumnType::MYSQL_TYPE_INT24,
                        ColumnType::MYSQL_TYPE_LONG,
                    ][w as usize - 1];
                    (t, vec![], ColumnKind::Int { bytes: if w == 4 { 4 } else { w } })
                }),
                Just((ColumnType::MYSQL_TYPE_LONGLONG, vec![], ColumnKind::Int { bytes: 8 })),
                (0u8..=6).prop_map(|fsp| {
                    (ColumnType::MYSQL_TYPE_DATETIME2, vec![fsp], ColumnKind::DateTime { fsp })
                }),
                (0u8..=3).prop_map(|w| (ColumnType::MYSQL_TYPE_ENUM, vec![0xf7, w], ColumnKind::Enum)),
            ],
            unsigned in any::<bool>(),
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..12),
                // Plausible DATETIME2 values: 2024-05-01 12:00:00 and a fraction.
                proptest::collection::vec(any::<u8>(), 3..4)
                    .prop_map(|f| [vec![0x99, 0x93, 0x02, 0xc0, 0x00], f].concat()),
            ],
        ) {
            let mut col = column(binlog_type, meta, kind);
            col.unsigned = unsigned;
            col.enum_values = vec!["a".into(), "b".into(), "c".into()];
            check(&col, &bytes)?;
        }

        #[test]
        fn json_alias_reads_as_the_general_path(
            text in prop_oneof![
                Just(r#"{"id": 7, "tags": ["a", "b"], "w": 1.5}"#.to_string()),
                Just(r#"{"a":1,"a":2}"#.to_string()),
                "[\\[\\]{}\",:0-9 a]{0,12}",
            ],
            width in 1usize..=4,
        ) {
            let col = column(ColumnType::MYSQL_TYPE_BLOB, vec![width as u8], ColumnKind::Json);
            check(&col, &prefixed(width, text.as_bytes(), None))?;
        }

        #[test]
        fn decimals_read_as_mysql_common_reads_them(
            (precision, scale) in (1usize..=65).prop_flat_map(|p| (Just(p), 0..=p.min(38))),
            negative in any::<bool>(),
            seed in proptest::collection::vec(
                prop_oneof![Just(0u32), any::<u32>(), 0u32..10], 0..10),
            noise in proptest::option::weighted(0.2, proptest::collection::vec(any::<u8>(), 30)),
        ) {
            let col = column(
                ColumnType::MYSQL_TYPE_NEWDECIMAL,
                vec![precision as u8, scale as u8],
                ColumnKind::Decimal { scale: scale as u8 },
            );
            let mut bytes = decimal_bytes(precision, scale, negative, &seed);
            if let Some(noise) = noise {
                // Arbitrary bytes: read here only when every group is in range.
                let n = bytes.len();
                bytes = noise[..n].to_vec();
            }
            bytes.push(0x55);
            let mut buf = ParseBuf(&bytes);
            match ValueReader::of(&col).read(&col, &mut buf) {
                Read::Cell(cell) => {
                    prop_assert_eq!(buf.len(), 1);
                    let want = mysql_common::binlog::decimal::Decimal::read_bin(
                        &bytes[..], precision, scale, false,
                    )
                    .map(|d| d.to_string())
                    .ok();
                    prop_assert_eq!(Some(cell), want.map(Cell::Decimal));
                }
                _ => prop_assert!(bytes.len() == buf.len()),
            }
        }
    }

    #[test]
    fn decimal_text_of_usual_values() {
        let d = |p, s, neg, seed: &[u32]| {
            decimal_text(&decimal_bytes(p, s, neg, seed), p, s).expect("in range")
        };
        assert_eq!(d(12, 2, false, &[0, 1001, 1]), "1001.01");
        assert_eq!(d(12, 2, true, &[0, 5, 50]), "-5.50");
        assert_eq!(d(12, 2, false, &[0, 0, 7]), "0.07");
        assert_eq!(d(10, 0, true, &[0, 0]), "0");
        assert_eq!(d(5, 5, true, &[123]), "-0.00123");
        assert_eq!(d(20, 0, false, &[12, 345, 6789]), "12000000345000006789");
    }
}

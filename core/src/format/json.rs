//! Cells to JSON text in the `flat` forms of docs/types.md, written straight into a String.

use crate::calendar::civil_from_seconds;
use crate::model::change::Cell;
use crate::schema::TableSchema;
use base64::Engine;
use std::fmt::Write;

/// Which of the 8 bytes of `w` (little-endian) are `"`, `\\` or a control character (below
/// 0x20): the SWAR tests "has a zero byte" and "has a byte less than n", whose lowest flagged
/// byte is always a true one (bytes above it may be flagged wrongly).
fn escape_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    let quote = w ^ (ONES * b'"' as u64);
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = w ^ (ONES * b'\\' as u64);
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (control | quote | backslash) & HIGH
}

/// Append `s` as a JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time (the last few padded with spaces), to the first that needs an
        // escape.
        let n = (bytes.len() - i).min(8);
        let mut word = [b' '; 8];
        word[..n].copy_from_slice(&bytes[i..i + n]);
        match escape_mask(u64::from_le_bytes(word)) {
            0 => {
                i += n;
                continue;
            }
            mask => i += mask.trailing_zeros() as usize / 8,
        }
        let b = bytes[i];
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        i += 1;
        start = i;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Append the shortest round-trip form of a float (ryu, as serde_json); an integral value
/// drops its ".0" as MySQL prints it. Non-finite values (not storable in MySQL) become null.
fn write_float<F: ryu::Float>(out: &mut String, v: F, finite: bool) {
    if finite {
        let mut buf = ryu::Buffer::new();
        let s = buf.format_finite(v);
        out.push_str(s.strip_suffix(".0").unwrap_or(s));
    } else {
        out.push_str("null");
    }
}

/// Append an integer in decimal (without `core::fmt`, which costs several times more).
pub(crate) fn write_int(out: &mut String, v: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Append `v` with leading zeros to at least `width` digits (`{v:0width$}`).
pub(crate) fn write_padded(out: &mut String, v: u32, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(v);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

/// Append `.ffffff` cut to `fsp` digits (nothing when `fsp` is 0).
pub(crate) fn write_frac(out: &mut String, micros: u32, fsp: u8) {
    if fsp > 0 {
        let mut buf = itoa::Buffer::new();
        let digits = buf.format(micros);
        // `{micros:06}` cut to fsp digits.
        let zeros = 6usize.saturating_sub(digits.len());
        let want = fsp.min(6) as usize;
        out.push('.');
        for _ in 0..zeros.min(want) {
            out.push('0');
        }
        out.push_str(&digits[..want - zeros.min(want)]);
    }
}

/// Append `"YYYY-MM-DD` (the opening quote, no closing one).
fn write_date(out: &mut String, year: u32, month: u32, day: u32) {
    out.push('"');
    write_padded(out, year, 4);
    out.push('-');
    write_padded(out, month, 2);
    out.push('-');
    write_padded(out, day, 2);
}

/// Append `HH:MM:SS` (hours at least two digits).
fn write_hms(out: &mut String, hours: u32, minute: u32, second: u32) {
    write_padded(out, hours, 2);
    out.push(':');
    write_padded(out, minute, 2);
    out.push(':');
    write_padded(out, second, 2);
}

/// Append one cell in its `flat` JSON form (docs/types.md).
pub fn write_cell(out: &mut String, cell: &Cell) {
    match cell {
        Cell::Null => out.push_str("null"),
        Cell::Int(i) => write_int(out, *i),
        Cell::UInt(u) => write_int(out, *u),
        Cell::Decimal(d) => write_str(out, d),
        Cell::Float(f) => write_float(out, *f, f.is_finite()),
        Cell::Double(d) => write_float(out, *d, d.is_finite()),
        Cell::Bit { value, bits } => {
            if *bits == 1 {
                out.push_str(if *value != 0 { "true" } else { "false" });
            } else {
                write_int(out, *value);
            }
        }
        Cell::Date { year, month, day } => {
            write_date(out, *year as u32, *month as u32, *day as u32);
            out.push('"');
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
            write_date(out, *year as u32, *month as u32, *day as u32);
            out.push('T');
            write_hms(out, *hour as u32, *minute as u32, *second as u32);
            write_frac(out, *micros, *fsp);
            out.push('"');
        }
        Cell::Timestamp { secs, micros, fsp } => {
            let (y, mo, d, h, mi, s) = civil_from_seconds(*secs);
            match u32::try_from(y) {
                Ok(y) => write_date(out, y, mo, d),
                // Before year 0 (no TIMESTAMP is): as `{y:04}` prints it.
                Err(_) => {
                    let _ = write!(out, "\"{y:04}-{mo:02}-{d:02}");
                }
            }
            out.push('T');
            write_hms(out, h, mi, s);
            write_frac(out, *micros, *fsp);
            out.push_str("Z\"");
        }
        Cell::Time {
            negative,
            hours,
            minute,
            second,
            micros,
            fsp,
        } => {
            out.push('"');
            if *negative {
                out.push('-');
            }
            write_hms(out, *hours, *minute as u32, *second as u32);
            write_frac(out, *micros, *fsp);
            out.push('"');
        }
        Cell::Year(y) => write_int(out, *y),
        Cell::Text(s) | Cell::Enum(s) | Cell::Set(s) => write_str(out, s),
        Cell::Bytes(b) => {
            out.push('"');
            base64::engine::general_purpose::STANDARD.encode_string(b, out);
            out.push('"');
        }
        // Already compact JSON text (serde_json's form, numbers exact).
        Cell::Json(v) => out.push_str(v.as_str()),
        Cell::Geometry { srid, wkb } => {
            let _ = write!(out, "{{\"srid\":{srid},\"wkb\":\"");
            base64::engine::general_purpose::STANDARD.encode_string(wkb, out);
            out.push_str("\"}");
        }
        Cell::Vector(v) => {
            out.push('[');
            for (i, f) in v.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_float(out, *f, f.is_finite());
            }
            out.push(']');
        }
    }
}

/// About the length of `row` as a JSON object (a little more rather than less), to size its
/// string at once instead of growing it several times.
pub fn object_len_hint(table: &TableSchema, row: &[Cell]) -> usize {
    let cells: usize = row
        .iter()
        .map(|cell| match cell {
            Cell::Text(s) | Cell::Enum(s) | Cell::Set(s) | Cell::Decimal(s) => s.len() + 4,
            // As a JSON string (the Debezium forms) each quote takes two bytes.
            Cell::Json(j) => j.as_str().len() * 5 / 4 + 4,
            Cell::Bytes(b) => b.len() * 4 / 3 + 6,
            Cell::Geometry { wkb, .. } => wkb.len() * 4 / 3 + 40,
            Cell::Vector(v) => v.len() * 16 + 2,
            _ => 28,
        })
        .sum();
    let names: usize = table.columns.iter().map(|c| c.name.len() + 4).sum();
    2 + cells + names
}

/// `{"col":value,...}` over the given column indexes, in the `flat` forms (docs/types.md).
pub fn write_object(
    out: &mut String,
    table: &TableSchema,
    row: &[Cell],
    cols: impl Iterator<Item = usize>,
) {
    write_object_with(out, table, row, cols, write_cell);
}

/// `{"col":value,...}` over the given column indexes, each value written by `cell` (the
/// format's value forms: docs/types.md here, Debezium's in `format::debezium`).
pub fn write_object_with(
    out: &mut String,
    table: &TableSchema,
    row: &[Cell],
    cols: impl Iterator<Item = usize>,
    cell: fn(&mut String, &Cell),
) {
    out.push('{');
    let mut first = true;
    for i in cols {
        let (Some(col), Some(value)) = (table.columns.get(i), row.get(i)) else {
            continue;
        };
        if !first {
            out.push(',');
        }
        first = false;
        write_str(out, &col.name);
        out.push(':');
        cell(out, value);
    }
    out.push('}');
}

/// The `key` object: primary-key columns in key order, or every column when there is none.
pub fn write_key(out: &mut String, table: &TableSchema, row: &[Cell]) {
    if table.primary_key.is_empty() {
        write_object(out, table, row, 0..row.len());
    } else {
        write_object(out, table, row, table.primary_key.iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(c: Cell) -> String {
        let mut s = String::new();
        write_cell(&mut s, &c);
        s
    }

    #[test]
    fn spec_forms() {
        assert_eq!(j(Cell::Decimal("12.50".into())), "\"12.50\"");
        assert_eq!(j(Cell::Float(0.1)), "0.1");
        assert_eq!(j(Cell::Double(1e300)), "1e300");
        assert_eq!(j(Cell::Double(2.5)), "2.5");
        assert_eq!(j(Cell::Double(3.0)), "3");
        assert_eq!(j(Cell::Bit { value: 1, bits: 1 }), "true");
        assert_eq!(j(Cell::Bit { value: 5, bits: 3 }), "5");
        assert_eq!(
            j(Cell::Date {
                year: 2024,
                month: 1,
                day: 31
            }),
            "\"2024-01-31\""
        );
        assert_eq!(
            j(Cell::DateTime {
                year: 2024,
                month: 1,
                day: 31,
                hour: 12,
                minute: 34,
                second: 56,
                micros: 123000,
                fsp: 3
            }),
            "\"2024-01-31T12:34:56.123\""
        );
        assert_eq!(
            j(Cell::Timestamp {
                secs: 1706704496,
                micros: 123000,
                fsp: 3
            }),
            "\"2024-01-31T12:34:56.123Z\""
        );
        assert_eq!(
            j(Cell::Time {
                negative: true,
                hours: 838,
                minute: 59,
                second: 59,
                micros: 0,
                fsp: 0
            }),
            "\"-838:59:59\""
        );
        assert_eq!(
            j(Cell::Time {
                negative: false,
                hours: 12,
                minute: 0,
                second: 0,
                micros: 500000,
                fsp: 1
            }),
            "\"12:00:00.5\""
        );
        assert_eq!(j(Cell::Bytes(vec![0, 1, 2])), "\"AAEC\"");
        assert_eq!(
            j(Cell::Text("a\"b\\\n\u{1}é".into())),
            "\"a\\\"b\\\\\\n\\u0001é\""
        );
        assert_eq!(
            j(Cell::Geometry {
                srid: 4326,
                wkb: vec![1]
            }),
            "{\"srid\":4326,\"wkb\":\"AQ==\"}"
        );
        assert_eq!(j(Cell::UInt(u64::MAX)), "18446744073709551615");
    }

    /// The fast writer against serde_json: whatever it writes parses back to the same value.
    mod properties {
        use super::*;
        use proptest::prelude::*;
        use serde_json::Value;

        fn parse(text: &str) -> Value {
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not JSON: {e}"))
        }

        /// Strings rich in what JSON must escape: quotes, backslashes, every control character,
        /// DEL, non-ASCII (2-, 3- and 4-byte UTF-8).
        fn tricky_string() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                "[\"\\\\\\x00-\\x1f\\x7f/aé€😀\\u{2028}\\u{fffd}]{0,24}",
            ]
        }

        proptest! {
            /// The digit writers print what `core::fmt` printed before them.
            #[test]
            fn digits_as_core_fmt_prints_them(
                v in any::<u32>(),
                width in 0usize..12,
                micros in prop_oneof![0u32..1_000_000, any::<u32>()],
                fsp in 0u8..9,
                i in any::<i64>(),
                (year, month, day, hour, minute, second) in
                    (any::<u16>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()),
                hours in any::<u32>(),
                secs in -(1i64 << 40)..(1i64 << 40),
            ) {
                let mut s = String::new();
                write_padded(&mut s, v, width);
                prop_assert_eq!(s, format!("{v:0width$}"));
                let mut s = String::new();
                write_int(&mut s, i);
                prop_assert_eq!(s, i.to_string());
                let frac = |micros: u32, fsp: u8| if fsp > 0 {
                    format!(".{}", &format!("{micros:06}")[..fsp.min(6) as usize])
                } else {
                    String::new()
                };
                let mut s = String::new();
                write_frac(&mut s, micros, fsp);
                prop_assert_eq!(&s, &frac(micros, fsp));
                prop_assert_eq!(
                    j(Cell::Date { year, month, day }),
                    format!("\"{year:04}-{month:02}-{day:02}\"")
                );
                prop_assert_eq!(
                    j(Cell::DateTime { year, month, day, hour, minute, second, micros, fsp }),
                    format!(
                        "\"{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{}\"",
                        frac(micros, fsp)
                    )
                );
                let (y, mo, d, h, mi, sec) = civil_from_seconds(secs);
                prop_assert_eq!(
                    j(Cell::Timestamp { secs, micros, fsp }),
                    format!(
                        "\"{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}{}Z\"",
                        frac(micros, fsp)
                    )
                );
                prop_assert_eq!(
                    j(Cell::Time { negative: i < 0, hours, minute, second, micros, fsp }),
                    format!(
                        "\"{}{hours:02}:{minute:02}:{second:02}{}\"",
                        if i < 0 { "-" } else { "" },
                        frac(micros, fsp)
                    )
                );
            }

            /// Eight bytes at a time, the same text as one at a time.
            #[test]
            fn strings_escape_as_byte_by_byte(s in tricky_string(), pad in "[a-z]{0,9}") {
                let s = pad + &s;
                let mut want = String::from('"');
                for ch in s.chars() {
                    match ch {
                        '"' => want.push_str("\\\""),
                        '\\' => want.push_str("\\\\"),
                        '\n' => want.push_str("\\n"),
                        '\r' => want.push_str("\\r"),
                        '\t' => want.push_str("\\t"),
                        c if (c as u32) < 0x20 => want.push_str(&format!("\\u{:04x}", c as u32)),
                        c => want.push(c),
                    }
                }
                want.push('"');
                let mut out = String::new();
                write_str(&mut out, &s);
                prop_assert_eq!(out, want);
            }

            #[test]
            fn strings_parse_back_to_themselves(s in tricky_string()) {
                let mut out = String::new();
                write_str(&mut out, &s);
                prop_assert_eq!(parse(&out), Value::String(s.clone()));
                // Text-like cells go through the same writer.
                prop_assert_eq!(parse(&j(Cell::Text(s.clone()))), Value::String(s.clone()));
                prop_assert_eq!(parse(&j(Cell::Decimal(s.clone()))), Value::String(s));
            }

            #[test]
            fn integers_parse_back_exactly(i in any::<i64>(), u in any::<u64>()) {
                prop_assert_eq!(parse(&j(Cell::Int(i))).as_i64(), Some(i));
                prop_assert_eq!(parse(&j(Cell::UInt(u))).as_u64(), Some(u));
            }

            #[test]
            fn doubles_parse_back_exactly(d in any::<f64>()) {
                let v = parse(&j(Cell::Double(d)));
                if d.is_finite() {
                    prop_assert_eq!(v.as_f64(), Some(d));
                } else {
                    prop_assert_eq!(v, Value::Null);
                }
            }

            #[test]
            fn floats_parse_back_exactly(f in any::<f32>()) {
                let v = parse(&j(Cell::Float(f)));
                if f.is_finite() {
                    prop_assert!(v.is_number());
                    prop_assert_eq!(v.to_string().parse::<f32>().ok(), Some(f));
                } else {
                    prop_assert_eq!(v, Value::Null);
                }
            }

            #[test]
            fn objects_keep_names_values_and_order(
                cols in proptest::collection::vec((tricky_string(), tricky_string()), 0..6),
            ) {
                let table = TableSchema {
                    db: "d".into(),
                    table: "t".into(),
                    columns: cols
                        .iter()
                        .map(|(name, _)| crate::schema::ColumnSchema::utf8_text(name))
                        .collect(),
                    primary_key: vec![],
                    named: true,
                };
                let row: Vec<Cell> = cols.iter().map(|(_, v)| Cell::Text(v.clone())).collect();
                let mut out = String::new();
                write_object(&mut out, &table, &row, 0..row.len());
                let parsed: Vec<(String, Value)> = match parse(&out) {
                    Value::Object(m) => m.into_iter().collect(),
                    other => panic!("not an object: {other}"),
                };
                // JSON objects keep the last of duplicate names; the writer writes them all.
                let mut expected: Vec<(String, Value)> = Vec::new();
                for (name, value) in &cols {
                    match expected.iter_mut().find(|(n, _)| n == name) {
                        Some(slot) => slot.1 = Value::String(value.clone()),
                        None => expected.push((name.clone(), Value::String(value.clone()))),
                    }
                }
                prop_assert_eq!(parsed, expected);
            }
        }
    }
}

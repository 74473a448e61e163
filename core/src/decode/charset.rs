//! Text in a column's character set to UTF-8 (docs/types.md, "Character sets").
//!
//! The binlog carries CHAR/VARCHAR/TEXT values as raw bytes in the column's character set; the
//! table map (FULL metadata) or information_schema names the collation, and the collation names
//! the character set. Conversion goes through `encoding_rs` (WHATWG encodings); the few MySQL
//! charsets it has no table for are decoded as ASCII with U+FFFD for the other bytes.

use encoding_rs::Encoding;

/// A MySQL character set, resolved once per table map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// utf8mb4, utf8mb3 (utf8): already UTF-8.
    Utf8,
    /// The `binary` pseudo charset: bytes, rendered as base64.
    Binary,
    /// A charset with a WHATWG encoding table (latin1 = windows-1252, gbk, sjis, ...).
    Table(&'static Encoding),
    /// utf32: 4-byte big-endian code points.
    Utf32,
    /// A charset with no conversion table here (dec8, hp8, swe7, keybcs2, armscii8, geostd8,
    /// macce, cp850, cp852): ASCII bytes kept, others replaced by U+FFFD.
    AsciiOnly,
}

/// The charset of a MySQL charset name as `information_schema` / `SHOW CHARACTER SET` print it.
pub fn by_name(name: &str) -> Charset {
    use encoding_rs::*;
    let e: &'static Encoding = match name.to_ascii_lowercase().as_str() {
        "utf8" | "utf8mb3" | "utf8mb4" => return Charset::Utf8,
        "binary" => return Charset::Binary,
        "utf32" => return Charset::Utf32,
        // MySQL's latin1 is Windows-1252 (with 0x81, 0x8D, 0x8F, 0x90, 0x9D as C1 controls,
        // as WHATWG's table maps them too); ASCII is a subset of it.
        "latin1" | "ascii" => WINDOWS_1252,
        "latin2" => ISO_8859_2,
        "latin5" => WINDOWS_1254,
        "latin7" => ISO_8859_13,
        "greek" => ISO_8859_7,
        "hebrew" => ISO_8859_8,
        "cp1250" => WINDOWS_1250,
        "cp1251" => WINDOWS_1251,
        "cp1256" => WINDOWS_1256,
        "cp1257" => WINDOWS_1257,
        "koi8r" => KOI8_R,
        "koi8u" => KOI8_U,
        "cp866" => IBM866,
        "macroman" => MACINTOSH,
        "tis620" => WINDOWS_874,
        "gbk" | "gb2312" => GBK,
        "gb18030" => GB18030,
        "big5" => BIG5,
        "sjis" | "cp932" => SHIFT_JIS,
        "ujis" | "eucjpms" => EUC_JP,
        "euckr" => EUC_KR,
        // ucs2 and utf16 are big-endian in MySQL.
        "ucs2" | "utf16" => UTF_16BE,
        "utf16le" => UTF_16LE,
        _ => return Charset::AsciiOnly,
    };
    Charset::Table(e)
}

/// The charset of a collation id (`mysql_common`'s table of MySQL collations; MariaDB shares
/// the ids below 256). None when the id is unknown: the caller then asks information_schema.
pub fn by_collation(id: u16) -> Option<Charset> {
    use mysql_common::collations::{Collation, CollationId};
    let cid = CollationId::from(id);
    if cid == CollationId::UNKNOWN_COLLATION_ID {
        return None;
    }
    let name = Collation::from(cid).charset().to_string();
    match name.as_str() {
        "unknown" | "" => None,
        n => Some(by_name(n)),
    }
}

/// Convert `bytes` in `cs` to a UTF-8 string. Invalid sequences become U+FFFD, never dropped.
pub fn to_utf8(cs: Charset, bytes: Vec<u8>) -> String {
    match cs {
        Charset::Utf8 | Charset::Binary => match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        },
        _ => to_utf8_from(cs, &bytes),
    }
}

/// [`to_utf8`] of borrowed bytes (one copy: into the string).
pub fn to_utf8_from(cs: Charset, bytes: &[u8]) -> String {
    match cs {
        Charset::Utf8 | Charset::Binary => match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        },
        Charset::Table(e) => e.decode_without_bom_handling(bytes).0.into_owned(),
        Charset::Utf32 => bytes
            .chunks(4)
            .map(|c| match c {
                [a, b, c, d] => {
                    char::from_u32(u32::from_be_bytes([*a, *b, *c, *d])).unwrap_or('\u{FFFD}')
                }
                _ => '\u{FFFD}',
            })
            .collect(),
        Charset::AsciiOnly => bytes
            .iter()
            .map(|b| if b.is_ascii() { *b as char } else { '\u{FFFD}' })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(name: &str, bytes: &[u8]) -> String {
        to_utf8(by_name(name), bytes.to_vec())
    }

    #[test]
    fn single_byte_charsets() {
        assert_eq!(conv("latin1", &[0x63, 0x61, 0x66, 0xe9, 0x80]), "café€");
        assert_eq!(conv("latin2", &[0xb1, 0xe6]), "ąć");
        assert_eq!(conv("cp1251", &[0xcf, 0xf0, 0xe8]), "При");
        assert_eq!(conv("koi8r", &[0xf0, 0xd2, 0xc9]), "При");
        assert_eq!(conv("greek", &[0xe1, 0xe2]), "αβ");
        assert_eq!(conv("hebrew", &[0xe0, 0xe1]), "אב");
        assert_eq!(conv("ascii", b"plain"), "plain");
    }

    #[test]
    fn multi_byte_charsets() {
        assert_eq!(conv("gbk", &[0xd6, 0xd0, 0xce, 0xc4]), "中文");
        assert_eq!(conv("big5", &[0xa4, 0xa4, 0xa4, 0xe5]), "中文");
        assert_eq!(conv("sjis", &[0x93, 0xfa, 0x96, 0x7b]), "日本");
        assert_eq!(conv("cp932", &[0x93, 0xfa, 0x96, 0x7b]), "日本");
        assert_eq!(conv("ujis", &[0xc6, 0xfc, 0xcb, 0xdc]), "日本");
        assert_eq!(conv("euckr", &[0xc7, 0xd1, 0xb1, 0xdb]), "한글");
        assert_eq!(conv("ucs2", &[0x00, 0x41, 0x04, 0x1f]), "AП");
        assert_eq!(conv("utf16", &[0xd8, 0x3d, 0xde, 0x00]), "😀");
        assert_eq!(conv("utf16le", &[0x3d, 0xd8, 0x00, 0xde]), "😀");
        assert_eq!(conv("utf32", &[0, 1, 0xf6, 0x00]), "😀");
        assert_eq!(conv("utf8mb4", "😀é".as_bytes()), "😀é");
    }

    #[test]
    fn collation_ids() {
        assert_eq!(by_collation(8), Some(by_name("latin1")));
        assert_eq!(by_collation(45), Some(Charset::Utf8));
        assert_eq!(by_collation(33), Some(Charset::Utf8));
        assert_eq!(by_collation(63), Some(Charset::Binary));
        assert_eq!(by_collation(28), Some(by_name("gbk")));
        assert_eq!(by_collation(9), Some(by_name("latin2")));
    }
}

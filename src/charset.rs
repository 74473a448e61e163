//! Text in a column's character set to UTF-8.

/// Convert `bytes` in the charset of MySQL collation `collation` to a UTF-8 string.
/// Unknown charsets and invalid sequences are decoded lossily (U+FFFD), never dropped.
pub fn to_utf8(collation: u16, bytes: Vec<u8>) -> String {
    match collation {
        // latin1_* collations: MySQL's latin1 is Windows-1252.
        5 | 8 | 15 | 31 | 47 | 48 | 49 | 94 => bytes.iter().map(|b| cp1252(*b)).collect(),
        _ => match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        },
    }
}

fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\u{81}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}',
        '\u{2021}', '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{8D}',
        '\u{017D}', '\u{8F}', '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}',
        '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}',
        '\u{9D}', '\u{017E}', '\u{0178}',
    ];
    match b {
        0x80..=0x9f => HIGH[(b - 0x80) as usize],
        _ => b as char,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn latin1_and_utf8() {
        assert_eq!(
            super::to_utf8(8, vec![0x63, 0x61, 0x66, 0xe9, 0x80]),
            "café€"
        );
        assert_eq!(super::to_utf8(45, "😀".as_bytes().to_vec()), "😀");
    }
}

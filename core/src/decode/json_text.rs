//! JSON text (MariaDB's JSON alias, JSON read by SELECT) to its compact form in one pass.
//!
//! The compact form is what parsing the text into a `serde_json::Value` (with this crate's
//! `preserve_order` and `arbitrary_precision`) and printing that gives: no whitespace, strings
//! with serde_json's escapes, numbers as written except exponents (`1E5` -> `1e+5`), the last of
//! duplicate keys at the place of the first. Documents in the usual shapes are copied in one
//! pass; anything else (escapes, duplicate keys, deep nesting, invalid text) takes that round
//! trip, which also says why invalid text is invalid.

use crate::model::change::JsonText;

/// Nesting the one-pass copy follows (deeper documents take the round trip).
const MAX_DEPTH: usize = 64;
/// Keys of the open objects the one-pass copy tracks to tell duplicates.
const MAX_KEYS: usize = 128;

/// `text` in the compact form, or why it is not JSON.
pub fn compact(text: &[u8]) -> Result<JsonText, serde_json::Error> {
    if let Some(s) = std::str::from_utf8(text)
        .ok()
        .and_then(|s| Copier::new(s).document())
    {
        return Ok(JsonText::from_compact(s));
    }
    serde_json::from_slice::<serde_json::Value>(text).map(|v| JsonText::from(&v))
}

/// The one-pass copy: None when the text is not in the shapes it handles.
struct Copier<'a> {
    text: &'a str,
    at: usize,
    out: String,
    /// (start, end) of the keys of the open objects, innermost last.
    keys: [(usize, usize); MAX_KEYS],
    open_keys: usize,
}

impl<'a> Copier<'a> {
    fn new(text: &'a str) -> Copier<'a> {
        Copier {
            text,
            at: 0,
            out: String::with_capacity(text.len()),
            keys: [(0, 0); MAX_KEYS],
            open_keys: 0,
        }
    }

    fn document(mut self) -> Option<String> {
        self.value(0)?;
        self.whitespace();
        (self.at == self.text.len()).then_some(self.out)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Copy `text[from..to]` (ASCII boundaries).
    fn copy(&mut self, from: usize, to: usize) -> Option<()> {
        self.out.push_str(self.text.get(from..to)?);
        Some(())
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        self.whitespace();
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => {
                let (start, end) = self.string()?;
                self.copy(start - 1, end + 1)
            }
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        if !self.text[self.at..].starts_with(word) {
            return None;
        }
        self.at += word.len();
        self.out.push_str(word);
        Some(())
    }

    /// A string without escapes or control characters: the span of its contents.
    fn string(&mut self) -> Option<(usize, usize)> {
        let bytes = self.text.as_bytes();
        let start = self.at + 1;
        let len = bytes
            .get(start..)?
            .iter()
            .position(|b| matches!(b, b'"' | b'\\' | 0..=0x1f))?;
        let end = start + len;
        if bytes[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        Some((start, end))
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, the exponent as `e` and a sign.
    fn number(&mut self) -> Option<()> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut i = start;
        let digits = |i: usize| {
            bytes
                .get(i..)
                .map_or(0, |b| b.iter().take_while(|b| b.is_ascii_digit()).count())
        };
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        match digits(i) {
            0 => return None,
            n if n > 1 && bytes[i] == b'0' => return None,
            n => i += n,
        }
        if bytes.get(i) == Some(&b'.') {
            match digits(i + 1) {
                0 => return None,
                n => i += 1 + n,
            }
        }
        self.copy(start, i)?;
        if let Some(b'e' | b'E') = bytes.get(i) {
            i += 1;
            self.out.push('e');
            match bytes.get(i) {
                Some(b'-') => {
                    i += 1;
                    self.out.push('-');
                }
                Some(b'+') => {
                    i += 1;
                    self.out.push('+');
                }
                _ => self.out.push('+'),
            }
            let n = digits(i);
            if n == 0 {
                return None;
            }
            self.copy(i, i + n)?;
            i += n;
        }
        self.at = i;
        Some(())
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.out.push('[');
        self.whitespace();
        if self.peek()? == b']' {
            self.at += 1;
            self.out.push(']');
            return Some(());
        }
        loop {
            self.value(depth)?;
            self.whitespace();
            let b = self.peek()?;
            self.at += 1;
            match b {
                b',' => self.out.push(','),
                b']' => {
                    self.out.push(']');
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.out.push('{');
        self.whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            self.out.push('}');
            return Some(());
        }
        let first_key = self.open_keys;
        loop {
            self.whitespace();
            if self.peek()? != b'"' {
                return None;
            }
            let (start, end) = self.string()?;
            let key = &self.text.as_bytes()[start..end];
            // A first key serde_json reserves (`$serde_json::private::Number`) reads as a
            // number; duplicates keep one member: both take the round trip.
            if key.first() == Some(&b'$') || self.open_keys == MAX_KEYS {
                return None;
            }
            let bytes = self.text.as_bytes();
            if self.keys[first_key..self.open_keys]
                .iter()
                .any(|&(s, e)| &bytes[s..e] == key)
            {
                return None;
            }
            self.keys[self.open_keys] = (start, end);
            self.open_keys += 1;
            self.copy(start - 1, end + 1)?;
            self.whitespace();
            if self.peek()? != b':' {
                return None;
            }
            self.at += 1;
            self.out.push(':');
            self.value(depth)?;
            self.whitespace();
            let b = self.peek()?;
            self.at += 1;
            match b {
                b',' => self.out.push(','),
                b'}' => {
                    self.out.push('}');
                    self.open_keys = first_key;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the round trip through serde_json gives (None: not JSON).
    fn round_trip(text: &str) -> Option<String> {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .map(|v| v.to_string())
    }

    fn fast(text: &str) -> Option<String> {
        Copier::new(text).document()
    }

    #[test]
    fn usual_documents_are_copied_in_one_pass() {
        for (text, want) in [
            (
                r#"{"id": 1, "tags": ["a", "b"], "w": 1.5}"#,
                r#"{"id":1,"tags":["a","b"],"w":1.5}"#,
            ),
            (" [ ] ", "[]"),
            ("{ }", "{}"),
            ("-0", "-0"),
            ("1E5", "1e+5"),
            ("[1.50e-3,2e+7,0.0]", "[1.50e-3,2e+7,0.0]"),
            ("\"é€😀\u{7f}\"", "\"é€😀\u{7f}\""),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890",
            ),
            (
                r#"{"a":{"a":[true,false,null]}}"#,
                r#"{"a":{"a":[true,false,null]}}"#,
            ),
        ] {
            assert_eq!(fast(text).as_deref(), Some(want), "{text}");
            assert_eq!(round_trip(text).as_deref(), Some(want), "{text}");
        }
    }

    #[test]
    fn unusual_documents_take_the_round_trip() {
        for text in [
            r#"{"a":1,"a":2}"#,
            r#"{"a\"b":1}"#,
            r#"["\n"]"#,
            r#"{"$serde_json::private::Number":"1"}"#,
            "[01]",
            "[1.]",
            "[1,]",
            "{\"a\":1,}",
            "tru",
            "true x",
            "",
            "\"tab\there\"",
        ] {
            assert_eq!(fast(text), None, "{text}");
            assert_eq!(
                compact(text.as_bytes())
                    .ok()
                    .map(|t| t.as_str().to_string()),
                round_trip(text),
                "{text}"
            );
        }
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(fast(&deep), None);
        assert_eq!(compact(deep.as_bytes()).unwrap().as_str(), deep);
        assert!(compact(b"{\"a\":\xff}").is_err());
    }

    /// A JSON value, written with random whitespace, exponents and key repeats.
    fn json_text() -> impl Strategy<Value = String> {
        let ws = prop_oneof![Just(""), Just(""), Just(" "), Just("\n\t "), Just("\r")];
        let number = (
            any::<bool>(),
            prop_oneof![Just("0".to_string()), "[1-9][0-9]{0,25}"],
            proptest::option::of("[0-9]{1,5}"),
            proptest::option::of(("[eE]", "[-+]?", "[0-9]{1,3}")),
        )
            .prop_map(|(neg, int, frac, exp)| {
                let mut s = if neg { "-".to_string() } else { String::new() };
                s += &int;
                if let Some(f) = frac {
                    s = s + "." + &f;
                }
                if let Some((e, sign, d)) = exp {
                    s = s + &e + &sign + &d;
                }
                s
            });
        let string = prop_oneof![
            "[a-c]{0,3}",
            "[a\"\\\\/\\x00-\\x1f\\x7fé€😀\\u{2028}$]{0,6}",
        ]
        .prop_map(|s| serde_json::Value::String(s).to_string());
        let escaped = prop_oneof![
            Just(r#""\u00e9\/\b""#.to_string()),
            Just(r#""\ud83d\ude00""#.to_string())
        ];
        let leaf = prop_oneof![
            Just("true".to_string()),
            Just("false".to_string()),
            Just("null".to_string()),
            number,
            string.clone(),
            escaped,
        ];
        leaf.prop_recursive(4, 32, 6, move |inner| {
            let ws = ws.clone();
            prop_oneof![
                proptest::collection::vec((inner.clone(), ws.clone()), 0..5).prop_map(|items| {
                    let body: Vec<String> = items
                        .into_iter()
                        .map(|(v, w)| format!("{w}{v}{w}"))
                        .collect();
                    format!("[{}]", body.join(","))
                }),
                proptest::collection::vec(
                    (
                        prop_oneof![Just("\"a\"".to_string()), "\"[a-c]{0,2}\"", string.clone()],
                        inner,
                        ws
                    ),
                    0..5
                )
                .prop_map(|members| {
                    let body: Vec<String> = members
                        .into_iter()
                        .map(|(k, v, w)| format!("{w}{k}{w}:{w}{v}{w}"))
                        .collect();
                    format!("{{{}}}", body.join(","))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn compact_form_is_serde_jsons(text in json_text()) {
            let want = round_trip(&text);
            prop_assert!(want.is_some(), "generated text is not JSON: {}", text);
            prop_assert_eq!(compact(text.as_bytes()).ok().map(|t| t.as_str().to_string()), want.clone());
            if let Some(f) = fast(&text) {
                prop_assert_eq!(Some(f), want);
            }
        }

        #[test]
        fn any_text_compacts_as_serde_json_does(text in "[\\[\\]{}\",:0-9eE.+\\- a-z\\\\]{0,16}") {
            prop_assert_eq!(
                compact(text.as_bytes()).ok().map(|t| t.as_str().to_string()),
                round_trip(&text)
            );
        }
    }
}

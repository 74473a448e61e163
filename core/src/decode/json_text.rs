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
/// Keys of the open objects kept inline to tell duplicates (more go to the heap).
const INLINE_KEYS: usize = 32;

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

/// The one-pass copy: None when the text is not in the shapes it handles. It only checks the
/// text, copying it where the compact form differs (whitespace, exponents): a document already
/// compact is copied once, at the end.
struct Copier<'a> {
    text: &'a str,
    at: usize,
    /// The compact form of `text[..copied]` (empty while it is that text itself).
    out: String,
    copied: usize,
    /// `out` holds the compact form of `text[..copied]`, not `text[..copied]` itself.
    diverged: bool,
    /// (start, end) of the keys of the open objects, innermost last: the first ones inline,
    /// the rest in `more_keys`.
    keys: [(u32, u32); INLINE_KEYS],
    more_keys: Vec<(u32, u32)>,
    open_keys: usize,
}

impl<'a> Copier<'a> {
    fn new(text: &'a str) -> Copier<'a> {
        Copier {
            text,
            at: 0,
            out: String::new(),
            copied: 0,
            diverged: false,
            keys: [(0, 0); INLINE_KEYS],
            more_keys: Vec::new(),
            open_keys: 0,
        }
    }

    fn document(mut self) -> Option<String> {
        self.value(0)?;
        self.whitespace();
        if self.at != self.text.len() {
            return None;
        }
        if !self.diverged {
            return Some(self.text.to_owned());
        }
        self.flush();
        Some(self.out)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// The compact form differs from the text at `at`: copy what is equal up to there.
    fn flush(&mut self) {
        if !self.diverged {
            self.diverged = true;
            self.out.reserve(self.text.len());
        }
        self.out.push_str(&self.text[self.copied..self.at]);
        self.copied = self.at;
    }

    fn whitespace(&mut self) {
        if let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.flush();
            while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
                self.at += 1;
            }
            self.copied = self.at;
        }
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        self.whitespace();
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(|_| ()),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        if !self.text.get(self.at..)?.starts_with(word) {
            return None;
        }
        self.at += word.len();
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
        let digits = |i: usize| {
            bytes
                .get(i..)
                .map_or(0, |b| b.iter().take_while(|b| b.is_ascii_digit()).count())
        };
        let mut i = self.at;
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
        if let Some(&e @ (b'e' | b'E')) = bytes.get(i) {
            let signed = matches!(bytes.get(i + 1), Some(b'+' | b'-'));
            if e == b'E' || !signed {
                self.at = i;
                self.flush();
                self.out.push('e');
                if !signed {
                    self.out.push('+');
                }
                self.copied = i + 1;
            }
            i += 1 + usize::from(signed);
            match digits(i) {
                0 => return None,
                n => i += n,
            }
        }
        self.at = i;
        Some(())
    }

    /// `]` or `}` closing after `,`-separated items: which one came.
    fn separator(&mut self, close: u8) -> Option<bool> {
        self.whitespace();
        let b = self.peek()?;
        self.at += 1;
        match b {
            b',' => Some(false),
            b if b == close => Some(true),
            _ => None,
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.whitespace();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.value(depth)?;
            if self.separator(b']')? {
                return Some(());
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        let first_key = self.open_keys;
        loop {
            self.whitespace();
            if self.peek()? != b'"' {
                return None;
            }
            let (start, end) = self.string()?;
            let bytes = self.text.as_bytes();
            let key = &bytes[start..end];
            // A first key serde_json reserves (`$serde_json::private::Number`) reads as a
            // number; duplicates keep one member: both take the round trip.
            if key.first() == Some(&b'$') {
                return None;
            }
            let inline = &self.keys[first_key.min(INLINE_KEYS)..self.open_keys.min(INLINE_KEYS)];
            let spilled = self
                .more_keys
                .get(
                    first_key.saturating_sub(INLINE_KEYS)
                        ..self.open_keys.saturating_sub(INLINE_KEYS),
                )
                .unwrap_or_default();
            if inline
                .iter()
                .chain(spilled)
                .any(|&(s, e)| bytes.get(s as usize..e as usize) == Some(key))
            {
                return None;
            }
            let span = (u32::try_from(start).ok()?, u32::try_from(end).ok()?);
            match self.keys.get_mut(self.open_keys) {
                Some(slot) => *slot = span,
                None => {
                    self.more_keys.truncate(self.open_keys - INLINE_KEYS);
                    self.more_keys.push(span);
                }
            }
            self.open_keys += 1;
            self.whitespace();
            if self.peek()? != b':' {
                return None;
            }
            self.at += 1;
            self.value(depth)?;
            if self.separator(b'}')? {
                self.open_keys = first_key;
                return Some(());
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
        // Many keys (past those kept inline), nested: a duplicate is told at any depth.
        let members = |n: usize, inner: &str| {
            let m: Vec<String> = (0..n).map(|i| format!("\"k{i}\": {inner}")).collect();
            format!("{{{}}}", m.join(", "))
        };
        let wide = members(40, &members(35, "1"));
        let want = round_trip(&wide);
        assert!(want.is_some());
        assert_eq!(fast(&wide), want);
        let dup = wide.replacen("\"k39\"", "\"k38\"", 1);
        assert_eq!(fast(&dup), None);
        assert_eq!(
            compact(dup.as_bytes()).ok().map(|t| t.as_str().to_string()),
            round_trip(&dup)
        );
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

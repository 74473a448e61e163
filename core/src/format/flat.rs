//! The `flat` entry layout (docs/events.md, 'Entry layout').

use super::{json, Change, Fields};
use crate::model::change::Op;
use std::borrow::Cow;

pub fn render(c: &Change<'_>) -> Fields {
    let t = c.table;
    let mut f: Fields = Vec::with_capacity(9);
    f.push((Cow::Borrowed("op"), c.op.code().to_string()));
    f.push((Cow::Borrowed("db"), t.db.clone()));
    f.push((Cow::Borrowed("table"), t.table.clone()));
    if matches!(c.op, Op::Truncate | Op::ResyncBegin | Op::ResyncEnd) {
        // The whole table: no key, no row images (docs/events.md).
        f.push((Cow::Borrowed("ts_ms"), int_text(c.ts_ms)));
        f.push((Cow::Borrowed("pos"), c.source.pos()));
        if let Some(g) = c.gtid {
            f.push((Cow::Borrowed("gtid"), g.to_string()));
        }
        return f;
    }
    let key_row = c.after.or(c.before).map(Vec::as_slice).unwrap_or(&[]);
    let mut key = String::with_capacity(32);
    json::write_key(&mut key, t, key_row);
    f.push((Cow::Borrowed("key"), key));
    if let Some(b) = c.before {
        let mut s = String::with_capacity(json::object_len_hint(t, b));
        json::write_object(&mut s, t, b, 0..b.len());
        f.push((Cow::Borrowed("before"), s));
    }
    if let Some(a) = c.after {
        let mut s = String::with_capacity(json::object_len_hint(t, a));
        json::write_object(&mut s, t, a, 0..a.len());
        f.push((Cow::Borrowed("after"), s));
    }
    f.push((Cow::Borrowed("ts_ms"), int_text(c.ts_ms)));
    f.push((Cow::Borrowed("pos"), c.source.pos()));
    if let Some(g) = c.gtid {
        f.push((Cow::Borrowed("gtid"), g.to_string()));
    }
    f
}

fn int_text(v: u64) -> String {
    itoa::Buffer::new().format(v).to_string()
}

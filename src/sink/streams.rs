//! Appending prepared entries to streams through the low-level key API (`RM_StreamAdd`),
//! replicating each as `XADD key <assigned id> ...` — no command parsing under the lock.
//!
//! Entry strings are created before the lock is taken (`RM_CreateString` with no context is
//! safe from any thread). Propagation takes references to them and releases those when the
//! lock is released (one execution unit per lock hold), so the values and field names are
//! freed after the hold, by the writer alone. The key names also reach keyspace notifications,
//! whose subscribers may retain them: those are released under the lock.

use crate::ffi::keys::{Key, KeyApi, KeyType};
use crate::ffi::{FieldName, Fields, RString};
use redis_cdc_core::model::batch::Entry;
use redis_module::Context;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

/// The field names of the formats are a handful of static strings: one Redis string each,
/// shared by every entry (see [`FieldName`]); this caches the handles for the writer. A dozen
/// at most: a scan by address (the same literal each time) beats hashing each name of each
/// entry.
#[derive(Default)]
pub struct FieldNames(Vec<(&'static str, FieldName)>);

impl FieldNames {
    #[inline]
    fn get(&mut self, name: &'static str) -> Option<FieldName> {
        let same = |n: &&'static str| std::ptr::eq(*n, name) || *n == name;
        if let Some((_, s)) = self.0.iter().find(|(n, _)| same(n)) {
            return Some(*s);
        }
        let s = FieldName::intern(name)?;
        self.0.push((name, s));
        Some(s)
    }
}

/// Entries turned into Redis strings, ready to append.
pub struct Prepared {
    keys: Vec<RString>,
    /// Field/value strings of all entries, back to back: freed after the lock hold by
    /// dropping the `Prepared`.
    fields: Fields,
    /// (index into `keys`, end of the entry's pairs in `fields`) per entry.
    entries: Vec<(usize, usize)>,
}

/// Turn entries into Redis strings (no lock needed).
pub fn prepare<'a>(
    names: &mut FieldNames,
    entries: impl Iterator<Item = &'a Entry>,
) -> Result<Prepared, String> {
    const NO_STRING: &str = "cannot create a Redis string";
    let mut p = Prepared {
        keys: Vec::new(),
        fields: Fields::default(),
        entries: Vec::new(),
    };
    let mut key_index: HashMap<&str, usize> = HashMap::new();
    // `cdc.streams no`: entries without fields carry a mirror write only.
    // (stream, index) of the entry before: a hold's entries mostly go to one stream in runs.
    let mut last: Option<(&str, usize)> = None;
    for e in entries.filter(|e| !e.fields.is_empty()) {
        let idx = match last.filter(|(s, _)| *s == &*e.stream) {
            Some((_, i)) => i,
            None => match key_index.get(&*e.stream) {
                Some(i) => *i,
                None => {
                    p.keys
                        .push(RString::new(e.stream.as_bytes()).ok_or(NO_STRING)?);
                    key_index.insert(&e.stream, p.keys.len() - 1);
                    p.keys.len() - 1
                }
            },
        };
        last = Some((&e.stream, idx));
        for (k, v) in &e.fields {
            match k {
                Cow::Borrowed(name) => {
                    let name = names.get(name).ok_or(NO_STRING)?;
                    let value = RString::new(v.as_bytes()).ok_or(NO_STRING)?;
                    p.fields.push(name, value);
                }
                Cow::Owned(name) => {
                    let name = RString::new(name.as_bytes()).ok_or(NO_STRING)?;
                    let value = RString::new(v.as_bytes()).ok_or(NO_STRING)?;
                    p.fields.push_owned(name, value);
                }
            }
        }
        p.entries.push((idx, p.fields.len()));
    }
    Ok(p)
}

/// Append every prepared entry (caller holds the Redis lock on `ctx`), trimming each stream
/// to about `maxlen` entries when non-zero. All keys are type-checked before anything is
/// written, so a batch is written whole or not at all.
pub fn append(
    ctx: &Context,
    p: &mut Prepared,
    maxlen: u64,
    offset_key: &str,
) -> Result<(), String> {
    let r = key_api().and_then(|api| {
        check_hash_key(&api, ctx, offset_key)?;
        append_entries(&api, ctx, &mut *p, maxlen)
    });
    p.keys.clear();
    r
}

/// Refuse an offset key of another type than a hash (caller holds the Redis lock), before a
/// write that does not go through [`append`] (an XA hold).
pub fn check_offset_key(ctx: &Context, offset_key: &str) -> Result<(), String> {
    check_hash_key(&key_api()?, ctx, offset_key)
}

/// Whether the offset key exists (caller holds the Redis lock). The session stores it before
/// its first batch, so a missing one was deleted since (DEL, FLUSHALL, eviction).
pub fn offset_key_exists(ctx: &Context, offset_key: &str) -> Result<bool, String> {
    let api = key_api()?;
    let k = RString::new(offset_key.as_bytes()).ok_or("cannot create a Redis string")?;
    Ok(api
        .open(ctx, &k, false)
        .is_some_and(|key| api.key_type(&key) != KeyType::Empty))
}

pub(super) fn key_api() -> Result<KeyApi, String> {
    KeyApi::get()
        .ok_or_else(|| "the Redis stream API is not available (Redis 6.2+ needed)".to_string())
}

/// Refuse a key that holds another type than `expected` (an empty key is fine), before
/// anything is written.
pub(super) fn check_type(
    api: &KeyApi,
    key: &Key,
    expected: KeyType,
    name: impl FnOnce() -> String,
) -> Result<(), String> {
    let t = api.key_type(key);
    if t == KeyType::Empty || t == expected {
        return Ok(());
    }
    let kind = if expected == KeyType::Hash {
        "a hash"
    } else {
        "a stream"
    };
    Err(format!(
        "key {} holds another type than {kind}: rename or delete it (nothing was written)",
        name()
    ))
}

/// The position is written after the entries, in the same lock hold: a key of another type
/// there would leave entries without their position, so it is refused before anything is
/// written.
fn check_hash_key(api: &KeyApi, ctx: &Context, name: &str) -> Result<(), String> {
    let k = RString::new(name.as_bytes()).ok_or("cannot create a Redis string")?;
    let Some(key) = api.open(ctx, &k, false) else {
        return Ok(());
    };
    check_type(api, &key, KeyType::Hash, || {
        format!("{name} (cdc.offset-key)")
    })
}

fn append_entries(
    api: &KeyApi,
    ctx: &Context,
    p: &mut Prepared,
    maxlen: u64,
) -> Result<(), String> {
    let mut open: Vec<Key> = Vec::with_capacity(p.keys.len());
    for k in &p.keys {
        let key = api.open(ctx, k, true).ok_or("cannot open a stream key")?;
        check_type(api, &key, KeyType::Stream, || k.to_string_lossy())?;
        open.push(key);
    }
    let mut id_text = String::with_capacity(32);
    let mut start = 0;
    for &(idx, end) in &p.entries {
        let key = &open[idx];
        let range = start..end;
        start = end;
        let Some(id) = api.add(key, &mut p.fields, range.clone()) else {
            return Err(format!(
                "XADD to {} failed: {}",
                p.keys[idx].to_string_lossy(),
                std::io::Error::last_os_error()
            ));
        };
        id_text.clear();
        let _ = write!(id_text, "{}-{}", id.ms, id.seq);
        api.replicate_xadd(ctx, &p.keys[idx], &id_text, &mut p.fields, range);
        api.notify_xadd(ctx, &p.keys[idx]);
    }
    for (k, key) in p.keys.iter().zip(&open) {
        if maxlen > 0 && api.trim_approx(key, maxlen) > 0 {
            // Replicate the exact length left, so that replicas and the AOF end up equal.
            api.replicate_xtrim(ctx, k, api.value_length(key));
        }
        api.signal_modified(ctx, k);
    }
    Ok(())
}

//! Applying the mirror writes of a batch (docs/mirror.md), under the Redis lock, in entry
//! order, in the same atomic unit as the batch's stream entries and position.
//!
//! Row writes (a hash, a deleted row) go through the low-level key API, their strings made
//! before the lock is taken ([`MirrorCache::prepare`]), and are propagated as `DEL`/`HSET`/
//! `HDEL` with the keyspace notifications those commands send (RediSearch indexes on them).
//! JSON documents go through RedisJSON's own `JSON.SET`; clearing a table and the re-read
//! markers through `RM_Call` (they are rare).
//!
//! A re-read of a table (resync) must drop the table's keys of rows that no longer exist: from
//! its begin marker on, every key written for the table is noted in a set
//! (`<offset-key>:mirror-seen:<table prefix>`); at its end marker the table's keys not in the
//! set are deleted. The re-reads in progress are listed in the hash
//! `<offset-key>:mirror-resync` (field: the table's key pattern), so this survives a restart.
//!
//! Finding a table's keys takes a SCAN of the whole keyspace: in a large Redis that would hold
//! the lock for as long as it takes. So a table's clear and a re-read's end are swept ahead of
//! the hold that writes them, in lock holds of about 1 ms each ([`plan_sweeps`], [`sweep_step`]),
//! with nothing else written in between; the hold itself then has nothing left to scan.

use super::check;
use super::offsets::reply_text;
use super::streams::{check_type, key_api};
use crate::ffi::keys::{KeyApi, KeyType};
use crate::ffi::{FieldName, Fields, RString};
use redis_cdc_core::format::mirror::MirrorWrite;
use redis_cdc_core::model::batch::Entry;
use redis_module::{CallOptions, CallOptionsBuilder, Context, RedisValue};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Keys a SCAN step asks for.
const SCAN_COUNT: &str = "1000";

/// Keys a SCAN step of a sweep asks for: a step whose keys all match (a table of most of the
/// keyspace) deletes them all, so steps stay small and a hold takes as many as its budget allows.
const SWEEP_SCAN_COUNT: &str = "100";

const NO_STRING: &str = "cannot create a Redis string";

fn resync_key(offset_key: &str) -> String {
    format!("{offset_key}:mirror-resync")
}

fn seen_key(offset_key: &str, pattern: &str) -> String {
    format!("{offset_key}:mirror-seen:{pattern}")
}

/// The hash of the number of mirror keys per table (field: `db.table`), shown by CDC.TABLES.
pub fn count_key(offset_key: &str) -> String {
    format!("{offset_key}:mirror-keys")
}

/// The table's key prefix of a SCAN pattern (`prefix*`, glob characters escaped).
fn pattern_prefix(pattern: &str) -> String {
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    let mut out = String::with_capacity(body.len());
    let mut escaped = false;
    for ch in body.chars() {
        if ch == '\\' && !escaped {
            escaped = true;
            continue;
        }
        escaped = false;
        out.push(ch);
    }
    out
}

/// What a sweep keeps of the table's keys it finds.
#[derive(Debug, PartialEq, Eq)]
pub enum Keep {
    /// Nothing: the table was emptied (TRUNCATE, DROP).
    Nothing,
    /// The keys in the re-read's set (its begin was written in an earlier hold), and those
    /// the hold writes before the end (the rows of the re-read's last chunk share the end's
    /// batch: they are added to the set only in the hold, and must not vanish meanwhile).
    Seen { also: HashSet<String> },
    /// The keys the hold writes between the re-read's begin and end, both in the hold.
    /// `if_keys`: the begin counts only when the table has keys already (a snapshot's).
    Written {
        keys: HashSet<String>,
        if_keys: bool,
    },
}

/// The deletion of a table's keys that a hold's clear or re-read end asks for, done before
/// the hold in holds of its own.
#[derive(Debug)]
pub struct Sweep {
    pub pattern: String,
    pub table: Arc<str>,
    pub keep: Keep,
}

/// Whether a batch has a write that deletes a table's keys by pattern (a clear, a re-read's
/// end): the writer starts a hold with it, so that its sweep comes right after the holds before.
pub fn sweeps_keys<'e>(writes: impl Iterator<Item = &'e MirrorWrite>) -> bool {
    writes
        .into_iter()
        .any(|w| matches!(w, MirrorWrite::Clear { .. } | MirrorWrite::ResyncEnd { .. }))
}

/// The sweeps that can be done before a hold whose mirror writes (with their tables) are
/// `writes`, in order. Deleting the keys early gives the same keys as deleting them at the
/// marker when nothing of the hold before the marker is lost by it:
/// - a clear with no row of its table written before it in the hold;
/// - a re-read's end whose begin came in an earlier hold, maybe followed by the table's next
///   begin: the keys kept are those in its set and those the hold writes before the end (the
///   rows of the re-read's last chunk share the end's batch, and must not vanish meanwhile);
/// - a begin and an end in this hold, with no row of the table written before the begin: the
///   keys kept are those written between them.
///
/// Any other mix of a table's markers in one hold is left to the marker (a scan in the hold).
pub fn plan_sweeps<'e>(
    writes: impl Iterator<Item = (&'e Arc<str>, &'e MirrorWrite)> + Clone,
) -> Vec<Sweep> {
    if !sweeps_keys(writes.clone().map(|(_, w)| w)) {
        return Vec::new();
    }
    #[derive(Default)]
    struct Track<'e> {
        /// Markers in order: (index of the write, the write).
        markers: Vec<(usize, &'e MirrorWrite)>,
        /// Rows written (hash or document): (index, key).
        rows: Vec<(usize, &'e str)>,
    }
    let mut tables: Vec<(&Arc<str>, Track)> = Vec::new();
    for (i, (table, w)) in writes.enumerate() {
        let t = match tables.iter_mut().position(|(t, _)| *t == table) {
            Some(p) => &mut tables[p].1,
            None => {
                tables.push((table, Track::default()));
                &mut tables.last_mut().expect("just pushed").1
            }
        };
        match w {
            MirrorWrite::Hash { key, .. } | MirrorWrite::Json { key, .. } => t.rows.push((i, key)),
            MirrorWrite::Del { .. } => {}
            _ => t.markers.push((i, w)),
        }
    }
    let mut out = Vec::new();
    for (table, t) in tables {
        let written_before = |at: usize| t.rows.iter().any(|(i, _)| *i < at);
        let sweep = match t.markers.as_slice() {
            [(at, MirrorWrite::Clear { pattern })] if !written_before(*at) => {
                Some((pattern, Keep::Nothing))
            }
            // (A begin after the end: the table's next re-read, as when a queue reads it twice.)
            [(e, MirrorWrite::ResyncEnd { pattern })]
            | [(e, MirrorWrite::ResyncEnd { pattern }), (_, MirrorWrite::ResyncBegin { .. })] => {
                let also = t
                    .rows
                    .iter()
                    .filter(|(i, _)| i < e)
                    .map(|(_, k)| k.to_string())
                    .collect();
                Some((pattern, Keep::Seen { also }))
            }
            [(b, MirrorWrite::ResyncBegin { pattern, if_keys }), (e, MirrorWrite::ResyncEnd { pattern: end })]
                if pattern == end && !written_before(*b) =>
            {
                let keys = t
                    .rows
                    .iter()
                    .filter(|(i, _)| i > b && i < e)
                    .map(|(_, k)| k.to_string())
                    .collect();
                Some((
                    pattern,
                    Keep::Written {
                        keys,
                        if_keys: *if_keys,
                    },
                ))
            }
            _ => None,
        };
        if let Some((pattern, keep)) = sweep {
            out.push(Sweep {
                pattern: pattern.clone(),
                table: table.clone(),
                keep,
            });
        }
    }
    out
}

/// A mirror write turned into Redis strings (`key`: an index into [`Prepared::keys`]).
enum Ready {
    /// The row's hash: its field/value pairs, the fields to delete (columns that became NULL),
    /// and whether the key is rewritten whole.
    Hash {
        key: usize,
        pairs: Fields,
        nulls: Fields,
        replace: bool,
    },
    /// The row is gone.
    Del { key: usize },
    /// Applied through `RM_Call` from the entry's [`MirrorWrite`].
    Call,
}

/// The mirror writes of a lock hold, ready to apply: one per entry that has one, in order.
/// The values are freed after the lock hold, when this is dropped (propagation releases its
/// references at unlock); the key names also reach keyspace notifications, whose subscribers
/// may retain them, so [`MirrorCache::apply`] releases those under the lock.
#[derive(Default)]
pub struct Prepared {
    ops: Vec<Ready>,
    keys: Vec<RString>,
}

/// What the writer keeps between lock holds: the Redis strings of column names, and the
/// re-reads in progress (read from Redis at the first mirror write of the writer's life; only
/// the writer changes them afterwards).
#[derive(Default)]
pub struct MirrorCache {
    names: HashMap<String, FieldName>,
    /// The column names of the last row, by position: rows of a table come in runs, so the
    /// name at a position is most often the one before (a compare instead of a hash lookup).
    recent: Vec<(String, FieldName)>,
    /// (pattern, key prefix) of the tables being re-read.
    active: Option<Vec<(String, String)>>,
}

impl MirrorCache {
    fn name(&mut self, name: &str) -> Option<FieldName> {
        if let Some(n) = self.names.get(name) {
            return Some(*n);
        }
        let n = FieldName::intern_dynamic(name)?;
        self.names.insert(name.to_string(), n);
        Some(n)
    }

    /// [`Self::name`] of the column at position `i` of a row.
    fn name_at(&mut self, i: usize, name: &str) -> Option<FieldName> {
        if let Some((n, f)) = self.recent.get(i) {
            if n == name {
                return Some(*f);
            }
        }
        let f = self.name(name)?;
        let len = self.recent.len();
        match self.recent.get_mut(i) {
            Some(slot) => *slot = (name.to_string(), f),
            None if i == len => self.recent.push((name.to_string(), f)),
            None => {}
        }
        Some(f)
    }

    /// Turn the mirror writes of `entries` into Redis strings (no lock needed).
    pub fn prepare<'e>(
        &mut self,
        entries: impl Iterator<Item = &'e Entry>,
    ) -> Result<Prepared, String> {
        let mut p = Prepared::default();
        for w in entries.filter_map(|e| e.mirror.as_ref()) {
            let op = match w {
                MirrorWrite::Hash {
                    key,
                    fields,
                    nulls,
                    replace,
                } => {
                    let mut pairs = Fields::default();
                    for (i, (f, v)) in fields.iter().enumerate() {
                        let value = RString::new(v.as_bytes()).ok_or(NO_STRING)?;
                        match self.name_at(i, f) {
                            Some(name) => pairs.push(name, value),
                            None => pairs
                                .push_owned(RString::new(f.as_bytes()).ok_or(NO_STRING)?, value),
                        }
                    }
                    let mut deleted = Fields::default();
                    if !*replace {
                        for f in nulls {
                            match self.name(f) {
                                Some(name) => deleted.push_name(name),
                                None => {
                                    deleted.push_arg(RString::new(f.as_bytes()).ok_or(NO_STRING)?)
                                }
                            }
                        }
                    }
                    p.keys.push(RString::new(key.as_bytes()).ok_or(NO_STRING)?);
                    Ready::Hash {
                        key: p.keys.len() - 1,
                        pairs,
                        nulls: deleted,
                        replace: *replace,
                    }
                }
                MirrorWrite::Del { key } => {
                    p.keys.push(RString::new(key.as_bytes()).ok_or(NO_STRING)?);
                    Ready::Del {
                        key: p.keys.len() - 1,
                    }
                }
                _ => Ready::Call,
            };
            p.ops.push(op);
        }
        Ok(p)
    }

    /// Refuse a row key that holds another type than a hash (caller holds the lock), before
    /// anything of the lock hold is written: a failure half-way would leave entries without
    /// their position.
    pub fn check(&self, ctx: &Context, p: &Prepared) -> Result<(), String> {
        if p.ops.is_empty() {
            return Ok(());
        }
        let api = key_api()?;
        for op in &p.ops {
            if let Ready::Hash { key, .. } = op {
                let key = &p.keys[*key];
                let Some(k) = api.open(ctx, key, false) else {
                    continue;
                };
                check_type(&api, &k, KeyType::Hash, || {
                    format!(
                        "{} (the mirror's key for a row; cdc.mirror-prefix)",
                        key.to_string_lossy()
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Whether `s` is to be swept (caller holds the lock): a re-read's end only while its
    /// re-read is noted (its begin was written), a snapshot's begin only when the table has
    /// keys already (as the markers themselves decide).
    pub fn sweep_applies(
        &mut self,
        ctx: &Context,
        offset_key: &str,
        s: &Sweep,
    ) -> Result<bool, String> {
        Ok(match &s.keep {
            Keep::Nothing | Keep::Written { if_keys: false, .. } => true,
            Keep::Seen { .. } => {
                if self.active.is_none() {
                    self.active = Some(read_active(ctx, offset_key)?);
                }
                self.active
                    .as_ref()
                    .is_some_and(|a| a.iter().any(|(p, _)| *p == s.pattern))
            }
            Keep::Written { if_keys: true, .. } => stored_count(ctx, offset_key, &s.table) > 0,
        })
    }

    /// Apply the prepared mirror writes of `entries`, in order (caller holds the lock).
    /// `swept`: the patterns whose clear or re-read end was swept before this hold.
    pub fn apply<'e>(
        &mut self,
        ctx: &Context,
        offset_key: &str,
        p: &mut Prepared,
        entries: impl Iterator<Item = &'e Entry>,
        swept: &HashSet<String>,
    ) -> Result<(), String> {
        if p.ops.is_empty() {
            return Ok(());
        }
        let api = key_api()?;
        let mut w = MirrorWriter {
            offset_key,
            opts: CallOptionsBuilder::new()
                .replicate()
                .errors_as_replies()
                .build(),
            active: match self.active.take() {
                Some(a) => a,
                None => read_active(ctx, offset_key)?,
            },
            counts: HashMap::new(),
            swept,
        };
        let writes = entries.filter_map(|e| e.mirror.as_ref().map(|m| (&e.table, m)));
        let mut result = Ok(());
        for (op, (table, write)) in p.ops.iter_mut().zip(writes) {
            result = w
                .one(ctx, &api, &p.keys, op, (table, write))
                .map(|c| w.count(table, c));
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            result = w.store_counts(ctx);
        }
        self.active = Some(w.active);
        p.keys.clear();
        result
    }
}

/// One lock hold's part of a sweep (caller holds the lock): SCAN steps from `cursor` (`0` to
/// start), deleting the table's keys that `s` does not keep, until the keyspace is done
/// (true) or `budget` has passed.
pub fn sweep_step(
    ctx: &Context,
    offset_key: &str,
    s: &Sweep,
    cursor: &mut String,
    budget: Duration,
) -> Result<bool, String> {
    let opts = CallOptionsBuilder::new()
        .replicate()
        .errors_as_replies()
        .build();
    let seen = seen_key(offset_key, &s.pattern);
    let keep = |ctx: &Context, key: &str| match &s.keep {
        Keep::Nothing => false,
        Keep::Seen { also } => also.contains(key) || in_set(ctx, &seen, key),
        Keep::Written { keys, .. } => keys.contains(key),
    };
    delete_matching(
        ctx,
        &opts,
        &s.pattern,
        SWEEP_SCAN_COUNT,
        keep,
        cursor,
        Some(Instant::now() + budget),
    )
}

fn in_set(ctx: &Context, set: &str, member: &str) -> bool {
    matches!(
        ctx.call("SISMEMBER", &[set, member]),
        Ok(RedisValue::Integer(1))
    )
}

/// The table's number of mirror keys as stored.
fn stored_count(ctx: &Context, offset_key: &str, table: &str) -> i64 {
    let key = count_key(offset_key);
    match ctx.call("HGET", &[key.as_str(), table]) {
        Ok(v) => reply_text(&v).and_then(|t| t.parse().ok()).unwrap_or(0),
        Err(_) => 0,
    }
}

/// Delete the keys matching `pattern` that `keep` does not keep, in one go (a marker's own
/// scan, when it was not swept before its hold).
fn delete_all_matching(
    ctx: &Context,
    opts: &CallOptions,
    pattern: &str,
    keep: impl Fn(&Context, &str) -> bool,
) -> Result<(), String> {
    let mut cursor = "0".to_string();
    delete_matching(ctx, opts, pattern, SCAN_COUNT, keep, &mut cursor, None).map(|_| ())
}

/// SCAN steps from `cursor`, deleting the keys matching `pattern` that `keep` does not keep,
/// until the keyspace is done (true) or `deadline` has passed.
fn delete_matching(
    ctx: &Context,
    opts: &CallOptions,
    pattern: &str,
    count: &str,
    keep: impl Fn(&Context, &str) -> bool,
    cursor: &mut String,
    deadline: Option<Instant>,
) -> Result<bool, String> {
    loop {
        let reply = ctx
            .call("SCAN", &[cursor.as_str(), "MATCH", pattern, "COUNT", count])
            .map_err(|e| format!("SCAN (mirror): {e}"))?;
        let RedisValue::Array(parts) = reply else {
            return Err("SCAN (mirror): unexpected reply".into());
        };
        *cursor = parts
            .first()
            .and_then(reply_text)
            .unwrap_or_else(|| "0".into());
        let keys: Vec<String> = match parts.get(1) {
            Some(RedisValue::Array(k)) => k.iter().filter_map(reply_text).collect(),
            _ => Vec::new(),
        };
        for key in keys {
            if keep(ctx, &key) {
                continue;
            }
            check(ctx.call_ext("DEL", opts, &[key.as_str()]), "DEL (mirror)")?;
        }
        if cursor == "0" {
            return Ok(true);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
    }
}

/// The re-reads in progress, as stored in Redis.
fn read_active(ctx: &Context, offset_key: &str) -> Result<Vec<(String, String)>, String> {
    let key = resync_key(offset_key);
    match ctx.call("HKEYS", &[key.as_str()]) {
        Ok(RedisValue::Array(a)) => Ok(a
            .iter()
            .filter_map(reply_text)
            .map(|p| {
                let prefix = pattern_prefix(&p);
                (p, prefix)
            })
            .collect()),
        Ok(_) => Ok(Vec::new()),
        Err(e) => Err(format!("HKEYS {key}: {e}")),
    }
}

/// What one mirror write did to its table's number of keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    /// Added (1), removed (-1) or left (0) a key.
    By(i64),
    /// The table now has exactly this many keys (after TRUNCATE, at a re-read's end).
    Exactly(i64),
}

/// The mirror's state while a lock hold's writes are applied.
struct MirrorWriter<'a> {
    offset_key: &'a str,
    opts: CallOptions,
    /// (pattern, key prefix) of the tables being re-read.
    active: Vec<(String, String)>,
    /// Per table: the exact count set in this hold, if any, and the change since.
    counts: HashMap<Arc<str>, (Option<i64>, i64)>,
    /// Patterns whose clear or re-read end was swept before the hold.
    swept: &'a HashSet<String>,
}

impl MirrorWriter<'_> {
    /// Note a key written since a re-read of its table began (`add`), or deleted since (then
    /// it is no longer one the re-read keeps): at the re-read's end, the set holds exactly the
    /// table's keys.
    fn noted(&self, ctx: &Context, key: &str, add: bool) -> Result<(), String> {
        for (pattern, prefix) in &self.active {
            if key.starts_with(prefix.as_str()) {
                let seen = seen_key(self.offset_key, pattern);
                let cmd = if add { "SADD" } else { "SREM" };
                check(
                    ctx.call_ext(cmd, &self.opts, &[seen.as_str(), key]),
                    "SADD/SREM (mirror re-read)",
                )?;
            }
        }
        Ok(())
    }

    /// The table's number of keys as stored, with this hold's changes.
    fn keys_of(&self, ctx: &Context, table: &str) -> i64 {
        let stored = stored_count(ctx, self.offset_key, table);
        match self.counts.get(table) {
            Some((Some(n), by)) => n + by,
            Some((None, by)) => stored + by,
            None => stored,
        }
    }

    fn count(&mut self, table: &Arc<str>, c: Counted) {
        if c == Counted::By(0) {
            return;
        }
        let e = self.counts.entry(table.clone()).or_insert((None, 0));
        match c {
            Counted::By(n) => e.1 += n,
            Counted::Exactly(n) => *e = (Some(n), 0),
        }
    }

    /// The tables' key counts changed in this hold, in the same unit.
    fn store_counts(&mut self, ctx: &Context) -> Result<(), String> {
        let key = count_key(self.offset_key);
        for (table, (exact, by)) in self.counts.drain() {
            let (cmd, n) = match exact {
                Some(n) => ("HSET", n + by),
                None => ("HINCRBY", by),
            };
            let n = n.to_string();
            check(
                ctx.call_ext(cmd, &self.opts, &[key.as_str(), &table, n.as_str()]),
                "HSET/HINCRBY (mirror key counts)",
            )?;
        }
        Ok(())
    }

    fn one(
        &mut self,
        ctx: &Context,
        api: &KeyApi,
        keys: &[RString],
        op: &mut Ready,
        (table, w): (&str, &MirrorWrite),
    ) -> Result<Counted, String> {
        match (op, w) {
            (
                Ready::Hash {
                    key,
                    pairs,
                    nulls,
                    replace,
                },
                MirrorWrite::Hash { key: text, .. },
            ) => {
                // A read rewrites the key whole; a change sets its fields and removes those
                // that became NULL. What changed is propagated and notified as the commands
                // that would have done it (DEL, HSET, HDEL).
                let key = &keys[*key];
                let k = api.open(ctx, key, true).ok_or("cannot open a mirror key")?;
                let existed = if *replace {
                    api.delete(&k)
                } else {
                    api.key_type(&k) != KeyType::Empty
                };
                if !api.hash_set(&k, pairs, 0..pairs.len()) {
                    return Err(format!(
                        "HSET (mirror) {}: {}",
                        key.to_string_lossy(),
                        std::io::Error::last_os_error()
                    ));
                }
                let mut deleted = api.hash_del(&k, nulls, 0..nulls.len());
                // More fields than the row has: fields of columns dropped or renamed since the
                // key was written (its table's re-read has not come by yet). The row is written
                // whole instead, so that it has the table's new shape.
                let stale = !*replace && api.value_length(&k) > pairs.len() / 2;
                if stale {
                    api.delete(&k);
                    api.hash_set(&k, pairs, 0..pairs.len());
                    deleted = 0;
                }
                drop(k);
                if (existed && *replace) || stale {
                    api.replicate_key(ctx, c"DEL", key);
                    api.notify_del(ctx, key);
                }
                if pairs.len() > 0 {
                    api.replicate_args(ctx, c"HSET", key, pairs, 0..pairs.len());
                    api.notify_hash(ctx, c"hset", key);
                }
                if deleted > 0 {
                    api.replicate_args(ctx, c"HDEL", key, nulls, 0..nulls.len());
                    api.notify_hash(ctx, c"hdel", key);
                }
                api.signal_modified(ctx, key);
                self.noted(ctx, text, true)?;
                Ok(Counted::By(i64::from(!existed)))
            }
            (Ready::Del { key }, MirrorWrite::Del { key: text }) => {
                let key = &keys[*key];
                let k = api.open(ctx, key, true).ok_or("cannot open a mirror key")?;
                let existed = api.delete(&k);
                drop(k);
                if existed {
                    api.replicate_key(ctx, c"DEL", key);
                    api.notify_del(ctx, key);
                    api.signal_modified(ctx, key);
                }
                self.noted(ctx, text, false)?;
                Ok(Counted::By(-i64::from(existed)))
            }
            (Ready::Call, w) => self.call(ctx, api, table, w),
            _ => Err("mirror writes out of step with their entries".into()),
        }
    }

    /// A write through `RM_Call`: a JSON document, clearing a table, the re-read markers.
    fn call(
        &mut self,
        ctx: &Context,
        api: &KeyApi,
        table: &str,
        w: &MirrorWrite,
    ) -> Result<Counted, String> {
        let opts = &self.opts;
        match w {
            MirrorWrite::Json { key, doc } => {
                let name = RString::new(key.as_bytes()).ok_or(NO_STRING)?;
                let existed = api
                    .open(ctx, &name, false)
                    .is_some_and(|k| api.key_type(&k) != KeyType::Empty);
                check(
                    ctx.call_ext("JSON.SET", opts, &[key.as_str(), "$", doc.as_str()]),
                    "JSON.SET (mirror; is the RedisJSON module loaded?)",
                )?;
                self.noted(ctx, key, true)?;
                Ok(Counted::By(i64::from(!existed)))
            }
            MirrorWrite::Hash { key, .. } | MirrorWrite::Del { key } => {
                Err(format!("mirror write of {key} was not prepared"))
            }
            MirrorWrite::Clear { pattern } => {
                if !self.swept.contains(pattern) {
                    delete_all_matching(ctx, opts, pattern, |_, _| false)?;
                }
                // A re-read in progress keeps nothing written before the TRUNCATE.
                if self.active.iter().any(|(p, _)| p == pattern) {
                    let seen = seen_key(self.offset_key, pattern);
                    check(ctx.call_ext("DEL", opts, &[seen.as_str()]), "DEL (mirror)")?;
                }
                Ok(Counted::Exactly(0))
            }
            MirrorWrite::ResyncBegin { pattern, if_keys } => {
                if *if_keys && self.keys_of(ctx, table) <= 0 {
                    return Ok(Counted::By(0));
                }
                let seen = seen_key(self.offset_key, pattern);
                check(ctx.call_ext("DEL", opts, &[seen.as_str()]), "DEL (mirror)")?;
                let key = resync_key(self.offset_key);
                check(
                    ctx.call_ext("HSET", opts, &[key.as_str(), pattern.as_str(), "1"]),
                    "HSET (mirror re-read)",
                )?;
                if !self.active.iter().any(|(p, _)| p == pattern) {
                    self.active.push((pattern.clone(), pattern_prefix(pattern)));
                }
                Ok(Counted::By(0))
            }
            MirrorWrite::ResyncEnd { pattern } => {
                if !self.active.iter().any(|(p, _)| p == pattern) {
                    // No begin noted (written before the mirror was on): nothing to compare.
                    return Ok(Counted::By(0));
                }
                let seen = seen_key(self.offset_key, pattern);
                if !self.swept.contains(pattern) {
                    delete_all_matching(ctx, opts, pattern, |ctx, key| in_set(ctx, &seen, key))?;
                }
                // The set now holds exactly the table's keys (see `noted`).
                let kept = match ctx.call("SCARD", &[seen.as_str()]) {
                    Ok(RedisValue::Integer(n)) => n,
                    _ => 0,
                };
                check(ctx.call_ext("DEL", opts, &[seen.as_str()]), "DEL (mirror)")?;
                let key = resync_key(self.offset_key);
                check(
                    ctx.call_ext("HDEL", opts, &[key.as_str(), pattern.as_str()]),
                    "HDEL (mirror re-read)",
                )?;
                self.active.retain(|(p, _)| p != pattern);
                Ok(Counted::Exactly(kept))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str) -> MirrorWrite {
        MirrorWrite::Hash {
            key: key.into(),
            fields: vec![("id".into(), "1".into())],
            nulls: Vec::new(),
            replace: false,
        }
    }

    fn pattern(p: &str) -> String {
        p.to_string()
    }

    /// The sweeps planned for writes given as (table, write).
    fn plan(writes: &[(&str, MirrorWrite)]) -> Vec<(String, String, Keep)> {
        let owned: Vec<(Arc<str>, &MirrorWrite)> =
            writes.iter().map(|(t, w)| (Arc::from(*t), w)).collect();
        plan_sweeps(owned.iter().map(|(t, w)| (t, *w)))
            .into_iter()
            .map(|s| (s.table.to_string(), s.pattern, s.keep))
            .collect()
    }

    #[test]
    fn a_hold_without_a_clear_or_an_end_sweeps_nothing() {
        let begin = MirrorWrite::ResyncBegin {
            pattern: pattern("a:*"),
            if_keys: false,
        };
        assert!(plan(&[
            ("a", row("a:1")),
            ("a", begin),
            ("a", MirrorWrite::Del { key: "a:2".into() })
        ])
        .is_empty());
    }

    #[test]
    fn a_clear_is_swept_ahead_unless_its_table_was_written_before_it_in_the_hold() {
        let clear = || MirrorWrite::Clear {
            pattern: pattern("a:*"),
        };
        assert_eq!(
            plan(&[("b", row("b:1")), ("a", clear()), ("a", row("a:1"))]),
            vec![("a".into(), "a:*".into(), Keep::Nothing)]
        );
        assert!(plan(&[("a", row("a:1")), ("a", clear())]).is_empty());
        // A row deleted before it changes nothing.
        assert_eq!(
            plan(&[
                ("a", MirrorWrite::Del { key: "a:1".into() }),
                ("a", clear())
            ])
            .len(),
            1
        );
    }

    #[test]
    fn an_end_whose_begin_came_before_keeps_the_set_and_the_rows_before_it() {
        let end = || MirrorWrite::ResyncEnd {
            pattern: pattern("a:*"),
        };
        let begin = MirrorWrite::ResyncBegin {
            pattern: pattern("a:*"),
            if_keys: false,
        };
        let expected = vec![(
            "a".to_string(),
            "a:*".to_string(),
            Keep::Seen {
                also: ["a:1".to_string()].into_iter().collect(),
            },
        )];
        assert_eq!(plan(&[("a", row("a:1")), ("a", end())]), expected);
        // Followed by the table's next re-read (a queue reading it twice).
        assert_eq!(
            plan(&[
                ("a", row("a:1")),
                ("a", end()),
                ("a", begin),
                ("a", row("a:2"))
            ]),
            expected
        );
    }

    #[test]
    fn a_begin_and_end_in_one_hold_keep_the_keys_written_between_them() {
        let begin = |if_keys| MirrorWrite::ResyncBegin {
            pattern: pattern("a:*"),
            if_keys,
        };
        let end = || MirrorWrite::ResyncEnd {
            pattern: pattern("a:*"),
        };
        let planned = plan(&[
            ("a", begin(true)),
            ("a", row("a:1")),
            ("b", row("b:1")),
            ("a", row("a:2")),
            ("a", end()),
            ("a", row("a:3")),
        ]);
        let keys: HashSet<String> = ["a:1", "a:2"].iter().map(|k| k.to_string()).collect();
        assert_eq!(
            planned,
            vec![(
                "a".into(),
                "a:*".into(),
                Keep::Written {
                    keys,
                    if_keys: true
                }
            )]
        );
        // A row of the table before the begin, or a clear with them: left to the markers.
        assert!(plan(&[("a", row("a:1")), ("a", begin(false)), ("a", end())]).is_empty());
        let clear = MirrorWrite::Clear {
            pattern: pattern("a:*"),
        };
        assert!(plan(&[("a", clear), ("a", begin(false)), ("a", end())]).is_empty());
    }

    #[test]
    fn the_prefix_of_an_escaped_pattern() {
        assert_eq!(pattern_prefix("m:shop.orders:*"), "m:shop.orders:");
        assert_eq!(pattern_prefix("a\\*b\\\\:*"), "a*b\\:");
    }
}

//! Applying the mirror writes of a batch (docs/mirror.md), under the Redis lock, in entry
//! order, in the same atomic unit as the batch's stream entries and position.
//!
//! A re-read of a table (resync) must drop the table's keys of rows that no longer exist: from
//! its begin marker on, every key written for the table is noted in a set
//! (`<offset-key>:mirror-seen:<table prefix>`); at its end marker the table's keys not in the
//! set are deleted. The re-reads in progress are listed in the hash
//! `<offset-key>:mirror-resync` (field: the table's key pattern), so this survives a restart.

use super::offsets::reply_text;
use redis_cdc_core::format::mirror::MirrorWrite;
use redis_cdc_core::model::batch::Entry;
use redis_module::{CallOptions, CallOptionsBuilder, CallResult, Context, RedisValue};

/// Keys a SCAN step asks for.
const SCAN_COUNT: &str = "1000";

fn check(r: CallResult, what: &str) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

fn resync_key(offset_key: &str) -> String {
    format!("{offset_key}:mirror-resync")
}

fn seen_key(offset_key: &str, pattern: &str) -> String {
    format!("{offset_key}:mirror-seen:{pattern}")
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

/// The mirror's state while a batch is applied: the re-reads in progress.
pub struct MirrorWriter<'a> {
    offset_key: &'a str,
    opts: CallOptions,
    /// (pattern, key prefix) of the tables being re-read.
    active: Vec<(String, String)>,
}

impl<'a> MirrorWriter<'a> {
    /// Read the re-reads in progress (caller holds the lock).
    pub fn new(ctx: &Context, offset_key: &'a str) -> Result<MirrorWriter<'a>, String> {
        let opts = CallOptionsBuilder::new()
            .replicate()
            .errors_as_replies()
            .build();
        let key = resync_key(offset_key);
        let active = match ctx.call("HKEYS", &[key.as_str()]) {
            Ok(RedisValue::Array(a)) => a
                .iter()
                .filter_map(reply_text)
                .map(|p| {
                    let prefix = pattern_prefix(&p);
                    (p, prefix)
                })
                .collect(),
            Ok(_) => Vec::new(),
            Err(e) => return Err(format!("HKEYS {key}: {e}")),
        };
        Ok(MirrorWriter {
            offset_key,
            opts,
            active,
        })
    }

    /// Apply the mirror writes of `entries`, in order.
    pub fn apply<'e>(
        &mut self,
        ctx: &Context,
        entries: impl Iterator<Item = &'e Entry>,
    ) -> Result<(), String> {
        for e in entries {
            if let Some(w) = &e.mirror {
                self.one(ctx, w)?;
            }
        }
        Ok(())
    }

    fn noted(&self, ctx: &Context, key: &str) -> Result<(), String> {
        for (pattern, prefix) in &self.active {
            if key.starts_with(prefix.as_str()) {
                let seen = seen_key(self.offset_key, pattern);
                check(
                    ctx.call_ext("SADD", &self.opts, &[seen.as_str(), key]),
                    "SADD (mirror re-read)",
                )?;
            }
        }
        Ok(())
    }

    fn one(&mut self, ctx: &Context, w: &MirrorWrite) -> Result<(), String> {
        let opts = &self.opts;
        match w {
            MirrorWrite::Hash {
                key,
                fields,
                nulls,
                replace,
            } => {
                // A read rewrites the key whole; a change sets its fields and removes those
                // that became NULL (one call where nothing is NULL: the common case).
                if *replace {
                    check(ctx.call_ext("DEL", opts, &[key.as_str()]), "DEL (mirror)")?;
                }
                let mut args: Vec<&str> = Vec::with_capacity(1 + 2 * fields.len());
                args.push(key);
                for (f, v) in fields {
                    args.push(f);
                    args.push(v);
                }
                if args.len() > 1 {
                    check(ctx.call_ext("HSET", opts, args.as_slice()), "HSET (mirror)")?;
                }
                if !*replace && !nulls.is_empty() {
                    let mut args: Vec<&str> = Vec::with_capacity(1 + nulls.len());
                    args.push(key);
                    args.extend(nulls.iter().map(String::as_str));
                    check(ctx.call_ext("HDEL", opts, args.as_slice()), "HDEL (mirror)")?;
                }
                self.noted(ctx, key)
            }
            MirrorWrite::Json { key, doc } => {
                check(
                    ctx.call_ext("JSON.SET", opts, &[key.as_str(), "$", doc.as_str()]),
                    "JSON.SET (mirror; is the RedisJSON module loaded?)",
                )?;
                self.noted(ctx, key)
            }
            MirrorWrite::Del { key } => {
                check(ctx.call_ext("DEL", opts, &[key.as_str()]), "DEL (mirror)")?;
                self.noted(ctx, key)
            }
            MirrorWrite::Clear { pattern } => self.delete_matching(ctx, pattern, None),
            MirrorWrite::ResyncBegin { pattern } => {
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
                Ok(())
            }
            MirrorWrite::ResyncEnd { pattern } => {
                if !self.active.iter().any(|(p, _)| p == pattern) {
                    // No begin noted (written before the mirror was on): nothing to compare.
                    return Ok(());
                }
                let seen = seen_key(self.offset_key, pattern);
                self.delete_matching(ctx, pattern, Some(&seen))?;
                check(ctx.call_ext("DEL", opts, &[seen.as_str()]), "DEL (mirror)")?;
                let key = resync_key(self.offset_key);
                check(
                    ctx.call_ext("HDEL", opts, &[key.as_str(), pattern.as_str()]),
                    "HDEL (mirror re-read)",
                )?;
                self.active.retain(|(p, _)| p != pattern);
                Ok(())
            }
        }
    }

    /// Delete the keys matching `pattern` (all of them, or those not in the set `keep`).
    fn delete_matching(
        &self,
        ctx: &Context,
        pattern: &str,
        keep: Option<&str>,
    ) -> Result<(), String> {
        let mut cursor = "0".to_string();
        loop {
            let reply = ctx
                .call(
                    "SCAN",
                    &[cursor.as_str(), "MATCH", pattern, "COUNT", SCAN_COUNT],
                )
                .map_err(|e| format!("SCAN (mirror): {e}"))?;
            let RedisValue::Array(parts) = reply else {
                return Err("SCAN (mirror): unexpected reply".into());
            };
            cursor = parts
                .first()
                .and_then(reply_text)
                .unwrap_or_else(|| "0".into());
            let keys: Vec<String> = match parts.get(1) {
                Some(RedisValue::Array(k)) => k.iter().filter_map(reply_text).collect(),
                _ => Vec::new(),
            };
            for key in keys {
                if let Some(set) = keep {
                    let kept = matches!(
                        ctx.call("SISMEMBER", &[set, key.as_str()]),
                        Ok(RedisValue::Integer(1))
                    );
                    if kept {
                        continue;
                    }
                }
                check(
                    ctx.call_ext("DEL", &self.opts, &[key.as_str()]),
                    "DEL (mirror)",
                )?;
            }
            if cursor == "0" {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_of_an_escaped_pattern() {
        assert_eq!(pattern_prefix("m:shop.orders:*"), "m:shop.orders:");
        assert_eq!(pattern_prefix("a\\*b\\\\:*"), "a*b\\:");
    }
}

//! `CDC.WAIT <position> [timeout-ms]`: read your writes (docs/commands.md).
//!
//! The client blocks (not the server) until the position stored in the offset hash reaches the
//! one asked for. The offset hash changes in the same atomic unit as the entries it covers, on
//! a primary by the writer and on a replica by replication; both fire a hash keyspace event,
//! which is where waiters are checked. Everything here runs under the Redis lock.

use crate::commands::errors;
use crate::ffi::blocked::{self, Blocked, Handler, HashWatcher};
use crate::sink::offsets::reply_text;
use redis_cdc_core::model::position::Checkpoint;
use redis_cdc_core::model::wait::{WaitTarget, Written};
use redis_module::{Context, ContextFlags, RedisError, RedisResult, RedisString, RedisValue};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

struct Waiter {
    client: Blocked,
    target: WaitTarget,
    asked: String,
    timeout_ms: i64,
}

static WAITERS: Mutex<Vec<Waiter>> = Mutex::new(Vec::new());
/// Waiters listed: the keyspace event returns at once when there are none.
static WAITING: AtomicUsize = AtomicUsize::new(0);
static WRITTEN: Mutex<Option<Written>> = Mutex::new(None);

fn waiters() -> std::sync::MutexGuard<'static, Vec<Waiter>> {
    WAITERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Subscribe to the offset hash's changes (OnLoad).
pub fn register(ctx: &Context) {
    if !blocked::watch_hashes::<Wake>(ctx) {
        ctx.log_warning(
            "cdc: no keyspace events for CDC.WAIT; it will only answer positions already reached",
        );
    }
}

/// Read the offset hash into what is known as written; the text of what it reached.
fn observe(ctx: &Context) -> Result<String, String> {
    const FIELDS: [&str; 6] = [
        "file",
        "pos",
        "inside",
        "inside_count",
        "gtid",
        "source_server_id",
    ];
    let key = crate::cluster::offset_key();
    let mut args: Vec<&str> = vec![key.as_str()];
    args.extend(FIELDS);
    let values: Vec<Option<String>> = match ctx.call("HMGET", args.as_slice()) {
        Ok(RedisValue::Array(a)) => a.iter().map(reply_text).collect(),
        Ok(_) => Vec::new(),
        Err(e) => return Err(format!("reading {key}: {e}")),
    };
    let cp = Checkpoint::from_fields(|name| {
        FIELDS
            .iter()
            .position(|f| *f == name)
            .and_then(|i| values.get(i))
            .and_then(|v| v.as_deref())
    })?;
    let mut written = WRITTEN.lock().unwrap_or_else(|p| p.into_inner());
    let w = written.get_or_insert_with(Written::default);
    if let Some(cp) = cp {
        w.observe(&cp);
    }
    Ok(w.describe())
}

fn reaches(target: &WaitTarget) -> bool {
    WRITTEN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .is_some_and(|w| w.reaches(target))
}

/// `CDC.WAIT <position> [timeout-ms]`.
pub fn command(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if !(2..=3).contains(&args.len()) {
        return Err(RedisError::WrongArity);
    }
    let asked = args[1].to_string_lossy();
    let target = WaitTarget::parse(&asked).map_err(errors::bad_arg)?;
    let timeout_ms = match args.get(2) {
        None => 0,
        Some(t) => t
            .to_string_lossy()
            .parse::<i64>()
            .ok()
            .filter(|t| *t >= 0)
            .ok_or(RedisError::Str(
                "ERR timeout-ms must be a non-negative integer (0: wait forever)",
            ))?,
    };
    let reached = observe(ctx).map_err(errors::bad_arg)?;
    if reaches(&target) {
        return Ok(RedisValue::BulkString(reached));
    }
    // Redis cannot block a client inside MULTI or a script (it would answer for us, and a
    // later unblock would answer twice): refuse before blocking.
    if ctx
        .get_flags()
        .intersects(ContextFlags::MULTI | ContextFlags::LUA)
    {
        return Err(RedisError::Str(
            "ERR CDC.WAIT cannot block inside MULTI or a script, and the position is not reached yet: call it on its own",
        ));
    }
    let Some(client) = blocked::block::<Wake>(ctx, timeout_ms) else {
        return Err(errors::internal());
    };
    waiters().push(Waiter {
        client,
        target,
        asked,
        timeout_ms,
    });
    WAITING.fetch_add(1, Ordering::Relaxed);
    Ok(RedisValue::NoReply)
}

/// Wakes waiters when the offset hash changes; answers Redis about timeouts and disconnects.
struct Wake;

impl HashWatcher for Wake {
    fn on_hash(ctx: &Context, key: &[u8]) {
        if WAITING.load(Ordering::Relaxed) == 0 || key != crate::cluster::offset_key().as_bytes() {
            return;
        }
        let Ok(reached) = observe(ctx) else {
            return;
        };
        let mut list = waiters();
        let (done, waiting): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut *list)
            .into_iter()
            .partition(|w| reaches(&w.target));
        *list = waiting;
        WAITING.store(list.len(), Ordering::Relaxed);
        drop(list);
        for w in done {
            w.client.unblock(Ok(reached.clone()));
        }
    }
}

impl Handler for Wake {
    fn timed_out(id: usize) -> Option<String> {
        let w = take(id)?;
        let reached = WRITTEN
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(Written::describe)
            .unwrap_or_else(|| "nothing written yet".into());
        // The caller unblocks the handle.
        let reached = if reached == "nothing written yet" {
            "the module has written nothing yet".to_string()
        } else {
            format!("the module has written through {reached}")
        };
        Some(format!(
            "TIMEOUT position {} not reached within {} ms; {reached}",
            w.asked, w.timeout_ms
        ))
    }

    fn disconnected(id: usize) -> bool {
        take(id).is_some()
    }
}

fn take(id: usize) -> Option<Waiter> {
    let mut list = waiters();
    let i = list.iter().position(|w| w.client.id() == id)?;
    let w = list.swap_remove(i);
    WAITING.store(list.len(), Ordering::Relaxed);
    Some(w)
}

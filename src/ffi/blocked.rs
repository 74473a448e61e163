//! Blocked clients (`CDC.WAIT`) and the keyspace notifications that wake them.
//!
//! Every call here runs under the Redis lock: the command that blocks, the notification that
//! unblocks, and the timeout and disconnect callbacks Redis runs on its main thread. So a
//! waiter is unblocked by exactly one of them, whichever removes it from its list first
//! ([`Handler`]).

use super::api;
use redis_module::{raw, Context, RedisValue};
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a blocked client gets: a status reply or an error.
pub type Reply = Result<String, String>;

/// The waiters' owner: told when Redis ends a wait itself.
pub trait Handler {
    /// The client's timeout passed: the error to reply, when the waiter was still listed
    /// (it is removed; the trampoline unblocks it).
    fn timed_out(id: usize) -> Option<String>;
    /// The client went away: remove the waiter (the trampoline unblocks it).
    fn disconnected(id: usize) -> bool;
}

/// A blocked client. Its id (the handle's address) names it to [`Handler`].
pub struct Blocked(*mut raw::RedisModuleBlockedClient);

// SAFETY: Redis allows RedisModule_UnblockClient from any thread; we only call it under the
// Redis lock anyway.
unsafe impl Send for Blocked {}

impl Blocked {
    pub fn id(&self) -> usize {
        self.0 as usize
    }

    /// End the wait with `reply` (sent by Redis on its main thread).
    pub fn unblock(self, reply: Reply) {
        let Some(unblock) = api!(RedisModule_UnblockClient) else {
            return;
        };
        let data = Box::into_raw(Box::new(reply));
        // SAFETY: the handle came from BlockClient and is unblocked once (it is consumed);
        // Redis hands `data` to reply_cb and then to free_cb, which takes the box back.
        unsafe { unblock(self.0, data.cast()) };
    }
}

/// Block the client of `ctx` (a command's context) for at most `timeout_ms` (0: no limit).
pub fn block<H: Handler>(ctx: &Context, timeout_ms: i64) -> Option<Blocked> {
    let block = api!(RedisModule_BlockClient)?;
    // SAFETY: ctx is the running command's context; the callbacks are 'static functions.
    let bc = unsafe {
        block(
            ctx.ctx,
            Some(reply_cb),
            Some(timeout_cb::<H>),
            Some(free_cb),
            timeout_ms,
        )
    };
    if bc.is_null() {
        return None;
    }
    if let Some(set) = api!(RedisModule_SetDisconnectCallback) {
        // SAFETY: bc was just returned by BlockClient and is live.
        unsafe { set(bc, Some(disconnect_cb::<H>)) };
    }
    Some(Blocked(bc))
}

fn reply(ctx: *mut raw::RedisModuleCtx, r: &Reply) {
    let ctx = Context::new(ctx);
    match r {
        Ok(s) => ctx.reply(Ok(RedisValue::BulkString(s.clone()))),
        Err(e) => ctx.reply_error_string(e),
    };
}

extern "C" fn reply_cb(
    ctx: *mut raw::RedisModuleCtx,
    _argv: *mut *mut raw::RedisModuleString,
    _argc: c_int,
) -> c_int {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let Some(get) = api!(RedisModule_GetBlockedClientPrivateData) else {
            return;
        };
        // SAFETY: ctx is the reply context Redis passes; the data is the Reply we boxed.
        let data = unsafe { get(ctx) }.cast::<Reply>();
        if !data.is_null() {
            // SAFETY: as above; only read here, freed by free_cb.
            reply(ctx, unsafe { &*data });
        }
    }));
    raw::REDISMODULE_OK as c_int
}

extern "C" fn timeout_cb<H: Handler>(
    ctx: *mut raw::RedisModuleCtx,
    _argv: *mut *mut raw::RedisModuleString,
    _argc: c_int,
) -> c_int {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let (Some(handle), Some(get)) = (
            api!(RedisModule_GetBlockedClientHandle),
            api!(RedisModule_GetBlockedClientPrivateData),
        ) else {
            return;
        };
        // SAFETY: ctx is the timeout context Redis passes for this blocked client.
        let bc = unsafe { handle(ctx) };
        // SAFETY: as above.
        let data = unsafe { get(ctx) }.cast::<Reply>();
        if !data.is_null() {
            // Unblocked with a reply the same instant the timeout came: that reply wins.
            // SAFETY: the Reply we boxed, freed by free_cb.
            reply(ctx, unsafe { &*data });
            return;
        }
        match H::timed_out(bc as usize) {
            Some(text) => {
                reply(ctx, &Err(text));
                if let Some(unblock) = api!(RedisModule_UnblockClient) {
                    // SAFETY: the waiter was just removed, so nobody else unblocks bc; Redis
                    // frees the handle (no reply: the client was answered above).
                    unsafe { unblock(bc, std::ptr::null_mut()) };
                }
            }
            None => reply(ctx, &Err("TIMEOUT".to_string())),
        }
    }));
    raw::REDISMODULE_OK as c_int
}

extern "C" fn disconnect_cb<H: Handler>(
    _ctx: *mut raw::RedisModuleCtx,
    bc: *mut raw::RedisModuleBlockedClient,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if H::disconnected(bc as usize) {
            if let Some(unblock) = api!(RedisModule_UnblockClient) {
                // SAFETY: the waiter was just removed, so nobody else unblocks bc.
                unsafe { unblock(bc, std::ptr::null_mut()) };
            }
        }
    }));
}

extern "C" fn free_cb(_ctx: *mut raw::RedisModuleCtx, data: *mut c_void) {
    if !data.is_null() {
        // SAFETY: `data` is the Box<Reply> handed to UnblockClient, freed once, here.
        drop(unsafe { Box::from_raw(data.cast::<Reply>()) });
    }
}

/// A hash changed: `on_hash(ctx, key)`. Subscribed once at load.
pub trait HashWatcher {
    fn on_hash(ctx: &Context, key: &[u8]);
}

/// Subscribe `W` to hash keyspace events (all of them: the watcher filters by key).
pub fn watch_hashes<W: HashWatcher>(ctx: &Context) -> bool {
    let Some(subscribe) = api!(RedisModule_SubscribeToKeyspaceEvents) else {
        return false;
    };
    // SAFETY: ctx is OnLoad's context; the callback is a 'static function.
    let rc = unsafe {
        subscribe(
            ctx.ctx,
            raw::NotifyEvent::HASH.bits() as c_int,
            Some(hash_cb::<W>),
        )
    };
    rc == super::OK
}

extern "C" fn hash_cb<W: HashWatcher>(
    ctx: *mut raw::RedisModuleCtx,
    _type: c_int,
    _event: *const c_char,
    key: *mut raw::RedisModuleString,
) -> c_int {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let Some(ptr_len) = api!(RedisModule_StringPtrLen) else {
            return;
        };
        let mut len = 0usize;
        // SAFETY: key is the live key name of this notification.
        let p = unsafe { ptr_len(key, &mut len) };
        if p.is_null() {
            return;
        }
        // SAFETY: as above; valid for len bytes during this callback.
        let key = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) };
        W::on_hash(&Context::new(ctx), key);
    }));
    raw::REDISMODULE_OK as c_int
}

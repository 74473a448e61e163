//! A detached thread-safe context whose lock can be tried, so that a thread waiting for the
//! Redis lock can still notice a stop request (the crate's `ThreadSafeContext` only blocks);
//! and the two calls a module thread makes about the server: memory use, waking its loop.

use super::{api, OK};
use redis_module::{raw, Context};
use std::ops::Deref;
use std::ptr;

/// A thread-safe context not bound to any client.
pub struct DetachedCtx(*mut raw::RedisModuleCtx);

// SAFETY: a thread-safe context is made to be used from another thread; every use of the Redis
// API through it happens between ThreadSafeContextLock/TryLock and Unlock (`Locked`), or on
// the main thread, which holds the lock (`main_thread_has_command`).
unsafe impl Send for DetachedCtx {}

impl DetachedCtx {
    pub fn new() -> Option<DetachedCtx> {
        let get = api!(RedisModule_GetThreadSafeContext)?;
        // SAFETY: a null blocked client asks for a detached context; Redis allocates it.
        let ctx = unsafe { get(ptr::null_mut()) };
        (!ctx.is_null()).then_some(DetachedCtx(ctx))
    }

    /// Take the lock if it is free right now.
    pub fn try_lock(&self) -> Option<Locked<'_>> {
        let try_lock = api!(RedisModule_ThreadSafeContextTryLock)?;
        // SAFETY: self.0 is a live thread-safe context; TryLock returns OK only when it locked.
        if unsafe { try_lock(self.0) } == OK {
            Some(Locked {
                owner: self,
                ctx: Context::new(self.0),
            })
        } else {
            None
        }
    }
}

impl Drop for DetachedCtx {
    fn drop(&mut self) {
        if let Some(free) = api!(RedisModule_FreeThreadSafeContext) {
            // SAFETY: created by GetThreadSafeContext and freed once, here.
            unsafe { free(self.0) };
        }
    }
}

/// The Redis lock, held until drop; derefs to the locked context.
pub struct Locked<'a> {
    owner: &'a DetachedCtx,
    ctx: Context,
}

impl Deref for Locked<'_> {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.ctx
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if let Some(unlock) = api!(RedisModule_ThreadSafeContextUnlock) {
            // SAFETY: we hold the lock taken through the same context.
            unsafe { unlock(self.owner.0) };
        }
    }
}

/// Whether Redis has paused writes (`CLIENT PAUSE ... WRITE` or `ALL`, the `FAILOVER` command,
/// a cluster's manual failover), checked with the lock held. Redis keeps its dataset and
/// replication offset fixed meanwhile, so that a replica can catch up exactly; it asserts that
/// nothing is propagated, and a module thread's write then aborts redis-server
/// (`'!(areClientsPaused() && !server.client_pause_in_transaction)' is not true`, 7.0.15).
/// `RM_AvoidReplicaTraffic` is that same test (it also ends a pause whose time is up).
pub fn writes_paused() -> bool {
    match api!(RedisModule_AvoidReplicaTraffic) {
        // SAFETY: called with the Redis lock held, as every Redis API call of a module thread.
        Some(paused) => (unsafe { paused() }) != 0,
        None => false,
    }
}

/// Whether Redis knows the command `name`. For callbacks Redis runs on its main thread without
/// giving them a context (config setters): the main thread holds the Redis lock already, so
/// the call goes through a detached context without taking it.
pub fn main_thread_has_command(name: &str) -> bool {
    let Some(ctx) = DetachedCtx::new() else {
        return false;
    };
    command_known(&Context::new(ctx.0).call("COMMAND", &["INFO", name]))
}

/// Whether a `COMMAND INFO <name>` reply describes a command (nil for an unknown one).
pub fn command_known(reply: &redis_module::RedisResult) -> bool {
    matches!(reply, Ok(redis_module::RedisValue::Array(v))
        if v.first().is_some_and(|c| !matches!(c, redis_module::RedisValue::Null)))
}

/// Used memory over `maxmemory` (0 when no maxmemory is set). Call with the lock held.
pub fn used_memory_ratio(_ctx: &Context) -> f32 {
    match api!(RedisModule_GetUsedMemoryRatio) {
        // SAFETY: the lock is held (ctx); the function takes no arguments.
        Some(f) => unsafe { f() },
        None => 0.0,
    }
}

extern "C" fn wake_noop(_user_data: *mut std::os::raw::c_void) {}

/// Wake Redis's event loop so that it serves what a module thread just wrote at once: clients
/// blocked on the streams (XREAD BLOCK), the AOF write and fsync. Without it, a sleeping main
/// thread only notices at its next timer (up to 1/hz seconds, 100 ms by default).
/// `RM_EventLoopAddOneShot` is thread-safe (Redis 7.0+): it queues a no-op and writes to the
/// event loop's wake-up pipe. Call it after releasing the lock.
pub fn wake_event_loop() {
    if let Some(add) = api!(RedisModule_EventLoopAddOneShot) {
        // SAFETY: a static no-op callback with no user data; thread-safe by its contract.
        unsafe { add(Some(wake_noop), ptr::null_mut()) };
    }
}

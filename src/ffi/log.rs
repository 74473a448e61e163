//! Writing to the Redis log from any thread.

use super::api;
use redis_module::{raw, Context};
use std::ffi::CString;
use std::sync::atomic::{AtomicPtr, Ordering};

/// A detached context kept for logging from any thread with the module's name.
static LOG_CTX: AtomicPtr<raw::RedisModuleCtx> = AtomicPtr::new(std::ptr::null_mut());

/// Keep a detached context for [`write`] (OnLoad). It lives as long as the module: logging may
/// happen until unload, so it is never freed.
pub fn keep_context(ctx: &Context) {
    if let Some(get) = api!(RedisModule_GetDetachedThreadSafeContext) {
        // SAFETY: called during module load with the OnLoad context.
        let detached = unsafe { get(ctx.ctx) };
        LOG_CTX.store(detached, Ordering::Release);
    }
}

/// Log `msg` at `level` (`warning`, `notice`, `verbose`, `debug`).
pub fn write(level: &str, msg: &str) {
    let Some(log_fn) = api!(RedisModule_Log) else {
        return;
    };
    let (Ok(level), Ok(msg)) = (CString::new(level), CString::new(msg.replace('\0', "\\0"))) else {
        return;
    };
    // SAFETY: "%s" with one C string argument; the context is null or the detached one, which
    // RM_Log may use from any thread.
    unsafe {
        log_fn(
            LOG_CTX.load(Ordering::Acquire),
            level.as_ptr(),
            c"%s".as_ptr(),
            msg.as_ptr(),
        )
    };
}

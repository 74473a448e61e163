//! The `log` facade bridged to the Redis log, and a panic hook that writes there.
//! Messages never carry credentials or row data.

use redis_module::{raw, Context};
use std::ffi::CString;
use std::sync::atomic::{AtomicPtr, Ordering};

/// A detached context kept for logging from any thread with the module's name.
static LOG_CTX: AtomicPtr<raw::RedisModuleCtx> = AtomicPtr::new(std::ptr::null_mut());

struct RedisLog;

static LOGGER: RedisLog = RedisLog;

pub fn setup(ctx: &Context) {
    if let Some(get) = unsafe { raw::RedisModule_GetDetachedThreadSafeContext } {
        // SAFETY: called during module load with a valid context; the detached context lives
        // as long as the module (never freed: logging may happen until unload).
        let detached = unsafe { get(ctx.ctx) };
        LOG_CTX.store(detached, Ordering::Release);
    }
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
}

pub fn write(level: &str, msg: &str) {
    let Some(log_fn) = (unsafe { raw::RedisModule_Log }) else {
        return;
    };
    let (Ok(level), Ok(fmt), Ok(msg)) = (
        CString::new(level),
        CString::new("%s"),
        CString::new(msg.replace('\0', "\\0")),
    ) else {
        return;
    };
    // SAFETY: "%s" with one C string argument; the context is null or the detached one.
    unsafe {
        log_fn(
            LOG_CTX.load(Ordering::Acquire),
            level.as_ptr(),
            fmt.as_ptr(),
            msg.as_ptr(),
        )
    };
}

impl log::Log for RedisLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Info
    }

    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let level = match r.level() {
            log::Level::Error | log::Level::Warn => "warning",
            log::Level::Info => "notice",
            log::Level::Debug => "verbose",
            log::Level::Trace => "debug",
        };
        write(level, &r.args().to_string());
    }

    fn flush(&self) {}
}

/// Write every panic, with its location, to the Redis log (it is then caught and becomes
/// state `error`; it never unwinds into redis-server).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        write("warning", &format!("cdc: panic at {at}: {msg}"));
    }));
}

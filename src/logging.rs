//! The `log` facade bridged to the Redis log, and a panic hook that writes there.
//! Messages never carry credentials or row data.

use crate::ffi;
use redis_module::Context;

struct RedisLog;

static LOGGER: RedisLog = RedisLog;

pub fn setup(ctx: &Context) {
    ffi::log::keep_context(ctx);
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
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
        ffi::log::write(level, &r.args().to_string());
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
        ffi::log::write("warning", &format!("cdc: panic at {at}: {msg}"));
    }));
}

//! redis-cdc: a Redis module that streams MySQL/MariaDB row changes into Redis Streams.
//!
//! This file is glue only: the module's name, its command table, its configs, INFO, the
//! logger and the panic hook. The pipeline lives in `supervisor`, `source`, `sink`.

pub mod change;
pub mod charset;
pub mod commands;
pub mod config;
pub mod decode;
pub mod format;
mod logging;
pub mod redis_lock;
pub mod sink;
pub mod source;
pub mod status;
pub mod supervisor;

use crate::config::{RawConfig, SourceUrl, TableFilter};
use crate::status::{StatusValue, STATUS};
use redis_module::configuration::{ConfigurationContext, ConfigurationFlags, ConfigurationValue};
use redis_module::{redis_module, Context, InfoContext, RedisError, RedisResult, RedisString, Status};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{LazyLock, Mutex};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A string config whose every value is checked before Redis accepts it.
pub struct CheckedString {
    value: Mutex<String>,
    check: fn(&str) -> Result<(), String>,
}

impl CheckedString {
    const fn new(check: fn(&str) -> Result<(), String>) -> CheckedString {
        CheckedString {
            value: Mutex::new(String::new()),
            check,
        }
    }

    pub fn get_str(&self) -> String {
        self.value.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl ConfigurationValue<RedisString> for CheckedString {
    fn get(&self, _ctx: &ConfigurationContext) -> RedisString {
        RedisString::create(None, self.get_str().replace('\0', ""))
    }

    fn set(&self, _ctx: &ConfigurationContext, val: RedisString) -> Result<(), RedisError> {
        let check = self.check;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let s = val.try_as_str().map_err(|_| "value is not UTF-8".to_string())?;
            check(s)?;
            Ok::<_, String>(s.to_string())
        }));
        match result {
            Ok(Ok(s)) => {
                *self.value.lock().unwrap_or_else(|p| p.into_inner()) = s;
                Ok(())
            }
            Ok(Err(e)) => Err(RedisError::String(e)),
            Err(_) => Err(RedisError::Str("internal error validating the value")),
        }
    }
}

fn check_url(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Ok(());
    }
    SourceUrl::parse(s.trim()).map(|_| ()).map_err(|e| format!("cdc.mysql-url: {e}"))
}
fn check_tables(s: &str) -> Result<(), String> {
    TableFilter::new(s, "").map(|_| ()).map_err(|e| format!("cdc.tables: {e}"))
}
fn check_exclude(s: &str) -> Result<(), String> {
    TableFilter::new("", s).map(|_| ()).map_err(|e| format!("cdc.exclude-tables: {e}"))
}
fn check_any(_: &str) -> Result<(), String> {
    Ok(())
}
fn check_offset_key(s: &str) -> Result<(), String> {
    if s.is_empty() {
        Err("cdc.offset-key: must not be empty".into())
    } else {
        Ok(())
    }
}
fn check_snapshot(s: &str) -> Result<(), String> {
    config::SnapshotMode::parse(s).map(|_| ()).map_err(|e| format!("cdc.snapshot: {e}"))
}
fn check_format(s: &str) -> Result<(), String> {
    match config::Format::parse(s) {
        Ok(config::Format::Flat) => Ok(()),
        Ok(other) => Err(format!("cdc.format: '{}' is not available in this version; use flat", other.as_str())),
        Err(e) => Err(format!("cdc.format: {e}")),
    }
}

static MYSQL_URL: CheckedString = CheckedString::new(check_url);
static TABLES: CheckedString = CheckedString::new(check_tables);
static EXCLUDE_TABLES: CheckedString = CheckedString::new(check_exclude);
static STREAM_PREFIX: CheckedString = CheckedString::new(check_any);
static OFFSET_KEY: CheckedString = CheckedString::new(check_offset_key);
static SNAPSHOT: CheckedString = CheckedString::new(check_snapshot);
static FORMAT: CheckedString = CheckedString::new(check_format);
static SERVER_ID: AtomicI64 = AtomicI64::new(0);
static STREAM_MAXLEN: AtomicI64 = AtomicI64::new(0);
static MAX_MEMORY_PERCENT: AtomicI64 = AtomicI64::new(90);
static ENABLED: AtomicBool = AtomicBool::new(true);

/// server_id used when `cdc.server-id` is 0; derived at load from this Redis instance.
static DEFAULT_SERVER_ID: LazyLock<Mutex<u32>> = LazyLock::new(|| Mutex::new(1));

/// The current configuration, validated (called by the supervisor thread).
fn current_config() -> Result<config::Config, String> {
    let raw = RawConfig {
        mysql_url: MYSQL_URL.get_str(),
        server_id: SERVER_ID.load(Ordering::Relaxed),
        tables: TABLES.get_str(),
        exclude_tables: EXCLUDE_TABLES.get_str(),
        stream_prefix: STREAM_PREFIX.get_str(),
        offset_key: OFFSET_KEY.get_str(),
        snapshot: SNAPSHOT.get_str(),
        stream_maxlen: STREAM_MAXLEN.load(Ordering::Relaxed),
        format: FORMAT.get_str(),
        max_memory_percent: MAX_MEMORY_PERCENT.load(Ordering::Relaxed),
        enabled: ENABLED.load(Ordering::Relaxed),
    };
    let default_id = *DEFAULT_SERVER_ID.lock().unwrap_or_else(|p| p.into_inner());
    raw.build(default_id)
}

fn on_config_changed<T>(_ctx: &ConfigurationContext, _name: &str, _val: &'static T) {
    let _ = catch_unwind(|| supervisor::send(supervisor::Control::ConfigChanged));
}

fn changed<T>() -> Option<Box<dyn Fn(&ConfigurationContext, &str, &'static T)>> {
    Some(Box::new(on_config_changed::<T>))
}

fn init(ctx: &Context, _args: &[RedisString]) -> Status {
    let ok = catch_unwind(AssertUnwindSafe(|| {
        logging::setup(ctx);
        logging::install_panic_hook();
        *DEFAULT_SERVER_ID.lock().unwrap_or_else(|p| p.into_inner()) = default_server_id(ctx);
        log::info!("redis-cdc {VERSION} loaded");
        supervisor::start(current_config);
    }));
    if ok.is_ok() {
        Status::Ok
    } else {
        Status::Err
    }
}

/// A stable id from this instance's host name and port (SPEC §1 `cdc.server-id` 0).
fn default_server_id(ctx: &Context) -> u32 {
    let port = ctx
        .call("CONFIG", &["GET", "port"])
        .ok()
        .and_then(|v| match v {
            redis_module::RedisValue::Array(a) => a.into_iter().nth(1),
            _ => None,
        })
        .and_then(|v| match v {
            redis_module::RedisValue::BulkString(s) | redis_module::RedisValue::SimpleString(s) => s.parse().ok(),
            redis_module::RedisValue::BulkRedisString(s) => s.to_string_lossy().parse().ok(),
            _ => None,
        })
        .unwrap_or(6379u16);
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    config::derive_server_id(host.trim(), port)
}

fn deinit(_ctx: &Context) -> Status {
    // Unload runs holding the Redis lock: our threads only ever try-lock, so they can finish.
    let stopped = catch_unwind(|| supervisor::shutdown(std::time::Duration::from_secs(10))).unwrap_or(false);
    if stopped {
        Status::Ok
    } else {
        log::warn!("unload refused: the cdc threads did not stop in time; try again");
        Status::Err
    }
}

fn info(ctx: &InfoContext, _for_crash_report: bool) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let mut section = ctx.builder().add_section("stats");
        for (name, value) in STATUS.fields() {
            section = match value {
                StatusValue::Str(s) => section.field(name, s.replace(['\r', '\n'], " ")),
                StatusValue::Int(i) => section.field(name, i as i64),
                StatusValue::List(items) => section.field(name, items.len() as i64),
            }
            .unwrap_or_else(|_| ctx.builder().add_section("error"));
        }
        if let Ok(s) = section.field("state_code", STATUS.state().code() as i64) {
            let _ = s
                .field("errors", STATUS.errors.load(Ordering::Relaxed) as i64)
                .and_then(|s| s.field("bytes_read", STATUS.bytes_read.load(Ordering::Relaxed) as i64))
                .and_then(|s| s.field("max_lock_us", STATUS.max_lock_us.load(Ordering::Relaxed) as i64))
                .and_then(|s| s.build_section())
                .and_then(|b| b.build_info());
        }
    }));
}

fn cmd_status(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    commands::guarded(ctx, args, commands::status)
}
fn cmd_pause(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    commands::guarded(ctx, args, commands::pause)
}
fn cmd_resume(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    commands::guarded(ctx, args, commands::resume)
}
fn cmd_tables(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    commands::guarded(ctx, args, commands::tables)
}

redis_module! {
    name: "cdc",
    version: 1,
    // The system allocator: the reader's allocations are off Redis's accounting and ~30%
    // faster than going through zmalloc (notes §4); Redis memory is still watched for
    // back-pressure through `used_memory`.
    allocator: (std::alloc::System, std::alloc::System),
    data_types: [],
    init: init,
    deinit: deinit,
    info: info,
    commands: [
        // name, handler, flags, first key, last key, key step, ACL categories
        ["cdc.status", cmd_status, "readonly fast", 0, 0, 0, ""],
        ["cdc.tables", cmd_tables, "readonly", 0, 0, 0, ""],
        ["cdc.pause", cmd_pause, "admin", 0, 0, 0, ""],
        ["cdc.resume", cmd_resume, "admin", 0, 0, 0, ""],
    ],
    configurations: [
        i64: [
            ["server-id", &SERVER_ID, 0, 0, 4_294_967_295, ConfigurationFlags::DEFAULT, changed()],
            ["stream-maxlen", &STREAM_MAXLEN, 0, 0, i64::MAX, ConfigurationFlags::DEFAULT, changed()],
            ["max-memory-percent", &MAX_MEMORY_PERCENT, 90, 1, 100, ConfigurationFlags::DEFAULT, changed()],
        ],
        string: [
            ["mysql-url", &MYSQL_URL, "", ConfigurationFlags::SENSITIVE, changed()],
            ["tables", &TABLES, "*.*", ConfigurationFlags::DEFAULT, changed()],
            ["exclude-tables", &EXCLUDE_TABLES, "", ConfigurationFlags::DEFAULT, changed()],
            ["stream-prefix", &STREAM_PREFIX, "cdc:", ConfigurationFlags::DEFAULT, changed()],
            ["offset-key", &OFFSET_KEY, "cdc:offset", ConfigurationFlags::DEFAULT, changed()],
            ["snapshot", &SNAPSHOT, "initial", ConfigurationFlags::DEFAULT, changed()],
            ["format", &FORMAT, "flat", ConfigurationFlags::DEFAULT, changed()],
        ],
        bool: [
            ["enabled", &ENABLED, true, ConfigurationFlags::DEFAULT, changed()],
        ],
        enum: [],
        module_args_as_configuration: true,
    ]
}

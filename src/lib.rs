//! redis-cdc: a Redis module that streams MySQL/MariaDB row changes into Redis Streams.
//!
//! This file is glue only: the module's name, its command table, its configs, INFO, the
//! logger and the panic hook. The pipeline lives in `supervisor`, `source`, `sink`.

pub mod commands;
pub mod config;
pub mod error;
mod logging;
mod redact;
pub mod redis_lock;
pub mod sink;
pub mod source;
pub mod state_event;
pub mod status;
pub mod stream_writer;
pub mod supervisor;

use crate::config::{RawConfig, SourceUrl};
use crate::status::{StatusValue, STATUS};
use redis_cdc_core::filter::TableFilter;
use redis_cdc_core::format;
use redis_module::configuration::{ConfigurationContext, ConfigurationFlags, ConfigurationValue};
use redis_module::{
    redis_module, AclCategory, Context, InfoContext, RedisError, RedisResult, RedisString, Status,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{LazyLock, Mutex};

pub use redis_cdc_core::VERSION;

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
            let s = val
                .try_as_str()
                .map_err(|_| "value is not UTF-8".to_string())?;
            let s = redact::resolve(s)?;
            check(&s)?;
            Ok::<_, String>(s)
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
    SourceUrl::parse(s.trim())
        .map(|_| ())
        .map_err(|e| format!("cdc.mysql-url: {e}"))
}
fn check_tables(s: &str) -> Result<(), String> {
    TableFilter::new(s, "")
        .map(|_| ())
        .map_err(|e| format!("cdc.tables: {e}"))
}
fn check_exclude(s: &str) -> Result<(), String> {
    TableFilter::new("", s)
        .map(|_| ())
        .map_err(|e| format!("cdc.exclude-tables: {e}"))
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
    config::SnapshotMode::parse(s)
        .map(|_| ())
        .map_err(|e| format!("cdc.snapshot: {e}"))
}
fn check_format(s: &str) -> Result<(), String> {
    format::Format::parse(s)
        .map(|_| ())
        .map_err(|e| format!("cdc.format: {e}"))
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
    // The Debezium layouts name the logical server after the stream prefix (format/debezium.rs).
    format::debezium::set_stream_prefix(&STREAM_PREFIX.get_str());
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

/// The on-changed callback every `cdc.*` config registers.
type OnChanged<T> = Box<dyn Fn(&ConfigurationContext, &str, &'static T)>;

fn changed<T>() -> Option<OnChanged<T>> {
    Some(Box::new(on_config_changed::<T>))
}

fn init(ctx: &Context, _args: &[RedisString]) -> Status {
    let ok = catch_unwind(AssertUnwindSafe(|| {
        logging::setup(ctx);
        logging::install_panic_hook();
        *DEFAULT_SERVER_ID.lock().unwrap_or_else(|p| p.into_inner()) = default_server_id(ctx);
        let documented = commands::set_command_docs(ctx);
        redact::register(ctx.ctx);
        log::info!("redis-cdc {VERSION} loaded ({documented} commands documented)");
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
    let port =
        ctx.call("CONFIG", &["GET", "port"])
            .ok()
            .and_then(|v| match v {
                redis_module::RedisValue::Array(a) => a.into_iter().nth(1),
                _ => None,
            })
            .and_then(|v| match v {
                redis_module::RedisValue::BulkString(s)
                | redis_module::RedisValue::SimpleString(s) => s.parse().ok(),
                redis_module::RedisValue::BulkRedisString(s) => s.to_string_lossy().parse().ok(),
                _ => None,
            })
            .unwrap_or(6379u16);
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    config::derive_server_id(host.trim(), port)
}

fn deinit(_ctx: &Context) -> Status {
    // Unload runs holding the Redis lock: our threads only ever try-lock, so they can finish.
    let stopped =
        catch_unwind(|| supervisor::shutdown(std::time::Duration::from_secs(10))).unwrap_or(false);
    if stopped {
        Status::Ok
    } else {
        log::warn!("unload refused: the cdc threads did not stop in time; try again");
        Status::Err
    }
}

/// `INFO cdc`: the numbers of CDC.STATUS for monitoring (redis_exporter, Prometheus). Redis
/// prefixes a module's section and fields with the module name, so the empty section name shows
/// as `# cdc` and the fields as `cdc_<name>`.
fn info(ctx: &InfoContext, _for_crash_report: bool) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let fields = info_fields();
        let mut section = ctx.builder().add_section("");
        for (name, value) in fields {
            section = match match value {
                InfoValue::Str(s) => section.field(&name, s),
                InfoValue::Int(i) => section.field(&name, i),
            } {
                Ok(s) => s,
                Err(_) => return,
            };
        }
        let _ = section.build_section().and_then(|b| b.build_info());
    }));
}

enum InfoValue {
    Str(String),
    Int(i64),
}

/// The INFO fields: CDC.STATUS's list (one source of truth), with the state also as a number,
/// snapshot progress as totals, and the counters CDC.STATUS does not show.
fn info_fields() -> Vec<(String, InfoValue)> {
    let mut out = Vec::new();
    for (name, value) in STATUS.fields() {
        match value {
            // INFO is line-oriented and clients split values on ',' and '=': keep text flat.
            StatusValue::Str(s) => out.push((
                name.to_string(),
                InfoValue::Str(s.replace(['\r', '\n'], " ").replace(',', ";")),
            )),
            StatusValue::Int(i) => out.push((
                name.to_string(),
                InfoValue::Int(i.min(i64::MAX as u64) as i64),
            )),
            StatusValue::List(items) => {
                let sum = |field: &str| -> i64 {
                    items
                        .iter()
                        .flat_map(|rec| rec.iter())
                        .filter(|(k, _)| *k == field)
                        .map(|(_, v)| {
                            if let StatusValue::Int(i) = v {
                                *i as i64
                            } else {
                                0
                            }
                        })
                        .sum()
                };
                out.push((format!("{name}_tables"), InfoValue::Int(items.len() as i64)));
                out.push((
                    format!("{name}_rows_done"),
                    InfoValue::Int(sum("rows_done")),
                ));
                out.push((
                    format!("{name}_rows_estimated"),
                    InfoValue::Int(sum("rows_estimated")),
                ));
            }
        }
        if name == "state" {
            out.push((
                "state_code".into(),
                InfoValue::Int(STATUS.state().code() as i64),
            ));
        }
    }
    let counter =
        |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed).min(i64::MAX as u64) as i64;
    out.push(("errors".into(), InfoValue::Int(counter(&STATUS.errors))));
    out.push((
        "bytes_read".into(),
        InfoValue::Int(counter(&STATUS.bytes_read)),
    ));
    for (name, value) in [
        ("max_lock_us", &STATUS.max_lock_us),
        ("max_lock_cpu_us", &STATUS.max_lock_cpu_us),
        ("lock_holds", &STATUS.lock_holds),
        ("lock_holds_over_2ms", &STATUS.lock_holds_over_2ms),
        ("lock_held_us", &STATUS.lock_held_us),
        ("lock_wait_us", &STATUS.lock_wait_us),
        ("writer_idle_us", &STATUS.writer_idle_us),
    ] {
        out.push((name.into(), InfoValue::Int(counter(value))));
    }
    out
}

fn cmd_status(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    commands::guarded(ctx, args, commands::status)
}
fn cmd_pause(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    commands::guarded_admin(ctx, args, "cdc.pause", commands::pause)
}
fn cmd_resume(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    commands::guarded_admin(ctx, args, "cdc.resume", commands::resume)
}
fn cmd_tables(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    commands::guarded(ctx, args, commands::tables)
}
fn cmd_resync(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    commands::guarded_admin(ctx, args, "cdc.resync", commands::resync)
}

redis_module! {
    name: "cdc",
    version: 1,
    // The system allocator: the reader's allocations are off Redis's accounting and ~30%
    // faster than going through zmalloc (notes §4); Redis memory is still watched for
    // back-pressure through `used_memory`.
    allocator: (std::alloc::System, std::alloc::System),
    data_types: [],
    // ACL categories: the module's own @cdc needs Redis 7.4 (RM_AddACLCategory; older servers
    // log "does not support adding new ACL categories"). Per-command categories (@read /
    // @admin, + @cdc) are set by `commands::set_command_docs` on Redis 7.2+; Redis 7.0 gives
    // module commands none (a mandatory category here would make the load fail), so there the
    // control commands check the caller themselves (`commands::guarded_admin`). Either way a
    // user with `-@admin` can run CDC.STATUS/TABLES and not CDC.PAUSE/RESUME/RESYNC.
    acl_categories: [
        "cdc",
    ],
    init: init,
    deinit: deinit,
    info: info,
    // The whole command surface. COMMAND DOCS text: `commands::DOCS`.
    commands: [
        // name, handler, flags, first key, last key, key step (no command takes keys),
        // ACL categories (none here: see above)
        ["cdc.status", cmd_status, "readonly fast allow-loading allow-stale", 0, 0, 0, ""],
        ["cdc.tables", cmd_tables, "readonly allow-loading allow-stale", 0, 0, 0, ""],
        ["cdc.pause", cmd_pause, "admin fast", 0, 0, 0, ""],
        ["cdc.resume", cmd_resume, "admin fast", 0, 0, 0, ""],
        ["cdc.resync", cmd_resync, "admin", 0, 0, 0, ""],
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

//! redis-cdc: a Redis module that streams MySQL/MariaDB row changes into Redis Streams.
//!
//! This file is the module's shell only: its name, its configs, load and unload, INFO. The
//! commands are the table in `commands`; the configs and their parsers are in `config`; INFO is
//! rendered by `status`; the pipeline lives in `supervisor`, `source`, `sink`.

pub mod commands;
pub mod config;
pub mod error;
mod ffi;
mod logging;
mod redact;
pub mod sink;
pub mod source;
pub mod state_event;
pub mod status;
pub mod supervisor;

use crate::config::{
    Choice, ENABLED, EXCLUDE_COLUMNS, EXCLUDE_TABLES, FORMAT, MASK_COLUMNS, MASK_SALT,
    MAX_MEMORY_PERCENT, MYSQL_URL, OFFSET_KEY, SCHEMA_CHANGES, SERVER_ID, SNAPSHOT, STREAM_MAXLEN,
    STREAM_PREFIX, TABLES,
};
use redis_cdc_core::format::Format;
use redis_module::configuration::{ConfigurationContext, ConfigurationFlags};
use redis_module::{
    redis_module, AclCategory, Context, InfoContext, RedisResult, RedisString, Status,
};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub use redis_cdc_core::VERSION;

fn on_config_changed<T>(_ctx: &ConfigurationContext, _name: &str, _val: &'static T) {
    let _ = catch_unwind(|| supervisor::send(supervisor::Control::ConfigChanged));
}

/// The on-changed callback every `cdc.*` config registers.
type OnChanged<T> = Box<dyn Fn(&ConfigurationContext, &str, &'static T)>;

fn changed<T>() -> Option<OnChanged<T>> {
    Some(Box::new(on_config_changed::<T>))
}

fn init(ctx: &Context, args: &[RedisString]) -> Status {
    let ok = catch_unwind(AssertUnwindSafe(|| {
        logging::setup(ctx);
        logging::install_panic_hook();
        let args: Vec<String> = args.iter().map(|a| a.to_string_lossy()).collect();
        if let Err(e) = config::check_module_args(&args) {
            ctx.log_warning(&format!("<cdc> not loaded: {e}"));
            return false;
        }
        config::set_default_server_id(ctx);
        let documented = match commands::register(ctx) {
            Ok(n) => n,
            Err(e) => {
                ctx.log_warning(&format!("Error: {e}"));
                return false;
            }
        };
        redact::register(ctx);
        log::info!("redis-cdc {VERSION} loaded ({documented} commands documented)");
        supervisor::start(config::current);
        true
    }));
    if ok.unwrap_or(false) {
        Status::Ok
    } else {
        Status::Err
    }
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

/// `INFO cdc`: the fields `status` renders for monitoring (redis_exporter, Prometheus), as
/// section `# cdc` with fields `cdc_<name>`.
fn info(ctx: &InfoContext, _for_crash_report: bool) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        ffi::info::add_section(ctx, &status::info_fields())
    }));
}

redis_module! {
    name: "cdc",
    version: 1,
    // The system allocator: the reader's allocations are off Redis's accounting and ~30%
    // faster than going through zmalloc (measured); Redis memory is still watched for
    // back-pressure through `used_memory`.
    allocator: (std::alloc::System, std::alloc::System),
    data_types: [],
    // ACL categories: the module's own @cdc needs Redis 7.4 (RM_AddACLCategory; older servers
    // log "does not support adding new ACL categories"). Per-command categories (@read /
    // @admin, + @cdc) are set from the command table on Redis 7.2+; Redis 7.0 gives module
    // commands none, so there the control commands check the caller themselves. Either way a
    // user with `-@admin` can run CDC.STATUS/TABLES and not CDC.PAUSE/RESUME/RESYNC.
    acl_categories: [
        "cdc",
    ],
    init: init,
    deinit: deinit,
    info: info,
    // The commands are registered by `init` from `commands::COMMANDS` (the crate's
    // `#[command]` attribute needs Redis 7.2's API and would fail the load on 7.0).
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
            ["exclude-columns", &EXCLUDE_COLUMNS, "", ConfigurationFlags::DEFAULT, changed()],
            ["mask-columns", &MASK_COLUMNS, "", ConfigurationFlags::DEFAULT, changed()],
            ["mask-salt", &MASK_SALT, "", ConfigurationFlags::SENSITIVE, changed()],
        ],
        bool: [
            ["enabled", &ENABLED, true, ConfigurationFlags::DEFAULT, changed()],
            ["schema-changes", &SCHEMA_CHANGES, true, ConfigurationFlags::DEFAULT, changed()],
        ],
        enum: [
            ["snapshot", &SNAPSHOT, Choice(config::SnapshotMode::Initial), ConfigurationFlags::DEFAULT, changed()],
            ["format", &FORMAT, Choice(Format::Flat), ConfigurationFlags::DEFAULT, changed()],
        ],
        module_args_as_configuration: true,
    ]
}

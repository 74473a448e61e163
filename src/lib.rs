//! redis-cdc: a Redis module that streams MySQL/MariaDB row changes into Redis Streams.
//!
//! This file is the module's shell only: its name, its configs, load and unload, INFO. The
//! commands are the table in `commands`; the configs and their parsers are in `config`; INFO is
//! rendered by `status`; the pipeline lives in `supervisor`, `source`, `sink`.

pub mod cluster;
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
pub mod tls;
pub mod wait;

use crate::config::{
    Choice, ModuleArgs, ENABLED, EXCLUDE_COLUMNS, EXCLUDE_TABLES, FORMAT, MASK_COLUMNS, MASK_SALT,
    MAX_MEMORY_PERCENT, MIRROR, MIRROR_PREFIX, MYSQL_URL, OFFSET_KEY, SCHEMA_CHANGES, SERVER_ID,
    SNAPSHOT, STREAMS, STREAM_MAXLEN, STREAM_PREFIX, TABLES,
};
use crate::ffi::module::LoadArgs;
use redis_cdc_core::format::mirror::MirrorMode;
use redis_cdc_core::format::Format;
use redis_module::configuration::{
    register_bool_configuration, register_enum_configuration, register_i64_configuration,
    register_string_configuration, ConfigurationContext, ConfigurationFlags,
};
use redis_module::{Context, InfoContext, Status};
use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub use redis_cdc_core::VERSION;

/// The module's name (its configs are `cdc.<name>`, its INFO section `# cdc`) and version, as
/// `RedisModule_Init` takes them (ffi/module.rs holds the entry points).
pub(crate) const MODULE_NAME: &CStr = c"cdc";
pub(crate) const MODULE_VERSION: i32 = 1;

/// The system allocator: the reader's allocations are off Redis's accounting and ~30% faster
/// than going through zmalloc (measured); Redis memory is still watched for back-pressure
/// through `used_memory` (docs/internals.md, "The system allocator").
#[global_allocator]
static ALLOCATOR: std::alloc::System = std::alloc::System;

fn on_config_changed<T>(_ctx: &ConfigurationContext, _name: &str, _val: &'static T) {
    let _ = catch_unwind(|| supervisor::send(supervisor::Control::ConfigChanged));
}

/// The on-changed callback every `cdc.*` config registers.
type OnChanged<T> = Box<dyn Fn(&ConfigurationContext, &str, &'static T)>;

fn changed<T>() -> Option<OnChanged<T>> {
    Some(Box::new(on_config_changed::<T>))
}

/// The `cdc.*` configs, one row each: name (without the `cdc.` prefix: also its load-argument
/// name), variable, default, (min, max,) flags, on-changed callback. Expands to
/// `CONFIG_NAMES` and `register_configs`, which registers each with its load argument, if
/// any, as its default (`config::ModuleArgs`). Names listed in `redact::SENSITIVE` are
/// registered SENSITIVE whatever their row says.
macro_rules! configs {
    (
        i64: [$([$in:expr, $iv:expr, $id:expr, $imin:expr, $imax:expr, $if:expr, $ic:expr]),* $(,)?],
        string: [$([$sn:expr, $sv:expr, $sd:expr, $sf:expr, $sc:expr]),* $(,)?],
        bool: [$([$bn:expr, $bv:expr, $bd:expr, $bf:expr, $bc:expr]),* $(,)?],
        enum: [$([$en:expr, $ev:expr, $ed:expr, $ef:expr, $ec:expr]),* $(,)?] $(,)?
    ) => {
        /// Every config's name, without the `cdc.` prefix.
        const CONFIG_NAMES: &[&str] = &[$($in,)* $($sn,)* $($bn,)* $($en,)*];

        /// Register every config (OnLoad, before `RM_LoadConfigs`).
        fn register_configs(ctx: &Context, args: &ModuleArgs) -> Result<(), String> {
            $(
                let d = args.i64_default($in, $id)?;
                register_i64_configuration(ctx, $in, $iv, d, $imin, $imax, config_flags($in, $if), $ic);
            )*
            $(
                let d = args.string_default($sn, $sd);
                register_string_configuration(ctx, $sn, $sv, &d, config_flags($sn, $sf), $sc);
            )*
            $(
                let d = args.bool_default($bn, $bd)?;
                register_bool_configuration(ctx, $bn, $bv, d, config_flags($bn, $bf), $bc);
            )*
            $(
                let d = args.enum_default($en, $ed)?;
                register_enum_configuration(ctx, $en, $ev, d, config_flags($en, $ef), $ec);
            )*
            Ok(())
        }
    };
}

/// The flags of a config of the table: `SENSITIVE` added for the names of `redact::SENSITIVE`.
fn config_flags(name: &str, flags: ConfigurationFlags) -> ConfigurationFlags {
    if redact::is_sensitive(name) {
        flags | ConfigurationFlags::SENSITIVE
    } else {
        flags
    }
}

configs! {
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
        ["mirror-prefix", &MIRROR_PREFIX, "", ConfigurationFlags::DEFAULT, changed()],
        ["exclude-columns", &EXCLUDE_COLUMNS, "", ConfigurationFlags::DEFAULT, changed()],
        ["mask-columns", &MASK_COLUMNS, "", ConfigurationFlags::DEFAULT, changed()],
        ["mask-salt", &MASK_SALT, "", ConfigurationFlags::SENSITIVE, changed()],
    ],
    bool: [
        ["enabled", &ENABLED, true, ConfigurationFlags::DEFAULT, changed()],
        ["schema-changes", &SCHEMA_CHANGES, true, ConfigurationFlags::DEFAULT, changed()],
        ["streams", &STREAMS, true, ConfigurationFlags::DEFAULT, changed()],
    ],
    enum: [
        ["snapshot", &SNAPSHOT, Choice(config::SnapshotMode::Initial), ConfigurationFlags::DEFAULT, changed()],
        ["format", &FORMAT, Choice(Format::Flat), ConfigurationFlags::DEFAULT, changed()],
        ["mirror", &MIRROR, Choice(MirrorMode::Off), ConfigurationFlags::DEFAULT, changed()],
    ],
}

fn add_acl_category(ctx: &Context) {
    use ffi::acl::CategoryAdded;
    match ffi::acl::add_category(ctx, c"cdc") {
        CategoryAdded::Added | CategoryAdded::Existed => {}
        CategoryAdded::Unsupported => {
            ctx.log_notice("Warning: Redis version does not support adding new ACL categories")
        }
        CategoryAdded::Failed(errno) => ctx.log_warning(&format!(
            "could not add the ACL category @cdc (errno {errno}); the commands keep @read/@admin"
        )),
    }
}

/// OnLoad (called by the entry point in ffi/module.rs): hide the sensitive load arguments,
/// register the configs and load their values, then the commands, the filter and the
/// pipeline. Any failure fails the load with a line in the Redis log.
pub(crate) fn load(ctx: &Context, args: &mut LoadArgs) -> Status {
    logging::setup(ctx);
    logging::install_panic_hook();
    let fail = |e: &str| {
        ctx.log_warning(&format!("not loaded: {e}"));
        Status::Err
    };
    // First of all, before anything can log or show them.
    let args = match redact::load_args(args).and_then(|a| ModuleArgs::parse(&a, CONFIG_NAMES)) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    if let Err(e) = ffi::module::register_crate_handlers(ctx) {
        return fail(&e);
    }
    // ACL categories: the module's own @cdc needs Redis 7.4 (RM_AddACLCategory; older servers
    // log "does not support adding new ACL categories"). Per-command categories (@read /
    // @admin, + @cdc) are set from the command table on Redis 7.2+; Redis 7.0 gives module
    // commands none, so there the control commands check the caller themselves. Either way a
    // user with `-@admin` can run CDC.STATUS/TABLES and not CDC.PAUSE/RESUME/RESYNC.
    // Added by the module itself, so that a category left by an earlier load (Redis 7.4+ and
    // Valkey keep it after MODULE UNLOAD) does not fail this one (docs/internals.md).
    add_acl_category(ctx);
    if let Err(e) = register_configs(ctx, &args) {
        return fail(&e);
    }
    let loaded = ffi::module::load_configs(ctx);
    redact::forget_load_defaults();
    if !loaded {
        return fail("a cdc.* value was refused (the line above names it)");
    }
    for name in args.marked() {
        if config_is_empty(ctx, name) {
            log::warn!(
                "the load argument {name} is {}, which stands for a value given elsewhere (CONFIG REWRITE writes it on its own cdc.{name} line), and cdc.{name} is empty (no such line, or an empty one): set it in redis.conf or with CONFIG SET",
                redact::MARKER
            );
        }
    }
    if let Err(e) = ffi::module::register_info_and_events(ctx) {
        return fail(&e);
    }
    init(ctx)
}

/// True when CONFIG GET returns an empty value for `cdc.<name>`.
fn config_is_empty(ctx: &Context, name: &str) -> bool {
    use redis_module::RedisValue;
    let full = format!("cdc.{name}");
    match ctx.call("CONFIG", &["GET", &full]) {
        Ok(RedisValue::Array(a)) => match a.get(1) {
            Some(RedisValue::BulkString(s) | RedisValue::SimpleString(s)) => s.is_empty(),
            Some(RedisValue::BulkRedisString(s)) => s.as_slice().is_empty(),
            Some(RedisValue::StringBuffer(s)) => s.is_empty(),
            _ => false,
        },
        _ => false,
    }
}

fn init(ctx: &Context) -> Status {
    cluster::detect(ctx);
    config::set_default_server_id(ctx);
    let documented = match commands::register(ctx) {
        Ok(n) => n,
        Err(e) => {
            ctx.log_warning(&format!("Error: {e}"));
            return Status::Err;
        }
    };
    redact::register(ctx);
    wait::register(ctx);
    log::info!("redis-cdc {VERSION} loaded ({documented} commands documented)");
    supervisor::start(config::current);
    Status::Ok
}

/// OnUnload.
pub(crate) fn unload(_ctx: &Context) -> Status {
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
pub(crate) fn info(ctx: &InfoContext, _for_crash_report: bool) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        ffi::info::add_section(ctx, &status::info_fields())
    }));
}

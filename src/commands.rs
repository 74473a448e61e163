//! The CDC.* commands: one table ([`COMMANDS`]) gives each its name, handler, flags, arity,
//! ACL category and `COMMAND DOCS` text, and drives both their registration and their docs
//! ([`register`]). Each handler's usage is in its doc comment. Replies are RESP3 maps, which
//! Redis turns into flat field/value arrays for RESP2 clients. Commands and their errors are
//! described for users in docs/commands.md.

use crate::ffi::commands::{ArgInfo, CommandInfo, Dispatch};
use crate::ffi::{self};
use crate::status::{StatusValue, STATUS};
use crate::supervisor::{self, Control};
use redis_cdc_core::model::name::{plain_name, split_table};
use redis_module::{Context, RedisError, RedisResult, RedisString, RedisValue};
use std::ffi::{CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The command errors users see, in one place.
pub mod errors {
    use redis_module::RedisError;

    pub fn wrong_arity() -> RedisError {
        RedisError::WrongArity
    }

    pub fn not_running() -> RedisError {
        RedisError::Str("ERR the cdc supervisor is not running (see the Redis log)")
    }

    pub fn internal() -> RedisError {
        RedisError::Str("ERR internal error in the cdc module (see the Redis log)")
    }

    /// A bad argument, as Redis users expect it.
    pub fn bad_arg(msg: String) -> RedisError {
        RedisError::String(format!("ERR {msg}"))
    }

    /// The caller may not run `command` (Redis's own wording).
    pub fn no_permission(command: &str) -> RedisError {
        RedisError::String(format!(
            "NOPERM this user has no permissions to run the '{command}' command"
        ))
    }
}

/// A command of the module: everything Redis and its clients know about it. No command takes
/// keys (first key, last key and step are 0).
pub struct Command {
    pub name: &'static str,
    pub handler: fn(&Context, Vec<RedisString>) -> RedisResult,
    /// Redis command flags.
    pub flags: &'static str,
    /// Arity including the name; negative means "at least".
    pub arity: i32,
    /// ACL category, set where Redis can (7.2+), with `cdc` where Redis knows it (7.4+). On
    /// 7.0/7.1 an `admin` command checks its caller itself ([`require_admin`]).
    pub acl: &'static str,
    pub summary: &'static CStr,
    pub complexity: &'static CStr,
    /// Space-separated command tips for clients and proxies.
    pub tips: &'static CStr,
    pub args: &'static [ArgInfo],
}

/// The whole command surface of the module.
pub const COMMANDS: &[Command] = &[
    Command {
        name: "cdc.status",
        handler: status,
        flags: "readonly fast allow-loading allow-stale",
        arity: 1,
        acl: "read",
        summary: c"Returns the state of the MySQL change stream: state, source, position, gtid, lag, counters, snapshot progress, last error.",
        complexity: c"O(N) where N is the number of tables being snapshotted",
        tips: c"nondeterministic_output",
        args: &[],
    },
    Command {
        name: "cdc.tables",
        handler: tables,
        flags: "readonly allow-loading allow-stale",
        arity: 1,
        acl: "read",
        summary: c"Returns each captured table with its stream key, entries written and last change time.",
        complexity: c"O(N) where N is the number of captured tables",
        tips: c"nondeterministic_output",
        args: &[],
    },
    Command {
        name: "cdc.pause",
        handler: pause,
        flags: "admin fast",
        arity: 1,
        acl: "admin",
        summary: c"Stops reading the MySQL binlog; the position is kept.",
        complexity: c"O(1)",
        tips: c"",
        args: &[],
    },
    Command {
        name: "cdc.resume",
        handler: resume,
        flags: "admin fast",
        arity: 1,
        acl: "admin",
        summary: c"Resumes reading the MySQL binlog from the stored position.",
        complexity: c"O(1)",
        tips: c"",
        args: &[],
    },
    Command {
        name: "cdc.resync",
        handler: resync,
        flags: "admin",
        arity: -1,
        acl: "admin",
        summary: c"Re-snapshots the named tables (all captured tables when none is named) while streaming goes on.",
        complexity: c"O(1) to start; the snapshot reads every row of the tables in the background",
        tips: c"",
        args: &[ArgInfo {
            name: c"table",
            summary: c"a captured table as db.table",
            optional: true,
            multiple: true,
        }],
    },
    Command {
        name: "cdc.cluster",
        handler: cluster,
        flags: "readonly allow-stale",
        arity: 1,
        acl: "read",
        summary: c"Redis Cluster: returns each captured table with its hash slot and the primary that streams it.",
        complexity: c"O(N) where N is the number of captured tables",
        tips: c"nondeterministic_output",
        args: &[],
    },
    Command {
        name: "cdc.wait",
        handler: crate::wait::command,
        flags: "readonly deny-script blocking allow-stale",
        arity: -2,
        acl: "read",
        summary: c"Blocks the calling client until the module has written everything up to a MySQL GTID set, a MariaDB GTID position or a FILE:OFFSET binlog position; replies with the position reached.",
        complexity: c"O(1)",
        tips: c"nondeterministic_output",
        args: &[
            ArgInfo {
                name: c"position",
                summary: c"uuid:1-42 (MySQL), 0-1-42 (MariaDB) or FILE:OFFSET",
                optional: false,
                multiple: false,
            },
            ArgInfo {
                name: c"timeout-ms",
                summary: c"0 (the default) waits forever",
                optional: true,
                multiple: false,
            },
        ],
    },
];

const _: () = assert!(COMMANDS.len() <= ffi::commands::MAX_COMMANDS);

/// Register every command of [`COMMANDS`] with its docs and ACL categories (OnLoad). Returns
/// the commands documented (0 where Redis lacks `COMMAND DOCS` for modules, before 7.0).
pub fn register(ctx: &Context) -> Result<usize, String> {
    for (i, c) in COMMANDS.iter().enumerate() {
        ffi::commands::create_command::<Table>(ctx, i, c.name, c.flags)?;
    }
    let since = CString::new(crate::VERSION).unwrap_or_default();
    let mut documented = 0;
    for c in COMMANDS {
        set_acl_categories(ctx, c);
        let info = CommandInfo {
            summary: c.summary,
            complexity: c.complexity,
            since: &since,
            tips: c.tips,
            arity: c.arity,
            args: c.args,
        };
        match ffi::commands::set_command_info(ctx, c.name, &info) {
            Some(true) => documented += 1,
            Some(false) => {
                ctx.log_warning(&format!("cdc: could not set COMMAND DOCS for {}", c.name))
            }
            None => {}
        }
    }
    Ok(documented)
}

/// Runs the commands of [`COMMANDS`] for the FFI layer.
struct Table;

impl Dispatch for Table {
    /// Run a handler, checking the caller of a control command on Redis 7.0/7.1, and turning a
    /// panic into an error reply (no unwind may cross into Redis).
    fn dispatch(index: usize, ctx: &Context, args: Vec<RedisString>) -> RedisResult {
        let Some(c) = COMMANDS.get(index) else {
            return Err(errors::internal());
        };
        catch_unwind(AssertUnwindSafe(|| {
            if c.acl == "admin" {
                require_admin(ctx, c.name)?;
            }
            (c.handler)(ctx, args)
        }))
        .unwrap_or_else(|_| Err(errors::internal()))
    }
}

/// Give a command its ACL categories where Redis can (7.2+): `<acl> cdc`, or `<acl>` alone
/// where the `cdc` category does not exist (before 7.4).
fn set_acl_categories(ctx: &Context, c: &Command) {
    if !ffi::acl::has_command_categories() {
        return;
    }
    let ok = ffi::acl::set_command_categories(ctx, c.name, &format!("{} cdc", c.acl))
        || ffi::acl::set_command_categories(ctx, c.name, c.acl);
    if !ok {
        ctx.log_warning(&format!(
            "cdc: could not set the ACL categories of {}",
            c.name
        ));
    }
}

/// The ACL rule for control commands on Redis 7.0/7.1.
///
/// From Redis 7.2 the command table gives CDC.PAUSE/RESUME/RESYNC the `@admin` category and
/// Redis enforces it before we run. Redis 7.0 gives module commands no ACL categories at all
/// (`RM_SetCommandACLCategories` is 7.2+), so a user with `+@all -@admin` could pause the stream.
/// There we require what such a user lacks and an operator has: permission to run
/// `CONFIG SET cdc.enabled` (pausing is that setting's little brother).
fn require_admin(ctx: &Context, name: &str) -> Result<(), RedisError> {
    if ffi::acl::has_command_categories()
        || ffi::acl::current_user_may_run(ctx, &["CONFIG", "SET", "cdc.enabled", "yes"])
    {
        Ok(())
    } else {
        Err(errors::no_permission(name))
    }
}

/// `CDC.STATUS` — state, source, position, gtid, lag_ms, events, transactions, tables,
/// snapshot, last_error, uptime_s.
fn status(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(errors::wrong_arity());
    }
    reply_fields(ctx, &STATUS.fields());
    Ok(RedisValue::NoReply)
}

/// `CDC.PAUSE` — stop reading the binlog; the position is kept.
fn pause(_ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    control(&args, Control::Pause)
}

/// `CDC.RESUME` — resume reading the binlog from the stored position.
fn resume(_ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    control(&args, Control::Resume)
}

/// A control command without arguments: `OK` once the supervisor has the message.
fn control(args: &[RedisString], msg: Control) -> RedisResult {
    if args.len() != 1 {
        return Err(errors::wrong_arity());
    }
    if supervisor::send(msg) {
        Ok(RedisValue::SimpleStringStatic("OK"))
    } else {
        Err(errors::not_running())
    }
}

/// `CDC.RESYNC [db.table ...]` — re-read the named tables (every captured table when none is
/// named) while streaming goes on. Replies `OK` at once, also for tables already being read
/// (they are not started twice: that read gives their current rows); an error naming the
/// tables when one is unknown or not captured.
fn resync(_ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    // Sets, not scans: the work grows linearly with the names given (any number of them).
    let mut named: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for a in args.iter().skip(1) {
        let t = a
            .try_as_str()
            .map_err(|_| errors::bad_arg("table names must be UTF-8".into()))?;
        if seen.insert(t) {
            named.push(t.to_string());
        }
    }
    let filter = crate::config::current().ok().map(|c| c.filter);
    let mut g = STATUS.lock();
    if named.is_empty() {
        named = g.tables.keys().cloned().collect();
        if named.is_empty() {
            return Err(errors::bad_arg(
                "no captured tables to resync (is cdc.mysql-url set and the module streaming?)"
                    .into(),
            ));
        }
    }
    // `shop.eu.orders` as typed names the table listed as `` `shop.eu`.orders `` (a database
    // name with a dot is listed in backticks: docs/commands.md).
    if named.iter().any(|t| !g.tables.contains_key(t)) {
        let quoted: std::collections::HashMap<String, &String> = g
            .tables
            .keys()
            .filter(|k| k.starts_with('`'))
            .map(|k| (plain_name(k), k))
            .collect();
        for t in named.iter_mut() {
            if let Some(k) = quoted.get(t.as_str()).filter(|_| !g.tables.contains_key(t)) {
                *t = k.to_string();
            }
        }
    }
    let excluded: Vec<&str> = named
        .iter()
        .filter(|t| !g.tables.contains_key(*t))
        .filter(|t| match (split_table(t), &filter) {
            (Some((d, n)), Some(f)) => !f.matches(&d, &n),
            _ => false,
        })
        .map(String::as_str)
        .collect();
    if !excluded.is_empty() {
        return Err(errors::bad_arg(format!(
            "table {} is not captured (cdc.tables / cdc.exclude-tables)",
            excluded.join(", ")
        )));
    }
    // Redis Cluster: a captured table of another node's slot is read there.
    let elsewhere: Vec<&str> = named
        .iter()
        .filter(|t| !g.tables.contains_key(*t) && crate::cluster::captured_elsewhere(t))
        .map(String::as_str)
        .collect();
    if !elsewhere.is_empty() {
        return Err(errors::bad_arg(format!(
            "table {} is streamed by another node of the cluster (CDC.CLUSTER says which): run CDC.RESYNC there",
            elsewhere.join(", ")
        )));
    }
    let unknown: Vec<&str> = named
        .iter()
        .filter(|t| !g.tables.contains_key(*t))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(errors::bad_arg(format!(
            "unknown table {}",
            unknown.join(", ")
        )));
    }
    let reading: std::collections::HashSet<&str> =
        g.snapshot.iter().map(|p| p.table.as_str()).collect();
    let (running, fresh): (Vec<String>, Vec<String>) = named
        .into_iter()
        .partition(|t| reading.contains(t.as_str()));
    drop(reading);
    if !running.is_empty() {
        // Not started twice: the read under way (or queued) gives the tables' current rows.
        log::info!(
            "CDC.RESYNC: {} already being re-read; not started twice",
            running.join(", ")
        );
    }
    if fresh.is_empty() {
        return Ok(RedisValue::SimpleStringStatic("OK"));
    }
    for t in &fresh {
        g.snapshot.push(crate::status::SnapshotProgress {
            table: t.clone(),
            rows_done: 0,
            rows_estimated: 0,
        });
    }
    drop(g);
    if !supervisor::send(Control::Resync(fresh)) {
        return Err(errors::not_running());
    }
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// `CDC.TABLES` — for each captured table: table, stream, entries, last_change_ms.
fn tables(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(errors::wrong_arity());
    }
    let mode = crate::config::mirror_mode();
    let counts = mirror_key_counts(ctx);
    let rows: Vec<Vec<(&'static str, StatusValue)>> = STATUS
        .lock()
        .tables
        .iter()
        .map(|(name, t)| {
            let mirror = match t.mirror.as_str() {
                "" => mode.as_str().to_string(),
                m => m.to_string(),
            };
            let mirrored = matches!(mirror.as_str(), "hash" | "json");
            let mut row = vec![
                ("table", StatusValue::Str(name.clone())),
                ("stream", StatusValue::Str(t.stream.clone())),
                ("entries", StatusValue::Int(t.entries)),
                ("last_change_ms", StatusValue::Int(t.last_change_ms)),
                ("mirror", StatusValue::Str(mirror)),
            ];
            if mirrored {
                let n = counts.get(name).copied().unwrap_or(0);
                row.push(("keys", StatusValue::Int(n)));
            }
            row
        })
        .collect();
    ffi::commands::reply_array(ctx, rows.len());
    for r in &rows {
        reply_fields(ctx, r);
    }
    Ok(RedisValue::NoReply)
}

/// `CDC.CLUSTER`: in Redis Cluster mode, one map per captured table: `table`, `slot`, `node`
/// (id of the primary serving the slot), `address` (its `ip:port`), `here` (1 when this node
/// streams it), computed from this node's view of the slot map. An error outside cluster mode.
fn cluster(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(errors::wrong_arity());
    }
    if !crate::cluster::enabled() {
        return Err(RedisError::Str(
            "ERR this Redis is not in cluster mode (cluster-enabled no): CDC.TABLES lists its tables",
        ));
    }
    let rows = crate::cluster::table_map(ctx).map_err(errors::bad_arg)?;
    ffi::commands::reply_array(ctx, rows.len());
    for r in rows {
        reply_fields(
            ctx,
            &[
                ("table", StatusValue::Str(r.table)),
                ("slot", StatusValue::Int(r.slot as u64)),
                ("node", StatusValue::Str(r.node)),
                ("address", StatusValue::Str(r.address)),
                ("here", StatusValue::Int(r.here as u64)),
            ],
        );
    }
    Ok(RedisValue::NoReply)
}

/// The number of mirror keys per table, as the writer keeps it (docs/mirror.md).
fn mirror_key_counts(ctx: &Context) -> std::collections::HashMap<String, u64> {
    let key = crate::sink::mirror_count_key(&crate::cluster::offset_key());
    let Ok(RedisValue::Array(v)) = ctx.call("HGETALL", &[key.as_str()]) else {
        return Default::default();
    };
    let text = |v: &RedisValue| crate::sink::offsets::reply_text(v);
    v.chunks_exact(2)
        .filter_map(|p| {
            let n = match &p[1] {
                RedisValue::Integer(i) => *i,
                other => text(other)?.parse().ok()?,
            };
            Some((text(&p[0])?, u64::try_from(n).unwrap_or(0)))
        })
        .collect()
}

fn reply_fields(ctx: &Context, fields: &[(&'static str, StatusValue)]) {
    ffi::commands::reply_map(ctx, fields.len());
    for (k, v) in fields {
        ctx.reply(Ok(RedisValue::SimpleStringStatic(k)));
        reply_value(ctx, v);
    }
}

fn reply_value(ctx: &Context, v: &StatusValue) {
    match v {
        StatusValue::Str(s) => {
            ctx.reply(Ok(RedisValue::BulkString(s.clone())));
        }
        StatusValue::Int(i) => {
            ctx.reply(Ok(RedisValue::Integer(*i as i64)));
        }
        StatusValue::List(items) => {
            ffi::commands::reply_array(ctx, items.len());
            for item in items {
                reply_fields(ctx, item);
            }
        }
    }
}

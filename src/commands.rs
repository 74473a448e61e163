//! CDC.* commands: argument parsing and replies. Each handler's usage is in its doc comment.
//! Replies are RESP3 maps, which Redis turns into flat field/value arrays for RESP2 clients.

use crate::status::{StatusValue, STATUS};
use crate::supervisor::{self, Control};
use redis_module::{raw, Context, RedisError, RedisResult, RedisString, RedisValue};
use std::ffi::{CStr, CString};
use std::os::raw::{c_int, c_long};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

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
}

/// Run a handler, turning a panic into an error reply (no unwind may cross into Redis).
pub fn guarded(
    ctx: &Context,
    args: Vec<RedisString>,
    f: fn(&Context, Vec<RedisString>) -> RedisResult,
) -> RedisResult {
    catch_unwind(AssertUnwindSafe(|| f(ctx, args))).unwrap_or_else(|_| Err(errors::internal()))
}

/// Run a control command (PAUSE/RESUME/RESYNC) for a caller allowed to control the stream.
pub fn guarded_admin(
    ctx: &Context,
    args: Vec<RedisString>,
    name: &str,
    f: fn(&Context, Vec<RedisString>) -> RedisResult,
) -> RedisResult {
    catch_unwind(AssertUnwindSafe(|| {
        require_admin(ctx, name)?;
        f(ctx, args)
    }))
    .unwrap_or_else(|_| Err(errors::internal()))
}

/// Give a command its ACL categories where Redis can (7.2+): `<acl> cdc`, or `<acl>` alone
/// where the `cdc` category does not exist (before 7.4).
fn set_acl_categories(ctx: &Context, command: *mut raw::RedisModuleCommand, doc: &CommandDoc) {
    // SAFETY: API pointers are written once by RedisModule_Init.
    let Some(set) = (unsafe { raw::RedisModule_SetCommandACLCategories }) else {
        return;
    };
    let with_cdc = CString::new(format!("{} cdc", doc.acl.to_string_lossy())).unwrap_or_default();
    // SAFETY: a command of this module, during OnLoad; the strings outlive the calls.
    let ok = unsafe { set(command, with_cdc.as_ptr()) } == raw::Status::Ok as c_int
        || unsafe { set(command, doc.acl.as_ptr()) } == raw::Status::Ok as c_int;
    if !ok {
        ctx.log_warning(&format!(
            "cdc: could not set the ACL categories of {}",
            doc.name.to_string_lossy()
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
    // SAFETY: the API pointers are written once by RedisModule_Init and never change.
    let (categories, get_name, get_user, check, free_user) = unsafe {
        (
            raw::RedisModule_SetCommandACLCategories,
            raw::RedisModule_GetCurrentUserName,
            raw::RedisModule_GetModuleUserFromUserName,
            raw::RedisModule_ACLCheckCommandPermissions,
            raw::RedisModule_FreeModuleUser,
        )
    };
    if categories.is_some() {
        return Ok(());
    }
    let (Some(get_name), Some(get_user), Some(check), Some(free_user)) =
        (get_name, get_user, check, free_user)
    else {
        return Ok(());
    };
    // SAFETY: ctx is the command's context; the returned string is ours to free (RedisString).
    let user_name = unsafe { get_name(ctx.ctx) };
    if user_name.is_null() {
        // No client user (AOF loading, internal calls): nothing to check.
        return Ok(());
    }
    let user_name = RedisString::from_redis_module_string(ptr::null_mut(), user_name);
    // SAFETY: a valid string; the user is freed below.
    let user = unsafe { get_user(user_name.inner) };
    let denied = || {
        RedisError::String(format!(
            "NOPERM this user has no permissions to run the '{name}' command"
        ))
    };
    if user.is_null() {
        return Err(denied());
    }
    let argv: Vec<RedisString> = ["CONFIG", "SET", "cdc.enabled", "yes"]
        .iter()
        .map(|a| RedisString::create_from_slice(ctx.ctx, a.as_bytes()))
        .collect();
    let mut ptrs: Vec<*mut raw::RedisModuleString> = argv.iter().map(|a| a.inner).collect();
    // SAFETY: user and argv are valid for the call; the user is freed once.
    let allowed =
        unsafe { check(user, ptrs.as_mut_ptr(), ptrs.len() as c_int) } == raw::Status::Ok as c_int;
    unsafe { free_user(user) };
    if allowed {
        Ok(())
    } else {
        Err(denied())
    }
}

/// `CDC.STATUS` — state, source, position, gtid, lag_ms, events, transactions, tables,
/// snapshot, last_error, uptime_s.
pub fn status(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(errors::wrong_arity());
    }
    reply_fields(ctx, &STATUS.fields());
    Ok(RedisValue::NoReply)
}

/// `CDC.PAUSE` — stop reading the binlog; the position is kept.
pub fn pause(_ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(errors::wrong_arity());
    }
    if supervisor::send(Control::Pause) {
        Ok(RedisValue::SimpleStringStatic("OK"))
    } else {
        Err(errors::not_running())
    }
}

/// `CDC.RESUME` — resume reading the binlog from the stored position.
pub fn resume(_ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(errors::wrong_arity());
    }
    if supervisor::send(Control::Resume) {
        Ok(RedisValue::SimpleStringStatic("OK"))
    } else {
        Err(errors::not_running())
    }
}

/// `CDC.RESYNC [db.table ...]` — re-read the named tables (every captured table when none is
/// named) while streaming goes on. Replies at once: `OK` when all are queued, `OK (already
/// running: a, b)` when some already were (they are not started twice); an error naming the
/// tables when one is unknown or not captured, or when all are already running.
pub fn resync(_ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    let mut named: Vec<String> = Vec::new();
    for a in args.iter().skip(1) {
        let t = a
            .try_as_str()
            .map_err(|_| bad_arg("table names must be UTF-8".into()))?
            .to_string();
        if !named.contains(&t) {
            named.push(t);
        }
    }
    let filter = crate::current_config().ok().map(|c| c.filter);
    let mut g = STATUS.lock();
    if named.is_empty() {
        named = g.tables.keys().cloned().collect();
        if named.is_empty() {
            return Err(bad_arg(
                "no captured tables to resync (is cdc.mysql-url set and the module streaming?)"
                    .into(),
            ));
        }
    }
    let excluded: Vec<&str> = named
        .iter()
        .filter(|t| !g.tables.contains_key(*t))
        .filter(|t| match (t.split_once('.'), &filter) {
            (Some((d, n)), Some(f)) => !f.matches(d, n),
            _ => false,
        })
        .map(String::as_str)
        .collect();
    if !excluded.is_empty() {
        return Err(bad_arg(format!(
            "table {} is not captured (cdc.tables / cdc.exclude-tables)",
            excluded.join(", ")
        )));
    }
    let unknown: Vec<&str> = named
        .iter()
        .filter(|t| !g.tables.contains_key(*t))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(bad_arg(format!("unknown table {}", unknown.join(", "))));
    }
    let (running, fresh): (Vec<String>, Vec<String>) = named
        .into_iter()
        .partition(|t| g.snapshot.iter().any(|p| p.table == *t));
    if fresh.is_empty() {
        return Err(bad_arg(format!(
            "resync already running for {}",
            running.join(", ")
        )));
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
    if running.is_empty() {
        Ok(RedisValue::SimpleStringStatic("OK"))
    } else {
        Ok(RedisValue::SimpleString(format!(
            "OK (already running: {})",
            running.join(", ")
        )))
    }
}

/// `CDC.TABLES` — for each captured table: table, stream, entries, last_change_ms.
pub fn tables(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(errors::wrong_arity());
    }
    let rows: Vec<Vec<(&'static str, StatusValue)>> = STATUS
        .lock()
        .tables
        .iter()
        .map(|(name, t)| {
            vec![
                ("table", StatusValue::Str(name.clone())),
                ("stream", StatusValue::Str(t.stream.clone())),
                ("entries", StatusValue::Int(t.entries)),
                ("last_change_ms", StatusValue::Int(t.last_change_ms)),
            ]
        })
        .collect();
    raw::reply_with_array(ctx.ctx, rows.len() as c_long);
    for r in &rows {
        reply_fields(ctx, r);
    }
    Ok(RedisValue::NoReply)
}

fn reply_fields(ctx: &Context, fields: &[(&'static str, StatusValue)]) {
    raw::reply_with_map(ctx.ctx, fields.len() as c_long);
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
            raw::reply_with_array(ctx.ctx, items.len() as c_long);
            for item in items {
                reply_fields(ctx, item);
            }
        }
    }
}

/// An error for a bad argument, as Redis users expect it.
pub fn bad_arg(msg: String) -> RedisError {
    RedisError::String(format!("ERR {msg}"))
}

/// One argument of a command, for `COMMAND DOCS`.
pub struct ArgDoc {
    pub name: &'static CStr,
    pub summary: &'static CStr,
    /// `REDISMODULE_CMD_ARG_*` flags.
    pub flags: u32,
}

/// What `COMMAND DOCS` / `COMMAND INFO` say about a command (Redis 7.0 `RM_SetCommandInfo`).
/// The flags and ACL categories live with the command table in `lib.rs`.
pub struct CommandDoc {
    pub name: &'static CStr,
    pub summary: &'static CStr,
    pub complexity: &'static CStr,
    /// Command arity including the name; negative means "at least".
    pub arity: i32,
    /// Space-separated command tips for clients and proxies.
    pub tips: &'static CStr,
    /// ACL categories (Redis 7.2+); `cdc` is added where Redis 7.4+ knows it.
    pub acl: &'static CStr,
    pub args: &'static [ArgDoc],
}

/// Docs for every CDC.* command. An entry whose command is not registered is skipped, so an
/// entry may land before its command does.
pub const DOCS: &[CommandDoc] = &[
    CommandDoc {
        name: c"cdc.status",
        summary: c"Returns the state of the MySQL change stream: state, source, position, gtid, lag, counters, snapshot progress, last error.",
        complexity: c"O(N) where N is the number of tables being snapshotted",
        arity: 1,
        tips: c"nondeterministic_output",
        acl: c"read",
        args: &[],
    },
    CommandDoc {
        name: c"cdc.tables",
        summary: c"Returns each captured table with its stream key, entries written and last change time.",
        complexity: c"O(N) where N is the number of captured tables",
        arity: 1,
        tips: c"nondeterministic_output",
        acl: c"read",
        args: &[],
    },
    CommandDoc {
        name: c"cdc.pause",
        summary: c"Stops reading the MySQL binlog; the position is kept.",
        complexity: c"O(1)",
        arity: 1,
        tips: c"",
        acl: c"admin",
        args: &[],
    },
    CommandDoc {
        name: c"cdc.resume",
        summary: c"Resumes reading the MySQL binlog from the stored position.",
        complexity: c"O(1)",
        arity: 1,
        tips: c"",
        acl: c"admin",
        args: &[],
    },
    CommandDoc {
        name: c"cdc.resync",
        summary: c"Re-snapshots the named tables (all captured tables when none is named) while streaming goes on.",
        complexity: c"O(1) to start; the snapshot reads every row of the tables in the background",
        arity: -1,
        tips: c"",
        acl: c"admin",
        args: &[ArgDoc {
            name: c"table",
            summary: c"a captured table as db.table",
            flags: raw::REDISMODULE_CMD_ARG_OPTIONAL | raw::REDISMODULE_CMD_ARG_MULTIPLE,
        }],
    },
];

/// Attach [`DOCS`] to the registered commands. Must run inside `RedisModule_OnLoad`; skipped
/// quietly where Redis lacks the API (< 7.0). Returns the commands documented.
pub fn set_command_docs(ctx: &Context) -> usize {
    // SAFETY: the API pointers are written once by RedisModule_Init, before OnLoad runs us.
    let apis = unsafe { (raw::RedisModule_GetCommand, raw::RedisModule_SetCommandInfo) };
    let (Some(get_command), Some(set_info)) = apis else {
        return 0;
    };
    let version = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };
    let since = CString::new(crate::VERSION).unwrap_or_default();
    let mut done = 0;
    for doc in DOCS {
        // SAFETY: ctx is the OnLoad context; the name is a NUL-terminated literal.
        let command = unsafe { get_command(ctx.ctx, doc.name.as_ptr()) };
        if command.is_null() {
            continue;
        }
        // An array of args ends with a zeroed entry (Redis reads until a NULL name).
        let mut args: Vec<raw::RedisModuleCommandArg> = doc
            .args
            .iter()
            .map(|a| raw::RedisModuleCommandArg {
                name: a.name.as_ptr(),
                type_: raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
                key_spec_index: -1,
                token: ptr::null(),
                summary: a.summary.as_ptr(),
                since: since.as_ptr(),
                flags: a.flags as c_int,
                deprecated_since: ptr::null(),
                subargs: ptr::null_mut(),
                display_text: ptr::null(),
            })
            .collect();
        if !args.is_empty() {
            // SAFETY: every field of the struct is a pointer or an integer; all-zero is its
            // documented terminator.
            args.push(unsafe { std::mem::zeroed() });
        }
        let mut info = raw::RedisModuleCommandInfo {
            version: &version,
            summary: doc.summary.as_ptr(),
            complexity: doc.complexity.as_ptr(),
            since: since.as_ptr(),
            history: ptr::null_mut(),
            tips: if doc.tips.is_empty() {
                ptr::null()
            } else {
                doc.tips.as_ptr()
            },
            arity: doc.arity,
            key_specs: ptr::null_mut(),
            args: if args.is_empty() {
                ptr::null_mut()
            } else {
                args.as_mut_ptr()
            },
        };
        set_acl_categories(ctx, command, doc);
        // SAFETY: `command` came from RM_GetCommand for a command of this module; every pointer
        // in `info` outlives the call, and Redis copies what it keeps.
        if unsafe { set_info(command, &mut info) } == raw::Status::Ok as c_int {
            done += 1;
        } else {
            ctx.log_warning(&format!(
                "cdc: could not set COMMAND DOCS for {}",
                doc.name.to_string_lossy()
            ));
        }
    }
    done
}

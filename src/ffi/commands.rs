//! Registering commands (`RM_CreateCommand`), their `COMMAND DOCS` / `COMMAND INFO` text
//! (`RM_SetCommandInfo`, Redis 7.0), and the reply calls the crate leaves raw.

use super::{api, OK};
use redis_module::{raw, Context, RedisResult, RedisString};
use std::ffi::{CStr, CString};
use std::os::raw::{c_int, c_long};
use std::ptr;

/// Runs the command at `index` of a table: the module's dispatcher.
pub trait Dispatch {
    fn dispatch(index: usize, ctx: &Context, args: Vec<RedisString>) -> RedisResult;
}

/// Most commands one [`Dispatch`] can register (one trampoline each).
pub const MAX_COMMANDS: usize = 8;

extern "C" fn trampoline<D: Dispatch, const I: usize>(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    // No unwind may cross into Redis: `dispatch` turns a handler's panic into an error reply;
    // this catches the rest (decoding, replying).
    std::panic::catch_unwind(|| {
        let context = Context::new(ctx);
        let args = redis_module::decode_args(ctx, argv, argc);
        let reply = D::dispatch(I, &context, args);
        context.reply(reply) as c_int
    })
    .unwrap_or(raw::REDISMODULE_ERR as c_int)
}

type CommandFn = unsafe extern "C" fn(
    *mut raw::RedisModuleCtx,
    *mut *mut raw::RedisModuleString,
    c_int,
) -> c_int;

fn trampoline_for<D: Dispatch>(index: usize) -> Option<CommandFn> {
    Some(match index {
        0 => trampoline::<D, 0>,
        1 => trampoline::<D, 1>,
        2 => trampoline::<D, 2>,
        3 => trampoline::<D, 3>,
        4 => trampoline::<D, 4>,
        5 => trampoline::<D, 5>,
        6 => trampoline::<D, 6>,
        7 => trampoline::<D, 7>,
        _ => return None,
    })
}

/// Register command `name` (OnLoad), run by `D::dispatch(index, ..)`, with these flags and no
/// keys. An error names the command.
pub fn create_command<D: Dispatch>(
    ctx: &Context,
    index: usize,
    name: &str,
    flags: &str,
) -> Result<(), String> {
    let fail = || format!("failed to create command {name}");
    let create = api!(RedisModule_CreateCommand).ok_or_else(fail)?;
    let f = trampoline_for::<D>(index).ok_or_else(fail)?;
    let (Ok(c_name), Ok(c_flags)) = (CString::new(name), CString::new(flags)) else {
        return Err(fail());
    };
    // SAFETY: the OnLoad context; Redis copies the name and flags; the callback is a plain
    // function for the module's life.
    let rc = unsafe { create(ctx.ctx, c_name.as_ptr(), Some(f), c_flags.as_ptr(), 0, 0, 0) };
    if rc == OK {
        Ok(())
    } else {
        Err(fail())
    }
}

/// One argument of a command, for `COMMAND DOCS` (a plain string).
pub struct ArgInfo {
    pub name: &'static CStr,
    pub summary: &'static CStr,
    pub optional: bool,
    pub multiple: bool,
}

/// What `COMMAND DOCS` / `COMMAND INFO` say about a command.
pub struct CommandInfo<'a> {
    pub summary: &'a CStr,
    pub complexity: &'a CStr,
    pub since: &'a CStr,
    /// Space-separated command tips; empty for none.
    pub tips: &'a CStr,
    /// Arity including the name; negative means "at least".
    pub arity: i32,
    pub args: &'a [ArgInfo],
}

/// Set the docs of a registered command (OnLoad). `None` where Redis lacks the API (< 7.0),
/// `Some(false)` when the command is unknown or Redis refuses.
pub fn set_command_info(ctx: &Context, name: &str, info: &CommandInfo) -> Option<bool> {
    let (get_command, set_info) = (
        api!(RedisModule_GetCommand)?,
        api!(RedisModule_SetCommandInfo)?,
    );
    let Ok(c_name) = CString::new(name) else {
        return Some(false);
    };
    // SAFETY: the OnLoad context; the name outlives the call.
    let command = unsafe { get_command(ctx.ctx, c_name.as_ptr()) };
    if command.is_null() {
        return Some(false);
    }
    let version = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };
    let mut args: Vec<raw::RedisModuleCommandArg> = info
        .args
        .iter()
        .map(|a| {
            let mut flags = 0;
            if a.optional {
                flags |= raw::REDISMODULE_CMD_ARG_OPTIONAL;
            }
            if a.multiple {
                flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE;
            }
            raw::RedisModuleCommandArg {
                name: a.name.as_ptr(),
                type_: raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
                key_spec_index: -1,
                token: ptr::null(),
                summary: a.summary.as_ptr(),
                since: info.since.as_ptr(),
                flags: flags as c_int,
                deprecated_since: ptr::null(),
                subargs: ptr::null_mut(),
                display_text: ptr::null(),
            }
        })
        .collect();
    if !args.is_empty() {
        // An array of args ends with a zeroed entry (Redis reads until a NULL name).
        // SAFETY: every field of the struct is a pointer or an integer; all-zero is its
        // documented terminator.
        args.push(unsafe { std::mem::zeroed() });
    }
    let c_info = raw::RedisModuleCommandInfo {
        version: &version,
        summary: info.summary.as_ptr(),
        complexity: info.complexity.as_ptr(),
        since: info.since.as_ptr(),
        history: ptr::null_mut(),
        tips: if info.tips.is_empty() {
            ptr::null()
        } else {
            info.tips.as_ptr()
        },
        arity: info.arity,
        key_specs: ptr::null_mut(),
        args: if args.is_empty() {
            ptr::null_mut()
        } else {
            args.as_mut_ptr()
        },
    };
    // SAFETY: `command` came from RM_GetCommand for a command of this module; every pointer
    // in `c_info` outlives the call, and Redis copies what it keeps.
    Some(unsafe { set_info(command, &c_info) } == OK)
}

/// Start a map reply of `len` pairs (RESP3; a flat array for RESP2 clients).
pub fn reply_map(ctx: &Context, len: usize) {
    raw::reply_with_map(ctx.ctx, len as c_long);
}

/// Start an array reply of `len` elements.
pub fn reply_array(ctx: &Context, len: usize) {
    raw::reply_with_array(ctx.ctx, len as c_long);
}

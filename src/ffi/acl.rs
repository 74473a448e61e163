//! ACL: per-command categories (Redis 7.2+) and checking what the calling user may run.

use super::{api, OK};
use redis_module::{raw, Context, RedisString};
use std::os::raw::c_int;
use std::ptr;

/// True when Redis gives module commands ACL categories (7.2+) and enforces them itself.
pub fn has_command_categories() -> bool {
    api!(RedisModule_SetCommandACLCategories).is_some()
}

/// Give a registered command these ACL categories (space-separated). False when Redis refuses
/// or lacks the API. Call during OnLoad.
pub fn set_command_categories(ctx: &Context, command: &str, categories: &str) -> bool {
    let (Some(get), Some(set)) = (
        api!(RedisModule_GetCommand),
        api!(RedisModule_SetCommandACLCategories),
    ) else {
        return false;
    };
    let (Ok(name), Ok(categories)) = (
        std::ffi::CString::new(command),
        std::ffi::CString::new(categories),
    ) else {
        return false;
    };
    // SAFETY: the OnLoad context; the name outlives the call.
    let cmd = unsafe { get(ctx.ctx, name.as_ptr()) };
    // SAFETY: a command of this module, during OnLoad; the string outlives the call.
    !cmd.is_null() && unsafe { set(cmd, categories.as_ptr()) } == OK
}

/// May the user running the current command run `argv`? True when there is no client user
/// (AOF loading, internal calls) or Redis lacks the ACL API; false when the user is gone.
pub fn current_user_may_run(ctx: &Context, argv: &[&str]) -> bool {
    let (Some(get_name), Some(get_user), Some(check), Some(free_user)) = (
        api!(RedisModule_GetCurrentUserName),
        api!(RedisModule_GetModuleUserFromUserName),
        api!(RedisModule_ACLCheckCommandPermissions),
        api!(RedisModule_FreeModuleUser),
    ) else {
        return true;
    };
    // SAFETY: ctx is the command's context; the returned string is ours to free (RedisString
    // below frees it).
    let user_name = unsafe { get_name(ctx.ctx) };
    if user_name.is_null() {
        return true;
    }
    let user_name = RedisString::from_redis_module_string(ptr::null_mut(), user_name);
    // SAFETY: a live string; the user returned is freed below, once.
    let user = unsafe { get_user(user_name.inner) };
    if user.is_null() {
        return false;
    }
    let argv: Vec<RedisString> = argv
        .iter()
        .map(|a| RedisString::create_from_slice(ctx.ctx, a.as_bytes()))
        .collect();
    let mut ptrs: Vec<*mut raw::RedisModuleString> = argv.iter().map(|a| a.inner).collect();
    // SAFETY: user and argv are live for the call.
    let allowed = unsafe { check(user, ptrs.as_mut_ptr(), ptrs.len() as c_int) } == OK;
    // SAFETY: obtained above, freed once.
    unsafe { free_user(user) };
    allowed
}

/// What became of the module's own ACL category at load.
#[derive(Debug, PartialEq, Eq)]
pub enum CategoryAdded {
    Added,
    /// It exists already: a category outlives `MODULE UNLOAD` (Valkey 8, Redis 7.4+), so a
    /// second load of the module finds the one of the first.
    Existed,
    /// This Redis cannot add categories (`RM_AddACLCategory` is Redis 7.4+ / Valkey 8+).
    Unsupported,
    /// Refused for another reason (the errno).
    Failed(i32),
}

/// Add the ACL category `name` (OnLoad only).
pub fn add_category(ctx: &Context, name: &std::ffi::CStr) -> CategoryAdded {
    let Some(add) = api!(RedisModule_AddACLCategory) else {
        return CategoryAdded::Unsupported;
    };
    // SAFETY: the OnLoad context; the name outlives the call.
    if unsafe { add(ctx.ctx, name.as_ptr()) } == OK {
        return CategoryAdded::Added;
    }
    // Redis sets errno: EBUSY for a name that exists, EINVAL outside OnLoad or for a bad name.
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EBUSY) => CategoryAdded::Existed,
        other => CategoryAdded::Failed(other.unwrap_or(0)),
    }
}

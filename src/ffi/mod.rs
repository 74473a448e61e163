//! Every `unsafe` of the module: the entry points Redis calls (`module`: OnLoad, OnUnload) and
//! safe wrappers over the Redis module API (and two libc calls).
//!
//! # The invariant every block here relies on
//!
//! Redis writes the `RedisModule_*` function pointers once, in `RedisModule_Init` at the start
//! of `RedisModule_OnLoad`, before any of our code runs, and never changes them afterwards; a
//! pointer is `None` where this Redis lacks the API, and every wrapper checks it (reading them
//! is therefore a plain load of a value that no longer changes). Every pointer we hand to Redis
//! is live for the call: a context Redis gave the running callback, or a thread-safe context we
//! created and have not freed; a key opened under the lock still held; a string we own
//! ([`RString`]) or one that is never freed ([`FieldName`]); a NUL-terminated literal or
//! `CString` that outlives the call. A `&Context` passed to a wrapper that touches the keyspace,
//! replies or replicates is either the context of a callback Redis is running (commands, OnLoad,
//! INFO) or one locked through [`thread_ctx::Locked`]: the Redis lock is held as long as the reference lives.
//!
//! Blocks that need more than this say why in their own `// SAFETY:` comment. Nothing outside
//! this module says `unsafe`; the pipeline sees only types with safe methods.

pub mod acl;
pub mod blocked;
pub mod commands;
pub mod filter;
pub mod info;
pub mod keys;
pub mod log;
pub mod module;
pub mod os;
pub mod strings;
pub mod thread_ctx;

pub use strings::{FieldName, Fields, RString};

/// Read an API function pointer (see the module's invariant): `None` where Redis lacks it.
macro_rules! api {
    ($name:ident) => {
        // SAFETY: the module's invariant: written once by RedisModule_Init, then only read.
        unsafe { redis_module::raw::$name }
    };
}
pub(crate) use api;

/// `REDISMODULE_OK` as the C functions return it.
const OK: std::os::raw::c_int = redis_module::raw::REDISMODULE_OK as std::os::raw::c_int;

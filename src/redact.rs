//! Keep the `cdc.mysql-url` password out of SLOWLOG and MONITOR on Redis versions that do not
//! redact module configs flagged SENSITIVE in CONFIG SET (7.0.15 shows the whole URL in
//! SLOWLOG GET; its own masterauth is shown as "(redacted)").
//!
//! A command filter replaces the value of `CONFIG SET ... cdc.mysql-url <url> ...` with a token
//! before the command runs, so that what Redis logs is the token; the config's set callback
//! ([`resolve`]) swaps the token back for the URL. Filters run on the main thread, before the
//! command executes (also for commands queued in MULTI), so the token is always resolved by
//! the same CONFIG SET that carried it.

use redis_module::raw;
use std::collections::VecDeque;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

const CONFIG_NAME: &str = "cdc.mysql-url";
const TOKEN_PREFIX: &str = "(redacted cdc.mysql-url #";
/// Tokens of CONFIG SETs that failed before reaching the set callback are dropped past this.
const MAX_PENDING: usize = 16;

static PENDING: Mutex<VecDeque<(String, String)>> = Mutex::new(VecDeque::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

/// Register the filter (OnLoad). Best effort: without it Redis logs the URL as it did before.
pub fn register(ctx: *mut raw::RedisModuleCtx) {
    // SAFETY: called from OnLoad with the module's context; the API pointers are set by then.
    unsafe {
        if let Some(register) = raw::RedisModule_RegisterCommandFilter {
            register(
                ctx,
                Some(filter),
                raw::REDISMODULE_CMDFILTER_NOSELF as c_int,
            );
        }
    }
}

/// The value a CONFIG SET delivered: the URL when it is a token of ours, else as is.
pub fn resolve(value: &str) -> Result<String, String> {
    if !value.starts_with(TOKEN_PREFIX) {
        return Ok(value.to_string());
    }
    let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    match pending.iter().position(|(t, _)| t == value) {
        Some(i) => Ok(pending.remove(i).map(|(_, url)| url).unwrap_or_default()),
        None => Err(format!(
            "{CONFIG_NAME}: expired redaction token; set the URL again"
        )),
    }
}

fn arg(fctx: *mut raw::RedisModuleCommandFilterCtx, pos: c_int) -> Option<Vec<u8>> {
    // SAFETY: fctx is the live filter context Redis passed to `filter`; pos < args count.
    unsafe {
        let s = raw::RedisModule_CommandFilterArgGet?(fctx, pos);
        if s.is_null() {
            return None;
        }
        let mut len = 0usize;
        let p = raw::RedisModule_StringPtrLen?(s, &mut len);
        if p.is_null() {
            return None;
        }
        Some(std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec())
    }
}

extern "C" fn filter(fctx: *mut raw::RedisModuleCommandFilterCtx) {
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: as in `arg`.
        let argc = unsafe {
            match raw::RedisModule_CommandFilterArgsCount {
                Some(count) => count(fctx),
                None => return,
            }
        };
        if argc < 4
            || !arg(fctx, 0).is_some_and(|a| a.eq_ignore_ascii_case(b"config"))
            || !arg(fctx, 1).is_some_and(|a| a.eq_ignore_ascii_case(b"set"))
        {
            return;
        }
        let mut i = 2;
        while i + 1 < argc {
            if arg(fctx, i).is_some_and(|a| a.eq_ignore_ascii_case(CONFIG_NAME.as_bytes())) {
                let Some(value) = arg(fctx, i + 1) else { break };
                let Ok(url) = String::from_utf8(value) else {
                    break;
                };
                if !url.is_empty() {
                    let token = format!("{TOKEN_PREFIX}{})", NEXT.fetch_add(1, Ordering::Relaxed));
                    {
                        let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
                        if pending.len() >= MAX_PENDING {
                            pending.pop_front();
                        }
                        pending.push_back((token.clone(), url));
                    }
                    // SAFETY: Replace takes ownership of the new string.
                    unsafe {
                        if let (Some(create), Some(replace)) = (
                            raw::RedisModule_CreateString,
                            raw::RedisModule_CommandFilterArgReplace,
                        ) {
                            let s =
                                create(std::ptr::null_mut(), token.as_ptr().cast(), token.len());
                            replace(fctx, i + 1, s);
                        }
                    }
                }
            }
            i += 2;
        }
    });
}

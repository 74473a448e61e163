//! Keep the `cdc.mysql-url` password out of SLOWLOG and MONITOR on Redis versions that do not
//! redact module configs flagged SENSITIVE in CONFIG SET (7.0.15 shows the whole URL in
//! SLOWLOG GET; its own masterauth is shown as "(redacted)").
//!
//! A command filter replaces the value of `CONFIG SET ... cdc.mysql-url <url> ...` with a token
//! before the command runs, so that what Redis logs is the token; the config's set callback
//! ([`resolve`]) swaps the token back for the URL. Filters run on the main thread, before the
//! command executes (also for commands queued in MULTI), so the token is always resolved by
//! the same CONFIG SET that carried it.

use crate::ffi::filter::{self, CommandFilter, FilterArgs};
use redis_module::Context;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

const CONFIG_NAME: &str = "cdc.mysql-url";
const TOKEN_PREFIX: &str = "(redacted cdc.mysql-url #";
/// Tokens of CONFIG SETs that failed before reaching the set callback are dropped past this.
const MAX_PENDING: usize = 16;

static PENDING: Mutex<VecDeque<(String, String)>> = Mutex::new(VecDeque::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

/// Register the filter (OnLoad). Best effort: without it Redis logs the URL as it did before.
pub fn register(ctx: &Context) {
    filter::register::<Redact>(ctx);
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

struct Redact;

impl CommandFilter for Redact {
    fn filter(args: &mut FilterArgs) {
        let argc = args.len();
        if argc < 4 || !args.arg_is(0, b"config") || !args.arg_is(1, b"set") {
            return;
        }
        let mut i = 2;
        while i + 1 < argc {
            if args.arg_is(i, CONFIG_NAME.as_bytes()) {
                let Some(value) = args.arg(i + 1) else { break };
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
                    args.replace(i + 1, token.as_bytes());
                }
            }
            i += 2;
        }
    }
}

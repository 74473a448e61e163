//! Keep the `cdc.mysql-url` password and the `cdc.mask-salt` out of SLOWLOG and MONITOR on
//! Redis versions that do not redact module configs flagged SENSITIVE in CONFIG SET (7.0.15
//! shows the whole URL in SLOWLOG GET; its own masterauth is shown as "(redacted)").
//!
//! A command filter replaces the value of `CONFIG SET ... cdc.mysql-url <url> ...` (and of
//! each config of [`CONFIG_NAMES`]) with a token before the command runs, so that what Redis
//! logs is the token; the config's set callback ([`resolve`]) swaps the token back for the
//! value. Filters run on the main thread, before the command executes (also for commands
//! queued in MULTI), so the token is always resolved by the same CONFIG SET that carried it.

use crate::ffi::filter::{self, CommandFilter, FilterArgs};
use redis_module::Context;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The sensitive configs, and the start of their tokens.
const CONFIG_NAMES: [(&str, &str); 2] = [
    ("cdc.mysql-url", "(redacted cdc.mysql-url #"),
    ("cdc.mask-salt", "(redacted cdc.mask-salt #"),
];
/// Tokens of CONFIG SETs that failed before reaching the set callback are dropped past this.
const MAX_PENDING: usize = 16;

static PENDING: Mutex<VecDeque<(String, String)>> = Mutex::new(VecDeque::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

/// Register the filter (OnLoad). Best effort: without it Redis logs the URL as it did before.
pub fn register(ctx: &Context) {
    filter::register::<Redact>(ctx);
}

/// The value a CONFIG SET delivered: the value it hides when it is a token of ours, else as is.
pub fn resolve(value: &str) -> Result<String, String> {
    let Some((name, _)) = CONFIG_NAMES
        .iter()
        .find(|(_, prefix)| value.starts_with(prefix))
    else {
        return Ok(value.to_string());
    };
    let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    match pending.iter().position(|(t, _)| t == value) {
        Some(i) => Ok(pending.remove(i).map(|(_, v)| v).unwrap_or_default()),
        None => Err(format!(
            "{name}: expired redaction token; set the value again"
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
            let sensitive = CONFIG_NAMES
                .iter()
                .find(|(name, _)| args.arg_is(i, name.as_bytes()));
            if let Some((_, prefix)) = sensitive {
                let Some(value) = args.arg(i + 1) else { break };
                let Ok(url) = String::from_utf8(value) else {
                    break;
                };
                if !url.is_empty() {
                    let token = format!("{prefix}{})", NEXT.fetch_add(1, Ordering::Relaxed));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_resolves_once_to_the_value_it_hides() {
        for (name, prefix) in CONFIG_NAMES {
            let token = format!("{prefix}{})", NEXT.fetch_add(1, Ordering::Relaxed));
            PENDING
                .lock()
                .unwrap()
                .push_back((token.clone(), "hidden".into()));
            assert_eq!(resolve(&token).unwrap(), "hidden");
            let e = resolve(&token).unwrap_err();
            assert!(e.starts_with(name) && !e.contains("hidden"), "{e}");
        }
        assert_eq!(resolve("plain").unwrap(), "plain");
    }
}

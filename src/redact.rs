//! Keep the values of the sensitive configs ([`SENSITIVE`]: `cdc.mysql-url` and its password)
//! out of everything Redis shows of the commands and arguments that set them: SLOWLOG,
//! MONITOR, MODULE LIST, crash reports, the log (docs/configuration.md, "Sensitive configs").
//! `CONFIG GET` (an admin command) still returns the value as set, and `CONFIG REWRITE` writes
//! it to its own `cdc.<name>` line.
//!
//! Two paths carry a value past Redis's own redaction (Redis drops the SENSITIVE flag of module
//! configs, so it does not hide them in SLOWLOG, and it never hides module load arguments):
//!
//! * `CONFIG SET cdc.<name> <value>`: a command filter replaces the value by a token before
//!   the command runs, so that what Redis logs is the token; the config's set callback
//!   ([`resolve`]) swaps the token back for the value. Filters run on the main thread, before
//!   the command executes (also for commands queued in MULTI), so the token is always resolved
//!   by the same CONFIG SET that carried it.
//! * Load arguments (`loadmodule <so> mysql-url <url>`, MODULE LOAD, MODULE LOADEX ... ARGS):
//!   OnLoad ([`load_args`]) replaces the value in the argument array Redis passed by
//!   [`MARKER`] before anything else runs: Redis's SLOWLOG entry and crash report of MODULE
//!   LOAD, MODULE LIST and the `loadmodule` line CONFIG REWRITE writes all show the marker.
//!   The config is registered with a default ([`load_default`]) that the set callback resolves
//!   to the value, so that the value differs from the default and CONFIG REWRITE writes it to
//!   a `cdc.<name>` line; at the next start the marker on the `loadmodule` line counts as no
//!   argument and that line sets the value.
//!
//! What no module can hide: the values of `MODULE LOADEX <so> CONFIG cdc.<name> <value>` are
//! parsed by Redis from the calling client's arguments, which the module never sees, so
//! SLOWLOG shows them (docs/configuration.md says so and names the safe ways).

use crate::ffi::filter::{self, CommandFilter, FilterArgs};
use crate::ffi::module::LoadArgs;
use redis_module::Context;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The sensitive configs, by full name: their values never appear in SLOWLOG, MONITOR, MODULE
/// LIST, the log, INFO or CDC.STATUS. Redis registers them with its SENSITIVE flag too.
pub const SENSITIVE: &[&str] = &["cdc.mysql-url", "cdc.mask-salt"];

/// What stands in for a sensitive load argument's value (the text Redis uses for its own
/// redacted arguments). As a load argument it counts as not given.
pub const MARKER: &str = "(redacted)";

/// Every token of ours starts with this (a CONFIG SET value, a load argument's default).
const TOKEN_PREFIX: &str = "(redacted ";
/// Tokens of CONFIG SETs that failed before reaching the set callback are dropped past this.
const MAX_PENDING: usize = 16;

/// Tokens of CONFIG SET values with the value each stands for, until resolved.
static PENDING: Mutex<VecDeque<(String, String)>> = Mutex::new(VecDeque::new());
/// Defaults registered for sensitive load arguments, with the value each stands for, until
/// the configs are loaded.
static LOAD_DEFAULTS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

/// The full name (`cdc.mysql-url`) of a sensitive config given by its full or bare name (any
/// case); `None` for the others.
pub fn sensitive_name(name: &str) -> Option<&'static str> {
    SENSITIVE.iter().copied().find(|full| {
        full.eq_ignore_ascii_case(name)
            || full
                .strip_prefix("cdc.")
                .is_some_and(|bare| bare.eq_ignore_ascii_case(name))
    })
}

/// True for a sensitive config, by its full or bare name.
pub fn is_sensitive(name: &str) -> bool {
    sensitive_name(name).is_some()
}

/// A value that is a source URL (`mysql://`, `mariadb://`): hidden wherever it stands among the
/// load arguments, and never quoted in an error (it may carry a password).
pub fn looks_secret(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    lower.starts_with("mysql://") || lower.starts_with("mariadb://")
}

/// Register the CONFIG SET filter (OnLoad). Best effort: without it Redis logs the value as it
/// did before.
pub fn register(ctx: &Context) {
    filter::register::<Redact>(ctx);
}

/// Read the load arguments and hide the sensitive ones in Redis's array (OnLoad, first thing):
/// the value after a sensitive config's name (bare or `cdc.`-prefixed, any case), and any
/// argument that is a source URL, become [`MARKER`]. Returns the arguments as given, for the
/// configs; an argument that is not UTF-8 is an error (naming its position only).
pub fn load_args(args: &mut LoadArgs) -> Result<Vec<String>, String> {
    let mut texts = Vec::with_capacity(args.len());
    let mut bad = None;
    for i in 0..args.len() {
        let bytes = args.get(i).unwrap_or_default();
        texts.push(String::from_utf8(bytes).unwrap_or_else(|_| {
            bad.get_or_insert(i + 1);
            String::new()
        }));
    }
    for i in 0..texts.len() {
        let after_sensitive = i % 2 == 1 && is_sensitive(&texts[i - 1]);
        // A non-UTF-8 argument after a sensitive name is hidden too.
        let hide = (after_sensitive && texts[i] != MARKER) || looks_secret(&texts[i]);
        if hide && !args.replace(i, MARKER.as_bytes()) {
            return Err(
                "could not hide a sensitive load argument (out of memory?): not loaded".into(),
            );
        }
    }
    match bad {
        Some(n) => Err(format!("module argument {n} is not UTF-8")),
        None => Ok(texts),
    }
}

/// The default to register sensitive config `name` with when its value came as a load
/// argument: a token that [`resolve`] turns into `value` until [`forget_load_defaults`]. The
/// config's value (the URL) then differs from its default, so CONFIG REWRITE writes it.
pub fn load_default(name: &str, value: String) -> String {
    let token = format!("{TOKEN_PREFIX}{name} load argument)");
    let mut defaults = LOAD_DEFAULTS.lock().unwrap_or_else(|p| p.into_inner());
    defaults.retain(|(t, _)| *t != token);
    defaults.push((token.clone(), value));
    token
}

/// Drop the load arguments' values kept for [`load_default`] (after the configs are loaded).
pub fn forget_load_defaults() {
    LOAD_DEFAULTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
}

/// The value a config's set callback received: the value a token of ours stands for, else the
/// value as is.
pub fn resolve(value: &str) -> Result<String, String> {
    if !value.starts_with(TOKEN_PREFIX) {
        return Ok(value.to_string());
    }
    if let Some((_, v)) = LOAD_DEFAULTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(t, _)| t == value)
    {
        return Ok(v.clone());
    }
    let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    match pending.iter().position(|(t, _)| t == value) {
        Some(i) => Ok(pending.remove(i).map(|(_, v)| v).unwrap_or_default()),
        None => {
            let name = value[TOKEN_PREFIX.len()..]
                .split(' ')
                .next()
                .filter(|n| is_sensitive(n))
                .unwrap_or("the config");
            Err(format!(
                "{name}: expired redaction token; set the value again"
            ))
        }
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
            if let Some(name) = SENSITIVE.iter().find(|n| args.arg_is(i, n.as_bytes())) {
                let Some(value) = args.arg(i + 1) else { break };
                let Ok(value) = String::from_utf8(value) else {
                    break;
                };
                if !value.is_empty() {
                    let n = NEXT.fetch_add(1, Ordering::Relaxed);
                    let token = format!("{TOKEN_PREFIX}{name} #{n})");
                    {
                        let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
                        if pending.len() >= MAX_PENDING {
                            pending.pop_front();
                        }
                        pending.push_back((token.clone(), value));
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
    fn sensitive_names_by_full_or_bare_name_in_any_case() {
        assert_eq!(sensitive_name("cdc.mysql-url"), Some("cdc.mysql-url"));
        assert_eq!(sensitive_name("mysql-url"), Some("cdc.mysql-url"));
        assert_eq!(sensitive_name("CDC.MySQL-URL"), Some("cdc.mysql-url"));
        assert_eq!(sensitive_name("tables"), None);
        assert_eq!(sensitive_name("cdc."), None);
        assert_eq!(sensitive_name(""), None);
        assert!(looks_secret("MySQL://u:p@h") && looks_secret("mariadb://u@h"));
        assert!(!looks_secret("shop.*"));
    }

    #[test]
    fn load_defaults_resolve_until_forgotten() {
        let token = load_default("cdc.mysql-url", "mysql://u:pw@h".into());
        assert!(!token.contains("pw"));
        assert_eq!(resolve(&token).unwrap(), "mysql://u:pw@h");
        assert_eq!(resolve(&token).unwrap(), "mysql://u:pw@h");
        forget_load_defaults();
        let e = resolve(&token).unwrap_err();
        assert!(e.starts_with("cdc.mysql-url: expired"), "{e}");
        assert_eq!(resolve("mysql://x@h").unwrap(), "mysql://x@h");
        assert_eq!(resolve(MARKER).unwrap(), MARKER);
    }
}

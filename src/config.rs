//! The `cdc.*` module configs (docs/configuration.md): one parser per config, run by the
//! config's set callback, which Redis calls both at load (module arguments, redis.conf, the
//! command line) and for CONFIG SET; a value the parser refuses is refused there with an error
//! that names the config. The statics below are registered in `lib.rs`; [`current`] assembles
//! the typed [`Config`] the pipeline runs with.

use crate::redact;
use crate::tls::{TlsParams, TlsSettings};
use percent_encoding::percent_decode_str;
use redis_cdc_core::columns::{ColumnPatterns, ColumnRules};
use redis_cdc_core::filter::TableFilter;
use redis_cdc_core::format::mirror::{Mirror, MirrorMode};
use redis_cdc_core::format::{self, Format};
use redis_module::configuration::{
    ConfigurationContext, ConfigurationValue, EnumConfigurationValue,
};
use redis_module::{Context, RedisError, RedisString, RedisValue};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::Mutex;

/// What to do when there is no usable stored position (`cdc.snapshot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    Initial,
    Never,
    WhenNeeded,
}

impl SnapshotMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotMode::Initial => "initial",
            SnapshotMode::Never => "never",
            SnapshotMode::WhenNeeded => "when-needed",
        }
    }
}

/// A config whose value is one of a fixed list of names: an enum module config. Redis checks
/// the name (ignoring case) in CONFIG SET, redis.conf and `--cdc.<name>` on the command line,
/// [`ModuleArgs`] as a module argument; CONFIG GET shows it, and CONFIG SET refuses an unknown
/// one with the list of names.
pub trait ConfigEnum: Copy + PartialEq + Send + 'static {
    /// Every value with its name.
    const ALL: &'static [(Self, &'static str)];
}

impl ConfigEnum for SnapshotMode {
    const ALL: &'static [(SnapshotMode, &'static str)] = &[
        (SnapshotMode::Initial, "initial"),
        (SnapshotMode::Never, "never"),
        (SnapshotMode::WhenNeeded, "when-needed"),
    ];
}

impl ConfigEnum for MirrorMode {
    const ALL: &'static [(MirrorMode, &'static str)] = &[
        (MirrorMode::Off, "off"),
        (MirrorMode::Hash, "hash"),
        (MirrorMode::Json, "json"),
    ];
}

impl ConfigEnum for Format {
    const ALL: &'static [(Format, &'static str)] = &[
        (Format::Flat, "flat"),
        (Format::Debezium, "debezium"),
        (Format::DebeziumExtended, "debezium-extended"),
    ];
}

/// The value of an enum config as Redis exchanges it: the index of its name in `T::ALL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice<T>(pub T);

impl<T: ConfigEnum> TryFrom<i32> for Choice<T> {
    type Error = RedisError;
    fn try_from(v: i32) -> Result<Self, RedisError> {
        usize::try_from(v)
            .ok()
            .and_then(|i| T::ALL.get(i))
            .map(|(t, _)| Choice(*t))
            .ok_or(RedisError::Str("Value is not supported"))
    }
}

impl<T: ConfigEnum> From<Choice<T>> for i32 {
    fn from(c: Choice<T>) -> i32 {
        T::ALL.iter().position(|(t, _)| *t == c.0).unwrap_or(0) as i32
    }
}

impl<T: ConfigEnum> EnumConfigurationValue for Choice<T> {
    fn get_options(&self) -> (Vec<String>, Vec<i32>) {
        T::ALL
            .iter()
            .enumerate()
            .map(|(i, (_, name))| (name.to_string(), i as i32))
            .unzip()
    }
}

/// An enum config's value.
pub type EnumSetting<T> = Mutex<Choice<T>>;

/// An enum config whose values are checked against the server when set (CONFIG SET, and at
/// load, where Redis sets the load argument or default through the same call): `check` runs on
/// the main thread and its error is the reply.
pub struct CheckedEnum<T> {
    value: EnumSetting<T>,
    check: fn(T) -> Result<(), String>,
}

impl<T: ConfigEnum> CheckedEnum<T> {
    pub const fn new(initial: T, check: fn(T) -> Result<(), String>) -> CheckedEnum<T> {
        CheckedEnum {
            value: Mutex::new(Choice(initial)),
            check,
        }
    }

    pub fn get(&self) -> T {
        choice(&self.value)
    }
}

impl<T: ConfigEnum> ConfigurationValue<Choice<T>> for CheckedEnum<T> {
    fn get(&self, _ctx: &ConfigurationContext) -> Choice<T> {
        Choice(CheckedEnum::get(self))
    }

    fn set(&self, _ctx: &ConfigurationContext, val: Choice<T>) -> Result<(), RedisError> {
        catch_unwind(AssertUnwindSafe(|| (self.check)(val.0)))
            .unwrap_or_else(|_| Err("internal error while checking the value".into()))
            .map_err(RedisError::String)?;
        *self.value.lock().unwrap_or_else(|p| p.into_inner()) = val;
        Ok(())
    }
}

/// `cdc.mirror json` needs RedisJSON's commands: refused while `JSON.SET` is unknown (load
/// RedisJSON first: `loadmodule` lines load in order).
fn check_mirror(mode: MirrorMode) -> Result<(), String> {
    if mode == MirrorMode::Json && !crate::ffi::thread_ctx::main_thread_has_command("JSON.SET") {
        return Err("cdc.mirror json needs the RedisJSON module, and JSON.SET is unknown here: load rejson.so first (its loadmodule line before this module's, or MODULE LOAD it), or use cdc.mirror hash".into());
    }
    Ok(())
}

/// A string config: the value as set (what CONFIG GET returns, so that CONFIG REWRITE keeps
/// it) and what its parser made of it.
pub struct Setting<T> {
    value: Mutex<(String, T)>,
    parse: fn(&str) -> Result<T, String>,
}

impl<T: Clone + Send> Setting<T> {
    /// `initial` is replaced by the parsed default when Redis registers the config.
    pub const fn new(initial: T, parse: fn(&str) -> Result<T, String>) -> Setting<T> {
        Setting {
            value: Mutex::new((String::new(), initial)),
            parse,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (String, T)> {
        self.value.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The parsed value.
    pub fn get(&self) -> T {
        self.lock().1.clone()
    }

    /// Parse `text` and keep both; an error names the config and leaves the value as it was.
    pub fn set_text(&self, text: &str) -> Result<(), String> {
        let parsed = (self.parse)(text)?;
        *self.lock() = (text.to_string(), parsed);
        Ok(())
    }
}

impl<T: Clone + Send> ConfigurationValue<RedisString> for Setting<T> {
    fn get(&self, _ctx: &ConfigurationContext) -> RedisString {
        RedisString::create(None, self.lock().0.replace('\0', ""))
    }

    fn set(&self, _ctx: &ConfigurationContext, val: RedisString) -> Result<(), RedisError> {
        let result = catch_unwind(AssertUnwindSafe(|| {
            let s = val
                .try_as_str()
                .map_err(|_| "value is not UTF-8".to_string())?;
            self.set_text(&redact::resolve(s)?)
        }));
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(RedisError::String(e)),
            Err(_) => Err(RedisError::Str("internal error validating the value")),
        }
    }
}

/// `cdc.mysql-url`: empty for none (the module stays `unconfigured`).
pub fn parse_mysql_url(s: &str) -> Result<Option<SourceUrl>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    SourceUrl::parse(s)
        .map(Some)
        .map_err(|e| format!("cdc.mysql-url: {e}"))
}

/// `cdc.tables`: comma-separated `db.table` patterns.
pub fn parse_tables(s: &str) -> Result<String, String> {
    TableFilter::new(s, "")
        .map(|_| s.to_string())
        .map_err(|e| format!("cdc.tables: {e}"))
}

/// `cdc.exclude-tables`: comma-separated `db.table` patterns.
pub fn parse_exclude_tables(s: &str) -> Result<String, String> {
    TableFilter::new("", s)
        .map(|_| s.to_string())
        .map_err(|e| format!("cdc.exclude-tables: {e}"))
}

/// `cdc.exclude-columns`: comma-separated `db.table.column` patterns.
pub fn parse_exclude_columns(s: &str) -> Result<ColumnPatterns, String> {
    ColumnPatterns::parse(s).map_err(|e| format!("cdc.exclude-columns: {e}"))
}

/// `cdc.mask-columns`: comma-separated `db.table.column` patterns.
pub fn parse_mask_columns(s: &str) -> Result<ColumnPatterns, String> {
    ColumnPatterns::parse(s).map_err(|e| format!("cdc.mask-columns: {e}"))
}

/// `cdc.mask-salt`: any text (a secret: never quoted, never logged).
pub fn parse_mask_salt(s: &str) -> Result<String, String> {
    Ok(s.to_string())
}

/// `cdc.stream-prefix`: any text.
pub fn parse_stream_prefix(s: &str) -> Result<String, String> {
    Ok(s.to_string())
}

/// `cdc.mirror-prefix`: any text.
pub fn parse_mirror_prefix(s: &str) -> Result<String, String> {
    Ok(s.to_string())
}

/// `cdc.offset-key`: a key name, not empty.
pub fn parse_offset_key(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("cdc.offset-key: must not be empty".into())
    } else {
        Ok(s.to_string())
    }
}

pub static MYSQL_URL: Setting<Option<SourceUrl>> = Setting::new(None, parse_mysql_url);
pub static TABLES: Setting<String> = Setting::new(String::new(), parse_tables);
pub static EXCLUDE_TABLES: Setting<String> = Setting::new(String::new(), parse_exclude_tables);
pub static STREAM_PREFIX: Setting<String> = Setting::new(String::new(), parse_stream_prefix);
pub static OFFSET_KEY: Setting<String> = Setting::new(String::new(), parse_offset_key);
pub static EXCLUDE_COLUMNS: Setting<ColumnPatterns> =
    Setting::new(ColumnPatterns::EMPTY, parse_exclude_columns);
pub static MASK_COLUMNS: Setting<ColumnPatterns> =
    Setting::new(ColumnPatterns::EMPTY, parse_mask_columns);
pub static MASK_SALT: Setting<String> = Setting::new(String::new(), parse_mask_salt);
pub static SNAPSHOT: EnumSetting<SnapshotMode> = Mutex::new(Choice(SnapshotMode::Initial));
pub static FORMAT: EnumSetting<Format> = Mutex::new(Choice(Format::Flat));
pub static MIRROR: CheckedEnum<MirrorMode> = CheckedEnum::new(MirrorMode::Off, check_mirror);
pub static MIRROR_PREFIX: Setting<String> = Setting::new(String::new(), parse_mirror_prefix);
/// `cdc.streams`: `no` writes the mirror and the position only.
pub static STREAMS: AtomicBool = AtomicBool::new(true);
/// `cdc.server-id`, `cdc.stream-maxlen`, `cdc.max-memory-percent`: Redis checks their ranges.
pub static SERVER_ID: AtomicI64 = AtomicI64::new(0);
pub static STREAM_MAXLEN: AtomicI64 = AtomicI64::new(0);
pub static MAX_MEMORY_PERCENT: AtomicI64 = AtomicI64::new(90);
pub static ENABLED: AtomicBool = AtomicBool::new(true);
/// `cdc.schema-changes`: `yes`/`no`, parsed by Redis (a bool config).
pub static SCHEMA_CHANGES: AtomicBool = AtomicBool::new(true);

/// server_id used when `cdc.server-id` is 0; derived at load from this Redis instance.
pub static DEFAULT_SERVER_ID: AtomicU32 = AtomicU32::new(1);

/// Derive [`DEFAULT_SERVER_ID`] from this Redis instance (OnLoad).
pub fn set_default_server_id(ctx: &Context) {
    DEFAULT_SERVER_ID.store(default_server_id(ctx), Ordering::Relaxed);
}

/// A stable id from this instance's host name and port (`cdc.server-id` 0).
fn default_server_id(ctx: &Context) -> u32 {
    let port = ctx
        .call("CONFIG", &["GET", "port"])
        .ok()
        .and_then(|v| match v {
            RedisValue::Array(a) => a.into_iter().nth(1),
            _ => None,
        })
        .and_then(|v| crate::sink::offsets::reply_text(&v))
        .and_then(|s| s.parse().ok())
        .unwrap_or(6379u16);
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    derive_server_id(host.trim(), port)
}

fn choice<T: ConfigEnum>(setting: &EnumSetting<T>) -> T {
    setting.lock().unwrap_or_else(|p| p.into_inner()).0
}

/// `cdc.mirror` as set now.
pub fn mirror_mode() -> MirrorMode {
    MIRROR.get()
}

/// The current configuration (called by the supervisor thread).
pub fn current() -> Result<Config, String> {
    // The Debezium layouts name the logical server after the stream prefix (core's format::debezium).
    let stream_prefix = STREAM_PREFIX.get();
    format::debezium::set_stream_prefix(&stream_prefix);
    Ok(Config {
        source: MYSQL_URL.get(),
        server_id: server_id(
            SERVER_ID.load(Ordering::Relaxed),
            DEFAULT_SERVER_ID.load(Ordering::Relaxed),
        ),
        filter: TableFilter::new(&TABLES.get(), &EXCLUDE_TABLES.get())
            .map_err(|e| format!("cdc.tables/cdc.exclude-tables: {e}"))?,
        stream_prefix,
        offset_key: OFFSET_KEY.get(),
        snapshot: choice(&SNAPSHOT),
        stream_maxlen: STREAM_MAXLEN.load(Ordering::Relaxed).max(0) as u64,
        format: choice(&FORMAT),
        max_memory_percent: MAX_MEMORY_PERCENT.load(Ordering::Relaxed).clamp(1, 100) as u32,
        enabled: ENABLED.load(Ordering::Relaxed),
        schema_changes: SCHEMA_CHANGES.load(Ordering::Relaxed),
        mirror: Mirror {
            mode: MIRROR.get(),
            prefix: MIRROR_PREFIX.get(),
            cluster: crate::cluster::enabled(),
        },
        cluster: crate::cluster::enabled(),
        streams: STREAMS.load(Ordering::Relaxed),
        columns: ColumnRules::new(EXCLUDE_COLUMNS.get(), MASK_COLUMNS.get(), &MASK_SALT.get()),
    })
}

/// The server_id sent to MySQL: `cdc.server-id`, or `default` when it is 0 (Redis keeps the
/// config within 0..=4294967295).
fn server_id(configured: i64, default: u32) -> u32 {
    match u32::try_from(configured) {
        Ok(0) | Err(_) => default,
        Ok(n) => n,
    }
}

/// A parsed `mysql://user:password@host:port[?ssl-mode=...&ssl-ca=...]` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SourceUrl {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    /// `ssl-mode`, `ssl-ca`, `ssl-cert`, `ssl-key`, `server-public-key` (src/tls.rs).
    pub tls: TlsSettings,
}

/// Never print the password: Debug and Display show `user@host:port` only.
impl fmt::Debug for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}", self.user, self.host, self.port)
    }
}

const EXPECTED: &str = "expected mysql://user:password@host:port";

impl SourceUrl {
    /// `host:port`, as shown in CDC.STATUS.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Parse a URL. The user information is split off by hand (everything before the last
    /// `@`, so that a password may hold `/`, `#`, `?` or `@` unescaped) and percent-decoded;
    /// the rest goes to the `url` crate. No error ever quotes the user information.
    pub fn parse(url: &str) -> Result<SourceUrl, String> {
        let rest = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
            .ok_or("must start with mysql:// (mysql://user:password@host:port)")?;
        // The user information first: a `?` in the password is not the query's.
        let (userinfo, rest) = rest
            .rsplit_once('@')
            .ok_or_else(|| format!("missing user: {EXPECTED}"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let hostport = rest.trim_end_matches('/');
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (percent_decode(u)?, percent_decode(p)?),
            None => (percent_decode(userinfo)?, String::new()),
        };
        if user.is_empty() {
            return Err(format!("missing user: {EXPECTED}"));
        }
        let port_text = match hostport.strip_prefix('[') {
            Some(h) => h
                .split_once(']')
                .ok_or("unterminated [ in host")?
                .1
                .strip_prefix(':'),
            None => hostport.rsplit_once(':').map(|(_, p)| p),
        };
        let bad_port = || format!("bad port '{}'", port_text.unwrap_or_default());
        let mut text = format!("mysql://{hostport}");
        if let Some(q) = query {
            text.push('?');
            text.push_str(q);
        }
        let parsed = url::Url::parse(&text).map_err(|e| match e {
            url::ParseError::EmptyHost => format!("missing host: {EXPECTED}"),
            url::ParseError::InvalidPort => bad_port(),
            e => format!("bad host '{hostport}': {e}"),
        })?;
        let host = match parsed.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(h) => h.to_string(),
            None => String::new(),
        };
        if host.is_empty() {
            return Err(format!("missing host: {EXPECTED}"));
        }
        if !matches!(parsed.path(), "" | "/") || parsed.fragment().is_some() {
            return Err(format!(
                "unexpected text after host:port '{hostport}': {EXPECTED}"
            ));
        }
        let port = match parsed.port() {
            None => 3306,
            Some(0) => return Err(bad_port()),
            Some(p) => p,
        };
        // The parameters by hand, not as a form (`url`'s query_pairs): a `+` in a path is a `+`.
        let mut tls = TlsParams::default();
        for pair in parsed.query().unwrap_or_default().split('&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode_str(k)
                .decode_utf8_lossy()
                .to_ascii_lowercase()
                .replace('_', "-");
            let value = percent_decode_str(v)
                .decode_utf8()
                .map_err(|_| format!("URL parameter '{name}' is not UTF-8"))?;
            if !tls.take(&name, &value)? {
                return Err(format!(
                    "unknown URL parameter '{name}' (known: ssl-mode, ssl-ca, ssl-cert, ssl-key, server-public-key)"
                ));
            }
        }
        let tls = tls.finish(&password)?;
        Ok(SourceUrl {
            user,
            password,
            host,
            port,
            tls,
        })
    }
}

/// Percent-decode the user or the password; the error never quotes them.
fn percent_decode(s: &str) -> Result<String, String> {
    // `percent_decode_str` keeps a malformed escape as it is: refuse it instead.
    let malformed = s.split('%').skip(1).any(|after| {
        after
            .get(..2)
            .is_none_or(|h| !h.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    if malformed {
        return Err(
            "bad %-escape in the URL's user or password: a % there starts an escape; write % as %25 (other characters may stay as they are)"
                .into(),
        );
    }
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "URL user or password is not UTF-8".to_string())
}

/// The module's load arguments (`loadmodule <so> mysql-url URL tables 'shop.*'`): `name value`
/// pairs, a name being a config's name with or without its `cdc.` prefix, in any case. They
/// are the configs' defaults: a `cdc.<name>` line in redis.conf, `--cdc.<name>` on the command
/// line or MODULE LOADEX CONFIG overrides them. Errors never quote a value (it may be the URL
/// with its password).
#[derive(Debug, Default)]
pub struct ModuleArgs {
    /// (bare name, value), in order.
    pairs: Vec<(&'static str, String)>,
    /// Sensitive configs given as [`redact::MARKER`] (a `loadmodule` line written by CONFIG
    /// REWRITE): no argument, the value comes from their `cdc.<name>` line.
    marked: Vec<&'static str>,
}

impl ModuleArgs {
    /// Check `args` against the configs' bare `names`: an unknown name or a name without a
    /// value fails the load, naming it (never a value) and the names.
    pub fn parse(args: &[String], names: &[&'static str]) -> Result<ModuleArgs, String> {
        let quote = |a: &str| -> String {
            if redact::looks_secret(a) {
                redact::MARKER.to_string()
            } else {
                a.to_string()
            }
        };
        if !args.len().is_multiple_of(2) {
            return Err(format!(
                "module arguments come in name value pairs; '{}' has no value",
                quote(args.last().map(String::as_str).unwrap_or_default())
            ));
        }
        let mut parsed = ModuleArgs::default();
        for pair in args.chunks(2) {
            let (name, value) = (&pair[0], &pair[1]);
            let bare = match name.get(..4) {
                Some(p) if p.eq_ignore_ascii_case("cdc.") => &name[4..],
                _ => name.as_str(),
            };
            let Some(known) = names.iter().copied().find(|n| n.eq_ignore_ascii_case(bare)) else {
                return Err(format!(
                    "unknown module argument '{}': the names are {} (each may also be written with its cdc. prefix)",
                    quote(name),
                    names.join(", ")
                ));
            };
            if value.contains('\0') {
                return Err(format!(
                    "module argument {known}: the value holds a NUL byte"
                ));
            }
            if redact::is_sensitive(known) && value == redact::MARKER {
                parsed.marked.push(known);
                parsed.pairs.retain(|(n, _)| *n != known);
                continue;
            }
            parsed.marked.retain(|n| *n != known);
            parsed.pairs.push((known, value.clone()));
        }
        Ok(parsed)
    }

    /// The value given for config `name` (bare), the last one when given twice.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The sensitive configs given as [`redact::MARKER`].
    pub fn marked(&self) -> &[&'static str] {
        &self.marked
    }

    /// The default of integer config `name`: its argument, else `default`. Redis checks the
    /// range.
    pub fn i64_default(&self, name: &str, default: i64) -> Result<i64, String> {
        match self.value(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| format!("cdc.{name}: '{v}' is not an integer")),
        }
    }

    /// The default of string config `name`: its argument, else `default`. A sensitive
    /// config's argument is registered as a token that stands for it ([`redact::load_default`]).
    pub fn string_default(&self, name: &str, default: &str) -> String {
        match (self.value(name), redact::sensitive_name(name)) {
            (None, _) => default.to_string(),
            (Some(v), Some(full)) => redact::load_default(full, v.to_string()),
            (Some(v), None) => v.to_string(),
        }
    }

    /// The default of yes/no config `name`: its argument (`yes` or `no`, any case), else
    /// `default`.
    pub fn bool_default(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.value(name).map(str::trim) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("yes") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("no") => Ok(false),
            Some(v) => Err(format!("cdc.{name}: '{v}' is not yes or no")),
        }
    }

    /// The default of enum config `name`: its argument (a value's name, any case), else
    /// `default`.
    pub fn enum_default<T: ConfigEnum>(
        &self,
        name: &str,
        default: Choice<T>,
    ) -> Result<Choice<T>, String> {
        let Some(v) = self.value(name) else {
            return Ok(default);
        };
        T::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(v.trim()))
            .map(|(t, _)| Choice(*t))
            .ok_or_else(|| {
                let names: Vec<&str> = T::ALL.iter().map(|(_, n)| *n).collect();
                format!("cdc.{name}: '{v}' is not one of {}", names.join(", "))
            })
    }
}

/// Everything the pipeline needs, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// None when `cdc.mysql-url` is empty: the module stays `unconfigured`.
    pub source: Option<SourceUrl>,
    /// The replica server_id sent to MySQL (already resolved when `cdc.server-id` is 0).
    pub server_id: u32,
    pub filter: TableFilter,
    pub stream_prefix: String,
    pub offset_key: String,
    pub snapshot: SnapshotMode,
    pub stream_maxlen: u64,
    pub format: Format,
    pub max_memory_percent: u32,
    pub enabled: bool,
    /// The Debezium formats write schema-change events (docs/debezium.md).
    pub schema_changes: bool,
    /// `cdc.mirror`, `cdc.mirror-prefix` (docs/mirror.md).
    pub mirror: Mirror,
    /// `cdc.streams`: false writes no stream entries.
    pub streams: bool,
    /// `cdc.exclude-columns`, `cdc.mask-columns`, `cdc.mask-salt` (Debug hides the salt).
    pub columns: ColumnRules,
    /// Redis runs with `cluster-enabled yes`: every key of a table carries its hash tag
    /// (docs/cluster.md).
    pub cluster: bool,
}

impl Config {
    pub fn stream_key(&self, db: &str, table: &str) -> String {
        redis_cdc_core::cluster::stream_key(&self.stream_prefix, db, table, self.cluster)
    }
}

/// A stable replica id for this Redis instance: derived from the host name and the port, so it
/// survives restarts, and differs between a primary and its replicas on other ports or hosts.
pub fn derive_server_id(host: &str, port: u16) -> u32 {
    // FNV-1a, 32 bit; mapped away from the small ids DBAs hand out by hand.
    let mut h: u32 = 0x811c_9dc5;
    for b in host.bytes().chain(port.to_le_bytes()) {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    0x4000_0000 | (h & 0x3fff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parses_user_password_host_port() {
        let u = SourceUrl::parse("mysql://cdc:p%40ss@db.example:3307?ssl-mode=preferred").unwrap();
        assert_eq!(u.user, "cdc");
        assert_eq!(u.password, "p@ss");
        assert_eq!(u.host, "db.example");
        assert_eq!(u.port, 3307);
        assert_eq!(u.tls.mode, crate::tls::SslMode::Preferred);
        let required = SourceUrl::parse("mysql://cdc:secret@h?ssl-mode=REQUIRED").unwrap();
        assert_eq!(required.tls.mode, crate::tls::SslMode::Required);
        // A check of the certificate without a CA to check it against: refused at CONFIG SET,
        // not an error found at connect.
        for mode in ["verify-ca", "VERIFY_IDENTITY"] {
            let e = SourceUrl::parse(&format!("mysql://cdc:secret@h?ssl-mode={mode}")).unwrap_err();
            assert!(e.contains("needs ssl-ca") && !e.contains("secret"), "{e}");
        }
        assert_eq!(format!("{u:?}"), "cdc@db.example:3307");
        let u = SourceUrl::parse("mysql://root@[::1]").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.address()),
            ("::1", 3306, "[::1]:3306".to_string())
        );
    }

    #[test]
    fn url_rejects_malformed() {
        for bad in [
            "",
            "http://a@b",
            "mysql://host:3306",
            "mysql://u@:3306",
            "mysql://u@h:0",
            "mysql://u@h:99999",
            "mysql://u@h?x=1",
            "mysql://u@h?ssl-mode=bogus",
        ] {
            assert!(SourceUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_parser_names_its_config() {
        assert_eq!(
            parse_mysql_url("mysql://u:p@h:1")
                .unwrap()
                .map(|u| u.address()),
            Some("h:1".to_string())
        );
        assert_eq!(parse_mysql_url("  ").unwrap(), None);
        assert!(parse_mysql_url("nope")
            .unwrap_err()
            .starts_with("cdc.mysql-url"));
        assert!(parse_tables("nodot").unwrap_err().starts_with("cdc.tables"));
        assert!(parse_exclude_tables("a.b.c")
            .unwrap_err()
            .starts_with("cdc.exclude-tables"));
        assert!(parse_offset_key("")
            .unwrap_err()
            .starts_with("cdc.offset-key"));
        assert_eq!(parse_tables("a.*, b.c?").unwrap(), "a.*, b.c?");
        assert!(parse_exclude_columns("a.b")
            .unwrap_err()
            .starts_with("cdc.exclude-columns"));
        assert!(parse_mask_columns("a.b.c.d")
            .unwrap_err()
            .starts_with("cdc.mask-columns"));
        assert!(parse_mask_columns("shop.*.email, *.*.ssn").is_ok());
    }

    #[test]
    fn the_config_debug_form_never_shows_the_salt() {
        let rules = ColumnRules::new(
            parse_exclude_columns("").unwrap(),
            parse_mask_columns("a.b.c").unwrap(),
            "S3cret-salt",
        );
        assert!(!format!("{rules:?}").contains("S3cret-salt"));
    }

    #[test]
    fn a_refused_value_leaves_the_setting_as_it_was() {
        let s = Setting::new(String::new(), parse_offset_key);
        s.set_text("cdc:offset").unwrap();
        assert!(s.set_text("").unwrap_err().starts_with("cdc.offset-key"));
        assert_eq!(s.get(), "cdc:offset");
        assert_eq!(s.lock().0, "cdc:offset");
    }

    #[test]
    fn enum_configs_name_every_value_in_order() {
        let (names, values) = Choice(Format::Flat).get_options();
        assert_eq!(names, ["flat", "debezium", "debezium-extended"]);
        assert_eq!(values, [0, 1, 2]);
        for (i, (mode, name)) in SnapshotMode::ALL.iter().enumerate() {
            assert_eq!(mode.as_str(), *name);
            assert_eq!(i32::from(Choice(*mode)), i as i32);
            assert_eq!(Choice::<SnapshotMode>::try_from(i as i32).unwrap().0, *mode);
        }
        for (f, name) in Format::ALL {
            assert_eq!(f.as_str(), *name);
        }
        assert!(Choice::<Format>::try_from(3).is_err());
        assert!(Choice::<Format>::try_from(-1).is_err());
    }

    #[test]
    fn module_arguments_are_checked_by_name() {
        const NAMES: &[&str] = &["mysql-url", "tables", "server-id", "enabled", "format"];
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let parse = |v: &[&str]| ModuleArgs::parse(&args(v), NAMES);
        let a = parse(&["mysql-url", "mysql://u:pw@h", "tables", "s.*"]).unwrap();
        assert_eq!(a.value("tables"), Some("s.*"));
        assert!(parse(&[]).is_ok());
        // The cdc. prefix, in any case, names the same config; the last value wins.
        let a = parse(&["CDC.Tables", "a.*", "tables", "b.*", "cdc.server-id", " 7"]).unwrap();
        assert_eq!(a.value("tables"), Some("b.*"));
        assert_eq!(a.i64_default("server-id", 0), Ok(7));
        let e = parse(&["mysql-ur", "x"]).unwrap_err();
        assert!(e.contains("unknown module argument 'mysql-ur'"), "{e}");
        let e = parse(&["tables"]).unwrap_err();
        assert!(e.contains("no value"), "{e}");
        // Never quotes a URL, wherever it stands.
        let e = parse(&["mysql://u:S3cret@h", "x"]).unwrap_err();
        assert!(!e.contains("S3cret") && e.contains("(redacted)"), "{e}");
        let e = parse(&["tables", "a.*", "mysql://u:S3cret@h"]).unwrap_err();
        assert!(!e.contains("S3cret"), "{e}");
        let e = parse(&["mysql-url", "a\0b"]).unwrap_err();
        assert!(e.contains("NUL"), "{e}");
        // Typed defaults, with errors naming the config.
        let a = parse(&["enabled", "NO", "format", "Debezium", "server-id", "x"]).unwrap();
        assert_eq!(a.bool_default("enabled", true), Ok(false));
        assert_eq!(
            a.enum_default("format", Choice(Format::Flat)),
            Ok(Choice(Format::Debezium))
        );
        assert!(a
            .i64_default("server-id", 0)
            .unwrap_err()
            .starts_with("cdc.server-id"));
        let a = parse(&["enabled", "true", "format", "json"]).unwrap();
        assert!(a
            .bool_default("enabled", true)
            .unwrap_err()
            .starts_with("cdc.enabled"));
        let e = a.enum_default("format", Choice(Format::Flat)).unwrap_err();
        assert!(e.contains("flat, debezium, debezium-extended"), "{e}");
    }

    #[test]
    fn a_sensitive_argument_is_a_token_and_the_marker_no_argument() {
        const NAMES: &[&str] = &["mysql-url", "tables"];
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = ModuleArgs::parse(&args(&["cdc.mysql-url", "mysql://u:pw@h"]), NAMES).unwrap();
        let d = a.string_default("mysql-url", "");
        assert!(
            !d.contains("pw") && d.starts_with("(redacted cdc.mysql-url"),
            "{d}"
        );
        assert_eq!(a.string_default("tables", "*.*"), "*.*");
        let a =
            ModuleArgs::parse(&args(&["mysql-url", "(redacted)", "tables", "s.*"]), NAMES).unwrap();
        assert_eq!(a.value("mysql-url"), None);
        assert_eq!(a.marked(), ["mysql-url"]);
        assert_eq!(a.string_default("mysql-url", ""), "");
        assert_eq!(a.string_default("tables", "*.*"), "s.*");
    }

    #[test]
    fn server_id_zero_takes_the_default() {
        assert_eq!(server_id(0, 77), 77);
        assert_eq!(server_id(5, 77), 5);
        assert_eq!(server_id(4_294_967_295, 77), u32::MAX);
    }

    #[test]
    fn url_errors_never_quote_the_password() {
        for bad in [
            "mysql://u:S3cret%zz@h",
            "mysql://u:S3cret%ff@h",
            "mysql://u:S3cret@h:0",
            "mysql://u:S3cret@h:99999",
            "mysql://u:S3cret@:1",
            "mysql://u:S3cret@h/db",
            "mysql://u:S3cret@h?x=1",
        ] {
            let e = SourceUrl::parse(bad).unwrap_err();
            assert!(!e.contains("S3cret"), "{bad}: {e}");
        }
    }

    #[test]
    fn url_keeps_unescaped_special_characters_of_the_password() {
        let u = SourceUrl::parse("mysql://u:a/b#c@d@h:7/").unwrap();
        assert_eq!((u.user.as_str(), u.password.as_str()), ("u", "a/b#c@d"));
        assert_eq!((u.host.as_str(), u.port), ("h", 7));
        let u = SourceUrl::parse("mariadb://u@h:?sslmode=DISABLED").unwrap();
        assert_eq!((u.port, u.tls.mode), (3306, crate::tls::SslMode::Disabled));
        // A `?` in the password is not the start of the parameters.
        let u = SourceUrl::parse("mysql://u:pa?ss@h:7?ssl-mode=disabled").unwrap();
        assert_eq!((u.password.as_str(), u.port), ("pa?ss", 7));
        assert_eq!(u.tls.mode, crate::tls::SslMode::Disabled);
    }

    #[test]
    fn url_takes_the_tls_options_with_paths_as_written() {
        let dir = crate::tls::test_files::Scratch::new("url-tls");
        crate::tls::test_files::pki(&dir);
        // `+` stays a `+` (not a form's space); %-escapes are decoded.
        let ca = dir.path("c+a.pem");
        std::fs::copy(dir.path("ca.pem"), &ca).unwrap();
        let escaped = ca.display().to_string().replace('+', "%2B");
        for written in [ca.display().to_string(), escaped] {
            let u = SourceUrl::parse(&format!(
                "mysql://u:p@h?SSL_MODE=verify_identity&ssl_ca={written}&ssl-cert={}&ssl-key={}&server-public-key={}",
                dir.path("leaf.pem").display(),
                dir.path("leaf.key").display(),
                dir.path("rsa.pub").display(),
            ))
            .unwrap();
            assert_eq!(u.tls.mode, crate::tls::SslMode::VerifyIdentity);
            assert_eq!(u.tls.ca.as_deref(), Some(ca.as_path()));
            assert_eq!(u.tls.cert, Some(dir.path("leaf.pem")));
            assert_eq!(u.tls.key, Some(dir.path("leaf.key")));
            assert_eq!(u.tls.server_public_key, Some(dir.path("rsa.pub")));
        }
        let e = SourceUrl::parse("mysql://u:S3cret@h?ssl-ca=/nonexistent/ca.pem").unwrap_err();
        assert!(
            e.starts_with("ssl-ca=/nonexistent/ca.pem: cannot read the file"),
            "{e}"
        );
        assert!(!e.contains("S3cret"));
        let e = SourceUrl::parse("mysql://u:S3cret@h?ssl-crl=/x").unwrap_err();
        assert!(e.contains("unknown URL parameter 'ssl-crl'"), "{e}");
    }

    #[test]
    fn a_bare_percent_in_the_password_says_how_to_write_it() {
        let e = SourceUrl::parse("mysql://u:50%off@h").unwrap_err();
        assert!(e.contains("%25") && !e.contains("50%off"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn url_round_trips_any_user_and_password(
            user in "\\PC{1,16}",
            password in "\\PC{0,16}",
            host in "[a-z][a-z0-9.-]{0,20}",
            port in 1u16..,
        ) {
            use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
            let url = format!(
                "mysql://{}:{}@{host}:{port}",
                utf8_percent_encode(&user, NON_ALPHANUMERIC),
                utf8_percent_encode(&password, NON_ALPHANUMERIC),
            );
            let u = SourceUrl::parse(&url).unwrap();
            proptest::prop_assert_eq!(&u.user, &user);
            proptest::prop_assert_eq!(&u.password, &password);
            proptest::prop_assert_eq!(&u.host, &host);
            proptest::prop_assert_eq!(u.port, port);
        }
    }

    #[test]
    fn derived_server_id_is_stable_and_distinct() {
        assert_eq!(derive_server_id("h", 6379), derive_server_id("h", 6379));
        assert_ne!(derive_server_id("h", 6379), derive_server_id("h", 6380));
        assert!(derive_server_id("h", 1) >= 0x4000_0000);
    }
}

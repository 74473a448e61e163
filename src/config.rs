//! Typed, validated configuration built from the `cdc.*` module configs (SPEC §1).
//!
//! Redis owns the raw values (they live in the statics of `lib.rs`); this module parses and
//! validates them without touching Redis, so every rule here is unit-tested.

use redis_cdc_core::filter::TableFilter;
use redis_cdc_core::format::Format;
use std::fmt;

/// What to do when there is no usable stored position (SPEC §1 `cdc.snapshot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    Initial,
    Never,
    WhenNeeded,
}

impl SnapshotMode {
    pub fn parse(s: &str) -> Result<SnapshotMode, String> {
        match s.to_ascii_lowercase().as_str() {
            "initial" => Ok(SnapshotMode::Initial),
            "never" => Ok(SnapshotMode::Never),
            "when-needed" => Ok(SnapshotMode::WhenNeeded),
            other => Err(format!(
                "unknown snapshot mode '{other}': expected initial, never or when-needed"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotMode::Initial => "initial",
            SnapshotMode::Never => "never",
            SnapshotMode::WhenNeeded => "when-needed",
        }
    }
}

/// A parsed `mysql://user:password@host:port[?ssl-mode=...]` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SourceUrl {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    /// `ssl-mode` query parameter, lower-cased (`disabled`, `preferred`, `required`...).
    pub ssl_mode: Option<String>,
}

/// Never print the password: Debug and Display show `user@host:port` only.
impl fmt::Debug for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}", self.user, self.host, self.port)
    }
}

impl SourceUrl {
    /// `host:port`, as shown in CDC.STATUS.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn parse(url: &str) -> Result<SourceUrl, String> {
        let rest = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
            .ok_or("must start with mysql:// (mysql://user:password@host:port)")?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let rest = rest.trim_end_matches('/');
        let (userinfo, hostport) = rest
            .rsplit_once('@')
            .ok_or("missing user: expected mysql://user:password@host:port")?;
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (percent_decode(u)?, percent_decode(p)?),
            None => (percent_decode(userinfo)?, String::new()),
        };
        if user.is_empty() {
            return Err("missing user: expected mysql://user:password@host:port".into());
        }
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let (h, p) = h.split_once(']').ok_or("unterminated [ in host")?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err("missing host: expected mysql://user:password@host:port".into());
        }
        let port = match port {
            None | Some("") => 3306,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("bad port '{p}'"))?,
        };
        let mut ssl_mode = None;
        for kv in query.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k.to_ascii_lowercase().replace('_', "-").as_str() {
                "ssl-mode" | "sslmode" => {
                    let v = v.to_ascii_lowercase();
                    match v.as_str() {
                        "disabled" | "preferred" | "required" | "verify-ca" | "verify-identity" => {
                            ssl_mode = Some(v)
                        }
                        _ => return Err(format!("unknown ssl-mode '{v}'")),
                    }
                }
                other => return Err(format!("unknown URL parameter '{other}'")),
            }
        }
        Ok(SourceUrl {
            user,
            password,
            host,
            port,
            ssl_mode,
        })
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("bad %-escape in URL")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "URL user or password is not UTF-8".to_string())
}

/// Everything the pipeline needs, validated. Built from the raw module configs.
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
}

impl Config {
    pub fn stream_key(&self, db: &str, table: &str) -> String {
        format!("{}{}.{}", self.stream_prefix, db, table)
    }
}

/// The raw values as Redis holds them.
#[derive(Debug, Clone, Default)]
pub struct RawConfig {
    pub mysql_url: String,
    pub server_id: i64,
    pub tables: String,
    pub exclude_tables: String,
    pub stream_prefix: String,
    pub offset_key: String,
    pub snapshot: String,
    pub stream_maxlen: i64,
    pub format: String,
    pub max_memory_percent: i64,
    pub enabled: bool,
}

impl RawConfig {
    /// Validate everything; `default_server_id` is used when `cdc.server-id` is 0.
    pub fn build(&self, default_server_id: u32) -> Result<Config, String> {
        let source = if self.mysql_url.trim().is_empty() {
            None
        } else {
            Some(
                SourceUrl::parse(self.mysql_url.trim())
                    .map_err(|e| format!("cdc.mysql-url: {e}"))?,
            )
        };
        let server_id = match self.server_id {
            0 => default_server_id,
            n if (1..=u32::MAX as i64).contains(&n) => n as u32,
            n => return Err(format!("cdc.server-id: {n} is out of range 0..4294967295")),
        };
        Ok(Config {
            source,
            server_id,
            filter: TableFilter::new(&self.tables, &self.exclude_tables)
                .map_err(|e| format!("cdc.tables/cdc.exclude-tables: {e}"))?,
            stream_prefix: self.stream_prefix.clone(),
            offset_key: if self.offset_key.is_empty() {
                return Err("cdc.offset-key: must not be empty".into());
            } else {
                self.offset_key.clone()
            },
            snapshot: SnapshotMode::parse(&self.snapshot)
                .map_err(|e| format!("cdc.snapshot: {e}"))?,
            stream_maxlen: self.stream_maxlen.max(0) as u64,
            format: Format::parse(&self.format).map_err(|e| format!("cdc.format: {e}"))?,
            max_memory_percent: self.max_memory_percent.clamp(1, 100) as u32,
            enabled: self.enabled,
        })
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
        let u = SourceUrl::parse("mysql://cdc:p%40ss@db.example:3307?ssl-mode=required").unwrap();
        assert_eq!(u.user, "cdc");
        assert_eq!(u.password, "p@ss");
        assert_eq!(u.host, "db.example");
        assert_eq!(u.port, 3307);
        assert_eq!(u.ssl_mode.as_deref(), Some("required"));
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
    fn config_builds_and_names_the_bad_parameter() {
        let raw = RawConfig {
            mysql_url: "mysql://u:p@h:1".into(),
            server_id: 0,
            tables: "*.*".into(),
            exclude_tables: String::new(),
            stream_prefix: "cdc:".into(),
            offset_key: "cdc:offset".into(),
            snapshot: "initial".into(),
            stream_maxlen: 0,
            format: "flat".into(),
            max_memory_percent: 90,
            enabled: true,
        };
        let c = raw.build(77).unwrap();
        assert_eq!(c.server_id, 77);
        assert_eq!(c.stream_key("shop", "orders"), "cdc:shop.orders");
        let mut bad = raw.clone();
        bad.format = "xml".into();
        assert!(bad.build(1).unwrap_err().starts_with("cdc.format"));
        let mut bad = raw.clone();
        bad.mysql_url = "nope".into();
        assert!(bad.build(1).unwrap_err().starts_with("cdc.mysql-url"));
    }

    #[test]
    fn derived_server_id_is_stable_and_distinct() {
        assert_eq!(derive_server_id("h", 6379), derive_server_id("h", 6379));
        assert_ne!(derive_server_id("h", 6379), derive_server_id("h", 6380));
        assert!(derive_server_id("h", 1) >= 0x4000_0000);
    }
}

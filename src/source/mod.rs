//! Everything that talks to MySQL or MariaDB.
//!
//! Server differences (MariaDB's GTIDs and event types, MySQL 8.4's renamed statements) are
//! probed once at connect time into a [`ServerInfo`] and looked up here, nowhere else.

pub mod binlog;
mod code;
#[cfg(test)]
mod fake_mysql;
#[cfg(test)]
mod handshake_tests;
pub mod snapshot;

use crate::config::SourceUrl;
use crate::tls::{self, SslMode};
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};
pub use redis_cdc_core::assemble::Flavor;
use redis_cdc_core::model::position::{MysqlGtidSet, Position};
use redis_cdc_core::schema::versioning::{self, Period};
use redis_cdc_core::schema::InfoColumn;
use std::time::Duration;

pub use crate::error::SourceError;

/// The columns (name, position in the key) of the first index of `rows` (index name, column,
/// position in the index, NULLABLE) whose columns are all NOT NULL; indexes in the order the
/// server lists them (its key order: the one InnoDB promotes comes first).
fn first_not_null_unique(rows: Vec<(String, String, u32, String)>) -> Vec<(String, u32)> {
    let mut order: Vec<&str> = Vec::new();
    for (index, ..) in &rows {
        if !order.contains(&index.as_str()) {
            order.push(index);
        }
    }
    order
        .iter()
        .map(|index| rows.iter().filter(|r| r.0 == *index).collect::<Vec<_>>())
        .find(|cols| {
            cols.iter()
                .all(|r| r.3.is_empty() || r.3.eq_ignore_ascii_case("NO"))
        })
        .map(|cols| cols.into_iter().map(|r| (r.1.clone(), r.2)).collect())
        .unwrap_or_default()
}

/// Facts about the source, probed at connect.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub flavor: Flavor,
    pub version: String,
    /// `binlog_row_metadata=FULL`: names, signedness and charsets come with every table map.
    pub full_metadata: bool,
    pub server_id: u32,
}

/// Open a plain client connection to the source.
pub fn connect(url: &SourceUrl) -> Result<Conn, SourceError> {
    connect_with_timeout(url, Duration::from_secs(30))
}

/// Open a connection whose reads fail after `read_timeout` of silence (the binlog connection
/// uses a few heartbeat periods, so that a dead source is noticed even when TCP is not told).
/// TLS as `cdc.mysql-url`'s `ssl-*` options say (src/tls.rs): every connection the module
/// opens comes through here, so the binlog, snapshot and information_schema connections are
/// all alike.
pub fn connect_with_timeout(url: &SourceUrl, read_timeout: Duration) -> Result<Conn, SourceError> {
    // The files are read again at each connection: one gone or replaced since CONFIG SET is
    // named here, not as an I/O error of the handshake.
    url.tls.check_files(&url.password).map_err(|e| {
        SourceError::setup(format!(
            "cdc.mysql-url {e}: redis-server reads it at each connection to the source; put the file back, or CONFIG SET cdc.mysql-url with another path"
        ))
    })?;
    let opts = OptsBuilder::new()
        .ip_or_hostname(Some(url.host.clone()))
        .tcp_port(url.port)
        .user(Some(url.user.clone()))
        .pass(Some(url.password.clone()))
        .prefer_socket(false)
        .tcp_connect_timeout(Some(Duration::from_secs(5)))
        .read_timeout(Some(read_timeout))
        .write_timeout(Some(Duration::from_secs(30)))
        .tcp_keepalive_time_ms(Some(10_000))
        .max_allowed_packet(Some(1 << 30))
        .stmt_cache_size(Some(0))
        .server_key_path(url.tls.server_public_key.clone())
        // information_schema text (column names, ENUM/SET members) in full UTF-8.
        .init(vec!["SET NAMES utf8mb4".to_string()]);
    let attempt = match url.tls.ssl_opts() {
        None => open(opts.clone()),
        Some(ssl) => match open(opts.clone().ssl_opts(ssl)) {
            // `preferred`: unencrypted when TLS cannot be had, as the mysql client.
            Err(Failure::Client(e))
                if url.tls.mode == SslMode::Preferred && tls::may_fall_back(&e) =>
            {
                note_unencrypted(url, &e);
                open(opts)
            }
            other => other,
        },
    };
    let mut conn = attempt.map_err(|f| connect_error(url, f))?;
    // MySQL 8.0.30+ can hide a generated invisible primary key (`my_row_id`) from
    // information_schema; the binlog's rows have it, so the shapes and the snapshot must too.
    // Other servers do not know the variable: the error is of no consequence.
    let _ = conn.query_drop("SET SESSION show_gipk_in_create_table_and_information_schema = ON");
    Ok(conn)
}

/// Log once per source (not at each of a session's connections) that `preferred` fell back
/// to an unencrypted connection, and why; CDC.STATUS `source` says it all along.
fn note_unencrypted(url: &SourceUrl, e: &mysql::Error) {
    static NOTED: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
    let mut noted = NOTED.lock().unwrap_or_else(|p| p.into_inner());
    if *noted != url.address() {
        *noted = url.address();
        log::warn!(
            "no TLS with the source {} ({e}): ssl-mode=preferred connects unencrypted",
            url.address()
        );
    }
}

/// Why a connection attempt failed.
enum Failure {
    Client(mysql::Error),
    /// The crate panicked: it does on some inputs (an RSA key of the server it cannot parse, a
    /// password too long for that key: mysql_common's `crypto`).
    Panicked,
}

/// One connection attempt; a panic of the crate is a [`Failure`] like any other.
fn open(opts: OptsBuilder) -> Result<Conn, Failure> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Conn::new(opts))) {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(Failure::Client(e)),
        Err(_) => Err(Failure::Panicked),
    }
}

/// A failed connection, classified: TLS causes name the `ssl-*` option to change; an access
/// denied says that accounts created `REQUIRE SSL`/`X509` need the TLS options.
fn connect_error(url: &SourceUrl, failure: Failure) -> SourceError {
    let e = match failure {
        Failure::Client(e) => e,
        Failure::Panicked => {
            return SourceError::setup(format!(
                "cannot connect to {}: the MySQL client library failed during the handshake (its panic is in the Redis log); with MySQL 8's caching_sha2_password and no TLS, check server-public-key of cdc.mysql-url, or use TLS (ssl-mode)",
                url.address()
            ))
        }
    };
    if let Some(message) = url.tls.failure(&url.host, &e) {
        return SourceError::setup(format!("connecting to {}: {message}", url.address()));
    }
    match e {
        mysql::Error::MySqlError(ref me) if me.code == 1045 => {
            let mut err = SourceError::from_mysql("connect", e);
            err.message.push_str(&url.tls.access_denied_hint());
            err
        }
        mysql::Error::MySqlError(_) => SourceError::from_mysql("connect", e),
        other => SourceError::retry(format!("cannot connect to {}: {other}", url.address())),
    }
}

/// The TLS protocol of a connection (`TLSv1.3`), None when it is not encrypted: the server's
/// view (`Ssl_version`, the same on MySQL and MariaDB); the crate does not say.
pub fn tls_version(conn: &mut Conn) -> Option<String> {
    conn.query_first::<(String, String), _>("SHOW SESSION STATUS LIKE 'Ssl_version'")
        .ok()
        .flatten()
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// How CDC.STATUS `source` describes the connection after the server version: the TLS
/// version and mode, or that it is not encrypted.
pub fn describe_tls(url: &SourceUrl, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("{v}, ssl-mode={}", url.tls.mode),
        None => format!("not encrypted, ssl-mode={}", url.tls.mode),
    }
}

fn global_var(conn: &mut Conn, name: &str) -> Result<Option<String>, SourceError> {
    let row: Option<(String, Option<String>)> = conn
        .query_first(format!("SHOW GLOBAL VARIABLES LIKE '{name}'"))
        .map_err(|e| SourceError::from_mysql("reading server variables", e))?;
    Ok(row.and_then(|(_, v)| v))
}

/// Check the prerequisites (docs/commands.md lists them with their fixes) and learn what kind
/// of server this is.
pub fn probe(conn: &mut Conn) -> Result<ServerInfo, SourceError> {
    let version = global_var(conn, "version")?.unwrap_or_default();
    let flavor = if version.to_ascii_lowercase().contains("mariadb") {
        Flavor::MariaDb
    } else {
        Flavor::MySql
    };
    let log_bin = global_var(conn, "log_bin")?.unwrap_or_default();
    if !log_bin.eq_ignore_ascii_case("ON") && log_bin != "1" {
        return Err(SourceError::setup(
            "the binary log is disabled on the source (log_bin is OFF): start the server with --log-bin (MySQL 8 has it on by default) and --binlog-format=ROW".into(),
        ));
    }
    let format = global_var(conn, "binlog_format")?.unwrap_or_default();
    if !format.eq_ignore_ascii_case("ROW") {
        return Err(SourceError::setup(format!(
            "binlog_format is {format}, needs ROW: SET GLOBAL binlog_format=ROW (and in my.cnf), then reconnect"
        )));
    }
    if let Some(image) = global_var(conn, "binlog_row_image")? {
        if !image.eq_ignore_ascii_case("FULL") {
            return Err(SourceError::setup(format!(
                "binlog_row_image is {image}, needs FULL: SET GLOBAL binlog_row_image=FULL (and in my.cnf)"
            )));
        }
    }
    let full_metadata =
        global_var(conn, "binlog_row_metadata")?.is_some_and(|v| v.eq_ignore_ascii_case("FULL"));
    let server_id = global_var(conn, "server_id")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // Needs REPLICATION CLIENT / BINLOG MONITOR; fails early with the GRANT to run.
    master_status(conn, flavor)?;
    Ok(ServerInfo {
        flavor,
        version,
        full_metadata,
        server_id,
    })
}

/// The source's current binlog end, and its GTID state where it has one.
pub fn master_status(conn: &mut Conn, flavor: Flavor) -> Result<(Position, String), SourceError> {
    let row: Option<mysql::Row> = match conn.query_first("SHOW MASTER STATUS") {
        Ok(r) => r,
        // MySQL 8.4 removed SHOW MASTER STATUS.
        Err(mysql::Error::MySqlError(e)) if e.code == 1064 => conn
            .query_first("SHOW BINARY LOG STATUS")
            .map_err(|e| SourceError::from_mysql("SHOW BINARY LOG STATUS", e))?,
        Err(e) => return Err(SourceError::from_mysql("SHOW MASTER STATUS", e)),
    };
    let row = row.ok_or_else(|| {
        SourceError::setup("SHOW MASTER STATUS is empty: the binary log is disabled on the source; start it with --log-bin".into())
    })?;
    let file: String = row.get_opt(0).and_then(Result::ok).unwrap_or_default();
    let pos: u64 = row.get_opt(1).and_then(Result::ok).unwrap_or(4);
    let gtid = match flavor {
        Flavor::MariaDb => conn
            .query_first::<Option<String>, _>("SELECT @@GLOBAL.gtid_binlog_pos")
            .map_err(|e| SourceError::from_mysql("reading gtid_binlog_pos", e))?
            .flatten()
            .unwrap_or_default(),
        // `Executed_Gtid_Set`, in the module's text form (one line, sorted, lower case).
        Flavor::MySql => {
            let set = row
                .get_opt::<Option<String>, _>(4)
                .and_then(Result::ok)
                .flatten()
                .unwrap_or_default();
            match set.parse::<MysqlGtidSet>() {
                Ok(s) => s.to_string(),
                Err(_) => set.replace('\n', ""),
            }
        }
    };
    Ok((Position::new(file, pos), gtid))
}

/// The binlog files the source still has, with their sizes.
pub fn binlog_files(conn: &mut Conn) -> Result<Vec<(String, u64)>, SourceError> {
    let rows: Vec<mysql::Row> = conn
        .query("SHOW BINARY LOGS")
        .map_err(|e| SourceError::from_mysql("SHOW BINARY LOGS", e))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let name = r.get_opt::<String, _>(0).and_then(Result::ok)?;
            // A size that does not read makes the offset check pass (u64::MAX).
            let size = r
                .get_opt::<u64, _>(1)
                .and_then(Result::ok)
                .unwrap_or(u64::MAX);
            Some((name, size))
        })
        .collect())
}

/// MariaDB's `@@gtid_binlog_pos` (the last GTID of each domain in its binlog).
pub fn gtid_binlog_pos(conn: &mut Conn) -> Result<String, SourceError> {
    let pos: Option<String> = conn
        .query_first("SELECT @@gtid_binlog_pos")
        .map_err(|e| SourceError::from_mysql("SELECT @@gtid_binlog_pos", e))?;
    Ok(pos.unwrap_or_default())
}

/// Whether the user has a SELECT privilege anywhere (global, on a schema or on a table), as
/// information_schema shows the user its own grants.
pub fn can_select_something(conn: &mut Conn) -> Result<bool, SourceError> {
    let any: Option<u8> = conn
        .query_first(
            "SELECT EXISTS(SELECT 1 FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'SELECT')
                 OR EXISTS(SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES WHERE PRIVILEGE_TYPE = 'SELECT')
                 OR EXISTS(SELECT 1 FROM information_schema.TABLE_PRIVILEGES WHERE PRIVILEGE_TYPE = 'SELECT')",
        )
        .map_err(|e| SourceError::from_mysql("reading the user's privileges", e))?;
    Ok(any.unwrap_or(1) == 1)
}

/// Captured tables the binlog wrote but the user could not read (see [`check_readable`]): the
/// next session that can see them re-reads them (CDC.RESYNC after a restart of Redis).
pub static UNREADABLE: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Ok when `user` can read `db.table` or the table is gone; an error naming the GRANT when
/// the source denies it (information_schema then shows nothing of the table, so it could not
/// have been snapshotted).
pub fn check_readable(
    conn: &mut Conn,
    user: &str,
    db: &str,
    table: &str,
) -> Result<(), SourceError> {
    let sql = format!(
        "SELECT 1 FROM {}.{} LIMIT 0",
        snapshot::quote_ident(db),
        snapshot::quote_ident(table)
    );
    match conn.query_drop(sql) {
        Err(mysql::Error::MySqlError(e)) if [1044, 1142, 1143].contains(&e.code) => {
            let name = redis_cdc_core::model::name::table_name(db, table);
            let message = format!(
                "{name} is captured (cdc.tables) and written in the binlog, but the user '{user}' cannot read it ({}), so its existing rows were never snapshotted: GRANT SELECT ON {}.* TO '{user}' (or on the table; the module then re-reads it, or CDC.RESYNC {name} after a restart of Redis), or leave it out with cdc.exclude-tables",
                e.message,
                snapshot::quote_ident(db),
            );
            UNREADABLE
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(name);
            Err(SourceError::setup(message))
        }
        Err(mysql::Error::MySqlError(e)) if e.code == 1146 => Ok(()),
        Err(e) => Err(SourceError::from_mysql("checking a table's privileges", e)),
        Ok(()) => Ok(()),
    }
}

/// The tables that have a primary key or a UNIQUE index of NOT NULL columns (the tables the
/// mirror can key), as (db, table); one query for all.
pub fn keyed_tables(
    conn: &mut Conn,
) -> Result<std::collections::HashSet<(String, String)>, SourceError> {
    let rows: Vec<(Vec<u8>, Vec<u8>)> = conn
        .query(
            "SELECT s.TABLE_SCHEMA, s.TABLE_NAME FROM information_schema.STATISTICS s              JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA                AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME              WHERE s.NON_UNIQUE = 0              GROUP BY s.TABLE_SCHEMA, s.TABLE_NAME, s.INDEX_NAME              HAVING SUM(c.IS_NULLABLE = 'YES') = 0",
        )
        .map_err(|e| SourceError::from_mysql("listing the tables' keys", e))?;
    Ok(rows
        .into_iter()
        .map(|(d, t)| {
            (
                String::from_utf8_lossy(&d).into_owned(),
                String::from_utf8_lossy(&t).into_owned(),
            )
        })
        .collect())
}

/// The source's tables that `filter` captures, as (db, table), sorted: base tables and
/// MariaDB's system-versioned tables (docs/events.md).
pub fn captured_tables(
    conn: &mut Conn,
    filter: &redis_cdc_core::filter::TableFilter,
) -> Result<Vec<(String, String)>, SourceError> {
    let rows: Vec<(Vec<u8>, Vec<u8>)> = conn
        .query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')")
        .map_err(|e| SourceError::from_mysql("listing tables", e))?;
    let mut tables: Vec<(String, String)> = rows
        .into_iter()
        .map(|(d, t)| {
            (
                String::from_utf8_lossy(&d).into_owned(),
                String::from_utf8_lossy(&t).into_owned(),
            )
        })
        .filter(|(d, t)| filter.matches(d, t))
        .collect();
    tables.sort();
    Ok(tables)
}

/// The warnings of `cdc.exclude-columns` for the captured tables (`db.table`): key columns it
/// names, which are masked instead (the plan the reader and the snapshot apply, from today's
/// shapes), so that CDC.STATUS shows them from the session's start.
pub fn column_warnings(
    conn: &mut Conn,
    flavor: Flavor,
    config: &crate::config::Config,
    captured: &[String],
) -> Result<Vec<String>, SourceError> {
    let rules = &config.columns;
    if captured.is_empty()
        || !captured.iter().any(|t| {
            t.split_once('.')
                .is_some_and(|(d, n)| rules.excludes_in(d, n))
        })
    {
        return Ok(Vec::new());
    }
    // One look at every column; the shapes only of the tables with an excluded column.
    let rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = conn
        .query("SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS")
        .map_err(|e| SourceError::from_mysql("reading information_schema.COLUMNS", e))?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let captured: std::collections::HashSet<&str> = captured.iter().map(String::as_str).collect();
    let tables: std::collections::BTreeSet<(String, String)> = rows
        .iter()
        .map(|(d, t, c)| (text(d), text(t), text(c)))
        .filter(|(d, t, c)| rules.excludes(d, t, c) && captured.contains(&*format!("{d}.{t}")))
        .map(|(d, t, _)| (d, t))
        .collect();
    let mut out = Vec::new();
    for (db, table) in tables {
        let info = redis_cdc_core::schema::entry_columns(&info_columns(conn, flavor, &db, &table)?);
        let Ok(shape) = redis_cdc_core::decode::sql::schema_from_info(&db, &table, &info) else {
            continue;
        };
        let plan = rules.plan(&shape, config.format);
        out.extend(plan.and_then(|p| p.warning()));
    }
    Ok(out)
}

/// Columns of `db.table` from information_schema, in ordinal order.
pub fn info_columns(
    conn: &mut Conn,
    flavor: Flavor,
    db: &str,
    table: &str,
) -> Result<Vec<InfoColumn>, SourceError> {
    let err = |e| SourceError::from_mysql("reading information_schema.COLUMNS", e);
    type ColumnRow = (
        String,
        String,
        String,
        Option<u64>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<ColumnRow> = conn
        .exec(
            "SELECT c.COLUMN_NAME, LOWER(c.DATA_TYPE), LOWER(c.COLUMN_TYPE), co.ID, c.CHARACTER_SET_NAME, \
             UPPER(c.EXTRA), UPPER(c.GENERATION_EXPRESSION) \
             FROM information_schema.COLUMNS c \
             LEFT JOIN information_schema.COLLATIONS co ON co.COLLATION_NAME = c.COLLATION_NAME \
             WHERE c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ? ORDER BY c.ORDINAL_POSITION",
            (db, table),
        )
        .map_err(err)?;
    let mut pk: Vec<(String, u32)> = conn
        .exec(
            "SELECT COLUMN_NAME, ORDINAL_POSITION FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY'",
            (db, table),
        )
        .map_err(err)?;
    if pk.is_empty() {
        // No primary key: InnoDB (and the binlog's table map) key the table by its first
        // UNIQUE index whose columns are all NOT NULL; so do the entries (docs/events.md).
        let unique: Vec<(String, String, u32, String)> = conn
            .exec(
                "SELECT INDEX_NAME, COLUMN_NAME, SEQ_IN_INDEX, NULLABLE FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0",
                (db, table),
            )
            .map_err(err)?;
        pk = first_not_null_unique(unique);
    }
    let json_cols: Vec<String> = if flavor == Flavor::MariaDb {
        conn.exec(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? AND CHECK_CLAUSE LIKE 'json_valid(%'",
            (db, table),
        )
        .map_err(err)?
    } else {
        Vec::new()
    };
    // MariaDB system versioning (core's schema::versioning): COLUMNS names a declared period
    // column's role in GENERATION_EXPRESSION and leaves the implicit ones out.
    let versioned = flavor == Flavor::MariaDb
        && conn
            .exec_first::<String, _, _>(
                "SELECT TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (db, table),
            )
            .map_err(err)?
            .is_some_and(|t| t.eq_ignore_ascii_case("SYSTEM VERSIONED"));
    let mut cols: Vec<InfoColumn> = rows
        .into_iter()
        .map(
            |(name, data_type, column_type, collation, charset, extra, generation)| {
                let quoted = format!("json_valid(`{name}`)");
                let period = match generation.as_deref() {
                    Some("ROW START") if versioned => Some(Period::RowStart),
                    Some("ROW END") if versioned => Some(Period::RowEnd),
                    _ => None,
                };
                InfoColumn {
                    is_json: json_cols.iter().any(|c| c.eq_ignore_ascii_case(&quoted)),
                    pk_ordinal: pk.iter().find(|(n, _)| *n == name).map(|(_, o)| *o),
                    collation: collation.map(|c| c as u16),
                    charset,
                    name,
                    data_type,
                    column_type,
                    period,
                    invisible: extra.is_some_and(|e| e.contains("INVISIBLE")),
                    hash: false,
                }
            },
        )
        .collect();
    // The implicit period columns are added, and ROW END (which KEY_COLUMN_USAGE lists in the
    // primary key) leaves the key: entries are keyed by the declared key.
    if versioned {
        versioning::complete_info(&mut cols, true);
    }
    // MariaDB's long UNIQUE indexes (INDEX_TYPE HASH; a MEMORY table's HASH indexes are its
    // own kind) each have a hidden hash column after all the others: in the binlog's rows,
    // never in COLUMNS (core's schema::hash_columns).
    if flavor == Flavor::MariaDb {
        let hashes: Option<u64> = conn
            .exec_first(
                "SELECT COUNT(DISTINCT s.INDEX_NAME) FROM information_schema.STATISTICS s \
                 JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.TABLE_SCHEMA AND t.TABLE_NAME = s.TABLE_NAME \
                 WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? AND s.NON_UNIQUE = 0 \
                 AND s.INDEX_TYPE = 'HASH' AND UPPER(t.ENGINE) <> 'MEMORY'",
                (db, table),
            )
            .map_err(err)?;
        cols.extend(redis_cdc_core::schema::hash_columns(
            hashes.unwrap_or(0) as usize
        ));
    }
    Ok(cols)
}

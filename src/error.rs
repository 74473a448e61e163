//! The one error type of the pipeline, classified by the recovery it needs.
//!
//! Every thread of a session (binlog reader, snapshot, writer) ends with a [`CdcError`]; the
//! supervisor alone decides what happens next, from [`CdcError::recovery`]. The message names
//! the cause and the fix (docs/commands.md lists the errors a user meets); the structured
//! fields say where it happened when that is known.
//!
//! This module imports nothing of the crate, so `source/`, `sink/` and the supervisor can all
//! use it without an import cycle.

/// What kind of failure this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Network trouble, a server restarting, the writer gone: it goes away by itself.
    Transient,
    /// The source is reachable but misconfigured or refuses us (credentials, privileges,
    /// `binlog_format`, a duplicate `server_id`, an unreadable offset hash): the user must act,
    /// often outside Redis (a GRANT, `DEL` of the offset hash).
    Setup,
    /// The stored position is no longer on the source (binlog purged).
    PositionGone,
    /// An event or row we cannot decode, or an internal error: writing on would write a wrong
    /// entry or skip one.
    Undecodable,
}

/// What the supervisor does about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Reconnect with backoff; the state shows `connecting`.
    Retry,
    /// The next start must treat the stored position as gone: with `cdc.snapshot when-needed`
    /// it re-snapshots, otherwise it reports the purge and the fix. The state shows `error`.
    Resnapshot,
    /// The user must fix something the module cannot see (MySQL grants and settings, the offset
    /// hash): state `error`, re-checked with backoff so that the fix is picked up.
    WaitForUser,
    /// Stop in state `error` and stay there until the user acts (a `cdc.*` config change,
    /// CDC.RESUME, CDC.RESYNC, CDC.PAUSE): retrying would meet the same row again.
    Halt,
}

/// An error of the pipeline: kind, message (cause and fix) and, where known, its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CdcError {
    pub kind: Kind,
    /// The whole text shown in CDC.STATUS `last_error` and the Redis log.
    pub message: String,
    /// The binlog position (`file:pos`) of the event that failed.
    pub position: Option<String>,
    /// The table (`db.table`) concerned.
    pub table: Option<String>,
    /// The column concerned.
    pub column: Option<String>,
}

/// The name the source modules use for [`CdcError`].
pub type SourceError = CdcError;

impl CdcError {
    pub fn new(kind: Kind, message: impl Into<String>) -> CdcError {
        CdcError {
            kind,
            message: message.into(),
            position: None,
            table: None,
            column: None,
        }
    }

    /// Network trouble, server restarting: retry with backoff.
    pub fn retry(message: String) -> CdcError {
        CdcError::new(Kind::Transient, message)
    }

    /// Reachable but misconfigured or refusing us: the user must act.
    pub fn setup(message: String) -> CdcError {
        CdcError::new(Kind::Setup, message)
    }

    /// The stored position is no longer on the source.
    pub fn position_gone(message: String) -> CdcError {
        CdcError::new(Kind::PositionGone, message)
    }

    /// A row or event we cannot decode: stop, never write a wrong entry.
    pub fn halt(message: String) -> CdcError {
        CdcError::new(Kind::Undecodable, message)
    }

    /// Where in the binlog (`file:pos`).
    pub fn at_position(mut self, position: impl Into<String>) -> CdcError {
        self.position = Some(position.into());
        self
    }

    /// Which table (`db.table`).
    pub fn in_table(mut self, table: impl Into<String>) -> CdcError {
        self.table = Some(table.into());
        self
    }

    /// Which column.
    pub fn in_column(mut self, column: impl Into<String>) -> CdcError {
        self.column = Some(column.into());
        self
    }

    /// What the supervisor does about this error.
    pub fn recovery(&self) -> Recovery {
        match self.kind {
            Kind::Transient => Recovery::Retry,
            Kind::Setup => Recovery::WaitForUser,
            Kind::PositionGone => Recovery::Resnapshot,
            Kind::Undecodable => Recovery::Halt,
        }
    }

    /// Classify a MySQL client error; `what` says what we were doing.
    pub fn from_mysql(what: &str, e: mysql::Error) -> CdcError {
        match &e {
            mysql::Error::MySqlError(me) => server_error(what, me.code, &me.message),
            // A read timeout of the binlog connection: not even a heartbeat arrived.
            _ if is_timeout(&e) => CdcError::retry(format!(
                "{what}: the source sent nothing, not even a heartbeat, within the read timeout (server frozen or network down?)"
            )),
            // The crate shows these as `DriverError { ... }` / `IoError { ... }`: the inner text.
            mysql::Error::DriverError(d) => CdcError::retry(format!("{what}: {d}")),
            mysql::Error::IoError(io) => CdcError::retry(format!("{what}: {io}")),
            _ => CdcError::retry(format!("{what}: {e}")),
        }
    }
}

/// `ER_ACCESS_DENIED_ERROR`: wrong user or password.
const ACCESS_DENIED: u16 = 1045;
/// `ER_DBACCESS_DENIED_ERROR`, `ER_TABLEACCESS_DENIED_ERROR`, `ER_SPECIFIC_ACCESS_DENIED_ERROR`:
/// a missing privilege.
const PRIVILEGE_DENIED: [u16; 3] = [1044, 1142, 1227];
/// `ER_MASTER_FATAL_ERROR_READING_BINLOG`: the binlog dump failed (many causes, one code).
const BINLOG_DUMP_FAILED: u16 = 1236;
/// `ER_SLAVE_SAME_ID` (MariaDB): another replica uses our `server_id`.
const SAME_SERVER_ID: u16 = 4052;

/// Texts of error 1236 that mean the requested position is no longer on the source. The code
/// alone cannot tell a purged position from other dump failures, so these are matched:
/// - MySQL and MariaDB, file purged: "Could not find first log file name in binary log index file";
/// - MySQL, GTIDs purged: "... the master has purged binary logs containing GTIDs that the slave requires";
/// - MariaDB, GTID state purged: "Could not find GTID state requested by slave in any binlog
///   files. Probably the slave state is too old and required binlog files have been purged.";
/// - MariaDB, GTID never in this binlog: "... which is not in the master's binlog".
const POSITION_GONE_1236: [&str; 4] = [
    "purged",
    "not in the master's binlog",
    "Could not find first log",
    "could not find",
];

/// Classify an error the server sent, by its code.
fn server_error(what: &str, code: u16, message: &str) -> CdcError {
    match code {
        ACCESS_DENIED => CdcError::setup(format!(
            "{what}: access denied for the replication user ({message}): check the user and password in cdc.mysql-url"
        )),
        c if PRIVILEGE_DENIED.contains(&c) => CdcError::setup(format!(
            "{what}: missing privilege ({message}): GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO the user (MariaDB 10.5+: REPLICATION SLAVE, BINLOG MONITOR, SELECT)"
        )),
        BINLOG_DUMP_FAILED => {
            if POSITION_GONE_1236.iter().any(|t| message.contains(t)) {
                CdcError::position_gone(format!("{what}: {message}"))
            } else {
                CdcError::retry(format!("{what}: binlog error 1236: {message}"))
            }
        }
        SAME_SERVER_ID => CdcError::setup(format!(
            "{what}: another replica uses the same server_id ({message}): give this Redis its own cdc.server-id"
        )),
        _ => CdcError::retry(format!("{what}: MySQL error {code}: {message}")),
    }
}

/// Whether a client error is a read or write timeout of the socket.
pub fn is_timeout(e: &mysql::Error) -> bool {
    let io = match e {
        mysql::Error::IoError(io) => Some(io),
        mysql::Error::CodecError(mysql_common::proto::codec::error::PacketCodecError::Io(io)) => {
            Some(io)
        }
        _ => None,
    };
    io.is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mysql_error(code: u16, message: &str) -> mysql::Error {
        mysql::Error::MySqlError(mysql::MySqlError {
            state: "HY000".into(),
            code,
            message: message.into(),
        })
    }

    #[test]
    fn server_errors_are_classified_by_code() {
        let cases: &[(u16, &str, Kind, &str)] = &[
            (1045, "Access denied for user 'cdc'", Kind::Setup, "connect: access denied for the replication user (Access denied for user 'cdc'): check the user and password in cdc.mysql-url"),
            (1044, "denied", Kind::Setup, "connect: missing privilege (denied): GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO the user (MariaDB 10.5+: REPLICATION SLAVE, BINLOG MONITOR, SELECT)"),
            (1142, "denied", Kind::Setup, "connect: missing privilege (denied): GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO the user (MariaDB 10.5+: REPLICATION SLAVE, BINLOG MONITOR, SELECT)"),
            (1227, "denied", Kind::Setup, "connect: missing privilege (denied): GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO the user (MariaDB 10.5+: REPLICATION SLAVE, BINLOG MONITOR, SELECT)"),
            (4052, "A slave with the same server_uuid/server_id as this slave has connected to the master", Kind::Setup, "connect: another replica uses the same server_id (A slave with the same server_uuid/server_id as this slave has connected to the master): give this Redis its own cdc.server-id"),
            (1236, "Could not find first log file name in binary log index file", Kind::PositionGone, "connect: Could not find first log file name in binary log index file"),
            (1236, "Could not find GTID state requested by slave in any binlog files. Probably the slave state is too old and required binlog files have been purged.", Kind::PositionGone, "connect: Could not find GTID state requested by slave in any binlog files. Probably the slave state is too old and required binlog files have been purged."),
            (1236, "Error: connecting slave requested to start from GTID 0-1-9, which is not in the master's binlog", Kind::PositionGone, "connect: Error: connecting slave requested to start from GTID 0-1-9, which is not in the master's binlog"),
            (1236, "The slave is connecting using CHANGE MASTER TO MASTER_AUTO_POSITION = 1, but the master has purged binary logs containing GTIDs that the slave requires.", Kind::PositionGone, "connect: The slave is connecting using CHANGE MASTER TO MASTER_AUTO_POSITION = 1, but the master has purged binary logs containing GTIDs that the slave requires."),
            (1236, "binlog truncated in the middle of event", Kind::Transient, "connect: binlog error 1236: binlog truncated in the middle of event"),
            (2013, "Lost connection", Kind::Transient, "connect: MySQL error 2013: Lost connection"),
        ];
        for (code, message, kind, text) in cases {
            let e = CdcError::from_mysql("connect", mysql_error(*code, message));
            assert_eq!(e.kind, *kind, "{code} {message}");
            assert_eq!(e.message, *text, "{code} {message}");
        }
    }

    #[test]
    fn each_kind_has_its_recovery() {
        assert_eq!(CdcError::retry("x".into()).recovery(), Recovery::Retry);
        assert_eq!(
            CdcError::setup("x".into()).recovery(),
            Recovery::WaitForUser
        );
        assert_eq!(
            CdcError::position_gone("x".into()).recovery(),
            Recovery::Resnapshot
        );
        assert_eq!(CdcError::halt("x".into()).recovery(), Recovery::Halt);
    }

    #[test]
    fn client_errors_show_their_own_text() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let e = CdcError::from_mysql("connect", mysql::Error::IoError(io));
        assert_eq!(e.message, "connect: Connection refused");
        let d = mysql::DriverError::ConnectTimeout;
        let e = CdcError::from_mysql("connect", mysql::Error::DriverError(d));
        assert!(!e.message.contains("DriverError"), "{}", e.message);
    }

    #[test]
    fn timeouts_name_the_silence() {
        let io = std::io::Error::new(std::io::ErrorKind::WouldBlock, "would block");
        let e = CdcError::from_mysql("reading the binlog", mysql::Error::IoError(io));
        assert_eq!(e.kind, Kind::Transient);
        assert!(e.message.contains("not even a heartbeat"), "{}", e.message);
    }

    #[test]
    fn the_place_is_kept_apart_from_the_message() {
        let e = CdcError::halt("cannot decode row".into())
            .at_position("mysql-bin.000001:4")
            .in_table("db.t")
            .in_column("c");
        assert_eq!(e.to_string(), "cannot decode row");
        assert_eq!(e.position.as_deref(), Some("mysql-bin.000001:4"));
        assert_eq!(e.table.as_deref(), Some("db.t"));
        assert_eq!(e.column.as_deref(), Some("c"));
    }
}

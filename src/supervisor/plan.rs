//! Where a session starts reading: a pure decision from plain facts.
//!
//! Inputs: the checkpoint stored in the offset hash (or none), `cdc.snapshot`, and what the
//! source has (its `server_id`, whether it can resume by GTID, its binlog files and their sizes,
//! its GTID position, and — only where those cannot tell — whether the last session was refused
//! the position). Output: a [`Start`]. Nothing outlives a session: every start looks at the
//! source again. The session runner gathers the facts and carries the decision out
//! (docs/snapshot.md describes the modes, docs/events.md what a position means).

use crate::config::SnapshotMode;
use crate::error::CdcError;
use redis_cdc_core::model::position::{Checkpoint, MariaGtidState};

/// What the source has, as far as the starting point is concerned.
#[derive(Debug, Clone, Default)]
pub struct SourceFacts {
    /// `server_id` of the source we are connected to.
    pub server_id: u32,
    /// The source can resume from a GTID state written on another server of its replication
    /// topology (MariaDB's domain-server-sequence GTIDs).
    pub resumes_by_gtid: bool,
    /// `SHOW BINARY LOGS`: (file, size in bytes); empty when the source does not list them
    /// (then a position is assumed present, and a purge is noticed when the binlog is
    /// requested).
    pub binlog_files: Vec<(String, u64)>,
    /// MariaDB: `@@gtid_binlog_pos`, the last GTID of each domain in the source's binlog.
    pub gtid_now: Option<String>,
    /// The last session was refused the position (error 1236); only used when the files
    /// cannot tell.
    pub position_gone: bool,
}

/// The decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// Resume at the stored position (and carry on with the stored snapshot progress).
    AtPosition,
    /// Resume from the stored GTID state: the source is another server (a failover) whose
    /// binlog offsets mean nothing for the stored position, but whose GTID history is the same.
    ByGtid,
    /// Nothing stored: start at the source's current end; snapshot the captured tables first
    /// unless `cdc.snapshot never`.
    Fresh { snapshot: bool },
    /// The stored position was purged and `cdc.snapshot when-needed`: start at the current
    /// end, empty the captured tables' streams and snapshot them again.
    Resnapshot,
    /// No way to start that keeps the guarantees: the error names the fix.
    Refuse(CdcError),
}

/// Decide where to start. `offset_key` only goes into messages.
pub fn plan(
    stored: Option<&Checkpoint>,
    mode: SnapshotMode,
    source: &SourceFacts,
    offset_key: &str,
) -> Start {
    let Some(cp) = stored else {
        return Start::Fresh {
            snapshot: mode != SnapshotMode::Never,
        };
    };
    if cp.source_id != 0 && cp.source_id != source.server_id {
        if source.resumes_by_gtid && !cp.gtid.is_empty() {
            return Start::ByGtid;
        }
        return Start::Refuse(CdcError::setup(format!(
            "the stored position {} belongs to the source with server_id {}, but this source has server_id {} and there is no GTID position to resume from: point cdc.mysql-url back at the original server, or DEL {} to start at this server's current end (changes in between are not captured)",
            cp.position, cp.source_id, source.server_id, offset_key
        )));
    }
    if let Some(behind) = source_behind(cp, source) {
        return Start::Refuse(CdcError::setup(format!(
            "the stored position {} (GTID {}) is ahead of this source: {behind}. Either cdc.mysql-url points at another server with the same server_id (point it back at the original), or the source's binlog was reset (RESET MASTER): then DEL {} to start at its current end (with a snapshot unless cdc.snapshot never)",
            cp.position,
            if cp.gtid.is_empty() { "none" } else { &cp.gtid },
            offset_key
        )));
    }
    let listed = source
        .binlog_files
        .iter()
        .any(|(f, _)| *f == cp.position.file);
    let on_source = if source.binlog_files.is_empty() {
        !source.position_gone
    } else {
        listed
    };
    if on_source {
        return Start::AtPosition;
    }
    if mode != SnapshotMode::WhenNeeded {
        return Start::Refuse(CdcError::position_gone(format!(
            "the stored position {} (in {}) is no longer on the source (binlog purged): set cdc.snapshot when-needed to re-snapshot, or DEL {} to start at the source's current end",
            cp.position, offset_key, offset_key
        )));
    }
    Start::Resnapshot
}

/// Why the source cannot hold the stored position although it is the same server (by
/// `server_id`): its binlog file is shorter than the stored offset, the stored file is newer
/// than its newest, or (MariaDB) its GTID position is behind the stored one in some domain.
/// A purge (an older file gone) is not this.
fn source_behind(cp: &Checkpoint, source: &SourceFacts) -> Option<String> {
    let file = &cp.position.file;
    if let Some((_, size)) = source.binlog_files.iter().find(|(f, _)| f == file) {
        if cp.position.offset > *size {
            return Some(format!("its {file} has only {size} bytes"));
        }
    }
    if let Some((newest, _)) = source.binlog_files.last() {
        // Binlog names share a base and differ by a zero-padded number.
        if file.len() == newest.len() && file > newest {
            return Some(format!("its newest binlog is {newest}"));
        }
    }
    let (Some(now), Ok(stored)) = (&source.gtid_now, cp.gtid.parse::<MariaGtidState>()) else {
        return None;
    };
    let now: MariaGtidState = now.parse().ok()?;
    stored.behind_in(&now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;
    use redis_cdc_core::model::position::Position;
    use SnapshotMode::{Initial, Never, WhenNeeded};

    /// What is stored in the offset hash.
    #[derive(Clone, Copy, Debug)]
    enum Stored {
        Nothing,
        /// A position written for this server (server_id 1), in `bin.000002`.
        Here,
        /// A position of an older release that did not record the server (source_id 0).
        UnknownServer,
        /// A position written for server_id 9, with a GTID state.
        OtherServerWithGtid,
        /// A position written for server_id 9, without a GTID state (MySQL, or GTIDs off).
        OtherServerNoGtid,
    }

    /// What the source has.
    #[derive(Clone, Copy, Debug)]
    enum Has {
        /// The stored file is still listed.
        File,
        /// The stored file was purged.
        Purged,
        /// The source lists no files (cannot tell).
        NoList,
        /// The source lists no files and the last session was refused the position (1236).
        RefusedLastTime,
        /// The last session was refused the position, but the file is listed now (another
        /// server was configured meanwhile, or a transient refusal): the files decide.
        RefusedButListed,
        /// A MariaDB source (resumes by GTID), the stored file listed, its GTID ahead.
        MariaDbFile,
        /// The stored file is listed but shorter than the stored offset (RESET MASTER).
        Reset,
        /// Only a file older than the stored one is listed, and nothing newer (RESET MASTER).
        ResetRenumbered,
        /// A MariaDB source whose GTID position is behind the stored one.
        ResetGtid,
    }

    /// The expected decision, without the message.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Expect {
        AtPosition,
        ByGtid,
        Fresh(bool),
        Resnapshot,
        RefuseSetup,
        RefusePurged,
    }
    use Expect as E;

    fn checkpoint(stored: Stored) -> Option<Checkpoint> {
        let (source_id, gtid) = match stored {
            Stored::Nothing => return None,
            Stored::Here => (1, "0-1-5"),
            Stored::UnknownServer => (0, ""),
            Stored::OtherServerWithGtid => (9, "0-9-5"),
            Stored::OtherServerNoGtid => (9, ""),
        };
        Some(Checkpoint {
            position: Position::new("bin.000002", 570),
            written_through: None,
            written_count: 0,
            gtid: gtid.into(),
            source_id,
        })
    }

    fn facts(has: Has) -> SourceFacts {
        let files = |f: &[&str]| f.iter().map(|s| (s.to_string(), 1000)).collect();
        let listed = files(&["bin.000002", "bin.000003"]);
        SourceFacts {
            server_id: 1,
            resumes_by_gtid: matches!(has, Has::MariaDbFile | Has::ResetGtid),
            binlog_files: match has {
                Has::Purged => files(&["bin.000003"]),
                Has::NoList | Has::RefusedLastTime => Vec::new(),
                Has::Reset => vec![("bin.000002".into(), 300)],
                Has::ResetRenumbered => files(&["bin.000001"]),
                _ => listed,
            },
            gtid_now: match has {
                Has::MariaDbFile => Some("0-1-7".into()),
                Has::ResetGtid => Some("0-1-2".into()),
                _ => None,
            },
            position_gone: matches!(has, Has::RefusedLastTime | Has::RefusedButListed),
        }
    }

    fn outcome(start: &Start) -> Expect {
        match start {
            Start::AtPosition => E::AtPosition,
            Start::ByGtid => E::ByGtid,
            Start::Fresh { snapshot } => E::Fresh(*snapshot),
            Start::Resnapshot => E::Resnapshot,
            Start::Refuse(e) if e.kind == Kind::Setup => E::RefuseSetup,
            Start::Refuse(e) => {
                assert_eq!(e.kind, Kind::PositionGone);
                E::RefusePurged
            }
        }
    }

    #[test]
    fn starting_point_for_stored_position_mode_and_source() {
        #[rustfmt::skip]
        let table: &[(Stored, SnapshotMode, Has, Expect)] = &[
            // Nothing stored: the current end, with a snapshot unless `never`.
            (Stored::Nothing, Initial, Has::File, E::Fresh(true)),
            (Stored::Nothing, WhenNeeded, Has::File, E::Fresh(true)),
            (Stored::Nothing, Never, Has::File, E::Fresh(false)),
            (Stored::Nothing, Initial, Has::Purged, E::Fresh(true)),
            (Stored::Nothing, Never, Has::NoList, E::Fresh(false)),
            // Stored here and still on the source: resume, whatever the mode.
            (Stored::Here, Initial, Has::File, E::AtPosition),
            (Stored::Here, Never, Has::File, E::AtPosition),
            (Stored::Here, WhenNeeded, Has::File, E::AtPosition),
            (Stored::Here, Initial, Has::NoList, E::AtPosition),
            (Stored::Here, WhenNeeded, Has::MariaDbFile, E::AtPosition),
            (Stored::UnknownServer, Initial, Has::File, E::AtPosition),
            (Stored::UnknownServer, Never, Has::MariaDbFile, E::AtPosition),
            // Stored here but purged: re-snapshot only under `when-needed`.
            (Stored::Here, Initial, Has::Purged, E::RefusePurged),
            (Stored::Here, Never, Has::Purged, E::RefusePurged),
            (Stored::Here, WhenNeeded, Has::Purged, E::Resnapshot),
            (Stored::Here, Initial, Has::RefusedLastTime, E::RefusePurged),
            (Stored::Here, WhenNeeded, Has::RefusedLastTime, E::Resnapshot),
            // A refusal does not outlive its session where the files can tell.
            (Stored::Here, Initial, Has::RefusedButListed, E::AtPosition),
            (Stored::Here, WhenNeeded, Has::RefusedButListed, E::AtPosition),
            // The source is behind the stored position (RESET MASTER, or another server with
            // the same server_id): never a re-snapshot on a guess, the error names both fixes.
            (Stored::Here, WhenNeeded, Has::Reset, E::RefuseSetup),
            (Stored::Here, Initial, Has::Reset, E::RefuseSetup),
            (Stored::Here, WhenNeeded, Has::ResetRenumbered, E::RefuseSetup),
            (Stored::Here, WhenNeeded, Has::ResetGtid, E::RefuseSetup),
            (Stored::UnknownServer, Never, Has::Reset, E::RefuseSetup),
            (Stored::UnknownServer, WhenNeeded, Has::Purged, E::Resnapshot),
            (Stored::UnknownServer, Never, Has::Purged, E::RefusePurged),
            // Stored for another server: by GTID where the source can, else refuse.
            (Stored::OtherServerWithGtid, Initial, Has::MariaDbFile, E::ByGtid),
            (Stored::OtherServerWithGtid, Never, Has::MariaDbFile, E::ByGtid),
            (Stored::OtherServerWithGtid, WhenNeeded, Has::MariaDbFile, E::ByGtid),
            (Stored::OtherServerWithGtid, WhenNeeded, Has::File, E::RefuseSetup),
            (Stored::OtherServerWithGtid, WhenNeeded, Has::Purged, E::RefuseSetup),
            (Stored::OtherServerNoGtid, Initial, Has::MariaDbFile, E::RefuseSetup),
            (Stored::OtherServerNoGtid, WhenNeeded, Has::MariaDbFile, E::RefuseSetup),
            (Stored::OtherServerNoGtid, Never, Has::Purged, E::RefuseSetup),
        ];
        for (stored, mode, has, expect) in table {
            let cp = checkpoint(*stored);
            let start = plan(cp.as_ref(), *mode, &facts(*has), "cdc:offset");
            assert_eq!(outcome(&start), *expect, "{stored:?} {mode:?} {has:?}");
        }
    }

    #[test]
    fn refusals_name_the_position_and_the_fix() {
        let cp = checkpoint(Stored::Here);
        let Start::Refuse(e) = plan(cp.as_ref(), Initial, &facts(Has::Purged), "cdc:offset") else {
            panic!("expected a refusal")
        };
        assert_eq!(
            e.message,
            "the stored position bin.000002:570 (in cdc:offset) is no longer on the source (binlog purged): set cdc.snapshot when-needed to re-snapshot, or DEL cdc:offset to start at the source's current end"
        );
        let cp = checkpoint(Stored::OtherServerNoGtid);
        let Start::Refuse(e) = plan(cp.as_ref(), Initial, &facts(Has::File), "cdc:offset") else {
            panic!("expected a refusal")
        };
        assert_eq!(
            e.message,
            "the stored position bin.000002:570 belongs to the source with server_id 9, but this source has server_id 1 and there is no GTID position to resume from: point cdc.mysql-url back at the original server, or DEL cdc:offset to start at this server's current end (changes in between are not captured)"
        );
    }
}

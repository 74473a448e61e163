//! Binlog positions and GTID sets.
//!
//! A [`Position`] names a byte offset in a binlog file. Files are numbered (`mysql-bin.000042`),
//! so positions order by (file number, offset). The module stores a [`Checkpoint`]: the position
//! where reading resumes, always a transaction boundary, plus how many row changes of the
//! transaction starting there are already written (non-zero only when a large transaction was
//! written in chunks), plus the GTID state after the last written transaction.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// `FILE:OFFSET` in the source's binlog.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Position {
    pub file: String,
    pub offset: u64,
}

impl Position {
    pub fn new(file: impl Into<String>, offset: u64) -> Position {
        Position {
            file: file.into(),
            offset,
        }
    }

    /// The numeric suffix of the file name (`mysql-bin.000042` -> 42).
    pub fn file_number(&self) -> Option<u64> {
        self.file.rsplit_once('.').and_then(|(_, n)| n.parse().ok())
    }
}

impl Ord for Position {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.file_number(), other.file_number()) {
            (Some(a), Some(b)) if a != b => a.cmp(&b),
            (Some(_), Some(_)) => self.offset.cmp(&other.offset),
            _ => (self.file.as_str(), self.offset).cmp(&(other.file.as_str(), other.offset)),
        }
    }
}

impl PartialOrd for Position {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.offset)
    }
}

impl FromStr for Position {
    type Err = String;
    fn from_str(s: &str) -> Result<Position, String> {
        let (file, off) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("position '{s}' is not FILE:OFFSET"))?;
        if file.is_empty() {
            return Err(format!("position '{s}' has no file"));
        }
        let offset = off
            .parse()
            .map_err(|_| format!("position '{s}' has a bad offset"))?;
        Ok(Position::new(file, offset))
    }
}

/// MariaDB's GTID state: the last `server-seq` per replication domain (`0-1-42,1-2-7`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MariaGtidState {
    /// domain -> (server_id, seq_no)
    domains: BTreeMap<u32, (u32, u64)>,
}

/// One MariaDB GTID `domain-server-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MariaGtid {
    pub domain: u32,
    pub server: u32,
    pub seq: u64,
}

impl fmt::Display for MariaGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

impl FromStr for MariaGtid {
    type Err = String;
    fn from_str(s: &str) -> Result<MariaGtid, String> {
        let mut it = s.trim().splitn(3, '-');
        let bad = || format!("GTID '{s}' is not domain-server-seq");
        let domain = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let server = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let seq = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        Ok(MariaGtid {
            domain,
            server,
            seq,
        })
    }
}

impl MariaGtidState {
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// Record a transaction's GTID as the last one of its domain.
    pub fn apply(&mut self, g: MariaGtid) {
        self.domains.insert(g.domain, (g.server, g.seq));
    }

    /// True when `g` is already covered (same domain, seq not newer).
    pub fn contains(&self, g: &MariaGtid) -> bool {
        self.domains
            .get(&g.domain)
            .is_some_and(|(_, seq)| *seq >= g.seq)
    }

    /// Where `other` (a server's current position) lacks transactions this state has: the
    /// first such domain, described; None when `other` has them all.
    pub fn behind_in(&self, other: &MariaGtidState) -> Option<String> {
        self.domains.iter().find_map(|(d, (server, seq))| {
            let mine = MariaGtid {
                domain: *d,
                server: *server,
                seq: *seq,
            };
            match other.domains.get(d) {
                _ if other.contains(&mine) => None,
                None => Some(format!(
                    "its GTID position has no domain {d} (stored: {mine})"
                )),
                Some((s, q)) => Some(format!(
                    "its GTID position in domain {d} is {d}-{s}-{q} (stored: {mine})"
                )),
            }
        })
    }
}

impl fmt::Display for MariaGtidState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (d, (s, q)) in &self.domains {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{d}-{s}-{q}")?;
        }
        Ok(())
    }
}

impl FromStr for MariaGtidState {
    type Err = String;
    fn from_str(s: &str) -> Result<MariaGtidState, String> {
        let mut st = MariaGtidState::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            st.apply(part.parse()?);
        }
        Ok(st)
    }
}

/// MySQL's GTID set (`@@gtid_executed`): per source, the numbers of its transactions as
/// sorted closed intervals that neither overlap nor touch. A source is a server uuid, or
/// `uuid:tag` for MySQL 8.4's tagged GTIDs.
///
/// Text form as MySQL prints it (less the new lines of `@@gtid_executed`): sources by uuid,
/// comma-separated, each uuid once with its untagged intervals first and then each tag with its
/// own: `3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18:tag:1-3,uuid2:1-27`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MysqlGtidSet {
    /// `uuid` or `uuid:tag` (lower case) -> intervals (first, last), ascending, each starting
    /// at least two past the end of the one before.
    sids: BTreeMap<String, Vec<(u64, u64)>>,
}

impl MysqlGtidSet {
    pub fn is_empty(&self) -> bool {
        self.sids.is_empty()
    }

    /// Add transaction `gno` of `sid` (`uuid` or `uuid:tag`, lower case, as the assembler
    /// formats them). The usual case, the number after the source's last one, extends that
    /// interval in place; nothing is allocated unless the source is new.
    pub fn add(&mut self, sid: &str, gno: u64) {
        if gno == 0 {
            return;
        }
        match self.sids.get_mut(sid) {
            Some(v) => match v.last_mut() {
                Some(last) if last.1.checked_add(1) == Some(gno) => last.1 = gno,
                Some(last) if last.0 <= gno && gno <= last.1 => {}
                _ => add_interval(v, gno, gno),
            },
            None => {
                self.sids.insert(sid.to_string(), vec![(gno, gno)]);
            }
        }
    }

    /// Add every transaction of `other`.
    pub fn union(&mut self, other: &MysqlGtidSet) {
        for (sid, intervals) in &other.sids {
            match self.sids.get_mut(sid.as_str()) {
                Some(v) => {
                    for &(lo, hi) in intervals {
                        add_interval(v, lo, hi);
                    }
                }
                None => {
                    self.sids.insert(sid.clone(), intervals.clone());
                }
            }
        }
    }

    /// Add the interval `lo..=hi` of `sid` (ignored when empty or starting at 0).
    pub fn add_range(&mut self, sid: &str, lo: u64, hi: u64) {
        if lo == 0 || lo > hi {
            return;
        }
        match self.sids.get_mut(sid) {
            Some(v) => add_interval(v, lo, hi),
            None => {
                self.sids.insert(sid.to_string(), vec![(lo, hi)]);
            }
        }
    }

    /// True when every transaction of `other` is in this set.
    pub fn contains(&self, other: &MysqlGtidSet) -> bool {
        other.sids.iter().all(|(sid, intervals)| {
            let Some(mine) = self.sids.get(sid.as_str()) else {
                return intervals.is_empty();
            };
            intervals.iter().all(|&(lo, hi)| {
                // The last interval of mine starting at or before `lo` must reach `hi`.
                let i = mine.partition_point(|&(s, _)| s <= lo);
                i > 0 && mine[i - 1].1 >= hi
            })
        })
    }

    /// A set read from the offset hash's `gtid` field. Modules before the GTID set stored the
    /// last transaction's GTID alone, `uuid:n` (or `uuid:tag:n`): that is read as `uuid:1-n`,
    /// what those modules took it for (a server numbers its own transactions in commit order,
    /// which is binlog order; so does a replica that preserves the commit order, the default
    /// since MySQL 8.0.27). The set is exact again from the next binlog file on (its
    /// PREVIOUS_GTIDS event lists all that was executed before it). A set the module writes is
    /// never a lone `uuid:n` with n > 1 unless the source skipped 1..n-1 of that uuid, which
    /// then no other position of the source contains either.
    pub fn from_stored(s: &str) -> Result<MysqlGtidSet, String> {
        let mut set: MysqlGtidSet = s.parse()?;
        if set.sids.len() == 1 {
            if let Some(v) = set.sids.values_mut().next() {
                if let [(lo, hi)] = v.as_mut_slice() {
                    if *lo == *hi {
                        *lo = 1;
                    }
                }
            }
        }
        Ok(set)
    }
}

/// Merge `lo..=hi` into sorted, disjoint, non-touching intervals.
fn add_interval(v: &mut Vec<(u64, u64)>, lo: u64, hi: u64) {
    // First interval that ends at or after lo - 1 (could touch or overlap).
    let start = v.partition_point(|&(_, e)| e.saturating_add(1) < lo);
    // First interval that starts after hi + 1 (cannot touch).
    let end = v.partition_point(|&(s, _)| s <= hi.saturating_add(1));
    if start >= end {
        v.insert(start, (lo, hi));
        return;
    }
    let merged = (lo.min(v[start].0), hi.max(v[end - 1].1));
    v[start] = merged;
    v.drain(start + 1..end);
}

impl MysqlGtidSet {
    /// Append the text form to `out` (what `Display` gives, without the formatting machinery:
    /// the writer does this at every commit).
    pub fn write_to(&self, out: &mut String) {
        let mut last_uuid: Option<&str> = None;
        for (sid, intervals) in &self.sids {
            let (uuid, tag) = match sid.split_once(':') {
                Some((u, t)) => (u, Some(t)),
                None => (sid.as_str(), None),
            };
            if last_uuid != Some(uuid) {
                if last_uuid.is_some() {
                    out.push(',');
                }
                out.push_str(uuid);
                last_uuid = Some(uuid);
            }
            if let Some(t) = tag {
                out.push(':');
                out.push_str(t);
            }
            for &(lo, hi) in intervals {
                out.push(':');
                push_number(out, lo);
                if lo != hi {
                    out.push('-');
                    push_number(out, hi);
                }
            }
        }
    }
}

fn push_number(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits only.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

impl fmt::Display for MysqlGtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

/// `8-4-4-4-12` hex digits.
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl FromStr for MysqlGtidSet {
    type Err = String;
    /// MySQL's text form: `uuid[:tag]:interval[:interval...]` items, comma-separated, white
    /// space and new lines allowed around them (`@@gtid_executed` prints `,\n`); an interval is
    /// `n` or `a-b`. Tags and intervals mix as MySQL 8.4 writes them: `uuid:1-5:tag:1-3` has
    /// intervals for `uuid` and for `uuid:tag`. Upper-case hex and tags are read as lower case.
    /// The empty text is the empty set.
    fn from_str(s: &str) -> Result<MysqlGtidSet, String> {
        let mut set = MysqlGtidSet::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = |why: &str| format!("GTID set item '{item}': {why}");
            let mut parts = item.split(':');
            let uuid = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            if !is_uuid(&uuid) {
                return Err(bad("does not start with a server uuid"));
            }
            let mut sid = uuid.clone();
            let mut any = false;
            for part in parts.map(str::trim) {
                if part.starts_with(|c: char| c.is_ascii_digit()) {
                    let num = |n: &str| n.trim().parse::<u64>().ok().filter(|n| *n > 0);
                    let (lo, hi) = match part.split_once('-') {
                        Some((lo, hi)) => (num(lo), num(hi)),
                        None => (num(part), num(part)),
                    };
                    match (lo, hi) {
                        (Some(lo), Some(hi)) if lo <= hi => set.add_range(&sid, lo, hi),
                        _ => return Err(bad(&format!("bad interval '{part}'"))),
                    }
                    any = true;
                } else if !part.is_empty()
                    && part.len() <= 32
                    && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    sid = format!("{uuid}:{}", part.to_ascii_lowercase());
                } else {
                    return Err(bad(&format!("bad tag or interval '{part}'")));
                }
            }
            if !any {
                return Err(bad("has no interval"));
            }
        }
        Ok(set)
    }
}

/// The restart point stored in the offset hash.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// Where reading resumes: a transaction boundary.
    pub position: Position,
    /// Inside the transaction starting at `position`, the last change already written:
    /// (offset of its rows event, index of the change in that event). None = nothing written.
    /// Independent of the table filter, so a restart with other filters skips exactly right.
    pub written_through: Option<(u64, u32)>,
    /// Changes of that transaction already written, counted over captured tables only: used
    /// instead of `written_through` when resuming by GTID on another server (failover), where
    /// byte offsets differ.
    pub written_count: u64,
    /// GTID state after the last fully written transaction (empty when the source has none).
    pub gtid: String,
    /// `server_id` of the source whose binlog `position` refers to (0 = unknown).
    pub source_id: u32,
}

impl Checkpoint {
    /// Field/value pairs of the offset hash.
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("file", self.position.file.clone()),
            ("pos", self.position.offset.to_string()),
            (
                "inside",
                self.written_through
                    .map(|(o, r)| format!("{o}:{r}"))
                    .unwrap_or_default(),
            ),
            ("inside_count", self.written_count.to_string()),
            ("gtid", self.gtid.clone()),
            ("source_server_id", self.source_id.to_string()),
        ]
    }

    /// Parse the offset hash; None when it holds no binlog position.
    pub fn from_fields<'a>(
        mut get: impl FnMut(&str) -> Option<&'a str>,
    ) -> Result<Option<Checkpoint>, String> {
        let file = match get("file") {
            Some(f) if !f.is_empty() => f.to_string(),
            _ => return Ok(None),
        };
        let offset = get("pos")
            .unwrap_or("4")
            .parse()
            .map_err(|_| "offset hash: field pos is not a number".to_string())?;
        let written_through = match get("inside").unwrap_or("") {
            "" => None,
            v => {
                let bad = || format!("offset hash: field inside '{v}' is not OFFSET:ROW");
                let (o, r) = v.split_once(':').ok_or_else(bad)?;
                Some((o.parse().map_err(|_| bad())?, r.parse().map_err(|_| bad())?))
            }
        };
        Ok(Some(Checkpoint {
            position: Position::new(file, offset),
            written_through,
            written_count: get("inside_count")
                .unwrap_or("0")
                .parse()
                .map_err(|_| "offset hash: field inside_count is not a number".to_string())?,
            gtid: get("gtid").unwrap_or("").to_string(),
            source_id: get("source_server_id")
                .unwrap_or("0")
                .parse()
                .map_err(|_| "offset hash: field source_server_id is not a number".to_string())?,
        }))
    }
}

/// Progress of a running snapshot or resync, stored in the offset hash field [`SNAPSHOT_FIELD`]
/// in the same atomic unit as the entries of the chunk it covers (the module's
/// `source::snapshot` says why). The field's JSON, in this order:
/// `{"ts":<ms>,"queue":["db.t",...],"after":<key or null>,"rows":<n>}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SnapshotState {
    /// Snapshot start time, ms since the epoch (`ts_ms` of its `r` entries).
    #[serde(rename = "ts", default)]
    pub ts_ms: u64,
    /// `db.table`s still to read, the one being read first.
    pub queue: Vec<String>,
    /// Primary-key values of the last row written from `queue[0]`, encoded by
    /// `decode::sql::encode_key`; None = the table is read from its start.
    #[serde(default)]
    pub after: Option<serde_json::Value>,
    /// Rows of `queue[0]` written so far: the next `r` entry is `snapshot:<ts>:<table>:<rows>`.
    #[serde(default)]
    pub rows: u64,
    /// The tables of this queue are re-reads (CDC.RESYNC, or automatic): each is framed by a
    /// begin and an end marker in its stream. False (and absent from the field) for the initial
    /// snapshot, whose streams hold nothing older to correct.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub markers: bool,
    /// Markers from the next table of the queue on (a re-read joined while one is being read).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub markers_next: bool,
    /// Re-reads joined since the last progress written (not stored: the next progress batch
    /// says they are now in the stored queue).
    #[serde(skip)]
    pub joined: Vec<String>,
}

/// The offset-hash field holding the [`SnapshotState`] (empty when no snapshot runs).
pub const SNAPSHOT_FIELD: &str = "snapshot";

impl SnapshotState {
    /// The first table of the queue is done (or dropped): the next one is read from its start,
    /// with markers when a re-read joined while the first was being read.
    pub fn finish_first(&mut self) {
        if !self.queue.is_empty() {
            self.queue.remove(0);
        }
        self.after = None;
        self.rows = 0;
        if std::mem::take(&mut self.markers_next) {
            self.markers = true;
        }
    }

    /// The field value: JSON, or empty when nothing is left to read.
    pub fn to_field(&self) -> String {
        if self.queue.is_empty() {
            return String::new();
        }
        // Cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parse the field; None when empty, absent, or nothing is left to read.
    pub fn from_field(v: Option<&str>) -> Result<Option<SnapshotState>, String> {
        let v = match v.map(str::trim) {
            None | Some("") => return Ok(None),
            Some(v) => v,
        };
        let st: SnapshotState = serde_json::from_str(v).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                format!("offset hash: field {SNAPSHOT_FIELD} is not a snapshot progress: {e}")
            }
            _ => format!("offset hash: field {SNAPSHOT_FIELD} is not JSON"),
        })?;
        Ok((!st.queue.is_empty()).then_some(st))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_by_file_number_then_offset() {
        let a: Position = "mysql-bin.000009:900".parse().unwrap();
        let b: Position = "mysql-bin.000010:4".parse().unwrap();
        let c: Position = "mysql-bin.000010:120".parse().unwrap();
        assert!(a < b && b < c);
        assert_eq!(c.to_string(), "mysql-bin.000010:120");
        assert!("nofile".parse::<Position>().is_err());
        assert!(":4".parse::<Position>().is_err());
        assert!("f:x".parse::<Position>().is_err());
    }

    #[test]
    fn a_server_behind_a_gtid_state_is_named_by_its_domain() {
        let stored: MariaGtidState = "0-1-42,1-2-7".parse().unwrap();
        let ahead: MariaGtidState = "0-1-50,1-2-7,2-3-1".parse().unwrap();
        assert_eq!(stored.behind_in(&ahead), None);
        let reset: MariaGtidState = "0-1-3".parse().unwrap();
        assert_eq!(
            stored.behind_in(&reset).as_deref(),
            Some("its GTID position in domain 0 is 0-1-3 (stored: 0-1-42)")
        );
        let missing: MariaGtidState = "0-1-42".parse().unwrap();
        assert_eq!(
            stored.behind_in(&missing).as_deref(),
            Some("its GTID position has no domain 1 (stored: 1-2-7)")
        );
    }

    #[test]
    fn maria_gtid_state_round_trips() {
        let mut st: MariaGtidState = "0-1-8, 1-2-3".parse().unwrap();
        assert_eq!(st.to_string(), "0-1-8,1-2-3");
        st.apply("0-1-9".parse().unwrap());
        assert_eq!(st.to_string(), "0-1-9,1-2-3");
        assert!(st.contains(&"0-1-9".parse().unwrap()));
        assert!(!st.contains(&"0-1-10".parse().unwrap()));
        assert!(!st.contains(&"5-1-1".parse().unwrap()));
        assert!("0-1".parse::<MariaGtid>().is_err());
        assert!("".parse::<MariaGtidState>().unwrap().is_empty());
    }

    const U: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const V: &str = "4f22ab58-82db-22f2-af44-d91bb9530673";

    fn set(s: &str) -> MysqlGtidSet {
        s.parse().unwrap()
    }

    #[test]
    fn mysql_gtid_set_parses_to_mysqls_text_form() {
        // Upper case, white space, new lines, unsorted, overlapping and touching intervals.
        let s = set(&format!(
            " {V}:7:1-5,\n{}:11-18:1-3:4-5:TAG:2-3:1 , {U}:17-20",
            U.to_uppercase()
        ));
        assert_eq!(s.to_string(), format!("{U}:1-5:11-20:tag:1-3,{V}:1-5:7"));
        assert_eq!(set(&s.to_string()), s);
        assert!(set("").is_empty());
        assert!(set(" ,\n").is_empty());
        for bad in [
            "x:1".to_string(),
            U.to_string(),
            format!("{U}:tag"),
            format!("{U}:0"),
            format!("{U}:5-3"),
            format!("{U}:1-"),
            format!("{U}:a-b"),
            format!("{U}:1:t-t:2"),
            "0-1-5".to_string(),
        ] {
            assert!(bad.parse::<MysqlGtidSet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn mysql_gtid_set_adds_transactions_and_merges_intervals() {
        let mut s = MysqlGtidSet::default();
        s.add(U, 1);
        s.add(U, 2);
        s.add(U, 3);
        assert_eq!(s.to_string(), format!("{U}:1-3"));
        s.add(U, 7);
        s.add(U, 5);
        s.add(U, 2);
        s.add(U, 0);
        assert_eq!(s.to_string(), format!("{U}:1-3:5:7"));
        s.add(U, 6);
        assert_eq!(s.to_string(), format!("{U}:1-3:5-7"));
        s.add(U, 4);
        assert_eq!(s.to_string(), format!("{U}:1-7"));
        s.add(&format!("{V}:t"), 9);
        s.add(V, 1);
        assert_eq!(s.to_string(), format!("{U}:1-7,{V}:1:t:9"));
        s.add(&format!("{V}:t"), u64::MAX);
        s.add(&format!("{V}:t"), u64::MAX);
        assert_eq!(s.to_string(), format!("{U}:1-7,{V}:1:t:9:{}", u64::MAX));
        let mut u = set(&format!("{U}:9-12:20,{V}:2-3"));
        u.union(&set(&format!("{U}:8:13-19:30,{V}:t:1-8")));
        assert_eq!(u.to_string(), format!("{U}:8-20:30,{V}:2-3:t:1-8"), "union");
        u.add_range(U, 1, 40);
        assert_eq!(u.to_string(), format!("{U}:1-40,{V}:2-3:t:1-8"));
    }

    #[test]
    fn mysql_gtid_set_containment() {
        let s = set(&format!("{U}:1-5:11-18,{V}:1-27:t:4"));
        for (other, inside) in [
            (String::new(), true),
            (format!("{U}:1-5"), true),
            (format!("{U}:5:11:18,{V}:27"), true),
            (format!("{V}:t:4"), true),
            (format!("{U}:6"), false),
            (format!("{U}:4-11"), false),
            (format!("{U}:19"), false),
            (format!("{V}:t:3"), false),
            (format!("{V}:u:1"), false),
            (
                format!("{U}:1,aaaaaaaa-82db-22f2-af44-d91bb9530673:1"),
                false,
            ),
        ] {
            assert_eq!(s.contains(&set(&other)), inside, "{other}");
        }
    }

    /// Modules before the set stored the last transaction's GTID alone.
    #[test]
    fn an_old_single_gtid_loads_as_the_numbers_up_to_it() {
        let s = MysqlGtidSet::from_stored(&format!("{U}:42")).unwrap();
        assert_eq!(s.to_string(), format!("{U}:1-42"));
        let s = MysqlGtidSet::from_stored(&format!("{U}:tag:7")).unwrap();
        assert_eq!(s.to_string(), format!("{U}:tag:1-7"));
        // A set is read as it is.
        for stored in [
            format!("{U}:1"),
            format!("{U}:3-42"),
            format!("{U}:1-5:9"),
            format!("{U}:42,{V}:1-3"),
            String::new(),
        ] {
            assert_eq!(
                MysqlGtidSet::from_stored(&stored).unwrap().to_string(),
                stored
            );
        }
        assert!(MysqlGtidSet::from_stored("0-1-42").is_err());
    }

    #[test]
    fn checkpoint_round_trips_through_fields() {
        let cp = Checkpoint {
            position: Position::new("mysql-bin.000002", 345),
            written_through: Some((400, 7)),
            written_count: 3,
            gtid: "0-1-5".into(),
            source_id: 9,
        };
        let fields = cp.to_fields();
        let back = Checkpoint::from_fields(|k| {
            fields
                .iter()
                .find(|(f, _)| *f == k)
                .map(|(_, v)| v.as_str())
        })
        .unwrap()
        .unwrap();
        assert_eq!(back, cp);
        assert_eq!(Checkpoint::from_fields(|_| None).unwrap(), None);
        assert!(
            Checkpoint::from_fields(|k| if k == "file" { Some("f") } else { Some("x") }).is_err()
        );
    }

    #[test]
    fn snapshot_state_round_trips_and_empty_means_none() {
        let st = SnapshotState {
            ts_ms: 1700000000000,
            queue: vec!["shop.a".into(), "shop.b".into()],
            after: Some(serde_json::json!([{"i": 42}])),
            rows: 1000,
            markers: false,
            markers_next: false,
            joined: Vec::new(),
        };
        let f = st.to_field();
        assert_eq!(
            SnapshotState::from_field(Some(&f)).unwrap(),
            Some(st.clone())
        );
        // A re-read's progress says so; the initial snapshot's field is as it always was.
        assert!(!f.contains("markers"), "{f}");
        let resync = SnapshotState {
            markers: true,
            ..st
        };
        let f = resync.to_field();
        assert!(f.ends_with(r#","markers":true}"#), "{f}");
        assert_eq!(SnapshotState::from_field(Some(&f)).unwrap(), Some(resync));
        assert_eq!(SnapshotState::from_field(Some("")).unwrap(), None);
        assert_eq!(SnapshotState::from_field(None).unwrap(), None);
        assert_eq!(SnapshotState::default().to_field(), "");
        assert!(SnapshotState::from_field(Some("{")).is_err());
        assert!(SnapshotState::from_field(Some("{\"queue\":[1]}")).is_err());
    }

    /// Offset hashes written before `SnapshotState` derived its JSON hold exactly these texts;
    /// they must still load, and the same state must still be written byte for byte.
    #[test]
    fn snapshot_state_reads_and_writes_the_stored_format() {
        let stored = [
            r#"{"ts":1700000000000,"queue":["shop.a","shop.b"],"after":[{"i":42}],"rows":1000}"#,
            r#"{"ts":1700000000000,"queue":["shop.orders"],"after":null,"rows":0}"#,
            r#"{"ts":1,"queue":["d.t"],"after":[{"i":-5},{"u":18446744073709551615},{"d":0.30000000000000004},{"b":"00ff"},{"t":[2024,1,31,12,0,0,0]},{"tm":[1,0,838,59,59,0]},null],"rows":7}"#,
        ];
        for text in stored {
            let st = SnapshotState::from_field(Some(text)).unwrap().unwrap();
            assert_eq!(st.to_field(), text);
            assert_eq!(legacy::to_field(&st), text);
            assert_eq!(legacy::from_field(Some(text)).unwrap().unwrap(), st);
        }
        let st = SnapshotState::from_field(Some(stored[0])).unwrap().unwrap();
        assert_eq!(st.ts_ms, 1700000000000);
        assert_eq!(st.queue, ["shop.a", "shop.b"]);
        assert_eq!(st.after, Some(serde_json::json!([{"i": 42}])));
        assert_eq!(st.rows, 1000);
        // Fields the old reader defaulted: still defaulted; an empty queue is no snapshot.
        let st = SnapshotState::from_field(Some(r#" {"queue":["a.b"]} "#)).unwrap();
        assert_eq!(st.map(|s| (s.ts_ms, s.after, s.rows)), Some((0, None, 0)));
        assert_eq!(
            SnapshotState::from_field(Some(r#"{"queue":[]}"#)).unwrap(),
            None
        );
        assert!(SnapshotState::from_field(Some(r#"{"ts":1}"#)).is_err());
        assert!(SnapshotState::from_field(Some("not json"))
            .unwrap_err()
            .contains("is not JSON"));
    }

    /// The hand-walked JSON that `SnapshotState` used before its serde derive: the reference the
    /// derived form must stay byte-compatible with.
    mod legacy {
        use super::super::*;

        pub fn to_field(st: &SnapshotState) -> String {
            if st.queue.is_empty() {
                return String::new();
            }
            serde_json::json!({
                "ts": st.ts_ms,
                "queue": st.queue,
                "after": st.after,
                "rows": st.rows,
            })
            .to_string()
        }

        pub fn from_field(v: Option<&str>) -> Result<Option<SnapshotState>, String> {
            let v = match v.map(str::trim) {
                None | Some("") => return Ok(None),
                Some(v) => v,
            };
            let j: serde_json::Value = serde_json::from_str(v).map_err(|e| e.to_string())?;
            let queue: Vec<String> = j
                .get("queue")
                .and_then(|q| q.as_array())
                .ok_or("has no queue")?
                .iter()
                .map(|t| t.as_str().map(str::to_string).ok_or("bad table name"))
                .collect::<Result<_, _>>()?;
            if queue.is_empty() {
                return Ok(None);
            }
            let after = match j.get("after") {
                None | Some(serde_json::Value::Null) => None,
                Some(a) => Some(a.clone()),
            };
            Ok(Some(SnapshotState {
                ts_ms: j.get("ts").and_then(|t| t.as_u64()).unwrap_or(0),
                queue,
                after,
                rows: j.get("rows").and_then(|t| t.as_u64()).unwrap_or(0),
                markers: false,
                markers_next: false,
                joined: Vec::new(),
            }))
        }
    }

    mod properties {
        use super::super::*;
        use super::legacy;
        use proptest::prelude::*;
        use serde_json::{json, Value};

        /// One primary-key value as `decode::sql::encode_key` stores it.
        fn key_value() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<i64>().prop_map(|i| json!({ "i": i })),
                any::<u64>().prop_map(|u| json!({ "u": u })),
                any::<f64>()
                    .prop_filter("finite", |d| d.is_finite())
                    .prop_map(|d| json!({ "d": d })),
                proptest::collection::vec(any::<u8>(), 0..8).prop_map(|b| {
                    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                    json!({ "b": hex })
                }),
                (any::<u16>(), 1u8..13, 1u8..32, any::<u32>())
                    .prop_map(|(y, m, d, us)| json!({ "t": [y, m, d, 0, 0, 0, us] })),
            ]
        }

        fn snapshot_state() -> impl Strategy<Value = SnapshotState> {
            (
                any::<u64>(),
                proptest::collection::vec("[a-z_]{1,8}\\.[^\\x00]{0,12}", 1..4),
                proptest::option::of(proptest::collection::vec(key_value(), 1..4)),
                any::<u64>(),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(ts_ms, queue, after, rows, markers, markers_next)| {
                    SnapshotState {
                        ts_ms,
                        queue,
                        after: after.map(Value::Array),
                        rows,
                        markers,
                        markers_next,
                        joined: Vec::new(),
                    }
                })
        }

        fn maria_gtid() -> impl Strategy<Value = MariaGtid> {
            (any::<u32>(), any::<u32>(), any::<u64>()).prop_map(|(domain, server, seq)| MariaGtid {
                domain,
                server,
                seq,
            })
        }

        proptest! {
            #[test]
            fn position_round_trips(file in "[^\\x00]{1,24}", offset in any::<u64>()) {
                let p = Position::new(file, offset);
                prop_assert_eq!(p.to_string().parse::<Position>(), Ok(p));
            }

            #[test]
            fn positions_order_by_file_number_then_offset(
                a in (0u64..1_000_000, any::<u64>()),
                b in (0u64..1_000_000, any::<u64>()),
            ) {
                let pa = Position::new(format!("mysql-bin.{:06}", a.0), a.1);
                let pb = Position::new(format!("mysql-bin.{:06}", b.0), b.1);
                prop_assert_eq!(pa.cmp(&pb), a.cmp(&b));
            }

            #[test]
            fn maria_gtid_round_trips(g in maria_gtid()) {
                prop_assert_eq!(g.to_string().parse::<MariaGtid>(), Ok(g));
            }

            #[test]
            fn maria_gtid_state_round_trips_and_keeps_the_last_per_domain(
                gtids in proptest::collection::vec(maria_gtid(), 0..8),
            ) {
                let mut st = MariaGtidState::default();
                for g in &gtids {
                    st.apply(*g);
                }
                prop_assert_eq!(st.to_string().parse::<MariaGtidState>(), Ok(st.clone()));
                for g in &gtids {
                    let last = gtids.iter().rev().find(|x| x.domain == g.domain);
                    prop_assert_eq!(st.contains(g), last.is_some_and(|l| l.seq >= g.seq));
                }
            }

            /// Against a plain set of (source, number): whatever order transactions and
            /// ranges come in, the text is canonical (parses back equal, prints the same),
            /// and containment is membership.
            #[test]
            fn mysql_gtid_set_is_the_set_of_its_transactions(
                adds in proptest::collection::vec((0usize..3, 1u64..40, 0u64..4), 0..40),
                probes in proptest::collection::vec((0usize..3, 1u64..45, 0u64..3), 1..10),
            ) {
                const SIDS: [&str; 3] = [
                    "3e11fa47-71ca-11e1-9e33-c80aa9429562",
                    "3e11fa47-71ca-11e1-9e33-c80aa9429562:tg",
                    "00000000-0000-0000-0000-00000000000a",
                ];
                let mut set = MysqlGtidSet::default();
                let mut model = std::collections::BTreeSet::new();
                for (sid, lo, len) in adds {
                    if len == 0 {
                        set.add(SIDS[sid], lo);
                    } else {
                        set.add_range(SIDS[sid], lo, lo + len);
                    }
                    for n in lo..=lo + len {
                        model.insert((sid, n));
                    }
                }
                let text = set.to_string();
                let back: MysqlGtidSet = text.parse().unwrap();
                prop_assert_eq!(&back, &set);
                prop_assert_eq!(back.to_string(), text.clone());
                for (sid, lo, len) in probes {
                    let mut probe = MysqlGtidSet::default();
                    probe.add_range(SIDS[sid], lo, lo + len);
                    let inside = (lo..=lo + len).all(|n| model.contains(&(sid, n)));
                    prop_assert_eq!(set.contains(&probe), inside, "{} in {}", probe, text);
                }
                // Intervals neither overlap nor touch.
                for v in set.sids.values() {
                    for w in v.windows(2) {
                        prop_assert!(w[0].1 + 1 < w[1].0, "{:?}", v);
                    }
                }
            }

            #[test]
            fn checkpoint_round_trips_through_fields(
                file in "[^\\x00]{1,24}",
                offset in any::<u64>(),
                written_through in proptest::option::of((any::<u64>(), any::<u32>())),
                written_count in any::<u64>(),
                gtid in "[^\\x00]{0,40}",
                source_id in any::<u32>(),
            ) {
                let cp = Checkpoint {
                    position: Position::new(file, offset),
                    written_through,
                    written_count,
                    gtid,
                    source_id,
                };
                let fields = cp.to_fields();
                let back = Checkpoint::from_fields(|k| {
                    fields.iter().find(|(f, _)| *f == k).map(|(_, v)| v.as_str())
                });
                prop_assert_eq!(back, Ok(Some(cp)));
            }

            #[test]
            fn snapshot_state_round_trips_in_the_stored_format(st in snapshot_state()) {
                let field = st.to_field();
                prop_assert_eq!(SnapshotState::from_field(Some(&field)), Ok(Some(st.clone())));
                // Without re-read markers: the format the module has always written.
                let st = SnapshotState { markers: false, markers_next: false, ..st };
                let field = st.to_field();
                prop_assert_eq!(&field, &legacy::to_field(&st));
                prop_assert_eq!(SnapshotState::from_field(Some(&field)), Ok(Some(st.clone())));
                prop_assert_eq!(legacy::from_field(Some(&field)), Ok(Some(st)));
            }
        }
    }
}

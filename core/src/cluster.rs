//! Redis Cluster: which slot a key hashes to, which slots this node serves, and the key names
//! of a table in cluster mode (docs/cluster.md).
//!
//! In a cluster every key of one table carries the hash tag `{db.table}`: its stream
//! (`cdc:{shop.orders}`), its mirror keys (`{shop.orders}:42`) and its position
//! (`cdc:offset:{shop.orders}`) hash to one slot, so that they live on one node and one lock
//! hold writes them as one atomic unit. Slots are computed as Redis does (`cluster.c`,
//! `keyHashSlot`): CRC16 (XMODEM) of the tag, mod 16384.

use crate::model::name::table_name;
use crate::model::position::{Checkpoint, Position};

/// Number of hash slots of a Redis Cluster.
pub const SLOTS: usize = 16384;

/// CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The slot of `key`, with Redis's hash-tag rule: when the key holds a `{` followed later by
/// a `}` with at least one byte between them, only those bytes are hashed.
pub fn key_slot(key: &[u8]) -> u16 {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return crc16(&key[open + 1..open + 1 + len]) % SLOTS as u16;
            }
        }
    }
    crc16(key) % SLOTS as u16
}

/// The hash tag of the table `name` (`db.table`): `{db.table}`.
pub fn tag(name: &str) -> String {
    format!("{{{name}}}")
}

/// The slot every key of the table `name` (`db.table`) hashes to in cluster mode.
pub fn table_slot(name: &str) -> u16 {
    key_slot(tag(name).as_bytes())
}

/// The key of a table: `prefix` + `db.table`, or `prefix` + `{db.table}` in cluster mode
/// (`db.table` in [`table_name`]'s form there, the plain names joined by a dot outside).
pub fn stream_key(prefix: &str, db: &str, table: &str, cluster: bool) -> String {
    if cluster {
        format!("{prefix}{{{}}}", table_name(db, table))
    } else {
        format!("{prefix}{db}.{table}")
    }
}

/// The per-table position of the table `name` in cluster mode: `<offset-key>:{db.table}`, a
/// hash with the offset hash's fields.
pub fn position_key(offset_key: &str, name: &str) -> String {
    format!("{offset_key}:{{{name}}}")
}

/// The table (`db.table`) of a per-table position key; None for any other key.
pub fn table_of_position_key<'a>(offset_key: &str, key: &'a str) -> Option<&'a str> {
    key.strip_prefix(offset_key)?
        .strip_prefix(":{")?
        .strip_suffix('}')
        .filter(|t| !t.is_empty())
}

/// Cluster mode as the binlog reader sees it: the slots this node streams, and for each table
/// the point through which its changes are already in Redis (its own position, when it is
/// ahead of the point the reader starts from; or, for a table without one, the last change
/// its stream holds).
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub slots: SlotSet,
    /// `db.table` -> its position.
    pub positions: std::collections::HashMap<String, Checkpoint>,
    /// `db.table` -> the last binlog change its stream holds, for a table without a position
    /// (its key deleted) whose stream is ahead of the point the reader starts from.
    pub last_entries: std::collections::HashMap<String, LastEntry>,
    /// The position of every other table (the node's own, when the reader starts before it
    /// for a table that resumes from further back).
    pub default: Option<Checkpoint>,
}

impl ClusterView {
    /// This node streams the table `name` (`db.table`).
    pub fn owns(&self, name: &str) -> bool {
        self.slots.contains(table_slot(name))
    }

    /// The point through which the table's changes are written already, if it has one.
    pub fn written_through(&self, name: &str) -> Option<Through<'_>> {
        if let Some(cp) = self.positions.get(name) {
            return Some(Through::Checkpoint(cp));
        }
        if let Some(e) = self.last_entries.get(name) {
            return Some(Through::Entry(e));
        }
        self.default.as_ref().map(Through::Checkpoint)
    }
}

/// Where a table's changes are written through: a position (a transaction boundary, or inside
/// a chunked transaction), or the last change found in its stream.
#[derive(Debug, Clone, Copy)]
pub enum Through<'a> {
    Checkpoint(&'a Checkpoint),
    Entry(&'a LastEntry),
}

/// One change of the binlog, as the reader meets it: for [`Through::written`].
#[derive(Debug, Clone, Copy)]
pub struct ChangeAt<'a> {
    /// Where its transaction starts.
    pub txn: &'a Position,
    /// The binlog file, and the offset of its rows event (of the statement, for a `t`).
    pub file: &'a str,
    pub offset: u64,
    /// Its change index (`pos` ROW) and the last index it takes (a Debezium keyless update
    /// takes two).
    pub row: u32,
    pub last: u32,
    /// The row's index in its rows event (Debezium's `source.row`).
    pub event_row: u32,
    /// The change is a `d` (a delete, or the first half of a key change).
    pub delete: bool,
    /// Inside a compressed transaction (MySQL TRANSACTION_PAYLOAD): `offset` is the payload's.
    pub payload: bool,
}

impl Through<'_> {
    /// Whether the change `at` is written already.
    pub fn written(&self, at: &ChangeAt<'_>) -> bool {
        match self {
            Through::Checkpoint(cp) => written(cp, at.txn, at.offset, at.last),
            Through::Entry(e) => e.covers(at),
        }
    }

    /// A statement at `file:offset` (a TRUNCATE or DROP) is before this point: its `t` entry
    /// is written already.
    pub fn statement_written(&self, file: &str, offset: u64, index: u32) -> bool {
        let at = Position::new(file, offset);
        match self {
            Through::Checkpoint(cp) => at < cp.position,
            Through::Entry(e) => e.covers(&ChangeAt {
                txn: &at,
                file,
                offset,
                row: index,
                last: index,
                event_row: index,
                delete: false,
                payload: false,
            }),
        }
    }
}

/// The last binlog change a table's stream holds (its entry's `pos` in `flat`, its `source`
/// file/pos/row in the Debezium formats): a table received without a position resumes after
/// it, so that nothing already in the stream is written again (docs/cluster.md).
///
/// Entries are appended in binlog order, so every change of the table up to this one is in
/// the stream, and none after it. A change's `pos` is not a point the reader can start from
/// (that is the start of its transaction, which the entry does not name): the reader starts
/// from a position at or before it, and skips the table's changes up to and including it, as
/// a restart inside a chunked transaction skips the changes written before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastEntry {
    /// The binlog file, and the offset of the change's rows event (or statement).
    pub position: Position,
    pub row: EntryRow,
}

/// Which change of its rows event a [`LastEntry`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryRow {
    /// `flat`'s `pos` ROW: the change's index, unique in the event (across a compressed
    /// transaction).
    Change(u32),
    /// Debezium's `source.row`: the row's index in its rows event, which both halves of a key
    /// change share (`delete`: the entry is the `d` half, or a delete).
    EventRow { row: u32, delete: bool },
}

impl LastEntry {
    /// The change `at` is this one or before it.
    pub fn covers(&self, at: &ChangeAt<'_>) -> bool {
        match Position::new(at.file, at.offset).cmp(&self.position) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => match self.row {
                EntryRow::Change(r) => at.row <= r,
                // Rows of a compressed transaction share its offset and number their rows
                // events' rows from 0 each: the Debezium entry cannot say which of them it
                // is, so the whole transaction counts as written (docs/cluster.md, Limits).
                EntryRow::EventRow { .. } if at.payload => true,
                EntryRow::EventRow { row, delete } => {
                    at.event_row < row || (at.event_row == row && (!delete || at.delete))
                }
            },
        }
    }

    /// The last binlog change of an entry's fields (`flat`'s `pos`, or the Debezium value's
    /// `source`); None for a snapshot or resync entry, or fields that name no binlog change.
    pub fn of_fields<'a>(mut get: impl FnMut(&str) -> Option<&'a str>) -> Option<LastEntry> {
        if let Some(pos) = get("pos") {
            if pos.starts_with("snapshot:") {
                return None;
            }
            let mut parts = pos.rsplitn(3, ':');
            let row = parts.next()?.parse().ok()?;
            let offset = parts.next()?.parse().ok()?;
            let file = parts.next().filter(|f| !f.is_empty())?;
            return Some(LastEntry {
                position: Position::new(file, offset),
                row: EntryRow::Change(row),
            });
        }
        let value: serde_json::Value = serde_json::from_str(get("value")?).ok()?;
        let source = value.get("source")?;
        if source.get("snapshot").and_then(|s| s.as_str()) != Some("false") {
            return None;
        }
        let file = source.get("file")?.as_str().filter(|f| !f.is_empty())?;
        let offset = source.get("pos")?.as_u64()?;
        let row = u32::try_from(source.get("row")?.as_u64()?).ok()?;
        Some(LastEntry {
            position: Position::new(file, offset),
            row: EntryRow::EventRow {
                row,
                delete: value.get("op").and_then(|o| o.as_str()) == Some("d"),
            },
        })
    }

    /// The later of two entries (binlog order; an XA transaction's entries are appended at its
    /// XA COMMIT with the positions of its rows, before the commit's).
    pub fn later(self, other: LastEntry) -> LastEntry {
        let key = |e: &LastEntry| match e.row {
            EntryRow::Change(r) => (e.position.clone(), r),
            EntryRow::EventRow { row, .. } => (e.position.clone(), row),
        };
        if key(&other) > key(&self) {
            other
        } else {
            self
        }
    }

    /// Whether the reader starting at `start` misses no change after this one: it starts at or
    /// before it, and the changes it skips inside its first transaction are at or before it.
    pub fn at_or_after(&self, start: &Checkpoint) -> bool {
        if self.position.file != start.position.file {
            return self.position > start.position;
        }
        let Some((o, r)) = start.written_through else {
            return self.position.offset >= start.position.offset;
        };
        match self.row {
            _ if self.position.offset != o => self.position.offset > o,
            EntryRow::Change(row) => row >= r,
            // The last change skipped and this entry share a rows event: which of them is
            // later is not known by the event's row alone.
            EntryRow::EventRow { .. } => false,
        }
    }
}

/// `a` is before `b` (by position, then by the changes written inside its transaction).
pub fn before(a: &Checkpoint, b: &Checkpoint) -> bool {
    (&a.position, a.written_through) < (&b.position, b.written_through)
}

/// Whether the change `(offset, row)` (offset of its rows event, index of the change) of the
/// transaction starting at `txn` is at or before `cp`: a transaction that starts before the
/// checkpoint's position is written whole; at it, the changes up to `written_through`.
pub fn written(cp: &Checkpoint, txn: &Position, offset: u64, row: u32) -> bool {
    match txn.cmp(&cp.position) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Equal => cp.written_through.is_some_and(|w| (offset, row) <= w),
        std::cmp::Ordering::Greater => false,
    }
}

/// A set of slots: those this node serves.
#[derive(Clone, PartialEq, Eq)]
pub struct SlotSet {
    bits: Box<[u64; SLOTS / 64]>,
}

impl Default for SlotSet {
    fn default() -> SlotSet {
        SlotSet {
            bits: Box::new([0; SLOTS / 64]),
        }
    }
}

impl std::fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotSet({})", self.ranges())
    }
}

impl SlotSet {
    pub fn insert(&mut self, slot: u16) {
        let s = slot as usize % SLOTS;
        self.bits[s / 64] |= 1 << (s % 64);
    }

    pub fn remove(&mut self, slot: u16) {
        let s = slot as usize % SLOTS;
        self.bits[s / 64] &= !(1 << (s % 64));
    }

    pub fn contains(&self, slot: u16) -> bool {
        let s = slot as usize % SLOTS;
        self.bits[s / 64] & (1 << (s % 64)) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    /// The lowest slot of the set.
    pub fn first(&self) -> Option<u16> {
        (0..SLOTS as u16).find(|s| self.contains(*s))
    }

    /// `0-5460,6000`: the set as CLUSTER NODES writes slot ranges.
    pub fn ranges(&self) -> String {
        let mut out: Vec<String> = Vec::new();
        let mut s = 0usize;
        while s < SLOTS {
            if !self.contains(s as u16) {
                s += 1;
                continue;
            }
            let from = s;
            while s + 1 < SLOTS && self.contains(s as u16 + 1) {
                s += 1;
            }
            out.push(if from == s {
                from.to_string()
            } else {
                format!("{from}-{s}")
            });
            s += 1;
        }
        out.join(",")
    }
}

/// One node of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    /// `ip:port` (without the cluster bus port).
    pub addr: String,
    pub myself: bool,
    pub primary: bool,
    /// Flags say `fail` or `fail?`.
    pub failing: bool,
    /// Slots the node serves. A slot it is migrating away (`[slot->-id]`) is not in it: the
    /// module writes no key of such a slot (its keys are on their way to another node).
    pub slots: SlotSet,
}

/// Parse the text of `CLUSTER NODES` (one node per line:
/// `id ip:port@bus flags master ping pong epoch link slot...`).
pub fn parse_nodes(text: &str) -> Vec<Node> {
    let mut nodes = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let flags: Vec<&str> = f[2].split(',').collect();
        let addr = f[1].split('@').next().unwrap_or_default().to_string();
        let mut slots = SlotSet::default();
        let mut migrating = Vec::new();
        for item in &f[8..] {
            if let Some(inner) = item.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                // `[slot->-id]` migrating away; `[slot-<-id]` importing (not served yet).
                if let Some((slot, _)) = inner.split_once("->-") {
                    if let Ok(s) = slot.parse::<u16>() {
                        migrating.push(s);
                    }
                }
                continue;
            }
            let (from, to) = match item.split_once('-') {
                Some((a, b)) => (a.parse::<u16>(), b.parse::<u16>()),
                None => (item.parse::<u16>(), item.parse::<u16>()),
            };
            if let (Ok(a), Ok(b)) = (from, to) {
                for s in a..=b.min(SLOTS as u16 - 1) {
                    slots.insert(s);
                }
            }
        }
        for s in migrating {
            slots.remove(s);
        }
        nodes.push(Node {
            id: f[0].to_string(),
            addr,
            myself: flags.contains(&"myself"),
            primary: flags.contains(&"master"),
            failing: flags.iter().any(|x| *x == "fail" || *x == "fail?"),
            slots,
        });
    }
    nodes
}

/// A short hash tag whose slot is `slot` (`{n<i>}`), for the keys of a node's own state: they
/// must live in a slot the node serves, and a promoted replica, which serves the same slots,
/// finds them under the same name.
pub fn tag_for_slot(slot: u16) -> String {
    let mut i: u64 = 0;
    loop {
        let t = format!("n{i}");
        if crc16(t.as_bytes()) % SLOTS as u16 == slot % SLOTS as u16 {
            return format!("{{{t}}}");
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_those_redis_computes() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
        assert_eq!(key_slot(b"foo{{bar}}zap"), crc16(b"{bar") % 16384);
        assert_eq!(crc16(b"123456789"), 0x31c3);
    }

    #[test]
    fn a_tables_keys_share_its_slot() {
        let t = "shop.orders";
        let slot = table_slot(t);
        assert_eq!(
            key_slot(stream_key("cdc:", "shop", "orders", true).as_bytes()),
            slot
        );
        assert_eq!(key_slot(b"{shop.orders}:42"), slot);
        assert_eq!(key_slot(position_key("cdc:offset", t).as_bytes()), slot);
        assert_eq!(
            stream_key("cdc:", "shop", "orders", false),
            "cdc:shop.orders"
        );
        assert_eq!(
            stream_key("cdc:", "shop", "orders", true),
            "cdc:{shop.orders}"
        );
        assert_eq!(
            table_of_position_key("cdc:offset", "cdc:offset:{shop.orders}"),
            Some(t)
        );
        assert_eq!(
            table_of_position_key("cdc:offset", "cdc:offset:schema"),
            None
        );
    }

    #[test]
    fn nodes_parse_with_slots_and_migrations() {
        let text = "07c3 127.0.0.1:30004@31004 slave e7d1 0 1426238317239 4 connected\n\
            67ed 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922 [5470->-292f]\n\
            292f 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 11000 [5470-<-67ed]\n\
            e7d1 127.0.0.1:30003@31003 master,fail - 0 1426238318243 3 connected\n";
        let nodes = parse_nodes(text);
        assert_eq!(nodes.len(), 4);
        let me = nodes.iter().find(|n| n.myself).unwrap();
        assert_eq!(me.addr, "127.0.0.1:30001");
        assert!(me.primary);
        assert_eq!(me.slots.ranges(), "0-5460,11000");
        let other = &nodes[1];
        assert!(other.slots.contains(5469));
        assert!(!other.slots.contains(5470), "migrating away: not written");
        assert!(nodes[3].failing);
        assert!(!nodes[0].primary);
    }

    #[test]
    fn a_table_position_says_which_changes_are_written() {
        let cp = Checkpoint {
            position: Position::new("binlog.000002", 500),
            written_through: Some((600, 3)),
            ..Checkpoint::default()
        };
        assert!(written(&cp, &Position::new("binlog.000001", 9000), 9100, 0));
        assert!(written(&cp, &Position::new("binlog.000002", 400), 450, 0));
        assert!(written(&cp, &Position::new("binlog.000002", 500), 600, 3));
        assert!(written(&cp, &Position::new("binlog.000002", 500), 550, 9));
        assert!(!written(&cp, &Position::new("binlog.000002", 500), 600, 4));
        assert!(!written(&cp, &Position::new("binlog.000002", 500), 700, 0));
        assert!(!written(&cp, &Position::new("binlog.000002", 900), 950, 0));
        let boundary = Checkpoint {
            written_through: None,
            ..cp
        };
        assert!(!written(
            &boundary,
            &Position::new("binlog.000002", 500),
            510,
            0
        ));
        assert!(written(
            &boundary,
            &Position::new("binlog.000002", 499),
            499,
            0
        ));
    }

    fn change<'a>(
        txn: &'a Position,
        offset: u64,
        row: u32,
        event_row: u32,
        delete: bool,
    ) -> ChangeAt<'a> {
        ChangeAt {
            txn,
            file: "binlog.000002",
            offset,
            row,
            last: row,
            event_row,
            delete,
            payload: false,
        }
    }

    #[test]
    fn a_streams_last_entry_says_which_changes_are_written() {
        let fields = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(f, _)| *f == k).map(|(_, v)| *v)
        };
        // flat: `pos` FILE:OFFSET:ROW; snapshot entries name no binlog change.
        let flat =
            LastEntry::of_fields(fields(&[("op", "c"), ("pos", "binlog.000002:600:3")])).unwrap();
        assert_eq!(flat.position, Position::new("binlog.000002", 600));
        assert_eq!(flat.row, EntryRow::Change(3));
        assert_eq!(
            LastEntry::of_fields(fields(&[("pos", "snapshot:1700000000000:shop.t:5")])),
            None
        );
        assert_eq!(LastEntry::of_fields(fields(&[("pos", "garbage")])), None);
        // Debezium: the value's `source` file/pos/row and its `op`.
        let dbz = LastEntry::of_fields(fields(&[
            ("key", "{\"id\":1}"),
            (
                "value",
                "{\"before\":{\"id\":1},\"after\":null,\"source\":{\"snapshot\":\"false\",\"file\":\"binlog.000002\",\"pos\":600,\"row\":1},\"op\":\"d\"}",
            ),
        ]))
        .unwrap();
        assert_eq!(
            dbz.row,
            EntryRow::EventRow {
                row: 1,
                delete: true
            }
        );
        assert_eq!(
            LastEntry::of_fields(fields(&[(
                "value",
                "{\"source\":{\"snapshot\":\"true\",\"file\":\"\",\"pos\":0,\"row\":0},\"op\":\"r\"}"
            )])),
            None
        );

        let txn = Position::new("binlog.000002", 500);
        let later = Position::new("binlog.000002", 900);
        // flat: up to and including change 3 of the event at 600.
        let w = Through::Entry(&flat);
        assert!(w.written(&change(&txn, 550, 7, 7, false)));
        assert!(w.written(&change(&txn, 600, 3, 1, false)));
        assert!(!w.written(&change(&txn, 600, 4, 2, true)));
        assert!(!w.written(&change(&later, 950, 0, 0, false)));
        let older_file = Position::new("binlog.000001", 90000);
        let mut c = change(&older_file, 90100, 9, 9, false);
        c.file = "binlog.000001";
        assert!(w.written(&c));
        assert!(w.statement_written("binlog.000002", 580, 0));
        assert!(!w.statement_written("binlog.000002", 700, 0));
        // Debezium, the last entry a `d` at row 1: the `c` half of that key change is not
        // written, the next row is not, the earlier rows are.
        let w = Through::Entry(&dbz);
        assert!(w.written(&change(&txn, 600, 1, 0, false)));
        assert!(w.written(&change(&txn, 600, 2, 1, true)));
        assert!(!w.written(&change(&txn, 600, 3, 1, false)));
        assert!(!w.written(&change(&txn, 600, 4, 2, true)));
        let upsert = LastEntry {
            row: EntryRow::EventRow {
                row: 1,
                delete: false,
            },
            ..dbz.clone()
        };
        assert!(Through::Entry(&upsert).written(&change(&txn, 600, 3, 1, false)));
        // A compressed transaction at that offset counts as written whole.
        let mut p = change(&txn, 600, 9, 0, false);
        p.payload = true;
        assert!(Through::Entry(&dbz).written(&p));
        // The later of two entries (an XA transaction's rows come at its commit).
        let xa = LastEntry {
            position: Position::new("binlog.000002", 300),
            row: EntryRow::Change(0),
        };
        assert_eq!(xa.clone().later(flat.clone()), flat);
        assert_eq!(flat.clone().later(xa), flat);
    }

    #[test]
    fn a_last_entry_behind_the_readers_start_may_miss_changes() {
        let at = |offset, written_through| Checkpoint {
            position: Position::new("binlog.000002", offset),
            written_through,
            ..Checkpoint::default()
        };
        let flat = LastEntry {
            position: Position::new("binlog.000002", 600),
            row: EntryRow::Change(3),
        };
        assert!(flat.at_or_after(&at(500, None)));
        assert!(flat.at_or_after(&at(600, None)));
        assert!(!flat.at_or_after(&at(700, None)));
        assert!(flat.at_or_after(&at(500, Some((550, 9)))));
        assert!(flat.at_or_after(&at(500, Some((600, 3)))));
        assert!(!flat.at_or_after(&at(500, Some((600, 4)))));
        assert!(!flat.at_or_after(&at(500, Some((650, 0)))));
        let next_file = Checkpoint {
            position: Position::new("binlog.000003", 4),
            ..Checkpoint::default()
        };
        assert!(!flat.at_or_after(&next_file));
        let dbz = LastEntry {
            row: EntryRow::EventRow {
                row: 3,
                delete: false,
            },
            ..flat.clone()
        };
        assert!(dbz.at_or_after(&at(500, Some((550, 9)))));
        assert!(!dbz.at_or_after(&at(500, Some((600, 0)))));
    }

    #[test]
    fn a_tag_lands_in_the_slot_asked_for() {
        for slot in [0u16, 1, 5460, 16383] {
            assert_eq!(key_slot(tag_for_slot(slot).as_bytes()), slot);
        }
    }
}

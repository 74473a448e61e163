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
/// the checkpoint through which its changes are already in Redis (its own position, when it is
/// ahead of the point the reader starts from).
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub slots: SlotSet,
    /// `db.table` -> its position.
    pub positions: std::collections::HashMap<String, Checkpoint>,
    /// The position of every other table (the node's own, when the reader starts before it
    /// for a table that resumes from further back).
    pub default: Option<Checkpoint>,
}

impl ClusterView {
    /// This node streams the table `name` (`db.table`).
    pub fn owns(&self, name: &str) -> bool {
        self.slots.contains(table_slot(name))
    }

    /// The checkpoint through which the table's changes are written already, if it has one.
    pub fn written_through(&self, name: &str) -> Option<&Checkpoint> {
        self.positions.get(name).or(self.default.as_ref())
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

    #[test]
    fn a_tag_lands_in_the_slot_asked_for() {
        for slot in [0u16, 1, 5460, 16383] {
            assert_eq!(key_slot(tag_for_slot(slot).as_bytes()), slot);
        }
    }
}

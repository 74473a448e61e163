//! `CDC.WAIT <position>`: the positions an application may wait for, and whether what the
//! module has written reaches them (docs/commands.md).
//!
//! Three forms are accepted, each as the source prints it:
//! * a MariaDB GTID position, `0-1-42,1-2-7` (`@@last_gtid`, `@@gtid_binlog_pos`): reached when
//!   every domain's written sequence number is at least the one asked for;
//! * a MySQL GTID set, `uuid:1-42:50,uuid2:7` (also tagged, `uuid:tag:1-5`; `@@gtid_executed`,
//!   a session's last GTID): reached when, for every server uuid (and tag), the module has
//!   written a transaction with that uuid whose number is at least the highest asked for (a
//!   server numbers its transactions in commit order, which is binlog order);
//! * a binlog position `FILE:OFFSET` (`SHOW MASTER STATUS`): reached when the written position
//!   is at or past it.

use super::position::{Checkpoint, MariaGtidState, Position};
use std::collections::BTreeMap;

/// A position `CDC.WAIT` waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitTarget {
    Maria(MariaGtidState),
    /// `uuid` or `uuid:tag` -> the highest transaction number asked for.
    Mysql(BTreeMap<String, u64>),
    File(Position),
}

/// What the accepted forms look like, for the error of a malformed position.
pub const WAIT_FORMS: &str = "a MariaDB GTID position (0-1-42,1-2-7), a MySQL GTID set (3e11fa47-71ca-11e1-9e33-c80aa9429562:1-42) or FILE:OFFSET (mysql-bin.000003:1234)";

impl WaitTarget {
    pub fn parse(s: &str) -> Result<WaitTarget, String> {
        let s = s.trim();
        let bad = || format!("position '{s}' is none of {WAIT_FORMS}");
        if s.is_empty() {
            return Err(bad());
        }
        if s.split(',').all(|p| is_maria_gtid(p.trim())) {
            return s.parse().map(WaitTarget::Maria).map_err(|_| bad());
        }
        if s.split(',')
            .next()
            .is_some_and(|p| is_uuid(p.trim().split(':').next().unwrap_or("")))
        {
            return parse_mysql_set(s).map(WaitTarget::Mysql).ok_or_else(bad);
        }
        match s.rsplit_once(':') {
            Some((file, off)) if !file.is_empty() && !file.contains(',') => Ok(WaitTarget::File(
                Position::new(file, off.parse().map_err(|_| bad())?),
            )),
            _ => Err(bad()),
        }
    }
}

fn is_maria_gtid(p: &str) -> bool {
    let parts: Vec<&str> = p.split('-').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `uuid[:tag]:interval[:interval...]` items, comma-separated (MySQL's text form; new lines
/// allowed as `@@gtid_executed` prints them). Tags and intervals mix as MySQL 8.4 writes them:
/// `uuid:1-5:tag:1-3` has intervals for `uuid` and for `uuid:tag`.
fn parse_mysql_set(s: &str) -> Option<BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let mut parts = item.split(':');
        let uuid = parts.next()?.to_ascii_lowercase();
        if !is_uuid(&uuid) {
            return None;
        }
        let mut sid = uuid.clone();
        let mut any = false;
        for part in parts {
            let part = part.trim();
            if part.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                let high = match part.split_once('-') {
                    Some((lo, hi)) => {
                        lo.parse::<u64>().ok()?;
                        hi.parse::<u64>().ok()?
                    }
                    None => part.parse::<u64>().ok()?,
                };
                let e = out.entry(sid.clone()).or_default();
                *e = (*e).max(high);
                any = true;
            } else if !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                sid = format!("{uuid}:{}", part.to_ascii_lowercase());
            } else {
                return None;
            }
        }
        if !any {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// What the module has written, as far as [`WaitTarget`] needs it.
#[derive(Debug, Clone, Default)]
pub struct Written {
    position: Position,
    maria: MariaGtidState,
    /// MySQL: the highest transaction number written per `uuid[:tag]`, from every checkpoint
    /// seen (a checkpoint holds the last transaction's GTID only).
    mysql: BTreeMap<String, u64>,
}

impl Written {
    /// Take the checkpoint the module has just written (or found stored).
    pub fn observe(&mut self, cp: &Checkpoint) {
        self.position = cp.position.clone();
        let g = cp.gtid.trim();
        if g.is_empty() {
            return;
        }
        if let Ok(st) = g.parse::<MariaGtidState>() {
            self.maria = st;
        } else if let Some(set) = parse_mysql_set(g) {
            // MySQL: a transaction's `uuid[:tag]:n`, or the whole executed set
            // (`uuid:1-42,uuid2:1-7`) a session starting at the source's end stores.
            for (sid, n) in set {
                let e = self.mysql.entry(sid).or_default();
                *e = (*e).max(n);
            }
        }
    }

    pub fn reaches(&self, target: &WaitTarget) -> bool {
        match target {
            WaitTarget::Maria(t) => t.behind_in(&self.maria).is_none(),
            WaitTarget::Mysql(t) => t
                .iter()
                .all(|(sid, n)| self.mysql.get(sid).is_some_and(|w| w >= n)),
            WaitTarget::File(p) => !self.position.file.is_empty() && self.position >= *p,
        }
    }

    /// The position reached, for replies: the GTID state where there is one, and FILE:OFFSET.
    pub fn describe(&self) -> String {
        let gtid = if !self.maria.is_empty() {
            self.maria.to_string()
        } else {
            self.mysql
                .iter()
                .map(|(sid, n)| format!("{sid}:1-{n}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        match (gtid.is_empty(), self.position.file.is_empty()) {
            (_, true) => "nothing written yet".to_string(),
            (true, false) => self.position.to_string(),
            (false, false) => format!("{gtid} ({})", self.position),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(file: &str, pos: u64, gtid: &str) -> Checkpoint {
        Checkpoint {
            position: Position::new(file, pos),
            gtid: gtid.to_string(),
            ..Checkpoint::default()
        }
    }

    const U: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    #[test]
    fn forms_parse_and_bad_ones_name_the_forms() {
        assert!(matches!(
            WaitTarget::parse("0-1-42, 1-2-7"),
            Ok(WaitTarget::Maria(_))
        ));
        let WaitTarget::Mysql(m) = WaitTarget::parse(&format!("{U}:1-42:50,\n{U}:ab_c:3")).unwrap()
        else {
            panic!("not a MySQL set");
        };
        assert_eq!(m.get(U), Some(&50));
        assert_eq!(m.get(&format!("{U}:ab_c")), Some(&3));
        assert_eq!(
            WaitTarget::parse("mysql-bin.000003:1234"),
            Ok(WaitTarget::File(Position::new("mysql-bin.000003", 1234)))
        );
        for bad in [
            "",
            "nope",
            "0-1",
            "mysql-bin.000003:x",
            U,
            &format!("{U}:x-1"),
        ] {
            let e = WaitTarget::parse(bad).unwrap_err();
            assert!(e.contains("FILE:OFFSET"), "{bad}: {e}");
        }
    }

    #[test]
    fn reached_per_form() {
        let mut w = Written::default();
        let maria = WaitTarget::parse("0-1-42").unwrap();
        let file = WaitTarget::parse("mysql-bin.000002:500").unwrap();
        assert!(!w.reaches(&maria) && !w.reaches(&file));
        assert_eq!(w.describe(), "nothing written yet");
        w.observe(&cp("mysql-bin.000002", 499, "0-1-41"));
        assert!(!w.reaches(&maria) && !w.reaches(&file));
        w.observe(&cp("mysql-bin.000002", 500, "0-1-42,1-1-3"));
        assert!(w.reaches(&maria) && w.reaches(&file));
        assert!(!w.reaches(&WaitTarget::parse("0-1-42,2-1-1").unwrap()));
        assert!(w.reaches(&WaitTarget::parse("mysql-bin.000001:99999").unwrap()));
        assert_eq!(w.describe(), "0-1-42,1-1-3 (mysql-bin.000002:500)");

        let mut w = Written::default();
        let set = WaitTarget::parse(&format!("{U}:1-42")).unwrap();
        w.observe(&cp("b.000001", 10, &format!("{U}:41")));
        assert!(!w.reaches(&set));
        w.observe(&cp("b.000001", 20, &format!("{}:42", U.to_uppercase())));
        assert!(w.reaches(&set));
        // A tagged GTID is its own sequence.
        assert!(!w.reaches(&WaitTarget::parse(&format!("{U}:t:1")).unwrap()));
        w.observe(&cp("b.000001", 30, &format!("{U}:t:1")));
        assert!(w.reaches(&WaitTarget::parse(&format!("{U}:t:1")).unwrap()));
        assert!(w.reaches(&set), "earlier numbers are kept");
    }

    /// A session that starts at the source's end stores MySQL's whole executed set (SHOW
    /// MASTER STATUS `Executed_Gtid_Set`): waiting for that same set is answered at once.
    #[test]
    fn a_stored_mysql_gtid_set_reaches_itself() {
        const V: &str = "4f22ab58-82db-22f2-af44-d91bb9530673";
        let executed = format!("{U}:1-1000,\n{V}:1-5:7");
        let mut w = Written::default();
        w.observe(&cp("b.000001", 10, &executed.replace('\n', "")));
        assert!(w.reaches(&WaitTarget::parse(&executed).unwrap()));
        assert!(w.reaches(&WaitTarget::parse(&format!("{V}:7")).unwrap()));
        assert!(!w.reaches(&WaitTarget::parse(&format!("{V}:8")).unwrap()));
        // The next transaction's GTID alone keeps what the set said of the other uuid.
        w.observe(&cp("b.000001", 20, &format!("{V}:8")));
        assert!(w.reaches(&WaitTarget::parse(&format!("{U}:1-1000,{V}:1-8")).unwrap()));
    }
}

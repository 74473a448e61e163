//! `CDC.WAIT <position>`: the positions an application may wait for, and whether what the
//! module has written reaches them (docs/commands.md).
//!
//! Three forms are accepted, each as the source prints it:
//! * a MariaDB GTID position, `0-1-42,1-2-7` (`@@last_gtid`, `@@gtid_binlog_pos`): reached when
//!   every domain's written sequence number is at least the one asked for;
//! * a MySQL GTID set, `uuid:1-42:50,uuid2:7` (also tagged, `uuid:tag:1-5`; `@@gtid_executed`,
//!   a session's last GTID): reached when every transaction it names is in the GTID set stored
//!   with the position (the source's executed set where the module started at its end, plus
//!   every transaction written since);
//! * a binlog position `FILE:OFFSET` (`SHOW MASTER STATUS`): reached when the written position
//!   is at or past it.

use super::position::{is_uuid, Checkpoint, MariaGtidState, MysqlGtidSet, Position};

/// A position `CDC.WAIT` waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitTarget {
    Maria(MariaGtidState),
    Mysql(MysqlGtidSet),
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
            return match s.parse::<MysqlGtidSet>() {
                Ok(set) if !set.is_empty() => Ok(WaitTarget::Mysql(set)),
                _ => Err(bad()),
            };
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

/// What the module has written, as far as [`WaitTarget`] needs it: the last checkpoint seen.
#[derive(Debug, Clone, Default)]
pub struct Written {
    position: Position,
    maria: MariaGtidState,
    mysql: MysqlGtidSet,
    /// The `gtid` text `maria` or `mysql` was read from: an unchanged one is not read again.
    gtid_text: String,
}

impl Written {
    /// Take the checkpoint the module has just written (or found stored).
    pub fn observe(&mut self, cp: &Checkpoint) {
        self.position = cp.position.clone();
        let g = cp.gtid.trim();
        if g == self.gtid_text {
            return;
        }
        self.gtid_text = g.to_string();
        self.maria = MariaGtidState::default();
        self.mysql = MysqlGtidSet::default();
        if g.is_empty() {
            return;
        }
        if let Ok(st) = g.parse::<MariaGtidState>() {
            self.maria = st;
        } else if let Ok(set) = MysqlGtidSet::from_stored(g) {
            self.mysql = set;
        }
    }

    pub fn reaches(&self, target: &WaitTarget) -> bool {
        match target {
            WaitTarget::Maria(t) => t.behind_in(&self.maria).is_none(),
            WaitTarget::Mysql(t) => self.mysql.contains(t),
            WaitTarget::File(p) => !self.position.file.is_empty() && self.position >= *p,
        }
    }

    /// The position reached, for replies: the GTID state where there is one, and FILE:OFFSET.
    pub fn describe(&self) -> String {
        let gtid = if !self.maria.is_empty() {
            self.maria.to_string()
        } else {
            self.mysql.to_string()
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
        assert_eq!(m.to_string(), format!("{U}:1-42:50:ab_c:3"));
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
        w.observe(&cp("b.000001", 10, &format!("{U}:1-41")));
        assert!(!w.reaches(&set));
        w.observe(&cp("b.000001", 20, &format!("{}:1-42", U.to_uppercase())));
        assert!(w.reaches(&set));
        // A tagged GTID is its own sequence.
        assert!(!w.reaches(&WaitTarget::parse(&format!("{U}:t:1")).unwrap()));
        w.observe(&cp("b.000001", 30, &format!("{U}:1-42:t:1")));
        assert!(w.reaches(&WaitTarget::parse(&format!("{U}:t:1")).unwrap()));
        assert!(w.reaches(&set));
        assert_eq!(w.describe(), format!("{U}:1-42:t:1 (b.000001:30)"));
    }

    /// Every interval asked for must be in the stored set: a gap is not reached although
    /// higher numbers are.
    #[test]
    fn a_mysql_set_is_reached_when_it_is_contained() {
        let mut w = Written::default();
        w.observe(&cp("b.000001", 10, &format!("{U}:1-5:11-18")));
        for (asked, reached) in [
            ("1-5", true),
            ("3", true),
            ("11-18", true),
            ("2-4:12", true),
            ("6", false),
            ("5-11", false),
            ("18-19", false),
            ("1-5:11-18", true),
        ] {
            let t = WaitTarget::parse(&format!("{U}:{asked}")).unwrap();
            assert_eq!(w.reaches(&t), reached, "{asked}");
        }
    }

    /// A stored value of a module before the GTID set, the last GTID alone, `uuid:n`, is
    /// read as `uuid:1-n` (what that module meant by it).
    #[test]
    fn an_old_stored_single_gtid_reaches_the_numbers_up_to_it() {
        let mut w = Written::default();
        w.observe(&cp("b.000001", 10, &format!("{U}:42")));
        assert!(w.reaches(&WaitTarget::parse(&format!("{U}:1-42")).unwrap()));
        assert!(!w.reaches(&WaitTarget::parse(&format!("{U}:43")).unwrap()));
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
        // The next stored set (the module adds each transaction's GTID to it).
        w.observe(&cp("b.000001", 20, &format!("{U}:1-1000,{V}:1-5:7-8")));
        assert!(w.reaches(&WaitTarget::parse(&format!("{U}:1-1000,{V}:7-8")).unwrap()));
        assert!(!w.reaches(&WaitTarget::parse(&format!("{U}:1-1000,{V}:1-8")).unwrap()));
    }
}

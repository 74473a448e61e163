//! The code a statement runs besides itself: triggers of the tables it writes, views it writes
//! through, stored functions it calls (and, transitively, theirs).
//!
//! A DML statement logged as a statement (`binlog_format=STATEMENT`, or MIXED) is all the binlog
//! carries of it: a replica runs it again, and with it the triggers, views and functions it
//! involves. Their writes never appear in the binlog. `INSERT INTO log_table ...` whose trigger
//! writes a captured table, `INSERT INTO a_view ...`, `SELECT f()` where `f` inserts: each
//! changes captured rows without a rows event and without naming the captured table. So the
//! tables such a statement may write are its own, plus those the code of these objects writes,
//! looked up in the source's `information_schema` through [`CodeLookup`] (docs/events.md,
//! "Statements, triggers and stored functions").

use super::ddl::code_refs;
use std::collections::{BTreeSet, HashMap, HashSet};

/// What the lookup is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeQuery<'a> {
    /// The triggers of `db.table`, or its definition when it is a view.
    Table { db: &'a str, table: &'a str },
    /// The stored functions and procedures of `db`.
    Routines { db: &'a str },
}

/// One answer of the lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// A trigger of the table: its body.
    Trigger(String),
    /// The table is a view: its definition (None: hidden from the module's user, which needs
    /// SHOW VIEW).
    View(Option<String>),
    /// The table's triggers cannot be seen: the server shows them only to users with the
    /// TRIGGER privilege on the table.
    TriggersHidden,
    /// A stored routine of the database: its name and body (None: hidden from the user).
    Routine { name: String, body: Option<String> },
}

/// Looks code up in the source's information_schema; Err: the lookup failed.
pub type CodeLookup = Box<dyn FnMut(CodeQuery<'_>) -> Result<Vec<Code>, String> + Send>;

/// More objects than this behind one statement: give up and assume any table.
const MAX_OBJECTS: usize = 1000;

/// Follows statements to the tables their triggers, views and functions write; caches what
/// the lookup said until [`StatementCode::forget`] (after DDL).
pub struct StatementCode {
    lookup: CodeLookup,
    tables: HashMap<(String, String), Vec<Code>>,
    routines: HashMap<String, Vec<Code>>,
}

impl StatementCode {
    pub fn new(lookup: CodeLookup) -> StatementCode {
        StatementCode {
            lookup,
            tables: HashMap::new(),
            routines: HashMap::new(),
        }
    }

    /// Forget what was looked up (DDL may have changed triggers, views or routines).
    pub fn forget(&mut self) {
        self.tables.clear();
        self.routines.clear();
    }

    /// Every table the statement `sql` (in schema `db`) may write: `tables` (the ones it names
    /// itself), plus those written by the triggers of each, the base tables of each view, the
    /// stored functions it calls, and so on. Views are not in it (their base tables are). Err(why) when that cannot be told (a lookup failed,
    /// triggers or a definition are hidden, too many objects): the caller must then assume any
    /// table.
    pub fn written(
        &mut self,
        sql: &str,
        db: &str,
        tables: Vec<(String, String)>,
    ) -> Result<BTreeSet<(String, String)>, String> {
        let mut out = BTreeSet::new();
        let mut visited = HashSet::new();
        let mut todo_tables = tables;
        let mut todo_calls = code_refs(sql, db, false).calls;
        let mut seen_calls = HashSet::new();
        loop {
            if visited.len() + seen_calls.len() > MAX_OBJECTS {
                return Err(format!(
                    "more than {MAX_OBJECTS} tables and routines behind one statement"
                ));
            }
            if let Some(t) = todo_tables.pop() {
                if !visited.insert(t.clone()) {
                    continue;
                }
                let mut view = false;
                for code in self.table_code(&t)? {
                    match code {
                        Code::Trigger(body) => {
                            let r = code_refs(&body, &t.0, false);
                            todo_tables.extend(r.tables);
                            todo_calls.extend(r.calls);
                        }
                        Code::View(Some(def)) => {
                            view = true;
                            let r = code_refs(&def, &t.0, true);
                            todo_tables.extend(r.tables);
                            todo_calls.extend(r.calls);
                        }
                        Code::View(None) => {
                            return Err(format!(
                                "{}.{} is a view whose definition the module's user cannot see (GRANT SHOW VIEW)",
                                t.0, t.1
                            ))
                        }
                        Code::TriggersHidden => {
                            return Err(format!(
                                "the triggers of {}.{} are hidden from the module's user (the server shows them only with the TRIGGER privilege: GRANT TRIGGER ON *.* to it)",
                                t.0, t.1
                            ))
                        }
                        Code::Routine { .. } => {}
                    }
                }
                if !view {
                    out.insert(t);
                }
            } else if let Some((rdb, name)) = todo_calls.pop() {
                if !seen_calls.insert((rdb.clone(), name.to_lowercase())) {
                    continue;
                }
                for code in self.routines_of(&rdb)? {
                    let Code::Routine { name: n, body } = code else {
                        continue;
                    };
                    if !n.eq_ignore_ascii_case(&name) {
                        continue;
                    }
                    let Some(body) = body else {
                        return Err(format!(
                            "the body of the stored routine {rdb}.{n} is hidden from the module's user"
                        ));
                    };
                    let r = code_refs(&body, &rdb, false);
                    todo_tables.extend(r.tables);
                    todo_calls.extend(r.calls);
                }
            } else {
                return Ok(out);
            }
        }
    }

    fn table_code(&mut self, t: &(String, String)) -> Result<Vec<Code>, String> {
        if let Some(c) = self.tables.get(t) {
            return Ok(c.clone());
        }
        let c = (self.lookup)(CodeQuery::Table {
            db: &t.0,
            table: &t.1,
        })?;
        self.tables.insert(t.clone(), c.clone());
        Ok(c)
    }

    fn routines_of(&mut self, db: &str) -> Result<Vec<Code>, String> {
        if let Some(c) = self.routines.get(db) {
            return Ok(c.clone());
        }
        let c = (self.lookup)(CodeQuery::Routines { db })?;
        self.routines.insert(db.to_string(), c.clone());
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn t(db: &str, n: &str) -> (String, String) {
        (db.to_string(), n.to_string())
    }

    /// A source with: s.log (trigger -> s.t and o.mid), o.mid (trigger -> CALL s.p), procedure
    /// s.p (-> s.deep), function s.f (-> s.by_f), view s.v over s.base, and s.hidden whose
    /// triggers cannot be seen. Counts lookups.
    fn source() -> (StatementCode, Arc<Mutex<usize>>) {
        let calls = Arc::new(Mutex::new(0));
        let counter = calls.clone();
        let lookup: CodeLookup = Box::new(move |q| {
            *counter.lock().map_err(|e| e.to_string())? += 1;
            Ok(match q {
                CodeQuery::Table {
                    db: "s",
                    table: "log",
                } => vec![Code::Trigger(
                    "BEGIN INSERT INTO t VALUES (NEW.id); UPDATE o.mid SET n = n + 1; END".into(),
                )],
                CodeQuery::Table {
                    db: "o",
                    table: "mid",
                } => {
                    vec![Code::Trigger("CALL s.p()".into())]
                }
                CodeQuery::Table {
                    db: "s",
                    table: "v",
                } => vec![Code::View(Some(
                    "select `s`.`base`.`id` AS `id` from `s`.`base`".into(),
                ))],
                CodeQuery::Table {
                    db: "s",
                    table: "hidden",
                } => vec![Code::TriggersHidden],
                CodeQuery::Routines { db: "s" } => vec![
                    Code::Routine {
                        name: "p".into(),
                        body: Some("begin delete from deep; end".into()),
                    },
                    Code::Routine {
                        name: "F".into(),
                        body: Some("begin insert into by_f values (1); return 1; end".into()),
                    },
                ],
                _ => Vec::new(),
            })
        });
        (StatementCode::new(lookup), calls)
    }

    #[test]
    fn triggers_views_and_functions_are_followed() {
        let (mut code, lookups) = source();
        // A trigger chain: s.log -> s.t, o.mid -> CALL s.p -> s.deep.
        let w = code
            .written("INSERT INTO log VALUES (1)", "s", vec![t("s", "log")])
            .expect("written");
        assert_eq!(
            w.into_iter().collect::<Vec<_>>(),
            [t("o", "mid"), t("s", "deep"), t("s", "log"), t("s", "t")]
        );
        // A view: its base table.
        let w = code
            .written("INSERT INTO v VALUES (1)", "s", vec![t("s", "v")])
            .expect("written");
        assert_eq!(w.into_iter().collect::<Vec<_>>(), [t("s", "base")]);
        // A stored function in the statement (names are case-insensitive).
        let w = code
            .written("SELECT `s`.`f`(7)", "x", Vec::new())
            .expect("written");
        assert_eq!(w.into_iter().collect::<Vec<_>>(), [t("s", "by_f")]);
        // Cached: asking again looks nothing up.
        let before = *lookups.lock().expect("lock");
        code.written("INSERT INTO log VALUES (2)", "s", vec![t("s", "log")])
            .expect("written");
        assert_eq!(*lookups.lock().expect("lock"), before);
        code.forget();
        code.written("INSERT INTO log VALUES (2)", "s", vec![t("s", "log")])
            .expect("written");
        assert!(*lookups.lock().expect("lock") > before);
    }

    #[test]
    fn hidden_triggers_cannot_be_told() {
        let (mut code, _) = source();
        let e = code
            .written("DELETE FROM hidden", "s", vec![t("s", "hidden")])
            .expect_err("hidden");
        assert!(e.contains("TRIGGER privilege"), "{e}");
    }
}

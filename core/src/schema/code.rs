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
    /// The foreign keys whose child (referencing) table is in `db`.
    ForeignKeys { db: &'a str },
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
    /// A foreign key of a table of the database.
    ForeignKey(ForeignKey),
}

/// A foreign key: `child` references `parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub child: (String, String),
    pub parent: (String, String),
    /// DELETE_RULE: CASCADE, SET NULL, SET DEFAULT, RESTRICT or NO ACTION.
    pub on_delete: String,
    /// UPDATE_RULE, the same.
    pub on_update: String,
    /// (child column, referenced parent column), in key order.
    pub columns: Vec<(String, String)>,
}

/// Whether a DELETE_RULE/UPDATE_RULE changes child rows (CASCADE, SET NULL, SET DEFAULT).
fn acts(rule: &str) -> bool {
    let r = rule.trim();
    ["CASCADE", "SET NULL", "SET DEFAULT"]
        .iter()
        .any(|a| r.eq_ignore_ascii_case(a))
}

/// What a rows event did to the rows of a parent table.
#[derive(Debug, Clone, Copy)]
pub enum ParentChange<'a> {
    Delete,
    /// An UPDATE that changed these columns (None: which ones cannot be told).
    Update(Option<&'a BTreeSet<String>>),
}

/// Looks code up in the source's information_schema; Err: the lookup failed.
pub type CodeLookup = Box<dyn FnMut(CodeQuery<'_>) -> Result<Vec<Code>, String> + Send>;

/// More objects than this behind one statement: give up and assume any table.
const MAX_OBJECTS: usize = 1000;

/// Why the tables a statement writes cannot be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untold {
    /// The source hides what the module would need (a privilege missing, too much code): every
    /// captured table is re-read.
    Hidden(String),
    /// A look-up failed (the source restarting, the network): read the statement again later.
    Lookup(String),
}

impl std::fmt::Display for Untold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Untold::Hidden(why) | Untold::Lookup(why) => f.write_str(why),
        }
    }
}

/// Follows statements to the tables their triggers, views and functions write; caches what
/// the lookup said until [`StatementCode::forget`] (after DDL).
pub struct StatementCode {
    lookup: CodeLookup,
    tables: HashMap<(String, String), Vec<Code>>,
    routines: HashMap<String, Vec<Code>>,
    /// Foreign keys with an action whose child is captured, or is the parent of one such
    /// (transitively): db -> parent table -> its keys. None: not looked up since the last DDL.
    cascades: Option<HashMap<String, HashMap<String, Vec<ForeignKey>>>>,
}

impl StatementCode {
    pub fn new(lookup: CodeLookup) -> StatementCode {
        StatementCode {
            lookup,
            tables: HashMap::new(),
            routines: HashMap::new(),
            cascades: None,
        }
    }

    /// Forget what was looked up (DDL may have changed triggers, views or routines).
    pub fn forget(&mut self) {
        self.tables.clear();
        self.routines.clear();
        self.cascades = None;
    }

    /// Forget the foreign keys only (a captured table appeared in a database not looked up).
    pub fn forget_keys(&mut self) {
        self.cascades = None;
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
    ) -> Result<BTreeSet<(String, String)>, Untold> {
        let mut out = BTreeSet::new();
        let mut visited = HashSet::new();
        let mut todo_tables = tables;
        let mut todo_calls = code_refs(sql, db, false).calls;
        let mut seen_calls = HashSet::new();
        loop {
            if visited.len() + seen_calls.len() > MAX_OBJECTS {
                return Err(Untold::Hidden(format!(
                    "more than {MAX_OBJECTS} tables and routines behind one statement"
                )));
            }
            if let Some(t) = todo_tables.pop() {
                if !visited.insert(t.clone()) {
                    continue;
                }
                let mut view = false;
                for code in self.table_code(&t).map_err(Untold::Lookup)? {
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
                            return Err(Untold::Hidden(format!(
                                "{}.{} is a view whose definition the module's user cannot see (GRANT SHOW VIEW)",
                                t.0, t.1
                            )))
                        }
                        Code::TriggersHidden => {
                            return Err(Untold::Hidden(format!(
                                "the triggers of {}.{} are hidden from the module's user (the server shows them only with the TRIGGER privilege: GRANT TRIGGER ON *.* to it)",
                                t.0, t.1
                            )))
                        }
                        Code::Routine { .. } | Code::ForeignKey(_) => {}
                    }
                }
                if !view {
                    out.insert(t);
                }
            } else if let Some((rdb, name)) = todo_calls.pop() {
                if !seen_calls.insert((rdb.clone(), name.to_lowercase())) {
                    continue;
                }
                for code in self.routines_of(&rdb).map_err(Untold::Lookup)? {
                    let Code::Routine { name: n, body } = code else {
                        continue;
                    };
                    if !n.eq_ignore_ascii_case(&name) {
                        continue;
                    }
                    let Some(body) = body else {
                        return Err(Untold::Hidden(format!(
                            "the body of the stored routine {rdb}.{n} is hidden from the module's user"
                        )));
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

    /// The parent columns of `db.table` whose UPDATE an ON UPDATE action of a foreign key
    /// carries to a captured table (empty: an UPDATE of the table changes no captured rows
    /// besides its own). See [`StatementCode::cascades`] for `known` and `captured`.
    pub fn update_columns(
        &mut self,
        db: &str,
        table: &str,
        known: &BTreeSet<(String, String)>,
        captured: &dyn Fn(&str, &str) -> bool,
    ) -> Result<BTreeSet<String>, String> {
        let graph = self.graph(known, captured)?;
        Ok(graph
            .get(db)
            .and_then(|t| t.get(table))
            .into_iter()
            .flatten()
            .filter(|k| acts(&k.on_update))
            .flat_map(|k| k.columns.iter().map(|(_, p)| p.clone()))
            .collect())
    }

    /// The captured tables whose rows the foreign-key actions (ON DELETE/ON UPDATE CASCADE,
    /// SET NULL, SET DEFAULT) of `change` to rows of `db.table` may change, transitively (a
    /// child whose rows change is a parent in turn). InnoDB makes these changes without rows
    /// events. `known`: the captured tables known to exist (foreign keys are looked up by
    /// child database: the server shows a key to users with a privilege on its child table,
    /// and the module's user can read the captured ones); `captured`: the filter. The keys are
    /// looked up once until [`StatementCode::forget`]; a table that is no parent costs a map
    /// lookup. Err: the lookup failed.
    pub fn cascades(
        &mut self,
        db: &str,
        table: &str,
        change: ParentChange<'_>,
        known: &BTreeSet<(String, String)>,
        captured: &dyn Fn(&str, &str) -> bool,
    ) -> Result<BTreeSet<(String, String)>, String> {
        let graph = self.graph(known, captured)?;
        let mut out = BTreeSet::new();
        // (table, None: rows deleted | Some(columns updated, None: unknown)).
        type Step = ((String, String), Option<Option<BTreeSet<String>>>);
        let first: Option<Option<BTreeSet<String>>> = match change {
            ParentChange::Delete => None,
            ParentChange::Update(cols) => Some(cols.cloned()),
        };
        let mut todo: Vec<Step> = vec![((db.to_string(), table.to_string()), first)];
        let mut seen: HashSet<Step> = HashSet::new();
        while let Some(step) = todo.pop() {
            if seen.len() > MAX_OBJECTS {
                return Err(format!(
                    "more than {MAX_OBJECTS} steps of foreign-key actions"
                ));
            }
            if !seen.insert(step.clone()) {
                continue;
            }
            let ((pdb, ptable), how) = step;
            let Some(keys) = graph.get(&pdb).and_then(|t| t.get(&ptable)) else {
                continue;
            };
            for k in keys {
                let child_cols =
                    || -> BTreeSet<String> { k.columns.iter().map(|(c, _)| c.clone()).collect() };
                let next = match &how {
                    // Deleted parent rows: CASCADE deletes the child rows, SET NULL/DEFAULT
                    // updates their referencing columns.
                    None if k.on_delete.trim().eq_ignore_ascii_case("CASCADE") => None,
                    None if acts(&k.on_delete) => Some(Some(child_cols())),
                    None => continue,
                    Some(cols) => {
                        let hit = match cols {
                            None => true,
                            Some(cols) => k.columns.iter().any(|(_, p)| cols.contains(p)),
                        };
                        if !hit || !acts(&k.on_update) {
                            continue;
                        }
                        Some(Some(child_cols()))
                    }
                };
                if captured(&k.child.0, &k.child.1) {
                    out.insert(k.child.clone());
                }
                todo.push((k.child.clone(), next));
            }
        }
        Ok(out)
    }

    /// The foreign keys with an action that lead to captured tables, looked up once per DDL
    /// epoch: by child database, starting with those of the `known` captured tables, then the
    /// databases of the parents found (their own parents), until no new parent is found.
    fn graph(
        &mut self,
        known: &BTreeSet<(String, String)>,
        captured: &dyn Fn(&str, &str) -> bool,
    ) -> Result<&HashMap<String, HashMap<String, Vec<ForeignKey>>>, String> {
        if self.cascades.is_none() {
            let mut keys: Vec<ForeignKey> = Vec::new();
            let mut asked: HashSet<String> = HashSet::new();
            let mut todo: Vec<String> = known.iter().map(|(d, _)| d.clone()).collect();
            while let Some(d) = todo.pop() {
                if asked.len() > MAX_OBJECTS {
                    return Err(format!(
                        "foreign keys across more than {MAX_OBJECTS} databases"
                    ));
                }
                if !asked.insert(d.clone()) {
                    continue;
                }
                for code in (self.lookup)(CodeQuery::ForeignKeys { db: &d })? {
                    if let Code::ForeignKey(k) = code {
                        if acts(&k.on_delete) || acts(&k.on_update) {
                            todo.push(k.parent.0.clone());
                            keys.push(k);
                        }
                    }
                }
            }
            // Keep the keys whose child is captured or (transitively) a kept key's parent.
            let mut relevant: HashSet<(String, String)> = HashSet::new();
            let mut kept = vec![false; keys.len()];
            loop {
                let mut more = false;
                for (i, k) in keys.iter().enumerate() {
                    if !kept[i] && (captured(&k.child.0, &k.child.1) || relevant.contains(&k.child))
                    {
                        kept[i] = true;
                        relevant.insert(k.parent.clone());
                        more = true;
                    }
                }
                if !more {
                    break;
                }
            }
            let mut graph: HashMap<String, HashMap<String, Vec<ForeignKey>>> = HashMap::new();
            for (k, keep) in keys.into_iter().zip(kept) {
                if keep {
                    graph
                        .entry(k.parent.0.clone())
                        .or_default()
                        .entry(k.parent.1.clone())
                        .or_default()
                        .push(k);
                }
            }
            self.cascades = Some(graph);
        }
        self.cascades
            .as_ref()
            .ok_or_else(|| "foreign keys not looked up".to_string())
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
        assert!(
            matches!(&e, Untold::Hidden(w) if w.contains("TRIGGER privilege")),
            "{e}"
        );
    }

    fn key(
        child: (&str, &str),
        parent: (&str, &str),
        del: &str,
        upd: &str,
        cols: &[(&str, &str)],
    ) -> Code {
        Code::ForeignKey(ForeignKey {
            child: t(child.0, child.1),
            parent: t(parent.0, parent.1),
            on_delete: del.into(),
            on_update: upd.into(),
            columns: cols
                .iter()
                .map(|(c, p)| (c.to_string(), p.to_string()))
                .collect(),
        })
    }

    /// Captured: db `s`. p.top -(ON DELETE CASCADE)-> m.mid (uncaptured) -(ON DELETE SET NULL,
    /// ON UPDATE CASCADE)-> s.leaf; p.top -(RESTRICT)-> s.strict; m.mid -(CASCADE)-> m.other
    /// (uncaptured, nobody's parent); s.self references itself ON DELETE CASCADE; x.lone is
    /// the parent of an uncaptured x.kid only.
    fn keys() -> (StatementCode, Arc<Mutex<Vec<String>>>) {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let by = asked.clone();
        let lookup: CodeLookup = Box::new(move |q| {
            let CodeQuery::ForeignKeys { db } = q else {
                return Ok(Vec::new());
            };
            by.lock().map_err(|e| e.to_string())?.push(db.to_string());
            Ok(match db {
                "s" => vec![
                    key(
                        ("s", "leaf"),
                        ("m", "mid"),
                        "SET NULL",
                        "CASCADE",
                        &[("mid_id", "id")],
                    ),
                    key(
                        ("s", "strict"),
                        ("p", "top"),
                        "RESTRICT",
                        "NO ACTION",
                        &[("t", "id")],
                    ),
                    key(
                        ("s", "self"),
                        ("s", "self"),
                        "CASCADE",
                        "RESTRICT",
                        &[("up", "id")],
                    ),
                ],
                "m" => vec![
                    key(
                        ("m", "mid"),
                        ("p", "top"),
                        "CASCADE",
                        "CASCADE",
                        &[("top_id", "id")],
                    ),
                    key(
                        ("m", "other"),
                        ("m", "mid"),
                        "CASCADE",
                        "CASCADE",
                        &[("o", "id")],
                    ),
                ],
                "x" => vec![key(
                    ("x", "kid"),
                    ("x", "lone"),
                    "CASCADE",
                    "CASCADE",
                    &[("k", "id")],
                )],
                _ => Vec::new(),
            })
        });
        (StatementCode::new(lookup), asked)
    }

    #[test]
    fn foreign_key_actions_are_followed_to_captured_tables() {
        let (mut code, asked) = keys();
        let known: BTreeSet<_> = [t("s", "leaf"), t("s", "strict"), t("s", "self")].into();
        let captured = |d: &str, _: &str| d == "s";
        let mut reach = |db: &str, table: &str, change: ParentChange<'_>| {
            code.cascades(db, table, change, &known, &captured)
                .expect("cascades")
                .into_iter()
                .collect::<Vec<_>>()
        };
        // Two levels: deleting p.top deletes m.mid rows, which nulls s.leaf's.
        assert_eq!(reach("p", "top", ParentChange::Delete), [t("s", "leaf")]);
        assert_eq!(reach("m", "mid", ParentChange::Delete), [t("s", "leaf")]);
        assert_eq!(reach("s", "self", ParentChange::Delete), [t("s", "self")]);
        // Updates reach a child only when the referenced columns change.
        let id: BTreeSet<String> = ["id".to_string()].into();
        let other: BTreeSet<String> = ["v".to_string()].into();
        assert_eq!(
            reach("m", "mid", ParentChange::Update(Some(&id))),
            [t("s", "leaf")]
        );
        assert!(reach("m", "mid", ParentChange::Update(Some(&other))).is_empty());
        assert_eq!(
            reach("m", "mid", ParentChange::Update(None)),
            [t("s", "leaf")]
        );
        // p.top's id cascades to m.mid.top_id, which s.leaf does not reference.
        assert!(reach("p", "top", ParentChange::Update(Some(&id))).is_empty());
        assert!(reach("p", "top", ParentChange::Update(None)).is_empty());
        // ON UPDATE RESTRICT: an update of s.self changes only its own rows.
        assert!(reach("s", "self", ParentChange::Update(None)).is_empty());
        // No key, or keys to uncaptured tables only: nothing.
        assert!(reach("s", "leaf", ParentChange::Delete).is_empty());
        assert!(reach("x", "lone", ParentChange::Delete).is_empty());
        // The databases were asked once each, from the captured one up (x never: no path).
        assert_eq!(*asked.lock().expect("lock"), ["s", "m", "p"]);
        assert_eq!(
            code.update_columns("p", "top", &known, &captured)
                .expect("columns")
                .into_iter()
                .collect::<Vec<_>>(),
            ["id"]
        );
        assert!(code
            .update_columns("s", "strict", &known, &captured)
            .expect("columns")
            .is_empty());
        assert_eq!(asked.lock().expect("lock").len(), 3);
        code.forget();
        let _ = code.cascades("p", "top", ParentChange::Delete, &known, &captured);
        assert_eq!(asked.lock().expect("lock").len(), 6);
    }
}

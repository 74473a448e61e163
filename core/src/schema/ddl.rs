//! Following DDL statements of the binlog in the known table shapes (sources without full row
//! metadata): a small tokenizer and parser for the statements that change columns.

use super::versioning::{self, Period};
use super::{InfoColumn, Shapes};

/// Follow one DDL statement of the binlog in `shapes` (sources without full row metadata).
///
/// A shape read from information_schema is the table as of *now*, not as of the binlog position
/// being decoded; re-reading it after each DDL is wrong whenever the module is behind (rows
/// logged before an ALTER would get the new names). So the shape is read once, the first time a
/// table is seen, and from then on edited by the DDL statements the binlog carries, at the
/// position where they take effect: rows before an ALTER decode with the old shape, rows after
/// with the new one. Understood: CREATE TABLE (column list), DROP TABLE, DROP DATABASE, RENAME
/// TABLE, and ALTER TABLE ADD/DROP/CHANGE/MODIFY/RENAME COLUMN (FIRST/AFTER), ADD/DROP PRIMARY KEY,
/// RENAME TO, plus clauses that do not change columns (indexes, options). A statement touching a
/// known table that is not understood forgets that table's shape, which is then re-read from
/// information_schema at its next table map (and checked against it, see `from_table_map`).
///
/// Returns the shapes the statement touched, each with what it was before (None: unknown), so
/// that the caller can tell which changed without copying every known shape.
pub fn apply_ddl(shapes: &mut Shapes, default_db: &str, sql: &str) -> Vec<Touched> {
    let toks = tokenize(sql);
    let mut p = Parser { t: &toks, i: 0 };
    let mut tracked = Tracked {
        shapes,
        before: std::collections::HashMap::new(),
    };
    let _ = ddl_statement(&mut p, &mut tracked, default_db);
    tracked.before.into_iter().collect()
}

/// A table a DDL statement touched, and its shape before it (None: not known then).
pub type Touched = ((String, String), Option<Vec<InfoColumn>>);

/// The known shapes while a statement changes them: the first change of each table keeps
/// what it was before.
struct Tracked<'a> {
    shapes: &'a mut Shapes,
    before: std::collections::HashMap<(String, String), Option<Vec<InfoColumn>>>,
}

impl Tracked<'_> {
    fn touch(&mut self, key: &(String, String)) {
        if !self.before.contains_key(key) {
            let was = self.shapes.get(key).cloned();
            self.before.insert(key.clone(), was);
        }
    }

    fn remove(&mut self, key: &(String, String)) -> Option<Vec<InfoColumn>> {
        self.touch(key);
        self.shapes.remove(key)
    }

    fn insert(&mut self, key: (String, String), cols: Vec<InfoColumn>) {
        self.touch(&key);
        self.shapes.insert(key, cols);
    }

    /// Forget every table of the database `db`.
    fn remove_database(&mut self, db: &str) {
        let gone: Vec<(String, String)> = self
            .shapes
            .keys()
            .filter(|(d, _)| d == db)
            .cloned()
            .collect();
        for key in gone {
            self.remove(&key);
        }
    }
}

/// The tables a statement empties: `TRUNCATE [TABLE] t` and `DROP TABLE t[, ...]`. Not
/// `DROP TEMPORARY TABLE`: temporary tables never reach the binlog as rows.
pub fn emptied_tables(sql: &str, default_db: &str) -> Vec<(String, String)> {
    let toks = tokenize(sql);
    let mut p = Parser { t: &toks, i: 0 };
    let mut out = Vec::new();
    if p.kw("truncate") {
        p.kw("table");
        out.extend(p.table_name(default_db));
    } else if p.kw("drop") && p.kw("table") {
        p.kws(&["if", "exists"]);
        while let Some(name) = p.table_name(default_db) {
            out.push(name);
            if !p.punct(',') {
                break;
            }
        }
    } else if let Some(c) = created_table(sql, default_db).filter(|c| c.or_replace) {
        // MariaDB `CREATE OR REPLACE TABLE`: a drop and a create.
        out.push(c.table);
    } else {
        out = partition_moves(sql, default_db).1;
    }
    out
}

/// A table renamed: ((db, table) before, (db, table) after).
pub type Renamed = ((String, String), (String, String));

/// The tables a statement renames, (from, to): `RENAME TABLE a TO b[, c TO d]` and
/// `ALTER TABLE a ... RENAME [TO | AS] b` (not RENAME COLUMN / INDEX / KEY).
pub fn renamed_tables(sql: &str, default_db: &str) -> Vec<Renamed> {
    let toks = tokenize(sql);
    let mut p = Parser { t: &toks, i: 0 };
    let mut out = Vec::new();
    if p.kw("rename") {
        if p.kw("table") || p.kw("tables") {
            out = p.rename_pairs(default_db).unwrap_or_default();
        }
    } else if p.kw("alter") {
        if !p.alter_table() {
            return out;
        }
        p.kws(&["if", "exists"]);
        let Some(from) = p.table_name(default_db) else {
            return out;
        };
        let mut depth = 0i32;
        while let Some(t) = p.peek() {
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') => depth -= 1,
                Tok::Word(w, false) if depth == 0 && w.eq_ignore_ascii_case("rename") => {
                    p.i += 1;
                    let other = ["column", "index", "key", "constraint", "partition"];
                    if other.iter().any(|k| matches!(p.peek(), Some(Tok::Word(w, false)) if w.eq_ignore_ascii_case(k))) {
                        continue;
                    }
                    if !p.kw("to") {
                        p.kw("as");
                    }
                    if let Some(to) = p.table_name(default_db) {
                        out.push((from.clone(), to));
                    }
                    continue;
                }
                _ => {}
            }
            p.i += 1;
        }
    }
    out
}

/// The tables a DML statement writes, when the binlog carries it as a statement
/// (`binlog_format=STATEMENT`, or MIXED for a statement it deems safe) instead of as rows:
/// None when `sql` is not DML; Some(empty) when it is DML whose tables could not be told (the
/// caller must then assume any table). INSERT/REPLACE [INTO] t, UPDATE t1 [, t2 | JOIN t2 ...]
/// SET, DELETE FROM t / DELETE t1, t2 FROM / DELETE FROM t1, t2 USING, LOAD DATA ... INTO TABLE
/// t. Tables of a multi-table UPDATE are all named, also those only read (a re-read too many
/// costs time, one too few loses changes).
pub fn dml_tables(sql: &str, default_db: &str) -> Option<Vec<(String, String)>> {
    let toks = tokenize(sql);
    let mut p = Parser { t: &toks, i: 0 };
    let modifiers = [
        "low_priority",
        "delayed",
        "high_priority",
        "ignore",
        "quick",
    ];
    let skip_modifiers = |p: &mut Parser<'_>| while modifiers.iter().any(|m| p.kw(m)) {};
    let mut out = Vec::new();
    if p.kw("insert") || p.kw("replace") {
        skip_modifiers(&mut p);
        p.kw("into");
        out.extend(p.table_name(default_db));
    } else if p.kw("update") {
        skip_modifiers(&mut p);
        out = p.table_list(default_db, &["set"]);
    } else if p.kw("delete") {
        skip_modifiers(&mut p);
        let stops = ["using", "where", "order", "limit", "returning", "partition"];
        if p.kw("from") {
            out = p.table_list(default_db, &stops);
        } else {
            out = p.table_list(default_db, &["from"]);
        }
    } else if p.kw("load") {
        while p.peek().is_some() && !p.kws(&["into", "table"]) {
            p.i += 1;
        }
        out.extend(p.table_name(default_db));
    } else if p.kw("with") {
        // A common table expression before UPDATE/DELETE: which tables is not told here.
    } else {
        return None;
    }
    Some(out)
}

/// A table a `CREATE TABLE` statement creates (not `CREATE TEMPORARY TABLE`: temporary tables
/// never reach the binlog as rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub table: (String, String),
    /// MariaDB `CREATE OR REPLACE TABLE`: the table of that name, if any, was dropped first.
    pub or_replace: bool,
    /// `CREATE TABLE ... [AS] SELECT` as written by the client: logged so (as a statement, not
    /// rewritten to a column list followed by rows events), its rows are not in the binlog.
    pub select: bool,
}

/// The table `CREATE [OR REPLACE] TABLE [IF NOT EXISTS] t ...` creates.
pub fn created_table(sql: &str, default_db: &str) -> Option<Created> {
    let toks = tokenize(sql);
    let mut p = Parser { t: &toks, i: 0 };
    if !p.kw("create") {
        return None;
    }
    let or_replace = p.kws(&["or", "replace"]);
    if !p.kw("table") {
        return None;
    }
    p.kws(&["if", "not", "exists"]);
    let table = p.table_name(default_db)?;
    // A SELECT anywhere after the name (column defaults and checks cannot hold subqueries).
    let select = p.t[p.i..]
        .iter()
        .any(|t| matches!(t, Tok::Word(w, false) if w.eq_ignore_ascii_case("select")));
    Some(Created {
        table,
        or_replace,
        select,
    })
}

/// The database `DROP {DATABASE | SCHEMA} [IF EXISTS] d` drops.
pub fn dropped_database(sql: &str) -> Option<String> {
    let toks = tokenize(sql);
    let mut p = Parser { t: &toks, i: 0 };
    if !(p.kw("drop") && (p.kw("database") || p.kw("schema"))) {
        return None;
    }
    p.kws(&["if", "exists"]);
    p.ident()
}

/// The tables whose rows an `ALTER TABLE` changes without rows events, which must be re-read:
/// `TRUNCATE PARTITION` and `DROP PARTITION` (rows of the table gone), `EXCHANGE PARTITION p
/// WITH TABLE u` (both tables), MariaDB `CONVERT PARTITION p TO TABLE u` (both: u is created
/// with the partition's rows) and `CONVERT TABLE u TO PARTITION` (the table; u itself is
/// gone, see [`emptied_tables`]), `IMPORT [PARTITION ...] TABLESPACE` (rows replaced by a file's).
/// Other partition maintenance (ADD, REORGANIZE, COALESCE, REBUILD, REMOVE PARTITIONING,
/// PARTITION BY) keeps the rows. Also a table whose columns an ALTER TABLE adds, drops,
/// changes, modifies or renames: its rows take the new shape (defaults, converted values, new
/// names) without rows events, so entries written before it replay to the old shape.
pub fn reread_tables(sql: &str, default_db: &str) -> Vec<(String, String)> {
    let mut tables = partition_moves(sql, default_db).0;
    if let Some(t) = reshaped_table(sql, default_db) {
        if !tables.contains(&t) {
            tables.push(t);
        }
    }
    tables
}

/// The table an `ALTER TABLE` changes the columns of (ADD/DROP/CHANGE/MODIFY/RENAME COLUMN),
/// whether or not its shape is known.
fn reshaped_table(sql: &str, default_db: &str) -> Option<(String, String)> {
    let toks = tokenize(sql);
    let mut p = Parser { t: &toks, i: 0 };
    if !p.kw("alter") {
        return None;
    }
    if !p.alter_table() {
        return None;
    }
    let name = p.table_name(default_db)?;
    // (A rename with it: the new name is re-read anyway, see `renamed_tables`.)
    let is = |p: &Parser<'_>, ks: &[&str]| matches!(p.peek(), Some(Tok::Word(w, false)) if ks.iter().any(|k| w.eq_ignore_ascii_case(k)));
    let mut reshaped = false;
    while p.peek().is_some() {
        if p.kw("add") {
            reshaped |= !is(
                &p,
                &[
                    "key",
                    "index",
                    "unique",
                    "fulltext",
                    "spatial",
                    "foreign",
                    "check",
                    "constraint",
                    "partition",
                    "period",
                    "system",
                    "primary",
                ],
            );
        } else if p.kw("drop") {
            reshaped |= !is(
                &p,
                &[
                    "key",
                    "index",
                    "foreign",
                    "constraint",
                    "check",
                    "partition",
                    "period",
                    "system",
                    "primary",
                    "default",
                ],
            );
        } else if p.kw("change") || p.kw("modify") {
            reshaped = true;
        } else if p.kw("rename") {
            if !is(&p, &["column", "index", "key"]) {
                return None;
            }
            reshaped |= is(&p, &["column"]);
        }
        p.skip_clause();
        if !p.punct(',') {
            break;
        }
    }
    reshaped.then_some(name)
}

/// How a statement may change which columns key a table's entries: its primary key, else its
/// first UNIQUE index of NOT NULL columns, else all its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rekey {
    /// Only when the table has no primary key: a UNIQUE index added, an index or a constraint
    /// dropped (it may be the UNIQUE index that keys it).
    WithoutPrimaryKey,
    /// A primary key added or dropped.
    Always,
}

/// The table whose key columns `sql` may change (`ALTER TABLE … ADD/DROP PRIMARY KEY`, `ADD
/// [CONSTRAINT [c]] UNIQUE`, `DROP INDEX/KEY/CONSTRAINT`, `CREATE UNIQUE INDEX … ON`, `DROP
/// INDEX … ON`), and how.
pub fn rekeyed_table(sql: &str, default_db: &str) -> Option<((String, String), Rekey)> {
    let toks = tokenize(sql);
    let mut p = Parser { t: &toks, i: 0 };
    // CREATE UNIQUE INDEX … ON t, DROP INDEX … ON t
    let index = if p.kw("create") {
        p.kws(&["or", "replace"]);
        p.kw("online");
        Some(p.kw("unique") && p.kw("index"))
    } else if p.kw("drop") {
        p.kw("online");
        Some(p.kw("index"))
    } else {
        None
    };
    if let Some(named) = index {
        return named
            .then(|| p.index_table(default_db))
            .flatten()
            .map(|t| (t, Rekey::WithoutPrimaryKey));
    }
    if !p.kw("alter") {
        return None;
    }
    if !p.alter_table() {
        return None;
    }
    let name = p.table_name(default_db)?;
    let mut how: Option<Rekey> = None;
    while p.peek().is_some() {
        let clause = if p.kw("add") {
            // ADD [CONSTRAINT [symbol]] PRIMARY KEY / UNIQUE ...
            if p.kw("constraint")
                && !matches!(p.peek(), Some(Tok::Word(w, false)) if ["primary", "unique", "foreign", "check"].iter().any(|k| w.eq_ignore_ascii_case(k)))
            {
                p.ident();
            }
            if p.kw("primary") {
                Some(Rekey::Always)
            } else if p.kw("unique") {
                Some(Rekey::WithoutPrimaryKey)
            } else {
                None
            }
        } else if p.kw("drop") {
            if p.kw("primary") {
                Some(Rekey::Always)
            } else if p.kw("index") || p.kw("key") || p.kw("constraint") {
                Some(Rekey::WithoutPrimaryKey)
            } else {
                None
            }
        } else {
            None
        };
        how = how.max(clause);
        p.skip_clause();
        if !p.punct(',') {
            break;
        }
    }
    how.map(|h| (name, h))
}

/// (tables to re-read, tables gone) of an ALTER TABLE's partition clauses.
type Moves = (Vec<(String, String)>, Vec<(String, String)>);

fn partition_moves(sql: &str, default_db: &str) -> Moves {
    let toks = tokenize(sql);
    let mut p = Parser { t: &toks, i: 0 };
    let (mut reread, mut gone) = (Vec::new(), Vec::new());
    if !p.kw("alter") {
        return (reread, gone);
    }
    if !p.alter_table() {
        return (reread, gone);
    }
    p.kws(&["if", "exists"]);
    let Some(table) = p.table_name(default_db) else {
        return (reread, gone);
    };
    let mut depth = 0i32;
    while let Some(t) = p.peek() {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            Tok::Word(..) if depth == 0 => {
                if p.kws(&["truncate", "partition"])
                    || p.kws(&["drop", "partition"])
                    || p.kw("import")
                {
                    reread.push(table.clone());
                    continue;
                }
                // EXCHANGE PARTITION p WITH TABLE u, CONVERT PARTITION p TO TABLE u: both.
                let with = [("exchange", "with"), ("convert", "to")]
                    .into_iter()
                    .find(|(verb, _)| p.kws(&[verb, "partition"]));
                if let Some((_, with)) = with {
                    reread.push(table.clone());
                    p.ident();
                    if p.kws(&[with, "table"]) {
                        reread.extend(p.table_name(default_db));
                    }
                    continue;
                }
                if p.kws(&["convert", "table"]) {
                    reread.push(table.clone());
                    gone.extend(p.table_name(default_db));
                    continue;
                }
            }
            _ => {}
        }
        p.i += 1;
    }
    reread.dedup();
    (reread, gone)
}

/// What a piece of SQL code refers to: a statement logged as a statement, a trigger's body, a
/// stored routine's body, a view's definition. Used to follow a statement to the tables its
/// triggers, views and stored functions write (the binlog carries only the statement).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CodeRefs {
    /// Tables it may write: after INSERT/REPLACE [INTO], UPDATE (its table list), DELETE [FROM]
    /// (both table lists); with `reads`, also every table after FROM or JOIN (a view is written
    /// through the tables it selects from).
    pub tables: Vec<(String, String)>,
    /// Possible calls of stored routines, (db, name): `CALL r`, `r(` and `db.r(`. Built-in
    /// functions are among them; the caller keeps the names that are stored routines.
    pub calls: Vec<(String, String)>,
}

/// The tables and routine calls of `sql` (see [`CodeRefs`]); `default_db` is the schema
/// unqualified names are in (the statement's, the trigger's, the routine's or the view's).
pub fn code_refs(sql: &str, default_db: &str, reads: bool) -> CodeRefs {
    let toks = tokenize(sql);
    let mut out = CodeRefs::default();
    let word = |i: usize| match toks.get(i) {
        Some(Tok::Word(w, false)) => Some(w.to_ascii_lowercase()),
        _ => None,
    };
    for i in 0..toks.len() {
        // `db`.`f`(...) and `f`(...): a quoted name is a word too.
        if let Some(Tok::Word(name, quoted)) = toks.get(i) {
            if toks.get(i + 1) == Some(&Tok::Punct('(')) {
                let qualified = i >= 2 && toks.get(i - 1) == Some(&Tok::Punct('.'));
                match toks.get(i.wrapping_sub(2)) {
                    Some(Tok::Word(db, _)) if qualified => {
                        out.calls.push((db.clone(), name.clone()));
                    }
                    _ if !qualified && (*quoted || word(i).is_some()) => {
                        out.calls.push((default_db.to_string(), name.clone()));
                    }
                    _ => {}
                }
            }
        }
        let Some(w) = word(i) else { continue };
        let prev = i.checked_sub(1).and_then(word);
        let next_paren = toks.get(i + 1) == Some(&Tok::Punct('('));
        // `ON UPDATE` / `ON DELETE` (foreign keys, trigger headers), `ON DUPLICATE KEY
        // UPDATE`, `FOR UPDATE`, `BEFORE/AFTER INSERT`, `OR REPLACE`: not writes of a table.
        let not_a_write = matches!(
            prev.as_deref(),
            Some("on" | "key" | "for" | "before" | "after" | "or")
        );
        let mut p = Parser { t: &toks, i: i + 1 };
        match w.as_str() {
            // INSERT(...) and REPLACE(...) are also string functions.
            "insert" | "replace" if !next_paren && !not_a_write => {
                while ["low_priority", "delayed", "high_priority", "ignore"]
                    .iter()
                    .any(|m| p.kw(m))
                {}
                p.kw("into");
                out.tables.extend(p.table_name(default_db));
            }
            "update" if !not_a_write => {
                while ["low_priority", "ignore"].iter().any(|m| p.kw(m)) {}
                out.tables.extend(p.table_list(default_db, &["set"]));
            }
            "delete" if !not_a_write => {
                while ["low_priority", "quick", "ignore"].iter().any(|m| p.kw(m)) {}
                let stops = ["using", "where", "order", "limit", "returning", "partition"];
                if p.kw("from") {
                    out.tables.extend(p.table_list(default_db, &stops));
                } else {
                    out.tables.extend(p.table_list(default_db, &["from"]));
                    if p.kw("from") {
                        out.tables.extend(p.table_list(default_db, &stops));
                    }
                }
            }
            "from" | "join" if reads => {
                let stops = [
                    "where",
                    "group",
                    "having",
                    "order",
                    "limit",
                    "union",
                    "window",
                    "into",
                    "for",
                    "lock",
                    "except",
                    "intersect",
                    "on",
                    "using",
                ];
                // `FROM (a JOIN b ...)`: a parenthesized join, not a subquery.
                while p.peek() == Some(&Tok::Punct('('))
                    && !matches!(p.t.get(p.i + 1), Some(Tok::Word(w, false)) if w.eq_ignore_ascii_case("select"))
                {
                    p.i += 1;
                }
                out.tables.extend(p.table_list(default_db, &stops));
            }
            "call" => {
                if let Some((db, name)) = p.table_name(default_db) {
                    out.calls.push((db, name));
                }
            }
            _ => {}
        }
    }
    out.tables.sort();
    out.tables.dedup();
    out.calls.sort();
    out.calls.dedup();
    out
}

/// The statement of a MariaDB `SET STATEMENT var = value[, ...] FOR statement`; `sql` itself
/// otherwise.
pub fn strip_set_statement(sql: &str) -> &str {
    let head = sql.get(..13).unwrap_or_default();
    if !head.eq_ignore_ascii_case("SET STATEMENT") {
        return sql;
    }
    // The first FOR outside quotes and parentheses ends the variable list.
    let bytes = sql.as_bytes();
    let (mut depth, mut quote, mut i) = (0i32, None::<u8>, 13);
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'\'' | b'"' | b'`' => quote = Some(b),
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ if depth == 0
                    && bytes[i - 1].is_ascii_whitespace()
                    && sql
                        .get(i..i + 3)
                        .is_some_and(|w| w.eq_ignore_ascii_case("FOR"))
                    && bytes.get(i + 3).is_some_and(|c| c.is_ascii_whitespace()) =>
                {
                    return sql[i + 3..].trim_start();
                }
                _ => {}
            },
        }
        i += 1;
    }
    sql
}

/// A statement logged only because it calls a stored function that writes: the server logs a
/// `SELECT f()` or `DO f()` (as `SELECT`) when f changes data and the session logs statements.
pub fn is_function_call_statement(sql: &str) -> bool {
    let toks = tokenize(sql);
    let mut p = Parser { t: &toks, i: 0 };
    while p.punct('(') {}
    p.kw("select") || p.kw("do")
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare word (keyword or identifier) or a `quoted` identifier (quoted = true).
    Word(String, bool),
    Str(String),
    Punct(char),
}

fn tokenize(sql: &str) -> Vec<Tok> {
    let c: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            i += 2;
            while i < c.len() && !(c[i] == '*' && c.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if (ch == '-' && c.get(i + 1) == Some(&'-')) || ch == '#' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '`' || ch == '\'' || ch == '"' {
            let mut v = String::new();
            i += 1;
            while i < c.len() {
                if c[i] == ch && c.get(i + 1) == Some(&ch) {
                    v.push(ch);
                    i += 2;
                } else if c[i] == ch {
                    i += 1;
                    break;
                } else if c[i] == '\\' && ch != '`' && i + 1 < c.len() {
                    v.push(c[i + 1]);
                    i += 2;
                } else {
                    v.push(c[i]);
                    i += 1;
                }
            }
            out.push(if ch == '`' {
                Tok::Word(v, true)
            } else {
                Tok::Str(v)
            });
        } else if ch.is_alphanumeric() || ch == '_' || ch == '$' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '$') {
                i += 1;
            }
            out.push(Tok::Word(c[start..i].iter().collect(), false));
        } else {
            out.push(Tok::Punct(ch));
            i += 1;
        }
    }
    out
}

struct Parser<'a> {
    t: &'a [Tok],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn kw(&mut self, k: &str) -> bool {
        match self.peek() {
            Some(Tok::Word(w, false)) if w.eq_ignore_ascii_case(k) => {
                self.i += 1;
                true
            }
            _ => false,
        }
    }
    /// `PRIMARY KEY ...` or `CONSTRAINT [name] PRIMARY KEY ...` here: consumed up to its column
    /// list (USING BTREE etc. may precede it). A `CONSTRAINT [name]` before another kind of
    /// constraint is consumed too (the caller then skips that clause).
    fn primary_key_clause(&mut self) -> bool {
        let pk = self.kws(&["primary", "key"])
            || (self.kw("constraint")
                && {
                    if !matches!(self.peek(), Some(Tok::Word(w, false)) if w.eq_ignore_ascii_case("primary"))
                    {
                        self.ident();
                    }
                    self.kws(&["primary", "key"])
                });
        if pk {
            while !matches!(self.peek(), Some(Tok::Punct('(')) | None) {
                self.i += 1;
            }
        }
        pk
    }
    /// After `CREATE … INDEX` / `DROP INDEX`: the table named after `ON`.
    fn index_table(&mut self, default_db: &str) -> Option<(String, String)> {
        while self.peek().is_some() && !self.kw("on") {
            self.i += 1;
        }
        self.table_name(default_db)
    }

    /// After `ALTER`: `[ONLINE] [IGNORE] TABLE`.
    fn alter_table(&mut self) -> bool {
        self.kw("online");
        self.kw("ignore");
        self.kw("table")
    }

    fn kws(&mut self, ks: &[&str]) -> bool {
        let save = self.i;
        if ks.iter().all(|k| self.kw(k)) {
            true
        } else {
            self.i = save;
            false
        }
    }
    fn punct(&mut self, ch: char) -> bool {
        if self.peek() == Some(&Tok::Punct(ch)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn ident(&mut self) -> Option<String> {
        match self.peek() {
            Some(Tok::Word(w, _)) => {
                let w = w.clone();
                self.i += 1;
                Some(w)
            }
            _ => None,
        }
    }
    /// `db.table` or `table`.
    fn table_name(&mut self, default_db: &str) -> Option<(String, String)> {
        let a = self.ident()?;
        if self.punct('.') {
            Some((a, self.ident()?))
        } else {
            Some((default_db.to_string(), a))
        }
    }
    /// The `a TO b[, c TO d]` pairs of a RENAME TABLE, after its TABLE keyword; None when the
    /// list does not parse.
    fn rename_pairs(&mut self, default_db: &str) -> Option<Vec<Renamed>> {
        self.kws(&["if", "exists"]);
        let mut out = Vec::new();
        loop {
            let from = self.table_name(default_db)?;
            // MariaDB: `RENAME TABLE t [WAIT n | NOWAIT] TO ...`
            if !self.kw("nowait") && self.kw("wait") {
                self.i += 1;
            }
            if !self.kw("to") {
                return None;
            }
            out.push((from, self.table_name(default_db)?));
            if !self.punct(',') {
                return Some(out);
            }
        }
    }

    /// The tables of a table-reference list (`t1 [AS] a, t2 JOIN t3 ON ...`), up to one of
    /// the `stops` keywords at depth 0: the names after the start, a comma or a JOIN.
    fn table_list(&mut self, default_db: &str, stops: &[&str]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut expect_table = true;
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            match t {
                Tok::Punct('(') => {
                    // A derived table (subquery) is no table of ours; its alias follows.
                    expect_table = false;
                    depth += 1
                }
                Tok::Punct(')') => {
                    depth -= 1;
                    if depth < 0 {
                        break; // the end of the subquery the list is in
                    }
                }
                Tok::Punct(';') if depth == 0 => break,
                Tok::Punct(',') if depth == 0 => expect_table = true,
                Tok::Word(w, false)
                    if depth == 0 && stops.iter().any(|s| w.eq_ignore_ascii_case(s)) =>
                {
                    break
                }
                Tok::Word(w, false)
                    if depth == 0
                        && (w.eq_ignore_ascii_case("join")
                            || w.eq_ignore_ascii_case("straight_join")) =>
                {
                    expect_table = true
                }
                Tok::Word(w, _) if depth == 0 && expect_table => {
                    expect_table = false;
                    // `DELETE t1.* FROM ...`
                    if self.t.get(self.i + 1) == Some(&Tok::Punct('.'))
                        && self.t.get(self.i + 2) == Some(&Tok::Punct('*'))
                    {
                        out.push((default_db.to_string(), w.clone()));
                        self.i += 3;
                        continue;
                    }
                    if let Some(name) = self.table_name(default_db) {
                        out.push(name);
                    }
                    if self.punct('.') {
                        self.punct('*');
                    }
                    continue;
                }
                _ => {}
            }
            self.i += 1;
        }
        out
    }
    /// Skip to the end of the current clause (a comma or closing parenthesis at depth 0).
    fn skip_clause(&mut self) {
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') if depth == 0 => return,
                Tok::Punct(')') => depth -= 1,
                Tok::Punct(',') | Tok::Punct(';') if depth == 0 => return,
                _ => {}
            }
            self.i += 1;
        }
    }
    fn at_clause_end(&self) -> bool {
        matches!(
            self.peek(),
            None | Some(Tok::Punct(',')) | Some(Tok::Punct(')')) | Some(Tok::Punct(';'))
        )
    }
}

/// A column definition: `name type[(args)] [UNSIGNED] [... PRIMARY KEY ...]`.
fn column_def(p: &mut Parser<'_>) -> Option<(InfoColumn, bool)> {
    let name = p.ident()?;
    let ty = match p.peek() {
        Some(Tok::Word(w, false)) => w.to_ascii_lowercase(),
        _ => return None,
    };
    p.i += 1;
    let mut members = Vec::new();
    // Length, precision and scale as written: `varchar(20)`, `float(7,3)`.
    let mut args = Vec::new();
    if p.punct('(') {
        let mut depth = 0;
        while let Some(t) = p.peek().cloned() {
            p.i += 1;
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') if depth == 0 => break,
                Tok::Punct(')') => depth -= 1,
                Tok::Str(s) => members.push(s),
                Tok::Word(w, false) if depth == 0 && w.bytes().all(|b| b.is_ascii_digit()) => {
                    args.push(w)
                }
                _ => {}
            }
        }
    }
    let data_type = match ty.as_str() {
        "integer" => "int".to_string(),
        "bool" | "boolean" => "tinyint".to_string(),
        "dec" | "numeric" | "fixed" => "decimal".to_string(),
        "real" | "double" => "double".to_string(),
        _ => ty.clone(),
    };
    let mut column_type = if ty == "enum" || ty == "set" {
        let quoted: Vec<String> = members
            .iter()
            .map(|m| format!("'{}'", m.replace('\'', "''")))
            .collect();
        format!("{ty}({})", quoted.join(","))
    } else if args.is_empty() {
        data_type.clone()
    } else {
        format!("{data_type}({})", args.join(","))
    };
    let mut pk = false;
    let mut period = None;
    let mut invisible = false;
    let mut depth = 0i32;
    while let Some(t) = p.peek() {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') if depth == 0 => break,
            Tok::Punct(')') => depth -= 1,
            Tok::Punct(',') | Tok::Punct(';') if depth == 0 => break,
            Tok::Word(w, false) if depth == 0 && w.eq_ignore_ascii_case("unsigned") => {
                column_type.push_str(" unsigned")
            }
            Tok::Word(w, false) if depth == 0 && w.eq_ignore_ascii_case("primary") => pk = true,
            Tok::Word(w, false) if depth == 0 && w.eq_ignore_ascii_case("invisible") => {
                invisible = true
            }
            // `GENERATED ALWAYS AS ROW START | ROW END`: a system-versioning period column.
            Tok::Word(w, false) if depth == 0 && w.eq_ignore_ascii_case("row") => {
                match p.t.get(p.i + 1) {
                    Some(Tok::Word(x, false)) if x.eq_ignore_ascii_case("start") => {
                        period = Some(Period::RowStart)
                    }
                    Some(Tok::Word(x, false)) if x.eq_ignore_ascii_case("end") => {
                        period = Some(Period::RowEnd)
                    }
                    _ => {}
                }
            }
            Tok::Word(w, false)
                if depth == 0
                    && (w.eq_ignore_ascii_case("first") || w.eq_ignore_ascii_case("after")) =>
            {
                break
            }
            _ => {}
        }
        p.i += 1;
    }
    let col = InfoColumn {
        name,
        is_json: data_type == "json",
        data_type,
        column_type,
        collation: None,
        charset: None,
        pk_ordinal: None,
        period,
        invisible,
        hash: false,
    };
    Some((col, pk))
}

/// `FIRST` / `AFTER col` / nothing: where a column goes.
enum Place {
    Keep,
    First,
    After(String),
}

fn place(p: &mut Parser<'_>) -> Option<Place> {
    if p.kw("first") {
        Some(Place::First)
    } else if p.kw("after") {
        Some(Place::After(p.ident()?))
    } else {
        Some(Place::Keep)
    }
}

fn find(cols: &[InfoColumn], name: &str) -> Option<usize> {
    cols.iter().position(|c| c.name.eq_ignore_ascii_case(name))
}

fn put(cols: &mut Vec<InfoColumn>, col: InfoColumn, at: Place, default: usize) -> Option<()> {
    let idx = match at {
        Place::Keep => default.min(cols.len()),
        Place::First => 0,
        Place::After(a) => find(cols, &a)? + 1,
    };
    cols.insert(idx, col);
    Some(())
}

fn set_pk(cols: &mut [InfoColumn], names: &[String]) -> Option<()> {
    for c in cols.iter_mut() {
        c.pk_ordinal = None;
    }
    for (k, n) in names.iter().enumerate() {
        let i = find(cols, n)?;
        cols[i].pk_ordinal = Some(k as u32 + 1);
    }
    Some(())
}

fn key_columns(p: &mut Parser<'_>) -> Option<Vec<String>> {
    if !p.punct('(') {
        return None;
    }
    let mut names = Vec::new();
    loop {
        names.push(p.ident()?);
        // Prefix lengths, ASC/DESC.
        while !matches!(
            p.peek(),
            Some(Tok::Punct(',')) | Some(Tok::Punct(')')) | None
        ) {
            if p.punct('(') {
                while !p.punct(')') {
                    p.i += 1;
                    p.peek()?;
                }
            } else {
                p.i += 1;
            }
        }
        if p.punct(')') {
            return Some(names);
        }
        p.punct(',');
    }
}

/// Whether `toks` start with the bare words `ks`.
fn is_kws(toks: &[Tok], ks: &[&str]) -> bool {
    ks.len() <= toks.len()
        && ks
            .iter()
            .zip(toks)
            .all(|(k, t)| matches!(t, Tok::Word(w, false) if w.eq_ignore_ascii_case(k)))
}

fn ddl_statement(p: &mut Parser<'_>, shapes: &mut Tracked<'_>, db: &str) -> Option<()> {
    if p.kw("create") {
        p.kws(&["or", "replace"]);
        p.kw("temporary");
        if !p.kw("table") {
            return Some(()); // CREATE INDEX/VIEW/DATABASE...: no column change
        }
        p.kws(&["if", "not", "exists"]);
        let name = p.table_name(db)?;
        // Unknown forms (LIKE, AS SELECT) forget the shape: information_schema will tell.
        shapes.remove(&name);
        if !p.punct('(') {
            return Some(());
        }
        let mut cols = Vec::new();
        let mut pk_names = Vec::new();
        loop {
            if p.primary_key_clause() {
                pk_names = key_columns(p)?;
                p.skip_clause();
            } else if matches!(p.peek(), Some(Tok::Word(w, false)) if ["key", "index", "unique", "fulltext", "spatial", "foreign", "check", "constraint", "period"].iter().any(|k| w.eq_ignore_ascii_case(k)))
            {
                p.skip_clause();
            } else {
                let (c, pk) = column_def(p)?;
                if pk {
                    pk_names = vec![c.name.clone()];
                }
                cols.push(c);
                p.skip_clause();
            }
            if p.punct(')') {
                break;
            }
            if !p.punct(',') {
                return None;
            }
        }
        set_pk(&mut cols, &pk_names)?;
        // `WITH SYSTEM VERSIONING` (a table option, or on a column): MariaDB adds the period
        // columns unless the table declares them, and ROW END to the key.
        if (0..p.t.len()).any(|k| is_kws(&p.t[k..], &["with", "system", "versioning"])) {
            versioning::add_versioning(&mut cols);
        }
        shapes.insert(name, cols);
    } else if p.kw("drop") {
        if p.kw("database") || p.kw("schema") {
            // Its tables go with it.
            p.kws(&["if", "exists"]);
            let gone = p.ident()?;
            shapes.remove_database(&gone);
            return Some(());
        }
        p.kw("temporary");
        if !p.kw("table") {
            return Some(());
        }
        p.kws(&["if", "exists"]);
        loop {
            let name = p.table_name(db)?;
            shapes.remove(&name);
            if !p.punct(',') {
                break;
            }
        }
    } else if p.kw("rename") {
        if !(p.kw("table") || p.kw("tables")) {
            return Some(());
        }
        for (from, to) in p.rename_pairs(db)? {
            shapes.remove(&to);
            if let Some(v) = shapes.remove(&from) {
                shapes.insert(to, v);
            }
        }
    } else if p.kw("alter") {
        if !p.alter_table() {
            return Some(());
        }
        let name = p.table_name(db)?;
        let Some(mut cols) = shapes.remove(&name) else {
            return Some(());
        };
        let mut new_name = name.clone();
        // On any clause not understood, the shape stays forgotten (removed above).
        alter_clauses(p, &mut cols, &mut new_name, db)?;
        shapes.insert(new_name, cols);
    }
    Some(())
}

fn alter_clauses(
    p: &mut Parser<'_>,
    cols: &mut Vec<InfoColumn>,
    new_name: &mut (String, String),
    db: &str,
) -> Option<()> {
    loop {
        if p.peek().is_none() || p.punct(';') {
            return Some(());
        }
        if p.kw("add") {
            if p.kws(&["system", "versioning"]) {
                versioning::add_versioning(cols);
            } else if p.primary_key_clause() {
                let names = key_columns(p)?;
                set_pk(cols, &names)?;
                p.skip_clause();
            } else if matches!(p.peek(), Some(Tok::Word(w, false)) if ["key", "index", "unique", "fulltext", "spatial", "foreign", "check", "constraint", "partition", "period", "system"].iter().any(|k| w.eq_ignore_ascii_case(k)))
            {
                p.skip_clause();
            } else {
                p.kw("column");
                p.kws(&["if", "not", "exists"]);
                if p.punct('(') {
                    loop {
                        let (c, _) = column_def(p)?;
                        p.skip_clause();
                        if find(cols, &c.name).is_some() {
                            return None;
                        }
                        cols.insert(versioning::columns_end(cols), c);
                        if p.punct(')') {
                            break;
                        }
                        if !p.punct(',') {
                            return None;
                        }
                    }
                } else {
                    let (c, pk) = column_def(p)?;
                    if find(cols, &c.name).is_some() {
                        return None;
                    }
                    let at = place(p)?;
                    let name = c.name.clone();
                    let end = versioning::columns_end(cols);
                    put(cols, c, at, end)?;
                    if pk {
                        set_pk(cols, &[name])?;
                    }
                    p.skip_clause();
                }
            }
        } else if p.kw("drop") {
            if p.kws(&["system", "versioning"]) {
                versioning::drop_versioning(cols);
            } else if p.kws(&["primary", "key"]) {
                set_pk(cols, &[])?;
            } else if matches!(p.peek(), Some(Tok::Word(w, false)) if ["key", "index", "foreign", "constraint", "check", "partition", "period", "system"].iter().any(|k| w.eq_ignore_ascii_case(k)))
            {
                p.skip_clause();
            } else {
                p.kw("column");
                let if_exists = p.kws(&["if", "exists"]);
                let name = p.ident()?;
                match find(cols, &name) {
                    Some(i) => {
                        cols.remove(i);
                    }
                    None if if_exists => {}
                    None => return None,
                }
                p.skip_clause();
            }
        } else if p.kw("change") {
            p.kw("column");
            p.kws(&["if", "exists"]);
            let old = p.ident()?;
            let i = find(cols, &old)?;
            let (mut c, _) = column_def(p)?;
            c.pk_ordinal = cols[i].pk_ordinal;
            let at = place(p)?;
            cols.remove(i);
            put(cols, c, at, i)?;
            p.skip_clause();
        } else if p.kw("modify") {
            p.kw("column");
            p.kws(&["if", "exists"]);
            let (mut c, _) = column_def(p)?;
            let i = find(cols, &c.name)?;
            c.pk_ordinal = cols[i].pk_ordinal;
            let at = place(p)?;
            cols.remove(i);
            put(cols, c, at, i)?;
            p.skip_clause();
        } else if p.kw("rename") {
            if p.kw("column") {
                let old = p.ident()?;
                if !p.kw("to") {
                    return None;
                }
                let new = p.ident()?;
                let i = find(cols, &old)?;
                cols[i].name = new;
            } else if p.kw("to")
                || p.kw("as")
                || !matches!(p.peek(), Some(Tok::Word(w, false)) if w.eq_ignore_ascii_case("index") || w.eq_ignore_ascii_case("key"))
            {
                *new_name = p.table_name(db)?;
            } else {
                p.skip_clause();
            }
        } else if matches!(p.peek(), Some(Tok::Word(w, false)) if ["alter", "engine", "default", "character", "charset", "collate", "comment", "algorithm", "lock", "force", "row_format", "auto_increment", "key_block_size", "stats_persistent", "stats_auto_recalc", "stats_sample_pages", "pack_keys", "checksum", "min_rows", "max_rows", "avg_row_length", "order", "enable", "disable", "wait", "nowait", "page_checksum", "transactional", "encrypted", "encryption_key_id"].iter().any(|k| w.eq_ignore_ascii_case(k)))
        {
            p.skip_clause();
        } else {
            return None;
        }
        if !p.punct(',') {
            return if p.at_clause_end() { Some(()) } else { None };
        }
    }
}

/// What a DDL statement does to one table, as Debezium's schema-change events report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableDdlKind {
    Create,
    /// ALTER TABLE, CREATE/DROP INDEX, RENAME TABLE (with the new name).
    Alter,
    Drop,
}

/// One table a DDL statement changes (Debezium writes one schema-change event for each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDdl {
    pub kind: TableDdlKind,
    /// The table after the statement: a renamed table's new name.
    pub table: (String, String),
    /// The old name of a renamed table.
    pub renamed_from: Option<(String, String)>,
    /// The statement text Debezium gives this table's event: the whole statement; for a
    /// RENAME TABLE, this table's `a TO b` clause; for a DROP TABLE, the statement's start with
    /// only this table, as `` `db`.`table` ``.
    pub ddl: String,
}

/// The tables a DDL statement creates, alters, renames or drops (not TRUNCATE: Debezium's
/// connectors make that a data event, skipped by default; not temporary tables, which never
/// reach the binlog as rows). Empty for every other statement.
pub fn table_ddl(sql: &str, default_db: &str) -> Vec<TableDdl> {
    let toks = tokenize(sql);
    let mut p = Parser { t: &toks, i: 0 };
    let one = |kind, table, renamed_from| {
        vec![TableDdl {
            kind,
            table,
            renamed_from,
            ddl: sql.to_string(),
        }]
    };
    if p.kw("create") {
        p.kws(&["or", "replace"]);
        if p.kw("temporary") {
            return Vec::new();
        }
        if p.kw("table") {
            p.kws(&["if", "not", "exists"]);
            return p
                .table_name(default_db)
                .map(|t| one(TableDdlKind::Create, t, None))
                .unwrap_or_default();
        }
        // CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX name [USING ...] ON table
        let _ = p.kw("unique") || p.kw("fulltext") || p.kw("spatial");
        if !p.kw("index") {
            return Vec::new();
        }
        return p
            .index_table(default_db)
            .map(|t| one(TableDdlKind::Alter, t, None))
            .unwrap_or_default();
    }
    if p.kw("alter") {
        if !p.alter_table() {
            return Vec::new();
        }
        let Some(name) = p.table_name(default_db) else {
            return Vec::new();
        };
        return match renamed_tables(sql, default_db).pop() {
            Some((from, to)) => one(TableDdlKind::Alter, to, Some(from)),
            None => one(TableDdlKind::Alter, name, None),
        };
    }
    if p.kw("rename") {
        if !(p.kw("table") || p.kw("tables")) {
            return Vec::new();
        }
        let pairs = p.rename_pairs(default_db).unwrap_or_default();
        let clauses = rename_clauses(sql);
        return pairs
            .into_iter()
            .enumerate()
            .map(|(i, (from, to))| TableDdl {
                kind: TableDdlKind::Alter,
                table: to,
                renamed_from: Some(from),
                ddl: clauses.get(i).cloned().unwrap_or_else(|| sql.to_string()),
            })
            .collect();
    }
    if p.kw("drop") {
        if p.kw("temporary") {
            return Vec::new();
        }
        if p.kw("index") {
            // DROP INDEX name ON table
            return p
                .index_table(default_db)
                .map(|t| one(TableDdlKind::Alter, t, None))
                .unwrap_or_default();
        }
        if !p.kw("table") {
            return Vec::new();
        }
        let if_exists = p.kws(&["if", "exists"]);
        let prefix = leading_words(sql, if if_exists { 4 } else { 2 });
        let mut names = Vec::new();
        while let Some(name) = p.table_name(default_db) {
            names.push(name);
            if !p.punct(',') {
                break;
            }
        }
        let drop_type = ["restrict", "cascade"]
            .into_iter()
            .find(|k| p.kw(k))
            .map(|k| format!(" {}", k.to_ascii_uppercase()))
            .unwrap_or_default();
        return names
            .into_iter()
            .map(|(db, t)| TableDdl {
                ddl: format!(
                    "{prefix}`{}`.`{}`{drop_type}",
                    db.replace('`', "``"),
                    t.replace('`', "``")
                ),
                kind: TableDdlKind::Drop,
                table: (db, t),
                renamed_from: None,
            })
            .collect();
    }
    Vec::new()
}

/// The first `n` words of `sql` with the space after them, as written (`DROP TABLE `).
fn leading_words(sql: &str, n: usize) -> String {
    let mut rest = sql;
    for _ in 0..n {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = &rest[end..];
    }
    let end = sql.len() - rest.len() + (rest.len() - rest.trim_start().len());
    sql[..end].to_string()
}

/// The `a TO b` clauses of a `RENAME TABLE a TO b, c TO d`, as written.
fn rename_clauses(sql: &str) -> Vec<String> {
    let body = leading_words(sql, 2);
    let text = &sql[body.len()..];
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, ch) in text.char_indices() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '`' | '\'' | '"') => quote = Some(ch),
            (None, ',') => {
                out.push(text[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(text[start..].trim().to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::parse_members;

    fn c(name: &str, ty: &str) -> InfoColumn {
        InfoColumn {
            name: name.into(),
            data_type: ty.into(),
            column_type: ty.into(),
            collation: None,
            charset: None,
            pk_ordinal: None,
            is_json: false,
            ..InfoColumn::default()
        }
    }

    fn names(shapes: &Shapes, t: &str) -> Vec<String> {
        shapes
            .get(&("db".to_string(), t.to_string()))
            .map(|v| {
                v.iter()
                    .map(|c| {
                        format!(
                            "{}{}",
                            c.name,
                            c.pk_ordinal.map(|o| format!("#{o}")).unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn dml_statements_name_their_tables() {
        let t = |db: &str, n: &str| (db.to_string(), n.to_string());
        let dml = |sql: &str| dml_tables(sql, "db");
        assert_eq!(dml("INSERT INTO t VALUES (1)"), Some(vec![t("db", "t")]));
        assert_eq!(
            dml("/* tool */ insert low_priority ignore `o`.`x` (a) select 1"),
            Some(vec![t("o", "x")])
        );
        assert_eq!(dml("REPLACE t SET a = 1"), Some(vec![t("db", "t")]));
        assert_eq!(dml("update t set v=6 where id=5"), Some(vec![t("db", "t")]));
        assert_eq!(
            dml("UPDATE a AS x JOIN o.b y ON x.id = y.id, (SELECT 1) z SET x.v = y.v"),
            Some(vec![t("db", "a"), t("o", "b")])
        );
        assert_eq!(dml("DELETE FROM t WHERE id = 5"), Some(vec![t("db", "t")]));
        assert_eq!(
            dml("DELETE QUICK t1.*, o.t2 FROM t1 JOIN o.t2 USING (id)"),
            Some(vec![t("db", "t1"), t("o", "t2")])
        );
        assert_eq!(
            dml("DELETE FROM t1, t2 USING t1 JOIN t2 JOIN t3"),
            Some(vec![t("db", "t1"), t("db", "t2")])
        );
        assert_eq!(
            dml("LOAD DATA INFILE '/tmp/x' REPLACE INTO TABLE t FIELDS TERMINATED BY ','"),
            Some(vec![t("db", "t")])
        );
        assert_eq!(dml("WITH c AS (SELECT 1) UPDATE t SET a = 1"), Some(vec![]));
        assert_eq!(dml("ALTER TABLE t ADD COLUMN x INT"), None);
        assert_eq!(dml("BEGIN"), None);
    }

    #[test]
    fn renames_name_both_tables() {
        let t = |db: &str, n: &str| (db.to_string(), n.to_string());
        assert_eq!(
            renamed_tables("RENAME TABLE a TO b, o.c TO `o`.`d e`", "db"),
            [(t("db", "a"), t("db", "b")), (t("o", "c"), t("o", "d e"))]
        );
        assert_eq!(
            renamed_tables("ALTER TABLE a ADD COLUMN x INT, RENAME TO o.b", "db"),
            [(t("db", "a"), t("o", "b"))]
        );
        assert_eq!(
            renamed_tables("alter table a rename as b", "db"),
            [(t("db", "a"), t("db", "b"))]
        );
        assert!(renamed_tables("ALTER TABLE a RENAME COLUMN x TO y", "db").is_empty());
        assert!(renamed_tables("ALTER TABLE a RENAME INDEX i TO j", "db").is_empty());
        assert!(renamed_tables("RENAME USER u TO v", "db").is_empty());
    }

    #[test]
    fn statements_that_may_change_a_tables_key() {
        use Rekey::{Always, WithoutPrimaryKey};
        let cases = [
            ("ALTER TABLE t ADD PRIMARY KEY (id)", Some(Always)),
            (
                "alter table d.t add column x int, drop primary key",
                Some(Always),
            ),
            (
                "ALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY (id)",
                Some(Always),
            ),
            (
                "ALTER TABLE t ADD CONSTRAINT UNIQUE u (a)",
                Some(WithoutPrimaryKey),
            ),
            (
                "ALTER TABLE t ADD UNIQUE KEY u (a)",
                Some(WithoutPrimaryKey),
            ),
            ("ALTER TABLE t DROP INDEX u", Some(WithoutPrimaryKey)),
            ("CREATE UNIQUE INDEX u ON t (a)", Some(WithoutPrimaryKey)),
            ("DROP INDEX u ON t", Some(WithoutPrimaryKey)),
            ("ALTER TABLE t ADD INDEX i (a), DROP FOREIGN KEY f", None),
            ("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)", None),
            ("CREATE INDEX i ON t (a)", None),
            ("ALTER TABLE t ADD COLUMN u INT", None),
        ];
        let t = ("d".to_string(), "t".to_string());
        for (sql, how) in cases {
            assert_eq!(
                rekeyed_table(sql, "d"),
                how.map(|h| (t.clone(), h)),
                "{sql}"
            );
        }
    }

    #[test]
    fn truncate_and_drop_empty_tables() {
        let t = |db: &str, n: &str| (db.to_string(), n.to_string());
        assert_eq!(emptied_tables("TRUNCATE TABLE t", "db"), [t("db", "t")]);
        assert_eq!(emptied_tables("truncate `o`.`x y`", "db"), [t("o", "x y")]);
        assert_eq!(
            emptied_tables(
                "DROP TABLE IF EXISTS `a`,b.c /* generated by server */",
                "db"
            ),
            [t("db", "a"), t("b", "c")]
        );
        assert!(emptied_tables("DROP TEMPORARY TABLE t", "db").is_empty());
        assert!(emptied_tables("DROP DATABASE d", "db").is_empty());
        assert!(emptied_tables("ALTER TABLE t TRUNCATE PARTITION p0", "db").is_empty());
    }

    #[test]
    fn ddl_that_moves_rows_names_its_tables() {
        let t = |db: &str, n: &str| (db.to_string(), n.to_string());
        // Rows gone or replaced without rows events: re-read.
        assert_eq!(
            reread_tables("ALTER TABLE t TRUNCATE PARTITION p0, p1", "db"),
            [t("db", "t")]
        );
        assert_eq!(
            reread_tables("alter table `o`.`t` drop partition if exists p1", "db"),
            [t("o", "t")]
        );
        assert_eq!(
            reread_tables(
                "ALTER TABLE t EXCHANGE PARTITION p0 WITH TABLE o.u WITHOUT VALIDATION",
                "db"
            ),
            [t("db", "t"), t("o", "u")]
        );
        assert_eq!(
            reread_tables("ALTER TABLE t CONVERT PARTITION p1 TO TABLE q", "db"),
            [t("db", "t"), t("db", "q")]
        );
        assert_eq!(
            reread_tables(
                "ALTER TABLE t CONVERT TABLE q TO PARTITION p1 VALUES LESS THAN (20)",
                "db"
            ),
            [t("db", "t")]
        );
        assert_eq!(
            emptied_tables(
                "ALTER TABLE t CONVERT TABLE q TO PARTITION p1 VALUES LESS THAN (20)",
                "db"
            ),
            [t("db", "q")]
        );
        assert_eq!(
            reread_tables("ALTER TABLE t IMPORT PARTITION p0 TABLESPACE", "db"),
            [t("db", "t")]
        );
        assert_eq!(
            reread_tables("ALTER TABLE t IMPORT TABLESPACE", "db"),
            [t("db", "t")]
        );
        // Rows kept: nothing to re-read.
        for sql in [
            "ALTER TABLE t ADD PARTITION (PARTITION p2 VALUES LESS THAN (30))",
            "ALTER TABLE t REORGANIZE PARTITION p0 INTO (PARTITION a VALUES LESS THAN (5), PARTITION b VALUES LESS THAN (10))",
            "ALTER TABLE t PARTITION BY HASH(id) PARTITIONS 4",
            "ALTER TABLE t REMOVE PARTITIONING",
            // (the new name is re-read as a rename)
            "ALTER TABLE t ADD COLUMN x INT, RENAME TO u",
            "CREATE TABLE t (id INT) PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (10))",
        ] {
            assert!(reread_tables(sql, "db").is_empty(), "{sql}");
        }
        // DROP DATABASE, CREATE [OR REPLACE] TABLE.
        assert_eq!(dropped_database("DROP DATABASE `s`"), Some("s".into()));
        assert_eq!(
            dropped_database("drop schema if exists x"),
            Some("x".into())
        );
        assert_eq!(dropped_database("DROP TABLE x"), None);
        assert_eq!(
            emptied_tables("CREATE OR REPLACE TABLE o.t (id INT PRIMARY KEY)", "db"),
            [t("o", "t")]
        );
        assert!(emptied_tables("CREATE OR REPLACE TEMPORARY TABLE t (id INT)", "db").is_empty());
        assert!(emptied_tables("CREATE TABLE t (id INT)", "db").is_empty());
        let c = created_table("CREATE TABLE IF NOT EXISTS t (id INT) SELECT 1 AS id", "db");
        assert_eq!(
            c,
            Some(Created {
                table: t("db", "t"),
                or_replace: false,
                select: true
            })
        );
        // MariaDB's row-logged CREATE ... SELECT: the column list, then rows events.
        let c = created_table(
            "CREATE OR REPLACE TABLE `s`.`c` (\n  `id` int(1) NOT NULL\n)",
            "db",
        );
        assert_eq!(c.map(|c| (c.or_replace, c.select)), Some((true, false)));
        assert_eq!(created_table("CREATE VIEW v AS SELECT 1", "db"), None);
    }

    #[test]
    fn code_refs_name_written_tables_and_calls() {
        let t = |db: &str, n: &str| (db.to_string(), n.to_string());
        // A trigger body: the writes, not the reads; not ON DUPLICATE KEY UPDATE, not REPLACE().
        let r = code_refs(
            "BEGIN INSERT INTO audit (id, v) SELECT NEW.id, REPLACE(x, 'a', 'b') FROM src ON DUPLICATE KEY UPDATE v = 1; UPDATE o.t AS a JOIN u ON a.id = u.id SET a.v = 2; DELETE FROM `q` WHERE id = OLD.id; CALL o.p(1); SET @x = f(2) + `o`.`g`(3); END",
            "db",
            false,
        );
        assert_eq!(
            r.tables,
            [t("db", "audit"), t("db", "q"), t("db", "u"), t("o", "t")]
        );
        for call in [t("o", "p"), t("db", "f"), t("o", "g"), t("db", "REPLACE")] {
            assert!(r.calls.contains(&call), "{call:?} in {:?}", r.calls);
        }
        // A view definition: every table it selects from.
        let r = code_refs(
            "select `s`.`t`.`id` AS `id` from (`s`.`t` join `s`.`u` on(`s`.`t`.`id` = `s`.`u`.`id`)) where `s`.`t`.`id` in (select `id` from `o`.`w`)",
            "db",
            true,
        );
        assert_eq!(r.tables, [t("o", "w"), t("s", "t"), t("s", "u")]);
        // The statement MariaDB logs for `SELECT s.g(7)` / `DO s.g(8)`.
        let r = code_refs("SELECT `s`.`g`(7)", "db", false);
        assert_eq!(r.calls, [t("s", "g")]);
        assert!(is_function_call_statement("SELECT `s`.`g`(7)"));
        assert!(is_function_call_statement("do f()"));
        assert!(!is_function_call_statement("INSERT INTO t SELECT 1"));
        assert_eq!(
            strip_set_statement("SET STATEMENT max_statement_time=60, sql_mode='a,for' FOR\tINSERT INTO t VALUES (1)"),
            "INSERT INTO t VALUES (1)"
        );
        assert_eq!(
            strip_set_statement("SET STATEMENT x=1"),
            "SET STATEMENT x=1"
        );
        assert_eq!(
            strip_set_statement("INSERT INTO forum VALUES (1)"),
            "INSERT INTO forum VALUES (1)"
        );
    }

    #[test]
    fn column_changes_re_read_their_table() {
        let t = |n: &str| vec![("db".to_string(), n.to_string())];
        for sql in [
            "ALTER TABLE t ADD COLUMN c INT DEFAULT 5",
            "alter table t add c int, add index (c)",
            "ALTER TABLE t DROP a",
            "ALTER TABLE t DROP COLUMN IF EXISTS a",
            "ALTER TABLE t CHANGE a b BIGINT",
            "ALTER TABLE t MODIFY a VARCHAR(5)",
            "ALTER TABLE t RENAME COLUMN a TO b",
            "ALTER ONLINE TABLE t ENGINE=InnoDB, ADD (c INT, d INT)",
        ] {
            assert_eq!(reread_tables(sql, "db"), t("t"), "{sql}");
        }
        for sql in [
            "ALTER TABLE t ADD INDEX i (a)",
            "ALTER TABLE t ADD PRIMARY KEY (a), DROP INDEX j",
            "ALTER TABLE t ALTER COLUMN a SET DEFAULT 1",
            "ALTER TABLE t ENGINE=InnoDB",
            "ALTER TABLE t RENAME TO u",
            "ALTER TABLE t ADD SYSTEM VERSIONING",
            "ALTER TABLE t DROP FOREIGN KEY f, DROP CHECK c",
            "CREATE TABLE t (a INT)",
        ] {
            assert!(reread_tables(sql, "db").is_empty(), "{sql}");
        }
    }

    #[test]
    fn ddl_tracks_columns() {
        let mut s = Shapes::new();
        apply_ddl(&mut s, "db", "CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT, `a b` VARCHAR(10) DEFAULT 'x,y', e ENUM('p','q''r') NOT NULL, PRIMARY KEY (id), KEY k (e)) ENGINE=InnoDB");
        assert_eq!(names(&s, "t"), ["id#1", "a b", "e"]);
        let e = &s[&("db".to_string(), "t".to_string())][2];
        assert_eq!(parse_members(&e.column_type), ["p", "q'r"]);
        apply_ddl(&mut s, "db", "ALTER TABLE `db`.`t` ADD COLUMN n INT UNSIGNED AFTER id, DROP COLUMN `a b`, ADD INDEX (n)");
        assert_eq!(names(&s, "t"), ["id#1", "n", "e"]);
        assert!(s[&("db".to_string(), "t".to_string())][1]
            .column_type
            .contains("unsigned"));
        apply_ddl(&mut s, "db", "alter table t change column n m bigint first, rename column e to f, modify id int after m");
        assert_eq!(names(&s, "t"), ["m", "id#1", "f"]);
        apply_ddl(
            &mut s,
            "db",
            "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (f, m)",
        );
        assert_eq!(names(&s, "t"), ["m#2", "id", "f#1"]);
        apply_ddl(&mut s, "db", "ALTER TABLE t ADD (x JSON, y UUID)");
        assert_eq!(names(&s, "t"), ["m#2", "id", "f#1", "x", "y"]);
        assert!(s[&("db".to_string(), "t".to_string())][3].is_json);
        apply_ddl(&mut s, "db", "RENAME TABLE t TO u");
        assert!(names(&s, "t").is_empty());
        assert_eq!(names(&s, "u").len(), 5);
        apply_ddl(&mut s, "db", "ALTER TABLE u RENAME TO v, ENGINE=InnoDB");
        assert_eq!(names(&s, "v").len(), 5);
        apply_ddl(
            &mut s,
            "db",
            "DROP TABLE IF EXISTS `v` /* generated by server */",
        );
        assert!(s.is_empty());
        // Not understood: the shape is forgotten (re-read from information_schema later).
        s.insert(("db".into(), "w".into()), vec![c("a", "int")]);
        apply_ddl(
            &mut s,
            "db",
            "ALTER TABLE w PARTITION BY HASH(a) PARTITIONS 2",
        );
        assert!(s.is_empty());
        // Other tables and statements are left alone.
        s.insert(("db".into(), "w".into()), vec![c("a", "int")]);
        apply_ddl(&mut s, "db", "ALTER TABLE other ADD COLUMN z INT");
        apply_ddl(&mut s, "db", "CREATE INDEX i ON w (a)");
        assert_eq!(names(&s, "w"), ["a"]);
    }

    #[test]
    fn ddl_follows_generated_invisible_and_hash_columns() {
        let mut s = Shapes::new();
        let col = |s: &Shapes, t: &str, i: usize| s[&("db".to_string(), t.to_string())][i].clone();
        // Generated columns are columns of their type wherever they are; their expressions
        // (parentheses, words such as FIRST or ROW inside) are no clauses.
        apply_ddl(
            &mut s,
            "db",
            "CREATE TABLE g (id INT PRIMARY KEY, a INT, v INT AS (a * 10) VIRTUAL, \
             s VARCHAR(20) GENERATED ALWAYS AS (CONCAT('first', a, 'row start')) STORED, \
             h INT INVISIBLE DEFAULT 7)",
        );
        assert_eq!(names(&s, "g"), ["id#1", "a", "v", "s", "h"]);
        assert_eq!(col(&s, "g", 3).column_type, "varchar(20)");
        assert_eq!(col(&s, "g", 3).period, None);
        assert!(col(&s, "g", 4).invisible && !col(&s, "g", 2).invisible);
        apply_ddl(
            &mut s,
            "db",
            "ALTER TABLE g ADD COLUMN w INT AS (IF(a > 1, a, 0)) PERSISTENT AFTER id, \
             ADD x BIGINT GENERATED ALWAYS AS (a + 2) VIRTUAL INVISIBLE FIRST, MODIFY a INT INVISIBLE",
        );
        assert_eq!(names(&s, "g"), ["x", "id#1", "w", "a", "v", "s", "h"]);
        assert!(col(&s, "g", 0).invisible && col(&s, "g", 3).invisible);
        apply_ddl(&mut s, "db", "ALTER TABLE g MODIFY a INT, DROP COLUMN v");
        assert_eq!(names(&s, "g"), ["x", "id#1", "w", "a", "s", "h"]);
        assert!(!col(&s, "g", 3).invisible);
        // MariaDB's hidden hash columns (of long UNIQUE indexes) stay last, after the implicit
        // period columns: columns added without a place go before them.
        let key = ("db".to_string(), "u".to_string());
        let mut cols = vec![col(&s, "g", 1), col(&s, "g", 3)];
        cols.extend(crate::schema::hash_columns(1));
        s.insert(key.clone(), cols);
        apply_ddl(&mut s, "db", "ALTER TABLE u ADD COLUMN b TEXT");
        assert_eq!(names(&s, "u"), ["id#1", "a", "b", "DB_ROW_HASH_1"]);
        apply_ddl(&mut s, "db", "ALTER TABLE u ADD SYSTEM VERSIONING");
        assert_eq!(
            names(&s, "u"),
            ["id#1", "a", "b", "row_start", "row_end", "DB_ROW_HASH_1"]
        );
        apply_ddl(&mut s, "db", "ALTER TABLE u ADD COLUMN c INT");
        assert_eq!(
            names(&s, "u"),
            [
                "id#1",
                "a",
                "b",
                "c",
                "row_start",
                "row_end",
                "DB_ROW_HASH_1"
            ]
        );
        assert!(s[&key][6].hash);
    }

    #[test]
    fn ddl_follows_system_versioning() {
        let mut s = Shapes::new();
        let col = |s: &Shapes, t: &str, i: usize| s[&("db".to_string(), t.to_string())][i].clone();
        apply_ddl(
            &mut s,
            "db",
            "CREATE TABLE v (id INT PRIMARY KEY, a INT) WITH SYSTEM VERSIONING",
        );
        assert_eq!(names(&s, "v"), ["id#1", "a", "row_start", "row_end"]);
        assert_eq!(col(&s, "v", 3).period, Some(Period::RowEnd));
        assert!(col(&s, "v", 3).invisible);
        // MariaDB keeps the implicit period columns last.
        apply_ddl(&mut s, "db", "ALTER TABLE v ADD COLUMN c INT, ADD (d INT)");
        assert_eq!(
            names(&s, "v"),
            ["id#1", "a", "c", "d", "row_start", "row_end"]
        );
        apply_ddl(&mut s, "db", "ALTER TABLE v DROP SYSTEM VERSIONING");
        assert_eq!(names(&s, "v"), ["id#1", "a", "c", "d"]);
        apply_ddl(&mut s, "db", "alter table v add system versioning");
        assert_eq!(
            names(&s, "v"),
            ["id#1", "a", "c", "d", "row_start", "row_end"]
        );
        // Declared period columns, visible or not; ROW END is not part of the key.
        apply_ddl(&mut s, "db", "CREATE TABLE e (id INT, start_ts TIMESTAMP(6) GENERATED ALWAYS AS ROW START, end_ts TIMESTAMP(6) GENERATED ALWAYS AS ROW END INVISIBLE, PERIOD FOR SYSTEM_TIME(start_ts, end_ts), PRIMARY KEY (id, end_ts)) WITH SYSTEM VERSIONING");
        assert_eq!(names(&s, "e"), ["id#1", "start_ts", "end_ts"]);
        assert_eq!(col(&s, "e", 1).period, Some(Period::RowStart));
        assert!(!col(&s, "e", 1).invisible);
        assert_eq!(col(&s, "e", 2).period, Some(Period::RowEnd));
        assert!(col(&s, "e", 2).invisible);
        apply_ddl(&mut s, "db", "ALTER TABLE e DROP SYSTEM VERSIONING, DROP PERIOD FOR SYSTEM_TIME, DROP COLUMN start_ts, DROP COLUMN end_ts");
        assert_eq!(names(&s, "e"), ["id#1"]);
        // Declared period columns added to an ordinary table.
        apply_ddl(&mut s, "db", "ALTER TABLE e ADD COLUMN ts TIMESTAMP(6) GENERATED ALWAYS AS ROW START, ADD COLUMN te TIMESTAMP(6) GENERATED ALWAYS AS ROW END, ADD PERIOD FOR SYSTEM_TIME(ts, te), ADD SYSTEM VERSIONING");
        assert_eq!(names(&s, "e"), ["id#1", "ts", "te"]);
        assert_eq!(col(&s, "e", 2).period, Some(Period::RowEnd));
        assert!(!col(&s, "e", 2).invisible);
        // Versioning asked for on a column makes the table versioned too.
        apply_ddl(
            &mut s,
            "db",
            "CREATE TABLE w (id INT PRIMARY KEY, a INT WITH SYSTEM VERSIONING, b INT WITHOUT SYSTEM VERSIONING)",
        );
        assert_eq!(names(&s, "w"), ["id#1", "a", "b", "row_start", "row_end"]);
        apply_ddl(
            &mut s,
            "db",
            "CREATE TABLE p (id INT PRIMARY KEY, b INT WITHOUT SYSTEM VERSIONING)",
        );
        assert_eq!(names(&s, "p"), ["id#1", "b"]);
    }

    #[test]
    fn column_types_keep_their_length_and_scale() {
        let mut s = Shapes::new();
        apply_ddl(
            &mut s,
            "db",
            "CREATE TABLE t (a VARCHAR(20), b DECIMAL(10,2) UNSIGNED, c FLOAT(7,3), d FLOAT, e ENUM('x','y'))",
        );
        let types: Vec<&str> = s[&("db".to_string(), "t".to_string())]
            .iter()
            .map(|c| c.column_type.as_str())
            .collect();
        assert_eq!(
            types,
            [
                "varchar(20)",
                "decimal(10,2) unsigned",
                "float(7,3)",
                "float",
                "enum('x','y')"
            ]
        );
        assert!(crate::schema::float_is_scaled(types[2]));
        assert!(!crate::schema::float_is_scaled(types[3]));
        assert!(!crate::schema::float_is_scaled("float(10)"));
        assert!(crate::schema::float_is_scaled("float(7,3) unsigned"));
    }

    #[test]
    fn table_ddl_names_each_table_as_debezium_reports_it() {
        let t = |db: &str, n: &str| (db.to_string(), n.to_string());
        let one = |sql: &str| {
            let v = table_ddl(sql, "db");
            assert_eq!(v.len(), 1, "{sql}");
            v.into_iter().next().unwrap()
        };
        let c = one("CREATE TABLE IF NOT EXISTS x.t (a INT)");
        assert_eq!(
            (c.kind, c.table, c.renamed_from),
            (TableDdlKind::Create, t("x", "t"), None)
        );
        assert_eq!(c.ddl, "CREATE TABLE IF NOT EXISTS x.t (a INT)");
        assert_eq!(
            one("create or replace table t like u").kind,
            TableDdlKind::Create
        );
        let a = one("ALTER TABLE t ADD COLUMN b INT");
        assert_eq!((a.kind, a.table), (TableDdlKind::Alter, t("db", "t")));
        let a = one("ALTER TABLE t RENAME TO x.u");
        assert_eq!(
            (a.kind, a.table, a.renamed_from),
            (TableDdlKind::Alter, t("x", "u"), Some(t("db", "t")))
        );
        assert_eq!(
            one("CREATE UNIQUE INDEX i USING BTREE ON t (a)").table,
            t("db", "t")
        );
        assert_eq!(one("DROP INDEX i ON x.t").kind, TableDdlKind::Alter);
        let r = table_ddl("RENAME TABLE a TO b, `c,d` TO x.e", "db");
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].ddl.as_str(), &r[0].table), ("a TO b", &t("db", "b")));
        assert_eq!(r[1].ddl, "`c,d` TO x.e");
        assert_eq!(r[1].renamed_from, Some(t("db", "c,d")));
        let d = table_ddl("DROP TABLE IF EXISTS a, x.`b` CASCADE", "db");
        let ddl: Vec<&str> = d.iter().map(|d| d.ddl.as_str()).collect();
        assert_eq!(
            ddl,
            [
                "DROP TABLE IF EXISTS `db`.`a` CASCADE",
                "DROP TABLE IF EXISTS `x`.`b` CASCADE"
            ]
        );
        assert!(d.iter().all(|d| d.kind == TableDdlKind::Drop));
        assert_eq!(
            one("drop table `t` /* generated by server */").ddl,
            "drop table `db`.`t`"
        );
        for none in [
            "TRUNCATE TABLE t",
            "CREATE TEMPORARY TABLE t (a INT)",
            "DROP TEMPORARY TABLE t",
            "CREATE DATABASE x",
            "CREATE VIEW v AS SELECT 1",
            "GRANT SELECT ON *.* TO u",
        ] {
            assert!(table_ddl(none, "db").is_empty(), "{none}");
        }
    }
}

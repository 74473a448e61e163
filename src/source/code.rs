//! Looks up triggers, views and stored routines in the source's information_schema for the
//! assembler, which follows a statement-logged DML statement to the tables they write
//! (`redis_cdc_core::schema::code`, docs/events.md "Statements, triggers and stored functions"),
//! and foreign keys, whose actions change child rows without rows events (docs/events.md,
//! "Foreign-key actions").

use crate::config::SourceUrl;
use crate::source::connect;
use mysql::prelude::Queryable;
use mysql::Conn;
use redis_cdc_core::schema::code::{Code, CodeLookup, CodeQuery, ForeignKey};

/// A lookup with its own connection, opened at the first question (statement-logged DML is
/// rare) and again after a failure or a hidden answer.
pub fn lookup(url: SourceUrl) -> CodeLookup {
    let mut conn: Option<Conn> = None;
    Box::new(move |q| {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => conn.insert(connect(&url).map_err(|e| e.to_string())?),
        };
        let answer = answer(c, q);
        // After a failure, or an answer hidden by missing privileges, the next question opens a
        // new connection: global privileges granted since apply only to new connections.
        let hidden = |a: &Vec<Code>| {
            a.iter()
                .any(|c| matches!(c, Code::TriggersHidden | Code::View(None)))
        };
        if answer.as_ref().map_or(true, hidden) {
            conn = None;
        }
        answer
    })
}

fn text(b: Vec<u8>) -> String {
    String::from_utf8_lossy(&b).into_owned()
}

fn answer(c: &mut Conn, q: CodeQuery<'_>) -> Result<Vec<Code>, String> {
    let err = |e: mysql::Error| format!("reading information_schema: {e}");
    match q {
        CodeQuery::Table { db, table } => {
            let view: Option<Option<Vec<u8>>> = c
                .exec_first(
                    "SELECT VIEW_DEFINITION FROM information_schema.VIEWS \
                     WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                    (db, table),
                )
                .map_err(err)?;
            if let Some(def) = view {
                // Empty for a user without SHOW VIEW.
                let def = def.map(text).filter(|d| !d.trim().is_empty());
                return Ok(vec![Code::View(def)]);
            }
            let bodies: Vec<Vec<u8>> = c
                .exec(
                    "SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS \
                     WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?",
                    (db, table),
                )
                .map_err(err)?;
            if bodies.is_empty() && !can_see_triggers(c, db, table).map_err(err)? {
                return Ok(vec![Code::TriggersHidden]);
            }
            Ok(bodies.into_iter().map(|b| Code::Trigger(text(b))).collect())
        }
        CodeQuery::Routines { db } => {
            let rows: Vec<(Vec<u8>, Option<Vec<u8>>)> = c
                .exec(
                    "SELECT ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES \
                     WHERE ROUTINE_SCHEMA = ?",
                    (db,),
                )
                .map_err(err)?;
            Ok(rows
                .into_iter()
                .map(|(name, body)| Code::Routine {
                    name: text(name),
                    body: body.map(text),
                })
                .collect())
        }
        CodeQuery::ForeignKeys { db } => {
            // By child database: the server's information_schema narrows by TABLE_SCHEMA (not
            // by the referenced side). KEY_COLUMN_USAGE shows the keys to a user with SELECT;
            // MariaDB shows their ON DELETE/ON UPDATE rules (REFERENTIAL_CONSTRAINTS) only to a
            // user with another privilege on the table (REFERENCES will do): a key whose rules
            // are hidden counts as cascading (more re-reads, never fewer).
            type Row = (
                Vec<u8>,
                Vec<u8>,
                Vec<u8>,
                Vec<u8>,
                Option<Vec<u8>>,
                Option<Vec<u8>>,
                Vec<u8>,
                Vec<u8>,
            );
            let rows: Vec<Row> = c
                .exec(
                    "SELECT k.CONSTRAINT_NAME, k.TABLE_NAME, k.REFERENCED_TABLE_SCHEMA, \
                       k.REFERENCED_TABLE_NAME, rc.DELETE_RULE, rc.UPDATE_RULE, \
                       k.COLUMN_NAME, k.REFERENCED_COLUMN_NAME \
                     FROM information_schema.KEY_COLUMN_USAGE k \
                     LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS rc \
                       ON rc.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA \
                      AND rc.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
                      AND rc.TABLE_NAME = k.TABLE_NAME \
                     WHERE k.TABLE_SCHEMA = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL \
                     ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
                    (db,),
                )
                .map_err(err)?;
            let mut out: Vec<ForeignKey> = Vec::new();
            let mut last: Option<(Vec<u8>, Vec<u8>)> = None;
            let mut hidden = false;
            for (name, child, pdb, parent, on_delete, on_update, col, pcol) in rows {
                let key = (name, child.clone());
                let same = last.as_ref() == Some(&key);
                last = Some(key);
                let rule = |r: Option<Vec<u8>>, hidden: &mut bool| match r {
                    Some(r) => text(r),
                    None => {
                        *hidden = true;
                        "CASCADE".to_string()
                    }
                };
                match out.last_mut() {
                    Some(k) if same => k.columns.push((text(col), text(pcol))),
                    _ => out.push(ForeignKey {
                        child: (db.to_string(), text(child)),
                        parent: (text(pdb), text(parent)),
                        on_delete: rule(on_delete, &mut hidden),
                        on_update: rule(on_update, &mut hidden),
                        columns: vec![(text(col), text(pcol))],
                    }),
                }
            }
            if hidden {
                log::warn!(
                    "the ON DELETE/ON UPDATE rules of foreign keys in {db} are hidden from the module's user (MariaDB shows them only with another privilege than SELECT on the table): each such key counts as cascading, so a change of its parent re-reads its captured child table; GRANT REFERENCES ON *.* TO the user to re-read only where a key's actions change rows"
                );
            }
            Ok(out.into_iter().map(Code::ForeignKey).collect())
        }
    }
}

/// Whether the user holds TRIGGER on the table (globally, on its database or on it): the
/// server lists a table's triggers only then, so an empty list means "none" only then.
/// Privileges held through a role are not seen here: such a user counts as not seeing them.
fn can_see_triggers(c: &mut Conn, db: &str, table: &str) -> Result<bool, mysql::Error> {
    let n: Option<u64> = c.exec_first(
        "SELECT COUNT(*) FROM ( \
           SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES \
           UNION ALL SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES \
             WHERE TABLE_SCHEMA = ? \
           UNION ALL SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
         ) p WHERE p.PRIVILEGE_TYPE = 'TRIGGER' AND p.GRANTEE = CONCAT('''', \
           SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', \
           SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')",
        (db, db, table),
    )?;
    Ok(n.unwrap_or(0) > 0)
}

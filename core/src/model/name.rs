//! The one text form of a table's name, `db.table`, used by CDC.TABLES, CDC.RESYNC, the
//! snapshot queue and the stored re-read set.
//!
//! MySQL names may hold dots. A table name with dots is no problem (the name is split at the
//! first dot), but a database name with one would be split in the wrong place; such a database
//! name is written in backticks, as MySQL quotes it: `` `shop.eu`.orders ``. A name that itself
//! starts with a backtick is quoted too, with the backtick doubled. Every other name is the
//! plain `db.table` (docs/commands.md).

/// The text form of `db`.`table`.
pub fn table_name(db: &str, table: &str) -> String {
    let mut s = String::with_capacity(db.len() + table.len() + 1);
    push_part(&mut s, db, db.contains('.'));
    s.push('.');
    push_part(&mut s, table, false);
    s
}

fn push_part(s: &mut String, part: &str, must_quote: bool) {
    if must_quote || part.starts_with('`') {
        s.push('`');
        s.push_str(&part.replace('`', "``"));
        s.push('`');
    } else {
        s.push_str(part);
    }
}

/// The database and table of a name in [`table_name`]'s form; also takes a table part in
/// backticks (`` db.`orders` ``). None when there is no table part.
pub fn split_table(name: &str) -> Option<(String, String)> {
    let (db, rest) = match name.strip_prefix('`') {
        Some(quoted) => {
            let (db, rest) = unquote(quoted)?;
            (db, rest.strip_prefix('.')?)
        }
        None => {
            let (db, rest) = name.split_once('.')?;
            (db.to_string(), rest)
        }
    };
    let table = match rest.strip_prefix('`') {
        Some(quoted) => match unquote(quoted) {
            Some((t, "")) => t,
            _ => rest.to_string(),
        },
        None => rest.to_string(),
    };
    (!db.is_empty() && !table.is_empty()).then_some((db, table))
}

/// The text of a backtick-quoted name (its opening backtick already taken) and what follows
/// its closing backtick.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '`' {
            out.push(c);
            continue;
        }
        if s[i + 1..].starts_with('`') {
            out.push('`');
            chars.next();
        } else {
            return Some((out, &s[i + 1..]));
        }
    }
    None
}

/// The name as a user may type it without quotes (`shop.eu.orders`), for matching a
/// CDC.RESYNC argument against [`table_name`] forms.
pub fn plain_name(name: &str) -> String {
    match split_table(name) {
        Some((db, table)) => format!("{db}.{table}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_dotted_databases_are_quoted() {
        let cases = [
            ("shop", "orders", "shop.orders"),
            ("shop", "orders.2024", "shop.orders.2024"),
            ("shop.eu", "orders", "`shop.eu`.orders"),
            ("shop.eu", "a.b", "`shop.eu`.a.b"),
            ("`odd", "t", "```odd`.t"),
            ("db", "`t`", "db.```t```"),
            ("a`b.c", "t", "`a``b.c`.t"),
        ];
        for (db, table, name) in cases {
            assert_eq!(table_name(db, table), name);
            assert_eq!(
                split_table(name),
                Some((db.to_string(), table.to_string())),
                "{name}"
            );
        }
        assert_eq!(plain_name("`shop.eu`.orders"), "shop.eu.orders");
    }

    #[test]
    fn split_takes_quoted_tables_and_refuses_half_names() {
        assert_eq!(
            split_table("`db`.`t`"),
            Some(("db".to_string(), "t".to_string()))
        );
        assert_eq!(
            split_table("db.`t`x"),
            Some(("db".to_string(), "`t`x".to_string()))
        );
        for bad in ["", "db", "db.", ".t", "`db.t", "`db`t", "`db`."] {
            assert_eq!(split_table(bad), None, "{bad}");
        }
    }
}

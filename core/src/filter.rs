//! The `cdc.tables` / `cdc.exclude-tables` filter: which `db.table` the module captures.

/// One `db.table` pattern; `*` matches any run of characters, `?` one character.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    db: String,
    table: String,
}

/// The `cdc.tables` / `cdc.exclude-tables` filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFilter {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

/// Schemas that hold the server's own data; never captured.
pub const SYSTEM_SCHEMAS: [&str; 4] = ["mysql", "sys", "information_schema", "performance_schema"];

impl TableFilter {
    pub fn new(include: &str, exclude: &str) -> Result<TableFilter, String> {
        let include = parse_patterns(include)?;
        let exclude = parse_patterns(exclude)?;
        Ok(TableFilter { include, exclude })
    }

    /// The include patterns as written (`db.table, ...`), for messages.
    pub fn included(&self) -> String {
        self.include
            .iter()
            .map(|p| crate::model::name::table_name(&p.db, &p.table))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// True when `db.table` is captured.
    pub fn matches(&self, db: &str, table: &str) -> bool {
        if SYSTEM_SCHEMAS.iter().any(|s| s.eq_ignore_ascii_case(db)) {
            return false;
        }
        let hit = |p: &Pattern| glob(&p.db, db) && glob(&p.table, table);
        self.include.iter().any(hit) && !self.exclude.iter().any(hit)
    }
}

fn parse_patterns(list: &str) -> Result<Vec<Pattern>, String> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        // A name with a dot goes in backticks: `shop.eu`.* (crate::model::name).
        let (db, table) = crate::model::name::split_table(item)
            .filter(|_| item.contains('`') || item.matches('.').count() == 1)
            .ok_or_else(|| {
                format!("pattern '{item}' is not db.table (a name with a dot goes in backticks: `shop.eu`.*)")
            })?;
        out.push(Pattern { db, table });
    }
    Ok(out)
}

/// Glob match with `*` and `?`; MySQL names compare case-sensitively on Linux, so do we.
pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_wildcards_and_excludes() {
        let f = TableFilter::new("shop.*, crm.cust?mers", "shop.tmp_*").unwrap();
        assert!(f.matches("shop", "orders"));
        assert!(!f.matches("shop", "tmp_x"));
        assert!(f.matches("crm", "customers"));
        assert!(!f.matches("crm", "custoomers"));
        assert!(!f.matches("other", "orders"));
        let all = TableFilter::new("*.*", "").unwrap();
        assert!(all.matches("a", "b"));
        assert!(!all.matches("mysql", "user"));
        assert!(!all.matches("performance_schema", "x"));
        assert!(TableFilter::new("nodot", "").is_err());
        assert!(TableFilter::new("a.b.c", "").is_err());
        // Dotted names in backticks.
        let f = TableFilter::new("`shop.eu`.*, db.`x.y`", "").unwrap();
        assert!(f.matches("shop.eu", "orders"));
        assert!(!f.matches("shop", "eu.orders"));
        assert!(f.matches("db", "x.y"));
        assert_eq!(f.included(), "`shop.eu`.*, db.x.y");
    }

    #[test]
    fn glob_edge_cases() {
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("*_log", "audit_log"));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// A MySQL name that a `db.table` pattern can spell: no `,` or `.` (the list and
        /// pattern separators), no backquote or white space at either end (trimmed).
        fn name() -> impl Strategy<Value = String> {
            "[^,.`\\s]{1,12}"
        }

        fn is_system(db: &str) -> bool {
            SYSTEM_SCHEMAS.iter().any(|s| s.eq_ignore_ascii_case(db))
        }

        proptest! {
            #[test]
            fn a_pattern_built_from_a_name_matches_that_name(db in name(), table in name()) {
                prop_assume!(!is_system(&db));
                for pattern in [format!("{db}.{table}"), format!("`{db}`.`{table}`")] {
                    let f = TableFilter::new(&pattern, "").unwrap();
                    prop_assert!(f.matches(&db, &table), "{} does not match", pattern);
                    let f = TableFilter::new("*.*", &pattern).unwrap();
                    prop_assert!(!f.matches(&db, &table), "{} does not exclude", pattern);
                }
            }

            #[test]
            fn system_schemas_never_match(
                which in 0..SYSTEM_SCHEMAS.len(),
                upper in proptest::collection::vec(any::<bool>(), 18),
                table in name(),
                extra in name(),
            ) {
                let db: String = SYSTEM_SCHEMAS[which]
                    .chars()
                    .zip(upper)
                    .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
                    .collect();
                let include = format!("*.*,{db}.{table},{db}.*,*.{extra}");
                let f = TableFilter::new(&include, "").unwrap();
                prop_assert!(!f.matches(&db, &table));
            }
        }
    }
}

//! `cdc.exclude-columns`, `cdc.mask-columns` and `cdc.mask-salt` (docs/configuration.md,
//! "Column patterns"; docs/types.md, "Masked columns"): excluded columns never reach an entry,
//! masked ones arrive as `SHA2(CONCAT(salt, col), 256)`, in snapshot and streamed rows, before
//! and after images, keys, and the Debezium formats' schema changes; replay equals a SELECT of
//! the kept columns with the masked ones hashed in SQL. A change at run time re-reads the
//! tables it changes; a malformed pattern is refused naming the parameter; an excluded key
//! column is masked and warned about; the salt never shows outside CONFIG GET.
//!
//! The tests share one MariaDB (`shared_mariadb`), each in its own database.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The rows of `sql` (run after `setup` on a fresh connection) as canonical key -> row object:
/// the columns in `numbers` as JSON numbers, the others as strings, NULL as null; the key is
/// the object of the `key` columns.
fn rows_of(
    db: &MariaDb,
    setup: &str,
    sql: &str,
    key: &[&str],
    numbers: &[&str],
) -> BTreeMap<String, Value> {
    use mysql::prelude::Queryable;
    let mut conn = db.conn();
    if !setup.is_empty() {
        conn.query_drop(setup).expect("setup");
    }
    let mut result = conn
        .query_iter(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let names: Vec<String> = result
        .columns()
        .as_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    let mut out = BTreeMap::new();
    for row in result.by_ref() {
        let row = row.expect("row");
        let mut obj = serde_json::Map::new();
        for (i, name) in names.iter().enumerate() {
            let text = match row.as_ref(i) {
                Some(mysql::Value::NULL) | None => None,
                Some(mysql::Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                Some(other) => Some(other.as_sql(false).trim_matches('\'').to_string()),
            };
            let v = match text {
                None => Value::Null,
                Some(t) if numbers.contains(&name.as_str()) => {
                    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{name} {t}: {e}"))
                }
                Some(t) => Value::String(t),
            };
            obj.insert(name.clone(), v);
        }
        let k: serde_json::Map<String, Value> = obj
            .iter()
            .filter(|(n, _)| key.contains(&n.as_str()))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        out.insert(canonical(&Value::Object(k)), Value::Object(obj));
    }
    out
}

fn assert_same(replayed: &BTreeMap<String, Value>, expected: &BTreeMap<String, Value>, what: &str) {
    if replayed != expected {
        let diff: Vec<_> = expected
            .iter()
            .filter(|(k, v)| replayed.get(*k) != Some(v))
            .take(4)
            .collect();
        let extra: Vec<_> = replayed
            .iter()
            .filter(|(k, v)| expected.get(*k) != Some(v))
            .take(4)
            .collect();
        panic!(
            "{what}: replay ({} rows) != SELECT ({} rows)\nin SELECT, not (or different) in replay: {diff:?}\nin replay, not (or different) in SELECT: {extra:?}",
            replayed.len(),
            expected.len()
        );
    }
}

/// Every row object of `entries` (flat `before`/`after`) has exactly the columns `names`.
fn assert_flat_columns(entries: &[StreamEntry], names: &[&str]) {
    for (id, fields) in entries {
        for image in ["before", "after"] {
            let Some(text) = field(fields, image) else {
                continue;
            };
            let obj: Value = serde_json::from_str(text).expect("row JSON");
            let got: Vec<&str> = obj
                .as_object()
                .expect("object")
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(got, names, "{id} {image}: {text}");
        }
    }
}

fn is_hash(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn err_text(r: redis::RedisResult<redis::Value>) -> String {
    match r {
        Ok(v) => panic!("expected an error reply, got {v:?}"),
        Err(e) => format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")),
    }
}

#[test]
fn excluded_and_masked_columns_leave_snapshot_and_stream_entries_in_flat() {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = shared_mariadb();
    db.exec(
        "CREATE DATABASE col_flat;
         CREATE TABLE col_flat.users (id INT PRIMARY KEY, name VARCHAR(20), email VARCHAR(60),
           ssn CHAR(11), notes TEXT, born DATE, score DECIMAL(6,2));
         CREATE TABLE col_flat.other (id INT PRIMARY KEY, ssn CHAR(11), notes TEXT);
         INSERT INTO col_flat.users VALUES
           (1, 'ann', 'ann-secret@x.org', '111-11-1111', 'NOTE-SECRET-1', '1980-02-29', 1.50),
           (2, 'bob', NULL, NULL, NULL, NULL, NULL);
         INSERT INTO col_flat.other VALUES (1, '999-99-9999', 'kept note')",
    );
    let url = db.url();
    let redis = RedisServer::start(&[
        "mysql-url",
        &url,
        "tables",
        "col_flat.*",
        "exclude-columns",
        "col_flat.users.notes",
        // Column names in any case; `*` in the table part.
        "mask-columns",
        "col_flat.users.EMAIL, col_flat.*.ssn, col_flat.users.born",
        "mask-salt",
        "pepper",
    ]);
    wait_snapshot_done_and_caught_up(&redis, &db, CATCH_UP);
    db.exec(
        "INSERT INTO col_flat.users VALUES
           (3, 'cid', 'cid-secret@x.org', '333-33-3333', 'NOTE-SECRET-3', '2001-12-31', -2.25);
         UPDATE col_flat.users SET email = 'ann2-secret@x.org', notes = 'NOTE-SECRET-1b' WHERE id = 1;
         UPDATE col_flat.users SET notes = 'NOTE-SECRET-2' WHERE id = 2;
         UPDATE col_flat.users SET name = 'bobby', born = '1999-09-09' WHERE id = 2;
         DELETE FROM col_flat.users WHERE id = 3;
         INSERT INTO col_flat.users VALUES
           (4, 'dee', 'dee-secret@x.org', '444-44-4444', 'NOTE-SECRET-4', '1970-01-01', 0.00);
         UPDATE col_flat.other SET ssn = '888-88-8888' WHERE id = 1",
    );
    wait_caught_up(&redis, &db, CATCH_UP);

    let users = check_entries(&redis, "col_flat", "users");
    let ops: Vec<&str> = users.iter().filter_map(|(_, f)| field(f, "op")).collect();
    assert_eq!(ops, ["r", "r", "c", "u", "u", "u", "d", "c"], "{users:?}");
    // No excluded column in any image, the masked ones in column order.
    assert_flat_columns(&users, &["id", "name", "email", "ssn", "born", "score"]);
    let text = format!("{users:?}");
    for secret in [
        "secret@x.org",
        "NOTE-SECRET",
        "111-11-1111",
        "1980-02-29",
        "444-44-4444",
    ] {
        assert!(!text.contains(secret), "{secret} in the entries: {text}");
    }
    // Masked values are hashes in before and after images; NULL stays null.
    let update = &users[3].1;
    for image in ["before", "after"] {
        let row = json_field(update, image);
        assert!(is_hash(&row["email"]) && is_hash(&row["ssn"]), "{row}");
    }
    assert_ne!(
        json_field(update, "before")["email"],
        json_field(update, "after")["email"]
    );
    assert_eq!(json_field(&users[1].1, "after")["email"], Value::Null);
    // An UPDATE of excluded columns only is a `u` whose images are equal.
    assert_eq!(
        json_field(&users[4].1, "before"),
        json_field(&users[4].1, "after")
    );

    // Replay equals the table with the masked columns hashed in SQL.
    let expected = rows_of(
        &db,
        "",
        "SELECT id, name, SHA2(CONCAT('pepper', email), 256) AS email,
                SHA2(CONCAT('pepper', ssn), 256) AS ssn, SHA2(CONCAT('pepper', born), 256) AS born,
                score FROM col_flat.users",
        &["id"],
        &["id"],
    );
    assert_same(&replay_canonical(&users), &expected, "col_flat.users");

    // Another table: the ssn pattern reaches it, the notes pattern does not.
    let other = check_entries(&redis, "col_flat", "other");
    assert_flat_columns(&other, &["id", "ssn", "notes"]);
    let expected = rows_of(
        &db,
        "",
        "SELECT id, SHA2(CONCAT('pepper', ssn), 256) AS ssn, notes FROM col_flat.other",
        &["id"],
        &["id"],
    );
    assert_same(&replay_canonical(&other), &expected, "col_flat.other");
    assert_eq!(status_field(&redis, "warnings"), "");
}

#[test]
fn excluded_and_masked_columns_in_debezium_entries_and_schema_changes() {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = shared_mariadb();
    db.exec(
        "CREATE DATABASE col_dbz;
         CREATE TABLE col_dbz.users (id INT PRIMARY KEY, name VARCHAR(20), email VARCHAR(60),
           notes TEXT, score DECIMAL(6,2));
         INSERT INTO col_dbz.users VALUES (1, 'ann', 'ann-secret@x.org', 'NOTE-SECRET-1', 1.50),
           (2, 'bob', NULL, NULL, NULL)",
    );
    let url = db.url();
    let redis = RedisServer::start(&[
        "mysql-url",
        &url,
        "tables",
        "col_dbz.*",
        "format",
        "debezium",
        "exclude-columns",
        "col_dbz.users.notes",
        "mask-columns",
        "col_dbz.users.email",
        "mask-salt",
        "pepper",
    ]);
    wait_snapshot_done_and_caught_up(&redis, &db, CATCH_UP);
    db.exec(
        "INSERT INTO col_dbz.users VALUES (3, 'cid', 'cid-secret@x.org', 'NOTE-SECRET-3', 2.00);
         UPDATE col_dbz.users SET email = 'bob-secret@x.org', notes = 'NOTE-SECRET-2' WHERE id = 2;
         UPDATE col_dbz.users SET id = 30 WHERE id = 3;
         DELETE FROM col_dbz.users WHERE id = 1;
         ALTER TABLE col_dbz.users ADD COLUMN phone VARCHAR(20)",
    );
    // The ADD COLUMN re-reads the table (its rows gained a column without rows events): let
    // it write its 2 rows, so that the INSERT comes after them.
    wait_entries(&redis, "cdc:col_dbz.users", 9);
    db.exec("INSERT INTO col_dbz.users VALUES (5, 'eve', 'eve-secret@x.org', 'NOTE-SECRET-5', 5.00, '555')");
    wait_caught_up(&redis, &db, CATCH_UP);

    // Compact layout: one field/value, field = key JSON, value = event JSON.
    let list = entries(&redis, "col_dbz", "users");
    let text = format!("{list:?}");
    for secret in ["secret@x.org", "NOTE-SECRET", "notes"] {
        assert!(!text.contains(secret), "{secret} in the entries: {text}");
    }
    let mut replayed = BTreeMap::new();
    let mut ops = Vec::new();
    for (id, fields) in &list {
        assert_eq!(fields.len(), 1, "{id}: {fields:?}");
        let (key, value) = &fields[0];
        let key: Value = serde_json::from_str(key).expect("key JSON");
        let event: Value = serde_json::from_str(value).expect("event JSON");
        let op = event["op"].as_str().expect("op").to_string();
        for image in ["before", "after"] {
            if let Some(row) = event[image].as_object() {
                assert!(!row.contains_key("notes"), "{id}: {event}");
                assert!(
                    row["email"].is_null() || is_hash(&row["email"]),
                    "{id}: {event}"
                );
            }
        }
        match op.as_str() {
            "c" | "r" | "u" => {
                replayed.insert(canonical(&key), event["after"].clone());
            }
            "d" => {
                replayed.remove(&canonical(&key));
            }
            other => panic!("{id}: op {other}"),
        }
        ops.push(op);
    }
    assert_eq!(
        ops,
        ["r", "r", "c", "u", "d", "c", "d", "r", "r", "c"],
        "{list:?}"
    );
    let expected = rows_of(
        &db,
        "",
        "SELECT id, name, SHA2(CONCAT('pepper', email), 256) AS email, score, phone
         FROM col_dbz.users",
        &["id"],
        &["id"],
    );
    assert_same(&replayed, &expected, "col_dbz.users (debezium)");

    // The schema-change event of the ALTER describes the table without the excluded column.
    let changes = stream_entries(&mut redis.client(), "cdc");
    let alter = changes
        .iter()
        .map(|(_, f)| serde_json::from_str::<Value>(&f[0].1).expect("event"))
        .find(|e| {
            e["ddl"]
                .as_str()
                .is_some_and(|d| d.contains("ADD COLUMN phone"))
        })
        .unwrap_or_else(|| panic!("no schema change for the ALTER: {changes:?}"));
    let names: Vec<&str> = alter["tableChanges"][0]["table"]["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["id", "name", "email", "score", "phone"], "{alter}");
}

#[test]
fn masked_values_equal_sha2_of_concat_in_sql_for_each_type() {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = shared_mariadb();
    let columns = [
        ("i", "INT"),
        ("bu", "BIGINT UNSIGNED"),
        ("dc", "DECIMAL(10,3)"),
        ("dbl", "DOUBLE"),
        ("dt", "DATE"),
        ("dtm", "DATETIME(3)"),
        ("ts", "TIMESTAMP(2) NULL"),
        ("tm", "TIME(1)"),
        ("yr", "YEAR"),
        ("c", "CHAR(5)"),
        ("vc", "VARCHAR(20)"),
        ("tx", "TEXT"),
        ("lat", "VARCHAR(10) CHARACTER SET latin1"),
        ("bn", "BINARY(4)"),
        ("vb", "VARBINARY(10)"),
        ("bl", "BLOB"),
        ("en", "ENUM('a','b')"),
        ("st", "SET('x','y','z')"),
        ("bt", "BIT(10)"),
        ("js", "JSON"),
        ("u", "UUID"),
        ("ip", "INET6"),
        ("g", "POINT"),
    ];
    let ddl: Vec<String> = columns.iter().map(|(n, t)| format!("{n} {t}")).collect();
    db.exec(&format!(
        "CREATE DATABASE col_types; CREATE TABLE col_types.t (id INT PRIMARY KEY, {}) CHARACTER SET utf8mb4",
        ddl.join(", ")
    ));
    // A session of its own: the shared one keeps its time zone. DOUBLE: values MySQL prints as
    // their shortest round-trip text (it prints 1e-7 as 0.0000001: docs/types.md).
    let mut conn = db.conn();
    exec_all(
        &mut conn,
        "SET time_zone = '+00:00';
         INSERT INTO col_types.t VALUES (1, -42, 18446744073709551615, '-12.500', 2.5,
           '2024-01-31', '2024-01-31 12:34:56.120', '2024-01-31 12:34:56.12', '-12:34:56.5', 2024,
           'ab', 'héllo 😀', 'text', 'é', x'01', x'00ff', x'deadbeef', 'b', 'z,x', b'1000000001',
           '{\"a\":[1,\"x\"]}', '123e4567-e89b-12d3-a456-426614174000', '2001:db8::1',
           ST_GeomFromText('POINT(1 2)', 4326));
         INSERT INTO col_types.t VALUES (3, 0, 0, '0.000', 1.2345678901234568e17, '1000-01-01',
           '9999-12-31 23:59:59.999', '1970-01-01 00:00:01.00', '00:00:00.0', 1901, '', '', '',
           '', x'', x'', x'', 'a', '', b'0', '[]', '00000000-0000-0000-0000-000000000000', '::',
           ST_GeomFromText('POINT(0 0)'))",
    )
    .expect("insert");
    let url = db.url();
    let redis = RedisServer::start(&[
        "mysql-url",
        &url,
        "tables",
        "col_types.*",
        "mask-columns",
        "col_types.t.*",
        "mask-salt",
        "sälz",
    ]);
    wait_snapshot_done_and_caught_up(&redis, &db, CATCH_UP);
    // The same row through the binlog.
    db.exec("INSERT INTO col_types.t SELECT id + 1, i, bu, dc, dbl, dt, dtm, ts, tm, yr, c, vc, tx, lat, bn, vb, bl, en, st, bt, js, u, ip, g FROM col_types.t WHERE id IN (1, 3)");
    wait_caught_up(&redis, &db, CATCH_UP);

    // The id is masked too (col_types.t.*): it is the key, so the key is the hash.
    // Text in another character set than UTF-8: hashed as UTF-8 (docs/types.md).
    let hashes: Vec<String> = columns
        .iter()
        .map(|(n, _)| match *n {
            "lat" => format!("SHA2(CONCAT('sälz', CONVERT({n} USING utf8mb4)), 256) AS {n}"),
            _ => format!("SHA2(CONCAT('sälz', {n}), 256) AS {n}"),
        })
        .collect();
    let expected = rows_of(
        &db,
        // TIMESTAMP: the module hashes the UTC text.
        "SET time_zone = '+00:00'",
        &format!(
            "SELECT SHA2(CONCAT('sälz', id), 256) AS id, {} FROM col_types.t",
            hashes.join(", ")
        ),
        &["id"],
        &[],
    );
    let list = check_entries(&redis, "col_types", "t");
    let ops: Vec<&str> = list.iter().filter_map(|(_, f)| field(f, "op")).collect();
    assert_eq!(ops, ["r", "r", "c", "c"]);
    let replayed = replay_canonical(&list);
    for (key, want) in &expected {
        let got = replayed
            .get(key)
            .unwrap_or_else(|| panic!("no row with key {key}: {replayed:?}"));
        for (name, _) in std::iter::once(&("id", "")).chain(columns.iter()) {
            assert_eq!(got[name], want[name], "column {name}: module vs SQL");
        }
    }
    assert_eq!(replayed.len(), expected.len());
}

#[test]
fn an_excluded_key_column_is_masked_in_the_key_and_warned() {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = shared_mariadb();
    db.exec(
        "CREATE DATABASE col_key;
         CREATE TABLE col_key.accounts (login VARCHAR(20) PRIMARY KEY, plan VARCHAR(10), pin INT);
         INSERT INTO col_key.accounts VALUES ('ann-login', 'free', 1234), ('bob-login', 'pro', NULL)",
    );
    let url = db.url();
    let redis = RedisServer::start(&[
        "mysql-url",
        &url,
        "tables",
        "col_key.*",
        "exclude-columns",
        "col_key.*.login, col_key.*.pin",
        "mask-salt",
        "k3y",
    ]);
    wait_snapshot_done_and_caught_up(&redis, &db, CATCH_UP);
    let warnings = status_field(&redis, "warnings");
    assert!(
        warnings.contains("col_key.accounts.login")
            && warnings.contains("cdc.mask-columns")
            && !warnings.contains("col_key.accounts.pin"),
        "warnings: {warnings}"
    );
    assert!(redis.log().contains("col_key.accounts.login"));
    db.exec(
        "INSERT INTO col_key.accounts VALUES ('cid-login', 'free', 7);
         UPDATE col_key.accounts SET plan = 'pro' WHERE login = 'ann-login';
         UPDATE col_key.accounts SET login = 'bob2-login' WHERE login = 'bob-login';
         DELETE FROM col_key.accounts WHERE login = 'cid-login'",
    );
    wait_caught_up(&redis, &db, CATCH_UP);
    let list = check_entries(&redis, "col_key", "accounts");
    let ops: Vec<&str> = list.iter().filter_map(|(_, f)| field(f, "op")).collect();
    // The key change is a `d` of the old hashed key and a `c` of the new one.
    assert_eq!(ops, ["r", "r", "c", "u", "d", "c", "d"], "{list:?}");
    assert_flat_columns(&list, &["login", "plan"]);
    let text = format!("{list:?}");
    assert!(!text.contains("-login"), "{text}");
    for (_, fields) in &list {
        assert!(is_hash(&json_field(fields, "key")["login"]), "{fields:?}");
    }
    let expected = rows_of(
        &db,
        "",
        "SELECT SHA2(CONCAT('k3y', login), 256) AS login, plan FROM col_key.accounts",
        &["login"],
        &[],
    );
    assert_same(&replay_canonical(&list), &expected, "col_key.accounts");

    // A table created since: the reader warns when it meets the table.
    db.exec(
        "CREATE TABLE col_key.later (login VARCHAR(20) PRIMARY KEY, pin INT);
         INSERT INTO col_key.later VALUES ('dee-login', 1)",
    );
    wait_caught_up(&redis, &db, CATCH_UP);
    let warnings = status_field(&redis, "warnings");
    assert!(
        warnings.contains("col_key.accounts.login") && warnings.contains("col_key.later.login"),
        "warnings: {warnings}"
    );
    let later = entries(&redis, "col_key", "later");
    assert_flat_columns(&later, &["login"]);
    assert!(!format!("{later:?}").contains("dee-login"), "{later:?}");
}

#[test]
fn column_rules_set_at_run_time_take_effect_and_bad_patterns_are_refused() {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = shared_mariadb();
    db.exec(
        "CREATE DATABASE col_rt;
         CREATE TABLE col_rt.people (id INT PRIMARY KEY, name VARCHAR(20), email VARCHAR(60));
         CREATE TABLE col_rt.untouched (id INT PRIMARY KEY, email VARCHAR(60));
         INSERT INTO col_rt.people VALUES (1, 'ann', 'ann@x.org'), (2, 'bob', 'bob@x.org');
         INSERT INTO col_rt.untouched VALUES (1, 'u@x.org')",
    );
    let url = db.url();
    let redis = RedisServer::start(&["mysql-url", &url, "tables", "col_rt.*"]);
    wait_snapshot_done_and_caught_up(&redis, &db, CATCH_UP);
    assert!(format!("{:?}", entries(&redis, "col_rt", "people")).contains("ann@x.org"));

    // Malformed patterns are refused naming the parameter, and change nothing.
    for (param, value) in [
        ("cdc.exclude-columns", "col_rt.people"),
        ("cdc.exclude-columns", "a.b.c.d"),
        ("cdc.mask-columns", "email"),
        ("cdc.mask-columns", "col_rt.`people.email"),
        ("cdc.mask-columns", "col_rt..email"),
    ] {
        let before = reply_to_map(&redis.cmd(&["CONFIG", "GET", param]));
        let e = err_text(redis.try_cmd(&["CONFIG", "SET", param, value]));
        assert!(
            e.contains(param) && (e.contains("db.table.column") || e.contains("unterminated")),
            "CONFIG SET {param} {value:?}: {e}"
        );
        assert_eq!(before, reply_to_map(&redis.cmd(&["CONFIG", "GET", param])));
    }
    assert_eq!(status_field(&redis, "state"), "streaming");

    // A new pattern at run time: the table it names is re-read in the new form, and the
    // changes after it are masked; the other table is left alone.
    let untouched_before = xlen(&redis, "cdc:col_rt.untouched");
    redis.cmd(&["CONFIG", "SET", "cdc.mask-salt", "s1"]);
    redis.cmd(&["CONFIG", "SET", "cdc.mask-columns", "col_rt.people.email"]);
    let got = reply_to_map(&redis.cmd(&["CONFIG", "GET", "cdc.mask-columns"]));
    assert_eq!(got["cdc.mask-columns"], "col_rt.people.email");
    wait_until(
        Duration::from_secs(60),
        "the re-read of col_rt.people",
        || {
            entries(&redis, "col_rt", "people")
                .iter()
                .any(|(_, f)| field(f, "op") == Some("resync-end"))
        },
    );
    db.exec(
        "INSERT INTO col_rt.people VALUES (3, 'cid', 'cid@x.org');
         UPDATE col_rt.people SET email = 'ann2@x.org' WHERE id = 1",
    );
    wait_snapshot_done_and_caught_up(&redis, &db, CATCH_UP);
    let list = check_entries(&redis, "col_rt", "people");
    let expected = |salt: &str| {
        rows_of(
            &db,
            "",
            &format!(
                "SELECT id, name, SHA2(CONCAT('{salt}', email), 256) AS email FROM col_rt.people"
            ),
            &["id"],
            &["id"],
        )
    };
    assert_same(
        &replay_canonical(&list),
        &expected("s1"),
        "after mask-columns",
    );
    let resync_end = list
        .iter()
        .position(|(_, f)| field(f, "op") == Some("resync-end"))
        .expect("resync-end");
    assert!(
        !format!("{:?}", &list[resync_end..]).contains("@x.org"),
        "{list:?}"
    );
    assert_eq!(xlen(&redis, "cdc:col_rt.untouched"), untouched_before);

    // A new salt re-reads the masked table again: replay gives the new hashes.
    redis.cmd(&["CONFIG", "SET", "cdc.mask-salt", "s2"]);
    wait_until(Duration::from_secs(60), "the second re-read", || {
        entries(&redis, "col_rt", "people")
            .iter()
            .filter(|(_, f)| field(f, "op") == Some("resync-end"))
            .count()
            == 2
    });
    wait_snapshot_done_and_caught_up(&redis, &db, CATCH_UP);
    let list = check_entries(&redis, "col_rt", "people");
    assert_same(&replay_canonical(&list), &expected("s2"), "after mask-salt");
}

#[test]
fn the_mask_salt_never_appears_in_status_info_slowlog_or_the_log() {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    const SALT: &str = "Pepper-S3cret-Salt";
    let db = shared_mariadb();
    db.exec(
        "CREATE DATABASE col_salt;
         CREATE TABLE col_salt.t (id INT PRIMARY KEY, email VARCHAR(60));
         INSERT INTO col_salt.t VALUES (1, 'a@x.org')",
    );
    let url = db.url();
    let redis = RedisServer::start_with(
        &["--slowlog-log-slower-than", "0", "--loglevel", "debug"],
        &["mysql-url", &url, "tables", "col_salt.*"],
    );
    wait_snapshot_done_and_caught_up(&redis, &db, CATCH_UP);
    // Masking without a salt is warned about.
    redis.cmd(&["CONFIG", "SET", "cdc.mask-columns", "col_salt.t.email"]);
    wait_until(Duration::from_secs(30), "the empty-salt warning", || {
        status_field(&redis, "warnings").contains("cdc.mask-salt is empty")
    });
    redis.cmd(&["CONFIG", "SET", "cdc.mask-salt", SALT]);
    wait_until(Duration::from_secs(30), "the warning gone", || {
        !status_field(&redis, "warnings").contains("cdc.mask-salt")
    });
    db.exec("INSERT INTO col_salt.t VALUES (2, 'b@x.org')");
    wait_snapshot_done_and_caught_up(&redis, &db, CATCH_UP);
    let got = reply_to_map(&redis.cmd(&["CONFIG", "GET", "cdc.mask-salt"]));
    assert_eq!(
        got["cdc.mask-salt"], SALT,
        "CONFIG GET returns the value as set"
    );

    let places = [
        ("CDC.STATUS", value_to_string(&redis.cmd(&["CDC.STATUS"]))),
        ("CDC.TABLES", value_to_string(&redis.cmd(&["CDC.TABLES"]))),
        ("INFO", value_to_string(&redis.cmd(&["INFO", "everything"]))),
        (
            "SLOWLOG",
            value_to_json(&redis.cmd(&["SLOWLOG", "GET", "1000"])).to_string(),
        ),
        ("entries", format!("{:?}", entries(&redis, "col_salt", "t"))),
        ("redis log", redis.log()),
    ];
    for (what, text) in &places {
        assert!(!text.contains(SALT), "the salt appears in {what}:\n{text}");
    }
    assert!(
        places[3].1.contains("cdc.mask-salt"),
        "SLOWLOG should hold the CONFIG SET: {}",
        places[3].1
    );
    let expected = rows_of(
        &db,
        "",
        &format!("SELECT id, SHA2(CONCAT('{SALT}', email), 256) AS email FROM col_salt.t"),
        &["id"],
        &["id"],
    );
    let list = entries(&redis, "col_salt", "t");
    assert_same(&replay_canonical(&list), &expected, "col_salt.t");
}

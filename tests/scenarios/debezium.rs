//! `cdc.format debezium` / `debezium-extended` (docs/debezium.md) against a live MariaDB: every
//! column type decoded and compared with the form Debezium 3.6's MariaDB connector gives it
//! (`decimal.handling.mode=string`, default time precision), the envelope, the key, both sink
//! layouts with the extended layout's headers, key changes, keyless updates and schema-change
//! events.

use crate::support::*;
use serde_json::{json, Value};
use std::time::Duration;

const TABLE_DDL: &str = "CREATE TABLE test.types (
    id INT PRIMARY KEY,
    ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT, iu INT UNSIGNED,
    bi BIGINT, biu BIGINT UNSIGNED,
    dc DECIMAL(10,2), f FLOAT, d DOUBLE,
    b1 BIT(1), b16 BIT(16),
    dt DATE, dtm DATETIME, dtm3 DATETIME(3), dtm6 DATETIME(6),
    ts TIMESTAMP NULL, ts3 TIMESTAMP(3) NULL,
    tm TIME, tm6 TIME(6), yr YEAR,
    c CHAR(5), vc VARCHAR(20), tx TEXT, lat VARCHAR(10) CHARACTER SET latin1,
    bn BINARY(4), vb VARBINARY(10), bl BLOB,
    en ENUM('a','b','c'), st SET('x','y','z'),
    js JSON, g GEOMETRY, fmd FLOAT(7,3), y0 YEAR
)";

const INSERT: &str = "SET time_zone = '+00:00';
    INSERT INTO test.types VALUES (1,
    -5, 250, -300, -8388608, 4294967295,
    -9007199254740993, 18446744073709551615,
    '-12.50', 1.5, 2.25,
    b'1', b'0000000100000010',
    '2024-01-31', '2018-06-20 06:37:03', '2018-06-20 06:37:03.123', '2018-06-20 06:37:03.123456',
    '2024-01-31 12:34:56', '2024-01-31 12:34:56.120',
    '-838:59:59', '12:59:59.5', 2024,
    'ab', 'héllo', 'text', 'é',
    'ab', x'00ff', x'deadbeef',
    'b', 'z,x',
    '{\"a\": [1, \"x\"]}', ST_GeomFromText('POINT(1 2)', 0), 1234.567, 0);
    INSERT INTO test.types (id) VALUES (2);";

/// The `after` image Debezium's MariaDB connector gives the row inserted by INSERT.
fn expected_row_1() -> Value {
    json!({
        "id": 1,
        "ti": -5, "tiu": 250, "si": -300, "mi": -8388608, "iu": 4294967295u64,
        "bi": -9007199254740993i64,
        // `bigint.unsigned.handling.mode=long` would overflow this; we keep it exact (README).
        "biu": 18446744073709551615u64,
        "dc": "-12.50", "f": 1.5, "d": 2.25,
        // BIT(1) BOOLEAN; BIT(16) io.debezium.data.Bits, little-endian bytes [0x02, 0x01].
        "b1": true, "b16": "AgE=",
        // io.debezium.time.Date: days since the epoch.
        "dt": 19753,
        // io.debezium.time.Timestamp (fsp <= 3, ms) / MicroTimestamp (fsp > 3, µs); Debezium's
        // own example: 2018-06-20 06:37:03 -> 1529476623000.
        "dtm": 1529476623000i64, "dtm3": 1529476623123i64, "dtm6": 1529476623123456i64,
        // io.debezium.time.ZonedTimestamp: UTC, fsp fraction digits.
        "ts": "2024-01-31T12:34:56Z", "ts3": "2024-01-31T12:34:56.120Z",
        // io.debezium.time.MicroTime: signed microseconds.
        "tm": -3020399000000i64, "tm6": 46799500000i64,
        "yr": 2024,
        "c": "ab", "vc": "héllo", "tx": "text", "lat": "é",
        // binary.handling.mode=bytes, base64 in JSON; BINARY(4) right-padded with 0x00.
        "bn": "YWIAAA==", "vb": "AP8=", "bl": "3q2+7w==",
        "en": "b", "st": "x,z",
        // io.debezium.data.geometry.Geometry {wkb, srid}: WKB of POINT(1 2); SRID 0 is null
        // (BinlogGeometry.fromBytes).
        "g": {"wkb": "AQEAAAAAAAAAAADwPwAAAAAAAABA", "srid": null},
        // FLOAT(M,D) is a float64 in Debezium: the stored f32 widened, every digit; a plain
        // FLOAT (`f`) stays a float32.
        "fmd": 1234.5670166015625,
        // YEAR 0000 through the binlog: Debezium's deserializer reads 1900 + the stored 0.
        "y0": 1900,
    })
}

/// The fields of an extended entry: key, value and the four context headers, in the order the
/// sink writes them.
const CONTEXT_FIELDS: [&str; 6] = [
    "key",
    "value",
    "__DEBEZIUM.CONTEXT.CONNECTORNAME",
    "__DEBEZIUM.CONTEXT.CONNECTORLOGICALNAME",
    "__DEBEZIUM.CONTEXT.TASKID",
    "__DEBEZIUM.CONTEXT.RUNID",
];

fn start_pair(db: &MariaDb) -> (RedisServer, RedisServer) {
    let url = db.url();
    let common = [
        "mysql-url",
        url.as_str(),
        "snapshot",
        "never",
        "stream-prefix",
        "dbserver1.",
    ];
    let mut ext = common.to_vec();
    ext.extend(["format", "debezium-extended"]);
    let mut compact = common.to_vec();
    compact.extend(["format", "debezium"]);
    let a = RedisServer::start(&ext);
    let b = RedisServer::start(&compact);
    for r in [&a, &b] {
        wait_until(Duration::from_secs(30), "state streaming", || {
            status_map(&mut r.client()).get("state").map(String::as_str) == Some("streaming")
        });
    }
    (a, b)
}

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn debezium_entries_carry_every_type_in_debeziums_forms() {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = MariaDb::start();
    db.exec(TABLE_DDL);
    let server_id: u64 = db
        .query_one("SELECT @@server_id")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (ext, compact) = start_pair(&db);

    db.exec(INSERT);
    db.exec("UPDATE test.types SET vc = 'changed', js = '[]' WHERE id = 1; DELETE FROM test.types WHERE id = 2");
    let stream = "dbserver1.test.types";
    for r in [&ext, &compact] {
        wait_until(Duration::from_secs(30), "4 entries", || {
            stream_entries(&mut r.client(), stream).len() >= 4
        });
    }

    // debezium-extended: fields `key`, `value`, then the context headers as the sink writes
    // them (upper case, in its HashMap's order, JSON text).
    let entries = stream_entries(&mut ext.client(), stream);
    assert_eq!(entries.len(), 4, "{entries:?}");
    let names: Vec<Vec<&str>> = entries
        .iter()
        .map(|(_, f)| f.iter().map(|(k, _)| k.as_str()).collect())
        .collect();
    assert!(names.iter().all(|n| n == &CONTEXT_FIELDS), "{names:?}");
    let run_id = field(&entries[0].1, "__DEBEZIUM.CONTEXT.RUNID").unwrap_or_default();
    for (_, f) in &entries {
        assert_eq!(
            field(f, "__DEBEZIUM.CONTEXT.CONNECTORNAME"),
            Some("\"mariadb\"")
        );
        assert_eq!(
            field(f, "__DEBEZIUM.CONTEXT.CONNECTORLOGICALNAME"),
            Some("\"dbserver1\"")
        );
        assert_eq!(field(f, "__DEBEZIUM.CONTEXT.TASKID"), Some("\"0\""));
        assert_eq!(field(f, "__DEBEZIUM.CONTEXT.RUNID"), Some(run_id));
    }
    // A UUID, quoted: one per run of the pipeline.
    assert_eq!(run_id.len(), 38, "{run_id}");
    assert_eq!(&run_id[15..16], "4", "{run_id}");
    let keys: Vec<Value> = entries
        .iter()
        .map(|(_, f)| parse(field(f, "key").unwrap()))
        .collect();
    assert_eq!(
        keys,
        vec![
            json!({"id": 1}),
            json!({"id": 2}),
            json!({"id": 1}),
            json!({"id": 2})
        ]
    );
    let events: Vec<Value> = entries
        .iter()
        .map(|(_, f)| parse(field(f, "value").unwrap()))
        .collect();
    let ops: Vec<&str> = events
        .iter()
        .map(|e| e["op"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(ops, ["c", "c", "u", "d"]);

    // Every type, in Debezium's form (JSON is a string: compare what it encodes).
    let mut after = events[0]["after"].clone();
    let js = after
        .as_object_mut()
        .and_then(|o| o.remove("js"))
        .unwrap_or(Value::Null);
    assert_eq!(
        parse(js.as_str().unwrap_or("not a string")),
        json!({"a": [1, "x"]})
    );
    let expected = expected_row_1();
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(after.get(k), Some(v), "column {k}: got {:?}", after.get(k));
    }
    assert_eq!(
        after.as_object().unwrap().len(),
        expected.as_object().unwrap().len()
    );
    assert_eq!(events[0]["before"], Value::Null);
    // SQL NULL is null in every type.
    let nulls = events[1]["after"].as_object().unwrap();
    assert!(
        nulls.iter().all(|(k, v)| k == "id" || v.is_null()),
        "{nulls:?}"
    );

    // Update: before and after images; delete: before, after null.
    assert_eq!(events[2]["before"]["vc"], "héllo");
    assert_eq!(events[2]["after"]["vc"], "changed");
    assert_eq!(events[2]["after"]["js"], "[]");
    assert_eq!(events[3]["before"]["id"], 2);
    assert_eq!(events[3]["after"], Value::Null);

    // The source block.
    for e in &events {
        let s = &e["source"];
        // Debezium 3's MariaDB connector.
        assert_eq!(s["connector"], "mariadb");
        assert_eq!(s["name"], "dbserver1");
        assert_eq!(s["db"], "test");
        assert_eq!(s["table"], "types");
        assert_eq!(s["snapshot"], "false");
        assert_eq!(s["server_id"].as_u64(), Some(server_id));
        assert!(
            s["file"].as_str().unwrap_or("").starts_with("mysql-bin."),
            "{s}"
        );
        assert!(s["pos"].as_u64().unwrap_or(0) > 4, "{s}");
        assert!(s["gtid"].as_str().unwrap_or("").starts_with("0-"), "{s}");
        assert!(s["ts_ms"].as_u64().unwrap_or(0) > 1_600_000_000_000, "{s}");
        assert!(
            e["ts_ms"].as_u64().unwrap_or(0) >= s["ts_ms"].as_u64().unwrap_or(u64::MAX),
            "{e}"
        );
        for k in ["version", "sequence", "thread", "query"] {
            assert!(s.get(k).is_some(), "source.{k} missing: {s}");
        }
    }
    // Two rows of one event: row 0 and row 1 at one pos (the update and delete are separate
    // statements, so separate events).
    assert_eq!(events[0]["source"]["row"], 0);

    // debezium (compact): one pair, field = key JSON, value = the same event.
    let entries = stream_entries(&mut compact.client(), stream);
    assert_eq!(entries.len(), 4);
    for ((_, f), (k, e)) in entries.iter().zip(keys.iter().zip(events.iter())) {
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(&parse(&f[0].0), k);
        let mut got = parse(&f[0].1);
        let mut want = e.clone();
        // Processing times differ between the two servers.
        for v in [&mut got, &mut want] {
            for t in ["ts_ms", "ts_us", "ts_ns"] {
                v[t] = Value::Null;
            }
        }
        assert_eq!(got, want);
    }
}

#[test]
fn tables_without_primary_key_get_the_sinks_null_key() {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.log (msg VARCHAR(10))");
    let url = db.url();
    let r = RedisServer::start(&["mysql-url", &url, "snapshot", "never", "format", "debezium"]);
    wait_until(Duration::from_secs(30), "state streaming", || {
        status_map(&mut r.client()).get("state").map(String::as_str) == Some("streaming")
    });
    db.exec("INSERT INTO test.log VALUES ('hi')");
    wait_until(Duration::from_secs(30), "1 entry", || {
        stream_entries(&mut r.client(), "cdc:test.log").len() == 1
    });
    let entries = stream_entries(&mut r.client(), "cdc:test.log");
    let (k, v) = &entries[0].1[0];
    assert_eq!(k, "default");
    let e = parse(v);
    assert_eq!(e["after"], json!({"msg": "hi"}));
    assert_eq!(e["source"]["name"], "cdc");
}

fn start_streaming(args: &[&str]) -> RedisServer {
    let r = RedisServer::start(args);
    wait_until(Duration::from_secs(30), "state streaming", || {
        status_map(&mut r.client()).get("state").map(String::as_str) == Some("streaming")
    });
    r
}

#[test]
fn key_changes_and_keyless_updates_are_what_debezium_writes() {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.k (id INT PRIMARY KEY, v INT); CREATE TABLE test.nk (a INT, b INT)");
    let url = db.url();
    let ext = start_streaming(&[
        "mysql-url",
        &url,
        "snapshot",
        "never",
        "format",
        "debezium-extended",
    ]);
    let flat = start_streaming(&["mysql-url", &url, "snapshot", "never"]);
    db.exec(
        "INSERT INTO test.k VALUES (1, 10), (2, 20); INSERT INTO test.nk VALUES (1, 1), (2, 2);
         UPDATE test.k SET id = id + 100;
         UPDATE test.nk SET b = b * 10;",
    );
    wait_until(Duration::from_secs(30), "entries", || {
        stream_entries(&mut ext.client(), "cdc:test.k").len() >= 6
            && stream_entries(&mut ext.client(), "cdc:test.nk").len() >= 4
            && stream_entries(&mut flat.client(), "cdc:test.nk").len() >= 6
    });

    // The key change of each row: a `d` naming the new key, a `c` naming the old one, both
    // with the row's index in the update's rows event (Debezium gives both halves one source).
    let k = stream_entries(&mut ext.client(), "cdc:test.k");
    assert_eq!(k.len(), 6, "{k:?}");
    let halves = &k[2..];
    let ops: Vec<String> = halves
        .iter()
        .map(|(_, f)| parse(field(f, "value").unwrap())["op"].to_string())
        .collect();
    assert_eq!(ops, ["\"d\"", "\"c\"", "\"d\"", "\"c\""]);
    let rows: Vec<Value> = halves
        .iter()
        .map(|(_, f)| parse(field(f, "value").unwrap())["source"]["row"].clone())
        .collect();
    assert_eq!(rows, [json!(0), json!(0), json!(1), json!(1)]);
    let pos: Vec<Value> = halves
        .iter()
        .map(|(_, f)| parse(field(f, "value").unwrap())["source"]["pos"].clone())
        .collect();
    assert!(pos.iter().all(|p| *p == pos[0]), "one rows event: {pos:?}");
    let names =
        |f: &[(String, String)]| -> Vec<String> { f.iter().map(|(k, _)| k.clone()).collect() };
    assert_eq!(
        names(&halves[0].1),
        [
            "key",
            "value",
            "__DEBEZIUM.CONTEXT.CONNECTORNAME",
            "__DEBEZIUM.CONTEXT.CONNECTORLOGICALNAME",
            "__DEBEZIUM.CONTEXT.TASKID",
            "__DEBEZIUM.NEWKEY",
            "__DEBEZIUM.CONTEXT.RUNID",
        ]
    );
    assert_eq!(field(&halves[0].1, "key"), Some(r#"{"id":1}"#));
    assert_eq!(
        field(&halves[0].1, "__DEBEZIUM.NEWKEY"),
        Some(r#"{"id":101}"#)
    );
    assert_eq!(
        names(&halves[1].1),
        [
            "key",
            "value",
            "__DEBEZIUM.CONTEXT.CONNECTORNAME",
            "__DEBEZIUM.OLDKEY",
            "__DEBEZIUM.CONTEXT.CONNECTORLOGICALNAME",
            "__DEBEZIUM.CONTEXT.TASKID",
            "__DEBEZIUM.CONTEXT.RUNID",
        ]
    );
    assert_eq!(field(&halves[1].1, "key"), Some(r#"{"id":101}"#));
    assert_eq!(
        field(&halves[1].1, "__DEBEZIUM.OLDKEY"),
        Some(r#"{"id":1}"#)
    );
    // Other entries carry the context headers only.
    assert_eq!(names(&k[0].1), CONTEXT_FIELDS);

    // A table without a key: its UPDATE is one `u` per row, null key (`default`).
    let nk = stream_entries(&mut ext.client(), "cdc:test.nk");
    assert_eq!(nk.len(), 4, "{nk:?}");
    for (i, (_, f)) in nk[2..].iter().enumerate() {
        assert_eq!(field(f, "key"), Some("default"));
        let e = parse(field(f, "value").unwrap());
        assert_eq!(e["op"], "u");
        assert_eq!(e["source"]["row"], i as u64);
        let n = i as i64 + 1;
        assert_eq!(e["before"], json!({"a": n, "b": n}));
        assert_eq!(e["after"], json!({"a": n, "b": n * 10}));
    }
    // flat is untouched: there the keyless update is a `d` and a `c` per row.
    let flat_ops: Vec<String> = stream_entries(&mut flat.client(), "cdc:test.nk")
        .iter()
        .map(|(_, f)| field(f, "op").unwrap_or_default().to_string())
        .collect();
    assert_eq!(flat_ops, ["c", "c", "d", "c", "d", "c"]);
}

#[test]
fn ddl_of_captured_tables_is_a_schema_change_event_in_the_logical_names_stream() {
    if !module_built() {
        eprintln!("SKIP: module not built (cargo build --release)");
        return;
    }
    let db = MariaDb::start();
    db.exec("CREATE DATABASE other");
    let url = db.url();
    let common = [
        "mysql-url",
        url.as_str(),
        "snapshot",
        "never",
        "stream-prefix",
        "dbserver1.",
        "tables",
        "test.*",
    ];
    let with = |extra: &[&'static str]| {
        let mut a = common.to_vec();
        a.extend_from_slice(extra);
        start_streaming(&a)
    };
    let ext = with(&["format", "debezium-extended"]);
    let off = with(&["format", "debezium", "schema-changes", "no"]);
    let flat = with(&[]);
    db.exec(
        "CREATE TABLE test.sc (id INT PRIMARY KEY, name VARCHAR(20));
         ALTER TABLE test.sc ADD COLUMN f FLOAT(7,3) AFTER id;
         INSERT INTO test.sc VALUES (1, 1234.567, 'x');
         CREATE TABLE other.t (a INT);
         ALTER TABLE other.t ADD COLUMN b INT;
         RENAME TABLE test.sc TO test.sc2;
         DROP TABLE test.sc2;",
    );
    let (file, _) = db.master_status();
    wait_until(Duration::from_secs(30), "4 schema changes", || {
        stream_entries(&mut ext.client(), "dbserver1").len() >= 4
    });
    for r in [&ext, &off, &flat] {
        wait_caught_up(r, &db, Duration::from_secs(30));
    }
    let entries = stream_entries(&mut ext.client(), "dbserver1");
    assert_eq!(entries.len(), 4, "other.* is not captured: {entries:?}");
    for (_, f) in &entries {
        let names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, CONTEXT_FIELDS);
        assert_eq!(field(f, "key"), Some(r#"{"databaseName":"test"}"#));
    }
    let v: Vec<Value> = entries
        .iter()
        .map(|(_, f)| parse(field(f, "value").unwrap()))
        .collect();
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&v[0]),
        [
            "source",
            "ts_ms",
            "databaseName",
            "schemaName",
            "ddl",
            "tableChanges"
        ]
    );
    let types: Vec<&str> = v
        .iter()
        .map(|e| e["tableChanges"][0]["type"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(types, ["CREATE", "ALTER", "ALTER", "DROP"]);
    let ddl: Vec<&str> = v.iter().map(|e| e["ddl"].as_str().unwrap_or("?")).collect();
    assert_eq!(
        ddl,
        [
            "CREATE TABLE test.sc (id INT PRIMARY KEY, name VARCHAR(20))",
            "ALTER TABLE test.sc ADD COLUMN f FLOAT(7,3) AFTER id",
            "test.sc TO test.sc2",
            "DROP TABLE `test`.`sc2`",
        ]
    );
    for e in &v {
        assert_eq!(e["databaseName"], "test");
        assert_eq!(e["schemaName"], Value::Null);
        let s = &e["source"];
        assert_eq!(s["connector"], "mariadb");
        assert_eq!(s["name"], "dbserver1");
        assert_eq!(s["db"], "test");
        assert_eq!(s["file"].as_str(), Some(file.as_str()));
        assert_eq!(s["row"], 0);
        assert!(s["gtid"].as_str().unwrap_or("").starts_with("0-1-"), "{s}");
    }
    let ids: Vec<&str> = v
        .iter()
        .map(|e| e["tableChanges"][0]["id"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        ids,
        [
            "\"test\".\"sc\"",
            "\"test\".\"sc\"",
            "\"test\".\"sc2\"",
            "\"test\".\"sc2\""
        ]
    );
    // The table as it is after each statement.
    let columns = |e: &Value| -> Vec<(String, String, Value, Value)> {
        e["tableChanges"][0]["table"]["columns"]
            .as_array()
            .map(|cols| {
                cols.iter()
                    .map(|c| {
                        (
                            c["name"].as_str().unwrap_or("?").to_string(),
                            c["typeName"].as_str().unwrap_or("?").to_string(),
                            c["length"].clone(),
                            c["scale"].clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let col = |n: &str, t: &str, l: Value, s: Value| (n.to_string(), t.to_string(), l, s);
    assert_eq!(
        columns(&v[0]),
        [
            col("id", "INT", Value::Null, Value::Null),
            col("name", "VARCHAR", json!(20), Value::Null)
        ]
    );
    let after_alter = vec![
        col("id", "INT", Value::Null, Value::Null),
        col("f", "FLOAT", json!(7), json!(3)),
        col("name", "VARCHAR", json!(20), Value::Null),
    ];
    assert_eq!(columns(&v[1]), after_alter);
    assert_eq!(columns(&v[2]), after_alter);
    assert_eq!(
        v[1]["tableChanges"][0]["table"]["primaryKeyColumnNames"],
        json!(["id"])
    );
    assert_eq!(
        v[1]["tableChanges"][0]["table"]["columns"][0]["optional"],
        false
    );
    assert_eq!(
        v[1]["tableChanges"][0]["table"]["columns"][0]["jdbcType"],
        4
    );
    assert_eq!(
        v[1]["tableChanges"][0]["table"]["columns"][1]["jdbcType"],
        6
    );
    assert_eq!(v[3]["tableChanges"][0]["table"], Value::Null);

    // The row written between the DDL: FLOAT(7,3) in Debezium's double form (the shape
    // followed through the ALTER knows the declared scale).
    // The ALTER also re-reads test.sc; whether that read still finds the row before the
    // DROP depends on timing, so only the `c` is looked at.
    let creates: Vec<Value> = stream_entries(&mut ext.client(), "dbserver1.test.sc")
        .iter()
        .filter_map(|(_, f)| field(f, "value").map(parse))
        .filter(|e| e["op"] == "c")
        .collect();
    assert_eq!(creates.len(), 1, "{creates:?}");
    let e = &creates[0];
    assert_eq!(
        e["after"],
        json!({"id": 1, "f": 1234.5670166015625, "name": "x"})
    );

    // cdc.schema-changes no, and the flat format: no schema-change stream at all.
    for r in [&off, &flat] {
        assert!(stream_entries(&mut r.client(), "dbserver1").is_empty());
    }
    // CDC.TABLES lists tables only, with their own streams.
    let tables = format!("{:?}", ext.cmd(&["CDC.TABLES"]));
    assert!(!tables.contains("\"dbserver1\""), "{tables}");

    // Turned off at run time (while paused, so that no session reads the DDL before the
    // setting took effect): the DDL after it writes nothing, the rows still come.
    ext.cmd(&["CONFIG", "SET", "cdc.enabled", "no"]);
    wait_until(Duration::from_secs(30), "state paused", || {
        status_map(&mut ext.client())
            .get("state")
            .map(String::as_str)
            == Some("paused")
    });
    ext.cmd(&["CONFIG", "SET", "cdc.schema-changes", "no"]);
    let got = format!("{:?}", ext.cmd(&["CONFIG", "GET", "cdc.schema-changes"]));
    assert!(got.contains("no"), "{got}");
    db.exec("CREATE TABLE test.later (id INT PRIMARY KEY); INSERT INTO test.later VALUES (1)");
    ext.cmd(&["CONFIG", "SET", "cdc.enabled", "yes"]);
    wait_until(Duration::from_secs(30), "the row after the DDL", || {
        stream_entries(&mut ext.client(), "dbserver1.test.later").len() == 1
    });
    assert_eq!(stream_entries(&mut ext.client(), "dbserver1").len(), 4);
}

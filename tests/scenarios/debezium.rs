//! `cdc.format debezium` / `debezium-extended` (docs/debezium.md) against a live MariaDB: every
//! column type decoded and compared with the form Debezium's MySQL connector documents for it
//! (`decimal.handling.mode=string`, default time precision), the envelope, the key, and both
//! sink layouts.

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
    js JSON, g GEOMETRY
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
    '{\"a\": [1, \"x\"]}', ST_GeomFromText('POINT(1 2)', 0));
    INSERT INTO test.types (id) VALUES (2);";

/// The `after` image Debezium's MySQL connector documents for the row inserted by INSERT.
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
        // io.debezium.data.geometry.Geometry {wkb, srid}: WKB of POINT(1 2).
        "g": {"wkb": "AQEAAAAAAAAAAADwPwAAAAAAAABA", "srid": 0},
    })
}

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

    // debezium-extended: fields `key` and `value`.
    let entries = stream_entries(&mut ext.client(), stream);
    assert_eq!(entries.len(), 4, "{entries:?}");
    let names: Vec<Vec<&str>> = entries
        .iter()
        .map(|(_, f)| f.iter().map(|(k, _)| k.as_str()).collect())
        .collect();
    assert!(names.iter().all(|n| n == &["key", "value"]), "{names:?}");
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
        assert_eq!(s["connector"], "mysql");
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

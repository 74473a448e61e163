//! CDC.WAIT (docs/commands.md): read your writes. An application commits to MariaDB, takes its
//! transaction's GTID (or the binlog position) and waits for the module to have written it.

use crate::support::*;
use mysql::prelude::Queryable;
use std::time::Duration;

fn err_text(r: redis::RedisResult<redis::Value>) -> String {
    match r {
        Ok(v) => panic!("succeeded: {v:?}"),
        Err(e) => e.to_string(),
    }
}

/// 1000 commits: after CDC.WAIT with the transaction's `@@last_gtid`, the row is always in the
/// stream (the last entry is its insert). Also the FILE:OFFSET form.
#[test]
fn a_committed_row_is_always_in_the_stream_after_cdc_wait_of_its_gtid() {
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.w (id INT PRIMARY KEY, v VARCHAR(20))");
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    let mut conn = db.conn();
    let mut client = r.client();
    for i in 1..=1000 {
        conn.query_drop(format!("INSERT INTO test.w VALUES ({i}, 'v{i}')"))
            .unwrap();
        let gtid = last_gtid(&mut conn);
        let reached = cdc_wait(&mut client, &gtid);
        assert!(reached.contains("0-1-"), "{reached}");
        let last: redis::Value = redis::cmd("XREVRANGE")
            .arg("cdc:test.w")
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query(&mut client)
            .unwrap();
        let entries = parse_entries(&last);
        let key = entries.first().and_then(|(_, f)| field(f, "key"));
        assert_eq!(
            key,
            Some(format!("{{\"id\":{i}}}").as_str()),
            "row {i} not in the stream after CDC.WAIT {gtid}"
        );
    }
    // FILE:OFFSET, as SHOW MASTER STATUS gives it.
    conn.query_drop("UPDATE test.w SET v = 'x' WHERE id = 1")
        .unwrap();
    let (file, pos) = db.master_status();
    let reached = value_to_string(&r.cmd(&["CDC.WAIT", &format!("{file}:{pos}"), "10000"]));
    assert!(reached.contains(&file), "{reached}");
    // A position already written answers at once, also with timeout 0 (no limit).
    let reached = value_to_string(&r.cmd(&["CDC.WAIT", "0-1-1"]));
    assert!(reached.contains("0-1-"), "{reached}");
}

/// A wait blocks only its client; it ends when the position is written, or with TIMEOUT naming
/// both positions; bad input is an error naming the accepted forms; MULTI is refused.
#[test]
fn cdc_wait_blocks_only_its_client_and_times_out_clearly() {
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.w (id INT PRIMARY KEY)");
    let r = RedisServer::start(&["mysql-url", &db.url()]);
    wait_snapshot_done_and_caught_up(&r, &db, Duration::from_secs(60));
    db.exec("INSERT INTO test.w VALUES (1)");
    let now: String = db
        .conn()
        .query_first("SELECT @@gtid_binlog_pos")
        .unwrap()
        .unwrap();
    let seq: u64 = now.rsplit('-').next().unwrap().parse().unwrap();
    let future = format!("0-1-{}", seq + 3);

    let e = err_text(r.try_cmd(&["CDC.WAIT", &future, "200"]));
    assert!(
        e.contains("TIMEOUT") && e.contains(&future) && e.contains(&now),
        "{e}"
    );
    // Forever (no timeout) in another client, while this one goes on.
    let mut waiting = r.client();
    let target = future.clone();
    let waiter = std::thread::spawn(move || -> String {
        redis::cmd("CDC.WAIT")
            .arg(&target)
            .query(&mut waiting)
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(value_to_string(&r.cmd(&["PING"])), "PONG");
    assert!(!waiter.is_finished());
    db.exec("INSERT INTO test.w VALUES (2)");
    db.exec("INSERT INTO test.w VALUES (3)");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!waiter.is_finished(), "woken before its position");
    db.exec("INSERT INTO test.w VALUES (4)");
    let reached = waiter.join().unwrap();
    assert!(reached.contains(&future), "{reached}");

    for bad in ["nope", "0-1", "mysql-bin.000001:x"] {
        let e = err_text(r.try_cmd(&["CDC.WAIT", bad]));
        assert!(e.contains("FILE:OFFSET") && e.contains("GTID"), "{e}");
    }
    let e = err_text(r.try_cmd(&["CDC.WAIT", "0-1-1", "-5"]));
    assert!(e.contains("timeout-ms"), "{e}");
    // Inside MULTI: refused when it would block (EXEC returns the error in its place).
    let mut c = r.client();
    let replies: redis::RedisResult<Vec<redis::Value>> = redis::pipe()
        .atomic()
        .cmd("CDC.WAIT")
        .arg(format!("0-1-{}", seq + 100))
        .query(&mut c);
    let text = format!("{replies:?}");
    assert!(text.contains("MULTI"), "{text}");
    assert_eq!(value_to_string(&r.cmd(&["PING"])), "PONG");
}

/// On a replica, CDC.WAIT waits for the replicated position.
#[test]
fn cdc_wait_on_a_replica_waits_for_the_replicated_position() {
    let db = MariaDb::start();
    db.exec("CREATE TABLE test.w (id INT PRIMARY KEY)");
    let primary = RedisServer::start(&["mysql-url", &db.url()]);
    wait_snapshot_done_and_caught_up(&primary, &db, Duration::from_secs(60));
    let port = primary.port().to_string();
    let replica = RedisServer::start_with(
        &["--replicaof", "127.0.0.1", &port],
        &["mysql-url", &db.url()],
    );
    wait_until(Duration::from_secs(30), "the replica to sync", || {
        info_field(&replica, "replication", "master_link_status").as_deref() == Some("up")
    });
    let mut conn = db.conn();
    let mut client = replica.client();
    for i in 1..=50 {
        conn.query_drop(format!("INSERT INTO test.w VALUES ({i})"))
            .unwrap();
        let gtid = last_gtid(&mut conn);
        cdc_wait(&mut client, &gtid);
        let n: u64 = redis::cmd("XLEN")
            .arg("cdc:test.w")
            .query(&mut client)
            .unwrap();
        assert_eq!(n, i, "the replica lacks row {i} after CDC.WAIT {gtid}");
    }
}

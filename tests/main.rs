//! The integration tests, one binary: each module below is one scenario file of
//! `tests/scenarios/`, and `support` holds the servers and helpers they share. A test's name is
//! its file and function (`faults::purged_binlog_position_gives_error_naming_position_and_fix`);
//! run one file with `cargo test --release --test main faults::`.
//!
//! The tests that start servers need the module built first (`cargo build --release`).

mod support;

#[path = "scenarios/cluster.rs"]
mod cluster;
#[path = "scenarios/columns.rs"]
mod columns;
#[path = "scenarios/commands.rs"]
mod commands;
#[path = "scenarios/ddl.rs"]
mod ddl;
#[path = "scenarios/debezium.rs"]
mod debezium;
#[path = "scenarios/ecosystem.rs"]
mod ecosystem;
#[path = "scenarios/faults.rs"]
mod faults;
#[path = "scenarios/fixtures.rs"]
mod fixtures;
#[path = "scenarios/fuzz_decode.rs"]
mod fuzz_decode;
#[path = "scenarios/gencols.rs"]
mod gencols;
#[path = "scenarios/harness.rs"]
mod harness;
#[path = "scenarios/live.rs"]
mod live;
#[path = "scenarios/mirror.rs"]
mod mirror;
#[path = "scenarios/redaction.rs"]
mod redaction;
#[path = "scenarios/replication.rs"]
mod replication;
#[path = "scenarios/resync.rs"]
mod resync;
#[path = "scenarios/snapshot.rs"]
mod snapshot;
#[path = "scenarios/statements.rs"]
mod statements;
#[path = "scenarios/sysver.rs"]
mod sysver;
#[path = "scenarios/tls.rs"]
mod tls;
#[path = "scenarios/types.rs"]
mod types;
#[path = "scenarios/valkey.rs"]
mod valkey;
#[path = "scenarios/wait.rs"]
mod wait;

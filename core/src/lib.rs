//! redis-cdc-core: everything of redis-cdc that needs neither Redis nor a network connection.
//!
//! The model (row changes, table shapes, positions, checkpoints, batches), value decoding (one
//! MySQL type table for binlog and SELECT values), the entry formats, the table filter, the
//! column rules (excluded and masked columns) and the DDL follower. The module crate
//! (`redis-cdc`) does the I/O around it; this crate has no `redis-module` dependency, so the
//! compiler keeps it Redis-free, and its unit tests run without any server.

pub mod assemble;
pub mod calendar;
pub mod cluster;
pub mod columns;
pub mod decode;
pub mod filter;
pub mod format;
pub mod model;
pub mod schema;

/// The version of redis-cdc (the module and this crate share it), as the Debezium `source`
/// block reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

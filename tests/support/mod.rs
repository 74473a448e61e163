//! The support library of the integration tests (`tests/main.rs`) and of the bench
//! (`benches/cdc.rs`):
//!
//! * `servers`: throwaway MariaDB and redis-server processes (`MariaDb`, `RedisServer`, the
//!   MariaDB shared by tests that do not restart it);
//! * `streams`: replies, stream entries, CDC.STATUS and positions read back, waiting for the
//!   module, and "replay of a stream is its table";
//! * `load`: a load of small transactions that survives its servers being killed, and the one
//!   end-to-end check of what the module wrote of it (`verify_load`);
//! * `cluster`: a Redis Cluster of such servers (`Cluster`), for the cluster scenarios and
//!   `make bench MODE=cluster`;
//! * `wheels`: valkey-server and the RediSearch / RedisJSON modules from the PyPI wheels in
//!   `.tmp/venv` (`Flavor::valkey()`, `Flavor::valkey_with_stack()` start a `RedisServer` on
//!   them), and the `SKIP:` line of the tests that need them.

mod cluster;
mod load;
mod servers;
mod streams;
pub mod wheels;

pub use cluster::*;
pub use load::*;
pub use servers::*;
pub use streams::*;

use std::time::Duration;

/// How long a module may take to reach `streaming` (connect, or reconnect after a fault).
pub const STREAMING: Duration = Duration::from_secs(60);
/// How long a module may take to write everything the source has committed.
pub const CATCH_UP: Duration = Duration::from_secs(120);

//! What the worker threads of a session tell the supervisor about the pipeline state.
//!
//! Only the supervisor sets the state shown by CDC.STATUS. The writer and the snapshot thread
//! send a [`StateEvent`] instead; the supervisor wakes on it and applies it at once, with the
//! same conditions the threads used to check (so a state shows when it did before).
//!
//! This module imports nothing of the crate, so `source/` and `sink` can use it without
//! importing the supervisor.

/// A change of the pipeline's condition seen by a worker thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateEvent {
    /// The writer saw Redis memory cross `cdc.max-memory-percent`: above (true) or back
    /// below (false). `streaming` becomes `backpressure` and back.
    Backpressure(bool),
    /// The snapshot thread has tables to read (true) or has none left (false).
    /// `streaming`/`connecting` becomes `snapshotting`, and `snapshotting` becomes `streaming`.
    Snapshotting(bool),
}

/// The sending end each worker thread holds.
pub type StateEvents = crossbeam_channel::Sender<StateEvent>;

//! The data the pipeline passes along: row changes, positions and checkpoints, batches.

pub mod batch;
pub mod change;
pub mod name;
pub mod position;
pub mod wait;

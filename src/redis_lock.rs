//! The Redis lock as the writer and the supervisor take it: a detached thread-safe context
//! whose lock can be tried (so that a thread waiting for it still notices a stop request), and
//! the calls a module thread makes about the server. The FFI lives in `ffi::thread_ctx`.

pub use crate::ffi::thread_ctx::{used_memory_ratio, wake_event_loop, DetachedCtx, Locked};

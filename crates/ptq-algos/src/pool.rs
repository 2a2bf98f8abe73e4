//! The worker pools the algorithms run their parallel loops on.

use crate::error::AlgoError;

/// A rayon pool of `threads` workers (0: one per core).
pub fn pool(threads: usize) -> Result<rayon::ThreadPool, AlgoError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| AlgoError::Option(format!("cannot start {threads} worker threads: {e}")))
}

//! How many threads a kernel may use.

/// Whether a kernel may split its work across threads.
///
/// `Pool` runs on the current pool: the [`crate::Pool`] installed on the
/// calling thread with [`crate::Pool::install`], else rayon's current pool
/// (the global one unless the caller installed another); inside a task of a
/// [`crate::Pool`] job it runs on the calling thread. Kernels split work only
/// where it is large enough to pay; the result is the same as with `Single`
/// up to floating-point summation order, which can differ between the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// Run on the calling thread only.
    Single,
    /// Split work across the current pool.
    Pool,
}

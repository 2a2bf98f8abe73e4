//! How many threads a kernel may use.

/// Whether a kernel may use rayon worker threads.
///
/// `Rayon` runs on the current rayon pool (the global one unless the caller
/// installed another) and splits work only where it is large enough to pay;
/// the result is the same as with `Single` up to floating-point summation
/// order, which can differ between the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// Run on the calling thread only.
    Single,
    /// Split work across the current rayon pool.
    Rayon,
}

//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong collecting, merging, saving or loading
/// statistics. Bad input from callers (shapes, axes, incompatible collectors,
/// hostile files) is reported here, never by a panic.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The data length is not the product of the shape (or the product overflows).
    #[error("data has {len} elements but shape {shape:?} needs {expected}")]
    ShapeMismatch { shape: Vec<usize>, len: usize, expected: String },
    /// The per-channel axis does not exist in the sample's shape.
    #[error("channel axis {axis} does not exist in a tensor of rank {rank}")]
    AxisOutOfRange { axis: usize, rank: usize },
    /// A sample's channel count differs from the one fixed by the first sample.
    #[error("sample has {found} channels but earlier samples had {expected}")]
    ChannelMismatch { expected: usize, found: usize },
    /// Two collectors (or sets) that cannot be merged.
    #[error("cannot merge statistics: {0}")]
    Incompatible(String),
    /// A count would exceed `u64::MAX`.
    #[error("statistics counter overflow")]
    Overflow,
    /// `quantile` on a collector that keeps no histogram.
    #[error("no histogram is kept for these statistics (per-channel, or histogram_bins = 0)")]
    NoHistogram,
    /// `quantile` on a collector that has seen no finite value.
    #[error("no finite values have been observed")]
    NoSamples,
    /// A quantile outside `[0, 1]` (or NaN).
    #[error("quantile {0} is not in [0, 1]")]
    InvalidQuantile(f64),
    /// Statistics that violate the collector's invariants (from a file or a
    /// deserializer).
    #[error("inconsistent statistics: {0}")]
    Invalid(String),
    /// Reading or writing a statistics file failed.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A statistics file that is not valid JSON of the expected form.
    #[error("{}: {msg}", path.display())]
    Format { path: PathBuf, msg: String },
    /// A statistics file written by an unknown format version.
    #[error("{}: unsupported statistics format version {found} (this build reads version {supported})", path.display())]
    UnsupportedVersion { path: PathBuf, found: u64, supported: u32 },
}

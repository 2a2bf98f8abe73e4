//! Streaming, mergeable tensor statistics for calibration.
//!
//! A [`TensorStats`] collector watches one tensor over a stream of samples
//! (one `update` per dataset item) and keeps, per tensor or per channel
//! ([`Granularity`]): global min/max, the means over samples of the
//! per-sample min, max and max |x| (NNCF's MEAN_MINMAX aggregators), mean and
//! standard deviation, and, per tensor, a fixed-size histogram for
//! quantiles. Memory does not grow with the number of samples, NaN and
//! infinities are skipped and counted, and collectors fed with different
//! samples [`merge`](TensorStats::merge) into what one collector fed with
//! all of them would hold, so calibration can run in parallel.
//!
//! A [`StatsSet`] holds the collectors of one model by value name and
//! saves/loads them as JSON (atomically; loading validates everything).
//!
//! ```
//! use ptq_stats::{StatsConfig, TensorStats};
//!
//! let mut s = TensorStats::new(&StatsConfig::per_channel(1));
//! s.update(&[1, 2, 2], &[1.0, -1.0, 4.0, 0.5])?;
//! s.update(&[1, 2, 2], &[3.0, 2.0, 8.0, 2.0])?;
//! assert_eq!(s.min(), &[-1.0, 0.5]);
//! assert_eq!(s.mean_max(), vec![2.0, 6.0]);
//! # Ok::<(), ptq_stats::StatsError>(())
//! ```
#![forbid(unsafe_code)]

mod collector;
mod config;
mod error;
mod histogram;
mod reduce;
mod set;
mod sum;
mod wire;

pub use collector::{TensorStats, quantile_in_place};
pub use config::{DEFAULT_HISTOGRAM_BINS, Granularity, MAX_HISTOGRAM_BINS, StatsConfig};
pub use error::StatsError;
pub use histogram::Histogram;
pub use set::{FORMAT_NAME, FORMAT_VERSION, StatsSet};

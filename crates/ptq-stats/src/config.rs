//! What a collector keeps: granularity and histogram size.

use serde::{Deserialize, Serialize};

/// Histogram size of [`StatsConfig::default`].
pub const DEFAULT_HISTOGRAM_BINS: usize = 2048;

/// Largest histogram a collector keeps (and a loaded file may declare).
pub const MAX_HISTOGRAM_BINS: usize = 1 << 20;

/// Largest [`StatsConfig::quantile_ppm`]: `q = 0.5`.
pub const MAX_QUANTILE_PPM: u32 = 500_000;

/// Which axis statistics are kept per channel for, if any.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Granularity {
    /// One set of statistics over all elements.
    PerTensor,
    /// One set of statistics per index along `axis` (reduced over all other axes).
    PerChannel { axis: usize },
}

/// What to collect for one observed tensor.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatsConfig {
    pub granularity: Granularity,
    /// Keep a histogram (per-tensor only) for quantiles; 0 = none. Default 2048.
    ///
    /// A collector normalizes this (see [`StatsConfig::normalized`]): ignored
    /// (0) for per-channel statistics, at least 2, at most
    /// [`MAX_HISTOGRAM_BINS`].
    pub histogram_bins: usize,
    /// Keep each sample's `q` and `1 − q` quantiles, with `q` this many
    /// millionths (NNCF's QUANTILE reducer; per-tensor only, at most half a
    /// million); 0 = none.
    #[serde(default)]
    pub quantile_ppm: u32,
}

impl Default for StatsConfig {
    /// Per-tensor with a [`DEFAULT_HISTOGRAM_BINS`] histogram.
    fn default() -> Self {
        StatsConfig { granularity: Granularity::PerTensor, histogram_bins: DEFAULT_HISTOGRAM_BINS, quantile_ppm: 0 }
    }
}

impl StatsConfig {
    /// Per-tensor statistics with a histogram of `histogram_bins` bins (0 = none).
    pub fn per_tensor(histogram_bins: usize) -> Self {
        StatsConfig { granularity: Granularity::PerTensor, histogram_bins, quantile_ppm: 0 }
    }

    /// Per-channel statistics along `axis` (no histogram).
    pub fn per_channel(axis: usize) -> Self {
        StatsConfig { granularity: Granularity::PerChannel { axis }, histogram_bins: 0, quantile_ppm: 0 }
    }

    /// The configuration a collector actually uses: no histogram for
    /// per-channel statistics; otherwise 0 stays 0 (none), 1 becomes 2 (a
    /// histogram needs two bins to hold values on both sides of zero) and
    /// sizes above [`MAX_HISTOGRAM_BINS`] are clamped to it.
    pub fn normalized(&self) -> StatsConfig {
        let histogram_bins = match self.granularity {
            Granularity::PerChannel { .. } => 0,
            Granularity::PerTensor => match self.histogram_bins {
                0 => 0,
                n => n.clamp(2, MAX_HISTOGRAM_BINS),
            },
        };
        let quantile_ppm = match self.granularity {
            Granularity::PerChannel { .. } => 0,
            Granularity::PerTensor => self.quantile_ppm.min(MAX_QUANTILE_PPM),
        };
        StatsConfig { granularity: self.granularity.clone(), histogram_bins, quantile_ppm }
    }

    /// The per-channel axis, if any.
    pub(crate) fn axis(&self) -> Option<usize> {
        match self.granularity {
            Granularity::PerTensor => None,
            Granularity::PerChannel { axis } => Some(axis),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization() {
        assert_eq!(StatsConfig::default().normalized(), StatsConfig::per_tensor(2048));
        assert_eq!(StatsConfig::per_tensor(0).normalized().histogram_bins, 0);
        assert_eq!(StatsConfig::per_tensor(1).normalized().histogram_bins, 2);
        assert_eq!(StatsConfig::per_tensor(usize::MAX).normalized().histogram_bins, MAX_HISTOGRAM_BINS);
        let pc =
            StatsConfig { granularity: Granularity::PerChannel { axis: 1 }, histogram_bins: 2048, quantile_ppm: 7 };
        assert_eq!(pc.normalized(), StatsConfig::per_channel(1));
        assert_eq!(pc.axis(), Some(1));
        assert_eq!(StatsConfig::default().axis(), None);
    }
}

//! Accuracy-control settings, with NNCF's defaults.

use ptq_algos::RestoreMode;

/// How the drop is measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum DropType {
    /// `fp32 − int8`.
    #[default]
    Absolute,
    /// `|1 − int8 / fp32|`.
    Relative,
}

/// Settings of [`crate::quantize_with_accuracy_control`].
#[derive(Clone, Debug)]
pub struct AccuracyOptions {
    /// Largest acceptable drop (default 0.01).
    pub max_drop: f64,
    pub drop_type: DropType,
    /// Most groups reverted (default: no limit).
    pub max_num_iterations: usize,
    /// Items the ranking scores each group on (default: the quantization
    /// subset size, 300).
    pub ranking_subset_size: Option<usize>,
    pub restore_mode: RestoreMode,
}

impl Default for AccuracyOptions {
    fn default() -> Self {
        AccuracyOptions {
            max_drop: 0.01,
            drop_type: DropType::Absolute,
            max_num_iterations: usize::MAX,
            ranking_subset_size: None,
            restore_mode: RestoreMode::ActivationsAndWeights,
        }
    }
}

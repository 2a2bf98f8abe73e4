//! `ptq quantize --model M --data D --output OUT`: INT8 post-training
//! quantization with NNCF's defaults, a progress bar, a closing summary and
//! an optional JSON report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use ptq::StatsCache;
use ptq::{
    Dataset, Event, IgnoredScope, ModelType, OverflowFix, Preset, QuantizeOptions, RangeEstimator, SmoothQuantAlphas,
    WeightRange,
};

/// Arguments of `ptq quantize`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The FP32 model.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub source: super::Source,
    /// Calibration data: a directory of .npz files (one item each, arrays
    /// named after the model inputs) or one .npz whose arrays have a leading
    /// item axis.
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write the INT8 model (same format as the input).
    #[arg(long)]
    pub output: PathBuf,
    /// Activation scheme: performance (symmetric) or mixed (asymmetric).
    /// Default: mixed for transformers, else performance.
    #[arg(long, value_parser = ["performance", "mixed"])]
    pub preset: Option<String>,
    /// Model type with its own defaults. Without it, attention blocks and
    /// layer norms are detected and turn the transformer settings on.
    #[arg(long, value_parser = ["transformer"])]
    pub model_type: Option<String>,
    /// Do not detect transformer structure when --model-type is not given.
    #[arg(long)]
    pub no_model_type_detection: bool,
    /// Calibration items used.
    #[arg(long, default_value_t = 300)]
    pub subset_size: usize,
    /// Node names to keep in float.
    #[arg(long, num_args = 1..)]
    pub ignore_names: Vec<String>,
    /// Regular expressions on node names (anchored at the start) to keep in float.
    #[arg(long, num_args = 1..)]
    pub ignore_patterns: Vec<String>,
    /// Op types to keep in float (e.g. Add Mul).
    #[arg(long, num_args = 1..)]
    pub ignore_types: Vec<String>,
    /// Turn bias correction off (NNCF's `disable_bias_correction`).
    #[arg(long)]
    pub no_bias_correction: bool,
    /// Full BiasCorrection instead of the fast form: the quantized model
    /// runs on a fifth of the calibration items and every corrected layer's
    /// output mean is brought back to the float model's (NNCF's
    /// `fast_bias_correction=False`).
    #[arg(long, conflicts_with = "no_bias_correction")]
    pub no_fast_bias_correction: bool,
    /// Largest |shift / bias| a bias correction applies [default: 2; NNCF
    /// uses 1000 for the full form].
    #[arg(long)]
    pub bias_correction_threshold: Option<f32>,
    /// ChannelAlignment: centre and equalize the channels between two
    /// convolutions with nothing in between (NNCF's, off by default).
    #[arg(long)]
    pub channel_alignment: bool,
    /// Quantize convolution outputs that float ops read, so onnxruntime runs
    /// those convolutions as QLinearConv (default: on for ONNX except transformer-type models, off for IR).
    #[arg(long, value_parser = ["on", "off"])]
    pub conv_outputs: Option<String>,
    /// Also quantize inside Loop and Scan bodies (If branches always are);
    /// off by default because a recurrent body's error compounds over the
    /// iterations.
    #[arg(long)]
    pub quantize_loop_bodies: bool,
    /// Activation ranges: the mean of each item's min and max (NNCF's
    /// default), the min and max over all items (onnxruntime's MinMax), the
    /// range between the two with the least squared quantization error over
    /// a histogram of the calibration values, or whichever of the three
    /// gives outputs closest to the float model's on the first calibration
    /// items [default: auto]
    /// `quantile` and `mean-quantile` are NNCF's QUANTILE and MEAN_QUANTILE
    /// (each item's 1e-4 and 1 − 1e-4 quantiles: their extremes, or their
    /// means).
    #[arg(long, alias = "activations-range", value_parser = ["mean-min-max", "min-max", "mse", "quantile", "mean-quantile", "auto"])]
    pub range_estimator: Option<String>,
    /// Weight ranges, per channel: the maximum |w| (NNCF's default), the
    /// 1 − 1e-4 quantile of |w|, or the clipping point with the least
    /// squared error over the channel [default: min-max]
    #[arg(long, value_parser = ["min-max", "quantile", "mse"])]
    pub weights_range: Option<String>,
    /// SmoothQuant's alpha for MatMul and Gemm. Default: for transformers,
    /// whichever of NNCF's 0.95, 0.75 and no smoothing gives outputs closest
    /// to the float model's on the first calibration items; other models
    /// none. Given, it is used on any model; negative turns SmoothQuant off.
    #[arg(long, allow_hyphen_values = true)]
    pub smooth_quant_alpha: Option<f32>,
    /// SmoothQuant's alpha for convolutions (default: off, as NNCF).
    #[arg(long, allow_hyphen_values = true)]
    pub smooth_quant_conv_alpha: Option<f32>,
    /// 7-bit weights (NNCF's overflow fix), so that int8 kernels built on
    /// `vpmaddubsw` (onnxruntime's and OpenVINO's on x86 CPUs without
    /// VNNI) cannot saturate and give the same answers as on VNNI CPUs: on
    /// the layers whose products could saturate for their calibrated input
    /// ranges (auto), on every Conv/MatMul/Gemm weight (all), on the first
    /// convolutions (first-layer, NNCF's default) or none [default: auto]
    #[arg(long, value_parser = ["auto", "all", "first-layer", "none"])]
    pub overflow_fix: Option<String>,
    /// Keep embedding tables (the constant data of Gather nodes) in float
    /// instead of int8 with one scale per row.
    #[arg(long)]
    pub float_embeddings: bool,
    /// Keep the weights of squeeze-and-excitation gates in float instead of
    /// int8 (their activations stay float either way).
    #[arg(long)]
    pub float_se_weights: bool,
    /// Also measure each quantizer's share of the output error: the model's
    /// output SQNR with only that quantizer enabled, on the first eight
    /// calibration items (one extra quantized model per quantizer).
    #[arg(long)]
    pub diagnose: bool,
    /// Write a JSON report (every quantizer's range and scale, ignored nodes,
    /// timings).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Validation data (same layouts as --data; an extra `labels` array
    /// gives top-1 accuracy, else the cosine similarity of the INT8 model's
    /// first output to the FP32 model's): prints FP32 and INT8 metrics.
    #[arg(long, alias = "validation")]
    pub valid: Option<PathBuf>,
    /// Accuracy control: revert the quantizer groups that hurt the
    /// validation metric most until its drop is at most this (e.g. 0.01).
    /// Needs --validation.
    #[arg(long)]
    pub max_drop: Option<f64>,
    /// Accuracy-control metric: top1 (needs labels) or cosine (mean cosine
    /// similarity of the first output to FP32's). Default: top1 when labels
    /// are given.
    #[arg(long, value_parser = ["top1", "cosine"])]
    pub metric: Option<String>,
    /// Class labels for --metric top1 (.npy, int64 or int32, one per
    /// validation item); else a `labels` array in the validation .npz.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// absolute (FP32 − INT8) or relative (|1 − INT8/FP32|).
    #[arg(long, default_value = "absolute", value_parser = ["absolute", "relative"])]
    pub drop_type: String,
    /// Most revert steps (default: no limit).
    #[arg(long)]
    pub max_iterations: Option<usize>,
    /// Validation items each quantizer group is ranked on (default: the subset size).
    #[arg(long)]
    pub ranking_subset_size: Option<usize>,
    /// What reverting restores: all (activations, weights, biases) or
    /// activations (int8 weights stay).
    #[arg(long, default_value = "all", value_parser = ["all", "activations"])]
    pub restore_mode: String,
    /// Keep calibration statistics in this file: a later run on the same
    /// model, data and subset size reads them instead of calibrating again
    /// (so other presets or ignored scopes are quick to try).
    #[arg(long)]
    pub stats_cache: Option<PathBuf>,
    /// Worker threads for calibration (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    /// The options these arguments select.
    pub fn options(&self) -> anyhow::Result<QuantizeOptions> {
        let stats_cache = match &self.stats_cache {
            Some(path) => Some(StatsCache { path: path.clone(), fingerprint: self.fingerprint()? }),
            None => None,
        };
        Ok(QuantizeOptions {
            preset: self.preset.as_deref().map(|p| if p == "mixed" { Preset::Mixed } else { Preset::Performance }),
            model_type: self.model_type.as_ref().map(|_| ModelType::Transformer),
            detect_model_type: !self.no_model_type_detection,
            subset_size: self.subset_size,
            bias_correction: !self.no_bias_correction,
            fast_bias_correction: !self.no_fast_bias_correction,
            bias_correction_threshold: self.bias_correction_threshold,
            channel_alignment: self.channel_alignment,
            ignored_scope: IgnoredScope {
                names: self.ignore_names.clone(),
                patterns: self.ignore_patterns.clone(),
                types: self.ignore_types.clone(),
                subgraphs: vec![],
                strict: true,
            },
            threads: self.threads,
            stats_cache,
            quantize_conv_outputs: self.conv_outputs.as_deref().map(|v| v == "on"),
            quantize_loop_bodies: self.quantize_loop_bodies,
            range_estimator: match self.range_estimator.as_deref() {
                Some("min-max") => RangeEstimator::MinMax,
                Some("mse") => RangeEstimator::Mse,
                Some("mean-min-max") => RangeEstimator::MeanMinMax,
                Some("quantile") => RangeEstimator::Quantile,
                Some("mean-quantile") => RangeEstimator::MeanQuantile,
                _ => RangeEstimator::Auto,
            },
            smooth_quant: match (self.smooth_quant_alpha, self.smooth_quant_conv_alpha) {
                (None, None) => None,
                (matmul, conv) => {
                    let d = SmoothQuantAlphas::default();
                    Some(SmoothQuantAlphas {
                        matmul: matmul.unwrap_or(d.matmul),
                        convolution: conv.unwrap_or(d.convolution),
                    })
                }
            },
            quantize_embeddings: !self.float_embeddings,
            quantize_se_weights: !self.float_se_weights,
            overflow_fix: match self.overflow_fix.as_deref() {
                Some("auto") => OverflowFix::Auto,
                Some("all") => OverflowFix::Enable,
                Some("first-layer") => OverflowFix::FirstLayer,
                Some("none") => OverflowFix::Disable,
                _ => QuantizeOptions::default().overflow_fix,
            },
            diagnose: self.diagnose,
            weights_range: match self.weights_range.as_deref() {
                Some("quantile") => WeightRange::Quantile,
                Some("mse") => WeightRange::Mse,
                _ => WeightRange::MinMax,
            },
            ..QuantizeOptions::default()
        })
    }

    /// A hash of the model file, the calibration files and the subset size.
    fn fingerprint(&self) -> anyhow::Result<String> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut files = vec![self.model.clone()];
        if self.data.is_dir() {
            let mut items: Vec<PathBuf> =
                std::fs::read_dir(&self.data)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
            items.sort();
            files.extend(items);
        } else {
            files.push(self.data.clone());
        }
        for f in files {
            f.file_name().hash(&mut h);
            std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?.hash(&mut h);
        }
        self.subset_size.hash(&mut h);
        Ok(format!("ptq-calibration {:016x}", h.finish()))
    }
}

/// A model's bytes on disk: the file with its external data (`.onnx.data`)
/// or, for OpenVINO IR, its `.bin`; every file of a SavedModel directory.
fn size_of(path: &Path) -> u64 {
    let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    if path.is_dir() {
        return std::fs::read_dir(path).map_or(0, |d| d.flatten().map(|e| size_of(&e.path())).sum());
    }
    let mut data = path.as_os_str().to_owned();
    data.push(".data");
    let weights = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml")) {
        len(&path.with_extension("bin"))
    } else {
        len(&PathBuf::from(data))
    };
    len(path) + weights
}

fn kib(b: u64) -> String {
    format!("{:.1} KiB", b as f64 / 1024.0)
}

/// Runs the subcommand.
pub fn run(a: &Args) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let model = super::load_model(&a.model, &a.source).with_context(|| format!("loading {}", a.model.display()))?;
    let data = Dataset::open(&a.data)?;
    if data.is_empty() {
        bail!("{}: the calibration data has no items", a.data.display());
    }
    let load_s = t0.elapsed().as_secs_f64();
    let bar = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("calibrating {bar:30} {pos}/{len} items  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let total = data.len().map_or(a.subset_size, |n| n.min(a.subset_size));
    let mut events = |e: Event| match e {
        Event::CalibrationStart { .. } => bar.set_length(total as u64),
        Event::Calibrated { items } => bar.set_position(items as u64),
        Event::CalibrationDone => bar.finish_and_clear(),
    };
    if a.max_drop.is_some() {
        let r = super::accuracy::run(a, &model, &data)?;
        r.model.save(&a.output).with_context(|| format!("writing {}", a.output.display()))?;
        println!("wrote {}", a.output.display());
        if let Some(path) = &a.report {
            let json = serde_json::json!({ "accuracy_control": r.report, "quantization": r.quantization });
            write_atomic(path, serde_json::to_string_pretty(&json)?.as_bytes())?;
            println!("report: {}", path.display());
        }
        return Ok(());
    }
    let q = ptq::quantize_with_events(&model, &data, &a.options()?, &mut events)?;
    let s = Instant::now();
    q.model.save(&a.output).with_context(|| format!("writing {}", a.output.display()))?;
    let save_s = s.elapsed().as_secs_f64();
    let r = &q.report;
    let (acts, weights) = r.counts();
    println!("model: {} ({})", a.model.display(), model.describe_source());
    let cached = if r.statistics_from_cache { ", statistics from the cache" } else { "" };
    println!("data: {} ({} items used{cached})", data.describe(), r.subset_items);
    let model_type = match r.model_type {
        Some(ModelType::Transformer) => "transformer",
        None => "default",
    };
    println!("settings: preset {:?}, model type {model_type} ({})", r.preset, r.model_type_reason);
    println!("quantizers: {acts} activation, {weights} weight");
    let worst = ptq::QuantizerRow::worst(&r.quantizers, 3);
    if !worst.is_empty() {
        let list: Vec<String> =
            worst.iter().map(|q| format!("{} {} {:.1} dB", q.kind, q.tensor, q.sqnr_db.unwrap_or(f64::NAN))).collect();
        println!("lowest SQNR: {}", list.join(", "));
    }
    let mut alone: Vec<&ptq::QuantizerRow> = r.quantizers.iter().filter(|q| q.output_sqnr_db.is_some()).collect();
    alone.sort_by(|a, b| a.output_sqnr_db.unwrap_or(0.0).total_cmp(&b.output_sqnr_db.unwrap_or(0.0)));
    if !alone.is_empty() {
        let list: Vec<String> = alone
            .iter()
            .take(3)
            .map(|q| format!("{} {} {:.1} dB", q.kind, q.tensor, q.output_sqnr_db.unwrap_or(f64::NAN)))
            .collect();
        println!("most output error alone (output SQNR): {}", list.join(", "));
    }
    if !r.smooth_quant.is_empty() {
        let absorbed = r.smooth_quant.iter().filter(|s| !s.absorbed_by.ends_with("/smooth_quant")).count();
        println!(
            "smooth quant: {} activations (alpha {}), {absorbed} absorbed by their normalization, {} by a new Mul",
            r.smooth_quant.len(),
            r.smooth_quant[0].alpha,
            r.smooth_quant.len() - absorbed
        );
    }
    if !r.smooth_quant_errors.is_empty() {
        let tried: Vec<String> = r
            .smooth_quant_errors
            .iter()
            .map(|(a, e)| format!("{} {e:.3e}", a.map_or("off".to_string(), |a| format!("alpha {a}"))))
            .collect();
        println!("smooth quant choice (output error on the first calibration items): {}", tried.join(", "));
    } else if let (true, Some(ratio)) = (r.smooth_quant.is_empty(), r.smooth_quant_outlier_ratio) {
        println!(
            "smooth quant: off, no outlier channels (largest channel max / median {ratio:.1} < {})",
            ptq::SMOOTH_QUANT_OUTLIER_RATIO
        );
    }
    let chosen = format!("{}{}", r.range_estimator.name(), if r.range_asymmetric { " asymmetric" } else { "" });
    if r.range_errors.is_empty() {
        println!("activation ranges: {chosen}");
    } else {
        let errs: Vec<String> = r.range_errors.iter().map(|(e, x)| format!("{e} {x:.3e}")).collect();
        println!("activation ranges: {chosen} (output error on the first calibration items: {})", errs.join(", "));
    }
    if !r.folded_batch_norms.is_empty() {
        println!("folded batch norms: {}", r.folded_batch_norms.join(", "));
    }
    if !r.folded_constants.is_empty() {
        println!("folded constant nodes: {}", r.folded_constants.len());
    }
    let applied = r.bias_corrections.iter().filter(|c| c.applied).count();
    println!("bias correction: {applied} of {} layers corrected", r.bias_corrections.len());
    if r.ignored.is_empty() {
        println!("ignored nodes: none");
    } else {
        println!("ignored nodes: {}", r.ignored.len());
        for i in r.ignored.iter().take(20) {
            println!("  {} ({}): {}", i.node, i.op, i.reason);
        }
        if r.ignored.len() > 20 {
            println!("  ... {} more (see --report)", r.ignored.len() - 20);
        }
    }
    let (before, after) = (size_of(&a.model), size_of(&a.output));
    println!("size: {} -> {} ({:.1}%)", kib(before), kib(after), 100.0 * after as f64 / before.max(1) as f64);
    let t = &r.timings;
    let mut bodies = if t.bodies > 0.0 { format!(", control-flow bodies {:.2}s", t.bodies) } else { String::new() };
    if t.smooth_quant > 0.0 {
        bodies.push_str(&format!(", smooth quant {:.2}s", t.smooth_quant));
    }
    if t.diagnose > 0.0 {
        bodies.push_str(&format!(", diagnose {:.2}s", t.diagnose));
    }
    let choice =
        if r.range_errors.is_empty() { String::new() } else { format!(", range choice {:.2}s", t.range_choice) };
    println!(
        "time: load {load_s:.2}s, prepare {:.2}s, calibration {:.2}s, ranges {:.2}s, bias correction {:.2}s{choice}{bodies}, insertion {:.2}s, save {save_s:.2}s, total {:.2}s",
        t.prepare,
        t.calibration,
        t.ranges,
        t.bias_correction,
        t.insertion,
        t0.elapsed().as_secs_f64()
    );
    println!("wrote {}", a.output.display());
    if let Some(path) = &a.report {
        let json = serde_json::to_string_pretty(r)?;
        write_atomic(path, json.as_bytes())?;
        println!("report: {}", path.display());
    }
    if let Some(valid) = &a.valid {
        super::validate::compare(&model, &q.model, valid, a.threads)?;
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("report")));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

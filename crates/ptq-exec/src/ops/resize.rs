//! Resize: nearest, (multi-)linear and (multi-)cubic, axis by axis.
//!
//! Each resized axis maps every output coordinate to a source coordinate
//! (`coordinate_transformation_mode`) and then to weighted input taps:
//! nearest picks one, linear and cubic weigh the neighbours with a tent or
//! Keys cubic kernel, which `antialias` stretches by `1 / scale` when
//! downsampling. Neighbours beyond the edge repeat the edge value unless
//! `exclude_outside` drops them (renormalising the rest). The axes are
//! separable, so the result is the composition of 1-D resizes.

use ndarray::{ArrayD, Axis, IxDyn, Zip};
use ptq_ir::ops::resize::Resize;
use ptq_ir::{DType, Tensor};

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{Elem, to_usize};

/// Applies a generic expression to any tensor but bool, keeping the variant.
macro_rules! map_numeric {
    ($t:expr, |$a:ident| $e:expr) => {
        match $t {
            Tensor::F32($a) => Tensor::F32($e),
            Tensor::F64($a) => Tensor::F64($e),
            Tensor::F16($a) => Tensor::F16($e),
            Tensor::BF16($a) => Tensor::BF16($e),
            Tensor::I8($a) => Tensor::I8($e),
            Tensor::U8($a) => Tensor::U8($e),
            Tensor::I16($a) => Tensor::I16($e),
            Tensor::U16($a) => Tensor::U16($e),
            Tensor::I32($a) => Tensor::I32($e),
            Tensor::U32($a) => Tensor::U32($e),
            Tensor::I64($a) => Tensor::I64($e),
            Tensor::U64($a) => Tensor::U64($e),
            Tensor::Bool(_) => unreachable!("bool is handled by the caller"),
            t => return Err(format!("resizing {} is not supported", t.dtype())),
        }
    };
}

/// Largest output (in elements) this op will allocate.
const MAX_ELEMENTS: usize = 1 << 31;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Nearest,
    Linear,
    Cubic,
}

/// What one resized axis needs besides the data.
#[derive(Clone, Debug)]
struct AxisPlan {
    axis: usize,
    len_in: usize,
    len_out: usize,
    /// `len_out / len_in`, or the given scale.
    scale: f64,
    /// Normalised crop window for `tf_crop_and_resize`.
    roi: (f64, f64),
}

/// The source of one output position along an axis.
#[derive(Debug, PartialEq)]
enum Source {
    /// Weighted input positions (weights sum to 1).
    Taps(Vec<(usize, f64)>),
    /// Outside the crop window of `tf_crop_and_resize`.
    Extrapolate,
}

/// The attributes resolved once per run.
#[derive(Debug)]
struct Params<'a> {
    mode: Mode,
    ctm: &'a str,
    nearest: &'a str,
    cubic_a: f64,
    exclude_outside: bool,
    antialias: bool,
}

/// Maps output coordinate `o` to a source coordinate; `None` means outside
/// the crop window (`tf_crop_and_resize`).
fn source_coord(ctm: &str, o: usize, p: &AxisPlan) -> Result<Option<f64>, String> {
    let (o, len_in, len_out, scale) = (o as f64, p.len_in as f64, p.len_out as f64, p.scale);
    Ok(Some(match ctm {
        "half_pixel" => (o + 0.5) / scale - 0.5,
        "pytorch_half_pixel" => {
            if p.len_out > 1 {
                (o + 0.5) / scale - 0.5
            } else {
                0.0
            }
        }
        "align_corners" => {
            // With a given scale, the unrounded output length `len_in · scale`,
            // as the ONNX reference has it; with sizes, the output length.
            let out = if len_out / len_in == scale { len_out } else { len_in * scale };
            if p.len_out == 1 || out == 1.0 { 0.0 } else { o * (len_in - 1.0) / (out - 1.0) }
        }
        "asymmetric" => o / scale,
        "half_pixel_symmetric" => {
            let adj = len_out / (scale * len_in);
            let center = len_in / 2.0;
            center * (1.0 - adj) + (o + 0.5) / scale - 0.5
        }
        "tf_crop_and_resize" => {
            let (start, end) = p.roi;
            let x = if p.len_out > 1 {
                start * (len_in - 1.0) + o * (end - start) * (len_in - 1.0) / (len_out - 1.0)
            } else {
                0.5 * (start + end) * (len_in - 1.0)
            };
            if x < 0.0 || x > len_in - 1.0 {
                return Ok(None);
            }
            x
        }
        m => return Err(format!("coordinate_transformation_mode {m:?} is not supported")),
    }))
}

fn nearest_index(x: f64, mode: &str, len_in: usize) -> Result<usize, String> {
    let r = match mode {
        "round_prefer_floor" => {
            if x - x.floor() == 0.5 {
                x.floor()
            } else {
                x.round()
            }
        }
        "round_prefer_ceil" => {
            if x - x.floor() == 0.5 {
                x.ceil()
            } else {
                x.round()
            }
        }
        "floor" => x.floor(),
        "ceil" => x.ceil(),
        m => return Err(format!("nearest_mode {m:?} is not supported")),
    };
    Ok(r.clamp(0.0, len_in as f64 - 1.0) as usize)
}

/// The Keys cubic convolution kernel with coefficient `a`.
fn cubic(d: f64, a: f64) -> f64 {
    let d = d.abs();
    if d <= 1.0 {
        ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0
    } else if d < 2.0 {
        ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a
    } else {
        0.0
    }
}

/// Input taps and weights for source coordinate `x` along an axis of length `len_in`.
fn taps(x: f64, len_in: usize, scale: f64, p: &Params<'_>) -> Result<Vec<(usize, f64)>, String> {
    if p.mode == Mode::Nearest {
        return Ok(vec![(nearest_index(x, p.nearest, len_in)?, 1.0)]);
    }
    // The kernel is stretched by 1 / scale when antialiasing a downsample.
    let s = if p.antialias { scale.min(1.0) } else { 1.0 };
    let support = if p.mode == Mode::Linear { 1.0 } else { 2.0 };
    // `base + ratio == x` with ratio in (0, 1]: neighbours are base + i.
    let base = x.ceil() - 1.0;
    let ratio = x - base;
    let start = (-support / s).floor() as i64 + 1;
    let end = 1 - start;
    let mut out = Vec::with_capacity((end - start + 1) as usize);
    let mut total = 0.0;
    for i in start..=end {
        let d = (i as f64 - ratio) * s;
        let w = match p.mode {
            Mode::Linear => (1.0 - d.abs()).max(0.0),
            _ => cubic(d, p.cubic_a),
        };
        let pos = base as i64 + i;
        if p.exclude_outside && (pos < 0 || pos >= len_in as i64) {
            continue;
        }
        total += w;
        out.push((pos.clamp(0, len_in as i64 - 1) as usize, w));
    }
    if out.is_empty() || total == 0.0 {
        return Err("no input position contributes to an output value".into());
    }
    if p.antialias || p.exclude_outside {
        out.iter_mut().for_each(|(_, w)| *w /= total);
    }
    Ok(out)
}

/// The sources of every output position of one axis.
fn axis_sources(plan: &AxisPlan, p: &Params<'_>) -> Result<Vec<Source>, String> {
    (0..plan.len_out)
        .map(|o| match source_coord(p.ctm, o, plan)? {
            None => Ok(Source::Extrapolate),
            Some(x) => Ok(Source::Taps(taps(x, plan.len_in, plan.scale, p)?)),
        })
        .collect()
}

/// Resizes one axis of a float array (f32 or f64 arithmetic).
fn resize_axis<T: Elem + std::ops::AddAssign + std::ops::Mul<Output = T>>(
    a: &ArrayD<T>,
    plan: &AxisPlan,
    sources: &[Source],
    extrapolation: T,
) -> ArrayD<T> {
    let mut shape = a.shape().to_vec();
    shape[plan.axis] = plan.len_out;
    let mut out = ArrayD::<T>::from_elem(IxDyn(&shape), T::from_f64(0.0));
    for (o, src) in sources.iter().enumerate() {
        let mut dst = out.index_axis_mut(Axis(plan.axis), o);
        match src {
            Source::Extrapolate => dst.fill(extrapolation),
            Source::Taps(t) if t.len() == 1 => dst.assign(&a.index_axis(Axis(plan.axis), t[0].0)),
            Source::Taps(t) => {
                for &(i, w) in t {
                    let w = T::from_f64(w);
                    Zip::from(&mut dst).and(&a.index_axis(Axis(plan.axis), i)).for_each(|d, &s| *d += s * w);
                }
            }
        }
    }
    out
}

/// Nearest resizing of one axis for any dtype (a pure gather).
fn gather_axis<T: Clone>(a: &ArrayD<T>, plan: &AxisPlan, sources: &[Source], fill: &T) -> ArrayD<T> {
    let mut shape = a.shape().to_vec();
    shape[plan.axis] = plan.len_out;
    let mut out = ArrayD::<T>::from_elem(IxDyn(&shape), fill.clone());
    for (o, src) in sources.iter().enumerate() {
        if let Source::Taps(t) = src {
            out.index_axis_mut(Axis(plan.axis), o).assign(&a.index_axis(Axis(plan.axis), t[0].0));
        }
    }
    out
}

/// Output length and scale per resized axis from `sizes` or `scales`.
fn plan_axes(op: &Resize, ins: &Inputs, shape: &[usize], axes: &[usize]) -> Result<Vec<AxisPlan>, String> {
    let sizes = ins.opt_ints(3)?.filter(|s| !s.is_empty());
    let scales: Option<Vec<f64>> = ins.opt(2).map(Tensor::to_f64_vec).filter(|s| !s.is_empty());
    let policy = op.keep_aspect_ratio_policy.as_deref().unwrap_or("stretch");
    let mut plans: Vec<AxisPlan> = match (sizes, scales) {
        (Some(s), _) if s.len() == axes.len() => {
            let sizes: Vec<usize> = s.iter().map(|&v| to_usize(v, "size")).collect::<Result<_, _>>()?;
            if axes.iter().any(|&a| shape[a] == 0) {
                return Err("cannot resize an empty axis to a size".into());
            }
            let ratios: Vec<f64> = axes.iter().zip(&sizes).map(|(&a, &n)| n as f64 / shape[a] as f64).collect();
            let common = match policy {
                "stretch" => None,
                "not_larger" => ratios.iter().copied().reduce(f64::min),
                "not_smaller" => ratios.iter().copied().reduce(f64::max),
                p => return Err(format!("keep_aspect_ratio_policy {p:?} is not supported")),
            };
            axes.iter()
                .zip(sizes.iter().zip(&ratios))
                .map(|(&a, (&n, &r))| {
                    let (len_out, scale) = match common {
                        // Round half up, as the policy prescribes.
                        Some(c) => ((c * shape[a] as f64 + 0.5).floor() as usize, c),
                        None => (n, r),
                    };
                    AxisPlan { axis: a, len_in: shape[a], len_out, scale, roi: (0.0, 1.0) }
                })
                .collect()
        }
        (None, Some(sc)) if sc.len() == axes.len() => axes
            .iter()
            .zip(&sc)
            .map(|(&a, &s)| {
                if !(s > 0.0 && s.is_finite()) {
                    return Err(format!("invalid scale {s}"));
                }
                let len_out = (shape[a] as f64 * s).floor() as usize;
                Ok(AxisPlan { axis: a, len_in: shape[a], len_out, scale: s, roi: (0.0, 1.0) })
            })
            .collect::<Result<_, String>>()?,
        _ => return Err("Resize needs one of scales or sizes, one entry per axis".into()),
    };
    if op.coordinate_transformation_mode.as_deref() == Some("tf_crop_and_resize") {
        let roi = ins.opt(1).map(Tensor::to_f64_vec).ok_or("tf_crop_and_resize needs roi")?;
        if roi.len() != 2 * axes.len() {
            return Err(format!("roi has {} entries for {} axes", roi.len(), axes.len()));
        }
        for (i, p) in plans.iter_mut().enumerate() {
            p.roi = (roi[i], roi[i + axes.len()]);
        }
    }
    Ok(plans)
}

/// Runs Resize with sizes or scales. Nearest works on every dtype; linear and
/// cubic compute f64 data in f64 and everything else in f32, converting back
/// (integers truncate toward zero, as the ONNX reference does).
pub fn run(op: &Resize, ins: &mut Inputs, _n: usize) -> Out {
    let mode = match op.mode.as_deref().unwrap_or("nearest") {
        "nearest" => Mode::Nearest,
        "linear" => Mode::Linear,
        "cubic" => Mode::Cubic,
        m => return Err(format!("mode {m:?} is not supported")),
    };
    let ctm = op.coordinate_transformation_mode.as_deref().unwrap_or("half_pixel");
    let params = Params {
        mode,
        ctm,
        nearest: op.nearest_mode.as_deref().unwrap_or("round_prefer_floor"),
        cubic_a: f64::from(op.cubic_coeff_a.unwrap_or(-0.75)),
        exclude_outside: op.exclude_outside.unwrap_or(0) != 0,
        antialias: op.antialias.unwrap_or(0) != 0 && mode != Mode::Nearest,
    };
    let extrapolation = f64::from(op.extrapolation_value.unwrap_or(0.0));
    let x = ins.shared(0)?;
    let d = x.dtype();
    if d.is_float8() || matches!(d, DType::I4 | DType::U4 | DType::String) {
        return Err(format!("resizing {d} is not supported"));
    }
    let rank = x.shape().len();
    let axes: Vec<usize> = match &op.axes {
        Some(a) => a.iter().map(|&v| crate::util::axis(v, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).collect(),
    };
    let plans = plan_axes(op, ins, x.shape(), &axes)?;
    let mut out_shape = x.shape().to_vec();
    for p in &plans {
        out_shape[p.axis] = p.len_out;
    }
    if ptq_ir::tensor::checked_numel(&out_shape).is_none_or(|n| n > MAX_ELEMENTS) {
        return Err(format!("output shape {out_shape:?} is too large"));
    }
    // Innermost axes first, as the ONNX reference composes them.
    let mut work: Vec<(AxisPlan, Vec<Source>)> = vec![];
    for plan in plans.into_iter().rev() {
        let identity = plan.len_out == plan.len_in && plan.scale == 1.0 && ctm != "tf_crop_and_resize";
        if identity {
            continue;
        }
        if plan.len_in == 0 {
            return Err("cannot resize an empty axis".into());
        }
        let sources = axis_sources(&plan, &params)?;
        work.push((plan, sources));
    }
    if work.is_empty() {
        return one((*x).clone());
    }
    let y = if mode == Mode::Nearest {
        fn gather_all<T: Clone>(a: &ArrayD<T>, work: &[(AxisPlan, Vec<Source>)], fill: &T) -> ArrayD<T> {
            let mut a = a.clone();
            for (plan, sources) in work {
                a = gather_axis(&a, plan, sources, fill);
            }
            a
        }
        match &*x {
            Tensor::Bool(a) => Tensor::Bool(gather_all(a, &work, &(extrapolation != 0.0))),
            t => map_numeric!(t, |a| gather_all(a, &work, &Elem::from_f64(extrapolation))),
        }
    } else {
        let to_f32 = |x: &Tensor| -> Result<ArrayD<f32>, String> {
            ArrayD::from_shape_vec(IxDyn(x.shape()), x.to_f64_vec().iter().map(|&v| v as f32).collect())
                .map_err(|e| e.to_string())
        };
        match &*x {
            Tensor::F64(a) => {
                let mut a = a.clone();
                for (plan, sources) in &work {
                    a = resize_axis(&a, plan, sources, extrapolation);
                }
                Tensor::F64(a)
            }
            Tensor::Bool(_) => return Err("linear or cubic resizing of bool is not supported".into()),
            t => {
                let mut a = match t {
                    Tensor::F32(a) => a.clone(),
                    t => to_f32(t)?,
                };
                for (plan, sources) in &work {
                    a = resize_axis(&a, plan, sources, extrapolation as f32);
                }
                from_f32(t, a)
            }
        }
    };
    one(y)
}

/// Converts an f32 result back to the dtype of `like`.
fn from_f32(like: &Tensor, a: ArrayD<f32>) -> Tensor {
    fn conv<T: Elem>(a: &ArrayD<f32>) -> ArrayD<T> {
        a.mapv(|v| T::from_f64(f64::from(v)))
    }
    match like {
        Tensor::F16(_) => Tensor::F16(conv(&a)),
        Tensor::BF16(_) => Tensor::BF16(conv(&a)),
        Tensor::I8(_) => Tensor::I8(conv(&a)),
        Tensor::U8(_) => Tensor::U8(conv(&a)),
        Tensor::I16(_) => Tensor::I16(conv(&a)),
        Tensor::U16(_) => Tensor::U16(conv(&a)),
        Tensor::I32(_) => Tensor::I32(conv(&a)),
        Tensor::U32(_) => Tensor::U32(conv(&a)),
        Tensor::I64(_) => Tensor::I64(conv(&a)),
        Tensor::U64(_) => Tensor::U64(conv(&a)),
        _ => Tensor::F32(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(mode: Mode) -> Params<'static> {
        Params {
            mode,
            ctm: "half_pixel",
            nearest: "round_prefer_floor",
            cubic_a: -0.75,
            exclude_outside: false,
            antialias: false,
        }
    }

    #[test]
    fn linear_taps_interpolate_and_clamp_at_the_edges() {
        let p = params(Mode::Linear);
        let t = taps(1.25, 4, 2.0, &p).unwrap();
        assert_eq!(t, vec![(1, 0.75), (2, 0.25)]);
        let t = taps(-0.25, 4, 2.0, &p).unwrap();
        assert_eq!(t, vec![(0, 0.25), (0, 0.75)]);
    }

    #[test]
    fn cubic_taps_sum_to_one_and_hit_integers_exactly() {
        let p = params(Mode::Cubic);
        let t = taps(2.0, 5, 2.0, &p).unwrap();
        let w: Vec<f64> = t.iter().map(|x| x.1).collect();
        assert_eq!(t.iter().map(|x| x.0).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        assert_eq!(w, vec![0.0, 0.0, 1.0, 0.0]);
        let t = taps(1.3, 5, 2.0, &p).unwrap();
        assert!((t.iter().map(|x| x.1).sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn antialias_widens_the_kernel_when_downsampling() {
        let mut p = params(Mode::Linear);
        p.antialias = true;
        let t = taps(3.5, 10, 0.5, &p).unwrap();
        // Tent of half-width 2 around 3.5: taps 2..=5 with weights 1:3:3:1.
        assert_eq!(t.iter().map(|x| x.0).collect::<Vec<_>>(), vec![2, 3, 4, 5]);
        assert_eq!(t.iter().map(|x| x.1).collect::<Vec<_>>(), vec![0.125, 0.375, 0.375, 0.125]);
    }

    #[test]
    fn exclude_outside_renormalises_the_remaining_taps() {
        let mut p = params(Mode::Cubic);
        p.exclude_outside = true;
        let t = taps(0.5, 4, 2.0, &p).unwrap();
        assert_eq!(t.iter().map(|x| x.0).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!((t.iter().map(|x| x.1).sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn crop_and_resize_extrapolates_outside_the_window() {
        let plan = AxisPlan { axis: 0, len_in: 4, len_out: 3, scale: 1.0, roi: (0.5, 1.5) };
        assert_eq!(source_coord("tf_crop_and_resize", 0, &plan).unwrap(), Some(1.5));
        assert_eq!(source_coord("tf_crop_and_resize", 2, &plan).unwrap(), None);
    }

    #[test]
    fn align_corners_with_a_scale_uses_the_unrounded_output_length() {
        // 4 × 0.6 = 2.4: output 1 reads 3 / 1.4 (the ONNX reference), not 3 / 1.
        let plan = AxisPlan { axis: 0, len_in: 4, len_out: 2, scale: 0.6, roi: (0.0, 1.0) };
        let x = source_coord("align_corners", 1, &plan).unwrap().unwrap();
        assert!((x - 3.0 / 1.4).abs() < 1e-12);
        let sized = AxisPlan { axis: 0, len_in: 4, len_out: 2, scale: 0.5, roi: (0.0, 1.0) };
        assert_eq!(source_coord("align_corners", 1, &sized).unwrap(), Some(3.0));
    }
}

//! Resize: nearest and (multi-)linear, axis by axis.

use ndarray::{ArrayD, Axis, IxDyn};
use ptq_ir::Tensor;
use ptq_ir::ops::resize::Resize;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{f32s, to_usize};

/// Maps an output coordinate to an input coordinate.
fn source_coord(mode: &str, o: usize, len_in: usize, len_out: usize, scale: f64) -> Result<f64, String> {
    let o = o as f64;
    Ok(match mode {
        "half_pixel" => (o + 0.5) / scale - 0.5,
        "pytorch_half_pixel" => {
            if len_out > 1 {
                (o + 0.5) / scale - 0.5
            } else {
                0.0
            }
        }
        "align_corners" => {
            if len_out == 1 {
                0.0
            } else {
                o * (len_in as f64 - 1.0) / (len_out as f64 - 1.0)
            }
        }
        "asymmetric" => o / scale,
        "half_pixel_symmetric" => {
            let adj = len_out as f64 / (scale * len_in as f64);
            let center = len_in as f64 / 2.0 * (1.0 - adj);
            center + (o + 0.5) / scale - 0.5
        }
        m => return Err(format!("coordinate_transformation_mode {m:?} is not supported")),
    })
}

fn nearest_index(x: f64, mode: &str, len_in: usize) -> Result<usize, String> {
    let r = match mode {
        "round_prefer_floor" => {
            if x.fract() == 0.5 {
                x.floor()
            } else {
                x.round()
            }
        }
        "round_prefer_ceil" => x.round(),
        "floor" => x.floor(),
        "ceil" => x.ceil(),
        m => return Err(format!("nearest_mode {m:?} is not supported")),
    };
    Ok(r.clamp(0.0, len_in as f64 - 1.0) as usize)
}

fn resize_axis(
    a: &ArrayD<f32>,
    ax: usize,
    len_out: usize,
    scale: f64,
    op: &Resize,
    linear: bool,
) -> Result<ArrayD<f32>, String> {
    let len_in = a.shape()[ax];
    let ctm = op.coordinate_transformation_mode.as_deref().unwrap_or("half_pixel");
    let nm = op.nearest_mode.as_deref().unwrap_or("round_prefer_floor");
    let mut shape = a.shape().to_vec();
    shape[ax] = len_out;
    let mut out = ArrayD::<f32>::zeros(IxDyn(&shape));
    for o in 0..len_out {
        let x = source_coord(ctm, o, len_in, len_out, scale)?;
        let mut dst = out.index_axis_mut(Axis(ax), o);
        if linear {
            let x = x.clamp(0.0, len_in as f64 - 1.0);
            let i0 = x.floor() as usize;
            let i1 = (i0 + 1).min(len_in - 1);
            let w = (x - i0 as f64) as f32;
            let (s0, s1) = (a.index_axis(Axis(ax), i0), a.index_axis(Axis(ax), i1));
            ndarray::Zip::from(&mut dst).and(&s0).and(&s1).for_each(|d, &p, &q| *d = p + (q - p) * w);
        } else {
            dst.assign(&a.index_axis(Axis(ax), nearest_index(x, nm, len_in)?));
        }
    }
    Ok(out)
}

/// Runs Resize with sizes or scales.
pub fn run(op: &Resize, ins: &mut Inputs, _n: usize) -> Out {
    if op.antialias.unwrap_or(0) != 0 {
        return Err("antialias is not supported".into());
    }
    if op.keep_aspect_ratio_policy.as_deref().is_some_and(|p| p != "stretch") {
        return Err("keep_aspect_ratio_policy other than stretch is not supported".into());
    }
    let linear = match op.mode.as_deref().unwrap_or("nearest") {
        "nearest" => false,
        "linear" => true,
        m => return Err(format!("mode {m:?} is not supported")),
    };
    let x = f32s(ins.get(0)?)?.clone();
    let rank = x.ndim();
    let axes: Vec<usize> = match &op.axes {
        Some(a) => a.iter().map(|&v| crate::util::axis(v, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).collect(),
    };
    let sizes = ins.opt_ints(3)?.filter(|s| !s.is_empty());
    let scales: Option<Vec<f64>> = ins.opt(2).map(Tensor::to_f64_vec).filter(|s| !s.is_empty());
    let targets: Vec<(usize, usize, f64)> = match (sizes, scales) {
        (Some(s), _) if s.len() == axes.len() => axes
            .iter()
            .zip(&s)
            .map(|(&a, &v)| {
                let out = to_usize(v, "size")?;
                Ok((a, out, out as f64 / x.shape()[a].max(1) as f64))
            })
            .collect::<Result<_, String>>()?,
        (None, Some(sc)) if sc.len() == axes.len() => axes
            .iter()
            .zip(&sc)
            .map(|(&a, &s)| {
                if !(s > 0.0 && s.is_finite()) {
                    return Err(format!("invalid scale {s}"));
                }
                Ok((a, (x.shape()[a] as f64 * s).floor() as usize, s))
            })
            .collect::<Result<_, String>>()?,
        _ => return Err("Resize needs one of scales or sizes, one entry per axis".into()),
    };
    let mut a = x;
    for (ax, out, scale) in targets {
        if out == a.shape()[ax] && scale == 1.0 {
            continue;
        }
        if a.shape()[ax] == 0 {
            return Err("cannot resize an empty axis".into());
        }
        a = resize_axis(&a, ax, out, scale, op, linear)?;
    }
    one(Tensor::F32(a))
}

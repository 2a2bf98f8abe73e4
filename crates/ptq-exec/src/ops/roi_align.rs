//! RoiAlign, which the IR keeps opaque: for each region of interest (`rois`
//! `[R, 4]` as x1, y1, x2, y2, scaled by `spatial_scale`; image from
//! `batch_indices`), an `output_height × output_width` grid of bins over X
//! `[N, C, H, W]`, each the average (`mode` "avg") or maximum ("max") of
//! `sampling_ratio²` bilinear samples (0: ⌈bin size⌉ per axis).
//! `coordinate_transformation_mode` "half_pixel" (default) shifts by −0.5;
//! "output_half_pixel" does not and makes regions at least 1×1. Samples
//! follow onnxruntime (and the ONNX reference): outside [−1, size] they
//! count 0, and "max" takes the largest weighted corner of each sample.
//! Floats.

use super::nll_loss::{as_dtype, floats};
use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::to_usize;

/// RoiAlign's settings.
#[derive(Clone, Copy, Debug)]
pub struct RoiAlign {
    half_pixel: bool,
    max: bool,
    oh: usize,
    ow: usize,
    ratio: usize,
    scale: f64,
}

/// Reads the attributes.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    let half_pixel = match a.string("coordinate_transformation_mode", "half_pixel")?.as_str() {
        "half_pixel" => true,
        "output_half_pixel" => false,
        m => return Err(format!("unknown coordinate_transformation_mode {m:?}")),
    };
    let max = match a.string("mode", "avg")?.as_str() {
        "avg" => false,
        "max" => true,
        m => return Err(format!("unknown mode {m:?}")),
    };
    kern(
        RoiAlign {
            half_pixel,
            max,
            oh: to_usize(a.int("output_height", 1)?, "output_height")?,
            ow: to_usize(a.int("output_width", 1)?, "output_width")?,
            ratio: to_usize(a.int("sampling_ratio", 0)?, "sampling_ratio")?,
            scale: f64::from(a.float("spatial_scale", 1.0)?),
        },
        run,
    )
}

/// One bilinear sample: four (flat position, weight) corners.
type Sample = [(usize, f64); 4];

fn sample(y: f64, x: f64, h: usize, w: usize) -> Sample {
    if y < -1.0 || y > h as f64 || x < -1.0 || x > w as f64 || h == 0 || w == 0 {
        return [(0, 0.0); 4];
    }
    let (mut y, mut x) = (y.max(0.0), x.max(0.0));
    let (mut yl, mut xl) = (y as usize, x as usize);
    let yh = if yl >= h - 1 {
        yl = h - 1;
        y = yl as f64;
        yl
    } else {
        yl + 1
    };
    let xh = if xl >= w - 1 {
        xl = w - 1;
        x = xl as f64;
        xl
    } else {
        xl + 1
    };
    let (ly, lx) = (y - yl as f64, x - xl as f64);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    [(yl * w + xl, hy * hx), (yl * w + xh, hy * lx), (yh * w + xl, ly * hx), (yh * w + xh, ly * lx)]
}

/// Runs RoiAlign.
pub fn run(op: &RoiAlign, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let &[n, c, h, w] = x.shape() else { return Err(format!("X must be 4-D, has shape {:?}", x.shape())) };
    let rois = floats(ins.get(1)?, "rois")?;
    let idx = ins.ints(2)?;
    let r = idx.len();
    if ins.get(1)?.shape() != [r, 4] {
        return Err(format!("rois {:?} must be [{r}, 4]", ins.get(1)?.shape()));
    }
    let (oh, ow) = (op.oh, op.ow);
    if oh == 0 || ow == 0 || ptq_ir::tensor::checked_numel(&[r.max(1), c, oh, ow]).is_none_or(|v| v > 1 << 31) {
        return Err(format!("output {oh}×{ow} is empty or too large"));
    }
    if h == 0 || w == 0 {
        return Err(format!("X {:?} has an empty image", x.shape()));
    }
    let xv = floats(x, "X")?;
    let off = if op.half_pixel { 0.5 } else { 0.0 };
    let mut y = vec![0f64; r * c * oh * ow];
    let mut samples: Vec<Sample> = vec![];
    for (ri, &b) in idx.iter().enumerate() {
        let b = usize::try_from(b).ok().filter(|&b| b < n).ok_or(format!("batch index {b} is out of range"))?;
        let roi = &rois[ri * 4..ri * 4 + 4];
        let (x1, y1) = (roi[0] * op.scale - off, roi[1] * op.scale - off);
        let (mut rw, mut rh) = (roi[2] * op.scale - off - x1, roi[3] * op.scale - off - y1);
        if !op.half_pixel {
            rw = rw.max(1.0);
            rh = rh.max(1.0);
        }
        let (bh, bw) = (rh / oh as f64, rw / ow as f64);
        let gh = if op.ratio > 0 { op.ratio } else { (rh / oh as f64).ceil().clamp(0.0, 1e4) as usize };
        let gw = if op.ratio > 0 { op.ratio } else { (rw / ow as f64).ceil().clamp(0.0, 1e4) as usize };
        let count = (gh * gw).max(1) as f64;
        if ptq_ir::tensor::checked_numel(&[gh, gw, oh, ow]).is_none_or(|s| s > 1 << 31) {
            return Err(format!("{gh}×{gw} samples per bin of {oh}×{ow} bins are too many"));
        }
        samples.clear();
        for ph in 0..oh {
            for pw in 0..ow {
                for iy in 0..gh {
                    let yy = y1 + ph as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                    for ix in 0..gw {
                        let xx = x1 + pw as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                        samples.push(sample(yy, xx, h, w));
                    }
                }
            }
        }
        let per_bin = gh * gw;
        for ch in 0..c {
            let plane = &xv[(b * c + ch) * h * w..(b * c + ch + 1) * h * w];
            for (bin, s) in samples.chunks(per_bin.max(1)).take(oh * ow).enumerate() {
                let v = if op.max {
                    s.iter()
                        .map(|s| s.iter().map(|&(p, wt)| wt * plane[p]).fold(f64::NEG_INFINITY, f64::max))
                        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
                        .unwrap_or(0.0)
                } else {
                    s.iter().map(|s| s.iter().map(|&(p, wt)| wt * plane[p]).sum::<f64>()).sum::<f64>() / count
                };
                y[(ri * c + ch) * oh * ow + bin] = v;
            }
        }
    }
    one(as_dtype(crate::util::array(&[r, c, oh, ow], y)?, x)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn averages_bilinear_samples() {
        // 2×2 image [[0, 1], [2, 3]]; the whole image as one bin with one sample at its centre.
        let x = Tensor::F32(crate::util::array(&[1, 1, 2, 2], vec![0.0, 1.0, 2.0, 3.0]).unwrap());
        let rois = Tensor::F32(crate::util::array(&[1, 4], vec![0.0, 0.0, 2.0, 2.0]).unwrap());
        let attrs = [("sampling_ratio", Attr::Int(1))];
        let y = test_run("RoiAlign", &attrs, vec![x.clone(), rois.clone(), Tensor::from_i64s(&[0])]).unwrap();
        assert_close(&y[0], &[1, 1, 1, 1], &[1.5]);
        assert!(test_run("RoiAlign", &attrs, vec![x, rois, Tensor::from_i64s(&[1])]).is_err());
    }
}

//! TensorFlow's fake quantization (`FakeQuantWithMinMaxVars`,
//! `...PerChannel`, `...Args`), as written by quantization-aware training
//! and by ptq's own SavedModel writer.
//!
//! TensorFlow first nudges the range so that zero is on the grid:
//! `scale = (max − min) / (qmax − qmin)` with `qmin = narrow_range as u8`,
//! `qmax = 2^bits − 1`, and the zero point `qmin − min / scale` rounded into
//! `[qmin, qmax]`. On a constant (a weight) the op is applied at import, so
//! the weight is its grid values. On anything else it becomes a
//! QuantizeLinear → DequantizeLinear pair with that scale and zero point:
//! u8, or for a narrow range i8 with the zero point moved by −128. Two
//! differences remain, both at the edges: ONNX rounds half to even where
//! TensorFlow rounds half up, and a narrow range's lowest level (−128 in
//! i8) is not clipped away.

use ndarray::{ArrayD, IxDyn};
use ptq_ir::Tensor;
use ptq_ir::ops::dequantize::DequantizeLinear;
use ptq_ir::ops::quantize::QuantizeLinear;

use super::{attr_b, attr_f, attr_i};
use crate::flatten::FlatNode;
use crate::import::Cx;

/// One channel's nudged grid.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Grid {
    scale: f32,
    /// In `[qmin, qmax]`.
    zero_point: f32,
    qmin: f32,
    qmax: f32,
}

impl Grid {
    fn new(min: f32, max: f32, bits: i64, narrow: bool) -> Result<Grid, String> {
        if !(2..=16).contains(&bits) {
            return Err(format!("num_bits {bits} is outside 2..16"));
        }
        if min.partial_cmp(&max).is_none_or(|o| o.is_gt()) || !min.is_finite() || !max.is_finite() {
            return Err(format!("range [{min}, {max}] is not a finite range"));
        }
        let qmin = if narrow { 1.0 } else { 0.0 };
        let qmax = ((1u32 << bits) - 1) as f32;
        let scale = (max - min) / (qmax - qmin);
        if scale <= 0.0 {
            return Ok(Grid { scale: 0.0, zero_point: qmin, qmin, qmax });
        }
        let zp = (qmin - min / scale).clamp(qmin, qmax).round();
        Ok(Grid { scale, zero_point: zp, qmin, qmax })
    }

    /// TensorFlow's fake-quantized `x`.
    fn apply(&self, x: f32) -> f32 {
        if self.scale == 0.0 {
            return 0.0;
        }
        let (lo, hi) = ((self.qmin - self.zero_point) * self.scale, (self.qmax - self.zero_point) * self.scale);
        ((x.clamp(lo, hi) - lo) / self.scale + 0.5).floor() * self.scale + lo
    }
}

pub fn lower(cx: &mut Cx<'_>, idx: usize, n: &FlatNode) -> Result<bool, String> {
    let per_channel = match n.op {
        "FakeQuantWithMinMaxVars" | "FakeQuantWithMinMaxArgs" => false,
        "FakeQuantWithMinMaxVarsPerChannel" => true,
        _ => return Ok(false),
    };
    let bits = attr_i(n, "num_bits", 8);
    let narrow = attr_b(n, "narrow_range", false);
    let (mins, maxs) = if n.op == "FakeQuantWithMinMaxArgs" {
        (vec![attr_f(n, "min", -6.0)], vec![attr_f(n, "max", 6.0)])
    } else {
        let mut get = |i: usize| -> Result<Vec<f32>, String> {
            let v = cx.input(n, i)?;
            let t = cx.constant_of(v).ok_or("min and max must be constants")?;
            Ok(t.to_f64_vec().into_iter().map(|x| x as f32).collect())
        };
        (get(1)?, get(2)?)
    };
    if mins.len() != maxs.len() || mins.is_empty() || (!per_channel && mins.len() != 1) {
        return Err(format!("{} minima and {} maxima", mins.len(), maxs.len()));
    }
    let grids: Vec<Grid> =
        mins.iter().zip(&maxs).map(|(&a, &b)| Grid::new(a, b, bits, narrow)).collect::<Result<_, _>>()?;
    let x = cx.input(n, 0)?;
    if let Some(t) = cx.constant_of(x).cloned() {
        let Tensor::F32(a) = &t else { return Err("fake quantization of a non-f32 constant".into()) };
        let c = grids.len();
        if per_channel && a.shape().last() != Some(&c) {
            return Err(format!("{c} channels for a constant of shape {:?}", a.shape()));
        }
        let vals: Vec<f32> = a.iter().enumerate().map(|(i, &v)| grids[i % c].apply(v)).collect();
        let q = Tensor::F32(ArrayD::from_shape_vec(IxDyn(a.shape()), vals).map_err(|e| e.to_string())?);
        let v = cx.constant(&n.name, q);
        cx.set(idx, 0, v);
        return Ok(true);
    }
    if bits != 8 {
        return Err(format!("{bits}-bit fake quantization of an activation has no 8-bit form"));
    }
    // Per tensor, a channels-first value keeps its layout.
    let nchw = !per_channel && cx.has_nchw(n, 0);
    let x = if nchw { cx.input_nchw(n, 0)? } else { x };
    let axis = if per_channel {
        Some(cx.rank(x).ok_or("per-channel fake quantization of a value of unknown rank")? as i64 - 1)
    } else {
        None
    };
    let shape: Vec<usize> = if per_channel { vec![grids.len()] } else { vec![] };
    let scale = Tensor::F32(
        ArrayD::from_shape_vec(IxDyn(&shape), grids.iter().map(|g| g.scale).collect()).map_err(|e| e.to_string())?,
    );
    let zp = if narrow {
        let z = grids.iter().map(|g| (g.zero_point - 128.0) as i8).collect();
        Tensor::I8(ArrayD::from_shape_vec(IxDyn(&shape), z).map_err(|e| e.to_string())?)
    } else {
        let z = grids.iter().map(|g| g.zero_point as u8).collect();
        Tensor::U8(ArrayD::from_shape_vec(IxDyn(&shape), z).map_err(|e| e.to_string())?)
    };
    if grids.iter().any(|g| g.scale == 0.0) {
        return Err("an empty range (min = max) on an activation".into());
    }
    let s = cx.constant(&format!("{}/scale", n.name), scale);
    let z = cx.constant(&format!("{}/zero_point", n.name), zp);
    let q = cx.node1(
        &format!("{}/quantize", n.name),
        QuantizeLinear { axis, ..Default::default() },
        vec![Some(x), Some(s), Some(z)],
    );
    let y = cx.node1(&n.name, DequantizeLinear { axis, ..Default::default() }, vec![Some(q), Some(s), Some(z)]);
    if nchw {
        cx.set_nchw(idx, 0, y)
    } else {
        cx.set(idx, 0, y)
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::Grid;

    #[test]
    fn nudged_grids_match_tensorflows() {
        // Symmetric narrow range, as ptq writes weights: zero point 128, scale s.
        let g = Grid::new(-127.0 * 0.01, 127.0 * 0.01, 8, true).unwrap();
        assert!((g.scale - 0.01).abs() < 1e-8 && g.zero_point == 128.0, "{g:?}");
        assert!((g.apply(0.034) - 0.03).abs() < 1e-6);
        assert!((g.apply(5.0) - 1.27).abs() < 1e-6);
        // A range without zero on the grid is nudged: [0.1, 25.6] → zero point 0 (min moves to 0).
        let g = Grid::new(0.1, 25.6, 8, false).unwrap();
        assert_eq!(g.zero_point, 0.0);
        assert_eq!(g.apply(-1.0), 0.0);
        // Halves round up, as TensorFlow's floor(x + 0.5).
        let g = Grid::new(0.0, 255.0, 8, false).unwrap();
        assert_eq!(g.apply(2.5), 3.0);
        assert!(Grid::new(1.0, 0.0, 8, false).is_err() && Grid::new(0.0, 1.0, 1, false).is_err());
    }
}

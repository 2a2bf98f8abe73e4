//! ConvolutionBackpropData and GroupConvolutionBackpropData as ConvTranspose
//! with explicit pads.
//!
//! OpenVINO pads differently from ONNX: without `output_shape` any auto_pad
//! but explicit means no padding at all; with `output_shape` the padding
//! `stride·(X−1) + (K−1)·dilation + 1 − output_shape + output_padding` is
//! split in halves, the larger half at the start for same_upper and at the
//! end otherwise. Both are written out as explicit pads here.

use ptq_ir::ValueId;
use ptq_ir::ops::conv_transpose::ConvTranspose;
use ptq_ir::ops::spatial::AutoPad;

use super::conv::{auto_pad, merge_groups};
use super::{const_ints, input, ints, output};
use crate::doc::Layer;
use crate::import::Cx;

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    let grouped = match l.kind.as_str() {
        "ConvolutionBackpropData" => false,
        "GroupConvolutionBackpropData" => true,
        _ => return Ok(false),
    };
    let (x, w, y) = (input(inputs, 0)?, input(inputs, 1)?, output(outputs, 0)?);
    let wt = cx.constant_of(w).cloned();
    let w_dims: Vec<i64> = match &wt {
        Some(t) => t.shape().iter().map(|&d| d as i64).collect(),
        None => l.inputs.get(1).map(|p| p.dims.clone()).unwrap_or_default(),
    };
    let r =
        w_dims.len().checked_sub(if grouped { 3 } else { 2 }).filter(|&r| r > 0).ok_or("weights of too low rank")?;
    let kernel = &w_dims[w_dims.len() - r..];
    let strides = ints(l, "strides", &vec![1; r])?;
    let dilations = ints(l, "dilations", &vec![1; r])?;
    let output_padding = ints(l, "output_padding", &vec![0; r])?;
    let mut pads = ints(l, "pads_begin", &vec![0; r])?;
    pads.extend(ints(l, "pads_end", &vec![0; r])?);
    if strides.len() != r || dilations.len() != r || output_padding.len() != r || pads.len() != 2 * r {
        return Err(format!("strides/dilations/pads/output_padding do not match {r} spatial axes"));
    }
    if pads.iter().chain(&output_padding).any(|&p| p < 0) || strides.iter().chain(&dilations).any(|&s| s < 1) {
        return Err("negative pads or non-positive strides or dilations".into());
    }
    let mode = auto_pad(l)?;
    match inputs.get(2) {
        None if mode != AutoPad::NotSet => pads.fill(0),
        None => {}
        Some(&shape) => {
            let out = const_ints(cx, shape, "output_shape")?;
            let x_dims = l.inputs.first().map(|p| p.dims.as_slice()).unwrap_or_default();
            let x_spatial = x_dims.get(x_dims.len().saturating_sub(r)..).filter(|d| d.len() == r && out.len() == r);
            let x_spatial = x_spatial.ok_or("output_shape needs the input's spatial dims and one entry per axis")?;
            for i in 0..r {
                let total = (|| {
                    let full = strides[i].checked_mul(x_spatial[i].checked_sub(1)?)?;
                    let k = kernel[i].checked_sub(1)?.checked_mul(dilations[i])?.checked_add(1)?;
                    full.checked_add(k)?.checked_sub(out[i])?.checked_add(output_padding[i])
                })();
                let total = total
                    .filter(|&t| t >= 0 && x_spatial[i] >= 0 && kernel[i] > 0)
                    .ok_or_else(|| format!("output_shape {out:?} cannot be reached with explicit pads"))?;
                let small = total / 2;
                (pads[i], pads[i + r]) =
                    if mode == AutoPad::SameUpper { (total - small, small) } else { (small, total - small) };
            }
        }
    }
    let (weight, group) = if grouped {
        // [G, I/G, O/G, k..] → [I, O/G, k..], ONNX's layout with group = G.
        merge_groups(cx, l, w, "[G, I/G, O/G, k..]")?
    } else {
        (w, 1)
    };
    let op = ConvTranspose {
        auto_pad: AutoPad::NotSet,
        dilations: Some(dilations),
        group,
        kernel_shape: None,
        output_padding: output_padding.iter().any(|&p| p != 0).then_some(output_padding),
        output_shape: None,
        pads: Some(pads),
        strides: Some(strides),
    };
    cx.node(&l.name, op, vec![Some(x), Some(weight)], vec![y]);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{DType, Tensor};

    use crate::ops::testutil::{Ir, assert_close, f32s, iota};

    /// A 2-D transposed convolution of `iota([1, 1, 3, 3])` with weights
    /// `iota([1, 1, 3, 3]) / 10`, stride 2.
    fn deconv(data: &[(&str, &str)], output_shape: Option<&[i64]>, out: i64) -> Ir {
        let mut ir = Ir::new();
        let x = ir.param("x", DType::F32, &[1, 1, 3, 3]);
        let w: Vec<f32> = (0..9).map(|v| v as f32 / 10.0).collect();
        let w = ir.constant(&f32s(&[1, 1, 3, 3], &w));
        let mut ins = vec![x, w];
        if let Some(s) = output_shape {
            ins.push(ir.ints(s));
        }
        let mut d = vec![("strides", "2,2"), ("dilations", "1,1")];
        d.extend_from_slice(data);
        let y = ir.layer("d", "ConvolutionBackpropData", "opset1", &d, &ins, &[(DType::F32, &[1, 1, out, out])]);
        ir.result(y[0]);
        ir
    }

    /// OpenVINO's 7x7 output for the case above with no padding.
    const FULL: [f64; 49] = [
        0.0, 0.0, 0.0, 0.1, 0.2, 0.2, 0.4, 0.0, 0.0, 0.3, 0.4, 1.1, 0.8, 1.0, 0.0, 0.3, 1.2, 1.1, 2.8, 1.9, 2.6, 0.9,
        1.2, 2.7, 1.6, 3.5, 2.0, 2.5, 1.8, 2.7, 6.0, 3.5, 7.6, 4.3, 5.6, 1.8, 2.4, 5.1, 2.8, 5.9, 3.2, 4.0, 3.6, 4.2,
        9.0, 4.9, 10.4, 5.6, 6.4,
    ];

    /// FULL cropped to rows and columns `lo..hi`.
    fn crop(lo: usize, hi: usize) -> Vec<f64> {
        (lo..hi).flat_map(|r| (lo..hi).map(move |c| FULL[r * 7 + c])).collect()
    }

    fn run(ir: &Ir) -> Tensor {
        ir.run(vec![("x", iota(&[1, 1, 3, 3]))]).remove(0)
    }

    // Expected values from OpenVINO 2026.4 (CPU plugin).

    #[test]
    fn backprop_data_pads_and_auto_pad() {
        let pads = [("pads_begin", "1,1"), ("pads_end", "0,0")];
        assert_close(&run(&deconv(&pads, None, 6)), &[1, 1, 6, 6], &crop(1, 7));
        // Any auto_pad but explicit ignores the pads: the full output.
        for mode in ["same_upper", "same_lower", "valid"] {
            let d = [pads[0], pads[1], ("auto_pad", mode)];
            assert_close(&run(&deconv(&d, None, 7)), &[1, 1, 7, 7], &FULL);
        }
        // output_padding adds a row and a column nothing reaches: 8x8.
        let want: Vec<f64> =
            (0..64).map(|i| if i / 8 < 7 && i % 8 < 7 { FULL[i / 8 * 7 + i % 8] } else { 0.0 }).collect();
        assert_close(&run(&deconv(&[("output_padding", "1,1")], None, 8)), &[1, 1, 8, 8], &want);
    }

    #[test]
    fn backprop_data_output_shape_becomes_pads() {
        // Total padding 1: at the start for same_upper, at the end otherwise.
        let y = run(&deconv(&[("auto_pad", "same_upper")], Some(&[6, 6]), 6));
        assert_close(&y, &[1, 1, 6, 6], &crop(1, 7));
        for mode in ["same_lower", "explicit", "valid"] {
            let y = run(&deconv(&[("auto_pad", mode), ("pads_begin", "1,1")], Some(&[6, 6]), 6));
            assert_close(&y, &[1, 1, 6, 6], &crop(0, 6));
        }
        let e = deconv(&[], Some(&[9, 9]), 9).load_err();
        assert!(e.contains("cannot be reached"), "{e}");
    }

    #[test]
    fn group_backprop_data_reshapes_weights() {
        // Two groups, one input and two output channels each, 1-D kernel of 2.
        let mut ir = Ir::new();
        let x = ir.param("x", DType::F32, &[1, 2, 2]);
        let w = ir.constant(&f32s(&[2, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]));
        let d = [("strides", "1"), ("dilations", "1"), ("pads_begin", "0"), ("pads_end", "0")];
        let y = ir.layer("g", "GroupConvolutionBackpropData", "opset1", &d, &[x, w], &[(DType::F32, &[1, 4, 3])]);
        ir.result(y[0]);
        let y = ir.run(vec![("x", f32s(&[1, 2, 2], &[1.0, 10.0, 100.0, 1000.0]))]);
        // Channel o of group g: x_g[0]·w[0] at 0..2 plus x_g[1]·w[1] at 1..3.
        assert_close(
            &y[0],
            &[1, 4, 3],
            &[1.0, 12.0, 20.0, 3.0, 34.0, 40.0, 500.0, 5600.0, 6000.0, 700.0, 7800.0, 8000.0],
        );
        // Computed weights of a static shape are merged by a Reshape node
        // and give the same result; without a static shape they cannot be.
        let mut ir = Ir::new();
        let x = ir.param("x", DType::F32, &[1, 2, 2]);
        let w = ir.param("w", DType::F32, &[2, 1, 2, 2]);
        let y = ir.layer("g", "GroupConvolutionBackpropData", "opset1", &d, &[x, w], &[(DType::F32, &[1, 4, 3])]);
        ir.result(y[0]);
        let y2 = ir.run(vec![
            ("x", f32s(&[1, 2, 2], &[1.0, 10.0, 100.0, 1000.0])),
            ("w", f32s(&[2, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])),
        ]);
        assert_close(
            &y2[0],
            &[1, 4, 3],
            &[1.0, 12.0, 20.0, 3.0, 34.0, 40.0, 500.0, 5600.0, 6000.0, 700.0, 7800.0, 8000.0],
        );
        let mut ir = Ir::new();
        let x = ir.param("x", DType::F32, &[1, 2, 2]);
        let w = ir.param("w", DType::F32, &[2, 1, 2, -1]);
        let y = ir.layer("g", "GroupConvolutionBackpropData", "opset1", &d, &[x, w], &[(DType::F32, &[1, 4, 3])]);
        ir.result(y[0]);
        assert!(ir.load_err().contains("weights must be constant or of a static shape"));
    }
}

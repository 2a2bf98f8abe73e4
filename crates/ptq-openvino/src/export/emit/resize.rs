//! ONNX Resize → Interpolate-11 (data, scales or sizes, axes).
//!
//! The two share their vocabulary: ONNX `linear` is OpenVINO's
//! `linear_onnx`, `cubic` keeps its coefficient (`cube_coeff`), and the
//! coordinate transformation and nearest modes carry the same names. The
//! axes are always written out (all axes when the node has none), so the
//! scales or sizes line up as ONNX reads them. What Interpolate cannot say
//! is refused: `tf_crop_and_resize` (a region of interest and an
//! extrapolation value), `exclude_outside`, a keep-aspect-ratio policy and
//! antialiasing.

use ptq_ir::Node;
use ptq_ir::ops::resize::Resize;

use super::{Cx, inp, opt_inp, single};
use crate::export::builder::attrs;

pub(crate) fn emit(cx: &mut Cx<'_>, n: &Node, r: &Resize) -> Result<(), String> {
    let ctm = r.coordinate_transformation_mode.as_deref().unwrap_or("half_pixel");
    if !matches!(ctm, "half_pixel" | "pytorch_half_pixel" | "asymmetric" | "align_corners" | "tf_half_pixel_for_nn") {
        return Err(format!("coordinate_transformation_mode '{ctm}' has no OpenVINO form"));
    }
    if r.exclude_outside.is_some_and(|e| e != 0) {
        return Err("exclude_outside has no OpenVINO form".into());
    }
    if r.antialias.is_some_and(|a| a != 0) {
        return Err("antialiased Resize is not written yet".into());
    }
    if r.keep_aspect_ratio_policy.as_deref().is_some_and(|p| p != "stretch") {
        return Err("a keep_aspect_ratio_policy other than stretch has no OpenVINO form".into());
    }
    let mode = match r.mode.as_deref().unwrap_or("nearest") {
        "nearest" => "nearest",
        "linear" => "linear_onnx",
        "cubic" => "cubic",
        m => return Err(format!("mode '{m}' has no OpenVINO form")),
    };
    let x = inp(n, 0)?;
    let rank = cx.rank(x)?;
    let (target, calc) = match (opt_inp(n, 3), opt_inp(n, 2)) {
        (Some(sizes), _) => (sizes, "sizes"),
        (None, Some(scales)) => (scales, "scales"),
        (None, None) => return Err("neither scales nor sizes are given".into()),
    };
    let axes: Vec<i64> = match &r.axes {
        Some(a) => a.iter().map(|&a| super::norm_axis(a, rank)).collect::<Result<_, _>>()?,
        None => (0..rank as i64).collect(),
    };
    let zeros = vec!["0"; rank].join(",");
    let mut data = attrs([
        ("mode", mode.to_string()),
        ("shape_calculation_mode", calc.to_string()),
        ("coordinate_transformation_mode", ctm.to_string()),
        ("nearest_mode", r.nearest_mode.clone().unwrap_or_else(|| "round_prefer_floor".into())),
        ("antialias", "false".into()),
        ("pads_begin", zeros.clone()),
        ("pads_end", zeros),
    ]);
    data.push(("cube_coeff".into(), r.cubic_coeff_a.unwrap_or(-0.75).to_string()));
    let xs = cx.src(x)?;
    let ts = cx.src(target)?;
    let a = cx.ints(&format!("{}/axes", n.name), &axes)?;
    single(cx, n, "Interpolate", "opset11", data, &[xs, ts, a])
}

//! Interpolate (opset1, 4, 11) as ONNX Resize.
//!
//! `linear_onnx` is ONNX's linear; OpenVINO's `linear` (a triangle filter
//! that skips taps outside the input and renormalises) gives the same values
//! unless antialiasing a downsample, which is refused; `cubic` is ONNX's cubic
//! with `cube_coeff`. Nearest mode `simple` is `ceil` when every resized axis
//! shrinks and `floor` when none does (after clamping `floor` equals the
//! spec's truncation). Opset1 layers take the attributes OpenVINO's own
//! Interpolate-1 → 4 conversion gives them. Pads, `tf_half_pixel_for_nn`
//! and the pillow modes are refused.

use ptq_ir::ops::resize::Resize;
use ptq_ir::{DType, ValueId};

use super::{const_ints, converted, input, ints, output, req};
use crate::doc::Layer;
use crate::import::Cx;

/// The attributes in OpenVINO's v4 terms.
#[derive(Debug)]
struct V4 {
    mode: String,
    ctm: String,
    nearest: String,
    cube: f32,
    antialias: bool,
    /// Input index of sizes or scales, and which.
    target: usize,
    sizes: bool,
    axes: Option<Vec<i64>>,
}

fn flag(l: &Layer, key: &str) -> bool {
    l.attr(key).is_some_and(|v| matches!(v.trim(), "true" | "True" | "1"))
}

fn v1(l: &Layer, rank: usize) -> Result<V4, String> {
    let axes = crate::doc::int_list(req(l, "axes")?)?;
    let mode = match req(l, "mode")? {
        "linear" if rank < 5 => "linear_onnx",
        "linear" if rank == 5 => "linear",
        m @ ("nearest" | "cubic" | "linear_onnx") => m,
        m => return Err(format!("mode '{m}' for rank {rank} is not supported")),
    };
    let mut sorted = axes.clone();
    sorted.sort_unstable();
    let ctm = if flag(l, "align_corners") {
        "align_corners"
    } else if mode.starts_with("linear") && !(rank == 4 && sorted == [2, 3]) {
        "half_pixel"
    } else {
        "asymmetric"
    };
    Ok(V4 {
        mode: mode.into(),
        ctm: ctm.into(),
        nearest: "simple".into(),
        cube: -0.75,
        antialias: flag(l, "antialias"),
        target: 1,
        sizes: true,
        axes: Some(axes),
    })
}

fn v4(cx: &Cx<'_>, l: &Layer, inputs: &[ValueId]) -> Result<V4, String> {
    let sizes = match req(l, "shape_calculation_mode")? {
        "sizes" => true,
        "scales" => false,
        other => return Err(format!("shape_calculation_mode '{other}'")),
    };
    // opset4: data, sizes, scales[, axes]; opset11: data, scales_or_sizes[, axes].
    let (target, axes_at) = match (l.version.as_str(), sizes) {
        ("opset4", true) => (1, 3),
        ("opset4", false) => (2, 3),
        _ => (1, 2),
    };
    let axes = match inputs.get(axes_at) {
        Some(&a) => Some(const_ints(cx, a, "axes")?),
        None => None,
    };
    let cube = match l.attr("cube_coeff") {
        Some(c) => c.trim().parse().map_err(|_| "cube_coeff is not a number")?,
        None => -0.75,
    };
    Ok(V4 {
        mode: req(l, "mode")?.into(),
        ctm: l.attr("coordinate_transformation_mode").unwrap_or("half_pixel").into(),
        nearest: l.attr("nearest_mode").unwrap_or("round_prefer_floor").into(),
        cube,
        antialias: flag(l, "antialias"),
        target,
        sizes,
        axes,
    })
}

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    if l.kind != "Interpolate" {
        return Ok(false);
    }
    let (x, y) = (input(inputs, 0)?, output(outputs, 0)?);
    let dims = l.inputs.first().ok_or("no data port")?.dims.clone();
    let a = match l.version.as_str() {
        "opset1" => v1(l, dims.len())?,
        "opset4" | "opset11" => v4(cx, l, inputs)?,
        v => return Err(format!("Interpolate {v} is not supported")),
    };
    for key in ["pads_begin", "pads_end"] {
        if ints(l, key, &[])?.iter().any(|&p| p != 0) {
            return Err(format!("non-zero {key} is not supported"));
        }
    }
    let mode = match a.mode.as_str() {
        "nearest" => "nearest",
        "linear" | "linear_onnx" => "linear",
        "cubic" => "cubic",
        m => return Err(format!("mode '{m}' is not supported")),
    };
    if !matches!(a.ctm.as_str(), "half_pixel" | "pytorch_half_pixel" | "asymmetric" | "align_corners") {
        return Err(format!("coordinate_transformation_mode '{}' is not supported", a.ctm));
    }
    let target = input(inputs, a.target)?;
    let scales = known_scales(cx, &dims, &a, target);
    let nearest = match a.nearest.as_str() {
        _ if mode != "nearest" => None,
        "round_prefer_floor" | "round_prefer_ceil" | "floor" | "ceil" => Some(a.nearest.clone()),
        "simple" => match scales.as_deref() {
            Some(s) if s.iter().all(|&s| s <= 1.0) && s.iter().any(|&s| s < 1.0) => Some("ceil".into()),
            Some(s) if s.iter().all(|&s| s >= 1.0) => Some("floor".into()),
            _ => return Err("nearest_mode 'simple' needs known scales that all shrink or all grow".into()),
        },
        m => return Err(format!("nearest_mode '{m}' is not supported")),
    };
    if a.antialias && a.mode == "linear" && scales.as_deref().is_none_or(|s| s.iter().any(|&s| s < 1.0)) {
        return Err("antialiased linear downsampling is not supported".into());
    }
    let name = |s: &str| format!("{}/{s}", l.name);
    let (scales_in, sizes_in) = if a.sizes {
        (None, Some(converted(cx, target, DType::I64, &name("sizes"))?))
    } else {
        (Some(converted(cx, target, DType::F32, &name("scales"))?), None)
    };
    let op = Resize {
        mode: Some(mode.into()),
        coordinate_transformation_mode: Some(a.ctm),
        nearest_mode: nearest,
        cubic_coeff_a: (mode == "cubic").then_some(a.cube),
        axes: a.axes,
        ..Resize::default()
    };
    cx.node(&l.name, op, vec![Some(x), None, scales_in, sizes_in], vec![y]);
    Ok(true)
}

/// The scale of each resized axis when the file fixes it: the constant
/// scales, or constant sizes over declared input dims.
fn known_scales(cx: &Cx<'_>, dims: &[i64], a: &V4, target: ValueId) -> Option<Vec<f64>> {
    let t = cx.constant_of(target)?;
    if !a.sizes {
        return Some(t.to_f64_vec());
    }
    let sizes = t.to_i64_vec()?;
    let axes: Vec<i64> = a.axes.clone().unwrap_or_else(|| (0..dims.len() as i64).collect());
    if axes.len() != sizes.len() {
        return None;
    }
    axes.iter()
        .zip(&sizes)
        .map(|(&ax, &s)| {
            let ax = if ax < 0 { ax.checked_add(dims.len() as i64)? } else { ax };
            let d = *dims.get(usize::try_from(ax).ok()?)?;
            (d > 0).then(|| s as f64 / d as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ptq_ir::{DType, Tensor};

    use crate::ops::testutil::{Ir, assert_close, f32s};

    /// `i^1.5` for i = 0, 1, .. in `shape`.
    fn x(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        f32s(shape, &(0..n).map(|i| (i as f32).powf(1.5)).collect::<Vec<_>>())
    }

    /// An Interpolate of `version` on an input of `dims`; `extra` are the
    /// inputs after the data.
    fn interp(version: &str, data: &[(&str, &str)], dims: &[usize], extra: &[Tensor], out: &[usize]) -> Ir {
        let mut ir = Ir::new();
        let d: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        let o: Vec<i64> = out.iter().map(|&d| d as i64).collect();
        let mut ins = vec![ir.param("x", DType::F32, &d)];
        ins.extend(extra.iter().map(|t| ir.constant(t)));
        let y = ir.layer("i", "Interpolate", version, data, &ins, &[(DType::F32, &o)]);
        ir.result(y[0]);
        ir
    }

    fn check(ir: &Ir, dims: &[usize], out: &[usize], want: &[f64]) {
        let y = ir.run(vec![("x", x(dims))]);
        assert_close(&y[0], out, want);
    }

    fn i64s(v: &[i64]) -> Tensor {
        Tensor::from_i64s(v)
    }

    fn scales(v: &[f32]) -> Tensor {
        Tensor::from_f32s(v)
    }

    // Expected values from OpenVINO 2026.4 (CPU plugin) on the same inputs.

    #[test]
    fn interpolate4_nearest_sizes_and_scales() {
        let d = [("mode", "nearest"), ("shape_calculation_mode", "sizes")];
        let d = [d[0], d[1], ("coordinate_transformation_mode", "asymmetric"), ("nearest_mode", "floor")];
        let ins = [i64s(&[3, 5]), scales(&[1.0, 1.0]), i64s(&[2, 3])];
        check(
            &interp("opset4", &d, &[1, 1, 2, 2], &ins, &[1, 1, 3, 5]),
            &[1, 1, 2, 2],
            &[1, 1, 3, 5],
            &[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 2.82843, 2.82843, 2.82843, 5.19615, 5.19615],
        );
        let d = [("mode", "nearest"), ("shape_calculation_mode", "scales"), ("nearest_mode", "round_prefer_ceil")];
        let ins = [i64s(&[3, 5]), scales(&[1.5, 2.5]), i64s(&[2, 3])];
        check(
            &interp("opset4", &d, &[1, 1, 2, 2], &ins, &[1, 1, 3, 5]),
            &[1, 1, 2, 2],
            &[1, 1, 3, 5],
            &[
                0.0, 0.0, 1.0, 1.0, 1.0, 2.82843, 2.82843, 5.19615, 5.19615, 5.19615, 2.82843, 2.82843, 5.19615,
                5.19615, 5.19615,
            ],
        );
    }

    #[test]
    fn interpolate_linear_modes() {
        let d = [("mode", "linear_onnx"), ("shape_calculation_mode", "scales")];
        let ins = [scales(&[2.0, 1.5]), i64s(&[2, 3])];
        check(
            &interp("opset11", &d, &[1, 1, 2, 3], &ins, &[1, 1, 4, 4]),
            &[1, 1, 2, 3],
            &[1, 1, 4, 4],
            &[
                0.0, 0.5, 1.30474, 2.52369, 1.29904, 2.02452, 3.11107, 4.55534, 3.89711, 5.07356, 6.72373, 8.61863,
                5.19615, 6.59808, 8.53006, 10.6503,
            ],
        );
        // OpenVINO's own linear, one axis shrinking and one growing.
        let ins = [i64s(&[2, 5]), scales(&[1.0, 1.0]), i64s(&[2, 3])];
        for (ctm, want) in [
            ("align_corners", [0.0, 0.5, 1.0, 1.91421, 2.82843, 14.6969, 16.6086, 18.5203, 20.5738, 22.6274]),
            ("half_pixel", [1.29904, 1.87942, 2.75, 4.04984, 4.91641, 12.3217, 13.7491, 15.8902, 18.2155, 19.7656]),
        ] {
            let d = [("mode", "linear"), ("shape_calculation_mode", "sizes"), ("coordinate_transformation_mode", ctm)];
            check(&interp("opset4", &d, &[1, 1, 3, 3], &ins, &[1, 1, 2, 5]), &[1, 1, 3, 3], &[1, 1, 2, 5], &want);
        }
    }

    #[test]
    fn interpolate11_cubic() {
        let d = [
            ("mode", "cubic"),
            ("shape_calculation_mode", "scales"),
            ("coordinate_transformation_mode", "pytorch_half_pixel"),
            ("cube_coeff", "-0.5"),
        ];
        let ins = [scales(&[0.5, 1.5]), i64s(&[2, 3])];
        check(
            &interp("opset11", &d, &[1, 1, 4, 4], &ins, &[1, 1, 2, 6]),
            &[1, 1, 4, 4],
            &[1, 1, 2, 6],
            &[
                2.96914, 3.9309, 5.49638, 7.23939, 9.38289, 10.9109, 32.7283, 35.1477, 38.7654, 42.1898, 46.0572,
                48.7211,
            ],
        );
    }

    #[test]
    fn interpolate1_as_openvino_converts_it() {
        let d = |mode, align| [("axes", "2,3"), ("mode", mode), ("align_corners", align), ("antialias", "false")];
        // nearest "simple": ceil when shrinking, truncation when growing.
        let ir = interp("opset1", &d("nearest", "false"), &[1, 1, 4, 4], &[i64s(&[3, 3])], &[1, 1, 3, 3]);
        check(
            &ir,
            &[1, 1, 4, 4],
            &[1, 1, 3, 3],
            &[0.0, 2.82843, 5.19615, 22.6274, 31.6228, 36.4829, 41.5692, 52.3832, 58.0947],
        );
        let ir = interp("opset1", &d("nearest", "false"), &[1, 1, 4, 4], &[i64s(&[6, 7])], &[1, 1, 6, 7]);
        let y = ir.run(vec![("x", x(&[1, 1, 4, 4]))]);
        assert_close(
            &y[0],
            &[1, 1, 6, 7],
            &[
                0.0, 0.0, 1.0, 1.0, 2.82843, 2.82843, 5.19615, 0.0, 0.0, 1.0, 1.0, 2.82843, 2.82843, 5.19615, 8.0, 8.0,
                11.1803, 11.1803, 14.6969, 14.6969, 18.5203, 22.6274, 22.6274, 27.0, 27.0, 31.6228, 31.6228, 36.4829,
                22.6274, 22.6274, 27.0, 27.0, 31.6228, 31.6228, 36.4829, 41.5692, 41.5692, 46.8722, 46.8722, 52.3832,
                52.3832, 58.0947,
            ],
        );
        // linear on NCHW axes {2, 3}: linear_onnx with asymmetric coordinates.
        let ir = interp("opset1", &d("linear", "false"), &[1, 1, 4, 4], &[i64s(&[3, 6])], &[1, 1, 3, 6]);
        check(
            &ir,
            &[1, 1, 4, 4],
            &[1, 1, 3, 6],
            &[
                0.0, 0.666667, 1.60948, 2.82843, 4.40691, 5.19615, 12.8758, 15.261, 17.7487, 20.3389, 23.1182, 24.5078,
                35.2553, 38.5838, 41.9864, 45.4631, 49.0816, 50.8908,
            ],
        );
        let ir = interp("opset1", &d("linear", "true"), &[1, 1, 4, 4], &[i64s(&[3, 6])], &[1, 1, 3, 6]);
        check(
            &ir,
            &[1, 1, 4, 4],
            &[1, 1, 3, 6],
            &[
                0.0, 0.6, 1.36569, 2.46274, 3.77552, 5.19615, 15.3137, 17.5796, 19.9041, 22.3459, 24.8965, 27.5016,
                41.5692, 44.751, 47.9744, 51.281, 54.6678, 58.0947,
            ],
        );
        // Other axes: half_pixel.
        let d = [("axes", "0,1"), ("mode", "linear")];
        let ir = interp("opset1", &d, &[4, 4, 1], &[i64s(&[3, 6])], &[3, 6, 1]);
        check(
            &ir,
            &[4, 4, 1],
            &[3, 6, 1],
            &[
                1.33333, 2.01503, 3.04836, 4.45488, 6.11167, 7.41684, 15.3137, 17.2019, 19.7685, 22.4816, 25.3307,
                27.5016, 38.4123, 40.9862, 44.454, 48.0293, 51.7079, 54.4928,
            ],
        );
    }

    #[test]
    fn interpolate_rejects_what_resize_cannot_do() {
        let base = [("mode", "linear"), ("shape_calculation_mode", "scales")];
        let ins = [scales(&[0.5, 0.5]), i64s(&[2, 3])];
        for (extra, want) in [
            (("pads_begin", "0,0,1,0"), "non-zero pads_begin"),
            (("coordinate_transformation_mode", "tf_half_pixel_for_nn"), "'tf_half_pixel_for_nn'"),
            (("antialias", "true"), "antialiased linear downsampling"),
            (("mode", "bilinear_pillow"), "mode 'bilinear_pillow'"),
            (("nearest_mode", "simple"), "needs"),
        ] {
            let mut d: Vec<(&str, &str)> = base.iter().copied().filter(|(k, _)| *k != extra.0).collect();
            d.push(extra);
            if extra.0 == "nearest_mode" {
                d[0] = ("mode", "nearest");
            }
            // Nearest "simple" with one axis shrinking and one growing.
            let ins = if extra.0 == "nearest_mode" { [scales(&[0.5, 2.0]), i64s(&[2, 3])] } else { ins.clone() };
            let e = interp("opset11", &d, &[1, 1, 4, 4], &ins, &[1, 1, 2, 2]).load_err();
            assert!(e.contains(want), "{e}");
        }
        // opset4 reads scales from input 2.
        let e = interp("opset4", &base, &[1, 1, 4, 4], &[i64s(&[2, 2])], &[1, 1, 2, 2]).load_err();
        assert!(e.contains("missing input 2"), "{e}");
        let e = interp("opset4", &base[..1], &[1, 1, 4, 4], &ins, &[1, 1, 2, 2]).load_err();
        assert!(e.contains("no shape_calculation_mode"), "{e}");
    }
}

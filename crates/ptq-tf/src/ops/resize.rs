//! ResizeBilinear and ResizeNearestNeighbor as IR Resize on channels-first
//! data, with TF's coordinate conventions (`align_corners`,
//! `half_pixel_centers`).

use ptq_ir::ops::concat::Concat;
use ptq_ir::ops::resize::Resize;
use ptq_ir::ops::shape_of::ShapeOf;

use super::attr_b;
use super::shape::as_i64;
use crate::flatten::FlatNode;
use crate::import::Cx;

pub fn lower(cx: &mut Cx<'_>, idx: usize, n: &FlatNode) -> Result<bool, String> {
    let bilinear = match n.op {
        "ResizeBilinear" => true,
        "ResizeNearestNeighbor" => false,
        _ => return Ok(false),
    };
    let name = n.name.clone();
    let x = cx.input_nchw(n, 0)?;
    let size = cx.input(n, 1)?;
    let size = as_i64(cx, size, &format!("{name}/size"))?;
    // sizes = shape(x)[0:2] ++ size.
    let nc = cx.node1(&format!("{name}/nc"), ShapeOf { start: Some(0), end: Some(2) }, vec![Some(x)]);
    let sizes = cx.node1(&format!("{name}/sizes"), Concat { axis: 0 }, vec![Some(nc), Some(size)]);
    let (align, half) = (attr_b(n, "align_corners", false), attr_b(n, "half_pixel_centers", false));
    let ctm = match (align, half, bilinear) {
        (true, _, _) => "align_corners",
        (false, true, true) => "half_pixel",
        (false, true, false) => "tf_half_pixel_for_nn",
        (false, false, _) => "asymmetric",
    };
    let op = Resize {
        mode: Some(if bilinear { "linear" } else { "nearest" }.into()),
        coordinate_transformation_mode: Some(ctm.into()),
        nearest_mode: Some(if align { "round_prefer_ceil" } else { "floor" }.into()),
        cubic_coeff_a: None,
        exclude_outside: None,
        extrapolation_value: None,
        antialias: None,
        axes: None,
        keep_aspect_ratio_policy: None,
    };
    let y = cx.node1(&name, op, vec![Some(x), None, None, Some(sizes)]);
    cx.set_nchw(idx, 0, y);
    Ok(true)
}

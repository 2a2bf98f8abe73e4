//! Slice and StridedSlice (with all five masks) as Slice, Squeeze and
//! Unsqueeze, on constant begin, end/size and strides.

use ptq_ir::Tensor;
use ptq_ir::ops::slice::Slice;
use ptq_ir::ops::squeeze::Squeeze;
use ptq_ir::ops::unsqueeze::Unsqueeze;

use super::{attr_i, const_ints};
use crate::flatten::FlatNode;
use crate::import::Cx;

/// ONNX Slice inputs for one sliced axis.
#[derive(Debug, PartialEq)]
struct Cut {
    axis: i64,
    start: i64,
    end: i64,
    step: i64,
}

/// A StridedSlice spec resolved against the input rank: the cuts, the input
/// axes to squeeze (shrink) and the output positions of new axes.
#[derive(Debug, PartialEq)]
struct Spec {
    cuts: Vec<Cut>,
    shrink: Vec<i64>,
    new_axes: Vec<i64>,
}

#[allow(clippy::too_many_arguments)]
fn resolve(begin: &[i64], end: &[i64], strides: &[i64], masks: [i64; 5], rank: usize) -> Result<Spec, String> {
    let [begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_mask] = masks;
    let k = begin.len();
    if end.len() != k || strides.len() != k {
        return Err("begin, end and strides differ in length".into());
    }
    if k > 64 {
        return Err("more than 64 slice entries".into());
    }
    let bit = |m: i64, i: usize| (m >> i) & 1 == 1;
    let consumed = (0..k).filter(|&i| !bit(ellipsis_mask, i) && !bit(new_axis_mask, i)).count();
    if consumed > rank {
        return Err(format!("{consumed} sliced axes for rank {rank}"));
    }
    let mut spec = Spec { cuts: vec![], shrink: vec![], new_axes: vec![] };
    let (mut axis, mut out_pos) = (0usize, 0i64);
    let mut seen_ellipsis = false;
    for i in 0..k {
        if bit(ellipsis_mask, i) {
            if std::mem::replace(&mut seen_ellipsis, true) {
                return Err("more than one ellipsis".into());
            }
            let n = rank - consumed;
            axis += n;
            out_pos += n as i64;
            continue;
        }
        if bit(new_axis_mask, i) {
            spec.new_axes.push(out_pos);
            out_pos += 1;
            continue;
        }
        let step = strides[i];
        if step == 0 {
            return Err("a stride of 0".into());
        }
        let a = axis as i64;
        axis += 1;
        if bit(shrink_mask, i) {
            let s = begin[i];
            spec.cuts.push(Cut { axis: a, start: s, end: if s == -1 { i64::MAX } else { s + 1 }, step: 1 });
            spec.shrink.push(a);
            continue;
        }
        out_pos += 1;
        let start = if bit(begin_mask, i) { if step > 0 { 0 } else { i64::MAX } } else { begin[i] };
        let stop = if bit(end_mask, i) { if step > 0 { i64::MAX } else { i64::MIN } } else { end[i] };
        if !(start == 0 && stop == i64::MAX && step == 1) {
            spec.cuts.push(Cut { axis: a, start, end: stop, step });
        }
    }
    Ok(spec)
}

pub fn lower(cx: &mut Cx<'_>, idx: usize, n: &FlatNode) -> Result<bool, String> {
    let name = n.name.clone();
    let x = match n.op {
        "Slice" | "StridedSlice" => cx.input(n, 0)?,
        _ => return Ok(false),
    };
    let spec = if n.op == "Slice" {
        let (b, s) = (cx.input(n, 1)?, cx.input(n, 2)?);
        let begin = const_ints(cx, b, "begin")?;
        let size = const_ints(cx, s, "size")?;
        if begin.len() != size.len() {
            return Err("begin and size differ in length".into());
        }
        let cuts = begin
            .iter()
            .zip(&size)
            .enumerate()
            .map(|(a, (&b, &s))| Cut { axis: a as i64, start: b, end: if s < 0 { i64::MAX } else { b + s }, step: 1 })
            .collect();
        Spec { cuts, shrink: vec![], new_axes: vec![] }
    } else {
        let (b, e, s) = (cx.input(n, 1)?, cx.input(n, 2)?, cx.input(n, 3)?);
        let (begin, end, strides) =
            (const_ints(cx, b, "begin")?, const_ints(cx, e, "end")?, const_ints(cx, s, "strides")?);
        let masks =
            ["begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"].map(|m| attr_i(n, m, 0));
        let rank = cx.rank(x).ok_or("StridedSlice of an input of unknown rank")?;
        resolve(&begin, &end, &strides, masks, rank)?
    };
    let mut y = x;
    if !spec.cuts.is_empty() {
        let col = |f: fn(&Cut) -> i64| Tensor::from_i64s(&spec.cuts.iter().map(f).collect::<Vec<_>>());
        let ins = [col(|c| c.start), col(|c| c.end), col(|c| c.axis), col(|c| c.step)]
            .into_iter()
            .zip(["starts", "ends", "axes", "steps"])
            .map(|(t, tag)| Some(cx.constant(&format!("{name}/{tag}"), t)))
            .collect::<Vec<_>>();
        let mut inputs = vec![Some(y)];
        inputs.extend(ins);
        let last = spec.shrink.is_empty() && spec.new_axes.is_empty();
        let tag = if last { name.clone() } else { format!("{name}/slice") };
        y = cx.node1(&tag, Slice, inputs);
    }
    if !spec.shrink.is_empty() {
        let ax = cx.constant(&format!("{name}/shrink"), Tensor::from_i64s(&spec.shrink));
        let tag = if spec.new_axes.is_empty() { name.clone() } else { format!("{name}/squeeze") };
        y = cx.node1(&tag, Squeeze, vec![Some(y), Some(ax)]);
    }
    if !spec.new_axes.is_empty() {
        let ax = cx.constant(&format!("{name}/new_axes"), Tensor::from_i64s(&spec.new_axes));
        y = cx.node1(&name, Unsqueeze, vec![Some(y), Some(ax)]);
    }
    cx.set(idx, 0, y);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::{Cut, resolve};

    #[test]
    fn masks_resolve_like_tensorflow() {
        // x[:, 0] on rank 3: shrink axis 1.
        let s = resolve(&[0, 0], &[0, 1], &[1, 1], [1, 1, 0, 0, 2], 3).expect("spec");
        assert_eq!(s.cuts, vec![Cut { axis: 1, start: 0, end: 1, step: 1 }]);
        assert_eq!(s.shrink, vec![1]);
        // x[..., ::-1, tf.newaxis] on rank 3.
        let s = resolve(&[0, 0, 0], &[0, 0, 0], &[1, -1, 1], [0, 2, 1, 4, 0], 3).expect("spec");
        assert_eq!(s.cuts, vec![Cut { axis: 2, start: 0, end: i64::MIN, step: -1 }]);
        assert_eq!(s.new_axes, vec![3]);
        // x[-1] keeps the last element.
        let s = resolve(&[-1], &[0], &[1], [0, 0, 0, 0, 1], 2).expect("spec");
        assert_eq!(s.cuts, vec![Cut { axis: 0, start: -1, end: i64::MAX, step: 1 }]);
        assert!(resolve(&[0], &[1], &[0], [0; 5], 1).is_err());
    }
}

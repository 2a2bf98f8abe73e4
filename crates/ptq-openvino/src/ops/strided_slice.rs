//! StridedSlice (constant begin, end and strides) as a Slice, then a Squeeze
//! of the shrunk axes and an Unsqueeze of the new ones.
//!
//! OpenVINO's masks: `begin_mask[i] = 1` ignores `begin[i]` and starts at the
//! edge (0, or the last element with a negative stride), `end_mask[i] = 1`
//! runs to the other edge; `new_axis_mask` inserts a size-1 axis and consumes
//! no input axis; `shrink_axis_mask` takes element `begin[i]` and drops the
//! axis; `ellipsis_mask` (one bit at most) stands for as many full input axes
//! as the other entries leave. Masks shorter than `begin` are padded with
//! zeros, longer ones truncated; axes after the last entry are kept whole.

use ptq_ir::ops::slice::Slice;
use ptq_ir::ops::squeeze::Squeeze;
use ptq_ir::ops::unary::{Unary, UnaryKind};
use ptq_ir::ops::unsqueeze::Unsqueeze;
use ptq_ir::{Fact, Op, Tensor, ValueId};

use super::{const_ints, input, ints, output};
use crate::doc::Layer;
use crate::import::Cx;

/// The masks, each as long as `begin`.
#[derive(Debug)]
struct Masks {
    begin: Vec<bool>,
    end: Vec<bool>,
    new_axis: Vec<bool>,
    shrink: Vec<bool>,
    ellipsis: Vec<bool>,
}

/// ONNX Slice inputs plus the axes to squeeze (input numbering) and to
/// unsqueeze (output numbering).
#[derive(Debug, Default, PartialEq)]
struct Plan {
    starts: Vec<i64>,
    ends: Vec<i64>,
    axes: Vec<i64>,
    steps: Vec<i64>,
    squeeze: Vec<i64>,
    unsqueeze: Vec<i64>,
}

impl Plan {
    fn slice(&mut self, axis: usize, start: i64, end: i64, step: i64) {
        if (start, end, step) != (0, i64::MAX, 1) {
            self.starts.push(start);
            self.ends.push(end);
            self.axes.push(axis as i64);
            self.steps.push(step);
        }
    }
}

fn plan(rank: usize, begin: &[i64], end: &[i64], stride: &[i64], m: &Masks) -> Result<Plan, String> {
    let n = begin.len();
    if m.ellipsis.iter().filter(|&&e| e).count() > 1 {
        return Err("ellipsis_mask has more than one bit set".into());
    }
    let real = (0..n).filter(|&i| !m.ellipsis[i] && !m.new_axis[i]).count();
    let free = rank.checked_sub(real).ok_or_else(|| format!("{real} sliced axes for an input of rank {rank}"))?;
    let mut p = Plan::default();
    let (mut axis, mut out_axis) = (0usize, 0i64);
    for i in 0..n {
        if m.ellipsis[i] {
            axis += free;
            out_axis += free as i64;
        } else if m.new_axis[i] {
            p.unsqueeze.push(out_axis);
            out_axis += 1;
        } else if m.shrink[i] {
            // One element, the stride ignored; -1 must not become an empty -1..0.
            let b = if m.begin[i] { 0 } else { begin[i] };
            p.slice(axis, b, if b == -1 { i64::MAX } else { b.saturating_add(1) }, 1);
            p.squeeze.push(axis as i64);
            axis += 1;
        } else {
            let s = stride[i];
            if s == 0 {
                return Err(format!("stride {i} is 0"));
            }
            let b = match (m.begin[i], s > 0) {
                (false, _) => begin[i],
                (true, true) => 0,
                (true, false) => i64::MAX,
            };
            let e = match (m.end[i], s > 0) {
                (false, _) => end[i],
                (true, true) => i64::MAX,
                (true, false) => i64::MIN,
            };
            p.slice(axis, b, e, s);
            axis += 1;
            out_axis += 1;
        }
    }
    Ok(p)
}

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    if l.kind != "StridedSlice" {
        return Ok(false);
    }
    let (x, y) = (input(inputs, 0)?, output(outputs, 0)?);
    let begin = const_ints(cx, input(inputs, 1)?, "begin")?;
    let end = const_ints(cx, input(inputs, 2)?, "end")?;
    let stride = match inputs.get(3) {
        Some(&s) => const_ints(cx, s, "stride")?,
        None => vec![1; begin.len()],
    };
    if end.len() != begin.len() || stride.len() != begin.len() {
        return Err(format!("begin, end and stride have {}, {} and {} entries", begin.len(), end.len(), stride.len()));
    }
    let mask = |key: &str| -> Result<Vec<bool>, String> {
        let mut v = ints(l, key, &[])?
            .iter()
            .map(|&b| match b {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(format!("{key} holds {b}, not 0 or 1")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        v.resize(begin.len(), false);
        Ok(v)
    };
    let masks = Masks {
        begin: mask("begin_mask")?,
        end: mask("end_mask")?,
        new_axis: mask("new_axis_mask")?,
        shrink: mask("shrink_axis_mask")?,
        ellipsis: mask("ellipsis_mask")?,
    };
    let rank = l.inputs.first().ok_or("no data port")?.dims.len();
    let p = plan(rank, &begin, &end, &stride, &masks)?;
    // The steps, each fed by the previous one; the last writes the output.
    let name = |s: &str| format!("{}/{s}", l.name);
    let mut steps: Vec<(&str, Op, Vec<Option<ValueId>>)> = vec![];
    if !p.axes.is_empty() {
        let c = |cx: &mut Cx<'_>, k: &str, v: &[i64]| Some(cx.constant(&name(k), Tensor::from_i64s(v)));
        let args =
            vec![c(cx, "starts", &p.starts), c(cx, "ends", &p.ends), c(cx, "axes", &p.axes), c(cx, "steps", &p.steps)];
        steps.push(("slice", Slice.into(), args));
    }
    if !p.squeeze.is_empty() {
        steps.push((
            "squeeze",
            Squeeze.into(),
            vec![Some(cx.constant(&name("squeeze_axes"), Tensor::from_i64s(&p.squeeze)))],
        ));
    }
    if !p.unsqueeze.is_empty() {
        let axes = cx.constant(&name("unsqueeze_axes"), Tensor::from_i64s(&p.unsqueeze));
        steps.push(("unsqueeze", Unsqueeze.into(), vec![Some(axes)]));
    }
    if steps.is_empty() {
        steps.push(("identity", Unary { kind: UnaryKind::Identity }.into(), vec![]));
    }
    let last = steps.len() - 1;
    let mut cur = x;
    for (i, (suffix, op, rest)) in steps.into_iter().enumerate() {
        let (node, out) =
            if i == last { (l.name.clone(), y) } else { (name(suffix), cx.value(&name(suffix), Fact::default())) };
        let mut args = vec![Some(cur)];
        args.extend(rest);
        cx.node(&node, op, args, vec![out]);
        cur = out;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use ptq_ir::DType;

    use crate::ops::testutil::{Ir, iota};

    /// StridedSlice of `iota(dims)`; masks as attribute strings.
    fn run(dims: &[usize], bes: [&[i64]; 3], masks: [&str; 5], out: &[usize]) -> Vec<f64> {
        let mut ir = Ir::new();
        let d: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        let o: Vec<i64> = out.iter().map(|&d| d as i64).collect();
        let x = ir.param("x", DType::F32, &d);
        let (b, e, s) = (ir.ints(bes[0]), ir.ints(bes[1]), ir.ints(bes[2]));
        let keys = ["begin_mask", "end_mask", "new_axis_mask", "shrink_axis_mask", "ellipsis_mask"];
        let data: Vec<(&str, &str)> = keys.iter().copied().zip(masks).collect();
        let y = ir.layer("ss", "StridedSlice", "opset1", &data, &[x, b, e, s], &[(DType::F32, &o)]);
        ir.result(y[0]);
        let y = ir.run(vec![("x", iota(dims))]);
        assert_eq!(y[0].shape(), out);
        y[0].to_f64_vec()
    }

    // Expected values from OpenVINO 2026.4 (CPU plugin) on the same inputs.

    #[test]
    fn strided_slice_begin_and_end_masks() {
        // x[1:, :, ::-1] on [2, 3, 4] (the spec's example): a reversed axis
        // with end_mask includes element 0.
        let y = run(&[2, 3, 4], [&[1, 1, 123], &[0, 0, 2], &[1, 1, -1]], ["0,1,1", "1,1,1", "", "", ""], &[1, 3, 4]);
        assert_eq!(y, [15.0, 14.0, 13.0, 12.0, 19.0, 18.0, 17.0, 16.0, 23.0, 22.0, 21.0, 20.0]);
        // Clamping and negative values: x[-10:2, 5:-4:-2] on [3, 5].
        let y = run(&[3, 5], [&[-10, 5], &[2, -4], &[1, -2]], ["0,0", "0,0", "", "", ""], &[2, 2]);
        assert_eq!(y, [4.0, 2.0, 9.0, 7.0]);
    }

    #[test]
    fn strided_slice_new_shrink_and_ellipsis() {
        // x[np.newaxis, 1, ..., -1] on [2, 3, 4]: new axis, shrink, ellipsis, shrink at -1.
        let masks = ["0", "0", "1", "0,1,0,1", "0,0,1"];
        let y = run(&[2, 3, 4], [&[0, 1, 0, -1], &[0, 2, 0, 0], &[1, 1, 1, 1]], masks, &[1, 3]);
        assert_eq!(y, [15.0, 19.0, 23.0]);
        // Masks shorter than begin, trailing axes kept: x[:, np.newaxis, 1:3] on [2, 3, 4].
        let y = run(&[2, 3, 4], [&[5, 7, 1], &[0, 9, 3], &[1, 1, 1]], ["1", "1", "0,1", "", ""], &[2, 1, 2, 4]);
        assert_eq!(y, [4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0]);
        // Shrink with begin_mask takes element 0 whatever the stride.
        let y = run(&[2, 3], [&[1, 2], &[2, 0], &[1, -1]], ["0,1", "0,0", "", "0,1", ""], &[1]);
        assert_eq!(y, [3.0]);
    }

    /// A StridedSlice on [2, 3] whose import must fail with `want`.
    fn rejects(begin: &[i64], stride: &[i64], data: &[(&str, &str)], want: &str) {
        let mut ir = Ir::new();
        let x = ir.param("x", DType::F32, &[2, 3]);
        let (b, e, s) = (ir.ints(begin), ir.ints(&vec![1; begin.len()]), ir.ints(stride));
        let y = ir.layer("ss", "StridedSlice", "opset1", data, &[x, b, e, s], &[(DType::F32, &[-1, -1])]);
        ir.result(y[0]);
        let err = ir.load_err();
        assert!(err.contains(want), "{err}");
    }

    #[test]
    fn strided_slice_rejects_bad_inputs() {
        rejects(&[0, 0], &[1, 1], &[("end_mask", "0,2")], "end_mask holds 2");
        rejects(&[0, 0], &[1, 1], &[("ellipsis_mask", "1,1")], "more than one bit");
        rejects(&[0, 0, 0], &[1, 1, 1], &[], "3 sliced axes for an input of rank 2");
        rejects(&[0, 0], &[1, 0], &[], "stride 1 is 0");
        rejects(&[0, 0], &[1], &[], "have 2, 2 and 1 entries");
        let mut ir = Ir::new();
        let x = ir.param("x", DType::F32, &[2, 3]);
        let b = ir.ints(&[0, 0]);
        let e = ir.param("e", DType::I64, &[2]);
        let y = ir.layer("ss", "StridedSlice", "opset1", &[], &[x, b, e], &[(DType::F32, &[-1, -1])]);
        ir.result(y[0]);
        assert!(ir.load_err().contains("end must be an integer constant"));
    }
}

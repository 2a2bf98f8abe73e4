//! Pad, Split, VariadicSplit, Range, Slice.

use ptq_ir::ops::cast::Cast;
use ptq_ir::ops::concat::Concat;
use ptq_ir::ops::pad::{Pad, PadMode};
use ptq_ir::ops::range::Range;
use ptq_ir::ops::slice::Slice;
use ptq_ir::ops::split::Split;
use ptq_ir::{DType, Fact, Tensor, ValueId};

use super::{const_int, const_ints, input, output, req_num};
use crate::doc::Layer;
use crate::import::Cx;

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    let name = |s: &str| format!("{}/{s}", l.name);
    match l.kind.as_str() {
        "Pad" => {
            let mode = match l.attr("pad_mode").unwrap_or("constant") {
                "constant" => PadMode::Constant,
                "edge" => PadMode::Edge,
                "reflect" => PadMode::Reflect,
                other => return Err(format!("pad_mode {other} is not supported")),
            };
            // ONNX pads are begins ++ ends in one tensor.
            let pads = cx.value(&name("pads"), Fact::dtype_only(Some(DType::I64)));
            cx.node(
                &name("pads"),
                Concat { axis: 0 },
                vec![Some(input(inputs, 1)?), Some(input(inputs, 2)?)],
                vec![pads],
            );
            let value = inputs.get(3).copied();
            cx.node(&l.name, Pad { mode }, vec![Some(input(inputs, 0)?), Some(pads), value], vec![output(outputs, 0)?]);
        }
        "Split" => {
            let axis = const_int(cx, input(inputs, 1)?, "Split axis")?;
            let n: usize = req_num(l, "num_splits")?;
            if n == 0 || n != outputs.len() {
                return Err(format!("num_splits {n} for {} outputs", outputs.len()));
            }
            let lengths = match axis_len(l, axis) {
                Some(d) if d % n as i64 != 0 => return Err(format!("axis length {d} is not divisible by {n}")),
                Some(d) => Some(vec![d / n as i64; n]),
                None => None,
            };
            split(cx, l, input(inputs, 0)?, axis, lengths, outputs);
        }
        "VariadicSplit" => {
            let axis = const_int(cx, input(inputs, 1)?, "VariadicSplit axis")?;
            let mut lengths = const_ints(cx, input(inputs, 2)?, "split_lengths")?;
            if let Some(free) = lengths.iter().position(|&n| n == -1) {
                let total = axis_len(l, axis).ok_or("split_lengths has -1 and the axis length is unknown")?;
                let known = lengths.iter().filter(|&&n| n != -1).try_fold(0i64, |a, &n| a.checked_add(n));
                lengths[free] = known.and_then(|k| total.checked_sub(k)).ok_or("split_lengths overflow")?;
            }
            split(cx, l, input(inputs, 0)?, axis, Some(lengths), outputs);
        }
        "Range" => {
            let to = match l.attr("output_type") {
                Some(t) => Some(crate::element::dtype(t).ok_or_else(|| format!("output_type {t}"))?),
                None => None,
            };
            let mut args = vec![];
            for i in 0..3 {
                let v = input(inputs, i)?;
                args.push(Some(match to {
                    Some(dt) => {
                        let c = cx.value(&name(&format!("cast{i}")), Fact::dtype_only(Some(dt)));
                        cx.node(&name(&format!("Cast{i}")), Cast { to: dt, saturate: None }, vec![Some(v)], vec![c]);
                        c
                    }
                    None => v,
                }));
            }
            cx.node(&l.name, Range, args, vec![output(outputs, 0)?]);
        }
        "Slice" => {
            // IR: data, start, stop, step[, axes]; ONNX: data, starts, ends, axes, steps.
            let (d, start, stop, step) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?, input(inputs, 3)?);
            let axes = inputs.get(4).copied();
            cx.node(
                &l.name,
                Slice,
                vec![Some(d), Some(start), Some(stop), axes, Some(step)],
                vec![output(outputs, 0)?],
            );
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The length of the data input's `axis` (negative counts from the end), if
/// the port declares it.
fn axis_len(l: &Layer, axis: i64) -> Option<i64> {
    let dims = &l.inputs.first()?.dims;
    let a = if axis < 0 { axis.checked_add(dims.len() as i64)? } else { axis };
    usize::try_from(a).ok().and_then(|a| dims.get(a)).copied().filter(|&d| d >= 0)
}

/// A Split of `x` along `axis` into `lengths`, or into as many equal parts as
/// there are outputs.
fn split(cx: &mut Cx<'_>, l: &Layer, x: ValueId, axis: i64, lengths: Option<Vec<i64>>, outputs: &[ValueId]) {
    let sizes = lengths.map(|v| cx.constant(&format!("{}/split", l.name), Tensor::from_i64s(&v)));
    cx.node(&l.name, Split { axis, num_outputs: None }, vec![Some(x), sizes], outputs.to_vec());
}

#[cfg(test)]
mod tests {
    use ptq_ir::DType;

    use crate::ops::testutil::{Ir, assert_close, iota};

    fn split(num_splits: &str, dims: &[i64], outs: usize, axis: i64) -> Ir {
        let mut ir = Ir::new();
        let x = ir.param("x", DType::F32, dims);
        let a = ir.constant(&ptq_ir::Tensor::I64(ndarray::arr0(axis).into_dyn()));
        let out_dims = [2i64, 2];
        let o: Vec<(DType, &[i64])> = (0..outs).map(|_| (DType::F32, &out_dims[..])).collect();
        let ys = ir.layer("split", "Split", "opset1", &[("num_splits", num_splits)], &[x, a], &o);
        for y in ys {
            ir.result(y);
        }
        ir
    }

    #[test]
    fn split_cuts_equal_parts_along_a_constant_axis() {
        let ys = split("3", &[2, 6], 3, -1).run(vec![("x", iota(&[2, 6]))]);
        assert_close(&ys[0], &[2, 2], &[0.0, 1.0, 6.0, 7.0]);
        assert_close(&ys[1], &[2, 2], &[2.0, 3.0, 8.0, 9.0]);
        assert_close(&ys[2], &[2, 2], &[4.0, 5.0, 10.0, 11.0]);
        // A dynamic axis length: equal parts decided at run time.
        let ys = split("2", &[2, -1], 2, 1).run(vec![("x", iota(&[2, 4]))]);
        assert_close(&ys[1], &[2, 2], &[2.0, 3.0, 6.0, 7.0]);
    }

    #[test]
    fn split_rejects_uneven_or_miscounted_splits() {
        assert!(split("4", &[2, 6], 4, 1).load_err().contains("not divisible"));
        assert!(split("3", &[2, 6], 2, 1).load_err().contains("num_splits 3 for 2 outputs"));
        assert!(split("x", &[2, 6], 2, 1).load_err().contains("num_splits is not a number"));
    }
}

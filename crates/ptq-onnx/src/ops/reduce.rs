//! Reduce*, ArgMax/ArgMin and TopK.

use ptq_ir::ops::arg_reduce::ArgReduce;
use ptq_ir::ops::reduce::{Reduce, ReduceKind};
use ptq_ir::ops::topk::TopK;

use super::{Emitted, ExportCtx, Lowered};
use crate::attrs::{AttrOut, Attrs};

fn kind(t: &str) -> Option<ReduceKind> {
    use ReduceKind::*;
    Some(match t {
        "ReduceMean" => Mean,
        "ReduceSum" => Sum,
        "ReduceMax" => Max,
        "ReduceMin" => Min,
        "ReduceProd" => Prod,
        "ReduceL1" => L1,
        "ReduceL2" => L2,
        "ReduceLogSum" => LogSum,
        "ReduceLogSumExp" => LogSumExp,
        "ReduceSumSquare" => SumSquare,
        _ => return None,
    })
}

/// The opset from which a reduction takes its axes as an input.
fn axes_input_since(k: ReduceKind) -> i64 {
    if k == ReduceKind::Sum { 13 } else { 18 }
}

pub fn import_reduce(t: &str, a: &Attrs, opset: i64) -> Result<Option<Lowered>, String> {
    let Some(k) = kind(t) else { return Ok(None) };
    let moved = if opset < axes_input_since(k) {
        a.ints("axes")?.map(|v| vec![(1, ptq_ir::Tensor::from_i64s(&v))]).unwrap_or_default()
    } else {
        vec![]
    };
    Lowered::with(
        Reduce {
            kind: k,
            keepdims: a.flag("keepdims", true)?,
            noop_with_empty_axes: a.flag("noop_with_empty_axes", false)?,
        },
        moved,
    )
}

pub fn export_reduce(r: &Reduce, cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    let mut o = AttrOut::default();
    o.int_unless("keepdims", i64::from(r.keepdims), 1);
    let old = cx.opset < axes_input_since(r.kind);
    if r.noop_with_empty_axes {
        if old {
            return Err("noop_with_empty_axes needs axes as an input".into());
        }
        o.int("noop_with_empty_axes", 1);
    }
    let mut e = Emitted::new(r.kind.name(), o);
    if old {
        cx.ints_from_input(1, "axes", &mut e)?;
    }
    Ok(e)
}

pub fn import_arg(t: &str, a: &Attrs) -> Result<Option<Lowered>, String> {
    if t == "TopK" {
        return Lowered::op(TopK {
            axis: a.int_or("axis", -1)?,
            largest: a.flag("largest", true)?,
            sorted: a.flag("sorted", true)?,
        });
    }
    Lowered::op(ArgReduce {
        max: t == "ArgMax",
        axis: a.int_or("axis", 0)?,
        keepdims: a.flag("keepdims", true)?,
        select_last_index: a.flag("select_last_index", false)?,
    })
}

pub fn export_topk(t: &TopK) -> Emitted {
    let mut o = AttrOut::default();
    o.int_unless("axis", t.axis, -1).int_unless("largest", i64::from(t.largest), 1).int_unless(
        "sorted",
        i64::from(t.sorted),
        1,
    );
    Emitted::new("TopK", o)
}

pub fn export_arg_reduce(r: &ArgReduce) -> Emitted {
    let mut o = AttrOut::default();
    o.int_unless("axis", r.axis, 0).int_unless("keepdims", i64::from(r.keepdims), 1).int_unless(
        "select_last_index",
        i64::from(r.select_last_index),
        0,
    );
    Emitted::new(if r.max { "ArgMax" } else { "ArgMin" }, o)
}

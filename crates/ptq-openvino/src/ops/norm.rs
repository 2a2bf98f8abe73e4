//! MVN written out as ReduceMean / Sub / Mul / ReduceMean / Add / Sqrt / Div.

use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::ops::reduce::{Reduce, ReduceKind};
use ptq_ir::ops::unary::{Unary, UnaryKind};
use ptq_ir::{Fact, Tensor, ValueId};

use super::{input, output, req};
use crate::doc::Layer;
use crate::import::Cx;

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    if l.kind != "MVN" {
        return Ok(false);
    }
    if l.version != "opset6" {
        return Err(format!("MVN {} (axes as an attribute) is not supported", l.version));
    }
    let (x, axes, y) = (input(inputs, 0)?, input(inputs, 1)?, output(outputs, 0)?);
    let eps: f32 = req(l, "eps")?.parse().map_err(|_| "eps is not a number")?;
    let inside = match req(l, "eps_mode")?.to_ascii_lowercase().as_str() {
        "inside_sqrt" => true,
        "outside_sqrt" => false,
        other => return Err(format!("eps_mode {other}")),
    };
    let normalize = l.attr("normalize_variance").is_none_or(|v| v == "true");
    let name = |s: &str| format!("{}/{s}", l.name);
    let mean_op = Reduce { kind: ReduceKind::Mean, keepdims: true, noop_with_empty_axes: false };
    let mean = cx.value(&name("mean"), Fact::default());
    cx.node(&name("ReduceMean"), mean_op.clone(), vec![Some(x), Some(axes)], vec![mean]);
    let centered = if normalize { cx.value(&name("centered"), Fact::default()) } else { y };
    cx.node(&name("Sub"), Binary { kind: BinaryKind::Sub }, vec![Some(x), Some(mean)], vec![centered]);
    if !normalize {
        return Ok(true);
    }
    let sq = cx.value(&name("squared"), Fact::default());
    cx.node(&name("Mul"), Binary { kind: BinaryKind::Mul }, vec![Some(centered), Some(centered)], vec![sq]);
    let var = cx.value(&name("variance"), Fact::default());
    cx.node(&name("ReduceMean_1"), mean_op, vec![Some(sq), Some(axes)], vec![var]);
    let eps_v = cx.constant(&name("eps"), Tensor::scalar_f32(eps));
    let (a, b) = (cx.value(&name("a"), Fact::default()), cx.value(&name("b"), Fact::default()));
    let add = Binary { kind: BinaryKind::Add };
    let sqrt = Unary { kind: UnaryKind::Sqrt };
    if inside {
        cx.node(&name("Add"), add, vec![Some(var), Some(eps_v)], vec![a]);
        cx.node(&name("Sqrt"), sqrt, vec![Some(a)], vec![b]);
    } else {
        cx.node(&name("Sqrt"), sqrt, vec![Some(var)], vec![a]);
        cx.node(&name("Add"), add, vec![Some(a), Some(eps_v)], vec![b]);
    }
    cx.node(&l.name, Binary { kind: BinaryKind::Div }, vec![Some(centered), Some(b)], vec![y]);
    Ok(true)
}

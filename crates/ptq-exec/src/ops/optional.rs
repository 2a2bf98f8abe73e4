//! ONNX optionals where they hold tensors: `Optional` of a tensor,
//! `OptionalHasElement` and `OptionalGetElement`. The executor has no
//! empty-optional value, so an absent input of `OptionalHasElement` reads
//! as empty (false) and every other empty optional is an error.

use ptq_ir::Tensor;
use ptq_ir::ops::opaque::Opaque;

use super::{Kernel, Out, k, one};
use crate::inputs::Inputs;

/// The kernel of an opaque optional op, if it is one.
pub fn prepare(o: &Opaque) -> Option<Result<Box<dyn Kernel>, Option<String>>> {
    if !(o.domain.is_empty() || o.domain == "ai.onnx") {
        return None;
    }
    Some(match o.op_type.as_str() {
        "OptionalHasElement" => k(o, |_, ins, _| one(Tensor::Bool(ndarray::arr0(ins.opt(0).is_some()).into_dyn()))),
        "OptionalGetElement" | "Optional" => k(o, get),
        _ => return None,
    })
}

fn get(_: &Opaque, ins: &mut Inputs, _: usize) -> Out {
    if ins.opt(0).is_none() {
        return Err("empty optionals are not supported".into());
    }
    one(ins.take(0)?)
}

//! Lowering TF primitive ops to ptq-ir ops, one file per op family. An op
//! without a lowering is an error naming it ([`UNSUPPORTED`]).

mod conv;
mod einsum;
mod fake_quant;
mod linalg;
mod math;
mod nn;
mod reduce;
mod resize;
mod shape;
mod slice;

use ndarray::IxDyn;
use ptq_ir::{DType, Tensor, ValueId};

use crate::flatten::FlatNode;
use crate::import::Cx;
use crate::pb;
use crate::pb::attr_value::Value as A;

/// Prefix of the error string for an op with no lowering.
pub const UNSUPPORTED: &str = "\0unsupported";

/// Lowers flat node `idx`.
pub fn lower(cx: &mut Cx<'_>, idx: usize, n: &FlatNode) -> Result<(), String> {
    match n.op {
        // The same tensor under another name.
        "Identity" | "Snapshot" | "StopGradient" | "PreventGradient" | "EnsureShape" | "CheckNumerics" => {
            cx.alias(idx, 0, *n.inputs.first().ok_or("missing input 0")?)
        }
        "IdentityN" => {
            for (k, s) in n.inputs.iter().enumerate() {
                cx.alias(idx, k, *s)?;
            }
            Ok(())
        }
        "NoOp" => Ok(()),
        _ => {
            let done = conv::lower(cx, idx, n)?
                || nn::lower(cx, idx, n)?
                || math::lower(cx, idx, n)?
                || reduce::lower(cx, idx, n)?
                || linalg::lower(cx, idx, n)?
                || shape::lower(cx, idx, n)?
                || slice::lower(cx, idx, n)?
                || resize::lower(cx, idx, n)?
                || fake_quant::lower(cx, idx, n)?;
            if done { Ok(()) } else { Err(UNSUPPORTED.to_string()) }
        }
    }
}

/// An attribute's value.
pub fn attr<'n>(n: &'n FlatNode, key: &str) -> Option<&'n A> {
    n.attrs.get(key).and_then(|a| a.value.as_ref())
}

/// An integer attribute, or `default`.
pub fn attr_i(n: &FlatNode, key: &str, default: i64) -> i64 {
    match attr(n, key) {
        Some(A::I(i)) => *i,
        _ => default,
    }
}

/// A float attribute, or `default`.
pub fn attr_f(n: &FlatNode, key: &str, default: f32) -> f32 {
    match attr(n, key) {
        Some(A::F(f)) => *f,
        _ => default,
    }
}

/// A bool attribute, or `default`.
pub fn attr_b(n: &FlatNode, key: &str, default: bool) -> bool {
    match attr(n, key) {
        Some(A::B(b)) => *b,
        _ => default,
    }
}

/// A string attribute, or `default`.
pub fn attr_s(n: &FlatNode, key: &str, default: &str) -> String {
    match attr(n, key) {
        Some(A::S(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => default.to_string(),
    }
}

/// A list-of-ints attribute (empty when absent).
pub fn attr_ints(n: &FlatNode, key: &str) -> Vec<i64> {
    match attr(n, key) {
        Some(A::List(l)) => l.i.clone(),
        _ => vec![],
    }
}

/// A type attribute (TF DataType number).
pub fn attr_type(n: &FlatNode, key: &str) -> Option<i32> {
    match attr(n, key) {
        Some(A::Type(t)) => Some(*t),
        _ => None,
    }
}

/// A shape attribute.
pub fn attr_shape<'n>(n: &'n FlatNode, key: &str) -> Option<&'n pb::TensorShapeProto> {
    match attr(n, key) {
        Some(A::Shape(s)) => Some(s),
        _ => None,
    }
}

/// A tensor attribute, decoded.
pub fn attr_tensor(n: &FlatNode, key: &str) -> Result<Tensor, String> {
    match attr(n, key) {
        Some(A::Tensor(t)) => crate::tensor::decode(t),
        _ => Err(format!("no tensor attribute {key}")),
    }
}

/// The IR dtype of a type attribute.
pub fn attr_dtype(n: &FlatNode, key: &str) -> Result<DType, String> {
    let t = attr_type(n, key).ok_or_else(|| format!("no type attribute {key}"))?;
    crate::dtype::from_tf(t).ok_or_else(|| format!("{key}: TF dtype {t} is not supported"))
}

/// `data_format` is NHWC (the default) or NCHW.
pub fn channels_last(n: &FlatNode) -> Result<bool, String> {
    match attr_s(n, "data_format", "NHWC").as_str() {
        "NHWC" | "NDHWC" | "NWC" => Ok(true),
        "NCHW" | "NCDHW" | "NCW" => Ok(false),
        other => Err(format!("data_format {other}")),
    }
}

/// The integers of a constant input.
pub fn const_ints(cx: &Cx<'_>, v: ValueId, what: &str) -> Result<Vec<i64>, String> {
    cx.constant_of(v).and_then(Tensor::to_i64_vec).ok_or_else(|| format!("{what} must be a constant"))
}

macro_rules! remap {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            Tensor::F32($a) => Tensor::F32($body),
            Tensor::F64($a) => Tensor::F64($body),
            Tensor::F16($a) => Tensor::F16($body),
            Tensor::BF16($a) => Tensor::BF16($body),
            Tensor::I8($a) => Tensor::I8($body),
            Tensor::U8($a) => Tensor::U8($body),
            Tensor::I16($a) => Tensor::I16($body),
            Tensor::U16($a) => Tensor::U16($body),
            Tensor::I32($a) => Tensor::I32($body),
            Tensor::U32($a) => Tensor::U32($body),
            Tensor::I64($a) => Tensor::I64($body),
            Tensor::U64($a) => Tensor::U64($body),
            Tensor::Bool($a) => Tensor::Bool($body),
            Tensor::F8E4M3FN($a) => Tensor::F8E4M3FN($body),
            Tensor::F8E4M3FNUZ($a) => Tensor::F8E4M3FNUZ($body),
            Tensor::F8E5M2($a) => Tensor::F8E5M2($body),
            Tensor::F8E5M2FNUZ($a) => Tensor::F8E5M2FNUZ($body),
            Tensor::I4($a) => Tensor::I4($body),
            Tensor::U4($a) => Tensor::U4($body),
            Tensor::String($a) => Tensor::String($body),
        }
    };
}

/// A constant transposed by `perm`; `None` if `perm` does not fit its rank.
pub fn permuted(t: &Tensor, perm: &[i64]) -> Option<Tensor> {
    let rank = t.shape().len();
    let p: Vec<usize> = perm.iter().map(|&x| usize::try_from(x).ok().filter(|&x| x < rank)).collect::<Option<_>>()?;
    let mut seen = vec![false; rank];
    if p.len() != rank || p.iter().any(|&x| std::mem::replace(&mut seen[x], true)) {
        return None;
    }
    Some(remap!(t, a => a.clone().permuted_axes(IxDyn(&p)).as_standard_layout().into_owned()))
}

/// A constant reshaped (same element count).
pub fn reshaped(t: &Tensor, shape: &[usize]) -> Option<Tensor> {
    Some(remap!(t, a => a.as_standard_layout().into_owned().into_shape_with_order(IxDyn(shape)).ok()?))
}

//! One file per op: the kernel that evaluates it on tensors.
//!
//! [`prepare`] matches every `Op` variant without a wildcard, so a new IR
//! op does not compile until it has a kernel here or is refused. Ops the
//! IR keeps opaque run when they only matter to execution, matched by op
//! type: CumSum, CastLike, the table in `opaque.rs` (losses, scatter and
//! gather ND, integer and QLinear ops, RNN, Einsum, NMS, windows...) and
//! the optionals of `optional.rs`; passes still treat them as black boxes.
//! `If`, `Loop` and `Scan` are built with their bodies' plans by
//! `control::prepare_control`.

mod affine_grid;
mod arg_reduce;
mod batch_norm;
mod binarizer;
mod binary;
mod bitwise;
mod cast;
mod center_crop_pad;
mod clip;
mod col2im;
mod compress;
mod concat;
mod constant_of_shape;
mod control;
pub(crate) mod conv;
mod conv_integer;
mod conv_nd;
mod conv_transpose;
mod cumsum;
mod deform_conv;
mod depth_space;
pub(crate) mod dequantize;
mod det;
mod dft;
mod dropout;
mod dynamic_quantize;
mod einsum;
mod expand;
mod eye_like;
mod fake_quantize;
mod gather;
mod gather_elements;
mod gather_nd;
mod gemm;
mod global_pool;
mod grid_sample;
mod group_norm;
mod if_;
mod instance_norm;
mod is_inf;
mod layer_norm;
mod loop_;
mod lp_pool;
mod lrn;
mod matmul;
mod matmul_integer;
mod max_unpool;
mod mel_weight_matrix;
mod mvn;
mod nll_loss;
mod nms;
mod non_zero;
mod one_hot;
mod opaque;
mod optional;
mod pad;
mod pool;
mod qlinear_conv;
mod qlinear_matmul;
mod quantize;
mod range;
mod reduce;
mod reshape;
mod resize;
mod reverse_sequence;
mod rnn;
mod roi_align;
mod scan;
mod scatter_elements;
mod scatter_nd;
mod shape;
mod shrink;
mod simple_rnn;
mod slice;
mod softmax;
mod softmax_cross_entropy;
mod split;
mod stft;
mod tile;
mod topk;
pub(crate) mod transpose;
mod trig;
mod trilu;
pub(crate) mod unary;
mod unique;
mod upsample;
mod variadic;
mod where_;
mod window;

use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::ops::unary::UnaryKind;
use ptq_ir::{Graph, Node, Op, Tensor};

use crate::inputs::Inputs;
pub(crate) use control::prepare_control;

/// What a kernel returns: one entry per output slot (`None` for outputs it
/// does not produce), or a message.
pub type Out = Result<Vec<Option<Tensor>>, String>;

/// An op ready to run.
pub trait Kernel: Send + Sync + std::fmt::Debug {
    /// Evaluates the op; `n_outputs` is the node's number of output slots.
    fn run(&self, inputs: &mut Inputs, n_outputs: usize) -> Out;

    /// The step's cost on `inputs`, for kernels whose inputs are not those
    /// of an IR op (the integer steps of [`crate::lower`]). Used instead of
    /// [`crate::work::estimate`] and the output limit of `limits.rs`, which
    /// read the IR op. None: the IR op's estimates apply.
    fn cost(&self, _inputs: &Inputs) -> Option<crate::work::Cost> {
        None
    }
}

struct FnKernel<O> {
    op: O,
    f: fn(&O, &mut Inputs, usize) -> Out,
}

impl<O> std::fmt::Debug for FnKernel<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::any::type_name::<O>())
    }
}

impl<O: Send + Sync> Kernel for FnKernel<O> {
    fn run(&self, inputs: &mut Inputs, n_outputs: usize) -> Out {
        (self.f)(&self.op, inputs, n_outputs)
    }
}

fn k<O: Clone + Send + Sync + 'static>(
    op: &O,
    f: fn(&O, &mut Inputs, usize) -> Out,
) -> Result<Box<dyn Kernel>, Option<String>> {
    Ok(Box::new(FnKernel { op: op.clone(), f }))
}

/// One output.
pub fn one(t: Tensor) -> Out {
    Ok(vec![Some(t)])
}

/// The kernel for a node, or `Err` with the op's display name (`None`: the op's own name) when unsupported.
pub fn prepare(node: &Node, _graph: &Graph) -> Result<Box<dyn Kernel>, Option<String>> {
    match &node.op {
        Op::Conv(o) => k(o, conv::run),
        Op::ConvTranspose(o) => k(o, conv_transpose::run),
        Op::BatchNorm(o) => k(o, batch_norm::run),
        Op::Pool(o) => k(o, pool::run),
        Op::GlobalPool(o) => k(o, global_pool::run),
        Op::Gemm(o) => k(o, gemm::run),
        Op::MatMul(o) => k(o, matmul::run),
        // Identity moves any dtype, strings and float8 included.
        Op::Unary(o) if o.kind == UnaryKind::Identity => k(o, |_, ins, _| one(ins.take(0)?)),
        Op::Unary(o) => k(o, unary::run),
        Op::Binary(o) => k(o, run_binary),
        Op::Variadic(o) => k(o, variadic::run),
        Op::Clip(o) => k(o, clip::run),
        Op::Softmax(o) => k(o, softmax::run),
        Op::LayerNorm(o) => k(o, layer_norm::run),
        Op::InstanceNorm(o) => k(o, instance_norm::run),
        Op::Reshape(o) => k(o, reshape::run_reshape),
        Op::Flatten(o) => k(o, reshape::run_flatten),
        Op::Squeeze(o) => k(o, reshape::run_squeeze),
        Op::Unsqueeze(o) => k(o, reshape::run_unsqueeze),
        Op::Transpose(o) => k(o, transpose::run),
        Op::Concat(o) => k(o, concat::run),
        Op::Split(o) => k(o, split::run),
        Op::Slice(o) => k(o, slice::run),
        Op::Gather(o) => k(o, gather::run),
        Op::GatherElements(o) => k(o, gather_elements::run),
        Op::Expand(o) => k(o, expand::run),
        Op::Tile(o) => k(o, tile::run),
        Op::Pad(o) => k(o, pad::run),
        Op::Resize(o) => k(o, resize::run),
        Op::DepthToSpace(o) => k(o, depth_space::run_d2s),
        Op::SpaceToDepth(o) => k(o, depth_space::run_s2d),
        Op::Reduce(o) => k(o, reduce::run),
        Op::ArgReduce(o) => k(o, arg_reduce::run),
        Op::TopK(o) => k(o, topk::run),
        Op::ShapeOf(o) => k(o, shape::run_shape),
        Op::Size(o) => k(o, shape::run_size),
        Op::ConstantOfShape(o) => k(o, constant_of_shape::run),
        Op::Range(o) => k(o, range::run),
        Op::Cast(o) => k(o, cast::run),
        Op::Where(o) => k(o, where_::run),
        Op::Dropout(o) => k(o, dropout::run),
        Op::Rnn(o) => k(o, rnn::run),
        // Built with their bodies' plans by `prepare_control`.
        Op::If(_) | Op::Loop(_) | Op::Scan(_) => Err(None),
        Op::QuantizeLinear(o) => k(o, quantize::run),
        Op::DequantizeLinear(o) => k(o, dequantize::run),
        Op::FakeQuantize(o) => k(o, fake_quantize::run),
        Op::Opaque(o) if (o.domain.is_empty() || o.domain == "ai.onnx") && o.op_type == "CumSum" => {
            k(&cumsum::CumSum::from_attrs(&o.attrs).map_err(Some)?, cumsum::run)
        }
        Op::Opaque(o) if (o.domain.is_empty() || o.domain == "ai.onnx") && o.op_type == "CastLike" => {
            k(o, |o, ins, _| cast::run_like(&o.attrs, ins))
        }
        Op::Opaque(o) if opaque::handles(o) => opaque::prepare(o),
        Op::Opaque(o) => optional::prepare(o).unwrap_or(Err(None)),
    }
}

/// Binary ops: Equal on two string tensors here, numbers in [`binary::run`];
/// any other use of strings is an error.
fn run_binary(op: &Binary, ins: &mut Inputs, n: usize) -> Out {
    match (ins.get(0)?, ins.get(1)?) {
        (Tensor::String(a), Tensor::String(b)) if op.kind == BinaryKind::Equal => {
            one(Tensor::Bool(crate::util::zip_map(a, b, |x, y| x == y)?))
        }
        (a, b) if a.dtype() == ptq_ir::DType::String || b.dtype() == ptq_ir::DType::String => {
            Err(format!("{} of {} and {} is not supported", op.kind.name(), a.dtype(), b.dtype()))
        }
        _ => binary::run(op, ins, n),
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};
    use ptq_ir::float8::F8E4M3FN;
    use ptq_ir::ops::binary::{Binary, BinaryKind};
    use ptq_ir::ops::concat::Concat;
    use ptq_ir::ops::gather::Gather;
    use ptq_ir::ops::reshape::Reshape;
    use ptq_ir::ops::slice::Slice;
    use ptq_ir::ops::transpose::Transpose;
    use ptq_ir::ops::unary::{Unary, UnaryKind};
    use ptq_ir::ops::where_::Where;
    use ptq_ir::{ConstSource, Graph, Node, Op, Tensor, Value};

    use crate::{ExecOptions, Plan};

    fn arr<T>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
        ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
    }

    /// Runs `op` on constant inputs and returns its only output.
    fn run_op(op: Op, inputs: Vec<Tensor>) -> Result<Tensor, String> {
        let mut g = Graph::default();
        let ins = inputs
            .into_iter()
            .enumerate()
            .map(|(i, t)| Some(g.add_constant(format!("in{i}"), t, ConstSource::Stored)))
            .collect();
        let out = g.add_value(Value { name: "out".into(), ..Value::default() });
        g.add_node(Node {
            name: "n".into(),
            op,
            inputs: ins,
            outputs: vec![Some(out)],
            doc: String::new(),
            meta: vec![],
        });
        g.outputs_mut().push(out);
        let plan = Plan::new(&g, &ExecOptions::default()).map_err(|e| e.to_string())?;
        let mut outs = plan.run(vec![]).map_err(|e| e.to_string())?;
        Ok(outs.remove(0).1)
    }

    fn strings(shape: &[usize], v: &[&str]) -> Tensor {
        Tensor::String(arr(shape, v.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn data_movement_ops_carry_strings_float8_and_int4() {
        let s = strings(&[2, 3], &["a", "b", "c", "d", "e", "f"]);
        let t = run_op(Op::Transpose(Transpose { perm: None }), vec![s.clone()]).unwrap();
        assert_eq!(t, strings(&[3, 2], &["a", "d", "b", "e", "c", "f"]));
        let r = run_op(Op::Reshape(Reshape { allowzero: false }), vec![s.clone(), Tensor::from_i64s(&[3, 2])]).unwrap();
        assert_eq!(r, strings(&[3, 2], &["a", "b", "c", "d", "e", "f"]));
        let c = run_op(Op::Concat(Concat { axis: 0 }), vec![s.clone(), s.clone()]).unwrap();
        assert_eq!(c.shape(), &[4, 3]);
        let gathered = run_op(Op::Gather(Gather { axis: 1 }), vec![s.clone(), Tensor::from_i64s(&[2, 0])]).unwrap();
        assert_eq!(gathered, strings(&[2, 2], &["c", "a", "f", "d"]));
        let sl = run_op(
            Op::Slice(Slice),
            vec![s.clone(), Tensor::from_i64s(&[1]), Tensor::from_i64s(&[3]), Tensor::from_i64s(&[1])],
        )
        .unwrap();
        assert_eq!(sl, strings(&[2, 2], &["b", "c", "e", "f"]));
        let id = run_op(Op::Unary(Unary { kind: UnaryKind::Identity }), vec![s.clone()]).unwrap();
        assert_eq!(id, s);
        let cond = Tensor::Bool(arr(&[3], vec![true, false, true]));
        let w = run_op(Op::Where(Where), vec![cond, s.clone(), strings(&[1], &["z"])]).unwrap();
        assert_eq!(w, strings(&[2, 3], &["a", "z", "c", "d", "z", "f"]));

        let f8 = Tensor::F8E4M3FN(arr(&[2], vec![F8E4M3FN::from_f32(1.5, true), F8E4M3FN(0x80)]));
        let c = run_op(Op::Concat(Concat { axis: 0 }), vec![f8.clone(), f8.clone()]).unwrap();
        assert_eq!(c.to_le_bytes(), Some(vec![0x3C, 0x80, 0x3C, 0x80]));
        let q = Tensor::I4(arr(&[3], vec![-8, 7, 1]));
        let g = run_op(Op::Gather(Gather { axis: 0 }), vec![q, Tensor::from_i64s(&[2, 0])]).unwrap();
        assert_eq!(g, Tensor::I4(arr(&[2], vec![1, -8])));
    }

    #[test]
    fn equal_compares_strings_and_arithmetic_on_strings_is_an_error() {
        let a = strings(&[2], &["string1", "string2"]);
        let b = strings(&[1], &["string1"]);
        let eq = run_op(Op::Binary(Binary { kind: BinaryKind::Equal }), vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(eq, Tensor::Bool(arr(&[2], vec![true, false])));
        for kind in [BinaryKind::Add, BinaryKind::Less, BinaryKind::Pow] {
            let e = run_op(Op::Binary(Binary { kind }), vec![a.clone(), b.clone()]).unwrap_err();
            assert!(e.contains("string"), "{e}");
        }
        let e = run_op(Op::Binary(Binary { kind: BinaryKind::Pow }), vec![Tensor::from_f32s(&[2.0]), b]).unwrap_err();
        assert!(e.contains("string"), "{e}");
        let e = run_op(Op::Unary(Unary { kind: UnaryKind::Neg }), vec![a]).unwrap_err();
        assert!(e.contains("string"), "{e}");
    }
}

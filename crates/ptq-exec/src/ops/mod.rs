//! One file per op: the kernel that evaluates it on tensors.

mod arg_reduce;
mod batch_norm;
mod binary;
mod cast;
mod clip;
mod concat;
mod constant_of_shape;
mod conv;
mod conv_transpose;
mod cumsum;
mod depth_space;
mod dequantize;
mod dropout;
mod expand;
mod gather;
mod gather_elements;
mod gemm;
mod global_pool;
mod instance_norm;
mod layer_norm;
mod matmul;
mod pad;
mod pool;
mod quantize;
mod range;
mod reduce;
mod reshape;
mod resize;
mod rnn;
mod shape;
mod slice;
mod softmax;
mod split;
mod tile;
mod topk;
mod transpose;
mod unary;
mod variadic;
mod where_;

use ptq_ir::{Graph, Node, Op, Tensor};

use crate::inputs::Inputs;

/// What a kernel returns: one entry per output slot (`None` for outputs it
/// does not produce), or a message.
pub type Out = Result<Vec<Option<Tensor>>, String>;

/// An op ready to run.
pub trait Kernel: Send + Sync + std::fmt::Debug {
    /// Evaluates the op; `n_outputs` is the node's number of output slots.
    fn run(&self, inputs: &mut Inputs, n_outputs: usize) -> Out;
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
        Op::Unary(o) => k(o, unary::run),
        Op::Binary(o) => k(o, binary::run),
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
        Op::QuantizeLinear(o) => k(o, quantize::run),
        Op::DequantizeLinear(o) => k(o, dequantize::run),
        Op::Opaque(o) if (o.domain.is_empty() || o.domain == "ai.onnx") && o.op_type == "CumSum" => {
            k(&cumsum::CumSum::from_attrs(&o.attrs).map_err(Some)?, cumsum::run)
        }
        Op::Opaque(o) if (o.domain.is_empty() || o.domain == "ai.onnx") && o.op_type == "CastLike" => {
            k(o, |_, ins, _| {
                let to = ins.get(1)?.dtype();
                one(cast::cast_to(ins.take(0)?, to)?)
            })
        }
        Op::Opaque(_) => Err(None),
    }
}

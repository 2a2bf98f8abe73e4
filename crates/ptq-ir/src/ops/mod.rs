//! The operator set: a closed enum of per-op structs.
//!
//! Each op lives in its own file with its attributes and its shape and dtype
//! inference. Semantics follow the newest ONNX opset the frontends support:
//! values that older opsets passed as attributes (axes, pads, split sizes,
//! clip bounds) are inputs here, and importers turn such attributes into
//! constant inputs.

mod util;

pub mod arg_reduce;
pub mod batch_norm;
pub mod binary;
pub mod body;
pub mod cast;
pub mod clip;
pub mod concat;
pub mod constant_of_shape;
pub mod conv;
pub mod conv_transpose;
pub mod depth_to_space;
pub mod dequantize;
pub mod dropout;
pub mod expand;
pub mod facts;
pub mod fake_quantize;
pub mod flatten;
pub mod gather;
pub mod gather_elements;
pub mod gemm;
pub mod global_pool;
pub mod if_;
pub mod instance_norm;
pub mod layer_norm;
pub mod loop_;
pub mod matmul;
pub mod opaque;
pub mod pad;
pub mod pool;
pub mod quantize;
pub mod range;
pub mod reduce;
pub mod reshape;
pub mod resize;
pub mod rnn;
pub mod scan;
pub mod shape_of;
pub mod size;
pub mod slice;
pub mod softmax;
pub mod space_to_depth;
pub mod spatial;
pub mod split;
pub mod squeeze;
pub mod tile;
pub mod topk;
pub mod transpose;
pub mod unary;
pub mod unsqueeze;
pub mod variadic;
pub mod where_;

pub use util::InferInput;

use crate::fact::Fact;

/// Behaviour every op struct provides.
pub trait OpDef {
    /// The op's name in the IR (ONNX spelling where one exists).
    fn op_name(&self) -> &'static str;

    /// Output facts from input facts (and constant input values where known).
    /// `inputs[i]` is `None` for an omitted optional input; `n_outputs` is the
    /// number of output slots the node has.
    fn infer(&self, inputs: &[Option<InferInput<'_>>], n_outputs: usize) -> Result<Vec<Fact>, String>;
}

macro_rules! define_ops {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// Every operator the IR knows, plus [`Op::Opaque`].
        #[derive(Clone, Debug, PartialEq)]
        pub enum Op {
            $($variant($ty)),*
        }

        impl Op {
            /// The op's name (for opaque ops, the source op type).
            pub fn name(&self) -> &str {
                #[allow(unreachable_patterns)]
                match self {
                    Op::Opaque(o) => &o.op_type,
                    $(Op::$variant(o) => o.op_name()),*
                }
            }

            /// The subgraphs of a control-flow op (`If`, `Loop`, `Scan`), in the
            /// order their captures follow the node's own inputs; empty for
            /// every other op.
            pub fn bodies(&self) -> Vec<&body::Body> {
                match self {
                    Op::If(o) => o.bodies().to_vec(),
                    Op::Loop(o) => vec![&o.body],
                    Op::Scan(o) => vec![&o.body],
                    _ => vec![],
                }
            }

            /// [`Op::bodies`], mutable, each with its ONNX attribute name
            /// (`then_branch`, `else_branch`, `body`).
            pub fn bodies_mut(&mut self) -> Vec<(&'static str, &mut body::Body)> {
                match self {
                    Op::If(o) => vec![("then_branch", &mut o.then_branch), ("else_branch", &mut o.else_branch)],
                    Op::Loop(o) => vec![("body", &mut o.body)],
                    Op::Scan(o) => vec![("body", &mut o.body)],
                    _ => vec![],
                }
            }

            /// Infers output facts; see [`OpDef::infer`].
            pub fn infer(&self, inputs: &[Option<InferInput<'_>>], n_outputs: usize) -> Result<Vec<Fact>, String> {
                match self {
                    $(Op::$variant(o) => o.infer(inputs, n_outputs)),*
                }
            }
        }

        $(impl From<$ty> for Op {
            fn from(o: $ty) -> Op {
                Op::$variant(o)
            }
        })*
    };
}

define_ops! {
    Conv(conv::Conv),
    ConvTranspose(conv_transpose::ConvTranspose),
    BatchNorm(batch_norm::BatchNorm),
    Pool(pool::Pool),
    GlobalPool(global_pool::GlobalPool),
    Gemm(gemm::Gemm),
    MatMul(matmul::MatMul),
    Unary(unary::Unary),
    Binary(binary::Binary),
    Variadic(variadic::Variadic),
    Clip(clip::Clip),
    Softmax(softmax::Softmax),
    LayerNorm(layer_norm::LayerNorm),
    InstanceNorm(instance_norm::InstanceNorm),
    Reshape(reshape::Reshape),
    Flatten(flatten::Flatten),
    Transpose(transpose::Transpose),
    Squeeze(squeeze::Squeeze),
    Unsqueeze(unsqueeze::Unsqueeze),
    Concat(concat::Concat),
    Split(split::Split),
    Slice(slice::Slice),
    Gather(gather::Gather),
    GatherElements(gather_elements::GatherElements),
    Expand(expand::Expand),
    Tile(tile::Tile),
    Pad(pad::Pad),
    Resize(resize::Resize),
    DepthToSpace(depth_to_space::DepthToSpace),
    SpaceToDepth(space_to_depth::SpaceToDepth),
    Reduce(reduce::Reduce),
    ArgReduce(arg_reduce::ArgReduce),
    TopK(topk::TopK),
    ShapeOf(shape_of::ShapeOf),
    Size(size::Size),
    ConstantOfShape(constant_of_shape::ConstantOfShape),
    Range(range::Range),
    Cast(cast::Cast),
    Where(where_::Where),
    Dropout(dropout::Dropout),
    Rnn(rnn::Rnn),
    If(if_::If),
    Loop(loop_::Loop),
    Scan(scan::Scan),
    QuantizeLinear(quantize::QuantizeLinear),
    DequantizeLinear(dequantize::DequantizeLinear),
    FakeQuantize(fake_quantize::FakeQuantize),
    Opaque(opaque::Opaque),
}

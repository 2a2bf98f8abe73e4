//! The ONNX operator table: op type (and opset) to IR op, and back.
//!
//! Importers read every attribute the IR models; values that newer opsets
//! take as inputs but older ones as attributes become constant inputs
//! ([`Lowered::moved`]). Exporters write the op in the form of the target
//! opset, turning such constant inputs back into attributes.

mod control;
mod conv;
mod elementwise;
mod layout;
mod legacy;
mod linalg;
mod norm;
mod pool;
mod quant;
mod reduce;
mod resize;
mod rnn;
mod tensor_ops;

use onnx_protobuf::{AttributeProto, NodeProto};
use ptq_ir::{Graph, Node, Op, Tensor};

use crate::attrs::Attrs;

/// The IR form of one ONNX node.
pub struct Lowered {
    pub op: Op,
    /// The IR slot of each source input, when they differ (older opsets).
    pub slots: Option<Vec<usize>>,
    /// Constant inputs to insert at these slots (attributes of older opsets).
    pub moved: Vec<(usize, Tensor)>,
}

impl Lowered {
    fn op(op: impl Into<Op>) -> Result<Option<Lowered>, String> {
        Ok(Some(Lowered { op: op.into(), slots: None, moved: vec![] }))
    }

    fn with(op: impl Into<Op>, moved: Vec<(usize, Tensor)>) -> Result<Option<Lowered>, String> {
        Ok(Some(Lowered { op: op.into(), slots: None, moved }))
    }
}

/// Lowers a default-domain node; `None` for op types the IR does not model.
pub fn import(node: &NodeProto, opset: i64) -> Result<Option<Lowered>, String> {
    let a = Attrs::new(node);
    let t = node.op_type.as_str();
    let since = legacy::min_opset(t);
    if opset < since {
        return Err(format!(
            "{t} at opset {opset} is not supported (its current form starts at opset {since}); upgrade the model with onnx.version_converter"
        ));
    }
    let lowered = lower(t, &a, opset)?;
    let Some(mut l) = lowered else { return Ok(None) };
    l.moved.extend(legacy::moved_inputs(t, &a, opset)?);
    l.slots = legacy::input_slots(t, opset);
    Ok(Some(l))
}

fn lower(t: &str, a: &Attrs, opset: i64) -> Result<Option<Lowered>, String> {
    let a = *a;
    if let Some(l) = elementwise::import(t, &a, opset)? {
        return Ok(Some(l));
    }
    match t {
        "Conv" => conv::import_conv(&a),
        "ConvTranspose" => conv::import_conv_transpose(&a),
        "MaxPool" | "AveragePool" => pool::import_pool(t, &a),
        "GlobalAveragePool" | "GlobalMaxPool" => pool::import_global(t),
        "BatchNormalization" => norm::import_batch_norm(&a),
        "LayerNormalization" => norm::import_layer_norm(&a),
        "InstanceNormalization" => norm::import_instance_norm(&a),
        "Gemm" => linalg::import_gemm(&a),
        "MatMul" => Lowered::op(ptq_ir::ops::matmul::MatMul),
        "Reshape" | "Flatten" | "Transpose" | "Squeeze" | "Unsqueeze" | "Concat" | "Split" | "Expand" | "Tile"
        | "DepthToSpace" | "SpaceToDepth" => layout::import(t, &a, opset),
        "Slice" | "Gather" | "GatherElements" | "Pad" | "Shape" | "Size" | "ConstantOfShape" | "Range" | "Cast"
        | "Where" | "Dropout" => tensor_ops::import(t, &a, opset),
        "ArgMax" | "ArgMin" | "TopK" => reduce::import_arg(t, &a),
        t if t.starts_with("Reduce") => reduce::import_reduce(t, &a, opset),
        "Resize" => resize::import(&a),
        "LSTM" | "GRU" => rnn::import(t, &a),
        "QuantizeLinear" | "DequantizeLinear" => quant::import(t, &a),
        _ => Ok(None),
    }
}

/// What export needs to know about the node being written.
pub struct ExportCtx<'a> {
    pub opset: i64,
    pub graph: &'a Graph,
    pub node: &'a Node,
}

impl ExportCtx<'_> {
    /// The constant value feeding input `slot`, if any.
    pub fn const_input(&self, slot: usize) -> Option<&Tensor> {
        self.node.inputs.get(slot).copied().flatten().and_then(|v| self.graph.constant(v))
    }

    /// Whether input `slot` is present.
    pub fn has_input(&self, slot: usize) -> bool {
        self.node.inputs.get(slot).copied().flatten().is_some()
    }

    /// Moves constant input `slot` into an INTS attribute (older opsets).
    fn ints_from_input(&self, slot: usize, attr: &str, out: &mut Emitted) -> Result<(), String> {
        if !self.has_input(slot) {
            return Ok(());
        }
        let v = self
            .const_input(slot)
            .and_then(Tensor::to_i64_vec)
            .ok_or_else(|| format!("input {slot} must be a constant to become attribute {attr:?}"))?;
        out.attrs.push(crate::attrs::AttrOut::default().ints(attr, v).0.remove(0));
        out.drop_inputs.push(slot);
        Ok(())
    }
}

/// One ONNX node's worth of output, minus names.
pub struct Emitted {
    pub op_type: String,
    pub domain: String,
    pub attrs: Vec<AttributeProto>,
    /// Input slots that this opset takes as attributes instead.
    pub drop_inputs: Vec<usize>,
    /// The IR slots to write, in order, when this opset places inputs differently.
    pub input_order: Option<Vec<usize>>,
}

impl Emitted {
    fn new(op_type: &str, attrs: crate::attrs::AttrOut) -> Emitted {
        Emitted {
            op_type: op_type.to_string(),
            domain: String::new(),
            attrs: attrs.0,
            drop_inputs: vec![],
            input_order: None,
        }
    }
}

/// Writes an IR node as an ONNX op of the context's opset.
pub fn export(cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    let mut e = export_current(cx)?;
    if e.domain.is_empty() {
        let since = legacy::min_opset(&e.op_type);
        if cx.opset < since {
            return Err(format!("{} needs opset {since}", e.op_type));
        }
        legacy::export_moved(&e.op_type.clone(), cx, &mut e)?;
    }
    Ok(e)
}

fn export_current(cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    match &cx.node.op {
        Op::Conv(o) => Ok(conv::export_conv(o)),
        Op::ConvTranspose(o) => Ok(conv::export_conv_transpose(o)),
        Op::Pool(o) => Ok(pool::export_pool(o)),
        Op::GlobalPool(o) => Ok(pool::export_global(o)),
        Op::BatchNorm(o) => Ok(norm::export_batch_norm(o, cx.opset)),
        Op::LayerNorm(o) => norm::export_layer_norm(o, cx.opset),
        Op::InstanceNorm(o) => Ok(norm::export_instance_norm(o)),
        Op::Gemm(o) => Ok(linalg::export_gemm(o)),
        Op::MatMul(_) => Ok(Emitted::new("MatMul", Default::default())),
        Op::Unary(o) => elementwise::export_unary(o, cx),
        Op::Binary(o) => Ok(elementwise::export_binary(o)),
        Op::Variadic(_) | Op::Clip(_) => Ok(Emitted::new(cx.node.op.name(), Default::default())),
        Op::Softmax(o) => elementwise::export_softmax(o, cx),
        Op::Reshape(o) => layout::export_reshape(o, cx),
        Op::Flatten(o) => Ok(layout::export_flatten(o, cx)),
        Op::Transpose(o) => Ok(layout::export_transpose(o, cx)),
        Op::Squeeze(_) | Op::Unsqueeze(_) => layout::export_squeeze_like(cx),
        Op::Concat(o) => Ok(layout::export_concat(o, cx)),
        Op::Split(o) => layout::export_split(o, cx),
        Op::Expand(_) | Op::Tile(_) => Ok(Emitted::new(cx.node.op.name(), Default::default())),
        Op::DepthToSpace(o) => Ok(layout::export_depth_to_space(o, cx)),
        Op::SpaceToDepth(o) => Ok(layout::export_space_to_depth(o, cx)),
        Op::Slice(_) | Op::Size(_) | Op::Range(_) | Op::Where(_) => Ok(tensor_ops::export_plain(cx)),
        Op::Gather(o) => Ok(tensor_ops::export_gather_axis(o.axis, cx)),
        Op::GatherElements(o) => Ok(tensor_ops::export_gather_axis(o.axis, cx)),
        Op::Pad(o) => tensor_ops::export_pad(o, cx),
        Op::ShapeOf(o) => tensor_ops::export_shape(o, cx),
        Op::ConstantOfShape(o) => Ok(tensor_ops::export_constant_of_shape(o)),
        Op::Cast(o) => Ok(tensor_ops::export_cast(o)),
        Op::Dropout(o) => tensor_ops::export_dropout(o, cx),
        Op::Reduce(o) => reduce::export_reduce(o, cx),
        Op::ArgReduce(o) => Ok(reduce::export_arg_reduce(o)),
        Op::TopK(o) => Ok(reduce::export_topk(o)),
        Op::Resize(o) => Ok(resize::export(o)),
        Op::Rnn(o) => Ok(rnn::export(o)),
        Op::If(_) => control::export(cx, "If", Default::default(), &["then_branch", "else_branch"]),
        Op::Loop(_) => control::export(cx, "Loop", Default::default(), &["body"]),
        Op::Scan(o) => control::export(cx, "Scan", control::scan_attrs(o), &["body"]),
        Op::QuantizeLinear(o) => quant::export_quantize(o, cx),
        Op::DequantizeLinear(o) => quant::export_dequantize(o, cx),
        Op::FakeQuantize(_) => Err("FakeQuantize (OpenVINO) has no ONNX form in this exporter".into()),
        Op::Opaque(o) => {
            let mut out = crate::attrs::AttrOut::default();
            for (k, v) in &o.attrs {
                out.generic(k, v)?;
            }
            Ok(Emitted {
                op_type: o.op_type.clone(),
                domain: o.domain.clone(),
                attrs: out.0,
                drop_inputs: vec![],
                input_order: None,
            })
        }
    }
}

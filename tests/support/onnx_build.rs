//! Builders for hand-made ONNX protos in tests.

use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{NodeProto, TypeProto, ValueInfoProto};

/// A tensor value info with static dims.
pub fn value_info(name: &str, dims: &[i64], elem: DataType) -> ValueInfoProto {
    use onnx_protobuf::tensor_shape_proto::{Dimension, dimension::Value};
    let mut tt = onnx_protobuf::type_proto::Tensor::new();
    tt.elem_type = elem as i32;
    let mut s = onnx_protobuf::TensorShapeProto::new();
    s.dim = dims
        .iter()
        .map(|&d| {
            let mut x = Dimension::new();
            x.value = Some(Value::DimValue(d));
            x
        })
        .collect();
    tt.shape = Some(s).into();
    let mut tp = TypeProto::new();
    tp.value = Some(onnx_protobuf::type_proto::Value::TensorType(tt));
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = Some(tp).into();
    v
}

/// A node with the given name, op type, inputs and outputs.
pub fn node(name: &str, op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    let mut n = NodeProto::new();
    n.name = name.into();
    n.op_type = op.into();
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = outputs.iter().map(|s| s.to_string()).collect();
    n
}

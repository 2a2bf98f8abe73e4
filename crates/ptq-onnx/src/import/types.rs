//! Sequence, optional and map types in value infos: recorded on the value
//! ([`NonTensor`]) with the serialized `TypeProto`, so export writes them
//! back unchanged; their facts stay unknown.

use onnx_protobuf::ValueInfoProto;
use onnx_protobuf::type_proto::Value as TypeValue;
use protobuf::Message;
use ptq_ir::{NonTensor, NonTensorKind};

use super::Importer;

/// The non-tensor type a value info declares, if it declares one.
pub fn non_tensor(vi: &ValueInfoProto) -> Option<NonTensor> {
    let tp = vi.type_.as_ref()?;
    let kind = match tp.value.as_ref()? {
        TypeValue::SequenceType(_) => NonTensorKind::Sequence,
        TypeValue::OptionalType(_) => NonTensorKind::Optional,
        TypeValue::MapType(_) => NonTensorKind::Map,
        _ => return None,
    };
    Some(NonTensor { kind, encoded: tp.write_to_bytes().ok()? })
}

impl Importer<'_> {
    /// Marks the graph's inputs, outputs and value infos of non-tensor type.
    pub(super) fn mark_non_tensors(&mut self, gp: &onnx_protobuf::GraphProto) {
        for vi in gp.input.iter().chain(&gp.value_info).chain(&gp.output) {
            let (Some(nt), Some(&id)) = (non_tensor(vi), self.names.get(&vi.name)) else { continue };
            let v = self.graph.value_mut(id);
            v.non_tensor = Some(nt);
            v.declared = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_types_are_kept_whole() {
        let mut seq = onnx_protobuf::type_proto::Sequence::new();
        let mut elem = onnx_protobuf::TypeProto::new();
        elem.value = Some(TypeValue::TensorType(onnx_protobuf::type_proto::Tensor::new()));
        seq.elem_type = Some(elem).into();
        let mut tp = onnx_protobuf::TypeProto::new();
        tp.value = Some(TypeValue::SequenceType(seq));
        let mut vi = ValueInfoProto::new();
        vi.name = "s".into();
        vi.type_ = Some(tp.clone()).into();
        let nt = non_tensor(&vi).unwrap();
        assert_eq!(nt.kind, NonTensorKind::Sequence);
        assert_eq!(onnx_protobuf::TypeProto::parse_from_bytes(&nt.encoded).unwrap(), tp);
    }
}

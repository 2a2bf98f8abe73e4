//! Serializing a `ModelProto` with its fields in field-number order.
//!
//! rust-protobuf writes fields in the order onnx.proto declares them, which
//! puts `opset_import` (field 8) right after `ir_version` (field 1). That is
//! valid protobuf, and onnxruntime reads it, but OpenVINO's ONNX frontend
//! checks the first fields of a file to decide whether it is ONNX at all and
//! rejects that order ("Please check that model format: .onnx is
//! supported"). Python's protobuf, which writes most ONNX files in the wild,
//! uses field-number order; so do we.

use onnx_protobuf::ModelProto;
use protobuf::Message;

/// `mp` serialized with fields 1–7, then `opset_import` (8), then the rest.
pub fn model_bytes(mp: &ModelProto) -> protobuf::Result<Vec<u8>> {
    let mut head = mp.clone();
    head.opset_import.clear();
    head.metadata_props.clear();
    head.training_info.clear();
    head.functions.clear();
    let mut bytes = head.write_to_bytes()?;
    let opsets = ModelProto { opset_import: mp.opset_import.clone(), ..ModelProto::default() };
    bytes.extend(opsets.write_to_bytes()?);
    let tail = ModelProto {
        metadata_props: mp.metadata_props.clone(),
        training_info: mp.training_info.clone(),
        functions: mp.functions.clone(),
        ..ModelProto::default()
    };
    bytes.extend(tail.write_to_bytes()?);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use onnx_protobuf::{OperatorSetIdProto, StringStringEntryProto};

    use super::*;

    fn varint(b: &[u8], i: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let c = b[*i];
            *i += 1;
            v |= u64::from(c & 0x7f) << shift;
            shift += 7;
            if c < 0x80 {
                return v;
            }
        }
    }

    /// Field numbers of the top-level fields, in the order they appear
    /// (a ModelProto has only varint and length-delimited fields).
    fn field_order(b: &[u8]) -> Vec<u64> {
        let (mut out, mut i) = (vec![], 0);
        while i < b.len() {
            let key = varint(b, &mut i);
            out.push(key >> 3);
            match key & 7 {
                0 => {
                    varint(b, &mut i);
                }
                2 => {
                    let len = varint(b, &mut i) as usize;
                    i += len;
                }
                w => panic!("wire type {w}"),
            }
        }
        out
    }

    #[test]
    fn fields_come_in_number_order_and_parse_back_equal() {
        let mut mp = ModelProto::new();
        mp.ir_version = 8;
        mp.producer_name = "p".into();
        mp.graph = Some(onnx_protobuf::GraphProto::new()).into();
        let mut o = OperatorSetIdProto::new();
        o.version = 17;
        mp.opset_import.push(o);
        let mut kv = StringStringEntryProto::new();
        kv.key = "k".into();
        mp.metadata_props.push(kv);
        let bytes = model_bytes(&mp).unwrap();
        assert_eq!(field_order(&bytes), vec![1, 2, 7, 8, 14]);
        assert_eq!(ModelProto::parse_from_bytes(&bytes).unwrap(), mp);
    }
}

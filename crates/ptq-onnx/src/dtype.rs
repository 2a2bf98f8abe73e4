//! ONNX element type codes.

use onnx_protobuf::tensor_proto::DataType as P;
use ptq_ir::DType;

/// The IR dtype of an ONNX `TensorProto.DataType` code, if the IR has one.
pub fn from_onnx(code: i32) -> Option<DType> {
    Some(match code {
        c if c == P::FLOAT as i32 => DType::F32,
        c if c == P::DOUBLE as i32 => DType::F64,
        c if c == P::FLOAT16 as i32 => DType::F16,
        c if c == P::BFLOAT16 as i32 => DType::BF16,
        c if c == P::INT8 as i32 => DType::I8,
        c if c == P::UINT8 as i32 => DType::U8,
        c if c == P::INT16 as i32 => DType::I16,
        c if c == P::UINT16 as i32 => DType::U16,
        c if c == P::INT32 as i32 => DType::I32,
        c if c == P::UINT32 as i32 => DType::U32,
        c if c == P::INT64 as i32 => DType::I64,
        c if c == P::UINT64 as i32 => DType::U64,
        c if c == P::BOOL as i32 => DType::Bool,
        c if c == P::FLOAT8E4M3FN as i32 => DType::F8E4M3FN,
        c if c == P::FLOAT8E4M3FNUZ as i32 => DType::F8E4M3FNUZ,
        c if c == P::FLOAT8E5M2 as i32 => DType::F8E5M2,
        c if c == P::FLOAT8E5M2FNUZ as i32 => DType::F8E5M2FNUZ,
        c if c == P::UINT4 as i32 => DType::U4,
        c if c == P::INT4 as i32 => DType::I4,
        c if c == P::STRING as i32 => DType::String,
        _ => return None,
    })
}

/// The ONNX code of an IR dtype.
pub fn to_onnx(d: DType) -> i32 {
    (match d {
        DType::F32 => P::FLOAT,
        DType::F64 => P::DOUBLE,
        DType::F16 => P::FLOAT16,
        DType::BF16 => P::BFLOAT16,
        DType::I8 => P::INT8,
        DType::U8 => P::UINT8,
        DType::I16 => P::INT16,
        DType::U16 => P::UINT16,
        DType::I32 => P::INT32,
        DType::U32 => P::UINT32,
        DType::I64 => P::INT64,
        DType::U64 => P::UINT64,
        DType::Bool => P::BOOL,
        DType::F8E4M3FN => P::FLOAT8E4M3FN,
        DType::F8E4M3FNUZ => P::FLOAT8E4M3FNUZ,
        DType::F8E5M2 => P::FLOAT8E5M2,
        DType::F8E5M2FNUZ => P::FLOAT8E5M2FNUZ,
        DType::U4 => P::UINT4,
        DType::I4 => P::INT4,
        DType::String => P::STRING,
    }) as i32
}

/// A readable name for any ONNX code, for error messages.
pub fn code_name(code: i32) -> String {
    match <P as protobuf::Enum>::from_i32(code) {
        Some(p) => format!("{p:?}"),
        None => format!("type code {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_the_onnx_numbers() {
        for d in DType::ALL {
            assert_eq!(from_onnx(to_onnx(d)), Some(d));
        }
        let codes = [
            (8, DType::String),
            (17, DType::F8E4M3FN),
            (18, DType::F8E4M3FNUZ),
            (19, DType::F8E5M2),
            (20, DType::F8E5M2FNUZ),
            (21, DType::U4),
            (22, DType::I4),
        ];
        for (code, d) in codes {
            assert_eq!(from_onnx(code), Some(d));
        }
        assert_eq!(from_onnx(14), None); // COMPLEX64
    }
}

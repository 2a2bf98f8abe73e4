//! TensorFlow `DataType` codes and the IR's element types.

use ptq_ir::DType;

use crate::pb::DataType as P;

/// The IR dtype of a TensorFlow `DataType` code, or `None` for codes ptq
/// does not represent: resources, variants, complex and quantized (`DT_Q*`)
/// types, float8 e4m3b11fnuz, the 2-bit and float4 types, reference types
/// (`100 + n`), `DT_INVALID` and unknown codes.
pub fn from_tf(code: i32) -> Option<DType> {
    Some(match P::try_from(code).ok()? {
        P::DtFloat => DType::F32,
        P::DtDouble => DType::F64,
        P::DtHalf => DType::F16,
        P::DtBfloat16 => DType::BF16,
        P::DtInt8 => DType::I8,
        P::DtUint8 => DType::U8,
        P::DtInt16 => DType::I16,
        P::DtUint16 => DType::U16,
        P::DtInt32 => DType::I32,
        P::DtUint32 => DType::U32,
        P::DtInt64 => DType::I64,
        P::DtUint64 => DType::U64,
        P::DtBool => DType::Bool,
        P::DtString => DType::String,
        P::DtFloat8E4m3fn => DType::F8E4M3FN,
        P::DtFloat8E4m3fnuz => DType::F8E4M3FNUZ,
        P::DtFloat8E5m2 => DType::F8E5M2,
        P::DtFloat8E5m2fnuz => DType::F8E5M2FNUZ,
        P::DtInt4 => DType::I4,
        P::DtUint4 => DType::U4,
        _ => return None,
    })
}

/// The TensorFlow `DataType` of an IR dtype (every IR dtype has one).
pub fn to_tf(d: DType) -> P {
    match d {
        DType::F32 => P::DtFloat,
        DType::F64 => P::DtDouble,
        DType::F16 => P::DtHalf,
        DType::BF16 => P::DtBfloat16,
        DType::I8 => P::DtInt8,
        DType::U8 => P::DtUint8,
        DType::I16 => P::DtInt16,
        DType::U16 => P::DtUint16,
        DType::I32 => P::DtInt32,
        DType::U32 => P::DtUint32,
        DType::I64 => P::DtInt64,
        DType::U64 => P::DtUint64,
        DType::Bool => P::DtBool,
        DType::String => P::DtString,
        DType::F8E4M3FN => P::DtFloat8E4m3fn,
        DType::F8E4M3FNUZ => P::DtFloat8E4m3fnuz,
        DType::F8E5M2 => P::DtFloat8E5m2,
        DType::F8E5M2FNUZ => P::DtFloat8E5m2fnuz,
        DType::I4 => P::DtInt4,
        DType::U4 => P::DtUint4,
    }
}

/// A readable name for any `DataType` code, for error messages: the enum
/// name (`DT_COMPLEX64`), `DT_FLOAT_REF`-style for reference types, or
/// `type code N` for codes TensorFlow does not define.
pub fn tf_name(code: i32) -> String {
    match (P::try_from(code), code.checked_sub(100).map(P::try_from)) {
        (Ok(p), _) => p.as_str_name().to_string(),
        (Err(_), Some(Ok(p))) if code > 100 => format!("{}_REF", p.as_str_name()),
        _ => format!("type code {code}"),
    }
}

/// Bytes per element in TensorFlow's in-memory (and checkpoint, and
/// `tensor_content`) layout: int4/uint4 take a whole byte each. `None` for
/// strings.
pub fn tf_elem_size(d: DType) -> Option<usize> {
    match d {
        DType::I4 | DType::U4 => Some(1),
        d => d.bits().map(|b| b / 8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_tensorflow_numbers() {
        for d in DType::ALL {
            assert_eq!(from_tf(to_tf(d) as i32), Some(d));
        }
        let codes = [
            (1, DType::F32),
            (7, DType::String),
            (14, DType::BF16),
            (19, DType::F16),
            (24, DType::F8E5M2),
            (25, DType::F8E4M3FN),
            (29, DType::I4),
            (30, DType::U4),
        ];
        for (code, d) in codes {
            assert_eq!(from_tf(code), Some(d));
        }
        for code in [0, 8, 11, 18, 20, 21, 27, 31, 33, 101, 999, -1] {
            assert_eq!(from_tf(code), None, "code {code}");
        }
    }

    #[test]
    fn names_and_sizes() {
        assert_eq!(tf_name(8), "DT_COMPLEX64");
        assert_eq!(tf_name(101), "DT_FLOAT_REF");
        assert_eq!(tf_name(99), "type code 99");
        assert_eq!(tf_name(i32::MIN), format!("type code {}", i32::MIN));
        assert_eq!(tf_elem_size(DType::I4), Some(1));
        assert_eq!(tf_elem_size(DType::BF16), Some(2));
        assert_eq!(tf_elem_size(DType::String), None);
    }
}

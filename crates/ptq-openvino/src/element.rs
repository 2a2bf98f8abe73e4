//! IR element types and their ptq-ir dtypes.

use ptq_ir::DType;

/// The dtype of an IR `element_type` (`f32`, `i64`, `boolean`...), if
/// supported.
pub fn dtype(element_type_name: &str) -> Option<DType> {
    DType::ALL.iter().copied().find(|&d| element_type(d) == Some(element_type_name))
}

/// The dtype of a port `precision` (`FP32`, `I64`, `BOOL`; OpenVINO also
/// accepts element-type spellings such as `f32` there).
pub fn from_precision(p: &str) -> Option<DType> {
    let upper = p.to_ascii_uppercase();
    DType::ALL
        .iter()
        .copied()
        .find(|&d| precision(d) == Some(upper.as_str()))
        .or_else(|| dtype(&p.to_ascii_lowercase()))
        .or((upper == "BOOLEAN").then_some(DType::Bool))
}

/// The IR `element_type` of a dtype, if IR has one.
pub fn element_type(d: DType) -> Option<&'static str> {
    Some(match d {
        DType::F32 => "f32",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        DType::F64 => "f64",
        DType::I8 => "i8",
        DType::U8 => "u8",
        DType::I16 => "i16",
        DType::U16 => "u16",
        DType::I32 => "i32",
        DType::U32 => "u32",
        DType::I64 => "i64",
        DType::U64 => "u64",
        DType::Bool => "boolean",
        _ => return None,
    })
}

/// The port `precision` spelling of a dtype (`FP32`, `I64`, `BOOL`...).
pub fn precision(d: DType) -> Option<&'static str> {
    Some(match d {
        DType::F32 => "FP32",
        DType::F16 => "FP16",
        DType::BF16 => "BF16",
        DType::F64 => "FP64",
        DType::I8 => "I8",
        DType::U8 => "U8",
        DType::I16 => "I16",
        DType::U16 => "U16",
        DType::I32 => "I32",
        DType::U32 => "U32",
        DType::I64 => "I64",
        DType::U64 => "U64",
        DType::Bool => "BOOL",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_types_round_trip() {
        for d in DType::ALL.iter().copied() {
            if let Some(e) = element_type(d) {
                assert_eq!(dtype(e), Some(d));
                assert!(precision(d).is_some());
            }
        }
        assert_eq!(dtype("u1"), None);
        assert_eq!(from_precision("FP32"), Some(DType::F32));
        assert_eq!(from_precision("f32"), Some(DType::F32));
        assert_eq!(from_precision("BOOLEAN"), Some(DType::Bool));
    }
}

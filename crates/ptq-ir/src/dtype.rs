//! Element types.

use std::fmt;

/// Element type of a tensor value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
    /// 8-bit float, 4 exponent and 3 mantissa bits, no infinities ([`crate::float8::F8E4M3FN`]).
    F8E4M3FN,
    /// Like `F8E4M3FN` without negative zero, one NaN ([`crate::float8::F8E4M3FNUZ`]).
    F8E4M3FNUZ,
    /// 8-bit float, 5 exponent and 2 mantissa bits, IEEE-like ([`crate::float8::F8E5M2`]).
    F8E5M2,
    /// Like `F8E5M2` without infinities or negative zero, one NaN ([`crate::float8::F8E5M2FNUZ`]).
    F8E5M2FNUZ,
    /// Signed 4-bit integer in [-8, 7].
    I4,
    /// Unsigned 4-bit integer in [0, 15].
    U4,
    /// UTF-8 string.
    String,
}

impl DType {
    /// Every element type, in declaration order.
    pub const ALL: [DType; 20] = [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::Bool,
        DType::F8E4M3FN,
        DType::F8E4M3FNUZ,
        DType::F8E5M2,
        DType::F8E5M2FNUZ,
        DType::I4,
        DType::U4,
        DType::String,
    ];

    /// Bits per element in the packed little-endian form (`raw_data`): 4 for
    /// int4/uint4, 8 × the byte size otherwise; `None` for strings, which
    /// have no fixed width.
    pub fn bits(self) -> Option<usize> {
        Some(match self {
            DType::I4 | DType::U4 => 4,
            DType::I8 | DType::U8 | DType::Bool => 8,
            DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ => 8,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 16,
            DType::F32 | DType::I32 | DType::U32 => 32,
            DType::F64 | DType::I64 | DType::U64 => 64,
            DType::String => return None,
        })
    }

    /// Bytes that `numel` elements take in the packed little-endian form:
    /// int4/uint4 pack two per byte, an odd count padding the last byte.
    /// `None` for strings and on overflow.
    pub fn packed_len(self, numel: usize) -> Option<usize> {
        numel.checked_mul(self.bits()?).map(|b| b.div_ceil(8))
    }

    /// True for floating-point types (including the float8 types).
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16) || self.is_float8()
    }

    /// True for the four float8 types.
    pub fn is_float8(self) -> bool {
        matches!(self, DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ)
    }

    /// True for integer types (including int4/uint4; not bool or string).
    pub fn is_int(self) -> bool {
        !self.is_float() && !matches!(self, DType::Bool | DType::String)
    }

    /// Lower-case short name, e.g. `f32`.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I16 => "i16",
            DType::U16 => "u16",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::I64 => "i64",
            DType::U64 => "u64",
            DType::Bool => "bool",
            DType::F8E4M3FN => "f8e4m3fn",
            DType::F8E4M3FNUZ => "f8e4m3fnuz",
            DType::F8E5M2 => "f8e5m2",
            DType::F8E5M2FNUZ => "f8e5m2fnuz",
            DType::I4 => "i4",
            DType::U4 => "u4",
            DType::String => "string",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_lengths() {
        assert_eq!(DType::I4.packed_len(5), Some(3));
        assert_eq!(DType::U4.packed_len(4), Some(2));
        assert_eq!(DType::F8E5M2.packed_len(5), Some(5));
        assert_eq!(DType::F32.packed_len(3), Some(12));
        assert_eq!(DType::String.packed_len(1), None);
        assert_eq!(DType::F64.packed_len(usize::MAX), None);
        assert!(DType::ALL.iter().all(|d| d.is_float() as u8 + d.is_int() as u8 <= 1));
        assert!(!DType::String.is_int() && !DType::Bool.is_int() && DType::I4.is_int());
    }
}

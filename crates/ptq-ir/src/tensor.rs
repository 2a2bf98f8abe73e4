//! Constant tensors: an ndarray per element type.

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};

use crate::dtype::DType;
use crate::float8::{F8E4M3FN, F8E4M3FNUZ, F8E5M2, F8E5M2FNUZ};

/// A dense constant tensor of any supported element type.
///
/// Float8 elements are their raw byte ([`crate::float8`]); int4 and uint4
/// are held unpacked, one element per `i8` / `u8`, and must lie in [-8, 7] /
/// [0, 15] (packing keeps the low four bits); strings are UTF-8 `String`s.
/// Equality is elementwise `==` (float8 compares bytes).
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    F16(ArrayD<f16>),
    BF16(ArrayD<bf16>),
    I8(ArrayD<i8>),
    U8(ArrayD<u8>),
    I16(ArrayD<i16>),
    U16(ArrayD<u16>),
    I32(ArrayD<i32>),
    U32(ArrayD<u32>),
    I64(ArrayD<i64>),
    U64(ArrayD<u64>),
    Bool(ArrayD<bool>),
    F8E4M3FN(ArrayD<F8E4M3FN>),
    F8E4M3FNUZ(ArrayD<F8E4M3FNUZ>),
    F8E5M2(ArrayD<F8E5M2>),
    F8E5M2FNUZ(ArrayD<F8E5M2FNUZ>),
    /// int4, one element per `i8`, each in [-8, 7].
    I4(ArrayD<i8>),
    /// uint4, one element per `u8`, each in [0, 15].
    U4(ArrayD<u8>),
    String(ArrayD<String>),
}

/// Applies `$body` to the array inside any variant, binding it to `$a`.
#[macro_export]
macro_rules! tensor_map {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::Tensor::F32($a) => $body,
            $crate::Tensor::F64($a) => $body,
            $crate::Tensor::F16($a) => $body,
            $crate::Tensor::BF16($a) => $body,
            $crate::Tensor::I8($a) => $body,
            $crate::Tensor::U8($a) => $body,
            $crate::Tensor::I16($a) => $body,
            $crate::Tensor::U16($a) => $body,
            $crate::Tensor::I32($a) => $body,
            $crate::Tensor::U32($a) => $body,
            $crate::Tensor::I64($a) => $body,
            $crate::Tensor::U64($a) => $body,
            $crate::Tensor::Bool($a) => $body,
            $crate::Tensor::F8E4M3FN($a) => $body,
            $crate::Tensor::F8E4M3FNUZ($a) => $body,
            $crate::Tensor::F8E5M2($a) => $body,
            $crate::Tensor::F8E5M2FNUZ($a) => $body,
            $crate::Tensor::I4($a) => $body,
            $crate::Tensor::U4($a) => $body,
            $crate::Tensor::String($a) => $body,
        }
    };
}

/// Reasons a tensor cannot be built from raw data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorDataError {
    /// The element count overflows `usize` or exceeds the caller's limit.
    #[error("shape {shape:?} has too many elements")]
    TooLarge { shape: Vec<usize> },
    /// The data length does not match the shape.
    #[error("shape {shape:?} of {dtype} needs {expected} bytes but {actual} are present")]
    Length { dtype: DType, shape: Vec<usize>, expected: usize, actual: usize },
    /// The element type has no fixed-width byte form (strings).
    #[error("{dtype} tensors have no raw byte form")]
    NotFixedWidth { dtype: DType },
}

macro_rules! from_le {
    ($bytes:expr, $shape:expr, $ty:ty, $variant:ident) => {{
        const N: usize = std::mem::size_of::<$ty>();
        let v: Vec<$ty> = $bytes
            .chunks_exact(N)
            .map(|c| {
                let mut b = [0u8; N];
                b.copy_from_slice(c);
                <$ty>::from_le_bytes(b)
            })
            .collect();
        Tensor::$variant(vec_to_array($shape, v))
    }};
}

fn vec_to_array<T>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
    // The caller checked that v.len() equals the product of the shape.
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap_or_else(|_| unreachable!("length checked"))
}

/// The first `numel` 4-bit values of `bytes`, low nibble first, sign-extended when `signed`.
fn unpack_nibbles(bytes: &[u8], numel: usize, signed: bool) -> impl Iterator<Item = u8> + '_ {
    bytes
        .iter()
        .flat_map(|&b| [b & 0x0F, b >> 4])
        .take(numel)
        .map(move |n| if signed && n & 0x08 != 0 { n | 0xF0 } else { n })
}

/// 4-bit values (their low nibbles) packed two per byte, low nibble first; an odd count pads with zero.
fn pack_nibbles(v: impl ExactSizeIterator<Item = u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len().div_ceil(2));
    let mut pending: Option<u8> = None;
    for x in v {
        match pending.take() {
            None => pending = Some(x & 0x0F),
            Some(lo) => out.push(lo | (x & 0x0F) << 4),
        }
    }
    out.extend(pending);
    out
}

/// Number of elements of `shape`, or `None` on overflow.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

impl Tensor {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::F64(_) => DType::F64,
            Tensor::F16(_) => DType::F16,
            Tensor::BF16(_) => DType::BF16,
            Tensor::I8(_) => DType::I8,
            Tensor::U8(_) => DType::U8,
            Tensor::I16(_) => DType::I16,
            Tensor::U16(_) => DType::U16,
            Tensor::I32(_) => DType::I32,
            Tensor::U32(_) => DType::U32,
            Tensor::I64(_) => DType::I64,
            Tensor::U64(_) => DType::U64,
            Tensor::Bool(_) => DType::Bool,
            Tensor::F8E4M3FN(_) => DType::F8E4M3FN,
            Tensor::F8E4M3FNUZ(_) => DType::F8E4M3FNUZ,
            Tensor::F8E5M2(_) => DType::F8E5M2,
            Tensor::F8E5M2FNUZ(_) => DType::F8E5M2FNUZ,
            Tensor::I4(_) => DType::I4,
            Tensor::U4(_) => DType::U4,
            Tensor::String(_) => DType::String,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        tensor_map!(self, a => a.shape())
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        tensor_map!(self, a => a.len())
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the data in bytes: the packed little-endian form for
    /// fixed-width types (int4/uint4 two per byte), the total UTF-8 length
    /// for strings.
    pub fn byte_size(&self) -> usize {
        match self {
            Tensor::String(a) => a.iter().map(String::len).sum(),
            t => t.dtype().packed_len(t.len()).unwrap_or(usize::MAX),
        }
    }

    /// A zero-filled tensor (false for bool, +0 for float8, empty strings).
    pub fn zeros(dtype: DType, shape: &[usize]) -> Tensor {
        let s = IxDyn(shape);
        match dtype {
            DType::F32 => Tensor::F32(ArrayD::zeros(s)),
            DType::F64 => Tensor::F64(ArrayD::zeros(s)),
            DType::F16 => Tensor::F16(ArrayD::from_elem(s, f16::ZERO)),
            DType::BF16 => Tensor::BF16(ArrayD::from_elem(s, bf16::ZERO)),
            DType::I8 => Tensor::I8(ArrayD::zeros(s)),
            DType::U8 => Tensor::U8(ArrayD::zeros(s)),
            DType::I16 => Tensor::I16(ArrayD::zeros(s)),
            DType::U16 => Tensor::U16(ArrayD::zeros(s)),
            DType::I32 => Tensor::I32(ArrayD::zeros(s)),
            DType::U32 => Tensor::U32(ArrayD::zeros(s)),
            DType::I64 => Tensor::I64(ArrayD::zeros(s)),
            DType::U64 => Tensor::U64(ArrayD::zeros(s)),
            DType::Bool => Tensor::Bool(ArrayD::from_elem(s, false)),
            DType::F8E4M3FN => Tensor::F8E4M3FN(ArrayD::from_elem(s, F8E4M3FN::ZERO)),
            DType::F8E4M3FNUZ => Tensor::F8E4M3FNUZ(ArrayD::from_elem(s, F8E4M3FNUZ::ZERO)),
            DType::F8E5M2 => Tensor::F8E5M2(ArrayD::from_elem(s, F8E5M2::ZERO)),
            DType::F8E5M2FNUZ => Tensor::F8E5M2FNUZ(ArrayD::from_elem(s, F8E5M2FNUZ::ZERO)),
            DType::I4 => Tensor::I4(ArrayD::zeros(s)),
            DType::U4 => Tensor::U4(ArrayD::zeros(s)),
            DType::String => Tensor::String(ArrayD::from_elem(s, String::new())),
        }
    }

    /// Builds a tensor from little-endian bytes, checking the length against
    /// the shape before allocating anything. int4/uint4 come packed two per
    /// byte, low nibble first; with an odd count the last byte's high nibble
    /// is padding and ignored. Strings have no byte form (an error).
    pub fn from_le_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<Tensor, TensorDataError> {
        let numel = checked_numel(shape).ok_or(TensorDataError::TooLarge { shape: shape.to_vec() })?;
        if dtype == DType::String {
            return Err(TensorDataError::NotFixedWidth { dtype });
        }
        let expected = dtype.packed_len(numel).ok_or(TensorDataError::TooLarge { shape: shape.to_vec() })?;
        if expected != bytes.len() {
            return Err(TensorDataError::Length { dtype, shape: shape.to_vec(), expected, actual: bytes.len() });
        }
        Ok(match dtype {
            DType::F32 => from_le!(bytes, shape, f32, F32),
            DType::F64 => from_le!(bytes, shape, f64, F64),
            DType::F16 => {
                let v = bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect();
                Tensor::F16(vec_to_array(shape, v))
            }
            DType::BF16 => {
                let v = bytes.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]])).collect();
                Tensor::BF16(vec_to_array(shape, v))
            }
            DType::I8 => from_le!(bytes, shape, i8, I8),
            DType::U8 => Tensor::U8(vec_to_array(shape, bytes.to_vec())),
            DType::I16 => from_le!(bytes, shape, i16, I16),
            DType::U16 => from_le!(bytes, shape, u16, U16),
            DType::I32 => from_le!(bytes, shape, i32, I32),
            DType::U32 => from_le!(bytes, shape, u32, U32),
            DType::I64 => from_le!(bytes, shape, i64, I64),
            DType::U64 => from_le!(bytes, shape, u64, U64),
            DType::Bool => Tensor::Bool(vec_to_array(shape, bytes.iter().map(|&b| b != 0).collect())),
            DType::F8E4M3FN => Tensor::F8E4M3FN(vec_to_array(shape, bytes.iter().map(|&b| F8E4M3FN(b)).collect())),
            DType::F8E4M3FNUZ => {
                Tensor::F8E4M3FNUZ(vec_to_array(shape, bytes.iter().map(|&b| F8E4M3FNUZ(b)).collect()))
            }
            DType::F8E5M2 => Tensor::F8E5M2(vec_to_array(shape, bytes.iter().map(|&b| F8E5M2(b)).collect())),
            DType::F8E5M2FNUZ => {
                Tensor::F8E5M2FNUZ(vec_to_array(shape, bytes.iter().map(|&b| F8E5M2FNUZ(b)).collect()))
            }
            DType::I4 => Tensor::I4(vec_to_array(shape, unpack_nibbles(bytes, numel, true).map(|x| x as i8).collect())),
            DType::U4 => Tensor::U4(vec_to_array(shape, unpack_nibbles(bytes, numel, false).collect())),
            DType::String => return Err(TensorDataError::NotFixedWidth { dtype }),
        })
    }

    /// The data as little-endian bytes in row-major order (int4/uint4 packed
    /// two per byte, low nibble first, an odd count padded with a zero
    /// nibble); `None` for strings.
    pub fn to_le_bytes(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(self.byte_size());
        match self {
            Tensor::F16(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Tensor::BF16(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Tensor::Bool(a) => out.extend(a.iter().map(|&b| u8::from(b))),
            Tensor::F32(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Tensor::F64(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Tensor::I8(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Tensor::U8(a) => out.extend(a.iter().copied()),
            Tensor::I16(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Tensor::U16(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Tensor::I32(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Tensor::U32(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Tensor::I64(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Tensor::U64(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Tensor::F8E4M3FN(a) => out.extend(a.iter().map(|x| x.0)),
            Tensor::F8E4M3FNUZ(a) => out.extend(a.iter().map(|x| x.0)),
            Tensor::F8E5M2(a) => out.extend(a.iter().map(|x| x.0)),
            Tensor::F8E5M2FNUZ(a) => out.extend(a.iter().map(|x| x.0)),
            Tensor::I4(a) => out = pack_nibbles(a.iter().map(|&x| x as u8)),
            Tensor::U4(a) => out = pack_nibbles(a.iter().copied()),
            Tensor::String(_) => return None,
        }
        Some(out)
    }

    /// Integer or bool elements as `i64` (shape arithmetic); `None` for floats,
    /// strings and `u64` values above `i64::MAX`.
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        Some(match self {
            Tensor::I8(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::U8(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::I16(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::U16(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::I32(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::U32(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::I64(a) => a.iter().copied().collect(),
            Tensor::U64(a) => a.iter().map(|&x| i64::try_from(x).ok()).collect::<Option<_>>()?,
            Tensor::Bool(a) => a.iter().map(|&x| i64::from(x)).collect(),
            Tensor::I4(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::U4(a) => a.iter().map(|&x| x.into()).collect(),
            _ => return None,
        })
    }

    /// Elements converted to `f64` (lossless for every type but u64/i64 beyond
    /// 2^53). Strings have no numeric value: every string element gives NaN
    /// (parsing strings is `Cast`'s business).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            Tensor::F32(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::F64(a) => a.iter().copied().collect(),
            Tensor::F16(a) => a.iter().map(|x| x.to_f64()).collect(),
            Tensor::BF16(a) => a.iter().map(|x| x.to_f64()).collect(),
            Tensor::I8(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::U8(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::I16(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::U16(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::I32(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::U32(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::I64(a) => a.iter().map(|&x| x as f64).collect(),
            Tensor::U64(a) => a.iter().map(|&x| x as f64).collect(),
            Tensor::Bool(a) => a.iter().map(|&x| f64::from(u8::from(x))).collect(),
            Tensor::F8E4M3FN(a) => a.iter().map(|x| x.to_f64()).collect(),
            Tensor::F8E4M3FNUZ(a) => a.iter().map(|x| x.to_f64()).collect(),
            Tensor::F8E5M2(a) => a.iter().map(|x| x.to_f64()).collect(),
            Tensor::F8E5M2FNUZ(a) => a.iter().map(|x| x.to_f64()).collect(),
            Tensor::I4(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::U4(a) => a.iter().map(|&x| x.into()).collect(),
            Tensor::String(a) => a.iter().map(|_| f64::NAN).collect(),
        }
    }

    /// A rank-1 `i64` tensor.
    pub fn from_i64s(v: &[i64]) -> Tensor {
        Tensor::I64(vec_to_array(&[v.len()], v.to_vec()))
    }

    /// A rank-0 `f32` tensor.
    pub fn scalar_f32(x: f32) -> Tensor {
        Tensor::F32(vec_to_array(&[], vec![x]))
    }

    /// A rank-1 `f32` tensor.
    pub fn from_f32s(v: &[f32]) -> Tensor {
        Tensor::F32(vec_to_array(&[v.len()], v.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fixed-width types (everything but strings).
    fn fixed() -> Vec<DType> {
        DType::ALL.into_iter().filter(|&d| d != DType::String).collect()
    }

    proptest! {
        #[test]
        fn le_bytes_round_trip(d in 0usize..DType::ALL.len() - 1, shape in proptest::collection::vec(0usize..4, 0..4), seed in any::<u64>()) {
            let dtype = fixed()[d];
            let numel = checked_numel(&shape).unwrap_or(0);
            let n = dtype.packed_len(numel).unwrap();
            let mut x = seed;
            let mut bytes: Vec<u8> = (0..n).map(|_| { x = x.wrapping_mul(6364136223846793005).wrapping_add(1); (x >> 56) as u8 }).collect();
            if dtype == DType::Bool {
                bytes.iter_mut().for_each(|b| *b &= 1);
            }
            // An odd int4 count pads the last byte with a zero nibble.
            if matches!(dtype, DType::I4 | DType::U4) && numel % 2 == 1 && let Some(b) = bytes.last_mut() {
                *b &= 0x0F;
            }
            let t = Tensor::from_le_bytes(dtype, &shape, &bytes).unwrap();
            prop_assert_eq!(t.dtype(), dtype);
            prop_assert_eq!(t.shape(), &shape[..]);
            prop_assert_eq!(t.byte_size(), n);
            prop_assert_eq!(t.to_le_bytes(), Some(bytes));
        }
    }

    #[test]
    fn short_data_is_an_error_not_a_panic() {
        let e = Tensor::from_le_bytes(DType::F32, &[2, 3], &[0u8; 20]).unwrap_err();
        assert!(matches!(e, TensorDataError::Length { expected: 24, actual: 20, .. }));
        let e = Tensor::from_le_bytes(DType::I4, &[5], &[0u8; 2]).unwrap_err();
        assert!(matches!(e, TensorDataError::Length { expected: 3, actual: 2, .. }));
        let e = Tensor::from_le_bytes(DType::String, &[1], &[0u8; 8]).unwrap_err();
        assert!(matches!(e, TensorDataError::NotFixedWidth { .. }));
    }

    #[test]
    fn overflowing_shape_is_an_error() {
        let e = Tensor::from_le_bytes(DType::F32, &[usize::MAX, 2], &[]).unwrap_err();
        assert!(matches!(e, TensorDataError::TooLarge { .. }));
        let e = Tensor::from_le_bytes(DType::U4, &[usize::MAX, 1], &[]).unwrap_err();
        assert!(matches!(e, TensorDataError::TooLarge { .. }));
    }

    #[test]
    fn int4_packs_low_nibble_first_with_odd_lengths() {
        let t = Tensor::I4(ArrayD::from_shape_vec(IxDyn(&[5]), vec![-8, 7, -1, 0, 3]).unwrap());
        let bytes = t.to_le_bytes().unwrap();
        assert_eq!(bytes, vec![0x78, 0x0F, 0x03]);
        assert_eq!(Tensor::from_le_bytes(DType::I4, &[5], &bytes).unwrap(), t);
        // A non-zero padding nibble is ignored.
        assert_eq!(Tensor::from_le_bytes(DType::I4, &[5], &[0x78, 0x0F, 0xF3]).unwrap(), t);
        let u = Tensor::from_le_bytes(DType::U4, &[3], &[0x21, 0xFF]).unwrap();
        assert_eq!(u, Tensor::U4(ArrayD::from_shape_vec(IxDyn(&[3]), vec![1, 2, 15]).unwrap()));
        assert_eq!(u.to_le_bytes().unwrap(), vec![0x21, 0x0F]);
        assert_eq!(u.to_i64_vec(), Some(vec![1, 2, 15]));
        assert_eq!(Tensor::zeros(DType::U4, &[0]).to_le_bytes(), Some(vec![]));
    }

    #[test]
    fn float8_and_string_values() {
        let t = Tensor::from_le_bytes(DType::F8E4M3FN, &[3], &[0x38, 0xFE, 0x7F]).unwrap();
        let v = t.to_f64_vec();
        assert_eq!(&v[..2], &[1.0, -448.0]);
        assert!(v[2].is_nan());
        assert_eq!(t.to_i64_vec(), None);
        let s = Tensor::String(ArrayD::from_shape_vec(IxDyn(&[2]), vec!["ab".into(), "€".into()]).unwrap());
        assert_eq!(s.byte_size(), 5);
        assert_eq!(s.to_le_bytes(), None);
        assert!(s.to_f64_vec().iter().all(|x| x.is_nan()));
        assert_eq!(Tensor::zeros(DType::String, &[2]).shape(), &[2]);
    }
}

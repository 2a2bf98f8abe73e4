//! Constant tensors: an ndarray per element type.

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};

use crate::dtype::DType;

/// A dense constant tensor of any supported element type.
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

    /// Size of the data in bytes.
    pub fn byte_size(&self) -> usize {
        self.len() * self.dtype().size()
    }

    /// A zero-filled tensor (false for bool).
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
        }
    }

    /// Builds a tensor from little-endian bytes, checking the length against
    /// the shape before allocating anything.
    pub fn from_le_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<Tensor, TensorDataError> {
        let numel = checked_numel(shape).ok_or(TensorDataError::TooLarge { shape: shape.to_vec() })?;
        let expected = numel.checked_mul(dtype.size()).ok_or(TensorDataError::TooLarge { shape: shape.to_vec() })?;
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
        })
    }

    /// The data as little-endian bytes in row-major order.
    pub fn to_le_bytes(&self) -> Vec<u8> {
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
        }
        out
    }

    /// Integer or bool elements as `i64` (shape arithmetic); `None` for floats
    /// and for `u64` values above `i64::MAX`.
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
            _ => return None,
        })
    }

    /// Elements converted to `f64` (lossless for every type but u64/i64 beyond 2^53).
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

    const ALL: [DType; 13] = [
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
    ];

    proptest! {
        #[test]
        fn le_bytes_round_trip(d in 0usize..13, shape in proptest::collection::vec(0usize..4, 0..4), seed in any::<u64>()) {
            let dtype = ALL[d];
            let n = checked_numel(&shape).unwrap_or(0) * dtype.size();
            let mut x = seed;
            let bytes: Vec<u8> = (0..n).map(|_| { x = x.wrapping_mul(6364136223846793005).wrapping_add(1); (x >> 56) as u8 }).collect();
            let bytes = if dtype == DType::Bool { bytes.iter().map(|b| b & 1).collect() } else { bytes };
            let t = Tensor::from_le_bytes(dtype, &shape, &bytes).unwrap();
            prop_assert_eq!(t.dtype(), dtype);
            prop_assert_eq!(t.shape(), &shape[..]);
            prop_assert_eq!(t.to_le_bytes(), bytes);
        }
    }

    #[test]
    fn short_data_is_an_error_not_a_panic() {
        let e = Tensor::from_le_bytes(DType::F32, &[2, 3], &[0u8; 20]).unwrap_err();
        assert!(matches!(e, TensorDataError::Length { expected: 24, actual: 20, .. }));
    }

    #[test]
    fn overflowing_shape_is_an_error() {
        let e = Tensor::from_le_bytes(DType::F32, &[usize::MAX, 2], &[]).unwrap_err();
        assert!(matches!(e, TensorDataError::TooLarge { .. }));
    }
}

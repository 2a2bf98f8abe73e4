//! Helpers shared by the op kernels: dtype dispatch, broadcasting, axes.

use ndarray::{ArrayD, IxDyn, Zip};
use ptq_ir::Tensor;

/// Applies a dtype-generic expression to any tensor, keeping the variant.
macro_rules! map_tensor {
    ($t:expr, |$a:ident| $e:expr) => {
        match $t {
            Tensor::F32($a) => Tensor::F32($e),
            Tensor::F64($a) => Tensor::F64($e),
            Tensor::F16($a) => Tensor::F16($e),
            Tensor::BF16($a) => Tensor::BF16($e),
            Tensor::I8($a) => Tensor::I8($e),
            Tensor::U8($a) => Tensor::U8($e),
            Tensor::I16($a) => Tensor::I16($e),
            Tensor::U16($a) => Tensor::U16($e),
            Tensor::I32($a) => Tensor::I32($e),
            Tensor::U32($a) => Tensor::U32($e),
            Tensor::I64($a) => Tensor::I64($e),
            Tensor::U64($a) => Tensor::U64($e),
            Tensor::Bool($a) => Tensor::Bool($e),
        }
    };
}
pub(crate) use map_tensor;

/// Like [`map_tensor`] for an expression that can fail.
macro_rules! try_map_tensor {
    ($t:expr, |$a:ident| $e:expr) => {
        Ok(match $t {
            Tensor::F32($a) => Tensor::F32($e?),
            Tensor::F64($a) => Tensor::F64($e?),
            Tensor::F16($a) => Tensor::F16($e?),
            Tensor::BF16($a) => Tensor::BF16($e?),
            Tensor::I8($a) => Tensor::I8($e?),
            Tensor::U8($a) => Tensor::U8($e?),
            Tensor::I16($a) => Tensor::I16($e?),
            Tensor::U16($a) => Tensor::U16($e?),
            Tensor::I32($a) => Tensor::I32($e?),
            Tensor::U32($a) => Tensor::U32($e?),
            Tensor::I64($a) => Tensor::I64($e?),
            Tensor::U64($a) => Tensor::U64($e?),
            Tensor::Bool($a) => Tensor::Bool($e?),
        })
    };
}
pub(crate) use try_map_tensor;

/// The f32 array of a tensor.
pub fn f32s(t: &Tensor) -> Result<&ArrayD<f32>, String> {
    match t {
        Tensor::F32(a) => Ok(a),
        t => Err(format!("expected f32 data, got {}", t.dtype())),
    }
}

/// The f32 array of an owned tensor.
pub fn into_f32s(t: Tensor) -> Result<ArrayD<f32>, String> {
    match t {
        Tensor::F32(a) => Ok(a),
        t => Err(format!("expected f32 data, got {}", t.dtype())),
    }
}

/// Normalises an axis against a rank.
pub fn axis(a: i64, rank: usize) -> Result<usize, String> {
    ptq_ir::fact::norm_axis(a, rank)
}

/// The numpy broadcast of two shapes.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let x = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
            let y = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
            match (x, y) {
                (x, y) if x == y => Ok(x),
                (1, y) => Ok(y),
                (x, 1) => Ok(x),
                _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
            }
        })
        .collect()
}

/// `f` applied elementwise over the broadcast of `a` and `b`.
pub fn zip_map<A: Clone, B: Clone, C>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    f: impl Fn(A, B) -> C,
) -> Result<ArrayD<C>, String> {
    if a.shape() == b.shape()
        && let (Some(x), Some(y)) = (a.as_slice(), b.as_slice())
    {
        let v: Vec<C> = x.iter().zip(y).map(|(p, q)| f(p.clone(), q.clone())).collect();
        return ArrayD::from_shape_vec(IxDyn(a.shape()), v).map_err(|e| e.to_string());
    }
    let shape = broadcast_shape(a.shape(), b.shape())?;
    let av = a.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?;
    let bv = b.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?;
    Ok(Zip::from(&av).and(&bv).map_collect(|p, q| f(p.clone(), q.clone())))
}

/// `f` applied elementwise, writing into `a` when it already has the broadcast shape.
pub fn zip_inplace<A: Clone, B: Clone>(
    mut a: ArrayD<A>,
    b: &ArrayD<B>,
    f: impl Fn(A, B) -> A,
) -> Result<ArrayD<A>, String> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    if shape != a.shape() {
        return zip_map(&a, b, f);
    }
    if a.shape() == b.shape()
        && let (Some(x), Some(y)) = (a.as_slice_mut(), b.as_slice())
    {
        x.iter_mut().zip(y).for_each(|(p, q)| *p = f(p.clone(), q.clone()));
        return Ok(a);
    }
    Zip::from(&mut a).and_broadcast(b).for_each(|p, q| *p = f(p.clone(), q.clone()));
    Ok(a)
}

/// An array from a shape and data whose length matches.
pub fn array<T>(shape: &[usize], v: Vec<T>) -> Result<ArrayD<T>, String> {
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| e.to_string())
}

/// A standard-layout (row-major contiguous) copy or view's data.
pub fn contiguous<T: Clone>(a: &ArrayD<T>) -> std::borrow::Cow<'_, [T]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().cloned().collect()),
    }
}

/// Converts a non-negative i64 to usize.
pub fn to_usize(v: i64, what: &str) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{what} must be non-negative, got {v}"))
}

/// Element types that numeric kernels handle through `f64`, so that one
/// generic kernel serves every dtype an op admits. Conversions from `f64`
/// round floats to nearest and truncate integers toward zero, saturating.
pub trait Elem: Copy + PartialOrd + Send + Sync + std::fmt::Debug + 'static {
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

macro_rules! elem_prim {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
        }
    )*};
}
elem_prim!(f32, f64, i8, u8, i16, u16, i32, u32, i64, u64);

impl Elem for half::f16 {
    fn to_f64(self) -> f64 {
        half::f16::to_f64(self)
    }
    fn from_f64(v: f64) -> Self {
        half::f16::from_f64(v)
    }
}

impl Elem for half::bf16 {
    fn to_f64(self) -> f64 {
        half::bf16::to_f64(self)
    }
    fn from_f64(v: f64) -> Self {
        half::bf16::from_f64(v)
    }
}

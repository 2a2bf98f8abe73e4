//! Helpers shared by the op kernels: dtype dispatch, broadcasting, axes.

use ndarray::{ArrayD, IxDyn, Zip};
use ptq_ir::Tensor;

pub use ptq_ir::pattern::sole_reader;

/// Applies a dtype-generic expression to any tensor, keeping the variant. The
/// expression must only move elements (int4/uint4 values stay in range);
/// every element type, strings included, goes through it.
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
            Tensor::F8E4M3FN($a) => Tensor::F8E4M3FN($e),
            Tensor::F8E4M3FNUZ($a) => Tensor::F8E4M3FNUZ($e),
            Tensor::F8E5M2($a) => Tensor::F8E5M2($e),
            Tensor::F8E5M2FNUZ($a) => Tensor::F8E5M2FNUZ($e),
            Tensor::I4($a) => Tensor::I4($e),
            Tensor::U4($a) => Tensor::U4($e),
            Tensor::String($a) => Tensor::String($e),
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
            Tensor::F8E4M3FN($a) => Tensor::F8E4M3FN($e?),
            Tensor::F8E4M3FNUZ($a) => Tensor::F8E4M3FNUZ($e?),
            Tensor::F8E5M2($a) => Tensor::F8E5M2($e?),
            Tensor::F8E5M2FNUZ($a) => Tensor::F8E5M2FNUZ($e?),
            Tensor::I4($a) => Tensor::I4($e?),
            Tensor::U4($a) => Tensor::U4($e?),
            Tensor::String($a) => Tensor::String($e?),
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

/// How a contiguous operand lines up with a contiguous full-shape operand.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pattern {
    /// Same shape: element i pairs with element i.
    Same,
    /// One element pairs with everything.
    Scalar,
    /// The operand repeats every `len` elements (its shape is a suffix of the full one).
    Repeat(usize),
    /// Each operand element covers `inner` consecutive elements (its shape is a prefix, then ones).
    Spread(usize),
    General,
}

/// Classifies operand shape `small` against the full shape `full`.
fn pattern(small: &[usize], full: &[usize]) -> Pattern {
    let n: usize = small.iter().product();
    if small == full {
        return Pattern::Same;
    }
    if n == 1 {
        return Pattern::Scalar;
    }
    let pad = full.len() - small.len();
    let padded: Vec<usize> = std::iter::repeat_n(1, pad).chain(small.iter().copied()).collect();
    // Suffix: ones, then exactly the trailing dims of `full`.
    let first = padded.iter().position(|&d| d != 1).unwrap_or(padded.len());
    if n > 0 && padded[first..] == full[first..] {
        return Pattern::Repeat(n);
    }
    // Prefix: exactly the leading dims of `full`, then ones.
    let last = padded.iter().rposition(|&d| d != 1).map_or(0, |i| i + 1);
    if padded[..last] == full[..last] && padded[last..].iter().all(|&d| d == 1) {
        return Pattern::Spread(full[last..].iter().product());
    }
    Pattern::General
}

/// For an operand of shape `small` broadcast to `full` in one of the simple
/// patterns (same shape, scalar, repeated suffix, prefix spread over
/// blocks): the `inner` with which element i of the full tensor pairs with
/// operand element `(i / inner) % len`.
pub fn block_broadcast(small: &[usize], full: &[usize]) -> Option<usize> {
    match pattern(small, full) {
        Pattern::Same | Pattern::Scalar | Pattern::Repeat(_) => Some(1),
        Pattern::Spread(inner) if inner > 0 => Some(inner),
        _ => None,
    }
}

/// `out[i] = f(big[i], small[j(i)])` for contiguous data following a simple pattern.
fn fast_zip<A: Clone, B: Clone, C>(big: &[A], small: &[B], p: Pattern, f: &impl Fn(A, B) -> C) -> Option<Vec<C>> {
    Some(match p {
        Pattern::Same => big.iter().zip(small).map(|(x, y)| f(x.clone(), y.clone())).collect(),
        Pattern::Scalar => {
            let y = small.first()?;
            big.iter().map(|x| f(x.clone(), y.clone())).collect()
        }
        Pattern::Repeat(len) => {
            big.chunks(len).flat_map(|c| c.iter().zip(small).map(|(x, y)| f(x.clone(), y.clone()))).collect()
        }
        Pattern::Spread(inner) if inner > 0 => {
            big.chunks(inner).zip(small).flat_map(|(c, y)| c.iter().map(move |x| f(x.clone(), y.clone()))).collect()
        }
        _ => return None,
    })
}

/// `f` applied elementwise over the broadcast of `a` and `b`.
pub fn zip_map<A: Clone, B: Clone, C>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    f: impl Fn(A, B) -> C,
) -> Result<ArrayD<C>, String> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    if let (Some(x), Some(y)) = (a.as_slice(), b.as_slice()) {
        if a.shape() == shape.as_slice()
            && let Some(v) = fast_zip(x, y, pattern(b.shape(), &shape), &f)
        {
            return array(&shape, v);
        }
        if b.shape() == shape.as_slice()
            && let Some(v) = fast_zip(y, x, pattern(a.shape(), &shape), &|q: B, p: A| f(p, q))
        {
            return array(&shape, v);
        }
    }
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
    let p = pattern(b.shape(), &shape);
    if let (Some(x), Some(y)) = (a.as_slice_mut(), b.as_slice()) {
        match p {
            Pattern::Same => {
                x.iter_mut().zip(y).for_each(|(p, q)| *p = f(p.clone(), q.clone()));
                return Ok(a);
            }
            Pattern::Scalar if !y.is_empty() => {
                let q = &y[0];
                x.iter_mut().for_each(|p| *p = f(p.clone(), q.clone()));
                return Ok(a);
            }
            Pattern::Repeat(len) => {
                x.chunks_mut(len).for_each(|c| c.iter_mut().zip(y).for_each(|(p, q)| *p = f(p.clone(), q.clone())));
                return Ok(a);
            }
            Pattern::Spread(inner) if inner > 0 => {
                x.chunks_mut(inner).zip(y).for_each(|(c, q)| c.iter_mut().for_each(|p| *p = f(p.clone(), q.clone())));
                return Ok(a);
            }
            _ => {}
        }
    }
    if let (Some(x), Some(y)) = (a.as_slice_mut(), b.as_slice()) {
        broadcast_rows(x, &shape, y, b.shape(), &f);
        return Ok(a);
    }
    Zip::from(&mut a).and_broadcast(b).for_each(|p, q| *p = f(p.clone(), q.clone()));
    Ok(a)
}

/// `x[i] = f(x[i], y[j(i)])` for contiguous `x` of shape `full` and contiguous
/// `y` broadcast to it, one innermost row at a time.
fn broadcast_rows<A: Clone, B: Clone>(x: &mut [A], full: &[usize], y: &[B], small: &[usize], f: &impl Fn(A, B) -> A) {
    let rank = full.len();
    if rank == 0 || x.is_empty() {
        for p in x.iter_mut() {
            *p = f(p.clone(), y[0].clone());
        }
        return;
    }
    let pad = rank - small.len();
    let mut ys = vec![0usize; rank];
    let mut s = 1;
    for a in (0..small.len()).rev() {
        ys[a + pad] = if small[a] == 1 { 0 } else { s };
        s *= small[a];
    }
    let inner = full[rank - 1];
    let (step, mut yb) = (ys[rank - 1], 0usize);
    let mut idx = vec![0usize; rank - 1];
    for row in x.chunks_mut(inner) {
        if step == 0 {
            let q = &y[yb];
            row.iter_mut().for_each(|p| *p = f(p.clone(), q.clone()));
        } else {
            row.iter_mut().zip(&y[yb..yb + inner]).for_each(|(p, q)| *p = f(p.clone(), q.clone()));
        }
        let mut a = rank - 1;
        while a > 0 {
            a -= 1;
            idx[a] += 1;
            yb += ys[a];
            if idx[a] < full[a] {
                break;
            }
            yb -= ys[a] * full[a];
            idx[a] = 0;
        }
    }
}

#[cfg(test)]
mod broadcast_tests {
    use super::*;

    fn arr(shape: &[usize]) -> ArrayD<f32> {
        let n: usize = shape.iter().product();
        array(shape, (0..n).map(|i| i as f32 * 0.5 - 3.0).collect()).unwrap()
    }

    /// Every fast path agrees with ndarray's general broadcasting.
    #[test]
    fn fast_paths_match_general_broadcast() {
        let cases: &[(&[usize], &[usize])] = &[
            (&[2, 3, 4], &[2, 3, 4]),
            (&[2, 3, 4], &[1]),
            (&[2, 3, 4], &[]),
            (&[2, 3, 4], &[4]),
            (&[2, 3, 4], &[3, 4]),
            (&[2, 3, 4], &[2, 3, 1]),
            (&[2, 3, 4], &[2, 1, 1]),
            (&[2, 3, 4], &[1, 3, 1]),
            (&[2, 3, 4], &[2, 1, 4]),
            (&[3, 4], &[2, 3, 4]),
            (&[2, 1, 4], &[1, 3, 1]),
            (&[3, 0], &[0]),
            (&[0], &[3, 0]),
        ];
        for (sa, sb) in cases {
            let (a, b) = (arr(sa), arr(sb));
            let shape = broadcast_shape(sa, sb).unwrap();
            let want: ArrayD<f32> = Zip::from(&a.broadcast(IxDyn(&shape)).unwrap())
                .and(&b.broadcast(IxDyn(&shape)).unwrap())
                .map_collect(|&p, &q| p * 3.0 - q);
            assert_eq!(zip_map(&a, &b, |p, q| p * 3.0 - q).unwrap(), want, "{sa:?} {sb:?}");
            assert_eq!(zip_inplace(a.clone(), &b, |p, q| p * 3.0 - q).unwrap(), want, "{sa:?} {sb:?}");
        }
    }
}

/// An array from a shape and data whose length matches.
pub fn array<T>(shape: &[usize], v: Vec<T>) -> Result<ArrayD<T>, String> {
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| e.to_string())
}

/// The elements of `a` in standard (row-major) order as an owned vector,
/// reusing `a`'s buffer when it already holds exactly that.
pub fn into_vec<T: Clone>(a: ArrayD<T>) -> Vec<T> {
    if a.is_standard_layout() {
        let len = a.len();
        let (v, offset) = a.into_raw_vec_and_offset();
        if offset.unwrap_or(0) == 0 && v.len() == len {
            return v;
        }
        let start = offset.unwrap_or(0);
        return v[start..start + len].to_vec();
    }
    a.iter().cloned().collect()
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

/// Advances a row-major multi-index `pos` over `dims` by one position
/// (wrapping to all zeros after the last).
pub(crate) fn step_index(pos: &mut [usize], dims: &[usize]) {
    for a in (0..pos.len()).rev() {
        pos[a] += 1;
        if pos[a] < dims[a] {
            return;
        }
        pos[a] = 0;
    }
}

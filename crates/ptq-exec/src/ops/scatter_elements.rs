//! ScatterElements and its older name Scatter, which the IR keeps opaque:
//! a copy of `data` in which, for each position p of `indices` (same rank as
//! data), the element at p with coordinate `axis` replaced by `indices[p]`
//! (negative counts from the end) receives `updates[p]`, combined per
//! `reduction` ("none": replaced, later positions win; "add", "mul", "max",
//! "min": combined with the current value). Reductions need numbers; "none"
//! moves any dtype. Also the update loop ScatterND shares.

use ndarray::ArrayD;
use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// How an update combines with the element it lands on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reduction {
    None,
    Add,
    Mul,
    Max,
    Min,
}

impl Reduction {
    /// Reads the `reduction` attribute.
    pub fn from_attrs(a: &Attrs<'_>) -> Result<Reduction, String> {
        Ok(match a.string("reduction", "none")?.as_str() {
            "none" => Reduction::None,
            "add" => Reduction::Add,
            "mul" => Reduction::Mul,
            "max" => Reduction::Max,
            "min" => Reduction::Min,
            r => return Err(format!("unknown reduction {r:?}")),
        })
    }
}

/// ScatterElements' settings.
#[derive(Clone, Copy, Debug)]
pub struct ScatterElements {
    axis: i64,
    reduction: Reduction,
}

/// Reads `axis` and `reduction`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(ScatterElements { axis: a.int("axis", 0)?, reduction: Reduction::from_attrs(a)? }, run)
}

/// Writes `upd`, `block` elements per entry of `dst` (flat offsets into
/// `data`, checked by the caller), into `data` with `f`.
fn put<T: Clone>(data: ArrayD<T>, upd: &ArrayD<T>, dst: &[usize], block: usize, f: impl Fn(&mut T, T)) -> ArrayD<T> {
    let mut data = if data.is_standard_layout() { data } else { data.as_standard_layout().into_owned() };
    let u = crate::util::contiguous(upd);
    if let Some(d) = data.as_slice_mut() {
        for (&o, src) in dst.iter().zip(u.chunks(block.max(1))) {
            for (p, q) in d[o..o + block].iter_mut().zip(src) {
                f(p, q.clone());
            }
        }
    }
    data
}

fn combine<T: Copy + PartialOrd>(r: Reduction, add: fn(T, T) -> T, mul: fn(T, T) -> T) -> impl Fn(&mut T, T) {
    move |p: &mut T, q: T| match r {
        Reduction::None => *p = q,
        Reduction::Add => *p = add(*p, q),
        Reduction::Mul => *p = mul(*p, q),
        Reduction::Max if q > *p => *p = q,
        Reduction::Min if q < *p => *p = q,
        Reduction::Max | Reduction::Min => {}
    }
}

/// Scatters `upd` into `data` at the flat offsets `dst`, `block` elements
/// each, combining per `r`; `data` and `upd` must share a dtype.
pub fn scatter(data: Tensor, upd: &Tensor, dst: &[usize], block: usize, r: Reduction) -> Result<Tensor, String> {
    use Tensor::*;
    if data.dtype() != upd.dtype() {
        return Err(format!("data is {} but updates are {}", data.dtype(), upd.dtype()));
    }
    if dst.len().checked_mul(block) != Some(upd.len()) {
        return Err(format!("{} updates do not fill {} blocks of {block}", upd.len(), dst.len()));
    }
    if let Some(&o) = dst.iter().max()
        && o + block > data.len()
    {
        return Err("an update lands outside the data".into());
    }
    macro_rules! num {
        ($($v:ident: $add:expr, $mul:expr;)*) => {
            match (data, upd) {
                $(($v(d), $v(u)) => return Ok($v(put(d, u, dst, block, combine(r, $add, $mul)))),)*
                (d, _) => d,
            }
        };
    }
    let data = num! {
        F32: |p, q| p + q, |p, q| p * q;
        F64: |p, q| p + q, |p, q| p * q;
        F16: |p, q| p + q, |p, q| p * q;
        BF16: |p, q| p + q, |p, q| p * q;
        I8: i8::wrapping_add, i8::wrapping_mul;
        U8: u8::wrapping_add, u8::wrapping_mul;
        I16: i16::wrapping_add, i16::wrapping_mul;
        U16: u16::wrapping_add, u16::wrapping_mul;
        I32: i32::wrapping_add, i32::wrapping_mul;
        U32: u32::wrapping_add, u32::wrapping_mul;
        I64: i64::wrapping_add, i64::wrapping_mul;
        U64: u64::wrapping_add, u64::wrapping_mul;
    };
    if r != Reduction::None {
        return Err(format!("reduction {r:?} of {} is not supported", data.dtype()));
    }
    macro_rules! any {
        ($($v:ident)*) => {
            match (data, upd) {
                $(($v(d), $v(u)) => Ok($v(put(d, u, dst, block, |p, q| *p = q))),)*
                (d, u) => Err(format!("data is {} but updates are {}", d.dtype(), u.dtype())),
            }
        };
    }
    any!(Bool String F8E4M3FN F8E4M3FNUZ F8E5M2 F8E5M2FNUZ I4 U4)
}

/// Runs ScatterElements.
pub fn run(op: &ScatterElements, ins: &mut Inputs, _n: usize) -> Out {
    let data_shape = ins.get(0)?.shape().to_vec();
    let it = ins.get(1)?;
    let idx = it.to_i64_vec().ok_or("indices must be integers")?;
    let ishape = it.shape().to_vec();
    if ishape.len() != data_shape.len() || ins.get(2)?.shape() != ishape.as_slice() {
        return Err(format!(
            "indices {ishape:?} must have the rank of data {data_shape:?} and the shape of updates {:?}",
            ins.get(2)?.shape()
        ));
    }
    let ax = crate::util::axis(op.axis, data_shape.len())?;
    let mut strides = vec![1usize; data_shape.len()];
    for a in (0..data_shape.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * data_shape[a + 1];
    }
    let dim = data_shape[ax] as i64;
    let mut pos = vec![0usize; ishape.len()];
    let mut dst = Vec::with_capacity(idx.len());
    for &i in &idx {
        let j = if i < 0 { i + dim } else { i };
        if !(0..dim).contains(&j) {
            return Err(format!("index {i} out of range for axis of size {dim}"));
        }
        let mut o = 0;
        for a in 0..pos.len() {
            let c = if a == ax { j as usize } else { pos[a] };
            if c >= data_shape[a] {
                return Err(format!("indices {ishape:?} exceed data {data_shape:?}"));
            }
            o += c * strides[a];
        }
        dst.push(o);
        for a in (0..pos.len()).rev() {
            pos[a] += 1;
            if pos[a] < ishape[a] {
                break;
            }
            pos[a] = 0;
        }
    }
    let upd = ins.shared(2)?;
    let data = ins.take(0)?;
    one(scatter(data, &upd, &dst, 1, op.reduction)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    fn f(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::F32(crate::util::array(shape, v.to_vec()).unwrap())
    }
    fn i(shape: &[usize], v: &[i64]) -> Tensor {
        Tensor::I64(crate::util::array(shape, v.to_vec()).unwrap())
    }

    #[test]
    fn scatters_along_the_axis_with_reductions() {
        let data = f(&[1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        let idx = i(&[1, 2], &[1, -2]);
        let upd = f(&[1, 2], &[1.1, 2.1]);
        let axis = ("axis", Attr::Int(1));
        let y = test_run("ScatterElements", std::slice::from_ref(&axis), vec![data.clone(), idx, upd.clone()]).unwrap();
        assert_close(&y[0], &[1, 5], &[1.0, 1.1, 3.0, 2.1, 5.0]);
        let dup = i(&[1, 2], &[1, 1]);
        let add = ("reduction", Attr::String(b"add".to_vec()));
        let y =
            test_run("ScatterElements", &[axis.clone(), add], vec![data.clone(), dup.clone(), upd.clone()]).unwrap();
        assert_close(&y[0], &[1, 5], &[1.0, 5.2, 3.0, 4.0, 5.0]);
        let max = ("reduction", Attr::String(b"max".to_vec()));
        let y = test_run("ScatterElements", &[axis.clone(), max], vec![data.clone(), dup.clone(), upd]).unwrap();
        assert_close(&y[0], &[1, 5], &[1.0, 2.1, 3.0, 4.0, 5.0]);
        // Scatter (opset 9–10) is the same op; axis 0 by default.
        let y = test_run("Scatter", &[], vec![f(&[2, 1], &[0.0, 0.0]), i(&[1, 1], &[1]), f(&[1, 1], &[7.0])]).unwrap();
        assert_close(&y[0], &[2, 1], &[0.0, 7.0]);
        assert!(
            test_run(
                "ScatterElements",
                std::slice::from_ref(&axis),
                vec![data.clone(), i(&[1, 1], &[5]), f(&[1, 1], &[0.0])]
            )
            .is_err()
        );
        assert!(test_run("ScatterElements", &[axis], vec![data, i(&[1, 1], &[0]), i(&[1, 1], &[0])]).is_err());
    }
}

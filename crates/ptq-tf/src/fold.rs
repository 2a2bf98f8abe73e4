//! Constant folding at import, for the small integer computations TF
//! graphs make of shapes, permutations and axes (Keras reshapes its biases,
//! `tf.tensordot` builds its transposes' permutations from constants), and
//! for layout ops on weights. A node whose inputs are all constants (and
//! whose op is one of these) becomes a constant; `Shape` of a value whose
//! shape is static does too.

use ptq_ir::fact::static_dims;
use ptq_ir::ops::binary::BinaryKind;
use ptq_ir::ops::reduce::ReduceKind;
use ptq_ir::{DType, Fact, Op, Tensor};

/// Most elements an integer computation is folded for.
const MAX_INT_ELEMENTS: usize = 1 << 16;
/// Most elements an f32 computation is folded for.
const MAX_F32_ELEMENTS: usize = 1 << 20;

/// `f` over two f32 constants of the same shape, or one of them a single value.
fn f32_binary(a: &Tensor, b: &Tensor, f: impl Fn(f32, f32) -> f32) -> Option<Tensor> {
    let (Tensor::F32(x), Tensor::F32(y)) = (a, b) else { return None };
    if x.len().max(y.len()) > MAX_F32_ELEMENTS {
        return None;
    }
    let out = if x.shape() == y.shape() {
        ndarray::Zip::from(x).and(y).map_collect(|&p, &q| f(p, q))
    } else if y.len() == 1 && x.ndim() >= y.ndim() {
        let q = *y.iter().next()?;
        x.mapv(|p| f(p, q))
    } else if x.len() == 1 && y.ndim() >= x.ndim() {
        let p = *x.iter().next()?;
        y.mapv(|q| f(p, q))
    } else {
        return None;
    };
    Some(Tensor::F32(out))
}

/// An integer tensor of `dtype` from i64 values.
pub fn int_tensor(dtype: DType, shape: &[usize], v: &[i64]) -> Option<Tensor> {
    let bytes: Vec<u8> = match dtype {
        DType::I64 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        DType::I32 => {
            v.iter().map(|&x| i32::try_from(x).ok().map(i32::to_le_bytes)).collect::<Option<Vec<_>>>()?.concat()
        }
        _ => return None,
    };
    Tensor::from_le_bytes(dtype, shape, &bytes).ok()
}

fn is_int(t: &Tensor) -> bool {
    matches!(t.dtype(), DType::I32 | DType::I64) && t.len() <= MAX_INT_ELEMENTS
}

/// The folded value of `op` on `inputs` (`None` = absent optional input),
/// whose output fact was inferred as `fact`; `None` when it does not fold.
pub fn fold(op: &Op, inputs: &[Option<&Tensor>], input_facts: &[Option<&Fact>], fact: &Fact) -> Option<Tensor> {
    if let Op::ShapeOf(s) = op {
        let dims = static_dims(input_facts.first().copied().flatten()?.shape.as_ref()?)?;
        let r = s.range(dims.len());
        let v: Vec<i64> = dims[r].iter().map(|&d| d as i64).collect();
        return int_tensor(DType::I64, &[v.len()], &v);
    }
    let all: Vec<&Tensor> = inputs.iter().copied().collect::<Option<_>>()?;
    let x = *all.first()?;
    let out_shape: Option<Vec<usize>> =
        fact.shape.as_ref().and_then(|s| static_dims(s)).map(|d| d.iter().map(|&x| x as usize).collect());
    match op {
        Op::Reshape(_) | Op::Squeeze(_) | Op::Unsqueeze(_) | Op::Flatten(_) => crate::ops::reshaped(x, &out_shape?),
        Op::Transpose(t) => {
            let perm = match &t.perm {
                Some(p) => p.clone(),
                None => (0..x.shape().len() as i64).rev().collect(),
            };
            crate::ops::permuted(x, &perm)
        }
        Op::Unary(u) if u.kind == ptq_ir::ops::unary::UnaryKind::Identity => Some(x.clone()),
        Op::Unary(u) if matches!(x, Tensor::F32(a) if a.len() <= MAX_F32_ELEMENTS) => {
            use ptq_ir::ops::unary::UnaryKind as U;
            let Tensor::F32(a) = x else { return None };
            let f: fn(f32) -> f32 = match u.kind {
                U::Sqrt => f32::sqrt,
                U::Reciprocal => |v| 1.0 / v,
                U::Neg => |v| -v,
                _ => return None,
            };
            Some(Tensor::F32(a.mapv(f)))
        }
        Op::Binary(b) if all.len() == 2 && matches!(x, Tensor::F32(_)) => match b.kind {
            BinaryKind::Add => f32_binary(x, all[1], |p, q| p + q),
            BinaryKind::Sub => f32_binary(x, all[1], |p, q| p - q),
            BinaryKind::Mul => f32_binary(x, all[1], |p, q| p * q),
            BinaryKind::Div => f32_binary(x, all[1], |p, q| p / q),
            _ => None,
        },
        Op::Cast(c) if is_int(x) && matches!(c.to, DType::I32 | DType::I64) => {
            int_tensor(c.to, x.shape(), &x.to_i64_vec()?)
        }
        Op::Concat(c) if all.iter().all(|t| is_int(t) && t.shape().len() == 1) && c.axis.rem_euclid(1) == 0 => {
            let v: Vec<i64> = all.iter().map(|t| t.to_i64_vec()).collect::<Option<Vec<_>>>()?.concat();
            int_tensor(x.dtype(), &[v.len()], &v)
        }
        Op::Binary(b) if all.len() == 2 && is_int(x) && is_int(all[1]) && x.dtype() == all[1].dtype() => {
            let (a, c) = (x.to_i64_vec()?, all[1].to_i64_vec()?);
            let f = |p: i64, q: i64| -> Option<i64> {
                match b.kind {
                    BinaryKind::Add => p.checked_add(q),
                    BinaryKind::Sub => p.checked_sub(q),
                    BinaryKind::Mul => p.checked_mul(q),
                    BinaryKind::Div if q != 0 => Some(p.div_euclid(q)),
                    _ => None,
                }
            };
            let v: Vec<i64> = match (a.len(), c.len()) {
                (n, m) if n == m && x.shape() == all[1].shape() => {
                    a.iter().zip(&c).map(|(&p, &q)| f(p, q)).collect::<Option<_>>()?
                }
                (_, 1) if x.shape().len() >= all[1].shape().len() => {
                    a.iter().map(|&p| f(p, c[0])).collect::<Option<_>>()?
                }
                (1, _) if all[1].shape().len() >= x.shape().len() => {
                    c.iter().map(|&q| f(a[0], q)).collect::<Option<_>>()?
                }
                _ => return None,
            };
            let shape = if a.len() >= c.len() { x.shape() } else { all[1].shape() };
            int_tensor(x.dtype(), shape, &v)
        }
        Op::Gather(g) if is_int(x) && x.shape().len() == 1 && g.axis.rem_euclid(1) == 0 && is_int(all[1]) => {
            let data = x.to_i64_vec()?;
            let idx = all[1].to_i64_vec()?;
            let n = data.len() as i64;
            let v: Vec<i64> = idx
                .iter()
                .map(|&i| usize::try_from(if i < 0 { i + n } else { i }).ok().and_then(|i| data.get(i).copied()))
                .collect::<Option<_>>()?;
            int_tensor(x.dtype(), all[1].shape(), &v)
        }
        Op::Reduce(r) if is_int(x) && x.shape().len() == 1 && matches!(r.kind, ReduceKind::Prod | ReduceKind::Sum) => {
            let v = x.to_i64_vec()?;
            let y = match r.kind {
                ReduceKind::Prod => v.iter().try_fold(1i64, |a, &b| a.checked_mul(b))?,
                _ => v.iter().try_fold(0i64, |a, &b| a.checked_add(b))?,
            };
            int_tensor(x.dtype(), if r.keepdims { &[1] } else { &[] }, &[y])
        }
        Op::Slice(_) if is_int(x) && x.shape().len() == 1 => {
            let v = x.to_i64_vec()?;
            let one = |i: usize| all.get(i).and_then(|t| t.to_i64_vec()).and_then(|v| (v.len() == 1).then(|| v[0]));
            let n = v.len() as i64;
            let clamp = |i: i64| if i < 0 { (i + n).max(0) } else { i.min(n) };
            let (s, e) = (clamp(one(1)?), clamp(one(2)?));
            if all.len() > 4 && one(4)? != 1 {
                return None;
            }
            let out: Vec<i64> = if s < e { v[s as usize..e as usize].to_vec() } else { vec![] };
            int_tensor(x.dtype(), &[out.len()], &out)
        }
        Op::Range(_) if all.iter().all(|t| is_int(t) && t.len() == 1) => {
            let (s, l, d) = (x.to_i64_vec()?[0], all[1].to_i64_vec()?[0], all[2].to_i64_vec()?[0]);
            if d == 0 {
                return None;
            }
            let n = ((l - s) as f64 / d as f64).ceil().max(0.0) as usize;
            if n > MAX_INT_ELEMENTS {
                return None;
            }
            let v: Vec<i64> = (0..n as i64).map(|i| s + i * d).collect();
            int_tensor(x.dtype(), &[n], &v)
        }
        _ => None,
    }
}

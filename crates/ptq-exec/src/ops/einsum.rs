//! Einsum, which the IR keeps opaque: the `equation` over the inputs, with
//! NumPy's rules: one letter per axis, `...` for broadcast axes (aligned
//! from the right), a letter repeated within one operand takes its diagonal,
//! letters absent from the output are summed; without `->` the output is
//! the ellipsis axes then the letters used once, in alphabetical order.
//! Numbers (floats summed in f64, integers in i64), output in the inputs'
//! dtype.

use std::collections::BTreeMap;

use ndarray::ArrayD;
use ptq_ir::Tensor;
use ptq_kernels::{Gemm, Threads, sgemm};

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// The parsed equation: each operand's and the output's labels, with the
/// ellipsis expanded to labels `'\u{100}' + i` once the ranks are known.
#[derive(Clone, Debug)]
pub struct Einsum {
    inputs: Vec<Term>,
    output: Option<Term>,
}

/// One side of the equation: labels before and after an optional ellipsis.
#[derive(Clone, Debug)]
struct Term {
    head: Vec<char>,
    tail: Option<Vec<char>>,
}

fn parse_term(s: &str) -> Result<Term, String> {
    let s = s.trim();
    let letters = |p: &str| -> Result<Vec<char>, String> {
        p.chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| if c.is_ascii_alphabetic() { Ok(c) } else { Err(format!("invalid label {c:?}")) })
            .collect()
    };
    match s.split_once("...") {
        None => Ok(Term { head: letters(s)?, tail: None }),
        Some((h, t)) => Ok(Term { head: letters(h)?, tail: Some(letters(t)?) }),
    }
}

/// Reads and parses `equation`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    let eq = a.string("equation", "")?;
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    let inputs = lhs.split(',').map(parse_term).collect::<Result<Vec<_>, _>>()?;
    let output = rhs.map(parse_term).transpose()?;
    kern(Einsum { inputs, output }, run)
}

/// Expands a term for an operand of rank `rank` (`ell`: the ellipsis' rank).
fn expand(t: &Term, ell: usize, ell_total: usize) -> Vec<char> {
    let mut v = t.head.clone();
    if let Some(tail) = &t.tail {
        v.extend((ell_total - ell..ell_total).map(|i| char::from_u32(0x100 + i as u32).unwrap_or('?')));
        v.extend(tail);
    }
    v
}

/// Runs Einsum.
pub fn run(op: &Einsum, ins: &mut Inputs, _n: usize) -> Out {
    let n = op.inputs.len();
    if ins.len() != n {
        return Err(format!("the equation has {n} operands, the node {}", ins.len()));
    }
    let tensors: Vec<&Tensor> = (0..n).map(|i| ins.get(i)).collect::<Result<_, _>>()?;
    // Ellipsis ranks.
    let mut ells = vec![0usize; n];
    for (i, (t, x)) in op.inputs.iter().zip(&tensors).enumerate() {
        let named = t.head.len() + t.tail.as_ref().map_or(0, Vec::len);
        let r = x.shape().len();
        match (&t.tail, r.cmp(&named)) {
            (None, std::cmp::Ordering::Equal) => {}
            (Some(_), std::cmp::Ordering::Equal | std::cmp::Ordering::Greater) => ells[i] = r - named,
            _ => return Err(format!("operand {i} has rank {r}, the equation names {named} axes")),
        }
    }
    let ell_total = ells.iter().copied().max().unwrap_or(0);
    let labels: Vec<Vec<char>> = op.inputs.iter().zip(&ells).map(|(t, &e)| expand(t, e, ell_total)).collect();
    // Sizes per label (size-1 broadcasts for ellipsis axes).
    let mut size: BTreeMap<char, usize> = Default::default();
    for (l, x) in labels.iter().zip(&tensors) {
        for (&c, &d) in l.iter().zip(x.shape()) {
            let e = size.entry(c).or_insert(d);
            if *e != d {
                if *e == 1 && c as u32 >= 0x100 {
                    *e = d;
                } else if !(d == 1 && c as u32 >= 0x100) {
                    return Err(format!("label {c} has sizes {e} and {d}"));
                }
            }
        }
    }
    let out: Vec<char> = match &op.output {
        Some(t) => {
            // Without an ellipsis in the output, its axes are summed away.
            expand(t, ell_total, ell_total)
        }
        None => {
            let mut once: Vec<char> = size
                .keys()
                .copied()
                .filter(|&c| (c as u32) < 0x100 && labels.iter().flatten().filter(|&&d| d == c).count() == 1)
                .collect();
            once.sort_unstable();
            (0..ell_total).map(|i| char::from_u32(0x100 + i as u32).unwrap_or('?')).chain(once).collect()
        }
    };
    for c in &out {
        if !size.contains_key(c) {
            return Err(format!("output label {c} appears in no operand"));
        }
    }
    if let [Tensor::F32(a), Tensor::F32(b)] = tensors.as_slice()
        && let Some(r) = as_matmul(a, &labels[0], b, &labels[1], &out, &size, ins.threads)
    {
        return one(Tensor::F32(r?));
    }
    let summed: Vec<char> = size.keys().copied().filter(|c| !out.contains(c)).collect();
    let order: Vec<char> = out.iter().chain(&summed).copied().collect();
    let dims: Vec<usize> = order.iter().map(|c| size[c]).collect();
    // Per operand, its stride for each label in `order` (repeated labels add up; broadcast axes 0).
    let strides: Vec<Vec<usize>> = labels
        .iter()
        .zip(&tensors)
        .map(|(l, x)| {
            let s = x.shape();
            let mut st = vec![0usize; s.len()];
            let mut acc = 1;
            for a in (0..s.len()).rev() {
                st[a] = acc;
                acc *= s[a];
            }
            order
                .iter()
                .map(|c| l.iter().zip(s).zip(&st).filter(|&((d, &len), _)| d == c && len != 1).map(|(_, &v)| v).sum())
                .collect()
        })
        .collect();
    let out_shape: Vec<usize> = dims[..out.len()].to_vec();
    let out_len: usize = out_shape.iter().product();
    let inner: usize = dims[out.len()..].iter().product();
    if ptq_ir::tensor::checked_numel(&dims).is_none_or(|t| t > 1 << 31) {
        return Err("the equation is too large to evaluate".into());
    }
    if tensors.iter().any(|t| t.dtype() != tensors[0].dtype()) {
        return Err("operands must share one dtype".into());
    }
    let float = tensors.iter().all(|t| t.dtype().is_float() && !t.dtype().is_float8());
    let result = if float {
        let vals: Vec<Vec<f64>> = tensors.iter().map(|t| t.to_f64_vec()).collect();
        let mut acc = vec![0f64; out_len];
        let mut k = 0usize;
        walk(&dims, &strides, |o: &[usize]| {
            acc[k / inner.max(1)] += vals.iter().zip(o).map(|(v, &i)| v[i]).product::<f64>();
            k += 1;
        });
        super::nll_loss::as_dtype(crate::util::array(&out_shape, acc)?, tensors[0])?
    } else {
        let vals: Vec<Vec<i64>> = tensors
            .iter()
            .map(|t| t.to_i64_vec().ok_or(format!("Einsum of {} is not supported", t.dtype())))
            .collect::<Result<_, _>>()?;
        let mut acc = vec![0i64; out_len];
        let mut k = 0usize;
        walk(&dims, &strides, |o: &[usize]| {
            acc[k / inner.max(1)] =
                acc[k / inner.max(1)].wrapping_add(vals.iter().zip(o).fold(1i64, |p, (v, &i)| p.wrapping_mul(v[i])));
            k += 1;
        });
        let a = crate::util::array(&out_shape, acc)?;
        super::cast::cast(Tensor::I64(a), tensors[0].dtype(), false)?
    };
    one(result)
}

/// Two f32 operands whose labels are each batch (in both and the output),
/// free (in one and the output) or contracted (in both, not the output),
/// without repeats or broadcasting: the operands are permuted to `[batch,
/// m, k]` and `[batch, k, n]` and multiplied with `sgemm`. `None` when the
/// equation has another form.
fn as_matmul(
    a: &ArrayD<f32>,
    la: &[char],
    b: &ArrayD<f32>,
    lb: &[char],
    out: &[char],
    size: &BTreeMap<char, usize>,
    threads: Threads,
) -> Option<Result<ArrayD<f32>, String>> {
    let distinct = |l: &[char]| l.iter().enumerate().all(|(i, c)| !l[..i].contains(c));
    let exact = |l: &[char], s: &[usize]| l.iter().zip(s).all(|(c, &d)| size.get(c) == Some(&d));
    let lone = |l: &[char], other: &[char]| l.iter().any(|c| !out.contains(c) && !other.contains(c));
    if !distinct(la) || !distinct(lb) || !distinct(out) || !exact(la, a.shape()) || !exact(lb, b.shape()) {
        return None;
    }
    if lone(la, lb) || lone(lb, la) {
        return None;
    }
    let batch: Vec<char> = out.iter().filter(|c| la.contains(c) && lb.contains(c)).copied().collect();
    let m: Vec<char> = out.iter().filter(|c| la.contains(c) && !lb.contains(c)).copied().collect();
    let n: Vec<char> = out.iter().filter(|c| lb.contains(c) && !la.contains(c)).copied().collect();
    let k: Vec<char> = la.iter().filter(|c| lb.contains(c) && !out.contains(c)).copied().collect();
    let pos = |l: &[char], order: &[&[char]]| -> Option<Vec<usize>> {
        order.iter().flat_map(|v| v.iter()).map(|c| l.iter().position(|d| d == c)).collect()
    };
    let pa = pos(la, &[&batch, &m, &k])?;
    let pb = pos(lb, &[&batch, &k, &n])?;
    let prod = |v: &[char]| v.iter().map(|c| size.get(c).copied().unwrap_or(0)).product::<usize>();
    let (bt, mm, nn, kk) = (prod(&batch), prod(&m), prod(&n), prod(&k));
    let av = a.view().permuted_axes(pa);
    let av = av.as_standard_layout();
    let bv = b.view().permuted_axes(pb);
    let bv = bv.as_standard_layout();
    let (sa, sb) = (av.as_slice()?, bv.as_slice()?);
    let mut y = vec![0f32; bt * mm * nn];
    if mm * nn > 0 {
        let g = Gemm::row_major(mm, nn, kk, false, false);
        for (i, yi) in y.chunks_mut(mm * nn).enumerate() {
            sgemm(&g, &sa[i * mm * kk..(i + 1) * mm * kk], &sb[i * kk * nn..(i + 1) * kk * nn], yi, threads);
        }
    }
    let rl: Vec<char> = batch.iter().chain(&m).chain(&n).copied().collect();
    let shape: Vec<usize> = rl.iter().map(|c| size.get(c).copied().unwrap_or(0)).collect();
    let perm = pos(&rl, &[out])?;
    Some(crate::util::array(&shape, y).map(|r| r.permuted_axes(perm).as_standard_layout().into_owned()))
}

/// Calls `f` with each operand's flat offset for every index tuple over
/// `dims`, in row-major order (`strides[operand][axis]`).
fn walk(dims: &[usize], strides: &[Vec<usize>], mut f: impl FnMut(&[usize])) {
    let total: usize = dims.iter().product();
    let mut offs = vec![0usize; strides.len()];
    let mut pos = vec![0usize; dims.len()];
    for _ in 0..total {
        f(&offs);
        for a in (0..dims.len()).rev() {
            pos[a] += 1;
            for (o, s) in offs.iter_mut().zip(strides) {
                *o += s[a];
            }
            if pos[a] < dims[a] {
                break;
            }
            for (o, s) in offs.iter_mut().zip(strides) {
                *o -= s[a] * dims[a];
            }
            pos[a] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    fn eq(s: &str) -> [(&'static str, Attr); 1] {
        [("equation", Attr::String(s.as_bytes().to_vec()))]
    }
    fn f(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::F32(crate::util::array(shape, v.to_vec()).unwrap())
    }

    #[test]
    fn contracts_transposes_and_takes_diagonals() {
        let a = f(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = f(&[2, 1], &[1.0, 1.0]);
        assert_close(
            &test_run("Einsum", &eq("ij,jk->ik"), vec![a.clone(), b.clone()]).unwrap()[0],
            &[2, 1],
            &[3.0, 7.0],
        );
        assert_close(&test_run("Einsum", &eq("ij->ji"), vec![a.clone()]).unwrap()[0], &[2, 2], &[1.0, 3.0, 2.0, 4.0]);
        assert_close(&test_run("Einsum", &eq("ii->i"), vec![a.clone()]).unwrap()[0], &[2], &[1.0, 4.0]);
        assert_close(&test_run("Einsum", &eq("ij"), vec![a.clone()]).unwrap()[0], &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        assert_close(&test_run("Einsum", &eq("ji"), vec![a.clone()]).unwrap()[0], &[2, 2], &[1.0, 3.0, 2.0, 4.0]);
        assert_close(&test_run("Einsum", &eq("...j->..."), vec![a.clone()]).unwrap()[0], &[2], &[3.0, 7.0]);
        assert_close(&test_run("Einsum", &eq("ij->"), vec![a.clone()]).unwrap()[0], &[], &[10.0]);
        assert!(test_run("Einsum", &eq("ij,jk->ik"), vec![a.clone(), f(&[3, 1], &[0.0; 3])]).is_err());
        // Batch matmul with the output transposed, an outer product, and a
        // label summed within one operand (the general path).
        let x = f(&[2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
        let y = f(&[2, 2, 1], &[1.0, 1.0, 2.0, 0.5]);
        assert_close(&test_run("Einsum", &eq("bij,bjk->bki"), vec![x.clone(), y]).unwrap()[0], &[2, 1, 1], &[3.0, 8.0]);
        let u = f(&[2], &[1.0, 2.0]);
        let outer = test_run("Einsum", &eq("i,j->ji"), vec![u.clone(), f(&[3], &[1.0, 0.0, -1.0])]).unwrap();
        assert_close(&outer[0], &[3, 2], &[1.0, 2.0, 0.0, 0.0, -1.0, -2.0]);
        assert_close(&test_run("Einsum", &eq("bij,k->bk"), vec![x, u]).unwrap()[0], &[2, 2], &[3.0, 6.0, 7.0, 14.0]);
        assert!(test_run("Einsum", &eq("ijk->i"), vec![a]).is_err());
    }
}

//! Einsum of two operands as Transpose, Reshape and MatMul, so that the
//! quantizer sees the MatMul (Keras's EinsumDense and MultiHeadAttention
//! write their projections and attention products as Einsum). Labels are
//! classed as batch (both operands and the output), contracted (both
//! operands only), left (first operand and output) and right (second
//! operand and output); each operand is transposed to batch, free,
//! contracted order and groups of labels are merged where needed. Equations
//! outside this form (an ellipsis, a repeated label, a label summed within
//! one operand, merged groups of unknown size) stay one `Einsum` op, which
//! the executor runs as it is.

use ptq_ir::ops::matmul::MatMul;
use ptq_ir::ops::opaque::Opaque;
use ptq_ir::ops::reshape::Reshape;
use ptq_ir::{Attr, Tensor, ValueId};

use crate::flatten::FlatNode;
use crate::import::Cx;

/// The plan for one equation.
struct Plan {
    batch: Vec<char>,
    left: Vec<char>,
    contracted: Vec<char>,
    right: Vec<char>,
    out: Vec<char>,
    a: Vec<char>,
    b: Vec<char>,
}

fn plan(eq: &str) -> Option<Plan> {
    let eq: String = eq.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, out) = eq.split_once("->")?;
    let (a, b) = lhs.split_once(',')?;
    let labels = |s: &str| -> Option<Vec<char>> {
        let v: Vec<char> = s.chars().collect();
        let ok = v.iter().all(char::is_ascii_alphabetic) && v.iter().enumerate().all(|(i, c)| !v[..i].contains(c));
        ok.then_some(v)
    };
    let (a, b, out) = (labels(a)?, labels(b)?, labels(out)?);
    let mut p = Plan { batch: vec![], left: vec![], contracted: vec![], right: vec![], out, a, b };
    for &c in &p.a {
        match (p.b.contains(&c), p.out.contains(&c)) {
            (true, true) => p.batch.push(c),
            (true, false) => p.contracted.push(c),
            (false, true) => p.left.push(c),
            (false, false) => return None,
        }
    }
    for &c in &p.b {
        match (p.a.contains(&c), p.out.contains(&c)) {
            (false, true) => p.right.push(c),
            (false, false) => return None,
            _ => {}
        }
    }
    if p.out.iter().any(|c| !p.a.contains(c) && !p.b.contains(c)) || p.contracted.is_empty() || p.left.is_empty() {
        return None;
    }
    Some(p)
}

/// An operand's dims, each `None` where unknown; `None` for unknown rank.
type Dims = Option<Vec<Option<u64>>>;

/// The sizes of `labels`, read from operand dims (`None` where unknown).
fn sizes(labels: &[char], ops: &[(&[char], Dims)]) -> Vec<Option<u64>> {
    labels
        .iter()
        .map(|c| {
            ops.iter().find_map(|(l, dims)| {
                let i = l.iter().position(|x| x == c)?;
                dims.as_ref()?.get(i).copied().flatten()
            })
        })
        .collect()
}

fn product(v: &[Option<u64>]) -> Option<i64> {
    v.iter().try_fold(1i64, |acc, d| acc.checked_mul(i64::try_from((*d)?).ok()?))
}

fn perm_of(from: &[char], to: &[char]) -> Vec<i64> {
    to.iter().map(|c| from.iter().position(|x| x == c).unwrap_or(0) as i64).collect()
}

fn is_identity(p: &[i64]) -> bool {
    p.iter().enumerate().all(|(i, &x)| x == i as i64)
}

pub fn lower(cx: &mut Cx<'_>, idx: usize, n: &FlatNode, eq: &str) -> Result<(), String> {
    if n.inputs.len() == 2
        && let Some(p) = plan(eq)
        && let Some(y) = as_matmul(cx, n, &p)?
    {
        cx.set(idx, 0, y);
        return Ok(());
    }
    let inputs = (0..n.inputs.len()).map(|i| cx.input(n, i).map(Some)).collect::<Result<_, _>>()?;
    let op = Opaque {
        op_type: "Einsum".into(),
        domain: String::new(),
        attrs: vec![("equation".into(), Attr::String(eq.as_bytes().to_vec()))],
    };
    let y = cx.node1(&n.name, op, inputs);
    cx.set(idx, 0, y);
    Ok(())
}

fn as_matmul(cx: &mut Cx<'_>, n: &FlatNode, p: &Plan) -> Result<Option<ValueId>, String> {
    let a = cx.input(n, 0)?;
    let b = cx.input(n, 1)?;
    let dims = |cx: &Cx<'_>, v: ValueId| cx.fact(v).shape.as_ref().map(|s| s.iter().map(|d| d.known()).collect());
    let (da, db): (Dims, Dims) = (dims(cx, a), dims(cx, b));
    if da.as_ref().is_some_and(|d| d.len() != p.a.len()) || db.as_ref().is_some_and(|d| d.len() != p.b.len()) {
        return Err(format!("equation {} does not fit the operands' ranks", p.out.iter().collect::<String>()));
    }
    let ops = [(p.a.as_slice(), da), (p.b.as_slice(), db)];
    let (sl, sk, sr) = (sizes(&p.left, &ops), sizes(&p.contracted, &ops), sizes(&p.right, &ops));
    let nb = p.batch.len();
    let Some(pk) = product(&sk) else { return Ok(None) };
    let pr = product(&sr);
    let pl = product(&sl);
    if (pr.is_none() && p.right.len() > 1) || (nb > 0 && pl.is_none() && p.left.len() > 1) {
        return Ok(None);
    }
    let name = n.name.clone();
    let reshape = |cx: &mut Cx<'_>, v: ValueId, shape: Vec<i64>, tag: &str| -> ValueId {
        if let Some(t) = cx.constant_of(v).cloned()
            && shape.iter().all(|&d| d > 0)
            && let Some(r) = super::reshaped(&t, &shape.iter().map(|&d| d as usize).collect::<Vec<_>>())
        {
            return cx.constant(&format!("{name}/{tag}"), r);
        }
        let s = cx.constant(&format!("{name}/{tag}_shape"), Tensor::from_i64s(&shape));
        cx.node1(&format!("{name}/{tag}"), Reshape { allowzero: false }, vec![Some(v), Some(s)])
    };
    // A: [batch, left, contracted]; B: [batch, contracted, right].
    let a_order: Vec<char> = p.batch.iter().chain(&p.left).chain(&p.contracted).copied().collect();
    let b_order: Vec<char> = p.batch.iter().chain(&p.contracted).chain(&p.right).copied().collect();
    let pa = perm_of(&p.a, &a_order);
    let pb = perm_of(&p.b, &b_order);
    let mut a2 = if is_identity(&pa) { a } else { cx.transpose(&format!("{name}/a_t"), a, &pa) };
    let mut b2 = if is_identity(&pb) { b } else { cx.transpose(&format!("{name}/b_t"), b, &pb) };
    // Left labels stay separate without batch labels (MatMul broadcasts them).
    let merge_left = nb > 0 && p.left.len() > 1;
    if merge_left || p.contracted.len() > 1 {
        let mut shape = vec![0; nb];
        if merge_left {
            shape.push(pl.unwrap_or(-1));
        } else {
            shape.extend(std::iter::repeat_n(0, p.left.len()));
        }
        shape.push(pk);
        a2 = reshape(cx, a2, shape, "a_merged");
    }
    if p.contracted.len() > 1 || p.right.len() != 1 {
        let mut shape = vec![0; nb];
        shape.push(pk);
        shape.push(pr.unwrap_or(-1));
        b2 = reshape(cx, b2, shape, "b_merged");
    }
    let mut y = cx.node1(&format!("{name}/matmul"), MatMul, vec![Some(a2), Some(b2)]);
    // y: [batch, left (merged or not), right merged] → [batch, left, right].
    if merge_left || p.right.len() != 1 {
        let mut shape = vec![0; nb];
        if merge_left {
            shape.extend(sl.iter().map(|d| d.map_or(-1, |d| d as i64)));
        } else {
            shape.extend(std::iter::repeat_n(0, p.left.len()));
        }
        shape.extend(sr.iter().map(|d| d.map_or(-1, |d| d as i64)));
        if shape.iter().filter(|&&d| d == -1).count() > 1 {
            return Ok(None);
        }
        y = reshape(cx, y, shape, "split");
    }
    let y_order: Vec<char> = p.batch.iter().chain(&p.left).chain(&p.right).copied().collect();
    let po = perm_of(&y_order, &p.out);
    Ok(Some(if is_identity(&po) { y } else { cx.transpose(&name, y, &po) }))
}

#[cfg(test)]
mod tests {
    use super::plan;

    #[test]
    fn equations_are_classed() {
        let p = plan("abcd,aecd->acbe").expect("plan");
        assert_eq!((p.batch, p.left, p.contracted, p.right), (vec!['a', 'c'], vec!['b'], vec!['d'], vec!['e']));
        let p = plan("abc,cde->abde").expect("plan");
        assert_eq!((p.batch, p.left, p.contracted, p.right), (vec![], vec!['a', 'b'], vec!['c'], vec!['d', 'e']));
        assert!(plan("...c,cd->...d").is_none());
        assert!(plan("aab,bc->ac").is_none());
        assert!(plan("ab,bc->c").is_none());
    }
}

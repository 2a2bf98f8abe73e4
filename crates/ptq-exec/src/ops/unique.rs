//! Unique, which the IR keeps opaque: the distinct elements of X (or,
//! with `axis`, its distinct slices along that axis), ascending when `sorted`
//! (default 1; slices compare lexicographically) or in order of first
//! occurrence. Outputs: Y, the index of each one's first occurrence, the
//! index into Y of every input element (slice), and the counts (int64).
//! Numbers and bool.

use std::cmp::Ordering;

use ndarray::{ArrayD, Axis, IxDyn};
use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out};
use crate::inputs::Inputs;
use crate::util::try_map_tensor;

/// Unique's settings.
#[derive(Clone, Copy, Debug)]
pub struct Unique {
    axis: Option<i64>,
    sorted: bool,
}

/// Reads `axis` and `sorted`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    let axis = a.ints("axis")?.and_then(|v| v.first().copied());
    kern(Unique { axis, sorted: a.int("sorted", 1)? != 0 }, run)
}

/// Compares two items given as slices of keys.
fn cmp_items(a: &[f64], b: &[f64]) -> Ordering {
    a.iter().zip(b).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
}

/// Runs Unique.
pub fn run(op: &Unique, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let keys: Vec<f64> = match x {
        Tensor::Bool(a) => a.iter().map(|&b| f64::from(u8::from(b))).collect(),
        t if t.dtype().is_float() && !t.dtype().is_float8() => t.to_f64_vec(),
        t => t
            .to_i64_vec()
            .ok_or(format!("Unique of {} is not supported", t.dtype()))?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
    };
    let (ax, flat_shape) = match op.axis {
        Some(a) => (crate::util::axis(a, x.shape().len())?, None),
        None => (0, Some(vec![x.len()])),
    };
    let shape = flat_shape.clone().unwrap_or_else(|| x.shape().to_vec());
    // Items as rows of keys: move the axis to the front.
    let k = ArrayD::from_shape_vec(IxDyn(&shape), keys).map_err(|e| e.to_string())?;
    let items: Vec<Vec<f64>> = k.axis_iter(Axis(ax)).map(|s| s.iter().copied().collect()).collect();
    let mut first: Vec<usize> = vec![];
    let mut inverse = vec![0usize; items.len()];
    let mut counts: Vec<i64> = vec![];
    // Distinct items by first occurrence.
    let mut by_key: Vec<usize> = (0..items.len()).collect();
    by_key.sort_by(|&i, &j| cmp_items(&items[i], &items[j]).then(i.cmp(&j)));
    let mut group_of = vec![0usize; items.len()];
    let mut starts: Vec<usize> = vec![];
    for (p, &i) in by_key.iter().enumerate() {
        if p == 0 || cmp_items(&items[by_key[p - 1]], &items[i]).is_ne() {
            starts.push(i);
        }
        group_of[i] = starts.len() - 1;
    }
    // Order of the distinct items in Y.
    let mut order: Vec<usize> = (0..starts.len()).collect();
    if !op.sorted {
        order.sort_by_key(|&g| starts[g]);
    }
    let mut rank = vec![0usize; starts.len()];
    for (r, &g) in order.iter().enumerate() {
        rank[g] = r;
        first.push(starts[g]);
        counts.push(0);
    }
    for (i, inv) in inverse.iter_mut().enumerate() {
        *inv = rank[group_of[i]];
        counts[*inv] += 1;
    }
    let y: Result<Tensor, String> = try_map_tensor!(x, |a| {
        let a = match &flat_shape {
            Some(s) => a.to_shape(IxDyn(s)).map_err(|e| e.to_string())?.to_owned(),
            None => a.clone(),
        };
        Ok::<_, String>(a.select(Axis(ax), &first))
    });
    let ints = |v: Vec<i64>| crate::util::array(&[v.len()], v).map(Tensor::I64);
    Ok(vec![
        Some(y?),
        Some(ints(first.iter().map(|&i| i as i64).collect())?),
        Some(ints(inverse.iter().map(|&i| i as i64).collect())?),
        Some(ints(counts)?),
    ])
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run_opt};

    #[test]
    fn finds_distinct_elements_and_slices() {
        let x = Tensor::from_f32s(&[2.0, 1.0, 1.0, 3.0, 4.0, 3.0]);
        let y = test_run_opt("Unique", &[("sorted", Attr::Int(0))], vec![Some(x.clone())], 4).unwrap();
        assert_close(&y[0], &[4], &[2.0, 1.0, 3.0, 4.0]);
        assert_eq!(y[1], Tensor::from_i64s(&[0, 1, 3, 4]));
        assert_eq!(y[2], Tensor::from_i64s(&[0, 1, 1, 2, 3, 2]));
        assert_eq!(y[3], Tensor::from_i64s(&[1, 2, 2, 1]));
        let y = test_run_opt("Unique", &[], vec![Some(x)], 4).unwrap();
        assert_close(&y[0], &[4], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(y[2], Tensor::from_i64s(&[1, 0, 0, 2, 3, 2]));
        let m = Tensor::F32(crate::util::array(&[3, 2], vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0]).unwrap());
        let y = test_run_opt("Unique", &[("axis", Attr::Int(0))], vec![Some(m)], 4).unwrap();
        assert_close(&y[0], &[2, 2], &[0.0, 1.0, 1.0, 0.0]);
        assert_eq!(y[3], Tensor::from_i64s(&[1, 2]));
    }
}

//! Tile.

use ndarray::{ArrayD, IxDyn};
use ptq_ir::Tensor;
use ptq_ir::ops::tile::Tile;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{map_tensor, to_usize};

fn tile<T: Clone>(a: &ArrayD<T>, reps: &[usize]) -> ArrayD<T> {
    let shape: Vec<usize> = a.shape().iter().zip(reps).map(|(d, r)| d * r).collect();
    let src = a.shape().to_vec();
    let mut p = vec![0usize; src.len()];
    ArrayD::from_shape_fn(IxDyn(&shape), |ix| {
        for (i, q) in p.iter_mut().enumerate() {
            *q = ix[i] % src[i];
        }
        a[IxDyn(&p)].clone()
    })
}

/// Runs Tile.
pub fn run(_op: &Tile, ins: &mut Inputs, _n: usize) -> Out {
    let reps: Vec<usize> = ins.ints(1)?.iter().map(|&v| to_usize(v, "repeats")).collect::<Result<_, _>>()?;
    let x = ins.shared(0)?;
    if reps.len() != x.shape().len() {
        return Err(format!("{} repeats for rank {}", reps.len(), x.shape().len()));
    }
    let shape: Option<Vec<usize>> = x.shape().iter().zip(&reps).map(|(d, r)| d.checked_mul(*r)).collect();
    if shape.and_then(|s| ptq_ir::tensor::checked_numel(&s)).is_none() {
        return Err(format!("repeats {reps:?} of {:?} are too large", x.shape()));
    }
    one(map_tensor!(&*x, |a| tile(a, &reps)))
}

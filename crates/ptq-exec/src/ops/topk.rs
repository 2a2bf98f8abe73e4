//! TopK.

use ndarray::{ArrayD, Axis};
use ptq_ir::Tensor;
use ptq_ir::ops::topk::TopK;

use super::Out;
use crate::inputs::Inputs;
use crate::util::{f32s, to_usize};

/// Runs TopK on f32 data; equal values keep the lower index first.
pub fn run(op: &TopK, ins: &mut Inputs, _n: usize) -> Out {
    let k = ins.ints(1)?;
    let k = to_usize(*k.first().ok_or("K must have one element")?, "K")?;
    let x = ins.shared(0)?;
    let a = f32s(&x)?;
    let ax = crate::util::axis(op.axis, a.ndim())?;
    if k > a.shape()[ax] {
        return Err(format!("K = {k} exceeds the axis size {}", a.shape()[ax]));
    }
    let mut shape = a.shape().to_vec();
    shape[ax] = k;
    let mut vals = ArrayD::<f32>::zeros(shape.clone());
    let mut idxs = ArrayD::<i64>::zeros(shape);
    for ((lane, mut vl), mut il) in
        a.lanes(Axis(ax)).into_iter().zip(vals.lanes_mut(Axis(ax))).zip(idxs.lanes_mut(Axis(ax)))
    {
        let mut order: Vec<usize> = (0..lane.len()).collect();
        order.sort_by(|&i, &j| {
            let c = lane[i].partial_cmp(&lane[j]).unwrap_or(std::cmp::Ordering::Equal);
            let c = if op.largest { c.reverse() } else { c };
            c.then(i.cmp(&j))
        });
        for (t, &i) in order.iter().take(k).enumerate() {
            vl[t] = lane[i];
            il[t] = i as i64;
        }
    }
    Ok(vec![Some(Tensor::F32(vals)), Some(Tensor::I64(idxs))])
}

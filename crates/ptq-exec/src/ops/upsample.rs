//! Upsample (opset 7–9, deprecated for Resize), which the IR keeps opaque:
//! X scaled per axis by the float `scales` (input from opset 9, attribute
//! before) with `mode` "nearest" (the default): output size
//! `⌊in · scale⌋`, each output index `i` reads input `⌊i / scale⌋`, any
//! dtype; or "linear"/"bilinear": Resize's linear mode with asymmetric
//! coordinates (`i / scale`, edges repeated), numbers only.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use ptq_ir::Tensor;
use ptq_ir::ops::resize::Resize;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::{Inputs, Slot};
use crate::util::try_map_tensor;

/// Upsample's settings; `scales` when given as an attribute.
#[derive(Clone, Debug)]
pub struct Upsample {
    scales: Option<Vec<f32>>,
    linear: bool,
}

/// Reads `mode` and `scales`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    let linear = match a.string("mode", "nearest")?.as_str() {
        "nearest" => false,
        "linear" | "bilinear" => true,
        m => return Err(format!("mode {m:?} is not supported")),
    };
    kern(Upsample { scales: a.floats("scales")?, linear }, run)
}

fn nearest<T: Clone>(a: &ArrayD<T>, shape: &[usize], scales: &[f64]) -> Result<ArrayD<T>, String> {
    let src: Vec<Vec<usize>> = shape
        .iter()
        .zip(scales)
        .zip(a.shape())
        .map(|((&n, &s), &dim)| (0..n).map(|i| ((i as f64 / s) as usize).min(dim.saturating_sub(1))).collect())
        .collect();
    let mut p = vec![0usize; shape.len()];
    Ok(ArrayD::from_shape_fn(IxDyn(shape), |ix| {
        for (k, q) in p.iter_mut().enumerate() {
            *q = src[k][ix[k]];
        }
        a[IxDyn(&p)].clone()
    }))
}

/// Runs Upsample.
pub fn run(op: &Upsample, ins: &mut Inputs, _n: usize) -> Out {
    let scales: Vec<f64> = match (&op.scales, ins.opt(1)) {
        (_, Some(s)) => s.to_f64_vec(),
        (Some(s), None) => s.iter().map(|&v| f64::from(v)).collect(),
        (None, None) => return Err("scales are missing".into()),
    };
    let x = ins.get(0)?;
    if scales.len() != x.shape().len() || scales.iter().any(|s| !(1.0..1e6).contains(s)) {
        return Err(format!("scales {scales:?} must be one value of at least 1 per axis of {:?}", x.shape()));
    }
    let shape: Vec<usize> = x.shape().iter().zip(&scales).map(|(&d, &s)| (d as f64 * s) as usize).collect();
    if op.linear {
        let resize = Resize {
            mode: Some("linear".into()),
            coordinate_transformation_mode: Some("asymmetric".into()),
            ..Resize::default()
        };
        let scales = Tensor::from_f32s(&scales.iter().map(|&s| s as f32).collect::<Vec<_>>());
        let slot = |t: Tensor| Some(Slot { tensor: Arc::new(t), reusable: true });
        let mut sub = Inputs {
            slots: vec![Some(Slot { tensor: ins.shared(0)?, reusable: false }), None, slot(scales)],
            threads: ins.threads,
            bodies: None,
        };
        return super::resize::run(&resize, &mut sub, 1);
    }
    if ptq_ir::tensor::checked_numel(&shape).is_none_or(|n| n > 1 << 31) {
        return Err(format!("output shape {shape:?} is too large"));
    }
    let out: Result<Tensor, String> = try_map_tensor!(x, |a| nearest(a, &shape, &scales));
    one(out?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn repeats_nearest_elements_or_interpolates() {
        let x = Tensor::F32(crate::util::array(&[1, 2], vec![1.0, 2.0]).unwrap());
        let y = test_run("Upsample", &[], vec![x.clone(), Tensor::from_f32s(&[2.0, 1.5])]).unwrap();
        assert_close(&y[0], &[2, 3], &[1.0, 1.0, 2.0, 1.0, 1.0, 2.0]);
        let linear = [("mode", Attr::String(b"linear".to_vec()))];
        let y = test_run("Upsample", &linear, vec![x, Tensor::from_f32s(&[1.0, 2.0])]).unwrap();
        assert_close(&y[0], &[1, 4], &[1.0, 1.5, 2.0, 2.0]);
    }
}

//! Sliding-window pooling (ONNX `MaxPool`, `AveragePool`).

use super::spatial::{AutoPad, window_out, windows};
use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::dtype::DType;
use crate::fact::Fact;

/// Which reduction the window applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Avg,
}

/// Input X `[N, C, D1..]`; outputs Y and, for max pooling, optional Indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    pub auto_pad: AutoPad,
    pub ceil_mode: bool,
    pub count_include_pad: bool,
    pub dilations: Option<Vec<i64>>,
    pub kernel_shape: Vec<i64>,
    pub pads: Option<Vec<i64>>,
    pub storage_order: i64,
    pub strides: Option<Vec<i64>>,
}

impl OpDef for Pool {
    fn op_name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "MaxPool",
            PoolKind::Avg => "AveragePool",
        }
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let k: Vec<u64> = self
            .kernel_shape
            .iter()
            .map(|&v| u64::try_from(v).map_err(|_| format!("negative kernel size {v}")))
            .collect::<Result<_, _>>()?;
        let shape = match &x.fact.shape {
            Some(xs) => {
                if xs.len() != k.len() + 2 {
                    return Err(format!("input rank {} does not match kernel rank {}", xs.len(), k.len()));
                }
                let mut out = xs[..2].to_vec();
                for (d, w) in xs[2..].iter().zip(windows(&k, &self.strides, &self.dilations, &self.pads)?) {
                    out.push(window_out(d, w, self.auto_pad, self.ceil_mode)?);
                }
                Some(out)
            }
            None => None,
        };
        let y = Fact { dtype: x.fact.dtype, shape: shape.clone() };
        let idx = Fact { dtype: Some(DType::I64), shape };
        Ok(pad_outputs(vec![y, idx], n))
    }
}

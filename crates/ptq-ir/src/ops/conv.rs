//! Convolution (ONNX `Conv`): `Y = conv(X, W) + B` with groups and dilations.

use super::spatial::{AutoPad, window_out, windows};
use super::util::{dim_from_i64, pad_outputs, req, shape_of};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// Inputs: X `[N, C, D1..]`, W `[M, C/group, k1..]`, optional B `[M]`.
/// Attributes left `None` were absent in the source and take ONNX defaults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conv {
    pub auto_pad: AutoPad,
    pub dilations: Option<Vec<i64>>,
    pub group: i64,
    pub kernel_shape: Option<Vec<i64>>,
    pub pads: Option<Vec<i64>>,
    pub strides: Option<Vec<i64>>,
}

/// Kernel sizes from the attribute or from W's shape.
pub(crate) fn kernel_sizes(attr: &Option<Vec<i64>>, w: Option<&Vec<Dim>>) -> Result<Option<Vec<u64>>, String> {
    if let Some(k) = attr {
        return k
            .iter()
            .map(|&x| u64::try_from(x).map_err(|_| format!("negative kernel size {x}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some);
    }
    Ok(w.filter(|w| w.len() >= 2).and_then(|w| w[2..].iter().map(Dim::known).collect()))
}

impl OpDef for Conv {
    fn op_name(&self) -> &'static str {
        "Conv"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        req(inputs, 1)?;
        if self.group < 1 {
            return Err(format!("group {} < 1", self.group));
        }
        let w = shape_of(inputs, 1);
        let (Some(xs), Some(k)) = (x.fact.shape.as_ref(), kernel_sizes(&self.kernel_shape, w)?) else {
            let rank = x.fact.rank().or(w.map(Vec::len));
            return Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape: rank.map(|r| vec![Dim::Unknown; r]) }], n));
        };
        if xs.len() != k.len() + 2 {
            return Err(format!("input rank {} does not match kernel rank {}", xs.len(), k.len()));
        }
        let m = match w {
            Some(w) if !w.is_empty() => w[0].clone(),
            _ => Dim::Unknown,
        };
        let mut out = vec![xs[0].clone(), m];
        for (d, win) in xs[2..].iter().zip(windows(&k, &self.strides, &self.dilations, &self.pads)?) {
            out.push(window_out(d, win, self.auto_pad, false)?);
        }
        if let (Some(Dim::Known(c)), Some(Dim::Known(cw))) = (xs.get(1), w.and_then(|w| w.get(1)))
            && *c != cw * dim_from_i64(self.group)?.known().unwrap_or(1)
        {
            return Err(format!("input has {c} channels but W expects {cw} x group {}", self.group));
        }
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape: Some(out) }], n))
    }
}

//! Transposed convolution (ONNX `ConvTranspose`).

use super::conv::kernel_sizes;
use super::spatial::{AutoPad, per_axis};
use super::util::{dim_mul, pad_outputs, req, shape_of};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// Inputs: X `[N, C, D1..]`, W `[C, M/group, k1..]`, optional B `[M]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConvTranspose {
    pub auto_pad: AutoPad,
    pub dilations: Option<Vec<i64>>,
    pub group: i64,
    pub kernel_shape: Option<Vec<i64>>,
    pub output_padding: Option<Vec<i64>>,
    pub output_shape: Option<Vec<i64>>,
    pub pads: Option<Vec<i64>>,
    pub strides: Option<Vec<i64>>,
}

impl OpDef for ConvTranspose {
    fn op_name(&self) -> &'static str {
        "ConvTranspose"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        req(inputs, 1)?;
        let w = shape_of(inputs, 1);
        let (Some(xs), Some(k)) = (x.fact.shape.as_ref(), kernel_sizes(&self.kernel_shape, w)?) else {
            return Ok(pad_outputs(vec![Fact::with_rank(x.fact.dtype, x.fact.rank().unwrap_or(0))], n));
        };
        let r = k.len();
        if xs.len() != r + 2 {
            return Err(format!("input rank {} does not match kernel rank {r}", xs.len()));
        }
        let m = w.and_then(|w| w.get(1)).map_or(Dim::Unknown, |d| dim_mul(d, &Dim::Known(self.group.max(1) as u64)));
        let mut out = vec![xs[0].clone(), m];
        if let Some(os) = &self.output_shape {
            let os = &os[os.len().saturating_sub(r)..];
            out.extend(os.iter().map(|&v| Dim::Known(v.max(0) as u64)));
            return Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape: Some(out) }], n));
        }
        let s = per_axis(&self.strides, r, 1, "strides")?;
        let d = per_axis(&self.dilations, r, 1, "dilations")?;
        let p = per_axis(&self.pads, 2 * r, 0, "pads")?;
        let op = per_axis(&self.output_padding, r, 0, "output_padding")?;
        for i in 0..r {
            out.push(match xs[i + 2] {
                Dim::Known(v) => {
                    let full = s[i] * v.saturating_sub(1) + op[i] + (k[i].saturating_sub(1)) * d[i] + 1;
                    match self.auto_pad {
                        AutoPad::SameUpper | AutoPad::SameLower => Dim::Known(v * s[i]),
                        AutoPad::Valid => Dim::Known(full),
                        AutoPad::NotSet => {
                            Dim::Known(full.checked_sub(p[i] + p[i + r]).ok_or("pads exceed output size")?)
                        }
                    }
                }
                _ => Dim::Unknown,
            });
        }
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape: Some(out) }], n))
    }
}

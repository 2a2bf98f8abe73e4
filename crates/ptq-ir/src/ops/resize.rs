//! Resampling (ONNX `Resize`).

use super::util::{const_ints, norm_axes, opt, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// Inputs: X, optional roi, optional scales (f32), optional sizes (i64).
/// String attributes keep their ONNX spelling; `None` means absent (default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resize {
    pub mode: Option<String>,
    pub coordinate_transformation_mode: Option<String>,
    pub nearest_mode: Option<String>,
    pub cubic_coeff_a: Option<f32>,
    pub exclude_outside: Option<i64>,
    pub extrapolation_value: Option<f32>,
    pub antialias: Option<i64>,
    pub axes: Option<Vec<i64>>,
    pub keep_aspect_ratio_policy: Option<String>,
}

impl OpDef for Resize {
    fn op_name(&self) -> &'static str {
        "Resize"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let Some(s) = &x.fact.shape else {
            return Ok(pad_outputs(vec![Fact::dtype_only(x.fact.dtype)], n));
        };
        let axes = match &self.axes {
            Some(a) => norm_axes(a, s.len())?,
            None => (0..s.len()).collect(),
        };
        let mut out = s.clone();
        let policy_default = self.keep_aspect_ratio_policy.as_deref().is_none_or(|p| p == "stretch");
        if let Some(sizes) = const_ints(inputs, 3) {
            if sizes.len() != axes.len() {
                return Err(format!("{} sizes for {} axes", sizes.len(), axes.len()));
            }
            for (&a, &v) in axes.iter().zip(&sizes) {
                out[a] = if policy_default {
                    Dim::Known(u64::try_from(v).map_err(|_| "negative size")?)
                } else {
                    Dim::Unknown
                };
            }
        } else if let Some(scales) =
            opt(inputs, 2).and_then(|x| x.value).map(|t| t.to_f64_vec()).filter(|v| !v.is_empty())
        {
            if scales.len() != axes.len() {
                return Err(format!("{} scales for {} axes", scales.len(), axes.len()));
            }
            for (&a, &sc) in axes.iter().zip(&scales) {
                out[a] = match &s[a] {
                    Dim::Known(d) if sc.is_finite() && sc > 0.0 => Dim::Known(((*d as f64) * sc).floor() as u64),
                    Dim::Known(_) => return Err(format!("invalid scale {sc}")),
                    _ => Dim::Unknown,
                };
            }
        } else {
            for &a in &axes {
                out[a] = Dim::Unknown;
            }
        }
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape: Some(out) }], n))
    }
}

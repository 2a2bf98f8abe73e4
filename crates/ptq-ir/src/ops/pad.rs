//! Padding (ONNX `Pad`).

use super::util::{const_ints, norm_axes, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// Padding mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PadMode {
    #[default]
    Constant,
    Reflect,
    Edge,
    Wrap,
}

impl PadMode {
    /// Parses the ONNX spelling.
    pub fn parse(s: &str) -> Option<PadMode> {
        Some(match s {
            "constant" => PadMode::Constant,
            "reflect" => PadMode::Reflect,
            "edge" => PadMode::Edge,
            "wrap" => PadMode::Wrap,
            _ => return None,
        })
    }

    /// The ONNX spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PadMode::Constant => "constant",
            PadMode::Reflect => "reflect",
            PadMode::Edge => "edge",
            PadMode::Wrap => "wrap",
        }
    }
}

/// Inputs: data, pads (i64, all begins then all ends), optional constant_value,
/// optional axes. Negative pads crop.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pad {
    pub mode: PadMode,
}

impl OpDef for Pad {
    fn op_name(&self) -> &'static str {
        "Pad"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        req(inputs, 1)?;
        let Some(s) = &x.fact.shape else {
            return Ok(pad_outputs(vec![Fact::dtype_only(x.fact.dtype)], n));
        };
        let (Some(pads), axes) = (const_ints(inputs, 1), const_ints(inputs, 3)) else {
            return Ok(pad_outputs(vec![Fact::with_rank(x.fact.dtype, s.len())], n));
        };
        let axes = match axes {
            Some(a) => norm_axes(&a, s.len())?,
            None => (0..s.len()).collect(),
        };
        if pads.len() != 2 * axes.len() {
            return Err(format!("{} pads for {} axes", pads.len(), axes.len()));
        }
        let mut out = s.clone();
        for (i, &a) in axes.iter().enumerate() {
            if let Dim::Known(d) = s[a] {
                let v = d as i64 + pads[i] + pads[i + axes.len()];
                out[a] = Dim::Known(u64::try_from(v).map_err(|_| format!("pads make axis {a} negative"))?);
            }
        }
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape: Some(out) }], n))
    }
}

//! Split along an axis (ONNX `Split`).

use super::util::{const_ints, dim_from_i64, req};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact, norm_axis};

/// Inputs: data, optional split sizes (i64). Without sizes the axis is cut into
/// as many equal parts as there are outputs (`num_outputs` from opset 18, the
/// last part may be smaller).
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub axis: i64,
    pub num_outputs: Option<i64>,
}

impl OpDef for Split {
    fn op_name(&self) -> &'static str {
        "Split"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let Some(s) = &x.fact.shape else {
            return Ok(vec![Fact::dtype_only(x.fact.dtype); n]);
        };
        let axis = norm_axis(self.axis, s.len())?;
        let sizes: Vec<Dim> = match (const_ints(inputs, 1), &s[axis]) {
            (Some(sp), d) => {
                if sp.len() != n {
                    return Err(format!("{} split sizes for {n} outputs", sp.len()));
                }
                if let Dim::Known(total) = d
                    && sp.iter().sum::<i64>() != *total as i64
                {
                    return Err(format!("split sizes {sp:?} do not add up to {total}"));
                }
                sp.iter().map(|&v| dim_from_i64(v)).collect::<Result<_, _>>()?
            }
            (None, Dim::Known(total)) if n > 0 && inputs.get(1).is_none_or(Option::is_none) => {
                let part = total.div_ceil(n as u64);
                (0..n as u64).map(|i| Dim::Known(part.min(total.saturating_sub(i * part)))).collect()
            }
            _ => vec![Dim::Unknown; n],
        };
        Ok(sizes
            .into_iter()
            .map(|d| {
                let mut sh = s.clone();
                sh[axis] = d;
                Fact { dtype: x.fact.dtype, shape: Some(sh) }
            })
            .collect())
    }
}

//! Fake quantization (OpenVINO `FakeQuantize`): values clamped to an input
//! range, rounded to one of `levels` evenly spaced steps and mapped onto an
//! output range, all in the input's float type.

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Fact, broadcast};

/// Inputs: X, input_low, input_high, output_low, output_high, the four ranges
/// broadcast (numpy rules) against X. The output has X's shape and dtype:
///
/// ```text
/// x <= min(il, ih):  ol
/// x >  max(il, ih):  oh
/// otherwise:         round((x - il) / (ih - il) * (levels - 1)) / (levels - 1) * (oh - ol) + ol
/// ```
///
/// with rounding half to even. `levels = 256` and `il = ol = (qmin - zp) * s`,
/// `ih = oh = (qmax - zp) * s` is a QuantizeLinear→DequantizeLinear pair.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeQuantize {
    pub levels: u32,
}

impl OpDef for FakeQuantize {
    fn op_name(&self) -> &'static str {
        "FakeQuantize"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        if self.levels < 2 {
            return Err(format!("levels must be at least 2, got {}", self.levels));
        }
        let x = req(inputs, 0)?;
        let mut shape = x.fact.shape.clone();
        for i in 1..5 {
            let r = req(inputs, i)?;
            if let (Some(s), Some(rs)) = (&shape, &r.fact.shape) {
                let b = broadcast(s, rs)?;
                if b.len() != s.len() {
                    return Err(format!("range input {i} has a higher rank than X"));
                }
                shape = Some(b);
            }
        }
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape }], n))
    }
}

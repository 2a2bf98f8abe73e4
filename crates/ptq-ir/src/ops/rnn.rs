//! Recurrent layers (ONNX `LSTM`, `GRU`).
//!
//! The gate projections `X·Wᵀ` and `H·Rᵀ` are matrix products over the
//! weight inputs W (slot 1) and R (slot 2); quantization treats those two
//! inputs as weights of a MatMul, so they are visible to placement passes.

use super::util::{dim_mul, pad_outputs, req, shape_of};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// Which cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RnnKind {
    /// Gates i, o, f, c; inputs X, W, R, B, sequence_lens, initial_h, initial_c, P.
    Lstm,
    /// Gates z, r, h; inputs X, W, R, B, sequence_lens, initial_h.
    Gru,
}

/// Processing direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RnnDirection {
    #[default]
    Forward,
    Reverse,
    Bidirectional,
}

impl RnnDirection {
    /// Parses the ONNX spelling.
    pub fn parse(s: &str) -> Option<RnnDirection> {
        Some(match s {
            "forward" => RnnDirection::Forward,
            "reverse" => RnnDirection::Reverse,
            "bidirectional" => RnnDirection::Bidirectional,
            _ => return None,
        })
    }

    /// The ONNX spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RnnDirection::Forward => "forward",
            RnnDirection::Reverse => "reverse",
            RnnDirection::Bidirectional => "bidirectional",
        }
    }

    /// Number of directions.
    pub fn count(self) -> u64 {
        if self == RnnDirection::Bidirectional { 2 } else { 1 }
    }
}

/// An LSTM or GRU layer over a whole sequence. Outputs: Y, Y_h, and for
/// LSTM Y_c. `layout = 1` puts batch first in X, Y, and the states.
#[derive(Clone, Debug, PartialEq)]
pub struct Rnn {
    pub kind: RnnKind,
    pub hidden_size: i64,
    pub direction: RnnDirection,
    /// Activation names per direction (f, g[, h]); `None` for the defaults.
    pub activations: Option<Vec<String>>,
    pub activation_alpha: Option<Vec<f32>>,
    pub activation_beta: Option<Vec<f32>>,
    pub clip: Option<f32>,
    /// LSTM: couple the input and forget gates.
    pub input_forget: bool,
    /// GRU: apply the recurrence weights before the reset gate.
    pub linear_before_reset: bool,
    pub layout: i64,
}

impl OpDef for Rnn {
    fn op_name(&self) -> &'static str {
        match self.kind {
            RnnKind::Lstm => "LSTM",
            RnnKind::Gru => "GRU",
        }
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        req(inputs, 1)?;
        req(inputs, 2)?;
        let dirs = Dim::Known(self.direction.count());
        let hidden = Dim::Known(u64::try_from(self.hidden_size).map_err(|_| "negative hidden_size")?);
        let (seq, batch) = match shape_of(inputs, 0) {
            Some(s) if s.len() != 3 => return Err(format!("X must have rank 3, has {}", s.len())),
            Some(s) if self.layout == 0 => (s[0].clone(), s[1].clone()),
            Some(s) => (s[1].clone(), s[0].clone()),
            None => (Dim::Unknown, Dim::Unknown),
        };
        let gates = if self.kind == RnnKind::Lstm { 4 } else { 3 };
        if let Some(w) = shape_of(inputs, 1) {
            let want = dim_mul(&hidden, &Dim::Known(gates));
            if w.len() != 3 || matches!((&w[1], &want), (Dim::Known(a), Dim::Known(b)) if a != b) {
                return Err(format!(
                    "W has shape {}, expected [dirs, {gates}·hidden, input]",
                    crate::fact::shape_string(w)
                ));
            }
        }
        let (y, state) = if self.layout == 0 {
            (vec![seq, dirs.clone(), batch.clone(), hidden.clone()], vec![dirs, batch, hidden])
        } else {
            (vec![batch.clone(), seq, dirs.clone(), hidden.clone()], vec![batch, dirs, hidden])
        };
        let dt = x.fact.dtype;
        Ok(pad_outputs(
            vec![
                Fact { dtype: dt, shape: Some(y) },
                Fact { dtype: dt, shape: Some(state.clone()) },
                Fact { dtype: dt, shape: Some(state) },
            ],
            n,
        ))
    }
}

//! Elementwise functions of one input: math and activations.

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::dtype::DType;
use crate::fact::Fact;

/// The function applied elementwise; parameters follow ONNX attribute names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryKind {
    Identity,
    Relu,
    Sigmoid,
    Tanh,
    Sqrt,
    Exp,
    Log,
    Neg,
    Abs,
    Reciprocal,
    Floor,
    Ceil,
    Round,
    Erf,
    Sign,
    Sin,
    Cos,
    Softplus,
    Softsign,
    HardSwish,
    Mish,
    Not,
    IsNaN,
    LeakyRelu {
        alpha: f32,
    },
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    Elu {
        alpha: f32,
    },
    Selu {
        alpha: f32,
        gamma: f32,
    },
    Celu {
        alpha: f32,
    },
    ThresholdedRelu {
        alpha: f32,
    },
    /// `approximate = "tanh"` when true.
    Gelu {
        tanh: bool,
    },
}

/// `Y = f(X)`, same shape as X.
#[derive(Clone, Debug, PartialEq)]
pub struct Unary {
    pub kind: UnaryKind,
}

impl UnaryKind {
    /// The ONNX op type.
    pub fn name(self) -> &'static str {
        use UnaryKind::*;
        match self {
            Identity => "Identity",
            Relu => "Relu",
            Sigmoid => "Sigmoid",
            Tanh => "Tanh",
            Sqrt => "Sqrt",
            Exp => "Exp",
            Log => "Log",
            Neg => "Neg",
            Abs => "Abs",
            Reciprocal => "Reciprocal",
            Floor => "Floor",
            Ceil => "Ceil",
            Round => "Round",
            Erf => "Erf",
            Sign => "Sign",
            Sin => "Sin",
            Cos => "Cos",
            Softplus => "Softplus",
            Softsign => "Softsign",
            HardSwish => "HardSwish",
            Mish => "Mish",
            Not => "Not",
            IsNaN => "IsNaN",
            LeakyRelu { .. } => "LeakyRelu",
            HardSigmoid { .. } => "HardSigmoid",
            Elu { .. } => "Elu",
            Selu { .. } => "Selu",
            Celu { .. } => "Celu",
            ThresholdedRelu { .. } => "ThresholdedRelu",
            Gelu { .. } => "Gelu",
        }
    }
}

impl OpDef for Unary {
    fn op_name(&self) -> &'static str {
        self.kind.name()
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let mut f = req(inputs, 0)?.fact.clone();
        if self.kind == UnaryKind::IsNaN {
            f.dtype = Some(DType::Bool);
        }
        Ok(pad_outputs(vec![f], n))
    }
}

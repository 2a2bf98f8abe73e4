//! Elementwise functions of two broadcast inputs.

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::dtype::DType;
use crate::fact::{Fact, broadcast};

/// The function applied elementwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    /// `fmod = 1` when true.
    Mod {
        fmod: bool,
    },
    Equal,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    And,
    Or,
    Xor,
    /// `max(0, x) + slope * min(0, x)`; the slope broadcasts to X.
    PRelu,
}

/// `C = f(A, B)` with numpy broadcasting.
#[derive(Clone, Debug, PartialEq)]
pub struct Binary {
    pub kind: BinaryKind,
}

impl BinaryKind {
    /// The ONNX op type.
    pub fn name(self) -> &'static str {
        use BinaryKind::*;
        match self {
            Add => "Add",
            Sub => "Sub",
            Mul => "Mul",
            Div => "Div",
            Pow => "Pow",
            Mod { .. } => "Mod",
            Equal => "Equal",
            Greater => "Greater",
            GreaterOrEqual => "GreaterOrEqual",
            Less => "Less",
            LessOrEqual => "LessOrEqual",
            And => "And",
            Or => "Or",
            Xor => "Xor",
            PRelu => "PRelu",
        }
    }

    /// True for comparisons and logic, whose output is bool.
    pub fn is_predicate(self) -> bool {
        use BinaryKind::*;
        matches!(self, Equal | Greater | GreaterOrEqual | Less | LessOrEqual | And | Or | Xor)
    }
}

impl OpDef for Binary {
    fn op_name(&self) -> &'static str {
        self.kind.name()
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let a = req(inputs, 0)?;
        let b = req(inputs, 1)?;
        let typed_alike = !matches!(self.kind, BinaryKind::Pow);
        if let (true, Some(x), Some(y)) = (typed_alike, a.fact.dtype, b.fact.dtype)
            && x != y
        {
            return Err(format!("operand dtypes differ: {x} and {y}"));
        }
        let shape = match (&a.fact.shape, &b.fact.shape) {
            (Some(x), Some(y)) => Some(broadcast(x, y)?),
            _ => None,
        };
        let dtype = if self.kind.is_predicate() { Some(DType::Bool) } else { a.fact.dtype };
        Ok(pad_outputs(vec![Fact { dtype, shape }], n))
    }
}

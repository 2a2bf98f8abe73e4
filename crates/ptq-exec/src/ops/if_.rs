//! If: runs the branch the condition selects.

use super::Out;
use super::control::{owned, run_body, shared, truth};
use crate::inputs::Inputs;
use crate::plan::Plan;

/// An `If` node with a plan per branch.
#[derive(Debug)]
pub struct IfKernel {
    pub then_plan: Plan,
    pub else_plan: Plan,
    /// How many of the captures (after the node's own inputs) are the then branch's.
    pub then_captures: usize,
    /// The node's own inputs (the condition).
    pub own: usize,
}

impl super::Kernel for IfKernel {
    fn run(&self, ins: &mut Inputs, n_outputs: usize) -> Out {
        let cond = truth(ins.get(0)?, "the condition")?;
        let split = self.own + self.then_captures;
        let (body, plan, captures) =
            if cond { (0, &self.then_plan, self.own..split) } else { (1, &self.else_plan, split..ins.len()) };
        let outs = run_body(ins.bodies.as_ref(), body, plan, shared(ins, captures)?)?;
        if outs.len() < n_outputs {
            return Err(format!("the branch gives {} outputs, the node has {n_outputs}", outs.len()));
        }
        Ok(outs.into_iter().take(n_outputs).map(|t| Some(owned(t))).collect())
    }
}

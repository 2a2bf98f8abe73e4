//! Loop: runs the body while the trip count and the condition allow.
//!
//! [`ExecOptions::max_loop_iterations`](crate::ExecOptions::max_loop_iterations)
//! bounds the iterations, and the scan outputs, which grow by one body
//! output per iteration, count against
//! [`ExecOptions::max_elements`](crate::ExecOptions::max_elements); past
//! either, the run fails with an error naming the node.

use std::sync::Arc;

use ptq_ir::Tensor;
use ptq_ir::ops::loop_::Loop;

use super::Out;
use super::control::{empty_stack, owned, run_body, shared, stack, truth};
use crate::inputs::Inputs;
use crate::plan::Plan;

/// A `Loop` node with its body's plan.
#[derive(Debug)]
pub struct LoopKernel {
    op: Loop,
    plan: Plan,
    /// The node's own inputs: `M`, `cond` and the initial carried values.
    own: usize,
}

impl LoopKernel {
    pub fn new(op: &Loop, plan: Plan, own: usize) -> LoopKernel {
        LoopKernel { op: op.clone(), plan, own }
    }
}

impl super::Kernel for LoopKernel {
    fn run(&self, ins: &mut Inputs, n_outputs: usize) -> Out {
        let carried_n = self.own.checked_sub(2).ok_or("Loop needs M and cond inputs")?;
        let max_trips = match ins.opt(0) {
            None => None,
            Some(t) if t.len() == 1 => t.to_i64_vec().and_then(|v| v.first().copied()),
            Some(t) => return Err(format!("M must have one element, has shape {:?}", t.shape())),
        };
        let mut cond = match ins.opt(1) {
            None => true,
            Some(t) => truth(t, "cond")?,
        };
        let mut carried = shared(ins, 2..self.own)?;
        let captures = shared(ins, self.own..ins.len())?;
        let scans_n = n_outputs.checked_sub(carried_n).ok_or("fewer outputs than loop-carried values")?;
        let mut scans: Vec<Vec<Arc<Tensor>>> = vec![vec![]; scans_n];
        let mut iteration = 0i64;
        // Scan outputs grow by one body output per iteration: bounded by the
        // plan's element limit like any output.
        let mut scanned = 0usize;
        while cond && max_trips.is_none_or(|m| iteration < m) {
            if let Some(cap) = self.plan.max_loop_iterations()
                && iteration as u64 >= cap
            {
                return Err(format!("more than {cap} iterations (the plan's limit)"));
            }
            let mut feed = Vec::with_capacity(2 + carried.len() + captures.len());
            feed.push(Arc::new(Tensor::I64(ndarray::arr0(iteration).into_dyn())));
            feed.push(Arc::new(Tensor::Bool(ndarray::arr0(cond).into_dyn())));
            feed.append(&mut carried);
            feed.extend(captures.iter().cloned());
            let mut outs = run_body(ins.bodies.as_ref(), 0, &self.plan, feed)?.into_iter();
            let next = outs.next().ok_or("the body has no outputs")?;
            cond = truth(&next, "the body's condition output")?;
            carried = outs.by_ref().take(carried_n).collect();
            for s in &mut scans {
                let part = outs.next().ok_or("the body has fewer outputs than the node")?;
                scanned = scanned.saturating_add(part.len());
                if scanned > self.plan.max_elements() {
                    return Err(format!(
                        "the scan outputs would pass {} elements, the plan's limit",
                        self.plan.max_elements()
                    ));
                }
                s.push(part);
            }
            iteration += 1;
        }
        let mut result: Vec<Option<Tensor>> = carried.into_iter().map(|t| Some(owned(t))).collect();
        for (k, parts) in scans.iter().enumerate() {
            result.push(Some(if parts.is_empty() {
                empty_stack(&self.op.body.output_fact(1 + carried_n + k), 0)
                    .ok_or("zero iterations, and the body's scan output has no static shape")?
            } else {
                stack(parts, 0)?
            }));
        }
        Ok(result)
    }
}

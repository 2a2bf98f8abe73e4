//! Scan: runs the body once per slice of the scan inputs.

use std::sync::Arc;

use ptq_ir::Tensor;
use ptq_ir::ops::scan::Scan;

use super::Out;
use super::control::{empty_stack, index_axis, owned, run_body, shared, stack};
use crate::inputs::{BodySink, Inputs};
use crate::plan::Plan;

/// A `Scan` node with its body's plan.
#[derive(Debug)]
pub struct ScanKernel {
    op: Scan,
    plan: Plan,
    /// The node's own inputs: (`sequence_lens`,) states and scan inputs.
    own: usize,
}

impl ScanKernel {
    pub fn new(op: &Scan, plan: Plan, own: usize) -> ScanKernel {
        ScanKernel { op: op.clone(), plan, own }
    }

    /// One scan over unbatched tensors: `(axis, reversed)` per scan input
    /// and per scan output. Returns the final states, then the scan outputs.
    fn scan(
        &self,
        mut states: Vec<Arc<Tensor>>,
        xs: &[(Arc<Tensor>, usize, bool)],
        outs: &[(i64, bool)],
        captures: &[Arc<Tensor>],
        sink: Option<&BodySink>,
    ) -> Result<Vec<Tensor>, String> {
        let len = match xs.first() {
            Some((x, ax, _)) => x.shape()[*ax],
            None => 0,
        };
        if let Some((x, ax, _)) = xs.iter().find(|(x, ax, _)| x.shape()[*ax] != len) {
            return Err(format!("scan inputs differ in length: {len} and {} (shape {:?})", x.shape()[*ax], x.shape()));
        }
        let n = states.len();
        let mut parts: Vec<Vec<Arc<Tensor>>> = vec![vec![]; outs.len()];
        for t in 0..len {
            let mut feed = Vec::with_capacity(n + xs.len() + captures.len());
            feed.append(&mut states);
            for (x, ax, rev) in xs {
                feed.push(Arc::new(index_axis(x, *ax, if *rev { len - 1 - t } else { t })));
            }
            feed.extend(captures.iter().cloned());
            let mut result = run_body(sink, 0, &self.plan, feed)?.into_iter();
            states = result.by_ref().take(n).collect();
            for p in &mut parts {
                p.push(result.next().ok_or("the body has fewer outputs than the node")?);
            }
        }
        if states.len() != n {
            return Err("the body has fewer outputs than states".into());
        }
        let mut out: Vec<Tensor> = states.into_iter().map(owned).collect();
        for (k, (mut p, &(axis, rev))) in parts.into_iter().zip(outs).enumerate() {
            if rev {
                p.reverse();
            }
            let fact = self.op.body.output_fact(n + k);
            let rank = p.first().map(|t| t.shape().len()).or(fact.rank()).ok_or("scan output of unknown rank")?;
            let ax = crate::util::axis(axis, rank + 1)?;
            out.push(if p.is_empty() {
                empty_stack(&fact, ax).ok_or("zero iterations, and the body's scan output has no static shape")?
            } else {
                stack(&p, ax)?
            });
        }
        Ok(out)
    }
}

impl super::Kernel for ScanKernel {
    fn run(&self, ins: &mut Inputs, n_outputs: usize) -> Out {
        let m = self.op.num_scan_inputs;
        let first = usize::from(self.op.batched);
        let n = self.own.checked_sub(first + m).ok_or("fewer inputs than scan inputs")?;
        let k = n_outputs.checked_sub(n).ok_or("fewer outputs than states")?;
        let captures = shared(ins, self.own..ins.len())?;
        let states = shared(ins, first..first + n)?;
        let xs = shared(ins, first + n..self.own)?;
        if !self.op.batched {
            let xs = xs
                .into_iter()
                .enumerate()
                .map(|(j, x)| {
                    let (axis, dir) = self.op.input_axis(j);
                    Ok((x.clone(), crate::util::axis(axis, x.shape().len())?, dir == 1))
                })
                .collect::<Result<Vec<_>, String>>()?;
            let outs: Vec<(i64, bool)> = (0..k).map(|i| self.op.output_axis(i)).map(|(a, d)| (a, d == 1)).collect();
            return Ok(self.scan(states, &xs, &outs, &captures, ins.bodies.as_ref())?.into_iter().map(Some).collect());
        }
        // Opset 8: a leading batch axis on every state and scan input.
        let batch = states.iter().chain(&xs).map(|t| t.shape().first().copied()).next().flatten().unwrap_or(0);
        if let Some(t) = states.iter().chain(&xs).find(|t| t.shape().first() != Some(&batch)) {
            return Err(format!("inputs disagree on the batch size: {batch} and shape {:?}", t.shape()));
        }
        if let Some(lens) = ins.opt_ints(0)? {
            let full = xs.first().and_then(|x| x.shape().get(1).copied()).unwrap_or(0);
            if lens.iter().any(|&l| l != full as i64) {
                return Err("sequence_lens shorter than the scan inputs are not supported".into());
            }
        }
        let outs = vec![(0, false); k];
        let mut per_batch: Vec<Vec<Arc<Tensor>>> = vec![vec![]; n + k];
        for b in 0..batch {
            let st = states.iter().map(|t| Arc::new(index_axis(t, 0, b))).collect();
            let x: Vec<_> = xs
                .iter()
                .enumerate()
                .map(|(j, t)| (Arc::new(index_axis(t, 0, b)), 0, self.op.input_axis(j).1 == 1))
                .collect();
            for (i, t) in self.scan(st, &x, &outs, &captures, ins.bodies.as_ref())?.into_iter().enumerate() {
                per_batch[i].push(Arc::new(t));
            }
        }
        per_batch.iter().map(|p| stack(p, 0).map(Some)).collect()
    }
}

//! The inputs handed to one op: shared tensors, some of which the op may take over.

use std::sync::Arc;

use ptq_ir::Tensor;
use ptq_kernels::Threads;

/// One present input of a node.
#[derive(Debug)]
pub struct Slot {
    pub tensor: Arc<Tensor>,
    /// This node is the value's last reader and nobody else holds it, so an op
    /// may reuse its buffer.
    pub reusable: bool,
}

/// Sees the bodies a control-flow op runs: called with the body's index
/// (in the op's body order) and the inputs it is about to run on (formal
/// parameters, then captures), once per run of a body.
#[derive(Clone)]
pub struct BodySink(pub Arc<BodyFn>);

/// What a [`BodySink`] calls: `(body index, body inputs)`.
pub type BodyFn = dyn Fn(usize, &[Arc<Tensor>]) + Send + Sync;

impl std::fmt::Debug for BodySink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodySink")
    }
}

/// The inputs of one node, in operator order.
#[derive(Debug)]
pub struct Inputs {
    pub slots: Vec<Option<Slot>>,
    /// Whether the op may split its work across the current pool (see [`Threads`]).
    pub threads: Threads,
    /// Where a control-flow op reports the bodies it runs (see
    /// [`crate::Plan::run_with_body_probe`]); `None` for other ops and plain runs.
    pub bodies: Option<BodySink>,
}

impl Inputs {
    /// Inputs that may use the current pool.
    #[cfg(test)]
    pub fn new(slots: Vec<Option<Slot>>) -> Inputs {
        Inputs { slots, threads: Threads::Pool, bodies: None }
    }

    /// Input `i`, required.
    pub fn get(&self, i: usize) -> Result<&Tensor, String> {
        self.opt(i).ok_or_else(|| format!("missing required input {i}"))
    }

    /// Input `i` if present.
    pub fn opt(&self, i: usize) -> Option<&Tensor> {
        self.slots.get(i).and_then(Option::as_ref).map(|s| s.tensor.as_ref())
    }

    /// A shared handle to input `i`, required.
    pub fn shared(&self, i: usize) -> Result<Arc<Tensor>, String> {
        self.slots
            .get(i)
            .and_then(Option::as_ref)
            .map(|s| s.tensor.clone())
            .ok_or_else(|| format!("missing required input {i}"))
    }

    /// Number of input slots (present or not).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Takes input `i` by value when its buffer may be reused, otherwise clones it.
    pub fn take(&mut self, i: usize) -> Result<Tensor, String> {
        let slot = self.slots.get_mut(i).and_then(Option::take).ok_or_else(|| format!("missing required input {i}"))?;
        if slot.reusable {
            return Ok(Arc::try_unwrap(slot.tensor).unwrap_or_else(|a| (*a).clone()));
        }
        Ok((*slot.tensor).clone())
    }

    /// Input `i` as a list of i64 (shape-like inputs), required.
    pub fn ints(&self, i: usize) -> Result<Vec<i64>, String> {
        self.get(i)?.to_i64_vec().ok_or_else(|| format!("input {i} must be an integer tensor"))
    }

    /// Input `i` as a list of i64 if present.
    pub fn opt_ints(&self, i: usize) -> Result<Option<Vec<i64>>, String> {
        self.opt(i).map(|t| t.to_i64_vec().ok_or_else(|| format!("input {i} must be an integer tensor"))).transpose()
    }

    /// Input `i` as one f64 scalar if present.
    pub fn opt_scalar(&self, i: usize) -> Result<Option<f64>, String> {
        match self.opt(i) {
            None => Ok(None),
            Some(t) if t.len() == 1 => Ok(t.to_f64_vec().first().copied()),
            Some(t) => Err(format!("input {i} must be a scalar, has shape {:?}", t.shape())),
        }
    }
}

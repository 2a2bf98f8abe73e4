//! The lowered program: what a [`crate::Plan`] runs, step by step.
//!
//! [`lower`] takes a valid IR graph and returns its steps in schedule
//! order. A step is an IR node run by its op's kernel, possibly with a
//! Relu epilogue, or an integer kernel that stands for several IR nodes
//! (dequantizers, the MatMul or Conv, its bias Add, activation, residual
//! Add and output quantizer) and reads and writes values of the graph
//! directly: its inputs and outputs are the u8 and f32 values at the edges
//! of the nodes it replaces. The graph itself is never changed; the fusions
//! are worked out on a scratch copy, whose rewired nodes are read back as
//! steps and then dropped.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ptq_ir::{Graph, Node, NodeId, Tensor};

use crate::ExecOptions;
use crate::error::ExecError;
use crate::ops::Kernel;

/// How a step runs.
#[derive(Debug)]
pub(crate) enum Exec {
    /// The IR node's own op, then a Relu when `relu` (the Relu node it
    /// absorbed is not a step).
    Ir { relu: bool },
    /// An integer kernel in place of the nodes it absorbed.
    Integer(Box<dyn Kernel>),
}

/// One step of a [`Program`].
#[derive(Debug)]
pub(crate) struct LoweredStep {
    /// The IR node the step is named after: the node itself, or for an
    /// integer step the MatMul, Conv, Add or activation it is built around.
    pub id: NodeId,
    /// That node as the step sees it: its name and op (an integer step
    /// reports its cost itself), and the values the step reads and writes.
    pub node: Node,
    pub exec: Exec,
}

/// A graph lowered for execution.
#[derive(Debug)]
pub(crate) struct Program {
    /// Per value of the graph, its constant: the graph's own, and those the
    /// lowering folded (outputs of nodes whose inputs are all constants).
    pub constants: Vec<Option<Arc<Tensor>>>,
    /// The steps, in an order where each runs after its inputs' producers.
    pub steps: Vec<LoweredStep>,
}

/// Lowers `g`, a valid IR graph, for `options`: with `optimize`, a Relu is
/// fused into the Conv, Gemm or MatMul before it and nodes with constant
/// inputs are folded; with `integer`, quantized patterns become integer
/// steps ([`super::rewrite`]). Without either, every node is one step.
pub(crate) fn lower(g: &Graph, options: &ExecOptions) -> Result<Program, ExecError> {
    if !options.optimize && !options.integer {
        return one_step_per_node(g, HashMap::new(), &HashSet::new());
    }
    let mut scratch = g.clone();
    let mut relu_after = HashSet::new();
    if options.optimize {
        relu_after = crate::passes::fuse::fuse_relus(&mut scratch)?;
    }
    let mut integer: HashMap<NodeId, Box<dyn Kernel>> = HashMap::new();
    if options.integer {
        integer = super::rewrite(&mut scratch, &relu_after)?;
    }
    if options.optimize {
        // After the integer rewrite, which reads the i8 weights before
        // their dequantization folds away.
        crate::passes::fold::fold_constants(&mut scratch)?;
    }
    debug_assert_eq!(scratch.values().len(), g.values().len(), "the lowering adds no values");
    one_step_per_node(&scratch, integer, &relu_after)
}

/// A step per live node of `scratch`, in topological order.
fn one_step_per_node(
    scratch: &Graph,
    mut integer: HashMap<NodeId, Box<dyn Kernel>>,
    relu_after: &HashSet<NodeId>,
) -> Result<Program, ExecError> {
    let order = ptq_ir::topo::topo_order(scratch)?;
    let mut steps = Vec::with_capacity(order.len());
    for id in order {
        let Some(node) = scratch.node(id) else { continue };
        let exec = match integer.remove(&id) {
            Some(k) => Exec::Integer(k),
            None => Exec::Ir { relu: relu_after.contains(&id) },
        };
        steps.push(LoweredStep { id, node: node.clone(), exec });
    }
    let constants = scratch.values().iter().map(|v| v.constant.clone()).collect();
    Ok(Program { constants, steps })
}

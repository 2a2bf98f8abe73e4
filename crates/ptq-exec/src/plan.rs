//! Planning (schedule, liveness, kernel preparation) and running.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ptq_ir::{Dim, Graph, Node, NodeId, Tensor, ValueId};

use crate::error::ExecError;
use crate::inputs::{BodySink, Inputs, Slot};
use crate::lower::{Exec, LoweredStep};
use crate::ops::{Kernel, prepare};
use crate::work;
use ptq_kernels::Threads;

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    /// Threads per run. With 2 or more the plan starts a [`ptq_kernels::Pool`]
    /// of that many participants (the calling thread and `threads - 1`
    /// workers, which spin briefly between parallel steps); 0 uses rayon's
    /// current pool instead, for callers that run many plans at once. With 1
    /// the plan runs on the calling thread and never touches a pool.
    pub threads: usize,
    /// Rewrite the graph for speed first: batch norms folded into the
    /// convolutions before them, a Relu applied in place by the Conv, Gemm
    /// or MatMul feeding it, the five nodes of an exported exact GELU run as
    /// one (a last-bit difference in the Erf's argument, see
    /// `passes/fuse_gelu.rs`), and every node whose inputs are all constants
    /// (weight dequantization, say) evaluated once into a constant. Values
    /// that disappear (a convolution's output before its batch norm or Relu,
    /// a dequantized weight) are then not seen by probes.
    pub optimize: bool,
    /// Run quantized MatMul and Gemm on the int8 kernels: where the
    /// activation is a u8 per-tensor DequantizeLinear and the weight a
    /// DequantizeLinear of a constant i8 matrix (zero point 0, one scale or
    /// one per output column), the op reads the u8 tensor, multiplies it by
    /// weights packed once at plan time and dequantizes the i32 result (scale,
    /// bias, fused Relu) to f32. The float values that disappear (the
    /// dequantized activation and weight) are then not seen by probes.
    /// A Conv (group 1 with at least 16 multiply-adds per output, or
    /// depthwise) with the same
    /// kind of input and weight runs as channels-last u8 patches times the
    /// packed weights; when a per-tensor u8 QuantizeLinear is the only
    /// reader of its output, the convolution quantizes in its epilogue and
    /// writes that node's u8 output itself (the f32 output is then not seen
    /// by probes either). An Add of two such u8 DequantizeLinear outputs
    /// (→ Relu) read only by a per-tensor u8 QuantizeLinear runs as one u8
    /// pass that writes the QuantizeLinear's output. Everything else runs in f32;
    /// [`Plan::integer_nodes`] lists what matched.
    pub integer: bool,
    /// The most elements one step may produce in one output before it
    /// allocates, for the ops whose output can outgrow their inputs
    /// (matrix products, broadcasts, Expand; see `limits.rs`); a step past
    /// it fails with an error naming the node. None:
    /// [`DEFAULT_MAX_ELEMENTS`](crate::DEFAULT_MAX_ELEMENTS) (2^31).
    pub max_elements: Option<usize>,
    /// The most iterations one Loop node may run before the run fails with
    /// an error naming it. None: as many as its trip count and condition
    /// ask (ONNX's semantics; a file can ask for 2^63).
    pub max_loop_iterations: Option<u64>,
}

/// Sees each body run of a plan's control-flow nodes: `(node, body index,
/// the body's inputs)` (see [`Plan::run_with_body_probe`]).
pub type BodyProbe = dyn Fn(NodeId, usize, &[Arc<Tensor>]) + Send + Sync;

/// Which values a probe sees.
#[derive(Clone, Debug, Default)]
pub enum Probe {
    /// None: plain inference.
    #[default]
    Nothing,
    /// Every graph input and node output.
    All,
    /// Only these values.
    Values(HashSet<ValueId>),
}

impl Probe {
    fn wants(&self, v: ValueId) -> bool {
        match self {
            Probe::Nothing => false,
            Probe::All => true,
            Probe::Values(s) => s.contains(&v),
        }
    }
}

#[derive(Debug)]
struct Step {
    node: NodeId,
    label: String,
    kernel: Box<dyn Kernel>,
    /// The node's op: its name in errors and profiles, and what
    /// [`work::estimate`] and `limits.rs` read for a step without a cost.
    node_op: ptq_ir::Op,
    inputs: Vec<Option<ValueId>>,
    /// Per input slot: this step is the value's last use and it is an intermediate.
    reusable: Vec<bool>,
    outputs: Vec<Option<ValueId>>,
    /// Values whose last reader is this step.
    frees: Vec<ValueId>,
}

/// A graph prepared for repeated execution.
#[derive(Debug)]
pub struct Plan {
    /// The graph after the IR passes (valid IR), for names, facts and I/O.
    graph: Graph,
    /// Per value, its constant (the graph's, and those the lowering folded).
    constants: Vec<Option<Arc<Tensor>>>,
    steps: Vec<Step>,
    pool: Option<Arc<ptq_kernels::Pool>>,
    /// What the ops may use: `Single` for a one-thread plan.
    threads: Threads,
    /// Labels of the nodes that run on the int8 kernels.
    integer_nodes: Vec<String>,
    /// Shape arithmetic reused across runs with the same shapes.
    memo: crate::memo::ShapeMemo,
    /// [`ExecOptions::max_elements`], resolved.
    max_elements: usize,
    /// [`ExecOptions::max_loop_iterations`].
    max_loop_iterations: Option<u64>,
}

impl Plan {
    /// Prepares `graph`: validates it, orders the nodes, prepares every op's
    /// kernel (failing with every unsupported op type and one node of each),
    /// and computes each value's last use.
    pub fn new(graph: &Graph, options: &ExecOptions) -> Result<Plan, ExecError> {
        ptq_ir::validate::validate(graph)?;
        let mut graph = graph.clone();
        // IR to IR: what the plan holds stays valid IR.
        if options.optimize {
            ptq_ir::passes::fold_batch_norms(&mut graph)?;
            crate::passes::fuse_gelu::fuse_gelus(&mut graph)?;
        }
        if options.integer {
            crate::passes::canon::canonicalize(&mut graph)?;
        }
        debug_assert!(ptq_ir::validate::validate(&graph).is_ok(), "IR passes keep the graph valid");
        let program = crate::lower::lower(&graph, options)?;
        let mut integer_nodes = vec![];
        let mut unsupported: Vec<(String, String)> = vec![];
        let mut kernels: Vec<Box<dyn Kernel>> = Vec::with_capacity(program.steps.len());
        let mut lowered = Vec::with_capacity(program.steps.len());
        for LoweredStep { id, node, exec } in program.steps {
            let relu = match exec {
                Exec::Integer(k) => {
                    // Applies a fused Relu itself.
                    integer_nodes.push(graph.node_label(id));
                    kernels.push(k);
                    lowered.push((id, node));
                    continue;
                }
                Exec::Ir { relu } => relu,
            };
            let prepared = if node.op.bodies().is_empty() {
                prepare(&node, &graph)
            } else {
                match crate::ops::prepare_control(&node, options) {
                    Ok(k) => Ok(k),
                    // A body's unsupported ops are listed with the others.
                    Err(ExecError::Unsupported(list)) => {
                        for (op, at) in list {
                            if !unsupported.iter().any(|(o, _)| *o == op) {
                                unsupported.push((op, at));
                            }
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            };
            match prepared {
                Ok(k) if relu => kernels.push(Box::new(crate::passes::fuse::WithRelu(k))),
                Ok(k) => kernels.push(k),
                Err(why) => {
                    let name = why.unwrap_or_else(|| node.op.name().to_string());
                    if !unsupported.iter().any(|(op, _)| *op == name) {
                        unsupported.push((name, graph.node_label(id)));
                    }
                    continue;
                }
            }
            lowered.push((id, node));
        }
        if !unsupported.is_empty() {
            return Err(ExecError::Unsupported(unsupported));
        }
        let constants = program.constants;
        let mut last_use: HashMap<ValueId, usize> = HashMap::new();
        for (i, (_, node)) in lowered.iter().enumerate() {
            for v in node.input_ids() {
                last_use.insert(v, i);
            }
        }
        let keep: HashSet<ValueId> = graph.outputs().iter().copied().collect();
        let is_intermediate =
            |v: ValueId| !keep.contains(&v) && constants[v.0].is_none() && !graph.inputs().contains(&v);
        let mut frees: Vec<Vec<ValueId>> = vec![vec![]; lowered.len()];
        for (&v, &i) in &last_use {
            if is_intermediate(v) {
                frees[i].push(v);
            }
        }
        let memo = crate::memo::ShapeMemo::new(
            &constants,
            graph.inputs(),
            lowered.iter().map(|(_, n)| (&n.op, &n.inputs, &n.outputs)),
        );
        let steps = lowered
            .into_iter()
            .zip(kernels)
            .zip(frees)
            .enumerate()
            .map(|(i, (((id, node), kernel), frees))| {
                let Node { op, inputs, outputs, .. } = node;
                let reusable = inputs
                    .iter()
                    .map(|v| {
                        v.is_some_and(|v| {
                            last_use.get(&v) == Some(&i)
                                && is_intermediate(v)
                                && inputs.iter().filter(|x| **x == Some(v)).count() == 1
                        })
                    })
                    .collect();
                Step { node: id, label: graph.node_label(id), kernel, node_op: op, inputs, reusable, outputs, frees }
            })
            .collect();
        let pool = match options.threads {
            0 | 1 => None,
            n => Some(Arc::new(ptq_kernels::Pool::new(n).map_err(|e| ExecError::Input {
                name: String::new(),
                msg: format!("cannot start {n} threads: {e}"),
            })?)),
        };
        let threads = if options.threads == 1 { Threads::Single } else { Threads::Pool };
        let max_elements = options.max_elements.unwrap_or(crate::limits::DEFAULT_MAX_ELEMENTS);
        let max_loop_iterations = options.max_loop_iterations;
        Ok(Plan { graph, constants, steps, pool, threads, integer_nodes, memo, max_elements, max_loop_iterations })
    }

    /// The graph this plan runs. With [`ExecOptions::integer`], a MatMul or
    /// Gemm listed by [`Plan::integer_nodes`] reads the quantized activation
    /// and the i8 weight constant instead of their dequantized values.
    pub(crate) fn max_elements(&self) -> usize {
        self.max_elements
    }

    pub(crate) fn max_loop_iterations(&self) -> Option<u64> {
        self.max_loop_iterations
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Labels of the MatMul, Gemm and Conv nodes that run on the int8 kernels, in
    /// schedule order (empty unless [`ExecOptions::integer`] is set).
    pub fn integer_nodes(&self) -> &[String] {
        &self.integer_nodes
    }

    /// The steps in schedule order, each as `(label, op)`: an IR node and
    /// its op, or an integer step, labelled and typed after the node it is
    /// built around (its MatMul, Conv, Add or activation). The nodes a step
    /// absorbed (dequantizers, a fused Relu, bias Add or quantizer) and
    /// nodes folded into constants are not steps.
    pub fn schedule(&self) -> impl Iterator<Item = (&str, &ptq_ir::Op)> {
        self.steps.iter().map(|s| (s.label.as_str(), &s.node_op))
    }

    /// Runs the graph on named inputs and returns the graph outputs in order.
    pub fn run(&self, inputs: Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>, ExecError> {
        self.run_with_probe(inputs, &Probe::Nothing, &mut |_, _| {})
    }

    /// Runs the graph, calling `probe(value, tensor)` for every graph input and
    /// node output that `which` selects, as soon as it is computed.
    pub fn run_with_probe(
        &self,
        inputs: Vec<(String, Tensor)>,
        which: &Probe,
        probe: &mut (dyn FnMut(ValueId, &Tensor) + Send),
    ) -> Result<Vec<(String, Tensor)>, ExecError> {
        self.execute(inputs, which, probe, None, None)
    }

    /// [`Plan::run_with_probe`] that also calls `bodies(node, body, inputs)`
    /// each time a control-flow node of this graph (not of its bodies) runs
    /// one of its bodies: `body` indexes [`ptq_ir::Op::bodies`], `inputs` are
    /// the body graph's inputs in order (formal parameters, then captures).
    /// A `Loop` or `Scan` calls it once per iteration.
    pub fn run_with_body_probe(
        &self,
        inputs: Vec<(String, Tensor)>,
        which: &Probe,
        probe: &mut (dyn FnMut(ValueId, &Tensor) + Send),
        bodies: &Arc<BodyProbe>,
    ) -> Result<Vec<(String, Tensor)>, ExecError> {
        self.execute(inputs, which, probe, None, Some(bodies))
    }

    /// Runs the graph and returns, with the outputs, each node's wall time in
    /// schedule order as `(node name, op, seconds)`.
    #[allow(clippy::type_complexity)]
    pub fn run_profiled(
        &self,
        inputs: Vec<(String, Tensor)>,
    ) -> Result<(Vec<(String, Tensor)>, Vec<(String, String, f64)>), ExecError> {
        let mut times = vec![0.0; self.steps.len()];
        let out = self.execute(inputs, &Probe::Nothing, &mut |_, _| {}, Some(&mut times), None)?;
        let named =
            self.steps.iter().zip(times).map(|(s, t)| (s.label.clone(), s.node_op.name().to_string(), t)).collect();
        Ok((out, named))
    }

    fn bind_inputs(&self, inputs: Vec<(String, Tensor)>) -> Result<Vec<Option<Arc<Tensor>>>, ExecError> {
        let g = &self.graph;
        let mut values: Vec<Option<Arc<Tensor>>> = self.constants.clone();
        let mut given = HashSet::new();
        for (name, t) in inputs {
            let id =
                g.inputs().iter().copied().find(|&i| g.value(i).name == name).ok_or_else(|| ExecError::Input {
                    name: name.clone(),
                    msg: "the graph has no such input".into(),
                })?;
            check_input(&g.value(id).fact, &t).map_err(|msg| ExecError::Input { name: name.clone(), msg })?;
            values[id.0] = Some(Arc::new(t));
            given.insert(id);
        }
        for &i in g.inputs() {
            if !given.contains(&i) && g.value(i).constant.is_none() {
                return Err(ExecError::Input { name: g.value(i).name.clone(), msg: "not supplied".into() });
            }
        }
        Ok(values)
    }

    /// Runs the steps with the plan's pool (if any) current on this thread.
    fn execute(
        &self,
        inputs: Vec<(String, Tensor)>,
        which: &Probe,
        probe: &mut (dyn FnMut(ValueId, &Tensor) + Send),
        times: Option<&mut Vec<f64>>,
        bodies: Option<&Arc<BodyProbe>>,
    ) -> Result<Vec<(String, Tensor)>, ExecError> {
        match &self.pool {
            Some(pool) => pool.install(|| self.execute_here(inputs, which, probe, times, bodies)),
            None => self.execute_here(inputs, which, probe, times, bodies),
        }
    }

    fn execute_here(
        &self,
        inputs: Vec<(String, Tensor)>,
        which: &Probe,
        probe: &mut (dyn FnMut(ValueId, &Tensor) + Send),
        times: Option<&mut Vec<f64>>,
        bodies: Option<&Arc<BodyProbe>>,
    ) -> Result<Vec<(String, Tensor)>, ExecError> {
        let values = self.bind_inputs(inputs)?;
        let outs = self.run_values(values, which, probe, times, bodies)?;
        Ok(self
            .graph
            .outputs()
            .iter()
            .zip(outs)
            .map(|(&o, t)| (self.graph.value(o).name.clone(), Arc::try_unwrap(t).unwrap_or_else(|a| (*a).clone())))
            .collect())
    }

    /// Runs a body plan (see `ops/control.rs`) on its graph inputs in
    /// order (formal parameters, then captures), shared, and returns its
    /// outputs in order. Inputs are not checked against declared facts
    /// (bodies often declare loose ones); probes see nothing.
    pub(crate) fn run_shared(&self, inputs: Vec<Arc<Tensor>>) -> Result<Vec<Arc<Tensor>>, ExecError> {
        let g = &self.graph;
        if inputs.len() != g.inputs().len() {
            return Err(ExecError::Input {
                name: g.name().to_string(),
                msg: format!("the body takes {} inputs, got {}", g.inputs().len(), inputs.len()),
            });
        }
        let mut values: Vec<Option<Arc<Tensor>>> = self.constants.clone();
        for (&i, t) in g.inputs().iter().zip(inputs) {
            values[i.0] = Some(t);
        }
        self.run_values(values, &Probe::Nothing, &mut |_, _| {}, None, None)
    }

    /// Runs the steps on bound values and returns the graph outputs.
    fn run_values(
        &self,
        mut values: Vec<Option<Arc<Tensor>>>,
        which: &Probe,
        probe: &mut (dyn FnMut(ValueId, &Tensor) + Send),
        mut times: Option<&mut Vec<f64>>,
        bodies: Option<&Arc<BodyProbe>>,
    ) -> Result<Vec<Arc<Tensor>>, ExecError> {
        let g = &self.graph;
        for &i in g.inputs() {
            if let (true, Some(t)) = (which.wants(i), &values[i.0]) {
                probe(i, t);
            }
        }
        let mut readings = self.memo.readings();
        for (si, step) in self.steps.iter().enumerate() {
            let started = times.is_some().then(std::time::Instant::now);
            if let Some(r) = self.memo.record_slot(si)
                && let Some(Some(x)) = step.inputs.first().map(|v| v.and_then(|v| values[v.0].as_ref()))
            {
                readings[r] = Some(x.shape().to_vec());
            }
            let outs = match self.memo.lookup(si, &readings) {
                Some(outs) => outs,
                None => {
                    let outs = self.run_step(step, &mut values, bodies)?;
                    self.memo.store(si, &readings, &outs);
                    outs
                }
            };
            for (v, t) in step.outputs.iter().zip(outs) {
                let (Some(v), Some(t)) = (v, t) else { continue };
                if which.wants(*v) {
                    probe(*v, &t);
                }
                values[v.0] = Some(t);
            }
            for v in &step.frees {
                values[v.0] = None;
            }
            if let (Some(t), Some(s)) = (times.as_deref_mut(), started) {
                t[si] += s.elapsed().as_secs_f64();
            }
        }
        g.outputs()
            .iter()
            .map(|&o| {
                values[o.0].clone().ok_or_else(|| ExecError::Input {
                    name: g.value(o).name.clone(),
                    msg: "output was not computed".into(),
                })
            })
            .collect()
    }

    /// Runs one step's kernel on its inputs (taken out of `values` at
    /// their last use) and returns its outputs, one per output slot (None
    /// for an unwired slot).
    fn run_step(
        &self,
        step: &Step,
        values: &mut [Option<Arc<Tensor>>],
        bodies: Option<&Arc<BodyProbe>>,
    ) -> Result<Vec<Option<Arc<Tensor>>>, ExecError> {
        let mut slots = Vec::with_capacity(step.inputs.len());
        for (v, &reusable) in step.inputs.iter().zip(&step.reusable) {
            let Some(v) = v else {
                slots.push(None);
                continue;
            };
            let tensor = if reusable { values[v.0].take() } else { values[v.0].clone() };
            let tensor = tensor.ok_or_else(|| self.node_err(step, "an input was not computed".into()))?;
            slots.push(Some(Slot { tensor, reusable }));
        }
        let mut ins = Inputs { slots, threads: Threads::Single, bodies: None };
        if let Some(b) = bodies
            && !step.node_op.bodies().is_empty()
        {
            let (b, node) = (b.clone(), step.node);
            ins.bodies = Some(BodySink(Arc::new(move |i, ts| b(node, i, ts))));
        }
        let work = match step.kernel.cost(&ins) {
            Some(cost) => {
                if cost.output_elements > self.max_elements {
                    return Err(self.node_err(step, crate::limits::too_large(cost.output_elements, self.max_elements)));
                }
                cost.work
            }
            None => {
                crate::limits::check(&step.node_op, &ins, self.max_elements).map_err(|m| self.node_err(step, m))?;
                work::estimate(&step.node_op, &ins)
            }
        };
        let heavy = self.threads == Threads::Pool && work >= work::PARALLEL_WORK;
        if heavy {
            ins.threads = Threads::Pool;
        }
        let mut outs = step.kernel.run(&mut ins, step.outputs.len()).map_err(|m| self.node_err(step, m))?;
        drop(ins);
        step.outputs
            .iter()
            .enumerate()
            .map(|(slot, out)| match out {
                None => Ok(None),
                Some(_) => outs
                    .get_mut(slot)
                    .and_then(Option::take)
                    .map(|t| Some(Arc::new(t)))
                    .ok_or_else(|| self.node_err(step, format!("output {slot} was not produced"))),
            })
            .collect()
    }

    fn node_err(&self, step: &Step, msg: String) -> ExecError {
        ExecError::Node { node: step.label.clone(), op: step.node_op.name().to_string(), msg }
    }
}

/// Checks a supplied input against the declared dtype and static dims.
fn check_input(fact: &ptq_ir::Fact, t: &Tensor) -> Result<(), String> {
    if let Some(d) = fact.dtype
        && d != t.dtype()
    {
        return Err(format!("expected dtype {d}, got {}", t.dtype()));
    }
    if let Some(shape) = &fact.shape {
        let ok = shape.len() == t.shape().len()
            && shape.iter().zip(t.shape()).all(|(d, &n)| !matches!(d, Dim::Known(k) if *k != n as u64));
        if !ok {
            return Err(format!("expected shape {}, got {:?}", ptq_ir::fact::shape_string(shape), t.shape()));
        }
    }
    Ok(())
}

//! Quantizer placement: which tensors get an activation quantizer, which
//! weights get a per-channel one, and which nodes stay in float and why.
//!
//! A simplified form of NNCF's propagation solver (`quantizer_propagation/
//! solver.py`) with its default `MERGE_ALL_IN_ONE` rule:
//! 1. every quantizable input of every quantizable op (hardware table,
//!    [`crate::hw`]) requests a quantizer, except elementwise ops with a
//!    single activation input (bias adds, scalings), ignored nodes and the
//!    insides of decomposed activations/normalizations;
//! 2. requests move up, from the outputs toward the inputs, through
//!    agnostic ops (MaxPool, Reshape, Transpose...) when every reader of the
//!    tensor requests one, merging into a single quantizer there; through a
//!    Concat they are cloned onto each input and share one scale;
//! 3. where they stop, one quantizer covers the requesting readers;
//! 4. a quantizer read only by depthwise convolutions is per channel
//!    along axis 1 (NNCF's CPU table gives their inputs `q8_a_ch`, per
//!    channel first) when it is symmetric (asymmetric channels would each
//!    need a zero point, and the integer depthwise kernel takes one) and
//!    no quantizable op with quantized inputs writes it (onnxruntime fuses
//!    such an op with its Q/DQ into a QLinear op that refuses per-channel
//!    output scales);
//! 5. a quantizer whose readers are all weightless and carry its tensor to
//!    a graph output within four value-changing steps (a model head) is
//!    left out, and its readers are reported as float;
//! 6. constant weights get symmetric quantizers, per channel along
//!    [`Op::weight_axis`](ptq_ir::Op::weight_axis); the overflow fix ([`OverflowFix`]) keeps
//!    some to 7 bits (by default those of the first convolutions reached
//!    from each model input); the weights of squeeze-and-excitation
//!    gates, whose activations stay float, are stored in int8 all the same
//!    (weight only, [`QuantizeOptions::quantize_se_weights`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use ptq_ir::{Graph, NodeId, Op, ValueId};

use crate::error::AlgoError;
use crate::hw::{self, Role};
use crate::options::{ModelType, OverflowFix, Preset, QuantizeOptions};
use crate::structure::{self, Links};

/// Activation range scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Symmetric,
    Asymmetric,
}

/// One activation quantizer.
#[derive(Clone, Debug, PartialEq)]
pub struct ActQuantizer {
    /// The quantized tensor.
    pub value: ValueId,
    /// The readers that read the quantized tensor, as (node, input slot).
    /// When this lists every reader of `value` the quantizer sits on the
    /// tensor itself.
    pub readers: Vec<(NodeId, usize)>,
    pub scheme: Scheme,
    /// Quantizers with the same group share one scale (Concat inputs).
    pub unified: Option<usize>,
    /// Per-channel along this axis (NNCF's `q8_a_ch`: the input of a
    /// depthwise convolution that no other quantized op reads), else per
    /// tensor.
    pub axis: Option<usize>,
}

/// One weight quantizer (symmetric, signed, narrow range).
#[derive(Clone, Debug, PartialEq)]
pub struct WeightQuantizer {
    /// The constant weight.
    pub value: ValueId,
    /// The nodes reading it, as (node, slot).
    pub readers: Vec<(NodeId, usize)>,
    /// Per-channel axis, or per-tensor.
    pub axis: Option<usize>,
    /// Only 7 bits used (overflow fix).
    pub half_range: bool,
}

/// The outcome of placement.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    pub acts: Vec<ActQuantizer>,
    pub weights: Vec<WeightQuantizer>,
    /// Nodes kept in float, with the reason.
    pub ignored: BTreeMap<NodeId, String>,
    pub preset: Option<Preset>,
    pub model_type: Option<ModelType>,
    /// How the model type was decided.
    pub model_type_reason: String,
    /// The nodes the user's ignored scope matched.
    pub user_ignored: Vec<NodeId>,
}

/// A pending request for a quantizer on `value` by `reader`.
#[derive(Clone, Copy, Debug)]
struct Request {
    reader: (NodeId, usize),
    scheme: Scheme,
    group: Option<usize>,
}

/// Places quantizers on `g` (facts inferred, batch norms folded).
pub fn place(g: &Graph, opts: &QuantizeOptions) -> Result<Placement, AlgoError> {
    let l = Links::new(g);
    let mut out = Placement::default();
    let (model_type, reason) = match (opts.model_type, opts.detect_model_type) {
        (Some(t), _) => (Some(t), "set by the caller".to_string()),
        (None, true) => match structure::transformer_evidence(&l) {
            Some(why) => (Some(ModelType::Transformer), format!("detected: {why}")),
            None => (None, "no attention block or layer norm found".to_string()),
        },
        (None, false) => (None, "detection turned off".to_string()),
    };
    let transformer = model_type == Some(ModelType::Transformer);
    let preset = opts.preset.unwrap_or(if transformer { Preset::Mixed } else { Preset::Performance });
    out.model_type = model_type;
    out.model_type_reason = reason;
    out.preset = Some(preset);
    let act_scheme = match preset {
        Preset::Performance => Scheme::Symmetric,
        Preset::Mixed => Scheme::Asymmetric,
    };

    // Ignored nodes: user scope first (its reason wins), then model type.
    for (id, rule) in opts.ignored_scope.resolve(g)? {
        out.ignored.insert(id, format!("ignored scope: {rule}"));
        out.user_ignored.push(id);
    }
    if transformer {
        for (id, n) in g.iter_nodes() {
            if n.op.float_in_transformers() {
                out.ignored.entry(id).or_insert_with(|| "transformer model type: kept in float".into());
            }
        }
        for a in structure::attention_blocks(&l) {
            out.ignored
                .entry(a.output)
                .or_insert_with(|| "transformer: attention-output MatMul (Softmax -> MatMul)".into());
        }
    }
    let fused = structure::decompositions(&l);
    // SE gates whose weights are still stored in int8 (weight only).
    let mut se_weights = HashSet::new();
    for id in crate::se_block::se_blocks(&l) {
        if !out.ignored.contains_key(&id) && opts.quantize_se_weights {
            se_weights.insert(id);
        }
        out.ignored
            .entry(id)
            .or_insert_with(|| "squeeze-and-excitation gate (NNCF's SE_BLOCK pattern): kept in float".into());
    }

    // 1. Initial requests.
    let order = ptq_ir::topo::topo_order(g)?;
    let pos: HashMap<NodeId, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let mut pending: HashMap<ValueId, Vec<Request>> = HashMap::new();
    let mut quantized_convs: Vec<NodeId> = vec![];
    for &id in &order {
        let Some(n) = g.node(id) else { continue };
        let Role::Quantizable { inputs, weight } = n.op.quant_role() else { continue };
        if out.ignored.contains_key(&id) || fused.contains(&id) {
            continue;
        }
        let acts: Vec<(usize, ValueId)> = inputs
            .iter()
            .filter_map(|&s| n.inputs.get(s).copied().flatten().map(|v| (s, v)))
            .filter(|&(_, v)| l.is_activation(v))
            .collect();
        let elementwise = matches!(n.op, Op::Binary(_) | Op::Variadic(_));
        if elementwise && acts.iter().filter(|&&(_, v)| l.is_varying(v)).count() < 2 {
            continue; // bias add, constant scaling: fused into the producer
        }
        let act_x_act = matches!(n.op, Op::MatMul(_) | Op::Gemm(_)) && acts.len() == 2;
        let scheme = if transformer && act_x_act { Scheme::Symmetric } else { act_scheme };
        if matches!(n.op, Op::Conv(_)) && !acts.is_empty() {
            quantized_convs.push(id);
        }
        for (slot, v) in acts {
            if weight == Some(slot) && g.value(v).constant.is_some() {
                continue;
            }
            pending.entry(v).or_default().push(Request { reader: (id, slot), scheme, group: None });
        }
    }

    // 2. Move requests up, latest producers first.
    // Requests only ever move to values produced earlier, so a max-heap on
    // (producer position, value) visits every value after all its requests.
    let key = |v: ValueId| (l.producer(v).and_then(|p| pos.get(&p).copied()), v.0);
    let mut heap: std::collections::BinaryHeap<((Option<usize>, usize), ValueId)> =
        pending.keys().map(|&v| (key(v), v)).collect();
    let push = |pending: &mut HashMap<ValueId, Vec<Request>>,
                heap: &mut std::collections::BinaryHeap<_>,
                v: ValueId,
                r: Request| {
        let list = pending.entry(v).or_default();
        if list.is_empty() {
            heap.push((key(v), v));
        }
        list.push(r);
    };
    let mut groups = UnionFind::default();
    while let Some((_, v)) = heap.pop() {
        let Some(reqs) = pending.remove(&v) else { continue };
        let mut group = None;
        for r in &reqs {
            if let Some(gid) = r.group {
                group = Some(group.map_or(gid, |g0| groups.union(g0, gid)));
            }
        }
        let scheme =
            if reqs.iter().any(|r| r.scheme == Scheme::Symmetric) { Scheme::Symmetric } else { Scheme::Asymmetric };
        let requested: HashSet<(NodeId, usize)> = reqs.iter().map(|r| r.reader).collect();
        let all = !g.outputs().contains(&v) && l.readers(v).iter().all(|r| requested.contains(r));
        let producer = l.producer(v).filter(|p| !out.ignored.contains_key(p));
        let moved = match (all, producer.and_then(|p| g.node(p).map(|n| (p, n)))) {
            (true, Some((p, pn))) if pn.output_ids().count() == 1 => match pn.op.quant_role() {
                Role::Agnostic => match pn.inputs.first().copied().flatten() {
                    Some(u) if l.is_activation(u) => {
                        push(&mut pending, &mut heap, u, Request { reader: (p, 0), scheme, group });
                        true
                    }
                    _ => false,
                },
                Role::Concat if pn.input_ids().all(|u| l.is_activation(u)) => {
                    let gid = group.unwrap_or_else(|| groups.fresh());
                    for (slot, u) in pn.inputs.iter().enumerate() {
                        if let Some(u) = *u {
                            push(&mut pending, &mut heap, u, Request { reader: (p, slot), scheme, group: Some(gid) });
                        }
                    }
                    true
                }
                _ => false,
            },
            _ => false,
        };
        if !moved {
            let mut readers: Vec<(NodeId, usize)> = requested.into_iter().collect();
            readers.sort();
            out.acts.push(ActQuantizer { value: v, readers, scheme, unified: group, axis: None });
        }
    }
    for q in &mut out.acts {
        q.unified = q.unified.map(|gid| groups.find(gid));
    }
    if opts.quantize_conv_outputs.unwrap_or(opts.conv_outputs_by_default && !transformer) {
        conv_outputs(g, &l, &quantized_convs, act_scheme, &mut out.acts);
    }
    // A quantizer read only by weightless ops that carry its tensor to a
    // graph output within a few steps (a model head: ... → ReduceMean →
    // output) would round the answer itself, and no integer kernel with
    // weights gains from it.
    let weightless =
        |n: NodeId| g.node(n).is_some_and(|n| !matches!(n.op.quant_role(), Role::Quantizable { weight: Some(_), .. }));
    out.acts.retain(|q| {
        let head = q.readers.iter().all(|&(n, _)| weightless(n)) && head_output_within_reach(g, &l, q.value);
        if head {
            for &(n, _) in &q.readers {
                out.ignored.entry(n).or_insert_with(|| {
                    "model head: weightless ops carry its input to a graph output, kept in float".into()
                });
            }
        }
        !head
    });
    // onnxruntime fuses DequantizeLinear → op → QuantizeLinear into one
    // QLinear op (QLinearConv, QLinearAdd...) without checking that the
    // output scale is one number, then refuses the model at load or run
    // time: the output of a quantizable op with quantized inputs stays per
    // tensor (a bias Add after a convolution, as OpenVINO IR writes it, has
    // none; onnxruntime fuses no float op such as HardSwish this way).
    let quantized_readers: HashSet<NodeId> = out.acts.iter().flat_map(|q| q.readers.iter().map(|&(n, _)| n)).collect();
    for q in &mut out.acts {
        let depthwise_only = q.readers.iter().all(|&(n, slot)| slot == 0 && hw::depthwise_channels(g, n).is_some());
        let quantized_producer = l.producer(q.value).is_some_and(|p| {
            quantized_readers.contains(&p)
                && g.node(p).is_some_and(|n| matches!(n.op.quant_role(), Role::Quantizable { .. }))
        });
        // Asymmetric channels would each have their own zero point, which
        // the integer depthwise kernel does not take (it pads with one).
        let symmetric = q.scheme == Scheme::Symmetric;
        if opts.per_channel_depthwise_inputs
            && q.unified.is_none()
            && !q.readers.is_empty()
            && depthwise_only
            && !quantized_producer
            && symmetric
        {
            q.axis = Some(1);
        }
    }
    out.acts.sort_by_key(|q| (l.producer(q.value).and_then(|p| pos.get(&p).copied()), q.value.0));

    // 3. Weights.
    let mut by_value: BTreeMap<ValueId, Vec<(NodeId, usize)>> = BTreeMap::new();
    for &id in &order {
        let Some(n) = g.node(id) else { continue };
        let Role::Quantizable { weight: Some(slot), .. } = n.op.quant_role() else { continue };
        if out.ignored.contains_key(&id) && !se_weights.contains(&id) {
            continue;
        }
        let Some(w) = n.inputs.get(slot).copied().flatten() else { continue };
        if matches!(g.constant(w), Some(ptq_ir::Tensor::F32(_))) {
            by_value.entry(w).or_default().push((id, slot));
        }
    }
    let half = half_range_weights(g, &l, &by_value, opts.overflow_fix);
    for (w, readers) in by_value {
        let rank = g.constant(w).map_or(0, |t| t.shape().len());
        // A weight shared by ops that disagree on the channel axis is quantized per tensor.
        let axes: BTreeSet<Option<usize>> =
            readers.iter().filter_map(|&(n, _)| g.node(n).map(|n| n.op.weight_axis(rank))).collect();
        let axis = if axes.len() == 1 { axes.into_iter().next().flatten() } else { None };
        out.weights.push(WeightQuantizer { value: w, half_range: half.contains(&w), readers, axis });
    }
    // 4. Embedding tables.
    if opts.quantize_embeddings {
        let kept: HashSet<NodeId> = out.ignored.keys().chain(&out.user_ignored).copied().collect();
        let weights: HashSet<ValueId> = out.weights.iter().map(|w| w.value).collect();
        let user_kept: HashSet<NodeId> = out.user_ignored.iter().copied().collect();
        let tables = crate::embeddings::tables(g, &kept, &user_kept, &weights);
        // A tied head reads a table through a Transpose: the table's own
        // per-row grid is its weight quantizer, so the activation quantizer
        // on the Transpose's output would only requantize it per tensor.
        let transposed: HashSet<ValueId> = tables
            .iter()
            .flat_map(|t| t.readers.iter())
            .filter(|&&(r, _)| g.node(r).is_some_and(|n| matches!(n.op, Op::Transpose(_))))
            .filter_map(|&(r, _)| g.node(r).and_then(|n| n.outputs.first().copied().flatten()))
            .collect();
        out.acts.retain(|q| !transposed.contains(&q.value));
        out.weights.extend(tables);
    }
    Ok(out)
}

/// Quantizers on the outputs of `convs` (after a single Relu or Clip
/// reader, which a Q/DQ runtime fuses into the convolution) that a float op
/// reads: an existing quantizer on that tensor is widened to every reader,
/// else a new one is added. Graph outputs stay float: quantizing them costs
/// accuracy the caller sees directly.
fn conv_outputs(g: &Graph, l: &Links, convs: &[NodeId], scheme: Scheme, acts: &mut Vec<ActQuantizer>) {
    for &c in convs {
        let Some(mut v) = g.node(c).and_then(|n| n.outputs.first().copied().flatten()) else { continue };
        if let [(r, 0)] = l.readers(v)
            && let Some(rn) = g.node(*r)
            && hw::fused_activation(&rn.op)
            && let Some(o) = rn.outputs.first().copied().flatten()
        {
            v = o;
        }
        let readers: Vec<(NodeId, usize)> = l.readers(v).to_vec();
        let float_reader = readers.iter().any(|&(r, _)| g.node(r).is_some_and(|n| n.op.quant_role() == Role::Float));
        if !float_reader || g.outputs().contains(&v) || head_output_within_reach(g, l, v) {
            continue;
        }
        match acts.iter_mut().find(|q| q.value == v) {
            Some(q) => q.readers = readers,
            None => acts.push(ActQuantizer { value: v, readers, scheme, unified: None, axis: None }),
        }
    }
}

/// True when ops without weights carry `v` to a graph output within a few
/// steps (a model head: logits → Sigmoid → [mean] → output): a quantizer
/// there would round the answer itself, so `conv_outputs` leaves such a
/// convolution float. Ops that only move or reshape values (the
/// quantization-agnostic ones: Reshape, Unsqueeze, Identity...) take no step.
fn head_output_within_reach(g: &Graph, l: &Links, v: ValueId) -> bool {
    const STEPS: usize = 4;
    const HOPS: usize = 16;
    let weightless = |n: &ptq_ir::Node| !matches!(n.op.quant_role(), Role::Quantizable { weight: Some(_), .. });
    // (value, steps taken to reach it)
    let mut layer = vec![(v, 0)];
    for _ in 0..HOPS {
        let mut next = vec![];
        for (u, steps) in layer {
            for &(r, _) in l.readers(u) {
                let Some(n) = g.node(r).filter(|n| weightless(n)) else { continue };
                let steps = steps + usize::from(n.op.quant_role() != Role::Agnostic);
                if steps > STEPS {
                    continue;
                }
                for o in n.output_ids() {
                    if g.outputs().contains(&o) {
                        return true;
                    }
                    if !next.iter().any(|&(x, _)| x == o) {
                        next.push((o, steps));
                    }
                }
            }
        }
        if next.is_empty() {
            break;
        }
        layer = next;
    }
    false
}

/// Weights that get the overflow fix: all of them (`Enable`), those of the
/// first convolutions reached from each model input (`FirstLayer`), or none.
fn half_range_weights(
    g: &Graph,
    l: &Links<'_>,
    weights: &BTreeMap<ValueId, Vec<(NodeId, usize)>>,
    fix: OverflowFix,
) -> HashSet<ValueId> {
    let conv_weight = |id: NodeId| {
        let n = g.node(id)?;
        let w = n.inputs.get(1).copied().flatten()?;
        (matches!(n.op, Op::Conv(_)) && weights.contains_key(&w)).then_some(w)
    };
    match fix {
        // Auto decides after calibration (crate::overflow).
        OverflowFix::Disable | OverflowFix::Auto => HashSet::new(),
        OverflowFix::Enable => weights
            .iter()
            .filter(|(_, r)| {
                r.iter().any(|&(n, _)| {
                    l.op(n).is_some_and(|op| {
                        matches!(op, Op::Conv(_) | Op::ConvTranspose(_) | Op::MatMul(_) | Op::Gemm(_))
                    })
                })
            })
            .map(|(&w, _)| w)
            .collect(),
        OverflowFix::FirstLayer => {
            let mut found = HashSet::new();
            let mut seen = HashSet::new();
            let mut frontier: Vec<ValueId> = g.inputs().to_vec();
            while let Some(v) = frontier.pop() {
                for &(c, _) in l.readers(v) {
                    if !seen.insert(c) {
                        continue;
                    }
                    match conv_weight(c) {
                        Some(w) => {
                            found.insert(w);
                        }
                        None => frontier.extend(g.node(c).into_iter().flat_map(|n| n.output_ids())),
                    }
                }
            }
            found
        }
    }
}

/// Disjoint sets of unified-scale group ids.
#[derive(Debug, Default)]
struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn fresh(&mut self) -> usize {
        self.parent.push(self.parent.len());
        self.parent.len() - 1
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) -> usize {
        let (ra, rb) = (self.find(a), self.find(b));
        self.parent[rb] = ra;
        ra
    }
}

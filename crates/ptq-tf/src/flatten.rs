//! Inlining: a GraphDef and the functions it calls become one flat list of
//! primitive nodes.
//!
//! TF2 SavedModels keep the whole model in the function library: the meta
//! graph holds placeholders, variable handles and a `StatefulPartitionedCall`
//! of the signature's function, which calls the Keras layers' functions in
//! turn. [`Flattener`] instantiates each call with its callee's body (node
//! names prefixed by the call's name and `/`), binding the callee's inputs
//! to the caller's, so that every remaining node is a primitive op.
//!
//! References: a GraphDef input is `node` or `node:i` (output `i`); inside a
//! function it is an input argument's name, or `node:out_arg:i`, which
//! [`output_index`] turns into a flat output index with the op's output
//! arguments. `^node` control inputs are dropped: ptq runs dataflow only.

use std::collections::{BTreeMap, HashMap};

use crate::pb;

/// Deepest call nesting followed (TF's own limit on recursion is lower in practice).
const MAX_DEPTH: usize = 64;
/// Most nodes a model may flatten into, against a library that calls a
/// function many times over at every level.
const MAX_NODES: usize = 2_000_000;
/// Most bytes the prefixed node names may take together.
const MAX_NAME_BYTES: usize = 256 << 20;

/// Where a tensor comes from in the flat graph: output `out` of node `node`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Src {
    pub node: usize,
    pub out: usize,
}

/// A primitive node after inlining. The op and attributes are borrowed
/// from the function body, so a body instantiated many times is not copied.
#[derive(Clone, Debug)]
pub struct FlatNode<'a> {
    /// Unique: the node's name prefixed by the names of the calls it is inside.
    pub name: String,
    pub op: &'a str,
    pub attrs: &'a BTreeMap<String, pb::AttrValue>,
    pub inputs: Vec<Src>,
}

/// The output arguments of the primitive ops that have more than one; every
/// other op has one (possibly list-valued) output argument.
fn output_args(op: &str) -> &'static [&'static str] {
    match op {
        "FusedBatchNorm" | "FusedBatchNormV2" => {
            &["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"]
        }
        "FusedBatchNormV3" => {
            &["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2", "reserve_space_3"]
        }
        "Unique" => &["y", "idx"],
        "TopKV2" => &["values", "indices"],
        _ => &[],
    }
}

/// The flat output index of `node:arg:i` for a primitive op.
pub fn output_index(op: &str, arg: &str, i: usize) -> Result<usize, String> {
    let args = output_args(op);
    if args.is_empty() {
        return Ok(i);
    }
    match args.iter().position(|a| *a == arg) {
        // Each multi-argument op above has single-tensor arguments.
        Some(p) if i == 0 => Ok(p),
        Some(_) => Err(format!("output {arg}:{i} of {op}: the argument is one tensor")),
        None => Err(format!("{op} has no output argument {arg}")),
    }
}

/// What a name in the scope being instantiated stands for.
#[derive(Clone, Debug)]
enum Local {
    /// A primitive node of the flat graph.
    Prim(usize),
    /// A call: its outputs, and the callee's output argument names (empty
    /// for `PartitionedCall`, whose one list argument is `output`).
    Call(Vec<Src>, Vec<String>),
    /// A function input argument.
    Arg(Src),
}

/// Builds the flat graph.
#[derive(Debug)]
pub struct Flattener<'a> {
    functions: HashMap<&'a str, &'a pb::FunctionDef>,
    pub nodes: Vec<FlatNode<'a>>,
    name_bytes: usize,
}

/// A node of the scope being instantiated, with its inputs not yet resolved.
struct Pending<'a> {
    def: &'a pb::NodeDef,
    /// Data inputs (control inputs dropped).
    inputs: Vec<&'a str>,
}

impl<'a> Flattener<'a> {
    pub fn new(library: Option<&'a pb::FunctionDefLibrary>) -> Flattener<'a> {
        let functions = library
            .map(|l| l.function.iter().filter_map(|f| f.signature.as_ref().map(|s| (s.name.as_str(), f))).collect())
            .unwrap_or_default();
        Flattener { functions, nodes: vec![], name_bytes: 0 }
    }

    /// The function a node calls: `f` of a (Stateful)PartitionedCall, or the
    /// op itself when the library defines a function of that name.
    fn callee(&self, def: &pb::NodeDef) -> Option<(&'a pb::FunctionDef, bool)> {
        if def.op == "StatefulPartitionedCall" || def.op == "PartitionedCall" {
            let name = match def.attr.get("f").and_then(|a| a.value.as_ref()) {
                Some(pb::attr_value::Value::Func(f)) => f.name.as_str(),
                _ => return None,
            };
            return self.functions.get(name).map(|f| (*f, true));
        }
        self.functions.get(def.op.as_str()).map(|f| (*f, false))
    }

    /// Instantiates `nodes` (a GraphDef's, `in_function` false, or a
    /// function body's) under `prefix`, with function arguments `args` by
    /// name. Only the nodes `wanted` needs are instantiated when `wanted` is
    /// given (a GraphDef's signature outputs); a function body is
    /// instantiated whole. Returns the resolver for names in the scope.
    pub fn instantiate_graph(
        &mut self,
        nodes: &'a [pb::NodeDef],
        wanted: &[&str],
    ) -> Result<HashMap<String, Src>, (String, String)> {
        let by_name: HashMap<&str, &pb::NodeDef> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
        // Backward reachability from the wanted tensors.
        let mut keep: Vec<&str> = vec![];
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<&str> = wanted.iter().map(|w| ref_node(w)).collect();
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            let def = by_name.get(n).ok_or_else(|| (n.to_string(), "no node of this name".to_string()))?;
            keep.push(n);
            stack.extend(def.input.iter().filter(|i| !i.starts_with('^')).map(|i| ref_node(i)));
        }
        let defs: Vec<&pb::NodeDef> = nodes.iter().filter(|n| seen.contains(n.name.as_str())).collect();
        let locals = self.scope(&defs, "", &HashMap::new(), false, 0)?;
        let mut out = HashMap::new();
        for w in wanted {
            out.insert(w.to_string(), resolve(&locals, &self.nodes, w, false).map_err(|e| (w.to_string(), e))?);
        }
        Ok(out)
    }

    /// Instantiates one scope; returns its names. Errors carry the node name.
    fn scope(
        &mut self,
        defs: &[&'a pb::NodeDef],
        prefix: &str,
        args: &HashMap<String, Src>,
        in_function: bool,
        depth: usize,
    ) -> Result<HashMap<String, Local>, (String, String)> {
        if depth > MAX_DEPTH {
            return Err((prefix.trim_end_matches('/').to_string(), format!("calls nested deeper than {MAX_DEPTH}")));
        }
        let mut locals: HashMap<String, Local> = args.iter().map(|(k, v)| (k.clone(), Local::Arg(*v))).collect();
        let pending: Vec<Pending<'a>> = defs
            .iter()
            .map(|d| Pending {
                def: d,
                inputs: d.input.iter().filter(|i| !i.starts_with('^')).map(String::as_str).collect(),
            })
            .collect();
        for i in topo_order(&pending, args).map_err(|(n, e)| (format!("{prefix}{n}"), e))? {
            let p = &pending[i];
            let full = format!("{prefix}{}", p.def.name);
            let inputs: Vec<Src> = p
                .inputs
                .iter()
                .map(|r| resolve(&locals, &self.nodes, r, in_function))
                .collect::<Result<_, _>>()
                .map_err(|e| (full.clone(), e))?;
            let local = match self.callee(p.def) {
                Some((f, partitioned)) => {
                    let sig =
                        f.signature.as_ref().ok_or_else(|| (full.clone(), "function without signature".into()))?;
                    if sig.input_arg.len() != inputs.len() {
                        return Err((
                            full,
                            format!(
                                "calls {} with {} inputs; it takes {}",
                                sig.name,
                                inputs.len(),
                                sig.input_arg.len()
                            ),
                        ));
                    }
                    let bound: HashMap<String, Src> =
                        sig.input_arg.iter().map(|a| a.name.clone()).zip(inputs.iter().copied()).collect();
                    let body: Vec<&pb::NodeDef> = f.node_def.iter().collect();
                    let inner = self.scope(&body, &format!("{full}/"), &bound, true, depth + 1)?;
                    let mut outs = vec![];
                    for a in &sig.output_arg {
                        let r = f.ret.get(&a.name).ok_or_else(|| {
                            (full.clone(), format!("{} returns no value for output {}", sig.name, a.name))
                        })?;
                        outs.push(resolve(&inner, &self.nodes, r, true).map_err(|e| (full.clone(), e))?);
                    }
                    let names =
                        if partitioned { vec![] } else { sig.output_arg.iter().map(|a| a.name.clone()).collect() };
                    Local::Call(outs, names)
                }
                None => {
                    if self.nodes.len() >= MAX_NODES {
                        return Err((full, format!("the model flattens into more than {MAX_NODES} nodes")));
                    }
                    self.name_bytes += full.len();
                    if self.name_bytes > MAX_NAME_BYTES {
                        return Err((full, format!("the flattened node names exceed {MAX_NAME_BYTES} bytes")));
                    }
                    self.nodes.push(FlatNode { name: full, op: &p.def.op, attrs: &p.def.attr, inputs });
                    Local::Prim(self.nodes.len() - 1)
                }
            };
            locals.insert(p.def.name.clone(), local);
        }
        Ok(locals)
    }
}

/// The node a reference names.
fn ref_node(r: &str) -> &str {
    r.trim_start_matches('^').split(':').next().unwrap_or(r)
}

/// Resolves a reference in a scope.
fn resolve(locals: &HashMap<String, Local>, nodes: &[FlatNode<'_>], r: &str, in_function: bool) -> Result<Src, String> {
    let parts: Vec<&str> = r.split(':').collect();
    let local = locals.get(parts[0]).ok_or_else(|| format!("input {r} names no node"))?;
    let bad_index = |s: &str| s.parse::<usize>().map_err(|_| format!("input {r}: bad output index"));
    match local {
        Local::Arg(s) => match parts.len() {
            1 => Ok(*s),
            2 if parts[1] == "0" => Ok(*s),
            _ => Err(format!("input {r}: an argument has one tensor")),
        },
        Local::Prim(i) => {
            let out = match (in_function, parts.len()) {
                (_, 1) => 0,
                (false, 2) => bad_index(parts[1])?,
                (true, 3) => output_index(nodes[*i].op, parts[1], bad_index(parts[2])?)?,
                (true, 2) => output_index(nodes[*i].op, parts[1], 0)?,
                _ => return Err(format!("input {r}: malformed reference")),
            };
            Ok(Src { node: *i, out })
        }
        Local::Call(outs, names) => {
            let k = match (in_function, parts.len()) {
                (_, 1) => 0,
                (false, 2) => bad_index(parts[1])?,
                (true, 2 | 3) if names.is_empty() => {
                    if parts.len() == 3 {
                        bad_index(parts[2])?
                    } else {
                        0
                    }
                }
                (true, 2 | 3) => {
                    names.iter().position(|n| n == parts[1]).ok_or_else(|| format!("input {r}: no such output"))?
                }
                _ => return Err(format!("input {r}: malformed reference")),
            };
            outs.get(k).copied().ok_or_else(|| format!("input {r}: the call has {} outputs", outs.len()))
        }
    }
}

/// The nodes in an order where each comes after the nodes it reads (names
/// of `args` are already available). A cycle is an error.
fn topo_order(pending: &[Pending<'_>], args: &HashMap<String, Src>) -> Result<Vec<usize>, (String, String)> {
    let index: HashMap<&str, usize> = pending.iter().enumerate().map(|(i, p)| (p.def.name.as_str(), i)).collect();
    let mut indegree = vec![0usize; pending.len()];
    let mut readers: Vec<Vec<usize>> = vec![vec![]; pending.len()];
    for (i, p) in pending.iter().enumerate() {
        for r in &p.inputs {
            let n = ref_node(r);
            if let Some(&j) = index.get(n) {
                indegree[i] += 1;
                readers[j].push(i);
            } else if !args.contains_key(n) {
                return Err((p.def.name.clone(), format!("input {r} names no node")));
            }
        }
    }
    let mut ready: Vec<usize> = (0..pending.len()).filter(|&i| indegree[i] == 0).rev().collect();
    let mut order = Vec::with_capacity(pending.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &k in &readers[i] {
            indegree[k] -= 1;
            if indegree[k] == 0 {
                ready.push(k);
            }
        }
    }
    if order.len() < pending.len() {
        let stuck =
            (0..pending.len()).find(|&i| indegree[i] > 0).map(|i| pending[i].def.name.clone()).unwrap_or_default();
        return Err((stuck, "the nodes form a cycle".into()));
    }
    Ok(order)
}

//! Ignored scope: nodes the user keeps in float (NNCF `IgnoredScope`).

use std::collections::{BTreeMap, HashSet};

use ptq_ir::{Graph, NodeId};
use regex::Regex;

use crate::error::AlgoError;

/// A region between named nodes: every node on a path from one of `inputs`
/// to one of `outputs`, both ends included.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subgraph {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

/// Nodes to leave unquantized: no quantizer on their inputs or weights, and
/// none moves through them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IgnoredScope {
    /// Exact node names.
    pub names: Vec<String>,
    /// Regular expressions matched from the start of node names (Python
    /// `re.match`, as NNCF does).
    pub patterns: Vec<String>,
    /// Op types as the model's format names them (`Conv`, `MatMul`, `Add`).
    pub types: Vec<String>,
    pub subgraphs: Vec<Subgraph>,
    /// When true (the default through [`IgnoredScope::new`]), a rule that
    /// matches nothing is an error.
    pub strict: bool,
}

impl IgnoredScope {
    /// An empty, strict scope.
    pub fn new() -> IgnoredScope {
        IgnoredScope { strict: true, ..IgnoredScope::default() }
    }

    /// True when no rule is set.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.patterns.is_empty() && self.types.is_empty() && self.subgraphs.is_empty()
    }

    /// The nodes the rules match, each with the first rule that matched it.
    /// With `strict`, rules that match nothing, here or in the bodies of
    /// control-flow nodes (which are quantized as graphs of their own), are
    /// an error listing all of them.
    pub fn resolve(&self, g: &Graph) -> Result<BTreeMap<NodeId, String>, AlgoError> {
        let (hits, mut unmatched) = self.resolve_here(g)?;
        if self.strict {
            unmatched.retain(|(rule, _)| !self.matches_in_bodies(g, rule));
            if !unmatched.is_empty() {
                return Err(AlgoError::UnmatchedScope(unmatched.into_iter().map(|(_, why)| why).collect()));
            }
        }
        Ok(hits)
    }

    /// Whether `rule` matches a node in a body nested in `g`.
    fn matches_in_bodies(&self, g: &Graph, rule: &str) -> bool {
        g.iter_nodes().flat_map(|(_, n)| n.op.bodies()).any(|b| {
            self.resolve_here(&b.graph).is_ok_and(|(_, un)| !un.iter().any(|(r, _)| r == rule))
                || self.matches_in_bodies(&b.graph, rule)
        })
    }

    /// The hits in `g` itself, and the rules that match nothing there as
    /// (rule, message).
    #[allow(clippy::type_complexity)]
    fn resolve_here(&self, g: &Graph) -> Result<(BTreeMap<NodeId, String>, Vec<(String, String)>), AlgoError> {
        let mut hits: BTreeMap<NodeId, String> = BTreeMap::new();
        let mut unmatched = vec![];
        let mut mark = |ids: Vec<NodeId>, rule: String, unmatched: &mut Vec<(String, String)>| {
            if ids.is_empty() {
                unmatched.push((rule.clone(), rule.clone()));
            }
            for id in ids {
                hits.entry(id).or_insert_with(|| rule.clone());
            }
        };
        for name in &self.names {
            let ids = g.iter_nodes().filter(|(_, n)| n.name == *name).map(|(id, _)| id).collect();
            mark(ids, format!("name '{name}'"), &mut unmatched);
        }
        for p in &self.patterns {
            let re = Regex::new(&format!("^(?:{p})"))
                .map_err(|e| AlgoError::BadPattern { pattern: p.clone(), msg: e.to_string() })?;
            let ids = g.iter_nodes().filter(|(_, n)| re.is_match(&n.name)).map(|(id, _)| id).collect();
            mark(ids, format!("pattern '{p}'"), &mut unmatched);
        }
        for t in &self.types {
            let ids = g.iter_nodes().filter(|(_, n)| n.op.name() == t).map(|(id, _)| id).collect();
            mark(ids, format!("type '{t}'"), &mut unmatched);
        }
        for (i, s) in self.subgraphs.iter().enumerate() {
            let rule = format!("subgraph {i} ({} -> {})", s.inputs.join(","), s.outputs.join(","));
            match subgraph_nodes(g, s) {
                Ok(ids) => mark(ids, rule, &mut unmatched),
                Err(missing) => unmatched.push((rule.clone(), format!("{rule}: no node named '{missing}'"))),
            }
        }
        Ok((hits, unmatched))
    }
}

/// Nodes downstream of an input node and upstream of an output node.
fn subgraph_nodes(g: &Graph, s: &Subgraph) -> Result<Vec<NodeId>, String> {
    let find = |name: &String| g.find_node(name).ok_or_else(|| name.clone());
    let starts: Vec<NodeId> = s.inputs.iter().map(find).collect::<Result<_, _>>()?;
    let ends: Vec<NodeId> = s.outputs.iter().map(find).collect::<Result<_, _>>()?;
    let producers = g.producers();
    let consumers = g.consumers();
    let walk = |from: &[NodeId], down: bool| {
        let mut seen: HashSet<NodeId> = from.iter().copied().collect();
        let mut stack = from.to_vec();
        while let Some(id) = stack.pop() {
            let Some(n) = g.node(id) else { continue };
            let next: Vec<NodeId> = if down {
                n.output_ids().flat_map(|v| consumers.get(&v).into_iter().flatten().map(|&(c, _)| c)).collect()
            } else {
                n.input_ids().filter_map(|v| producers.get(&v).map(|&(p, _)| p)).collect()
            };
            for m in next {
                if seen.insert(m) {
                    stack.push(m);
                }
            }
        }
        seen
    };
    let below = walk(&starts, true);
    let above = walk(&ends, false);
    let mut ids: Vec<NodeId> = below.intersection(&above).copied().collect();
    ids.sort();
    Ok(ids)
}

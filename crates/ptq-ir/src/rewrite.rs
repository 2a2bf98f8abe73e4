//! The rewriter every graph pass is written on: a [`Rule`] looks at one node
//! and returns the [`Patch`] that rewrites the pattern found there;
//! [`rewrite`] applies the patches one at a time, in node order, and sweeps
//! the graph again until a sweep changes nothing.
//!
//! A rule never edits the graph: it sees it through a [`View`] (the graph
//! and who produces and who reads each value, computed on first use and
//! kept until a patch changes the graph) and describes its edit as data. A rule may keep state (what
//! it rewrote, what it already tried and rejected): the driver calls it
//! with `&mut self`.

use std::cell::OnceCell;

use crate::error::{IrError, Result};
use crate::graph::{Graph, NodeId};
use crate::patch::Patch;
use crate::pattern::{Consumers, Producers};

/// The graph as a rule sees it.
#[derive(Debug)]
pub struct View<'g> {
    pub graph: &'g Graph,
    maps: &'g Maps,
}

/// The lookup maps of a [`View`], built on first use and kept until the
/// graph changes.
#[derive(Debug, Default)]
pub struct Maps {
    producers: OnceCell<Producers>,
    consumers: OnceCell<Consumers>,
}

impl<'g> View<'g> {
    /// A view of `graph` whose lookup maps live in `maps` (empty, or built
    /// from this same graph).
    pub fn new(graph: &'g Graph, maps: &'g Maps) -> View<'g> {
        View { graph, maps }
    }

    /// The node and output slot producing each value.
    pub fn producers(&self) -> &Producers {
        self.maps.producers.get_or_init(|| self.graph.producers())
    }

    /// The nodes and input slots reading each value.
    pub fn consumers(&self) -> &Consumers {
        self.maps.consumers.get_or_init(|| self.graph.consumers())
    }
}

/// One rewrite: a pattern anchored at a node and the edit it makes.
pub trait Rule {
    /// Names the rule in errors.
    fn name(&self) -> &'static str;

    /// The patch rewriting the pattern anchored at `node`, or None when the
    /// pattern is not there. A returned patch must change the graph so that
    /// the rule does not match at the same place again, or the driver
    /// reports that the rules never settle.
    fn rewrite(&mut self, view: &View<'_>, node: NodeId) -> Option<Patch>;
}

/// Applies `rules` to `g` until none matches, and returns how many patches
/// were applied.
///
/// Each sweep visits the nodes in topological order (node order when the
/// graph has a cycle) and asks the rules in order; the first patch returned
/// is applied at once, so later matches see the change. Nodes a patch adds
/// are visited by the next sweep. A patch that fails to apply is an error
/// naming the rule and the node, and leaves the graph as the patches before
/// it made it. More sweeps than the graph has node slots means the rules
/// undo each other: an error too.
pub fn rewrite(g: &mut Graph, rules: &mut [&mut dyn Rule]) -> Result<usize> {
    let mut applied = 0;
    for _ in 0..=g.node_slots() + 1 {
        let order = crate::topo::topo_order(g).unwrap_or_else(|_| g.iter_nodes().map(|(id, _)| id).collect());
        let mut changed = false;
        // Built once per graph state: a patch makes them stale.
        let mut maps = Maps::default();
        for id in order {
            if g.node(id).is_none() {
                continue;
            }
            let found = {
                let view = View::new(g, &maps);
                rules.iter_mut().find_map(|r| r.rewrite(&view, id).map(|p| (r.name(), p)))
            };
            let Some((rule, patch)) = found else { continue };
            let node = g.node_label(id);
            patch.apply(g).map_err(|e| IrError::Patch(format!("rule {rule} at node {node:?}: {e}")))?;
            maps = Maps::default();
            applied += 1;
            changed = true;
        }
        if !changed {
            return Ok(applied);
        }
    }
    let names: Vec<&str> = rules.iter().map(|r| r.name()).collect();
    Err(IrError::Patch(format!("the rules {names:?} keep rewriting: no fixed point")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::fact::{Dim, Fact};
    use crate::graph::{Node, Value};
    use crate::ops::Op;
    use crate::ops::unary::{Unary, UnaryKind};
    use crate::patch::PatchValue;

    /// x → Neg → Neg → ... (n times) → y.
    fn negs(n: usize) -> Graph {
        let mut g = Graph::default();
        let mut v = g.add_value(Value {
            name: "x".into(),
            fact: Fact::new(DType::F32, vec![Dim::Known(2)]),
            ..Value::default()
        });
        g.inputs_mut().push(v);
        for i in 0..n {
            let out = g.add_value(Value { name: format!("v{i}"), ..Value::default() });
            g.add_node(Node {
                name: format!("neg{i}"),
                op: Unary { kind: UnaryKind::Neg }.into(),
                inputs: vec![Some(v)],
                outputs: vec![Some(out)],
                doc: String::new(),
                meta: vec![],
            });
            v = out;
        }
        g.outputs_mut().push(v);
        g
    }

    fn is_neg(g: &Graph, id: NodeId) -> bool {
        g.node(id).is_some_and(|n| matches!(&n.op, Op::Unary(u) if u.kind == UnaryKind::Neg))
    }

    /// Neg(Neg(x)) → x: the second Neg's readers read x.
    struct DoubleNegation;

    impl Rule for DoubleNegation {
        fn name(&self) -> &'static str {
            "double negation"
        }

        fn rewrite(&mut self, view: &View<'_>, id: NodeId) -> Option<Patch> {
            let g = view.graph;
            let node = g.node(id)?;
            let a = node.inputs[0]?;
            let &(first, 0) = view.producers().get(&a)? else { return None };
            if !is_neg(g, id) || !is_neg(g, first) || view.consumers().get(&a)?.len() != 1 || g.outputs().contains(&a) {
                return None;
            }
            let x = g.node(first)?.inputs[0]?;
            let mut p = Patch::removing([first, id]);
            p.replace_uses(node.outputs[0]?, PatchValue::Existing(x), vec![]);
            Some(p)
        }
    }

    #[test]
    fn rules_apply_until_nothing_matches() {
        for (n, left) in [(1, 1), (2, 0), (5, 1), (6, 0)] {
            let mut g = negs(n);
            let applied = rewrite(&mut g, &mut [&mut DoubleNegation]).unwrap();
            assert_eq!((applied, g.node_count()), (n / 2, left), "{n} negations");
            crate::validate::validate(&g).unwrap();
        }
    }

    /// Renames a node to the same name forever.
    struct Restless;

    impl Rule for Restless {
        fn name(&self) -> &'static str {
            "restless"
        }

        fn rewrite(&mut self, view: &View<'_>, id: NodeId) -> Option<Patch> {
            let mut p = Patch::new();
            p.set_op(id, view.graph.node(id)?.op.clone());
            Some(p)
        }
    }

    #[test]
    fn rules_that_never_settle_are_an_error() {
        let mut g = negs(2);
        let e = rewrite(&mut g, &mut [&mut Restless]).unwrap_err();
        assert!(e.to_string().contains("restless"), "{e}");
    }

    /// Points the first node at a value that does not exist.
    struct Broken;

    impl Rule for Broken {
        fn name(&self) -> &'static str {
            "broken"
        }

        fn rewrite(&mut self, _: &View<'_>, id: NodeId) -> Option<Patch> {
            let mut p = Patch::new();
            p.set_input(id, 0, PatchValue::New(7));
            Some(p)
        }
    }

    #[test]
    fn a_bad_patch_names_its_rule_and_node() {
        let mut g = negs(1);
        let before = g.clone();
        let e = rewrite(&mut g, &mut [&mut Broken]).unwrap_err().to_string();
        assert!(e.contains("broken") && e.contains("neg0"), "{e}");
        assert_eq!(g, before);
    }
}

//! Unique names for values, nodes and layers that importers, exporters and
//! passes add.

use std::collections::HashSet;

use crate::Graph;

/// A set of names in use, handing out new ones.
#[derive(Clone, Debug, Default)]
pub struct NameSet(HashSet<String>);

impl NameSet {
    /// An empty set.
    pub fn new() -> NameSet {
        NameSet::default()
    }

    /// Every value and node name of `g`.
    pub fn of_graph(g: &Graph) -> NameSet {
        let mut s: HashSet<String> = g.values().iter().map(|v| v.name.clone()).collect();
        s.extend(g.iter_nodes().map(|(_, n)| n.name.clone()));
        NameSet(s)
    }

    /// Whether `name` is taken.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    /// Takes `name`; false if it was taken already.
    pub fn insert(&mut self, name: impl Into<String>) -> bool {
        self.0.insert(name.into())
    }

    /// `base` if it is free, else the first free `base_1`, `base_2`, ...; taken.
    pub fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut i = 1;
        while !self.0.insert(name.clone()) {
            name = format!("{base}_{i}");
            i += 1;
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::NameSet;

    #[test]
    fn fresh_names_skip_taken_ones() {
        let mut n = NameSet::new();
        assert!(n.insert("a"));
        n.insert("a_1");
        assert_eq!(n.fresh("a"), "a_2");
        assert_eq!(n.fresh("b"), "b");
        assert_eq!(n.fresh("b"), "b_1");
        assert!(n.contains("b_1") && !n.insert("b"));
    }
}

//! Ranking quantizer groups: which one, reverted on top of those already
//! reverted, gives the best metric on the items that suffer most.

use ptq_algos::{Group, RestoreMode, Setup, groups::exclusions};
use rayon::prelude::*;

use crate::control::{Event, Validate};
use crate::error::AccuracyError;

/// The `k` items with the largest `reference − current` value, in index
/// order (NNCF's `select_subset` in metric mode).
pub fn select_subset(k: usize, reference: &[f64], current: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..reference.len().min(current.len())).collect();
    idx.sort_by(|&a, &b| (reference[b] - current[b]).total_cmp(&(reference[a] - current[a])).then(a.cmp(&b)));
    idx.truncate(k);
    idx.sort_unstable();
    idx
}

/// What ranking needs.
pub struct Ranking<'a> {
    pub setup: &'a Setup,
    pub groups: &'a [Group],
    pub mode: RestoreMode,
    pub validate: &'a Validate<'a>,
}

impl Ranking<'_> {
    /// `(group, score)` for every candidate, ascending by score (ties: the
    /// later group first, so the earliest of equal groups is popped first).
    /// Groups are scored in parallel, a batch per pool width.
    pub fn rank(
        &self,
        reverted: &[usize],
        candidates: &[usize],
        subset: &[usize],
        events: &mut dyn FnMut(Event),
    ) -> Result<Vec<(usize, f64)>, AccuracyError> {
        events(Event::RankingStart { groups: candidates.len(), items: subset.len() });
        let width = rayon::current_num_threads().max(1);
        let mut scored = Vec::with_capacity(candidates.len());
        for chunk in candidates.chunks(width) {
            let part: Vec<Result<(usize, f64), AccuracyError>> = chunk
                .par_iter()
                .map(|&c| {
                    let mut trial = reverted.to_vec();
                    trial.push(c);
                    let g = self.setup.build(&exclusions(self.groups, &trial, self.mode))?;
                    let v = (self.validate)(&g, subset).map_err(|msg| AccuracyError::Validation {
                        model: format!("ranking (group {c} reverted)"),
                        msg,
                    })?;
                    Ok((c, v.metric))
                })
                .collect();
            for r in part {
                scored.push(r?);
            }
            events(Event::RankingProgress { done: scored.len(), total: candidates.len() });
        }
        scored.sort_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        Ok(scored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_takes_the_worst_items_in_index_order() {
        let reference = [1.0, 1.0, 1.0, 1.0, 1.0];
        let current = [1.0, 0.2, 0.9, 0.0, 0.5];
        assert_eq!(select_subset(3, &reference, &current), vec![1, 3, 4]);
        assert_eq!(select_subset(10, &reference, &current).len(), 5);
    }
}

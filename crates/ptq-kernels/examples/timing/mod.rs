//! Wall-clock sampling shared by the timing examples.

use std::time::Instant;

/// Seconds taken by each of `iters` calls of `f` (at least one), after two
/// untimed ones, sorted from fastest to slowest.
pub fn sorted_seconds(iters: usize, mut f: impl FnMut()) -> Vec<f64> {
    f();
    f();
    let mut t: Vec<f64> = (0..iters.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t
}

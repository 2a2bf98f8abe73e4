//! One pass over one sample: per-channel min, max, sum, sum of squares and
//! finite count, skipping (and counting) NaN and infinities.
//!
//! The tensor is viewed as `[outer, channels, inner]`; long contiguous
//! `inner` runs go through an 8-lane kernel, short ones (channels-last) row
//! by row with one accumulator per channel. Everything is accumulated in a
//! fixed order, so the result depends only on the sample.

/// Lanes of the run kernel (independent accumulators, to break dependency chains).
const LANES: usize = 16;

/// The run kernel works block by block; a block stays in L1 across its loops.
const BLOCK: usize = 1024;

/// `inner` runs at least this long use the lane kernel.
const LONG_RUN: usize = 2 * LANES;

/// Per-channel statistics of one sample. A channel without finite elements
/// has `count == 0`, `min == +inf`, `max == -inf` and zero sums.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SampleStats {
    pub(crate) min: Vec<f32>,
    pub(crate) max: Vec<f32>,
    pub(crate) sum: Vec<f64>,
    pub(crate) sumsq: Vec<f64>,
    pub(crate) count: Vec<u64>,
    pub(crate) nonfinite: u64,
}

impl SampleStats {
    fn new(channels: usize) -> Self {
        SampleStats {
            min: vec![f32::INFINITY; channels],
            max: vec![f32::NEG_INFINITY; channels],
            sum: vec![0.0; channels],
            sumsq: vec![0.0; channels],
            count: vec![0; channels],
            nonfinite: 0,
        }
    }

    fn fold_run(&mut self, c: usize, run: &RunStats) {
        if let (Some(mn), Some(mx), Some(s), Some(q), Some(n)) = (
            self.min.get_mut(c),
            self.max.get_mut(c),
            self.sum.get_mut(c),
            self.sumsq.get_mut(c),
            self.count.get_mut(c),
        ) {
            *mn = mn.min(run.min);
            *mx = mx.max(run.max);
            *s += run.sum;
            *q += run.sumsq;
            *n += run.count;
        }
        self.nonfinite += run.nonfinite;
    }
}

/// Statistics of one contiguous run of a single channel.
#[derive(Clone, Copy, Debug)]
struct RunStats {
    min: f32,
    max: f32,
    sum: f64,
    sumsq: f64,
    count: u64,
    nonfinite: u64,
}

/// Reduces `data` viewed as `[outer, channels, inner]` (`data.len()` must be
/// `outer * channels * inner`; trailing elements beyond whole blocks are ignored).
pub(crate) fn reduce(data: &[f32], channels: usize, inner: usize) -> SampleStats {
    let mut out = SampleStats::new(channels);
    if channels == 0 || inner == 0 {
        return out;
    }
    if channels == 1 {
        out.fold_run(0, &reduce_run(data));
    } else if inner >= LONG_RUN {
        for block in data.chunks_exact(channels * inner) {
            for (c, run) in block.chunks_exact(inner).enumerate() {
                out.fold_run(c, &reduce_run(run));
            }
        }
    } else if inner == 1 {
        reduce_rows(data, &mut out);
    } else {
        for block in data.chunks_exact(channels * inner) {
            for (c, run) in block.chunks_exact(inner).enumerate() {
                out.fold_run(c, &reduce_run_scalar(run));
            }
        }
    }
    out
}

fn is_finite_chunk(c: &[f32]) -> bool {
    c.iter().fold(true, |ok, x| ok & x.is_finite())
}

/// The lane kernel for one contiguous run. Each block is reduced assuming
/// every element is finite, in separate loops for min/max, sum and sum of
/// squares (so each vectorizes); a non-finite element makes the block's sum
/// non-finite, and such a block is redone by the plain kernel.
fn reduce_run(run: &[f32]) -> RunStats {
    let mut r = RunStats { min: f32::INFINITY, max: f32::NEG_INFINITY, sum: 0.0, sumsq: 0.0, count: 0, nonfinite: 0 };
    for block in run.chunks(BLOCK) {
        let mut mn = [f32::INFINITY; LANES];
        let mut mx = [f32::NEG_INFINITY; LANES];
        let mut s = [0f64; LANES];
        let mut q = [0f64; LANES];
        let chunks = block.chunks_exact(LANES);
        let tail = reduce_run_scalar(chunks.remainder());
        for c in chunks.clone() {
            for i in 0..LANES {
                mn[i] = if c[i] < mn[i] { c[i] } else { mn[i] };
                mx[i] = if c[i] > mx[i] { c[i] } else { mx[i] };
            }
        }
        for c in chunks.clone() {
            for i in 0..LANES {
                s[i] += f64::from(c[i]);
            }
        }
        for c in chunks {
            for i in 0..LANES {
                let d = f64::from(c[i]);
                q[i] += d * d;
            }
        }
        let b = if s.iter().fold(true, |ok, x| ok & x.is_finite()) {
            let mut b = tail;
            for i in 0..LANES {
                b.min = b.min.min(mn[i]);
                b.max = b.max.max(mx[i]);
                b.sum += s[i];
                b.sumsq += q[i];
            }
            b.count = (block.len() as u64) - b.nonfinite;
            b
        } else {
            reduce_run_scalar(block)
        };
        r.min = r.min.min(b.min);
        r.max = r.max.max(b.max);
        r.sum += b.sum;
        r.sumsq += b.sumsq;
        r.count += b.count;
        r.nonfinite += b.nonfinite;
    }
    r
}

/// The plain kernel for short runs.
fn reduce_run_scalar(run: &[f32]) -> RunStats {
    let mut r = RunStats { min: f32::INFINITY, max: f32::NEG_INFINITY, sum: 0.0, sumsq: 0.0, count: 0, nonfinite: 0 };
    for &x in run {
        if x.is_finite() {
            r.min = r.min.min(x);
            r.max = r.max.max(x);
            let d = f64::from(x);
            r.sum += d;
            r.sumsq += d * d;
            r.count += 1;
        } else {
            r.nonfinite += 1;
        }
    }
    r
}

/// Channels-last (`inner == 1`): one accumulator per channel, row by row.
fn reduce_rows(data: &[f32], out: &mut SampleStats) {
    let channels = out.count.len();
    let mut full_rows = 0u64;
    for row in data.chunks_exact(channels) {
        let (mn, mx, s, q) =
            (&mut out.min[..channels], &mut out.max[..channels], &mut out.sum[..channels], &mut out.sumsq[..channels]);
        if is_finite_chunk(row) {
            full_rows += 1;
            // Separate loops, so each vectorizes over channels.
            for c in 0..channels {
                mn[c] = if row[c] < mn[c] { row[c] } else { mn[c] };
                mx[c] = if row[c] > mx[c] { row[c] } else { mx[c] };
            }
            for c in 0..channels {
                s[c] += f64::from(row[c]);
            }
            for c in 0..channels {
                let d = f64::from(row[c]);
                q[c] += d * d;
            }
        } else {
            for (c, &x) in row.iter().enumerate() {
                if x.is_finite() {
                    mn[c] = mn[c].min(x);
                    mx[c] = mx[c].max(x);
                    let d = f64::from(x);
                    s[c] += d;
                    q[c] += d * d;
                    out.count[c] += 1;
                } else {
                    out.nonfinite += 1;
                }
            }
        }
    }
    for n in &mut out.count {
        *n += full_rows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct computation: element (o, c, i) is `data[(o * channels + c) * inner + i]`.
    fn naive(data: &[f32], channels: usize, inner: usize) -> SampleStats {
        let mut out = SampleStats::new(channels);
        for (k, &x) in data.iter().enumerate() {
            let c = (k / inner) % channels;
            if x.is_finite() {
                out.min[c] = out.min[c].min(x);
                out.max[c] = out.max[c].max(x);
                out.sum[c] += f64::from(x);
                out.sumsq[c] += f64::from(x) * f64::from(x);
                out.count[c] += 1;
            } else {
                out.nonfinite += 1;
            }
        }
        out
    }

    fn check(data: &[f32], channels: usize, inner: usize) {
        let got = reduce(data, channels, inner);
        let want = naive(data, channels, inner);
        assert_eq!(got.min, want.min);
        assert_eq!(got.max, want.max);
        assert_eq!(got.count, want.count);
        assert_eq!(got.nonfinite, want.nonfinite);
        for c in 0..channels {
            let tol = 1e-12 * (1.0 + want.sumsq[c]);
            assert!((got.sum[c] - want.sum[c]).abs() <= tol, "sum of channel {c}");
            assert!((got.sumsq[c] - want.sumsq[c]).abs() <= tol, "sumsq of channel {c}");
        }
    }

    fn data(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919) % 1013) as f32 * 0.37 - 150.0).collect()
    }

    #[test]
    fn all_layouts_match_direct_computation() {
        for &(outer, channels, inner) in
            &[(1, 1, 1000), (2, 2, 3000), (3, 5, 40), (2, 4, 3), (7, 6, 1), (1, 3, 32), (4, 1, 9)]
        {
            let mut d = data(outer * channels * inner);
            check(&d, channels, inner);
            // One non-finite element in an otherwise finite multi-block run.
            let mut one = d.clone();
            one[d.len() * 2 / 3] = f32::NEG_INFINITY;
            check(&one, channels, inner);
            for k in (0..d.len()).step_by(5) {
                d[k] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][k % 3];
            }
            check(&d, channels, inner);
        }
    }

    #[test]
    fn empty_channels_keep_identity_values() {
        let s = reduce(&[f32::NAN, 1.0, f32::INFINITY, 2.0], 2, 1);
        assert_eq!(s.count, vec![0, 2]);
        assert_eq!(s.min[0], f32::INFINITY);
        assert_eq!(s.max[0], f32::NEG_INFINITY);
        assert_eq!(s.nonfinite, 2);
    }
}

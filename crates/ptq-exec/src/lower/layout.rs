//! Channels-last u8 tensors between integer kernels (part of
//! [`ExecOptions::integer`](crate::ExecOptions::integer)).
//!
//! The int8 convolution multiplies channels-last patches and produces
//! channels-last results, so reading and writing NCHW costs a u8 transpose
//! on each side of every convolution. A u8 value that one integer kernel
//! writes and only integer kernels read is therefore kept as `[N, H, W, C]`
//! (its shape says so: it is the NCHW tensor with its axes permuted), and the
//! NCHW order is restored only where another node, or the caller, sees it.
//! Probes of such a value see the `[N, H, W, C]` tensor.

use std::collections::{HashMap, HashSet};

use ndarray::ArrayD;
use ptq_ir::{Graph, NodeId, ValueId};
use ptq_kernels::layout::transpose_u8;

use crate::util::{array, contiguous};

/// The integer kernels that take part, by node.
pub struct Kernels<'a> {
    /// Convolutions: read input 0 in either layout.
    pub convs: &'a HashSet<NodeId>,
    /// Convolutions with a fused QuantizeLinear: write their u8 output in
    /// either layout.
    pub quantized_convs: &'a HashSet<NodeId>,
    /// Quantized additions: read and write either layout; write
    /// channels-last only when an input is.
    pub adds: &'a HashSet<NodeId>,
}

/// The values of `g` to keep channels-last: written by a quantized
/// convolution or addition, not a graph output, read only by integer
/// convolutions (as their input) and additions, and, for an addition's
/// output, with at least one of its inputs channels-last (an addition of
/// two NCHW tensors gains nothing from writing channels-last).
pub fn channels_last(g: &Graph, k: &Kernels) -> HashSet<ValueId> {
    let consumers = g.consumers();
    let output_of = |id: &NodeId| g.node(*id).and_then(|n| n.outputs.first().copied().flatten());
    let read_only_by_kernels = |v: &ValueId| {
        !g.outputs().contains(v)
            && consumers.get(v).is_some_and(|cs| {
                !cs.is_empty() && cs.iter().all(|(n, slot)| (k.convs.contains(n) && *slot == 0) || k.adds.contains(n))
            })
    };
    let mut set: HashSet<ValueId> =
        k.quantized_convs.iter().chain(k.adds).filter_map(output_of).filter(read_only_by_kernels).collect();
    // An addition keeps its output channels-last only if an input is;
    // dropping one may disqualify the additions that read it.
    loop {
        let before = set.len();
        for id in k.adds {
            let (Some(node), Some(out)) = (g.node(*id), output_of(id)) else { continue };
            if set.contains(&out) && !node.inputs.iter().take(2).any(|v| v.is_some_and(|v| set.contains(&v))) {
                set.remove(&out);
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

/// The values each kernel reads and writes channels-last.
pub fn layouts(g: &Graph, set: &HashSet<ValueId>, ids: &HashSet<NodeId>) -> HashMap<NodeId, (Vec<bool>, bool)> {
    ids.iter()
        .filter_map(|id| {
            let node = g.node(*id)?;
            let ins = node.inputs.iter().map(|v| v.is_some_and(|v| set.contains(&v))).collect();
            let out = node.outputs.first().copied().flatten().is_some_and(|v| set.contains(&v));
            Some((*id, (ins, out)))
        })
        .collect()
}

/// `[N, H, W, C]` → `[N, C, H, W]`.
pub fn to_channels_first(t: &ArrayD<u8>) -> Result<ArrayD<u8>, String> {
    let &[n, h, w, c] = t.shape() else {
        return Err(format!("integer path: channels-last tensor of shape {:?} is not 4-D", t.shape()));
    };
    let src = contiguous(t);
    let mut dst = vec![0u8; src.len()];
    for (s, d) in src.chunks_exact(h * w * c).zip(dst.chunks_exact_mut(h * w * c)) {
        transpose_u8(s, h * w, c, c, d, h * w);
    }
    array(&[n, c, h, w], dst)
}

/// `[N, C, H, W]` → `[N, H, W, C]`.
pub fn to_channels_last(t: &ArrayD<u8>) -> Result<ArrayD<u8>, String> {
    let &[n, c, h, w] = t.shape() else {
        return Err(format!("integer path: tensor of shape {:?} is not NCHW", t.shape()));
    };
    let src = contiguous(t);
    let mut dst = vec![0u8; src.len()];
    for (s, d) in src.chunks_exact(h * w * c).zip(dst.chunks_exact_mut(h * w * c)) {
        transpose_u8(s, c, h * w, h * w, d, c);
    }
    array(&[n, h, w, c], dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trip_permutes_the_axes() {
        let (n, c, h, w) = (2, 3, 4, 5);
        let v: Vec<u8> = (0..n * c * h * w).map(|i| (i * 7 % 251) as u8).collect();
        let t = array(&[n, c, h, w], v).unwrap();
        let last = to_channels_last(&t).unwrap();
        assert_eq!(last, t.clone().permuted_axes(vec![0, 2, 3, 1]));
        assert_eq!(to_channels_first(&last).unwrap(), t);
    }
}

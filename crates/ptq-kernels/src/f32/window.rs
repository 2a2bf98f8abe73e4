//! Index arithmetic shared by the convolution kernels: sliding-window output
//! sizes, the run of positions whose tap lands inside the input, and checked
//! shape products.

/// Output length of a sliding window over `len` input positions with the
/// given padding, kernel size, stride and dilation (ONNX `Conv`, floor
/// rounding); 0 when the padded input is shorter than the dilated kernel.
/// Panics if `stride` is 0 or on overflow.
pub(crate) fn out_len(
    len: usize,
    pad_begin: usize,
    pad_end: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> usize {
    assert!(stride > 0, "stride must be at least 1");
    let padded = len.checked_add(pad_begin).and_then(|x| x.checked_add(pad_end)).expect("padded size overflows");
    let span =
        kernel.saturating_sub(1).checked_mul(dilation).and_then(|x| x.checked_add(1)).expect("kernel span overflows");
    if kernel == 0 || padded < span { 0 } else { (padded - span) / stride + 1 }
}

/// The positions `o` in `lo..hi` whose tap `o·stride + offset − pad` lies in
/// `0..len`, as a (possibly empty) sub-range of `lo..hi`.
pub(crate) fn inside(lo: usize, hi: usize, stride: usize, offset: usize, pad: usize, len: usize) -> (usize, usize) {
    // o·stride + offset ≥ pad  ⇔  o ≥ ⌈(pad − offset) / stride⌉
    let first = if pad > offset { (pad - offset).div_ceil(stride) } else { 0 };
    // o·stride + offset < len + pad  ⇔  o < ⌈(len + pad − offset) / stride⌉
    let end = if len + pad > offset { (len + pad - offset).div_ceil(stride) } else { 0 };
    let a = first.clamp(lo, hi);
    let b = end.clamp(a, hi);
    (a, b)
}

/// Product of dimensions, panicking with `what` on overflow.
pub(crate) fn product(dims: &[usize], what: &str) -> usize {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .unwrap_or_else(|| panic!("{what}: size {dims:?} overflows"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_len_matches_onnx_formula() {
        assert_eq!(out_len(56, 1, 1, 3, 1, 1), 56);
        assert_eq!(out_len(224, 3, 3, 7, 2, 1), 112);
        assert_eq!(out_len(7, 0, 0, 3, 1, 2), 3);
        assert_eq!(out_len(2, 0, 0, 3, 1, 1), 0);
        assert_eq!(out_len(5, 0, 1, 2, 3, 1), 2);
    }

    #[test]
    fn inside_agrees_with_a_scan() {
        for len in 0..7 {
            for stride in 1..4 {
                for offset in 0..6 {
                    for pad in 0..5 {
                        for (lo, hi) in [(0, 9), (2, 6), (3, 3)] {
                            let want: Vec<usize> = (lo..hi)
                                .filter(|&o| {
                                    let t = (o * stride + offset) as isize - pad as isize;
                                    t >= 0 && (t as usize) < len
                                })
                                .collect();
                            let (a, b) = inside(lo, hi, stride, offset, pad, len);
                            assert_eq!(
                                (a..b).collect::<Vec<_>>(),
                                want,
                                "len {len} stride {stride} offset {offset} pad {pad}"
                            );
                        }
                    }
                }
            }
        }
    }
}

//! Strided copies shared by the convolution kernels.

/// dst\[k\] = src\[k·stride\] (src holds at least that many elements).
#[inline(always)]
pub(crate) fn gather(dst: &mut [f32], src: &[f32], stride: usize) {
    match stride {
        1 => dst.copy_from_slice(&src[..dst.len()]),
        2 => {
            // Pairs first (no bounds checks, vectorisable), then a last lone
            // element when src ends mid-pair.
            let pairs = src.chunks_exact(2);
            let done = pairs.len().min(dst.len());
            for (d, pair) in dst.iter_mut().zip(pairs) {
                *d = pair[0];
            }
            if let Some(d) = dst.get_mut(done) {
                *d = src[2 * done];
            }
        }
        _ => {
            for (k, d) in dst.iter_mut().enumerate() {
                *d = src[k * stride];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_every_stride_and_length() {
        let src: Vec<f32> = (0..40).map(|v| v as f32).collect();
        for stride in 1..5 {
            for len in 0..=40usize.div_ceil(stride) {
                let need = if len == 0 { 0 } else { (len - 1) * stride + 1 };
                let mut dst = vec![-1.0; len];
                gather(&mut dst, &src[..need], stride);
                let want: Vec<f32> = (0..len).map(|k| (k * stride) as f32).collect();
                assert_eq!(dst, want, "stride {stride} len {len}");
            }
        }
    }
}

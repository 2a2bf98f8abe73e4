//! MelWeightMatrix, which the IR keeps opaque: the `[dft_length / 2 + 1,
//! num_mel_bins]` matrix of triangular mel filters between
//! `lower_edge_hertz` and `upper_edge_hertz` at `sample_rate`, computed as
//! the ONNX reference does (mel = 2595·log10(1 + hz / 700), num_mel_bins +
//! 2 edges spaced by (high − low) / (num_mel_bins + 2), each edge at FFT
//! bin ⌊(dft_length + 1)·hz / sample_rate⌋). Output type: the ONNX code
//! `output_datatype` (default float).

use ptq_ir::{DType, Tensor};

use super::opaque::{Attrs, kern, onnx_dtype};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// The output type.
#[derive(Clone, Copy, Debug)]
pub struct MelWeightMatrix {
    dtype: DType,
}

/// Reads `output_datatype`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(MelWeightMatrix { dtype: onnx_dtype(a.int("output_datatype", 1)?)? }, run)
}

/// Runs MelWeightMatrix.
pub fn run(op: &MelWeightMatrix, ins: &mut Inputs, _n: usize) -> Out {
    let int = |i: usize, what: &str| -> Result<i64, String> {
        match ins.ints(i)?.as_slice() {
            [v] if (1..=1 << 20).contains(v) => Ok(*v),
            v => Err(format!("{what} must be one positive integer, got {v:?}")),
        }
    };
    let (bins, dft, rate) = (int(0, "num_mel_bins")? as usize, int(1, "dft_length")?, int(2, "sample_rate")?);
    let (lo, hi) = (
        ins.opt_scalar(3)?.ok_or("lower_edge_hertz is missing")?,
        ins.opt_scalar(4)?.ok_or("upper_edge_hertz is missing")?,
    );
    let spec = dft as usize / 2 + 1;
    if spec * bins > 1 << 31 {
        return Err(format!("a {spec} × {bins} matrix is too large"));
    }
    // The reference keeps the edge frequencies in f32.
    let mel = |hz: f64| (2595.0 * (1.0 + hz as f32 / 700.0).log10()) as f64;
    let (lm, hm) = (mel(lo), mel(hi));
    let step = ((hm - lm) as f32 / (bins + 2) as f32) as f64;
    let edges: Vec<i64> = (0..bins + 2)
        .map(|i| {
            let m = i as f64 * step + lm;
            let hz = 700.0 * (10f64.powf(m / 2595.0) - 1.0);
            ((dft + 1) as f64 * hz / rate as f64).floor() as i64
        })
        .collect();
    let mut w = vec![0f32; spec * bins];
    let mut set = |j: i64, i: usize, v: f64| -> Result<(), String> {
        let j = usize::try_from(j)
            .ok()
            .filter(|&j| j < spec)
            .ok_or(format!("mel edge {j} is outside the {spec} FFT bins"))?;
        w[j * bins + i] = v as f32;
        Ok(())
    };
    for i in 0..bins {
        let (l, c, h) = (edges[i], edges[i + 1], edges[i + 2]);
        if c == l {
            set(c, i, 1.0)?;
        } else {
            for j in l..=c {
                set(j, i, (j - l) as f64 / (c - l) as f64)?;
            }
        }
        if h > c {
            for j in c..h {
                set(j, i, (h - j) as f64 / (h - c) as f64)?;
            }
        }
    }
    one(super::cast::cast(Tensor::F32(crate::util::array(&[spec, bins], w)?), op.dtype, true)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::Tensor;

    use crate::ops::opaque::test_run;

    #[test]
    fn filters_are_triangles_in_range() {
        let ins = vec![
            Tensor::from_i64s(&[2]),
            Tensor::from_i64s(&[16]),
            Tensor::from_i64s(&[8000]),
            Tensor::from_f32s(&[0.0]),
            Tensor::from_f32s(&[4000.0]),
        ];
        let y = test_run("MelWeightMatrix", &[], ins).unwrap();
        let Tensor::F32(a) = &y[0] else { panic!() };
        assert_eq!(a.shape(), &[9, 2]);
        assert!(a.iter().all(|&v| (0.0..=1.0).contains(&v)) && a.iter().any(|&v| v == 1.0));
    }
}

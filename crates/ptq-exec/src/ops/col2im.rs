//! Col2Im, which the IR keeps opaque: the inverse of im2col. Input `[N, C ·
//! ∏block, L]` holds, for every block position (L of them, row-major over
//! the positions a `block_shape` window takes in the padded `image_shape`
//! with `strides` and `dilations`), each channel's window values; they are
//! summed back into `[N, C, image..]` (overlaps add, padding is dropped).
//! Floats.

use super::nll_loss::{as_dtype, floats};
use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::to_usize;

/// Col2Im's geometry.
#[derive(Clone, Debug)]
pub struct Col2Im {
    dilations: Option<Vec<i64>>,
    pads: Option<Vec<i64>>,
    strides: Option<Vec<i64>>,
}

/// Reads `dilations`, `pads` and `strides`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(
        Col2Im { dilations: a.geometry("dilations")?, pads: a.geometry("pads")?, strides: a.geometry("strides")? },
        run,
    )
}

/// Runs Col2Im.
pub fn run(op: &Col2Im, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let usizes = |v: Vec<i64>, what: &str| v.into_iter().map(|d| to_usize(d, what)).collect::<Result<Vec<_>, _>>();
    let image = usizes(ins.ints(1)?, "image_shape")?;
    let block = usizes(ins.ints(2)?, "block_shape")?;
    let k = image.len();
    if block.len() != k || k == 0 || block.contains(&0) || image.iter().chain(&block).any(|&d| d > 1 << 31) {
        return Err(format!("image_shape {image:?} and block_shape {block:?} do not fit"));
    }
    let stride = super::conv::per_axis(&op.strides, k, "strides")?;
    let dil = super::conv::per_axis(&op.dilations, k, "dilations")?;
    let pads = match &op.pads {
        None => vec![0; 2 * k],
        Some(p) if p.len() == 2 * k => usizes(p.clone(), "pads")?,
        Some(p) => return Err(format!("{} pads for {k} spatial axes", p.len())),
    };
    let mut blocks = vec![];
    for i in 0..k {
        let eff = dil[i] * (block[i] - 1) + 1;
        let padded = image[i] + pads[i] + pads[k + i];
        if padded < eff {
            return Err("the block is larger than the padded image".into());
        }
        blocks.push((padded - eff) / stride[i] + 1);
    }
    let kb = ptq_ir::tensor::checked_numel(&block).filter(|&v| v <= 1 << 31).ok_or("block_shape is too large")?;
    let l = ptq_ir::tensor::checked_numel(&blocks).filter(|&v| v <= 1 << 31).ok_or("too many block positions")?;
    let &[n, ck, xl] = x.shape() else { return Err(format!("input must be 3-D, has shape {:?}", x.shape())) };
    if ck % kb != 0 || xl != l {
        return Err(format!("input {:?} does not fit {kb} block values and {l} block positions", x.shape()));
    }
    let c = ck / kb;
    let plane = ptq_ir::tensor::checked_numel(&image).ok_or("image_shape is too large")?;
    if n.checked_mul(c).and_then(|v| v.checked_mul(plane)).is_none_or(|v| v > 1 << 31) {
        return Err(format!("image_shape {image:?} is too large"));
    }
    let v = floats(x, "input")?;
    let mut y = vec![0f64; n * c * plane];
    let (mut kpos, mut lpos) = (vec![0usize; k], vec![0usize; k]);
    for kf in 0..kb {
        lpos.iter_mut().for_each(|p| *p = 0);
        for lf in 0..l {
            let mut flat = Some(0usize);
            for a in 0..k {
                let p = (lpos[a] * stride[a] + kpos[a] * dil[a]) as i64 - pads[a] as i64;
                flat = match flat {
                    Some(f) if p >= 0 && (p as usize) < image[a] => Some(f * image[a] + p as usize),
                    _ => None,
                };
            }
            if let Some(f) = flat {
                for b in 0..n * c {
                    y[b * plane + f] += v[(b * kb + kf) * l + lf];
                }
            }
            crate::util::step_index(&mut lpos, &blocks);
        }
        crate::util::step_index(&mut kpos, &block);
    }
    let mut shape = vec![n, c];
    shape.extend(&image);
    one(as_dtype(crate::util::array(&shape, y)?, x)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::Tensor;

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn overlapping_blocks_add_up() {
        // 1-D image of 3, block 2, stride 1: two positions.
        let x = Tensor::F32(crate::util::array(&[1, 2, 2], vec![1.0, 2.0, 10.0, 20.0]).unwrap());
        let y = test_run("Col2Im", &[], vec![x, Tensor::from_i64s(&[3]), Tensor::from_i64s(&[2])]).unwrap();
        assert_close(&y[0], &[1, 1, 3], &[1.0, 12.0, 20.0]);
    }
}

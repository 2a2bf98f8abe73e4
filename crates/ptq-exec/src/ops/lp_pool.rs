//! LpPool, which the IR keeps opaque: over each window of X `[N, C,
//! spatial..]` (`kernel_shape`, `strides`, `dilations`, `pads` or
//! `auto_pad`, `ceil_mode`; any number of spatial axes), `(Σ |x|^p)^(1/p)`
//! with `p` default 2; padding contributes nothing. f32 and f64.

use ptq_ir::fact::Dim;
use ptq_ir::ops::spatial::{AutoPad, Window, window_out};

use super::conv::{per_axis, resolve_pads};
use super::nll_loss::{as_dtype, floats};
use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::to_usize;

/// LpPool's settings.
#[derive(Clone, Debug)]
pub struct LpPool {
    auto_pad: AutoPad,
    ceil: bool,
    dilations: Option<Vec<i64>>,
    kernel: Vec<usize>,
    p: f64,
    pads: Option<Vec<i64>>,
    strides: Option<Vec<i64>>,
}

/// Reads the attributes; `kernel_shape` is required.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    let pad = a.string("auto_pad", "NOTSET")?;
    let kernel = a.geometry("kernel_shape")?.ok_or("kernel_shape is required")?;
    let kernel = kernel.iter().map(|&k| to_usize(k, "kernel_shape")).collect::<Result<Vec<_>, _>>()?;
    if kernel.contains(&0) {
        return Err("kernel_shape must be positive".into());
    }
    kern(
        LpPool {
            auto_pad: AutoPad::parse(&pad).ok_or(format!("unknown auto_pad {pad:?}"))?,
            ceil: a.int("ceil_mode", 0)? != 0,
            dilations: a.geometry("dilations")?,
            kernel,
            p: a.int("p", 2)? as f64,
            pads: a.geometry("pads")?,
            strides: a.geometry("strides")?,
        },
        run,
    )
}

/// Runs LpPool.
pub fn run(op: &LpPool, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let xs = x.shape();
    let sp = op.kernel.len();
    if xs.len() != sp + 2 {
        return Err(format!("input {xs:?} does not fit a {sp}-D kernel"));
    }
    let stride = per_axis(&op.strides, sp, "strides")?;
    let dil = per_axis(&op.dilations, sp, "dilations")?;
    let pads = resolve_pads(op.auto_pad, &op.pads, &xs[2..], &op.kernel, &stride, &dil)?;
    let mut out_sp = vec![];
    for i in 0..sp {
        let w = Window {
            kernel: op.kernel[i] as u64,
            stride: stride[i] as u64,
            dilation: dil[i] as u64,
            pad_begin: pads[i].0 as u64,
            pad_end: pads[i].1 as u64,
        };
        match window_out(&Dim::Known(xs[2 + i] as u64), w, AutoPad::NotSet, op.ceil)? {
            Dim::Known(o) => out_sp.push(o as usize),
            _ => return Err("unknown output size".into()),
        }
    }
    let v = floats(x, "input")?;
    let in_sp: usize = xs[2..].iter().product();
    let o_sp = ptq_ir::tensor::checked_numel(&out_sp).filter(|&v| v <= 1 << 31).ok_or("the output is too large")?;
    let k_sp: usize = op.kernel.iter().product();
    let planes = xs[0] * xs[1];
    let mut y = vec![0f64; planes * o_sp];
    let mut opos = vec![0usize; sp];
    let mut kpos = vec![0usize; sp];
    for o in 0..o_sp {
        kpos.iter_mut().for_each(|k| *k = 0);
        for _ in 0..k_sp {
            let mut flat = Some(0usize);
            for a in 0..sp {
                let p = (opos[a] * stride[a] + kpos[a] * dil[a]) as i64 - pads[a].0 as i64;
                flat = match flat {
                    Some(f) if p >= 0 && (p as usize) < xs[2 + a] => Some(f * xs[2 + a] + p as usize),
                    _ => None,
                };
            }
            if let Some(i) = flat {
                for pl in 0..planes {
                    y[pl * o_sp + o] += v[pl * in_sp + i].abs().powf(op.p);
                }
            }
            crate::util::step_index(&mut kpos, &op.kernel);
        }
        crate::util::step_index(&mut opos, &out_sp);
    }
    y.iter_mut().for_each(|s| *s = s.powf(1.0 / op.p));
    let mut shape = xs[..2].to_vec();
    shape.extend(out_sp);
    one(as_dtype(crate::util::array(&shape, y)?, x)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn pools_the_p_norm() {
        let x = Tensor::F32(crate::util::array(&[1, 1, 4], vec![3.0, -4.0, 1.0, 1.0]).unwrap());
        let attrs = [("kernel_shape", Attr::Ints(vec![2])), ("strides", Attr::Ints(vec![2]))];
        assert_close(
            &test_run("LpPool", &attrs, vec![x.clone()]).unwrap()[0],
            &[1, 1, 2],
            &[5.0, std::f32::consts::SQRT_2],
        );
        let p1 = [("kernel_shape", Attr::Ints(vec![3])), ("p", Attr::Int(1)), ("pads", Attr::Ints(vec![1, 0]))];
        assert_close(&test_run("LpPool", &p1, vec![x]).unwrap()[0], &[1, 1, 3], &[7.0, 8.0, 6.0]);
        assert!(test_run("LpPool", &[], vec![Tensor::from_f32s(&[1.0])]).is_err());
    }
}

//! NonMaxSuppression, which the IR keeps opaque: per batch and class, boxes
//! (`boxes [B, N, 4]`, corners `[y1, x1, y2, x2]` in either order, or
//! `[x_center, y_center, w, h]` when `center_point_box` = 1) are taken by
//! descending score (`scores [B, C, N]`, ties by index), skipping scores not
//! above `score_threshold` and boxes whose IoU with a kept one exceeds
//! `iou_threshold`, up to `max_output_boxes_per_class` (absent or 0: none).
//! Output `[K, 3]` int64 rows `(batch, class, box)`.

use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// NonMaxSuppression's box format.
#[derive(Clone, Copy, Debug)]
pub struct Nms {
    center: bool,
}

/// Reads `center_point_box`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(Nms { center: a.int("center_point_box", 0)? != 0 }, run)
}

/// A box as (y1, x1, y2, x2) with y1 ≤ y2, x1 ≤ x2.
fn corners(b: &[f64], center: bool) -> [f64; 4] {
    if center {
        let (xc, yc, w, h) = (b[0], b[1], b[2], b[3]);
        [yc - h / 2.0, xc - w / 2.0, yc + h / 2.0, xc + w / 2.0]
    } else {
        [b[0].min(b[2]), b[1].min(b[3]), b[0].max(b[2]), b[1].max(b[3])]
    }
}

fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let ih = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iw = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ih * iw;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Runs NonMaxSuppression.
pub fn run(op: &Nms, ins: &mut Inputs, _n: usize) -> Out {
    let (bx, sc) = (ins.get(0)?, ins.get(1)?);
    let (&[nb, n, 4], &[sb, nc, sn]) = (bx.shape(), sc.shape()) else {
        return Err(format!("boxes {:?} and scores {:?} must be [B, N, 4] and [B, C, N]", bx.shape(), sc.shape()));
    };
    if sb != nb || sn != n {
        return Err(format!("boxes {:?} and scores {:?} do not match", bx.shape(), sc.shape()));
    }
    let max_out = match ins.opt_ints(2)? {
        None => 0,
        Some(v) => v.first().copied().unwrap_or(0).max(0) as usize,
    };
    let iou_t = ins.opt_scalar(3)?.unwrap_or(0.0);
    let score_t = ins.opt_scalar(4)?;
    let (bv, sv) = (bx.to_f64_vec(), sc.to_f64_vec());
    let mut out: Vec<i64> = vec![];
    for b in 0..nb {
        let boxes: Vec<[f64; 4]> =
            (0..n).map(|i| corners(&bv[(b * n + i) * 4..(b * n + i + 1) * 4], op.center)).collect();
        for c in 0..nc {
            let s = &sv[(b * nc + c) * n..(b * nc + c + 1) * n];
            let mut order: Vec<usize> = (0..n).filter(|&i| score_t.is_none_or(|t| s[i] > t)).collect();
            order.sort_by(|&i, &j| s[j].total_cmp(&s[i]).then(i.cmp(&j)));
            let mut kept: Vec<usize> = vec![];
            for i in order {
                if kept.len() >= max_out {
                    break;
                }
                if kept.iter().all(|&k| iou(&boxes[k], &boxes[i]) <= iou_t) {
                    kept.push(i);
                    out.extend([b as i64, c as i64, i as i64]);
                }
            }
        }
    }
    one(Tensor::I64(crate::util::array(&[out.len() / 3, 3], out)?))
}

#[cfg(test)]
mod tests {
    use ptq_ir::Tensor;

    use crate::ops::opaque::test_run;

    #[test]
    fn suppresses_overlapping_boxes() {
        let boxes = Tensor::F32(
            crate::util::array(&[1, 3, 4], vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.1, 1.0, 1.1, 0.0, 2.0, 1.0, 3.0]).unwrap(),
        );
        let scores = Tensor::F32(crate::util::array(&[1, 1, 3], vec![0.9, 0.95, 0.5]).unwrap());
        let ins = vec![boxes, scores, Tensor::from_i64s(&[3]), Tensor::from_f32s(&[0.5])];
        let y = test_run("NonMaxSuppression", &[], ins).unwrap();
        assert_eq!(y[0], Tensor::I64(crate::util::array(&[2, 3], vec![0, 0, 1, 0, 0, 2]).unwrap()));
    }
}

//! Import, plan and run: a model the importer accepts gets a one-thread
//! `Plan`, and a plan one run on small deterministic inputs built from the
//! graph input facts (unknown and symbolic dims are 2, an unknown rank is
//! `[2]`). Graphs of more than 200 nodes and inputs of more than 10^5
//! elements in all are skipped so each input stays fast.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ndarray::{ArrayD, Dimension, IxDyn};
use ptq_exec::{ExecOptions, Plan};
use ptq_ir::{DType, Dim, Graph, Tensor};

const MAX_NODES: usize = 200;
const MAX_INPUT_ELEMENTS: usize = 100_000;
/// The plan's output limit (`ExecOptions::max_elements`): 2^24 elements, so a
/// model that computes a huge tensor fails with an error well inside
/// libFuzzer's memory limit.
const MAX_ELEMENTS: usize = 1 << 24;
/// The plan's Loop limit (`ExecOptions::max_loop_iterations`), so a trip
/// count of 2^62 is an error instead of a timeout.
const MAX_LOOP_ITERATIONS: u64 = 10_000;

fn inputs(g: &Graph) -> Option<Vec<(String, Tensor)>> {
    let mut total = 0usize;
    let mut out = Vec::new();
    for &id in g.inputs() {
        let v = g.value(id);
        if v.constant.is_some() {
            continue;
        }
        let shape: Vec<usize> = match &v.fact.shape {
            Some(s) => s
                .iter()
                .map(|d| match d {
                    Dim::Known(n) => usize::try_from(*n).ok(),
                    Dim::Sym(_) | Dim::Unknown => Some(2),
                })
                .collect::<Option<_>>()?,
            None => vec![2],
        };
        let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
        total = total.checked_add(n)?;
        if total > MAX_INPUT_ELEMENTS {
            return None;
        }
        let t = match v.fact.dtype.unwrap_or(DType::F32) {
            DType::F32 => Tensor::F32(ArrayD::from_shape_fn(IxDyn(&shape), |ix| {
                let s: usize = ix.slice().iter().sum();
                (s % 7) as f32 * 0.5 - 1.5
            })),
            DType::I64 => {
                Tensor::I64(ArrayD::from_shape_fn(IxDyn(&shape), |ix| (ix.slice().iter().sum::<usize>() % 2) as i64))
            }
            d => Tensor::zeros(d, &shape),
        };
        out.push((v.name.clone(), t));
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let Ok(model) = ptq_onnx::import_bytes(data, "fuzz.onnx", None) else { return };
    let g = &model.graph;
    if g.nodes.iter().flatten().count() > MAX_NODES {
        return;
    }
    let Some(inputs) = inputs(g) else { return };
    let Ok(plan) = Plan::new(
        g,
        &ExecOptions {
            threads: 1,
            optimize: false,
            integer: false,
            max_elements: Some(MAX_ELEMENTS),
            max_loop_iterations: Some(MAX_LOOP_ITERATIONS),
        },
    ) else {
        return;
    };
    let _ = plan.run(inputs);
});

//! SmoothQuant on hand-built graphs: the float function is unchanged, the
//! scales follow the formula, and the smoothed activation is flatter.

use std::collections::HashSet;

use ndarray::{ArrayD, IxDyn};
use ptq_exec::{ExecOptions, Plan};
use ptq_ir::ops::layer_norm::LayerNorm;
use ptq_ir::{ConstSource, Graph, NodeId, Op, Tensor, ValueId};

use crate::calibrate::{Item, Pass, calibrate};
use crate::options::QuantizeOptions;
use crate::smooth_quant::{self, SmoothQuantAlphas, scales};
use crate::testgraph::{G, matmul};

/// `[1, 6, 8]` activations whose channel 3 is 40× the others.
fn items(n: usize) -> Vec<Item> {
    items_with_outlier(n, 40.0)
}

/// `[1, 6, 8]` activations in [−1, 1] whose channel 3 is `outlier`× that.
fn items_with_outlier(n: usize, outlier: f32) -> Vec<Item> {
    (0..n)
        .map(|k| {
            let data: Vec<f32> = (0..48)
                .map(|i| {
                    let v = (((i * 13 + k * 7) % 23) as f32 - 11.0) / 11.0;
                    if i % 8 == 3 { v * outlier } else { v }
                })
                .collect();
            vec![("x".to_string(), Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 6, 8]), data).unwrap()))]
        })
        .collect()
}

/// x → [LayerNorm →] two MatMuls (q, k) reading the same activation.
fn graph(norm: bool) -> Graph {
    let mut b = G::default();
    let x = b.input("x", &[1, 6, 8]);
    let mut v = x;
    if norm {
        let gamma: Vec<f32> = (0..8).map(|i| if i == 3 { 30.0 } else { 0.5 + i as f32 * 0.1 }).collect();
        let gamma = b.g.add_constant("gamma", Tensor::from_f32s(&gamma), ConstSource::Stored);
        let beta = b.g.add_constant("beta", Tensor::from_f32s(&[0.1; 8]), ConstSource::Stored);
        v = b.node("ln", LayerNorm { axis: -1, ..LayerNorm::default() }, &[x, gamma, beta]);
    }
    let wq = b.weight("wq", &[8, 5]);
    let wk = b.weight("wk", &[8, 5]);
    let q = b.node("q", matmul(), &[v, wq]);
    let k = b.node("k", matmul(), &[v, wk]);
    b.output(q);
    b.output(k);
    ptq_ir::infer::infer_facts(&mut b.g).unwrap();
    b.g
}

fn run(g: &Graph, item: &Item) -> Vec<ArrayD<f32>> {
    let plan = Plan::new(g, &ExecOptions { threads: 1, ..Default::default() }).unwrap();
    plan.run(item.clone())
        .unwrap()
        .into_iter()
        .map(|(_, t)| match t {
            Tensor::F32(a) => a,
            t => panic!("{t:?}"),
        })
        .collect()
}

fn matmuls(g: &Graph) -> HashSet<NodeId> {
    g.iter_nodes().filter(|(_, n)| matches!(n.op, Op::MatMul(_))).map(|(id, _)| id).collect()
}

fn value(g: &Graph, name: &str) -> ValueId {
    ValueId(g.values().iter().position(|v| v.name == name).unwrap())
}

#[test]
fn scales_follow_the_formula_and_are_clipped() {
    // act^α / w^(1−α) with α = 0.5: [2, 1, 0.1, 20]; the 0.1-quantile
    // (0.1 + 0.3·0.9 = 0.37) bounds them from below.
    let s = scales(&[4.0, 1.0, 0.01, 400.0], &[1.0, 1.0, 1.0, 1.0], 0.5);
    let want = [2.0, 1.0, 0.37, 20.0];
    for (a, b) in s.iter().zip(want) {
        assert!((a - b).abs() < 1e-5, "{s:?}");
    }
    // No scale above 100.
    assert_eq!(scales(&[1e8, 1.0], &[1.0, 1.0], 0.95)[0], 100.0);
}

#[test]
fn smoothing_keeps_the_float_outputs_and_flattens_the_activation() {
    for norm in [true, false] {
        let g = graph(norm);
        let data = items(4);
        let alphas = SmoothQuantAlphas::default();
        let groups = smooth_quant::groups(&g, &matmuls(&g), &[alphas]);
        assert_eq!(groups.len(), 1, "q and k share one group");
        assert_eq!(groups[0].readers.len(), 2);
        let watch = smooth_quant::watches(&groups);
        let pass = Pass { subset: 4, watch: &watch, record: &[], threads: 1, ..Default::default() };
        let stats = calibrate(&g, &mut data.clone().into_iter().map(Ok), &pass, &mut |_| {}).unwrap();
        let (patch, rows) = smooth_quant::patch(&g, &groups, &stats, &alphas);
        let mut smoothed = g.clone();
        patch.apply(&mut smoothed).unwrap();
        ptq_ir::infer::infer_facts(&mut smoothed).unwrap();
        ptq_ir::validate::validate(&smoothed).unwrap();
        assert_eq!(rows[0].absorbed_by, if norm { "ln" } else { "x/smooth_quant" });
        assert_eq!(smoothed.node_count(), g.node_count() + usize::from(!norm));
        for item in &data {
            for (a, b) in run(&g, item).iter().zip(run(&smoothed, item)) {
                let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
                let diff = a.iter().zip(&b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
                assert!(diff <= 1e-5 * scale, "norm {norm}: {diff} of {scale}");
            }
        }
        // The activation the MatMuls read now has a flatter channel profile.
        let read = if norm { value(&smoothed, "ln_out") } else { value(&smoothed, "x/smooth_quant") };
        let orig = if norm { value(&g, "ln_out") } else { value(&g, "x") };
        let profile = |g: &Graph, v: ValueId| {
            let w = vec![crate::calibrate::Watch {
                value: v,
                granularity: ptq_stats::Granularity::PerChannel { axis: 2 },
                histogram_bins: 0,
                quantile_ppm: 0,
            }];
            let pass = Pass { subset: 4, watch: &w, record: &[], threads: 1, ..Default::default() };
            let c = calibrate(g, &mut data.clone().into_iter().map(Ok), &pass, &mut |_| {}).unwrap();
            let a = c.per_channel(v).unwrap().abs_max();
            a.iter().fold(0f32, |m, &x| m.max(x)) / a.iter().fold(f32::INFINITY, |m, &x| m.min(x))
        };
        let (before, after) = (profile(&g, orig), profile(&smoothed, read));
        assert!(after < before / 4.0, "norm {norm}: max/min channel range {before} → {after}");
    }
}

#[test]
fn transformers_are_smoothed_by_default_and_others_only_when_asked() {
    let g = graph(true);
    let q = |opts: &QuantizeOptions| {
        crate::quantize_graph(&g, &mut items(4).into_iter().map(Ok), opts, &mut |_| {}).unwrap().report
    };
    // Not a transformer (detection off): no smoothing by default.
    assert!(q(&QuantizeOptions { detect_model_type: false, ..QuantizeOptions::default() }).smooth_quant.is_empty());
    // A transformer tries NNCF's alpha, 0.75 and none, and keeps the best;
    // on these outliers, smoothing wins.
    let r = q(&QuantizeOptions { model_type: Some(crate::ModelType::Transformer), ..QuantizeOptions::default() });
    let tried: Vec<Option<f32>> = r.smooth_quant_errors.iter().map(|e| e.0).collect();
    assert_eq!(tried, [Some(0.95), Some(0.75), None]);
    let best = r.smooth_quant_errors.iter().fold(f64::INFINITY, |m, e| m.min(e.1));
    let off = r.smooth_quant_errors[2].1;
    assert!(best < off, "{:?}", r.smooth_quant_errors);
    assert_eq!(r.smooth_quant.len(), 1);
    assert_eq!(r.smooth_quant[0].readers, ["q", "k"]);
    assert_eq!(
        r.smooth_quant_alphas.map(|a| a.0),
        r.smooth_quant_errors.iter().find(|e| e.1 == best).and_then(|e| e.0)
    );
    let off = SmoothQuantAlphas { matmul: -1.0, convolution: -1.0 };
    let opts = QuantizeOptions {
        model_type: Some(crate::ModelType::Transformer),
        smooth_quant: Some(off),
        ..QuantizeOptions::default()
    };
    assert!(q(&opts).smooth_quant.is_empty());
    let asked = QuantizeOptions {
        detect_model_type: false,
        smooth_quant: Some(SmoothQuantAlphas::default()),
        ..QuantizeOptions::default()
    };
    assert_eq!(q(&asked).smooth_quant.len(), 1);
}

#[test]
fn without_outlier_channels_the_choice_leaves_smoothing_off_unscored() {
    let g = graph(false);
    let transformer = QuantizeOptions { model_type: Some(crate::ModelType::Transformer), ..QuantizeOptions::default() };
    let q = |data: Vec<Item>| {
        crate::quantize_graph(&g, &mut data.into_iter().map(Ok), &transformer, &mut |_| {}).unwrap().report
    };
    // Channel 3 at 40× (its max over the items against the others'
    // median): scored, and smoothed.
    let r = q(items(4));
    let ratio = r.smooth_quant_outlier_ratio.unwrap();
    assert!(ratio > smooth_quant::OUTLIER_RATIO && (30.0..50.0).contains(&ratio), "{ratio}");
    assert_eq!(r.smooth_quant_errors.len(), 3);
    // At 2×: nothing to move, no candidate scored, not smoothed.
    let r = q(items_with_outlier(4, 2.0));
    let ratio = r.smooth_quant_outlier_ratio.unwrap();
    assert!((1.5..2.5).contains(&ratio), "{ratio}");
    assert!(r.smooth_quant_errors.is_empty() && r.smooth_quant.is_empty(), "{:?}", r.smooth_quant_errors);
    // An alpha the user sets applies whatever the ratio.
    let asked = QuantizeOptions { smooth_quant: Some(SmoothQuantAlphas::default()), ..transformer.clone() };
    let r = crate::quantize_graph(&g, &mut items_with_outlier(4, 2.0).into_iter().map(Ok), &asked, &mut |_| {})
        .unwrap()
        .report;
    assert_eq!(r.smooth_quant.len(), 1);
}

#[test]
fn when_smoothing_leaves_the_graph_as_it_was_the_last_stage_reuses_its_pass() {
    let g = graph(false);
    let transformer = QuantizeOptions { model_type: Some(crate::ModelType::Transformer), ..QuantizeOptions::default() };
    let run = |data: Vec<Item>, opts: &QuantizeOptions| {
        let mut passes = 0;
        let q = crate::quantize_graph(&g, &mut data.into_iter().map(Ok), opts, &mut |e| {
            if let crate::Event::CalibrationStart { .. } = e {
                passes += 1;
            }
        })
        .unwrap();
        (q, passes)
    };
    // A statistics cache keeps each stage to its own pass: the reference.
    let dir = std::env::temp_dir().join(format!("ptq-sq-ahead-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cache = crate::StatsCache { path: dir.join("stats.json"), fingerprint: "test".into() };
    let separate = QuantizeOptions { stats_cache: Some(cache), ..transformer.clone() };
    // No outlier channel: smoothing stays off, and one pass serves both stages.
    let (ahead, passes) = run(items_with_outlier(6, 2.0), &transformer);
    assert!(ahead.report.smooth_quant_alphas.is_none());
    assert_eq!(passes, 1);
    let (apart, passes) = run(items_with_outlier(6, 2.0), &separate);
    assert_eq!(passes, 2);
    assert_eq!(format!("{:?}", ahead.graph), format!("{:?}", apart.graph));
    assert_eq!(format!("{:?}", ahead.setup.acts), format!("{:?}", apart.setup.acts));
    // An outlier channel: smoothed, so the last stage calibrates the smoothed graph.
    let (smoothed, passes) = run(items(6), &transformer);
    assert!(smoothed.report.smooth_quant_alphas.is_some());
    assert_eq!(passes, 2);
    std::fs::remove_dir_all(&dir).ok();
}

//! The whole run on small graphs: statistics to ranges to Q/DQ.

use ndarray::{ArrayD, IxDyn};
use ptq_exec::{ExecOptions, Plan, Probe};
use ptq_ir::patch::PatchValue;
use ptq_ir::{Op, Tensor};

use crate::calibrate::Item;
use crate::options::QuantizeOptions;
use crate::testgraph::depthwise_block;

fn items(n: usize) -> Vec<Item> {
    (0..n)
        .map(|k| {
            let data: Vec<f32> =
                (0..128).map(|i| (((i * 11 + k * 29) % 31) as f32 - 15.0) / (3.0 + k as f32)).collect();
            vec![("x".to_string(), Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 2, 8, 8]), data).unwrap()))]
        })
        .collect()
}

#[test]
fn a_depthwise_input_gets_each_channels_maximum_over_all_items() {
    let b = depthwise_block(false);
    let data = items(6);
    // Each channel's max |x| over every item, from the float model.
    let v = b.g.values().iter().position(|v| v.name == "relu1_out").map(ptq_ir::ValueId).unwrap();
    let plan = Plan::new(&b.g, &ExecOptions { threads: 1, ..Default::default() }).unwrap();
    let mut amax = [0f32; 4];
    for item in &data {
        plan.run_with_probe(item.clone(), &Probe::Values([v].into_iter().collect()), &mut |_, t| {
            let Tensor::F32(a) = t else { panic!("{t:?}") };
            for (c, lane) in a.axis_iter(ndarray::Axis(1)).enumerate() {
                amax[c] = lane.iter().fold(amax[c], |m, x| m.max(x.abs()));
            }
        })
        .unwrap();
    }
    let floor = amax.iter().fold(0f32, |m, &a| m.max(a)) * 0.01;
    let want: Vec<f32> = amax.iter().map(|&a| a.max(floor).max(8e-5) / 255.0).collect();

    let mut it = data.into_iter().map(Ok);
    let q = crate::quantize_graph(&b.g, &mut it, &QuantizeOptions::default(), &mut |_| {}).unwrap();
    let (aq, spec) = q.setup.acts.iter().find(|(a, _)| a.value == v).unwrap();
    assert_eq!((aq.axis, spec.axis, spec.zero_point.as_slice()), (Some(1), Some(1), &[0, 0, 0, 0][..]));
    for (got, want) in spec.scale.iter().zip(&want) {
        assert!((got - want).abs() <= 1e-6 * want, "{:?} vs {want:?}", spec.scale);
    }
    // The Q/DQ pair in front of the depthwise convolution is per axis 1.
    let reads = |n: &ptq_ir::Node, v: ptq_ir::ValueId| n.inputs.first().copied().flatten() == Some(v);
    let v = q.graph.values().iter().position(|x| x.name == "relu1_out").map(ptq_ir::ValueId).unwrap();
    let (qz, q_axis) = q
        .graph
        .iter_nodes()
        .find_map(|(_, n)| match &n.op {
            Op::QuantizeLinear(o) if reads(n, v) => Some((n.outputs[0].unwrap(), o.axis)),
            _ => None,
        })
        .unwrap();
    let dq_axis = q.graph.iter_nodes().find_map(|(_, n)| match &n.op {
        Op::DequantizeLinear(o) if reads(n, qz) => Some(o.axis),
        _ => None,
    });
    assert_eq!((q_axis, dq_axis), (Some(1), Some(Some(1))));
    let row = q.report.quantizers.iter().find(|r| r.tensor == "relu1_out").unwrap();
    assert_eq!(row.spec.scale.len(), 4);
}

#[test]
fn auto_ranges_take_the_estimator_with_the_least_output_error() {
    let (g, data) = crate::testgraph::conv_chain();
    let opts = QuantizeOptions { range_estimator: crate::RangeEstimator::Auto, ..QuantizeOptions::default() };
    let mut it = data.clone().into_iter().map(Ok);
    let q = crate::quantize_graph(&g, &mut it, &opts, &mut |_| {}).unwrap();
    let errs = &q.report.range_errors;
    // The three estimators, then the best one's asymmetric twin (the
    // preset was not asked for, and PERFORMANCE placed symmetric ranges).
    assert_eq!(errs.len(), 4, "{errs:?}");
    let best_symmetric = errs[..3].iter().fold(&errs[0], |b, e| if e.1 < b.1 { e } else { b });
    assert_eq!(errs[3].0, format!("{} asymmetric", best_symmetric.0));
    let least = errs.iter().fold(f64::INFINITY, |m, (_, e)| m.min(*e));
    let label = crate::algorithm::range_label(q.report.range_estimator, q.report.range_asymmetric);
    let chosen = errs.iter().find(|(e, _)| *e == label).unwrap();
    assert_eq!(chosen.1, least, "{errs:?}");
    assert_eq!(q.report.preset == crate::Preset::Mixed, q.report.range_asymmetric);
    // The chosen ranges are that estimator's, with that preset.
    let preset = Some(if q.report.range_asymmetric { crate::Preset::Mixed } else { crate::Preset::Performance });
    let fixed = QuantizeOptions { range_estimator: q.report.range_estimator, preset, ..QuantizeOptions::default() };
    let mut it = data.into_iter().map(Ok);
    let p = crate::quantize_graph(&g, &mut it, &fixed, &mut |_| {}).unwrap();
    let specs = |q: &crate::Quantized| q.setup.acts.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>();
    assert_eq!(specs(&q), specs(&p));
    assert!(p.report.range_errors.is_empty());
}

#[test]
fn fake_quantized_weights_compute_what_the_weight_qdq_model_does() {
    let (mut g, data) = crate::testgraph::conv_chain();
    // Biases on the convolutions, for bias correction to move.
    for name in ["conv1", "conv4"] {
        let id = g.find_node(name).unwrap();
        let m = if name == "conv1" { 4 } else { 2 };
        let b = g.add_constant(format!("{name}.bias"), Tensor::from_f32s(&vec![0.25; m]), ptq_ir::ConstSource::Stored);
        let mut inputs: Vec<_> = g.node(id).unwrap().inputs.iter().map(|v| v.map(PatchValue::Existing)).collect();
        inputs.push(Some(PatchValue::Existing(b)));
        let mut p = ptq_ir::Patch::new();
        p.set_inputs(id, inputs);
        p.apply(&mut g).unwrap();
    }
    let mut it = data.clone().into_iter().map(Ok);
    let q = crate::quantize_graph(&g, &mut it, &QuantizeOptions::default(), &mut |_| {}).unwrap();
    let s = &q.setup;
    let only_weights = crate::Setup { acts: vec![], ..s.clone() }.build(&crate::Exclusions::default()).unwrap();
    let fake = crate::range_choice::with_fake_weights(&s.float, &s.weights, &s.biases).unwrap();
    assert!(!s.weights.is_empty() && !s.biases.is_empty());
    let run = |g: &ptq_ir::Graph| {
        let plan = Plan::new(g, &ExecOptions { threads: 1, ..Default::default() }).unwrap();
        let out = plan.run(data[3].clone()).unwrap();
        let Tensor::F32(a) = &out[0].1 else { panic!() };
        a.iter().copied().collect::<Vec<f32>>()
    };
    let (a, b) = (run(&only_weights), run(&fake));
    let worst = a.iter().zip(&b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(worst <= 1e-5 * a.iter().fold(1f32, |m, x| m.max(x.abs())), "{worst}");
    // And they differ from the float model: the weights really are rounded.
    assert_ne!(run(&s.float), b);
}

/// With two stages before the last (SmoothQuant forced on, and
/// ChannelAlignment), the dataset is read once, the stages that watch
/// something calibrate on the whole subset, the report lists the algorithms in NNCF's order, and a
/// rerun with the statistics cache calibrates nothing and gives the same
/// graph.
#[test]
fn stages_read_the_dataset_once_and_their_statistics_are_cached() {
    let (g, data) = crate::testgraph::biased_conv_chain();
    let dir = std::env::temp_dir().join(format!("ptq-stages-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cache = crate::StatsCache { path: dir.join("stats.json"), fingerprint: "test".into() };
    let opts = QuantizeOptions {
        smooth_quant: Some(crate::SmoothQuantAlphas { matmul: 0.95, convolution: 0.5 }),
        channel_alignment: true,
        subset_size: data.len(),
        stats_cache: Some(cache),
        ..QuantizeOptions::default()
    };
    let run = || {
        let mut reads = 0;
        let mut it = data.iter().cloned().inspect(|_| reads += 1).map(Ok);
        let mut passes = 0;
        let q = crate::quantize_graph(&g, &mut it, &opts, &mut |e| {
            if let crate::Event::CalibrationStart { .. } = e {
                passes += 1;
            }
        })
        .unwrap();
        (q, reads, passes)
    };
    let (first, reads, passes) = run();
    assert_eq!(reads, data.len());
    // SmoothQuant finds nothing to smooth here (no op can absorb a scale
    // in front of these convolutions), so its stage runs no pass.
    assert_eq!(passes, 2);
    assert_eq!(first.report.subset_items, data.len());
    let names: Vec<&str> = first.report.algorithms.iter().map(|a| a.name).collect();
    assert_eq!(names, ["SmoothQuant", "ChannelAlignment", "MinMaxQuantization", "FastBiasCorrection", "RangeChoice"]);
    assert_eq!(first.report.algorithms.iter().map(|a| a.stage).collect::<Vec<_>>(), [0, 1, 2, 2, 2]);
    let (second, _, passes) = run();
    assert_eq!(passes, 0, "every stage's statistics come from the cache");
    assert!(second.report.statistics_from_cache);
    assert_eq!(format!("{:?}", second.graph), format!("{:?}", first.graph));
    std::fs::remove_dir_all(&dir).ok();
}

//! Batch-norm folding (the pass lives in ptq-ir so the executor can use it
//! too); here for the pipeline and its numeric test.

pub use ptq_ir::passes::fold_bn::{Folded, fold_batch_norms};

#[cfg(test)]
mod tests {
    use ptq_exec::{ExecOptions, Plan};
    use ptq_ir::ops::batch_norm::BatchNorm;
    use ptq_ir::ops::conv::Conv;
    use ptq_ir::{DType, Fact, Node};

    use ndarray::{ArrayD, IxDyn};
    use ptq_ir::{ConstSource, Graph, Tensor, Value};

    use super::*;

    fn model() -> Graph {
        let mut g = Graph::default();
        let x = g.add_value(Value {
            name: "x".into(),
            fact: Fact::new(DType::F32, ptq_ir::fact::known_shape(&[1, 2, 3, 3])),
            ..Value::default()
        });
        g.inputs_mut().push(x);
        let w: Vec<f32> = (0..2 * 2 * 9).map(|i| (i as f32 * 0.37).sin()).collect();
        let w = g.add_constant(
            "w",
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[2, 2, 3, 3]), w).unwrap()),
            ConstSource::Stored,
        );
        let b = g.add_constant("b", Tensor::from_f32s(&[0.5, -0.25]), ConstSource::Stored);
        let c = g.add_value(Value { name: "c".into(), ..Value::default() });
        let y = g.add_value(Value { name: "y".into(), ..Value::default() });
        let conv = Conv { pads: Some(vec![1, 1, 1, 1]), group: 1, ..Conv::default() };
        g.add_node(Node {
            name: "conv".into(),
            op: conv.into(),
            inputs: vec![Some(x), Some(w), Some(b)],
            outputs: vec![Some(c)],
            doc: String::new(),
            meta: vec![],
        });
        let p = |g: &mut Graph, n: &str, v: [f32; 2]| g.add_constant(n, Tensor::from_f32s(&v), ConstSource::Stored);
        let (s, bb, m, v) = (
            p(&mut g, "s", [1.5, 0.5]),
            p(&mut g, "bb", [0.1, -0.2]),
            p(&mut g, "m", [0.3, -0.4]),
            p(&mut g, "v", [2.0, 0.25]),
        );
        g.add_node(Node {
            name: "bn".into(),
            op: BatchNorm::default().into(),
            inputs: vec![Some(c), Some(s), Some(bb), Some(m), Some(v)],
            outputs: vec![Some(y)],
            doc: String::new(),
            meta: vec![],
        });
        g.outputs_mut().push(y);
        g
    }

    #[test]
    fn folded_conv_computes_what_conv_then_bn_did() {
        let g = model();
        let mut folded = g.clone();
        let done = fold_batch_norms(&mut folded).unwrap();
        assert_eq!(done, vec![Folded { conv: "conv".into(), batch_norm: "bn".into() }]);
        assert_eq!(folded.iter_nodes().count(), 1);
        let x: Vec<f32> = (0..18).map(|i| (i as f32 * 0.7).cos()).collect();
        let input =
            || vec![("x".to_string(), Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 2, 3, 3]), x.clone()).unwrap()))];
        let run = |g: &Graph| {
            Plan::new(g, &ExecOptions { threads: 1, optimize: false, integer: false, ..Default::default() })
                .unwrap()
                .run(input())
                .unwrap()
                .remove(0)
                .1
        };
        let (a, b) = (run(&g).to_f64_vec(), run(&folded).to_f64_vec());
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-5, "{p} vs {q}");
        }
    }
}

//! Ops the IR keeps opaque that still run: the table from an opaque node's
//! type to its kernel, and typed access to its attributes.

use ptq_ir::ops::opaque::Opaque;
use ptq_ir::{Attr, DType};

use super::{Kernel, Out, k};
use crate::inputs::Inputs;

/// Attribute access for an opaque node; errors name the attribute.
pub struct Attrs<'a>(pub &'a [(String, Attr)]);

impl Attrs<'_> {
    fn find(&self, name: &str) -> Option<&Attr> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, a)| a)
    }

    /// An int attribute, or `default` when absent.
    pub fn int(&self, name: &str, default: i64) -> Result<i64, String> {
        match self.find(name) {
            None => Ok(default),
            Some(Attr::Int(v)) => Ok(*v),
            Some(_) => Err(format!("attribute {name} must be an int")),
        }
    }

    /// A float attribute, or `default` when absent.
    pub fn float(&self, name: &str, default: f32) -> Result<f32, String> {
        match self.find(name) {
            None => Ok(default),
            Some(Attr::Float(v)) => Ok(*v),
            Some(Attr::Int(v)) => Ok(*v as f32),
            Some(_) => Err(format!("attribute {name} must be a float")),
        }
    }

    /// An ints attribute, if present.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        match self.find(name) {
            None => Ok(None),
            Some(Attr::Ints(v)) => Ok(Some(v.clone())),
            Some(Attr::Int(v)) => Ok(Some(vec![*v])),
            Some(_) => Err(format!("attribute {name} must be a list of ints")),
        }
    }

    /// An ints attribute of geometry (pads, strides, dilations, kernel
    /// sizes), if present; entries beyond ±2³¹ are refused so that window
    /// arithmetic cannot overflow.
    pub fn geometry(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        let v = self.ints(name)?;
        if let Some(x) = v.iter().flatten().find(|x| x.unsigned_abs() > 1 << 31) {
            return Err(format!("attribute {name} has an out-of-range entry {x}"));
        }
        Ok(v)
    }

    /// A floats attribute, if present.
    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, String> {
        match self.find(name) {
            None => Ok(None),
            Some(Attr::Floats(v)) => Ok(Some(v.clone())),
            Some(Attr::Float(v)) => Ok(Some(vec![*v])),
            Some(_) => Err(format!("attribute {name} must be a list of floats")),
        }
    }

    /// A string attribute, or `default` when absent.
    pub fn string(&self, name: &str, default: &str) -> Result<String, String> {
        match self.find(name) {
            None => Ok(default.to_string()),
            Some(Attr::String(v)) => String::from_utf8(v.clone()).map_err(|_| format!("attribute {name} is not UTF-8")),
            Some(_) => Err(format!("attribute {name} must be a string")),
        }
    }

    /// A list of strings attribute, if present.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, String> {
        match self.find(name) {
            None => Ok(None),
            Some(Attr::Strings(v)) => v
                .iter()
                .map(|s| String::from_utf8(s.clone()).map_err(|_| format!("attribute {name} is not UTF-8")))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!("attribute {name} must be a list of strings")),
        }
    }
}

/// Whether [`prepare`] has a kernel for this opaque node.
pub fn handles(o: &Opaque) -> bool {
    build(o).is_some()
}

/// The kernel of an opaque node [`handles`] accepts; `Err(Some(why))` for a malformed node.
pub fn prepare(o: &Opaque) -> Result<Box<dyn Kernel>, Option<String>> {
    build(o).ok_or(None)?.map_err(|e| Some(format!("{}: {e}", o.op_type)))
}

/// `None` when the op is not one of ours.
fn build(o: &Opaque) -> Option<Result<Box<dyn Kernel>, String>> {
    let a = &Attrs(&o.attrs);
    let t = o.op_type.as_str();
    if o.domain == "ai.onnx.ml" {
        return match t {
            "Binarizer" => Some(super::binarizer::prepare(a)),
            _ => None,
        };
    }
    if !(o.domain.is_empty() || o.domain == "ai.onnx") {
        return None;
    }
    if let Some(f) = super::trig::Trig::from_op_type(t) {
        return Some(super::trig::prepare(f, a));
    }
    if let Some(k) = super::bitwise::prepare(t, a).or_else(|| super::window::prepare(t, a)) {
        return Some(k);
    }
    Some(match t {
        "IsInf" => super::is_inf::prepare(a),
        "Trilu" => super::trilu::prepare(a),
        "EyeLike" => super::eye_like::prepare(a),
        "ScatterElements" | "Scatter" => super::scatter_elements::prepare(a),
        "ScatterND" => super::scatter_nd::prepare(a),
        "GatherND" => super::gather_nd::prepare(a),
        "OneHot" => super::one_hot::prepare(a),
        "Compress" => super::compress::prepare(a),
        "NonZero" => super::non_zero::prepare(a),
        "Shrink" => super::shrink::prepare(a),
        "NegativeLogLikelihoodLoss" => super::nll_loss::prepare(a),
        "SoftmaxCrossEntropyLoss" => super::softmax_cross_entropy::prepare(a),
        "LRN" => super::lrn::prepare(a),
        "GroupNormalization" => super::group_norm::prepare(a),
        "MeanVarianceNormalization" => super::mvn::prepare(a),
        "ReverseSequence" => super::reverse_sequence::prepare(a),
        "Upsample" => super::upsample::prepare(a),
        "Det" => super::det::prepare(a),
        "DynamicQuantizeLinear" => super::dynamic_quantize::prepare(a),
        "MatMulInteger" => super::matmul_integer::prepare(a),
        "QLinearMatMul" => super::qlinear_matmul::prepare(a),
        "ConvInteger" => super::conv_integer::prepare(a),
        "QLinearConv" => super::qlinear_conv::prepare(a),
        "RNN" => super::simple_rnn::prepare(a),
        "LpPool" => super::lp_pool::prepare(a),
        "Einsum" => super::einsum::prepare(a),
        "NonMaxSuppression" => super::nms::prepare(a),
        "CenterCropPad" => super::center_crop_pad::prepare(a),
        "Unique" => super::unique::prepare(a),
        "MaxUnpool" => super::max_unpool::prepare(a),
        "GridSample" => super::grid_sample::prepare(a),
        "AffineGrid" => super::affine_grid::prepare(a),
        "Col2Im" => super::col2im::prepare(a),
        "RoiAlign" => super::roi_align::prepare(a),
        "DFT" => super::dft::prepare(a),
        "STFT" => super::stft::prepare(a),
        "MelWeightMatrix" => super::mel_weight_matrix::prepare(a),
        "DeformConv" => super::deform_conv::prepare(a),
        _ => return None,
    })
}

/// The element type of an ONNX `TensorProto.DataType` code (numbers and bool).
pub fn onnx_dtype(code: i64) -> Result<DType, String> {
    Ok(match code {
        1 => DType::F32,
        2 => DType::U8,
        3 => DType::I8,
        4 => DType::U16,
        5 => DType::I16,
        6 => DType::I32,
        7 => DType::I64,
        9 => DType::Bool,
        10 => DType::F16,
        11 => DType::F64,
        12 => DType::U32,
        13 => DType::U64,
        16 => DType::BF16,
        c => return Err(format!("unsupported dtype code {c}")),
    })
}

/// A kernel from an op's settings and its run function.
pub fn kern<O: Clone + Send + Sync + 'static>(
    op: O,
    f: fn(&O, &mut Inputs, usize) -> Out,
) -> Result<Box<dyn Kernel>, String> {
    k(&op, f).map_err(Option::unwrap_or_default)
}

/// Runs an opaque op of the default domain on inputs (`None`: absent) and returns its outputs.
#[cfg(test)]
pub fn test_run_opt(
    op_type: &str,
    attrs: &[(&str, Attr)],
    inputs: Vec<Option<ptq_ir::Tensor>>,
    n_outputs: usize,
) -> Result<Vec<ptq_ir::Tensor>, String> {
    let o = Opaque {
        op_type: op_type.into(),
        domain: String::new(),
        attrs: attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
    };
    let kernel = prepare(&o).map_err(|e| e.unwrap_or_else(|| format!("{op_type} is not handled")))?;
    let slots = inputs
        .into_iter()
        .map(|t| t.map(|t| crate::inputs::Slot { tensor: std::sync::Arc::new(t), reusable: true }))
        .collect();
    let outs = kernel.run(&mut Inputs::new(slots), n_outputs)?;
    Ok(outs.into_iter().map(|t| t.unwrap_or_else(|| ptq_ir::Tensor::from_f32s(&[]))).collect())
}

/// [`test_run`] for an op of the ai.onnx.ml domain.
#[cfg(test)]
pub fn test_run_ml(
    op_type: &str,
    attrs: &[(&str, Attr)],
    inputs: Vec<ptq_ir::Tensor>,
) -> Result<Vec<ptq_ir::Tensor>, String> {
    let o = Opaque {
        op_type: op_type.into(),
        domain: "ai.onnx.ml".into(),
        attrs: attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
    };
    let kernel = prepare(&o).map_err(|e| e.unwrap_or_else(|| format!("{op_type} is not handled")))?;
    let slots = inputs
        .into_iter()
        .map(|t| Some(crate::inputs::Slot { tensor: std::sync::Arc::new(t), reusable: true }))
        .collect();
    let outs = kernel.run(&mut Inputs::new(slots), 1)?;
    Ok(outs.into_iter().flatten().collect())
}

/// [`test_run_opt`] with every input present and one output.
#[cfg(test)]
pub fn test_run(
    op_type: &str,
    attrs: &[(&str, Attr)],
    inputs: Vec<ptq_ir::Tensor>,
) -> Result<Vec<ptq_ir::Tensor>, String> {
    test_run_opt(op_type, attrs, inputs.into_iter().map(Some).collect(), 1)
}

/// Asserts that `t` is f32 with the given shape and values within 1e-5 (relative).
#[cfg(test)]
pub fn assert_close(t: &ptq_ir::Tensor, shape: &[usize], want: &[f32]) {
    let ptq_ir::Tensor::F32(a) = t else { panic!("expected f32, got {}", t.dtype()) };
    assert_eq!(a.shape(), shape);
    for (i, (&g, &w)) in a.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "element {i}: {g} != {w}");
    }
    assert_eq!(a.len(), want.len());
}

#[cfg(test)]
mod robustness {
    use ptq_ir::{Attr, Tensor};

    use super::test_run_opt;

    const OPS: &[&str] = &[
        "Tan",
        "Acosh",
        "BitwiseAnd",
        "BitwiseNot",
        "BitShift",
        "HannWindow",
        "IsInf",
        "Trilu",
        "EyeLike",
        "ScatterElements",
        "ScatterND",
        "GatherND",
        "OneHot",
        "Compress",
        "NonZero",
        "Shrink",
        "NegativeLogLikelihoodLoss",
        "SoftmaxCrossEntropyLoss",
        "LRN",
        "GroupNormalization",
        "MeanVarianceNormalization",
        "ReverseSequence",
        "Upsample",
        "Det",
        "DynamicQuantizeLinear",
        "MatMulInteger",
        "QLinearMatMul",
        "ConvInteger",
        "QLinearConv",
        "RNN",
        "LpPool",
        "Einsum",
        "NonMaxSuppression",
        "CenterCropPad",
        "Unique",
        "MaxUnpool",
        "GridSample",
        "AffineGrid",
        "Col2Im",
        "RoiAlign",
        "DFT",
        "STFT",
        "MelWeightMatrix",
        "DeformConv",
    ];

    fn pool() -> Vec<Option<Tensor>> {
        let f = |s: &[usize], v: Vec<f32>| Some(Tensor::F32(crate::util::array(s, v).unwrap()));
        vec![
            None,
            f(&[0], vec![]),
            f(&[], vec![-1.5]),
            f(&[1, 2, 4], (0..8).map(|v| v as f32 * 0.7 - 2.0).collect()),
            f(&[1, 1, 3, 3], (0..9).map(|v| v as f32).collect()),
            Some(Tensor::from_i64s(&[2, -9])),
            Some(Tensor::I64(crate::util::array(&[], vec![3]).unwrap())),
            Some(Tensor::U8(crate::util::array(&[1, 1, 2, 2], vec![0, 255, 7, 1]).unwrap())),
            Some(Tensor::Bool(crate::util::array(&[3], vec![true, false, true]).unwrap())),
        ]
    }

    fn attr_sets() -> Vec<Vec<(&'static str, Attr)>> {
        let s = |v: &str| Attr::String(v.as_bytes().to_vec());
        vec![
            vec![],
            vec![
                ("axis", Attr::Int(1)),
                ("size", Attr::Int(3)),
                ("kernel_shape", Attr::Ints(vec![2, 2])),
                ("num_groups", Attr::Int(1)),
                ("hidden_size", Attr::Int(2)),
                ("equation", s("ij,jk->ik")),
                ("direction", s("LEFT")),
                ("reduction", s("add")),
                ("mode", s("max")),
            ],
            vec![
                ("axis", Attr::Int(1 << 40)),
                ("batch_dims", Attr::Int(-3)),
                ("size", Attr::Int(1 << 40)),
                ("kernel_shape", Attr::Ints(vec![1 << 40, -1])),
                ("pads", Attr::Ints(vec![-1, 1 << 40, 0, 0])),
                ("strides", Attr::Ints(vec![0, 1])),
                ("dilations", Attr::Ints(vec![1 << 40, 1])),
                ("num_groups", Attr::Int(-1)),
                ("hidden_size", Attr::Int(1 << 40)),
                ("output_height", Attr::Int(1 << 40)),
                ("output_width", Attr::Int(1 << 40)),
                ("group", Attr::Int(0)),
                ("offset_group", Attr::Int(1 << 40)),
                ("k", Attr::Int(i64::MAX)),
                ("equation", s("...ii,...->...")),
                ("dtype", Attr::Int(99)),
                ("p", Attr::Int(0)),
                ("sampling_ratio", Attr::Int(1 << 40)),
                ("ignore_index", Attr::Int(i64::MIN)),
            ],
        ]
    }

    /// Every op returns a result, never panics, on small malformed inputs
    /// (any mix of dtypes, ranks, empty and absent inputs, hostile attributes).
    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        let pool = pool();
        let n = pool.len();
        for op in OPS {
            for attrs in attr_sets() {
                for len in 0..=3usize {
                    for code in 0..n.pow(len as u32) {
                        let ins: Vec<Option<Tensor>> =
                            (0..len).map(|i| pool[(code / n.pow(i as u32)) % n].clone()).collect();
                        let r = std::panic::catch_unwind(|| test_run_opt(op, &attrs, ins.clone(), 4));
                        assert!(r.is_ok(), "{op} panicked on {ins:?} with {attrs:?}");
                    }
                }
            }
        }
    }
}

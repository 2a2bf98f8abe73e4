//! An imported ONNX model: the IR graph plus what export needs to write it back.

use ptq_ir::Graph;

/// Model-level fields of the source `ModelProto` that the IR does not hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelInfo {
    pub ir_version: i64,
    /// `(domain, version)` pairs in file order; `""` is the default domain.
    pub opset_import: Vec<(String, i64)>,
    pub producer_name: String,
    pub producer_version: String,
    pub domain: String,
    pub model_version: i64,
    pub doc_string: String,
    /// Model-local functions, serialized `FunctionProto`s.
    pub functions: Vec<Vec<u8>>,
    /// Serialized `TrainingInfoProto`s.
    pub training_info: Vec<Vec<u8>>,
    /// Serialized `TensorAnnotation`s of the main graph.
    pub quantization_annotation: Vec<Vec<u8>>,
    /// Whether any tensor was stored as external data.
    pub had_external_data: bool,
}

impl ModelInfo {
    /// The default-domain opset.
    pub fn opset(&self) -> i64 {
        self.opset_import.iter().filter(|(d, _)| d.is_empty() || d == "ai.onnx").map(|(_, v)| *v).max().unwrap_or(0)
    }
}

/// An ONNX model lowered to the IR.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OnnxModel {
    pub graph: Graph,
    pub info: ModelInfo,
    /// What the importer tolerated, one line each, naming the file and the
    /// value: declared shapes that inference overruled, negative dims read
    /// as unknown, conflicting duplicate value_info, inconsistent opset
    /// imports. Empty for a well-formed file.
    pub warnings: Vec<String>,
}

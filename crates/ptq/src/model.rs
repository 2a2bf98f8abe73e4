//! A loaded model in any format.
//!
//! Each format needs its frontend's cargo feature (`onnx`, `openvino`, `tf`);
//! loading or saving a format this build lacks is an error naming the
//! feature. Without any frontend no `Model` can exist, and the code past a
//! match on its source is unreachable.
#![cfg_attr(
    not(any(feature = "onnx", feature = "openvino", feature = "tf")),
    allow(unreachable_code, unused_variables)
)]

use std::path::{Path, PathBuf};

use ptq_ir::Graph;

use crate::error::Error;
use crate::format::Format;

/// Format-specific data kept for writing a model back in its own format.
#[derive(Clone, Debug)]
enum Source {
    #[cfg(feature = "onnx")]
    Onnx(ptq_onnx::ModelInfo),
    #[cfg(feature = "openvino")]
    OpenVino(ptq_openvino::IrInfo),
    #[cfg(feature = "tf")]
    Tf(ptq_tf::TfInfo),
}

/// A model: its IR graph plus what its frontend needs to write it back.
#[derive(Clone, Debug)]
pub struct Model {
    graph: Graph,
    source: Source,
    loaded_from: Option<PathBuf>,
    /// How the model was quantized (`key`, `value`), written where the
    /// format has room for it (OpenVINO rt_info `<ptq><quantization>`).
    quantization: Vec<(String, String)>,
    /// What the frontend tolerated while reading the file (see [`Model::warnings`]).
    warnings: Vec<String>,
}

/// How to read a model beyond its path: which part of a TensorFlow model
/// is the model. Other formats take none of these.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// A SavedModel's signature (default `serving_default`, or its only one).
    pub signature: Option<String>,
    /// A frozen GraphDef's input tensors (`x:0`; default: its Placeholders).
    pub inputs: Vec<String>,
    /// A frozen GraphDef's output tensors (default: the nodes nothing reads).
    pub outputs: Vec<String>,
}

/// Loads a model, choosing the frontend from the file name (an error when
/// this build does not have that frontend).
pub fn load(path: impl AsRef<Path>) -> Result<Model, Error> {
    load_with(path, &LoadOptions::default())
}

/// [`load`] with [`LoadOptions`]; giving any to a format that takes none
/// is an error.
pub fn load_with(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Model, Error> {
    let path = path.as_ref();
    let format = Format::from_path(path)?;
    if format != Format::TensorFlow && *options != LoadOptions::default() {
        return Err(Error::BadOption {
            path: path.to_path_buf(),
            msg: "a signature, inputs or outputs can only be chosen for a TensorFlow model".into(),
        });
    }
    match format {
        #[cfg(feature = "onnx")]
        Format::Onnx => {
            let m = ptq_onnx::load(path)?;
            Ok(Model {
                graph: m.graph,
                source: Source::Onnx(m.info),
                loaded_from: std::fs::canonicalize(path).ok(),
                quantization: vec![],
                warnings: m.warnings,
            })
        }
        #[cfg(feature = "openvino")]
        Format::OpenVino => {
            let m = ptq_openvino::load(path)?;
            let loaded_from = std::fs::canonicalize(path).ok();
            Ok(Model {
                graph: m.graph,
                source: Source::OpenVino(m.info),
                loaded_from,
                quantization: vec![],
                warnings: vec![],
            })
        }
        #[cfg(feature = "tf")]
        Format::TensorFlow => {
            let o = ptq_tf::LoadOptions {
                signature: options.signature.clone(),
                inputs: options.inputs.clone(),
                outputs: options.outputs.clone(),
            };
            let m = ptq_tf::load(path, &o)?;
            Ok(Model {
                graph: m.graph,
                source: Source::Tf(m.info),
                loaded_from: std::fs::canonicalize(path).ok(),
                quantization: vec![],
                warnings: vec![],
            })
        }
        #[allow(unreachable_patterns)]
        f => Err(f.not_built(path)),
    }
}

/// Loads an ONNX model from its bytes; `label` names it in errors and
/// warnings. External data, which bytes cannot carry, is an error.
#[cfg(feature = "onnx")]
pub fn load_onnx_bytes(bytes: &[u8], label: &str) -> Result<Model, Error> {
    let m = ptq_onnx::import_bytes(bytes, label, None)?;
    Ok(Model {
        graph: m.graph,
        source: Source::Onnx(m.info),
        loaded_from: None,
        quantization: vec![],
        warnings: m.warnings,
    })
}

impl Model {
    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The graph, for editing (through [`ptq_ir::Patch`]).
    pub fn graph_mut(&mut self) -> &mut Graph {
        &mut self.graph
    }

    /// The same model with a quantized graph: written in the input's format,
    /// at the first version that has per-channel quantization (ONNX opset 13)
    /// when the input is older. Like its source, it refuses to be saved over
    /// the file the source was loaded from.
    pub(crate) fn quantized(&self, graph: Graph, quantization: Vec<(String, String)>) -> Model {
        let source = match self.source {
            #[cfg(feature = "onnx")]
            Source::Onnx(ref info) => {
                let mut info = info.clone();
                for (domain, version) in &mut info.opset_import {
                    if domain.is_empty() || domain == "ai.onnx" {
                        *version = (*version).max(13);
                    }
                }
                Source::Onnx(info)
            }
            #[cfg(feature = "openvino")]
            Source::OpenVino(ref info) => Source::OpenVino(info.clone()),
            #[cfg(feature = "tf")]
            Source::Tf(ref info) => Source::Tf(info.clone()),
        };
        Model { graph, source, loaded_from: self.loaded_from.clone(), quantization, warnings: vec![] }
    }

    /// What the frontend tolerated while reading the file, one line each
    /// naming the file and the value (a declared shape that inference
    /// overruled, a `-1` dim read as unknown, ...). Empty for a well-formed
    /// file; the CLI prints each as a warning.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// IR export options: the quantization settings as model rt_info.
    #[cfg(feature = "openvino")]
    fn ir_options(&self) -> ptq_openvino::ExportOptions {
        use ptq_openvino::export::RtNode;
        if self.quantization.is_empty() {
            return ptq_openvino::ExportOptions::default();
        }
        let q = self.quantization.iter().map(|(k, v)| RtNode::value(k, v.clone())).collect();
        let ptq = RtNode::group(
            "ptq",
            vec![RtNode::value("version", env!("CARGO_PKG_VERSION")), RtNode::group("quantization", q)],
        );
        ptq_openvino::ExportOptions { rt_info: vec![ptq] }
    }

    /// How the model was quantized, as (`key`, `value`) pairs; empty for a
    /// model that was loaded, not quantized.
    pub fn quantization(&self) -> &[(String, String)] {
        &self.quantization
    }

    /// The format the model was read from.
    pub fn format(&self) -> Format {
        match self.source {
            #[cfg(feature = "onnx")]
            Source::Onnx(_) => Format::Onnx,
            #[cfg(feature = "openvino")]
            Source::OpenVino(_) => Format::OpenVino,
            #[cfg(feature = "tf")]
            Source::Tf(_) => Format::TensorFlow,
        }
    }

    /// A one-line description of the source: format, opset, producer.
    pub fn describe_source(&self) -> String {
        match self.source {
            #[cfg(feature = "onnx")]
            Source::Onnx(ref i) => {
                let producer = if i.producer_name.is_empty() {
                    String::new()
                } else {
                    format!(", producer {} {}", i.producer_name, i.producer_version)
                };
                format!("ONNX, IR version {}, opset {}{}", i.ir_version, i.opset(), producer.trim_end())
            }
            #[cfg(feature = "openvino")]
            Source::OpenVino(ref i) => format!("OpenVINO IR v{}, model {}", i.version, i.name),
            #[cfg(feature = "tf")]
            Source::Tf(ref i) => match &i.kind {
                ptq_tf::TfKind::SavedModel { signature } => format!("TensorFlow SavedModel, signature {signature}"),
                ptq_tf::TfKind::GraphDef => "TensorFlow frozen GraphDef".to_string(),
            },
        }
    }

    /// The model as ONNX bytes (every tensor inline), whatever format it
    /// came from, as [`Model::save`] writes an `.onnx` file.
    #[cfg(feature = "onnx")]
    pub fn to_onnx_bytes(&self) -> Result<Vec<u8>, Error> {
        Ok(ptq_onnx::to_bytes(&self.graph, &self.onnx_info(), &self.describe_label())?)
    }

    /// The ONNX header to write: the source's, or for another format the
    /// newest opset the exporter knows.
    #[cfg(feature = "onnx")]
    fn onnx_info(&self) -> ptq_onnx::ModelInfo {
        match &self.source {
            Source::Onnx(info) => info.clone(),
            #[allow(unreachable_patterns)]
            _ => ptq_onnx::ModelInfo {
                ir_version: 10,
                opset_import: vec![(String::new(), 21)],
                producer_name: "ptq".into(),
                ..ptq_onnx::ModelInfo::default()
            },
        }
    }

    /// The file the model was loaded from, or `<memory>`, for errors.
    #[cfg(feature = "onnx")]
    fn describe_label(&self) -> String {
        self.loaded_from.as_ref().map_or_else(|| "<memory>".to_string(), |p| p.display().to_string())
    }

    /// Writes the model to `path` in the format its extension names
    /// (a path without one is a TensorFlow SavedModel directory),
    /// atomically. Refuses to write over the model it was loaded from.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let target = Format::for_output(path)?;
        if let (Some(src), Ok(dst)) = (&self.loaded_from, std::fs::canonicalize(path))
            && *src == dst
        {
            return Err(Error::WouldOverwriteInput { path: path.to_path_buf() });
        }
        match target {
            #[cfg(feature = "onnx")]
            Format::Onnx => {
                Ok(ptq_onnx::save_with(&self.graph, &self.onnx_info(), path, &ptq_onnx::ExportOptions::default())?)
            }
            #[cfg(feature = "openvino")]
            Format::OpenVino => {
                let info = match &self.source {
                    Source::OpenVino(info) => info.clone(),
                    #[allow(unreachable_patterns)]
                    _ => {
                        ptq_openvino::IrInfo { name: self.graph.name().to_string(), version: 11, ..Default::default() }
                    }
                };
                Ok(ptq_openvino::save(&self.graph, &info, path, &self.ir_options())?)
            }
            #[cfg(feature = "tf")]
            Format::TensorFlow => {
                let info = match &self.source {
                    Source::Tf(info) => Some(info),
                    #[allow(unreachable_patterns)]
                    _ => None,
                };
                Ok(ptq_tf::save(&self.graph, info, path)?)
            }
            #[allow(unreachable_patterns)]
            f => Err(f.not_built(path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Meaningful in the builds without a frontend, which `.ci/run` makes.
    #[test]
    fn a_format_this_build_lacks_is_an_error_naming_its_feature() {
        for (file, format, built) in [
            ("m.onnx", Format::Onnx, cfg!(feature = "onnx")),
            ("m.xml", Format::OpenVino, cfg!(feature = "openvino")),
            ("m.pb", Format::TensorFlow, cfg!(feature = "tf")),
        ] {
            if built {
                continue;
            }
            let e = load(file).unwrap_err();
            assert!(matches!(&e, Error::FormatNotBuilt { feature, .. } if *feature == format.feature()), "{e}");
            assert!(e.to_string().contains(format.feature()), "{e}");
        }
    }
}

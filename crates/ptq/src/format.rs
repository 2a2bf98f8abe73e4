//! Model formats, chosen from file names.

use std::path::Path;

use crate::error::Error;

/// A model format the build supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// ONNX `ModelProto` (`.onnx`).
    Onnx,
    /// OpenVINO IR (`.xml` with its `.bin`).
    OpenVino,
    /// TensorFlow: a SavedModel directory (with `saved_model.pb`), or a
    /// frozen GraphDef (`.pb`).
    TensorFlow,
}

const KNOWN: &str = ".onnx, .xml (OpenVINO IR), a SavedModel directory or .pb (TensorFlow)";

impl Format {
    /// The format a path's extension names.
    pub fn from_path(path: &Path) -> Result<Format, Error> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("onnx") => Ok(Format::Onnx),
            Some("xml") => Ok(Format::OpenVino),
            Some("pb") => Ok(Format::TensorFlow),
            _ if path.join("saved_model.pb").is_file() => Ok(Format::TensorFlow),
            _ => Err(Error::UnknownFormat { path: path.to_path_buf(), known: KNOWN }),
        }
    }

    /// The format to write `path` in: the one its extension names; a path
    /// without an extension (or an existing SavedModel directory) is a
    /// TensorFlow SavedModel directory.
    pub fn for_output(path: &Path) -> Result<Format, Error> {
        match Format::from_path(path) {
            Err(_) if path.extension().is_none() || path.is_dir() => Ok(Format::TensorFlow),
            r => r,
        }
    }

    /// The cargo feature that builds this format's frontend.
    pub fn feature(self) -> &'static str {
        match self {
            Format::Onnx => "onnx",
            Format::OpenVino => "openvino",
            Format::TensorFlow => "tf",
        }
    }

    /// An error for `path` when this build lacks the format's frontend.
    pub(crate) fn not_built(self, path: &Path) -> Error {
        Error::FormatNotBuilt { path: path.to_path_buf(), format: self.name(), feature: self.feature() }
    }

    /// A short display name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Onnx => "ONNX",
            Format::OpenVino => "OpenVINO IR",
            Format::TensorFlow => "TensorFlow",
        }
    }
}

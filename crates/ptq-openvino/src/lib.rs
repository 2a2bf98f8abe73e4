//! OpenVINO IR (`.xml` + `.bin`, IR versions 10 and 11) for ptq.
//!
//! [`doc`] parses the XML into layers, ports and edges without
//! interpreting them; [`bin`] reads weight ranges from the `.bin` with
//! every offset and size checked against the file; [`element`] maps IR
//! element types to ptq-ir dtypes; [`export`] writes a graph back as IR v11
//! with quantizers as FakeQuantize and int8 weights. A malformed or hostile file is a typed
//! [`OpenVinoError`] naming the file and the layer, never a panic.
//!
//! [`import`] takes each value's facts from its port's precision and dims.
//! Layers become IR ops where the IR has them, or are written out in IR
//! ops where it does not (MVN and NormalizeL2 in primitive ops,
//! ScaledDotProductAttention with its two MatMuls visible to quantizer
//! placement, StridedSlice as Slice, Squeeze and Unsqueeze); other layers
//! become `Opaque` nodes, which export writes back unchanged when their
//! version is an `opsetN` or `extension` one. Export refuses any other IR
//! op it has no layer or decomposition for, control flow included.

#![forbid(unsafe_code)]

pub mod bin;
pub mod doc;
pub mod element;
mod error;
pub mod export;
pub mod import;
mod ops;

pub use error::OpenVinoError;
pub use export::{ExportOptions, IrFiles, save, to_ir};
pub use import::{IrInfo, IrModel, import_bytes, load};

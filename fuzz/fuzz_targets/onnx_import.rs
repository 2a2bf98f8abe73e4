//! Any bytes through the ONNX importer: an `OnnxError` or a model, never a
//! panic, a runaway allocation or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ptq_onnx::import_bytes(data, "fuzz.onnx", None);
});

//! Any bytes as an `.npz` archive: named tensors or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ptq::npz::read_bytes(data, "fuzz.npz");
});

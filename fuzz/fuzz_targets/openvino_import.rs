//! An OpenVINO IR from one input: the first 4 bytes (little endian) are the
//! XML's length, the XML follows, the rest is the `.bin`. Imported from
//! memory with `ptq_openvino::import_bytes`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<4>() else { return };
    let n = (u32::from_le_bytes(*head) as usize).min(rest.len());
    let (xml, bin) = rest.split_at(n);
    let _ = ptq_openvino::import_bytes(xml, bin, "fuzz.xml");
});

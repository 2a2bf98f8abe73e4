//! Deterministic test data shared by the benchmarks and the timing example.

#![allow(dead_code)] // each includer uses a part

/// A xorshift32 stream seeded by `seed`.
fn stream(seed: u32) -> impl Iterator<Item = u32> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    std::iter::repeat_with(move || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        s
    })
}

/// `len` bytes from the stream seeded by `seed`.
pub fn bytes(len: usize, seed: u32) -> Vec<u8> {
    stream(seed).take(len).map(|s| (s >> 24) as u8).collect()
}

/// `len` floats in [-1, 1) from the stream seeded by `seed`.
pub fn floats(len: usize, seed: u32) -> Vec<f32> {
    stream(seed).take(len).map(|s| (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0).collect()
}

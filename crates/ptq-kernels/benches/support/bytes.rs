//! Deterministic test bytes shared by the int8 benchmark and timing example.

/// `len` bytes from a xorshift32 stream seeded by `seed`.
pub fn bytes(len: usize, seed: u32) -> Vec<u8> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 24) as u8
        })
        .collect()
}

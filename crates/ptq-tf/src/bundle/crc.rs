//! TensorFlow's masked CRC-32C (`crc32c::Mask` in tensorflow/core/lib/hash):
//! checksums stored in files are rotated right by 15 bits and offset by a
//! constant, so a checksum of bytes that embed checksums stays meaningful.

const MASK_DELTA: u32 = 0xa282_ead8;

/// The stored form of `crc`.
#[cfg(test)]
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// The checksum whose stored form is `masked`.
pub fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TensorFlow's formula is written out as its source has it.
    #[test]
    #[allow(clippy::manual_rotate)]
    fn mask_matches_tensorflows_formula_and_inverts() {
        for crc in [0u32, 1, 0x8000_0000, 0xDEAD_BEEF, u32::MAX] {
            assert_eq!(mask(crc), ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8));
            assert_eq!(unmask(mask(crc)), crc);
        }
        // CRC-32C("123456789") is 0xE3069283.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }
}

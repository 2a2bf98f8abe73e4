//! Protobuf-style base-128 varints, as TensorFlow's `core::GetVarint64`
//! reads them.

/// The value of the varint at the start of `b` and the number of bytes it
/// takes, or `None` when `b` ends inside it or it runs past ten bytes or 64
/// bits.
pub fn decode(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7F);
        // The tenth byte may only carry the 64th bit.
        if i == 9 && bits > 1 {
            return None;
        }
        v |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Appends `v` as a varint.
#[cfg(test)]
pub fn encode(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_malformed() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), 1 << 60, u64::MAX] {
            let mut b = Vec::new();
            encode(v, &mut b);
            assert_eq!(decode(&b), Some((v, b.len())), "{v}");
            assert_eq!(decode(&b[..b.len() - 1]), None);
        }
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[0xFF; 10]), None);
        assert_eq!(decode(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]), None);
        assert_eq!(decode(&[0x80; 11]), None);
    }
}

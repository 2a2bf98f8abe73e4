//! DT_STRING tensors in a checkpoint's data file (`WriteStringTensor` in
//! tensorflow/core/util/tensor_bundle/tensor_bundle.cc): the length of every
//! element as a varint64, the masked CRC-32C of those lengths (4 bytes,
//! little-endian), then the bytes of every element.
//!
//! The lengths' checksum, and the entry's checksum over everything, take
//! each length as a little-endian u32 (a u64 above `u32::MAX`), not as its
//! varint bytes; the entry's checksum then covers the 4 stored checksum
//! bytes and the element bytes.

use super::crc;
use crate::varint;

/// The `numel` elements in `bytes` (one entry's bytes, exactly) and the
/// checksum of them as TensorFlow computes it (unmasked), to compare with
/// the entry's. The lengths' own checksum is verified here; elements that
/// do not end exactly at the end of `bytes` are an error.
pub fn decode(bytes: &[u8], numel: usize) -> Result<(Vec<Vec<u8>>, u32), String> {
    // Every length takes at least a byte, and the checksum four.
    if numel.checked_add(4).is_none_or(|n| n > bytes.len()) {
        return Err(format!("{} bytes cannot hold {numel} string lengths and their checksum", bytes.len()));
    }
    let mut crc = 0u32;
    let mut lens = Vec::with_capacity(numel);
    let mut at = 0;
    for i in 0..numel {
        let (len, n) = varint::decode(&bytes[at..]).ok_or_else(|| format!("bad length of string element {i}"))?;
        at += n;
        crc = match u32::try_from(len) {
            Ok(l) => crc32c::crc32c_append(crc, &l.to_le_bytes()),
            Err(_) => crc32c::crc32c_append(crc, &len.to_le_bytes()),
        };
        lens.push(len);
    }
    let stored = bytes.get(at..at + 4).ok_or("the string lengths run into the end of the entry")?;
    let stored: [u8; 4] = stored.try_into().map_err(|_| "length checksum")?;
    if crc::unmask(u32::from_le_bytes(stored)) != crc {
        return Err(format!(
            "the string lengths' checksum does not match: stored {:#010x}, computed {crc:#010x}",
            crc::unmask(u32::from_le_bytes(stored))
        ));
    }
    crc = crc32c::crc32c_append(crc, &stored);
    let mut rest = &bytes[at + 4..];
    let total = lens.iter().try_fold(0u64, |a, &l| a.checked_add(l));
    if total != Some(rest.len() as u64) {
        return Err(format!("the string lengths do not add up to the {} bytes after them", rest.len()));
    }
    let mut out = Vec::with_capacity(numel);
    for len in lens {
        // The lengths add up to rest's length, so each fits.
        let (s, tail) = rest.split_at(len as usize);
        crc = crc32c::crc32c_append(crc, s);
        out.push(s.to_vec());
        rest = tail;
    }
    Ok((out, crc))
}

/// The data-file bytes of `elements` and the entry's masked checksum, as
/// TensorFlow's writer produces them.
#[cfg(test)]
pub fn encode(elements: &[&[u8]]) -> (Vec<u8>, u32) {
    let mut out = Vec::new();
    let mut crc = 0u32;
    for e in elements {
        varint::encode(e.len() as u64, &mut out);
        crc = crc32c::crc32c_append(crc, &(e.len() as u32).to_le_bytes());
    }
    let stored = crc::mask(crc).to_le_bytes();
    out.extend_from_slice(&stored);
    crc = crc32c::crc32c_append(crc, &stored);
    for e in elements {
        out.extend_from_slice(e);
        crc = crc32c::crc32c_append(crc, e);
    }
    (out, crc::mask(crc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let (bytes, masked) = encode(&[b"ab", b"", b"\xFFxyz"]);
        let (v, crc) = decode(&bytes, 3).unwrap();
        assert_eq!(v, vec![b"ab".to_vec(), vec![], b"\xFFxyz".to_vec()]);
        assert_eq!(crc::mask(crc), masked);
        assert!(decode(&bytes, 4).is_err());
        assert!(decode(&bytes[..bytes.len() - 1], 3).unwrap_err().contains("add up"));
        let mut bad = bytes.clone();
        bad[0] = 3;
        assert!(decode(&bad, 3).unwrap_err().contains("checksum"));
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_ne!(decode(&bad, 3).unwrap().1, crc);
        assert!(decode(&[0x80; 8], 4).is_err());
        assert!(decode(&[], 0).is_err());
        assert!(decode(&bytes, usize::MAX).is_err());
    }
}

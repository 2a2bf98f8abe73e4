//! The sorted string table a checkpoint's `.index` file is (TensorFlow's
//! `tensorflow/core/lib/io` table format, LevelDB's format without filters).
//!
//! Layout: data blocks, a metaindex block (unused), an index block, then a
//! 48-byte footer: two block handles (varint64 offset and size each) padded
//! to 40 bytes, then the magic number as a little-endian u64. Every block is
//! followed by a 5-byte trailer: the compression type (0 none, 1 snappy) and
//! the masked CRC-32C of the block's stored bytes and that type byte. A
//! block's entries are prefix-compressed (varint32 shared key length,
//! unshared key length and value length, then the unshared key bytes and the
//! value), followed by the restart offsets (fixed32 each) and their count
//! (fixed32). The index block maps a key at or above the last key of each
//! data block to that block's handle.

use std::borrow::Cow;

use super::crc;
use crate::varint;

/// The table magic number, at the end of the file.
pub const MAGIC: u64 = 0xdb47_7524_8b80_fb57;
/// Bytes of the footer.
pub const FOOTER_LEN: usize = 48;
/// Bytes after every block: the compression type and the masked CRC-32C.
pub const TRAILER_LEN: usize = 5;

/// One key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The work and memory a table may cost: the bytes of all blocks read (each
/// is checksummed), of all decompressed blocks, and of all keys and values,
/// at most the input's size times this, plus [`BUDGET_SLACK`]. TensorFlow's
/// writer needs a few times the size (blocks that do not overlap, short
/// shared key prefixes); a hostile file asking more (overlapping blocks,
/// long shared prefixes repeated, snappy bombs) is refused before the bytes
/// are allocated.
const BUDGET_FACTOR: usize = 64;
const BUDGET_SLACK: usize = 1 << 20;

/// What is left of the budget.
struct Budget(usize);

impl Budget {
    fn take(&mut self, n: usize) -> Result<(), String> {
        self.0 = self.0.checked_sub(n).ok_or("the table needs more memory or work than its size warrants")?;
        Ok(())
    }
}

/// Every entry of the table in `file`, in key order. Any malformation is an
/// error (a message without the file name): a short file, a bad magic
/// number, a block handle outside the file, a block checksum mismatch, an
/// unknown compression type, a malformed entry, keys not strictly
/// increasing. Memory use is bounded by a multiple of `file.len()`.
pub fn read(file: &[u8]) -> Result<Vec<Entry>, String> {
    let Some(footer_at) = file.len().checked_sub(FOOTER_LEN) else {
        return Err(format!("{} bytes is too short for a table (the footer alone is {FOOTER_LEN})", file.len()));
    };
    let footer = &file[footer_at..];
    let magic = u64::from_le_bytes(footer[40..].try_into().map_err(|_| "footer")?);
    if magic != MAGIC {
        return Err(format!("not a table: bad magic number {magic:#018x}"));
    }
    let handles = &footer[..40];
    let (_metaindex, n) = handle(handles).ok_or("bad metaindex block handle in the footer")?;
    let (index, _) = handle(&handles[n..]).ok_or("bad index block handle in the footer")?;
    let mut budget = Budget(BUDGET_FACTOR.saturating_mul(file.len()).saturating_add(BUDGET_SLACK));
    let index_block = block(file, index, &mut budget).map_err(|e| format!("index block: {e}"))?;
    let mut out: Vec<Entry> = Vec::new();
    for (i, (_, h)) in entries(&index_block, &mut budget).map_err(|e| format!("index block: {e}"))?.iter().enumerate() {
        let (h, _) = handle(h).ok_or_else(|| format!("index entry {i}: bad block handle"))?;
        let data = block(file, h, &mut budget).map_err(|e| format!("data block {i}: {e}"))?;
        for (key, value) in entries(&data, &mut budget).map_err(|e| format!("data block {i}: {e}"))? {
            if out.last().is_some_and(|(last, _)| *last >= key) {
                return Err(format!("data block {i}: keys are not in increasing order at {:?}", lossy(&key)));
            }
            out.push((key, value));
        }
    }
    Ok(out)
}

/// A key for an error message.
pub fn lossy(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

/// A block handle (offset, size) at the start of `b`, and its length.
fn handle(b: &[u8]) -> Option<((u64, u64), usize)> {
    let (offset, n) = varint::decode(b)?;
    let (size, m) = varint::decode(&b[n..])?;
    Some(((offset, size), n + m))
}

/// The contents of the block at `(offset, size)`: checked against the file's
/// length and its checksum, decompressed if need be.
fn block<'a>(file: &'a [u8], (offset, size): (u64, u64), budget: &mut Budget) -> Result<Cow<'a, [u8]>, String> {
    let end = offset.checked_add(size).and_then(|e| e.checked_add(TRAILER_LEN as u64));
    let Some(end) = end.and_then(|e| usize::try_from(e).ok()).filter(|&e| e <= file.len()) else {
        return Err(format!("{size} bytes at offset {offset} lie outside the file's {} bytes", file.len()));
    };
    let start = end - TRAILER_LEN - size as usize;
    budget.take(end - start)?;
    let stored = &file[start..end - 4];
    let masked = u32::from_le_bytes(file[end - 4..end].try_into().map_err(|_| "trailer")?);
    let actual = crc32c::crc32c(stored);
    if crc::unmask(masked) != actual {
        return Err(format!("checksum mismatch: stored {:#010x}, computed {actual:#010x}", crc::unmask(masked)));
    }
    let (contents, kind) = stored.split_at(stored.len() - 1);
    match kind[0] {
        0 => Ok(Cow::Borrowed(contents)),
        1 => {
            let len = snap::raw::decompress_len(contents).map_err(|e| format!("bad snappy block: {e}"))?;
            // Snappy expands at most ~22x (a 3-byte copy emits 64 bytes).
            if len > contents.len().saturating_mul(32).saturating_add(32) {
                return Err(format!("snappy block of {} bytes claims {len} bytes", contents.len()));
            }
            budget.take(len)?;
            let v = snap::raw::Decoder::new().decompress_vec(contents).map_err(|e| format!("bad snappy block: {e}"))?;
            Ok(Cow::Owned(v))
        }
        t => Err(format!("unknown compression type {t}")),
    }
}

/// A varint32 at `b[*at..]`, advancing `at`.
fn varint32(b: &[u8], at: &mut usize) -> Option<usize> {
    let (v, n) = varint::decode(b.get(*at..)?)?;
    *at += n;
    u32::try_from(v).ok().map(|v| v as usize)
}

fn fixed32(b: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?) as usize)
}

/// The entries of one block's contents, keys rebuilt from their shared
/// prefixes; the bytes of all keys and values are taken from `budget`.
fn entries(b: &[u8], budget: &mut Budget) -> Result<Vec<Entry>, String> {
    let num_restarts = b.len().checked_sub(4).and_then(|at| fixed32(b, at)).ok_or("block shorter than 4 bytes")?;
    if num_restarts > (b.len() - 4) / 4 {
        return Err(format!("{num_restarts} restart points do not fit in a {}-byte block", b.len()));
    }
    let limit = b.len() - 4 * (num_restarts + 1);
    let mut out: Vec<Entry> = Vec::new();
    if num_restarts == 0 {
        return Ok(out);
    }
    let mut at = 0;
    while at < limit {
        let bad = || format!("bad entry at offset {at}");
        let head = &b[..limit];
        let mut p = at;
        let shared = varint32(head, &mut p).ok_or_else(bad)?;
        let unshared = varint32(head, &mut p).ok_or_else(bad)?;
        let value_len = varint32(head, &mut p).ok_or_else(bad)?;
        let key_end = p.checked_add(unshared).filter(|&e| e <= limit).ok_or_else(bad)?;
        let value_end = key_end.checked_add(value_len).filter(|&e| e <= limit).ok_or_else(bad)?;
        let prev = out.last().map_or(&[][..], |(k, _)| &k[..]);
        if shared > prev.len() {
            return Err(format!("entry at offset {at} shares {shared} bytes of a {}-byte key", prev.len()));
        }
        let key_len = shared + unshared;
        budget.take(key_len + value_len)?;
        let mut key = Vec::with_capacity(key_len);
        key.extend_from_slice(&prev[..shared]);
        key.extend_from_slice(&b[p..key_end]);
        out.push((key, b[key_end..value_end].to_vec()));
        at = value_end;
    }
    Ok(out)
}

/// The (start, length) of every block's contents in a well-formed table:
/// the metaindex, index and data blocks.
#[cfg(test)]
pub fn blocks(file: &[u8]) -> Vec<(usize, usize)> {
    let handles = &file[file.len() - FOOTER_LEN..];
    let (meta, n) = handle(handles).unwrap();
    let (index, _) = handle(&handles[n..]).unwrap();
    let mut budget = Budget(usize::MAX);
    let index_block = block(file, index, &mut budget).unwrap();
    let data = entries(&index_block, &mut budget).unwrap().into_iter().map(|(_, h)| handle(&h).unwrap().0);
    [meta, index].into_iter().chain(data).map(|(o, s)| (o as usize, s as usize)).collect()
}

//! A minimal writer of tables and bundles for the reader's tests, following
//! TensorFlow's `TableBuilder` and `BundleWriter`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::Message;
use ptq_ir::Tensor;

use super::table::{FOOTER_LEN, MAGIC};
use super::{crc, strings, suffixed};
use crate::{pb, tensor, varint};

/// A block of `entries` with a restart point every `restart` entries.
fn block(entries: &[(Vec<u8>, Vec<u8>)], restart: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut restarts = Vec::new();
    let mut prev: &[u8] = &[];
    for (i, (k, v)) in entries.iter().enumerate() {
        let shared = if i % restart == 0 {
            restarts.push(out.len() as u32);
            0
        } else {
            prev.iter().zip(k).take_while(|(a, b)| a == b).count()
        };
        varint::encode(shared as u64, &mut out);
        varint::encode((k.len() - shared) as u64, &mut out);
        varint::encode(v.len() as u64, &mut out);
        out.extend_from_slice(&k[shared..]);
        out.extend_from_slice(v);
        prev = k;
    }
    if restarts.is_empty() {
        restarts.push(0);
    }
    for r in &restarts {
        out.extend_from_slice(&r.to_le_bytes());
    }
    out.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
    out
}

/// Appends a block with its trailer (snappy-compressed when `snappy`) and
/// returns its handle's encoding.
fn put_block(file: &mut Vec<u8>, contents: &[u8], snappy: bool) -> Vec<u8> {
    let stored = if snappy { snap::raw::Encoder::new().compress_vec(contents).unwrap() } else { contents.to_vec() };
    let mut handle = Vec::new();
    varint::encode(file.len() as u64, &mut handle);
    varint::encode(stored.len() as u64, &mut handle);
    file.extend_from_slice(&stored);
    file.push(u8::from(snappy));
    let c = crc32c::crc32c_append(crc32c::crc32c(&stored), &[u8::from(snappy)]);
    file.extend_from_slice(&crc::mask(c).to_le_bytes());
    handle
}

/// A table of `entries` (sorted), `per_block` entries per data block, a
/// restart point every 3 entries.
pub fn table(entries: &[(Vec<u8>, Vec<u8>)], per_block: usize, snappy: bool) -> Vec<u8> {
    table_with_restarts(entries, per_block, snappy, 3)
}

/// [`table`] with a restart point every `restart` entries.
pub fn table_with_restarts(entries: &[(Vec<u8>, Vec<u8>)], per_block: usize, snappy: bool, restart: usize) -> Vec<u8> {
    let mut file = Vec::new();
    let mut index = Vec::new();
    for chunk in entries.chunks(per_block.max(1)) {
        let handle = put_block(&mut file, &block(chunk, restart), snappy);
        index.push((chunk[chunk.len() - 1].0.clone(), handle));
    }
    let meta = put_block(&mut file, &block(&[], 1), false);
    let index = put_block(&mut file, &block(&index, 1), snappy);
    let mut footer = [meta, index].concat();
    footer.resize(FOOTER_LEN - 8, 0);
    footer.extend_from_slice(&MAGIC.to_le_bytes());
    file.extend_from_slice(&footer);
    file
}

/// A bundle being built: a header, entries and one shard's bytes.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub header: pb::BundleHeaderProto,
    pub entries: BTreeMap<String, pb::BundleEntryProto>,
    pub data: Vec<u8>,
}

impl Bundle {
    pub fn new() -> Bundle {
        let header = pb::BundleHeaderProto {
            num_shards: 1,
            endianness: 0,
            version: Some(pb::VersionDef { producer: 1, min_consumer: 0, bad_consumers: vec![] }),
        };
        Bundle { header, entries: BTreeMap::new(), data: Vec::new() }
    }

    /// Adds `t` as TensorFlow's writer does (data 8-byte aligned).
    pub fn add(&mut self, key: &str, t: &Tensor) -> &mut pb::BundleEntryProto {
        let p = tensor::encode(t);
        let (bytes, masked) = match t {
            Tensor::String(a) => strings::encode(&a.iter().map(|s| s.as_bytes()).collect::<Vec<_>>()),
            _ => (p.tensor_content.clone(), crc::mask(crc32c::crc32c(&p.tensor_content))),
        };
        self.add_bytes(key, p.dtype, p.tensor_shape, &bytes, masked)
    }

    /// Adds an entry for `bytes` with the given masked checksum.
    pub fn add_bytes(
        &mut self,
        key: &str,
        dtype: i32,
        shape: Option<pb::TensorShapeProto>,
        bytes: &[u8],
        crc32c: u32,
    ) -> &mut pb::BundleEntryProto {
        let entry = pb::BundleEntryProto {
            dtype,
            shape,
            shard_id: 0,
            offset: self.data.len() as i64,
            size: bytes.len() as i64,
            crc32c,
            slices: vec![],
        };
        self.data.extend_from_slice(bytes);
        self.data.resize(self.data.len().next_multiple_of(8), 0);
        self.entries.entry(key.to_string()).insert_entry(entry).into_mut()
    }

    pub fn index(&self, per_block: usize, snappy: bool) -> Vec<u8> {
        let mut rows = vec![(Vec::new(), self.header.encode_to_vec())];
        rows.extend(self.entries.iter().map(|(k, e)| (k.as_bytes().to_vec(), e.encode_to_vec())));
        table(&rows, per_block, snappy)
    }

    /// Writes `<dir>/variables.index` and the shard; returns the prefix.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let prefix = dir.join("variables");
        std::fs::write(suffixed(&prefix, ".index"), self.index(2, false)).unwrap();
        let n = self.header.num_shards.max(1);
        std::fs::write(suffixed(&prefix, &format!(".data-00000-of-{n:05}")), &self.data).unwrap();
        prefix
    }
}

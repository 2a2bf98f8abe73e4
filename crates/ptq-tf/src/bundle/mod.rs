//! TensorFlow checkpoints (tensor bundles): a SavedModel's
//! `variables/variables.index` and `variables/variables.data-NNNNN-of-MMMMM`.
//!
//! The index is a sorted string table (LevelDB's format, `table.rs`) whose
//! empty key holds a `BundleHeaderProto` and whose every other key (a
//! variable's checkpoint key) holds a `BundleEntryProto`: dtype, shape, and
//! where the tensor's bytes are (shard, offset, size) with their masked
//! CRC-32C. Fixed-width
//! tensors are stored in TensorFlow's in-memory layout (little-endian,
//! int4/uint4 a byte each); strings as varint64 lengths, the masked
//! CRC-32C of the lengths, then the bytes (`strings.rs`).

mod crc;
mod strings;
mod table;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use prost::Message;
use ptq_ir::{DType, Tensor};

use crate::dtype::{from_tf, tf_elem_size, tf_name};
use crate::{TfError, pb, tensor};

/// The key of the checkpoint's object graph (a DT_STRING scalar holding a
/// serialized `TrackableObjectGraph`).
pub const OBJECT_GRAPH_KEY: &str = "_CHECKPOINTABLE_OBJECT_GRAPH";
/// The version of the bundle format this reader reads (TensorFlow's
/// `kTensorBundleVersion`).
pub const BUNDLE_VERSION: i32 = 1;

/// An open checkpoint: its index, read and checked in full; tensors are read
/// from the shard files on demand.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    prefix: PathBuf,
    index_path: PathBuf,
    header: pb::BundleHeaderProto,
    entries: BTreeMap<String, pb::BundleEntryProto>,
}

impl Checkpoint {
    /// Opens the checkpoint at `prefix` (e.g. `.../variables/variables`):
    /// reads `<prefix>.index` and decodes its header and every entry. The
    /// shard files are not opened until a tensor is read. A malformed index,
    /// a big-endian checkpoint or one needing a newer reader is an error.
    pub fn open(prefix: &Path) -> Result<Checkpoint, TfError> {
        let index_path = suffixed(prefix, ".index");
        let bytes =
            std::fs::read(&index_path).map_err(|e| TfError::Io { path: index_path.clone(), msg: e.to_string() })?;
        Checkpoint::from_index(prefix, &bytes)
    }

    /// Like [`Checkpoint::open`] with the index file's bytes given.
    pub fn from_index(prefix: &Path, index: &[u8]) -> Result<Checkpoint, TfError> {
        let index_path = suffixed(prefix, ".index");
        let err = |variable: &str, msg: String| TfError::Checkpoint {
            path: index_path.clone(),
            variable: variable.to_string(),
            msg,
        };
        let mut rows = table::read(index).map_err(|m| err("", m))?.into_iter();
        let header = match rows.next() {
            Some((k, v)) if k.is_empty() => {
                pb::BundleHeaderProto::decode(&v[..]).map_err(|e| err("", format!("bad header: {e}")))?
            }
            _ => return Err(err("", "no header (the empty key is not the first entry)".into())),
        };
        check_header(&header).map_err(|m| err("", m))?;
        let mut entries = BTreeMap::new();
        for (k, v) in rows {
            let key = String::from_utf8(k).map_err(|e| err(&table::lossy(e.as_bytes()), "key is not UTF-8".into()))?;
            let entry = pb::BundleEntryProto::decode(&v[..]).map_err(|e| err(&key, format!("bad entry: {e}")))?;
            entries.insert(key, entry);
        }
        Ok(Checkpoint { prefix: prefix.to_path_buf(), index_path, header, entries })
    }

    /// The prefix the checkpoint was opened with.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The index's header.
    pub fn header(&self) -> &pb::BundleHeaderProto {
        &self.header
    }

    /// The path of data shard `shard`: `<prefix>.data-%05d-of-%05d`.
    pub fn shard_path(&self, shard: i32) -> PathBuf {
        suffixed(&self.prefix, &format!(".data-{shard:05}-of-{:05}", self.header.num_shards))
    }

    /// Every checkpoint key but the header's, in sorted order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The entry of `key`, if the checkpoint has one.
    pub fn entry(&self, key: &str) -> Option<&pb::BundleEntryProto> {
        self.entries.get(key)
    }

    /// The tensor stored under `key`. Strings must be UTF-8 (see
    /// [`Checkpoint::read_strings`] for raw bytes). Errors name the file
    /// and `key`: an unknown key, a partitioned (sliced) variable, an
    /// unsupported dtype, a bad shape, a shard id out of range, bytes
    /// outside the shard file, a size that does not match the shape, a
    /// checksum mismatch.
    pub fn read(&self, key: &str) -> Result<Tensor, TfError> {
        let (entry, dtype, shape) = self.checked_entry(key)?;
        if dtype == DType::String {
            let (_, elements) = self.read_strings(key)?;
            let v: Vec<String> = elements
                .into_iter()
                .enumerate()
                .map(|(i, b)| String::from_utf8(b).map_err(|_| format!("string element {i} is not UTF-8")))
                .collect::<Result<_, _>>()
                .map_err(|m| self.err(&self.shard_path(entry.shard_id), key, m))?;
            let a =
                ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| self.err(&self.index_path, key, e.to_string()))?;
            return Ok(Tensor::String(a));
        }
        let numel: usize = shape.iter().product();
        let expected = tf_elem_size(dtype).and_then(|s| s.checked_mul(numel));
        if expected.is_none_or(|n| n as u64 != entry.size as u64) {
            let need = expected.map_or("more than 2^64".into(), |n| n.to_string());
            let msg = format!("size {} but shape {shape:?} of {dtype} needs {need} bytes", entry.size);
            return Err(self.err(&self.index_path, key, msg));
        }
        let (path, bytes) = self.read_bytes(key, entry)?;
        check_crc(crc32c::crc32c(&bytes), entry).map_err(|m| self.err(&path, key, m))?;
        tensor::from_content(dtype, &shape, &bytes).map_err(|m| self.err(&path, key, m))
    }

    /// The shape and the raw elements of the DT_STRING tensor under `key`,
    /// checked like [`Checkpoint::read`] (both checksums, lengths that end
    /// exactly at the entry's end).
    pub fn read_strings(&self, key: &str) -> Result<(Vec<usize>, Vec<Vec<u8>>), TfError> {
        let (entry, dtype, shape) = self.checked_entry(key)?;
        if dtype != DType::String {
            return Err(self.err(&self.index_path, key, format!("dtype {dtype} is not a string")));
        }
        let (path, bytes) = self.read_bytes(key, entry)?;
        let (elements, crc) = strings::decode(&bytes, shape.iter().product()).map_err(|m| self.err(&path, key, m))?;
        check_crc(crc, entry).map_err(|m| self.err(&path, key, m))?;
        Ok((shape, elements))
    }

    /// The checkpoint's object graph (under [`OBJECT_GRAPH_KEY`]), or
    /// `None` when the checkpoint has none (TF1 name-based checkpoints).
    pub fn object_graph(&self) -> Result<Option<pb::TrackableObjectGraph>, TfError> {
        if !self.entries.contains_key(OBJECT_GRAPH_KEY) {
            return Ok(None);
        }
        let (shape, elements) = self.read_strings(OBJECT_GRAPH_KEY)?;
        let err = |m: String| self.err(&self.index_path, OBJECT_GRAPH_KEY, m);
        let [bytes] = &elements[..] else {
            return Err(err(format!("shape {shape:?} is not a scalar")));
        };
        pb::TrackableObjectGraph::decode(&bytes[..]).map(Some).map_err(|e| err(format!("bad object graph: {e}")))
    }

    fn err(&self, path: &Path, key: &str, msg: String) -> TfError {
        TfError::Checkpoint { path: path.to_path_buf(), variable: key.to_string(), msg }
    }

    /// The entry of `key` with its dtype and shape, when it is one this
    /// reader can read.
    fn checked_entry(&self, key: &str) -> Result<(&pb::BundleEntryProto, DType, Vec<usize>), TfError> {
        let err = |m: String| self.err(&self.index_path, key, m);
        let entry = self.entries.get(key).ok_or_else(|| err("not in the checkpoint".into()))?;
        if !entry.slices.is_empty() {
            let msg =
                format!("partitioned into {} slices; partitioned variables are not supported", entry.slices.len());
            return Err(err(msg));
        }
        let dtype =
            from_tf(entry.dtype).ok_or_else(|| err(format!("dtype {} is not supported", tf_name(entry.dtype))))?;
        let shape = tensor::dims(entry.shape.as_ref()).map_err(err)?;
        Ok((entry, dtype, shape))
    }

    /// The entry's bytes, after checking its shard id and that they lie
    /// within the shard file; reads exactly `size` bytes.
    fn read_bytes(&self, key: &str, entry: &pb::BundleEntryProto) -> Result<(PathBuf, Vec<u8>), TfError> {
        if entry.shard_id < 0 || entry.shard_id >= self.header.num_shards {
            let msg =
                format!("shard {} is out of range: the checkpoint has {}", entry.shard_id, self.header.num_shards);
            return Err(self.err(&self.index_path, key, msg));
        }
        let path = self.shard_path(entry.shard_id);
        let err = |m: String| self.err(&path, key, m);
        let (Ok(offset), Ok(size)) = (u64::try_from(entry.offset), u64::try_from(entry.size)) else {
            return Err(err(format!("negative offset {} or size {}", entry.offset, entry.size)));
        };
        let mut file = File::open(&path).map_err(|e| err(e.to_string()))?;
        let len = file.metadata().map_err(|e| err(e.to_string()))?.len();
        let Some(end) = offset.checked_add(size).filter(|&e| e <= len) else {
            return Err(err(format!("{size} bytes at offset {offset} lie outside the shard's {len} bytes")));
        };
        let mut bytes = vec![0; usize::try_from(end - offset).map_err(|e| err(e.to_string()))?];
        file.seek(SeekFrom::Start(offset)).map_err(|e| err(e.to_string()))?;
        file.read_exact(&mut bytes).map_err(|e| err(e.to_string()))?;
        Ok((path, bytes))
    }
}

/// `<prefix><suffix>` (the suffix appended to the file name, not a new path
/// component).
fn suffixed(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Refuses big-endian checkpoints, negative shard counts and versions this
/// reader does not read (TensorFlow's `CheckVersions`).
fn check_header(h: &pb::BundleHeaderProto) -> Result<(), String> {
    if h.endianness != pb::bundle_header_proto::Endianness::Little as i32 {
        return Err("the checkpoint is big-endian (or of unknown byte order); only little-endian is read".into());
    }
    if h.num_shards < 0 {
        return Err(format!("negative shard count {}", h.num_shards));
    }
    let v = h.version.clone().unwrap_or_default();
    if v.producer < 0 || v.min_consumer > BUNDLE_VERSION || v.bad_consumers.contains(&BUNDLE_VERSION) {
        return Err(format!(
            "bundle version (producer {}, min consumer {}, bad consumers {:?}) is not readable by version {BUNDLE_VERSION}",
            v.producer, v.min_consumer, v.bad_consumers
        ));
    }
    Ok(())
}

/// Compares a computed checksum with the entry's masked one.
fn check_crc(actual: u32, entry: &pb::BundleEntryProto) -> Result<(), String> {
    let stored = crc::unmask(entry.crc32c);
    if stored != actual {
        return Err(format!("checksum mismatch: stored {stored:#010x}, computed {actual:#010x}"));
    }
    Ok(())
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod real_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

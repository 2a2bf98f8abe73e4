//! The checkpoint TensorFlow 2.21 wrote (`testdata/make_checkpoint.py`):
//! every variable reads back as the array numpy saved beside it.

use ndarray::ArrayD;
use ndarray_npy::read_npy;

use super::*;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/checkpoint")
}

fn key(name: &str) -> String {
    format!("model/{name}/.ATTRIBUTES/VARIABLE_VALUE")
}

fn npy<T: ndarray_npy::ReadableElement>(name: &str) -> ArrayD<T> {
    read_npy(dir().join(format!("{name}.npy"))).unwrap()
}

#[test]
fn tensorflow_checkpoint_reads_exactly() {
    let ck = Checkpoint::open(&dir().join("variables")).unwrap();
    assert_eq!(ck.header().num_shards, 1);
    let mut keys: Vec<String> = ["bytes", "count", "half", "kernel", "mask", "scale", "text"].map(key).into();
    keys.insert(0, OBJECT_GRAPH_KEY.into());
    assert_eq!(ck.keys().collect::<Vec<_>>(), keys);
    assert_eq!(ck.read(&key("kernel")).unwrap(), Tensor::F32(npy("kernel")));
    assert_eq!(ck.read(&key("kernel")).unwrap().shape(), &[3, 3, 2, 4]);
    assert_eq!(ck.read(&key("count")).unwrap(), Tensor::I64(npy("count")));
    assert_eq!(ck.read(&key("mask")).unwrap(), Tensor::Bool(npy("mask")));
    assert_eq!(ck.read(&key("scale")).unwrap(), Tensor::F64(npy("scale")));
    assert_eq!(ck.read(&key("bytes")).unwrap(), Tensor::U8(npy("bytes")));
    let half = npy::<u16>("half").mapv(half::f16::from_bits);
    assert_eq!(ck.read(&key("half")).unwrap(), Tensor::F16(half));
    let text = ck.read(&key("text")).unwrap();
    assert_eq!(text, Tensor::String(ArrayD::from_elem(IxDyn(&[]), "hello, checkpoint".to_string())));
}

#[test]
fn tensorflow_object_graph_names_the_tables_keys() {
    let ck = Checkpoint::open(&dir().join("variables")).unwrap();
    let graph = ck.object_graph().unwrap().unwrap();
    let keys: Vec<&str> = graph.nodes.iter().flat_map(|n| &n.attributes).map(|a| a.checkpoint_key.as_str()).collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
    for k in &keys {
        assert!(ck.entry(k).is_some(), "{k}");
    }
    assert!(keys.contains(&key("kernel").as_str()));
}

/// TensorFlow's writer stores its blocks uncompressed (type 0) and masks
/// every checksum; the reader verified them all, this pins the facts.
#[test]
fn tensorflow_index_is_uncompressed_with_masked_checksums() {
    let index = std::fs::read(dir().join("variables.index")).unwrap();
    let footer = &index[index.len() - table::FOOTER_LEN..];
    let (_, n) = crate::varint::decode(footer).unwrap();
    let (_, m) = crate::varint::decode(&footer[n..]).unwrap();
    let (offset, k) = crate::varint::decode(&footer[n + m..]).unwrap();
    let (size, _) = crate::varint::decode(&footer[n + m + k..]).unwrap();
    let (start, end) = (offset as usize, (offset + size) as usize);
    assert_eq!(index[end], 0, "compression type of the index block");
    let stored = u32::from_le_bytes(index[end + 1..end + 5].try_into().unwrap());
    assert_eq!(crc::unmask(stored), crc32c::crc32c(&index[start..=end]));
    assert_ne!(stored, crc32c::crc32c(&index[start..=end]));
    // The kernel's entry checksum is the masked CRC-32C of its bytes.
    let ck = Checkpoint::open(&dir().join("variables")).unwrap();
    let e = ck.entry(&key("kernel")).unwrap();
    let data = std::fs::read(ck.shard_path(0)).unwrap();
    let bytes = &data[e.offset as usize..(e.offset + e.size) as usize];
    assert_eq!(e.crc32c, crc::mask(crc32c::crc32c(bytes)));
}

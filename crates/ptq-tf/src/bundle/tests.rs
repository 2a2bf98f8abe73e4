//! Checkpoints written in memory by the test writer: round trips, and every
//! corruption an error naming the file and the variable.

use ndarray::{ArrayD, IxDyn};

use super::table::FOOTER_LEN;
use super::testutil::{Bundle, table, table_with_restarts};
use super::*;

pub fn sample() -> (Bundle, Vec<(&'static str, Tensor)>) {
    let tensors = vec![
        ("a/kernel", Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0, -2.5, 3.0, 0.0, 5.0, 6.0]).unwrap())),
        ("a/kernel_half", Tensor::F16(ArrayD::from_elem(IxDyn(&[3]), half::f16::from_f32(0.5)))),
        ("b/count", Tensor::from_i64s(&[1 << 40, -3])),
        ("b/mask", Tensor::Bool(ArrayD::from_shape_vec(IxDyn(&[2]), vec![true, false]).unwrap())),
        ("b/nib", Tensor::I4(ArrayD::from_shape_vec(IxDyn(&[3]), vec![-8, 7, -1]).unwrap())),
        ("c/empty", Tensor::zeros(DType::U16, &[0, 4])),
        ("c/text", Tensor::String(ArrayD::from_shape_vec(IxDyn(&[2]), vec!["hé".into(), String::new()]).unwrap())),
    ];
    let mut b = Bundle::new();
    for (k, t) in &tensors {
        b.add(k, t);
    }
    (b, tensors)
}

/// The error's message, asserting it is a checkpoint error about `path`
/// (its file name) and `variable`.
fn checkpoint_err(e: TfError, file: &str, variable: &str) -> String {
    let TfError::Checkpoint { path, variable: v, msg } = &e else { panic!("not a checkpoint error: {e}") };
    assert!(path.ends_with(file), "{e}");
    assert_eq!(v, variable, "{e}");
    let shown = e.to_string();
    assert!(shown.contains(file), "{shown}");
    if !variable.is_empty() {
        assert!(shown.contains(&format!("variable {variable}: ")), "{shown}");
    }
    msg.clone()
}

#[test]
fn tables_round_trip_in_any_block_size_and_compression() {
    let (b, tensors) = sample();
    for per_block in [1, 2, 3, 100] {
        for snappy in [false, true] {
            let ck = Checkpoint::from_index(Path::new("/nowhere/variables"), &b.index(per_block, snappy)).unwrap();
            assert_eq!(ck.keys().collect::<Vec<_>>(), tensors.iter().map(|(k, _)| *k).collect::<Vec<_>>());
            assert_eq!(ck.entry("a/kernel").unwrap().size, 24);
        }
    }
}

#[test]
fn tensors_read_back_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let (b, tensors) = sample();
    let ck = Checkpoint::open(&b.write(dir.path())).unwrap();
    for (k, t) in &tensors {
        assert_eq!(&ck.read(k).unwrap(), t, "{k}");
    }
    assert_eq!(ck.read_strings("c/text").unwrap(), (vec![2], vec!["hé".as_bytes().to_vec(), vec![]]));
    assert_eq!(ck.shard_path(0), dir.path().join("variables.data-00000-of-00001"));
    assert_eq!(ck.object_graph().unwrap(), None);
    let msg = checkpoint_err(ck.read("nope").unwrap_err(), "variables.index", "nope");
    assert!(msg.contains("not in the checkpoint"));
    let msg = checkpoint_err(ck.read_strings("b/count").unwrap_err(), "variables.index", "b/count");
    assert!(msg.contains("not a string"));
}

#[test]
fn object_graph_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut b, _) = sample();
    let g = pb::TrackableObjectGraph { nodes: vec![Default::default()] };
    let bytes = g.encode_to_vec();
    let (data, masked) = strings::encode(&[&bytes]);
    b.add_bytes(OBJECT_GRAPH_KEY, pb::DataType::DtString as i32, None, &data, masked);
    let ck = Checkpoint::open(&b.write(dir.path())).unwrap();
    assert_eq!(ck.object_graph().unwrap(), Some(g));
    // Not UTF-8: read() refuses it, read_strings() gives the bytes.
    b.add_bytes(
        "bin",
        pb::DataType::DtString as i32,
        None,
        &strings::encode(&[b"\xFF"]).0,
        strings::encode(&[b"\xFF"]).1,
    );
    let ck = Checkpoint::open(&b.write(dir.path())).unwrap();
    assert!(checkpoint_err(ck.read("bin").unwrap_err(), "variables.data-00000-of-00001", "bin").contains("UTF-8"));
}

/// Opens `b` after `edit` changed the entry of `key`, and reads `key`.
fn read_edited(b: &Bundle, key: &str, edit: impl FnOnce(&mut pb::BundleEntryProto)) -> TfError {
    let dir = tempfile::tempdir().unwrap();
    let mut b = b.clone();
    edit(b.entries.get_mut(key).unwrap());
    Checkpoint::open(&b.write(dir.path())).unwrap().read(key).unwrap_err()
}

#[test]
fn bad_entries_name_the_file_and_the_variable() {
    let (b, _) = sample();
    let shard = "variables.data-00000-of-00001";
    let m = checkpoint_err(read_edited(&b, "a/kernel", |e| e.offset = 1 << 20), shard, "a/kernel");
    assert!(m.contains("outside the shard"), "{m}");
    let m = checkpoint_err(read_edited(&b, "a/kernel", |e| e.offset = i64::MAX), shard, "a/kernel");
    assert!(m.contains("outside the shard"), "{m}");
    let m = checkpoint_err(read_edited(&b, "a/kernel", |e| e.offset = -8), shard, "a/kernel");
    assert!(m.contains("negative offset"), "{m}");
    let m = checkpoint_err(read_edited(&b, "a/kernel", |e| e.size = 20), "variables.index", "a/kernel");
    assert!(m.contains("size 20 but shape [2, 3] of f32 needs 24 bytes"), "{m}");
    let m = checkpoint_err(read_edited(&b, "a/kernel", |e| e.crc32c ^= 1), shard, "a/kernel");
    assert!(m.contains("checksum mismatch"), "{m}");
    let m = checkpoint_err(read_edited(&b, "b/count", |e| e.shard_id = 1), "variables.index", "b/count");
    assert!(m.contains("shard 1 is out of range"), "{m}");
    let m = checkpoint_err(read_edited(&b, "b/count", |e| e.shard_id = -1), "variables.index", "b/count");
    assert!(m.contains("out of range"), "{m}");
    let m = checkpoint_err(read_edited(&b, "b/count", |e| e.dtype = 8), "variables.index", "b/count");
    assert!(m.contains("DT_COMPLEX64 is not supported"), "{m}");
    let slice = pb::TensorSliceProto { extent: vec![] };
    let m = checkpoint_err(read_edited(&b, "b/count", |e| e.slices = vec![slice; 2]), "variables.index", "b/count");
    assert!(m.contains("partitioned into 2 slices"), "{m}");
    let huge = Some(tensor::shape_proto(&[1 << 40, 1 << 40]));
    let m = checkpoint_err(read_edited(&b, "b/count", |e| e.shape = huge), "variables.index", "b/count");
    assert!(m.contains("2^63"), "{m}");
    let huge = Some(tensor::shape_proto(&[1 << 30, 1 << 30]));
    let m = checkpoint_err(read_edited(&b, "b/count", |e| e.shape = huge), "variables.index", "b/count");
    assert!(m.contains("size 16"), "{m}");
    let m = checkpoint_err(read_edited(&b, "c/text", |e| e.crc32c ^= 1), shard, "c/text");
    assert!(m.contains("checksum mismatch"), "{m}");
    let m = checkpoint_err(read_edited(&b, "c/text", |e| e.size -= 1), shard, "c/text");
    assert!(m.contains("add up"), "{m}");
    let big = Some(tensor::shape_proto(&[1 << 40]));
    let m = checkpoint_err(read_edited(&b, "c/text", |e| e.shape = big), shard, "c/text");
    assert!(m.contains("cannot hold"), "{m}");
}

#[test]
fn missing_and_corrupt_shards_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _) = sample();
    let prefix = b.write(dir.path());
    let shard = dir.path().join("variables.data-00000-of-00001");
    let mut data = std::fs::read(&shard).unwrap();
    data[0] ^= 0x40;
    std::fs::write(&shard, &data).unwrap();
    let ck = Checkpoint::open(&prefix).unwrap();
    let m = checkpoint_err(ck.read("a/kernel").unwrap_err(), "variables.data-00000-of-00001", "a/kernel");
    assert!(m.contains("checksum mismatch"), "{m}");
    std::fs::remove_file(&shard).unwrap();
    checkpoint_err(ck.read("b/count").unwrap_err(), "variables.data-00000-of-00001", "b/count");
    assert!(matches!(Checkpoint::open(&dir.path().join("other")), Err(TfError::Io { .. })));
}

fn open_err(index: &[u8]) -> String {
    checkpoint_err(Checkpoint::from_index(Path::new("/ck/variables"), index).unwrap_err(), "variables.index", "")
}

#[test]
fn malformed_tables_are_errors_naming_the_index() {
    let (b, _) = sample();
    let good = b.index(2, false);
    assert!(open_err(&good[..good.len() - 1]).contains("bad magic"));
    assert!(open_err(&good[..40]).contains("too short"));
    let m = open_err(&good[40..]);
    assert!(m.contains("index block: "), "{m}");
    let mut bad = good.clone();
    bad[3] ^= 1;
    assert!(open_err(&bad).contains("data block 0: checksum mismatch"));
    // A footer whose index handle claims a 2^60-byte block.
    let mut huge = good.clone();
    let at = huge.len() - FOOTER_LEN;
    let mut footer = vec![0, 0];
    crate::varint::encode(0, &mut footer);
    crate::varint::encode(1 << 60, &mut footer);
    huge[at..at + footer.len()].copy_from_slice(&footer);
    assert!(open_err(&huge).contains("outside the file"));
    // Unknown compression type, with a valid checksum: the first block is
    // one 3-byte entry, a restart offset and the restart count.
    let mut t = table(&[(vec![], vec![])], 1, false);
    t[11] = 2;
    let c = crc::mask(crc32c::crc32c(&t[..12]));
    t[12..16].copy_from_slice(&c.to_le_bytes());
    assert!(open_err(&t).contains("unknown compression type 2"));
}

#[test]
fn bad_headers_and_key_orders_are_errors() {
    let (b, _) = sample();
    let mut big = b.clone();
    big.header.endianness = 1;
    assert!(open_err(&big.index(2, false)).contains("big-endian"));
    let mut newer = b.clone();
    newer.header.version.as_mut().unwrap().min_consumer = 2;
    assert!(open_err(&newer.index(2, false)).contains("not readable"));
    let rows = vec![(b"a".to_vec(), vec![])];
    assert!(open_err(&table(&rows, 1, false)).contains("no header"));
    let rows = vec![(vec![], vec![]), (b"b".to_vec(), vec![]), (b"a".to_vec(), vec![])];
    assert!(open_err(&table(&rows, 2, false)).contains("not in increasing order"));
    let rows = vec![(vec![], vec![]), (b"x".to_vec(), vec![0xFF])];
    let e = Checkpoint::from_index(Path::new("/ck/variables"), &table(&rows, 2, false)).unwrap_err();
    assert!(checkpoint_err(e, "variables.index", "x").contains("bad entry"));
}

#[test]
fn tables_costing_more_than_their_size_warrants_are_refused() {
    // Keys a^1000 b, a^1000 bb, ...: each entry shares all of the previous
    // key and adds a byte, so 3000 entries of 4-5 bytes rebuild 7.5 MB of keys.
    let mut rows = vec![(vec![], vec![])];
    rows.extend((1..3000).map(|i| ([vec![b'a'; 1000], vec![b'b'; i]].concat(), vec![])));
    let t = table_with_restarts(&rows, usize::MAX, false, usize::MAX);
    assert!(t.len() < 25_000, "{}", t.len());
    assert!(open_err(&t).contains("more memory or work than its size warrants"));
    // The same keys with a restart point every 16 entries are ordinary.
    let t = table_with_restarts(&rows[..200], usize::MAX, true, 16);
    assert_eq!(Checkpoint::from_index(Path::new("/ck/variables"), &t).unwrap().keys().count(), 199);
}

//! Tests of [`StatsSet`]: merging, exact save/load round trips, and hostile files.

use proptest::prelude::*;

use super::*;
use crate::{Granularity, StatsConfig};

fn stats(cfg: &StatsConfig, shape: &[usize], data: &[f32]) -> TensorStats {
    let mut s = TensorStats::new(cfg);
    s.update(shape, data).unwrap();
    s
}

fn example() -> StatsSet {
    let mut set = StatsSet::new("model:abc dataset:def");
    set.set_samples(2);
    set.insert("conv1", stats(&StatsConfig::default(), &[2, 2], &[0.1, -7.25, 3.0e-8, f32::NAN]));
    set.insert("fc.out", stats(&StatsConfig::per_channel(1), &[2, 3], &[1.0, 2.0, f32::INFINITY, -1.0, 0.0, 9.5]));
    set.insert("never", TensorStats::new(&StatsConfig::per_channel(0)));
    set
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn accessors() {
    let mut set = example();
    assert_eq!(set.len(), 3);
    assert!(!set.is_empty() && StatsSet::default().is_empty());
    assert_eq!(set.fingerprint(), "model:abc dataset:def");
    assert_eq!(set.samples(), 2);
    let names: Vec<&str> = set.iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["conv1", "fc.out", "never"]);
    assert_eq!(set.get("fc.out").map(TensorStats::channels), Some(3));
    set.get_mut("conv1").unwrap().update(&[1], &[100.0]).unwrap();
    assert_eq!(set.get("conv1").unwrap().max(), &[100.0]);
    assert!(set.remove("never").is_some() && set.get("never").is_none());
}

#[test]
fn merge_is_key_wise() {
    let mut a = example();
    let mut b = StatsSet::new(a.fingerprint());
    b.set_samples(1);
    b.insert("conv1", stats(&StatsConfig::default(), &[1], &[-9.0]));
    b.insert("extra", stats(&StatsConfig::default(), &[1], &[1.0]));
    a.merge(&b).unwrap();
    assert_eq!(a.samples(), 3);
    assert_eq!(a.len(), 4);
    assert_eq!(a.get("conv1").unwrap().min(), &[-9.0]);
    assert_eq!(a.get("conv1").unwrap().samples(), 2);
    assert_eq!(a.get("extra"), b.get("extra"));
}

#[test]
fn failed_merges_change_nothing() {
    let mut a = example();
    let before = a.clone();
    let mut other = StatsSet::new("another fingerprint");
    assert!(matches!(a.merge(&other), Err(StatsError::Incompatible(_))));
    other = StatsSet::new(a.fingerprint());
    other.insert("a-new-one", stats(&StatsConfig::default(), &[1], &[1.0]));
    other.insert("fc.out", stats(&StatsConfig::per_channel(0), &[2], &[1.0, 2.0]));
    let err = a.merge(&other).unwrap_err();
    assert!(err.to_string().contains("fc.out"), "{err}");
    assert_eq!(a, before);
}

#[test]
fn save_load_round_trip_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats.json");
    let set = example();
    set.save(&path).unwrap();
    assert_eq!(StatsSet::load(&path).unwrap(), set);
    // Overwriting is atomic and leaves no temporary files behind.
    let empty = StatsSet::new("");
    empty.save(&path).unwrap();
    assert_eq!(StatsSet::load(&path).unwrap(), empty);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1);
}

#[test]
fn save_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("stats.json");
    let err = example().save(&path).unwrap_err();
    assert!(matches!(err, StatsError::Io { .. }));
    assert!(err.to_string().contains("stats.json"), "{err}");
}

#[test]
fn bad_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = serde_json::to_vec(&example()).unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("garbage", b"\x00\xffnot json at all".to_vec()),
        ("array", b"[1, 2, 3]".to_vec()),
        ("other-format", br#"{"format": "onnx", "version": 1}"#.to_vec()),
        ("no-version", br#"{"format": "ptq-stats"}"#.to_vec()),
        ("deep", [b"[".repeat(100_000), b"]".repeat(100_000)].concat()),
    ];
    for cut in [1, good.len() / 3, good.len() / 2, good.len() - 1] {
        cases.push(("truncated", good[..cut].to_vec()));
    }
    for (name, bytes) in &cases {
        let path = write(&dir, name, bytes);
        let err = StatsSet::load(&path).unwrap_err();
        assert!(matches!(err, StatsError::Format { .. }), "{name}: {err}");
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
    let missing = dir.path().join("nope.json");
    assert!(matches!(StatsSet::load(&missing), Err(StatsError::Io { .. })));
}

#[test]
fn unknown_versions_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = serde_json::to_value(example()).unwrap();
    v["version"] = serde_json::json!(2);
    let path = write(&dir, "v2.json", &serde_json::to_vec(&v).unwrap());
    assert!(matches!(StatsSet::load(&path), Err(StatsError::UnsupportedVersion { found: 2, supported: 1, .. })));
}

#[test]
fn hostile_contents_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let good = serde_json::to_value(example()).unwrap();
    let edits: Vec<(&str, &str, serde_json::Value)> = vec![
        ("conv1", "histogram_bins", serde_json::json!(1u64 << 40)),
        ("conv1", "histogram", serde_json::json!({"bins": 1u64 << 40, "level": 0, "start": 0, "counts": []})),
        ("conv1", "histogram", serde_json::json!({"bins": 2048, "level": 0, "start": 0, "counts": [u64::MAX, 5]})),
        ("conv1", "count", serde_json::json!([u64::MAX])),
        ("fc.out", "min", serde_json::json!([1.0, 2.0])),
        ("fc.out", "sum", serde_json::json!([[0.0, 0.0]])),
        ("fc.out", "granularity", serde_json::json!({"PerChannel": {"axis": 1e30}})),
        ("fc.out", "max", serde_json::json!([1e39, 9.5, 2.0])),
        ("never", "samples", serde_json::json!(3)),
        ("never", "count", serde_json::json!("many")),
    ];
    for (i, (tensor, field, value)) in edits.into_iter().enumerate() {
        let mut v = good.clone();
        v["tensors"][tensor][field] = value.clone();
        let path = write(&dir, &format!("hostile{i}.json"), &serde_json::to_vec(&v).unwrap());
        let err = StatsSet::load(&path).unwrap_err();
        assert!(matches!(err, StatsError::Format { .. }), "{tensor}.{field} = {value}: {err}");
    }
    let mut v = good.clone();
    v["unexpected"] = serde_json::json!(true);
    let path = write(&dir, "extra.json", &serde_json::to_vec(&v).unwrap());
    assert!(StatsSet::load(&path).is_err());
}

#[test]
fn loaded_stats_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let set = example();
    set.save(&path).unwrap();
    let mut loaded = StatsSet::load(&path).unwrap();
    let conv = loaded.get_mut("conv1").unwrap();
    conv.update(&[3], &[5.0, -1.0, 0.0]).unwrap();
    assert_eq!(conv.histogram().unwrap().total(), 6);
    assert!(conv.quantile(0.5).is_ok());
    let fc = loaded.get_mut("fc.out").unwrap();
    assert_eq!(fc.granularity(), &Granularity::PerChannel { axis: 1 });
    assert!(fc.update(&[1, 4], &[0.0; 4]).is_err());
    loaded.merge(&set).unwrap();
}

fn finite_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<f32>().prop_filter("finite", |x| x.is_finite()),
        (-1.0f32..1.0),
        Just(f32::MAX),
        Just(f32::MIN_POSITIVE),
        Just(f32::from_bits(1)),
        Just(-0.0f32),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip_is_bit_exact(values in prop::collection::vec(finite_f32(), 1..200), axis in 0usize..2) {
        let shape = [values.len() / 2, 2];
        let n = shape[0] * 2;
        let mut set = StatsSet::new("fp");
        for (name, cfg) in [("t", StatsConfig::per_tensor(37)), ("c", StatsConfig::per_channel(axis))] {
            let mut s = TensorStats::new(&cfg);
            s.update(&shape, &values[..n]).unwrap();
            s.update(&[n], &values[..n]).unwrap_or(());
            set.insert(name, s);
        }
        let text = serde_json::to_vec(&set).unwrap();
        let back: StatsSet = serde_json::from_slice(&text).unwrap();
        prop_assert_eq!(&back, &set);
        for (name, s) in set.iter() {
            let b = back.get(name).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(s.min()), bits(b.min()));
            prop_assert_eq!(bits(s.max()), bits(b.max()));
            prop_assert_eq!(bits(&s.mean()), bits(&b.mean()));
        }
    }
}

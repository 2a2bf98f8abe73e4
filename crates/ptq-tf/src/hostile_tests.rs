//! Damaged SavedModels: truncated and mutated `saved_model.pb`, a short or
//! corrupted checkpoint shard, a missing checkpoint. Each is an error that
//! names the file (and the variable, for checkpoint damage), never a panic.

use std::path::{Path, PathBuf};

use crate::{LoadOptions, TfError, load};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tf/cnn_bn/saved_model")
}

/// A copy of the fixture in a temporary directory.
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = fixture();
    std::fs::copy(src.join("saved_model.pb"), dir.path().join("saved_model.pb")).expect("copy");
    std::fs::create_dir(dir.path().join("variables")).expect("mkdir");
    for e in std::fs::read_dir(src.join("variables")).expect("variables") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), dir.path().join("variables").join(e.file_name())).expect("copy");
    }
    dir
}

#[test]
fn the_fixture_loads_by_its_directory_or_its_saved_model_pb() {
    let m = load(fixture(), &LoadOptions::default()).expect("load");
    assert!(m.graph.node_count() > 5);
    let by_file = load(fixture().join("saved_model.pb"), &LoadOptions::default()).expect("load");
    assert_eq!(by_file.graph.node_count(), m.graph.node_count());
}

#[test]
fn truncated_and_mutated_graphs_are_errors_or_models_never_panics() {
    let dir = copy();
    let pb = dir.path().join("saved_model.pb");
    let bytes = std::fs::read(fixture().join("saved_model.pb")).expect("read");
    let mut errors = 0;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for case in 0..300 {
        let mut b = bytes.clone();
        if case < 60 {
            b.truncate((bytes.len() as u64 * case / 60) as usize);
        } else {
            for _ in 0..(1 + next() % 8) {
                let i = (next() % b.len() as u64) as usize;
                b[i] = next() as u8;
            }
        }
        std::fs::write(&pb, &b).expect("write");
        match load(dir.path(), &LoadOptions::default()) {
            Ok(_) => {}
            Err(e) => {
                errors += 1;
                assert!(e.to_string().contains(dir.path().to_string_lossy().as_ref()), "{e}");
            }
        }
    }
    assert!(errors >= 60, "only {errors} of 300 damaged files were refused");
}

#[test]
fn a_short_or_corrupted_shard_names_the_file_and_the_variable() {
    let dir = copy();
    let shard = dir.path().join("variables/variables.data-00000-of-00001");
    let bytes = std::fs::read(&shard).expect("read");
    std::fs::write(&shard, &bytes[..bytes.len() / 2]).expect("write");
    let e = load(dir.path(), &LoadOptions::default()).expect_err("short shard");
    assert!(matches!(&e, TfError::Checkpoint { variable, .. } if !variable.is_empty()), "{e}");
    assert!(e.to_string().contains("variables"), "{e}");
    let mut b = bytes.clone();
    let last = b.len() - 1;
    b[last] ^= 0x55;
    std::fs::write(&shard, &b).expect("write");
    let e = load(dir.path(), &LoadOptions::default()).expect_err("corrupted shard");
    assert!(e.to_string().to_lowercase().contains("crc") || e.to_string().contains("checksum"), "{e}");
    assert!(matches!(&e, TfError::Checkpoint { variable, .. } if !variable.is_empty()), "{e}");
}

#[test]
fn a_missing_checkpoint_or_signature_is_an_error_naming_it() {
    let dir = copy();
    let e = load(dir.path(), &LoadOptions { signature: Some("nope".into()), ..Default::default() }).expect_err("sig");
    assert!(e.to_string().contains("no signature nope") && e.to_string().contains("serving_default"), "{e}");
    std::fs::remove_file(dir.path().join("variables/variables.index")).expect("rm");
    let e = load(dir.path(), &LoadOptions::default()).expect_err("no index");
    assert!(e.to_string().contains("variables.index"), "{e}");
}

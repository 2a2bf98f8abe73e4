//! Writing the TF fixtures back: no layout transposes survive in a model
//! that was NHWC throughout, names and signature keys are kept, and a
//! graph the writer cannot express is an error naming the node.

use std::path::{Path, PathBuf};

use crate::{LoadOptions, load};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tf").join(name).join("saved_model")
}

fn ops(graph: &crate::pb::GraphDef, op: &str) -> usize {
    graph.node.iter().filter(|n| n.op == op).count()
}

#[test]
fn nhwc_models_come_back_without_layout_transposes() {
    for name in ["cnn_bn", "mobilenet_block", "keras2_cnn"] {
        let m = load(fixture(name), &LoadOptions::default()).unwrap();
        // The importer made NCHW convolutions wrapped in transposes.
        let (graph, sig) = super::to_graph_def(&m.graph).unwrap();
        assert_eq!(ops(&graph, "Transpose"), 0, "{name}");
        assert!(ops(&graph, "Conv2D") + ops(&graph, "DepthwiseConv2dNative") >= 2, "{name}");
        let keys: Vec<&String> = sig.inputs.keys().collect();
        let want: Vec<String> = m.graph.inputs().iter().map(|&v| m.graph.value(v).name.clone()).collect();
        assert_eq!(keys, want.iter().collect::<Vec<_>>(), "{name}");
    }
}

#[test]
fn a_saved_model_directory_is_written_beside_and_renamed_into_place() {
    let m = load(fixture("cnn_bn"), &LoadOptions::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    super::save(&m.graph, Some(&m.info), &out).unwrap();
    assert!(out.join("saved_model.pb").is_file() && out.join("variables").is_dir());
    let back = load(&out, &LoadOptions::default()).unwrap();
    assert_eq!(back.graph.inputs().len(), m.graph.inputs().len());
    // Nothing left beside it, and a directory that is not a SavedModel is not replaced.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), b"x").unwrap();
    let e = super::save(&m.graph, None, &other).unwrap_err().to_string();
    assert!(e.contains("not a SavedModel"), "{e}");
    assert!(other.join("keep.txt").is_file());
}

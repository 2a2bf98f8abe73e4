//! The `ptq` command line: inspect and convert through the same code as the binary.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use ptq_tests::fixtures_dir;

#[test]
fn inspect_every_fixture() {
    for name in ptq_tests::onnx_fixtures() {
        let p = fixtures_dir().join(&name).join("model.onnx");
        ptq_cli::run(["ptq", "inspect", p.to_str().unwrap()]).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
}

#[test]
fn convert_refuses_to_overwrite_its_input() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("m.onnx");
    std::fs::copy(fixtures_dir().join("digits_cnn/model.onnx"), &p).unwrap();
    let before = std::fs::read(&p).unwrap();
    let e = ptq_cli::run(["ptq", "convert", p.to_str().unwrap(), p.to_str().unwrap()]).unwrap_err();
    assert!(format!("{e:#}").contains("overwrite"), "{e:#}");
    assert_eq!(std::fs::read(&p).unwrap(), before);
}

#[test]
fn unknown_output_format_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = fixtures_dir().join("digits_cnn/model.onnx");
    let out = tmp.path().join("m.pt");
    let e = ptq_cli::run(["ptq", "convert", p.to_str().unwrap(), out.to_str().unwrap()]).unwrap_err();
    assert!(format!("{e:#}").contains("unknown model format"), "{e:#}");
    assert!(!out.exists());
}

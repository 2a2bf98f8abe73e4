//! `ptq report --html` on a real quantization report, rendered by a real
//! browser: Debian's Chromium, headless (`cargo xtask test` unpacks it under
//! `target/chromium` when the system has none).
//! The page must load without console errors and show one bar per quantizer
//! with an SQNR and the table of the ten worst.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Chromium: `PTQ_CHROMIUM`, else Debian's `/usr/bin/chromium`, else the
/// copy `cargo xtask test` unpacks under `target/chromium`.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("PTQ_CHROMIUM") {
        return PathBuf::from(p);
    }
    let system = PathBuf::from("/usr/bin/chromium");
    let unpacked = ptq_tests::tests_dir().join("../target/chromium/chromium");
    let p = if system.exists() { system } else { unpacked };
    assert!(p.exists(), "{} not found: run cargo xtask test, which unpacks Debian's chromium there", p.display());
    p
}

fn quantize_with_report(fixture: &str, dir: &Path) -> (PathBuf, serde_json::Value) {
    let fx = ptq_tests::fixtures_dir().join(fixture);
    let s = |p: &Path| p.display().to_string();
    let report = dir.join(format!("{fixture}.json"));
    ptq_cli::run([
        "ptq".to_string(),
        "quantize".into(),
        "--model".into(),
        s(&fx.join("model.onnx")),
        "--data".into(),
        s(&fx.join("calib.npz")),
        "--output".into(),
        s(&dir.join(format!("{fixture}.onnx"))),
        "--report".into(),
        s(&report),
        "--quiet".into(),
    ])
    .unwrap();
    let r = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    (report, r)
}

#[test]
fn the_report_page_renders_in_chromium_with_a_bar_per_quantizer_and_the_worst_ten() {
    let browser = chromium();
    let dir = tempfile::tempdir().unwrap();
    for fixture in ["digits_cnn", "transformer_encoder"] {
        let (report, r) = quantize_with_report(fixture, dir.path());
        let html = dir.path().join(format!("{fixture}.html"));
        ptq_cli::run(["ptq", "report", &report.display().to_string(), "--html", &html.display().to_string()]).unwrap();
        let quantizers = r["quantizers"].as_array().unwrap();
        let with_sqnr = quantizers.iter().filter(|q| q["sqnr_db"].as_f64().is_some()).count();
        let with_histogram = quantizers.iter().filter(|q| q["histogram"].is_object()).count();
        assert!(with_sqnr > 0 && with_histogram > 0, "{fixture}: nothing to draw");

        let out = Command::new(&browser)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0", "--dump-dom"])
            .arg(format!("file://{}", html.display()))
            .env("HOME", dir.path())
            .output()
            .unwrap();
        let (dom, log) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{fixture}: chromium failed: {log}");
        for bad in ["CONSOLE", "Uncaught", "Failed to load"] {
            assert!(!log.contains(bad), "{fixture}: the page logged errors: {log}");
        }
        assert!(dom.contains("<h1>ptq quantization report</h1>"), "{fixture}: {dom}");
        assert_eq!(dom.matches("<g class=\"bar ").count(), quantizers.len(), "{fixture}");
        assert_eq!(dom.matches("class=\"worst-row\"").count(), with_sqnr.min(10), "{fixture}");
        assert_eq!(dom.matches("<div class=\"hist\">").count(), with_histogram, "{fixture}");
    }
}

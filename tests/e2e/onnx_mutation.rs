//! Deterministic truncations and byte flips of every fixture, fed to the
//! importer (and, when import succeeds, to the exporter): errors are fine,
//! panics are not.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::panic::{AssertUnwindSafe, catch_unwind};

use ptq_tests::{fixtures_dir, onnx_fixtures};

const MUTATIONS_PER_FIXTURE: usize = 1200;

/// A small deterministic generator (PCG-style LCG), so every run tries the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(original: &[u8], k: usize, rng: &mut Rng) -> Vec<u8> {
    let mut b = original.to_vec();
    match k % 3 {
        0 => b.truncate(rng.below(original.len())),
        1 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                b[i] ^= 1 + rng.below(255) as u8;
            }
        }
        _ => {
            let i = rng.below(b.len());
            b[i] = [0x00, 0xff, 0x7f, 0x80][rng.below(4)];
            b.truncate(i + 1 + rng.below(original.len() - i));
        }
    }
    b
}

#[test]
fn mutated_models_never_panic() {
    let mut report = vec![];
    for (f, name) in onnx_fixtures().into_iter().enumerate() {
        let dir = fixtures_dir().join(&name);
        let original = std::fs::read(dir.join("model.onnx")).unwrap();
        let mut rng = Rng(0x5eed_0000 + f as u64);
        let (mut panics, mut rejected, mut accepted) = (0, 0, 0);
        for k in 0..MUTATIONS_PER_FIXTURE {
            let bytes = mutate(&original, k, &mut rng);
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let m = ptq_onnx::import_bytes(&bytes, "mutant.onnx", Some(&dir))?;
                ptq_onnx::export_model(&m.graph, &m.info, "mutant-out.onnx").map(|_| ())
            }));
            match outcome {
                Err(_) => {
                    panics += 1;
                    eprintln!("{name}: mutation {k} panicked");
                }
                Ok(Err(e)) => {
                    rejected += 1;
                    assert!(e.to_string().contains("mutant"), "error does not name the file: {e}");
                }
                Ok(Ok(())) => accepted += 1,
            }
        }
        report.push(format!(
            "{name}: {MUTATIONS_PER_FIXTURE} mutations, {rejected} rejected, {accepted} accepted, {panics} panics"
        ));
        assert_eq!(panics, 0, "{}", report.join("\n"));
    }
    eprintln!("{}", report.join("\n"));
}

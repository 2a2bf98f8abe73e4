//! Hostile index files: random bytes, and mutations of well-formed ones
//! (TensorFlow's and the test writer's), some with their block checksums
//! recomputed so the mutation reaches the entries. Each gives a checkpoint
//! or an error, never a panic; whatever opens is read key by key.

use proptest::prelude::*;

use super::tests::sample;
use super::*;

/// Index files: the sample's and the real TensorFlow one.
fn seeds() -> Vec<Vec<u8>> {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/checkpoint/variables.index");
    let (b, _) = sample();
    vec![b.index(2, false), b.index(3, true), std::fs::read(real).unwrap()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Mutated index files (flipped bytes, a cut, inserted bytes) give a
    /// checkpoint or an error, never a panic.
    #[test]
    fn mutated_indexes_never_panic(
        seed in 0usize..3,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
        insert in proptest::collection::vec(any::<u8>(), 0..4),
        at in any::<usize>(),
    ) {
        let mut b = seeds().swap_remove(seed);
        for (i, x) in flips {
            let n = b.len();
            b[i % n] ^= x;
        }
        let at = at % (b.len() + 1);
        b.splice(at..at, insert);
        b.truncate(b.len() - cut % 8.min(b.len() + 1));
        open_and_read_all(seed, &b);
    }

    #[test]
    fn mutated_blocks_with_valid_checksums_never_panic(
        seed in prop_oneof![Just(0usize), Just(2usize)],
        flips in proptest::collection::vec((any::<usize>(), 1..=255u8), 1..6),
    ) {
        open_and_read_all(seed, &mutate_blocks(seed, &flips));
    }

    #[test]
    fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300), magic in any::<bool>()) {
        let mut b = b;
        if magic {
            b.extend_from_slice(&super::table::MAGIC.to_le_bytes());
        }
        let _ = Checkpoint::from_index(Path::new("/nowhere/variables"), &b);
    }
}

/// Flips bytes inside block contents (uncompressed seeds only) and
/// recomputes every block's checksum.
fn mutate_blocks(seed: usize, flips: &[(usize, u8)]) -> Vec<u8> {
    let mut b = seeds().swap_remove(seed);
    let blocks = table::blocks(&b);
    for &(i, x) in flips {
        let (start, len) = blocks[i % blocks.len()];
        if len > 0 {
            b[start + (i / blocks.len()) % len] ^= x;
        }
    }
    for (start, len) in blocks {
        let c = crc::mask(crc32c::crc32c(&b[start..=start + len]));
        b[start + len + 1..start + len + 5].copy_from_slice(&c.to_le_bytes());
    }
    b
}

/// Opens `b` as the index of seed `seed`'s checkpoint, whose shard is on
/// disk (the real one in testdata, the sample's written to a temporary
/// directory), and reads every key.
fn open_and_read_all(seed: usize, b: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let prefix = if seed == 2 {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/checkpoint/variables")
    } else {
        sample().0.write(dir.path())
    };
    if let Ok(ck) = Checkpoint::from_index(&prefix, b) {
        for k in ck.keys() {
            let _ = ck.read(k);
        }
        let _ = ck.object_graph();
    }
}

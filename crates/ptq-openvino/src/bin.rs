//! The `.bin` weights file: byte ranges read on demand, each checked
//! against the file's size before anything is allocated.
//!
//! The file is read with positioned reads rather than memory-mapped:
//! mapping a file is `unsafe` in Rust (another process may change it under
//! the map), and only ptq-kernels may contain `unsafe`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::OpenVinoError;

/// An open weights file, or weights already in memory.
#[derive(Debug)]
pub struct Weights {
    path: PathBuf,
    source: Source,
    len: u64,
}

#[derive(Debug)]
enum Source {
    /// The file, if it could be opened.
    File(Option<File>),
    Bytes(Vec<u8>),
}

impl Weights {
    /// Opens `path`; a missing file is only an error once a Const needs it.
    pub fn open(path: &Path) -> Weights {
        let file = File::open(path).ok();
        let len = file.as_ref().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
        Weights { path: path.to_path_buf(), source: Source::File(file), len }
    }

    /// Weights held in memory; `path` only labels errors.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Weights {
        let len = bytes.len() as u64;
        Weights { path: path.to_path_buf(), source: Source::Bytes(bytes), len }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes `offset .. offset + size` for `layer`.
    pub fn read(&mut self, offset: u64, size: u64, layer: &str) -> Result<Vec<u8>, OpenVinoError> {
        let err = |msg: String| OpenVinoError::Weights { path: self.path.clone(), layer: layer.to_string(), msg };
        if let Source::File(None) = self.source {
            return Err(err("the weights file is missing or unreadable".into()));
        }
        let end = offset.checked_add(size).ok_or_else(|| err(format!("offset {offset} + size {size} overflows")))?;
        if end > self.len {
            return Err(err(format!("bytes {offset}..{end} lie past the end of the {}-byte file", self.len)));
        }
        let n = usize::try_from(size).map_err(|_| err(format!("size {size} is too large")))?;
        match &mut self.source {
            Source::File(None) => Err(err("the weights file is missing or unreadable".into())),
            Source::File(Some(file)) => {
                let mut buf = vec![0u8; n];
                file.seek(SeekFrom::Start(offset))
                    .and_then(|_| file.read_exact(&mut buf))
                    .map_err(|e| err(e.to_string()))?;
                Ok(buf)
            }
            Source::Bytes(bytes) => usize::try_from(offset)
                .ok()
                .and_then(|start| bytes.get(start..start + n))
                .map(<[u8]>::to_vec)
                .ok_or_else(|| err(format!("bytes {offset}..{end} lie past the end of the {}-byte file", self.len))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.bin");
        std::fs::write(&p, [1u8, 2, 3, 4, 5]).unwrap();
        let mut w = Weights::open(&p);
        assert_eq!(w.read(1, 3, "c").unwrap(), [2, 3, 4]);
        let e = w.read(3, 3, "c").unwrap_err().to_string();
        assert!(e.contains("past the end") && e.contains("w.bin") && e.contains("c"), "{e}");
        assert!(w.read(u64::MAX, 2, "c").unwrap_err().to_string().contains("overflows"));
        let mut mem = Weights::from_bytes(Path::new("m.bin"), vec![1, 2, 3, 4, 5]);
        assert_eq!(mem.read(1, 3, "c").unwrap(), [2, 3, 4]);
        assert!(mem.read(3, 3, "c").unwrap_err().to_string().contains("past the end"));
        assert!(mem.read(u64::MAX, 2, "c").unwrap_err().to_string().contains("overflows"));
        let mut missing = Weights::open(&dir.path().join("none.bin"));
        assert!(missing.read(0, 1, "c").unwrap_err().to_string().contains("missing"));
    }
}

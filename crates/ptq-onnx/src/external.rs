//! Reading tensors stored in external data files.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// External data files next to a model, opened on first use.
#[derive(Debug)]
pub struct ExternalData {
    base: Option<PathBuf>,
    files: HashMap<String, (File, u64)>,
}

impl ExternalData {
    /// External data relative to `base` (the model's folder); `None` when the
    /// model came from memory, which makes any external tensor an error.
    pub fn new(base: Option<PathBuf>) -> ExternalData {
        ExternalData { base, files: HashMap::new() }
    }

    /// Reads `length` bytes (or up to the end when `None`) at `offset` of `location`.
    /// The location must be a relative path inside the model's folder; the range
    /// is checked against the file's size before any allocation.
    pub fn read(&mut self, location: &str, offset: u64, length: Option<u64>) -> Result<Vec<u8>, String> {
        let base = self.base.as_ref().ok_or("external data needs the model's folder; load the model from a file")?;
        let rel = Path::new(location);
        if location.is_empty() || rel.is_absolute() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(format!(
                "external data location {location:?} must be a relative path inside the model's folder"
            ));
        }
        if !self.files.contains_key(location) {
            let path = base.join(rel);
            let file = File::open(&path).map_err(|e| format!("external data file {}: {e}", path.display()))?;
            let len = file.metadata().map_err(|e| format!("external data file {}: {e}", path.display()))?.len();
            self.files.insert(location.to_string(), (file, len));
        }
        let (file, len) = self.files.get_mut(location).unwrap_or_else(|| unreachable!("inserted above"));
        let length = length.unwrap_or(len.saturating_sub(offset));
        let end = offset.checked_add(length).ok_or("external data range overflows")?;
        if end > *len {
            return Err(format!(
                "external data range {offset}..{end} lies beyond the end of {location:?} ({len} bytes)"
            ));
        }
        let mut buf = vec![0u8; usize::try_from(length).map_err(|_| "external data too large")?];
        file.seek(SeekFrom::Start(offset)).map_err(|e| format!("{location}: {e}"))?;
        file.read_exact(&mut buf).map_err(|e| format!("{location}: {e}"))?;
        Ok(buf)
    }
}

//! [`StatsSet`]: the statistics of all observed values of one model, and
//! their file format.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::collector::TensorStats;
use crate::error::StatsError;

/// The `format` tag of a statistics file.
pub const FORMAT_NAME: &str = "ptq-stats";

/// The file format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Statistics of many tensors, keyed by a stable name (the value's name in
/// the graph), with a free-form fingerprint (the caller stores a hash of
/// model + dataset + settings, to tell whether saved statistics still apply)
/// and the number of samples (dataset items) they were collected from.
///
/// Serialized (see [`save`](StatsSet::save)) as a JSON object
/// `{"format": "ptq-stats", "version": 1, "fingerprint", "samples", "tensors": {name: stats}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StatsSetFile", into = "StatsSetFile")]
pub struct StatsSet {
    fingerprint: String,
    samples: u64,
    tensors: BTreeMap<String, TensorStats>,
}

/// The file form: the set plus format name and version.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsSetFile {
    format: String,
    version: u32,
    fingerprint: String,
    samples: u64,
    tensors: BTreeMap<String, TensorStats>,
}

/// Just enough of a file to check what it is before reading it all.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u64>,
}

impl From<StatsSet> for StatsSetFile {
    fn from(s: StatsSet) -> Self {
        StatsSetFile {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            fingerprint: s.fingerprint,
            samples: s.samples,
            tensors: s.tensors,
        }
    }
}

impl TryFrom<StatsSetFile> for StatsSet {
    type Error = StatsError;

    fn try_from(f: StatsSetFile) -> Result<Self, StatsError> {
        if f.format != FORMAT_NAME || f.version != FORMAT_VERSION {
            return Err(StatsError::Invalid(format!("format {:?} version {} is not supported", f.format, f.version)));
        }
        Ok(StatsSet { fingerprint: f.fingerprint, samples: f.samples, tensors: f.tensors })
    }
}

impl StatsSet {
    /// An empty set with the given fingerprint and no samples.
    pub fn new(fingerprint: impl Into<String>) -> StatsSet {
        StatsSet { fingerprint: fingerprint.into(), samples: 0, tensors: BTreeMap::new() }
    }

    /// Inserts (or replaces) the statistics of `name`.
    pub fn insert(&mut self, name: impl Into<String>, stats: TensorStats) {
        self.tensors.insert(name.into(), stats);
    }

    pub fn get(&self, name: &str) -> Option<&TensorStats> {
        self.tensors.get(name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut TensorStats> {
        self.tensors.get_mut(name)
    }

    /// Removes and returns the statistics of `name`.
    pub fn remove(&mut self, name: &str) -> Option<TensorStats> {
        self.tensors.remove(name)
    }

    /// All entries, ordered by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TensorStats)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Samples (dataset items) the set was collected from, as recorded by
    /// the caller with [`set_samples`](Self::set_samples); merging adds them.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    pub fn set_samples(&mut self, samples: u64) {
        self.samples = samples;
    }

    /// Merges `other` key-wise (entries only in `other` are copied) and adds
    /// its sample count. Errors, leaving `self` unchanged, when the
    /// fingerprints differ or any pair of entries cannot be merged (the
    /// error names the entry).
    pub fn merge(&mut self, other: &StatsSet) -> Result<(), StatsError> {
        if self.fingerprint != other.fingerprint {
            return Err(StatsError::Incompatible(format!(
                "fingerprints differ: {:?} vs {:?}",
                self.fingerprint, other.fingerprint
            )));
        }
        let samples = self.samples.checked_add(other.samples).ok_or(StatsError::Overflow)?;
        let mut merged = Vec::with_capacity(other.tensors.len());
        for (name, theirs) in &other.tensors {
            let entry = match self.tensors.get(name) {
                Some(ours) => {
                    let mut m = ours.clone();
                    m.merge(theirs).map_err(|e| StatsError::Incompatible(format!("{name}: {e}")))?;
                    m
                }
                None => theirs.clone(),
            };
            merged.push((name.clone(), entry));
        }
        self.tensors.extend(merged);
        self.samples = samples;
        Ok(())
    }

    /// Saves as JSON, atomically: the file is written under a temporary
    /// name in the same directory, flushed to disk, then renamed over
    /// `path`, so `path` is never partially written. Errors name the file.
    pub fn save(&self, path: &Path) -> Result<(), StatsError> {
        let io = |source| StatsError::Io { path: path.to_path_buf(), source };
        let bytes = serde_json::to_vec(self)
            .map_err(|e| StatsError::Format { path: path.to_path_buf(), msg: format!("cannot serialize: {e}") })?;
        let (tmp, mut file) = create_temp(path).map_err(io)?;
        let written = file.write_all(&bytes).and_then(|()| file.sync_all());
        drop(file);
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        Ok(())
    }

    /// Loads a set saved by [`save`](Self::save). A file that cannot be
    /// read, is not JSON of this format, has another format version, or
    /// holds inconsistent statistics (vector lengths not matching channel
    /// counts, counts that do not add up, histograms not of the declared
    /// size or above [`crate::MAX_HISTOGRAM_BINS`] bins, ...) is an error
    /// naming the file, never a panic; nothing is allocated beyond what the
    /// file's contents justify.
    pub fn load(path: &Path) -> Result<StatsSet, StatsError> {
        let bytes = std::fs::read(path).map_err(|source| StatsError::Io { path: path.to_path_buf(), source })?;
        let format = |msg: String| StatsError::Format { path: path.to_path_buf(), msg };
        let header: Header =
            serde_json::from_slice(&bytes).map_err(|e| format(format!("not a statistics file: {e}")))?;
        if header.format.as_deref() != Some(FORMAT_NAME) {
            return Err(format(format!(
                "not a statistics file (format {:?}, expected {FORMAT_NAME:?})",
                header.format
            )));
        }
        match header.version {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(found) => {
                return Err(StatsError::UnsupportedVersion {
                    path: path.to_path_buf(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            None => return Err(format("no format version".into())),
        }
        serde_json::from_slice(&bytes).map_err(|e| format(e.to_string()))
    }
}

/// Creates a new temporary file next to `path` (same directory, so the
/// rename is atomic).
fn create_temp(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map_or_else(|| "stats".into(), |n| n.to_string_lossy().into_owned());
    let pid = std::process::id();
    let mut attempt = 0u32;
    loop {
        let tmp = dir.join(format!(".{name}.{pid}.{attempt}.tmp"));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
#[path = "set_tests.rs"]
mod tests;

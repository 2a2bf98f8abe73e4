//! Named tensors in NumPy `.npz` archives (inputs, outputs, datasets).
//!
//! Reading checks each array's header against the bytes stored; an archive
//! with more than 8 end-of-central-directory signatures in its last 64 KiB
//! is refused before the zip reader tries each one.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use ndarray::{IxDyn, OwnedRepr};
use ndarray_npy::{NpzWriter, ReadNpyExt};
use ptq_ir::Tensor;

use crate::error::Error;

fn err(path: &Path, msg: impl ToString) -> Error {
    Error::Npz { path: path.to_path_buf(), msg: msg.to_string() }
}

/// Reads every array of an `.npz` file, in archive order. Array names lose a
/// trailing `.npy`. Supported dtypes: f32, f64, f16 (stored as u16 is not
/// recognised), i8, u8, i16, u16, i32, u32, i64, u64, bool.
pub fn read(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>, Error> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| err(path, e))?;
    read_from(file, path)
}

/// Reads every array of an `.npz` archive held in memory, as [`read`] does;
/// `label` names it in errors.
pub fn read_bytes(bytes: &[u8], label: &str) -> Result<Vec<(String, Tensor)>, Error> {
    read_from(std::io::Cursor::new(bytes), Path::new(label))
}

/// The end-of-central-directory record sits in the last 22 + 65,535 bytes
/// (its fixed part and the longest comment).
const EOCD_TAIL: u64 = 22 + 65_535;
/// More end-of-central-directory signatures than this in that tail is
/// refused: NumPy writes one (two with zip64), and the zip reader tries
/// every candidate, which a crafted file turns into seconds of work.
const MAX_EOCD_CANDIDATES: usize = 8;

fn read_from<R: Read + Seek>(mut reader: R, path: &Path) -> Result<Vec<(String, Tensor)>, Error> {
    let candidates = eocd_candidates(&mut reader).map_err(|e| err(path, e))?;
    if candidates > MAX_EOCD_CANDIDATES {
        return Err(err(
            path,
            format!(
                "is corrupt: {candidates} end-of-central-directory signatures in its last 64 KiB (at most {MAX_EOCD_CANDIDATES})"
            ),
        ));
    }
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| err(path, e))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| err(path, e))?;
        let name = entry.name().to_string();
        // Read as the data comes rather than into a buffer of the size the
        // archive declares: memory follows the bytes actually stored.
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| err(path, format!("array {name:?}: {e}")))?;
        let t = read_one(&bytes).map_err(|msg| err(path, format!("array {name:?} {msg}")))?;
        out.push((name.trim_end_matches(".npy").to_string(), t));
    }
    Ok(out)
}

/// The end-of-central-directory signatures in the archive's tail, leaving
/// the reader at the start.
fn eocd_candidates<R: Read + Seek>(reader: &mut R) -> std::io::Result<usize> {
    let len = reader.seek(SeekFrom::End(0))?;
    reader.seek(SeekFrom::Start(len.saturating_sub(EOCD_TAIL)))?;
    let mut tail = Vec::new();
    reader.by_ref().take(EOCD_TAIL).read_to_end(&mut tail)?;
    reader.seek(SeekFrom::Start(0))?;
    Ok(tail.windows(4).filter(|w| *w == b"PK\x05\x06").count())
}

/// One `.npy` file's array. The header's shape is checked against the bytes
/// after it before any element is allocated (every dtype read takes at
/// least a byte per element).
fn read_one(bytes: &[u8]) -> Result<Tensor, String> {
    // The header's own length (NPY format 1.0: u16 at byte 8; 2.0 and 3.0:
    // u32), checked before the reader allocates it.
    let header_len = match bytes.get(6) {
        Some(1) => bytes.get(8..10).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]]))),
        Some(2 | 3) => bytes.get(8..12).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
        _ => None,
    };
    if header_len.is_some_and(|n| n > bytes.len()) {
        return Err(format!("is corrupt: its header is longer than the {} bytes stored", bytes.len()));
    }
    let mut rest = bytes;
    let header = ndarray_npy::npy::header::Header::from_reader(&mut rest).map_err(|e| format!("is corrupt: {e}"))?;
    let len = header.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    match len {
        Some(n) if n <= rest.len() => {}
        _ => {
            return Err(format!(
                "is corrupt: its shape {:?} needs more than the {} bytes stored",
                header.shape,
                rest.len()
            ));
        }
    }
    macro_rules! attempt {
        ($t:ty, $v:ident) => {
            if let Ok(a) = ndarray::ArrayBase::<OwnedRepr<$t>, IxDyn>::read_npy(bytes) {
                return Ok(Tensor::$v(a));
            }
        };
    }
    attempt!(f32, F32);
    attempt!(i64, I64);
    attempt!(i32, I32);
    attempt!(f64, F64);
    attempt!(bool, Bool);
    attempt!(u8, U8);
    attempt!(i8, I8);
    attempt!(i16, I16);
    attempt!(u16, U16);
    attempt!(u32, U32);
    attempt!(u64, U64);
    Err("has an unsupported dtype or is corrupt".into())
}

/// Writes named tensors to an uncompressed `.npz` file atomically. f16,
/// bf16 and float8 tensors are widened to f32 (NumPy has no bf16 or float8),
/// int4 and uint4 to i8 and u8. String tensors cannot be written (an error
/// naming the array; nothing is left behind).
pub fn write(path: impl AsRef<Path>, tensors: &[(String, Tensor)]) -> Result<(), Error> {
    let path = path.as_ref();
    let name = path.file_name().ok_or_else(|| err(path, "not a file path"))?.to_string_lossy().into_owned();
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| -> Result<(), Error> {
        let mut w = NpzWriter::new(File::create(&tmp).map_err(|e| err(path, e))?);
        for (k, t) in tensors {
            let r = match t {
                Tensor::F32(a) => w.add_array(k.as_str(), a),
                Tensor::F64(a) => w.add_array(k.as_str(), a),
                Tensor::F16(a) => w.add_array(k.as_str(), &a.mapv(half::f16::to_f32)),
                Tensor::BF16(a) => w.add_array(k.as_str(), &a.mapv(half::bf16::to_f32)),
                Tensor::I8(a) => w.add_array(k.as_str(), a),
                Tensor::U8(a) => w.add_array(k.as_str(), a),
                Tensor::I16(a) => w.add_array(k.as_str(), a),
                Tensor::U16(a) => w.add_array(k.as_str(), a),
                Tensor::I32(a) => w.add_array(k.as_str(), a),
                Tensor::U32(a) => w.add_array(k.as_str(), a),
                Tensor::I64(a) => w.add_array(k.as_str(), a),
                Tensor::U64(a) => w.add_array(k.as_str(), a),
                Tensor::Bool(a) => w.add_array(k.as_str(), a),
                Tensor::F8E4M3FN(a) => w.add_array(k.as_str(), &a.mapv(|x| x.to_f32())),
                Tensor::F8E4M3FNUZ(a) => w.add_array(k.as_str(), &a.mapv(|x| x.to_f32())),
                Tensor::F8E5M2(a) => w.add_array(k.as_str(), &a.mapv(|x| x.to_f32())),
                Tensor::F8E5M2FNUZ(a) => w.add_array(k.as_str(), &a.mapv(|x| x.to_f32())),
                Tensor::I4(a) => w.add_array(k.as_str(), a),
                Tensor::U4(a) => w.add_array(k.as_str(), a),
                Tensor::String(_) => {
                    return Err(err(path, format!("array {k:?}: string tensors cannot be stored in .npz")));
                }
            };
            r.map_err(|e| err(path, e))?;
        }
        w.finish().map_err(|e| err(path, e))?;
        Ok(())
    })();
    match result {
        Ok(()) => std::fs::rename(&tmp, path).map_err(|e| err(path, e)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Reads integer class labels (one per item) from a `.npy` file of int64
/// or int32.
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<i64>, Error> {
    let path = path.as_ref();
    let open = || File::open(path).map_err(|e| err(path, e));
    if let Ok(a) = ndarray_npy::ReadNpyExt::read_npy(open()?) {
        let a: ndarray::ArrayD<i64> = a;
        return Ok(a.iter().copied().collect());
    }
    let a: ndarray::ArrayD<i32> = ndarray_npy::ReadNpyExt::read_npy(open()?)
        .map_err(|e| err(path, format!("labels must be an int64 or int32 array: {e}")))?;
    Ok(a.iter().map(|&v| i64::from(v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_end_of_directory_records_are_refused_quickly() {
        // The fuzzer's input: 264 end-of-central-directory signatures made
        // the zip reader try each one (0.7 s for 258 KB).
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npz");
        write(&p, &[("a".to_string(), Tensor::from_f32s(&[1.0, 2.0]))]).unwrap();
        let good = std::fs::read(&p).unwrap();
        assert_eq!(read_bytes(&good, "good.npz").unwrap().len(), 1);
        let mut bad = b"PK\x05\x06".repeat(MAX_EOCD_CANDIDATES + 1);
        bad.extend_from_slice(&good);
        let e = read_bytes(&bad, "bad.npz").unwrap_err().to_string();
        assert!(e.contains("bad.npz") && e.contains("end-of-central-directory"), "{e}");
        // Up to the limit the archive is read as before.
        let mut ok = b"PK\x05\x06".repeat(MAX_EOCD_CANDIDATES - 1);
        ok.extend_from_slice(&good);
        if let Err(e) = read_bytes(&ok, "ok.npz") {
            assert!(!e.to_string().contains("end-of-central-directory"), "{e}");
        }
    }

    #[test]
    fn round_trip_keeps_names_dtypes_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npz");
        let items = vec![
            ("a".to_string(), Tensor::from_f32s(&[1.0, -2.5])),
            ("ids".to_string(), Tensor::from_i64s(&[3, 4, 5])),
            ("m".to_string(), Tensor::Bool(ndarray::arr1(&[true, false]).into_dyn())),
        ];
        write(&p, &items).unwrap();
        assert_eq!(read(&p).unwrap(), items);
        assert_eq!(read_bytes(&std::fs::read(&p).unwrap(), "x.npz").unwrap(), items);
        let e = read_bytes(b"PK\x03\x04 not a zip", "bad.npz").unwrap_err().to_string();
        assert!(e.contains("bad.npz"), "{e}");
    }

    #[test]
    fn narrow_types_widen_and_strings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("y.npz");
        let f8 = ptq_ir::float8::F8E4M3FN::from_f32(-1.5, true);
        let items = vec![
            ("f8".to_string(), Tensor::F8E4M3FN(ndarray::arr1(&[f8]).into_dyn())),
            ("i4".to_string(), Tensor::I4(ndarray::arr1(&[-8i8, 7]).into_dyn())),
        ];
        write(&p, &items).unwrap();
        let back = read(&p).unwrap();
        assert_eq!(back[0].1, Tensor::from_f32s(&[-1.5]));
        assert_eq!(back[1].1, Tensor::I8(ndarray::arr1(&[-8i8, 7]).into_dyn()));
        let s = vec![("s".to_string(), Tensor::String(ndarray::arr1(&["x".to_string()]).into_dyn()))];
        let q = dir.path().join("s.npz");
        assert!(write(&q, &s).unwrap_err().to_string().contains("string tensors"));
        assert!(!q.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn labels_from_npy() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.npy");
        ndarray_npy::write_npy(&p, &ndarray::arr1(&[3i32, 1, 4])).unwrap();
        assert_eq!(read_labels(&p).unwrap(), vec![3, 1, 4]);
        ndarray_npy::write_npy(&p, &ndarray::arr1(&[0.5f32])).unwrap();
        assert!(read_labels(&p).is_err());
    }
    /// An `.npz` holding one stored (uncompressed) entry `name` with `npy`.
    fn npz_of(name: &str, npy: &[u8]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        w.start_file(name, opts).unwrap();
        std::io::Write::write_all(&mut w, npy).unwrap();
        w.finish().unwrap().into_inner()
    }

    /// NPY 1.0 bytes with this header dict and data.
    fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut h = dict.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&u16::try_from(h.len()).unwrap().to_le_bytes());
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out
    }

    /// Fuzzing regression: a header declaring 2^40 elements over 8 bytes of
    /// data made the reader allocate the whole array (4 TiB) and abort.
    #[test]
    fn huge_declared_shape_is_an_error_not_an_allocation() {
        let ok = npz_of(
            "a.npy",
            &npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", &[0, 0, 128, 63, 0, 0, 0, 64]),
        );
        assert_eq!(read_bytes(&ok, "ok.npz").unwrap(), vec![("a".to_string(), Tensor::from_f32s(&[1.0, 2.0]))]);
        let huge =
            npz_of("a.npy", &npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }", &[0; 8]));
        let e = read_bytes(&huge, "huge.npz").unwrap_err().to_string();
        assert!(e.contains("huge.npz") && e.contains("\"a.npy\"") && e.contains("needs more than"), "{e}");
        // A header length past the end of the entry.
        let mut long = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", &[0; 8]);
        long[6] = 2;
        long.splice(8..10, [0xff, 0xff, 0xff, 0xff]);
        let e = read_bytes(&npz_of("b.npy", &long), "long.npz").unwrap_err().to_string();
        assert!(e.contains("header is longer"), "{e}");
    }
}

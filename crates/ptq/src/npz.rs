//! Named tensors in NumPy `.npz` archives (inputs, outputs, datasets).

use std::fs::File;
use std::path::Path;

use ndarray::{IxDyn, OwnedRepr};
use ndarray_npy::{NpzReader, NpzWriter};
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
    let mut npz = NpzReader::new(file).map_err(|e| err(path, e))?;
    let names = npz.names().map_err(|e| err(path, e))?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let t = read_one(&mut npz, &name)
            .ok_or_else(|| err(path, format!("array {name:?} has an unsupported dtype or is corrupt")))?;
        out.push((name.trim_end_matches(".npy").to_string(), t));
    }
    Ok(out)
}

fn read_one(npz: &mut NpzReader<File>, name: &str) -> Option<Tensor> {
    macro_rules! attempt {
        ($t:ty, $v:ident) => {
            if let Ok(a) = npz.by_name::<OwnedRepr<$t>, IxDyn>(name) {
                return Some(Tensor::$v(a));
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
    None
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
}

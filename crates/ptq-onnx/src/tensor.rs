//! `TensorProto` to [`Tensor`] and back.

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use onnx_protobuf::TensorProto;
use onnx_protobuf::tensor_proto::DataLocation;
use ptq_ir::float8::{F8E4M3FN, F8E4M3FNUZ, F8E5M2, F8E5M2FNUZ};
use ptq_ir::tensor::checked_numel;
use ptq_ir::{DType, Tensor};

use crate::dtype::{code_name, from_onnx, to_onnx};
use crate::external::ExternalData;

fn dims(t: &TensorProto) -> Result<Vec<usize>, String> {
    t.dims.iter().map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}"))).collect()
}

fn typed<T: Clone, U>(
    shape: &[usize],
    data: &[T],
    f: impl Fn(&T) -> Option<U>,
    field: &str,
) -> Result<ArrayD<U>, String> {
    let n = checked_numel(shape).ok_or("element count overflows")?;
    if data.len() != n {
        return Err(format!("shape {shape:?} needs {n} elements but {field} holds {}", data.len()));
    }
    let v: Vec<U> = data
        .iter()
        .map(f)
        .collect::<Option<_>>()
        .ok_or_else(|| format!("{field} holds a value out of range for the type"))?;
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| e.to_string())
}

/// A string tensor from `string_data`: one UTF-8 entry per element.
fn strings(t: &TensorProto, shape: &[usize], numel: usize) -> Result<Tensor, String> {
    if t.data_location.enum_value() == Ok(DataLocation::EXTERNAL) || !t.raw_data.is_empty() {
        return Err("STRING tensors must keep their data in string_data".into());
    }
    if t.string_data.len() != numel {
        return Err(format!("shape {shape:?} needs {numel} elements but string_data holds {}", t.string_data.len()));
    }
    let v: Vec<String> = t
        .string_data
        .iter()
        .enumerate()
        .map(|(i, b)| String::from_utf8(b.clone()).map_err(|e| format!("string_data[{i}] is not UTF-8: {e}")))
        .collect::<Result<_, _>>()?;
    ArrayD::from_shape_vec(IxDyn(shape), v).map(Tensor::String).map_err(|e| e.to_string())
}

/// Decodes a tensor, reading external data through `ext` when needed.
///
/// Fixed-width types come from `raw_data` (or external data) in their packed
/// little-endian form or from the typed field the ONNX spec names: float8
/// codes and 16-bit floats as bit patterns in `int32_data`, one per element;
/// int4/uint4 packed two per byte (low nibble first), one byte per
/// `int32_data` entry (a byte written sign-extended, -128..=-1, is accepted).
/// Strings come from `string_data` and must be UTF-8.
pub fn decode(t: &TensorProto, ext: &mut ExternalData) -> Result<Tensor, String> {
    let dtype =
        from_onnx(t.data_type).ok_or_else(|| format!("element type {} is not supported", code_name(t.data_type)))?;
    let shape = dims(t)?;
    let numel = checked_numel(&shape).ok_or("element count overflows")?;
    if dtype == DType::String {
        return strings(t, &shape, numel);
    }
    let nbytes = dtype.packed_len(numel).ok_or("tensor too large")?;
    if t.data_location.enum_value() == Ok(DataLocation::EXTERNAL) {
        let mut location = None;
        let mut offset = 0u64;
        let mut length = None;
        for kv in &t.external_data {
            match kv.key.as_str() {
                "location" => location = Some(kv.value.as_str()),
                "offset" => offset = kv.value.parse().map_err(|_| format!("bad external offset {:?}", kv.value))?,
                "length" => length = Some(kv.value.parse().map_err(|_| format!("bad external length {:?}", kv.value))?),
                _ => {}
            }
        }
        let location = location.ok_or("external tensor without a location")?;
        let length = length.unwrap_or(nbytes as u64);
        if length != nbytes as u64 {
            return Err(format!("external length {length} but shape {shape:?} of {dtype} needs {nbytes} bytes"));
        }
        let bytes = ext.read(location, offset, Some(length))?;
        return Tensor::from_le_bytes(dtype, &shape, &bytes).map_err(|e| e.to_string());
    }
    if !t.raw_data.is_empty() || numel == 0 {
        return Tensor::from_le_bytes(dtype, &shape, &t.raw_data).map_err(|e| e.to_string());
    }
    let i32s = &t.int32_data;
    let byte = |&x: &i32| u8::try_from(x).ok();
    Ok(match dtype {
        DType::F32 => Tensor::F32(typed(&shape, &t.float_data, |&x| Some(x), "float_data")?),
        DType::F64 => Tensor::F64(typed(&shape, &t.double_data, |&x| Some(x), "double_data")?),
        DType::I64 => Tensor::I64(typed(&shape, &t.int64_data, |&x| Some(x), "int64_data")?),
        DType::U64 => Tensor::U64(typed(&shape, &t.uint64_data, |&x| Some(x), "uint64_data")?),
        DType::U32 => Tensor::U32(typed(&shape, &t.uint64_data, |&x| u32::try_from(x).ok(), "uint64_data")?),
        DType::I32 => Tensor::I32(typed(&shape, i32s, |&x| Some(x), "int32_data")?),
        DType::I16 => Tensor::I16(typed(&shape, i32s, |&x| i16::try_from(x).ok(), "int32_data")?),
        DType::U16 => Tensor::U16(typed(&shape, i32s, |&x| u16::try_from(x).ok(), "int32_data")?),
        DType::I8 => Tensor::I8(typed(&shape, i32s, |&x| i8::try_from(x).ok(), "int32_data")?),
        DType::U8 => Tensor::U8(typed(&shape, i32s, |&x| u8::try_from(x).ok(), "int32_data")?),
        DType::Bool => Tensor::Bool(typed(&shape, i32s, |&x| Some(x != 0), "int32_data")?),
        DType::F16 => Tensor::F16(typed(&shape, i32s, |&x| u16::try_from(x).ok().map(f16::from_bits), "int32_data")?),
        DType::BF16 => {
            Tensor::BF16(typed(&shape, i32s, |&x| u16::try_from(x).ok().map(bf16::from_bits), "int32_data")?)
        }
        DType::F8E4M3FN => Tensor::F8E4M3FN(typed(&shape, i32s, |x| byte(x).map(F8E4M3FN), "int32_data")?),
        DType::F8E4M3FNUZ => Tensor::F8E4M3FNUZ(typed(&shape, i32s, |x| byte(x).map(F8E4M3FNUZ), "int32_data")?),
        DType::F8E5M2 => Tensor::F8E5M2(typed(&shape, i32s, |x| byte(x).map(F8E5M2), "int32_data")?),
        DType::F8E5M2FNUZ => Tensor::F8E5M2FNUZ(typed(&shape, i32s, |x| byte(x).map(F8E5M2FNUZ), "int32_data")?),
        DType::I4 | DType::U4 => {
            if i32s.len() != nbytes {
                return Err(format!(
                    "shape {shape:?} of {dtype} needs {nbytes} packed bytes but int32_data holds {}",
                    i32s.len()
                ));
            }
            let bytes: Vec<u8> = i32s
                .iter()
                .map(|&x| if (-128..=255).contains(&x) { Some(x as u8) } else { None })
                .collect::<Option<_>>()
                .ok_or("int32_data holds a value out of range for packed 4-bit data")?;
            Tensor::from_le_bytes(dtype, &shape, &bytes).map_err(|e| e.to_string())?
        }
        DType::String => return strings(t, &shape, numel),
    })
}

/// Encodes a tensor with its data in `raw_data` (int4/uint4 packed two per
/// byte), strings in `string_data`.
pub fn encode(name: &str, t: &Tensor) -> TensorProto {
    let mut p = TensorProto::new();
    p.name = name.to_string();
    p.data_type = to_onnx(t.dtype());
    p.dims = t.shape().iter().map(|&d| d as i64).collect();
    match (t, t.to_le_bytes()) {
        (Tensor::String(a), _) => p.string_data = a.iter().map(|s| s.as_bytes().to_vec()).collect(),
        (_, Some(raw)) => p.raw_data = raw,
        (_, None) => {}
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_fields_decode_and_short_data_fails() {
        let mut p = TensorProto::new();
        p.data_type = to_onnx(DType::F32);
        p.dims = vec![2, 2];
        p.float_data = vec![1.0, 2.0, 3.0, 4.0];
        let mut ext = ExternalData::new(None);
        assert_eq!(decode(&p, &mut ext).unwrap().to_f64_vec(), vec![1.0, 2.0, 3.0, 4.0]);
        p.float_data.pop();
        assert!(decode(&p, &mut ext).is_err());
        p.dims = vec![i64::MAX, 4];
        assert!(decode(&p, &mut ext).is_err());
        p.dims = vec![-1];
        assert!(decode(&p, &mut ext).is_err());
    }

    fn strings_of(v: &[&str]) -> Tensor {
        Tensor::String(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.iter().map(|s| s.to_string()).collect()).unwrap())
    }

    #[test]
    fn strings_decode_encode_and_reject_bad_data() {
        let mut ext = ExternalData::new(None);
        let t = strings_of(&["a", "", "ünï"]);
        let p = encode("s", &t);
        assert!(p.raw_data.is_empty());
        assert_eq!(decode(&p, &mut ext).unwrap(), t);
        let mut bad = p.clone();
        bad.string_data[1] = vec![0xFF, 0xFE];
        assert!(decode(&bad, &mut ext).unwrap_err().contains("string_data[1] is not UTF-8"));
        let mut short = p.clone();
        short.string_data.pop();
        assert!(decode(&short, &mut ext).unwrap_err().contains("needs 3 elements"));
        let mut raw = p;
        raw.raw_data = vec![0; 3];
        assert!(decode(&raw, &mut ext).is_err());
    }

    #[test]
    fn int4_in_raw_data_and_int32_data() {
        let mut ext = ExternalData::new(None);
        let t = Tensor::I4(ArrayD::from_shape_vec(IxDyn(&[3]), vec![7, -8, -1]).unwrap());
        let p = encode("q", &t);
        assert_eq!(p.raw_data, vec![0x87, 0x0F]);
        assert_eq!(decode(&p, &mut ext).unwrap(), t);
        let mut typed = TensorProto::new();
        typed.data_type = to_onnx(DType::I4);
        typed.dims = vec![3];
        typed.int32_data = vec![0x87, 0x0F];
        assert_eq!(decode(&typed, &mut ext).unwrap(), t);
        // A byte written sign-extended is the same byte.
        typed.int32_data = vec![0x87 - 256, 0x0F];
        assert_eq!(decode(&typed, &mut ext).unwrap(), t);
        typed.int32_data = vec![0x87];
        assert!(decode(&typed, &mut ext).is_err());
        typed.int32_data = vec![0x87, 256];
        assert!(decode(&typed, &mut ext).is_err());
        typed.data_type = to_onnx(DType::U4);
        typed.dims = vec![4];
        typed.raw_data = vec![0x21];
        assert!(decode(&typed, &mut ext).unwrap_err().contains("needs 2 bytes"));
    }

    #[test]
    fn float8_codes_in_int32_data() {
        let mut ext = ExternalData::new(None);
        let mut p = TensorProto::new();
        p.data_type = to_onnx(DType::F8E5M2);
        p.dims = vec![2];
        p.int32_data = vec![0x3C, 0xFC];
        let t = decode(&p, &mut ext).unwrap();
        assert_eq!(t.to_f64_vec(), vec![1.0, f64::NEG_INFINITY]);
        assert_eq!(decode(&encode("f", &t), &mut ext).unwrap(), t);
        p.int32_data = vec![0x3C, 300];
        assert!(decode(&p, &mut ext).is_err());
    }

    /// Truncated and byte-flipped encodings of the new element types decode to
    /// a tensor or an error, never a panic, and never trust the dims.
    #[test]
    fn mutated_narrow_and_string_tensors_never_panic() {
        use protobuf::Message;
        let mut samples = vec![
            encode("s", &strings_of(&["abc", "", "ü€"])),
            encode("q", &Tensor::I4(ArrayD::from_shape_vec(IxDyn(&[5]), vec![-8, 7, -1, 0, 3]).unwrap())),
            encode("f", &Tensor::F8E5M2FNUZ(ArrayD::from_shape_vec(IxDyn(&[2]), vec![F8E5M2FNUZ(1); 2]).unwrap())),
        ];
        let mut typed = TensorProto::new();
        typed.data_type = to_onnx(DType::U4);
        typed.dims = vec![3];
        typed.int32_data = vec![0x21, 0x0F];
        samples.push(typed);
        let mut x = 0x5eedu64;
        let mut next = |n: usize| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) as usize % n.max(1)
        };
        let mut ext = ExternalData::new(None);
        for p in &samples {
            let bytes = p.write_to_bytes().unwrap();
            for k in 0..400 {
                let mut b = bytes.clone();
                if k % 2 == 0 {
                    b.truncate(next(bytes.len()));
                } else {
                    let i = next(b.len());
                    b[i] ^= 1 + next(255) as u8;
                }
                if let Ok(m) = TensorProto::parse_from_bytes(&b) {
                    let _ = decode(&m, &mut ext);
                }
            }
            let mut huge = p.clone();
            huge.dims = vec![1 << 40, 1 << 20];
            assert!(decode(&huge, &mut ext).is_err());
        }
    }

    #[test]
    fn raw_round_trip() {
        let t = Tensor::from_i64s(&[1, -2, 3]);
        let mut ext = ExternalData::new(None);
        assert_eq!(decode(&encode("x", &t), &mut ext).unwrap(), t);
    }
}

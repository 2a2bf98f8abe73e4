//! `TensorProto` to [`Tensor`] and back.

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use onnx_protobuf::TensorProto;
use onnx_protobuf::tensor_proto::DataLocation;
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

/// Decodes a tensor, reading external data through `ext` when needed.
pub fn decode(t: &TensorProto, ext: &mut ExternalData) -> Result<Tensor, String> {
    let dtype =
        from_onnx(t.data_type).ok_or_else(|| format!("element type {} is not supported", code_name(t.data_type)))?;
    let shape = dims(t)?;
    let numel = checked_numel(&shape).ok_or("element count overflows")?;
    let nbytes = numel.checked_mul(dtype.size()).ok_or("tensor too large")?;
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
    })
}

/// Encodes a tensor with its data in `raw_data`.
pub fn encode(name: &str, t: &Tensor) -> TensorProto {
    let mut p = TensorProto::new();
    p.name = name.to_string();
    p.data_type = to_onnx(t.dtype());
    p.dims = t.shape().iter().map(|&d| d as i64).collect();
    p.raw_data = t.to_le_bytes();
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

    #[test]
    fn raw_round_trip() {
        let t = Tensor::from_i64s(&[1, -2, 3]);
        let mut ext = ExternalData::new(None);
        assert_eq!(decode(&encode("x", &t), &mut ext).unwrap(), t);
    }
}

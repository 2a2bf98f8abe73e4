//! `TensorProto` to [`Tensor`] and back, with TensorFlow's semantics.
//!
//! Decoding follows TensorFlow's `Tensor::FromProto`: a tensor without
//! elements ignores its data; otherwise non-empty `tensor_content` holds the
//! elements in TensorFlow's in-memory layout (little-endian, int4/uint4 one
//! byte each, strings as a varint32 length list followed by the bytes) and
//! must match the shape exactly; otherwise the typed field of the dtype holds
//! them, where extra values are ignored, fewer values than the shape holds
//! repeat the last one, and no values at all mean zeros (false, empty
//! strings). Typed integer values narrower than their field wrap like a C++
//! cast (int_val 300 for int8 is 44); int4/uint4 keep the low four bits.

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use ptq_ir::float8::{F8E4M3FN, F8E4M3FNUZ, F8E5M2, F8E5M2FNUZ};
use ptq_ir::{DType, Tensor};

use crate::dtype::{from_tf, tf_elem_size, tf_name, to_tf};
use crate::pb;

/// Most elements a typed field may be filled out to ("repeat the last
/// value"): a few bytes of proto must not claim gigabytes.
pub const MAX_FILL_ELEMENTS: usize = 1 << 31;
/// Most bytes a filled-out tensor may take in memory.
pub const MAX_FILL_BYTES: usize = 1 << 31;
/// TensorFlow's largest rank (`TensorShape::MaxDimensions`).
pub const MAX_RANK: usize = 254;

/// The dimensions of a shape proto (a missing one is a scalar). Unknown rank,
/// unknown (negative) dimensions, a rank above [`MAX_RANK`] and element
/// counts beyond `i64::MAX` (ignoring zero dimensions, as an array
/// allocation must) are errors.
pub fn dims(shape: Option<&pb::TensorShapeProto>) -> Result<Vec<usize>, String> {
    let Some(s) = shape else { return Ok(Vec::new()) };
    if s.unknown_rank {
        return Err("shape has unknown rank".into());
    }
    if s.dim.len() > MAX_RANK {
        return Err(format!("rank {} exceeds TensorFlow's maximum {MAX_RANK}", s.dim.len()));
    }
    let dims: Vec<usize> = s
        .dim
        .iter()
        .map(|d| usize::try_from(d.size).map_err(|_| format!("dimension {} is not a known size", d.size)))
        .collect::<Result<_, _>>()?;
    dims.iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |acc, &d| acc.checked_mul(d).filter(|&n| i64::try_from(n).is_ok()))
        .ok_or_else(|| format!("shape {dims:?} has more than 2^63 - 1 elements"))?;
    Ok(dims)
}

/// A shape proto of known dimensions.
pub fn shape_proto(shape: &[usize]) -> pb::TensorShapeProto {
    let dim = shape.iter().map(|&d| pb::tensor_shape_proto::Dim { size: d as i64, name: String::new() }).collect();
    pb::TensorShapeProto { dim, unknown_rank: false }
}

/// Decodes a tensor (see the module docs). The error names what is wrong but
/// not where: the caller adds the node or variable.
pub fn decode(p: &pb::TensorProto) -> Result<Tensor, String> {
    let dtype = from_tf(p.dtype).ok_or_else(|| format!("dtype {} is not supported", tf_name(p.dtype)))?;
    let shape = dims(p.tensor_shape.as_ref())?;
    let numel: usize = shape.iter().product();
    if numel == 0 {
        return Ok(Tensor::zeros(dtype, &shape));
    }
    if !p.tensor_content.is_empty() {
        return match dtype {
            DType::String => decode_string_list(&shape, &p.tensor_content),
            _ => from_content(dtype, &shape, &p.tensor_content),
        };
    }
    let int = &p.int_val;
    let half = &p.half_val;
    let f8 = &p.float8_val;
    let nib = |x: i32| ((x as u8) << 4) as i8 >> 4;
    Ok(match dtype {
        DType::F32 => Tensor::F32(fill(&shape, &p.float_val, 0.0, |&x| Ok(x))?),
        DType::F64 => Tensor::F64(fill(&shape, &p.double_val, 0.0, |&x| Ok(x))?),
        DType::F16 => Tensor::F16(fill(&shape, half, f16::ZERO, |&x| Ok(f16::from_bits(x as u16)))?),
        DType::BF16 => Tensor::BF16(fill(&shape, half, bf16::ZERO, |&x| Ok(bf16::from_bits(x as u16)))?),
        DType::I8 => Tensor::I8(fill(&shape, int, 0, |&x| Ok(x as i8))?),
        DType::U8 => Tensor::U8(fill(&shape, int, 0, |&x| Ok(x as u8))?),
        DType::I16 => Tensor::I16(fill(&shape, int, 0, |&x| Ok(x as i16))?),
        DType::U16 => Tensor::U16(fill(&shape, int, 0, |&x| Ok(x as u16))?),
        DType::I32 => Tensor::I32(fill(&shape, int, 0, |&x| Ok(x))?),
        DType::U32 => Tensor::U32(fill(&shape, &p.uint32_val, 0, |&x| Ok(x))?),
        DType::I64 => Tensor::I64(fill(&shape, &p.int64_val, 0, |&x| Ok(x))?),
        DType::U64 => Tensor::U64(fill(&shape, &p.uint64_val, 0, |&x| Ok(x))?),
        DType::Bool => Tensor::Bool(fill(&shape, &p.bool_val, false, |&x| Ok(x))?),
        DType::F8E4M3FN => Tensor::F8E4M3FN(fill(&shape, f8, F8E4M3FN::ZERO, |&x| Ok(F8E4M3FN(x)))?),
        DType::F8E4M3FNUZ => Tensor::F8E4M3FNUZ(fill(&shape, f8, F8E4M3FNUZ::ZERO, |&x| Ok(F8E4M3FNUZ(x)))?),
        DType::F8E5M2 => Tensor::F8E5M2(fill(&shape, f8, F8E5M2::ZERO, |&x| Ok(F8E5M2(x)))?),
        DType::F8E5M2FNUZ => Tensor::F8E5M2FNUZ(fill(&shape, f8, F8E5M2FNUZ::ZERO, |&x| Ok(F8E5M2FNUZ(x)))?),
        DType::I4 => Tensor::I4(fill(&shape, int, 0, |&x| Ok(nib(x)))?),
        DType::U4 => Tensor::U4(fill(&shape, int, 0, |&x| Ok(x as u8 & 0x0F))?),
        DType::String => {
            // Filling clones the last string: count its bytes too.
            let last = p.string_val[..numel.min(p.string_val.len())].last().map_or(0, Vec::len);
            check_fill(numel, p.string_val.len(), std::mem::size_of::<String>().saturating_add(last))?;
            Tensor::String(fill(&shape, &p.string_val, String::new(), |b| utf8(b))?)
        }
    })
}

/// The elements of `shape` taken from `vals` with TensorFlow's fill rule,
/// refusing fills beyond [`MAX_FILL_ELEMENTS`] / [`MAX_FILL_BYTES`].
fn fill<S, T: Clone>(
    shape: &[usize],
    vals: &[S],
    zero: T,
    f: impl Fn(&S) -> Result<T, String>,
) -> Result<ArrayD<T>, String> {
    let numel: usize = shape.iter().product();
    check_fill(numel, vals.len(), std::mem::size_of::<T>())?;
    let mut v = Vec::with_capacity(numel);
    for x in vals.iter().take(numel) {
        v.push(f(x)?);
    }
    let last = v.last().cloned().unwrap_or(zero);
    v.resize(numel, last);
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| e.to_string())
}

/// Refuses to fill `have` values out to `numel` elements of `elem_bytes`
/// each when that is beyond the caps.
fn check_fill(numel: usize, have: usize, elem_bytes: usize) -> Result<(), String> {
    if have >= numel {
        return Ok(());
    }
    let bytes = numel.checked_mul(elem_bytes.max(1));
    if numel > MAX_FILL_ELEMENTS || bytes.is_none_or(|b| b > MAX_FILL_BYTES) {
        return Err(format!(
            "{have} values would be repeated to fill {numel} elements, more than the {MAX_FILL_ELEMENTS}-element / \
             {MAX_FILL_BYTES}-byte limit"
        ));
    }
    Ok(())
}

fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|e| format!("a string element is not UTF-8: {e}"))
}

/// A fixed-width tensor from TensorFlow's in-memory layout (little-endian;
/// int4/uint4 one byte each, low four bits kept), which must be exactly
/// `shape`'s element count × the element size.
pub(crate) fn from_content(dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<Tensor, String> {
    let elem = tf_elem_size(dtype).ok_or_else(|| format!("{dtype} has no fixed-width layout"))?;
    let numel = ptq_ir::tensor::checked_numel(shape).ok_or("element count overflows")?;
    let expected = numel.checked_mul(elem).ok_or("byte size overflows")?;
    if bytes.len() != expected {
        return Err(format!("shape {shape:?} of {dtype} needs {expected} bytes but {} are present", bytes.len()));
    }
    fn array<T>(shape: &[usize], v: Vec<T>) -> Result<ArrayD<T>, String> {
        ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| e.to_string())
    }
    match dtype {
        DType::I4 => Ok(Tensor::I4(array(shape, bytes.iter().map(|&b| ((b << 4) as i8) >> 4).collect())?)),
        DType::U4 => Ok(Tensor::U4(array(shape, bytes.iter().map(|&b| b & 0x0F).collect())?)),
        _ => Tensor::from_le_bytes(dtype, shape, bytes).map_err(|e| e.to_string()),
    }
}

/// A string tensor from `tensor_content`: one varint32 length per element,
/// then the bytes of every element, which must end the content exactly.
fn decode_string_list(shape: &[usize], content: &[u8]) -> Result<Tensor, String> {
    let numel: usize = shape.iter().product();
    // Every length takes at least one byte.
    if numel > content.len() {
        return Err(format!("tensor_content of {} bytes cannot hold {numel} strings", content.len()));
    }
    let mut rest = content;
    let mut lens = Vec::with_capacity(numel);
    for _ in 0..numel {
        let (len, n) =
            crate::varint::decode(rest).filter(|&(v, _)| v <= u64::from(u32::MAX)).ok_or("bad string length")?;
        rest = &rest[n..];
        lens.push(len as usize);
    }
    if lens.iter().try_fold(0usize, |a, &l| a.checked_add(l)) != Some(rest.len()) {
        return Err("string lengths do not add up to tensor_content's size".into());
    }
    let mut v = Vec::with_capacity(numel);
    for len in lens {
        let (s, tail) = rest.split_at(len);
        v.push(utf8(s)?);
        rest = tail;
    }
    ArrayD::from_shape_vec(IxDyn(shape), v).map(Tensor::String).map_err(|e| e.to_string())
}

/// Encodes a tensor for a graph or SavedModel: fixed-width elements in
/// `tensor_content` in TensorFlow's layout (int4/uint4 one byte each),
/// strings in `string_val`. [`decode`] gives the tensor back.
pub fn encode(t: &Tensor) -> pb::TensorProto {
    let mut p = pb::TensorProto {
        dtype: to_tf(t.dtype()) as i32,
        tensor_shape: Some(shape_proto(t.shape())),
        ..Default::default()
    };
    match t {
        Tensor::String(a) => p.string_val = a.iter().map(|s| s.as_bytes().to_vec()).collect(),
        Tensor::I4(a) => p.tensor_content = a.iter().map(|&x| x as u8).collect(),
        Tensor::U4(a) => p.tensor_content = a.iter().copied().collect(),
        t => p.tensor_content = t.to_le_bytes().unwrap_or_default(),
    }
    p
}

#[cfg(test)]
#[path = "tensor_tests.rs"]
mod tests;

//! numpy arrays to and from ptq tensors. An input array is copied once into
//! the tensor (ptq's tensors own their data); an output tensor's buffer
//! becomes the numpy array without a copy.

use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use ptq::Tensor;
use pyo3::prelude::*;

use crate::errors::DataError;

/// `a` (a numpy array, or anything `numpy.asarray` takes: a list, a torch
/// tensor on the CPU) as a tensor. `what` names it in errors.
pub fn to_tensor(py: Python<'_>, a: &Bound<'_, PyAny>, what: &str) -> PyResult<Tensor> {
    let owned;
    let a = if a.cast::<PyUntypedArray>().is_ok() {
        a
    } else {
        owned = py.import("numpy")?.getattr("asarray")?.call1((a,)).map_err(|e| {
            DataError::new_err(format!(
                "{what}: not an array ({}): {e}",
                a.get_type().name().map_or("?".into(), |n| n.to_string())
            ))
        })?;
        &owned
    };
    macro_rules! take {
        ($($t:ty => $v:ident),*) => {
            $(if let Ok(x) = a.cast::<PyArrayDyn<$t>>() {
                return Ok(Tensor::$v(x.to_owned_array()));
            })*
        };
    }
    take!(f32 => F32, f64 => F64, half::f16 => F16, i64 => I64, i32 => I32, u8 => U8, i8 => I8, bool => Bool,
          i16 => I16, u16 => U16, u32 => U32, u64 => U64);
    let dtype = a.cast::<PyUntypedArray>().map_or_else(|_| "?".to_string(), |u| u.dtype().to_string());
    Err(DataError::new_err(format!("{what}: unsupported dtype {dtype}")))
}

/// `t` as a numpy array. Types numpy lacks widen: bfloat16 and float8 to
/// float32, int4 to int8, uint4 to uint8; strings become an object array.
pub fn to_numpy(py: Python<'_>, t: Tensor) -> PyResult<Bound<'_, PyAny>> {
    Ok(match t {
        Tensor::F32(a) => a.into_pyarray(py).into_any(),
        Tensor::F64(a) => a.into_pyarray(py).into_any(),
        Tensor::F16(a) => a.into_pyarray(py).into_any(),
        Tensor::I8(a) | Tensor::I4(a) => a.into_pyarray(py).into_any(),
        Tensor::U8(a) | Tensor::U4(a) => a.into_pyarray(py).into_any(),
        Tensor::I16(a) => a.into_pyarray(py).into_any(),
        Tensor::U16(a) => a.into_pyarray(py).into_any(),
        Tensor::I32(a) => a.into_pyarray(py).into_any(),
        Tensor::U32(a) => a.into_pyarray(py).into_any(),
        Tensor::I64(a) => a.into_pyarray(py).into_any(),
        Tensor::U64(a) => a.into_pyarray(py).into_any(),
        Tensor::Bool(a) => a.into_pyarray(py).into_any(),
        Tensor::String(a) => {
            let shape: Vec<usize> = a.shape().to_vec();
            let flat: Vec<String> = a.into_iter().collect();
            py.import("numpy")?.getattr("array")?.call1((flat, "object"))?.call_method1("reshape", (shape,))?
        }
        other => {
            let shape = other.shape().to_vec();
            let v: Vec<f32> = other.to_f64_vec().into_iter().map(|x| x as f32).collect();
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), v)
                .map_err(|e| DataError::new_err(e.to_string()))?
                .into_pyarray(py)
                .into_any()
        }
    })
}

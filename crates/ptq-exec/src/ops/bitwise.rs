//! BitwiseAnd, BitwiseOr, BitwiseXor (two integer tensors of one dtype,
//! NumPy broadcasting), BitwiseNot (one integer tensor) and BitShift
//! (unsigned integers; `direction` "LEFT" or "RIGHT"; shifts of the bit
//! width or more give 0), which the IR keeps opaque.

use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::zip_map;

/// Which operation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bitwise {
    And,
    Or,
    Xor,
    Not,
    ShiftLeft,
    ShiftRight,
}

/// The kernel for op type `t`, `None` when it is not a bitwise op.
pub fn prepare(t: &str, a: &Attrs<'_>) -> Option<Result<Box<dyn Kernel>, String>> {
    let op = match t {
        "BitwiseAnd" => Bitwise::And,
        "BitwiseOr" => Bitwise::Or,
        "BitwiseXor" => Bitwise::Xor,
        "BitwiseNot" => Bitwise::Not,
        "BitShift" => match a.string("direction", "") {
            Ok(d) if d == "LEFT" => Bitwise::ShiftLeft,
            Ok(d) if d == "RIGHT" => Bitwise::ShiftRight,
            Ok(d) => return Some(Err(format!("direction must be LEFT or RIGHT, got {d:?}"))),
            Err(e) => return Some(Err(e)),
        },
        _ => return None,
    };
    Some(kern(op, run))
}

macro_rules! logic {
    ($op:expr, $x:expr, $y:expr, $t:ty) => {
        match $op {
            Bitwise::And => zip_map($x, $y, |p: $t, q: $t| p & q)?,
            Bitwise::Or => zip_map($x, $y, |p: $t, q: $t| p | q)?,
            Bitwise::Xor => zip_map($x, $y, |p: $t, q: $t| p ^ q)?,
            Bitwise::ShiftLeft => zip_map($x, $y, |p: $t, q: $t| p.checked_shl(q as u32).unwrap_or(0))?,
            Bitwise::ShiftRight => zip_map($x, $y, |p: $t, q: $t| p.checked_shr(q as u32).unwrap_or(0))?,
            Bitwise::Not => unreachable!("unary"),
        }
    };
}

/// Runs the operation.
pub fn run(op: &Bitwise, ins: &mut Inputs, _n: usize) -> Out {
    use Tensor::*;
    if *op == Bitwise::Not {
        return one(match ins.take(0)? {
            I8(a) => I8(a.mapv(|v| !v)),
            I16(a) => I16(a.mapv(|v| !v)),
            I32(a) => I32(a.mapv(|v| !v)),
            I64(a) => I64(a.mapv(|v| !v)),
            U8(a) => U8(a.mapv(|v| !v)),
            U16(a) => U16(a.mapv(|v| !v)),
            U32(a) => U32(a.mapv(|v| !v)),
            U64(a) => U64(a.mapv(|v| !v)),
            t => return Err(format!("BitwiseNot of {} is not supported", t.dtype())),
        });
    }
    let shift = matches!(op, Bitwise::ShiftLeft | Bitwise::ShiftRight);
    one(match (ins.get(0)?, ins.get(1)?) {
        (U8(x), U8(y)) => U8(logic!(op, x, y, u8)),
        (U16(x), U16(y)) => U16(logic!(op, x, y, u16)),
        (U32(x), U32(y)) => U32(logic!(op, x, y, u32)),
        (U64(x), U64(y)) => U64(logic!(op, x, y, u64)),
        (I8(x), I8(y)) if !shift => I8(logic!(op, x, y, i8)),
        (I16(x), I16(y)) if !shift => I16(logic!(op, x, y, i16)),
        (I32(x), I32(y)) if !shift => I32(logic!(op, x, y, i32)),
        (I64(x), I64(y)) if !shift => I64(logic!(op, x, y, i64)),
        (x, y) => return Err(format!("{op:?} of {} and {} is not supported", x.dtype(), y.dtype())),
    })
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::test_run;

    fn u8s(shape: &[usize], v: &[u8]) -> Tensor {
        Tensor::U8(ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap())
    }

    #[test]
    fn logic_broadcasts_and_shifts_saturate_to_zero() {
        let x = u8s(&[2, 2], &[0b1100, 0b1010, 0xFF, 1]);
        let y = u8s(&[2], &[0b1010, 0b0110]);
        assert_eq!(test_run("BitwiseAnd", &[], vec![x.clone(), y.clone()]).unwrap()[0], u8s(&[2, 2], &[8, 2, 10, 0]));
        assert_eq!(test_run("BitwiseOr", &[], vec![x.clone(), y.clone()]).unwrap()[0], u8s(&[2, 2], &[14, 14, 255, 7]));
        assert_eq!(test_run("BitwiseXor", &[], vec![x.clone(), y]).unwrap()[0], u8s(&[2, 2], &[6, 12, 245, 7]));
        assert_eq!(test_run("BitwiseNot", &[], vec![u8s(&[1], &[1])]).unwrap()[0], u8s(&[1], &[254]));
        let left = [("direction", Attr::String(b"LEFT".to_vec()))];
        let s = test_run("BitShift", &left, vec![u8s(&[3], &[1, 3, 1]), u8s(&[3], &[2, 1, 9])]).unwrap();
        assert_eq!(s[0], u8s(&[3], &[4, 6, 0]));
        let right = [("direction", Attr::String(b"RIGHT".to_vec()))];
        let s = test_run("BitShift", &right, vec![u8s(&[2], &[16, 255]), u8s(&[1], &[4])]).unwrap();
        assert_eq!(s[0], u8s(&[2], &[1, 15]));
        assert!(test_run("BitShift", &[], vec![u8s(&[1], &[1]), u8s(&[1], &[1])]).is_err());
        assert!(test_run("BitwiseAnd", &[], vec![u8s(&[1], &[1]), Tensor::from_i64s(&[1])]).is_err());
    }
}

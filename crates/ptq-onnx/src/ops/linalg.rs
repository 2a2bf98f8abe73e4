//! Gemm (MatMul has no attributes and is handled in the table).

use ptq_ir::ops::gemm::Gemm;

use super::{Emitted, Lowered};
use crate::attrs::{AttrOut, Attrs};

pub fn import_gemm(a: &Attrs) -> Result<Option<Lowered>, String> {
    Lowered::op(Gemm {
        alpha: a.float_or("alpha", 1.0)?,
        beta: a.float_or("beta", 1.0)?,
        trans_a: a.flag("transA", false)?,
        trans_b: a.flag("transB", false)?,
    })
}

pub fn export_gemm(o: &Gemm) -> Emitted {
    let mut out = AttrOut::default();
    out.float_unless("alpha", o.alpha, 1.0)
        .float_unless("beta", o.beta, 1.0)
        .int_unless("transA", i64::from(o.trans_a), 0)
        .int_unless("transB", i64::from(o.trans_b), 0);
    Emitted::new("Gemm", out)
}

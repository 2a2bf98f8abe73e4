//! MaxPool, AveragePool and the global pools.

use ptq_ir::ops::global_pool::GlobalPool;
use ptq_ir::ops::pool::{Pool, PoolKind};
use ptq_ir::ops::spatial::AutoPad;

use super::{Emitted, Lowered};
use crate::attrs::{AttrOut, Attrs};

pub fn import_pool(t: &str, a: &Attrs) -> Result<Option<Lowered>, String> {
    Lowered::op(Pool {
        kind: if t == "MaxPool" { PoolKind::Max } else { PoolKind::Avg },
        auto_pad: super::conv::auto_pad(a)?,
        ceil_mode: a.flag("ceil_mode", false)?,
        count_include_pad: a.flag("count_include_pad", false)?,
        dilations: a.ints("dilations")?,
        kernel_shape: a.ints("kernel_shape")?.ok_or("missing attribute kernel_shape")?,
        pads: a.ints("pads")?,
        storage_order: a.int_or("storage_order", 0)?,
        strides: a.ints("strides")?,
    })
}

pub fn import_global(t: &str) -> Result<Option<Lowered>, String> {
    Lowered::op(GlobalPool { kind: if t == "GlobalMaxPool" { PoolKind::Max } else { PoolKind::Avg } })
}

pub fn export_pool(o: &Pool) -> Emitted {
    let mut out = AttrOut::default();
    if o.auto_pad != AutoPad::NotSet {
        out.string("auto_pad", o.auto_pad.as_str());
    }
    out.int_unless("ceil_mode", i64::from(o.ceil_mode), 0);
    if o.kind == PoolKind::Avg {
        out.int_unless("count_include_pad", i64::from(o.count_include_pad), 0);
    } else {
        out.int_unless("storage_order", o.storage_order, 0);
    }
    out.ints_opt("dilations", &o.dilations)
        .ints("kernel_shape", o.kernel_shape.clone())
        .ints_opt("pads", &o.pads)
        .ints_opt("strides", &o.strides);
    Emitted::new(if o.kind == PoolKind::Max { "MaxPool" } else { "AveragePool" }, out)
}

pub fn export_global(o: &GlobalPool) -> Emitted {
    Emitted::new(if o.kind == PoolKind::Max { "GlobalMaxPool" } else { "GlobalAveragePool" }, AttrOut::default())
}

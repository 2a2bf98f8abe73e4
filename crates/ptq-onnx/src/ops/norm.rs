//! BatchNormalization, LayerNormalization, InstanceNormalization.

use ptq_ir::ops::batch_norm::BatchNorm;
use ptq_ir::ops::instance_norm::InstanceNorm;
use ptq_ir::ops::layer_norm::LayerNorm;

use super::{Emitted, Lowered};
use crate::attrs::{AttrOut, Attrs};

pub fn import_batch_norm(a: &Attrs) -> Result<Option<Lowered>, String> {
    Lowered::op(BatchNorm {
        epsilon: a.float_or("epsilon", 1e-5)?,
        momentum: a.float_or("momentum", 0.9)?,
        training_mode: a.flag("training_mode", false)?,
    })
}

pub fn export_batch_norm(o: &BatchNorm, opset: i64) -> Emitted {
    let mut out = AttrOut::default();
    out.float_unless("epsilon", o.epsilon, 1e-5).float_unless("momentum", o.momentum, 0.9);
    if opset >= 14 {
        out.int_unless("training_mode", i64::from(o.training_mode), 0);
    }
    Emitted::new("BatchNormalization", out)
}

pub fn import_layer_norm(a: &Attrs) -> Result<Option<Lowered>, String> {
    Lowered::op(LayerNorm {
        axis: a.int_or("axis", -1)?,
        epsilon: a.float_or("epsilon", 1e-5)?,
        stash_type: a.int_or("stash_type", 1)?,
    })
}

pub fn export_layer_norm(o: &LayerNorm, opset: i64) -> Result<Emitted, String> {
    if opset < 17 {
        return Err("LayerNormalization needs opset 17".into());
    }
    let mut out = AttrOut::default();
    out.int_unless("axis", o.axis, -1).float_unless("epsilon", o.epsilon, 1e-5).int_unless(
        "stash_type",
        o.stash_type,
        1,
    );
    Ok(Emitted::new("LayerNormalization", out))
}

pub fn import_instance_norm(a: &Attrs) -> Result<Option<Lowered>, String> {
    Lowered::op(InstanceNorm { epsilon: a.float_or("epsilon", 1e-5)? })
}

pub fn export_instance_norm(o: &InstanceNorm) -> Emitted {
    let mut out = AttrOut::default();
    out.float_unless("epsilon", o.epsilon, 1e-5);
    Emitted::new("InstanceNormalization", out)
}

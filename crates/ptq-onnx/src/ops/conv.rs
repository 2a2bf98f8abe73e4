//! Conv and ConvTranspose.

use ptq_ir::ops::conv::Conv;
use ptq_ir::ops::conv_transpose::ConvTranspose;
use ptq_ir::ops::spatial::AutoPad;

use super::{Emitted, Lowered};
use crate::attrs::{AttrOut, Attrs};

pub fn auto_pad(a: &Attrs) -> Result<AutoPad, String> {
    match a.string("auto_pad")? {
        None => Ok(AutoPad::NotSet),
        Some(s) => AutoPad::parse(&s).ok_or_else(|| format!("unknown auto_pad {s:?}")),
    }
}

pub fn import_conv(a: &Attrs) -> Result<Option<Lowered>, String> {
    Lowered::op(Conv {
        auto_pad: auto_pad(a)?,
        dilations: a.ints("dilations")?,
        group: a.int_or("group", 1)?,
        kernel_shape: a.ints("kernel_shape")?,
        pads: a.ints("pads")?,
        strides: a.ints("strides")?,
    })
}

pub fn import_conv_transpose(a: &Attrs) -> Result<Option<Lowered>, String> {
    Lowered::op(ConvTranspose {
        auto_pad: auto_pad(a)?,
        dilations: a.ints("dilations")?,
        group: a.int_or("group", 1)?,
        kernel_shape: a.ints("kernel_shape")?,
        output_padding: a.ints("output_padding")?,
        output_shape: a.ints("output_shape")?,
        pads: a.ints("pads")?,
        strides: a.ints("strides")?,
    })
}

fn auto_pad_out(out: &mut AttrOut, p: AutoPad) {
    if p != AutoPad::NotSet {
        out.string("auto_pad", p.as_str());
    }
}

pub fn export_conv(o: &Conv) -> Emitted {
    let mut out = AttrOut::default();
    auto_pad_out(&mut out, o.auto_pad);
    out.ints_opt("dilations", &o.dilations)
        .int_unless("group", o.group, 1)
        .ints_opt("kernel_shape", &o.kernel_shape)
        .ints_opt("pads", &o.pads)
        .ints_opt("strides", &o.strides);
    Emitted::new("Conv", out)
}

pub fn export_conv_transpose(o: &ConvTranspose) -> Emitted {
    let mut out = AttrOut::default();
    auto_pad_out(&mut out, o.auto_pad);
    out.ints_opt("dilations", &o.dilations)
        .int_unless("group", o.group, 1)
        .ints_opt("kernel_shape", &o.kernel_shape)
        .ints_opt("output_padding", &o.output_padding)
        .ints_opt("output_shape", &o.output_shape)
        .ints_opt("pads", &o.pads)
        .ints_opt("strides", &o.strides);
    Emitted::new("ConvTranspose", out)
}

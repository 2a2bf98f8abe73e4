//! Resize.

use ptq_ir::ops::resize::Resize;

use super::{Emitted, Lowered};
use crate::attrs::{AttrOut, Attrs};

pub fn import(a: &Attrs) -> Result<Option<Lowered>, String> {
    Lowered::op(Resize {
        mode: a.string("mode")?,
        coordinate_transformation_mode: a.string("coordinate_transformation_mode")?,
        nearest_mode: a.string("nearest_mode")?,
        cubic_coeff_a: a.float("cubic_coeff_a")?,
        exclude_outside: a.int("exclude_outside")?,
        extrapolation_value: a.float("extrapolation_value")?,
        antialias: a.int("antialias")?,
        axes: a.ints("axes")?,
        keep_aspect_ratio_policy: a.string("keep_aspect_ratio_policy")?,
    })
}

pub fn export(r: &Resize) -> Emitted {
    let mut o = AttrOut::default();
    o.string_opt("mode", &r.mode)
        .string_opt("coordinate_transformation_mode", &r.coordinate_transformation_mode)
        .string_opt("nearest_mode", &r.nearest_mode)
        .float_opt("cubic_coeff_a", r.cubic_coeff_a)
        .int_opt("exclude_outside", r.exclude_outside)
        .float_opt("extrapolation_value", r.extrapolation_value)
        .int_opt("antialias", r.antialias)
        .ints_opt("axes", &r.axes)
        .string_opt("keep_aspect_ratio_policy", &r.keep_aspect_ratio_policy);
    Emitted::new("Resize", o)
}

//! Elementwise functions of one input.

use ptq_ir::Tensor;
use ptq_ir::ops::unary::{Unary, UnaryKind};
use ptq_kernels::{Threads, parallel};

use super::Out;
use crate::inputs::Inputs;

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;

macro_rules! float_fn {
    ($t:ty, $kind:expr, $erf:path) => {{
        use UnaryKind::*;
        let f: Box<dyn Fn($t) -> $t + Send + Sync> = match $kind {
            Identity => Box::new(|x| x),
            Relu => Box::new(|x: $t| if x > 0.0 { x } else { 0.0 }),
            Sigmoid => Box::new(|x: $t| 1.0 / (1.0 + (-x).exp())),
            Tanh => Box::new(|x: $t| x.tanh()),
            Sqrt => Box::new(|x: $t| x.sqrt()),
            Exp => Box::new(|x: $t| x.exp()),
            Log => Box::new(|x: $t| x.ln()),
            Neg => Box::new(|x: $t| -x),
            Abs => Box::new(|x: $t| x.abs()),
            Reciprocal => Box::new(|x: $t| 1.0 / x),
            Floor => Box::new(|x: $t| x.floor()),
            Ceil => Box::new(|x: $t| x.ceil()),
            Round => Box::new(|x: $t| x.round_ties_even()),
            Erf => Box::new(|x: $t| $erf(x)),
            Sign => Box::new(|x: $t| {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x
                }
            }),
            Sin => Box::new(|x: $t| x.sin()),
            Cos => Box::new(|x: $t| x.cos()),
            Softplus => Box::new(|x: $t| if x > 30.0 { x } else { x.exp().ln_1p() }),
            Softsign => Box::new(|x: $t| x / (1.0 + x.abs())),
            HardSwish => Box::new(|x: $t| x * (x / 6.0 + 0.5).clamp(0.0, 1.0)),
            Mish => Box::new(|x: $t| x * (if x > 30.0 { x } else { x.exp().ln_1p() }).tanh()),
            LeakyRelu { alpha } => {
                let a = alpha as $t;
                Box::new(move |x: $t| if x >= 0.0 { x } else { a * x })
            }
            HardSigmoid { alpha, beta } => {
                let (a, b) = (alpha as $t, beta as $t);
                Box::new(move |x: $t| (a * x + b).clamp(0.0, 1.0))
            }
            Elu { alpha } => {
                let a = alpha as $t;
                Box::new(move |x: $t| if x >= 0.0 { x } else { a * x.exp_m1() })
            }
            Selu { alpha, gamma } => {
                let (a, g) = (alpha as $t, gamma as $t);
                Box::new(move |x: $t| if x > 0.0 { g * x } else { g * a * x.exp_m1() })
            }
            Celu { alpha } => {
                let a = alpha as $t;
                Box::new(move |x: $t| x.max(0.0) + (a * (x / a).exp_m1()).min(0.0))
            }
            ThresholdedRelu { alpha } => {
                let a = alpha as $t;
                Box::new(move |x: $t| if x > a { x } else { 0.0 })
            }
            Gelu { tanh: false } => Box::new(|x: $t| 0.5 * x * (1.0 + $erf(x * std::f64::consts::FRAC_1_SQRT_2 as $t))),
            Gelu { tanh: true } => {
                Box::new(|x: $t| 0.5 * x * (1.0 + (SQRT_2_OVER_PI as $t * (x + 0.044715 * x * x * x)).tanh()))
            }
            Not | IsNaN => return Err(format!("{} is not defined on floats here", $kind.name())),
        };
        f
    }};
}

macro_rules! int_unary {
    ($a:ident, $kind:expr, $variant:ident) => {
        match $kind {
            UnaryKind::Identity => Tensor::$variant($a),
            UnaryKind::Neg => Tensor::$variant($a.mapv(|x| x.wrapping_neg())),
            UnaryKind::Abs => Tensor::$variant($a.mapv(|x| x.wrapping_abs())),
            UnaryKind::Sign => Tensor::$variant($a.mapv(|x| x.signum())),
            UnaryKind::Relu => Tensor::$variant($a.mapv(|x| x.max(0))),
            k => return Err(format!("{} is not defined on {}", k.name(), stringify!($variant))),
        }
    };
}

macro_rules! uint_unary {
    ($a:ident, $kind:expr, $variant:ident) => {
        match $kind {
            UnaryKind::Identity | UnaryKind::Abs | UnaryKind::Relu => Tensor::$variant($a),
            UnaryKind::Neg => Tensor::$variant($a.mapv(|x| x.wrapping_neg())),
            UnaryKind::Sign => Tensor::$variant($a.mapv(|x| x.min(1))),
            k => return Err(format!("{} is not defined on {}", k.name(), stringify!($variant))),
        }
    };
}

/// A 16-bit float unary op computed in f32 and rounded back.
macro_rules! half_unary {
    ($a:ident, $kind:expr, $variant:ident, $t:ty) => {
        if $kind == UnaryKind::IsNaN {
            Tensor::Bool($a.mapv(|x| x.is_nan()))
        } else {
            let f = float_fn!(f32, $kind, libm::erff);
            Tensor::$variant($a.mapv(|x| <$t>::from_f32(f(x.to_f32()))))
        }
    };
}

/// Elements per parallel chunk; smaller tensors run on the calling thread.
const CHUNK: usize = 1 << 15;

/// Applies `f` to every element, in parallel chunks for large slices when
/// `threads` allows.
fn each(s: &mut [f32], threads: Threads, f: impl Fn(f32) -> f32 + Sync) {
    if threads == Threads::Pool && s.len() >= 2 * CHUNK {
        parallel::for_each_chunk_mut(s, CHUNK, threads, || (), |(), (_, c)| c.iter_mut().for_each(|v| *v = f(*v)));
    } else {
        s.iter_mut().for_each(|v| *v = f(*v));
    }
}

/// Runs a slice kernel over `s`, in parallel chunks for large slices when
/// `threads` allows.
fn chunks(s: &mut [f32], threads: Threads, f: impl Fn(&mut [f32]) + Sync) {
    if threads == Threads::Pool && s.len() >= 2 * CHUNK {
        parallel::for_each_chunk_mut(s, CHUNK, threads, || (), |(), (_, c)| f(c));
    } else {
        f(s);
    }
}

/// Statically dispatched loops for the common f32 activations; false when `k` is not one of them.
fn fast_f32(k: UnaryKind, s: &mut [f32], t: Threads) -> bool {
    use UnaryKind::*;
    match k {
        Identity => {}
        Relu => ptq_kernels::relu(s),
        Exp => ptq_kernels::exp(s),
        Sigmoid => chunks(s, t, ptq_kernels::sigmoid),
        Tanh => chunks(s, t, ptq_kernels::tanh),
        Sqrt => each(s, t, f32::sqrt),
        Neg => each(s, t, |x| -x),
        Abs => each(s, t, f32::abs),
        Reciprocal => each(s, t, |x| 1.0 / x),
        Erf => chunks(s, t, ptq_kernels::erf),
        // The int8 epilogue's own function, so a fused HardSwish agrees.
        HardSwish => each(s, t, ptq_kernels::int8::hard_swish_one),
        LeakyRelu { alpha } => each(s, t, move |x| if x >= 0.0 { x } else { alpha * x }),
        HardSigmoid { alpha, beta } => each(s, t, move |x| (alpha * x + beta).clamp(0.0, 1.0)),
        Gelu { tanh: false } => chunks(s, t, ptq_kernels::gelu),
        _ => return false,
    }
    true
}

/// Runs a unary op; the input buffer is reused when it dies here. f16 and
/// bf16 are computed in f32; integers support the ops that are exact on them.
pub fn run(op: &Unary, ins: &mut Inputs, _n: usize) -> Out {
    let threads = ins.threads;
    let x = ins.take(0)?;
    let k = op.kind;
    Ok(vec![Some(match x {
        Tensor::F32(mut a) if k != UnaryKind::IsNaN => {
            if !a.is_standard_layout() {
                a = a.as_standard_layout().into_owned();
            }
            let done = a.as_slice_mut().is_some_and(|s| fast_f32(k, s, threads));
            if !done {
                let f = float_fn!(f32, k, libm::erff);
                a.mapv_inplace(f);
            }
            Tensor::F32(a)
        }
        Tensor::F64(mut a) if k != UnaryKind::IsNaN => {
            let f = float_fn!(f64, k, libm::erf);
            a.mapv_inplace(f);
            Tensor::F64(a)
        }
        Tensor::F32(a) => Tensor::Bool(a.mapv(f32::is_nan)),
        Tensor::F64(a) => Tensor::Bool(a.mapv(f64::is_nan)),
        Tensor::Bool(a) => match k {
            UnaryKind::Not => Tensor::Bool(a.mapv(|x| !x)),
            UnaryKind::Identity => Tensor::Bool(a),
            k => return Err(format!("{} is not defined on bool", k.name())),
        },
        Tensor::I8(a) => int_unary!(a, k, I8),
        Tensor::I16(a) => int_unary!(a, k, I16),
        Tensor::I32(a) => int_unary!(a, k, I32),
        Tensor::I64(a) => int_unary!(a, k, I64),
        Tensor::U8(a) => uint_unary!(a, k, U8),
        Tensor::U16(a) => uint_unary!(a, k, U16),
        Tensor::U32(a) => uint_unary!(a, k, U32),
        Tensor::U64(a) => uint_unary!(a, k, U64),
        Tensor::F16(a) => half_unary!(a, k, F16, half::f16),
        Tensor::BF16(a) => half_unary!(a, k, BF16, half::bf16),
        t => return Err(format!("{} is not defined on {}", k.name(), t.dtype())),
    })])
}

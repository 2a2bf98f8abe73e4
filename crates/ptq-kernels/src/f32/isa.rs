//! Run-time choice of instruction set for the kernels written as plain
//! loops (the compiler vectorises them for whichever features are enabled).

/// Instruction sets the hand-dispatched kernels have a build for. Each such
/// kernel has one body, `#[inline(always)]`, compiled once per variant inside
/// a `#[target_feature]` wrapper. The bodies never let the compiler contract
/// a multiplication and an addition; where they want a fused multiply-add
/// they call `f32::mul_add`, which rounds once on every build (an FMA
/// instruction on AVX2 and AVX-512, the C library's `fmaf` on the
/// baseline), so every build gives bit-identical results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Isa {
    /// The variant the f32 kernels run: the one that matches the int8 tier
    /// `PTQ_CPU_TIER` pins (`scalar` → baseline, `avx2` → AVX2,
    /// `avx512vnni` → AVX-512), else the widest this CPU supports. Read once
    /// per process. An unknown or unavailable tier name leaves the widest;
    /// the int8 path reports it. The variants give identical bits, so the
    /// pin changes speed only, which is what lets one machine time another
    /// tier's f32 path.
    pub(crate) fn detect() -> Isa {
        static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *ISA.get_or_init(|| Isa::for_setting(std::env::var(crate::int8::TIER_ENV).ok().as_deref()))
    }

    /// [`Isa::detect`] for a given value of `PTQ_CPU_TIER` (`None`: unset).
    pub(crate) fn for_setting(value: Option<&str>) -> Isa {
        let pinned = value
            .filter(|v| !v.trim().is_empty())
            .and_then(|v| crate::int8::Tier::parse(v).ok())
            .and_then(|t| crate::int8::Int8Kernels::for_tier(t).ok());
        pinned.map_or_else(Isa::widest, |k| k.isa)
    }

    /// The widest variant this CPU supports (cached by the standard library).
    pub(crate) fn widest() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }

    /// Every variant this CPU can run, the baseline first (for tests that
    /// compare the builds).
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Isa> {
        let mut all = vec![Isa::Baseline];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                all.push(Isa::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                all.push(Isa::Avx512);
            }
        }
        all
    }
}

/// The mask of the first `n` of 16 lanes (all of them for `n ≥ 16`).
#[cfg(target_arch = "x86_64")]
pub(crate) fn lane_mask(n: usize) -> u16 {
    if n >= 16 { u16::MAX } else { (1u16 << n) - 1 }
}

/// Defines `fn $name(isa: Isa, args…)` that runs `$body(args…)` compiled for
/// the instruction set `isa` names. `$body` must be `#[inline(always)]` (and
/// so must everything it calls in its hot loops), or it is compiled only
/// once, for the baseline.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $body:path;) => {
        $(#[$meta])*
        $vis fn $name(isa: $crate::f32::isa::Isa, $($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2($($arg: $ty),*) {
                $body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            fn avx512($($arg: $ty),*) {
                $body($($arg),*)
            }
            match isa {
                $crate::f32::isa::Isa::Baseline => $body($($arg),*),
                // SAFETY: `Isa::detect` returns Avx2 only after checking that
                // the CPU supports AVX2 and FMA.
                #[cfg(target_arch = "x86_64")]
                $crate::f32::isa::Isa::Avx2 => unsafe { avx2($($arg),*) },
                // SAFETY: `Isa::detect` returns Avx512 only after checking
                // that the CPU supports AVX-512F.
                #[cfg(target_arch = "x86_64")]
                $crate::f32::isa::Isa::Avx512 => unsafe { avx512($($arg),*) },
            }
        }
    };
}

pub(crate) use multiversion;

#[cfg(test)]
mod tests {
    use super::Isa;

    #[test]
    fn the_int8_tier_setting_pins_the_f32_variant() {
        assert_eq!(Isa::for_setting(None), Isa::widest());
        assert_eq!(Isa::for_setting(Some(" ")), Isa::widest());
        assert_eq!(Isa::for_setting(Some("no-such-tier")), Isa::widest());
        assert_eq!(Isa::for_setting(Some("scalar")), Isa::Baseline);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            assert_eq!(Isa::for_setting(Some("AVX2")), Isa::Avx2);
        }
    }
}

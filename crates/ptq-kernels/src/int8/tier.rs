//! Which instruction set the int8 kernels run on: CPU detection, the
//! `PTQ_CPU_TIER` override and the dispatch table built once per process.

use std::fmt;
use std::sync::OnceLock;

use super::gemm::ConvGeom;
use super::pack::PackedB;
use crate::f32::isa::Isa;

/// Environment variable that pins the int8 tier (`scalar`, `avx2`,
/// `avx512vnni` or `neon`); unset or empty means the best the CPU has.
pub const TIER_ENV: &str = "PTQ_CPU_TIER";

/// An int8 kernel tier (instruction set family).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Portable Rust, any CPU.
    Scalar,
    /// x86-64 AVX2: `vpmaddubsw` + `vpmaddwd`, exact (see `kernel_avx2.rs`).
    Avx2,
    /// x86-64 AVX-512F/BW + AVX-512 VNNI: `vpdpbusd` on zmm.
    Avx512Vnni,
    /// aarch64 NEON (base instructions).
    Neon,
}

impl Tier {
    /// Every tier, slowest first.
    pub const ALL: [Tier; 4] = [Tier::Scalar, Tier::Avx2, Tier::Avx512Vnni, Tier::Neon];

    /// The name `PTQ_CPU_TIER` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Scalar => "scalar",
            Tier::Avx2 => "avx2",
            Tier::Avx512Vnni => "avx512vnni",
            Tier::Neon => "neon",
        }
    }

    /// Parses a tier name (case-insensitive, surrounding spaces ignored).
    pub fn parse(s: &str) -> Result<Tier, TierError> {
        let t = s.trim();
        Tier::ALL
            .into_iter()
            .find(|tier| tier.name().eq_ignore_ascii_case(t))
            .ok_or_else(|| TierError::Unknown(t.to_string()))
    }

    /// Whether this CPU (and build target) can run the tier.
    pub fn is_available(self) -> bool {
        match self {
            Tier::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512Vnni => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "aarch64")]
            Tier::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The fastest tier this CPU can run.
    pub fn best() -> Tier {
        [Tier::Avx512Vnni, Tier::Neon, Tier::Avx2].into_iter().find(|t| t.is_available()).unwrap_or(Tier::Scalar)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a tier cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TierError {
    /// The name is not one of `scalar`, `avx2`, `avx512vnni`, `neon`.
    Unknown(String),
    /// The CPU or build target lacks the tier's instructions.
    Unavailable(Tier),
}

impl fmt::Display for TierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TierError::Unknown(s) => {
                write!(f, "unknown int8 kernel tier {s:?} ({TIER_ENV} takes scalar, avx2, avx512vnni or neon)")
            }
            TierError::Unavailable(t) => write!(f, "this CPU cannot run the {t} int8 kernels (best: {})", Tier::best()),
        }
    }
}

impl std::error::Error for TierError {}

/// `unsafe fn(a, m, za, b, c)`: a tier's whole GEMM; the caller guarantees
/// the CPU features and `a.len() == m * b.k()`, `c.len() == m * b.n()`.
pub(crate) type GemmFn = unsafe fn(&[u8], usize, u8, &PackedB, &mut [i32]);

/// `unsafe fn(image, geometry, output rows, za, b, acc)`: a tier's
/// convolution (see `gemm::drive_conv` for the caller's guarantees).
pub(crate) type ConvFn = unsafe fn(&[u8], &ConvGeom, (usize, usize), u8, &PackedB, &mut [i32]);

/// The int8 dispatch table for one tier. It can only be built for a tier the
/// CPU supports, which is what makes its methods safe to call.
#[derive(Clone, Copy)]
pub struct Int8Kernels {
    tier: Tier,
    pub(crate) gemm: GemmFn,
    pub(crate) conv: ConvFn,
    /// Build of the slice kernels (quantize, epilogues) that matches the tier.
    pub(crate) isa: Isa,
}

impl fmt::Debug for Int8Kernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Int8Kernels").field("tier", &self.tier).finish()
    }
}

impl Int8Kernels {
    /// The table for `tier`, or [`TierError::Unavailable`] if this CPU lacks it.
    pub fn for_tier(tier: Tier) -> Result<Int8Kernels, TierError> {
        if !tier.is_available() {
            return Err(TierError::Unavailable(tier));
        }
        let (gemm, conv, isa): (GemmFn, ConvFn, Isa) = match tier {
            Tier::Scalar => (super::kernel_scalar::gemm, super::kernel_scalar::conv, Isa::Baseline),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2 => (super::kernel_avx2::gemm, super::kernel_avx2::conv, Isa::Avx2),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512Vnni => (super::kernel_avx512::gemm, super::kernel_avx512::conv, Isa::Avx512),
            #[cfg(target_arch = "aarch64")]
            Tier::Neon => (super::kernel_neon::gemm, super::kernel_neon::conv, Isa::Baseline),
            #[allow(unreachable_patterns)]
            _ => return Err(TierError::Unavailable(tier)),
        };
        Ok(Int8Kernels { tier, gemm, conv, isa })
    }

    /// The table for the best tier this CPU has.
    pub fn detect() -> Int8Kernels {
        Int8Kernels::for_tier(Tier::best()).unwrap_or(Int8Kernels {
            tier: Tier::Scalar,
            gemm: super::kernel_scalar::gemm,
            conv: super::kernel_scalar::conv,
            isa: Isa::Baseline,
        })
    }

    /// The tier `PTQ_CPU_TIER` names (an error if unknown or unavailable),
    /// or the best one when it is unset or empty.
    pub fn from_env() -> Result<Int8Kernels, TierError> {
        Int8Kernels::from_setting(std::env::var(TIER_ENV).ok().as_deref())
    }

    /// [`Int8Kernels::from_env`] for a given value of the variable (`None`
    /// when unset).
    pub fn from_setting(value: Option<&str>) -> Result<Int8Kernels, TierError> {
        match value {
            Some(v) if !v.trim().is_empty() => Int8Kernels::for_tier(Tier::parse(v)?),
            _ => Ok(Int8Kernels::detect()),
        }
    }

    /// The tier this table runs.
    pub fn tier(&self) -> Tier {
        self.tier
    }
}

/// The process-wide table: [`Int8Kernels::from_env`], evaluated on the first
/// call and cached (later changes to `PTQ_CPU_TIER` are not seen).
pub fn int8_kernels() -> Result<&'static Int8Kernels, TierError> {
    static TABLE: OnceLock<Result<Int8Kernels, TierError>> = OnceLock::new();
    TABLE.get_or_init(Int8Kernels::from_env).as_ref().map_err(Clone::clone)
}

/// The tier [`int8_kernels`] runs.
pub fn active_tier() -> Result<Tier, TierError> {
    int8_kernels().map(Int8Kernels::tier)
}

/// Tables for every tier this CPU can run (tests compare them).
#[cfg(test)]
pub(crate) fn available() -> Vec<Int8Kernels> {
    Tier::ALL.into_iter().filter_map(|t| Int8Kernels::for_tier(t).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Tier::ALL {
            assert_eq!(Tier::parse(t.name()), Ok(t));
            assert_eq!(Tier::parse(&format!(" {} ", t.name().to_uppercase())), Ok(t));
        }
        assert_eq!(Tier::parse("sse9"), Err(TierError::Unknown("sse9".into())));
    }

    #[test]
    fn unavailable_tier_is_an_error() {
        assert!(Int8Kernels::for_tier(Tier::Scalar).is_ok());
        for t in Tier::ALL {
            assert_eq!(Int8Kernels::for_tier(t).is_ok(), t.is_available(), "{t}");
        }
        #[cfg(target_arch = "x86_64")]
        assert_eq!(Int8Kernels::for_tier(Tier::Neon).err(), Some(TierError::Unavailable(Tier::Neon)));
        assert_eq!(Int8Kernels::detect().tier(), Tier::best());
    }

    #[test]
    fn setting_pins_a_tier() {
        assert_eq!(Int8Kernels::from_setting(None).map(|k| k.tier()), Ok(Tier::best()));
        assert_eq!(Int8Kernels::from_setting(Some(" ")).map(|k| k.tier()), Ok(Tier::best()));
        assert_eq!(Int8Kernels::from_setting(Some("scalar")).map(|k| k.tier()), Ok(Tier::Scalar));
        assert!(matches!(Int8Kernels::from_setting(Some("avx9")), Err(TierError::Unknown(_))));
        for t in Tier::ALL {
            let got = Int8Kernels::from_setting(Some(t.name())).map(|k| k.tier());
            let want = if t.is_available() { Ok(t) } else { Err(TierError::Unavailable(t)) };
            assert_eq!(got, want);
        }
        let msg = TierError::Unavailable(Tier::Neon).to_string();
        assert!(msg.contains("cannot run the neon"), "{msg}");
    }

    #[test]
    fn active_tier_is_available() {
        // The test process may have PTQ_CPU_TIER set; either way the answer
        // is a runnable tier or a clean error.
        match active_tier() {
            Ok(t) => assert!(t.is_available()),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}

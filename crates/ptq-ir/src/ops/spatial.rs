//! Shared attributes and output-size arithmetic for convolution and pooling.

use crate::fact::Dim;

/// ONNX `auto_pad`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutoPad {
    #[default]
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

impl AutoPad {
    /// Parses the ONNX spelling.
    pub fn parse(s: &str) -> Option<AutoPad> {
        Some(match s {
            "NOTSET" | "" => AutoPad::NotSet,
            "SAME_UPPER" => AutoPad::SameUpper,
            "SAME_LOWER" => AutoPad::SameLower,
            "VALID" => AutoPad::Valid,
            _ => return None,
        })
    }

    /// The ONNX spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AutoPad::NotSet => "NOTSET",
            AutoPad::SameUpper => "SAME_UPPER",
            AutoPad::SameLower => "SAME_LOWER",
            AutoPad::Valid => "VALID",
        }
    }
}

/// Window geometry of one spatial axis.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub kernel: u64,
    pub stride: u64,
    pub dilation: u64,
    pub pad_begin: u64,
    pub pad_end: u64,
}

/// Reads per-axis attribute `v` (or `default` when absent), checking its length.
pub fn per_axis(v: &Option<Vec<i64>>, n: usize, default: i64, what: &str) -> Result<Vec<u64>, String> {
    match v {
        None => Ok(vec![default as u64; n]),
        Some(v) if v.len() == n => {
            v.iter().map(|&x| u64::try_from(x).map_err(|_| format!("{what} has negative entry {x}"))).collect()
        }
        Some(v) => Err(format!("{what} has {} entries, expected {n}", v.len())),
    }
}

/// Output size of one spatial axis for a sliding window.
pub fn window_out(input: &Dim, w: Window, auto_pad: AutoPad, ceil_mode: bool) -> Result<Dim, String> {
    let Dim::Known(i) = input else { return Ok(Dim::Unknown) };
    if w.stride == 0 {
        return Err("stride 0".into());
    }
    let eff = w.dilation.checked_mul(w.kernel.saturating_sub(1)).ok_or("kernel too large")? + 1;
    let out = match auto_pad {
        AutoPad::SameUpper | AutoPad::SameLower => i.div_ceil(w.stride),
        AutoPad::Valid => {
            if *i < eff {
                return Err(format!("input size {i} smaller than window {eff}"));
            }
            (i - eff) / w.stride + 1
        }
        AutoPad::NotSet => {
            let padded = i + w.pad_begin + w.pad_end;
            if padded < eff {
                return Err(format!("padded input size {padded} smaller than window {eff}"));
            }
            let span = padded - eff;
            let mut o = if ceil_mode { span.div_ceil(w.stride) } else { span / w.stride } + 1;
            if ceil_mode && (o - 1) * w.stride >= i + w.pad_begin {
                o -= 1;
            }
            o
        }
    };
    Ok(Dim::Known(out))
}

/// Windows of all spatial axes from the common attributes.
pub fn windows(
    kernel: &[u64],
    strides: &Option<Vec<i64>>,
    dilations: &Option<Vec<i64>>,
    pads: &Option<Vec<i64>>,
) -> Result<Vec<Window>, String> {
    let n = kernel.len();
    let s = per_axis(strides, n, 1, "strides")?;
    let d = per_axis(dilations, n, 1, "dilations")?;
    let p = per_axis(pads, 2 * n, 0, "pads")?;
    Ok((0..n)
        .map(|i| Window { kernel: kernel[i], stride: s[i], dilation: d[i], pad_begin: p[i], pad_end: p[i + n] })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_and_pool_sizes() {
        let w = Window { kernel: 3, stride: 1, dilation: 1, pad_begin: 1, pad_end: 1 };
        assert_eq!(window_out(&Dim::Known(8), w, AutoPad::NotSet, false).unwrap(), Dim::Known(8));
        let w = Window { kernel: 2, stride: 2, dilation: 1, pad_begin: 0, pad_end: 0 };
        assert_eq!(window_out(&Dim::Known(7), w, AutoPad::NotSet, false).unwrap(), Dim::Known(3));
        assert_eq!(window_out(&Dim::Known(7), w, AutoPad::NotSet, true).unwrap(), Dim::Known(4));
        assert_eq!(window_out(&Dim::Known(7), w, AutoPad::SameUpper, false).unwrap(), Dim::Known(4));
    }
}

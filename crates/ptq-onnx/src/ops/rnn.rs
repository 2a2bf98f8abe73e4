//! LSTM and GRU.

use ptq_ir::ops::rnn::{Rnn, RnnDirection, RnnKind};

use super::{Emitted, Lowered};
use crate::attrs::{AttrOut, Attrs};

pub fn import(t: &str, a: &Attrs) -> Result<Option<Lowered>, String> {
    let kind = if t == "LSTM" { RnnKind::Lstm } else { RnnKind::Gru };
    let direction = match a.string("direction")? {
        None => RnnDirection::Forward,
        Some(d) => RnnDirection::parse(&d).ok_or_else(|| format!("unknown direction {d:?}"))?,
    };
    let activations = match a.get_strings("activations")? {
        None => None,
        Some(v) => Some(
            v.into_iter()
                .map(|s| String::from_utf8(s).map_err(|_| "activation name is not UTF-8".to_string()))
                .collect::<Result<_, _>>()?,
        ),
    };
    Lowered::op(Rnn {
        kind,
        hidden_size: a.int("hidden_size")?.ok_or("missing attribute hidden_size")?,
        direction,
        activations,
        activation_alpha: a.floats("activation_alpha")?,
        activation_beta: a.floats("activation_beta")?,
        clip: a.float("clip")?,
        input_forget: a.flag("input_forget", false)?,
        linear_before_reset: a.flag("linear_before_reset", false)?,
        layout: a.int_or("layout", 0)?,
    })
}

pub fn export(r: &Rnn) -> Emitted {
    let mut o = AttrOut::default();
    o.int("hidden_size", r.hidden_size);
    if r.direction != RnnDirection::Forward {
        o.string("direction", r.direction.as_str());
    }
    if let Some(acts) = &r.activations {
        o.strings("activations", acts);
    }
    if let Some(v) = &r.activation_alpha {
        o.floats("activation_alpha", v.clone());
    }
    if let Some(v) = &r.activation_beta {
        o.floats("activation_beta", v.clone());
    }
    o.float_opt("clip", r.clip).int_unless("layout", r.layout, 0);
    match r.kind {
        RnnKind::Lstm => {
            o.int_unless("input_forget", i64::from(r.input_forget), 0);
            Emitted::new("LSTM", o)
        }
        RnnKind::Gru => {
            o.int_unless("linear_before_reset", i64::from(r.linear_before_reset), 0);
            Emitted::new("GRU", o)
        }
    }
}

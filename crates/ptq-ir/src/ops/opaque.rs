//! An operator the IR does not model, kept verbatim for export.

use super::{InferInput, OpDef};
use crate::attr::Attr;
use crate::fact::Fact;

/// The source op's type, domain and attributes. Passes treat it as a black box;
/// its outputs keep whatever facts the source model declared.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Opaque {
    pub op_type: String,
    pub domain: String,
    pub attrs: Vec<(String, Attr)>,
}

impl OpDef for Opaque {
    fn op_name(&self) -> &'static str {
        "Opaque"
    }

    fn infer(&self, _inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        Ok(vec![Fact::default(); n])
    }
}

//! Typed access to a node's attributes, and attribute builders for export.

use onnx_protobuf::attribute_proto::AttributeType as T;
use onnx_protobuf::{AttributeProto, NodeProto};
use protobuf::Message;
use ptq_ir::{Attr, DType, Tensor};

use crate::external::ExternalData;

/// A node's attributes, looked up by name with type checks.
#[derive(Clone, Copy)]
pub struct Attrs<'a> {
    node: &'a NodeProto,
}

fn kind(a: &AttributeProto) -> Option<T> {
    a.type_.enum_value().ok()
}

impl<'a> Attrs<'a> {
    /// Wraps a node.
    pub fn new(node: &'a NodeProto) -> Attrs<'a> {
        Attrs { node }
    }

    fn get(&self, name: &str, want: T) -> Result<Option<&'a AttributeProto>, String> {
        match self.node.attribute.iter().find(|a| a.name == name) {
            None => Ok(None),
            Some(a) if kind(a) == Some(want) => Ok(Some(a)),
            Some(a) => Err(format!("attribute {name:?} has type {:?}, expected {want:?}", a.type_)),
        }
    }

    /// An INT attribute.
    pub fn int(&self, name: &str) -> Result<Option<i64>, String> {
        Ok(self.get(name, T::INT)?.map(|a| a.i))
    }

    /// An INT attribute with a default.
    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, String> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    /// An INT attribute read as a flag (non-zero is true).
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, String> {
        Ok(self.int(name)?.map_or(default, |v| v != 0))
    }

    /// An INTS attribute.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        Ok(self.get(name, T::INTS)?.map(|a| a.ints.clone()))
    }

    /// A FLOAT attribute.
    pub fn float(&self, name: &str) -> Result<Option<f32>, String> {
        Ok(self.get(name, T::FLOAT)?.map(|a| a.f))
    }

    /// A FLOAT attribute with a default.
    pub fn float_or(&self, name: &str, default: f32) -> Result<f32, String> {
        Ok(self.float(name)?.unwrap_or(default))
    }

    /// A FLOATS attribute.
    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, String> {
        Ok(self.get(name, T::FLOATS)?.map(|a| a.floats.clone()))
    }

    /// A STRINGS attribute as raw bytes.
    pub fn get_strings(&self, name: &str) -> Result<Option<Vec<Vec<u8>>>, String> {
        Ok(self.get(name, T::STRINGS)?.map(|a| a.strings.clone()))
    }

    /// A STRING attribute as UTF-8.
    pub fn string(&self, name: &str) -> Result<Option<String>, String> {
        self.get(name, T::STRING)?
            .map(|a| String::from_utf8(a.s.clone()).map_err(|_| format!("attribute {name:?} is not UTF-8")))
            .transpose()
    }

    /// A TENSOR attribute, decoded.
    pub fn tensor(&self, name: &str) -> Result<Option<Tensor>, String> {
        self.get(name, T::TENSOR)?.map(|a| crate::tensor::decode(&a.t, &mut ExternalData::new(None))).transpose()
    }

    /// A dtype given as an INT attribute holding an ONNX type code.
    pub fn dtype(&self, name: &str) -> Result<Option<DType>, String> {
        self.int(name)?
            .map(|c| {
                i32::try_from(c).ok().and_then(crate::dtype::from_onnx).ok_or_else(|| {
                    format!("attribute {name:?}: element type {} is not supported", crate::dtype::code_name(c as i32))
                })
            })
            .transpose()
    }

    /// Every attribute in the IR's generic form, for opaque nodes.
    pub fn all_generic(&self) -> Result<Vec<(String, Attr)>, String> {
        self.node.attribute.iter().map(|a| Ok((a.name.clone(), generic(a)?))).collect()
    }
}

fn generic(a: &AttributeProto) -> Result<Attr, String> {
    let mut ext = ExternalData::new(None);
    Ok(match kind(a) {
        Some(T::FLOAT) if a.ref_attr_name.is_empty() => Attr::Float(a.f),
        Some(T::INT) if a.ref_attr_name.is_empty() => Attr::Int(a.i),
        Some(T::STRING) if a.ref_attr_name.is_empty() => Attr::String(a.s.clone()),
        Some(T::FLOATS) if a.ref_attr_name.is_empty() => Attr::Floats(a.floats.clone()),
        Some(T::INTS) if a.ref_attr_name.is_empty() => Attr::Ints(a.ints.clone()),
        Some(T::STRINGS) if a.ref_attr_name.is_empty() => Attr::Strings(a.strings.clone()),
        Some(T::TENSOR) if a.ref_attr_name.is_empty() => match crate::tensor::decode(&a.t, &mut ext) {
            Ok(t) => Attr::Tensor(t),
            Err(_) => foreign(a)?,
        },
        _ => foreign(a)?,
    })
}

fn foreign(a: &AttributeProto) -> Result<Attr, String> {
    Ok(Attr::Foreign {
        format: FOREIGN_FORMAT.into(),
        bytes: a.write_to_bytes().map_err(|e| format!("attribute {:?}: {e}", a.name))?,
    })
}

/// The `Attr::Foreign` format tag for a serialized `onnx.AttributeProto`.
pub const FOREIGN_FORMAT: &str = "onnx.AttributeProto";

/// Builds attributes for export.
#[derive(Default)]
pub struct AttrOut(pub Vec<AttributeProto>);

fn base(name: &str, t: T) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.to_string();
    a.type_ = t.into();
    a
}

impl AttrOut {
    /// Adds an INT.
    pub fn int(&mut self, name: &str, v: i64) -> &mut Self {
        let mut a = base(name, T::INT);
        a.i = v;
        self.0.push(a);
        self
    }

    /// Adds an INT unless it equals the default.
    pub fn int_unless(&mut self, name: &str, v: i64, default: i64) -> &mut Self {
        if v != default {
            self.int(name, v);
        }
        self
    }

    /// Adds an INT when present.
    pub fn int_opt(&mut self, name: &str, v: Option<i64>) -> &mut Self {
        if let Some(v) = v {
            self.int(name, v);
        }
        self
    }

    /// Adds INTS when present.
    pub fn ints_opt(&mut self, name: &str, v: &Option<Vec<i64>>) -> &mut Self {
        if let Some(v) = v {
            self.ints(name, v.clone());
        }
        self
    }

    /// Adds INTS.
    pub fn ints(&mut self, name: &str, v: Vec<i64>) -> &mut Self {
        let mut a = base(name, T::INTS);
        a.ints = v;
        self.0.push(a);
        self
    }

    /// Adds a FLOAT.
    pub fn float(&mut self, name: &str, v: f32) -> &mut Self {
        let mut a = base(name, T::FLOAT);
        a.f = v;
        self.0.push(a);
        self
    }

    /// Adds a FLOAT unless it equals the default (bitwise).
    pub fn float_unless(&mut self, name: &str, v: f32, default: f32) -> &mut Self {
        if v.to_bits() != default.to_bits() {
            self.float(name, v);
        }
        self
    }

    /// Adds a FLOAT when present.
    pub fn float_opt(&mut self, name: &str, v: Option<f32>) -> &mut Self {
        if let Some(v) = v {
            self.float(name, v);
        }
        self
    }

    /// Adds a STRING.
    pub fn string(&mut self, name: &str, v: &str) -> &mut Self {
        let mut a = base(name, T::STRING);
        a.s = v.as_bytes().to_vec();
        self.0.push(a);
        self
    }

    /// Adds a STRING when present.
    pub fn string_opt(&mut self, name: &str, v: &Option<String>) -> &mut Self {
        if let Some(v) = v {
            self.string(name, v);
        }
        self
    }

    /// Adds FLOATS.
    pub fn floats(&mut self, name: &str, v: Vec<f32>) -> &mut Self {
        let mut a = base(name, T::FLOATS);
        a.floats = v;
        self.0.push(a);
        self
    }

    /// Adds STRINGS.
    pub fn strings(&mut self, name: &str, v: &[String]) -> &mut Self {
        let mut a = base(name, T::STRINGS);
        a.strings = v.iter().map(|s| s.as_bytes().to_vec()).collect();
        self.0.push(a);
        self
    }

    /// Adds a TENSOR.
    pub fn tensor(&mut self, name: &str, t: &Tensor) -> &mut Self {
        let mut a = base(name, T::TENSOR);
        a.t = Some(crate::tensor::encode("", t)).into();
        self.0.push(a);
        self
    }

    /// Adds a generic attribute of an opaque node.
    pub fn generic(&mut self, name: &str, v: &Attr) -> Result<&mut Self, String> {
        let a = match v {
            Attr::Float(f) => {
                let mut a = base(name, T::FLOAT);
                a.f = *f;
                a
            }
            Attr::Int(i) => {
                let mut a = base(name, T::INT);
                a.i = *i;
                a
            }
            Attr::String(s) => {
                let mut a = base(name, T::STRING);
                a.s = s.clone();
                a
            }
            Attr::Floats(f) => {
                let mut a = base(name, T::FLOATS);
                a.floats = f.clone();
                a
            }
            Attr::Ints(i) => {
                let mut a = base(name, T::INTS);
                a.ints = i.clone();
                a
            }
            Attr::Strings(s) => {
                let mut a = base(name, T::STRINGS);
                a.strings = s.clone();
                a
            }
            Attr::Tensor(t) => {
                let mut a = base(name, T::TENSOR);
                a.t = Some(crate::tensor::encode("", t)).into();
                a
            }
            Attr::Tensors(ts) => {
                let mut a = base(name, T::TENSORS);
                a.tensors = ts.iter().map(|t| crate::tensor::encode("", t)).collect();
                a
            }
            Attr::Foreign { format, bytes } if format == FOREIGN_FORMAT => {
                AttributeProto::parse_from_bytes(bytes).map_err(|e| format!("attribute {name:?}: {e}"))?
            }
            Attr::Foreign { format, .. } => {
                return Err(format!("attribute {name:?} is in {format} form, which ONNX cannot hold"));
            }
        };
        self.0.push(a);
        Ok(self)
    }
}

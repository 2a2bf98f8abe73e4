//! What is known about a value: its dtype and its (static or symbolic) shape.

use std::fmt;

use crate::dtype::DType;

/// One dimension of a shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A known size.
    Known(u64),
    /// A named symbolic size such as `batch`; equal names are equal sizes.
    Sym(String),
    /// A size nothing is known about.
    Unknown,
}

impl Dim {
    /// The size if known.
    pub fn known(&self) -> Option<u64> {
        match self {
            Dim::Known(v) => Some(*v),
            _ => None,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Known(v) => write!(f, "{v}"),
            Dim::Sym(s) => f.write_str(s),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

impl From<u64> for Dim {
    fn from(v: u64) -> Self {
        Dim::Known(v)
    }
}

/// A list of dimensions; its length is the rank.
pub type Shape = Vec<Dim>;

/// Formats a shape as `[batch,3,224,224]`.
pub fn shape_string(shape: &[Dim]) -> String {
    let parts: Vec<String> = shape.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(","))
}

/// A shape of known dims.
pub fn known_shape(dims: &[usize]) -> Shape {
    dims.iter().map(|&d| Dim::Known(d as u64)).collect()
}

/// The sizes of a shape with -1 for a dim that is not known (the form
/// exporters write).
pub fn signed_dims(shape: &[Dim]) -> Vec<i64> {
    shape.iter().map(|d| d.known().map_or(-1, |n| n as i64)).collect()
}

/// The static sizes of a shape, if every dim is known.
pub fn static_dims(shape: &[Dim]) -> Option<Vec<u64>> {
    shape.iter().map(Dim::known).collect()
}

/// Facts about a value. `None` means unknown (for `shape`: unknown rank).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fact {
    pub dtype: Option<DType>,
    pub shape: Option<Shape>,
}

impl Fact {
    /// A fact with a dtype and a shape.
    pub fn new(dtype: DType, shape: Shape) -> Fact {
        Fact { dtype: Some(dtype), shape: Some(shape) }
    }

    /// A fact with only a dtype.
    pub fn dtype_only(dtype: Option<DType>) -> Fact {
        Fact { dtype, shape: None }
    }

    /// A fact with a dtype and a rank of unknown dims.
    pub fn with_rank(dtype: Option<DType>, rank: usize) -> Fact {
        Fact { dtype, shape: Some(vec![Dim::Unknown; rank]) }
    }

    /// The rank, if known.
    pub fn rank(&self) -> Option<usize> {
        self.shape.as_ref().map(Vec::len)
    }

    /// Merges `other` (inferred) into `self` (declared): keeps the more precise
    /// of each piece. Returns `Err` naming the conflict when they contradict.
    pub fn refine(&mut self, inferred: &Fact) -> Result<(), FactConflict> {
        match (self.dtype, inferred.dtype) {
            (Some(a), Some(b)) if a != b => return Err(FactConflict::DType(a, b)),
            (None, b) => self.dtype = b,
            _ => {}
        }
        match (&mut self.shape, &inferred.shape) {
            (Some(a), Some(b)) if a.len() != b.len() => {
                return Err(FactConflict::Shape(shape_string(a), shape_string(b)));
            }
            (Some(a), Some(b)) => {
                for (da, db) in a.iter_mut().zip(b) {
                    match (&*da, db) {
                        (Dim::Known(x), Dim::Known(y)) if x != y => {
                            return Err(FactConflict::Shape(
                                shape_string(&[Dim::Known(*x)]),
                                shape_string(&[Dim::Known(*y)]),
                            ));
                        }
                        (Dim::Unknown, _) | (Dim::Sym(_), Dim::Known(_)) => *da = db.clone(),
                        _ => {}
                    }
                }
            }
            (None, Some(b)) => self.shape = Some(b.clone()),
            _ => {}
        }
        Ok(())
    }
}

impl Fact {
    /// Like [`Fact::refine`], but a shape that contradicts `inferred` gives
    /// way to it: a rank mismatch takes the inferred shape whole, a known dim
    /// that differs takes the inferred dim, and every other dim is refined as
    /// usual. Returns the shape that was overruled (`None` when nothing
    /// contradicted). A dtype contradiction is still an error.
    pub fn refine_overruling(&mut self, inferred: &Fact) -> Result<Option<String>, FactConflict> {
        let mut trial = self.clone();
        match trial.refine(inferred) {
            Ok(()) => {
                *self = trial;
                Ok(None)
            }
            Err(FactConflict::DType(a, b)) => Err(FactConflict::DType(a, b)),
            Err(FactConflict::Shape(..)) => {
                let declared = self.shape.as_deref().map(shape_string).unwrap_or_default();
                if self.dtype.is_none() {
                    self.dtype = inferred.dtype;
                }
                match (&mut self.shape, &inferred.shape) {
                    (Some(a), Some(b)) if a.len() == b.len() => {
                        for (da, db) in a.iter_mut().zip(b) {
                            match (&*da, db) {
                                (Dim::Known(x), Dim::Known(y)) if x != y => *da = db.clone(),
                                (Dim::Unknown, _) | (Dim::Sym(_), Dim::Known(_)) => *da = db.clone(),
                                _ => {}
                            }
                        }
                    }
                    (a, b) => *a = b.clone(),
                }
                Ok(Some(declared))
            }
        }
    }
}

/// A contradiction between two facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactConflict {
    DType(DType, DType),
    Shape(String, String),
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dtype {
            Some(d) => write!(f, "{d}")?,
            None => f.write_str("?")?,
        }
        match &self.shape {
            Some(s) => f.write_str(&shape_string(s)),
            None => f.write_str("[..]"),
        }
    }
}

/// Multidirectional (numpy) broadcast of two shapes.
pub fn broadcast(a: &[Dim], b: &[Dim]) -> Result<Shape, String> {
    let rank = a.len().max(b.len());
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let da = if i + a.len() >= rank { &a[i + a.len() - rank] } else { &Dim::Known(1) };
        let db = if i + b.len() >= rank { &b[i + b.len() - rank] } else { &Dim::Known(1) };
        out.push(match (da, db) {
            (Dim::Known(1), d) | (d, Dim::Known(1)) => d.clone(),
            (Dim::Known(x), Dim::Known(y)) if x != y => {
                return Err(format!("cannot broadcast {} with {}", shape_string(a), shape_string(b)));
            }
            (Dim::Known(x), _) | (_, Dim::Known(x)) => Dim::Known(*x),
            (Dim::Sym(x), Dim::Sym(y)) if x == y => Dim::Sym(x.clone()),
            _ => Dim::Unknown,
        });
    }
    Ok(out)
}

/// Normalises a possibly negative axis against `rank`.
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) { Ok(a as usize) } else { Err(format!("axis {axis} is out of range for rank {rank}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_mixes_symbolic_and_known() {
        let a = vec![Dim::Sym("b".into()), Dim::Known(1), Dim::Known(4)];
        let b = vec![Dim::Known(3), Dim::Known(1)];
        assert_eq!(broadcast(&a, &b).unwrap(), vec![Dim::Sym("b".into()), Dim::Known(3), Dim::Known(4)]);
        assert!(broadcast(&[Dim::Known(2)], &[Dim::Known(3)]).is_err());
    }

    #[test]
    fn refine_overruling_gives_way_to_inference() {
        let mut f = Fact::new(DType::F32, vec![Dim::Known(1), Dim::Sym("seq".into())]);
        let inferred = Fact::new(DType::F32, vec![Dim::Unknown, Dim::Unknown, Dim::Known(4)]);
        assert_eq!(f.refine_overruling(&inferred).unwrap().as_deref(), Some("[1,seq]"));
        assert_eq!(f.shape, inferred.shape);

        let mut g = Fact::new(DType::F32, vec![Dim::Known(5), Dim::Sym("n".into())]);
        let r = g.refine_overruling(&Fact::new(DType::F32, vec![Dim::Known(7), Dim::Known(3)])).unwrap();
        assert_eq!(r.as_deref(), Some("[5,n]"));
        assert_eq!(g.shape, Some(vec![Dim::Known(7), Dim::Known(3)]));

        let mut h = Fact::new(DType::F32, vec![Dim::Unknown]);
        assert_eq!(h.refine_overruling(&Fact::new(DType::F32, vec![Dim::Known(2)])).unwrap(), None);
        assert_eq!(h.shape, Some(vec![Dim::Known(2)]));
        assert!(h.refine_overruling(&Fact::new(DType::I64, vec![Dim::Known(2)])).is_err());
    }

    #[test]
    fn refine_detects_conflicts() {
        let mut f = Fact::new(DType::F32, vec![Dim::Sym("n".into()), Dim::Known(3)]);
        f.refine(&Fact::new(DType::F32, vec![Dim::Known(2), Dim::Unknown])).unwrap();
        assert_eq!(f.shape, Some(vec![Dim::Known(2), Dim::Known(3)]));
        assert!(f.refine(&Fact::new(DType::I64, vec![])).is_err());
    }
}

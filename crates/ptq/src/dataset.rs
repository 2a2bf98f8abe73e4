//! Calibration and validation data: any source of named input maps, with an
//! optional transform, plus loaders for `.npz` files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{Axis, Slice};
use ptq_ir::Tensor;

use crate::error::Error;

/// One item: named model inputs.
pub type Item = Vec<(String, Tensor)>;

/// What a dataset produces per item: the item or why it could not.
pub type ItemResult = Result<Item, String>;

type Transform = Arc<dyn Fn(Item) -> ItemResult + Send + Sync>;
type Source = Arc<dyn Fn() -> Box<dyn Iterator<Item = ItemResult> + Send> + Send + Sync>;

/// A re-iterable sequence of items. Cloning is cheap (sources are shared).
#[derive(Clone)]
pub struct Dataset {
    source: Source,
    len: Option<usize>,
    transform: Option<Transform>,
    describe: String,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset").field("source", &self.describe).field("len", &self.len).finish()
    }
}

/// Slices `i..i+1` of axis 0, keeping the rank.
fn row(t: &Tensor, i: usize) -> Tensor {
    macro_rules! take {
        ($($v:ident),*) => {
            match t {
                $(Tensor::$v(a) => Tensor::$v(a.slice_axis(Axis(0), Slice::from(i..i + 1)).to_owned()),)*
            }
        };
    }
    take!(
        F32, F64, F16, BF16, I8, U8, I16, U16, I32, U32, I64, U64, Bool, F8E4M3FN, F8E4M3FNUZ, F8E5M2, F8E5M2FNUZ, I4,
        U4, String
    )
}

impl Dataset {
    /// Items held in memory.
    pub fn from_items(items: Vec<Item>) -> Dataset {
        let len = items.len();
        let items = Arc::new(items);
        Dataset {
            source: Arc::new(move || {
                let items = Arc::clone(&items);
                Box::new((0..items.len()).map(move |i| Ok(items[i].clone())))
            }),
            len: Some(len),
            transform: None,
            describe: format!("{len} items in memory"),
        }
    }

    /// Items from a function returning a fresh iterator each time the data
    /// is read (calibration reads it once; accuracy control re-reads).
    pub fn from_fn<I>(len: Option<usize>, make: impl Fn() -> I + Send + Sync + 'static) -> Dataset
    where
        I: Iterator<Item = ItemResult> + Send + 'static,
    {
        Dataset { source: Arc::new(move || Box::new(make())), len, transform: None, describe: "custom source".into() }
    }

    /// One `.npz` whose arrays (keyed by input name) carry a leading item
    /// axis: item i is `array[i..i+1]` of every array, i.e. each item is a
    /// batch of one. All arrays must have the same leading length.
    pub fn from_npz_batched(path: impl AsRef<Path>) -> Result<Dataset, Error> {
        let path = path.as_ref();
        let arrays = crate::npz::read(path)?;
        let mut d = Dataset::from_arrays(arrays).map_err(|msg| Error::Npz { path: path.to_path_buf(), msg })?;
        d.describe = format!("{} ({} items)", path.display(), d.len.unwrap_or(0));
        Ok(d)
    }

    /// In-memory arrays with a leading item axis (see
    /// [`Dataset::from_npz_batched`]).
    pub fn from_arrays(arrays: Vec<(String, Tensor)>) -> Result<Dataset, String> {
        let Some((first, t0)) = arrays.first() else { return Err("no arrays".into()) };
        let n = *t0.shape().first().ok_or_else(|| format!("array '{first}' has no item axis (rank 0)"))?;
        for (name, t) in &arrays {
            if t.shape().first() != Some(&n) {
                return Err(format!("array '{name}' has {:?} items, '{first}' has {n}", t.shape().first()));
            }
        }
        let arrays = Arc::new(arrays);
        Ok(Dataset {
            source: Arc::new(move || {
                let arrays = Arc::clone(&arrays);
                Box::new((0..n).map(move |i| Ok(arrays.iter().map(|(k, t)| (k.clone(), row(t, i))).collect())))
            }),
            len: Some(n),
            transform: None,
            describe: format!("{n} items in memory"),
        })
    }

    /// A directory of `.npz` files, one item each (keys = input names), in
    /// file-name order. A file that cannot be read is an error for that item
    /// naming the file.
    pub fn from_npz_dir(dir: impl AsRef<Path>) -> Result<Dataset, Error> {
        let dir = dir.as_ref();
        let err = |msg: String| Error::Npz { path: dir.to_path_buf(), msg };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| err(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "npz"))
            .collect();
        files.sort();
        let len = files.len();
        let files = Arc::new(files);
        Ok(Dataset {
            source: Arc::new(move || {
                let files = Arc::clone(&files);
                Box::new((0..files.len()).map(move |i| crate::npz::read(&files[i]).map_err(|e| e.to_string())))
            }),
            len: Some(len),
            transform: None,
            describe: format!("{} ({len} files)", dir.display()),
        })
    }

    /// Opens `path`: a directory of `.npz` items, or one batched `.npz`.
    pub fn open(path: impl AsRef<Path>) -> Result<Dataset, Error> {
        let path = path.as_ref();
        if path.is_dir() { Dataset::from_npz_dir(path) } else { Dataset::from_npz_batched(path) }
    }

    /// Applies `f` to every item as it is read (NNCF `transform_func`).
    pub fn with_transform(mut self, f: impl Fn(Item) -> ItemResult + Send + Sync + 'static) -> Dataset {
        self.transform = Some(Arc::new(f));
        self
    }

    /// Number of items, when known.
    pub fn len(&self) -> Option<usize> {
        self.len
    }

    /// True when the dataset is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len == Some(0)
    }

    /// A fresh pass over the items, transformed.
    pub fn iter(&self) -> Box<dyn Iterator<Item = ItemResult> + Send> {
        let it = (self.source)();
        match &self.transform {
            Some(f) => {
                let f = Arc::clone(f);
                Box::new(it.map(move |r| r.and_then(|item| f(item))))
            }
            None => it,
        }
    }

    /// Where the items come from.
    pub fn describe(&self) -> &str {
        &self.describe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(v: f32) -> Item {
        vec![("x".to_string(), Tensor::from_f32s(&[v]))]
    }

    #[test]
    fn sources_re_iterate_and_transforms_apply_to_every_item() {
        let d = Dataset::from_fn(Some(3), || (0..3).map(|i| Ok(item(i as f32)))).with_transform(|mut it| {
            it.push(("y".into(), Tensor::from_f32s(&[1.0])));
            Ok(it)
        });
        for _ in 0..2 {
            let items: Vec<Item> = d.iter().collect::<Result<_, _>>().unwrap();
            assert_eq!(items.len(), 3);
            assert!(items.iter().all(|it| it.len() == 2));
            assert_eq!(items[2][0].1.to_f64_vec(), [2.0]);
        }
        let failing = Dataset::from_items(vec![item(0.0)]).with_transform(|_| Err("bad item".into()));
        assert_eq!(failing.iter().next().unwrap().unwrap_err(), "bad item");
    }

    #[test]
    fn batched_arrays_must_agree_on_the_item_count() {
        let a = Tensor::F32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[4, 2])));
        let b = Tensor::F32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[3, 2])));
        let d = Dataset::from_arrays(vec![("a".into(), a.clone())]).unwrap();
        assert_eq!(d.iter().next().unwrap().unwrap()[0].1.shape(), [1, 2]);
        assert!(Dataset::from_arrays(vec![("a".into(), a), ("b".into(), b)]).unwrap_err().contains("items"));
    }
}

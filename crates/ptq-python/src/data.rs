//! Python data sources as ptq datasets: each pass calls the source for a
//! fresh iterator and converts items one at a time, holding the GIL only
//! while Python code runs, so a data loader streams and is never held whole.

use ptq::accuracy::{AccuracyEvent, Outcome};
use ptq::{Dataset, Item};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyTuple};

use crate::convert::to_tensor;
use crate::errors::{DataError, Raised};

/// The model inputs items are matched to: names in order.
#[derive(Clone, Debug)]
pub struct Inputs(pub Vec<String>);

impl Inputs {
    /// The graph inputs that are not constants, in order.
    pub fn of(model: &ptq::Model) -> Inputs {
        let g = model.graph();
        Inputs(g.inputs().iter().filter(|&&v| g.constant(v).is_none()).map(|&v| g.value(v).name.clone()).collect())
    }

    /// A model-ready item — a dict of arrays named after model inputs, a
    /// tuple in input order, or one array for a one-input model — as named
    /// tensors. `at` names the item in errors (`item 3`).
    pub fn item(&self, py: Python<'_>, obj: &Bound<'_, PyAny>, at: &str) -> PyResult<Item> {
        let names = &self.0;
        let listed = || names.join(", ");
        if let Ok(d) = obj.cast::<PyDict>() {
            let mut item = Vec::with_capacity(d.len());
            for (k, v) in d.iter() {
                let name: String =
                    k.extract().map_err(|_| DataError::new_err(format!("{at}: a key is not a string")))?;
                if !names.contains(&name) {
                    return Err(DataError::new_err(format!(
                        "{at}: '{name}' is not an input of the model (its inputs: {})",
                        listed()
                    )));
                }
                let t = to_tensor(py, &v, &format!("{at}, input '{name}'"))?;
                item.push((name, t));
            }
            return Ok(item);
        }
        if let Ok(t) = obj.cast::<PyTuple>() {
            if t.len() != names.len() {
                return Err(DataError::new_err(format!(
                    "{at}: a tuple of {} arrays for a model with {} inputs ({})",
                    t.len(),
                    names.len(),
                    listed()
                )));
            }
            return names
                .iter()
                .zip(t.iter())
                .map(|(n, v)| Ok((n.clone(), to_tensor(py, &v, &format!("{at}, input '{n}'"))?)))
                .collect();
        }
        match names.as_slice() {
            [one] => Ok(vec![(one.clone(), to_tensor(py, obj, &format!("{at}, input '{one}'"))?)]),
            _ => Err(DataError::new_err(format!(
                "{at}: one array for a model with {} inputs ({}); give a dict or a tuple",
                names.len(),
                listed()
            ))),
        }
    }
}

/// A dataset reading `source()`'s iterator of model-ready items on each
/// pass. Python exceptions (from the source or the conversion) are kept in
/// `raised` for the caller to re-raise.
pub fn dataset(source: Py<PyAny>, len: Option<usize>, inputs: Inputs, raised: Raised) -> Dataset {
    Dataset::from_fn(len, move || {
        let it = Python::attach(|py| -> PyResult<Py<PyIterator>> { Ok(source.bind(py).call0()?.try_iter()?.unbind()) });
        let (iter, first_error) = match it {
            Ok(i) => (Some(i), None),
            Err(e) => (None, Some(Python::attach(|py| raised.keep(py, e)))),
        };
        Items { iter, first_error, index: 0, inputs: inputs.clone(), raised: raised.clone() }
    })
}

struct Items {
    iter: Option<Py<PyIterator>>,
    first_error: Option<String>,
    index: usize,
    inputs: Inputs,
    raised: Raised,
}

impl Iterator for Items {
    type Item = Result<Item, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.first_error.take() {
            return Some(Err(e));
        }
        let iter = self.iter.as_ref()?;
        let index = self.index;
        self.index += 1;
        Python::attach(|py| {
            let next = iter.bind(py).clone().next()?;
            Some(
                next.and_then(|obj| self.inputs.item(py, &obj, &format!("item {index}")))
                    .map_err(|e| self.raised.keep(py, e)),
            )
        })
    }
}

/// Python-side progress: `callback(kind, value, message)` with kind
/// `"start"` (value: the items to calibrate), `"items"` (items done),
/// `"done"`; during accuracy control also `"ranking_start"` (value: the
/// groups to rank), `"ranking"` (groups ranked) and `"log"` (a message: the
/// baseline, each revert step).
fn report(callback: &Option<Py<PyAny>>, kind: &str, value: usize, message: String) {
    let Some(cb) = callback else { return };
    // A failing progress display must not stop the quantization.
    Python::attach(|py| {
        if let Err(e) = cb.bind(py).call1((kind, value, message)) {
            e.print(py);
        }
    });
}

/// Calibration events to `callback` (see [`report`]).
pub fn progress(callback: Option<Py<PyAny>>) -> impl FnMut(ptq::Event) + Send {
    move |e| match e {
        ptq::Event::CalibrationStart { subset } => report(&callback, "start", subset, String::new()),
        ptq::Event::Calibrated { items } => report(&callback, "items", items, String::new()),
        ptq::Event::CalibrationDone => report(&callback, "done", 0, String::new()),
    }
}

/// Accuracy-control events to `callback` (see [`report`]).
pub fn accuracy_progress(callback: Option<Py<PyAny>>) -> impl FnMut(AccuracyEvent) + Send {
    move |e| match e {
        AccuracyEvent::Quantized => report(&callback, "log", 0, "quantized; validating FP32 and INT8".into()),
        AccuracyEvent::Baseline { fp32, int8, drop } => {
            report(&callback, "log", 0, format!("FP32 {fp32:.4}, INT8 {int8:.4}, drop {drop:.4}"))
        }
        AccuracyEvent::RankingStart { groups, items } => {
            report(&callback, "ranking_start", groups, format!("ranking {groups} quantizer groups on {items} items"))
        }
        AccuracyEvent::RankingProgress { done, .. } => report(&callback, "ranking", done, String::new()),
        AccuracyEvent::Step { iteration, nodes, metric, drop, outcome } => {
            let what = match outcome {
                Outcome::Kept => "kept in float",
                Outcome::RolledBack => "rolled back (drop got worse)",
                Outcome::GoalReached => "kept in float, goal reached",
            };
            report(
                &callback,
                "log",
                0,
                format!("step {iteration}: {nodes}: metric {metric:.4}, drop {drop:.4}, {what}"),
            )
        }
    }
}

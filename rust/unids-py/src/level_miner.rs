//! `LevelMiner`: Algorithm 1 one level at a time, for external (e.g. neural) scorers.
//! Python receives each level's candidate extensions as a pyarrow Table, returns `h(s|P)` for
//! each as a NumPy array, and the core filters and builds the next level.

use numpy::{IntoPyArray, PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use unids_core::miner::{self, MinerParams};

use crate::error::BindError;
use crate::input::extract_sequences;
use crate::output::{list_array, pattern_table};
use crate::{miner_metadata, miner_params};

#[pyclass(module = "unids._core")]
pub struct LevelMiner {
    inner: Option<miner::LevelMiner>,
    params: MinerParams,
    increment: String,
    theta: f64,
    h1: f64,
}

impl LevelMiner {
    fn inner(&mut self) -> Result<&mut miner::LevelMiner, BindError> {
        self.inner.as_mut().ok_or(BindError::Core(unids_core::Error::MinerState("finish() was already called")))
    }
}

#[pymethods]
impl LevelMiner {
    #[new]
    #[pyo3(signature = (sequences, *, theta = None, theta_scale = 1.0, min_support = 2, max_len = 5, increment = "surprisal"))]
    fn new(
        sequences: &Bound<'_, PyAny>,
        theta: Option<f64>,
        theta_scale: f64,
        min_support: i64,
        max_len: i64,
        increment: &str,
    ) -> Result<Self, BindError> {
        let params = miner_params(theta, theta_scale, min_support, max_len, increment)?;
        let py = sequences.py();
        let sequences = extract_sequences(sequences)?;
        let slices = sequences.slices();
        let inner = py.detach(|| miner::LevelMiner::new(&slices, &params))?;
        let (theta, h1) = (inner.theta(), inner.h1());
        Ok(Self { inner: Some(inner), params, increment: increment.to_string(), theta, h1 })
    }

    /// θ in bits.
    #[getter]
    fn theta(&self) -> f64 {
        self.theta
    }

    /// Unigram entropy H1 of the input, in bits.
    #[getter]
    fn h1(&self) -> f64 {
        self.h1
    }

    /// Length of the patterns of the current level (1 = the seeds).
    #[getter]
    fn level(&mut self) -> Result<usize, BindError> {
        Ok(self.inner()?.level())
    }

    /// True when no further level can be built.
    #[getter]
    fn done(&mut self) -> Result<bool, BindError> {
        Ok(self.inner()?.is_done())
    }

    /// The candidate extensions P·s of the current level: columns prefix (P), successor (s),
    /// count (Occu(P·s)), prefix_count (occurrences of P followed by an item), prefix_entropy (H(P)).
    fn candidates<'py>(&mut self, py: Python<'py>) -> Result<Bound<'py, PyAny>, BindError> {
        let inner = self.inner()?;
        let prefixes = inner.current_patterns();
        let candidates = py.detach(|| inner.candidates().clone());
        // Expand P for every candidate row: a handful of items each, so a plain gather.
        let mut offsets = Vec::with_capacity(candidates.prefix_index.len() + 1);
        let mut items = Vec::new();
        offsets.push(0);
        for &p in &candidates.prefix_index {
            let p = p as usize;
            items.extend_from_slice(&prefixes.items[prefixes.offsets[p]..prefixes.offsets[p + 1]]);
            offsets.push(items.len());
        }
        let pa = py.import("pyarrow")?;
        let successor: Vec<i32> = candidates.successor.into_iter().map(|s| s as i32).collect();
        let count: Vec<i64> = candidates.count.into_iter().map(|c| c as i64).collect();
        let prefix_count: Vec<i64> = candidates.prefix_count.into_iter().map(|c| c as i64).collect();
        let columns = (
            list_array(py, offsets, items)?,
            pa.call_method1("array", (successor.into_pyarray(py),))?,
            pa.call_method1("array", (count.into_pyarray(py),))?,
            pa.call_method1("array", (prefix_count.into_pyarray(py),))?,
            pa.call_method1("array", (candidates.prefix_entropy.into_pyarray(py),))?,
        );
        let kwargs = PyDict::new(py);
        kwargs.set_item("names", ("prefix", "successor", "count", "prefix_count", "prefix_entropy"))?;
        Ok(pa.getattr("Table")?.call_method("from_arrays", (columns,), Some(&kwargs))?)
    }

    /// Keeps the candidates whose `H(P) + h < θ` and `count ≥ min_support`, given `h(s|P)` for
    /// every row of `candidates()` in order (NaN rejects a row), and moves to the next level.
    /// `increments=None` scores with the count model, exactly as `mine_patterns` does.
    #[pyo3(signature = (increments = None))]
    fn advance(&mut self, py: Python<'_>, increments: Option<&Bound<'_, PyAny>>) -> Result<(), BindError> {
        let increments = match increments {
            Some(increments) => {
                let array = py.import("numpy")?.call_method1("asarray", (increments, "float64"))?;
                let array = array.cast_into::<PyArray1<f64>>().map_err(PyErr::from)?;
                Some(array.readonly().as_array().to_vec())
            }
            None => None,
        };
        let inner = self.inner()?;
        py.detach(|| {
            let increments = increments.unwrap_or_else(|| inner.count_increments());
            inner.advance(&increments)
        })?;
        Ok(())
    }

    /// All kept patterns of length ≥ 2, as `mine_patterns` returns them. Ends the miner.
    fn finish<'py>(&mut self, py: Python<'py>) -> Result<Bound<'py, PyAny>, BindError> {
        let inner =
            self.inner.take().ok_or(BindError::Core(unids_core::Error::MinerState("finish() was already called")))?;
        let mined = py.detach(|| inner.finish());
        let mut metadata = miner_metadata(&self.params, &self.increment, mined.theta, mined.h1);
        metadata.push(("scorer", "external".into()));
        Ok(pattern_table(py, mined.patterns, &metadata)?)
    }
}

//! `unids._core`: the Python face of `unids-core`. Each function extracts its inputs
//! (zero-copy where the layout allows), detaches from the interpreter, runs the core on a rayon
//! pool and wraps the result. No algorithm lives here.

mod arrow;
mod error;
mod input;
mod level_miner;
mod output;

use numpy::{IntoPyArray, PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use unids_core::lz::{Estimator, ExactMethod};
use unids_core::miner::{Increment, MinerParams};
use unids_core::segment::SegmentMethod;
use unids_core::{fano, lz, miner, segment as seg, window, PatternTable};

use crate::error::{BindError, UnidsError};
use crate::input::{extract_sequences, Sequences};
use crate::output::{float_text, list_array, pattern_table};

/// Runs `work` on a pool of `threads` workers (all cores when `None`).
fn with_threads<T: Send>(threads: Option<usize>, work: impl FnOnce() -> T + Send) -> Result<T, BindError> {
    match threads {
        None => Ok(work()),
        Some(0) => Err(unids_core::Error::InvalidParameter {
            name: "threads",
            reason: "must be ≥ 1 (or None for all cores)".into(),
        }
        .into()),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| BindError::Python(UnidsError::new_err(e.to_string())))?;
            Ok(pool.install(work))
        }
    }
}

fn parse_estimator(name: &str) -> Result<Estimator, BindError> {
    match name {
        "exact" => Ok(Estimator::Exact),
        "approx" => Ok(Estimator::Approx),
        _ => Err(BindError::UnknownChoice { name: "estimator", got: name.into(), expected: "'exact', 'approx'" }),
    }
}

fn parse_increment(name: &str) -> Result<Increment, BindError> {
    match name {
        "surprisal" => Ok(Increment::Surprisal),
        "plogp" => Ok(Increment::PLogP),
        _ => Err(BindError::UnknownChoice { name: "increment", got: name.into(), expected: "'surprisal', 'plogp'" }),
    }
}

fn parse_method(name: &str) -> Result<SegmentMethod, BindError> {
    match name {
        "dp" => Ok(SegmentMethod::Dp),
        "greedy" => Ok(SegmentMethod::Greedy),
        _ => Err(BindError::UnknownChoice { name: "method", got: name.into(), expected: "'dp', 'greedy'" }),
    }
}

/// Lempel–Ziv real entropy of every sequence (bits by default). Length 0 → NaN, length 1 → 0.
#[pyfunction]
#[pyo3(signature = (sequences, *, estimator = "exact", base = 2.0, threads = None))]
fn real_entropy<'py>(
    sequences: &Bound<'py, PyAny>,
    estimator: &str,
    base: f64,
    threads: Option<usize>,
) -> Result<Bound<'py, PyArray1<f64>>, BindError> {
    let estimator = parse_estimator(estimator)?;
    if !(base.is_finite() && base > 1.0) {
        return Err(
            unids_core::Error::InvalidParameter { name: "base", reason: format!("must be > 1, got {base}") }.into()
        );
    }
    let py = sequences.py();
    let sequences = extract_sequences(sequences)?;
    let slices = sequences.slices();
    let entropy = py.detach(|| with_threads(threads, || lz::real_entropy_many(&slices, estimator, base)))?;
    Ok(entropy.into_pyarray(py))
}

/// Π_max from Fano's inequality for entropies in bits and symbol counts (scalar or per entry).
#[pyfunction]
fn predictability<'py>(
    entropy: &Bound<'py, PyAny>,
    n_symbols: &Bound<'py, PyAny>,
) -> Result<Bound<'py, PyArray1<f64>>, BindError> {
    let py = entropy.py();
    let numpy = py.import("numpy")?;
    let as_f64 = |obj: &Bound<'py, PyAny>| -> PyResult<Vec<f64>> {
        let array = numpy.call_method1("asarray", (obj, "float64"))?.call_method0("ravel")?;
        Ok(array.cast_into::<PyArray1<f64>>()?.readonly().as_array().to_vec())
    };
    let entropy = as_f64(entropy)?;
    let mut n = as_f64(n_symbols)?;
    if n.len() == 1 && entropy.len() != 1 {
        n = vec![n[0]; entropy.len()];
    }
    if n.len() != entropy.len() {
        return Err(unids_core::Error::InvalidParameter {
            name: "n_symbols",
            reason: format!("has {} values for {} entropies", n.len(), entropy.len()),
        }
        .into());
    }
    let pi = py.detach(|| fano::max_predictability_many(&entropy, &n));
    Ok(pi.into_pyarray(py))
}

fn miner_params(
    theta: Option<f64>,
    theta_scale: f64,
    min_support: i64,
    max_len: i64,
    increment: &str,
) -> Result<MinerParams, BindError> {
    let invalid =
        |name: &'static str, reason: String| BindError::Core(unids_core::Error::InvalidParameter { name, reason });
    let min_support =
        u64::try_from(min_support).map_err(|_| invalid("min_support", format!("must be ≥ 1, got {min_support}")))?;
    let max_len = usize::try_from(max_len).map_err(|_| invalid("max_len", format!("must be ≥ 2, got {max_len}")))?;
    Ok(MinerParams { theta, theta_scale, min_support, max_len, increment: parse_increment(increment)? })
}

fn miner_metadata(params: &MinerParams, increment: &str, theta: f64, h1: f64) -> Vec<(&'static str, String)> {
    vec![
        ("miner", "conditional-entropy".into()),
        ("theta", float_text(theta)),
        ("h1", float_text(h1)),
        ("theta_given", params.theta.map(float_text).unwrap_or_else(|| "None".into())),
        ("theta_scale", float_text(params.theta_scale)),
        ("min_support", params.min_support.to_string()),
        ("max_len", params.max_len.to_string()),
        ("increment", increment.into()),
    ]
}

/// Algorithm 1: low-entropy contiguous patterns (length ≥ 2) sorted by (entropy, pattern).
#[pyfunction]
#[pyo3(signature = (sequences, *, theta = None, theta_scale = 1.0, min_support = 2, max_len = 5, increment = "surprisal", threads = None))]
#[allow(clippy::too_many_arguments)]
fn mine_patterns<'py>(
    sequences: &Bound<'py, PyAny>,
    theta: Option<f64>,
    theta_scale: f64,
    min_support: i64,
    max_len: i64,
    increment: &str,
    threads: Option<usize>,
) -> Result<Bound<'py, PyAny>, BindError> {
    let params = miner_params(theta, theta_scale, min_support, max_len, increment)?;
    let py = sequences.py();
    let sequences = extract_sequences(sequences)?;
    let slices = sequences.slices();
    let mined = py.detach(|| with_threads(threads, || miner::mine_patterns(&slices, &params)))??;
    let metadata = miner_metadata(&params, increment, mined.theta, mined.h1);
    Ok(pattern_table(py, mined.patterns, &metadata)?)
}

/// DR4SR's sliding-window patterns: windows of length 2..=alpha with support ≥ beta.
#[pyfunction]
#[pyo3(signature = (sequences, *, alpha = 5, beta = 2, threads = None))]
fn window_patterns<'py>(
    sequences: &Bound<'py, PyAny>,
    alpha: i64,
    beta: i64,
    threads: Option<usize>,
) -> Result<Bound<'py, PyAny>, BindError> {
    let invalid =
        |name: &'static str, reason: String| BindError::Core(unids_core::Error::InvalidParameter { name, reason });
    let alpha_n = usize::try_from(alpha).map_err(|_| invalid("alpha", format!("must be ≥ 2, got {alpha}")))?;
    let beta_n = u64::try_from(beta).map_err(|_| invalid("beta", format!("must be ≥ 1, got {beta}")))?;
    let py = sequences.py();
    let sequences = extract_sequences(sequences)?;
    let slices = sequences.slices();
    let table = py.detach(|| with_threads(threads, || window::window_patterns(&slices, alpha_n, beta_n)))??;
    let metadata = [("miner", "sliding-window".to_string()), ("alpha", alpha.to_string()), ("beta", beta.to_string())];
    Ok(pattern_table(py, table, &metadata)?)
}

/// Reads the `pattern` and `entropy` columns of a pattern table (pyarrow Table, or anything
/// indexable by column name) into the core's form.
fn extract_pattern_table(patterns: &Bound<'_, PyAny>) -> Result<PatternTable, BindError> {
    let py = patterns.py();
    let column = |name: &str| {
        patterns.get_item(name).map_err(|_| {
            BindError::NotSequences(format!(
                "the pattern table has no column {name:?} (expected the output of mine_patterns)"
            ))
        })
    };
    let items: Sequences = extract_sequences(&column("pattern")?)?;
    let mut table = PatternTable::default();
    table.offsets.push(0);
    for pattern in items.slices() {
        table.items.extend_from_slice(pattern);
        table.offsets.push(table.items.len());
    }
    let entropy = py.import("numpy")?.call_method1("asarray", (column("entropy")?, "float64"))?;
    table.entropy = entropy.cast_into::<PyArray1<f64>>().map_err(PyErr::from)?.readonly().as_array().to_vec();
    if table.entropy.len() != items.len() {
        return Err(BindError::Core(unids_core::Error::InvalidPatterns(format!(
            "{} patterns but {} entropies",
            items.len(),
            table.entropy.len()
        ))));
    }
    table.support = vec![0; items.len()];
    Ok(table)
}

/// Segment lengths per sequence (`list<int32>`), minimising total entropy (`"dp"`) or by
/// greedy longest match (`"greedy"`). `item_costs=(items, costs)`: the DP's single-item costs,
/// given instead of counted on `sequences` (a batch segmented as its whole input).
#[pyfunction]
#[pyo3(signature = (sequences, patterns, *, method = "dp", threads = None, item_costs = None))]
fn segment<'py>(
    sequences: &Bound<'py, PyAny>,
    patterns: &Bound<'py, PyAny>,
    method: &str,
    threads: Option<usize>,
    item_costs: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
) -> Result<Bound<'py, PyAny>, BindError> {
    let method = parse_method(method)?;
    let py = sequences.py();
    let table = extract_pattern_table(patterns)?;
    let priced = match item_costs {
        None => None,
        Some(_) if method != SegmentMethod::Dp => {
            return Err(unids_core::Error::InvalidParameter {
                name: "item_costs",
                reason: "only the dp method prices single items".into(),
            }
            .into())
        }
        Some((items, costs)) => Some((extract_item_ids(&items)?, extract_f64(&costs)?)),
    };
    let sequences = extract_sequences(sequences)?;
    let slices = sequences.slices();
    let segmentation = py.detach(|| {
        with_threads(threads, || match &priced {
            None => seg::segment(&slices, &table, method),
            Some((items, costs)) => seg::segment_priced(&slices, &table, items, costs),
        })
    })??;
    Ok(list_array(py, segmentation.offsets, segmentation.lengths)?)
}

/// Item ids from any integer sequence or array, checked to fit the core's u32.
fn extract_item_ids(obj: &Bound<'_, PyAny>) -> Result<Vec<u32>, BindError> {
    let array = obj.py().import("numpy")?.call_method1("asarray", (obj, "int64"))?.call_method0("ravel")?;
    let values = array.cast_into::<PyArray1<i64>>().map_err(PyErr::from)?.readonly().as_array().to_vec();
    values
        .into_iter()
        .map(|v| {
            u32::try_from(v).map_err(|_| {
                unids_core::Error::InvalidParameter {
                    name: "item_costs",
                    reason: format!("item id {v} is not in 0 … 2^32 − 1"),
                }
                .into()
            })
        })
        .collect()
}

fn extract_f64(obj: &Bound<'_, PyAny>) -> Result<Vec<f64>, BindError> {
    let array = obj.py().import("numpy")?.call_method1("asarray", (obj, "float64"))?.call_method0("ravel")?;
    Ok(array.cast_into::<PyArray1<f64>>().map_err(PyErr::from)?.readonly().as_array().to_vec())
}

/// The address of each sequence's first item as the core sees it: lets tests prove that Arrow
/// and NumPy int32 inputs are borrowed, not copied.
#[pyfunction]
fn _sequence_addresses(sequences: &Bound<'_, PyAny>) -> Result<Vec<usize>, BindError> {
    let sequences = extract_sequences(sequences)?;
    Ok(sequences.slices().iter().map(|s| s.as_ptr() as usize).collect())
}

/// Λ_i of the exact estimator for every sequence, by the named method whatever the length
/// (`real_entropy` picks by length): lets tests check both methods against the reference.
#[pyfunction]
fn _lambdas_exact<'py>(
    sequences: &Bound<'py, PyAny>,
    method: &str,
) -> Result<Vec<Bound<'py, PyArray1<u32>>>, BindError> {
    let method = match method {
        "automaton" => ExactMethod::Automaton,
        "suffix_array" => ExactMethod::SuffixArray,
        _ => {
            let expected = "'automaton', 'suffix_array'";
            return Err(BindError::UnknownChoice { name: "method", got: method.into(), expected });
        }
    };
    let py = sequences.py();
    let sequences = extract_sequences(sequences)?;
    let slices = sequences.slices();
    let lambdas: Vec<Vec<u32>> = py.detach(|| slices.iter().map(|s| lz::lambdas_exact_with(s, method)).collect());
    Ok(lambdas.into_iter().map(|l| l.into_pyarray(py)).collect())
}

/// True when this extension was compiled without optimisations (tens of times slower).
#[pyfunction]
fn _debug_build() -> bool {
    cfg!(debug_assertions)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("UnidsError", m.py().get_type::<UnidsError>())?;
    m.add_function(wrap_pyfunction!(real_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(predictability, m)?)?;
    m.add_function(wrap_pyfunction!(mine_patterns, m)?)?;
    m.add_function(wrap_pyfunction!(window_patterns, m)?)?;
    m.add_function(wrap_pyfunction!(segment, m)?)?;
    m.add_function(wrap_pyfunction!(_sequence_addresses, m)?)?;
    m.add_function(wrap_pyfunction!(_debug_build, m)?)?;
    m.add_function(wrap_pyfunction!(_lambdas_exact, m)?)?;
    m.add_class::<level_miner::LevelMiner>()?;
    Ok(())
}

//! The binding's one error type and its one conversion to Python exceptions.

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::{create_exception, PyErr};
use unids_core::Error as CoreError;

create_exception!(
    _core,
    UnidsError,
    pyo3::exceptions::PyException,
    "Base class of the errors UniDS raises that are neither ValueError nor TypeError."
);

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("negative item id {value} in sequence {row} at position {position}; ids must be ≥ 0")]
    NegativeId { row: usize, position: usize, value: i64 },
    #[error(
        "item id {value} in sequence {row} at position {position} does not fit in int32; \
         remap ids to a contiguous range first"
    )]
    IdTooLarge { row: usize, position: usize, value: i64 },
    #[error("{0}; sequences may not contain nulls")]
    NullValue(String),
    #[error("{0}")]
    NotIntegers(String),
    #[error("{0}")]
    NotSequences(String),
    #[error("unknown {name} {got:?}; expected one of {expected}")]
    UnknownChoice { name: &'static str, got: String, expected: &'static str },
    #[error("Arrow C data interface: {0}")]
    Arrow(String),
    #[error(transparent)]
    Python(#[from] PyErr),
}

impl From<BindError> for PyErr {
    fn from(error: BindError) -> PyErr {
        let message = error.to_string();
        match error {
            BindError::Core(core) => match core {
                CoreError::InvalidParameter { .. } | CoreError::InvalidPatterns(_) | CoreError::ScoreLength { .. } => {
                    PyValueError::new_err(message)
                }
                CoreError::TooManyInteractions(_) => UnidsError::new_err(message),
                CoreError::MinerState(_) => PyRuntimeError::new_err(message),
            },
            BindError::NegativeId { .. }
            | BindError::IdTooLarge { .. }
            | BindError::NullValue(_)
            | BindError::UnknownChoice { .. } => PyValueError::new_err(message),
            BindError::NotIntegers(_) | BindError::NotSequences(_) => PyTypeError::new_err(message),
            BindError::Arrow(_) => UnidsError::new_err(message),
            BindError::Python(err) => err,
        }
    }
}

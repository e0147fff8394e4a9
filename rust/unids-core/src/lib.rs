//! UniDS core algorithms, free of any Python: Lempel–Ziv real entropy, Fano predictability,
//! the conditional-entropy pattern miner (Algorithm 1), the sliding-window miner and
//! min-entropy segmentation. Exact semantics: `docs/ALGORITHMS.md`.
//!
//! Every batch function parallelises across sequences with rayon; callers choose the pool.

pub mod error;
pub mod fano;
pub mod lz;
pub mod miner;
pub mod patterns;
pub mod segment;
pub mod window;

pub use error::{Error, Result};
pub use patterns::PatternTable;

mod corpus;
mod items;
mod level;
mod lpnf;
mod occurrences;
mod prefetch;
mod suffix_array;
#[cfg(test)]
mod testing;

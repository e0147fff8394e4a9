/// Every way the core can refuse its input. The binding maps each variant to one Python exception.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    #[error(
        "too many interactions ({0}): the in-memory miner indexes positions with 32 bits; \
         stream the data or use the Spark backend"
    )]
    TooManyInteractions(usize),
    #[error("invalid pattern table: {0}")]
    InvalidPatterns(String),
    #[error("expected {expected} scores (one per candidate), got {got}")]
    ScoreLength { expected: usize, got: usize },
    #[error("level miner: {0}")]
    MinerState(&'static str),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A table of patterns in compressed-row form, ready to become an Arrow `list<int32>` column
/// without a per-pattern allocation: pattern `k` is `items[offsets[k]..offsets[k + 1]]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatternTable {
    pub offsets: Vec<usize>, // (P + 1,), offsets[0] == 0
    pub items: Vec<u32>,     // (offsets[P],)
    pub support: Vec<u64>,   // (P,)
    pub entropy: Vec<f64>,   // (P,), NaN where the miner has no entropy (window patterns)
}

//! n-grams: counting, language-model estimation (MLE, add-k, stupid backoff, KenLM-exact
//! modified Kneser-Ney), ARPA files and fast queries.
//!
//! Counts of one order are stored as a lexicographically sorted table: `grams` holds `k` rows
//! of `n` token ids back to back and `counts[i]` is the count of row `i`. Sorted tables are
//! exact, independent of the thread count by construction, cheap to merge (a linear merge),
//! to query (binary search) and to hand to NumPy as `(k, n)` and `(k,)` arrays. Models keep
//! their n-grams in a hashed trie (`index.rs`) for constant-time extension by one word.

pub mod arpa;
pub mod arpa_par;
pub mod binary;
pub mod binary_v1;
pub mod count;
pub mod dist;
pub mod estimate;
pub mod floatfmt;
#[cfg(test)]
mod golden;
pub mod index;
pub mod kenlm_binary;
pub mod kn;
pub mod load;
pub mod model;
pub mod quantize;
pub mod query;
pub mod shards;
pub mod stream;
pub mod tables;
pub mod text;
pub mod words;

pub use count::{count, lookup, merge, OrderCounts};
pub use estimate::{count_text, fit_ids, fit_text, from_counts, Smoothing, Vocab};
pub use model::{Mode, Model, Scores, State};

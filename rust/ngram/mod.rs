//! n-gram counting (and, to come, estimation, ARPA and queries).
//!
//! Counts of one order are stored as a lexicographically sorted table: `grams` holds `k` rows
//! of `n` token ids back to back and `counts[i]` is the count of row `i`. Sorted tables are
//! exact, independent of the thread count by construction, cheap to merge (a linear merge),
//! to query (binary search) and to hand to NumPy as `(k, n)` and `(k,)` arrays.

pub mod count;
pub mod text;

pub use count::{count, lookup, merge, OrderCounts};

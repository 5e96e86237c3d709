//! Neural-network kernels: recurrent networks (RNN, LSTM, GRU) and attention, forward and
//! backward.
//!
//! `real` (the f32/f64 trait and element-wise functions), `simd` (run-time dispatch), `gemm`
//! (matrix products), `packed` (the pre-packed AVX2 micro-kernel), `pack` (variable-length
//! batches as packed sequences), `cells` (the per-step element-wise work of each cell),
//! `recurrent` and `backward` (layers, directions, the time loop and backpropagation through
//! time), `attention` (tiled scaled dot-product attention), `mha` (multi-head attention around it) and
//! `additive` (Bahdanau attention).

pub mod additive;
pub mod attention;
pub mod attention_bwd;
pub mod backward;
pub mod cells;
pub mod gemm;
#[cfg(test)]
mod grad_check;
pub mod kernels;
pub mod mha;
pub mod pack;
pub mod packed;
pub mod real;
pub mod recurrent;
pub mod workspace;
pub use kernels::simd;

pub use real::Real;
pub use recurrent::{backward, forward, CellKind, Forward, Grads, Options, Spec, State, Weights};

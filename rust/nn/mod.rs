//! Neural-network kernels: recurrent networks (RNN, LSTM, GRU) forward and backward.
//!
//! `real` (the f32/f64 trait and element-wise functions), `simd` (run-time dispatch), `gemm`
//! (matrix products), `pack` (variable-length batches as packed sequences), `cells` (the
//! per-step element-wise work of each cell) and `recurrent` (layers, directions, the time loop
//! and backpropagation through time).

pub mod additive;
pub mod attention;
pub mod backward;
pub mod cells;
pub mod gemm;
pub mod pack;
pub mod packed;
pub mod real;
pub mod recurrent;
pub mod simd;

pub use real::Real;
pub use recurrent::{backward, forward, CellKind, Forward, Grads, Options, Spec, State, Weights};

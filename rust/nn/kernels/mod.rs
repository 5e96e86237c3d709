//! The kernel layer of `nn`: every SIMD intrinsic and every `unsafe` block that touches raw
//! memory lives here or is reached only through it. `simd` picks the level at run time (and
//! lets tests force each one), `micro` holds the packed-panel micro-kernels of every level
//! (`avx2`, `avx512`), `peak` measures the FMA peak the benchmarks compare against, and `view`
//! holds the checked strided (batch, head, row, feature) views the attention kernels read and
//! write.
//!
//! Each unsafe block carries a `// SAFETY:` comment; `unsafe_op_in_unsafe_fn` is denied so an
//! unsafe fn's body is not an implicit unsafe block.

#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
pub mod mem;
pub mod micro;
pub mod peak;
pub mod simd;
pub mod view;

pub use micro::{Kern, MR};
pub use simd::{level, set_level, Level};

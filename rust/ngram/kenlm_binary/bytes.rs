//! Checked reads from the bytes of a file: every read is bounds-checked and a failure is a
//! `Format` error naming the file and the offset.

use crate::error::Error;
use crate::error::Result;

pub(crate) struct Bytes<'a> {
    pub data: &'a [u8],
    pub src: &'a str,
}

impl Bytes<'_> {
    pub fn err(&self, at: usize, msg: &str) -> Error {
        Error::Format(format!("{}: offset {at}: {msg}", self.src))
    }

    /// `len` bytes at `at`, or an error saying that the file ends inside `what`.
    pub fn region(&self, at: usize, len: usize, what: &str) -> Result<&[u8]> {
        match at.checked_add(len) {
            Some(end) if end <= self.data.len() => Ok(&self.data[at..end]),
            _ => Err(self.err(
                at.min(self.data.len()),
                &format!(
                    "file ends inside {what} (it needs {len} bytes from offset {at}; the file has {}): truncated file?",
                    self.data.len()
                ),
            )),
        }
    }

    fn arr<const N: usize>(&self, at: usize) -> Result<[u8; N]> {
        let r = self.region(at, N, "the header")?;
        Ok(r.try_into().expect("region has N bytes"))
    }
    pub fn u8(&self, at: usize) -> Result<u8> {
        Ok(self.arr::<1>(at)?[0])
    }
    pub fn u32(&self, at: usize) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr(at)?))
    }
    pub fn u64(&self, at: usize) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr(at)?))
    }
    pub fn f32(&self, at: usize) -> Result<f32> {
        Ok(f32::from_le_bytes(self.arr(at)?))
    }
}

/// Little-endian u64 at byte `at` of `s`; bytes past the end read as 0 (callers check their
/// regions, which KenLM pads by 8 bytes, so this only guards against a bug).
#[inline(always)]
pub(crate) fn le64(s: &[u8], at: usize) -> u64 {
    match s.get(at..at + 8) {
        Some(b) => u64::from_le_bytes(b.try_into().expect("8 bytes")),
        None => {
            let mut b = [0u8; 8];
            if at < s.len() {
                b[..s.len() - at].copy_from_slice(&s[at..]);
            }
            u64::from_le_bytes(b)
        }
    }
}

#[inline(always)]
pub(crate) fn le32(s: &[u8], at: usize) -> u32 {
    le64(s, at) as u32
}

/// KenLM's `ReadInt57`: `len <= 57` bits at bit offset `bit` (little-endian bit packing).
#[inline(always)]
pub(crate) fn bits(s: &[u8], bit: u64, mask: u64) -> u64 {
    (le64(s, (bit >> 3) as usize) >> (bit & 7)) & mask
}

/// KenLM's `ReadFloat32` at bit offset `bit`.
#[inline(always)]
pub(crate) fn float32(s: &[u8], bit: u64) -> f32 {
    f32::from_bits((le64(s, (bit >> 3) as usize) >> (bit & 7)) as u32)
}

/// KenLM's `ReadNonPositiveFloat31`: 31 bits with the sign bit set.
#[inline(always)]
pub(crate) fn nonpositive31(s: &[u8], bit: u64) -> f32 {
    f32::from_bits(((le64(s, (bit >> 3) as usize) >> (bit & 7)) as u32 & 0x7fff_ffff) | 0x8000_0000)
}

/// KenLM's `RequiredBits`: bits needed to store `max`.
pub(crate) fn required_bits(max: u64) -> u8 {
    (64 - max.leading_zeros()) as u8
}

/// A mask of `b` low bits.
pub(crate) fn mask(b: u8) -> u64 {
    if b >= 64 {
        u64::MAX
    } else {
        (1u64 << b) - 1
    }
}

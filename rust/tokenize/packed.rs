//! Short words as one `u128` (bytes, then the length in the top byte): the keys of the
//! per-thread word caches, compared and hashed in one step instead of through a pointer.

/// Longest word [`pack`] takes.
pub(crate) const PACK_MAX: usize = 15;

/// A word of 1 to 15 bytes as one `u128`: never 0, and different words give different keys.
#[inline(always)]
pub(crate) fn pack(w: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    b[..w.len()].copy_from_slice(w);
    b[15] = w.len() as u8;
    u128::from_le_bytes(b)
}

/// The word `text[a..e]` (1 to 15 bytes) as [`pack`] gives it, read with one 16-byte load
/// when the text has 16 bytes from `a` on (the byte-wise copy of `pack` followed by a wide
/// load stalls on store forwarding).
#[inline(always)]
pub(crate) fn pack_at(text: &[u8], a: usize, e: usize) -> u128 {
    match text.get(a..a + 16) {
        Some(b) => {
            let n = e - a;
            let v = u128::from_le_bytes(b.try_into().expect("16 bytes"));
            (v & ((1u128 << (8 * n)) - 1)) | ((n as u128) << 120)
        }
        None => pack(&text[a..e]),
    }
}

/// Longest word [`pack2`] takes.
pub(crate) const PACK2_MAX: usize = 31;

/// A word of up to 31 bytes as two `u128`s: bytes 0..16, then bytes 16..31 with the total
/// length in the top byte (so different words give different keys).
#[inline(always)]
pub(crate) fn pack2(w: &[u8]) -> (u128, u128) {
    let mut b = [0u8; 32];
    b[..w.len()].copy_from_slice(w);
    b[31] = w.len() as u8;
    let (lo, hi) = b.split_at(16);
    (u128::from_le_bytes(lo.try_into().expect("16 bytes")), u128::from_le_bytes(hi.try_into().expect("16 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_at_equals_pack() {
        let text = b"abcdefghijklmnopqrstuvwxyz0123456789";
        for a in 0..text.len() {
            for e in a + 1..(a + 16).min(text.len() + 1) {
                assert_eq!(pack_at(text, a, e), pack(&text[a..e]), "{a}..{e}");
            }
        }
        assert_ne!(pack(b"a"), pack(b"a\0"));
        assert_ne!(pack2(b"ab"), pack2(&[0u8; 18]));
        assert_ne!(pack2(b"ab"), pack2(b"ab\0"));
        assert_ne!(pack2(&[1u8; 31]), pack2(&[1u8; 30]));
    }
}

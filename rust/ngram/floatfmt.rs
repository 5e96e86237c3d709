//! Fast float text for ARPA files: the shortest digits that read back as the same f32, laid out
//! as Rust's `Display` does (a plain decimal: `-1.3007812`, `0.000012`, `100`, `-0`; never an
//! exponent). `zmij` (Schubfach) finds the digits, several times faster than `core::fmt`.
//!
//! One difference from `Display`: when the value lies exactly halfway between the two shortest
//! candidates (-1.30078125 has 8-digit neighbours -1.3007812 and -1.3007813), the even last digit
//! is chosen, as double-conversion does and therefore KenLM (`-1.3007812`); `core::fmt` rounds
//! the half up. Both read back as the same float.

/// Append `x` to `out` as `write!(out, "{x}")` would, except for ties (see the module doc).
pub fn push_f32(out: &mut Vec<u8>, x: f32, z: &mut zmij::Buffer) {
    if !x.is_finite() {
        use std::io::Write;
        let _ = write!(out, "{x}");
        return;
    }
    let s = z.format_finite(x).as_bytes();
    let mut tmp = [0u8; 64];
    // zmij writes a plain decimal for moderate magnitudes, as Display does but with ".0" after
    // an integer; anything else (exponents) goes through the general layout.
    let len = if s.len() <= 32 && !s.contains(&b'e') {
        for (t, &c) in tmp.iter_mut().zip(s) {
            *t = c;
        }
        let k = s.len();
        if k >= 2 && s[k - 2] == b'.' && s[k - 1] == b'0' {
            k - 2
        } else {
            k
        }
    } else {
        layout(s, &mut tmp)
    };
    append_padded(out, &tmp, len);
}

/// Lay out zmij's text `s` (`-1.5`, `1e-07`, `1.5e+20`, ...) as `Display` would, into `tmp`
/// (the longest f32 layout, `-0.` and 44 zeros and one digit, fits); returns the length.
fn layout(s: &[u8], tmp: &mut [u8; 64]) -> usize {
    let (neg, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let (mant, exp) = match s.iter().position(|&c| c == b'e' || c == b'E') {
        Some(p) => (&s[..p], parse_exp(&s[p + 1..])),
        None => (s, 0),
    };
    // value = 0.DIGITS x 10^point
    let mut digits = [0u8; 32];
    let (mut nd, mut point, mut seen_point) = (0usize, 0i32, false);
    for &c in mant {
        if c == b'.' {
            seen_point = true;
        } else if nd == 0 && c == b'0' {
            // a leading zero: after the point it moves the point left
            if seen_point {
                point -= 1;
            }
        } else {
            digits[nd] = c;
            nd += 1;
            if !seen_point {
                point += 1;
            }
        }
    }
    while nd > 0 && digits[nd - 1] == b'0' {
        nd -= 1;
    }
    let mut k = 0;
    let mut put = |b: u8| {
        tmp[k] = b;
        k += 1;
    };
    if neg {
        put(b'-');
    }
    if nd == 0 {
        put(b'0');
        return k;
    }
    point += exp;
    let d = &digits[..nd];
    if point <= 0 {
        put(b'0');
        put(b'.');
        (0..-point).for_each(|_| put(b'0'));
        d.iter().for_each(|&c| put(c));
    } else if point as usize >= nd {
        d.iter().for_each(|&c| put(c));
        (0..point as usize - nd).for_each(|_| put(b'0'));
    } else {
        d[..point as usize].iter().for_each(|&c| put(c));
        put(b'.');
        d[point as usize..].iter().for_each(|&c| put(c));
    }
    k
}

/// Bytes that [`append_padded`] copies at once; sources keep this much padding.
pub const PAD: usize = 64;

/// Append `src[..len]` to `out`. When `len <= PAD` and `src` has at least `PAD` readable bytes
/// this is one fixed-size copy (no call into memcpy for a few bytes); the bytes past `len` land
/// in `out`'s spare capacity and are not part of it.
#[inline(always)]
pub fn append_padded(out: &mut Vec<u8>, src: &[u8], len: usize) {
    assert!(len <= src.len());
    if len <= PAD && src.len() >= PAD {
        out.reserve(PAD);
        // SAFETY: `src` has PAD readable bytes; `out` has room for PAD more after its length;
        // only `len` of them, all initialised from `src`, become part of `out`.
        unsafe {
            let n = out.len();
            std::ptr::copy_nonoverlapping(src.as_ptr(), out.as_mut_ptr().add(n), PAD);
            out.set_len(n + len);
        }
    } else {
        out.extend_from_slice(&src[..len]);
    }
}

fn parse_exp(s: &[u8]) -> i32 {
    let (neg, s) = match s.split_first() {
        Some((b'-', r)) => (true, r),
        Some((b'+', r)) => (false, r),
        _ => (false, s),
    };
    let v = s.iter().fold(0i32, |a, &c| a * 10 + (c - b'0') as i32);
    if neg {
        -v
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same text as `Display`, or an exact tie that `Display` rounded up and we rounded to even.
    fn check(x: f32, z: &mut zmij::Buffer) -> bool {
        let mut v = Vec::new();
        push_f32(&mut v, x, z);
        let ours = std::str::from_utf8(&v).unwrap();
        let std = format!("{x}");
        if ours == std {
            return false;
        }
        let (a, b) = (ours.as_bytes(), std.as_bytes());
        let last = |s: &[u8]| (s[s.len() - 1] - b'0') as i32;
        let ok = a.len() == b.len()
            && a[..a.len() - 1] == b[..b.len() - 1]
            && last(a) % 2 == 0
            && last(b) == last(a) + 1
            && ours.parse::<f32>().unwrap().to_bits() == x.to_bits()
            && exact_tie(x, ours, &std);
        assert!(ok, "bits {:#x}: ours {ours}, Display {std}", x.to_bits());
        true
    }

    /// `x` is exactly halfway between the decimals `a` and `b` (x = (a + b) / 2, in integers:
    /// x's exact binary value scaled against the decimals' common scale).
    fn exact_tie(x: f32, a: &str, b: &str) -> bool {
        // x = m * 2^e exactly; a, b = A / 10^k, B / 10^k. Check 2 * m * 2^e * 10^k == A + B
        // with u128 (ties only occur for small k and moderate exponents).
        let digits = |s: &str| -> (i128, u32) {
            let s = s.trim_start_matches('-');
            let k = s.find('.').map(|p| (s.len() - p - 1) as u32).unwrap_or(0);
            (s.replace('.', "").parse::<i128>().unwrap(), k)
        };
        let ((ia, k), (ib, _)) = (digits(a), digits(b));
        let bits = x.abs().to_bits();
        let (m, e) =
            if bits >> 23 == 0 { (bits as i128, -149) } else { ((bits & 0x7f_ffff | 0x80_0000) as i128, (bits >> 23) as i32 - 150) };
        let lhs = |shift: i32| -> Option<i128> { 2i128.checked_mul(m)?.checked_mul(10i128.checked_pow(k)?)?.checked_shl(shift as u32) };
        if e >= 0 {
            lhs(e) == Some(ia + ib)
        } else {
            lhs(0) == (ia + ib).checked_shl((-e) as u32)
        }
    }

    #[test]
    fn same_as_display() {
        let mut z = zmij::Buffer::new();
        for x in [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            100.0,
            1e10,
            1e-10,
            0.1,
            123456.7,
            f32::MAX,
            f32::MIN_POSITIVE,
            1e-45,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            assert!(!check(x, &mut z));
        }
        // lmplz prints -1.3007812 where Display prints -1.3007813 (value -1.30078125)
        assert!(check(f32::from_bits(0xbfa6_8000), &mut z));
        // every exponent, spread mantissas: 2^20 patterns across the whole range
        let mut s = 0x9E37_79B9u32;
        for i in 0..(1u32 << 20) {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            check(f32::from_bits((i << 12) ^ (s & 0xfff)), &mut z);
            check(f32::from_bits(s), &mut z);
        }
    }

    /// Every f32 bit pattern (about a minute in release): `cargo test --release -- --ignored all_f32`.
    #[test]
    #[ignore]
    fn all_f32() {
        use rayon::prelude::*;
        (0..=u16::MAX).into_par_iter().for_each(|hi| {
            let mut z = zmij::Buffer::new();
            for lo in 0..=u16::MAX as u32 {
                check(f32::from_bits(((hi as u32) << 16) | lo), &mut z);
            }
        });
    }
}

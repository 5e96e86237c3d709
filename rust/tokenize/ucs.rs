//! UTF-8 to CPython's fixed-width string layouts (1, 2 or 4 bytes per character), so the
//! bindings can build a `str` in one pass instead of having CPython decode the UTF-8 again.
//!
//! CPython requires the narrowest kind that holds every character (and the ASCII flag when all
//! are below 128), so [`layout`] computes it exactly from the lead bytes: 0xC2/0xC3 start
//! U+0080..U+00FF (1 byte), 0xC4..0xEF start U+0100..U+FFFF (2 bytes), 0xF0.. start astral
//! characters (4 bytes). Input must be valid UTF-8 (a `&str`).

/// `(number of characters, max char bound)`: the bound is 127, 255, 65535 or 0x10FFFF,
/// exactly the value that selects the canonical layout.
pub fn layout(s: &str) -> (usize, u32) {
    let b = s.as_bytes();
    // Characters = bytes that are not continuation bytes (0b10xxxxxx).
    let chars = b.iter().filter(|&&c| (c as i8) >= -0x40).count();
    let max = b.iter().copied().max().unwrap_or(0);
    let bound = if max < 0x80 {
        127
    } else if max < 0xC4 {
        255
    } else if max < 0xF0 {
        0xFFFF
    } else {
        0x10FFFF
    };
    (chars, bound)
}

#[inline(always)]
fn decode_at(b: &[u8], i: usize) -> (u32, usize) {
    let c = b[i];
    if c < 0x80 {
        (c as u32, 1)
    } else if c < 0xE0 {
        ((((c & 0x1F) as u32) << 6) | (b[i + 1] & 0x3F) as u32, 2)
    } else if c < 0xF0 {
        ((((c & 0x0F) as u32) << 12) | (((b[i + 1] & 0x3F) as u32) << 6) | (b[i + 2] & 0x3F) as u32, 3)
    } else {
        ((((c & 0x07) as u32) << 18) | (((b[i + 1] & 0x3F) as u32) << 12) | (((b[i + 2] & 0x3F) as u32) << 6) | (b[i + 3] & 0x3F) as u32, 4)
    }
}

macro_rules! widen {
    ($name:ident, $t:ty) => {
        /// Write the characters of `s` into `out` (exactly `layout(s).0` long, wide enough).
        pub fn $name(s: &str, out: &mut [$t]) {
            let b = s.as_bytes();
            let (mut i, mut o) = (0, 0);
            while i < b.len() {
                // ASCII runs 16 bytes at a time (the common case), widened by the compiler.
                if i + 16 <= b.len() && o + 16 <= out.len() && b[i..i + 16].iter().all(|&c| c < 0x80) {
                    for (d, &c) in out[o..o + 16].iter_mut().zip(&b[i..i + 16]) {
                        *d = c as $t;
                    }
                    i += 16;
                    o += 16;
                    continue;
                }
                let (cp, len) = decode_at(b, i);
                out[o] = cp as $t;
                i += len;
                o += 1;
            }
        }
    };
}

widen!(to_ucs1, u8);
widen!(to_ucs2, u16);
widen!(to_ucs4, u32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_and_round_trips() {
        for (s, bound) in [("abc", 127), ("aé\u{ff}", 255), ("aĀ€", 0xFFFF), ("a😀é", 0x10FFFF), ("", 127)] {
            let (n, b) = layout(s);
            assert_eq!((n, b), (s.chars().count(), bound), "{s}");
            let want: Vec<u32> = s.chars().map(|c| c as u32).collect();
            let mut o4 = vec![0u32; n];
            to_ucs4(s, &mut o4);
            assert_eq!(o4, want);
            if b <= 0xFFFF {
                let mut o2 = vec![0u16; n];
                to_ucs2(s, &mut o2);
                assert_eq!(o2.iter().map(|&x| x as u32).collect::<Vec<_>>(), want);
            }
            if b <= 255 {
                let mut o1 = vec![0u8; n];
                to_ucs1(s, &mut o1);
                assert_eq!(o1.iter().map(|&x| x as u32).collect::<Vec<_>>(), want);
            }
        }
        let long = "x".repeat(40) + "é" + &"y".repeat(40) + "😀";
        let mut o = vec![0u32; layout(&long).0];
        to_ucs4(&long, &mut o);
        assert_eq!(o, long.chars().map(|c| c as u32).collect::<Vec<_>>());
    }
}

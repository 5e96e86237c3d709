//! GPT-2's byte-level alphabet: each byte maps to one printable Unicode character, so that
//! byte strings can be stored as JSON strings (`Ġ` is the space byte 0x20, `Ċ` is 0x0a).

use std::sync::OnceLock;

use rustc_hash::FxHashMap;

fn tables() -> &'static ([char; 256], FxHashMap<char, u8>) {
    static T: OnceLock<([char; 256], FxHashMap<char, u8>)> = OnceLock::new();
    T.get_or_init(|| {
        let mut fwd = ['\0'; 256];
        let mut n = 0u32;
        for b in 0..256u32 {
            let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
            fwd[b as usize] = if printable {
                char::from_u32(b).unwrap_or('\0')
            } else {
                n += 1;
                char::from_u32(255 + n).unwrap_or('\0')
            };
        }
        let inv = fwd.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        (fwd, inv)
    })
}

/// Byte string -> byte-level alphabet string.
pub fn encode(bytes: &[u8]) -> String {
    let fwd = &tables().0;
    bytes.iter().map(|&b| fwd[b as usize]).collect()
}

/// Byte-level alphabet string -> bytes; `None` if a character is outside the alphabet.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let inv = &tables().1;
    s.chars().map(|c| inv.get(&c).copied()).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_all_bytes() {
        let all: Vec<u8> = (0..=255).collect();
        let s = super::encode(&all);
        assert_eq!(s.chars().count(), 256);
        assert_eq!(super::decode(&s).unwrap(), all);
        assert_eq!(super::encode(b" \n"), "\u{120}\u{10a}");
    }
}

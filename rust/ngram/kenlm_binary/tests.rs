//! Tests on small KenLM binaries made by `build_binary` from KenLM's own test model
//! (tests/data/ngram/kenlm_test*.arpa; see tests/ngram/test_ngram_parity_kenlm_binary.py for the commands): they
//! must score like the ARPA they came from, and no truncation or bit flip may panic.

use std::path::PathBuf;

use super::bytes::{bits, float32, mask, nonpositive31, required_bits};
use super::{is_kenlm, read};
use crate::error::Error;
use crate::ngram::arpa;
use crate::ngram::model::Model;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/ngram").join(name)
}

const BINARIES: [(&str, &str); 3] = [
    ("kenlm_test.probing.binary", "kenlm_test.arpa"),
    ("kenlm_test.trie_q8b8a64.binary", "kenlm_test.arpa"),
    ("kenlm_test_nounk.trie.binary", "kenlm_test_nounk.arpa"),
];

const SENTENCES: [&str; 6] = [
    "looking on a little more loin also would consider higher to look good unknown the screening foo bar",
    "",
    "oov words only here",
    "a little more",
    "<unk> , . biarritz call concerns",
    "the the the looking looking",
];

fn scores(m: &Model) -> Vec<f32> {
    let (ids, off) = m.word_ids(&SENTENCES);
    m.score_batch(&ids, &off, true, true, Some(1)).unwrap().token
}

#[test]
fn binaries_score_like_their_arpa() {
    for (bin, arpa_name) in BINARIES {
        let bytes = std::fs::read(data(bin)).unwrap();
        assert!(is_kenlm(&bytes));
        let m = read(&bytes, bin).unwrap();
        let a = arpa::read_file(&data(arpa_name)).unwrap();
        assert_eq!(m.order(), a.order(), "{bin}");
        let (sm, sa) = (scores(&m), scores(&a));
        assert_eq!(sm.len(), sa.len());
        for (x, y) in sm.iter().zip(&sa) {
            // 8-bit quantisation keeps this small model's values (fewer than 256 distinct)
            assert!((x - y).abs() < 1e-6, "{bin}: {x} vs {y}");
        }
        // kenlm.Model(...).full_scores of the first sentence, first token: -0x1.f048aap-2
        assert_eq!(sm[0], -f32::from_bits(0x3ef82455), "{bin}");
    }
}

#[test]
fn every_truncation_is_a_format_error_with_offset() {
    for (bin, _) in BINARIES {
        let bytes = std::fs::read(data(bin)).unwrap();
        for cut in 0..bytes.len() {
            match read(&bytes[..cut], bin) {
                Err(Error::Format(m)) => assert!(m.contains("offset "), "{bin} cut at {cut}: {m}"),
                Err(e) => panic!("{bin} cut at {cut}: not a format error: {e}"),
                Ok(_) => panic!("{bin} cut at {cut} loaded"),
            }
        }
    }
}

#[test]
fn bit_flips_never_panic() {
    for (bin, _) in BINARIES {
        let bytes = std::fs::read(data(bin)).unwrap();
        let mut failed = 0;
        // every header byte, then every third byte (debug builds make each load slow)
        for pos in (0..bytes.len()).filter(|&p| p < 200 || p % 3 == 0) {
            let bit = pos % 8;
            let mut b = bytes.clone();
            b[pos] ^= 1 << bit;
            match read(&b, bin) {
                Ok(m) => {
                    let _ = scores(&m);
                }
                Err(Error::Format(m)) => {
                    assert!(m.contains("offset "), "{m}");
                    failed += 1;
                }
                Err(e) => panic!("{bin} flip at {pos}: not a format error: {e}"),
            }
        }
        assert!(failed > 0);
    }
}

#[test]
fn bit_packing_reads_like_kenlm() {
    // 5 bits at bit 3, then a float at bit 8, as KenLM's WriteInt57 / WriteFloat32 lay them out
    let mut s = vec![0u8; 16];
    let v = 0b10110u64 << 3 | ((-1.5f32).to_bits() as u64) << 8;
    s[..8].copy_from_slice(&v.to_le_bytes());
    assert_eq!(bits(&s, 3, mask(5)), 0b10110);
    assert_eq!(float32(&s, 8), -1.5);
    // a 31-bit non-positive float: the sign is implied
    let w = ((2.25f32.to_bits() & 0x7fff_ffff) as u64) << 5;
    s[..8].copy_from_slice(&w.to_le_bytes());
    assert_eq!(nonpositive31(&s, 5), -2.25);
    assert_eq!((required_bits(0), required_bits(1), required_bits(255), required_bits(256)), (0, 1, 8, 9));
    // reads past the end see zeros instead of panicking
    assert_eq!(bits(&s[..3], 20, mask(20)), bits(&s, 20, mask(20)) & mask(4));
}

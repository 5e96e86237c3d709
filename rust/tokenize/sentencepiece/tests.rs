//! Unit tests of the sentencepiece model: hand-built `ModelProto`s (the Python tests compare
//! with `SentencePieceProcessor` on trained models).

use proptest::prelude::*;

use super::*;

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
fn lenf(f: u64, b: &[u8], out: &mut Vec<u8>) {
    varint(f << 3 | 2, out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}
fn vf(f: u64, v: u64, out: &mut Vec<u8>) {
    varint(f << 3, out);
    varint(v, out);
}

/// A model with `pieces` (piece, score, type) and options.
fn model(pieces: &[(&str, f32, u64)], model_type: u64, byte_fallback: bool, dummy: bool) -> Vec<u8> {
    let mut m = Vec::new();
    for (s, sc, t) in pieces {
        let mut p = Vec::new();
        lenf(1, s.as_bytes(), &mut p);
        varint(2 << 3 | 5, &mut p);
        p.extend_from_slice(&sc.to_le_bytes());
        vf(3, *t, &mut p);
        lenf(1, &p, &mut m);
    }
    let mut t = Vec::new();
    vf(3, model_type, &mut t);
    vf(35, byte_fallback as u64, &mut t);
    lenf(2, &t, &mut m);
    let mut n = Vec::new();
    vf(3, dummy as u64, &mut n);
    lenf(3, &n, &mut m);
    m
}

fn base_pieces() -> Vec<(&'static str, f32, u64)> {
    vec![("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3), ("▁", -1.0, 1), ("a", -2.0, 1), ("b", -2.0, 1), ("c", -3.0, 1)]
}

fn pieces_of(sp: &SentencePiece, ids: &[u32]) -> Vec<String> {
    ids.iter().map(|&i| sp.id_to_piece(i).unwrap().to_string()).collect()
}

#[test]
fn unigram_encode_decode() {
    let mut p = base_pieces();
    p.extend([("▁ab", -1.5, 1), ("ab", -2.5, 1), ("bc", -2.0, 1), ("<x>", 0.0, 4)]);
    let sp = SentencePiece::from_bytes(model(&p, 1, false, true), "t").unwrap();
    let ids = sp.encode(" ab  abc<x>dd").unwrap();
    assert_eq!(pieces_of(&sp, &ids), vec!["▁ab", "▁ab", "c", "<x>", "<unk>"]);
    assert_eq!(sp.decode(&ids).unwrap(), "ab abc<x> ⁇ ");
    assert_eq!(sp.bos_id(), Some(1));
    assert_eq!(sp.pad_id(), None);
    assert_eq!(sp.piece_to_id("zz"), 0);
    assert_eq!(sp.find_piece("zz"), None);
    assert!(sp.encode("").unwrap().is_empty());
    assert!(sp.encode("   ").unwrap().is_empty());
    assert!(sp.decode(&[99]).is_err());
}

#[test]
fn bpe_merges_by_score() {
    let mut p = base_pieces();
    // "bc" scores higher than "ab" and "▁a": "▁abc" -> ▁ a bc -> ▁a bc.
    p.extend([("ab", -5.0, 1), ("bc", -4.0, 1), ("▁a", -4.5, 1)]);
    let sp = SentencePiece::from_bytes(model(&p, 2, false, true), "t").unwrap();
    let ids = sp.encode("abc").unwrap();
    assert_eq!(pieces_of(&sp, &ids), vec!["▁a", "bc"]);
    let ids = sp.encode("b a").unwrap();
    assert_eq!(pieces_of(&sp, &ids), vec!["▁", "b", "▁a"]);
    // Unknown characters merge into one <unk>.
    let ids = sp.encode("xyz").unwrap();
    assert_eq!(pieces_of(&sp, &ids), vec!["▁", "<unk>"]);
}

#[test]
fn bpe_unused_pieces_resegment() {
    let mut p = base_pieces();
    p.extend([("ab", -1.0, 5), ("abc", -0.5, 1)]);
    let sp = SentencePiece::from_bytes(model(&p, 2, false, false), "t").unwrap();
    // "ab" is unused: it still merges on the way to "abc", but alone it is split back.
    assert_eq!(pieces_of(&sp, &sp.encode("abc").unwrap()), vec!["abc"]);
    assert_eq!(pieces_of(&sp, &sp.encode("ab").unwrap()), vec!["a", "b"]);
}

#[test]
fn byte_fallback() {
    let mut p = base_pieces();
    let bytes: Vec<String> = (0..256).map(|b| format!("<0x{b:02X}>")).collect();
    p.extend(bytes.iter().map(|s| (s.as_str(), 0.0, 6)));
    let sp = SentencePiece::from_bytes(model(&p, 1, true, false), "t").unwrap();
    let ids = sp.encode("a日x").unwrap();
    assert_eq!(pieces_of(&sp, &ids), vec!["a", "<0xE6>", "<0x97>", "<0xA5>", "<0x78>"]);
    assert_eq!(sp.decode(&ids).unwrap(), "a日x");
    // A lone continuation byte decodes to U+FFFD.
    let b = sp.piece_to_id("<0x97>");
    assert_eq!(sp.decode(&[4, b, 4]).unwrap(), "a\u{fffd}a");
    // Byte pieces without byte_fallback, or missing ones with it, are refused.
    assert!(SentencePiece::from_bytes(model(&p, 1, false, false), "t").is_err());
    assert!(SentencePiece::from_bytes(model(&p[..100], 1, true, false), "t").is_err());
}

#[test]
fn load_errors() {
    let p = base_pieces();
    let dup: Vec<_> = p.iter().cloned().chain([("a", -1.0, 1)]).collect();
    let e = SentencePiece::from_bytes(model(&dup, 1, false, true), "m.model").unwrap_err().to_string();
    assert!(e.contains("m.model") && e.contains("twice"), "{e}");
    let no_unk: Vec<_> = p.iter().cloned().filter(|x| x.2 != 2).collect();
    assert!(SentencePiece::from_bytes(model(&no_unk, 1, false, true), "t").is_err());
    let empty: Vec<_> = p.iter().cloned().chain([("", -1.0, 1)]).collect();
    assert!(SentencePiece::from_bytes(model(&empty, 1, false, true), "t").is_err());
}

#[test]
fn char_and_word_models() {
    let mut p = base_pieces();
    p.push(("▁ab", -1.0, 1));
    let sp = SentencePiece::from_bytes(model(&p, 4, false, true), "t").unwrap();
    assert_eq!(pieces_of(&sp, &sp.encode("ab").unwrap()), vec!["▁", "a", "b"]);
    let sp = SentencePiece::from_bytes(model(&p, 3, false, true), "t").unwrap();
    assert_eq!(pieces_of(&sp, &sp.encode("ab a").unwrap()), vec!["▁ab", "<unk>"]);
}

#[test]
fn batch_equals_loop() {
    let sp = SentencePiece::from_bytes(model(&base_pieces(), 1, false, true), "t").unwrap();
    let texts = ["a b", "", "cab x", "  "];
    let (ids, offs) = sp.encode_batch(&texts, Some(2)).unwrap();
    let mut flat = Vec::new();
    for t in texts {
        flat.extend(sp.encode(t).unwrap());
    }
    assert_eq!(ids, flat);
    assert_eq!(offs.len(), 5);
}

proptest! {
    #[test]
    fn mutated_models_never_panic(i in 0usize..400, b in any::<u8>(), cut in 0usize..400, text in "\\PC{0,10}") {
        let mut p = base_pieces();
        p.extend([("ab", -1.0, 5), ("abc", -0.5, 1), ("<u>", 0.0, 4)]);
        let mut m = model(&p, 2, false, true);
        let i = i % m.len();
        m[i] = b;
        m.truncate(cut.max(1).min(m.len()));
        if let Ok(sp) = SentencePiece::from_bytes(m.clone(), "fuzz") {
            if let Ok(ids) = sp.encode(&text) {
                let _ = sp.decode(&ids);
            }
        }
        let mut m = model(&p, 1, false, true);
        let j = i % m.len();
        m[j] = b;
        if let Ok(sp) = SentencePiece::from_bytes(m, "fuzz") {
            if let Ok(ids) = sp.encode(&text) {
                let _ = sp.decode(&ids);
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(sp) = SentencePiece::from_bytes(data, "fuzz") {
            let _ = sp.encode("a b\u{0}c");
        }
    }
}

/// A random model over a small alphabet with scores from a small set (many exact and near
/// ties), as Unigram (1) or BPE (2).
fn tie_model(pieces: &[(String, u8)], kind: u64) -> SentencePiece {
    let scores = [-1.0f32, -2.0, -3.0, -1.5, -0.5, -2.5, -1.0000001, -7.25];
    let mut p: Vec<(String, f32, u64)> = vec![("<unk>".into(), 0.0, 2), ("▁".into(), -1.0, 1)];
    for (s, k) in pieces {
        if !p.iter().any(|x| &x.0 == s) {
            p.push((s.clone(), scores[*k as usize % scores.len()], 1));
        }
    }
    let refs: Vec<(&str, f32, u64)> = p.iter().map(|x| (x.0.as_str(), x.1, x.2)).collect();
    SentencePiece::from_bytes(model(&refs, kind, false, true), "t").unwrap()
}

proptest! {
    /// The word split and caches give exactly the whole-string results (ties included).
    #[test]
    fn word_cache_is_exact(pieces in proptest::collection::vec(("▁?[abc]{1,3}", any::<u8>()), 1..20),
                           texts in proptest::collection::vec("[abc x]{0,40}", 1..6)) {
        for kind in [1u64, 2] {
            let sp = tie_model(&pieces, kind);
            let mut whole = sp.clone();
            whole.uni_split = model::WsSplit::None;
            whole.bpe_split = model::WsSplit::None;
            prop_assert!(kind == 2 || sp.uni_split == model::WsSplit::Before);
            for _ in 0..2 {
                for t in &texts {
                    prop_assert_eq!(sp.encode(t).unwrap(), whole.encode(t).unwrap(), "{} {:?}", kind, t);
                }
            }
        }
    }
}

#[test]
fn large_offsets_fall_back_exactly() {
    // A long text makes the accumulated score large, where f32 rounding can break near-ties
    // differently than in a word alone; the result must still be the whole-string Viterbi's.
    let pieces: Vec<(String, u8)> =
        ["▁a", "a", "b", "ab", "▁ab", "ba", "▁b", "abc", "c", "bc"].iter().enumerate().map(|(i, s)| (s.to_string(), i as u8)).collect();
    let sp = tie_model(&pieces, 1);
    let mut whole = sp.clone();
    whole.uni_split = model::WsSplit::None;
    let text: String = (0..3000).map(|i| ["ab", "abc", "ba", "cab", "bcab", "a"][i % 6]).collect::<Vec<_>>().join(" ");
    assert_eq!(sp.encode(&text).unwrap(), whole.encode(&text).unwrap());
}

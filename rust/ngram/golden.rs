//! Tests against the golden files in `tests/data/ngram` (the ARPA files KenLM's `lmplz` made
//! of the corpora there, and two of KenLM's own test models; see `make_golden.sh`), so
//! `cargo test` checks Kneser-Ney and ARPA on its own, without Python: the fit gives lmplz's
//! ARPA text line for line, and ARPA read -> write -> read -> write is a fixed point that keeps
//! every line.

use std::path::PathBuf;

use super::arpa;
use super::estimate::{fit_text, Smoothing};
use super::model::{Model, MAX_ORDER};

const FALLBACK: Option<[f32; 3]> = Some([0.5, 1.0, 1.5]);

/// (corpus, order, prune thresholds, discount fallback, file) as in `tests/_ngram_data.py`.
type Golden = (&'static str, usize, &'static [u64], Option<[f32; 3]>, &'static str);

const GOLDEN: &[Golden] = &[
    ("kenlm_toy0", 3, &[], FALLBACK, "kenlm_toy0.o3"),
    ("kenlm_toy1", 3, &[], FALLBACK, "kenlm_toy1.o3"),
    ("kenlm_corpus_count", 3, &[], FALLBACK, "kenlm_corpus_count.o3"),
    ("students", 1, &[], FALLBACK, "students.o1"),
    ("students", 3, &[], FALLBACK, "students.o3"),
    ("zipf", 2, &[], None, "zipf.o2"),
    ("zipf", 3, &[], None, "zipf.o3"),
    ("zipf", 5, &[], None, "zipf.o5"),
    ("zipf", 3, &[0, 1], None, "zipf.o3.p01"),
    ("zipf", 5, &[0, 0, 1, 2], None, "zipf.o5.p0012"),
    ("students", 3, &[0, 1], FALLBACK, "students.o3.p01"),
];

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/ngram").join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn to_arpa(m: &Model) -> String {
    let mut out = Vec::new();
    arpa::write_to(m, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The non-empty lines, sorted (lmplz orders n-grams by suffix, seqfast by prefix).
fn sorted_lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    v.sort_unstable();
    v
}

fn fit(corpus: &str, order: usize, prune: &[u64], fallback: Option<[f32; 3]>) -> Model {
    // lmplz's --prune: the last threshold holds for the higher orders.
    let p: [u64; MAX_ORDER] = std::array::from_fn(|i| prune.get(i).or(prune.last()).copied().unwrap_or(0));
    let text = read(&format!("{corpus}.txt"));
    fit_text(&text, order, Smoothing::KneserNey { discount_fallback: fallback, prune: p }, Some(2)).unwrap()
}

#[test]
fn kneser_ney_fit_is_lmplz_line_for_line() {
    for &(corpus, order, prune, fallback, file) in GOLDEN {
        let want = read(&format!("{file}.arpa"));
        let got = to_arpa(&fit(corpus, order, prune, fallback));
        let (w, g) = (sorted_lines(&want), sorted_lines(&got));
        let diff: Vec<_> = w.iter().zip(&g).filter(|(a, b)| a != b).take(3).collect();
        assert!(w == g, "{file}: {} lines wanted, {} got; first differences {diff:?}", w.len(), g.len());
    }
}

#[test]
fn kneser_ney_fit_is_thread_count_invariant() {
    let one = {
        let text = read("zipf.txt");
        let sm = Smoothing::KneserNey { discount_fallback: None, prune: [0; MAX_ORDER] };
        to_arpa(&fit_text(&text, 4, sm, Some(1)).unwrap())
    };
    let text = read("zipf.txt");
    let sm = Smoothing::KneserNey { discount_fallback: None, prune: [0; MAX_ORDER] };
    assert_eq!(to_arpa(&fit_text(&text, 4, sm, Some(3)).unwrap()), one);
}

#[test]
fn arpa_round_trip_is_byte_identical() {
    let files: Vec<&str> = GOLDEN.iter().map(|g| g.4).chain(["kenlm_test", "kenlm_test_nounk"]).collect();
    for file in files {
        let want = read(&format!("{file}.arpa"));
        let first = to_arpa(&arpa::read(&want, file).unwrap_or_else(|e| panic!("{file}: {e}")));
        let second = to_arpa(&arpa::read(&first, file).unwrap());
        assert!(first == second, "{file}: writing what was read changes the bytes");
        if !file.starts_with("kenlm_test") {
            // lmplz's own files: every line survives reading and writing, digit for digit.
            assert_eq!(sorted_lines(&first), sorted_lines(&want), "{file}");
        }
    }
    // Through files too (the atomic writer and the file reader).
    let dir = std::env::temp_dir().join(format!("seqfast-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let m = arpa::read_file(&data("students.o3.arpa")).unwrap();
    let out = dir.join("s.arpa");
    arpa::write(&m, &out, Some(1)).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), to_arpa(&m));
    std::fs::remove_dir_all(&dir).unwrap();
}

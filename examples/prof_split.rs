//! Encode throughput without Python in the way, for profiling (`perf record`, `cachegrind`):
//! `cargo run --release --example prof_split -- RANKS.tiktoken TEXT_FILE` prints, per run,
//! pre-tokenization MB/s and cold-cache encode MB/s on up to 6 MB of the file.
use seqfast::tokenize::{formats::tiktoken, SpecialPolicy};
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tok = tiktoken::load(std::path::Path::new(&args[1]), "cl100k", None).unwrap();
    let text = std::fs::read_to_string(&args[2]).unwrap();
    let mut end = text.len().min(6_000_000);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text[..end];
    for _ in 0..5 {
        let t0 = Instant::now();
        let mut n = 0usize;
        tok.pretokenizer()
            .for_each_piece(text, |p| {
                n += p.len();
                Ok(())
            })
            .unwrap();
        seqfast::tokenize::encode::clear_caches();
        let t1 = Instant::now();
        let ids = tok.encode(text, SpecialPolicy::Text).unwrap();
        let t2 = Instant::now();
        let mb = text.len() as f64 / 1e6;
        println!(
            "split {:.0} MB/s, encode {:.0} MB/s ({} ids, {n})",
            mb / (t1 - t0).as_secs_f64(),
            mb / (t2 - t1).as_secs_f64(),
            ids.len()
        );
    }
}

//! Time batch scoring without Python (for profiling): `cargo run --release --example lm_score --
//! MODEL.arpa HELDOUT.txt [THREADS]`; prints tokens/s (words plus one `</s>` per sentence).
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 3 {
        eprintln!("usage: lm_score MODEL.arpa HELDOUT.txt [THREADS]");
        std::process::exit(2);
    }
    let threads: usize = a.get(3).map_or(Ok(1), |s| s.parse())?;
    let t0 = Instant::now();
    let model = seqfast::ngram::arpa::read_file(std::path::Path::new(&a[1]))?;
    let text = std::fs::read_to_string(&a[2])?;
    let lines: Vec<&str> = text.lines().collect();
    let (ids, offsets) = model.word_ids(&lines);
    eprintln!("loaded in {:.1}s: {} sentences, {} tokens", t0.elapsed().as_secs_f64(), lines.len(), ids.len());
    let tokens = ids.len() + lines.len();
    let mut best = f64::INFINITY;
    let mut total = 0.0;
    for _ in 0..30 {
        let t = Instant::now();
        let s = model.score_batch(&ids, &offsets, true, true, Some(threads))?;
        best = best.min(t.elapsed().as_secs_f64());
        total = s.total.iter().sum::<f64>();
    }
    eprintln!("{threads} thread(s): best {:.1} ms, {:.2}M tokens/s (sum of log10 {total:.3})", best * 1e3, tokens as f64 / best / 1e6);
    Ok(())
}

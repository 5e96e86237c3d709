//! Build a Kneser-Ney ARPA model from a text file without Python (for profiling and for
//! comparing with KenLM's `lmplz`): `cargo run --release --example lm_build -- ORDER IN OUT`.
use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 4 {
        eprintln!("usage: lm_build ORDER INPUT.txt OUTPUT.arpa");
        std::process::exit(2);
    }
    let order: usize = a[1].parse()?;
    let t0 = Instant::now();
    let text = std::fs::read_to_string(&a[2])?;
    let sm = seqfast::ngram::Smoothing::KneserNey { discount_fallback: None, prune: [0; seqfast::ngram::model::MAX_ORDER] };
    let model = seqfast::ngram::fit_text(&text, order, sm, None)?;
    let t1 = Instant::now();
    seqfast::ngram::arpa::write(&model, Path::new(&a[3]), None)?;
    eprintln!("estimate {:.3}s, write {:.3}s", (t1 - t0).as_secs_f64(), t1.elapsed().as_secs_f64());
    Ok(())
}

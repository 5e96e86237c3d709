//! 8-bit quantization of log10 probabilities and backoffs (KenLM's `build_binary -q 8 -b 8`
//! idea, with bins chosen for the smallest largest error rather than KenLM's equal-count bins):
//! the distinct finite non-zero values of one array are sorted and covered greedily by at most
//! 253 bins of the smallest width that suffices (found by bisection), each value is replaced by
//! its bin's midpoint; 0, -inf and NaN (used as markers) keep codes of their own and are
//! restored exactly. The largest error is at most half the range divided by 253.

/// Codes of the exact values.
const ZERO: u8 = 255;
const NEG_INF: u8 = 254;
const NAN: u8 = 253;
/// Bins for the other values.
const BINS: usize = 253;

/// `(codes, 256 centres, largest |value - centre|)` of `values`.
pub fn quantize(values: &[f32]) -> (Vec<u8>, Vec<f32>, f32) {
    let mut sorted: Vec<f32> = values.iter().copied().filter(|x| x.is_finite() && *x != 0.0).collect();
    sorted.sort_unstable_by(f32::total_cmp);
    sorted.dedup_by(|a, b| a.to_bits() == b.to_bits()); // bins over distinct values
    let mut centres = vec![0f32; 256];
    centres[NEG_INF as usize] = f32::NEG_INFINITY;
    centres[NAN as usize] = f32::NAN;
    // Smallest width w such that bins [x, x + w] laid greedily from the smallest value need
    // at most BINS bins; bin b holds sorted[starts[b]..starts[b + 1]].
    let cover = |w: f64| -> Vec<usize> {
        let mut starts = Vec::new();
        let mut i = 0;
        while i < sorted.len() {
            starts.push(i);
            let top = sorted[i] as f64 + w;
            i += sorted[i..].partition_point(|&x| (x as f64) <= top);
        }
        starts
    };
    let mut starts = cover(0.0);
    if starts.len() > BINS {
        let (mut lo, mut hi) = (0.0f64, (sorted[sorted.len() - 1] - sorted[0]) as f64);
        starts = cover(hi);
        for _ in 0..60 {
            let mid = (lo + hi) / 2.0;
            let s = cover(mid);
            if s.len() <= BINS {
                (hi, starts) = (mid, s);
            } else {
                lo = mid;
            }
        }
    }
    starts.push(sorted.len());
    let bins = starts.len() - 1;
    let mut uppers = Vec::with_capacity(bins); // largest value of each bin
    for b in 0..bins {
        let part = &sorted[starts[b]..starts[b + 1]];
        let (lo, hi) = (part[0] as f64, *part.last().expect("bins are non-empty") as f64);
        centres[b] = ((lo + hi) / 2.0) as f32;
        uppers.push(hi as f32);
    }
    let mut err = 0f32;
    let codes = values
        .iter()
        .map(|&x| {
            if x == 0.0 {
                ZERO
            } else if x == f32::NEG_INFINITY {
                NEG_INF
            } else if x.is_nan() || x.is_infinite() {
                NAN // +inf never occurs in a model; NaN marks "never a history"
            } else {
                let b = uppers.partition_point(|&u| u < x);
                err = err.max((x - centres[b]).abs());
                b as u8
            }
        })
        .collect();
    (codes, centres, err)
}

/// The values of `codes` (an error names a code without a centre).
pub fn expand(codes: &[u8], centres: &[f32]) -> Result<Vec<f32>, String> {
    if centres.len() != 256 {
        return Err(format!("{} quantization centres (256 expected)", centres.len()));
    }
    Ok(codes.iter().map(|&c| centres[c as usize]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_markers_and_bounded_error() {
        let mut vals: Vec<f32> = (0..10_000).map(|i| -((i * 7919 % 10_007) as f32) / 1000.0 - 0.001).collect();
        vals.extend([0.0, f32::NEG_INFINITY, f32::NAN, -0.5]);
        let (codes, centres, err) = quantize(&vals);
        let back = expand(&codes, &centres).unwrap();
        let mut worst = 0f32;
        for (a, b) in vals.iter().zip(&back) {
            if a.is_nan() {
                assert!(b.is_nan());
            } else if *a == 0.0 || a.is_infinite() {
                assert_eq!(a, b);
            } else {
                worst = worst.max((a - b).abs());
            }
        }
        assert_eq!(worst, err);
        assert!(err <= 10.0 / 2.0 / 253.0 * 1.001, "{err}"); // values span 10
                                                             // few distinct values: exact
        let (c, z, e) = quantize(&[-1.0, -2.0, -1.0]);
        assert_eq!((expand(&c, &z).unwrap(), e), (vec![-1.0, -2.0, -1.0], 0.0));
    }
}

//! 8-bit quantization of log10 probabilities and backoffs (KenLM's `build_binary -q 8 -b 8`
//! idea): the finite non-zero values of one array are sorted and cut into equal-count bins, each
//! value is replaced by its bin's mean; 0, -inf and NaN (used as markers) keep codes of their
//! own and are restored exactly.

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
    // bin b holds sorted[bounds[b]..bounds[b + 1]]
    let bins = BINS.min(sorted.len());
    let bounds: Vec<usize> = (0..=bins).map(|b| b * sorted.len() / bins.max(1)).collect();
    let mut uppers = Vec::with_capacity(bins); // largest value of each bin
    for b in 0..bins {
        let part = &sorted[bounds[b]..bounds[b + 1]];
        centres[b] = (part.iter().map(|&x| x as f64).sum::<f64>() / part.len() as f64) as f32;
        uppers.push(*part.last().expect("bins are non-empty"));
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
        assert!(err < 10.0 / 253.0, "{err}"); // values span 10: equal-count bins of uniform data
                                              // few distinct values: exact
        let (c, z, e) = quantize(&[-1.0, -2.0, -1.0]);
        assert_eq!((expand(&c, &z).unwrap(), e), (vec![-1.0, -2.0, -1.0], 0.0));
    }
}

//! Summary statistics and a histogram of a tensor's values, for a page to show.

/// Most histogram bins [`Stats::of`] makes.
pub const MAX_BINS: usize = 4096;

/// Minimum, maximum, mean, standard deviation and histogram of the finite values of a
/// tensor; NaNs and infinities are counted apart.
///
/// ```
/// use weightmap_wasm::Stats;
/// let s = Stats::of(&[1.0, 2.0, 3.0, 4.0, f32::NAN], 3);
/// assert_eq!((s.finite, s.nan, s.min, s.max, s.mean), (4, 1, 1.0, 4.0, 2.5));
/// assert!((s.std - 1.118034).abs() < 1e-6); // population standard deviation
/// assert_eq!(s.histogram, [1, 1, 2]); // [1, 2), [2, 3), [3, 4]
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// All values.
    pub count: u64,
    /// Finite values: the ones the other fields describe.
    pub finite: u64,
    /// NaN values.
    pub nan: u64,
    /// Infinite values (either sign).
    pub infinite: u64,
    /// Smallest finite value (NaN when there is none).
    pub min: f64,
    /// Largest finite value (NaN when there is none).
    pub max: f64,
    /// Mean of the finite values (NaN when there is none).
    pub mean: f64,
    /// Population standard deviation of the finite values (NaN when there is none).
    pub std: f64,
    /// Counts of finite values in equal bins from `min` to `max`, the last bin closed; one
    /// bin when all values are equal, none when there are no finite values.
    pub histogram: Vec<u32>,
}

impl Stats {
    /// The statistics of `values` with up to `bins` histogram bins (clamped to
    /// 1..=[`MAX_BINS`]). Sums are taken in `f64`, in two passes, so the standard deviation
    /// does not lose its digits to a large mean.
    pub fn of(values: &[f32], bins: usize) -> Stats {
        Self::of_chunks(|visit| visit(values), bins)
    }

    /// As [`of`](Self::of), for values that come in chunks: `for_each_chunk` hands every
    /// chunk to the visitor it is given, in the same order each time (it is called twice).
    /// Nothing is allocated but the histogram.
    pub fn of_chunks<F>(mut for_each_chunk: F, bins: usize) -> Stats
    where
        F: FnMut(&mut dyn FnMut(&[f32])),
    {
        let mut min = f64::INFINITY;
        let mut max = f64::NEG_INFINITY;
        let (mut count, mut finite, mut nan, mut sum) = (0u64, 0u64, 0u64, 0.0f64);
        for_each_chunk(&mut |values: &[f32]| {
            count += values.len() as u64;
            for &v in values {
                if v.is_nan() {
                    nan += 1;
                } else if v.is_finite() {
                    let v = f64::from(v);
                    finite += 1;
                    sum += v;
                    min = min.min(v);
                    max = max.max(v);
                }
            }
        });
        let infinite = count - finite - nan;
        if finite == 0 {
            return Stats {
                count,
                finite,
                nan,
                infinite,
                min: f64::NAN,
                max: f64::NAN,
                mean: f64::NAN,
                std: f64::NAN,
                histogram: Vec::new(),
            };
        }
        let mean = sum / finite as f64;
        let bins = if min == max {
            1
        } else {
            bins.clamp(1, MAX_BINS)
        };
        let mut histogram = vec![0u32; bins];
        let scale = bins as f64 / (max - min);
        let mut squares = 0.0f64;
        for_each_chunk(&mut |values: &[f32]| {
            for &v in values.iter().filter(|v| v.is_finite()) {
                let v = f64::from(v);
                squares += (v - mean) * (v - mean);
                // In [0, bins]; the maximum lands on `bins` and joins the last bin. A value
                // outside [min, max] (chunks that changed between passes) is clamped.
                let bin = (((v - min) * scale).max(0.0) as usize).min(bins - 1);
                histogram[bin] = histogram[bin].saturating_add(1);
            }
        });
        Stats {
            count,
            finite,
            nan,
            infinite,
            min,
            max,
            mean,
            std: (squares / finite as f64).sqrt(),
            histogram,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_non_finite_inputs_have_no_statistics() {
        let s = Stats::of(&[], 10);
        assert_eq!((s.count, s.finite), (0, 0));
        assert!(s.mean.is_nan() && s.histogram.is_empty());
        let s = Stats::of(&[f32::INFINITY, f32::NEG_INFINITY, f32::NAN], 10);
        assert_eq!((s.count, s.finite, s.nan, s.infinite), (3, 0, 1, 2));
        assert!(s.min.is_nan());
    }

    #[test]
    fn constant_values_fill_one_bin() {
        let s = Stats::of(&[7.0; 5], 64);
        assert_eq!((s.min, s.max, s.mean, s.std), (7.0, 7.0, 7.0, 0.0));
        assert_eq!(s.histogram, [5]);
    }

    #[test]
    fn histogram_counts_every_finite_value_once() {
        let values: Vec<f32> = (0..10_000)
            .map(|i| ((i * 7919) % 1000) as f32 - 500.0)
            .collect();
        for bins in [0, 1, 2, 3, 50, 999, 5000] {
            let s = Stats::of(&values, bins);
            assert_eq!(s.histogram.len(), bins.clamp(1, MAX_BINS));
            assert_eq!(
                s.histogram.iter().map(|&c| u64::from(c)).sum::<u64>(),
                s.finite
            );
        }
        let chunked = Stats::of_chunks(|visit| values.chunks(333).for_each(&mut *visit), 50);
        assert_eq!(chunked, Stats::of(&values, 50));
        let s = Stats::of(&[f32::MIN, f32::MAX], 2);
        assert_eq!(s.histogram, [1, 1]);
        assert_eq!(s.mean, 0.0);
    }
}

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
        let mut passes = StatsPasses::new(bins);
        while !passes.is_done() {
            for_each_chunk(&mut |values: &[f32]| passes.add(values));
            passes.end_pass();
        }
        passes.finish().unwrap_or_else(|| Stats::empty(0, 0, 0))
    }

    /// No finite values: counts only.
    fn empty(count: u64, nan: u64, infinite: u64) -> Stats {
        Stats {
            count,
            finite: 0,
            nan,
            infinite,
            min: f64::NAN,
            max: f64::NAN,
            mean: f64::NAN,
            std: f64::NAN,
            histogram: Vec::new(),
        }
    }
}

/// [`Stats`] gathered pass by pass, for values that arrive a chunk at a time and cannot be
/// visited twice from one call (a page reading a file asynchronously): hand the values to
/// [`add`](Self::add) in the same order in each pass, and call [`end_pass`](Self::end_pass)
/// after each, until [`is_done`](Self::is_done). The first pass counts and finds the extremes
/// and the mean; the second the deviations and the histogram. [`Stats::of_chunks`] is this.
///
/// ```
/// use weightmap_wasm::{Stats, StatsPasses};
/// let values = [1.0, 2.0, 3.0, 4.0, f32::NAN];
/// let mut passes = StatsPasses::new(3);
/// while !passes.is_done() {
///     values.chunks(2).for_each(|c| passes.add(c));
///     passes.end_pass();
/// }
/// assert_eq!(passes.finish(), Some(Stats::of(&values, 3)));
/// ```
#[derive(Debug, Clone)]
pub struct StatsPasses {
    bins: usize,
    pass: Pass,
    count: u64,
    finite: u64,
    nan: u64,
    sum: f64,
    min: f64,
    max: f64,
    squares: f64,
    histogram: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pass {
    First,
    /// The mean and the bins are known.
    Second {
        mean: f64,
        scale: f64,
    },
    Done,
}

impl StatsPasses {
    /// Before the first pass; up to `bins` histogram bins (clamped to 1..=[`MAX_BINS`]).
    pub fn new(bins: usize) -> Self {
        StatsPasses {
            bins,
            pass: Pass::First,
            count: 0,
            finite: 0,
            nan: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            squares: 0.0,
            histogram: Vec::new(),
        }
    }

    /// Which pass the values are for: 1 or 2, 0 once done.
    pub fn pass(&self) -> u8 {
        match self.pass {
            Pass::First => 1,
            Pass::Second { .. } => 2,
            Pass::Done => 0,
        }
    }

    /// Whether the statistics are complete (after one pass when no value is finite).
    pub fn is_done(&self) -> bool {
        matches!(self.pass, Pass::Done)
    }

    /// The next values of the current pass (ignored once done).
    pub fn add(&mut self, values: &[f32]) {
        match self.pass {
            Pass::First => {
                self.count += values.len() as u64;
                for &v in values {
                    if v.is_nan() {
                        self.nan += 1;
                    } else if v.is_finite() {
                        let v = f64::from(v);
                        self.finite += 1;
                        self.sum += v;
                        self.min = self.min.min(v);
                        self.max = self.max.max(v);
                    }
                }
            }
            Pass::Second { mean, scale } => {
                let (min, bins) = (self.min, self.histogram.len());
                for &v in values.iter().filter(|v| v.is_finite()) {
                    let v = f64::from(v);
                    self.squares += (v - mean) * (v - mean);
                    // In [0, bins]; the maximum lands on `bins` and joins the last bin. A
                    // value outside [min, max] (values that changed between passes) is clamped.
                    let bin = (((v - min) * scale).max(0.0) as usize).min(bins - 1);
                    self.histogram[bin] = self.histogram[bin].saturating_add(1);
                }
            }
            Pass::Done => {}
        }
    }

    /// Ends the current pass: after the first, the second begins unless no value was finite.
    pub fn end_pass(&mut self) {
        self.pass = match self.pass {
            Pass::First if self.finite > 0 => {
                let bins = if self.min == self.max {
                    1
                } else {
                    self.bins.clamp(1, MAX_BINS)
                };
                self.histogram = vec![0; bins];
                Pass::Second {
                    mean: self.sum / self.finite as f64,
                    scale: bins as f64 / (self.max - self.min),
                }
            }
            _ => Pass::Done,
        };
    }

    /// The statistics, once done.
    pub fn finish(self) -> Option<Stats> {
        if !self.is_done() {
            return None;
        }
        let infinite = self.count - self.finite - self.nan;
        if self.finite == 0 {
            return Some(Stats::empty(self.count, self.nan, infinite));
        }
        Some(Stats {
            count: self.count,
            finite: self.finite,
            nan: self.nan,
            infinite,
            min: self.min,
            max: self.max,
            mean: self.sum / self.finite as f64,
            std: (self.squares / self.finite as f64).sqrt(),
            histogram: self.histogram,
        })
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
    fn passes_end_after_one_without_finite_values_and_finish_only_when_done() {
        let mut passes = StatsPasses::new(8);
        passes.add(&[f32::NAN, f32::INFINITY]);
        assert_eq!(passes.pass(), 1);
        passes.end_pass();
        assert!(passes.is_done());
        let s = passes.finish().unwrap();
        assert_eq!((s.count, s.nan, s.infinite), (2, 1, 1));
        let mut passes = StatsPasses::new(8);
        passes.add(&[1.0]);
        passes.end_pass();
        assert_eq!(passes.pass(), 2);
        assert_eq!(passes.finish(), None);
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

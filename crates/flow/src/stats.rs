//! Streaming statistics with the update rule of Apache Commons Math's `SummaryStatistics`
//! (incremental second moment in `f64`), as the CICFlowMeter reference computes its means and
//! sample standard deviations.
//!
//! Values are integers that fit `i32`: payload bytes, or µs gaps inside one flow (negative when
//! a capture's clock steps back). Two shapes, to keep a tracked flow small:
//! - [`Spread`] (16 bytes) for series whose count and exact sum the flow keeps anyway (packet
//!   lengths: count and bytes; gaps: count and first/last time), so the running mean is derived
//!   from them instead of stored;
//! - [`Stats`] (32 bytes) for series that carry their own count and mean.

/// M2, min and max of a series whose count and sum are kept by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spread {
    m2: f64,
    min: i32,
    max: i32,
}

impl Spread {
    /// Adds `x` as the `n`-th value (n ≥ 1); `prev_mean` is the mean of the n − 1 before it.
    #[inline]
    pub fn add(&mut self, x: i32, prev_mean: f64, n: u32) {
        if n <= 1 {
            *self = Spread {
                m2: 0.0,
                min: x,
                max: x,
            };
            return;
        }
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        let nf = n as f64;
        let dev = x as f64 - prev_mean;
        self.m2 += (nf - 1.0) * dev * (dev / nf);
    }

    /// Sample variance over `n` values (0 when fewer than two).
    #[inline]
    pub fn variance(&self, n: u32) -> f64 {
        if n < 2 {
            0.0
        } else {
            self.m2 / (n as f64 - 1.0)
        }
    }

    /// Sample standard deviation over `n` values.
    #[inline]
    pub fn std(&self, n: u32) -> f64 {
        self.variance(n).sqrt()
    }

    /// Smallest value (0 when empty).
    #[inline]
    pub fn min(&self) -> f64 {
        self.min as f64
    }

    /// Largest value (0 when empty).
    #[inline]
    pub fn max(&self) -> f64 {
        self.max as f64
    }
}

/// Count, mean, M2, min and max of a series.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    m1: f64,
    m2: f64,
    min: i32,
    max: i32,
    n: u32,
}

impl Stats {
    /// Adds one value.
    #[inline]
    pub fn add(&mut self, x: i32) {
        if self.n == 0 {
            *self = Stats {
                m1: 0.0,
                m2: 0.0,
                min: x,
                max: x,
                n: 0,
            };
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.n += 1;
        let n = self.n as f64;
        let dev = x as f64 - self.m1;
        let n_dev = dev / n;
        self.m1 += n_dev;
        self.m2 += (n - 1.0) * dev * n_dev;
    }

    /// Number of values.
    pub fn count(&self) -> u32 {
        self.n
    }

    /// Mean, 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.m1
        }
    }

    /// Sample standard deviation, 0 when fewer than two values.
    pub fn std(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / (self.n as f64 - 1.0)).sqrt()
        }
    }

    /// Smallest value, 0 when empty.
    pub fn min(&self) -> f64 {
        self.min as f64
    }

    /// Largest value, 0 when empty.
    pub fn max(&self) -> f64 {
        self.max as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_statistics_of_a_known_series() {
        let xs = [2, 4, 4, 4, 5, 5, 7, 9];
        let mut s = Stats::default();
        let mut p = Spread::default();
        let mut sum = 0i64;
        for (i, &x) in xs.iter().enumerate() {
            s.add(x);
            let prev_mean = if i == 0 { 0.0 } else { sum as f64 / i as f64 };
            p.add(x, prev_mean, i as u32 + 1);
            sum += x as i64;
        }
        assert_eq!(
            (s.count(), s.mean(), s.std()),
            (8, 5.0, (32.0f64 / 7.0).sqrt())
        );
        assert_eq!((s.min(), s.max()), (2.0, 9.0));
        assert_eq!((p.variance(8), p.min(), p.max()), (32.0 / 7.0, 2.0, 9.0));
    }

    #[test]
    fn empty_and_single_value_have_zero_spread() {
        let mut s = Stats::default();
        assert_eq!((s.mean(), s.std(), s.min(), s.max()), (0.0, 0.0, 0.0, 0.0));
        s.add(1460);
        assert_eq!(
            (s.mean(), s.std(), s.min(), s.max()),
            (1460.0, 0.0, 1460.0, 1460.0)
        );
        let mut p = Spread::default();
        p.add(1460, 0.0, 1);
        assert_eq!((p.std(1), p.min(), p.max()), (0.0, 1460.0, 1460.0));
    }
}

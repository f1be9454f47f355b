//! Streaming summary statistics, computed exactly as Apache Commons Math's
//! `SummaryStatistics` does (incremental first and second moments in `f64`), so that means and
//! sample standard deviations agree bit for bit with the CICFlowMeter reference.
//!
//! Values are integers (bytes, or µs gaps that can be negative when a capture's clock steps
//! back), exactly representable in `f64`.

/// Count, mean, M2, min and max of a stream of values.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    m1: f64,
    m2: f64,
    min: f64,
    max: f64,
    n: u32,
}

impl Stats {
    /// Adds one value.
    #[inline]
    pub fn add_f(&mut self, x: f64) {
        let xf = x;
        if self.n == 0 {
            self.m1 = 0.0;
            self.m2 = 0.0;
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.n += 1;
        let n = self.n as f64;
        let dev = xf - self.m1;
        let n_dev = dev / n;
        self.m1 += n_dev;
        self.m2 += (n - 1.0) * dev * n_dev;
    }

    /// Number of values.
    #[inline]
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

    /// Sample variance (n − 1), 0 when fewer than two values.
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            self.m2 / (self.n as f64 - 1.0)
        }
    }

    /// Sample standard deviation, 0 when fewer than two values.
    pub fn std(&self) -> f64 {
        self.variance().sqrt()
    }

    /// Smallest value, 0 when empty.
    pub fn min_f(&self) -> f64 {
        self.min
    }

    /// Largest value, 0 when empty.
    pub fn max_f(&self) -> f64 {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_statistics_of_a_known_series() {
        let mut s = Stats::default();
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            s.add_f(x);
        }
        assert_eq!(s.count(), 8);
        assert_eq!(s.mean(), 5.0);
        assert_eq!(s.variance(), 32.0 / 7.0);
        assert_eq!((s.min_f(), s.max_f()), (2.0, 9.0));
    }

    #[test]
    fn empty_and_single_value_have_zero_spread() {
        let mut s = Stats::default();
        assert_eq!(
            (s.mean(), s.std(), s.min_f(), s.max_f()),
            (0.0, 0.0, 0.0, 0.0)
        );
        s.add_f(1460.0);
        assert_eq!(
            (s.mean(), s.std(), s.min_f(), s.max_f()),
            (1460.0, 0.0, 1460.0, 1460.0)
        );
    }
}

//! Robust location and scale: median and median absolute deviation (MAD), with a floor on the
//! scale, and the bounded sample they are computed from.

use super::features::{N_WINDOW_FEATURES, WINDOW_FEATURES};

/// MAD × this estimates the standard deviation of a normal distribution, so a robust z is on
/// the familiar scale.
pub const MAD_TO_SIGMA: f64 = 1.482_602_218_505_602;

/// Median of `v` (the mean of the two middle values for an even count); `None` when empty or
/// when a value is not finite. `v` is reordered.
pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let n = v.len();
    let mid = n / 2;
    let (_, &mut hi, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    if n % 2 == 1 {
        return Some(hi);
    }
    // The largest value below `mid` is the other middle value.
    let lo = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(lo + (hi - lo) / 2.0)
}

/// Median and median absolute deviation of `v`; `None` when empty or not finite.
pub fn median_mad(v: &[f64]) -> Option<(f64, f64)> {
    let mut w = v.to_vec();
    let m = median(&mut w)?;
    for x in w.iter_mut() {
        *x = (*x - m).abs();
    }
    let mad = median(&mut w)?;
    Some((m, mad))
}

/// The scale a robust z divides by: `MAD × 1.4826`, at least `floor`.
pub fn robust_scale(mad: f64, floor: f64) -> f64 {
    (mad * MAD_TO_SIGMA).max(floor)
}

/// Location and scale of every window feature over one population (windows, or host-windows).
#[derive(Clone, Debug, PartialEq)]
pub struct RobustStats {
    /// Vectors the statistics were computed from.
    pub samples: u64,
    /// Median per feature (transformed units).
    pub median: Vec<f64>,
    /// Median absolute deviation per feature (transformed units).
    pub mad: Vec<f64>,
    /// `max(MAD × 1.4826, min_scale)` per feature: what a z divides by.
    pub scale: Vec<f64>,
}

impl RobustStats {
    /// Statistics of `rows` (transformed feature vectors). With no rows every median is 0 and
    /// every scale its floor, so an empty population still scores (coarsely) rather than fails.
    pub fn of(rows: &[[f64; N_WINDOW_FEATURES]]) -> Self {
        let mut median = Vec::with_capacity(N_WINDOW_FEATURES);
        let mut mad = Vec::with_capacity(N_WINDOW_FEATURES);
        let mut scale = Vec::with_capacity(N_WINDOW_FEATURES);
        let mut col = Vec::with_capacity(rows.len());
        for (i, f) in WINDOW_FEATURES.iter().enumerate() {
            col.clear();
            col.extend(rows.iter().map(|r| r[i]).filter(|x| x.is_finite()));
            let (m, d) = median_mad(&col).unwrap_or((0.0, 0.0));
            median.push(m);
            mad.push(d);
            scale.push(robust_scale(d, f.min_scale));
        }
        RobustStats {
            samples: rows.len() as u64,
            median,
            mad,
            scale,
        }
    }

    /// Robust z of every feature of `x`.
    pub fn z(&self, x: &[f64; N_WINDOW_FEATURES]) -> [f64; N_WINDOW_FEATURES] {
        let mut z = [0.0; N_WINDOW_FEATURES];
        for i in 0..N_WINDOW_FEATURES {
            z[i] = (x[i] - self.median[i]) / self.scale[i];
        }
        z
    }
}

/// A uniform sample of at most `cap` vectors (reservoir sampling, Vitter's algorithm R, with a
/// fixed-seed generator so that learning is deterministic).
#[derive(Clone, Debug)]
pub(crate) struct Reservoir {
    cap: usize,
    seen: u64,
    rows: Vec<[f64; N_WINDOW_FEATURES]>,
    rng: u64,
}

impl Reservoir {
    pub(crate) fn new(cap: usize) -> Self {
        Reservoir {
            cap: cap.max(1),
            seen: 0,
            rows: Vec::new(),
            rng: 0x853c_49e6_748f_ea9b,
        }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: enough for sampling, no dependency.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn push(&mut self, x: [f64; N_WINDOW_FEATURES]) {
        self.seen += 1;
        if self.rows.len() < self.cap {
            self.rows.push(x);
            return;
        }
        let j = self.next() % self.seen;
        if (j as usize) < self.cap {
            self.rows[j as usize] = x;
        }
    }

    pub(crate) fn seen(&self) -> u64 {
        self.seen
    }

    pub(crate) fn rows(&self) -> &[[f64; N_WINDOW_FEATURES]] {
        &self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut [7.0]), Some(7.0));
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [1.0, f64::NAN]), None);
    }

    #[test]
    fn mad_ignores_a_minority_of_outliers() {
        // Median 3.5; deviations 0.5 0.5 1.5 1.5 2.5 996.5 → MAD 1.5: the outlier moves neither.
        let (m, mad) = median_mad(&[1.0, 2.0, 3.0, 4.0, 5.0, 1000.0]).unwrap();
        assert_eq!(m, 3.5);
        assert_eq!(mad, 1.5);
        let (m, mad) = median_mad(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!((m, mad), (3.0, 1.0));
    }

    #[test]
    fn the_scale_floor_keeps_constant_features_from_exploding() {
        // A feature constant in training: MAD 0, so the floor is the scale.
        let (_, mad) = median_mad(&[0.0; 50]).unwrap();
        assert_eq!(mad, 0.0);
        assert_eq!(robust_scale(mad, 0.1), 0.1);
        // Above the floor the scale is MAD × 1.4826.
        assert!((robust_scale(2.0, 0.1) - 2.0 * MAD_TO_SIGMA).abs() < 1e-12);
        let rows = vec![[0.0; N_WINDOW_FEATURES]; 20];
        let s = RobustStats::of(&rows);
        for (i, f) in WINDOW_FEATURES.iter().enumerate() {
            assert_eq!(s.scale[i], f.min_scale, "{}", f.name);
        }
        // A change of one floor is a z of exactly 1, not infinity.
        let mut x = [0.0; N_WINDOW_FEATURES];
        x[0] = WINDOW_FEATURES[0].min_scale;
        assert_eq!(s.z(&x)[0], 1.0);
    }

    #[test]
    fn the_reservoir_is_bounded_and_counts_what_it_saw() {
        let mut r = Reservoir::new(10);
        for i in 0..1000 {
            r.push([i as f64; N_WINDOW_FEATURES]);
        }
        assert_eq!(r.rows().len(), 10);
        assert_eq!(r.seen(), 1000);
        // Not just the first ten.
        assert!(r.rows().iter().any(|x| x[0] >= 10.0));
    }
}

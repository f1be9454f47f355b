//! The time grid of the time charts.
//!
//! Time charts put one step per window (or per run of windows, for captures with more windows
//! than the chart has room for) at its true place in time: windows without packets are not
//! emitted by the meter, so their steps are drawn at zero rather than joined across.

use flow::window::report::WindowReport;
use packet::Timestamp;
use plotters::prelude::*;

use super::axes::Chart;
use super::numbers::duration_words;
use super::DrawResult;

/// The time grid of the time charts: bins of one or more windows from the first window's
/// start.
pub(crate) struct Timeline {
    /// Start of the first bin, µs since the epoch.
    pub t0_us: i64,
    /// End of the last window, µs since the epoch.
    pub t1_us: i64,
    /// Width of one bin, µs.
    bin_us: i64,
    /// Windows (of the narrowest width) in one bin.
    windows_per_bin: i64,
    /// Number of bins.
    pub bins: usize,
    /// The bin of each window, in input order.
    slot: Vec<usize>,
}

/// Tick labels of a time axis.
pub(crate) type LabelFn = Box<dyn Fn(&f64) -> String>;

/// Round durations, seconds: tick steps of the time axis and widths of coarse bins.
const ROUND_S: [i64; 22] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    172_800, 604_800, 1_209_600, 2_592_000,
];

/// Most bins drawn: beyond this, adjacent windows share a bin, so a long capture at a fine
/// width draws no more steps than the chart has pixels for.
pub(crate) const MAX_BINS: i64 = 900;

/// A civil UTC time, as [`Timestamp::to_civil`] gives it.
type Civil = (i64, u32, u32, u32, u32, u32, u32);

/// "2024-01-15".
fn date(c: &Civil) -> String {
    format!("{:04}-{:02}-{:02}", c.0, c.1, c.2)
}

/// "12:05:00".
fn time(c: &Civil) -> String {
    format!("{:02}:{:02}:{:02}", c.3, c.4, c.5)
}

impl Timeline {
    /// `None` when there are no windows with a positive width.
    pub(crate) fn new(windows: &[WindowReport]) -> Option<Self> {
        // Base windows all have the configured width; the narrowest is that width even if some
        // inputs were merged windows.
        let base = windows
            .iter()
            .map(|w| w.end_us.saturating_sub(w.start_us))
            .filter(|&d| d > 0)
            .min()?;
        let t0 = windows.iter().map(|w| w.start_us).min()?;
        let t1 = windows
            .iter()
            .map(|w| w.end_us)
            .max()?
            .max(t0.saturating_add(base));
        let span = t1.saturating_sub(t0);
        let slots = span / base + (span % base != 0) as i64;
        let per_bin = (slots / MAX_BINS + (slots % MAX_BINS != 0) as i64).max(1);
        // A coarser bin is a round duration (20 min, not 1129 s) so its steps read as clock
        // intervals; it stays a whole number of windows so no window straddles two bins.
        let bin_us = if per_bin == 1 {
            base
        } else {
            ROUND_S
                .iter()
                .map(|s| s * 1_000_000)
                .find(|&d| d >= base.saturating_mul(per_bin) && d % base == 0)
                .unwrap_or_else(|| base.saturating_mul(per_bin))
        };
        // Bins start on multiples of their width, as the windows do.
        let t0 = t0.div_euclid(bin_us).saturating_mul(bin_us);
        let span = t1.saturating_sub(t0);
        let bins = (span / bin_us + (span % bin_us != 0) as i64).max(1) as usize;
        let slot = windows
            .iter()
            .map(|w| ((w.start_us.saturating_sub(t0) / bin_us) as usize).min(bins - 1))
            .collect();
        Some(Timeline {
            t0_us: t0,
            t1_us: t1,
            bin_us,
            windows_per_bin: bin_us / base,
            bins,
            slot,
        })
    }

    /// Width of one bin, seconds.
    pub(crate) fn bin_s(&self) -> f64 {
        self.bin_us as f64 / 1e6
    }

    /// Width of all bins, seconds: the end of the time axis.
    pub(crate) fn span_s(&self) -> f64 {
        self.bins as f64 * self.bin_s()
    }

    /// The sum of `f` over the windows of each bin; bins without windows are 0.
    pub(crate) fn sum(
        &self,
        windows: &[WindowReport],
        f: impl Fn(&WindowReport) -> f64,
    ) -> Vec<f64> {
        let mut v = vec![0.0; self.bins];
        for (w, &i) in windows.iter().zip(&self.slot) {
            v[i] += f(w);
        }
        v
    }

    /// The x coordinate (seconds from the first bin) of bin edge `i`.
    pub(crate) fn x(&self, i: usize) -> f64 {
        i as f64 * self.bin_s()
    }

    /// Step outline of per-bin values: flat over each bin, vertical between bins.
    pub(crate) fn steps(&self, v: &[f64]) -> Vec<(f64, f64)> {
        let mut pts = Vec::with_capacity(v.len() * 2);
        for (i, &y) in v.iter().enumerate() {
            pts.push((self.x(i), y));
            pts.push((self.x(i + 1), y));
        }
        pts
    }

    /// Closed area under the step outline of `v`, down to zero.
    fn area(&self, v: &[f64]) -> Vec<(f64, f64)> {
        let mut pts = self.steps(v);
        pts.push((self.x(v.len()), 0.0));
        pts.push((0.0, 0.0));
        pts
    }

    /// Draws per-bin values `v` on `chart` as a step line in `color` over a light fill of the
    /// same colour.
    pub(crate) fn draw_steps(&self, chart: &mut Chart, v: &[f64], color: RGBColor) -> DrawResult {
        chart.draw_series(std::iter::once(Polygon::new(
            self.area(v),
            color.mix(0.25).filled(),
        )))?;
        chart.draw_series(std::iter::once(PathElement::new(
            self.steps(v),
            color.stroke_width(2),
        )))?;
        Ok(())
    }

    /// What one step covers, after "per": "1 s window" when bins are windows, else the bin
    /// width ("20 min").
    pub(crate) fn per(&self) -> String {
        if self.windows_per_bin == 1 {
            format!("{} window", duration_words(self.bin_us))
        } else {
            duration_words(self.bin_us)
        }
    }

    /// The x axis: ticks at round UTC times, their labels and the axis description.
    pub(crate) fn axis(&self) -> (Vec<f64>, LabelFn, String) {
        let span_s = self.span_s();
        let step_s = ROUND_S
            .iter()
            .copied()
            .find(|&s| span_s / s as f64 <= 8.0)
            .unwrap_or_else(|| ((span_s / 8.0 / 2_592_000.0).ceil() as i64).max(1) * 2_592_000);
        let step_us = step_s.saturating_mul(1_000_000);
        let end_us = self
            .t0_us
            .saturating_add(self.bin_us.saturating_mul(self.bins as i64));
        let mut t = self.t0_us.div_euclid(step_us).saturating_mul(step_us);
        if t < self.t0_us {
            t = t.saturating_add(step_us);
        }
        let mut ticks = Vec::new();
        while t <= end_us && ticks.len() < 64 {
            ticks.push((t - self.t0_us) as f64 / 1e6);
            t = t.saturating_add(step_us);
        }
        let t0 = self.t0_us;
        let long = span_s > 86_400.0;
        let fmt: LabelFn = Box::new(move |x: &f64| {
            let c = Timestamp(t0.saturating_add((x * 1e6).round() as i64)).to_civil();
            if !long {
                time(&c)
            } else if step_s < 86_400 {
                format!("{:02}-{:02} {:02}:{:02}", c.1, c.2, c.3, c.4)
            } else {
                date(&c)
            }
        });
        let first = date(&Timestamp(self.t0_us).to_civil());
        let last = date(&Timestamp(self.t1_us.saturating_sub(1)).to_civil());
        let desc = if long {
            "time (UTC)".to_string()
        } else if first == last {
            format!("time (UTC) on {first}")
        } else {
            format!("time (UTC), {first} – {last}")
        };
        (ticks, fmt, desc)
    }

    /// "2024-01-15 12:00:00 – 12:05:00 UTC" (the end date only when it differs).
    pub(crate) fn range_words(&self) -> String {
        let a = Timestamp(self.t0_us).to_civil();
        let b = Timestamp(self.t1_us).to_civil();
        if date(&a) == date(&b) {
            format!("{} {} – {} UTC", date(&a), time(&a), time(&b))
        } else {
            format!("{} {} – {} {} UTC", date(&a), time(&a), date(&b), time(&b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flow::Window;

    /// Windows without packets are not emitted; their bins are zero, not interpolated.
    #[test]
    fn gaps_are_zero() {
        let w = |start_s: i64, bytes: u64| {
            let mut r = Window::new(start_s * 1_000_000, (start_s + 1) * 1_000_000, 8, 0).report();
            r.bytes = bytes;
            r
        };
        let windows = [w(100, 10), w(101, 20), w(104, 40)];
        let tl = Timeline::new(&windows).expect("timeline");
        assert_eq!(tl.bins, 5);
        assert_eq!(
            tl.sum(&windows, |r| r.bytes as f64),
            vec![10.0, 20.0, 0.0, 0.0, 40.0]
        );
        let steps = tl.steps(&[1.0, 0.0]);
        assert_eq!(steps, vec![(0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (2.0, 0.0)]);
        let (ticks, fmt, desc) = tl.axis();
        assert_eq!(ticks.first().map(fmt), Some("00:01:40".to_string()));
        assert_eq!(desc, "time (UTC) on 1970-01-01");
    }
}

//! Axes with ticks where the chart puts them, and the plot they frame.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::style::{text, AXIS, DESC_PX, GRID, INK, LABEL_PX};
use super::Area;

/// Space around a plot, pixels.
pub(crate) const MARGIN_PX: u32 = 16;

/// A plot on a chart's area, both axes [`Ticked`].
pub(crate) type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<Ticked, Ticked>>;

/// A linear axis with ticks exactly where the chart says (round times, category centres,
/// whole counts) instead of plotters' own choice.
pub(crate) struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    // Labels always come from the chart's own formatter; this only makes the mesh drawable.
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// A value axis: range, tick positions, tick labels and description.
pub(crate) struct AxisSpec<'f> {
    /// The values the axis spans.
    pub range: Range<f64>,
    /// Where its ticks are.
    pub ticks: Vec<f64>,
    /// The label of a tick.
    pub fmt: &'f dyn Fn(&f64) -> String,
    /// What the axis shows.
    pub desc: String,
}

/// Which grid lines a chart draws.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Grid {
    /// Horizontal lines only (time charts, column charts).
    Horizontal,
    /// Vertical lines only (bar charts).
    Vertical,
}

/// Builds a chart with explicit ticks on both axes and draws its axes and grid.
pub(crate) fn build<'a, 'b>(
    area: &'a Area<'b>,
    x: AxisSpec,
    y: AxisSpec,
    x_label_px: u32,
    y_label_px: u32,
    grid: Grid,
) -> Result<Chart<'a, 'b>, Box<dyn std::error::Error + Send + Sync>> {
    let mut chart = ChartBuilder::on(area)
        .margin(MARGIN_PX)
        // Room for half of a time label on the axis's last tick.
        .margin_right(MARGIN_PX * 5 / 2)
        .x_label_area_size(x_label_px)
        .y_label_area_size(y_label_px)
        .build_cartesian_2d(
            Ticked {
                inner: x.range.into(),
                ticks: x.ticks,
            },
            Ticked {
                inner: y.range.into(),
                ticks: y.ticks,
            },
        )?;
    let mut mesh = chart.configure_mesh();
    mesh.x_label_formatter(x.fmt)
        .y_label_formatter(y.fmt)
        .x_desc(x.desc)
        .y_desc(y.desc)
        .axis_desc_style(text(DESC_PX, INK))
        .label_style(text(LABEL_PX, INK))
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS.stroke_width(1))
        .set_all_tick_mark_size(5);
    match grid {
        Grid::Horizontal => mesh.disable_x_mesh(),
        Grid::Vertical => mesh.disable_y_mesh(),
    };
    mesh.draw()?;
    Ok(chart)
}

/// Ticks 0, s, 2s, … covering `[0, max]` with a step of 1, 2 or 5 × 10ⁿ (at least
/// `min_step`) and at most about `target` intervals; returns the ticks and the axis top.
pub(crate) fn nice_ticks(max: f64, target: usize, min_step: f64) -> (Vec<f64>, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = (max / target.max(1) as f64).max(min_step);
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag)
        .max(min_step);
    let n = (max / step).ceil().max(1.0) as usize;
    let ticks = (0..=n).map(|i| i as f64 * step).collect();
    (ticks, n as f64 * step)
}

//! The stacked-bytes time chart: bytes per bin split into coloured bands, with a legend
//! column of totals (protocol mix, directions).

use plotters::prelude::*;

use super::axes::{build, nice_ticks, AxisSpec, Grid};
use super::layout::{legend, Entry};
use super::numbers::{peak, short_tick};
use super::style::INK;
use super::timeline::Timeline;
use super::{Area, DrawResult};
use crate::chart::SIZE;
use crate::console::format::{human_bytes, iec_scale, percent};

/// Width of the legend column, pixels.
const LEGEND_PX: u32 = 250;

/// Per-bin series to draw as stacked bands, bottom first.
pub(crate) struct Stack<'s> {
    /// Name of each band.
    pub names: &'s [&'s str],
    /// Colour of each band.
    pub colors: &'s [RGBColor],
    /// Bytes per bin of each band.
    pub values: Vec<Vec<f64>>,
}

/// A time chart of stacked bytes per bin with a legend column.
pub(crate) fn stacked_bytes(
    body: &Area,
    tl: &Timeline,
    stack: &Stack,
    legend_heading: &str,
    totals: &[u64],
) -> DrawResult {
    let (plot, side) = body.split_horizontally(SIZE.0 - LEGEND_PX);
    let mut cum = vec![vec![0.0; tl.bins]; stack.values.len() + 1];
    for (k, v) in stack.values.iter().enumerate() {
        for i in 0..tl.bins {
            cum[k + 1][i] = cum[k][i] + v[i];
        }
    }
    let max = cum.last().map_or(0.0, |c| peak(c));
    let (div, unit) = iec_scale(max);
    let (yticks, ytop) = nice_ticks(max / div, 5, 0.0);
    let (xticks, xfmt, xdesc) = tl.axis();
    let mut chart = build(
        &plot,
        AxisSpec {
            range: 0.0..tl.span_s(),
            ticks: xticks,
            fmt: &*xfmt,
            desc: xdesc,
        },
        AxisSpec {
            range: 0.0..ytop * 1.04,
            ticks: yticks,
            fmt: &short_tick,
            desc: format!("{unit} per {}", tl.per()),
        },
        70,
        96,
        Grid::Horizontal,
    )?;
    let scaled: Vec<Vec<f64>> = cum
        .iter()
        .map(|c| c.iter().map(|v| v / div).collect())
        .collect();
    // One rectangle per bin and band rather than one polygon per band: a bin narrower than a
    // pixel still gets its colour instead of vanishing in the polygon fill.
    for k in 0..stack.values.len() {
        let color = stack.colors[k];
        let (lo, hi) = (&scaled[k], &scaled[k + 1]);
        chart.draw_series(
            (0..tl.bins)
                .filter(|&i| hi[i] > lo[i])
                .map(|i| Rectangle::new([(tl.x(i), lo[i]), (tl.x(i + 1), hi[i])], color.filled())),
        )?;
    }
    // The outline of the total, so the overall shape reads where bands are thin; left out when
    // bins are too narrow for it not to cover the colours.
    let (plot_w, _) = chart.plotting_area().dim_in_pixel();
    if plot_w as f64 / tl.bins as f64 >= 4.0 {
        chart.draw_series(std::iter::once(PathElement::new(
            tl.steps(&scaled[stack.values.len()]),
            INK.stroke_width(1),
        )))?;
    }
    let total: u64 = totals.iter().sum();
    // Legend top to bottom in the order the bands stack, so it reads like the chart.
    let entries: Vec<Entry> = (0..stack.values.len())
        .rev()
        .map(|k| Entry {
            color: stack.colors[k],
            name: stack.names[k].to_string(),
            detail: format!(
                "{} · {}",
                human_bytes(totals.get(k).copied().unwrap_or(0)),
                percent(totals.get(k).copied().unwrap_or(0), total)
            ),
        })
        .collect();
    legend(&side, legend_heading, &entries)
}

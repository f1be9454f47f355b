//! The column chart of a histogram (packet sizes, flow durations).

use flow::window::report::Histogram;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::axes::{build, nice_ticks, AxisSpec, Grid, MARGIN_PX};
use super::layout::header;
use super::numbers::{count_tick, human_count};
use super::style::{anchored, text, INK, MUTED, VALUE_PX};
use super::{Area, DrawResult};
use crate::console::format::percent;

/// A histogram to draw as columns.
pub(crate) struct Columns<'c> {
    /// Title.
    pub title: &'c str,
    /// Subtitle.
    pub subtitle: String,
    /// Label of each bucket.
    pub labels: Vec<String>,
    /// Count of each bucket.
    pub counts: &'c [u64],
    /// What the buckets are.
    pub x_desc: &'c str,
    /// What is counted.
    pub y_desc: &'c str,
    /// The columns' colour.
    pub color: RGBColor,
}

/// Labels of the buckets of `h` from its edges: `first(edge)` for the bucket up to the first
/// edge, `between(lower, upper)` for those between two edges, `last(edge)` for the one beyond
/// the last.
pub(crate) fn bucket_labels(
    h: &Histogram,
    first: impl Fn(i64) -> String,
    between: impl Fn(i64, i64) -> String,
    last: impl Fn(i64) -> String,
) -> Vec<String> {
    (0..h.counts.len())
        .map(|i| {
            match (
                i.checked_sub(1).and_then(|j| h.edges.get(j)),
                h.edges.get(i),
            ) {
                (None, Some(&hi)) => first(hi),
                (Some(&lo), Some(&hi)) => between(lo, hi),
                (Some(&lo), None) => last(lo),
                (None, None) => "all".to_string(),
            }
        })
        .collect()
}

/// A column chart of a histogram, each column labelled with its count and share.
pub(crate) fn columns(area: &Area, c: Columns) -> DrawResult {
    let Columns {
        title,
        subtitle,
        labels,
        counts,
        x_desc,
        y_desc,
        color,
    } = c;
    let body = header(area, title, &subtitle)?;
    let total: u64 = counts.iter().sum();
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    // Room above the tallest column for its two label lines (~46 px of ~480 px plot height).
    let plot_h = body
        .dim_in_pixel()
        .1
        .saturating_sub(2 * MARGIN_PX + 76)
        .max(100) as f64;
    let (yticks, ytop) = nice_ticks(max * plot_h / (plot_h - 50.0), 5, 1.0);
    let n = counts.len();
    let xticks: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let xfmt = |x: &f64| {
        let i = x.round();
        if i >= 0.0 && (i as usize) < labels.len() {
            labels[i as usize].clone()
        } else {
            String::new()
        }
    };
    let mut chart = build(
        &body,
        AxisSpec {
            range: -0.5..n as f64 - 0.5,
            ticks: xticks,
            fmt: &xfmt,
            desc: x_desc.to_string(),
        },
        AxisSpec {
            range: 0.0..ytop,
            ticks: yticks,
            fmt: &count_tick,
            desc: y_desc.to_string(),
        },
        76,
        100,
        Grid::Horizontal,
    )?;
    chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
        let x = i as f64;
        Rectangle::new([(x - 0.36, 0.0), (x + 0.36, c as f64)], color.filled())
    }))?;
    chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
        EmptyElement::at((i as f64, c as f64))
            + Text::new(
                human_count(c),
                (0, -30),
                anchored(text(VALUE_PX, INK), HPos::Center, VPos::Center),
            )
            + Text::new(
                percent(c, total),
                (0, -12),
                anchored(text(VALUE_PX, MUTED), HPos::Center, VPos::Center),
            )
    }))?;
    Ok(())
}

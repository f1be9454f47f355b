//! The horizontal bar chart of a top list (top talkers, ports).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::axes::{build, nice_ticks, AxisSpec, Grid, MARGIN_PX};
use super::layout::header_with_note;
use super::style::{anchored, text, INK, LABEL_PX, VALUE_PX};
use super::{Area, DrawResult};
use crate::chart::SIZE;

/// Entries shown in the top talkers and port charts (the console's top lists).
const TOP: usize = 10;

/// What a bar chart shows: its words and its bars, apart from the drawing.
pub(crate) struct BarChart {
    /// Title.
    pub title: &'static str,
    /// Subtitle: what is counted and how much of it the bars cover.
    pub subtitle: String,
    /// Shown under the subtitle when the bars are bounded estimates.
    pub note: Option<String>,
    /// Per bar, largest first: label, length (in the axis's unit) and the value printed at its
    /// end.
    pub rows: Vec<(String, f64, String)>,
    /// The value axis's description.
    pub x_desc: String,
}

/// A horizontal bar chart of the top entries, largest at the top, each bar labelled.
pub(crate) fn bars(
    area: &Area,
    chart: BarChart,
    x_fmt: &dyn Fn(&f64) -> String,
    color: RGBColor,
) -> DrawResult {
    let BarChart {
        title,
        subtitle,
        note,
        rows,
        x_desc,
    } = chart;
    let body = header_with_note(area, title, &subtitle, note.as_deref())?;
    let label_style = text(LABEL_PX, INK);
    let value_style = text(VALUE_PX, INK);
    let mut label_w = 0;
    let mut value_w = Vec::with_capacity(rows.len());
    for (label, _, value) in &rows {
        label_w = label_w.max(body.estimate_text_size(label, &label_style)?.0);
        value_w.push(body.estimate_text_size(value, &value_style)?.0);
    }
    let y_label_px = (label_w + 24).clamp(90, 480);
    let plot_w = (SIZE.0 - 3 * MARGIN_PX - y_label_px) as f64;
    // Widen the axis so every bar's value label ends inside the plot.
    let mut xmax: f64 = rows.iter().map(|r| r.1).fold(0.0, f64::max);
    for ((_, v, _), w) in rows.iter().zip(&value_w) {
        let room = plot_w - *w as f64 - 14.0;
        if room > 0.0 {
            xmax = xmax.max(v * plot_w / room);
        }
    }
    // Ticks only inside the axis: its end is set by the labels, not by a round number.
    let (xticks, _) = nice_ticks(xmax, 6, 0.0);
    let xticks: Vec<f64> = xticks.into_iter().filter(|&t| t <= xmax * 1.0001).collect();
    // Always room for TOP rows, so bars keep their thickness when there are fewer; row 0 (the
    // largest) at the top.
    let n = TOP.max(rows.len());
    let yticks: Vec<f64> = (0..rows.len()).map(|r| (n - 1 - r) as f64).collect();
    let yfmt = |y: &f64| {
        let r = n as f64 - 1.0 - y.round();
        if r >= 0.0 && (r as usize) < rows.len() {
            rows[r as usize].0.clone()
        } else {
            String::new()
        }
    };
    let mut chart = build(
        &body,
        AxisSpec {
            range: 0.0..xmax,
            ticks: xticks,
            fmt: x_fmt,
            desc: x_desc,
        },
        AxisSpec {
            range: -0.6..n as f64 - 0.4,
            ticks: yticks,
            fmt: &yfmt,
            desc: String::new(),
        },
        70,
        y_label_px,
        Grid::Vertical,
    )?;
    chart.draw_series(rows.iter().enumerate().map(|(r, (_, v, _))| {
        let y = (n - 1 - r) as f64;
        Rectangle::new([(0.0, y - 0.32), (*v, y + 0.32)], color.filled())
    }))?;
    chart.draw_series(rows.iter().enumerate().map(|(r, (_, v, value))| {
        let y = (n - 1 - r) as f64;
        EmptyElement::at((*v, y))
            + Text::new(
                value.clone(),
                (8, 0),
                anchored(value_style.clone(), HPos::Left, VPos::Center),
            )
    }))?;
    Ok(())
}

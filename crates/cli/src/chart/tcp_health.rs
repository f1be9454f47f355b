//! `tcp_health.png`: SYN, SYN-ACK, FIN, RST and retransmitted segments over time, a panel
//! each.

use flow::window::report::WindowReport;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::kit::axes::{build, nice_ticks, AxisSpec, Grid};
use super::kit::layout::{header, no_data};
use super::kit::numbers::{count_tick, human_count, peak};
use super::kit::style::{
    anchored, bold_text, text, BLUE, DESC_PX, GREEN, INK, LABEL_PX, MUTED, ORANGE, RED, TEAL,
    VALUE_PX,
};
use super::kit::timeline::Timeline;
use super::kit::{Area, DrawResult};
use super::SIZE;
use crate::console::format::percent;

/// Draws the TCP health chart of `windows` (`s` is their merge).
pub(super) fn draw(
    area: &Area,
    tl: Option<&Timeline>,
    windows: &[WindowReport],
    s: &WindowReport,
) -> DrawResult {
    let title = "TCP health";
    let Some(tl) = tl.filter(|_| s.tcp.segments > 0) else {
        return no_data(
            area,
            title,
            "SYN, SYN-ACK, FIN, RST and retransmissions per window",
            "no TCP traffic in this capture",
        );
    };
    let t = &s.tcp;
    let subtitle = format!(
        "{} · segments per {} · {} TCP segments, {} retransmitted, {} with RST",
        tl.range_words(),
        tl.per(),
        human_count(t.segments),
        percent(t.retransmissions, t.segments),
        percent(t.rst, t.segments),
    );
    let body = header(area, title, &subtitle)?;
    let series: [(&str, RGBColor, u64, Vec<f64>); 5] = [
        ("SYN", BLUE, t.syn, tl.sum(windows, |w| w.tcp.syn as f64)),
        (
            "SYN-ACK",
            GREEN,
            t.syn_ack,
            tl.sum(windows, |w| w.tcp.syn_ack as f64),
        ),
        ("FIN", TEAL, t.fin, tl.sum(windows, |w| w.tcp.fin as f64)),
        ("RST", RED, t.rst, tl.sum(windows, |w| w.tcp.rst as f64)),
        (
            "retransmission",
            ORANGE,
            t.retransmissions,
            tl.sum(windows, |w| w.tcp.retransmissions as f64),
        ),
    ];
    // One panel per signal on a shared time axis: in one plot the lines coincide (SYN and
    // SYN-ACK often match window for window) and hide each other.
    const AXIS_PX: u32 = 70;
    const NAMES_PX: u32 = 190;
    let (plot, side) = body.split_horizontally(SIZE.0 - NAMES_PX);
    let (_, h) = plot.dim_in_pixel();
    let row = h.saturating_sub(AXIS_PX) / series.len() as u32;
    let breaks: Vec<u32> = (1..series.len() as u32).map(|i| i * row).collect();
    let panels = plot.split_by_breakpoints([] as [u32; 0], &breaks);
    let names = side.split_by_breakpoints([] as [u32; 0], &breaks);
    let (xticks, xfmt, xdesc) = tl.axis();
    let no_label = |_: &f64| String::new();
    let last = series.len() - 1;
    for (k, ((name, color, total, v), (panel, label))) in
        series.iter().zip(panels.iter().zip(&names)).enumerate()
    {
        let (yticks, ytop) = nice_ticks(peak(v), 3, 1.0);
        let mut chart = build(
            panel,
            AxisSpec {
                range: 0.0..tl.span_s(),
                ticks: xticks.clone(),
                fmt: if k == last { &*xfmt } else { &no_label },
                desc: if k == last {
                    xdesc.clone()
                } else {
                    String::new()
                },
            },
            AxisSpec {
                range: 0.0..ytop * 1.08,
                ticks: yticks,
                fmt: &count_tick,
                desc: String::new(),
            },
            if k == last { AXIS_PX } else { 6 },
            96,
            Grid::Horizontal,
        )?;
        tl.draw_steps(&mut chart, v, *color)?;
        // The signal's name beside its panel, level with the middle of its plot.
        let mid = (row / 2) as i32 - 4;
        label.draw(&Rectangle::new(
            [(4, mid - 20), (22, mid - 2)],
            color.filled(),
        ))?;
        bold_text(
            label,
            name,
            (30, mid - 11),
            &anchored(text(LABEL_PX, INK), HPos::Left, VPos::Center),
        )?;
        label.draw(&Text::new(
            format!("{} in total", human_count(*total)),
            (30, mid + 10),
            anchored(text(VALUE_PX, MUTED), HPos::Left, VPos::Center),
        ))?;
    }
    // One description for the five value axes, centred on the panels.
    plot.draw(&Text::new(
        format!("segments per {}", tl.per()),
        (22, (h.saturating_sub(AXIS_PX) / 2) as i32),
        anchored(text(DESC_PX, INK), HPos::Center, VPos::Center)
            .transform(FontTransform::Rotate270),
    ))?;
    Ok(())
}

//! `throughput.png`: bits and packets per second over time, in two panels.

use flow::window::report::WindowReport;
use plotters::prelude::RGBColor;

use super::kit::axes::{build, nice_ticks, AxisSpec, Grid};
use super::kit::layout::{header, no_data};
use super::kit::numbers::{count_tick, human_count, peak, short, short_tick, si};
use super::kit::style::{BLUE, ORANGE};
use super::kit::timeline::Timeline;
use super::kit::{Area, DrawResult};

/// One panel of the throughput chart: a rate per bin, already in the axis's unit.
struct RatePanel<'a, 'b> {
    area: &'a Area<'b>,
    values: Vec<f64>,
    color: RGBColor,
    y_desc: String,
    y_fmt: fn(&f64) -> String,
    x_label_px: u32,
    x_desc: String,
}

/// Draws the throughput chart of `windows` (`s` is their merge).
pub(super) fn draw(
    area: &Area,
    tl: Option<&Timeline>,
    windows: &[WindowReport],
    s: &WindowReport,
) -> DrawResult {
    let Some(tl) = tl.filter(|_| s.packets > 0) else {
        return no_data(
            area,
            "Throughput",
            "bits and packets per second",
            "no traffic in this capture",
        );
    };
    let bin_s = tl.bin_s();
    let bits = tl.sum(windows, |w| w.bytes as f64 * 8.0 / bin_s);
    let pkts = tl.sum(windows, |w| w.packets as f64 / bin_s);
    let peak_bits = peak(&bits);
    let span_s = tl.t1_us.saturating_sub(tl.t0_us) as f64 / 1e6;
    let mean_bits = s.bytes as f64 * 8.0 / span_s;
    let (bdiv, bprefix) = si(peak_bits);
    let subtitle = format!(
        "{} · per {} · mean {} {bprefix}bit/s, peak {} {bprefix}bit/s · {} packets",
        tl.range_words(),
        tl.per(),
        short(mean_bits / bdiv),
        short(peak_bits / bdiv),
        human_count(s.packets),
    );
    let body = header(area, "Throughput", &subtitle)?;
    let (top, bottom) = body.split_vertically(body.dim_in_pixel().1.saturating_sub(36) / 2);
    let (xticks, xfmt, xdesc) = tl.axis();
    let panels = [
        RatePanel {
            area: &top,
            values: bits.iter().map(|v| v / bdiv).collect(),
            color: BLUE,
            y_desc: format!("throughput ({bprefix}bit/s)"),
            y_fmt: short_tick,
            x_label_px: 36,
            x_desc: String::new(),
        },
        RatePanel {
            area: &bottom,
            values: pkts,
            color: ORANGE,
            y_desc: "packets/s".to_string(),
            y_fmt: count_tick,
            x_label_px: 72,
            x_desc: xdesc,
        },
    ];
    for p in panels {
        let (yticks, ytop) = nice_ticks(peak(&p.values), 4, 0.0);
        let mut chart = build(
            p.area,
            AxisSpec {
                range: 0.0..tl.span_s(),
                ticks: xticks.clone(),
                fmt: &*xfmt,
                desc: p.x_desc,
            },
            AxisSpec {
                range: 0.0..ytop * 1.04,
                ticks: yticks,
                fmt: &p.y_fmt,
                desc: p.y_desc,
            },
            p.x_label_px,
            104,
            Grid::Horizontal,
        )?;
        tl.draw_steps(&mut chart, &p.values, p.color)?;
    }
    Ok(())
}

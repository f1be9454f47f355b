//! `directions.png`: bytes over time relative to the home network (inbound, outbound,
//! internal, external), stacked.

use flow::window::report::WindowReport;

use super::kit::layout::{header, no_data};
use super::kit::stacked::{stacked_bytes, Stack};
use super::kit::style::{BLUE, GREEN, ORANGE, PURPLE};
use super::kit::timeline::Timeline;
use super::kit::{Area, DrawResult};

/// Draws the directions chart of `windows` (`s` is their merge).
pub(super) fn draw(
    area: &Area,
    tl: Option<&Timeline>,
    windows: &[WindowReport],
    s: &WindowReport,
) -> DrawResult {
    let title = "Traffic directions";
    let d = &s.directions;
    let totals = [
        d.inbound.bytes,
        d.outbound.bytes,
        d.internal.bytes,
        d.external.bytes,
    ];
    let Some(tl) = tl.filter(|_| totals.iter().any(|&b| b > 0)) else {
        return no_data(
            area,
            title,
            "bytes per window relative to the home network",
            "no IP traffic in this capture",
        );
    };
    let subtitle = format!(
        "{} · frame bytes per {} relative to the home network, stacked",
        tl.range_words(),
        tl.per()
    );
    let body = header(area, title, &subtitle)?;
    let stack = Stack {
        names: &["inbound", "outbound", "internal", "external"],
        colors: &[BLUE, ORANGE, GREEN, PURPLE],
        values: vec![
            tl.sum(windows, |w| w.directions.inbound.bytes as f64),
            tl.sum(windows, |w| w.directions.outbound.bytes as f64),
            tl.sum(windows, |w| w.directions.internal.bytes as f64),
            tl.sum(windows, |w| w.directions.external.bytes as f64),
        ],
    };
    stacked_bytes(&body, tl, &stack, "direction (total)", &totals)
}

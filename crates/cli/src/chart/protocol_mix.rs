//! `protocol_mix.png`: bytes over time by protocol (TCP, UDP, ICMP, other), stacked.

use flow::window::report::WindowReport;

use super::kit::layout::{header, no_data};
use super::kit::stacked::{stacked_bytes, Stack};
use super::kit::style::{BLUE, GREY, ORANGE, RED};
use super::kit::timeline::Timeline;
use super::kit::{Area, DrawResult};

/// Draws the protocol mix chart of `windows` (`s` is their merge).
pub(super) fn draw(
    area: &Area,
    tl: Option<&Timeline>,
    windows: &[WindowReport],
    s: &WindowReport,
) -> DrawResult {
    let title = "Protocol mix";
    let Some(tl) = tl.filter(|_| s.packets > 0) else {
        return no_data(
            area,
            title,
            "bytes per window by protocol",
            "no traffic in this capture",
        );
    };
    let subtitle = format!(
        "{} · frame bytes per {} by protocol, stacked",
        tl.range_words(),
        tl.per()
    );
    let body = header(area, title, &subtitle)?;
    let p = &s.protocols;
    let stack = Stack {
        names: &["TCP", "UDP", "ICMP", "other"],
        colors: &[BLUE, ORANGE, RED, GREY],
        values: vec![
            tl.sum(windows, |w| w.protocols.tcp.bytes as f64),
            tl.sum(windows, |w| w.protocols.udp.bytes as f64),
            tl.sum(windows, |w| w.protocols.icmp.bytes as f64),
            tl.sum(windows, |w| {
                (w.protocols.other_ip.bytes + w.protocols.non_ip.bytes) as f64
            }),
        ],
    };
    let totals = [
        p.tcp.bytes,
        p.udp.bytes,
        p.icmp.bytes,
        p.other_ip.bytes + p.non_ip.bytes,
    ];
    stacked_bytes(&body, tl, &stack, "protocol (total)", &totals)
}

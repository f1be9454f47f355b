//! `top_talkers.png`: the console's top sources by frame bytes sent, a bar each.

use flow::window::report::WindowReport;

use super::kit::bars::{bars, BarChart};
use super::kit::layout::no_data;
use super::kit::numbers::{human_count, short_tick};
use super::kit::style::BLUE;
use super::kit::{Area, DrawResult};
use crate::console::format::{human_bytes, iec_scale, percent};
use crate::console::summary::{at_least, estimate_note, top_talkers};

/// The top talkers chart: the console's top sources, by frame bytes sent; `None` without IP
/// traffic.
pub(crate) fn talkers_chart(s: &WindowReport) -> Option<BarChart> {
    let top = top_talkers(&s.src_ips.entries);
    if top.is_empty() || s.bytes == 0 {
        return None;
    }
    let max = top.iter().map(|t| t.bytes).max().unwrap_or(0) as f64;
    let (div, unit) = iec_scale(max);
    let rows = top
        .iter()
        .map(|t| {
            (
                t.ip.to_string(),
                t.bytes as f64 / div,
                format!(
                    "{} · {}",
                    at_least(human_bytes(t.bytes), t.err_bytes),
                    percent(t.bytes, s.bytes)
                ),
            )
        })
        .collect();
    let shown: u64 = top.iter().map(|t| t.bytes).sum();
    let unique = &s.unique.src_ips;
    Some(BarChart {
        title: "Top talkers",
        subtitle: format!(
            "top {} of {}{} source addresses by frame bytes sent · together {} of all bytes",
            top.len(),
            if unique.exact { "" } else { "≈" },
            human_count(unique.count),
            percent(shown, s.bytes)
        ),
        note: estimate_note(&[(s.src_ips.exact, "sources")]),
        rows,
        x_desc: format!("bytes sent ({unit})"),
    })
}

/// Draws the top talkers chart of `s`.
pub(super) fn draw(area: &Area, s: &WindowReport) -> DrawResult {
    match talkers_chart(s) {
        Some(c) => bars(area, c, &short_tick, BLUE),
        None => no_data(
            area,
            "Top talkers",
            "source addresses by bytes sent",
            "no IP traffic in this capture",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::tests::{meter, reports};

    /// The bars of the talkers chart are the console's top sources, in its units.
    #[test]
    fn the_talkers_chart_shows_the_consoles_top_sources_in_its_units() {
        let windows = meter(
            &crate::testdata::path("nfstream/pcaps/webex.pcap"),
            1_000_000,
        );
        let (_, summary) = reports(&windows);
        let talkers = talkers_chart(&summary).expect("talkers");
        assert_eq!(talkers.note, None);
        assert_eq!(talkers.x_desc, "bytes sent (KiB)");
        assert_eq!(
            talkers.rows[0],
            (
                "62.109.224.120".to_string(),
                371_303.0 / 1024.0,
                "362.6 KiB · 42.9%".to_string()
            )
        );
    }
}

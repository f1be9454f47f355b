//! `ports.png`: the console's top destination (service) ports by packets, a bar each.

use flow::window::report::WindowReport;

use super::kit::bars::{bars, BarChart};
use super::kit::layout::no_data;
use super::kit::numbers::{count_tick, human_count};
use super::kit::style::PURPLE;
use super::kit::{Area, DrawResult};
use crate::console::format::percent;
use crate::console::summary::{at_least, estimate_note, port_label, top_ports};

/// The ports chart: the console's top destination ports, by packets; `None` without TCP, UDP
/// or SCTP traffic.
pub(crate) fn ports_chart(s: &WindowReport) -> Option<BarChart> {
    let top = top_ports(s);
    if top.is_empty() || s.port_packets == 0 {
        return None;
    }
    let rows = top
        .iter()
        .map(|p| {
            (
                port_label(p),
                p.packets as f64,
                format!(
                    "{} · {}",
                    at_least(human_count(p.packets), p.err_packets),
                    percent(p.packets, s.port_packets)
                ),
            )
        })
        .collect();
    let unique = &s.unique.dst_ports;
    Some(BarChart {
        title: "Destination ports",
        subtitle: format!(
            "top {} of {}{} destination ports by packets (TCP, UDP, SCTP)",
            top.len(),
            if unique.exact { "" } else { "≈" },
            human_count(unique.count),
        ),
        note: estimate_note(&[(s.dst_ports.exact, "ports")]),
        rows,
        x_desc: "packets".into(),
    })
}

/// Draws the ports chart of `s`.
pub(super) fn draw(area: &Area, s: &WindowReport) -> DrawResult {
    match ports_chart(s) {
        Some(c) => bars(area, c, &count_tick, PURPLE),
        None => no_data(
            area,
            "Destination ports",
            "destination ports by packets",
            "no TCP, UDP or SCTP traffic in this capture",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::tests::{meter, reports};

    /// The bars of the ports chart are the console's top ports, in its units.
    #[test]
    fn the_ports_chart_shows_the_consoles_top_ports_in_its_units() {
        let windows = meter(
            &crate::testdata::path("nfstream/pcaps/webex.pcap"),
            1_000_000,
        );
        let (_, summary) = reports(&windows);
        let ports = ports_chart(&summary).expect("ports");
        let labels: Vec<&str> = ports.rows.iter().map(|r| r.0.as_str()).collect();
        let console: Vec<String> = top_ports(&summary).iter().map(port_label).collect();
        assert_eq!(labels, console);
        // Replies count for the server's port: all of https, both directions.
        assert_eq!(ports.rows[0].2, "1,520 · 96.2%");
    }

    /// The ports chart counts the ports services listen on: a reply to a client is counted
    /// under the server's port, not under the client's ephemeral one.
    #[test]
    fn the_ports_chart_plots_service_ports() {
        let windows = meter(
            &crate::testdata::path("nfstream/pcaps/webex.pcap"),
            1_000_000,
        );
        let (_, summary) = reports(&windows);
        let ports = ports_chart(&summary).expect("ports");
        assert_eq!(ports.rows[0].0, "tcp/443 https");
        // No client port among them: webex's clients talk from 32768 and up (Linux's and
        // IANA's ephemeral ranges), its servers listen below.
        let numbers: Vec<u16> = top_ports(&summary).iter().map(|p| p.port).collect();
        assert!(numbers.iter().all(|&p| p < 32768), "{numbers:?}");
    }
}

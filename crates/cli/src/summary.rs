//! The console summary of a run. Its traffic figures are the run's traffic windows merged into
//! one (the same numbers `--windows-out` writes), plus how flows ended and what could not be
//! decoded.

use std::io::IsTerminal;
use std::path::PathBuf;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Table};
use flow::window::{ProtoClass, DIRECTIONS};
use flow::{EndReason, FlowRecord, MeterCounters, Window};
use packet::{DecodeError, Timestamp};

/// Examples of decode errors kept for the report.
const ERROR_EXAMPLES: usize = 5;
/// Rows of the top lists.
const TOP: usize = 10;

/// Running totals for the summary.
#[derive(Default)]
pub struct Summary {
    /// All windows merged.
    pub capture: Option<Window>,
    /// Frames that carry no IP.
    pub non_ip: u64,
    /// Frames that could not be decoded.
    pub decode_errors: u64,
    /// Frames the profile ignores (`nfstream`: as NFStream does).
    pub ignored: u64,
    error_examples: Vec<(usize, u64, DecodeError)>,
    flows_by_class: [u64; 5],
    flows: u64,
    /// The flow table's counters at the end.
    pub meter: MeterCounters,
}

impl Summary {
    /// Adds a finished window.
    pub fn window(&mut self, w: &Window) {
        match &mut self.capture {
            Some(c) => c.merge(w),
            None => self.capture = Some(w.clone()),
        }
    }

    /// Records a frame that could not be decoded.
    pub fn decode_error(&mut self, input: usize, offset: u64, e: DecodeError) {
        self.decode_errors += 1;
        if self.error_examples.len() < ERROR_EXAMPLES {
            self.error_examples.push((input, offset, e));
        }
    }

    /// Frames, bytes, packet span and flows, as a stored capture records them.
    pub fn totals(&self) -> store::CaptureTotals {
        let (packets, bytes, span) = match &self.capture {
            Some(w) => (w.total.packets, w.total.bytes, w.packet_span),
            None => (0, 0, None),
        };
        store::CaptureTotals {
            start: span.map(|s| packet::Timestamp(s.0)),
            end: span.map(|s| packet::Timestamp(s.1)),
            packets,
            bytes,
            flows: self.flows,
        }
    }

    /// Counts one finished flow.
    pub fn flow(&mut self, r: &FlowRecord) {
        self.flows += 1;
        self.flows_by_class[ProtoClass::of(r.proto) as usize] += 1;
    }

    /// The summary as text.
    pub fn render(&self, inputs: &[PathBuf], elapsed_s: f64, styled: bool) -> String {
        let table = || new_table(styled);
        let empty = Window::new(0, 0, 1, 0);
        let c = self.capture.as_ref().unwrap_or(&empty);
        let mut out = String::new();
        let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        out.push_str(&format!("netvigil summary: {}\n", names.join(", ")));
        let span = match c.packet_span {
            Some((a, b)) => format!(
                "{} → {} UTC ({:.3} s)",
                Timestamp(a),
                Timestamp(b),
                (b - a) as f64 / 1e6
            ),
            None => "empty".into(),
        };
        let rate = if elapsed_s > 0.0 {
            c.total.packets as f64 / elapsed_s
        } else {
            0.0
        };
        let mut t = table();
        t.set_header(vec![
            "packets",
            "bytes",
            "flows",
            "capture span",
            "non-IP",
            "decode errors",
            "processing",
        ]);
        t.add_row(vec![
            Cell::new(c.total.packets),
            Cell::new(human_bytes(c.total.bytes)),
            Cell::new(self.flows),
            Cell::new(span),
            Cell::new(self.non_ip),
            Cell::new(self.decode_errors),
            Cell::new(format!("{elapsed_s:.2} s, {:.2} Mpps", rate / 1e6)),
        ]);
        out.push_str(&format!("{t}\n"));

        let mut t = table();
        t.set_header(vec![
            "protocol",
            "packets",
            "bytes",
            "share of bytes",
            "flows",
        ]);
        for class in ProtoClass::ALL {
            let p = c.protocols[class as usize];
            if p.packets == 0 {
                continue;
            }
            t.add_row(vec![
                Cell::new(class_name(class)),
                right(p.packets.to_string()),
                right(human_bytes(p.bytes)),
                right(percent(p.bytes, c.total.bytes)),
                right(self.flows_by_class[class as usize].to_string()),
            ]);
        }
        out.push_str(&format!("{t}\n"));

        let h = &c.tcp;
        if h.segments > 0 {
            let ratio = if h.syn_ack > 0 {
                format!("{:.2}", h.syn as f64 / h.syn_ack as f64)
            } else {
                "n/a (no SYN-ACK)".into()
            };
            out.push_str(&format!(
                "TCP health: {} segments; SYN {}, SYN-ACK {} (SYN/SYN-ACK {ratio}); FIN {}; RST {} ({} of segments); pure ACK {}; retransmissions {} ({})\n",
                h.segments,
                h.syn,
                h.syn_ack,
                h.fin,
                h.rst,
                percent(h.rst, h.segments),
                h.pure_ack,
                h.retransmissions,
                percent(h.retransmissions, h.segments),
            ));
        }

        let ip_bytes: u64 = c.directions.iter().map(|d| d.bytes).sum();
        let parts: Vec<String> = DIRECTIONS
            .iter()
            .zip(&c.directions)
            .map(|(d, x)| {
                format!(
                    "{} {} pkts / {} ({})",
                    d.as_str(),
                    x.packets,
                    human_bytes(x.bytes),
                    percent(x.bytes, ip_bytes)
                )
            })
            .collect();
        out.push_str(&format!("home network split: {}\n", parts.join("; ")));

        let src = c.src_ips.top(TOP);
        let dst = c.dst_ips.top(TOP);
        let ports = c.dst_ports.top(TOP);
        let mut t = table();
        t.set_header(vec![
            "top source",
            "bytes sent",
            "top destination",
            "bytes received",
            "top destination port",
            "packets",
        ]);
        let bound = |v: u64, err: u64| {
            if err > 0 {
                format!("≥ {}", human_bytes(v))
            } else {
                human_bytes(v)
            }
        };
        let talker = |list: &[(std::net::IpAddr, flow::window::Counts)], i: usize| match list.get(i)
        {
            Some((ip, k)) => (
                ip.to_string(),
                format!(
                    "{} ({})",
                    bound(k.bytes, k.err_bytes),
                    percent(k.bytes, c.total.bytes)
                ),
            ),
            None => Default::default(),
        };
        for i in 0..TOP {
            let (a, b) = talker(&src, i);
            let (d, e) = talker(&dst, i);
            let (f, g) = match ports.get(i) {
                Some((key, k)) => {
                    let (proto, port) = ((key >> 16) as u8, *key as u16);
                    let svc = flow::service::name(port, proto);
                    let name = format!("{}/{port}", proto_name(proto).to_lowercase());
                    let label = if svc.is_empty() {
                        name
                    } else {
                        format!("{name} {svc}")
                    };
                    let n = if k.err_packets > 0 {
                        format!("≥ {}", k.packets)
                    } else {
                        k.packets.to_string()
                    };
                    (
                        label,
                        format!("{n} ({})", percent(k.packets, c.port_packets)),
                    )
                }
                None => Default::default(),
            };
            if a.is_empty() && d.is_empty() && f.is_empty() {
                break;
            }
            t.add_row(vec![a, b, d, e, f, g]);
        }
        out.push_str(&format!("{t}\n"));

        let mut t = table();
        let mut header = vec!["end reason".to_string()];
        let mut row = vec!["flows".to_string()];
        for r in EndReason::ALL {
            header.push(r.as_str().into());
            row.push(self.meter.ended(r).to_string());
        }
        header.push("peak tracked".into());
        row.push(self.meter.peak_flows.to_string());
        header.push("ignored pkts".into());
        row.push(self.ignored.to_string());
        t.set_header(header);
        t.add_row(row);
        out.push_str(&format!("{t}\n"));

        for (input, offset, e) in &self.error_examples {
            let name = inputs
                .get(*input)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            out.push_str(&format!(
                "decode error: {name}: record at byte offset {offset}: {e}\n"
            ));
        }
        out
    }

    /// Prints the summary to stderr.
    pub fn print(&self, inputs: &[PathBuf], elapsed_s: f64) {
        eprint!("{}", self.render(inputs, elapsed_s, stderr_styled()));
    }
}

/// Whether stderr gets box drawing and colour (a terminal, and no `NO_COLOR`).
fn stderr_styled() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// An empty table in the summary's style.
fn new_table(styled: bool) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    if !styled {
        t.force_no_tty();
    }
    t
}

fn right(s: String) -> Cell {
    Cell::new(s).set_alignment(CellAlignment::Right)
}

fn class_name(c: ProtoClass) -> &'static str {
    match c {
        ProtoClass::Tcp => "TCP",
        ProtoClass::Udp => "UDP",
        ProtoClass::Icmp => "ICMP/ICMPv6",
        ProtoClass::OtherIp => "other IP",
        ProtoClass::NonIp => "non-IP / undecoded",
    }
}

fn percent(a: u64, b: u64) -> String {
    if b == 0 {
        "0%".into()
    } else {
        format!("{:.1}%", a as f64 * 100.0 / b as f64)
    }
}

/// A protocol's usual name.
pub fn proto_name(p: u8) -> String {
    match p {
        0 => "other (0)".into(),
        1 => "ICMP".into(),
        2 => "IGMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        41 => "IPv6-in-IP".into(),
        47 => "GRE".into(),
        50 => "ESP".into(),
        58 => "ICMPv6".into(),
        89 => "OSPF".into(),
        132 => "SCTP".into(),
        other => format!("proto {other}"),
    }
}

/// Bytes with a binary unit.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The detection part of the summary: alerts by detector and kind, and the top sources.
pub fn render_detection(t: &crate::detection::DetectTally, styled: bool) -> String {
    let table = || new_table(styled);
    let total: u64 = t.by_kind.values().map(|v| v.0).sum();
    let mut out = format!(
        "\nDetection: {} flows scored by {} (alert at P(attack) ≥ {:.6}); {} alerts\n",
        t.scored, t.model, t.threshold, total
    );
    if total == 0 {
        return out;
    }
    let mut kinds: Vec<_> = t.by_kind.iter().collect();
    kinds.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0 .1.cmp(&b.0 .1)));
    let mut k = table();
    k.set_header(vec!["detector", "kind", "alerts", "max severity"]);
    for ((det, kind), (n, sev)) in kinds {
        let det = match det {
            detect::Detector::Model => "model",
            detect::Detector::Rule => "rule",
            detect::Detector::Baseline => "baseline",
        };
        k.add_row(vec![
            Cell::new(det),
            Cell::new(kind),
            right(n.to_string()),
            right(sev.to_string()),
        ]);
    }
    out.push_str(&format!("{k}\n"));
    let mut srcs: Vec<_> = t.by_source.iter().collect();
    srcs.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    let mut s = table();
    s.set_header(vec!["top alert sources", "alerts", "max severity"]);
    for (ip, (n, sev)) in srcs.into_iter().take(10) {
        s.add_row(vec![
            Cell::new(ip),
            right(n.to_string()),
            right(sev.to_string()),
        ]);
    }
    out.push_str(&format!("{s}\n"));
    if t.untracked_sources > 0 {
        out.push_str(&format!(
            "({} alerts from sources beyond the {} tallied)\n",
            t.untracked_sources,
            t.by_source.len()
        ));
    }
    if t.rules_dropped > 0 || t.rules_late > 0 {
        out.push_str(&format!(
            "rules: {} state entries dropped for the memory bound, {} flows arrived after their bucket was evaluated\n",
            t.rules_dropped, t.rules_late
        ));
    }
    out
}

/// Prints [`render_detection`] to stderr.
pub fn print_detection(t: &crate::detection::DetectTally) {
    eprint!("{}", render_detection(t, stderr_styled()));
}

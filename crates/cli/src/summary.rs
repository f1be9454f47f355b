//! The console summary of a run: traffic totals, protocols, top talkers and ports, how flows
//! ended and what could not be decoded.

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Table};
use flow::{EndReason, FlowRecord, MeterCounters};
use packet::decode::PacketMeta;
use packet::{DecodeError, Timestamp};

/// Distinct talkers/ports kept; beyond it the lighter half is dropped (heavy hitters stay).
const TOP_CAPACITY: usize = 200_000;
/// Examples of decode errors kept for the report.
const ERROR_EXAMPLES: usize = 5;

/// Running totals for the summary.
#[derive(Default)]
pub struct Summary {
    /// Frames read.
    pub frames: u64,
    /// Wire bytes read.
    pub wire_bytes: u64,
    /// First and last capture time.
    pub span: Option<(Timestamp, Timestamp)>,
    /// Frames that carry no IP.
    pub non_ip: u64,
    /// Frames that could not be decoded.
    pub decode_errors: u64,
    /// Frames the profile ignores (`nfstream`: as NFStream does).
    pub ignored: u64,
    error_examples: Vec<(usize, u64, DecodeError)>,
    proto_packets: Vec<(u64, u64)>,
    proto_flows: Vec<u64>,
    flows: u64,
    talkers: HashMap<IpAddr, (u64, u64)>,
    ports: HashMap<(u16, u8), u64>,
    /// The flow table's counters at the end.
    pub meter: MeterCounters,
    /// Keep per-address and per-port tallies (only needed when the summary is printed).
    pub tallies: bool,
}

/// Maps of the summary (ahash: these are updated twice per flow).
type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

fn prune<K: Clone + Eq + std::hash::Hash, V: Copy + Ord>(m: &mut HashMap<K, V>) {
    if m.len() < TOP_CAPACITY {
        return;
    }
    let mut vals: Vec<V> = m.values().copied().collect();
    let mid = vals.len() / 2;
    let (_, median, _) = vals.select_nth_unstable(mid);
    let median = *median;
    m.retain(|_, v| *v > median);
}

impl Summary {
    /// Counts one frame.
    pub fn frame(&mut self, ts: Timestamp, wire_len: u32) {
        self.frames += 1;
        self.wire_bytes += wire_len as u64;
        self.span = Some(match self.span {
            None => (ts, ts),
            Some((a, b)) => (a.min(ts), b.max(ts)),
        });
    }

    /// Counts one IP packet by protocol.
    pub fn ip_packet(&mut self, m: &PacketMeta<'_>) {
        if self.proto_packets.is_empty() {
            self.proto_packets = vec![(0, 0); 256];
            self.proto_flows = vec![0; 256];
        }
        let e = &mut self.proto_packets[m.proto as usize];
        e.0 += 1;
        e.1 += m.wire_len as u64;
    }

    /// Records a frame that could not be decoded.
    pub fn decode_error(&mut self, input: usize, offset: u64, e: DecodeError) {
        self.decode_errors += 1;
        if self.error_examples.len() < ERROR_EXAMPLES {
            self.error_examples.push((input, offset, e));
        }
    }

    /// Counts one finished flow.
    pub fn flow(&mut self, r: &FlowRecord) {
        self.flows += 1;
        if self.proto_flows.is_empty() {
            self.proto_flows = vec![0; 256];
        }
        self.proto_flows[r.proto as usize] += 1;
        if !self.tallies {
            return;
        }
        let bytes = r.wire_bytes[0] + r.wire_bytes[1];
        for ip in [r.src, r.dst] {
            let e = self.talkers.entry(ip).or_insert((0, 0));
            e.0 += bytes;
            e.1 += 1;
        }
        if r.proto == 6 || r.proto == 17 {
            *self.ports.entry((r.dport, r.proto)).or_insert(0) += 1;
        }
        prune(&mut self.talkers);
        prune(&mut self.ports);
    }

    /// Prints the summary to stderr.
    pub fn print(&self, inputs: &[PathBuf], elapsed_s: f64) {
        let styled = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let table = || {
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED);
            if !styled {
                t.force_no_tty();
            }
            t
        };
        let mut out = String::new();
        let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        out.push_str(&format!("netvigil summary: {}\n", names.join(", ")));
        let span = match self.span {
            Some((a, b)) => format!("{a} → {b} UTC ({:.3} s)", (b.0 - a.0) as f64 / 1e6),
            None => "empty".into(),
        };
        let rate = if elapsed_s > 0.0 {
            self.frames as f64 / elapsed_s
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
            Cell::new(self.frames),
            Cell::new(human_bytes(self.wire_bytes)),
            Cell::new(self.flows),
            Cell::new(span),
            Cell::new(self.non_ip),
            Cell::new(self.decode_errors),
            Cell::new(format!("{elapsed_s:.2} s, {:.2} Mpps", rate / 1e6)),
        ]);
        out.push_str(&format!("{t}\n"));

        let mut t = table();
        t.set_header(vec!["protocol", "packets", "bytes", "flows"]);
        let mut protos: Vec<(usize, (u64, u64))> = self
            .proto_packets
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, (p, _))| *p > 0)
            .collect();
        protos.sort_by_key(|p| std::cmp::Reverse(p.1 .0));
        for (p, (pk, by)) in protos {
            t.add_row(vec![
                Cell::new(proto_name(p as u8)),
                Cell::new(pk).set_alignment(CellAlignment::Right),
                Cell::new(human_bytes(by)).set_alignment(CellAlignment::Right),
                Cell::new(self.proto_flows.get(p).copied().unwrap_or(0))
                    .set_alignment(CellAlignment::Right),
            ]);
        }
        out.push_str(&format!("{t}\n"));

        let mut talkers: Vec<(&IpAddr, &(u64, u64))> = self.talkers.iter().collect();
        talkers.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
        let mut ports: Vec<(&(u16, u8), &u64)> = self.ports.iter().collect();
        ports.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut t = table();
        t.set_header(vec!["top talker", "bytes", "flows", "top port", "flows"]);
        for i in 0..10 {
            let (a, b, c) = match talkers.get(i) {
                Some((ip, (by, fl))) => (ip.to_string(), human_bytes(*by), fl.to_string()),
                None => (String::new(), String::new(), String::new()),
            };
            let (d, e) = match ports.get(i) {
                Some(((port, proto), n)) => {
                    let svc = flow::service::name(*port, *proto);
                    let p = if svc.is_empty() {
                        format!("{port}/{}", proto_name(*proto))
                    } else {
                        format!("{port}/{} {svc}", proto_name(*proto))
                    };
                    (p, n.to_string())
                }
                None => (String::new(), String::new()),
            };
            if a.is_empty() && d.is_empty() {
                break;
            }
            t.add_row(vec![a, b, c, d, e]);
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
        eprint!("{out}");
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

//! Port scans: vertical (one source probes many ports of one destination) and horizontal (one
//! source probes one port on many destinations), counted per bucket over *probes*.
//!
//! A probe is a flow that exchanged nothing: TCP with no payload either way that the source
//! started and that is not a bare RST (SYN, connect, ACK, FIN, NULL, Xmas, Maimon and window
//! scans all are; backscatter RSTs and SYN-ACKs are not), or UDP the destination never
//! answered (outside traceroute's ports, and not from a reflection service's port: those are
//! responses). Connections that carried data are use, not reconnaissance, so a client talking to
//! many services of one server never counts. Like Zeek's `scan.zeek`, which counts failed
//! connections, but per bucket rather than a 5-minute interval.

use super::{HashMap, HashSet};
use std::net::IpAddr;

use flow::{FlowRecord, F};
use serde_json::{json, Map, Value};

use super::{
    amplification, cond, entry, insert, is_host, keep_smallest, num, ratio, severity, span_s,
    Budget, Finding, RuleConfig,
};

/// Alert kind of a vertical scan.
pub const KIND_VERTICAL: &str = "port_scan_vertical";
/// Alert kind of a horizontal scan.
pub const KIND_HORIZONTAL: &str = "port_scan_horizontal";

/// Severity base and cap of both scan kinds (reconnaissance: low, one step up at 10×).
pub const SEVERITY: (u8, u8) = (2, 3);

/// Ports sampled in the evidence (the lowest).
const SAMPLE: usize = 10;

/// The IP protocol of `r` if it is a scan probe.
pub fn probe(r: &FlowRecord, cfg: &RuleConfig) -> Option<u8> {
    if r.packets[0] == 0 || !is_host(r.dst) {
        return None;
    }
    match r.proto {
        6 => {
            let silent = r.bytes[0] == 0 && r.bytes[1] == 0;
            // Every forward packet a RST: backscatter of someone else's traffic, not a probe.
            let bare_rst = r.feature(F::FwdRstFlags) as u64 >= r.packets[0];
            (silent && !bare_rst).then_some(6)
        }
        17 => {
            let [lo, hi] = cfg.scan_udp_ignore_ports;
            let traceroute = (lo..=hi).contains(&r.dport);
            let response = amplification::udp_service(r.sport).is_some();
            (r.packets[1] == 0 && !traceroute && !response).then_some(17)
        }
        _ => None,
    }
}

#[derive(Default)]
struct PairAgg {
    probes: u64,
    tcp_ports: u64,
    udp_ports: u64,
    first: i64,
    last: i64,
    sample: Vec<u16>,
}

/// A horizontal sweep: source, protocol, destination port.
type SweepKey = (IpAddr, u8, u16);

#[derive(Default)]
struct SweepAgg {
    probes: u64,
    hosts: u64,
    first: i64,
    last: i64,
    sample: Vec<IpAddr>,
}

/// One bucket of scan state.
#[derive(Default)]
pub(crate) struct ScanState {
    /// (src, dst) → probes and distinct ports.
    pairs: HashMap<(IpAddr, IpAddr), PairAgg>,
    /// Distinct (src, dst, proto, dport).
    pair_ports: HashSet<(IpAddr, IpAddr, u8, u16)>,
    /// (src, proto, dport) → probes and distinct destinations.
    sweeps: HashMap<SweepKey, SweepAgg>,
    /// Distinct (src, proto, dport, dst).
    sweep_hosts: HashSet<(IpAddr, u8, u16, IpAddr)>,
}

fn span(first: &mut i64, last: &mut i64, probes: u64, r: &FlowRecord) {
    let (f, l) = (r.first.micros(), r.last.micros());
    if probes == 0 {
        (*first, *last) = (f, l);
    } else {
        *first = (*first).min(f);
        *last = (*last).max(l);
    }
}

impl ScanState {
    /// Counts `r` if it is a probe.
    pub fn observe(&mut self, r: &FlowRecord, cfg: &RuleConfig, budget: &mut Budget) {
        let Some(proto) = probe(r, cfg) else { return };
        if let Some(p) = entry(&mut self.pairs, (r.src, r.dst), budget) {
            span(&mut p.first, &mut p.last, p.probes, r);
            p.probes += 1;
            if insert(&mut self.pair_ports, (r.src, r.dst, proto, r.dport), budget) == Some(true) {
                if proto == 6 {
                    p.tcp_ports += 1;
                } else {
                    p.udp_ports += 1;
                }
                keep_smallest(&mut p.sample, r.dport, SAMPLE);
            }
        }
        if let Some(s) = entry(&mut self.sweeps, (r.src, proto, r.dport), budget) {
            span(&mut s.first, &mut s.last, s.probes, r);
            s.probes += 1;
            if insert(
                &mut self.sweep_hosts,
                (r.src, proto, r.dport, r.dst),
                budget,
            ) == Some(true)
            {
                s.hosts += 1;
                keep_smallest(&mut s.sample, r.dst, cfg.top_n);
            }
        }
    }

    /// Findings of the bucket starting at `start`.
    pub fn findings(&self, cfg: &RuleConfig, start: i64, out: &mut Vec<Finding>) {
        let min_ports = cfg.scan_vertical_min_ports;
        for (&(src, dst), p) in &self.pairs {
            let ports = p.tcp_ports + p.udp_ports;
            if ports < min_ports {
                continue;
            }
            let over = ratio(ports as f64, min_ports as f64);
            let mut e = Map::new();
            e.insert("probes".into(), json!(p.probes));
            e.insert("distinct_ports".into(), json!(ports));
            e.insert("tcp_ports".into(), json!(p.tcp_ports));
            e.insert("udp_ports".into(), json!(p.udp_ports));
            e.insert("ports_sample".into(), json!(p.sample));
            e.insert("first".into(), json!(p.first));
            e.insert("last".into(), json!(p.last));
            e.insert("span_s".into(), num((p.last - p.first) as f64 / 1e6));
            e.insert(
                "probes_per_s".into(),
                num(p.probes as f64 / span_s(p.first, p.last)),
            );
            e.insert(
                "thresholds".into(),
                Value::Array(vec![cond(
                    "scan_vertical_min_ports",
                    ports as f64,
                    ">=",
                    min_ports as f64,
                )]),
            );
            out.push(Finding {
                kind: KIND_VERTICAL.into(),
                src: Some(src),
                dst: Some(dst),
                window: start,
                margin: over,
                severity: severity(SEVERITY.0, SEVERITY.1, over),
                evidence: e,
            });
        }

        // Horizontal: one finding per source, listing every port it swept (bounded).
        let min_hosts = cfg.scan_horizontal_min_hosts;
        let mut by_src: HashMap<IpAddr, Vec<(&SweepKey, &SweepAgg)>> = HashMap::default();
        for (k, s) in &self.sweeps {
            if s.hosts >= min_hosts {
                by_src.entry(k.0).or_default().push((k, s));
            }
        }
        for (src, mut sweeps) in by_src {
            // Widest sweep first, then by protocol and port.
            sweeps.sort_by(|a, b| b.1.hosts.cmp(&a.1.hosts).then(a.0.cmp(b.0)));
            let (_, widest) = sweeps[0];
            let over = ratio(widest.hosts as f64, min_hosts as f64);
            let first = sweeps
                .iter()
                .map(|s| s.1.first)
                .min()
                .unwrap_or(widest.first);
            let last = sweeps.iter().map(|s| s.1.last).max().unwrap_or(widest.last);
            let ports: Vec<Value> = sweeps
                .iter()
                .take(cfg.top_n)
                .map(|(k, s)| {
                    json!({
                        "proto": k.1,
                        "port": k.2,
                        "hosts": s.hosts,
                        "probes": s.probes,
                        "hosts_sample": s.sample,
                    })
                })
                .collect();
            let mut e = Map::new();
            e.insert("ports_swept".into(), json!(sweeps.len()));
            e.insert("distinct_hosts".into(), json!(widest.hosts));
            e.insert(
                "probes".into(),
                json!(sweeps.iter().map(|s| s.1.probes).sum::<u64>()),
            );
            e.insert("top_ports".into(), Value::Array(ports));
            e.insert("first".into(), json!(first));
            e.insert("last".into(), json!(last));
            e.insert("span_s".into(), num((last - first) as f64 / 1e6));
            e.insert(
                "thresholds".into(),
                Value::Array(vec![cond(
                    "scan_horizontal_min_hosts",
                    widest.hosts as f64,
                    ">=",
                    min_hosts as f64,
                )]),
            );
            out.push(Finding {
                kind: KIND_HORIZONTAL.into(),
                src: Some(src),
                dst: None,
                window: start,
                margin: over,
                severity: severity(SEVERITY.0, SEVERITY.1, over),
                evidence: e,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{flow, tcp_flags};
    use super::*;

    fn cfg() -> RuleConfig {
        RuleConfig::default()
    }

    fn run(flows: &[FlowRecord]) -> Vec<Finding> {
        let mut s = ScanState::default();
        let mut b = Budget {
            max: 1_000_000,
            ..Budget::default()
        };
        for f in flows {
            s.observe(f, &cfg(), &mut b);
        }
        let mut out = Vec::new();
        s.findings(&cfg(), 0, &mut out);
        out.sort_by(|a, b| (&a.kind, a.src, a.dst).cmp(&(&b.kind, b.src, b.dst)));
        out
    }

    fn syn_probe(dst: &str, dport: u16) -> FlowRecord {
        let mut f = flow("10.0.0.1", 40000, dst, dport, 6, [1, 1], [0, 0]);
        tcp_flags(&mut f, 1, 1, 1, 0);
        f
    }

    #[test]
    fn a_vertical_scan_needs_the_threshold_of_distinct_ports() {
        let n = cfg().scan_vertical_min_ports as u16;
        let below: Vec<_> = (1..n).map(|p| syn_probe("10.0.0.2", p)).collect();
        assert!(run(&below).is_empty());
        // Repeating a port adds probes, not ports.
        let mut repeat = below.clone();
        repeat.push(syn_probe("10.0.0.2", 1));
        assert!(run(&repeat).is_empty());
        let mut at = below;
        at.push(syn_probe("10.0.0.2", n));
        let f = run(&at);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, KIND_VERTICAL);
        assert_eq!(f[0].src, "10.0.0.1".parse().ok());
        assert_eq!(f[0].dst, "10.0.0.2".parse().ok());
        assert_eq!(f[0].severity, 2);
        assert_eq!(f[0].evidence["distinct_ports"], json!(n));
    }

    #[test]
    fn a_horizontal_scan_needs_the_threshold_of_distinct_hosts_on_one_port() {
        let n = cfg().scan_horizontal_min_hosts as u8;
        let below: Vec<_> = (1..n)
            .map(|h| syn_probe(&format!("10.0.1.{h}"), 445))
            .collect();
        assert!(run(&below).is_empty());
        let mut at = below;
        at.push(syn_probe(&format!("10.0.1.{n}"), 445));
        // Another port to the same hosts does not add hosts to the 445 sweep.
        at.push(syn_probe("10.0.1.1", 139));
        let f = run(&at);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, KIND_HORIZONTAL);
        assert_eq!(f[0].dst, None);
        assert_eq!(f[0].evidence["distinct_hosts"], json!(n));
        assert_eq!(f[0].evidence["top_ports"][0]["port"], json!(445));
    }

    #[test]
    fn connections_with_data_backscatter_and_traceroute_are_not_probes() {
        let c = cfg();
        let mut data = flow("10.0.0.1", 40000, "10.0.0.2", 80, 6, [5, 5], [100, 900]);
        tcp_flags(&mut data, 2, 8, 0, 2);
        assert_eq!(probe(&data, &c), None);
        let mut rst = flow("10.0.0.1", 80, "10.0.0.2", 5555, 6, [1, 0], [0, 0]);
        tcp_flags(&mut rst, 0, 0, 1, 0);
        rst.features[F::FwdRstFlags as usize] = 1.0;
        assert_eq!(probe(&rst, &c), None);
        let synack_only = flow("10.0.0.2", 5555, "10.0.0.1", 80, 6, [0, 1], [0, 0]);
        assert_eq!(probe(&synack_only, &c), None);
        let tr = flow("10.0.0.1", 40000, "10.0.0.2", 33440, 17, [1, 0], [32, 0]);
        assert_eq!(probe(&tr, &c), None);
        let dns_response = flow("10.0.0.1", 53, "10.0.0.2", 40000, 17, [1, 0], [500, 0]);
        assert_eq!(probe(&dns_response, &c), None);
        let udp = flow("10.0.0.1", 40000, "10.0.0.2", 161, 17, [1, 0], [0, 0]);
        assert_eq!(probe(&udp, &c), Some(17));
        let answered = flow("10.0.0.1", 40000, "10.0.0.2", 161, 17, [1, 1], [40, 90]);
        assert_eq!(probe(&answered, &c), None);
        let multicast = flow(
            "10.0.0.1",
            40000,
            "239.255.255.250",
            1900,
            17,
            [1, 0],
            [90, 0],
        );
        assert_eq!(probe(&multicast, &c), None);
    }

    #[test]
    fn ten_times_the_threshold_raises_severity_to_its_cap() {
        let n = cfg().scan_vertical_min_ports as u16 * 10;
        let flows: Vec<_> = (1..=n).map(|p| syn_probe("10.0.0.2", p)).collect();
        let f = run(&flows);
        assert_eq!(f[0].severity, 3);
        assert_eq!(
            f[0].evidence["ports_sample"].as_array().map(Vec::len),
            Some(SAMPLE)
        );
    }
}

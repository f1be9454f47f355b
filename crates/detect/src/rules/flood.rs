//! Floods against one victim, per bucket: SYN floods (half-open connection attempts), UDP floods
//! (unanswered UDP packets) and ICMP floods (ICMP packets), from one source or many (spoofed or
//! distributed: then the top sources go in the evidence and `src` stays empty unless one source
//! dominates).
//!
//! Rates are taken over the span the counted flows cover (first packet of the earliest to last
//! packet of the latest, at least 1 s), not over the bucket, so a 2-second burst is rated as a
//! 2-second burst.

use super::HashMap;
use std::net::IpAddr;

use flow::{FlowRecord, F};
use serde_json::{json, Map, Value};

use super::{
    amplification, cond, entry, is_host, num, ratio, severity, span_s, top, widen, Budget, Finding,
    RuleConfig,
};

/// Alert kind of a SYN flood.
pub const KIND_SYN: &str = "syn_flood";
/// Alert kind of a UDP flood.
pub const KIND_UDP: &str = "udp_flood";
/// Alert kind of an ICMP flood.
pub const KIND_ICMP: &str = "icmp_flood";

/// Severity base and cap of every flood kind: denial of service in progress, one step up at
/// 10× and at 100× the rate threshold.
pub const SEVERITY: (u8, u8) = (3, 5);

/// What a flood is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FloodKind {
    /// Half-open TCP connection attempts.
    Syn,
    /// UDP packets.
    Udp,
    /// ICMP or ICMPv6 packets.
    Icmp,
}

impl FloodKind {
    /// The alert kind.
    pub fn kind(self) -> &'static str {
        match self {
            FloodKind::Syn => KIND_SYN,
            FloodKind::Udp => KIND_UDP,
            FloodKind::Icmp => KIND_ICMP,
        }
    }
}

/// Whether `r` is a TCP connection attempt that never completed: the source sent a SYN, never
/// acknowledged anything (every ACK-flagged packet can be the responder's SYN-ACK or RST) and
/// the responder sent no data. Zeek's S0, REJ, RSTOS0 and SH states.
pub fn half_open(r: &FlowRecord) -> bool {
    r.proto == 6
        && r.packets[0] >= 1
        && r.feature(F::SynFlagCount) >= 1.0
        && r.feature(F::AckFlagCount) <= r.packets[1] as f64
        && r.bytes[1] == 0
}

/// What `r` adds to which flood of its destination: kind and count (attempts or packets).
fn classify(r: &FlowRecord) -> Option<(FloodKind, u64)> {
    if !is_host(r.dst) || r.packets[0] == 0 {
        return None;
    }
    match r.proto {
        6 if half_open(r) => Some((FloodKind::Syn, 1)),
        // Responses from a reflection service are amplification's to count.
        17 if amplification::udp_service(r.sport).is_none() => Some((FloodKind::Udp, r.packets[0])),
        1 | 58 => Some((FloodKind::Icmp, r.packets[0])),
        _ => None,
    }
}

#[derive(Default)]
struct VictimAgg {
    flows: u64,
    /// Attempts (SYN) or packets to the victim (UDP, ICMP).
    count: u64,
    packets_in: u64,
    packets_out: u64,
    bytes_in: u64,
    first: i64,
    last: i64,
    sources: u64,
    ports: u64,
}

/// One bucket of flood state.
#[derive(Default)]
pub(crate) struct FloodState {
    victims: HashMap<(IpAddr, FloodKind), VictimAgg>,
    /// (victim, kind, source) → its count.
    sources: HashMap<(IpAddr, FloodKind, IpAddr), u64>,
    /// (victim, kind, destination port) → its count (SYN and UDP).
    ports: HashMap<(IpAddr, FloodKind, u16), u64>,
}

impl FloodState {
    /// Counts `r` toward its destination's floods.
    pub fn observe(&mut self, r: &FlowRecord, budget: &mut Budget) {
        let Some((kind, n)) = classify(r) else { return };
        let Some(v) = entry(&mut self.victims, (r.dst, kind), budget) else {
            return;
        };
        widen(&mut v.first, &mut v.last, v.flows == 0, r);
        v.flows += 1;
        v.count += n;
        v.packets_in += r.packets[0];
        v.packets_out += r.packets[1];
        v.bytes_in += r.ip_bytes[0];
        if let Some(c) = entry(&mut self.sources, (r.dst, kind, r.src), budget) {
            if *c == 0 {
                v.sources += 1;
            }
            *c += n;
        }
        if kind != FloodKind::Icmp {
            if let Some(c) = entry(&mut self.ports, (r.dst, kind, r.dport), budget) {
                if *c == 0 {
                    v.ports += 1;
                }
                *c += n;
            }
        }
    }

    /// Findings of the bucket starting at `start`.
    pub fn findings(&self, cfg: &RuleConfig, start: i64, out: &mut Vec<Finding>) {
        // Victims over the volume and rate thresholds; the rest need no source ranking.
        let mut candidates: HashMap<(IpAddr, FloodKind), Candidate> = HashMap::default();
        for (&key, v) in &self.victims {
            let rate = v.count as f64 / span_s(v.first, v.last);
            let (min_count, min_rate) = match key.1 {
                FloodKind::Syn => (cfg.syn_flood_min_attempts, cfg.syn_flood_min_rate),
                FloodKind::Udp => (cfg.udp_flood_min_packets, cfg.udp_flood_min_pps),
                FloodKind::Icmp => (cfg.icmp_flood_min_packets, cfg.icmp_flood_min_pps),
            };
            if v.count < min_count || rate < min_rate {
                continue;
            }
            let reply = v.packets_out as f64 / v.packets_in.max(1) as f64;
            if key.1 == FloodKind::Udp && reply > cfg.udp_flood_max_reply_ratio {
                // Answered traffic (a busy service, a game, a call), not a flood.
                continue;
            }
            candidates.insert(
                key,
                Candidate {
                    rate,
                    reply,
                    min_count,
                    min_rate,
                    sources: Vec::new(),
                    ports: Vec::new(),
                },
            );
        }
        if candidates.is_empty() {
            return;
        }
        for (&(victim, kind, src), &c) in &self.sources {
            if let Some(cand) = candidates.get_mut(&(victim, kind)) {
                cand.sources.push((c, src));
            }
        }
        for (&(victim, kind, port), &c) in &self.ports {
            if let Some(cand) = candidates.get_mut(&(victim, kind)) {
                cand.ports.push((c, port));
            }
        }
        for ((victim, kind), cand) in candidates {
            let Some(v) = self.victims.get(&(victim, kind)) else {
                continue;
            };
            if let Some(f) = finding(cfg, start, victim, kind, v, cand) {
                out.push(f);
            }
        }
    }
}

struct Candidate {
    rate: f64,
    reply: f64,
    min_count: u64,
    min_rate: f64,
    sources: Vec<(u64, IpAddr)>,
    ports: Vec<(u64, u16)>,
}

fn finding(
    cfg: &RuleConfig,
    start: i64,
    victim: IpAddr,
    kind: FloodKind,
    v: &VictimAgg,
    cand: Candidate,
) -> Option<Finding> {
    let top_src = top(cand.sources.into_iter(), cfg.top_n.max(1));
    let top_ports = top(cand.ports.into_iter(), cfg.top_n);
    let count = v.count.max(1) as f64;
    let top_share = top_src.first().map_or(0.0, |t| t.0 as f64 / count);
    let port_share = v.ports as f64 / count;
    let mut conds = vec![
        cond(
            count_name(kind),
            v.count as f64,
            ">=",
            cand.min_count as f64,
        ),
        cond(rate_name(kind), cand.rate, ">=", cand.min_rate),
    ];
    let mut e = Map::new();
    if kind == FloodKind::Syn {
        // One source walking through the ports is a vertical scan (its own rule), unless it
        // goes faster than any scan needs to.
        let scan_shaped = top_share >= cfg.syn_flood_scan_source_share
            && port_share >= cfg.syn_flood_scan_port_share;
        if scan_shaped && cand.rate < cfg.syn_flood_scan_rate {
            return None;
        }
        if scan_shaped {
            conds.push(cond(
                "syn_flood_scan_rate",
                cand.rate,
                ">=",
                cfg.syn_flood_scan_rate,
            ));
        }
        e.insert("attempts".into(), json!(v.count));
        e.insert("syn_packets".into(), json!(v.packets_in));
        e.insert("scan_shaped".into(), json!(scan_shaped));
    } else {
        e.insert("packets".into(), json!(v.packets_in));
    }
    if kind == FloodKind::Udp {
        conds.push(cond(
            "udp_flood_max_reply_ratio",
            cand.reply,
            "<=",
            cfg.udp_flood_max_reply_ratio,
        ));
    }
    e.insert("flows".into(), json!(v.flows));
    e.insert("bytes".into(), json!(v.bytes_in));
    e.insert("rate_per_s".into(), num(cand.rate));
    e.insert("reply_packets".into(), json!(v.packets_out));
    e.insert("reply_ratio".into(), num(cand.reply));
    e.insert("distinct_sources".into(), json!(v.sources));
    if kind != FloodKind::Icmp {
        e.insert("distinct_ports".into(), json!(v.ports));
        e.insert(
            "top_ports".into(),
            Value::Array(
                top_ports
                    .iter()
                    .map(|(c, p)| json!({ "port": p, "count": c }))
                    .collect(),
            ),
        );
    }
    e.insert(
        "top_sources".into(),
        Value::Array(
            top_src
                .iter()
                .take(cfg.top_n)
                .map(|(c, a)| json!({ "addr": a, "count": c, "share": num(*c as f64 / count) }))
                .collect(),
        ),
    );
    e.insert("first".into(), json!(v.first));
    e.insert("last".into(), json!(v.last));
    e.insert("span_s".into(), num((v.last - v.first) as f64 / 1e6));
    e.insert("thresholds".into(), Value::Array(conds));

    let over_rate = ratio(cand.rate, cand.min_rate);
    let margin = ratio(v.count as f64, cand.min_count as f64).min(over_rate);
    let src = top_src
        .first()
        .filter(|_| top_share >= cfg.flood_attacker_min_share)
        .map(|t| t.1);
    Some(Finding {
        kind: kind.kind().into(),
        src,
        dst: Some(victim),
        window: start,
        margin,
        severity: severity(SEVERITY.0, SEVERITY.1, over_rate),
        evidence: e,
    })
}

fn count_name(kind: FloodKind) -> &'static str {
    match kind {
        FloodKind::Syn => "syn_flood_min_attempts",
        FloodKind::Udp => "udp_flood_min_packets",
        FloodKind::Icmp => "icmp_flood_min_packets",
    }
}

fn rate_name(kind: FloodKind) -> &'static str {
    match kind {
        FloodKind::Syn => "syn_flood_min_rate",
        FloodKind::Udp => "udp_flood_min_pps",
        FloodKind::Icmp => "icmp_flood_min_pps",
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{at, flow, tcp_flags};
    use super::*;

    fn run(cfg: &RuleConfig, flows: &[FlowRecord]) -> Vec<Finding> {
        let mut s = FloodState::default();
        let mut b = Budget {
            max: 10_000_000,
            ..Budget::default()
        };
        for f in flows {
            s.observe(f, &mut b);
        }
        let mut out = Vec::new();
        s.findings(cfg, 0, &mut out);
        out
    }

    /// `n` SYNs to 10.9.9.9, spread evenly over `span_us`, from `src(i)` to `port(i)`.
    fn syns(
        n: u64,
        span_us: i64,
        src: impl Fn(u64) -> String,
        port: impl Fn(u64) -> u16,
    ) -> Vec<FlowRecord> {
        (0..n)
            .map(|i| {
                let mut f = flow(&src(i), 40000, "10.9.9.9", port(i), 6, [1, 0], [0, 0]);
                tcp_flags(&mut f, 1, 0, 0, 0);
                at(f, 1_000_000 + span_us * i as i64 / n.max(1) as i64, 0)
            })
            .collect()
    }

    fn spoofed(i: u64) -> String {
        format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
    }

    #[test]
    fn a_syn_flood_needs_both_the_attempts_and_the_rate() {
        let cfg = RuleConfig::default();
        let n = cfg.syn_flood_min_attempts;
        // One attempt short.
        assert!(run(&cfg, &syns(n - 1, 1_000_000, spoofed, |_| 80)).is_empty());
        // Enough attempts, too slow: 1000 over 20 s is 50/s.
        assert!(run(&cfg, &syns(n, 20_000_000, spoofed, |_| 80)).is_empty());
        // 1000 over 10 s is the 100/s threshold exactly.
        let f = run(&cfg, &syns(n, 10_000_000, spoofed, |_| 80));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, KIND_SYN);
        assert_eq!(f[0].dst, "10.9.9.9".parse().ok());
        // Spoofed: no source dominates.
        assert_eq!(f[0].src, None);
        assert_eq!(f[0].severity, 3);
        assert_eq!(f[0].evidence["distinct_sources"], json!(n));
        assert_eq!(f[0].evidence["top_ports"][0]["port"], json!(80));
    }

    #[test]
    fn one_source_across_many_ports_is_a_scan_unless_faster_than_the_scan_rate() {
        let cfg = RuleConfig::default();
        let one = |_| "10.1.1.1".to_string();
        // 2000 ports in 1 s: 2000/s, under the 5000/s a scan never needs.
        assert!(run(&cfg, &syns(2000, 900_000, one, |i| i as u16 + 1)).is_empty());
        // 6000 ports in 1 s.
        let f = run(&cfg, &syns(6000, 900_000, one, |i| i as u16 + 1));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].src, "10.1.1.1".parse().ok());
        assert_eq!(f[0].evidence["scan_shaped"], json!(true));
        // One source hammering one port is a flood at the ordinary rate.
        let f = run(&cfg, &syns(2000, 900_000, one, |_| 443));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, 4, "2000/s is 20× the 100/s threshold");
    }

    #[test]
    fn completed_connections_are_not_half_open() {
        let mut ok = flow("10.1.1.1", 40000, "10.9.9.9", 80, 6, [3, 2], [0, 0]);
        tcp_flags(&mut ok, 2, 4, 0, 0);
        assert!(!half_open(&ok));
        let mut refused = flow("10.1.1.1", 40000, "10.9.9.9", 80, 6, [1, 1], [0, 0]);
        tcp_flags(&mut refused, 1, 1, 1, 0);
        assert!(half_open(&refused));
        let mut data = flow("10.1.1.1", 40000, "10.9.9.9", 80, 6, [1, 2], [0, 100]);
        tcp_flags(&mut data, 1, 2, 0, 0);
        assert!(!half_open(&data));
    }

    fn udp(src: &str, packets: [u64; 2], dur_us: i64) -> FlowRecord {
        at(
            flow(
                src,
                5000,
                "10.9.9.9",
                7777,
                17,
                packets,
                [100 * packets[0], 0],
            ),
            1_000_000,
            dur_us,
        )
    }

    #[test]
    fn a_udp_flood_needs_packets_rate_and_no_replies() {
        let cfg = RuleConfig::default();
        let n = cfg.udp_flood_min_packets;
        assert!(run(&cfg, &[udp("10.1.1.1", [n - 1, 0], 1_000_000)]).is_empty());
        // 10,000 over 2 s: 5000 pps, the threshold.
        let f = run(&cfg, &[udp("10.1.1.1", [n, 0], 2_000_000)]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, KIND_UDP);
        assert_eq!(f[0].src, "10.1.1.1".parse().ok());
        // Over 3 s: too slow.
        assert!(run(&cfg, &[udp("10.1.1.1", [n, 0], 3_000_000)]).is_empty());
        // Answered at more than one reply per ten packets: a conversation.
        assert!(run(&cfg, &[udp("10.1.1.1", [n, n / 10 + 1], 1_000_000)]).is_empty());
        assert_eq!(
            run(&cfg, &[udp("10.1.1.1", [n, n / 10], 1_000_000)]).len(),
            1
        );
    }

    #[test]
    fn an_icmp_flood_needs_packets_and_rate() {
        let cfg = RuleConfig::default();
        let n = cfg.icmp_flood_min_packets;
        let icmp = |p: u64, dur| {
            at(
                flow("10.1.1.1", 0, "10.9.9.9", 0, 1, [p, p], [0, 0]),
                1_000_000,
                dur,
            )
        };
        assert!(run(&cfg, &[icmp(n - 1, 1_000_000)]).is_empty());
        assert!(run(&cfg, &[icmp(n, 6_000_000)]).is_empty());
        let f = run(&cfg, &[icmp(n, 5_000_000)]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, KIND_ICMP);
    }
}

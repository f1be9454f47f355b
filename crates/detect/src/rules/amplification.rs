//! Reflection and amplification: many reflectors answering one victim from a service's port —
//! responses to requests the attacker sent with the victim's address — per (victim, service)
//! and bucket. Counted: response packets and IP bytes (later IP fragments from the same
//! reflectors included: large DNS and memcached responses arrive fragmented), the requests the
//! victim really sent to those reflectors, and the distinct reflectors. A victim's own lookups
//! are answered roughly byte for byte; reflected traffic is unsolicited (no request at all) or
//! many times larger than the requests.
//!
//! TCP reflection (`amplification_synack`): SYN-ACKs the victim never asked for — spoofed SYNs
//! sent to many servers, whose answers (and retransmissions) converge on the victim.

use super::HashMap;
use std::net::IpAddr;

use flow::{FlowRecord, F};
use serde_json::{json, Map, Value};

use super::{
    cond, entry, is_host, num, ratio, severity, span_s, top, widen, Budget, Finding, RuleConfig,
};

/// Severity base and cap: denial of service in progress, one step up at 10× and at 100× the
/// byte threshold.
pub const SEVERITY: (u8, u8) = (3, 5);

/// Kind prefix: the service name follows (`amplification_dns`, …).
pub const KIND_PREFIX: &str = "amplification_";

/// UDP services abused for reflection, by source port, with the name in the alert kind.
/// Ports and amplification factors: US-CERT TA14-017A and the vectors seen since (CLDAP,
/// memcached, WS-Discovery, ARD, DVR, BACnet, CoAP).
pub const UDP_SERVICES: &[(u16, &str)] = &[
    (17, "qotd"),
    (19, "chargen"),
    (53, "dns"),
    (69, "tftp"),
    (111, "portmap"),
    (123, "ntp"),
    (137, "netbios"),
    (161, "snmp"),
    (389, "cldap"),
    (500, "isakmp"),
    (520, "rip"),
    (1434, "mssql"),
    (1900, "ssdp"),
    (3283, "ard"),
    (3702, "wsd"),
    (4500, "isakmp"),
    (5353, "mdns"),
    (5683, "coap"),
    (10001, "ubiquiti"),
    (11211, "memcached"),
    (27960, "quake"),
    (37810, "dvr"),
    (47808, "bacnet"),
];

/// Service name of TCP reflection (unsolicited SYN-ACKs).
pub const SYNACK: &str = "synack";

/// The reflection service a UDP port belongs to.
pub fn udp_service(port: u16) -> Option<&'static str> {
    UDP_SERVICES
        .binary_search_by_key(&port, |s| s.0)
        .ok()
        .map(|i| UDP_SERVICES[i].1)
}

/// What one flow contributes: victim, reflector, service, reflector port, response packets and
/// bytes, request bytes, whether the response was unsolicited.
struct Part {
    victim: IpAddr,
    reflector: IpAddr,
    service: &'static str,
    port: u16,
    resp_packets: u64,
    resp_bytes: u64,
    req_packets: u64,
    req_bytes: u64,
    unsolicited: bool,
}

fn classify(r: &FlowRecord) -> Option<Part> {
    match r.proto {
        17 => {
            // The requester is the side whose destination is the service port; when both
            // ports are, the flow's first packet was the request.
            let (req, service, port) = match (udp_service(r.dport), udp_service(r.sport)) {
                (Some(s), _) => (0, s, r.dport),
                (None, Some(s)) => (1, s, r.sport),
                (None, None) => return None,
            };
            let resp = 1 - req;
            let (victim, reflector) = if req == 0 {
                (r.src, r.dst)
            } else {
                (r.dst, r.src)
            };
            Some(Part {
                victim,
                reflector,
                service,
                port,
                resp_packets: r.packets[resp],
                resp_bytes: r.ip_bytes[resp],
                req_packets: r.packets[req],
                req_bytes: r.ip_bytes[req],
                unsolicited: r.packets[req] == 0,
            })
        }
        // A flow that began with a SYN-ACK has the client forward: here the victim, who sent
        // nothing.
        6 if r.packets[0] == 0 && r.packets[1] > 0 && r.feature(F::SynFlagCount) >= 1.0 => {
            Some(Part {
                victim: r.src,
                reflector: r.dst,
                service: SYNACK,
                port: r.dport,
                resp_packets: r.packets[1],
                resp_bytes: r.ip_bytes[1],
                req_packets: 0,
                req_bytes: 0,
                unsolicited: true,
            })
        }
        _ => None,
    }
}

#[derive(Default)]
struct AmpAgg {
    flows: u64,
    unsolicited_flows: u64,
    resp_packets: u64,
    resp_bytes: u64,
    req_packets: u64,
    req_bytes: u64,
    reflectors: u64,
    first: i64,
    last: i64,
}

#[derive(Default)]
struct Reflector {
    packets: u64,
    bytes: u64,
}

/// One bucket of amplification state.
#[derive(Default)]
pub(crate) struct AmpState {
    victims: HashMap<(IpAddr, &'static str), AmpAgg>,
    /// (victim, service, reflector) → responses.
    reflectors: HashMap<(IpAddr, &'static str, IpAddr), Reflector>,
    /// (victim, reflector port) → responses, per service (SYN-ACKs come from any port).
    ports: HashMap<(IpAddr, &'static str, u16), u64>,
    /// (victim, sender) → later IP fragments (the `cic` profile keys them as protocol 0).
    fragments: HashMap<(IpAddr, IpAddr), Reflector>,
}

impl AmpState {
    /// Counts `r` if it is a response (or request) of a reflection service, or a fragment.
    pub fn observe(&mut self, r: &FlowRecord, budget: &mut Budget) {
        if r.proto == 0 && r.sport == 0 && r.dport == 0 {
            // Only fragments from a reflector of this victim will be counted (at evaluation);
            // other protocol-0 traffic (GRE, ESP, …) is tracked but never matches.
            if is_host(r.dst) && r.packets[0] > 0 {
                if let Some(f) = entry(&mut self.fragments, (r.dst, r.src), budget) {
                    f.packets += r.packets[0];
                    f.bytes += r.ip_bytes[0];
                }
            }
            return;
        }
        let Some(p) = classify(r) else { return };
        if !is_host(p.victim) || (p.resp_packets == 0 && p.req_packets == 0) {
            return;
        }
        let Some(v) = entry(&mut self.victims, (p.victim, p.service), budget) else {
            return;
        };
        widen(&mut v.first, &mut v.last, v.flows == 0, r);
        v.flows += 1;
        v.unsolicited_flows += u64::from(p.unsolicited);
        v.resp_packets += p.resp_packets;
        v.resp_bytes += p.resp_bytes;
        v.req_packets += p.req_packets;
        v.req_bytes += p.req_bytes;
        if p.resp_packets > 0 {
            if let Some(x) = entry(
                &mut self.reflectors,
                (p.victim, p.service, p.reflector),
                budget,
            ) {
                if x.packets == 0 {
                    v.reflectors += 1;
                }
                x.packets += p.resp_packets;
                x.bytes += p.resp_bytes;
            }
            if let Some(c) = entry(&mut self.ports, (p.victim, p.service, p.port), budget) {
                *c += p.resp_packets;
            }
        }
    }

    /// Findings of the bucket starting at `start`.
    pub fn findings(&self, cfg: &RuleConfig, start: i64, out: &mut Vec<Finding>) {
        // Victims with enough reflectors (a cheap first cut); fragments and rankings next.
        let mut cands: HashMap<(IpAddr, &'static str), Cand> = self
            .victims
            .iter()
            .filter(|(_, v)| v.reflectors >= cfg.amp_min_reflectors.max(1))
            .map(|(&k, _)| (k, Cand::default()))
            .collect();
        if cands.is_empty() {
            return;
        }
        // A fragment sender counts for the one service it reflected most bytes of to that
        // victim (ties: the service name), so fragments are never counted twice.
        let mut frag_service: HashMap<(IpAddr, IpAddr), (u64, &'static str)> = HashMap::default();
        for (&(victim, service, refl), x) in &self.reflectors {
            if let Some(c) = cands.get_mut(&(victim, service)) {
                c.reflectors.push((x.bytes, refl));
                if self.fragments.contains_key(&(victim, refl)) {
                    let e = frag_service
                        .entry((victim, refl))
                        .or_insert((x.bytes, service));
                    if (x.bytes, std::cmp::Reverse(service)) > (e.0, std::cmp::Reverse(e.1)) {
                        *e = (x.bytes, service);
                    }
                }
            }
        }
        for ((victim, refl), (_, service)) in frag_service {
            if let (Some(c), Some(f)) = (
                cands.get_mut(&(victim, service)),
                self.fragments.get(&(victim, refl)),
            ) {
                c.frag_packets += f.packets;
                c.frag_bytes += f.bytes;
            }
        }
        for (&(victim, service, port), &n) in &self.ports {
            if let Some(c) = cands.get_mut(&(victim, service)) {
                c.ports.push((n, port));
            }
        }
        for ((victim, service), c) in cands {
            if let Some(v) = self.victims.get(&(victim, service)) {
                if let Some(f) = finding(cfg, start, victim, service, v, c) {
                    out.push(f);
                }
            }
        }
    }
}

#[derive(Default)]
struct Cand {
    reflectors: Vec<(u64, IpAddr)>,
    ports: Vec<(u64, u16)>,
    frag_packets: u64,
    frag_bytes: u64,
}

fn finding(
    cfg: &RuleConfig,
    start: i64,
    victim: IpAddr,
    service: &'static str,
    v: &AmpAgg,
    c: Cand,
) -> Option<Finding> {
    let packets = v.resp_packets + c.frag_packets;
    let bytes = v.resp_bytes + c.frag_bytes;
    // Bytes answered per byte asked; no request at all is unbounded.
    let amp = if v.req_bytes == 0 {
        f64::INFINITY
    } else {
        bytes as f64 / v.req_bytes as f64
    };
    if packets < cfg.amp_min_packets || bytes < cfg.amp_min_bytes || amp < cfg.amp_min_ratio {
        return None;
    }
    let over_bytes = ratio(bytes as f64, cfg.amp_min_bytes as f64);
    let margin = ratio(v.reflectors as f64, cfg.amp_min_reflectors as f64)
        .min(ratio(packets as f64, cfg.amp_min_packets as f64))
        .min(over_bytes)
        .min(ratio(amp, cfg.amp_min_ratio));
    let span = span_s(v.first, v.last);
    let reflectors = top(c.reflectors.into_iter(), cfg.top_n);
    let ports = top(c.ports.into_iter(), cfg.top_n);
    let mut e = Map::new();
    e.insert("service".into(), json!(service));
    e.insert("reflectors".into(), json!(v.reflectors));
    e.insert("flows".into(), json!(v.flows));
    e.insert("unsolicited_flows".into(), json!(v.unsolicited_flows));
    e.insert("response_packets".into(), json!(packets));
    e.insert("response_bytes".into(), json!(bytes));
    e.insert("fragment_packets".into(), json!(c.frag_packets));
    e.insert("fragment_bytes".into(), json!(c.frag_bytes));
    e.insert("request_packets".into(), json!(v.req_packets));
    e.insert("request_bytes".into(), json!(v.req_bytes));
    e.insert("bytes_ratio".into(), num(amp));
    e.insert("packets_per_s".into(), num(packets as f64 / span));
    e.insert("bits_per_s".into(), num(bytes as f64 * 8.0 / span));
    e.insert(
        "top_reflectors".into(),
        Value::Array(
            reflectors
                .iter()
                .map(|(b, a)| json!({ "addr": a, "bytes": b }))
                .collect(),
        ),
    );
    e.insert(
        "reflector_ports".into(),
        Value::Array(
            ports
                .iter()
                .map(|(n, p)| json!({ "port": p, "packets": n }))
                .collect(),
        ),
    );
    e.insert("first".into(), json!(v.first));
    e.insert("last".into(), json!(v.last));
    e.insert("span_s".into(), num((v.last - v.first) as f64 / 1e6));
    e.insert(
        "thresholds".into(),
        json!([
            cond(
                "amp_min_reflectors",
                v.reflectors as f64,
                ">=",
                cfg.amp_min_reflectors as f64
            ),
            cond(
                "amp_min_packets",
                packets as f64,
                ">=",
                cfg.amp_min_packets as f64
            ),
            cond(
                "amp_min_bytes",
                bytes as f64,
                ">=",
                cfg.amp_min_bytes as f64
            ),
            cond("amp_min_ratio", amp, ">=", cfg.amp_min_ratio),
        ]),
    );
    Some(Finding {
        kind: format!("{KIND_PREFIX}{service}"),
        // The attacker spoofed the victim's address: unknown. The reflectors are evidence.
        src: None,
        dst: Some(victim),
        window: start,
        margin,
        severity: severity(SEVERITY.0, SEVERITY.1, over_bytes),
        evidence: e,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{flow, tcp_flags};
    use super::*;

    fn run(flows: &[FlowRecord]) -> Vec<Finding> {
        let cfg = RuleConfig::default();
        let mut s = AmpState::default();
        let mut b = Budget {
            max: 1_000_000,
            ..Budget::default()
        };
        for f in flows {
            s.observe(f, &mut b);
        }
        let mut out = Vec::new();
        s.findings(&cfg, 0, &mut out);
        out
    }

    /// `per` unsolicited responses of `size` payload bytes from each of `n` reflectors.
    fn responses(n: u8, per: u64, size: u64, port: u16) -> Vec<FlowRecord> {
        (1..=n)
            .map(|i| {
                flow(
                    &format!("192.0.2.{i}"),
                    port,
                    "10.9.9.9",
                    4444,
                    17,
                    [per, 0],
                    [per * size, 0],
                )
            })
            .collect()
    }

    #[test]
    fn the_service_table_is_sorted_for_binary_search() {
        assert!(UDP_SERVICES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(udp_service(53), Some("dns"));
        assert_eq!(udp_service(11211), Some("memcached"));
        assert_eq!(udp_service(54), None);
    }

    #[test]
    fn unsolicited_responses_from_enough_reflectors_are_amplification() {
        // 3 reflectors × 34 responses of 1,000 bytes: 102 packets, 106,080 IP bytes.
        let f = run(&responses(3, 34, 1000, 123));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, "amplification_ntp");
        assert_eq!(f[0].src, None);
        assert_eq!(f[0].dst, "10.9.9.9".parse().ok());
        assert_eq!(f[0].evidence["reflectors"], json!(3));
        assert_eq!(f[0].evidence["bytes_ratio"], Value::Null);
        // Two reflectors are not enough, nor 99 packets, nor under 100 kB.
        assert!(run(&responses(2, 60, 1000, 123)).is_empty());
        assert!(run(&responses(3, 33, 1200, 123)).is_empty());
        assert!(run(&responses(3, 40, 700, 123)).is_empty());
    }

    #[test]
    fn answered_lookups_are_not_amplification() {
        // The victim asked: 60 bytes per request, 600 per response is a ratio of 10 — the
        // threshold; 590 is under it.
        let lookups = |resp: u64| -> Vec<FlowRecord> {
            (1..=6)
                .map(|i| {
                    flow(
                        "10.9.9.9",
                        5000 + i,
                        &format!("192.0.2.{i}"),
                        53,
                        17,
                        [30, 30],
                        [30 * 20, 30 * (resp - 40)],
                    )
                })
                .collect()
        };
        assert!(run(&lookups(590)).is_empty());
        let f = run(&lookups(600));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, "amplification_dns");
        assert_eq!(f[0].evidence["bytes_ratio"], json!(10.0));
    }

    #[test]
    fn fragments_from_reflectors_count_toward_the_volume() {
        let mut flows = responses(3, 34, 500, 53);
        assert!(run(&flows).is_empty(), "55 kB alone is under 100 kB");
        for i in 1..=3 {
            flows.push(flow(
                &format!("192.0.2.{i}"),
                0,
                "10.9.9.9",
                0,
                0,
                [34, 0],
                [0, 0],
            ));
            if let Some(f) = flows.last_mut() {
                f.ip_bytes[0] = 34 * 1000;
            }
        }
        let f = run(&flows);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence["fragment_packets"], json!(102));
    }

    #[test]
    fn unsolicited_syn_acks_are_tcp_reflection() {
        let flows: Vec<_> = (1..=100u8)
            .map(|i| {
                let mut f = flow(
                    "10.9.9.9",
                    1000 + u16::from(i),
                    &format!("192.0.2.{i}"),
                    80,
                    6,
                    [0, 20],
                    [0, 0],
                );
                f.ip_bytes[1] = 20 * 60;
                tcp_flags(&mut f, 20, 20, 0, 0);
                f
            })
            .collect();
        let f = run(&flows);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, "amplification_synack");
        assert_eq!(f[0].evidence["reflector_ports"][0]["port"], json!(80));
    }
}

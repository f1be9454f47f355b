//! The window feature table (the one source of truth for learning, scoring and the baseline
//! file) and the per-window accumulators the features are computed from.
//!
//! Every feature is computed from the [`FlowRecord`]s whose last packet fell in the window
//! (the "bucket" of the flow), globally and per source host. Flows, not the window's talker
//! summaries, are the input because the per-host figures the baseline needs (distinct
//! destinations and ports of one source, unanswered SYNs, resets, short-lived connections) are
//! facts about flows that `flow::Window` does not keep per address.

use std::collections::HashSet;
use std::net::IpAddr;

use flow::features::F;
use flow::window::distinct::{stable_hash, Distinct};
use flow::FlowRecord;

/// How a feature's natural value is turned into the value the statistics are kept on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transform {
    /// `ln(1 + v)`: counts, rates and sizes are heavy-tailed; on the log scale a robust z
    /// measures "how many times larger" rather than "how much larger".
    Log1p,
    /// The value itself (already in 0…1).
    Identity,
}

impl Transform {
    /// Natural value → model value.
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Transform::Log1p => v.max(0.0).ln_1p(),
            Transform::Identity => v,
        }
    }

    /// Model value → natural value.
    pub fn invert(self, x: f64) -> f64 {
        match self {
            Transform::Log1p => x.exp_m1(),
            Transform::Identity => x,
        }
    }

    /// The name written to the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Transform::Log1p => "log1p",
            Transform::Identity => "none",
        }
    }
}

/// Which deviations count towards the anomaly score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Only values above the baseline (a quiet window is not an intrusion).
    Upper,
    /// Values above or below (a shift in the shape of traffic either way).
    Both,
}

impl Tail {
    /// The score contribution of a robust z.
    pub fn contribution(self, z: f64) -> f64 {
        match self {
            Tail::Upper => z.max(0.0),
            Tail::Both => z.abs(),
        }
    }

    /// The name written to the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Tail::Upper => "upper",
            Tail::Both => "both",
        }
    }
}

/// One window feature.
#[derive(Clone, Copy, Debug)]
pub struct WindowFeature {
    /// Name (in the baseline file, the evidence and the docs).
    pub name: &'static str,
    /// Unit of the natural value.
    pub unit: &'static str,
    /// Transform applied before the statistics.
    pub transform: Transform,
    /// Which side of the baseline scores.
    pub tail: Tail,
    /// Smallest scale (robust standard deviation) used for the feature, in transformed units,
    /// so that a feature constant in training does not turn every small change into a huge z.
    pub min_scale: f64,
    /// Definition.
    pub doc: &'static str,
}

/// Pseudo-count added to the denominator of the ratio features: a window with few flows cannot
/// reach an extreme ratio (one unanswered SYN gives 0.2, 100 of 100 give 0.96).
pub const RATIO_PRIOR: f64 = 4.0;
/// A flow is short-lived when it lasted less than this (µs) or had at most one packet each way.
pub const SHORT_LIVED_US: i64 = 1_000_000;

/// Index of each feature in [`WINDOW_FEATURES`] (and in every feature vector).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Wf {
    Flows = 0,
    Packets,
    Bytes,
    PacketsPerS,
    DstHosts,
    DstPorts,
    Sources,
    ShortLived,
    ShortLivedRatio,
    SynOnly,
    SynOnlyRatio,
    RstRatio,
    OneWayRatio,
    NewDsts,
    NewDstRatio,
    BytesPerFlow,
    PacketsPerFlow,
}

/// Number of window features.
pub const N_WINDOW_FEATURES: usize = 17;

/// One robust standard deviation of a log count is at least a factor e^0.75 ≈ 2.1.
const LOG_SCALE: f64 = 0.75;
/// One robust standard deviation of a ratio is at least 0.1.
const RATIO_SCALE: f64 = 0.1;
/// A rate varies more than a count: one bulk transfer alone reaches 1,000 packets/s.
const RATE_SCALE: f64 = 1.0;

/// The window features, in vector order.
pub static WINDOW_FEATURES: [WindowFeature; N_WINDOW_FEATURES] = [
    WindowFeature {
        name: "flows",
        unit: "flows",
        transform: Transform::Log1p,
        tail: Tail::Upper,
        min_scale: LOG_SCALE,
        doc: "flows whose first packet fell in the window",
    },
    WindowFeature {
        name: "packets",
        unit: "packets",
        transform: Transform::Log1p,
        tail: Tail::Upper,
        min_scale: LOG_SCALE,
        doc: "packets of those flows, both directions",
    },
    WindowFeature {
        name: "bytes",
        unit: "bytes",
        transform: Transform::Log1p,
        tail: Tail::Upper,
        min_scale: LOG_SCALE,
        doc: "frame bytes on the wire of those flows, both directions",
    },
    WindowFeature {
        name: "packets_per_s",
        unit: "packets/s",
        transform: Transform::Log1p,
        tail: Tail::Upper,
        min_scale: RATE_SCALE,
        doc: "packets / seconds from the first to the last packet of those flows (at least 1 s)",
    },
    WindowFeature {
        name: "dst_hosts",
        unit: "addresses",
        transform: Transform::Log1p,
        tail: Tail::Upper,
        min_scale: LOG_SCALE,
        doc: "distinct destination addresses",
    },
    WindowFeature {
        name: "dst_ports",
        unit: "ports",
        transform: Transform::Log1p,
        tail: Tail::Upper,
        min_scale: LOG_SCALE,
        doc: "distinct destination (protocol, port) pairs",
    },
    WindowFeature {
        name: "sources",
        unit: "addresses",
        transform: Transform::Log1p,
        tail: Tail::Upper,
        min_scale: LOG_SCALE,
        doc: "distinct source addresses (always 1 for a host-window)",
    },
    WindowFeature {
        name: "short_lived",
        unit: "flows",
        transform: Transform::Log1p,
        tail: Tail::Upper,
        min_scale: LOG_SCALE,
        doc: "flows with at most one packet each way or lasting under 1 s",
    },
    WindowFeature {
        name: "short_lived_ratio",
        unit: "ratio",
        transform: Transform::Identity,
        tail: Tail::Upper,
        min_scale: RATIO_SCALE,
        doc: "short_lived / (flows + 4)",
    },
    WindowFeature {
        name: "syn_only",
        unit: "flows",
        transform: Transform::Log1p,
        tail: Tail::Upper,
        min_scale: LOG_SCALE,
        doc: "TCP flows with a SYN (or SYN-ACK) whose packets all went one way: no reply",
    },
    WindowFeature {
        name: "syn_only_ratio",
        unit: "ratio",
        transform: Transform::Identity,
        tail: Tail::Upper,
        min_scale: RATIO_SCALE,
        doc: "syn_only / (TCP flows + 4)",
    },
    WindowFeature {
        name: "rst_ratio",
        unit: "ratio",
        transform: Transform::Identity,
        tail: Tail::Upper,
        min_scale: RATIO_SCALE,
        doc: "TCP flows with an RST / (TCP flows + 4)",
    },
    WindowFeature {
        name: "one_way_ratio",
        unit: "ratio",
        transform: Transform::Identity,
        tail: Tail::Upper,
        min_scale: RATIO_SCALE,
        doc: "flows whose packets all went one way / (flows + 4)",
    },
    WindowFeature {
        name: "new_dsts",
        unit: "addresses",
        transform: Transform::Log1p,
        tail: Tail::Upper,
        min_scale: LOG_SCALE,
        doc: "destinations not seen in training nor earlier in the run (bounded memory)",
    },
    WindowFeature {
        name: "new_dst_ratio",
        unit: "ratio",
        transform: Transform::Identity,
        tail: Tail::Upper,
        min_scale: RATIO_SCALE,
        doc: "new_dsts / (dst_hosts + 4)",
    },
    WindowFeature {
        name: "bytes_per_flow",
        unit: "bytes",
        transform: Transform::Log1p,
        tail: Tail::Both,
        min_scale: LOG_SCALE,
        doc: "bytes / flows",
    },
    WindowFeature {
        name: "packets_per_flow",
        unit: "packets",
        transform: Transform::Log1p,
        tail: Tail::Both,
        min_scale: LOG_SCALE,
        doc: "packets / flows",
    },
];

/// The feature names, in vector order.
pub fn feature_names() -> Vec<&'static str> {
    WINDOW_FEATURES.iter().map(|f| f.name).collect()
}

/// Distinct keys: exact up to a bound, then a HyperLogLog estimate (±1.6 %), so memory per
/// set is bounded whatever the traffic.
#[derive(Clone, Debug)]
pub(crate) enum KeySet {
    Exact(HashSet<u64>, usize),
    Sketch(Box<Distinct>),
}

impl KeySet {
    pub(crate) fn new(exact_cap: usize) -> Self {
        KeySet::Exact(HashSet::new(), exact_cap)
    }

    pub(crate) fn insert(&mut self, h: u64) {
        match self {
            KeySet::Exact(s, cap) => {
                s.insert(h);
                if s.len() > *cap {
                    let mut d = Distinct::default();
                    for &k in s.iter() {
                        d.insert_hash(k);
                    }
                    *self = KeySet::Sketch(Box::new(d));
                }
            }
            KeySet::Sketch(d) => d.insert_hash(h),
        }
    }

    pub(crate) fn count(&self) -> u64 {
        match self {
            KeySet::Exact(s, _) => s.len() as u64,
            KeySet::Sketch(d) => d.estimate().round() as u64,
        }
    }
}

/// 16 key bytes of an address (IPv4 mapped into IPv6).
pub(crate) fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

fn ip_hash(ip: IpAddr) -> u64 {
    stable_hash(&ip_bytes(ip))
}

fn port_hash(proto: u8, port: u16) -> u64 {
    let mut b = [0u8; 16];
    b[0] = proto;
    b[1..3].copy_from_slice(&port.to_be_bytes());
    b[15] = 0xfe;
    stable_hash(&b)
}

/// What is known about one flow, for the aggregates.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FlowFacts {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub dport: u16,
    pub first_us: i64,
    pub last_us: i64,
    pub packets: u64,
    pub bytes: u64,
    pub tcp: bool,
    pub short_lived: bool,
    pub syn_only: bool,
    pub rst: bool,
    pub one_way: bool,
}

impl FlowFacts {
    pub(crate) fn of(r: &FlowRecord) -> Self {
        let one_way = r.packets[0] == 0 || r.packets[1] == 0;
        let tcp = r.proto == 6;
        let first_us = r.first.micros();
        let last_us = r.last.micros();
        FlowFacts {
            src: r.src,
            dst: r.dst,
            proto: r.proto,
            dport: r.dport,
            first_us,
            last_us,
            packets: r.packets[0] + r.packets[1],
            bytes: r.wire_bytes[0] + r.wire_bytes[1],
            tcp,
            short_lived: (r.packets[0] <= 1 && r.packets[1] <= 1)
                || last_us - first_us < SHORT_LIVED_US,
            syn_only: tcp && one_way && r.feature(F::SynFlagCount) >= 1.0,
            rst: tcp && r.feature(F::RstFlagCount) >= 1.0,
            one_way,
        }
    }
}

/// The sums a feature vector is computed from: one per window (global) and one per source host
/// per window.
#[derive(Clone, Debug)]
pub(crate) struct Agg {
    pub flows: u64,
    pub tcp_flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub span: Option<(i64, i64)>,
    pub short_lived: u64,
    pub syn_only: u64,
    pub rst: u64,
    pub one_way: u64,
    pub new_dsts: u64,
    pub dsts: KeySet,
    pub ports: KeySet,
    /// Sources (global aggregates only).
    pub srcs: Option<KeySet>,
    /// The first destination and source seen: the only ones when the distinct count is 1.
    pub first_dst: Option<IpAddr>,
    pub first_src: Option<IpAddr>,
}

impl Agg {
    pub(crate) fn new(exact_cap: usize, with_sources: bool) -> Self {
        Agg {
            flows: 0,
            tcp_flows: 0,
            packets: 0,
            bytes: 0,
            span: None,
            short_lived: 0,
            syn_only: 0,
            rst: 0,
            one_way: 0,
            new_dsts: 0,
            dsts: KeySet::new(exact_cap),
            ports: KeySet::new(exact_cap),
            srcs: with_sources.then(|| KeySet::new(exact_cap)),
            first_dst: None,
            first_src: None,
        }
    }

    pub(crate) fn add(&mut self, f: &FlowFacts, new_dst: bool) {
        self.flows += 1;
        self.tcp_flows += f.tcp as u64;
        self.packets += f.packets;
        self.bytes += f.bytes;
        self.span = Some(match self.span {
            None => (f.first_us, f.last_us),
            Some((a, b)) => (a.min(f.first_us), b.max(f.last_us)),
        });
        self.short_lived += f.short_lived as u64;
        self.syn_only += f.syn_only as u64;
        self.rst += f.rst as u64;
        self.one_way += f.one_way as u64;
        self.new_dsts += new_dst as u64;
        self.dsts.insert(ip_hash(f.dst));
        self.ports.insert(port_hash(f.proto, f.dport));
        if let Some(s) = &mut self.srcs {
            s.insert(ip_hash(f.src));
        }
        self.first_dst.get_or_insert(f.dst);
        self.first_src.get_or_insert(f.src);
    }

    /// The single destination, when every flow went to one.
    pub(crate) fn only_dst(&self) -> Option<IpAddr> {
        (self.dsts.count() == 1).then_some(self.first_dst).flatten()
    }

    /// The single source, when every flow came from one.
    pub(crate) fn only_src(&self) -> Option<IpAddr> {
        match &self.srcs {
            Some(s) if s.count() == 1 => self.first_src,
            Some(_) => None,
            None => self.first_src,
        }
    }

    /// The features in natural units, in [`WINDOW_FEATURES`] order.
    pub(crate) fn natural(&self) -> [f64; N_WINDOW_FEATURES] {
        let flows = self.flows as f64;
        let tcp = self.tcp_flows as f64;
        let dsts = self.dsts.count() as f64;
        let span_s = self
            .span
            .map(|(a, b)| (b - a) as f64 / 1e6)
            .unwrap_or(0.0)
            .max(1.0);
        let per_flow = |v: u64| {
            if self.flows == 0 {
                0.0
            } else {
                v as f64 / flows
            }
        };
        let mut v = [0.0; N_WINDOW_FEATURES];
        v[Wf::Flows as usize] = flows;
        v[Wf::Packets as usize] = self.packets as f64;
        v[Wf::Bytes as usize] = self.bytes as f64;
        v[Wf::PacketsPerS as usize] = self.packets as f64 / span_s;
        v[Wf::DstHosts as usize] = dsts;
        v[Wf::DstPorts as usize] = self.ports.count() as f64;
        v[Wf::Sources as usize] = self.srcs.as_ref().map_or(1.0, |s| s.count() as f64);
        v[Wf::ShortLived as usize] = self.short_lived as f64;
        v[Wf::ShortLivedRatio as usize] = self.short_lived as f64 / (flows + RATIO_PRIOR);
        v[Wf::SynOnly as usize] = self.syn_only as f64;
        v[Wf::SynOnlyRatio as usize] = self.syn_only as f64 / (tcp + RATIO_PRIOR);
        v[Wf::RstRatio as usize] = self.rst as f64 / (tcp + RATIO_PRIOR);
        v[Wf::OneWayRatio as usize] = self.one_way as f64 / (flows + RATIO_PRIOR);
        v[Wf::NewDsts as usize] = self.new_dsts as f64;
        v[Wf::NewDstRatio as usize] = self.new_dsts as f64 / (dsts + RATIO_PRIOR);
        v[Wf::BytesPerFlow as usize] = per_flow(self.bytes);
        v[Wf::PacketsPerFlow as usize] = per_flow(self.packets);
        v
    }
}

/// Natural values → the transformed vector the statistics use.
pub(crate) fn transform(natural: &[f64; N_WINDOW_FEATURES]) -> [f64; N_WINDOW_FEATURES] {
    let mut x = [0.0; N_WINDOW_FEATURES];
    for (i, f) in WINDOW_FEATURES.iter().enumerate() {
        x[i] = f.transform.apply(natural[i]);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_indices_follow_the_table() {
        let names = feature_names();
        assert_eq!(names.len(), N_WINDOW_FEATURES);
        assert_eq!(names[Wf::Flows as usize], "flows");
        assert_eq!(names[Wf::SynOnly as usize], "syn_only");
        assert_eq!(names[Wf::NewDsts as usize], "new_dsts");
        assert_eq!(names[Wf::PacketsPerFlow as usize], "packets_per_flow");
        let unique: HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn key_sets_switch_to_a_sketch_beyond_their_bound() {
        let mut s = KeySet::new(8);
        for i in 0..8u8 {
            s.insert(ip_hash(IpAddr::from([10, 0, 0, i])));
        }
        assert!(matches!(s, KeySet::Exact(..)));
        assert_eq!(s.count(), 8);
        for i in 0..200u8 {
            s.insert(ip_hash(IpAddr::from([10, 0, 1, i])));
        }
        assert!(matches!(s, KeySet::Sketch(..)));
        let n = s.count() as f64;
        assert!((n - 208.0).abs() < 208.0 * 0.05, "{n}");
    }
}

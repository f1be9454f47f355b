//! Traffic windows: fixed-width, epoch-aligned time buckets of traffic statistics, computed in
//! the meter's single pass and emitted as the packet clock passes their end.
//!
//! A [`Window`] is mergeable: [`Window::merge`] adds two windows (adjacent or not) into one
//! covering both, so hours, days and whole captures are merges of minute windows. Counts and
//! histograms merge exactly. Talkers and ports are [`TopK`] summaries: exact while a window has
//! at most `keep` distinct keys, with per-entry error bounds beyond. Distinct counts are exact
//! under the same condition and HyperLogLog estimates (±1.6 %) beyond. `docs/windows.md`
//! documents every field.

pub mod distinct;
pub mod report;
pub mod topk;

use std::net::IpAddr;

use packet::decode::{Decoded, PacketMeta};
use packet::IpAddrBytes;

use crate::direction::{Direction, HomeNet};
use crate::record::FlowRecord;
pub use distinct::Distinct;
pub use topk::{Counts, Rank, TopK};

/// Upper edges (inclusive) of the packet-size histogram's buckets, in bytes of frame length;
/// a last bucket holds larger frames.
pub const PACKET_SIZE_EDGES: [u32; 6] = [64, 128, 256, 512, 1024, 1518];
/// Lower edges of the flow-duration histogram's buckets after the first, in seconds: buckets are
/// `[0, 1)`, `[1, 5)`, … `[300, ∞)`.
pub const FLOW_DURATION_EDGES_S: [i64; 6] = [1, 5, 10, 30, 60, 300];
/// Shortest and longest window width (1 s … 1 h), µs.
pub const WIDTH_RANGE_US: (i64, i64) = (1_000_000, 3_600_000_000);

/// Protocol classes of the protocol mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtoClass {
    /// IP protocol 6.
    Tcp = 0,
    /// IP protocol 17.
    Udp = 1,
    /// ICMP and ICMPv6.
    Icmp = 2,
    /// Any other IP protocol.
    OtherIp = 3,
    /// Frames without a metered IP packet (ARP, LLDP, undecodable frames, and under the
    /// `nfstream` profile the frames NFStream ignores).
    NonIp = 4,
}

impl ProtoClass {
    /// Every class, in output order.
    pub const ALL: [ProtoClass; 5] = [
        ProtoClass::Tcp,
        ProtoClass::Udp,
        ProtoClass::Icmp,
        ProtoClass::OtherIp,
        ProtoClass::NonIp,
    ];

    /// Of an IP protocol number.
    pub fn of(proto: u8) -> Self {
        match proto {
            6 => ProtoClass::Tcp,
            17 => ProtoClass::Udp,
            1 | 58 => ProtoClass::Icmp,
            _ => ProtoClass::OtherIp,
        }
    }

    /// The name written to outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtoClass::Tcp => "tcp",
            ProtoClass::Udp => "udp",
            ProtoClass::Icmp => "icmp",
            ProtoClass::OtherIp => "other_ip",
            ProtoClass::NonIp => "non_ip",
        }
    }
}

/// Packets and bytes (frame lengths on the wire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Packets.
    pub packets: u64,
    /// Bytes of frame length.
    pub bytes: u64,
}

impl Counter {
    #[inline]
    fn add(&mut self, bytes: u64) {
        self.packets += 1;
        self.bytes += bytes;
    }

    fn merge(&mut self, o: &Counter) {
        self.packets += o.packets;
        self.bytes += o.bytes;
    }
}

/// TCP health counters. Flags are counted per TCP segment metered (the innermost TCP header
/// the profile decodes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpHealth {
    /// TCP segments.
    pub segments: u64,
    /// SYN without ACK.
    pub syn: u64,
    /// SYN with ACK.
    pub syn_ack: u64,
    /// FIN set.
    pub fin: u64,
    /// RST set.
    pub rst: u64,
    /// ACK alone (no SYN, FIN, RST) and no payload.
    pub pure_ack: u64,
    /// Retransmitted segments (tshark 4.0's `tcp.analysis.retransmission`, which includes fast
    /// and spurious retransmissions).
    pub retransmissions: u64,
}

impl TcpHealth {
    fn merge(&mut self, o: &TcpHealth) {
        self.segments += o.segments;
        self.syn += o.syn;
        self.syn_ack += o.syn_ack;
        self.fin += o.fin;
        self.rst += o.rst;
        self.pure_ack += o.pure_ack;
        self.retransmissions += o.retransmissions;
    }
}

/// One of the largest flows that ended in a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopFlow {
    /// Forward source address.
    pub src: IpAddr,
    /// Forward destination address.
    pub dst: IpAddr,
    /// Forward source port.
    pub sport: u16,
    /// Forward destination port.
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
    /// Packets, both directions.
    pub packets: u64,
    /// Frame bytes, both directions.
    pub bytes: u64,
    /// First packet, µs.
    pub first_us: i64,
    /// Last packet, µs.
    pub last_us: i64,
}

impl TopFlow {
    fn of(r: &FlowRecord) -> Self {
        TopFlow {
            src: r.src,
            dst: r.dst,
            sport: r.sport,
            dport: r.dport,
            proto: r.proto,
            packets: r.packets[0] + r.packets[1],
            bytes: r.wire_bytes[0] + r.wire_bytes[1],
            first_us: r.first.micros(),
            last_us: r.last.micros(),
        }
    }

    /// Larger first; ties broken by time and endpoints so the order is deterministic.
    fn order(a: &TopFlow, b: &TopFlow) -> std::cmp::Ordering {
        b.bytes
            .cmp(&a.bytes)
            .then(b.packets.cmp(&a.packets))
            .then(a.first_us.cmp(&b.first_us))
            .then(
                (a.src, a.dst, a.sport, a.dport, a.proto)
                    .cmp(&(b.src, b.dst, b.sport, b.dport, b.proto)),
            )
    }
}

/// Window settings.
#[derive(Clone, Debug)]
pub struct WindowConfig {
    /// Width, µs (within [`WIDTH_RANGE_US`]).
    pub width_us: i64,
    /// Keys each talker / port summary keeps exactly (see [`TopK`]).
    pub keep: usize,
    /// Largest flows listed per window.
    pub top_flows: usize,
    /// The home network, for the inbound/outbound split.
    pub home: HomeNet,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            width_us: 60_000_000,
            keep: 4096,
            top_flows: 10,
            home: HomeNet::default(),
        }
    }
}

/// A live capture's packet accounting over one window: what reached the capture, what was
/// metered and what was dropped, by cause (read at the window's end, so a second's slack).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
pub struct CaptureCounts {
    /// Packets received (by the kernel after the filter, plus those the interface dropped or
    /// that arrived while it was lost).
    pub received: u64,
    /// Packets handed to the meter.
    pub metered: u64,
    /// Dropped because the kernel's ring was full.
    pub dropped_kernel: u64,
    /// Dropped by the interface.
    pub dropped_interface: u64,
    /// Arrived while the interface's capture was lost.
    pub dropped_while_lost: u64,
}

impl CaptureCounts {
    fn add(&mut self, o: &CaptureCounts) {
        self.received += o.received;
        self.metered += o.metered;
        self.dropped_kernel += o.dropped_kernel;
        self.dropped_interface += o.dropped_interface;
        self.dropped_while_lost += o.dropped_while_lost;
    }
}

/// Traffic statistics of one time range.
#[derive(Clone, Debug)]
pub struct Window {
    /// A live capture's accounting over the window (`None` for files).
    pub capture: Option<CaptureCounts>,
    /// Start, µs since the epoch (inclusive).
    pub start_us: i64,
    /// End, µs since the epoch (exclusive).
    pub end_us: i64,
    /// Base windows merged into this one (1 for a base window).
    pub windows: u64,
    /// Time of the first and last packet counted, µs (`None` when empty).
    pub packet_span: Option<(i64, i64)>,
    /// Frames and their wire bytes.
    pub total: Counter,
    /// IP packet lengths summed (IPv4 total length, IPv6 40 + payload length).
    pub ip_bytes: u64,
    /// L4 payload bytes summed (from the IP length fields).
    pub payload_bytes: u64,
    /// Flows whose first packet fell in the window.
    pub flows_started: u64,
    /// Flows emitted in the window (by timeout, close, eviction or end of input).
    pub flows_ended: u64,
    /// Per [`ProtoClass`].
    pub protocols: [Counter; 5],
    /// IPv4 and IPv6 packets.
    pub ip_versions: [Counter; 2],
    /// Packet sizes by [`PACKET_SIZE_EDGES`].
    pub packet_sizes: [u64; 7],
    /// Durations of the flows that ended, by [`FLOW_DURATION_EDGES_S`].
    pub flow_durations: [u64; 7],
    /// TCP health.
    pub tcp: TcpHealth,
    /// Per [`Direction`] (inbound, outbound, internal, external).
    pub directions: [Counter; 4],
    /// Sources by bytes sent.
    pub src_ips: TopK<IpAddr>,
    /// Destinations by bytes received.
    pub dst_ips: TopK<IpAddr>,
    /// Destination ports of TCP, UDP and SCTP packets by packets, keyed `proto << 16 | port`.
    pub dst_ports: TopK<u32>,
    /// Distinct sources, destinations and destination ports (used when the summaries are not
    /// exact).
    pub distinct: [Distinct; 3],
    /// Packets with a destination port (the base of the port shares and entropy).
    pub port_packets: u64,
    /// The largest flows that ended in the window, largest first.
    pub top_flows: Vec<TopFlow>,
    top_flows_keep: usize,
}

/// Index of a direction in [`Window::directions`].
pub fn direction_index(d: Direction) -> usize {
    match d {
        Direction::Inbound => 0,
        Direction::Outbound => 1,
        Direction::Internal => 2,
        Direction::External => 3,
    }
}

/// Every direction, in [`Window::directions`] order.
pub const DIRECTIONS: [Direction; 4] = [
    Direction::Inbound,
    Direction::Outbound,
    Direction::Internal,
    Direction::External,
];

impl Window {
    /// An empty window over `[start_us, end_us)`.
    pub fn new(start_us: i64, end_us: i64, keep: usize, top_flows: usize) -> Self {
        Window {
            capture: None,
            start_us,
            end_us,
            windows: 1,
            packet_span: None,
            total: Counter::default(),
            ip_bytes: 0,
            payload_bytes: 0,
            flows_started: 0,
            flows_ended: 0,
            protocols: [Counter::default(); 5],
            ip_versions: [Counter::default(); 2],
            packet_sizes: [0; 7],
            flow_durations: [0; 7],
            tcp: TcpHealth::default(),
            directions: [Counter::default(); 4],
            src_ips: TopK::new(keep, Rank::Bytes),
            dst_ips: TopK::new(keep, Rank::Bytes),
            dst_ports: TopK::new(keep, Rank::Packets),
            distinct: Default::default(),
            port_packets: 0,
            top_flows: Vec::new(),
            top_flows_keep: top_flows,
        }
    }

    /// Width in seconds (end − start).
    pub fn duration_s(&self) -> f64 {
        (self.end_us - self.start_us) as f64 / 1e6
    }

    /// Counts a frame of any kind.
    #[inline]
    fn frame(&mut self, ts: i64, wire_len: u32) {
        self.packet_span = Some(match self.packet_span {
            None => (ts, ts),
            Some((a, b)) => (a.min(ts), b.max(ts)),
        });
        let bytes = wire_len as u64;
        self.total.add(bytes);
        let bucket = PACKET_SIZE_EDGES
            .iter()
            .position(|&e| wire_len <= e)
            .unwrap_or(PACKET_SIZE_EDGES.len());
        self.packet_sizes[bucket] += 1;
    }

    /// Counts a frame without a metered IP packet.
    #[inline]
    pub fn non_ip(&mut self, ts: i64, wire_len: u32) {
        self.frame(ts, wire_len);
        self.protocols[ProtoClass::NonIp as usize].add(wire_len as u64);
    }

    /// Counts an IP packet; `retrans` and `new_flow` come from the flow table.
    #[inline]
    pub fn ip(&mut self, m: &PacketMeta<'_>, home: &HomeNet, retrans: bool, new_flow: bool) {
        let bytes = m.wire_len as u64;
        self.frame(m.ts.0, m.wire_len);
        self.ip_bytes += m.ip_len as u64;
        self.payload_bytes += m.payload_len as u64;
        self.flows_started += new_flow as u64;
        self.protocols[ProtoClass::of(m.proto) as usize].add(bytes);
        self.ip_versions[(m.ip_version == 6) as usize].add(bytes);
        let src = m.src.to_ip(m.ip_version);
        let dst = m.dst.to_ip(m.ip_version);
        self.directions[direction_index(home.classify(src, dst))].add(bytes);
        self.src_ips.add(src, bytes);
        self.dst_ips.add(dst, bytes);
        self.distinct[0].insert(&m.src.0);
        self.distinct[1].insert(&m.dst.0);
        // Later fragments carry no L4 header, so no port.
        if matches!(m.proto, 6 | 17 | 132) && m.l4_header_len > 0 {
            let key = port_key(m.proto, crate::service::port_of(m.sport, m.dport, m.proto));
            self.dst_ports.add(key, bytes);
            self.distinct[2].insert(&port_key_bytes(key));
            self.port_packets += 1;
        }
        if let Some(t) = m.tcp {
            let f = t.flags;
            let h = &mut self.tcp;
            h.segments += 1;
            h.syn += (f & 0x12 == 0x02) as u64;
            h.syn_ack += (f & 0x12 == 0x12) as u64;
            h.fin += (f & 0x01 != 0) as u64;
            h.rst += (f & 0x04 != 0) as u64;
            h.pure_ack += (f & 0x17 == 0x10 && m.payload_len == 0) as u64;
            h.retransmissions += retrans as u64;
        }
    }

    /// Counts a flow that ended.
    pub fn flow_ended(&mut self, r: &FlowRecord) {
        self.flows_ended += 1;
        let secs = (r.last.micros() - r.first.micros()) / 1_000_000;
        let bucket = FLOW_DURATION_EDGES_S
            .iter()
            .position(|&e| secs < e)
            .unwrap_or(FLOW_DURATION_EDGES_S.len());
        self.flow_durations[bucket] += 1;
        if self.top_flows_keep == 0 {
            return;
        }
        let f = TopFlow::of(r);
        if self.top_flows.len() == self.top_flows_keep {
            match self.top_flows.last() {
                Some(l) if TopFlow::order(&f, l).is_lt() => {
                    self.top_flows.pop();
                }
                _ => return,
            }
        }
        let at = self
            .top_flows
            .partition_point(|x| TopFlow::order(x, &f).is_lt());
        self.top_flows.insert(at, f);
    }

    /// Adds `other` into `self`; the result covers both time ranges.
    pub fn merge(&mut self, o: &Window) {
        if o.windows == 0 {
            return;
        }
        self.start_us = self.start_us.min(o.start_us);
        self.end_us = self.end_us.max(o.end_us);
        self.windows += o.windows;
        self.packet_span = match (self.packet_span, o.packet_span) {
            (None, x) | (x, None) => x,
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
        };
        self.total.merge(&o.total);
        self.ip_bytes += o.ip_bytes;
        self.payload_bytes += o.payload_bytes;
        self.flows_started += o.flows_started;
        self.flows_ended += o.flows_ended;
        for (a, b) in self.protocols.iter_mut().zip(&o.protocols) {
            a.merge(b);
        }
        for (a, b) in self.ip_versions.iter_mut().zip(&o.ip_versions) {
            a.merge(b);
        }
        for (a, b) in self.packet_sizes.iter_mut().zip(&o.packet_sizes) {
            *a += b;
        }
        for (a, b) in self.flow_durations.iter_mut().zip(&o.flow_durations) {
            *a += b;
        }
        self.tcp.merge(&o.tcp);
        for (a, b) in self.directions.iter_mut().zip(&o.directions) {
            a.merge(b);
        }
        self.src_ips.merge(&o.src_ips);
        self.dst_ips.merge(&o.dst_ips);
        self.dst_ports.merge(&o.dst_ports);
        for (a, b) in self.distinct.iter_mut().zip(&o.distinct) {
            a.merge(b);
        }
        self.port_packets += o.port_packets;
        self.capture = match (self.capture, o.capture) {
            (None, x) | (x, None) => x,
            (Some(mut a), Some(b)) => {
                a.add(&b);
                Some(a)
            }
        };
        // Each flow ends in exactly one window, so the merged top list is exact.
        self.top_flows_keep = self.top_flows_keep.max(o.top_flows_keep);
        self.top_flows.extend(o.top_flows.iter().cloned());
        self.top_flows.sort_by(TopFlow::order);
        self.top_flows.truncate(self.top_flows_keep);
    }

    /// Reduces the talker and port summaries to at most `keep` keys each (for output: the
    /// bounds stay valid, see [`TopK::prune`]).
    pub fn compact(&mut self, keep: usize) {
        for t in [&mut self.src_ips, &mut self.dst_ips] {
            t.prune(keep);
        }
        self.dst_ports.prune(keep);
    }

    /// How many flows the top list keeps.
    pub fn top_flows_keep(&self) -> usize {
        self.top_flows_keep
    }

    /// Distinct sources: exact (`true`) when the source summary is, else estimated.
    pub fn unique_src_ips(&self) -> (u64, bool) {
        distinct_count(&self.src_ips, &self.distinct[0])
    }

    /// Distinct destinations.
    pub fn unique_dst_ips(&self) -> (u64, bool) {
        distinct_count(&self.dst_ips, &self.distinct[1])
    }

    /// Distinct destination (protocol, port) pairs.
    pub fn unique_dst_ports(&self) -> (u64, bool) {
        distinct_count(&self.dst_ports, &self.distinct[2])
    }

    /// Normalised Shannon entropy of the destination (protocol, port) distribution by packets:
    /// 0 when one port gets everything (or none), 1 when all ports seen are equally used.
    /// Exact when the port summary is; otherwise the unlisted ports' packets are taken as
    /// spread evenly over the estimated number of unlisted ports.
    pub fn port_entropy(&self) -> f64 {
        let total = self.port_packets as f64;
        let (n, _) = self.unique_dst_ports();
        if total == 0.0 || n <= 1 {
            return 0.0;
        }
        let mut h = 0.0;
        let mut listed = 0.0;
        // In a fixed order, so equal windows give bit-identical results.
        for (_, c) in self.dst_ports.top(self.dst_ports.len()).iter() {
            let p = c.packets as f64 / total;
            listed += c.packets as f64;
            if p > 0.0 {
                h -= p * p.log2();
            }
        }
        let rest_keys = n.saturating_sub(self.dst_ports.len() as u64) as f64;
        let rest = (total - listed).max(0.0);
        if rest_keys > 0.0 && rest > 0.0 {
            let p = rest / total / rest_keys;
            h -= rest_keys * p * p.log2();
        }
        (h / (n as f64).log2()).clamp(0.0, 1.0)
    }
}

fn distinct_count<K: std::hash::Hash + Eq + Copy + Ord>(t: &TopK<K>, d: &Distinct) -> (u64, bool) {
    if t.is_exact() {
        (t.len() as u64, true)
    } else {
        (d.estimate().round() as u64, false)
    }
}

/// The key of a (protocol, port) pair in the port summaries.
#[inline]
pub fn port_key(proto: u8, port: u16) -> u32 {
    (proto as u32) << 16 | port as u32
}

/// The distinct-sketch key of a port key.
#[inline]
pub fn port_key_bytes(key: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&key.to_be_bytes());
    b[4] = 0xfe;
    b
}

/// The distinct-sketch key of an address.
#[inline]
pub fn ip_key_bytes(ip: IpAddr) -> [u8; 16] {
    IpAddrBytes::from_ip(ip).0
}

/// The open window for `ts` (see [`Windower`]); a finished one moves to `done`.
#[inline]
fn open_window<'a>(
    current: &'a mut Option<Window>,
    done: &mut Vec<Window>,
    cfg: &WindowConfig,
    ts: i64,
) -> &'a mut Window {
    let w = cfg.width_us;
    let fresh = match current {
        Some(cur) => ts >= cur.end_us,
        None => true,
    };
    if fresh {
        if let Some(finished) = current.take() {
            done.push(finished);
        }
        // Saturating: a hand-made time near the ends of i64 must not overflow (the meter's
        // clock keeps its times within 1970…2106, see `crate::clock`).
        let start = ts.saturating_sub(ts.rem_euclid(w));
        *current = Some(Window::new(
            start,
            start.saturating_add(w),
            cfg.keep,
            cfg.top_flows,
        ));
    }
    current.get_or_insert_with(|| Window::new(ts, ts.saturating_add(w), cfg.keep, cfg.top_flows))
}

/// Cuts the packet stream into windows. Owned by the meter; windows are collected in order and
/// taken with [`Windower::drain`].
#[derive(Debug)]
pub struct Windower {
    cfg: WindowConfig,
    current: Option<Window>,
    done: Vec<Window>,
    /// The latest time the clock advanced to without a frame ([`Windower::advance`]).
    advanced: Option<i64>,
}

impl Windower {
    /// A windower with the given settings (the width is clamped to [`WIDTH_RANGE_US`]).
    pub fn new(mut cfg: WindowConfig) -> Self {
        cfg.width_us = cfg.width_us.clamp(WIDTH_RANGE_US.0, WIDTH_RANGE_US.1);
        Windower {
            cfg,
            current: None,
            done: Vec::new(),
            advanced: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &WindowConfig {
        &self.cfg
    }

    /// The window `ts` belongs in: the open one, or a new one once `ts` passed its end. A late
    /// packet (before the open window) counts in the open window.
    #[inline]
    fn at(&mut self, ts: i64) -> &mut Window {
        open_window(&mut self.current, &mut self.done, &self.cfg, ts)
    }

    /// Counts one decoded frame at capture time `ts`.
    #[inline]
    pub fn frame(&mut self, ts: i64, wire_len: u32, d: &Decoded<'_>, retrans: bool, new: bool) {
        match d {
            Decoded::Ip(m) => {
                let w = open_window(&mut self.current, &mut self.done, &self.cfg, ts);
                w.ip(m, &self.cfg.home, retrans, new);
            }
            _ => self.at(ts).non_ip(ts, wire_len),
        }
    }

    /// Counts a frame that could not be decoded.
    pub fn undecoded(&mut self, ts: i64, wire_len: u32) {
        self.at(ts).non_ip(ts, wire_len);
    }

    /// Counts flows that ended, in the open window (the one of the packet that ended them, or
    /// of the time the clock advanced to).
    pub fn flows_ended(&mut self, recs: &[FlowRecord]) {
        if recs.is_empty() {
            return;
        }
        let ts = match (&self.current, self.advanced) {
            (Some(c), _) => c.start_us,
            (None, Some(t)) => t,
            (None, None) => recs[0].last.micros(),
        };
        let w = self.at(ts);
        for r in recs {
            w.flow_ended(r);
        }
    }

    /// The clock advanced to `now` without a frame: the open window closes if it ends at or
    /// before `now`. The next window opens with the next frame, or with flows ended meanwhile
    /// (in the window of `now`).
    pub fn advance(&mut self, now: i64) {
        if self.current.as_ref().is_some_and(|c| now >= c.end_us) {
            if let Some(finished) = self.current.take() {
                self.done.push(finished);
            }
        }
        self.advanced = Some(self.advanced.map_or(now, |t| t.max(now)));
    }

    /// Closes the open window (end of input).
    pub fn finish(&mut self) {
        if let Some(cur) = self.current.take() {
            self.done.push(cur);
        }
    }

    /// Moves the finished windows, oldest first, to `out`.
    pub fn drain(&mut self, out: &mut Vec<Window>) {
        out.append(&mut self.done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_size_buckets_follow_the_documented_edges() {
        let mut w = Window::new(0, 60_000_000, 8, 4);
        for len in [60, 64, 65, 128, 1518, 1519, 9000] {
            w.non_ip(0, len);
        }
        assert_eq!(w.packet_sizes, [2, 2, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn windows_are_epoch_aligned_and_late_packets_stay_in_the_open_window() {
        let mut win = Windower::new(WindowConfig::default());
        let d = Decoded::NonIp { ethertype: 0x806 };
        win.frame(59_999_999, 60, &d, false, false);
        win.frame(60_000_000, 60, &d, false, false);
        win.frame(59_000_000, 60, &d, false, false);
        win.frame(185_000_000, 60, &d, false, false);
        win.finish();
        let mut out = Vec::new();
        win.drain(&mut out);
        let spans: Vec<_> = out
            .iter()
            .map(|w| (w.start_us, w.end_us, w.total.packets))
            .collect();
        assert_eq!(
            spans,
            vec![
                (0, 60_000_000, 1),
                (60_000_000, 120_000_000, 2),
                (180_000_000, 240_000_000, 1)
            ]
        );
    }

    #[test]
    fn times_at_the_ends_of_the_range_saturate_instead_of_overflowing() {
        let mut win = Windower::new(WindowConfig::default());
        let d = Decoded::NonIp { ethertype: 0x806 };
        win.frame(i64::MIN + 1, 60, &d, false, false);
        win.frame(i64::MAX, 60, &d, false, false);
        win.finish();
        let mut out = Vec::new();
        win.drain(&mut out);
        let spans: Vec<_> = out.iter().map(|w| (w.start_us, w.end_us)).collect();
        let top = i64::MAX - i64::MAX.rem_euclid(60_000_000);
        assert_eq!(
            spans,
            vec![(i64::MIN, i64::MIN + 60_000_000), (top, i64::MAX)]
        );
    }
}

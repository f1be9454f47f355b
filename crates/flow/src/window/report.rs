//! The JSON form of a window (`docs/windows.md` is its schema). It carries the derived figures
//! (rates, ratios, shares) for readers and everything [`Window::merge`] needs, so windows read
//! back from JSON roll up exactly as in memory.

use std::net::IpAddr;

use base64::Engine;
use packet::Timestamp;
use serde::{Deserialize, Serialize};

use super::{
    ip_key_bytes, port_key, port_key_bytes, Counter, Counts, Distinct, Rank, TcpHealth, TopFlow,
    TopK, Window, FLOW_DURATION_EDGES_S, PACKET_SIZE_EDGES,
};
use crate::service;

/// Version of this schema, written in every window.
pub const SCHEMA_VERSION: u32 = 1;

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Packets and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CounterJson {
    /// Packets.
    pub packets: u64,
    /// Bytes of frame length.
    pub bytes: u64,
}

impl From<Counter> for CounterJson {
    fn from(c: Counter) -> Self {
        CounterJson {
            packets: c.packets,
            bytes: c.bytes,
        }
    }
}

impl From<CounterJson> for Counter {
    fn from(c: CounterJson) -> Self {
        Counter {
            packets: c.packets,
            bytes: c.bytes,
        }
    }
}

/// Per protocol class.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Protocols {
    /// TCP.
    pub tcp: CounterJson,
    /// UDP.
    pub udp: CounterJson,
    /// ICMP and ICMPv6.
    pub icmp: CounterJson,
    /// Other IP protocols.
    pub other_ip: CounterJson,
    /// Frames without a metered IP packet.
    pub non_ip: CounterJson,
}

/// Shares of the protocol mix (0…1; "other" is other IP plus non-IP).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mix {
    /// TCP.
    pub tcp: f64,
    /// UDP.
    pub udp: f64,
    /// ICMP.
    pub icmp: f64,
    /// Everything else.
    pub other: f64,
}

/// Protocol shares by packets and by bytes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ratios {
    /// By packets.
    pub packets: Mix,
    /// By bytes.
    pub bytes: Mix,
}

/// IP versions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IpVersions {
    /// IPv4.
    pub ipv4: CounterJson,
    /// IPv6.
    pub ipv6: CounterJson,
}

/// A distinct count and whether it is exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UniqueCount {
    /// The count (a HyperLogLog estimate when not exact).
    pub count: u64,
    /// Whether the count is exact.
    pub exact: bool,
}

/// Distinct counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Unique {
    /// Source addresses.
    pub src_ips: UniqueCount,
    /// Destination addresses.
    pub dst_ips: UniqueCount,
    /// Destination (protocol, port) pairs.
    pub dst_ports: UniqueCount,
}

/// A histogram: `counts` has one more entry than `edges`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Histogram {
    /// Bucket edges (see `docs/windows.md` for which side is inclusive).
    pub edges: Vec<i64>,
    /// Counts per bucket.
    pub counts: Vec<u64>,
}

/// TCP health.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TcpJson {
    /// TCP segments.
    pub segments: u64,
    /// SYN without ACK.
    pub syn: u64,
    /// SYN-ACK.
    pub syn_ack: u64,
    /// FIN.
    pub fin: u64,
    /// RST.
    pub rst: u64,
    /// ACK only, no payload.
    pub pure_ack: u64,
    /// Retransmitted segments.
    pub retransmissions: u64,
    /// `syn / syn_ack`; `null` without SYN-ACKs.
    pub syn_per_syn_ack: Option<f64>,
    /// `rst / segments`.
    pub rst_rate: f64,
    /// `retransmissions / segments`.
    pub retransmission_rate: f64,
}

/// Traffic relative to the home network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Directions {
    /// From outside into the home network.
    pub inbound: CounterJson,
    /// From the home network out.
    pub outbound: CounterJson,
    /// Both ends at home.
    pub internal: CounterJson,
    /// Neither end at home.
    pub external: CounterJson,
}

/// One address of a talker list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Talker {
    /// The address.
    #[schema(value_type = String)]
    pub ip: IpAddr,
    /// Packets (a lower bound when `err_packets` > 0).
    pub packets: u64,
    /// Bytes (a lower bound when `err_bytes` > 0).
    pub bytes: u64,
    /// `bytes / window bytes`.
    pub share: f64,
    /// Up to this many packets may be missing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub err_packets: u64,
    /// Up to this many bytes may be missing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub err_bytes: u64,
}

/// One destination port of a port list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Port {
    /// `tcp`, `udp` or `sctp`.
    pub proto: String,
    /// The port.
    pub port: u16,
    /// IANA service name, or "".
    pub service: String,
    /// Packets (a lower bound when `err_packets` > 0).
    pub packets: u64,
    /// Bytes (a lower bound when `err_bytes` > 0).
    pub bytes: u64,
    /// `packets / packets with a port`.
    pub share: f64,
    /// Up to this many packets may be missing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub err_packets: u64,
    /// Up to this many bytes may be missing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub err_bytes: u64,
}

/// A summary list with what merging needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Summary<E> {
    /// Whether every key is listed with exact counts.
    pub exact: bool,
    /// Keys the summary keeps.
    pub keep: usize,
    /// No unlisted key has more packets than this.
    pub threshold_packets: u64,
    /// No unlisted key has more bytes than this.
    pub threshold_bytes: u64,
    /// The HyperLogLog registers, base64, when not exact (else rebuilt from the entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sketch: Option<String>,
    /// Entries, largest first.
    pub entries: Vec<E>,
}

/// A flow of the top list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FlowJson {
    /// Forward source.
    #[schema(value_type = String)]
    pub src: IpAddr,
    /// Forward destination.
    #[schema(value_type = String)]
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// IP protocol number.
    pub proto: u8,
    /// IANA service name of the destination port, or "".
    pub service: String,
    /// Packets.
    pub packets: u64,
    /// Frame bytes.
    pub bytes: u64,
    /// First packet, µs since the epoch.
    pub first_us: i64,
    /// Last packet, µs since the epoch.
    pub last_us: i64,
}

/// A window as written to JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WindowReport {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema: u32,
    /// Start, RFC 3339 UTC.
    pub start: String,
    /// End (exclusive), RFC 3339 UTC.
    pub end: String,
    /// Start, µs since the epoch.
    pub start_us: i64,
    /// End, µs since the epoch.
    pub end_us: i64,
    /// `end − start`, seconds.
    pub duration_s: f64,
    /// Base windows merged into this one.
    pub windows: u64,
    /// First packet counted, µs.
    pub first_packet_us: Option<i64>,
    /// Last packet counted, µs.
    pub last_packet_us: Option<i64>,
    /// Frames.
    pub packets: u64,
    /// Frame bytes on the wire.
    pub bytes: u64,
    /// IP bytes.
    pub ip_bytes: u64,
    /// L4 payload bytes.
    pub payload_bytes: u64,
    /// `packets / duration_s`.
    pub packets_per_s: f64,
    /// `bytes / duration_s`.
    pub bytes_per_s: f64,
    /// Flows started.
    pub flows_started: u64,
    /// Flows ended.
    pub flows_ended: u64,
    /// Per protocol class.
    pub protocols: Protocols,
    /// Shares of the protocol mix.
    pub protocol_ratios: Ratios,
    /// IPv4 / IPv6.
    pub ip_versions: IpVersions,
    /// Distinct counts.
    pub unique: Unique,
    /// TCP, UDP and SCTP packets with a destination port (the base of `dst_ports` shares and
    /// of `port_entropy`).
    pub port_packets: u64,
    /// Normalised entropy of destination ports (0…1).
    pub port_entropy: f64,
    /// Frame sizes, bytes: bucket i holds sizes ≤ edges[i] (and > edges[i−1]); the last, > the
    /// last edge.
    pub packet_sizes: Histogram,
    /// Durations of flows ended, seconds: bucket 0 is < edges[0], bucket i is [edges[i−1],
    /// edges[i]), the last ≥ the last edge.
    pub flow_durations: Histogram,
    /// TCP health.
    pub tcp: TcpJson,
    /// Relative to the home network.
    pub directions: Directions,
    /// Sources by bytes sent.
    pub src_ips: Summary<Talker>,
    /// Destinations by bytes received.
    pub dst_ips: Summary<Talker>,
    /// Destination ports by packets.
    pub dst_ports: Summary<Port>,
    /// Flows kept in `top_flows`.
    pub top_flows_keep: usize,
    /// Largest flows that ended here, by bytes.
    pub top_flows: Vec<FlowJson>,
    /// A live capture's accounting over the window (absent for files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<super::CaptureCounts>,
}

/// A window read from JSON that does not hold together.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A histogram with the wrong number of buckets.
    #[error("{0}: expected {1} buckets, found {2}")]
    Histogram(&'static str, usize, usize),
    /// A port entry with an unknown protocol.
    #[error("dst_ports: unknown protocol {0:?}")]
    Protocol(String),
    /// A sketch that is not valid base64 of the register array.
    #[error("{0}.sketch: not a HyperLogLog sketch")]
    Sketch(&'static str),
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn proto_name(p: u8) -> &'static str {
    match p {
        6 => "tcp",
        17 => "udp",
        132 => "sctp",
        _ => "ip",
    }
}

fn proto_number(s: &str) -> Option<u8> {
    match s {
        "tcp" => Some(6),
        "udp" => Some(17),
        "sctp" => Some(132),
        _ => None,
    }
}

fn sketch_of<K: std::hash::Hash + Eq + Copy + Ord>(t: &TopK<K>, d: &Distinct) -> Option<String> {
    (!t.is_exact()).then(|| base64::engine::general_purpose::STANDARD.encode(d.registers()))
}

fn mix(c: &[Counter; 5], f: impl Fn(&Counter) -> u64) -> Mix {
    let total: u64 = c.iter().map(&f).sum();
    Mix {
        tcp: ratio(f(&c[0]), total),
        udp: ratio(f(&c[1]), total),
        icmp: ratio(f(&c[2]), total),
        other: ratio(f(&c[3]) + f(&c[4]), total),
    }
}

impl Window {
    /// The JSON form.
    pub fn report(&self) -> WindowReport {
        let dur = self.duration_s();
        let p = &self.protocols;
        let t = &self.tcp;
        let talkers = |s: &TopK<IpAddr>, d: &Distinct| Summary {
            exact: s.is_exact(),
            keep: s.keep(),
            threshold_packets: s.threshold().0,
            threshold_bytes: s.threshold().1,
            sketch: sketch_of(s, d),
            entries: s
                .top(s.len())
                .into_iter()
                .map(|(ip, c)| Talker {
                    ip,
                    packets: c.packets,
                    bytes: c.bytes,
                    share: ratio(c.bytes, self.total.bytes),
                    err_packets: c.err_packets,
                    err_bytes: c.err_bytes,
                })
                .collect(),
        };
        let ports = &self.dst_ports;
        let (us, ud, up) = (
            self.unique_src_ips(),
            self.unique_dst_ips(),
            self.unique_dst_ports(),
        );
        let uc = |(count, exact): (u64, bool)| UniqueCount { count, exact };
        WindowReport {
            schema: SCHEMA_VERSION,
            start: Timestamp(self.start_us).rfc3339(),
            end: Timestamp(self.end_us).rfc3339(),
            start_us: self.start_us,
            end_us: self.end_us,
            duration_s: dur,
            windows: self.windows,
            first_packet_us: self.packet_span.map(|s| s.0),
            last_packet_us: self.packet_span.map(|s| s.1),
            packets: self.total.packets,
            bytes: self.total.bytes,
            ip_bytes: self.ip_bytes,
            payload_bytes: self.payload_bytes,
            packets_per_s: if dur > 0.0 {
                self.total.packets as f64 / dur
            } else {
                0.0
            },
            bytes_per_s: if dur > 0.0 {
                self.total.bytes as f64 / dur
            } else {
                0.0
            },
            flows_started: self.flows_started,
            flows_ended: self.flows_ended,
            protocols: Protocols {
                tcp: p[0].into(),
                udp: p[1].into(),
                icmp: p[2].into(),
                other_ip: p[3].into(),
                non_ip: p[4].into(),
            },
            protocol_ratios: Ratios {
                packets: mix(p, |c| c.packets),
                bytes: mix(p, |c| c.bytes),
            },
            ip_versions: IpVersions {
                ipv4: self.ip_versions[0].into(),
                ipv6: self.ip_versions[1].into(),
            },
            unique: Unique {
                src_ips: uc(us),
                dst_ips: uc(ud),
                dst_ports: uc(up),
            },
            port_packets: self.port_packets,
            port_entropy: self.port_entropy(),
            packet_sizes: Histogram {
                edges: PACKET_SIZE_EDGES.iter().map(|&e| e as i64).collect(),
                counts: self.packet_sizes.to_vec(),
            },
            flow_durations: Histogram {
                edges: FLOW_DURATION_EDGES_S.to_vec(),
                counts: self.flow_durations.to_vec(),
            },
            tcp: TcpJson {
                segments: t.segments,
                syn: t.syn,
                syn_ack: t.syn_ack,
                fin: t.fin,
                rst: t.rst,
                pure_ack: t.pure_ack,
                retransmissions: t.retransmissions,
                syn_per_syn_ack: (t.syn_ack > 0).then(|| ratio(t.syn, t.syn_ack)),
                rst_rate: ratio(t.rst, t.segments),
                retransmission_rate: ratio(t.retransmissions, t.segments),
            },
            directions: Directions {
                inbound: self.directions[0].into(),
                outbound: self.directions[1].into(),
                internal: self.directions[2].into(),
                external: self.directions[3].into(),
            },
            src_ips: talkers(&self.src_ips, &self.distinct[0]),
            dst_ips: talkers(&self.dst_ips, &self.distinct[1]),
            dst_ports: Summary {
                exact: ports.is_exact(),
                keep: ports.keep(),
                threshold_packets: ports.threshold().0,
                threshold_bytes: ports.threshold().1,
                sketch: sketch_of(ports, &self.distinct[2]),
                entries: ports
                    .top(ports.len())
                    .into_iter()
                    .map(|(k, c)| {
                        let (proto, port) = ((k >> 16) as u8, k as u16);
                        Port {
                            proto: proto_name(proto).to_string(),
                            port,
                            service: service::name(port, proto).to_string(),
                            packets: c.packets,
                            bytes: c.bytes,
                            share: ratio(c.packets, self.port_packets),
                            err_packets: c.err_packets,
                            err_bytes: c.err_bytes,
                        }
                    })
                    .collect(),
            },
            top_flows_keep: self.top_flows_keep(),
            top_flows: self
                .top_flows
                .iter()
                .map(|f| FlowJson {
                    src: f.src,
                    dst: f.dst,
                    sport: f.sport,
                    dport: f.dport,
                    proto: f.proto,
                    service: service::name(f.dport, f.proto).to_string(),
                    packets: f.packets,
                    bytes: f.bytes,
                    first_us: f.first_us,
                    last_us: f.last_us,
                })
                .collect(),
            capture: self.capture,
        }
    }

    /// Rebuilds a mergeable window from its JSON form.
    pub fn from_report(r: &WindowReport) -> Result<Window, ReportError> {
        let mut w = Window::new(r.start_us, r.end_us, r.src_ips.keep, r.top_flows_keep);
        w.windows = r.windows;
        w.capture = r.capture;
        w.packet_span = r.first_packet_us.zip(r.last_packet_us);
        w.total = Counter {
            packets: r.packets,
            bytes: r.bytes,
        };
        w.ip_bytes = r.ip_bytes;
        w.payload_bytes = r.payload_bytes;
        w.flows_started = r.flows_started;
        w.flows_ended = r.flows_ended;
        let p = &r.protocols;
        w.protocols = [
            p.tcp.into(),
            p.udp.into(),
            p.icmp.into(),
            p.other_ip.into(),
            p.non_ip.into(),
        ];
        w.ip_versions = [r.ip_versions.ipv4.into(), r.ip_versions.ipv6.into()];
        w.packet_sizes = buckets("packet_sizes", &r.packet_sizes.counts)?;
        w.flow_durations = buckets("flow_durations", &r.flow_durations.counts)?;
        let t = &r.tcp;
        w.tcp = TcpHealth {
            segments: t.segments,
            syn: t.syn,
            syn_ack: t.syn_ack,
            fin: t.fin,
            rst: t.rst,
            pure_ack: t.pure_ack,
            retransmissions: t.retransmissions,
        };
        let d = &r.directions;
        w.directions = [
            d.inbound.into(),
            d.outbound.into(),
            d.internal.into(),
            d.external.into(),
        ];
        let talkers = |s: &Summary<Talker>, name: &'static str| {
            let top = TopK::from_parts(
                s.keep,
                Rank::Bytes,
                s.entries.iter().map(|e| {
                    (
                        e.ip,
                        Counts {
                            packets: e.packets,
                            bytes: e.bytes,
                            err_packets: e.err_packets,
                            err_bytes: e.err_bytes,
                        },
                    )
                }),
                (s.threshold_packets, s.threshold_bytes),
            );
            let d = sketch(s.sketch.as_deref(), name, || {
                s.entries.iter().map(|e| ip_key_bytes(e.ip)).collect()
            })?;
            Ok::<_, ReportError>((top, d))
        };
        let (src, d0) = talkers(&r.src_ips, "src_ips")?;
        let (dst, d1) = talkers(&r.dst_ips, "dst_ips")?;
        let mut port_entries = Vec::with_capacity(r.dst_ports.entries.len());
        for e in &r.dst_ports.entries {
            let proto =
                proto_number(&e.proto).ok_or_else(|| ReportError::Protocol(e.proto.clone()))?;
            port_entries.push((
                port_key(proto, e.port),
                Counts {
                    packets: e.packets,
                    bytes: e.bytes,
                    err_packets: e.err_packets,
                    err_bytes: e.err_bytes,
                },
            ));
        }
        let d2 = sketch(r.dst_ports.sketch.as_deref(), "dst_ports", || {
            port_entries
                .iter()
                .map(|(k, _)| port_key_bytes(*k))
                .collect()
        })?;
        let ps = &r.dst_ports;
        w.dst_ports = TopK::from_parts(
            ps.keep,
            Rank::Packets,
            port_entries,
            (ps.threshold_packets, ps.threshold_bytes),
        );
        w.src_ips = src;
        w.dst_ips = dst;
        w.distinct = [d0, d1, d2];
        w.port_packets = r.port_packets;
        w.top_flows = r
            .top_flows
            .iter()
            .map(|f| TopFlow {
                src: f.src,
                dst: f.dst,
                sport: f.sport,
                dport: f.dport,
                proto: f.proto,
                packets: f.packets,
                bytes: f.bytes,
                first_us: f.first_us,
                last_us: f.last_us,
            })
            .collect();
        Ok(w)
    }
}

fn buckets(name: &'static str, counts: &[u64]) -> Result<[u64; 7], ReportError> {
    counts
        .try_into()
        .map_err(|_| ReportError::Histogram(name, 7, counts.len()))
}

fn sketch(
    b64: Option<&str>,
    name: &'static str,
    keys: impl FnOnce() -> Vec<[u8; 16]>,
) -> Result<Distinct, ReportError> {
    match b64 {
        Some(s) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .ok()
            .and_then(|b| Distinct::from_registers(&b))
            .ok_or(ReportError::Sketch(name)),
        None => {
            let mut d = Distinct::default();
            for k in keys() {
                d.insert(&k);
            }
            Ok(d)
        }
    }
}

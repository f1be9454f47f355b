//! `FlowRecord`: one finished flow, as every exporter and store sees it.

use std::fmt;
use std::net::IpAddr;

use packet::Timestamp;

use crate::direction::Direction;
use crate::features::N_FEATURES;

/// Why a flow was emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// No packet for the idle timeout.
    Idle,
    /// The active timeout since its first packet passed (or, under `cic`, an ICMP packet of a
    /// new type and code arrived).
    Active,
    /// TCP closed with a FIN in each direction and the last ACK.
    Fin,
    /// TCP reset.
    Rst,
    /// The input ended while the flow was open.
    Eof,
    /// The table was full and this was the oldest flow.
    Evicted,
    /// The process was asked to stop.
    Shutdown,
}

impl EndReason {
    /// Every reason, in display order.
    pub const ALL: [EndReason; 7] = [
        EndReason::Idle,
        EndReason::Active,
        EndReason::Fin,
        EndReason::Rst,
        EndReason::Eof,
        EndReason::Evicted,
        EndReason::Shutdown,
    ];

    /// The name written to outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Idle => "idle",
            EndReason::Active => "active",
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::Eof => "eof",
            EndReason::Evicted => "evicted",
            EndReason::Shutdown => "shutdown",
        }
    }

    /// The reason named by [`EndReason::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        EndReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Application metadata seen in a flow's first payload packets (see `crate::app`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppMeta {
    /// DNS question names, distinct, in the order seen (at most `app::MAX_DNS_NAMES`).
    pub dns_queries: Vec<String>,
    /// Response code (RCODE) of the first DNS response.
    pub dns_rcode: Option<u8>,
    /// TLS server name indication of the ClientHello.
    pub tls_sni: Option<String>,
    /// ALPN protocols the ClientHello offers, comma-separated in its order.
    pub tls_alpn: Option<String>,
    /// HTTP `Host` of the first request.
    pub http_host: Option<String>,
    /// HTTP method of the first request.
    pub http_method: Option<String>,
    /// HTTP request target (URI) of the first request, as sent (at most
    /// `app::http::MAX_URI_BYTES` bytes).
    pub http_uri: Option<String>,
    /// HTTP `User-Agent` of the first request (at most `app::http::MAX_USER_AGENT_BYTES`
    /// bytes).
    pub http_user_agent: Option<String>,
}

impl AppMeta {
    /// The first DNS question name.
    pub fn dns_query(&self) -> Option<&str> {
        self.dns_queries.first().map(String::as_str)
    }
}

/// A finished bidirectional flow. "Forward" is the direction of its first packet (or the
/// client, for a flow that began with a SYN-ACK).
#[derive(Clone, Debug)]
pub struct FlowRecord {
    /// Sequence number of the flow in this run (emission order).
    pub id: u64,
    /// Forward source address.
    pub src: IpAddr,
    /// Forward destination address.
    pub dst: IpAddr,
    /// Forward source port.
    pub sport: u16,
    /// Forward destination port.
    pub dport: u16,
    /// IP protocol (as the profile keys it).
    pub proto: u8,
    /// Outer VLAN id of the first packet.
    pub vlan: Option<u16>,
    /// Tunnel kind the packets came in (0 = none).
    pub tunnel: u8,
    /// First packet time.
    pub first: Timestamp,
    /// Last packet time.
    pub last: Timestamp,
    /// Why the flow ended.
    pub end_reason: EndReason,
    /// Packets, forward and backward.
    pub packets: [u64; 2],
    /// Counted bytes (L4 payload under `cic`, wire under `nfstream`), forward and backward.
    pub bytes: [u64; 2],
    /// Frame lengths on the wire summed, forward and backward.
    pub wire_bytes: [u64; 2],
    /// IP packet lengths summed, forward and backward (Zeek's `orig_ip_bytes`/`resp_ip_bytes`).
    pub ip_bytes: [u64; 2],
    /// TCP retransmissions (tshark 4.0's `tcp.analysis.retransmission`, see `tcp_analysis`),
    /// forward and backward.
    pub retrans: [u32; 2],
    /// The feature vector in [`crate::features::FEATURES`] order.
    pub features: [f64; N_FEATURES],
    /// Application metadata.
    pub app: AppMeta,
    /// The application protocol identified from the payload (or the IP protocol number), not
    /// the port: see `crate::app::identify`.
    pub application: crate::app::Application,
    /// Service name of the destination port (or "" when unknown).
    pub service: &'static str,
    /// Country and autonomous system of the source and the destination (filled by the
    /// pipeline's enrichment from GeoIP databases; empty for non-global addresses).
    pub geo: [crate::geo::Geo; 2],
    /// The device inventory's key of the source's and the destination's device (its MAC
    /// address, or its IP address where no MAC is known), where the pipeline's enrichment knows
    /// one.
    pub devices: [Option<std::sync::Arc<str>>; 2],
    /// Direction relative to the home network.
    pub direction: Direction,
}

impl FlowRecord {
    /// `src-dst-sport-dport-proto` of the forward direction.
    pub fn flow_id(&self) -> String {
        format!(
            "{}-{}-{}-{}-{}",
            self.src, self.dst, self.sport, self.dport, self.proto
        )
    }

    /// A feature's value.
    pub fn feature(&self, f: crate::features::F) -> f64 {
        self.features[f as usize]
    }

    /// Total packets.
    pub fn total_packets(&self) -> u64 {
        self.packets[0] + self.packets[1]
    }

    /// The flow's Community ID v1 (seed 0; see [`crate::community_id`]), or `None` where the
    /// record lacks what the hash reads (the spec allows an empty value there): protocol 0
    /// (under `cic`, any protocol but TCP, UDP, ICMP and ICMPv6, and later fragments: the real
    /// number is not kept), ICMP without the first packet's type and code (the `nfstream`
    /// profile reads none), and SCTP without ports (`nfstream` reads none; port 0 is not a
    /// valid SCTP port). Computed on demand, at export: never while metering.
    pub fn community_id(&self) -> Option<String> {
        self.community_id_seeded(0)
    }

    /// [`FlowRecord::community_id`] with another seed (for monitors configured with one).
    pub fn community_id_seeded(&self, seed: u16) -> Option<String> {
        let (sport, dport) = match self.proto {
            0 => return None,
            1 | 58 => {
                let t = self.feature(crate::features::F::IcmpType);
                let c = self.feature(crate::features::F::IcmpCode);
                if !(0.0..=255.0).contains(&t) || !(0.0..=255.0).contains(&c) {
                    return None;
                }
                (t as u16, c as u16)
            }
            132 if self.sport == 0 && self.dport == 0 => return None,
            _ => (self.sport, self.dport),
        };
        Some(crate::community_id::community_id(
            self.src, self.dst, sport, dport, self.proto, seed,
        ))
    }
}

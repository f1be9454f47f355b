//! Metering profiles: how packets are keyed, split and measured.

use packet::decode::{Fragment, PacketMeta};

use packet::DecodeOptions;

/// A named set of flow-construction rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// netvigil's default: the fixed CICFlowMeter's semantics (see `docs/features.md`).
    Cic,
    /// NFStream/nDPI semantics, for comparison with their ground truth.
    Nfstream,
}

impl Profile {
    /// Parses `cic` or `nfstream`.
    pub fn parse(s: &str) -> Option<Profile> {
        match s {
            "cic" => Some(Profile::Cic),
            "nfstream" => Some(Profile::Nfstream),
            _ => None,
        }
    }

    /// The profile's name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Cic => "cic",
            Profile::Nfstream => "nfstream",
        }
    }

    /// Default idle timeout, µs.
    pub fn default_idle_us(self) -> i64 {
        120_000_000
    }

    /// Default active timeout, µs.
    pub fn default_active_us(self) -> i64 {
        match self {
            Profile::Cic => 120_000_000,
            Profile::Nfstream => 1_800_000_000,
        }
    }

    /// Decoder settings the profile needs.
    pub fn decode_options(self) -> DecodeOptions {
        match self {
            // The reference decodes no tunnel: an IP-in-IP or GTP packet is a flow of its own.
            Profile::Cic => DecodeOptions {
                decode_tunnels: false,
                vxlan: false,
            },
            // NFStream unwraps IP-in-IP, GTP-U, CAPWAP and TZSP, but not VXLAN.
            Profile::Nfstream => DecodeOptions {
                decode_tunnels: true,
                vxlan: false,
            },
        }
    }
}

/// A packet as the flow table keys it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keyed {
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub vlan: u16,
    pub tunnel: u8,
    /// Length the features count.
    pub len: u32,
    /// L4 header length the features count.
    pub hdr: u32,
}

/// Maps a decoded packet to its flow identity under `profile` (what a profile does not meter,
/// its decoder has already dropped).
#[inline]
pub(crate) fn key_fields(profile: Profile, p: &PacketMeta<'_>) -> Keyed {
    match profile {
        Profile::Cic => {
            // The reference knows TCP, UDP and ICMP; any other protocol, and every later
            // fragment, is protocol 0 without ports. VLAN and tunnel are not in its key.
            let (proto, sport, dport) = match (p.proto, p.fragment) {
                (_, Fragment::NonFirst) => (0, 0, 0),
                (6 | 17, _) => (p.proto, p.sport, p.dport),
                (1, _) => (1, 0, 0),
                // The reference reads no IPv6; netvigil keeps ICMPv6 as itself, like ICMP.
                (58, _) if p.ip_version == 6 => (58, 0, 0),
                _ => (0, 0, 0),
            };
            // Payload and header sizes exist only for TCP and UDP there.
            let (len, hdr) = if proto == 6 || proto == 17 {
                (p.payload_len, p.l4_header_len as u32)
            } else {
                (0, 0)
            };
            Keyed {
                proto,
                sport,
                dport,
                vlan: 0,
                tunnel: 0,
                len,
                hdr,
            }
        }
        Profile::Nfstream => {
            // The NFStream-compatible decoder has already dropped what NFStream ignores and set
            // ports only where NFStream reads them. Bytes are NFStream's 16-bit frame lengths.
            Keyed {
                proto: p.proto,
                sport: p.sport,
                dport: p.dport,
                vlan: p.vlan_inner.unwrap_or(0),
                tunnel: p.tunnel as u8,
                len: p.wire_len & 0xFFFF,
                hdr: p.l4_header_len as u32,
            }
        }
    }
}

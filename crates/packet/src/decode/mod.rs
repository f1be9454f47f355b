//! The zero-copy decoder: one captured frame to a [`PacketMeta`].
//!
//! One module per layer: `link` (Ethernet, VLAN, MPLS, PPPoE, SLL, loopback, PPP, HDLC),
//! `ip` (IPv4, IPv6 with extension headers, fragments), `l4` (TCP, UDP, ICMP, ICMPv6, SCTP)
//! and `tunnel` (GTP-U, CAPWAP, TZSP, VXLAN, IP-in-IP). Parsing never panics on any input: every
//! read is bounds-checked and a short frame is a [`DecodeError`] with the offset reached.
//!
//! Lengths: `payload_len` comes from the IP length fields (so Ethernet padding is never
//! payload) and `wire_len` from the capture record.

mod ip;
mod l4;
mod link;
mod ndpi;
mod tunnel;

pub use ndpi::decode_ndpi;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{LinkType, Timestamp};

/// An IP address in 16 bytes; IPv4 is stored IPv4-mapped (`::ffff:a.b.c.d`). Which family it
/// is comes from the packet's `ip_version`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct IpAddrBytes(pub [u8; 16]);

impl IpAddrBytes {
    /// From IPv4 octets.
    #[inline]
    pub fn from_v4(o: [u8; 4]) -> Self {
        IpAddrBytes([
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, o[0], o[1], o[2], o[3],
        ])
    }

    /// As a std address of the given IP version.
    pub fn to_ip(self, ip_version: u8) -> IpAddr {
        if ip_version == 4 {
            IpAddr::V4(Ipv4Addr::new(
                self.0[12], self.0[13], self.0[14], self.0[15],
            ))
        } else {
            IpAddr::V6(Ipv6Addr::from(self.0))
        }
    }

    /// From a std address.
    pub fn from_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::from_v4(v4.octets()),
            IpAddr::V6(v6) => IpAddrBytes(v6.octets()),
        }
    }
}

/// TCP header fields the meter uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// Flag bits (FIN=0x01 … CWR=0x80).
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Raw (unscaled) window field.
    pub window: u16,
}

impl TcpInfo {
    /// FIN flag.
    pub const FIN: u8 = 0x01;
    /// SYN flag.
    pub const SYN: u8 = 0x02;
    /// RST flag.
    pub const RST: u8 = 0x04;
    /// PSH flag.
    pub const PSH: u8 = 0x08;
    /// ACK flag.
    pub const ACK: u8 = 0x10;
    /// URG flag.
    pub const URG: u8 = 0x20;
    /// ECE flag.
    pub const ECE: u8 = 0x40;
    /// CWR flag.
    pub const CWR: u8 = 0x80;

    /// Whether all bits of `f` are set.
    #[inline]
    pub fn has(&self, f: u8) -> bool {
        self.flags & f == f
    }
}

/// IPv4/IPv6 fragment position of a packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fragment {
    /// Not a fragment.
    #[default]
    None,
    /// First fragment (offset 0, more fragments): carries the L4 header.
    First,
    /// A later fragment: no L4 header, so no ports.
    NonFirst,
}

/// Kind of tunnel a packet was decapsulated from (numbering as NFStream's `tunnel_id`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Tunnel {
    /// Not tunnelled.
    #[default]
    None = 0,
    /// GTP-U (UDP 2152).
    Gtp = 1,
    /// CAPWAP data (UDP 5247).
    Capwap = 2,
    /// TZSP (UDP 37008).
    Tzsp = 3,
    /// VXLAN (UDP 4789).
    Vxlan = 4,
}

/// What the meter needs to know about one IP packet. Small and `Copy`; `payload` borrows the
/// captured bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct PacketMeta<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// Frame length on the wire (capture record's original length).
    pub wire_len: u32,
    /// Captured length.
    pub cap_len: u32,
    /// Outermost 802.1Q/802.1ad VLAN id, if tagged.
    pub vlan: Option<u16>,
    /// Innermost VLAN id, if tagged (equals `vlan` with one tag).
    pub vlan_inner: Option<u16>,
    /// Tunnel the IP packet was found in.
    pub tunnel: Tunnel,
    /// 4 or 6.
    pub ip_version: u8,
    /// Source address.
    pub src: IpAddrBytes,
    /// Destination address.
    pub dst: IpAddrBytes,
    /// IP protocol number (after IPv6 extension headers).
    pub proto: u8,
    /// Source port (TCP/UDP/SCTP), else 0.
    pub sport: u16,
    /// Destination port (TCP/UDP/SCTP), else 0.
    pub dport: u16,
    /// IP time-to-live / hop limit.
    pub ttl: u8,
    /// Length of the IP packet from its own header (IPv4 total length, IPv6 40 + payload length).
    pub ip_len: u32,
    /// Offset of the (innermost) IP header in the frame.
    pub ip_offset: u32,
    /// IP header length including IPv6 extension headers.
    pub ip_header_len: u16,
    /// L4 header length (TCP data offset × 4, 8 for UDP, 8 for ICMP, 12 for SCTP, else 0).
    pub l4_header_len: u16,
    /// L4 payload length from the IP length fields (never negative; no link padding).
    pub payload_len: u32,
    /// TCP fields when `proto == 6`.
    pub tcp: Option<TcpInfo>,
    /// ICMP/ICMPv6 type and code of the packet.
    pub icmp: Option<(u8, u8)>,
    /// Fragment position.
    pub fragment: Fragment,
    /// The captured part of the L4 payload (may be shorter than `payload_len`).
    pub payload: &'a [u8],
}

/// A frame decoded as far as it goes.
#[derive(Clone, Copy, Debug)]
pub enum Decoded<'a> {
    /// An IP packet.
    Ip(PacketMeta<'a>),
    /// A frame that carries no IP (ARP, LLDP, STP, …): counted, not metered.
    NonIp {
        /// The ethertype (or 0 for LLC frames and non-IP families).
        ethertype: u16,
    },
    /// A frame the NFStream-compatible decoder ignores, as NFStream does.
    Ignored,
}

/// Why a frame could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The frame ends before the named header does.
    Truncated(&'static str),
    /// An IP header with a version other than 4 or 6.
    BadIpVersion(u8),
    /// A header length field shorter than the header's fixed part.
    BadHeaderLength(&'static str),
    /// The link type is not one netvigil decodes.
    UnsupportedLink(u32),
}

/// A frame that could not be decoded, with the offset (in the frame) where decoding stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// What went wrong.
    pub kind: DecodeErrorKind,
    /// Offset into the captured frame.
    pub offset: usize,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DecodeErrorKind::Truncated(h) => {
                write!(f, "frame truncated in {h} header at offset {}", self.offset)
            }
            DecodeErrorKind::BadIpVersion(v) => {
                write!(f, "IP version {v} at offset {}", self.offset)
            }
            DecodeErrorKind::BadHeaderLength(h) => {
                write!(f, "bad {h} header length at offset {}", self.offset)
            }
            DecodeErrorKind::UnsupportedLink(l) => write!(f, "unsupported link type {l}"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    pub(crate) fn truncated(layer: &'static str, offset: usize) -> Self {
        DecodeError {
            kind: DecodeErrorKind::Truncated(layer),
            offset,
        }
    }
}

/// Decoder settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct DecodeOptions {
    /// Decapsulate IP-in-IP, GTP-U, CAPWAP and TZSP (the inner packet becomes the packet).
    pub decode_tunnels: bool,
    /// Also decapsulate VXLAN (UDP 4789) when `decode_tunnels` is on.
    pub vxlan: bool,
}

/// Decodes one frame of link type `link`.
pub fn decode<'a>(
    link: LinkType,
    ts: Timestamp,
    wire_len: u32,
    data: &'a [u8],
    opts: &DecodeOptions,
) -> Result<Decoded<'a>, DecodeError> {
    let mut meta = PacketMeta {
        ts,
        wire_len,
        cap_len: data.len() as u32,
        ..PacketMeta::default()
    };
    let l3 = link::decode_link(link, data, &mut meta)?;
    match l3 {
        link::L3::Ip(off) => {
            ip::decode_ip(data, off, &mut meta, opts, 0)?;
            Ok(Decoded::Ip(meta))
        }
        link::L3::Other(ethertype) => Ok(Decoded::NonIp { ethertype }),
    }
}

#[inline]
pub(crate) fn be16(d: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(off)?, *d.get(off + 1)?]))
}

#[inline]
pub(crate) fn be32(d: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *d.get(off)?,
        *d.get(off + 1)?,
        *d.get(off + 2)?,
        *d.get(off + 3)?,
    ]))
}

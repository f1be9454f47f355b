//! Pure parsers from one frame to what it says about devices, one module per protocol. Every
//! read is bounds-checked: cut, padded or hostile bytes give fewer observations, never a panic
//! or an error. Strings are allocated only for what a frame does announce.
//!
//! [`wants`] is the hot-path gate (port, flag and type compares on the decoded packet);
//! [`frame`] parses a frame the gate let through.

mod arp;
mod dhcp;
mod dns;
mod nbns;
mod ndp;
mod os;

pub use arp::Arp;
pub use dhcp::Dhcp;
pub use dns::{reverse_name_addr, NameRecord, NameRecords, RecordData, Resolver};
pub use nbns::{Nbns, NbnsName};
pub use ndp::{Ndp, NdpKind};
pub use os::{dhcp_hint, OsFamily, OsHint, TcpSyn};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use packet::{DecodeOptions, Decoded, LinkType, PacketMeta, TcpInfo, Timestamp};

/// Where a hostname was learnt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    /// DHCP option 12, the client's own host name.
    Dhcp,
    /// DHCP option 81, the client's fully qualified domain name.
    DhcpFqdn,
    /// An mDNS A/AAAA record (`name.local`).
    Mdns,
    /// An LLMNR A/AAAA answer.
    Llmnr,
    /// A NetBIOS name registration or answer (a unique workstation or server name).
    Netbios,
    /// A DNS PTR answer for the address.
    DnsPtr,
}

impl NameSource {
    /// Lower-case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            NameSource::Dhcp => "dhcp",
            NameSource::DhcpFqdn => "dhcp_fqdn",
            NameSource::Mdns => "mdns",
            NameSource::Llmnr => "llmnr",
            NameSource::Netbios => "netbios",
            NameSource::DnsPtr => "dns_ptr",
        }
    }
}

/// Where an OS hint came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HintSource {
    /// A TCP SYN's TTL, window and options.
    TcpSyn,
    /// A DHCP client's parameter request list (option 55).
    DhcpFingerprint,
}

/// One thing a frame says about a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// An ARP request or reply.
    Arp(Arp),
    /// A DHCPv4 message.
    Dhcp(Dhcp),
    /// Names and addresses from an mDNS, LLMNR or DNS response.
    Names(NameRecords),
    /// NetBIOS names and their addresses.
    Nbns(Nbns),
    /// An IPv6 neighbour discovery message.
    Ndp(Ndp),
    /// A TCP SYN (without ACK): the sender's stack.
    TcpSyn(TcpSyn),
}

/// What one frame says: its link-layer source, its IP source, and the observations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observations {
    /// The frame's source MAC address (Ethernet, or Linux cooked capture of an Ethernet
    /// device); `None` for link types without one.
    pub src_mac: Option<[u8; 6]>,
    /// The IP packet's source address, if the frame carries IP.
    pub src_ip: Option<IpAddr>,
    /// Whether the IP packet was sent on this link by the host `src_mac` names, not routed
    /// here: its TTL is still an initial value (1, 32, 64, 128 or 255) or it went to a
    /// link-local multicast or broadcast address. Only then is `src_mac` ↔ `src_ip` a binding.
    pub on_link: bool,
    /// What the frame says, in the order found.
    pub items: Vec<Observation>,
}

impl Observations {
    /// Whether the frame said nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

const ETH_ARP: u16 = 0x0806;

/// UDP ports whose messages are parsed from either side: DHCP server and client, NetBIOS name
/// service, mDNS, LLMNR.
#[inline]
fn names_port(p: u16) -> bool {
    matches!(p, 67 | 68 | 137 | 5353 | 5355)
}

/// The hot-path gate: whether a decoded IP packet can teach the inventory anything. UDP to or
/// from DHCP, NetBIOS-NS, mDNS or LLMNR ports, UDP from port 53 (DNS answers), a TCP SYN
/// without ACK, ICMPv6 router or neighbour discovery (types 133 to 136). Tunnelled packets
/// are refused (their MAC is the tunnel's). A handful of compares: no payload is read.
#[inline]
pub fn wants(meta: &PacketMeta<'_>) -> bool {
    if meta.tunnel != packet::decode::Tunnel::None {
        return false;
    }
    match meta.proto {
        17 => meta.sport == 53 || names_port(meta.sport) || names_port(meta.dport),
        6 => match meta.tcp {
            Some(t) => t.flags & (TcpInfo::SYN | TcpInfo::ACK) == TcpInfo::SYN,
            None => false,
        },
        58 => matches!(meta.icmp, Some((133..=136, _))),
        _ => false,
    }
}

/// The gate for frames without IP: ARP (ethertype 0x0806).
#[inline]
pub fn wants_ethertype(ethertype: u16) -> bool {
    ethertype == ETH_ARP
}

/// [`wants`] or [`wants_ethertype`], whichever the decoded frame calls for.
#[inline]
pub fn wants_decoded(d: &Decoded<'_>) -> bool {
    match d {
        Decoded::Ip(meta) => wants(meta),
        Decoded::NonIp { ethertype } => wants_ethertype(*ethertype),
        Decoded::Ignored => false,
    }
}

/// Parses one captured frame of link type `link` (Ethernet with VLAN tags, Linux cooked
/// capture v1 and v2; raw IP gives observations without a source MAC). Whatever the bytes,
/// returns what could be read: a frame that says nothing gives empty `items`.
pub fn frame(link: LinkType, data: &[u8]) -> Observations {
    let mut out = Observations::default();
    let Some((src_mac, ethertype, off)) = link_header(link, data) else {
        return out;
    };
    out.src_mac = src_mac;
    if ethertype == Some(ETH_ARP) {
        if let Some(a) = data.get(off..).and_then(arp::parse) {
            out.items.push(Observation::Arp(a));
        }
        return out;
    }
    // Anything else goes to the packet decoder, which also finds IP under PPPoE and MPLS.
    let opts = DecodeOptions::default();
    let wire = data.len() as u32;
    let Ok(Decoded::Ip(meta)) = packet::decode(link, Timestamp(0), wire, data, &opts) else {
        return out;
    };
    if !wants(&meta) {
        return out;
    }
    let src_ip = meta.src.to_ip(meta.ip_version);
    let dst_ip = meta.dst.to_ip(meta.ip_version);
    out.src_ip = Some(src_ip);
    out.on_link = matches!(meta.ttl, 1 | 32 | 64 | 128 | 255) || link_scope(dst_ip);
    ip_packet(&meta, data, &mut out.items);
    out
}

/// What a TCP SYN (without ACK) tells the inventory, read once where the frame was decoded:
/// the same as [`frame`] gives for it (source MAC, source address, `on_link`, and the OS hint
/// of its [`TcpSyn`]), in a few bytes, for [`crate::device::Inventory::observe_syn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynSeen {
    /// The frame's source MAC, as [`Observations::src_mac`].
    pub src_mac: Option<[u8; 6]>,
    /// The IP source address.
    pub src_ip: IpAddr,
    /// As [`Observations::on_link`].
    pub on_link: bool,
    /// The hint of the SYN's stack ([`TcpSyn::os_hint`]); `None` when no rule fits (the
    /// inventory then learns nothing from it, as from the frame).
    pub hint: Option<OsHint>,
}

/// The [`SynSeen`] of a frame (`data`, of link type `link`) the packet decoder decoded as
/// `meta`, a TCP SYN the gate ([`wants`]) accepted: what [`frame`] would say of it, without
/// a second decode or any allocation. `None` when that is not certain (not a SYN the gate
/// takes, a link header [`frame`] could not read, or a TCP header not wholly in `data`):
/// then the frame itself is for [`frame`].
pub fn syn_seen(link: LinkType, data: &[u8], meta: &PacketMeta<'_>) -> Option<SynSeen> {
    if meta.proto != 6 || !wants(meta) {
        return None;
    }
    let (src_mac, ethertype, _) = link_header(link, data)?;
    if ethertype == Some(ETH_ARP) {
        return None;
    }
    let l4 = meta.ip_offset as usize + meta.ip_header_len as usize;
    let hdr = data.get(l4..l4 + meta.l4_header_len as usize)?;
    let df = meta.ip_version == 6
        || data
            .get(meta.ip_offset as usize + 6)
            .is_some_and(|b| b & 0x40 != 0);
    let dst_ip = meta.dst.to_ip(meta.ip_version);
    Some(SynSeen {
        src_mac,
        src_ip: meta.src.to_ip(meta.ip_version),
        on_link: matches!(meta.ttl, 1 | 32 | 64 | 128 | 255) || link_scope(dst_ip),
        hint: os::parse_syn(hdr, meta.ttl, df).and_then(|s| s.os_hint()),
    })
}

/// Dispatches a decoded IP packet the gate accepted.
fn ip_packet(meta: &PacketMeta<'_>, data: &[u8], items: &mut Vec<Observation>) {
    let l4 = meta.ip_offset as usize + meta.ip_header_len as usize;
    match meta.proto {
        17 => {
            let (sp, dp, p) = (meta.sport, meta.dport, meta.payload);
            if matches!((sp, dp), (67, 68) | (68, 67) | (67, 67)) {
                if let Some(d) = dhcp::parse(p) {
                    items.push(Observation::Dhcp(d));
                }
            } else if sp == 137 || dp == 137 {
                if let Some(n) = nbns::parse(p) {
                    items.push(Observation::Nbns(n));
                }
            } else if let Some(r) = name_resolver(sp, dp) {
                if let Some(n) = dns::parse(r, p) {
                    items.push(Observation::Names(n));
                }
            }
        }
        6 => {
            let end = (l4 + meta.l4_header_len as usize).min(data.len());
            let hdr = data.get(l4..end).unwrap_or(&[]);
            // DF lives in the IPv4 header; IPv6 has no such bit (p0f treats it as set).
            let df = meta.ip_version == 6
                || data
                    .get(meta.ip_offset as usize + 6)
                    .is_some_and(|b| b & 0x40 != 0);
            if let Some(s) = os::parse_syn(hdr, meta.ttl, df) {
                items.push(Observation::TcpSyn(s));
            }
        }
        // RFC 4861 §7.1.1: a hop limit other than 255 means the message was forwarded.
        58 if meta.ttl == 255 => {
            let src = match meta.src.to_ip(6) {
                IpAddr::V6(a) => a,
                IpAddr::V4(_) => Ipv6Addr::UNSPECIFIED,
            };
            let end =
                (l4 + meta.payload_len as usize + meta.l4_header_len as usize).min(data.len());
            if let Some(n) = data.get(l4..end).and_then(|m| ndp::parse(m, src)) {
                items.push(Observation::Ndp(n));
            }
        }
        _ => {}
    }
}

/// Which name protocol a UDP port pair is (mDNS, LLMNR, or a DNS answer from port 53).
fn name_resolver(sport: u16, dport: u16) -> Option<Resolver> {
    if sport == 5353 || dport == 5353 {
        Some(Resolver::Mdns)
    } else if sport == 5355 || dport == 5355 {
        Some(Resolver::Llmnr)
    } else if sport == 53 {
        Some(Resolver::Dns)
    } else {
        None
    }
}

/// Destinations a router does not forward: IPv4 broadcast and 224.0.0.0/24, IPv6 link-local
/// scope multicast (ff02::/16) and link-local unicast.
fn link_scope(dst: IpAddr) -> bool {
    match dst {
        IpAddr::V4(a) => {
            let o = a.octets();
            a == Ipv4Addr::BROADCAST || (o[0] == 224 && o[1] == 0 && o[2] == 0)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            s[0] == 0xff02 || s[0] & 0xffc0 == 0xfe80
        }
    }
}

/// The link header: source MAC (if the link has one), ethertype after VLAN tags (`None` for
/// links without one) and the offset of the network layer. `None` when the frame is too short
/// for its link header.
fn link_header(link: LinkType, d: &[u8]) -> Option<(Option<[u8; 6]>, Option<u16>, usize)> {
    match link {
        LinkType::ETHERNET => {
            let src = mac_at(d, 6)?;
            let (t, off) = skip_vlans(d, be16(d, 12)?, 14)?;
            Some((Some(src), Some(t), off))
        }
        LinkType::LINUX_SLL => {
            // Packet type, ARPHRD type, address length, 8 address bytes, protocol.
            let src = (be16(d, 2)? == 1 && be16(d, 4)? == 6)
                .then(|| mac_at(d, 6))
                .flatten();
            let (t, off) = skip_vlans(d, be16(d, 14)?, 16)?;
            Some((src, Some(t), off))
        }
        LinkType::LINUX_SLL2 => {
            // Protocol, reserved, interface index, ARPHRD type, packet type, address
            // length, 8 address bytes.
            let src = (be16(d, 8)? == 1 && *d.get(11)? == 6)
                .then(|| mac_at(d, 12))
                .flatten();
            let (t, off) = skip_vlans(d, be16(d, 0)?, 20)?;
            Some((src, Some(t), off))
        }
        // Links without MACs (raw IP, loopback, PPP): the decoder finds the IP header.
        _ => Some((None, None, 0)),
    }
}

/// Follows 802.1Q / 802.1ad tags to the ethertype they wrap.
fn skip_vlans(d: &[u8], mut t: u16, mut off: usize) -> Option<(u16, usize)> {
    for _ in 0..4 {
        if !matches!(t, 0x8100 | 0x88A8 | 0x9100) {
            break;
        }
        t = be16(d, off + 2)?;
        off += 4;
    }
    Some((t, off))
}

#[inline]
pub(crate) fn be16(d: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(off)?, *d.get(off + 1)?]))
}

#[inline]
pub(crate) fn mac_at(d: &[u8], off: usize) -> Option<[u8; 6]> {
    d.get(off..off + 6)?.try_into().ok()
}

#[inline]
pub(crate) fn ipv4_at(d: &[u8], off: usize) -> Option<Ipv4Addr> {
    let b: [u8; 4] = d.get(off..off + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

#[inline]
pub(crate) fn ipv6_at(d: &[u8], off: usize) -> Option<Ipv6Addr> {
    let b: [u8; 16] = d.get(off..off + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(b))
}

/// Bytes as text the way flow's app metadata does it (and tshark shows it): valid UTF-8 kept,
/// control characters and invalid bytes escaped, so a name can neither break a log line nor
/// smuggle terminal escapes. At most `cap` bytes of input are read.
pub(crate) fn text(b: &[u8], cap: usize) -> String {
    let b = &b[..b.len().min(cap)];
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push(c);
            }
        }
        for x in chunk.invalid() {
            out.push_str(&format!("\\x{x:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX: &[u8] = &[
        2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    const WINDOWS: &[u8] = &[2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2];
    const MAC: [u8; 6] = [0x00, 0x1b, 0x21, 1, 2, 3];

    fn tcp(flags: u8, window: u16, opts: &[u8]) -> Vec<u8> {
        let doff = (20 + opts.len()).div_ceil(4) * 4;
        let mut h = vec![0u8; 20];
        h[0..2].copy_from_slice(&40000u16.to_be_bytes());
        h[2..4].copy_from_slice(&443u16.to_be_bytes());
        h[12] = ((doff / 4) as u8) << 4;
        h[13] = flags;
        h[14..16].copy_from_slice(&window.to_be_bytes());
        h.extend_from_slice(opts);
        h.resize(doff, 0);
        h
    }

    fn ipv4(ttl: u8, df: bool, dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        h[6] = if df { 0x40 } else { 0 };
        h[8] = ttl;
        h[9] = 6;
        h[12..16].copy_from_slice(&[192, 168, 1, 20]);
        h[16..20].copy_from_slice(&dst);
        h.extend_from_slice(l4);
        h
    }

    fn ipv6(hlim: u8, dst: [u8; 16], l4: &[u8]) -> Vec<u8> {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        h.extend_from_slice(&[6, hlim]);
        h.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
        h.extend_from_slice(&dst);
        h.extend_from_slice(l4);
        h
    }

    fn ethernet(vlan: bool, ethertype: u16, ip: &[u8]) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 9];
        f.extend_from_slice(&MAC);
        if vlan {
            f.extend_from_slice(&[0x81, 0x00, 0, 10]);
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(ip);
        // Padded to the minimum, as on the wire.
        f.resize(f.len().max(60), 0);
        f
    }

    fn sll(ethertype: u16, ip: &[u8]) -> Vec<u8> {
        let mut f = vec![0, 4, 0, 1, 0, 6];
        f.extend_from_slice(&MAC);
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(ip);
        f
    }

    /// What `frame` says of a SYN, as a `SynSeen`.
    fn from_frame(link: LinkType, data: &[u8]) -> Option<SynSeen> {
        let o = frame(link, data);
        let hint = match o.items.as_slice() {
            [Observation::TcpSyn(s)] => s.os_hint(),
            [] => None,
            other => panic!("not a SYN's observations: {other:?}"),
        };
        Some(SynSeen {
            src_mac: o.src_mac,
            src_ip: o.src_ip?,
            on_link: o.on_link,
            hint,
        })
    }

    /// `syn_seen` of the meter's decode says what `frame` says, for every cut of every frame
    /// (when it answers at all), and answers for the whole frames.
    #[test]
    fn a_syn_read_once_says_what_its_frame_says() {
        let v6_dst = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let mut v6_link = [0u8; 16];
        v6_link[..2].copy_from_slice(&[0xff, 0x02]);
        v6_link[15] = 1;
        let mut cases = Vec::new();
        for (ttl, df, dst) in [
            (64, true, [10, 0, 0, 1]),
            (128, false, [8, 8, 8, 8]),
            (57, true, [8, 8, 8, 8]),
            (57, true, [224, 0, 0, 251]),
            (255, false, [255, 255, 255, 255]),
        ] {
            for (w, opts) in [
                (64240, LINUX),
                (64240, WINDOWS),
                (1024, &[2, 4, 5, 0xb4][..]),
            ] {
                let ip = ipv4(ttl, df, dst, &tcp(0x02, w, opts));
                cases.push((LinkType::ETHERNET, ethernet(false, 0x0800, &ip)));
                cases.push((LinkType::ETHERNET, ethernet(true, 0x0800, &ip)));
                cases.push((LinkType::LINUX_SLL, sll(0x0800, &ip)));
                cases.push((LinkType::RAW, ip));
            }
        }
        for (hlim, dst) in [(64, v6_dst), (61, v6_dst), (61, v6_link)] {
            let ip = ipv6(hlim, dst, &tcp(0x02, 65535, LINUX));
            cases.push((LinkType::ETHERNET, ethernet(false, 0x86dd, &ip)));
        }
        // Not for `syn_seen`: a SYN-ACK.
        let synack = ethernet(
            false,
            0x0800,
            &ipv4(64, true, [10, 0, 0, 1], &tcp(0x12, 1, LINUX)),
        );
        let (mut whole, mut seen) = (0, 0);
        for (link, f) in &cases {
            for n in 0..=f.len() {
                let data = &f[..n];
                let Ok(Decoded::Ip(m)) = packet::decode(
                    *link,
                    Timestamp(0),
                    n as u32,
                    data,
                    &DecodeOptions::default(),
                ) else {
                    continue;
                };
                let Some(s) = syn_seen(*link, data, &m) else {
                    assert!(n < f.len(), "{link:?} {f:02x?}: a whole SYN not read");
                    continue;
                };
                seen += 1;
                whole += usize::from(n == f.len());
                assert_eq!(Some(s), from_frame(*link, data), "{link:?} {data:02x?}");
            }
        }
        assert_eq!(whole, cases.len());
        assert!(seen > whole);
        let Ok(Decoded::Ip(m)) = packet::decode(
            LinkType::ETHERNET,
            Timestamp(0),
            synack.len() as u32,
            &synack,
            &DecodeOptions::default(),
        ) else {
            panic!("SYN-ACK not decoded");
        };
        assert_eq!(syn_seen(LinkType::ETHERNET, &synack, &m), None);
    }
}

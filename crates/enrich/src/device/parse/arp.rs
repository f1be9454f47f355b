//! ARP (RFC 826) over Ethernet for IPv4: who has which address.

use std::net::Ipv4Addr;

use super::{be16, ipv4_at, mac_at};

/// An ARP request or reply for IPv4 over Ethernet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arp {
    /// 1 request, 2 reply (other opcodes are not returned).
    pub opcode: u16,
    /// Sender hardware address.
    pub sender_mac: [u8; 6],
    /// Sender protocol address (0.0.0.0 in an address probe, RFC 5227).
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (zeros in a request).
    pub target_mac: [u8; 6],
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl Arp {
    /// A gratuitous ARP: the sender announces its own address (sender and target IP equal),
    /// as Wireshark's `arp.isgratuitous` defines it.
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip && !self.sender_ip.is_unspecified()
    }

    /// An address probe (RFC 5227 §2.1.1): sender IP 0.0.0.0, asking whether the target
    /// address is taken. It binds nothing.
    pub fn is_probe(&self) -> bool {
        self.sender_ip.is_unspecified()
    }
}

/// Parses an ARP packet (from its hardware type field on). Only Ethernet/IPv4 requests and
/// replies are returned.
pub fn parse(d: &[u8]) -> Option<Arp> {
    // Hardware type 1 (Ethernet), protocol 0x0800, lengths 6 and 4.
    if be16(d, 0)? != 1 || be16(d, 2)? != 0x0800 || d.get(4..6)? != [6, 4] {
        return None;
    }
    let opcode = be16(d, 6)?;
    if !matches!(opcode, 1 | 2) {
        return None;
    }
    Some(Arp {
        opcode,
        sender_mac: mac_at(d, 8)?,
        sender_ip: ipv4_at(d, 14)?,
        target_mac: mac_at(d, 18)?,
        target_ip: ipv4_at(d, 24)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: [u8; 28] = [
        0, 1, 8, 0, 6, 4, 0, 1, // Ethernet, IPv4, request
        0x00, 0x16, 0xce, 0x6e, 0x8b, 0x24, 192, 168, 0, 114, // sender
        0, 0, 0, 0, 0, 0, 192, 168, 0, 1, // target
    ];

    #[test]
    fn reads_a_request() {
        let a = parse(&REQUEST).unwrap();
        assert_eq!(a.opcode, 1);
        assert_eq!(a.sender_mac, [0x00, 0x16, 0xce, 0x6e, 0x8b, 0x24]);
        assert_eq!(a.sender_ip, Ipv4Addr::new(192, 168, 0, 114));
        assert_eq!(a.target_ip, Ipv4Addr::new(192, 168, 0, 1));
        assert!(!a.is_gratuitous() && !a.is_probe());
    }

    #[test]
    fn cut_or_foreign_packets_give_nothing() {
        for n in 0..REQUEST.len() {
            assert_eq!(parse(&REQUEST[..n]), None, "cut at {n}");
        }
        let mut rarp = REQUEST;
        rarp[7] = 3;
        assert_eq!(parse(&rarp), None);
        let mut ipv6 = REQUEST;
        ipv6[2] = 0x86;
        assert_eq!(parse(&ipv6), None);
    }
}

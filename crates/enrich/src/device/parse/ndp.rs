//! IPv6 neighbour discovery (RFC 4861): router and neighbour solicitations and advertisements,
//! whose link-layer address options tie IPv6 addresses to MAC addresses.

use std::net::Ipv6Addr;

use super::{ipv6_at, mac_at};

/// Which neighbour discovery message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NdpKind {
    /// ICMPv6 type 133.
    RouterSolicitation,
    /// ICMPv6 type 134: the sender is a router.
    RouterAdvertisement,
    /// ICMPv6 type 135.
    NeighborSolicitation,
    /// ICMPv6 type 136.
    NeighborAdvertisement,
}

/// A neighbour discovery message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ndp {
    /// The message type.
    pub kind: NdpKind,
    /// The IPv6 source address (`::` in duplicate address detection).
    pub src: Ipv6Addr,
    /// The target address of a neighbour solicitation or advertisement.
    pub target: Option<Ipv6Addr>,
    /// The link-layer address option: source (type 1) in solicitations and router
    /// advertisements, target (type 2) in neighbour advertisements.
    pub link_addr: Option<[u8; 6]>,
    /// The sender says it is a router (a router advertisement, or the R flag of a neighbour
    /// advertisement).
    pub router: bool,
}

impl Ndp {
    /// The IPv6 address the link-layer address belongs to: the target of an advertisement,
    /// the source of the other messages (`None` for the unspecified source of DAD).
    pub fn bound_addr(&self) -> Option<Ipv6Addr> {
        match self.kind {
            NdpKind::NeighborAdvertisement => self.target,
            _ => Some(self.src).filter(|a| !a.is_unspecified()),
        }
    }
}

/// Parses an ICMPv6 message (from its type byte) sent from `src`. `None` for other types,
/// a code other than 0, or a message cut before its fixed part; options after a cut are lost.
pub fn parse(m: &[u8], src: Ipv6Addr) -> Option<Ndp> {
    if *m.get(1)? != 0 {
        return None;
    }
    let (kind, opts_at) = match *m.first()? {
        133 => (NdpKind::RouterSolicitation, 8),
        134 => (NdpKind::RouterAdvertisement, 16),
        135 => (NdpKind::NeighborSolicitation, 24),
        136 => (NdpKind::NeighborAdvertisement, 24),
        _ => return None,
    };
    if m.len() < opts_at {
        return None;
    }
    let target = matches!(
        kind,
        NdpKind::NeighborSolicitation | NdpKind::NeighborAdvertisement
    )
    .then(|| ipv6_at(m, 8))
    .flatten();
    let want_opt = if kind == NdpKind::NeighborAdvertisement {
        2
    } else {
        1
    };
    let mut link_addr = None;
    let mut pos = opts_at;
    while let (Some(&t), Some(&len8)) = (m.get(pos), m.get(pos + 1)) {
        // Length in units of 8 bytes; 0 is invalid and would loop.
        if len8 == 0 {
            break;
        }
        if t == want_opt && len8 == 1 {
            link_addr = mac_at(m, pos + 2);
            break;
        }
        pos += len8 as usize * 8;
    }
    Some(Ndp {
        kind,
        src,
        target,
        link_addr,
        router: kind == NdpKind::RouterAdvertisement
            || (kind == NdpKind::NeighborAdvertisement && m[4] & 0x80 != 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advert() -> Vec<u8> {
        let mut m = vec![136, 0, 0, 0, 0xe0, 0, 0, 0];
        m.extend_from_slice(
            &"fe80::20c:29ff:fe59:fd21"
                .parse::<Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        m.extend_from_slice(&[2, 1, 0x00, 0x0c, 0x29, 0x59, 0xfd, 0x21]);
        m
    }

    #[test]
    fn reads_a_neighbor_advertisement() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let n = parse(&advert(), src).unwrap();
        assert_eq!(n.kind, NdpKind::NeighborAdvertisement);
        assert_eq!(n.bound_addr(), "fe80::20c:29ff:fe59:fd21".parse().ok());
        assert_eq!(n.link_addr, Some([0x00, 0x0c, 0x29, 0x59, 0xfd, 0x21]));
        assert!(n.router);
    }

    #[test]
    fn cut_messages_and_zero_length_options_do_not_hang_or_panic() {
        let m = advert();
        for n in 0..m.len() {
            let r = parse(&m[..n], Ipv6Addr::UNSPECIFIED);
            assert_eq!(r.is_some(), n >= 24, "cut at {n}");
            assert_eq!(r.and_then(|r| r.link_addr), None);
        }
        let mut z = advert();
        z[25] = 0;
        assert_eq!(parse(&z, Ipv6Addr::UNSPECIFIED).unwrap().link_addr, None);
    }

    #[test]
    fn dad_solicitations_bind_nothing() {
        let mut m = advert();
        m[0] = 135;
        let n = parse(&m, Ipv6Addr::UNSPECIFIED).unwrap();
        assert_eq!(n.bound_addr(), None);
        assert!(!n.router);
    }
}

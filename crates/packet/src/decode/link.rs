//! Link layers down to the IP header: Ethernet (802.1Q/802.1ad/QinQ, MPLS, PPPoE, LLC/SNAP),
//! Linux SLL and SLL2, BSD NULL/LOOP, raw IP, PPP and Cisco HDLC.

use super::{be16, DecodeError, DecodeErrorKind, PacketMeta};
use crate::LinkType;

/// Where the network layer starts.
pub(crate) enum L3 {
    /// An IP header at this offset (version from its first nibble).
    Ip(usize),
    /// Not IP: the ethertype (0 when there is none).
    Other(u16),
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88A8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;
const ETH_PPPOE: u16 = 0x8864;

pub(crate) fn decode_link(
    link: LinkType,
    d: &[u8],
    meta: &mut PacketMeta<'_>,
) -> Result<L3, DecodeError> {
    match link {
        LinkType::ETHERNET => ethernet(d, 0, meta),
        LinkType::RAW
        | LinkType::RAW_BSD12
        | LinkType::RAW_BSD14
        | LinkType::IPV4
        | LinkType::IPV6 => Ok(L3::Ip(0)),
        LinkType::LINUX_SLL => {
            let t = be16(d, 14).ok_or(DecodeError::truncated("Linux SLL", d.len()))?;
            ethertype(d, 16, t, meta)
        }
        LinkType::LINUX_SLL2 => {
            if d.len() < 20 {
                return Err(DecodeError::truncated("Linux SLL2", d.len()));
            }
            let t = be16(d, 0).ok_or(DecodeError::truncated("Linux SLL2", 0))?;
            ethertype(d, 20, t, meta)
        }
        LinkType::NULL | LinkType::LOOP => {
            if d.len() < 4 {
                return Err(DecodeError::truncated("loopback", d.len()));
            }
            let b = [d[0], d[1], d[2], d[3]];
            // The NULL family is in the capturing host's byte order: accept either.
            let fam = if link == LinkType::LOOP {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b).min(u32::from_be_bytes(b))
            };
            match fam {
                2 => Ok(L3::Ip(4)),
                10 | 24 | 28 | 30 => Ok(L3::Ip(4)),
                _ => Ok(L3::Other(0)),
            }
        }
        LinkType::PPP | LinkType::PPP_HDLC => ppp(d, 0),
        LinkType::C_HDLC => {
            let t = be16(d, 2).ok_or(DecodeError::truncated("Cisco HDLC", d.len()))?;
            ethertype(d, 4, t, meta)
        }
        other => Err(DecodeError {
            kind: DecodeErrorKind::UnsupportedLink(other.0),
            offset: 0,
        }),
    }
}

/// An Ethernet II / 802.3 frame starting at `off`.
pub(crate) fn ethernet(d: &[u8], off: usize, meta: &mut PacketMeta<'_>) -> Result<L3, DecodeError> {
    let t = be16(d, off + 12).ok_or(DecodeError::truncated("Ethernet", d.len()))?;
    ethertype(d, off + 14, t, meta)
}

/// Follows ethertypes through VLAN tags, MPLS labels, PPPoE and LLC/SNAP to the network layer.
fn ethertype(
    d: &[u8],
    mut off: usize,
    mut t: u16,
    meta: &mut PacketMeta<'_>,
) -> Result<L3, DecodeError> {
    loop {
        match t {
            ETH_IPV4 | ETH_IPV6 => return Ok(L3::Ip(off)),
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => {
                let tci = be16(d, off).ok_or(DecodeError::truncated("802.1Q", d.len()))?;
                let id = tci & 0x0FFF;
                if meta.vlan.is_none() {
                    meta.vlan = Some(id);
                }
                meta.vlan_inner = Some(id);
                t = be16(d, off + 2).ok_or(DecodeError::truncated("802.1Q", d.len()))?;
                off += 4;
            }
            ETH_MPLS | ETH_MPLS_MC => {
                loop {
                    let b2 = *d
                        .get(off + 2)
                        .ok_or(DecodeError::truncated("MPLS", d.len()))?;
                    off += 4;
                    if b2 & 1 == 1 {
                        break;
                    }
                }
                // Below the stack there is no type field: IP is recognised by its version nibble.
                return match d.get(off).map(|b| b >> 4) {
                    Some(4) | Some(6) => Ok(L3::Ip(off)),
                    Some(_) => Ok(L3::Other(0)),
                    None => Err(DecodeError::truncated("MPLS", d.len())),
                };
            }
            ETH_PPPOE => {
                if d.len() < off + 6 {
                    return Err(DecodeError::truncated("PPPoE", d.len()));
                }
                return ppp(d, off + 6);
            }
            0..=0x05FF => {
                // 802.3 length field: LLC, possibly SNAP with an ethertype.
                if d.get(off..off + 3) == Some(&[0xAA, 0xAA, 0x03]) {
                    t = be16(d, off + 6).ok_or(DecodeError::truncated("SNAP", d.len()))?;
                    off += 8;
                } else {
                    return Ok(L3::Other(0));
                }
            }
            other => return Ok(L3::Other(other)),
        }
    }
}

/// A PPP frame at `off`: optional address/control bytes, then a 1- or 2-byte protocol.
fn ppp(d: &[u8], mut off: usize) -> Result<L3, DecodeError> {
    if d.get(off..off + 2) == Some(&[0xFF, 0x03]) {
        off += 2;
    }
    let first = *d.get(off).ok_or(DecodeError::truncated("PPP", d.len()))?;
    let (proto, len) = if first & 1 == 1 {
        (first as u16, 1)
    } else {
        (
            be16(d, off).ok_or(DecodeError::truncated("PPP", d.len()))?,
            2,
        )
    };
    match proto {
        0x0021 | 0x0057 => Ok(L3::Ip(off + len)),
        _ => Ok(L3::Other(0)),
    }
}

//! UDP tunnels decapsulated when `decode_tunnels` is on: GTP-U, CAPWAP data, TZSP, VXLAN.
//! If the inner packet cannot be decoded, the outer UDP packet stands.

use super::ip::decode_ip;
use super::link::{ethernet, L3};
use super::{be16, DecodeOptions, PacketMeta, Tunnel};

const GTP_U: u16 = 2152;
const CAPWAP_DATA: u16 = 5247;
const TZSP: u16 = 37008;
const VXLAN: u16 = 4789;

/// Tries to decapsulate the UDP payload at `off`; on success `meta` describes the inner packet.
pub(crate) fn decode_udp_tunnel<'a>(
    d: &'a [u8],
    off: usize,
    meta: &mut PacketMeta<'a>,
    opts: &DecodeOptions,
    depth: u8,
) -> Result<(), super::DecodeError> {
    let (sp, dp) = (meta.sport, meta.dport);
    let is = |p: u16| sp == p || dp == p;
    let (inner, kind) = if is(GTP_U) {
        (gtp_u(d, off), Tunnel::Gtp)
    } else if is(CAPWAP_DATA) {
        (capwap(d, off), Tunnel::Capwap)
    } else if is(TZSP) {
        (tzsp(d, off), Tunnel::Tzsp)
    } else if opts.vxlan && is(VXLAN) {
        (vxlan(d, off, meta), Tunnel::Vxlan)
    } else {
        return Ok(());
    };
    let Some(ip_off) = inner else { return Ok(()) };
    let saved = *meta;
    meta.tunnel = kind;
    if decode_ip(d, ip_off, meta, opts, depth + 1).is_err() {
        *meta = saved;
    }
    Ok(())
}

/// GTPv1-U T-PDU: 8-byte header, 4 more if E/S/PN, then extension headers.
fn gtp_u(d: &[u8], off: usize) -> Option<usize> {
    let flags = *d.get(off)?;
    let msg = *d.get(off + 1)?;
    if flags >> 5 != 1 || msg != 0xFF {
        return None;
    }
    let mut p = off + 8;
    if flags & 0x07 != 0 {
        let mut next = *d.get(off + 11)?;
        p += 4;
        while next != 0 {
            let len = (*d.get(p)? as usize) * 4;
            if len == 0 {
                return None;
            }
            next = *d.get(p + len - 1)?;
            p += len;
        }
    }
    match d.get(p)? >> 4 {
        4 | 6 => Some(p),
        _ => None,
    }
}

/// CAPWAP data channel: a CAPWAP header of HLEN words, then (as NFStream and nDPI assume) a
/// 24-byte 802.11 data header and an 8-byte LLC/SNAP header.
fn capwap(d: &[u8], off: usize) -> Option<usize> {
    if *d.get(off)? & 0x0F != 0 {
        return None;
    }
    let hlen = ((*d.get(off + 1)? & 0xF8) >> 1) as usize;
    let ip = off + hlen + 32;
    match d.get(ip)? >> 4 {
        4 | 6 => Some(ip),
        _ => None,
    }
}

/// TZSP v1 encapsulating Ethernet: tagged fields up to the END tag, then the frame.
fn tzsp(d: &[u8], off: usize) -> Option<usize> {
    if *d.get(off)? != 1 || *d.get(off + 1)? != 0 || be16(d, off + 2)? != 1 {
        return None;
    }
    let mut p = off + 4;
    loop {
        match *d.get(p)? {
            0 => p += 1,
            1 => {
                p += 1;
                break;
            }
            _ => p += 2 + *d.get(p + 1)? as usize,
        }
    }
    let mut scratch = PacketMeta::default();
    match ethernet(d, p, &mut scratch).ok()? {
        L3::Ip(o) => Some(o),
        L3::Other(_) => None,
    }
}

/// VXLAN: 8-byte header with the I flag, then an Ethernet frame.
fn vxlan(d: &[u8], off: usize, meta: &mut PacketMeta<'_>) -> Option<usize> {
    if *d.get(off)? & 0x08 == 0 {
        return None;
    }
    let mut scratch = PacketMeta {
        vlan: meta.vlan,
        vlan_inner: meta.vlan_inner,
        ..PacketMeta::default()
    };
    match ethernet(d, off + 8, &mut scratch).ok()? {
        L3::Ip(o) => Some(o),
        L3::Other(_) => None,
    }
}

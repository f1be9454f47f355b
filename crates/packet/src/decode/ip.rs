//! IPv4 and IPv6 (with extension headers and fragments).

use super::{
    be16, l4, DecodeError, DecodeErrorKind, DecodeOptions, Fragment, IpAddrBytes, PacketMeta,
};

/// Deepest tunnel nesting followed before the packet is taken as it is.
pub(crate) const MAX_DEPTH: u8 = 4;

/// Decodes the IP packet at `off`, then its L4 header. `depth` counts tunnel levels.
pub(crate) fn decode_ip<'a>(
    d: &'a [u8],
    off: usize,
    meta: &mut PacketMeta<'a>,
    opts: &DecodeOptions,
    depth: u8,
) -> Result<(), DecodeError> {
    let first = *d.get(off).ok_or(DecodeError::truncated("IP", off))?;
    match first >> 4 {
        4 => ipv4(d, off, meta, opts, depth),
        6 => ipv6(d, off, meta, opts, depth),
        v => Err(DecodeError {
            kind: DecodeErrorKind::BadIpVersion(v),
            offset: off,
        }),
    }
}

fn ipv4<'a>(
    d: &'a [u8],
    off: usize,
    meta: &mut PacketMeta<'a>,
    opts: &DecodeOptions,
    depth: u8,
) -> Result<(), DecodeError> {
    if d.len() < off + 20 {
        return Err(DecodeError::truncated("IPv4", d.len()));
    }
    let ihl = ((d[off] & 0x0F) as usize) * 4;
    if ihl < 20 {
        return Err(DecodeError {
            kind: DecodeErrorKind::BadHeaderLength("IPv4"),
            offset: off,
        });
    }
    if d.len() < off + ihl {
        return Err(DecodeError::truncated("IPv4", d.len()));
    }
    let mut total = be16(d, off + 2).unwrap_or(0) as usize;
    if total == 0 {
        // TSO/LRO captures write 0: the captured bytes are all there is.
        total = d.len() - off;
    }
    if total < ihl {
        return Err(DecodeError {
            kind: DecodeErrorKind::BadHeaderLength("IPv4 total"),
            offset: off + 2,
        });
    }
    // A total length beyond the frame's original length is a lie (rewritten traces): the packet
    // cannot carry more than was on the wire.
    let total = total.min(wire_room(meta, off).max(ihl));
    let frag = be16(d, off + 6).unwrap_or(0);
    let frag_off = frag & 0x1FFF;
    let more = frag & 0x2000 != 0;
    meta.ip_version = 4;
    meta.ip_offset = off as u32;
    meta.ttl = d[off + 8];
    meta.proto = d[off + 9];
    meta.src = IpAddrBytes::from_v4([d[off + 12], d[off + 13], d[off + 14], d[off + 15]]);
    meta.dst = IpAddrBytes::from_v4([d[off + 16], d[off + 17], d[off + 18], d[off + 19]]);
    meta.ip_len = total as u32;
    meta.ip_header_len = ihl as u16;
    meta.fragment = if frag_off > 0 {
        Fragment::NonFirst
    } else if more {
        Fragment::First
    } else {
        Fragment::None
    };
    l4::decode_l4(d, off + ihl, total - ihl, meta, opts, depth)
}

fn ipv6<'a>(
    d: &'a [u8],
    off: usize,
    meta: &mut PacketMeta<'a>,
    opts: &DecodeOptions,
    depth: u8,
) -> Result<(), DecodeError> {
    if d.len() < off + 40 {
        return Err(DecodeError::truncated("IPv6", d.len()));
    }
    let mut plen = be16(d, off + 4).unwrap_or(0) as usize;
    if plen == 0 {
        // A zero payload length means a jumbogram (or a "BIG TCP" capture) only when more than
        // 65,535 bytes follow; otherwise the packet is just its header (and the rest padding).
        let rest = d.len() - off - 40;
        if rest > 65_535 {
            plen = rest;
        }
    }
    // As for IPv4: never more payload than the frame had on the wire.
    let plen = plen.min(wire_room(meta, off).saturating_sub(40));
    let mut next = d[off + 6];
    meta.ip_version = 6;
    meta.ip_offset = off as u32;
    meta.ttl = d[off + 7];
    let mut a = [0u8; 16];
    a.copy_from_slice(&d[off + 8..off + 24]);
    meta.src = IpAddrBytes(a);
    a.copy_from_slice(&d[off + 24..off + 40]);
    meta.dst = IpAddrBytes(a);
    meta.ip_len = 40 + plen as u32;
    meta.fragment = Fragment::None;
    let mut cur = off + 40;
    loop {
        let ext_len = match next {
            0 | 43 | 60 | 135 | 139 | 140 => {
                let l = *d
                    .get(cur + 1)
                    .ok_or(DecodeError::truncated("IPv6 extension", d.len()))?;
                (l as usize + 1) * 8
            }
            51 => {
                let l = *d
                    .get(cur + 1)
                    .ok_or(DecodeError::truncated("IPv6 AH", d.len()))?;
                (l as usize + 2) * 4
            }
            44 => {
                let fo =
                    be16(d, cur + 2).ok_or(DecodeError::truncated("IPv6 fragment", d.len()))?;
                if fo >> 3 != 0 {
                    meta.fragment = Fragment::NonFirst;
                } else if fo & 1 == 1 {
                    meta.fragment = Fragment::First;
                }
                8
            }
            _ => break,
        };
        next = *d
            .get(cur)
            .ok_or(DecodeError::truncated("IPv6 extension", d.len()))?;
        cur += ext_len;
        if cur - off - 40 > plen {
            return Err(DecodeError {
                kind: DecodeErrorKind::BadHeaderLength("IPv6 extension"),
                offset: cur,
            });
        }
        if meta.fragment == Fragment::NonFirst {
            break;
        }
    }
    meta.proto = next;
    meta.ip_header_len = (cur - off) as u16;
    let rest = plen + 40 - (cur - off);
    l4::decode_l4(d, cur, rest, meta, opts, depth)
}

/// Bytes the frame had on the wire from `off` on (its original length, not the captured one,
/// so snap-length truncation does not shorten payloads).
fn wire_room(meta: &PacketMeta<'_>, off: usize) -> usize {
    (meta.wire_len as usize).saturating_sub(off)
}

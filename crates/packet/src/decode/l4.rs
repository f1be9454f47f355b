//! Transport headers: TCP, UDP, ICMP, ICMPv6, SCTP; IP-in-IP and UDP tunnels are handed to
//! `tunnel`.

use super::ip::MAX_DEPTH;
use super::{
    be16, be32, tunnel, DecodeError, DecodeErrorKind, DecodeOptions, Fragment, PacketMeta, TcpInfo,
};

/// Decodes the L4 header at `off`; `l4_len` is the L4 length the IP header claims.
pub(crate) fn decode_l4<'a>(
    d: &'a [u8],
    off: usize,
    l4_len: usize,
    meta: &mut PacketMeta<'a>,
    opts: &DecodeOptions,
    depth: u8,
) -> Result<(), DecodeError> {
    meta.sport = 0;
    meta.dport = 0;
    meta.tcp = None;
    meta.icmp = None;
    meta.l4_header_len = 0;
    meta.payload_len = l4_len as u32;
    meta.payload = d.get(off..(off + l4_len).min(d.len())).unwrap_or(&[]);
    if meta.fragment == Fragment::NonFirst {
        // No L4 header in a later fragment: the whole IP payload is payload.
        return Ok(());
    }
    // A fixed header must fit in what the IP header declares (never read the link trailer as
    // a header) and in what was captured. A first fragment too short for its header still
    // gives its ports when it holds them: the rest of the header is in the next fragment.
    let fixed = match meta.proto {
        6 => Some(("TCP", 20)),
        17 | 136 => Some(("UDP", 8)),
        132 => Some(("SCTP", 12)),
        1 | 58 => Some(("ICMP", 2)),
        _ => None,
    };
    if let Some((name, need)) = fixed {
        if l4_len < need {
            if meta.fragment == Fragment::First
                && matches!(meta.proto, 6 | 17 | 136 | 132)
                && l4_len >= 4
            {
                if d.len() < off + 4 {
                    return Err(DecodeError::truncated(name, d.len()));
                }
                meta.sport = be16(d, off).unwrap_or(0);
                meta.dport = be16(d, off + 2).unwrap_or(0);
                meta.l4_header_len = l4_len as u16;
                meta.payload_len = 0;
                meta.payload = &[];
                return Ok(());
            }
            return Err(DecodeError {
                kind: DecodeErrorKind::BadHeaderLength(name),
                offset: off,
            });
        }
        if d.len() < off + need {
            return Err(DecodeError::truncated(name, d.len()));
        }
    }
    let hdr = match meta.proto {
        6 => {
            let doff = ((d[off + 12] >> 4) as usize) * 4;
            if doff < 20 {
                return Err(DecodeError {
                    kind: DecodeErrorKind::BadHeaderLength("TCP"),
                    offset: off + 12,
                });
            }
            meta.sport = be16(d, off).unwrap_or(0);
            meta.dport = be16(d, off + 2).unwrap_or(0);
            meta.tcp = Some(TcpInfo {
                flags: d[off + 13],
                seq: be32(d, off + 4).unwrap_or(0),
                ack: be32(d, off + 8).unwrap_or(0),
                window: be16(d, off + 14).unwrap_or(0),
            });
            doff
        }
        17 | 136 => {
            meta.sport = be16(d, off).unwrap_or(0);
            meta.dport = be16(d, off + 2).unwrap_or(0);
            8
        }
        132 => {
            meta.sport = be16(d, off).unwrap_or(0);
            meta.dport = be16(d, off + 2).unwrap_or(0);
            12
        }
        1 | 58 => {
            meta.icmp = Some((d[off], d[off + 1]));
            8.min(l4_len)
        }
        4 | 41 if opts.decode_tunnels && depth < MAX_DEPTH => {
            if meta.fragment == Fragment::None {
                return super::ip::decode_ip(d, off, meta, opts, depth + 1);
            }
            0
        }
        _ => 0,
    };
    meta.l4_header_len = hdr as u16;
    meta.payload_len = l4_len.saturating_sub(hdr) as u32;
    let start = (off + hdr).min(d.len());
    let end = (off + l4_len).clamp(start, d.len());
    meta.payload = &d[start..end];
    if opts.decode_tunnels
        && depth < MAX_DEPTH
        && meta.proto == 17
        && meta.fragment == Fragment::None
    {
        tunnel::decode_udp_tunnel(d, off + 8, meta, opts, depth)?;
    }
    Ok(())
}

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
    let hdr = match meta.proto {
        6 => {
            if d.len() < off + 20 {
                return Err(DecodeError::truncated("TCP", d.len()));
            }
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
            if d.len() < off + 8 {
                return Err(DecodeError::truncated("UDP", d.len()));
            }
            meta.sport = be16(d, off).unwrap_or(0);
            meta.dport = be16(d, off + 2).unwrap_or(0);
            8
        }
        132 => {
            if d.len() < off + 12 {
                return Err(DecodeError::truncated("SCTP", d.len()));
            }
            meta.sport = be16(d, off).unwrap_or(0);
            meta.dport = be16(d, off + 2).unwrap_or(0);
            12
        }
        1 | 58 => {
            if d.len() < off + 2 {
                return Err(DecodeError::truncated("ICMP", d.len()));
            }
            meta.icmp = Some((d[off], d[off + 1]));
            8
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

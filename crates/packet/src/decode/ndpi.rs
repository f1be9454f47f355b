//! A decoder that reproduces, quirk for quirk, how NFStream 6.6.0's engine (after nDPI's
//! reader) turns a frame into a flow key. Used only by the `nfstream` profile, whose purpose is
//! comparison with NFStream/nDPI ground truth; netvigil's own decoder is [`super::decode`].
//!
//! What differs from a correct decoder, on purpose: frames under 28 captured bytes are ignored;
//! the IP version nibble, not the ethertype, decides whether a frame is IP (so some non-IP
//! frames become odd "IP" flows, as in NFStream); only 0x8100 is a VLAN tag and the innermost
//! tag is kept; LLC/SNAP types are read byte-swapped; later fragments are dropped only behind
//! ethertype 0x0800; IP-in-IP is always unwrapped; GTP-U/TZSP/CAPWAP are unwrapped with
//! tunnel ids 1/3/2 and their header checks; truncated IPv6 and IPv4 with a total length below
//! its header are dropped; ports exist only for TCP (≥ 20 bytes) and UDP (≥ 8 bytes). Reads
//! past the captured bytes see zeros, as the C code reads its buffer.

use super::{IpAddrBytes, PacketMeta, TcpInfo, Tunnel};
use crate::{LinkType, Timestamp};

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;

/// Captured bytes with C-like zero reads past the end.
struct Buf<'a>(&'a [u8]);

impl Buf<'_> {
    #[inline]
    fn b(&self, i: usize) -> u8 {
        self.0.get(i).copied().unwrap_or(0)
    }
    #[inline]
    fn u16(&self, i: usize) -> u16 {
        u16::from_be_bytes([self.b(i), self.b(i + 1)])
    }
    #[inline]
    fn u32(&self, i: usize) -> u32 {
        u32::from_be_bytes([self.b(i), self.b(i + 1), self.b(i + 2), self.b(i + 3)])
    }
    fn addr16(&self, i: usize) -> [u8; 16] {
        let mut a = [0u8; 16];
        for (k, x) in a.iter_mut().enumerate() {
            *x = self.b(i + k);
        }
        a
    }
}

struct State {
    ty: u16,
    ip_offset: usize,
    pyld_eth_len: u16,
    vlan_id: u16,
}

fn datalink(link: LinkType, caplen: usize, p: &Buf<'_>, eth_off: usize, st: &mut State) -> bool {
    if caplen < eth_off + 28 {
        return false;
    }
    match link.0 {
        0 => {
            st.ty = if p.u32(eth_off) == 2 {
                ETH_P_IP
            } else {
                ETH_P_IPV6
            };
            st.ip_offset = eth_off + 4;
        }
        50 => {
            st.ip_offset = eth_off + 4;
            st.ty = p.u16(eth_off + 2);
        }
        9 | 104 => {
            // nDPI tests packet[0], not packet[eth_offset].
            if p.b(0) == 0x0f || p.b(0) == 0x8f {
                st.ip_offset = eth_off + 4;
                st.ty = p.u16(eth_off + 2);
            } else {
                st.ip_offset = eth_off + 2;
                st.ty = p.u16(eth_off);
            }
        }
        228 => {
            st.ty = ETH_P_IP;
            st.ip_offset = eth_off;
        }
        229 => {
            st.ty = ETH_P_IPV6;
            st.ip_offset = eth_off;
        }
        1 => {
            st.ip_offset = eth_off + 14;
            let check = p.u16(eth_off + 12);
            if check <= 1500 {
                st.pyld_eth_len = check;
            } else if check >= 1536 {
                st.ty = check;
            }
            if st.pyld_eth_len != 0 {
                let io = st.ip_offset;
                let (dsap, ssap) = (p.b(io), p.b(io + 1));
                if dsap == 0xaa || ssap == 0xaa {
                    // The SNAP type is read without byte-order conversion.
                    st.ty = p.b(io + 6) as u16 | (p.b(io + 7) as u16) << 8;
                    st.ip_offset += 8;
                } else if dsap == 0x42 || ssap == 0x42 {
                    return false;
                }
            }
        }
        113 => {
            st.ty = p.u16(eth_off + 14);
            st.ip_offset = 16 + eth_off;
        }
        12 | 101 => {
            st.ip_offset = eth_off;
            if caplen > eth_off {
                match p.b(eth_off) >> 4 {
                    4 => st.ty = ETH_P_IP,
                    6 => st.ty = ETH_P_IPV6,
                    _ => {}
                }
            }
        }
        _ => return false,
    }
    true
}

fn ether_type(caplen: usize, p: &Buf<'_>, st: &mut State) -> bool {
    loop {
        let io = st.ip_offset;
        match st.ty {
            0x8100 => {
                if io + 4 >= caplen {
                    return false;
                }
                st.vlan_id = p.u16(io) & 0xFFF;
                st.ty = p.u16(io + 2);
                let mut io = io + 4;
                st.ip_offset = io;
                while st.ty == 0x8100 && io + 4 < caplen {
                    st.vlan_id = p.u16(io) & 0xFFF;
                    st.ty = p.u16(io + 2);
                    io += 4;
                    st.ip_offset = io;
                }
            }
            0x8847 | 0x8848 => {
                if io + 4 >= caplen {
                    return false;
                }
                let mut lab = p.u32(io);
                st.ty = ETH_P_IP;
                let mut io = io + 4;
                while (lab >> 8) & 1 == 0 && io + 4 < caplen {
                    lab = p.u32(io);
                    io += 4;
                }
                st.ip_offset = io;
            }
            0x8864 => {
                st.ty = ETH_P_IP;
                st.ip_offset = io + 8;
            }
            _ => return true,
        }
    }
}

/// nDPI's `ndpi_handle_ipv6_extension_headers`: Some((l4 offset, l4 length, next header)).
fn ipv6_ext(
    mut l3len: u16,
    p: &Buf<'_>,
    mut l4off: usize,
    mut l4len: u16,
    mut nxt: u8,
) -> Option<(usize, u16, u8)> {
    while l3len > 1 && matches!(nxt, 0 | 43 | 44 | 60 | 135 | 59) {
        if nxt == 59 {
            return None;
        }
        if nxt == 44 {
            if l4len < 8 || l3len < 5 {
                return None;
            }
            l3len -= 5;
            nxt = p.b(l4off);
            if p.u16(l4off + 2) >> 3 != 0 {
                return None;
            }
            l4len = l4len.wrapping_sub(8);
            l4off += 8;
            continue;
        }
        if l4len < 2 {
            return None;
        }
        let ehdr_len = p.b(l4off + 1) as u16 * 8 + 8;
        if ehdr_len > l3len {
            return None;
        }
        l3len -= ehdr_len;
        if l4len < ehdr_len {
            return None;
        }
        nxt = p.b(l4off);
        l4len -= ehdr_len;
        l4off += ehdr_len as usize;
    }
    Some((l4off, l4len, nxt))
}

/// Decodes a frame as NFStream does; `None` when NFStream ignores it.
pub fn decode_ndpi<'a>(
    link: LinkType,
    ts: Timestamp,
    wire_len: u32,
    data: &'a [u8],
    decode_tunnels: bool,
) -> Option<PacketMeta<'a>> {
    let p = Buf(data);
    let caplen = data.len();
    let mut st = State {
        ty: 0,
        ip_offset: 0,
        pyld_eth_len: 0,
        vlan_id: 0,
    };
    let mut eth_off = 0usize;
    let mut tunnel = Tunnel::None;
    let mut frag_off: u16 = 0;
    let mut proto: u8 = 0;
    // Which header packet_parse reads: Some(offset) of an IPv4 or of an IPv6 header.
    let mut iph: Option<usize>;
    let mut iph6: Option<usize> = None;
    let mut relink = true;
    loop {
        if relink {
            if !datalink(link, caplen, &p, eth_off, &mut st) || !ether_type(caplen, &p, &mut st) {
                return None;
            }
            relink = false;
        }
        // iph_check
        let io = st.ip_offset;
        if caplen < io + 20 {
            return None;
        }
        if st.ty == ETH_P_IP && caplen >= io {
            frag_off = p.u16(io + 6);
            proto = p.b(io + 9);
        }
        let ip_len: usize;
        match p.b(io) >> 4 {
            4 => {
                let hl = (p.b(io) & 0xF) as usize * 4;
                iph = Some(io);
                let inner = p.b(io + 9);
                if (inner == 41 || inner == 4) && hl > 0 {
                    st.ip_offset = io + hl;
                    continue;
                }
                if frag_off & 0x1FFF != 0 {
                    return None;
                }
                ip_len = hl;
            }
            6 => {
                if caplen < io + 40 {
                    return None;
                }
                iph6 = Some(io);
                iph = None;
                proto = p.b(io + 6);
                let plen = p.u16(io + 4);
                if caplen < io + 40 + plen as usize {
                    return None;
                }
                let ipsize = (caplen - io) as u16;
                let (l4off, l4len, nxt) =
                    ipv6_ext(ipsize.wrapping_sub(40), &p, io + 40, plen, proto)?;
                proto = nxt;
                if proto == 41 || proto == 4 {
                    st.ip_offset = l4off;
                    continue;
                }
                // For IPv6 the engine uses the remaining L4 length where a header length belongs.
                ip_len = l4len as usize;
            }
            _ => return None,
        }
        if decode_tunnels && proto == 17 {
            if caplen < io + ip_len + 8 {
                return None;
            }
            let uo = io + ip_len;
            let (sport, dport) = (p.u16(uo), p.u16(uo + 2));
            if (sport == 2152 || dport == 2152) && io + ip_len + 16 < caplen {
                let mut off = uo + 8;
                let (flags, mtype) = (p.b(off), p.b(off + 1));
                let mut err = false;
                if (flags & 0xE0) >> 5 == 1 && mtype == 0xFF {
                    off += 8;
                    if flags & 0x07 != 0 {
                        off += 4;
                    }
                    if flags & 0x04 != 0 {
                        while off < caplen {
                            let ext = (p.b(off) as usize) << 2;
                            off += ext;
                            if off >= caplen || ext == 0 {
                                err = true;
                                break;
                            }
                            if p.b(off - 1) == 0 {
                                break;
                            }
                        }
                    }
                    if off < caplen && !err {
                        tunnel = Tunnel::Gtp;
                        st.ip_offset = off;
                        match p.b(off) >> 4 {
                            6 => {
                                iph6 = Some(off);
                                iph = None;
                                if caplen < off + 40 {
                                    return None;
                                }
                            }
                            4 => {
                                iph = Some(off);
                                if caplen < off + 20 {
                                    return None;
                                }
                            }
                            _ => return None,
                        }
                    }
                }
            } else if sport == 37008 || dport == 37008 {
                if caplen < io + ip_len + 12 {
                    return None;
                }
                let mut off = uo + 8;
                tunnel = Tunnel::Tzsp;
                if p.b(off) == 1 && p.b(off + 1) == 0 && p.u16(off + 2) == 1 {
                    off += 4;
                    if off < caplen {
                        let tag = p.b(off);
                        let tl = if tag <= 1 {
                            1
                        } else {
                            if off + 1 >= caplen {
                                return None;
                            }
                            p.b(off + 1) as usize
                        };
                        off += tl;
                        if off >= caplen {
                            return None;
                        }
                        eth_off = off;
                        relink = true;
                        continue;
                    }
                }
            } else if sport == 5247 || dport == 5247 {
                let mut off = uo + 8;
                if off + 1 < caplen && p.b(off) & 0x0F == 0 {
                    off += ((p.b(off + 1) & 0xF8) >> 1) as usize;
                    if off + 32 < caplen {
                        off += 24;
                        st.ty = p.u16(off + 6);
                        st.ip_offset = off + 8;
                        tunnel = Tunnel::Capwap;
                        continue;
                    }
                }
            }
        }
        break;
    }
    // packet_parse
    let io = st.ip_offset;
    let ipsize = (caplen.saturating_sub(io)) as u16;
    let mut m = PacketMeta {
        ts,
        wire_len,
        cap_len: caplen as u32,
        vlan: if st.vlan_id != 0 {
            Some(st.vlan_id)
        } else {
            None
        },
        vlan_inner: if st.vlan_id != 0 {
            Some(st.vlan_id)
        } else {
            None
        },
        tunnel,
        ..PacketMeta::default()
    };
    let (l4, l4len);
    if let Some(h) = iph {
        let ihl = (p.b(h) & 0xF) as u16 * 4;
        let tot = p.u16(h + 2);
        let len = tot.wrapping_sub(ihl);
        if ipsize < 20 || ihl > ipsize || (tot.max(ipsize) as u32) < ihl as u32 + len as u32 {
            return None;
        }
        m.proto = p.b(h + 9);
        m.ip_version = 4;
        m.ip_offset = h as u32;
        m.ip_len = tot as u32;
        m.ip_header_len = ihl;
        m.src = IpAddrBytes::from_v4([p.b(h + 12), p.b(h + 13), p.b(h + 14), p.b(h + 15)]);
        m.dst = IpAddrBytes::from_v4([p.b(h + 16), p.b(h + 17), p.b(h + 18), p.b(h + 19)]);
        l4 = h + ihl as usize;
        l4len = len;
    } else {
        let h = iph6?;
        if ipsize < 40 {
            return None;
        }
        let plen = p.u16(h + 4);
        if (ipsize as u32) < 40 + plen as u32 {
            return None;
        }
        let (l4abs, len, nxt) = ipv6_ext(ipsize.wrapping_sub(40), &p, h + 40, plen, p.b(h + 6))?;
        let l4off = l4abs - h;
        if l4off > ipsize as usize
            || ((40 + plen as u32).max(ipsize as u32) as usize) < l4off + len as usize
        {
            return None;
        }
        m.proto = nxt;
        m.ip_version = 6;
        m.ip_offset = h as u32;
        m.ip_len = 40 + plen as u32;
        m.ip_header_len = l4off as u16;
        m.src = IpAddrBytes(p.addr16(h + 8));
        m.dst = IpAddrBytes(p.addr16(h + 24));
        l4 = l4abs;
        l4len = len;
    }
    match m.proto {
        6 if l4len >= 20 => {
            m.sport = p.u16(l4);
            m.dport = p.u16(l4 + 2);
            let doff = (p.b(l4 + 12) >> 4) as u16 * 4;
            m.l4_header_len = doff;
            m.tcp = Some(TcpInfo {
                flags: p.b(l4 + 13),
                seq: p.u32(l4 + 4),
                ack: p.u32(l4 + 8),
                window: p.u16(l4 + 14),
            });
        }
        17 if l4len >= 8 => {
            m.sport = p.u16(l4);
            m.dport = p.u16(l4 + 2);
            m.l4_header_len = 8;
        }
        _ => {}
    }
    m.payload_len = (l4len as u32).saturating_sub(m.l4_header_len as u32);
    let start = (l4 + m.l4_header_len as usize).min(caplen);
    let end = (l4 + l4len as usize).clamp(start, caplen);
    m.payload = &data[start..end];
    Some(m)
}

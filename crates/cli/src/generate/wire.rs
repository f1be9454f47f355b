//! Attack packets as the scenarios describe them (addresses, ports, flags, payload) and as they
//! go on the wire: Ethernet + IPv4 with checksummed IPv4, TCP, UDP and ICMP headers. Scenarios
//! build [`Pkt`]s (small: bulk payload is described, not stored); the writer renders each one
//! when its time comes, so a 20 MB upload costs a few bytes per segment until it is written.

use std::collections::HashSet;

/// TCP flags.
pub(crate) const FIN: u8 = 0x01;
pub(crate) const SYN: u8 = 0x02;
pub(crate) const RST: u8 = 0x04;
pub(crate) const PSH: u8 = 0x08;
pub(crate) const ACK: u8 = 0x10;

/// An IPv4 address.
pub(crate) type V4 = [u8; 4];

/// The text form of an address (`10.1.2.3`).
pub(crate) fn v4_text(a: V4) -> String {
    std::net::Ipv4Addr::from(a).to_string()
}

/// The transport part of a packet.
#[derive(Clone, Copy, Debug)]
pub(crate) enum L4 {
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    Icmp {
        kind: u8,
        code: u8,
        id: u16,
        seq: u16,
    },
    /// A raw IP payload of protocol `proto` (a fragment: the payload holds its bytes as they
    /// are, headers and checksums of the whole datagram included).
    Raw {
        proto: u8,
    },
}

/// What a packet carries after its transport header.
#[derive(Clone, Debug)]
pub(crate) enum Payload {
    None,
    Bytes(Vec<u8>),
    /// `len` pseudo-random bytes (encrypted or junk data) drawn from `key`.
    Noise {
        len: u32,
        key: u32,
    },
    /// `len` bytes at `offset` of a TLS application-data stream keyed by `key`: a record header
    /// every [`TLS_RECORD`] bytes, pseudo-random ciphertext between.
    TlsStream {
        offset: u64,
        len: u32,
        key: u32,
    },
}

/// A full TLS 1.3 application-data record on the wire: header 5 + 16,384 data + type 1 + tag 16.
pub(crate) const TLS_RECORD: u64 = 16_406;

impl Payload {
    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Payload::None => 0,
            Payload::Bytes(b) => b.len(),
            Payload::Noise { len, .. } | Payload::TlsStream { len, .. } => *len as usize,
        }
    }

    fn extend(&self, out: &mut Vec<u8>) {
        match self {
            Payload::None => {}
            Payload::Bytes(b) => out.extend_from_slice(b),
            Payload::Noise { len, key } => {
                out.extend((0..*len as u64).map(|i| noise_byte(*key, i)));
            }
            Payload::TlsStream { offset, len, key } => {
                out.extend((*offset..*offset + *len as u64).map(|p| {
                    let o = p % TLS_RECORD;
                    let body = (TLS_RECORD - 5) as u16;
                    match o {
                        0 => 0x17,
                        1 => 0x03,
                        2 => 0x03,
                        3 => (body >> 8) as u8,
                        4 => body as u8,
                        _ => noise_byte(*key, p),
                    }
                }));
            }
        }
    }
}

/// Byte `i` of the pseudo-random stream `key` (splitmix64 of both).
pub(crate) fn noise_byte(key: u32, i: u64) -> u8 {
    let mut z = (u64::from(key) << 40 ^ i).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u8
}

/// `len` pseudo-random bytes of stream `key`, as a vector.
pub(crate) fn noise(key: u32, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| noise_byte(key, i)).collect()
}

/// One attack packet, rendered when written.
#[derive(Clone, Debug)]
pub(crate) struct Pkt {
    /// Capture time, µs since the epoch.
    pub t: i64,
    pub src: V4,
    pub dst: V4,
    pub ttl: u8,
    pub ip_id: u16,
    /// The IPv4 flags and fragment offset field (0x4000: don't fragment).
    pub frag: u16,
    pub l4: L4,
    pub payload: Payload,
}

/// The MAC of the gateway, which every external host's frames come from and go to.
pub(crate) const GATEWAY_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// The MAC of an internal host: locally administered, its IPv4 address in the last four
/// bytes (`10.1.2.3` is `02:00:0a:01:02:03`), so every host on the link is a device of its own.
pub(crate) fn host_mac(a: V4) -> [u8; 6] {
    [2, 0, a[0], a[1], a[2], a[3]]
}

/// Whether `a` is an internal (10/8) address: a host on the capture point's link.
fn internal(a: V4) -> bool {
    a[0] == 10
}

/// Writes `p` as an Ethernet frame into `f` (cleared first), padded to the 60-byte minimum.
pub(crate) fn render(p: &Pkt, f: &mut Vec<u8>) {
    f.clear();
    // The same MACs as the benign generator: an internal host's own, the gateway's for the
    // outside.
    let side = |a: V4| {
        if internal(a) {
            host_mac(a)
        } else {
            GATEWAY_MAC
        }
    };
    let (src_mac, dst_mac) = (side(p.src), side(p.dst));
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let ip_at = f.len();
    f.extend_from_slice(&[0u8; 20]);
    let l4_at = f.len();
    let proto = match p.l4 {
        L4::Tcp {
            sport,
            dport,
            seq,
            ack,
            flags,
            window,
        } => {
            // MSS, SACK permitted, window scale on SYNs, as a Linux stack sends them.
            let opts: &[u8] = if flags & SYN != 0 {
                &[2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7]
            } else {
                &[]
            };
            let hlen = 20 + opts.len();
            f.extend_from_slice(&sport.to_be_bytes());
            f.extend_from_slice(&dport.to_be_bytes());
            f.extend_from_slice(&seq.to_be_bytes());
            f.extend_from_slice(&ack.to_be_bytes());
            f.push(((hlen / 4) as u8) << 4);
            f.push(flags);
            f.extend_from_slice(&window.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 0]);
            f.extend_from_slice(opts);
            p.payload.extend(f);
            let sum = l4_checksum(p.src, p.dst, 6, &f[l4_at..]);
            f[l4_at + 16..l4_at + 18].copy_from_slice(&sum.to_be_bytes());
            6
        }
        L4::Udp { sport, dport } => {
            let len = (8 + p.payload.len()) as u16;
            f.extend_from_slice(&sport.to_be_bytes());
            f.extend_from_slice(&dport.to_be_bytes());
            f.extend_from_slice(&len.to_be_bytes());
            f.extend_from_slice(&[0, 0]);
            p.payload.extend(f);
            let sum = udp_checksum(p.src, p.dst, &f[l4_at..]);
            f[l4_at + 6..l4_at + 8].copy_from_slice(&sum.to_be_bytes());
            17
        }
        L4::Icmp {
            kind,
            code,
            id,
            seq,
        } => {
            f.extend_from_slice(&[kind, code, 0, 0]);
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(&seq.to_be_bytes());
            p.payload.extend(f);
            let sum = checksum(&f[l4_at..], 0);
            f[l4_at + 2..l4_at + 4].copy_from_slice(&sum.to_be_bytes());
            1
        }
        L4::Raw { proto } => {
            p.payload.extend(f);
            proto
        }
    };
    let total = (f.len() - ip_at) as u16;
    let h = &mut f[ip_at..l4_at];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&p.ip_id.to_be_bytes());
    h[6..8].copy_from_slice(&p.frag.to_be_bytes());
    h[8] = p.ttl;
    h[9] = proto;
    h[12..16].copy_from_slice(&p.src);
    h[16..20].copy_from_slice(&p.dst);
    let sum = checksum(h, 0);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    if f.len() < 60 {
        f.resize(60, 0);
    }
}

/// The Internet checksum of `data`, starting from the partial sum `init`.
pub(crate) fn checksum(data: &[u8], init: u32) -> u16 {
    let mut sum = init as u64;
    for w in data.chunks(2) {
        sum += u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A TCP or UDP checksum: the segment with its IPv4 pseudo-header.
fn l4_checksum(src: V4, dst: V4, proto: u8, segment: &[u8]) -> u16 {
    let pseudo = u32::from(u16::from_be_bytes([src[0], src[1]]))
        + u32::from(u16::from_be_bytes([src[2], src[3]]))
        + u32::from(u16::from_be_bytes([dst[0], dst[1]]))
        + u32::from(u16::from_be_bytes([dst[2], dst[3]]))
        + u32::from(proto)
        + segment.len() as u32;
    checksum(segment, pseudo)
}

/// A UDP checksum (0 is sent as 0xffff: 0 means "none" in UDP).
pub(crate) fn udp_checksum(src: V4, dst: V4, datagram: &[u8]) -> u16 {
    match l4_checksum(src, dst, 17, datagram) {
        0 => 0xffff,
        s => s,
    }
}

/// Addresses handed out to the scenarios, each at most once, so that no two scenarios (and no
/// two roles of one) share a host.
pub(crate) struct Addrs {
    used: HashSet<V4>,
}

/// The documentation networks (RFC 5737) the benign generator's servers come from too.
const DOC_NETS: [[u8; 3]; 3] = [[192, 0, 2], [198, 51, 100], [203, 0, 113]];

impl Addrs {
    pub(crate) fn new() -> Addrs {
        Addrs {
            used: HashSet::new(),
        }
    }

    fn take(&mut self, rng: &mut fastrand::Rng, draw: impl Fn(&mut fastrand::Rng) -> V4) -> V4 {
        loop {
            let a = draw(rng);
            if self.used.insert(a) {
                return a;
            }
        }
    }

    /// An internal host (10/8, as the benign clients).
    pub(crate) fn internal(&mut self, rng: &mut fastrand::Rng) -> V4 {
        self.take(rng, |r| [10, r.u8(..), r.u8(..), r.u8(1..255)])
    }

    /// An internal /24 none of whose hosts is taken yet; all 254 are taken by this call.
    pub(crate) fn internal_net(&mut self, rng: &mut fastrand::Rng) -> [u8; 3] {
        loop {
            let net = [10, rng.u8(..), rng.u8(..)];
            let hosts: Vec<V4> = (1..=254).map(|h| [net[0], net[1], net[2], h]).collect();
            if hosts.iter().all(|h| !self.used.contains(h)) {
                self.used.extend(hosts);
                return net;
            }
        }
    }

    /// An external host in a documentation network.
    pub(crate) fn external(&mut self, rng: &mut fastrand::Rng) -> V4 {
        self.take(rng, |r| {
            let n = DOC_NETS[r.usize(..DOC_NETS.len())];
            [n[0], n[1], n[2], r.u8(1..255)]
        })
    }

    /// A spoofed source: 198.18.0.0/15, the benchmarking range (RFC 2544) — reserved like the
    /// documentation networks, so no real host is named, but large enough (131,072 addresses)
    /// for thousands of distinct forged sources.
    pub(crate) fn spoofed(&mut self, rng: &mut fastrand::Rng) -> V4 {
        self.take(rng, |r| [198, 18 + r.u8(..2), r.u8(..), r.u8(1..255)])
    }
}

/// Where a host sits relative to the capture point (the perimeter): inside answers within a
/// fraction of a millisecond, outside after a round trip.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Side {
    pub addr: V4,
    pub ttl: u8,
    /// µs from a packet going to this host to its answer being seen at the capture point.
    pub reply_us: i64,
}

impl Side {
    /// An internal host: 64 hops of TTL left (Linux), answers in 100–400 µs.
    pub(crate) fn near(addr: V4, rng: &mut fastrand::Rng) -> Side {
        Side {
            addr,
            ttl: 64,
            reply_us: rng.i64(100..400),
        }
    }

    /// An external host: some hops away, answers after a 15–90 ms round trip.
    pub(crate) fn far(addr: V4, rng: &mut fastrand::Rng) -> Side {
        Side {
            addr,
            ttl: 64 - rng.u8(6..20),
            reply_us: rng.i64(15_000..90_000),
        }
    }
}

/// A TCP connection being played: it appends its packets to `out` and keeps each side's
/// sequence number and the clock. Times: `t` is when the last packet was seen.
pub(crate) struct Conn {
    pub client: Side,
    pub server: Side,
    pub cport: u16,
    pub sport: u16,
    cseq: u32,
    sseq: u32,
    c_id: u16,
    s_id: u16,
    pub t: i64,
    /// Largest segment payload.
    pub mss: u32,
}

/// Gap between back-to-back segments of one sender (serialization and pacing), µs.
const BACK_TO_BACK_US: i64 = 12;

impl Conn {
    /// A connection whose SYN is seen at `t`.
    pub(crate) fn new(
        rng: &mut fastrand::Rng,
        client: Side,
        server: Side,
        cport: u16,
        sport: u16,
        t: i64,
    ) -> Conn {
        Conn {
            client,
            server,
            cport,
            sport,
            cseq: rng.u32(..),
            sseq: rng.u32(..),
            c_id: rng.u16(..),
            s_id: rng.u16(..),
            t,
            mss: 1460,
        }
    }

    /// One segment from the client (`from_client`) or the server, `after` µs after the last.
    pub(crate) fn seg(
        &mut self,
        out: &mut Vec<Pkt>,
        from_client: bool,
        flags: u8,
        payload: Payload,
        after: i64,
    ) {
        self.t += after;
        let len = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
        let (src, dst, sp, dp, seq, ack, id) = if from_client {
            self.c_id = self.c_id.wrapping_add(1);
            (
                self.client,
                self.server,
                self.cport,
                self.sport,
                &mut self.cseq,
                self.sseq,
                self.c_id,
            )
        } else {
            self.s_id = self.s_id.wrapping_add(1);
            (
                self.server,
                self.client,
                self.sport,
                self.cport,
                &mut self.sseq,
                self.cseq,
                self.s_id,
            )
        };
        out.push(Pkt {
            t: self.t,
            src: src.addr,
            dst: dst.addr,
            ttl: src.ttl,
            ip_id: id,
            frag: 0x4000,
            l4: L4::Tcp {
                sport: sp,
                dport: dp,
                seq: *seq,
                ack: if flags & ACK != 0 { ack } else { 0 },
                flags,
                window: if flags & RST != 0 { 0 } else { 502 },
            },
            payload,
        });
        *seq = seq.wrapping_add(len);
    }

    /// The µs until `to_client`'s side answers what it just received.
    pub(crate) fn reply(&self, to_client: bool) -> i64 {
        if to_client {
            self.client.reply_us
        } else {
            self.server.reply_us
        }
    }

    /// SYN, SYN-ACK, ACK.
    pub(crate) fn handshake(&mut self, out: &mut Vec<Pkt>) {
        self.seg(out, true, SYN, Payload::None, 0);
        self.seg(out, false, SYN | ACK, Payload::None, self.server.reply_us);
        self.seg(out, true, ACK, Payload::None, self.client.reply_us);
    }

    /// `data` from one side in MSS-sized segments (PSH on the last), the other side acknowledging
    /// every second segment and the last, as a delayed-ACK stack does. The first segment leaves
    /// `after` µs after the previous packet.
    pub(crate) fn send(
        &mut self,
        out: &mut Vec<Pkt>,
        from_client: bool,
        data: Vec<u8>,
        after: i64,
    ) {
        let n = data.len().div_ceil(self.mss as usize).max(1);
        let mut gap = after;
        for (i, chunk) in data.chunks(self.mss as usize).enumerate() {
            let last = i + 1 == n;
            let flags = if last { PSH | ACK } else { ACK };
            self.seg(out, from_client, flags, Payload::Bytes(chunk.to_vec()), gap);
            gap = BACK_TO_BACK_US;
            // The receiver's ACK is seen a reply time later, while later segments are already
            // on their way (the merge puts them in time order).
            if i % 2 == 1 && !last {
                let back = self.reply(!from_client);
                self.seg(out, !from_client, ACK, Payload::None, back);
                self.t -= back;
            }
        }
    }

    /// A TLS stream of `len` bytes from the client, from stream offset 0, acknowledged every
    /// second segment (the bulk of an upload).
    pub(crate) fn upload(&mut self, out: &mut Vec<Pkt>, len: u64, key: u32, spacing_us: i64) {
        let mss = u64::from(self.mss);
        let mut off = 0;
        let mut i = 0u64;
        while off < len {
            let n = mss.min(len - off) as u32;
            let last = off + u64::from(n) == len;
            let flags = if last { PSH | ACK } else { ACK };
            let payload = Payload::TlsStream {
                offset: off,
                len: n,
                key,
            };
            self.seg(
                out,
                true,
                flags,
                payload,
                if i == 0 { 0 } else { spacing_us },
            );
            if i % 2 == 1 || last {
                let back = self.server.reply_us;
                self.seg(out, false, ACK, Payload::None, back);
                self.t -= back;
            }
            off += u64::from(n);
            i += 1;
        }
    }

    /// A bare ACK from one side, `after` µs after the last packet.
    pub(crate) fn ack(&mut self, out: &mut Vec<Pkt>, from_client: bool, after: i64) {
        self.seg(out, from_client, ACK, Payload::None, after);
    }

    /// The orderly close started by `client_first` (or the server): FIN, FIN, ACK.
    pub(crate) fn close(&mut self, out: &mut Vec<Pkt>, client_first: bool, after: i64) {
        self.seg(out, client_first, FIN | ACK, Payload::None, after);
        let back = self.reply(!client_first);
        self.seg(out, !client_first, FIN | ACK, Payload::None, back);
        let back = self.reply(client_first);
        self.seg(out, client_first, ACK, Payload::None, back);
    }

    /// A request and its response: the client's `req`, then the server's `resp` after it
    /// thought for `think` µs, then the client's ACK.
    pub(crate) fn exchange(&mut self, out: &mut Vec<Pkt>, req: Vec<u8>, resp: Vec<u8>, think: i64) {
        self.send(out, true, req, self.client.reply_us.min(2_000));
        let back = self.server.reply_us + think;
        self.send(out, false, resp, back);
        let back = self.client.reply_us;
        self.ack(out, true, back);
    }
}

/// The HTTP `Date` of a capture time (µs).
pub(crate) fn http_date(t: i64) -> String {
    chrono::DateTime::from_timestamp(t.div_euclid(1_000_000), 0)
        .map(|d| d.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default()
}

/// Standard base64 (RFC 4648, padded), for HTTP basic authentication.
pub(crate) fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_encodes_as_rfc_4648() {
        assert_eq!(base64(b"admin:admin"), "YWRtaW46YWRtaW4=");
        assert_eq!(base64(b"root:123456"), "cm9vdDoxMjM0NTY=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    #[test]
    fn rendered_headers_carry_valid_checksums() {
        let p = Pkt {
            t: 0,
            src: [10, 0, 0, 1],
            dst: [192, 0, 2, 7],
            ttl: 64,
            ip_id: 1,
            frag: 0x4000,
            l4: L4::Tcp {
                sport: 40000,
                dport: 443,
                seq: 1,
                ack: 2,
                flags: PSH | ACK,
                window: 502,
            },
            payload: Payload::Bytes(b"hello".to_vec()),
        };
        let mut f = Vec::new();
        render(&p, &mut f);
        // Summing a header with its checksum gives 0xffff, whose complement is 0.
        assert_eq!(checksum(&f[14..34], 0), 0);
        let seg = &f[34..34 + 25];
        assert_eq!(l4_checksum(p.src, p.dst, 6, seg), 0);
        let u = Pkt {
            l4: L4::Udp {
                sport: 53,
                dport: 5000,
            },
            ..p
        };
        render(&u, &mut f);
        assert_eq!(l4_checksum(u.src, u.dst, 17, &f[34..34 + 13]), 0);
    }

    #[test]
    fn a_tls_stream_has_a_record_header_every_record() {
        let mut f = Vec::new();
        Payload::TlsStream {
            offset: TLS_RECORD - 2,
            len: 10,
            key: 3,
        }
        .extend(&mut f);
        assert_eq!(&f[2..5], &[0x17, 0x03, 0x03]);
        assert_eq!(u16::from_be_bytes([f[5], f[6]]), 16_401);
    }
}

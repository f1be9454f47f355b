//! Reflection / amplification at one internal victim. The attacker's requests carry the
//! victim's forged address and reach the reflectors elsewhere, so the capture sees only the
//! answers: large UDP responses from many reflectors (source port 53, 123, 1900 or 11211) to
//! the victim. Each reflector answers a few requests, all to the one source port the attacker
//! forged for it: one flow per reflector (DNS adds one for its IP fragments).

use super::super::scenario::{Ctx, Played, Window};
use super::super::wire::{noise, udp_checksum, v4_text, Payload, Pkt, Side, L4, V4};
use super::ephemeral_ports;

/// `dns_amplification`: open resolvers, and requests each answers.
pub(crate) const DNS_REFLECTORS: usize = 50;
const DNS_REQUESTS: usize = 40;
/// `ntp_amplification`: servers, requests each, and packets per monlist answer.
pub(crate) const NTP_REFLECTORS: usize = 30;
const NTP_REQUESTS: usize = 3;
const NTP_PACKETS: usize = 100;
/// `ssdp_amplification`: devices, M-SEARCHes each, and answers per M-SEARCH (one per
/// service type).
pub(crate) const SSDP_REFLECTORS: usize = 200;
const SSDP_REQUESTS: usize = 3;
/// `memcached_amplification`: servers, and `get`s each of a ~100 KB value.
pub(crate) const MEMCACHED_REFLECTORS: usize = 10;
const MEMCACHED_REQUESTS: usize = 5;
const MEMCACHED_VALUE: usize = 100_000;

/// The victim and the reflectors, each with the victim port forged for it.
struct Setup {
    victim: V4,
    reflectors: Vec<(Side, u16)>,
}

fn setup(cx: &mut Ctx, n: usize) -> Setup {
    let victim = cx.addrs.internal(&mut cx.rng);
    let ports = ephemeral_ports(&mut cx.rng, n);
    let reflectors = ports
        .into_iter()
        .map(|p| {
            let a = cx.addrs.external(&mut cx.rng);
            (Side::far(a, &mut cx.rng), p)
        })
        .collect();
    Setup { victim, reflectors }
}

/// Every (reflector index, request index, time) of `requests` requests per reflector, the
/// requests of all reflectors interleaved over the window.
fn schedule(cx: &mut Ctx, w: Window, reflectors: usize, requests: usize) -> Vec<(usize, i64)> {
    let n = reflectors * requests;
    (0..n)
        .map(|k| {
            let jitter = cx.rng.i64(0..=(w.dur / n as i64 / 2).max(0));
            (k % reflectors, w.at(k, n) + jitter)
        })
        .collect()
}

/// A UDP datagram from a reflector to the victim.
fn udp(t: i64, r: Side, sport: u16, victim: V4, dport: u16, id: u16, payload: Vec<u8>) -> Pkt {
    Pkt {
        t,
        src: r.addr,
        dst: victim,
        ttl: r.ttl,
        ip_id: id,
        frag: 0,
        l4: L4::Udp { sport, dport },
        payload: Payload::Bytes(payload),
    }
}

/// A DNS answer to `ANY example.org` from an open resolver: DNSKEY and RRSIG records up to
/// about `size` bytes, and an EDNS0 OPT record (4,096-byte buffer).
fn dns_any_answer(id: u16, size: usize, key: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(size + 400);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in ["example", "org"] {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 255, 0, 1]);
    let mut answers = 0u16;
    while m.len() < size {
        // Name: a pointer to the question's; TTL 3600.
        let (rtype, rdlen) = if answers.is_multiple_of(2) {
            (48u16, 264u16)
        } else {
            (46, 284)
        };
        m.extend_from_slice(&[0xc0, 0x0c]);
        m.extend_from_slice(&rtype.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0x0e, 0x10]);
        m.extend_from_slice(&rdlen.to_be_bytes());
        m.extend(noise(key ^ u32::from(answers), rdlen as usize));
        answers += 1;
    }
    m[6..8].copy_from_slice(&answers.to_be_bytes());
    m.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    m
}

/// `dns_amplification`: 50 resolvers × 40 answers of 3,000–3,900 bytes (before the last
/// record), each an IPv4 datagram in three fragments (1,480-byte fragment payloads): the first
/// carries the UDP header (a UDP flow per resolver), the later two have no ports (a
/// protocol-0 flow per resolver under `cic`).
pub(crate) fn dns(cx: &mut Ctx, w: Window) -> Played {
    let s = setup(cx, DNS_REFLECTORS);
    for (r, t) in schedule(cx, w, DNS_REFLECTORS, DNS_REQUESTS) {
        let (side, vport) = s.reflectors[r];
        let size = cx.rng.usize(3_000..3_900);
        let msg = dns_any_answer(cx.rng.u16(..), size, cx.rng.u32(..));
        let mut dgram = Vec::with_capacity(8 + msg.len());
        dgram.extend_from_slice(&53u16.to_be_bytes());
        dgram.extend_from_slice(&vport.to_be_bytes());
        dgram.extend_from_slice(&((8 + msg.len()) as u16).to_be_bytes());
        dgram.extend_from_slice(&[0, 0]);
        dgram.extend_from_slice(&msg);
        let sum = udp_checksum(side.addr, s.victim, &dgram);
        dgram[6..8].copy_from_slice(&sum.to_be_bytes());
        let id = cx.rng.u16(..);
        let chunks: Vec<&[u8]> = dgram.chunks(1480).collect();
        for (k, chunk) in chunks.iter().enumerate() {
            let more = if k + 1 < chunks.len() { 0x2000 } else { 0 };
            cx.out.push(Pkt {
                t: t + 10 * k as i64,
                src: side.addr,
                dst: s.victim,
                ttl: side.ttl,
                ip_id: id,
                frag: more | (k * 1480 / 8) as u16,
                l4: L4::Raw { proto: 17 },
                payload: Payload::Bytes(chunk.to_vec()),
            });
        }
    }
    Played {
        attacker: None,
        victim: Some(s.victim),
        flows: 2 * DNS_REFLECTORS as u64,
    }
}

/// One `MON_GETLIST_1` answer packet (NTP mode 7): 8-byte header and 6 entries of 72 bytes, 440
/// bytes of UDP payload (468-byte IP packets); `more` on all but the last of an answer.
fn monlist(seq: u8, more: bool, reflector: V4, key: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(440);
    m.push(if more { 0xd7 } else { 0x97 });
    m.extend_from_slice(&[seq & 0x7f, 3, 42, 0, 6, 0, 72]);
    for e in 0..6u32 {
        let r = noise(key ^ (u32::from(seq) << 8) ^ e, 8);
        // avg_int, last_int, restr, count, addr (a past client), daddr (the server), flags,
        // port, mode, version, v6 flag, unused, addr6, daddr6.
        m.extend_from_slice(&[0, 0, 0, r[0] & 0x3f, 0, 0, 0, r[1] & 0x3f]);
        m.extend_from_slice(&[0, 0, 0, 0, 0, 0, r[2], r[3]]);
        m.extend_from_slice(&[198, 18 + (r[4] & 1), r[5], r[6] | 1]);
        m.extend_from_slice(&reflector);
        m.extend_from_slice(&[0, 0, 0, 0, 0x00, 0x7b, 3, 4]);
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&[0; 32]);
    }
    m
}

/// `ntp_amplification`: 30 servers × 3 `monlist` answers of 100 packets each.
pub(crate) fn ntp(cx: &mut Ctx, w: Window) -> Played {
    let s = setup(cx, NTP_REFLECTORS);
    for (r, t) in schedule(cx, w, NTP_REFLECTORS, NTP_REQUESTS) {
        let (side, vport) = s.reflectors[r];
        let key = cx.rng.u32(..);
        let id = cx.rng.u16(..);
        for k in 0..NTP_PACKETS {
            let m = monlist(k as u8, k + 1 < NTP_PACKETS, side.addr, key);
            let p = udp(
                t + 40 * k as i64,
                side,
                123,
                s.victim,
                vport,
                id.wrapping_add(k as u16),
                m,
            );
            cx.out.push(p);
        }
    }
    Played {
        attacker: None,
        victim: Some(s.victim),
        flows: NTP_REFLECTORS as u64,
    }
}

/// The service types an SSDP device answers `ssdp:all` with, one answer each.
const SSDP_TYPES: [&str; 10] = [
    "upnp:rootdevice",
    "uuid",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:device:WANDevice:1",
    "urn:schemas-upnp-org:device:WANConnectionDevice:1",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:Layer3Forwarding:1",
    "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1",
    "urn:schemas-upnp-org:device:MediaServer:1",
    "urn:schemas-upnp-org:service:ContentDirectory:1",
];

/// `ssdp_amplification`: 200 devices × 3 `M-SEARCH ssdp:all`, each answered with 10 `200 OK`
/// of about 300 bytes (one per service type).
pub(crate) fn ssdp(cx: &mut Ctx, w: Window) -> Played {
    let s = setup(cx, SSDP_REFLECTORS);
    let uuids: Vec<String> = (0..SSDP_REFLECTORS)
        .map(|_| {
            let b = noise(cx.rng.u32(..), 16);
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            )
        })
        .collect();
    for (r, t) in schedule(cx, w, SSDP_REFLECTORS, SSDP_REQUESTS) {
        let (side, vport) = s.reflectors[r];
        let uuid = &uuids[r];
        let id = cx.rng.u16(..);
        for (k, st) in SSDP_TYPES.iter().enumerate() {
            let st = if *st == "uuid" {
                format!("uuid:{uuid}")
            } else {
                st.to_string()
            };
            let usn = if st.starts_with("uuid:") {
                st.clone()
            } else {
                format!("uuid:{uuid}::{st}")
            };
            let body = format!(
                "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nDATE: {}\r\nEXT:\r\n\
                 LOCATION: http://{}:1900/rootDesc.xml\r\nSERVER: Linux/3.14.0 UPnP/1.0 \
                 MiniUPnPd/2.1\r\nST: {st}\r\nUSN: {usn}\r\nBOOTID.UPNP.ORG: 1\r\n\
                 CONFIGID.UPNP.ORG: 1337\r\n\r\n",
                super::super::wire::http_date(t),
                v4_text(side.addr),
            );
            let p = udp(
                t + 300 * k as i64,
                side,
                1900,
                s.victim,
                vport,
                id.wrapping_add(k as u16),
                body.into_bytes(),
            );
            cx.out.push(p);
        }
    }
    Played {
        attacker: None,
        victim: Some(s.victim),
        flows: SSDP_REFLECTORS as u64,
    }
}

/// `memcached_amplification`: 10 servers × 5 answers to `get` of a ~100 KB key, each split by
/// memcached itself into datagrams of 1,400 bytes (an 8-byte frame header: request id,
/// sequence, total, reserved; then up to 1,392 bytes of `VALUE … END`): no IP fragments.
pub(crate) fn memcached(cx: &mut Ctx, w: Window) -> Played {
    let s = setup(cx, MEMCACHED_REFLECTORS);
    for (r, t) in schedule(cx, w, MEMCACHED_REFLECTORS, MEMCACHED_REQUESTS) {
        let (side, vport) = s.reflectors[r];
        let key = cx.rng.u32(..);
        let mut text = format!("VALUE k{:x} 0 {MEMCACHED_VALUE}\r\n", key & 0xfff).into_bytes();
        text.extend(noise(key, MEMCACHED_VALUE));
        text.extend_from_slice(b"\r\nEND\r\n");
        let chunks: Vec<&[u8]> = text.chunks(1392).collect();
        let total = chunks.len() as u16;
        let req = cx.rng.u16(..);
        let id = cx.rng.u16(..);
        for (k, chunk) in chunks.iter().enumerate() {
            let mut m = Vec::with_capacity(8 + chunk.len());
            m.extend_from_slice(&req.to_be_bytes());
            m.extend_from_slice(&(k as u16).to_be_bytes());
            m.extend_from_slice(&total.to_be_bytes());
            m.extend_from_slice(&[0, 0]);
            m.extend_from_slice(chunk);
            let p = udp(
                t + 15 * k as i64,
                side,
                11211,
                s.victim,
                vport,
                id.wrapping_add(k as u16),
                m,
            );
            cx.out.push(p);
        }
    }
    Played {
        attacker: None,
        victim: Some(s.victim),
        flows: MEMCACHED_REFLECTORS as u64,
    }
}

//! Volumetric floods at one internal victim: SYN (from one host or forged sources), UDP and
//! ICMP echo. Packets are spread evenly over the scenario's window.

use super::super::scenario::{Ctx, Played, Window};
use super::super::wire::{Conn, Payload, Pkt, Side, ACK, L4, RST, SYN, V4};
use super::ephemeral_ports;

/// SYNs of `syn_flood` and `syn_flood_spoofed` (one flow each).
pub(crate) const SYN_ATTEMPTS: usize = 5_000;
/// UDP packets of `udp_flood`.
pub(crate) const UDP_PACKETS: usize = 100_000;
/// Sockets (source ports) the UDP flooder sends from, each to its own destination port: one
/// flow each.
pub(crate) const UDP_SOCKETS: usize = 50;
/// UDP payload bytes per packet (small: a packets-per-second flood).
const UDP_PAYLOAD: u32 = 64;
/// Echo requests of `icmp_flood` (each answered).
pub(crate) const ICMP_REQUESTS: usize = 30_000;

/// `syn_flood` / `syn_flood_spoofed`: SYNs to the victim's port 80. From one external host,
/// hping3-style (the source port goes up by one per SYN), the victim's SYN-ACK is reset by the
/// attacker's kernel; from forged sources (one per SYN, random port), the SYN-ACKs go
/// unanswered. The victim answers every SYN (SYN cookies: no retransmissions).
pub(crate) fn syn(cx: &mut Ctx, w: Window, spoofed: bool) -> Played {
    let victim = cx.addrs.internal(&mut cx.rng);
    let victim = Side::near(victim, &mut cx.rng);
    let attacker = if spoofed {
        None
    } else {
        let a = cx.addrs.external(&mut cx.rng);
        Some(Side::far(a, &mut cx.rng))
    };
    let base = cx.rng.u16(1024..(65535 - SYN_ATTEMPTS as u16));
    for i in 0..SYN_ATTEMPTS {
        let t = w.at(i, SYN_ATTEMPTS);
        let (src, sport) = match attacker {
            Some(a) => (a, base + i as u16),
            None => {
                let addr = cx.addrs.spoofed(&mut cx.rng);
                let side = Side {
                    addr,
                    ttl: cx.rng.u8(40..250),
                    reply_us: 0,
                };
                (side, cx.rng.u16(1024..65535))
            }
        };
        let mut c = Conn::new(&mut cx.rng, src, victim, sport, 80, t);
        c.seg(&mut cx.out, true, SYN, Payload::None, 0);
        c.seg(
            &mut cx.out,
            false,
            SYN | ACK,
            Payload::None,
            victim.reply_us,
        );
        if !spoofed {
            c.seg(&mut cx.out, true, RST, Payload::None, src.reply_us);
        }
    }
    Played {
        attacker: attacker.map(|a| a.addr),
        victim: Some(victim.addr),
        flows: SYN_ATTEMPTS as u64,
    }
}

/// `udp_flood`: 100,000 UDP packets of 64 junk bytes from one external host, round-robin over
/// 50 sockets, each socket to its own random destination port; the victim (firewalled) does not
/// answer.
pub(crate) fn udp(cx: &mut Ctx, w: Window) -> Played {
    let attacker = cx.addrs.external(&mut cx.rng);
    let ttl = Side::far(attacker, &mut cx.rng).ttl;
    let victim = cx.addrs.internal(&mut cx.rng);
    let sports = ephemeral_ports(&mut cx.rng, UDP_SOCKETS);
    let mut dports: Vec<u16> = (1024..=65535).collect();
    cx.rng.shuffle(&mut dports);
    let key = cx.rng.u32(..);
    let mut id = cx.rng.u16(..);
    for i in 0..UDP_PACKETS {
        let s = i % UDP_SOCKETS;
        id = id.wrapping_add(1);
        cx.out.push(Pkt {
            t: w.at(i, UDP_PACKETS),
            src: attacker,
            dst: victim,
            ttl,
            ip_id: id,
            frag: 0,
            l4: L4::Udp {
                sport: sports[s],
                dport: dports[s],
            },
            payload: Payload::Noise {
                len: UDP_PAYLOAD,
                key: key ^ i as u32,
            },
        });
    }
    Played {
        attacker: Some(attacker),
        victim: Some(victim),
        flows: UDP_SOCKETS as u64,
    }
}

/// An ICMP echo packet with ping's 56-byte pattern payload.
fn echo(t: i64, src: V4, dst: V4, ttl: u8, request: bool, id: u16, seq: u16) -> Pkt {
    Pkt {
        t,
        src,
        dst,
        ttl,
        ip_id: seq,
        frag: 0,
        l4: L4::Icmp {
            kind: if request { 8 } else { 0 },
            code: 0,
            id,
            seq,
        },
        payload: Payload::Bytes((0..56u8).map(|i| i.wrapping_add(0x10)).collect()),
    }
}

/// `icmp_flood`: 30,000 echo requests from one external host (`ping -f`), each answered by the
/// victim: one flow (`cic` keys ICMP by the address pair).
pub(crate) fn icmp(cx: &mut Ctx, w: Window) -> Played {
    let attacker = cx.addrs.external(&mut cx.rng);
    let attacker = Side::far(attacker, &mut cx.rng);
    let victim = cx.addrs.internal(&mut cx.rng);
    let victim = Side::near(victim, &mut cx.rng);
    let id = cx.rng.u16(..);
    for i in 0..ICMP_REQUESTS {
        let t = w.at(i, ICMP_REQUESTS);
        let seq = i as u16;
        let (a, v) = (attacker.addr, victim.addr);
        cx.out.push(echo(t, a, v, attacker.ttl, true, id, seq));
        cx.out
            .push(echo(t + victim.reply_us, v, a, victim.ttl, false, id, seq));
    }
    Played {
        attacker: Some(attacker.addr),
        victim: Some(victim.addr),
        flows: 1,
    }
}

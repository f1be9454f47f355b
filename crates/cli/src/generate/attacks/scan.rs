//! Port scans as nmap's SYN scan (`-sS`) puts them on the wire: one SYN per probe from one
//! source port; a closed port answers RST-ACK, an open one SYN-ACK, which the scanner's kernel
//! resets (it never opened that connection); a host that is not there answers nothing.

use super::super::scenario::{Ctx, Played, Window};
use super::super::wire::{Conn, Payload, Side, ACK, RST, SYN};

/// Ports the vertical scan probes (out of 1–1024, like nmap's default of 1,000).
pub(crate) const VERTICAL_PORTS: usize = 1000;
/// Ports open on the vertical scan's target.
pub(crate) const VERTICAL_OPEN: [u16; 4] = [22, 80, 443, 3306];
/// Hosts the horizontal scan sweeps: all of one internal /24.
pub(crate) const HORIZONTAL_HOSTS: u8 = 254;
/// The port the horizontal scan sweeps is one of these (SSH, SMB, RDP, telnet).
const HORIZONTAL_PORTS: [u16; 4] = [22, 445, 3389, 23];

/// How a probed port answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Open,
    Closed,
    Silent,
}

/// One probe: SYN, then the target's answer, then the scanner's reset of an open port.
fn probe(cx: &mut Ctx, scanner: Side, target: Side, sport: u16, dport: u16, t: i64, a: Answer) {
    let mut c = Conn::new(&mut cx.rng, scanner, target, sport, dport, t);
    c.seg(&mut cx.out, true, SYN, Payload::None, 0);
    match a {
        Answer::Open => {
            c.seg(
                &mut cx.out,
                false,
                SYN | ACK,
                Payload::None,
                target.reply_us,
            );
            c.seg(&mut cx.out, true, RST, Payload::None, scanner.reply_us);
        }
        Answer::Closed => c.seg(
            &mut cx.out,
            false,
            RST | ACK,
            Payload::None,
            target.reply_us,
        ),
        Answer::Silent => {}
    }
}

/// `port_scan_vertical`: one external scanner probes 1,000 ports of one internal host, four of
/// them open; one flow per port.
pub(crate) fn vertical(cx: &mut Ctx, w: Window) -> Played {
    let scanner = cx.addrs.external(&mut cx.rng);
    let scanner = Side::far(scanner, &mut cx.rng);
    let target = cx.addrs.internal(&mut cx.rng);
    let target = Side::near(target, &mut cx.rng);
    let sport = cx.rng.u16(32768..61000);
    let mut ports: Vec<u16> = (1..=1024u16)
        .filter(|p| !VERTICAL_OPEN.contains(p))
        .collect();
    cx.rng.shuffle(&mut ports);
    ports.truncate(VERTICAL_PORTS - VERTICAL_OPEN.len());
    ports.extend(VERTICAL_OPEN);
    cx.rng.shuffle(&mut ports);
    for (i, &port) in ports.iter().enumerate() {
        let t = w.at(i, ports.len());
        let a = if VERTICAL_OPEN.contains(&port) {
            Answer::Open
        } else {
            Answer::Closed
        };
        probe(cx, scanner, target, sport, port, t, a);
    }
    Played {
        attacker: Some(scanner.addr),
        victim: Some(target.addr),
        flows: VERTICAL_PORTS as u64,
    }
}

/// `port_scan_horizontal`: one external scanner probes one port on every host of an internal
/// /24 in random order; 70 % of the addresses answer nothing, 20 % reset, 10 % are open. One
/// flow per host; no single victim.
pub(crate) fn horizontal(cx: &mut Ctx, w: Window) -> Played {
    let scanner = cx.addrs.external(&mut cx.rng);
    let scanner = Side::far(scanner, &mut cx.rng);
    let net = cx.addrs.internal_net(&mut cx.rng);
    let port = HORIZONTAL_PORTS[cx.rng.usize(..HORIZONTAL_PORTS.len())];
    let sport = cx.rng.u16(32768..61000);
    let mut hosts: Vec<u8> = (1..=HORIZONTAL_HOSTS).collect();
    cx.rng.shuffle(&mut hosts);
    for (i, &h) in hosts.iter().enumerate() {
        let target = Side::near([net[0], net[1], net[2], h], &mut cx.rng);
        let a = match cx.rng.u32(..10) {
            0..=6 => Answer::Silent,
            7..=8 => Answer::Closed,
            _ => Answer::Open,
        };
        probe(cx, scanner, target, sport, port, w.at(i, hosts.len()), a);
    }
    Played {
        attacker: Some(scanner.addr),
        victim: None,
        flows: u64::from(HORIZONTAL_HOSTS),
    }
}

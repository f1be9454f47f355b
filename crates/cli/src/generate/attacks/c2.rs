//! After a compromise: an internal host calling its controller (beaconing) and uploading data
//! out (exfiltration), both over HTTPS to one external host. Truth convention: the attacker is
//! the internal, compromised host that sends; the victim is the external host it sends to.

use super::super::scenario::{Ctx, Played, Window};
use super::super::wire::{noise, Conn, Side};
use super::ephemeral_ports;

/// Beacons of `c2_beacon` (one TLS connection each).
pub(crate) const BEACONS: usize = 40;
/// The beacon interval at full length (Cobalt Strike's default 60 s); a capture shorter than
/// 40 beacons' worth squeezes the interval to fit.
pub(crate) const BEACON_INTERVAL_S: f64 = 60.0;
/// Jitter of each beacon's time, as a share of the interval (±).
const BEACON_JITTER: f64 = 0.1;
/// Uploads of `exfiltration` (one TLS connection each) and bytes of each.
pub(crate) const UPLOADS: usize = 10;
pub(crate) const UPLOAD_BYTES: u64 = 2_000_000;
/// The server names the implant and the uploader ask for (reserved names, RFC 2606).
const C2_NAME: &str = "static.example.net";
const DROP_NAME: &str = "files.example.org";
/// Longest upload, µs (under the meter's 120 s active timeout, so each stays one flow).
const UPLOAD_MAX_US: i64 = 60_000_000;

/// A TLS 1.2-framed ClientHello offering TLS 1.3 for `sni`, padded to 517 bytes as browsers
/// and common TLS libraries send it.
fn client_hello(sni: &str, key: u32) -> Vec<u8> {
    fn push_ext(e: &mut Vec<u8>, kind: u16, body: &[u8]) {
        e.extend_from_slice(&kind.to_be_bytes());
        e.extend_from_slice(&(body.len() as u16).to_be_bytes());
        e.extend_from_slice(body);
    }
    let mut ext = Vec::new();
    let name = sni.as_bytes();
    let mut sn = Vec::new();
    sn.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sn.push(0);
    sn.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sn.extend_from_slice(name);
    push_ext(&mut ext, 0, &sn);
    push_ext(&mut ext, 10, &[0, 6, 0, 0x1d, 0, 0x17, 0, 0x18]);
    push_ext(&mut ext, 11, &[1, 0]);
    push_ext(&mut ext, 13, &[0, 8, 4, 3, 8, 4, 4, 1, 5, 1]);
    push_ext(&mut ext, 16, &[0, 3, 2, b'h', b'2']);
    push_ext(&mut ext, 43, &[4, 3, 4, 3, 3]);
    push_ext(&mut ext, 45, &[1, 1]);
    let mut ks = vec![0, 36, 0, 0x1d, 0, 32];
    ks.extend(noise(key, 32));
    push_ext(&mut ext, 51, &ks);
    let mut body = vec![3, 3];
    body.extend(noise(key ^ 1, 32));
    body.push(32);
    body.extend(noise(key ^ 2, 32));
    body.extend_from_slice(&[0, 8, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2f]);
    body.extend_from_slice(&[1, 0]);
    // Padding extension (RFC 7685) up to a 517-byte record.
    let fixed = 5 + 4 + body.len() + 2 + ext.len() + 4;
    let pad = 517usize.saturating_sub(fixed);
    push_ext(&mut ext, 21, &vec![0; pad]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
    rec.extend_from_slice(&hs);
    rec
}

/// A TLS record of `kind` with `len` bytes of ciphertext.
fn record(kind: u8, len: usize, key: u32) -> Vec<u8> {
    let mut r = vec![kind, 3, 3, (len >> 8) as u8, len as u8];
    r.extend(noise(key, len));
    r
}

/// The server's first flight: ServerHello (128 bytes), ChangeCipherSpec, and the encrypted
/// extensions, certificate, verify and finished in one application-data record.
fn server_flight(cert_len: usize, key: u32) -> Vec<u8> {
    let mut f = record(0x16, 122, key);
    f[5] = 2;
    f.extend_from_slice(&[0x14, 3, 3, 0, 1, 1]);
    f.extend(record(0x17, cert_len, key ^ 1));
    f
}

/// The TLS handshake after TCP's: ClientHello, the server's flight, the client's
/// ChangeCipherSpec and Finished.
fn tls_handshake(c: &mut Conn, cx: &mut Ctx, sni: &str, cert_len: usize, key: u32) {
    let client = c.client.reply_us;
    let server = c.server.reply_us;
    c.send(&mut cx.out, true, client_hello(sni, key), client);
    c.send(
        &mut cx.out,
        false,
        server_flight(cert_len, key ^ 3),
        server + 800,
    );
    let mut fin = vec![0x14, 3, 3, 0, 1, 1];
    fin.extend(record(0x17, 53, key ^ 4));
    c.send(&mut cx.out, true, fin, client);
}

/// `c2_beacon`: one internal host opens a TLS connection to one external host's port 443
/// every interval ± 10 % (40 beacons over the window: 60 s apart in a capture of 40 minutes or
/// more): the same ClientHello (517 bytes, SNI `static.example.net`), a ~2.5 KB server
/// flight, a 232–239-byte request record and a 127–134-byte answer, close_notify and FIN. Sizes
/// barely vary: that regularity is what beacon detection looks for.
pub(crate) fn beacon(cx: &mut Ctx, w: Window) -> Played {
    let implant = cx.addrs.internal(&mut cx.rng);
    let implant = Side::near(implant, &mut cx.rng);
    let server = cx.addrs.external(&mut cx.rng);
    let server = Side::far(server, &mut cx.rng);
    let ports = ephemeral_ports(&mut cx.rng, BEACONS);
    let interval = w.dur as f64 / BEACONS as f64;
    let cert_len = cx.rng.usize(2_300..2_500);
    for (i, port) in ports.into_iter().enumerate() {
        let jitter = (cx.rng.f64() * 2.0 - 1.0) * BEACON_JITTER * interval;
        let t = w.start + ((i as f64 + 0.5) * interval + jitter) as i64;
        let key = cx.rng.u32(..);
        let mut c = Conn::new(&mut cx.rng, implant, server, port, 443, t);
        c.handshake(&mut cx.out);
        tls_handshake(&mut c, cx, C2_NAME, cert_len, key);
        let req = 227 + cx.rng.usize(..8);
        let resp = 122 + cx.rng.usize(..8);
        c.send(&mut cx.out, true, record(0x17, req, key ^ 5), 300);
        c.send(
            &mut cx.out,
            false,
            record(0x17, resp, key ^ 6),
            server.reply_us + 4_000,
        );
        c.send(
            &mut cx.out,
            true,
            record(0x17, 19, key ^ 7),
            implant.reply_us,
        );
        c.close(&mut cx.out, true, 50);
    }
    Played {
        attacker: Some(implant.addr),
        victim: Some(server.addr),
        flows: BEACONS as u64,
    }
}

/// `exfiltration`: one internal host uploads 10 × 2 MB (20 MB) to one external host's port
/// 443, one TLS connection per upload, the uploads evenly over the window, each taking 80 % of
/// its share of the window (at most 60 s); the server acknowledges every second segment and
/// answers each upload with a short record; the client closes.
pub(crate) fn exfiltration(cx: &mut Ctx, w: Window) -> Played {
    let host = cx.addrs.internal(&mut cx.rng);
    let host = Side::near(host, &mut cx.rng);
    let server = cx.addrs.external(&mut cx.rng);
    let server = Side::far(server, &mut cx.rng);
    let ports = ephemeral_ports(&mut cx.rng, UPLOADS);
    let each = (w.dur / UPLOADS as i64 * 8 / 10).min(UPLOAD_MAX_US);
    let segments = UPLOAD_BYTES.div_ceil(1460) as i64;
    for (i, port) in ports.into_iter().enumerate() {
        let key = cx.rng.u32(..);
        let mut c = Conn::new(&mut cx.rng, host, server, port, 443, w.at(i, UPLOADS));
        c.handshake(&mut cx.out);
        tls_handshake(&mut c, cx, DROP_NAME, 3_100, key);
        c.t += 500;
        c.upload(&mut cx.out, UPLOAD_BYTES, key ^ 9, (each / segments).max(1));
        let after = server.reply_us + 20_000;
        c.send(&mut cx.out, false, record(0x17, 97, key ^ 10), after);
        c.send(&mut cx.out, true, record(0x17, 19, key ^ 11), host.reply_us);
        c.close(&mut cx.out, true, 50);
    }
    Played {
        attacker: Some(host.addr),
        victim: Some(server.addr),
        flows: UPLOADS as u64,
    }
}

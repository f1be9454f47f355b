//! Password guessing from one external host against one internal server: many short TCP
//! sessions, each a few small guesses, as Hydra makes them.

use super::super::scenario::{Ctx, Played, Window};
use super::super::wire::{base64, http_date, noise, v4_text, Conn, Side};
use super::ephemeral_ports;

/// Connections of `ssh_brute_force` (3 passwords each).
pub(crate) const SSH_CONNECTIONS: usize = 60;
/// Connections of `ftp_brute_force` (3 logins each).
pub(crate) const FTP_CONNECTIONS: usize = 40;
/// Connections of `http_brute_force` (one `Authorization` each).
pub(crate) const HTTP_CONNECTIONS: usize = 300;
/// Guesses per SSH or FTP connection.
const TRIES: usize = 3;
/// The server's delay before saying a password was wrong, µs (PAM's 2 s for sshd, vsftpd's 1 s).
const SSH_FAIL_DELAY_US: i64 = 2_000_000;
const FTP_FAIL_DELAY_US: i64 = 1_000_000;

const USERS: [&str; 8] = [
    "root", "admin", "user", "test", "ubuntu", "oracle", "postgres", "git",
];
const PASSWORDS: [&str; 20] = [
    "123456",
    "password",
    "admin",
    "12345678",
    "qwerty",
    "123456789",
    "letmein",
    "1234",
    "root",
    "toor",
    "changeme",
    "P@ssw0rd",
    "welcome",
    "abc123",
    "111111",
    "passw0rd",
    "master",
    "dragon",
    "monkey",
    "secret",
];

/// The attacker, the server, and each connection's client port and start time.
fn sessions(cx: &mut Ctx, w: Window, n: usize) -> (Side, Side, Vec<(u16, i64)>) {
    let attacker = cx.addrs.external(&mut cx.rng);
    let attacker = Side::far(attacker, &mut cx.rng);
    let server = cx.addrs.internal(&mut cx.rng);
    let server = Side::near(server, &mut cx.rng);
    let ports = ephemeral_ports(&mut cx.rng, n);
    let starts = ports
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p, w.at(i, n)))
        .collect();
    (attacker, server, starts)
}

/// An SSH binary packet (unencrypted: RFC 4253 §6) around `payload`, padded to 8 bytes.
fn ssh_packet(payload: &[u8], key: u32) -> Vec<u8> {
    let mut pad = 8 - (5 + payload.len()) % 8;
    if pad < 4 {
        pad += 8;
    }
    let mut p = Vec::with_capacity(5 + payload.len() + pad);
    p.extend_from_slice(&((1 + payload.len() + pad) as u32).to_be_bytes());
    p.push(pad as u8);
    p.extend_from_slice(payload);
    p.extend(noise(key, pad));
    p
}

/// An `SSH_MSG_KEXINIT` with these algorithm lists (kex, host key, cipher, MAC, compression).
fn kexinit(lists: [&str; 5], key: u32) -> Vec<u8> {
    let mut m = vec![20];
    m.extend(noise(key, 16));
    let [kex, hostkey, cipher, mac, comp] = lists;
    for l in [kex, hostkey, cipher, cipher, mac, mac, comp, comp, "", ""] {
        m.extend_from_slice(&(l.len() as u32).to_be_bytes());
        m.extend_from_slice(l.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 0, 0, 0]);
    ssh_packet(&m, key ^ 1)
}

/// `ssh_brute_force`: 60 connections to port 22. Each: banners, key exchange (KEXINIT,
/// ECDH, NEWKEYS), then three encrypted password attempts each refused after 2 s, and the
/// client's DISCONNECT and close.
pub(crate) fn ssh(cx: &mut Ctx, w: Window) -> Played {
    let (attacker, server, starts) = sessions(cx, w, SSH_CONNECTIONS);
    for (port, t) in starts {
        let key = cx.rng.u32(..);
        let mut c = Conn::new(&mut cx.rng, attacker, server, port, 22, t);
        let out = &mut cx.out;
        c.handshake(out);
        c.send(
            out,
            false,
            b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec(),
            server.reply_us,
        );
        c.send(
            out,
            true,
            b"SSH-2.0-libssh_0.10.6\r\n".to_vec(),
            attacker.reply_us,
        );
        let client_kex = kexinit(
            [
                "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,\
                 diffie-hellman-group14-sha256,ext-info-c",
                "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256,ssh-rsa",
                "aes256-ctr,aes192-ctr,aes128-ctr,aes256-cbc,aes128-cbc",
                "hmac-sha2-256,hmac-sha2-512,hmac-sha1",
                "none,zlib@openssh.com",
            ],
            key,
        );
        c.send(out, true, client_kex, 50);
        let server_kex = kexinit(
            [
                "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,\
                 ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,\
                 diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,\
                 diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com",
                "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519",
                "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,\
                 aes128-gcm@openssh.com,aes256-gcm@openssh.com",
                "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,\
                 hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,\
                 umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1",
                "none,zlib@openssh.com",
            ],
            key ^ 2,
        );
        c.send(out, false, server_kex, server.reply_us);
        // KEX_ECDH_INIT: the client's 32-byte curve25519 key.
        let mut init = vec![30, 0, 0, 0, 32];
        init.extend(noise(key ^ 3, 32));
        c.send(out, true, ssh_packet(&init, key ^ 4), attacker.reply_us);
        // KEX_ECDH_REPLY (host key, server key, signature) and NEWKEYS in one segment.
        let mut reply = vec![31];
        reply.extend(noise(key ^ 5, 51 + 4 + 36 + 4 + 83 + 4));
        let mut flight = ssh_packet(&reply, key ^ 6);
        flight.extend(ssh_packet(&[21], key ^ 7));
        c.send(out, false, flight, server.reply_us + 1_500);
        // NEWKEYS, then SERVICE_REQUEST "ssh-userauth" encrypted (aes-ctr + hmac-sha2-256).
        let mut newkeys = ssh_packet(&[21], key ^ 8);
        newkeys.extend(noise(key ^ 9, 32 + 32));
        c.send(out, true, newkeys, attacker.reply_us);
        c.send(out, false, noise(key ^ 10, 32 + 32), server.reply_us);
        for k in 0..TRIES as u32 {
            c.send(out, true, noise(key ^ (11 + k), 80 + 32), attacker.reply_us);
            c.send(
                out,
                false,
                noise(key ^ (20 + k), 48 + 32),
                SSH_FAIL_DELAY_US,
            );
        }
        // DISCONNECT, then the client closes.
        c.send(out, true, noise(key ^ 30, 48 + 32), attacker.reply_us);
        c.close(out, true, 200);
    }
    Played {
        attacker: Some(attacker.addr),
        victim: Some(server.addr),
        flows: SSH_CONNECTIONS as u64,
    }
}

/// `ftp_brute_force`: 40 connections to port 21, each three `USER`/`PASS` logins refused
/// (`530` after vsftpd's 1 s), then `QUIT`, `221`, and the server closes.
pub(crate) fn ftp(cx: &mut Ctx, w: Window) -> Played {
    let (attacker, server, starts) = sessions(cx, w, FTP_CONNECTIONS);
    for (i, (port, t)) in starts.into_iter().enumerate() {
        let mut c = Conn::new(&mut cx.rng, attacker, server, port, 21, t);
        let out = &mut cx.out;
        c.handshake(out);
        c.send(
            out,
            false,
            b"220 (vsFTPd 3.0.3)\r\n".to_vec(),
            server.reply_us,
        );
        let user = USERS[i % USERS.len()];
        for k in 0..TRIES {
            let pass = PASSWORDS[(i * TRIES + k) % PASSWORDS.len()];
            c.exchange(
                out,
                format!("USER {user}\r\n").into_bytes(),
                b"331 Please specify the password.\r\n".to_vec(),
                100,
            );
            c.exchange(
                out,
                format!("PASS {pass}\r\n").into_bytes(),
                b"530 Login incorrect.\r\n".to_vec(),
                FTP_FAIL_DELAY_US,
            );
        }
        c.exchange(out, b"QUIT\r\n".to_vec(), b"221 Goodbye.\r\n".to_vec(), 100);
        c.close(out, false, 100);
    }
    Played {
        attacker: Some(attacker.addr),
        victim: Some(server.addr),
        flows: FTP_CONNECTIONS as u64,
    }
}

/// Apache's 401 page.
fn unauthorized(server: &str, t: i64) -> Vec<u8> {
    let body = format!(
        "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n\
         <title>401 Unauthorized</title>\n</head><body>\n<h1>Unauthorized</h1>\n\
         <p>This server could not verify that you\nare authorized to access the document\n\
         requested.  Either you supplied the wrong\ncredentials (e.g., bad password), or your\n\
         browser doesn't understand how to supply\nthe credentials required.</p>\n<hr>\n\
         <address>Apache/2.4.57 (Debian) Server at {server} Port 80</address>\n</body></html>\n"
    );
    format!(
        "HTTP/1.1 401 Unauthorized\r\nDate: {}\r\nServer: Apache/2.4.57 (Debian)\r\n\
         WWW-Authenticate: Basic realm=\"Restricted Area\"\r\nContent-Length: {}\r\n\
         Content-Type: text/html; charset=iso-8859-1\r\n\r\n{body}",
        http_date(t),
        body.len()
    )
    .into_bytes()
}

/// `http_brute_force`: 300 connections to port 80, each one `GET /admin` with an
/// `Authorization: Basic` guess, answered `401`; the server closes.
pub(crate) fn http(cx: &mut Ctx, w: Window) -> Played {
    let (attacker, server, starts) = sessions(cx, w, HTTP_CONNECTIONS);
    let host = v4_text(server.addr);
    for (i, (port, t)) in starts.into_iter().enumerate() {
        let user = USERS[(i / PASSWORDS.len()) % USERS.len()];
        let pass = PASSWORDS[i % PASSWORDS.len()];
        let req = format!(
            "GET /admin HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/4.0 (Hydra)\r\n\
             Authorization: Basic {}\r\nConnection: close\r\n\r\n",
            base64(format!("{user}:{pass}").as_bytes())
        );
        let mut c = Conn::new(&mut cx.rng, attacker, server, port, 80, t);
        let out = &mut cx.out;
        c.handshake(out);
        c.exchange(out, req.into_bytes(), unauthorized(&host, t), 400);
        // `Connection: close`: the server closes.
        c.close(out, false, 100);
    }
    Played {
        attacker: Some(attacker.addr),
        victim: Some(server.addr),
        flows: HTTP_CONNECTIONS as u64,
    }
}

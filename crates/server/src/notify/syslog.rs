//! Syslog (RFC 5424) to a collector at `udp://host:port` or `tcp://host:port`; over TCP each
//! message is framed by octet counting (RFC 6587 §3.4.1), the connection kept and made again
//! when it fails or the collector closed it (checked before each message, so a collector's
//! restart loses nothing: the message goes over the new connection). UDP has no answer: a
//! datagram sent is delivered as far as the sender can know.
//!
//! A message: `<PRI>1 TIME HOST netvigil PID MSGID [netvigil@32473 event=… id=… severity=…
//! kind=… src=… dst=… time=…] TITLE`, facility local0, the syslog severity following
//! netvigil's (5 critical, 4 error, 3 warning, 2 notice, 1 informational). 32473 is the
//! enterprise number RFC 5612 reserves for examples; ours has not been assigned.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use super::{Notice, SendError};

/// local0.
const FACILITY: u8 = 16;

/// How a collector is reached.
enum Transport {
    Udp,
    Tcp(Option<TcpStream>),
}

/// A syslog collector.
pub struct Syslog {
    address: String,
    transport: Transport,
    timeout: Duration,
    host: String,
}

impl Syslog {
    /// A collector at `address` (`udp://host:port` or `tcp://host:port`).
    pub fn new(address: &str, timeout: Duration) -> Result<Syslog, SendError> {
        let transport = if address.starts_with("udp://") {
            Transport::Udp
        } else if address.starts_with("tcp://") {
            Transport::Tcp(None)
        } else {
            return Err(SendError::permanent(format!(
                "{address}: a syslog address is udp://host:port or tcp://host:port"
            )));
        };
        Ok(Syslog {
            address: address.to_string(),
            transport,
            timeout,
            host: hostname(),
        })
    }

    fn peer(&self) -> Result<SocketAddr, SendError> {
        let hostport = self.address.split_once("://").map_or("", |(_, r)| r);
        hostport
            .to_socket_addrs()
            .map_err(|e| SendError::retry(format!("{}: {e}", self.address)))?
            .next()
            .ok_or_else(|| SendError::retry(format!("{}: no address", self.address)))
    }

    /// Sends one notification.
    pub fn send(&mut self, n: &Notice) -> Result<(), SendError> {
        let msg = message(n, &self.host, packet::Timestamp::now().0);
        let peer = self.peer()?;
        let err = |e: std::io::Error| SendError::retry(format!("{}: {e}", peer));
        match &mut self.transport {
            Transport::Udp => {
                let local: SocketAddr = if peer.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                let sock = UdpSocket::bind(local).map_err(err)?;
                sock.send_to(msg.as_bytes(), peer).map_err(err)?;
                Ok(())
            }
            Transport::Tcp(conn) => {
                if conn.as_ref().is_some_and(|c| !open(c)) {
                    *conn = None;
                }
                let stream = match conn {
                    Some(c) => c,
                    None => {
                        let c = TcpStream::connect_timeout(&peer, self.timeout).map_err(err)?;
                        c.set_write_timeout(Some(self.timeout)).map_err(err)?;
                        conn.insert(c)
                    }
                };
                let framed = format!("{} {msg}", msg.len());
                if let Err(e) = stream.write_all(framed.as_bytes()) {
                    *conn = None;
                    return Err(err(e));
                }
                Ok(())
            }
        }
    }
}

/// Whether the collector still has the connection open (it sends nothing, so anything
/// readable is its close or an error).
fn open(c: &TcpStream) -> bool {
    if c.set_nonblocking(true).is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    let alive = match (&*c).read(&mut b) {
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        // Closed (0), or it spoke, which a collector does not: start again.
        Ok(_) => false,
    };
    alive && c.set_nonblocking(false).is_ok()
}

/// This machine's name, as syslog's HOSTNAME (`-` when unknown).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h.is_ascii() && !h.contains(' '))
        .unwrap_or_else(|| "-".into())
}

/// The syslog severity of a netvigil severity.
fn severity(s: u8) -> u8 {
    match s {
        5.. => 2,
        4 => 3,
        3 => 4,
        2 => 5,
        _ => 6,
    }
}

/// An SD-PARAM value with `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        if matches!(ch, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// A notification as an RFC 5424 message, made at `now` (UTC µs) on `host`.
pub fn message(n: &Notice, host: &str, now: i64) -> String {
    let pri = u16::from(FACILITY) * 8 + u16::from(severity(n.severity));
    let mut sd = format!(
        "[netvigil@32473 event=\"{}\" id=\"{}\" severity=\"{}\" kind=\"{}\"",
        n.event,
        n.id,
        n.severity,
        escape(&n.kind)
    );
    for (k, v) in [("src", &n.src), ("dst", &n.dst)] {
        if let Some(v) = v {
            sd.push_str(&format!(" {k}=\"{}\"", escape(v)));
        }
    }
    sd.push_str(&format!(
        " time=\"{}\"]",
        packet::Timestamp(n.time).rfc3339()
    ));
    // The title is free text; a line break would end the message for line-based collectors.
    let title: String = n
        .title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "<{pri}>1 {} {host} netvigil {} {} {sd} {title}",
        packet::Timestamp(now).rfc3339(),
        std::process::id(),
        n.event
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            event: "episode",
            id: 42,
            severity: 4,
            title: "syn_flood from 10.0.0.1\nto 10.0.0.2".into(),
            kind: "syn]flood".into(),
            src: Some("10.0.0.1".into()),
            dst: None,
            time: 1_700_000_000_250_000,
            data: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_message_follows_rfc_5424_with_escaped_structured_data() {
        let m = message(&notice(), "sensor1", 1_700_000_001_000_000);
        let pid = std::process::id();
        assert_eq!(
            m,
            format!(
                "<131>1 2023-11-14T22:13:21Z sensor1 netvigil {pid} episode [netvigil@32473 \
                 event=\"episode\" id=\"42\" severity=\"4\" kind=\"syn\\]flood\" \
                 src=\"10.0.0.1\" time=\"2023-11-14T22:13:20.250000Z\"] syn_flood from \
                 10.0.0.1 to 10.0.0.2"
            )
        );
    }

    #[test]
    fn severities_map_to_syslog_levels() {
        assert_eq!([5, 4, 3, 2, 1].map(severity), [2, 3, 4, 5, 6]);
    }
}

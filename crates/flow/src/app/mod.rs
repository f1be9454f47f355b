//! Application metadata: the DNS query name, TLS server name and HTTP host of a flow, read from
//! its first payload-carrying packets. One module per protocol (pure parsers over a byte slice
//! that may be cut short: a partial message gives `None`, never an error).

pub mod dns;
pub mod http;
pub mod tls;

use crate::record::AppMeta;

/// Payload packets of a flow that are inspected at most (bounds the per-flow work).
pub const INSPECT_PACKETS: u8 = 16;

/// Ports DNS runs on: DNS, multicast DNS, LLMNR.
fn is_dns_port(p: u16) -> bool {
    matches!(p, 53 | 5353 | 5355)
}

/// Looks at one payload; fills what it finds into `app` (allocated on the first find).
/// Returns true once nothing more is to be learnt from this flow.
pub fn inspect(
    app: &mut Option<Box<AppMeta>>,
    proto: u8,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> bool {
    if payload.is_empty() {
        return false;
    }
    if is_dns_port(sport) || is_dns_port(dport) {
        let msg = if proto == 6 {
            payload.get(2..).unwrap_or(&[])
        } else {
            payload
        };
        if let Some(name) = dns::query_name(msg) {
            app.get_or_insert_with(Default::default).dns_query = Some(name);
            return true;
        }
        return false;
    }
    // HTTP also runs over UDP as SSDP (port 1900).
    if proto == 17 && (sport == 1900 || dport == 1900) {
        if let Some(host) = http::request_host(payload) {
            app.get_or_insert_with(Default::default).http_host = Some(host);
            return true;
        }
        return false;
    }
    if proto != 6 {
        return false;
    }
    if let Some(sni) = tls::client_hello_sni(payload) {
        app.get_or_insert_with(Default::default).tls_sni = Some(sni);
        return true;
    }
    if let Some(host) = http::request_host(payload) {
        // After a CONNECT the tunnel usually carries TLS: keep looking for its server name.
        let connect = payload.starts_with(b"CONNECT ");
        let m = app.get_or_insert_with(Default::default);
        if m.http_host.is_none() {
            m.http_host = Some(host);
        }
        return !connect;
    }
    false
}

/// Bytes as text for output, rendered as Wireshark does: valid UTF-8 is kept, every other byte
/// becomes U+FFFD; control characters are escaped as `\xNN`.
pub(crate) fn printable(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push(c);
            }
        }
        for _ in chunk.invalid() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    out
}

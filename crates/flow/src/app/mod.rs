//! Application metadata: DNS question names and response code, TLS server name and ALPN, HTTP
//! host, method, request target and User-Agent, read from a flow's first payload-carrying
//! packets. One module per protocol (pure parsers over a byte slice that may be cut short: a
//! partial message gives `None`, never an error). Strings are allocated only for values kept
//! (a new DNS name, the first SNI …), never per packet.

pub mod dns;
pub mod http;
pub mod identify;
pub mod tls;

pub use identify::Application;

use crate::record::AppMeta;

/// Payload packets of a flow that are inspected at most (bounds the per-flow work).
pub const INSPECT_PACKETS: u8 = 16;
/// Distinct DNS names kept per flow.
pub const MAX_DNS_NAMES: usize = 32;

/// Ports DNS runs on: DNS, multicast DNS, LLMNR.
fn is_dns_port(p: u16) -> bool {
    matches!(p, 53 | 5353 | 5355)
}

/// Whether [`inspect`] can learn anything from `payload`: when not, it returns false and leaves
/// `app` as it was, whatever the bytes (so a caller may hand it any other non-empty payload of
/// which this is also false, e.g. one zero byte, instead of copying the real one).
#[inline]
pub(crate) fn may_learn(proto: u8, sport: u16, dport: u16, payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    is_dns_port(sport)
        || is_dns_port(dport)
        || (proto == 17 && (sport == 1900 || dport == 1900))
        // A TLS record, or an HTTP method's first capital.
        || (proto == 6 && (first == 0x16 || first.is_ascii_uppercase()))
        || identify::sniff(proto, sport, dport, payload).is_some()
}

/// Looks at one payload; fills what it finds into `app` (allocated on the first find) and,
/// while it is unknown, the flow's `application` (see [`identify`]). Returns true once nothing
/// more is to be learnt from this flow.
pub fn inspect(
    app: &mut Option<Box<AppMeta>>,
    application: &mut Application,
    proto: u8,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> bool {
    if payload.is_empty() {
        return false;
    }
    let mut found = |a: Application| *application = identify::upgrade(*application, a);
    if is_dns_port(sport) || is_dns_port(dport) {
        let msg = if proto == 6 {
            payload.get(2..).unwrap_or(&[])
        } else {
            payload
        };
        if inspect_dns(app, msg) {
            found(match (sport, dport) {
                (5353, _) | (_, 5353) => Application::Mdns,
                (5355, _) | (_, 5355) => Application::Llmnr,
                _ => Application::Dns,
            });
        }
        // Every message of the flow's first packets may ask something new.
        return false;
    }
    // HTTP also runs over UDP as SSDP (port 1900).
    if proto == 17 && (sport == 1900 || dport == 1900) {
        let request = inspect_http(app, payload);
        if request.is_some() || identify::is_ssdp(payload) {
            found(Application::Ssdp);
        }
        return request.is_some_and(|connect| !connect);
    }
    if proto == 6 {
        if let Some(hello) = tls::client_hello(payload) {
            found(identify::tls_on(dport));
            let m = app.get_or_insert_with(Default::default);
            if m.tls_sni.is_none() {
                m.tls_sni = hello.sni.map(printable);
            }
            if m.tls_alpn.is_none() && !hello.alpn.is_empty() {
                let names: Vec<String> = hello.alpn.iter().map(printable).collect();
                m.tls_alpn = Some(names.join(","));
            }
            return true;
        }
        if let Some(connect) = inspect_http(app, payload) {
            found(identify::http_on(connect));
            // After a CONNECT the tunnel usually carries TLS: keep looking for its server name.
            return !connect;
        }
    }
    if let Some(a) = identify::sniff(proto, sport, dport, payload) {
        found(a);
    }
    // A signature ends nothing: a greeting may be followed by STARTTLS (and its server name),
    // a proxy's answer by the tunnelled ClientHello.
    false
}

/// Reads one DNS message into `app`; true when it has a DNS header.
fn inspect_dns(app: &mut Option<Box<AppMeta>>, msg: &[u8]) -> bool {
    let Some(h) = dns::header(msg) else {
        return false;
    };
    // Opcodes in use (query, inverse query, status, notify, update) and a sane question count:
    // other bytes on these ports are not DNS.
    let plausible = matches!((msg[2] >> 3) & 0x0f, 0 | 1 | 2 | 4 | 5)
        && u16::from_be_bytes([msg[4], msg[5]]) <= 32;
    if h.response && app.as_ref().is_none_or(|m| m.dns_rcode.is_none()) {
        app.get_or_insert_with(Default::default).dns_rcode = Some(h.rcode);
    }
    dns::question_names(msg, |name| {
        let m = app.get_or_insert_with(Default::default);
        if m.dns_queries.len() >= MAX_DNS_NAMES
            || m.dns_queries.iter().any(|q| q.as_bytes() == name)
        {
            return;
        }
        // Names that are not UTF-8 render differently from their bytes: compare rendered.
        let text = dns::render_name(name);
        if !m.dns_queries.contains(&text) {
            m.dns_queries.push(text);
        }
    });
    plausible
}

/// Reads one HTTP request into `app`; whether it was a CONNECT, or `None` when the payload is
/// no request.
fn inspect_http(app: &mut Option<Box<AppMeta>>, payload: &[u8]) -> Option<bool> {
    let req = http::request(payload)?;
    let m = app.get_or_insert_with(Default::default);
    // The target and User-Agent are those of the first request (the method's).
    if m.http_method.is_none() {
        m.http_method = Some(req.method.to_string());
        m.http_uri = req
            .target
            .map(|t| http::render_capped(t, http::MAX_URI_BYTES));
        m.http_user_agent = req
            .user_agent
            .map(|u| http::render_capped(u, http::MAX_USER_AGENT_BYTES));
    }
    if m.http_host.is_none() {
        m.http_host = req.host.map(printable);
    }
    Some(req.method == "CONNECT")
}

/// Bytes as text for output, rendered as Wireshark does: valid UTF-8 is kept, every other byte
/// becomes U+FFFD; control characters are escaped as `\xNN`.
pub(crate) fn printable(b: &[u8]) -> String {
    printable_capped(b, usize::MAX)
}

/// [`printable`], stopping before the first character (or escape) that would take the text
/// past `cap` bytes.
pub(crate) fn printable_capped(b: &[u8], cap: usize) -> String {
    let mut out = String::with_capacity(b.len().min(cap));
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                if out.len() + 4 > cap {
                    return out;
                }
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                if out.len() + c.len_utf8() > cap {
                    return out;
                }
                out.push(c);
            }
        }
        for _ in chunk.invalid() {
            if out.len() + char::REPLACEMENT_CHARACTER.len_utf8() > cap {
                return out;
            }
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::{decode, Decoded, FileSource, PacketSource};

    #[test]
    fn the_target_and_user_agent_are_those_of_the_first_request() {
        let (mut app, mut application) = (None, Application::Unknown);
        let first = b"GET /a HTTP/1.1\r\nUser-Agent: first\r\n\r\n";
        let second = b"GET /b HTTP/1.1\r\nHost: h\r\nUser-Agent: second\r\n\r\n";
        // Nothing more to learn after a request (but a CONNECT's tunnel)…
        assert!(inspect(&mut app, &mut application, 6, 40000, 80, first));
        // …and should a later one be seen, only a missing Host is taken from it.
        assert!(inspect(&mut app, &mut application, 6, 40000, 80, second));
        assert_eq!(application, Application::Http);
        let m = app.unwrap();
        assert_eq!(
            (
                m.http_method.as_deref(),
                m.http_uri.as_deref(),
                m.http_user_agent.as_deref(),
                m.http_host.as_deref()
            ),
            (Some("GET"), Some("/a"), Some("first"), Some("h"))
        );
    }

    #[test]
    fn inspect_learns_nothing_from_a_payload_may_learn_rejects() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        let opts = crate::Profile::Cic.decode_options();
        let (mut learnable, mut rejected) = (0, 0);
        for c in [
            "chrissanders-packets/http_espn.pcapng",
            "chrissanders-packets/ek_to_cryptowall4.pcapng",
            "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/ftp-crack.pcap",
            "nfstream/pcaps/skype_no_unknown.pcap",
            "nfstream/pcaps/http_ipv6.pcap",
            "zeek/Traces/wikipedia.pcap",
        ] {
            let mut src = FileSource::open(&data.join(c), 0).expect("open");
            while let Ok(Some(raw)) = src.next_packet() {
                let Ok(Decoded::Ip(m)) = decode(raw.link, raw.ts, raw.wire_len, raw.data, &opts)
                else {
                    continue;
                };
                if m.payload.is_empty() {
                    continue;
                }
                if may_learn(m.proto, m.sport, m.dport, m.payload) {
                    learnable += 1;
                    continue;
                }
                rejected += 1;
                for p in [m.payload, &[0u8][..]] {
                    let (mut app, mut application) = (None, Application::Unknown);
                    let done = inspect(&mut app, &mut application, m.proto, m.sport, m.dport, p);
                    assert!(!done, "{c}");
                    assert!(app.is_none(), "{c}: {:?}", m.payload.get(..16));
                    assert_eq!(application, Application::Unknown, "{c}");
                }
            }
        }
        // ftp-crack's 2,800 FTP commands match a signature: they are learnable.
        assert!(
            learnable > 4000 && rejected > 4000,
            "{learnable} {rejected}"
        );
    }
}

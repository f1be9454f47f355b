//! HTTP/1.x: the method and `Host` header of a request.
//!
//! Hand-written rather than httparse: httparse rejects requests that servers and tshark read,
//! and an IDS wants those most (a request target with spaces in a command-injection attempt,
//! a version `HTTP/1.0.8`, a NUL in an earlier header's value: 3 of the 1,493 requests with a
//! Host in the shared captures).

const METHODS: [&[u8]; 11] = [
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"PATCH ",
    b"TRACE ",
    // SSDP
    b"M-SEARCH ",
    b"NOTIFY ",
];

/// An HTTP/1.x request's method and Host, borrowed from the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpRequest<'a> {
    /// The request method as sent: "GET", "POST", "M-SEARCH" (SSDP), "PROPFIND", …
    pub method: &'a str,
    /// The Host header's value, trimmed (raw bytes; `request_host` renders it).
    pub host: Option<&'a [u8]>,
}

/// Whether `m` looks like a method: RFC 9110 allows any token, but methods in use are 3 to 20
/// capitals, digits, `-` and `_` starting with a capital. Stricter than a token so that the
/// middle of a request continued from an earlier segment ("T / HTTP/1.1") is not taken.
fn is_method(m: &[u8]) -> bool {
    (3..=20).contains(&m.len())
        && m[0].is_ascii_uppercase()
        && m.iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The request that `p` starts: its request line must end in an `HTTP/1.` version (so RTSP
/// and SIP are not taken), except that one of the common methods `request_host` accepts is
/// enough while the request line is cut. The Host comes from the header lines present (the
/// block may continue in the next segment), exactly as `request_host` reads it. Nothing is
/// allocated.
pub fn request(p: &[u8]) -> Option<HttpRequest<'_>> {
    // Most payloads are not HTTP: reject them by their first token before scanning for the
    // end of the line (a method is 3–20 capitals followed by a space).
    let sp = p.iter().take(21).position(|&b| b == b' ')?;
    if !is_method(&p[..sp]) {
        return None;
    }
    let method_len = match p.iter().position(|&b| b == b'\n') {
        Some(end) => {
            let line = p[..end]
                .strip_suffix(b"\r")
                .unwrap_or(&p[..end])
                .trim_ascii_end();
            let sp = line.iter().position(|&b| b == b' ')?;
            let version = line.rsplit(|&b| b == b' ').next()?;
            if !is_method(&line[..sp]) || !version.starts_with(b"HTTP/1.") {
                return None;
            }
            sp
        }
        None => METHODS.iter().find(|m| p.starts_with(m))?.len() - 1,
    };
    // ASCII either way.
    let method = std::str::from_utf8(&p[..method_len]).ok()?;
    Some(HttpRequest {
        method,
        host: host_header(p),
    })
}

/// The trimmed value of the first non-empty Host header among the lines after the first, up to
/// the blank line ending the header block.
fn host_header(p: &[u8]) -> Option<&[u8]> {
    for line in p.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.len() > 5 && line[..5].eq_ignore_ascii_case(b"host:") {
            let v = line[5..].trim_ascii();
            if !v.is_empty() {
                return Some(v);
            }
        }
    }
    None
}

/// The Host header value of a request starting in `p`, if its header lines hold one.
/// Checked against tshark (tests/app_metadata.rs); `request` also gives the method.
pub fn request_host(p: &[u8]) -> Option<String> {
    if !METHODS.iter().any(|m| p.starts_with(m)) {
        return None;
    }
    host_header(p).map(super::printable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_host_header_in_any_case() {
        let r =
            b"GET /index.html HTTP/1.1\r\nUser-Agent: x\r\nhOsT:  www.example.com:8080 \r\n\r\n";
        assert_eq!(request_host(r).as_deref(), Some("www.example.com:8080"));
    }

    #[test]
    fn reads_the_method_and_host_of_a_captured_post() {
        // ndpi/pcap/ipp.pcap, frame 6: CUPS posting a print job.
        let r = b"POST /ipp/ HTTP/1.1\r\nContent-Length: 289\r\nContent-Type: application/ipp\r\n\
                  Host: 10.10.10.251\r\nUser-Agent: CUPS/1.3.4\r\nExpect: 100-continue\r\n\r\n";
        let q = request(r).unwrap();
        assert_eq!(q.method, "POST");
        assert_eq!(q.host, Some(&b"10.10.10.251"[..]));
        assert_eq!(request_host(r).as_deref(), Some("10.10.10.251"));
    }

    #[test]
    fn reads_requests_httparse_would_refuse() {
        // ndpi/pcap/WebattackRCE.pcap: spaces in the request target.
        let r = b"GET /cgi-bin/handler/netsonar;cat /etc/passwd|?data=Download HTTP/1.1\r\n\
                  Connection: Keep-Alive\r\nHost: 127.0.0.1\r\n\r\n";
        let q = request(r).unwrap();
        assert_eq!((q.method, q.host), ("GET", Some(&b"127.0.0.1"[..])));
        // chrissanders-packets/weather_working.pcapng: an odd version, after a less common
        // method it must still end in HTTP/1.
        let q = request(b"PROPFIND /s?x=1 HTTP/1.0.8\r\nHost: 38.102.136.125\r\n\r\n").unwrap();
        assert_eq!(
            (q.method, q.host),
            ("PROPFIND", Some(&b"38.102.136.125"[..]))
        );
    }

    #[test]
    fn reads_any_method_and_a_request_without_host() {
        let q = request(b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n").unwrap();
        assert_eq!(q.method, "M-SEARCH");
        assert_eq!(q.host, Some(&b"239.255.255.250:1900"[..]));
        // BitTorrent local peer discovery speaks HTTP over UDP multicast.
        let q = request(b"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\n\r\n").unwrap();
        assert_eq!(q.method, "BT-SEARCH");
        // suricata-verify detect-pcre-04: several spaces in the request line, HTTP/1.0, no Host.
        let q = request(b"POST  /  HTTP/1.0\r\nCookie: dummy 1234\r\nUser-Agent: Mozilla\r\n\r\n");
        assert_eq!(
            q,
            Some(HttpRequest {
                method: "POST",
                host: None
            })
        );
    }

    #[test]
    fn a_request_cut_short_keeps_what_came_before() {
        let r = b"GET /a HTTP/1.1\r\nUser-Agent: x\r\nHost: www.example.com\r\nAccept: text/ht";
        let q = request(r).unwrap();
        assert_eq!((q.method, q.host), ("GET", Some(&b"www.example.com"[..])));
        // A common method is known from its first word.
        let q = request(b"GET /very/long/path").unwrap();
        assert_eq!((q.method, q.host), ("GET", None));
        // Another needs its whole request line.
        assert_eq!(request(b"PROPFIND /very/long/path"), None);
    }

    #[test]
    fn other_protocols_and_responses_are_not_requests() {
        assert_eq!(request(b"HTTP/1.1 200 OK\r\nHost: x\r\n\r\n"), None);
        assert_eq!(
            request(b"OPTIONS rtsp://cam/ RTSP/1.0\r\nCSeq: 1\r\n\r\n"),
            None
        );
        assert_eq!(
            request(b"OPTIONS sip:bob@example.com SIP/2.0\r\n\r\n"),
            None
        );
        assert_eq!(request(b"SSH-2.0-OpenSSH_9.6\r\n"), None);
        assert_eq!(request(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), None);
        assert_eq!(request(b"220 mail.example.com ESMTP\r\n"), None);
        assert_eq!(request(b"(GET) / HTTP/1.1\r\n"), None);
        // suricata-verify: the rest of a request line whose start came in an earlier segment.
        assert_eq!(
            request(b"T / HTTP/1.1\r\nUser-Agent: Victor/1.0\r\n\r\n"),
            None
        );
        assert_eq!(
            request(b"d3d4d5d6d7d8d9d0 HTTP/1.1\r\nHost: 10.0.0.61\r\n"),
            None
        );
        assert_eq!(request(b"\x16\x03\x01\x00\xab\x01\x00"), None);
    }

    #[test]
    fn responses_and_bodies_are_not_requests() {
        assert_eq!(request_host(b"HTTP/1.1 200 OK\r\nHost: x\r\n\r\n"), None);
        assert_eq!(request_host(b"GET / HTTP/1.1\r\n\r\nHost: late\r\n"), None);
    }
}

//! HTTP/1.x: the method, request target, `Host` and `User-Agent` of a request.
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

/// Longest request target kept, in bytes of its rendered text (see [`render_capped`]): longer
/// ones are cut on a character boundary. The cap bounds what one flow holds; 2,048 bytes keep
/// every target of the 1,482 requests tshark finds in the shared captures whole (the longest
/// is 1,029) and is the long-advised practical limit for URLs.
pub const MAX_URI_BYTES: usize = 2048;
/// Longest User-Agent kept, in bytes of its rendered text (cut on a character boundary): the
/// longest of the 1,399 in the shared captures is 194.
pub const MAX_USER_AGENT_BYTES: usize = 512;

/// An HTTP/1.x request's method, target, Host and User-Agent, borrowed from the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpRequest<'a> {
    /// The request method as sent: "GET", "POST", "M-SEARCH" (SSDP), "PROPFIND", …
    pub method: &'a str,
    /// The request target (raw bytes, trimmed): everything between the method and the version,
    /// spaces included, as Zeek reads it; the part that came when the request line is cut.
    /// `None` when empty.
    pub target: Option<&'a [u8]>,
    /// The Host header's value, trimmed (raw bytes; `request_host` renders it).
    pub host: Option<&'a [u8]>,
    /// The User-Agent header's value, trimmed (raw bytes).
    pub user_agent: Option<&'a [u8]>,
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
/// enough while the request line is cut. Host and User-Agent come from the header lines
/// present (the block may continue in the next segment), the Host exactly as `request_host`
/// reads it. Nothing is allocated.
pub fn request(p: &[u8]) -> Option<HttpRequest<'_>> {
    // Most payloads are not HTTP: reject them by their first token before scanning for the
    // end of the line (a method is 3–20 capitals followed by a space).
    let sp = p.iter().take(21).position(|&b| b == b' ')?;
    if !is_method(&p[..sp]) {
        return None;
    }
    let (method_len, target) = match p.iter().position(|&b| b == b'\n') {
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
            // The version is the last word, after a space: the target lies between.
            let rest = line.get(sp..line.len() - version.len()).unwrap_or_default();
            (sp, rest.trim_ascii())
        }
        None => {
            let sp = METHODS.iter().find(|m| p.starts_with(m))?.len() - 1;
            (sp, p[sp..].trim_ascii())
        }
    };
    // ASCII either way.
    let method = std::str::from_utf8(&p[..method_len]).ok()?;
    let (host, user_agent) = headers(p);
    Some(HttpRequest {
        method,
        target: (!target.is_empty()).then_some(target),
        host,
        user_agent,
    })
}

/// The trimmed values of the first non-empty Host and User-Agent headers among the lines
/// after the first, up to the blank line ending the header block (one pass for both).
fn headers(p: &[u8]) -> (Option<&[u8]>, Option<&[u8]>) {
    let (mut host, mut agent) = (None, None);
    for line in p.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if host.is_none() {
            host = header_value(line, b"host:");
        }
        if agent.is_none() {
            agent = header_value(line, b"user-agent:");
        }
        if host.is_some() && agent.is_some() {
            break;
        }
    }
    (host, agent)
}

/// The trimmed value of header line `line` if it is the header `name` (lower case, with its
/// colon) and the value is not empty.
fn header_value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    if line.len() > name.len() && line[..name.len()].eq_ignore_ascii_case(name) {
        let v = line[name.len()..].trim_ascii();
        if !v.is_empty() {
            return Some(v);
        }
    }
    None
}

/// `b` rendered by `super::printable`'s rule and cut to at most `cap` bytes on a character
/// boundary (an escape is never split). Reads at most `cap + 3` bytes of `b`: every rendered
/// character takes at least the bytes it came from, so the last one that may fit starts
/// before `cap` and ends within 3 bytes after it (it is never itself cut).
pub fn render_capped(b: &[u8], cap: usize) -> String {
    super::printable_capped(&b[..b.len().min(cap.saturating_add(3))], cap)
}

/// The Host header value of a request starting in `p`, if its header lines hold one.
/// Checked against tshark (tests/app_metadata.rs); `request` also gives the method.
pub fn request_host(p: &[u8]) -> Option<String> {
    if !METHODS.iter().any(|m| p.starts_with(m)) {
        return None;
    }
    headers(p).0.map(super::printable)
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
                target: Some(b"/"),
                host: None,
                user_agent: Some(b"Mozilla"),
            })
        );
    }

    #[test]
    fn reads_the_target_and_user_agent_of_a_captured_request() {
        // ndpi/pcap/ipp.pcap, frame 6 (as above): tshark shows the same target and agent.
        let r = b"POST /ipp/ HTTP/1.1\r\nContent-Length: 289\r\nContent-Type: application/ipp\r\n\
                  Host: 10.10.10.251\r\nUser-Agent: CUPS/1.3.4\r\nExpect: 100-continue\r\n\r\n";
        let q = request(r).unwrap();
        assert_eq!(q.target, Some(&b"/ipp/"[..]));
        assert_eq!(q.user_agent, Some(&b"CUPS/1.3.4"[..]));
        // Any case, trimmed; the first non-empty one counts.
        let q = request(b"GET /a?b=c HTTP/1.0\r\nuser-AGENT:\r\nUSER-AGENT:  curl/8.5.0 \r\n\r\n");
        assert_eq!(
            (q.unwrap().target, q.unwrap().user_agent),
            (Some(&b"/a?b=c"[..]), Some(&b"curl/8.5.0"[..]))
        );
        // An SSDP search targets `*`.
        let q = request(b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n").unwrap();
        assert_eq!((q.target, q.user_agent), (Some(&b"*"[..]), None));
    }

    #[test]
    fn the_target_runs_up_to_the_version_spaces_included() {
        // ndpi/pcap/WebattackRCE.pcap, frame 535. tshark 4.0 ends the target at its first
        // space ("/cgi-bin/handler/netsonar;cat") and calls the rest the version; Zeek, like
        // netvigil, reads up to the version, which keeps the injected command.
        let r = b"GET /cgi-bin/handler/netsonar;cat /etc/passwd|?data=Download HTTP/1.1\r\n\
                  Connection: Keep-Alive\r\nHost: 127.0.0.1\r\n\r\n";
        assert_eq!(
            request(r).unwrap().target,
            Some(&b"/cgi-bin/handler/netsonar;cat /etc/passwd|?data=Download"[..])
        );
        // No target at all.
        assert_eq!(request(b"GET HTTP/1.1\r\n\r\n").unwrap().target, None);
        // The header block ends at the blank line: a User-Agent in the body is not one.
        assert_eq!(
            request(b"POST /f HTTP/1.1\r\nHost: h\r\n\r\nUser-Agent: body\r\n")
                .unwrap()
                .user_agent,
            None
        );
    }

    #[test]
    fn long_targets_and_agents_are_cut_on_a_character_boundary() {
        let long = format!(
            "GET /{} HTTP/1.1\r\nUser-Agent: {}\r\n\r\n",
            "a".repeat(3000),
            "é".repeat(300)
        );
        let q = request(long.as_bytes()).unwrap();
        let uri = render_capped(q.target.unwrap(), MAX_URI_BYTES);
        assert_eq!(uri.len(), MAX_URI_BYTES);
        assert_eq!(uri, format!("/{}", "a".repeat(MAX_URI_BYTES - 1)));
        // 2-byte characters: 256 fit in 512 bytes.
        let ua = render_capped(q.user_agent.unwrap(), MAX_USER_AGENT_BYTES);
        assert_eq!(ua, "é".repeat(256));
        // A character that would cross the cap is left out whole, escapes included.
        assert_eq!(render_capped("abcé".as_bytes(), 4), "abc");
        assert_eq!(render_capped(b"ab\x01", 5), "ab");
        assert_eq!(render_capped(b"ab\x01", 6), "ab\\x01");
        assert_eq!(render_capped(b"ab\xff", 4), "ab");
        assert_eq!(render_capped(b"ab\xff", 5), "ab\u{fffd}");
        // The cap counts bytes of the rendered text: a 4-byte character just past the
        // bytes read is still seen whole.
        assert_eq!(render_capped("abc😀".as_bytes(), 7), "abc😀");
        assert_eq!(render_capped("abc😀".as_bytes(), 6), "abc");
    }

    #[test]
    fn a_request_cut_short_keeps_what_came_before() {
        let r = b"GET /a HTTP/1.1\r\nUser-Agent: x\r\nHost: www.example.com\r\nAccept: text/ht";
        let q = request(r).unwrap();
        assert_eq!((q.method, q.host), ("GET", Some(&b"www.example.com"[..])));
        // A common method is known from its first word.
        let q = request(b"GET /very/long/path").unwrap();
        assert_eq!((q.method, q.host), ("GET", None));
        // Its target is the part that came.
        assert_eq!(q.target, Some(&b"/very/long/path"[..]));
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

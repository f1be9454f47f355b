//! HTTP/1.x: the `Host` header of a request.

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

/// The Host header value of a request starting in `p`, if its header lines hold one.
pub fn request_host(p: &[u8]) -> Option<String> {
    if !METHODS.iter().any(|m| p.starts_with(m)) {
        return None;
    }
    let mut lines = p.split(|&b| b == b'\n').skip(1);
    for line in lines.by_ref() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.len() > 5 && line[..5].eq_ignore_ascii_case(b"host:") {
            let v = line[5..].trim_ascii();
            if !v.is_empty() {
                return Some(super::printable(v));
            }
        }
    }
    None
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
    fn responses_and_bodies_are_not_requests() {
        assert_eq!(request_host(b"HTTP/1.1 200 OK\r\nHost: x\r\n\r\n"), None);
        assert_eq!(request_host(b"GET / HTTP/1.1\r\n\r\nHost: late\r\n"), None);
    }
}

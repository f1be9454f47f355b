//! TLS: the server name (SNI, RFC 6066 §3) of a ClientHello, read from the first segment even
//! when the record continues in the next one.

#[inline]
fn be16(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]) as usize)
}

/// The host name of the ClientHello's server_name extension, if it is in `p`.
pub fn client_hello_sni(p: &[u8]) -> Option<String> {
    // Record: type 22 (handshake), version 3.x; handshake type 1 (ClientHello).
    if p.len() < 9 || p[0] != 0x16 || p[1] != 3 || p[5] != 1 {
        return None;
    }
    let mut i = 9; // record header 5 + handshake header 4
    i += 2 + 32; // client_version, random
    let sid = *p.get(i)? as usize;
    i += 1 + sid;
    let suites = be16(p, i)?;
    i += 2 + suites;
    let comp = *p.get(i)? as usize;
    i += 1 + comp;
    let ext_total = be16(p, i)?;
    i += 2;
    let end = i + ext_total;
    while i + 4 <= end {
        let ty = be16(p, i)?;
        let len = be16(p, i + 2)?;
        let body = i + 4;
        if ty == 0 {
            // server_name_list: length, then (type, length, name) entries; type 0 = host_name.
            let list_end = body + 2 + be16(p, body)?;
            let mut j = body + 2;
            while j + 3 <= list_end {
                let kind = *p.get(j)?;
                let n = be16(p, j + 1)?;
                let name = p.get(j + 3..j + 3 + n)?;
                if kind == 0 {
                    return Some(super::printable(name));
                }
                j += 3 + n;
            }
            return None;
        }
        i = body + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(sni: &str) -> Vec<u8> {
        let name = sni.as_bytes();
        let mut ext = vec![0, 0];
        let list_len = 3 + name.len();
        ext.extend_from_slice(&((2 + list_len) as u16).to_be_bytes());
        ext.extend_from_slice(&(list_len as u16).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        ext.extend_from_slice(name);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0u8; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut hs = vec![1, 0, 0, 0];
        hs[1..4].copy_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 3, 1, 0, 0];
        rec[3..5].copy_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn reads_the_server_name() {
        assert_eq!(
            client_hello_sni(&hello("www.example.org")).as_deref(),
            Some("www.example.org")
        );
    }

    #[test]
    fn a_hello_cut_before_the_name_gives_nothing() {
        let h = hello("www.example.org");
        assert_eq!(client_hello_sni(&h[..h.len() - 4]), None);
        assert_eq!(client_hello_sni(b"GET / HTTP/1.1\r\n"), None);
    }
}

//! TLS: the server name (SNI, RFC 6066 §3) and the offered application protocols (ALPN,
//! RFC 7301) of a ClientHello, read from the first segment even when the record continues in
//! the next one.
//!
//! A hand-written walk rather than tls-parser's `parse_tls_plaintext`: that one needs the whole
//! record and allocates (cipher suite and extension lists), while a ClientHello with a
//! post-quantum key share (~1,800 bytes) no longer fits in one segment, yet its SNI and ALPN,
//! early in the extensions, do. The tests check the walk against tls-parser on whole records.

#[inline]
fn be16(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]) as usize)
}

/// What a ClientHello tells: borrowed from the payload, nothing allocated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientHelloInfo<'a> {
    /// The host_name of the server_name extension (raw bytes; `client_hello_sni` renders it).
    pub sni: Option<&'a [u8]>,
    /// The protocols of the application_layer_protocol_negotiation extension (16), in the
    /// client's order of preference; empty when the extension is absent or not in the payload.
    pub alpn: AlpnList<'a>,
}

/// An ALPN ProtocolNameList (RFC 7301 §3.1) as sent: iterate it for the protocol names
/// (`b"h2"`, `b"http/1.1"`, …).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlpnList<'a>(&'a [u8]);

impl<'a> AlpnList<'a> {
    /// The protocol names, in order; stops at an entry that overruns the list.
    pub fn iter(&self) -> AlpnIter<'a> {
        AlpnIter(self.0)
    }

    /// True when no protocol is listed.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The client's first choice.
    pub fn first(&self) -> Option<&'a [u8]> {
        self.iter().next()
    }
}

impl<'a> IntoIterator for AlpnList<'a> {
    type Item = &'a [u8];
    type IntoIter = AlpnIter<'a>;
    fn into_iter(self) -> AlpnIter<'a> {
        self.iter()
    }
}

/// Iterator over the names of an `AlpnList`.
#[derive(Clone, Debug)]
pub struct AlpnIter<'a>(&'a [u8]);

impl<'a> Iterator for AlpnIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        // Entries are non-empty (RFC 7301): a zero length ends the walk like a malformed one.
        let (&n, rest) = self.0.split_first()?;
        match rest.get(..n as usize) {
            Some(name) if n > 0 => {
                self.0 = &rest[n as usize..];
                Some(name)
            }
            _ => {
                self.0 = &[];
                None
            }
        }
    }
}

/// The SNI and ALPN of the ClientHello that `p` starts, as far as `p` holds it. `None` when `p`
/// does not start a TLS handshake record holding a ClientHello, or is cut before its
/// extensions begin. An extension cut short by the end of `p` is not read.
pub fn client_hello(p: &[u8]) -> Option<ClientHelloInfo<'_>> {
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
    let end = (i + ext_total).min(p.len());
    let mut info = ClientHelloInfo::default();
    while i + 4 <= end {
        let ty = be16(p, i)?;
        let len = be16(p, i + 2)?;
        let body = i + 4;
        let Some(ext) = p.get(body..body + len) else {
            break; // continues in the next segment
        };
        match ty {
            0 if info.sni.is_none() => info.sni = server_name(ext),
            16 if info.alpn.is_empty() => {
                // protocol_name_list: a 2-byte length, then the length-prefixed names.
                if let Some(list) = be16(ext, 0).and_then(|n| ext.get(2..2 + n)) {
                    info.alpn = AlpnList(list);
                }
            }
            _ => {}
        }
        i = body + len;
    }
    Some(info)
}

/// The host_name of a server_name extension's body: a list length, then (type, length, name)
/// entries; type 0 is host_name.
fn server_name(ext: &[u8]) -> Option<&[u8]> {
    let list_end = (2 + be16(ext, 0)?).min(ext.len());
    let mut j = 2;
    while j + 3 <= list_end {
        let kind = ext[j];
        let n = be16(ext, j + 1)?;
        let name = ext.get(j + 3..j + 3 + n)?;
        if kind == 0 {
            return Some(name);
        }
        j += 3 + n;
    }
    None
}

/// The host name of the ClientHello's server_name extension, if it is in `p`.
pub fn client_hello_sni(p: &[u8]) -> Option<String> {
    client_hello(p)?.sni.map(super::printable)
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

    fn unhex(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    }

    /// ndpi/pcap/discord.pcap, frame 3: a ClientHello (176 bytes, one segment) offering h2 and
    /// http/1.1, with the ALPN extension after the server name.
    const DISCORD: &str = "16030100ab010000a70303f1f318c3e72492ca306f3789eaff28710f00dcc8987c96a6\
        ad43679b79151b0a000018c02bc02ccca9c02fc030cca8c013c014009c009d002f003501000066ff01000100\
        00000010000e00000b646973636f72642e636f6d0017000000230000000d0014001204030804040105030805\
        05010806060102010005000501000000000010000e000c02683208687474702f312e31000b00020100000a00\
        080006001d00170018";

    /// nfstream/pcaps/facebook.pcap, frame 4: three protocols, ALPN before status_request.
    const FACEBOOK: &str = "16030100bf010000bb03035b87c511921a3c7eb68c069bf9d812e277ab30ef4354e6\
        c49db794ea12e9693400001ac02bc02fcca9cca8c00ac009c013c01400330039002f0035000a010000780000\
        0011000f00000c66616365626f6f6b2e636f6d00170000ff01000100000a00080006001700180019000b0002\
        0100002300003374000000100017001502683208737064792f332e3108687474702f312e3100050005010000\
        0000000d0018001604010501060102010403050306030203050204020202";

    fn alpn(h: &ClientHelloInfo) -> Vec<String> {
        h.alpn
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect()
    }

    #[test]
    fn reads_the_server_name() {
        assert_eq!(
            client_hello_sni(&hello("www.example.org")).as_deref(),
            Some("www.example.org")
        );
        let rec = hello("www.example.org");
        let h = client_hello(&rec).unwrap();
        assert!(h.alpn.is_empty());
        assert_eq!(h.alpn.first(), None);
    }

    #[test]
    fn reads_alpn_and_sni_of_captured_hellos() {
        let d = unhex(DISCORD);
        let h = client_hello(&d).unwrap();
        assert_eq!(h.sni, Some(&b"discord.com"[..]));
        assert_eq!(alpn(&h), ["h2", "http/1.1"]);
        assert_eq!(h.alpn.first(), Some(&b"h2"[..]));
        assert_eq!(client_hello_sni(&d).as_deref(), Some("discord.com"));

        let f = unhex(FACEBOOK);
        let h = client_hello(&f).unwrap();
        assert_eq!(h.sni, Some(&b"facebook.com"[..]));
        assert_eq!(alpn(&h), ["h2", "spdy/3.1", "http/1.1"]);
    }

    #[test]
    fn agrees_with_tls_parser_on_whole_records() {
        use tls_parser::{
            parse_tls_extensions, parse_tls_plaintext, SNIType, TlsExtension, TlsMessage,
            TlsMessageHandshake,
        };
        for rec in [unhex(DISCORD), unhex(FACEBOOK), hello("a.example")] {
            let (_, plain) = parse_tls_plaintext(&rec).unwrap();
            let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) = &plain.msg[0] else {
                panic!("not a ClientHello");
            };
            let (_, exts) = parse_tls_extensions(ch.ext.unwrap()).unwrap();
            let (mut sni, mut protos) = (None, Vec::new());
            for e in exts {
                match e {
                    TlsExtension::SNI(v) => {
                        sni = v.iter().find(|(t, _)| *t == SNIType::HostName).map(|x| x.1)
                    }
                    TlsExtension::ALPN(v) => protos = v,
                    _ => {}
                }
            }
            let ours = client_hello(&rec).unwrap();
            assert_eq!(ours.sni, sni);
            assert_eq!(ours.alpn.iter().collect::<Vec<_>>(), protos);
        }
    }

    #[test]
    fn a_hello_cut_in_the_next_segment_keeps_what_came_before() {
        let d = unhex(DISCORD);
        // Cut inside the ALPN extension (it ends 18 bytes before the record does): the SNI stays.
        let h = client_hello(&d[..d.len() - 25]).unwrap();
        assert_eq!(h.sni, Some(&b"discord.com"[..]));
        assert!(h.alpn.is_empty());
        // Cut after it: both.
        let h = client_hello(&d[..d.len() - 15]).unwrap();
        assert_eq!(alpn(&h), ["h2", "http/1.1"]);
        // Cut before the extensions: not read at all.
        assert_eq!(client_hello(&d[..60]), None);
    }

    #[test]
    fn a_malformed_alpn_list_stops_at_the_bad_entry() {
        let list = AlpnList(b"\x02h2\x09http/1.1");
        assert_eq!(list.iter().collect::<Vec<_>>(), [&b"h2"[..]]);
        assert!(AlpnList(b"\x00\x02h2").is_empty());
    }

    #[test]
    fn a_hello_cut_before_the_name_gives_nothing() {
        let h = hello("www.example.org");
        assert_eq!(client_hello_sni(&h[..h.len() - 4]), None);
        assert_eq!(client_hello_sni(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(client_hello(b"GET / HTTP/1.1\r\n"), None);
    }
}

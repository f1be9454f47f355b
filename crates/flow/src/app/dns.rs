//! DNS: the header's flags and response code, and the first question's name of a query or
//! response (RFC 1035 §4.1).

/// Longest name accepted (RFC 1035: 255 octets).
pub const MAX_NAME: usize = 255;

/// The fields of a DNS message header (RFC 1035 §4.1.1) a flow record may keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsHeader {
    /// Message ID.
    pub id: u16,
    /// QR: a response (true) or a query.
    pub response: bool,
    /// RCODE, the header's 4 bits (0 to 15); `rcode_name` names it. EDNS extends it with 8
    /// bits from the OPT record, which is not read here.
    pub rcode: u8,
}

/// The header of a DNS message (without the 2-byte length prefix of DNS over TCP), if `msg`
/// holds the 12 bytes of one.
pub fn header(msg: &[u8]) -> Option<DnsHeader> {
    let h = msg.get(..12)?;
    Some(DnsHeader {
        id: u16::from_be_bytes([h[0], h[1]]),
        response: h[2] & 0x80 != 0,
        rcode: h[3] & 0x0F,
    })
}

/// Names of the 16 header RCODE values, as IANA's "DNS RCODEs" registry and tools (dig,
/// Wireshark) spell them; values without a name are shown as `RCODE<n>`.
const RCODE_NAMES: [&str; 16] = [
    "NOERROR",   // RFC 1035
    "FORMERR",   // RFC 1035
    "SERVFAIL",  // RFC 1035
    "NXDOMAIN",  // RFC 1035
    "NOTIMP",    // RFC 1035
    "REFUSED",   // RFC 1035
    "YXDOMAIN",  // RFC 2136
    "YXRRSET",   // RFC 2136
    "NXRRSET",   // RFC 2136
    "NOTAUTH",   // RFC 2136, RFC 8945
    "NOTZONE",   // RFC 2136
    "DSOTYPENI", // RFC 8490
    "RCODE12",
    "RCODE13",
    "RCODE14",
    "RCODE15",
];

/// The name of a header RCODE (`DnsHeader::rcode`, 0 to 15): "NOERROR", "NXDOMAIN", …;
/// "" for a value that does not fit in the header's 4 bits.
pub fn rcode_name(rcode: u8) -> &'static str {
    RCODE_NAMES.get(rcode as usize).copied().unwrap_or("")
}

/// The RCODE named by [`rcode_name`].
pub fn rcode_of(name: &str) -> Option<u8> {
    RCODE_NAMES.iter().position(|&n| n == name).map(|i| i as u8)
}

/// The name of the first question, if the message has one and it is complete.
pub fn query_name(msg: &[u8]) -> Option<String> {
    if msg.len() < 12 {
        return None;
    }
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    if qdcount == 0 {
        return None;
    }
    let mut name: Vec<u8> = Vec::with_capacity(64);
    let mut pos = 12;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos)? as usize;
        match len {
            0 => break,
            l if l & 0xC0 == 0xC0 => {
                // Compression pointer (rare in a question, but legal).
                let target = ((l & 0x3F) << 8) | *msg.get(pos + 1)? as usize;
                jumps += 1;
                if jumps > 16 || target >= msg.len() {
                    return None;
                }
                pos = target;
            }
            l if l & 0xC0 != 0 => return None,
            l => {
                let label = msg.get(pos + 1..pos + 1 + l)?;
                if !name.is_empty() {
                    name.push(b'.');
                }
                name.extend_from_slice(label);
                if name.len() > MAX_NAME {
                    return None;
                }
                pos += 1 + l;
            }
        }
    }
    if name.is_empty() {
        // The root: tshark writes "<Root>".
        return Some("<Root>".into());
    }
    Some(super::printable(&name))
}

/// Calls `f` with the name of every complete question of a DNS message, as dotted label bytes
/// (empty for the root), built in a stack buffer: nothing is allocated. Stops at the first
/// malformed or cut question.
pub fn question_names(msg: &[u8], mut f: impl FnMut(&[u8])) {
    if msg.len() < 12 {
        return;
    }
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    let mut pos = 12;
    let mut buf = [0u8; MAX_NAME + 1];
    for _ in 0..qdcount.min(64) {
        let Some((len, next)) = read_name(msg, pos, &mut buf) else {
            return;
        };
        // QTYPE and QCLASS follow the name.
        if msg.len() < next + 4 {
            return;
        }
        f(&buf[..len]);
        pos = next + 4;
    }
}

/// Reads the (possibly compressed) name at `pos` into `buf` as dotted labels; returns its
/// length and the offset just after the name where it started. `None` if cut, looping, or
/// longer than 255 bytes. (The device inventory reads answers with it too.)
pub fn read_name(
    msg: &[u8],
    mut pos: usize,
    buf: &mut [u8; MAX_NAME + 1],
) -> Option<(usize, usize)> {
    let mut len = 0;
    let mut after = None;
    let mut jumps = 0;
    loop {
        let l = *msg.get(pos)? as usize;
        match l {
            0 => return Some((len, after.unwrap_or(pos + 1))),
            l if l & 0xC0 == 0xC0 => {
                let target = ((l & 0x3F) << 8) | *msg.get(pos + 1)? as usize;
                jumps += 1;
                if jumps > 16 || target >= msg.len() {
                    return None;
                }
                after.get_or_insert(pos + 2);
                pos = target;
            }
            l if l & 0xC0 != 0 => return None,
            l => {
                let label = msg.get(pos + 1..pos + 1 + l)?;
                let dot = (len > 0) as usize;
                if len + dot + l > MAX_NAME {
                    return None;
                }
                if dot == 1 {
                    buf[len] = b'.';
                }
                buf[len + dot..len + dot + l].copy_from_slice(label);
                len += dot + l;
                pos += 1 + l;
            }
        }
    }
}

/// A question name as tshark renders it: `<Root>` for the root, otherwise the bytes as text
/// (invalid UTF-8 becomes U+FFFD).
pub fn render_name(name: &[u8]) -> String {
    if name.is_empty() {
        "<Root>".into()
    } else {
        super::printable(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_question_of_an_mdns_query() {
        let mut m = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\x05_raop\x04_tcp\x05local\x00\x00\x0c\x00\x01");
        // The second name points back at "_tcp.local" (offset 18).
        m.extend_from_slice(b"\x08_airplay\xc0\x12\x00\x0c\x00\x01");
        let mut names = Vec::new();
        question_names(&m, |n| names.push(render_name(n)));
        assert_eq!(names, ["_raop._tcp.local", "_airplay._tcp.local"]);
    }

    #[test]
    fn reads_the_question_name_of_a_query() {
        let mut m = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        assert_eq!(query_name(&m).as_deref(), Some("www.example.com"));
    }

    /// Hex to bytes, for captured messages.
    fn unhex(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn reads_an_nxdomain_response() {
        // ndpi/pcap/punycode-idn.pcap, frame 4: the resolver's answer to an A query.
        let m =
            unhex("fb0581830001000000000000037777770d786e2d2d6d6e6963682d6b766103636f6d0000010001");
        let h = header(&m).unwrap();
        assert_eq!(
            h,
            DnsHeader {
                id: 0xfb05,
                response: true,
                rcode: 3
            }
        );
        assert_eq!(rcode_name(h.rcode), "NXDOMAIN");
        assert_eq!(query_name(&m).as_deref(), Some("www.xn--mnich-kva.com"));
    }

    #[test]
    fn reads_a_servfail_response_and_a_query() {
        // chrissanders-packets/stranded_branchdns.pcapng, frame 2.
        let m = unhex("000381820001000000000000096170707365727665720000010001");
        let h = header(&m).unwrap();
        assert!(h.response);
        assert_eq!(rcode_name(h.rcode), "SERVFAIL");
        assert_eq!(query_name(&m).as_deref(), Some("appserver"));
        // The query it answers: QR clear, RCODE 0.
        let mut q = m.clone();
        q[2] = 0x01;
        q[3] = 0x00;
        let h = header(&q).unwrap();
        assert!(!h.response);
        assert_eq!((h.id, rcode_name(h.rcode)), (3, "NOERROR"));
    }

    #[test]
    fn every_header_rcode_has_a_name() {
        let names: Vec<&str> = (0..16).map(rcode_name).collect();
        assert_eq!(
            names[..12],
            [
                "NOERROR",
                "FORMERR",
                "SERVFAIL",
                "NXDOMAIN",
                "NOTIMP",
                "REFUSED",
                "YXDOMAIN",
                "YXRRSET",
                "NXRRSET",
                "NOTAUTH",
                "NOTZONE",
                "DSOTYPENI"
            ]
        );
        assert_eq!(rcode_name(15), "RCODE15");
        assert_eq!(rcode_name(16), "");
        assert_eq!(header(&[0; 11]), None);
    }

    #[test]
    fn a_cut_message_or_a_loop_gives_nothing() {
        let mut m = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\x03www\x07exa");
        assert_eq!(query_name(&m), None);
        let looped = [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12];
        assert_eq!(query_name(&looped), None);
    }
}

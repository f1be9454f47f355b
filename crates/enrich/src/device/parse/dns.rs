//! Name announcements and answers in DNS message format (RFC 1035 §4.1): mDNS (RFC 6762) and
//! LLMNR (RFC 4795) responses, which map a device's own name to its addresses and list the
//! services it offers, and PTR answers of ordinary DNS (reverse lookups: address → name).
//!
//! Names are read with flow's `app::dns::read_name`, the reader of the question names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{be16, ipv4_at, ipv6_at, text};

pub(super) use flow::app::dns::{read_name, MAX_NAME};
/// Resource records walked per message at most (the counts are 16-bit and may lie).
const MAX_WALK: usize = 256;
/// Records kept per message at most.
const MAX_KEEP: usize = 64;
/// TXT strings kept per record at most.
const MAX_TXT: usize = 16;

const A: u16 = 1;
const PTR: u16 = 12;
const TXT: u16 = 16;
const AAAA: u16 = 28;
const SRV: u16 = 33;

/// The protocol a name message came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resolver {
    /// Multicast DNS, UDP 5353.
    Mdns,
    /// Link-Local Multicast Name Resolution, UDP 5355.
    Llmnr,
    /// Ordinary DNS: a response from UDP port 53.
    Dns,
}

/// The data of a record kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordData {
    /// An IPv4 address of the name.
    A(Ipv4Addr),
    /// An IPv6 address of the name.
    Aaaa(Ipv6Addr),
    /// The name a PTR record points to (a service instance in mDNS, a host name in a reverse
    /// lookup).
    Ptr(String),
    /// The host and port of a service instance.
    Srv {
        /// Target host name.
        target: String,
        /// Port.
        port: u16,
    },
    /// The strings of a TXT record (mDNS service metadata such as `model=…`).
    Txt(Vec<String>),
}

/// One resource record: its owner name and data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameRecord {
    /// The owner name, dotted, without the final dot.
    pub name: String,
    /// What the record says.
    pub data: RecordData,
}

/// The records a name response carries, as kept: for mDNS the A, AAAA, PTR, SRV and TXT
/// records of the answer and additional sections; for LLMNR the A and AAAA answers; for DNS
/// the PTR answers of a successful response. In message order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameRecords {
    /// Which protocol.
    pub resolver: Resolver,
    /// The records.
    pub records: Vec<NameRecord>,
}

/// Parses a UDP payload in DNS format from `resolver`'s port. `None` for queries, failed
/// responses and messages with nothing kept; a cut message keeps the records before the cut.
pub fn parse(resolver: Resolver, msg: &[u8]) -> Option<NameRecords> {
    let flags = be16(msg, 2)?;
    let (qd, an, ns, ar) = (be16(msg, 4)?, be16(msg, 6)?, be16(msg, 8)?, be16(msg, 10)?);
    // A response (QR) with opcode 0 and RCODE 0.
    if flags & 0x8000 == 0 || flags & 0x7800 != 0 || flags & 0x000F != 0 || an == 0 {
        return None;
    }
    // A DNS answer echoes its question (mDNS and LLMNR announcements may have none).
    if resolver == Resolver::Dns && qd == 0 {
        return None;
    }
    let mut buf = [0u8; MAX_NAME + 1];
    let mut pos = 12;
    for i in 0..qd.min(64) {
        let (_, next) = read_name(msg, pos, &mut buf)?;
        // Most DNS answers are not reverse lookups: stop before reading any record unless
        // the first question asks for a PTR.
        if i == 0 && resolver == Resolver::Dns && be16(msg, next)? != PTR {
            return None;
        }
        pos = next + 4;
    }
    let mut records = Vec::new();
    let total = (an as usize + ns as usize + ar as usize).min(MAX_WALK);
    for i in 0..total {
        let section = if i < an as usize {
            0
        } else if i < an as usize + ns as usize {
            1
        } else {
            2
        };
        let Some(Rr {
            name_len: nlen,
            rtype,
            start,
            rdata,
            next,
        }) = resource_record(msg, pos, &mut buf)
        else {
            break;
        };
        pos = next;
        let wanted = match resolver {
            Resolver::Mdns => section != 1 && matches!(rtype, A | AAAA | PTR | SRV | TXT),
            Resolver::Llmnr => section == 0 && matches!(rtype, A | AAAA),
            Resolver::Dns => section == 0 && rtype == PTR,
        };
        if !wanted || records.len() >= MAX_KEEP {
            continue;
        }
        let name = text(&buf[..nlen], MAX_NAME);
        let data = match rtype {
            A => ipv4_at(rdata, 0)
                .filter(|_| rdata.len() == 4)
                .map(RecordData::A),
            AAAA => ipv6_at(rdata, 0)
                .filter(|_| rdata.len() == 16)
                .map(RecordData::Aaaa),
            PTR => read_name(msg, start, &mut buf)
                .map(|(l, _)| RecordData::Ptr(text(&buf[..l], MAX_NAME))),
            SRV => match (be16(rdata, 4), read_name(msg, start + 6, &mut buf)) {
                (Some(port), Some((l, _))) => Some(RecordData::Srv {
                    target: text(&buf[..l], MAX_NAME),
                    port,
                }),
                _ => None,
            },
            _ => Some(RecordData::Txt(txt_strings(rdata))),
        };
        if let Some(data) = data {
            records.push(NameRecord { name, data });
        }
    }
    (!records.is_empty()).then_some(NameRecords { resolver, records })
}

/// One resource record (RFC 1035 §4.1.3) as read: its owner name's length in the caller's
/// buffer, its type, where its data starts in the message, the data, and where the next
/// record starts.
pub(super) struct Rr<'a> {
    pub(super) name_len: usize,
    pub(super) rtype: u16,
    pub(super) start: usize,
    pub(super) rdata: &'a [u8],
    pub(super) next: usize,
}

/// Reads the resource record at `pos` (its owner name into `buf`); `None` if cut.
pub(super) fn resource_record<'a>(
    msg: &'a [u8],
    pos: usize,
    buf: &mut [u8; MAX_NAME + 1],
) -> Option<Rr<'a>> {
    let (name_len, after) = read_name(msg, pos, buf)?;
    let (rtype, rdlen) = (be16(msg, after)?, be16(msg, after + 8)? as usize);
    let start = after + 10;
    let rdata = msg.get(start..start + rdlen)?;
    Some(Rr {
        name_len,
        rtype,
        start,
        rdata,
        next: start + rdlen,
    })
}

/// The character strings of a TXT record's data.
fn txt_strings(d: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(&l) = d.get(pos) {
        let Some(s) = d.get(pos + 1..pos + 1 + l as usize) else {
            break;
        };
        pos += 1 + l as usize;
        if !s.is_empty() && out.len() < MAX_TXT {
            out.push(text(s, 255));
        }
    }
    out
}

/// The address a reverse-lookup name stands for: `d.c.b.a.in-addr.arpa` is a.b.c.d and
/// `ip6.arpa` names hold the 32 nibbles of an IPv6 address, last first (RFC 1035 §3.5,
/// RFC 3596 §2.5). Case is ignored; anything else (a partial or classless name) is `None`.
pub fn reverse_name_addr(name: &str) -> Option<IpAddr> {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    if let Some(rest) = lower.strip_suffix(".in-addr.arpa") {
        let mut o = [0u8; 4];
        let mut n = 0;
        for part in rest.split('.') {
            // Decimal octets without leading zeros, as PTR names are written.
            if n == 4
                || part.is_empty()
                || part.len() > 3
                || (part.len() > 1 && part.starts_with('0'))
            {
                return None;
            }
            o[3 - n] = part.parse().ok()?;
            n += 1;
        }
        return (n == 4).then(|| IpAddr::V4(Ipv4Addr::from(o)));
    }
    let rest = lower.strip_suffix(".ip6.arpa")?;
    let mut b = [0u8; 16];
    let mut n = 0;
    for part in rest.split('.') {
        let &[c] = part.as_bytes() else { return None };
        let v = (c as char).to_digit(16)? as u8;
        if n == 32 {
            return None;
        }
        // The first label is the lowest nibble of the last byte.
        let i = 15 - n / 2;
        b[i] |= if n % 2 == 0 { v } else { v << 4 };
        n += 1;
    }
    (n == 32).then(|| IpAddr::V6(Ipv6Addr::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An mDNS announcement: PTR _ipp._tcp.local → Printer._ipp._tcp.local, SRV of the
    /// instance → printer.local:631, A printer.local → 192.168.1.20, all in answers.
    fn announcement() -> Vec<u8> {
        let mut m = vec![0, 0, 0x84, 0, 0, 0, 0, 3, 0, 0, 0, 0];
        // 12: _ipp._tcp.local
        m.extend_from_slice(b"\x04_ipp\x04_tcp\x05local\x00");
        m.extend_from_slice(&[0, 12, 0, 1, 0, 0, 0x11, 0x94, 0, 10]);
        // 39: rdata "Printer" + pointer to 12
        m.extend_from_slice(b"\x07Printer\xc0\x0c");
        // SRV owner: pointer to 39; rdata priority, weight, port 631, target printer.local
        m.extend_from_slice(&[0xc0, 39, 0, 33, 0x80, 1, 0, 0, 0, 120, 0, 16]);
        m.extend_from_slice(&[0, 0, 0, 0, 0x02, 0x77]);
        m.extend_from_slice(b"\x07printer\xc0\x16");
        // A printer.local: pointer to the SRV target (offset 67)
        m.extend_from_slice(&[0xc0, 67, 0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 192, 168, 1, 20]);
        m
    }

    #[test]
    fn reads_an_mdns_announcement() {
        let r = parse(Resolver::Mdns, &announcement()).unwrap();
        assert_eq!(
            r.records,
            vec![
                NameRecord {
                    name: "_ipp._tcp.local".into(),
                    data: RecordData::Ptr("Printer._ipp._tcp.local".into()),
                },
                NameRecord {
                    name: "Printer._ipp._tcp.local".into(),
                    data: RecordData::Srv {
                        target: "printer.local".into(),
                        port: 631
                    },
                },
                NameRecord {
                    name: "printer.local".into(),
                    data: RecordData::A(Ipv4Addr::new(192, 168, 1, 20)),
                },
            ]
        );
        // LLMNR keeps only addresses.
        let r = parse(Resolver::Llmnr, &announcement()).unwrap();
        assert_eq!(r.records.len(), 1);
    }

    #[test]
    fn cut_messages_keep_what_came_before() {
        let m = announcement();
        for n in 0..m.len() {
            let kept = parse(Resolver::Mdns, &m[..n]).map_or(0, |r| r.records.len());
            assert!(kept <= 3, "cut at {n}");
        }
        assert_eq!(
            parse(Resolver::Mdns, &m[..m.len() - 1])
                .unwrap()
                .records
                .len(),
            2
        );
    }

    #[test]
    fn queries_and_failures_give_nothing() {
        let mut m = announcement();
        m[2] = 0;
        assert_eq!(parse(Resolver::Mdns, &m), None);
        let mut m = announcement();
        m[3] = 3; // NXDOMAIN
        assert_eq!(parse(Resolver::Mdns, &m), None);
        // A DNS response is read only when its question is a PTR query.
        assert_eq!(parse(Resolver::Dns, &announcement()), None);
    }

    #[test]
    fn a_pointer_loop_ends() {
        let mut m = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]);
        assert_eq!(parse(Resolver::Mdns, &m), None);
    }

    #[test]
    fn reverse_names_give_addresses() {
        assert_eq!(
            reverse_name_addr("10.1.168.192.in-addr.arpa"),
            Some("192.168.1.10".parse().unwrap())
        );
        assert_eq!(
            reverse_name_addr("4.3.2.1.IN-ADDR.ARPA."),
            Some("1.2.3.4".parse().unwrap())
        );
        let v6 = "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa";
        assert_eq!(
            reverse_name_addr(v6),
            Some("4321:0:1:2:3:4:567:89ab".parse().unwrap())
        );
        for bad in [
            "1.168.192.in-addr.arpa",
            "256.1.168.192.in-addr.arpa",
            "0-25.1.168.192.in-addr.arpa",
            "01.1.168.192.in-addr.arpa",
            "example.com",
            "a.ip6.arpa",
        ] {
            assert_eq!(reverse_name_addr(bad), None, "{bad}");
        }
    }
}

//! NetBIOS Name Service (RFC 1002 §4.2, UDP 137): the names a Windows or Samba host registers
//! or refreshes, and positive answers to name queries, each with the address it maps to.

use std::net::Ipv4Addr;

use super::dns::{read_name, resource_record, Rr, MAX_NAME};
use super::{be16, ipv4_at};

/// Resource record type NB (NetBIOS general name service).
const NB: u16 = 0x0020;
/// Names kept per message at most.
const MAX_KEEP: usize = 32;

/// A NetBIOS name and the address it is registered at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NbnsName {
    /// The name, without its padding spaces; bytes outside printable ASCII are written
    /// `<xx>`, as Wireshark does.
    pub name: String,
    /// The 16th byte: the service the name stands for (0x00 workstation, 0x20 file server,
    /// 0x1D master browser, …).
    pub suffix: u8,
    /// A group name (a workgroup or domain) rather than one host's.
    pub group: bool,
    /// The address.
    pub addr: Ipv4Addr,
}

impl NbnsName {
    /// Whether this is a host's own name: unique, workstation (0x00) or server (0x20) service.
    pub fn is_host(&self) -> bool {
        !self.group && matches!(self.suffix, 0x00 | 0x20)
    }

    /// `NAME<xx>`, as Wireshark writes NetBIOS names.
    pub fn display(&self) -> String {
        format!("{}<{:02x}>", self.name, self.suffix)
    }
}

/// The names of a registration, refresh or positive answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nbns {
    /// The opcode: 0 query, 5 registration, 8 or 9 refresh.
    pub opcode: u8,
    /// A response (answer) rather than a request (registration or refresh).
    pub response: bool,
    /// The names with their addresses, in message order.
    pub names: Vec<NbnsName>,
}

/// Parses a NetBIOS name service packet. Registrations and refreshes (requests with opcode 5,
/// 8 or 9) and successful responses to queries and registrations give their NB records;
/// anything else (queries, releases, conflicts) gives `None`.
pub fn parse(msg: &[u8]) -> Option<Nbns> {
    let flags = be16(msg, 2)?;
    let response = flags & 0x8000 != 0;
    let opcode = ((flags >> 11) & 0x0F) as u8;
    let rcode = flags & 0x000F;
    let wanted = if response {
        rcode == 0 && matches!(opcode, 0 | 5)
    } else {
        matches!(opcode, 5 | 8 | 9)
    };
    if !wanted {
        return None;
    }
    let (qd, an, ns, ar) = (be16(msg, 4)?, be16(msg, 6)?, be16(msg, 8)?, be16(msg, 10)?);
    let mut buf = [0u8; MAX_NAME + 1];
    let mut pos = 12;
    for _ in 0..qd.min(16) {
        pos = read_name(msg, pos, &mut buf)?.1 + 4;
    }
    let mut names = Vec::new();
    let total = (an as usize + ns as usize + ar as usize).min(64);
    for i in 0..total {
        let Some(Rr {
            name_len: nlen,
            rtype,
            rdata,
            next,
            ..
        }) = resource_record(msg, pos, &mut buf)
        else {
            break;
        };
        pos = next;
        let authority = (an as usize..an as usize + ns as usize).contains(&i);
        if rtype != NB || authority {
            continue;
        }
        let Some((name, suffix)) = decode_name(&buf[..nlen]) else {
            continue;
        };
        // NB data: one or more (flags, address) entries of 6 bytes.
        for e in rdata.chunks_exact(6) {
            if names.len() >= MAX_KEEP {
                break;
            }
            let Some(addr) = ipv4_at(e, 2) else { break };
            names.push(NbnsName {
                name: name.clone(),
                suffix,
                group: e[0] & 0x80 != 0,
                addr,
            });
        }
    }
    (!names.is_empty()).then_some(Nbns {
        opcode,
        response,
        names,
    })
}

/// Undoes the first-level encoding (RFC 1001 §14.1): 32 letters 'A'–'P', two per byte, give
/// 15 name bytes padded with spaces and the suffix byte. A scope after the first label is
/// dropped.
fn decode_name(dotted: &[u8]) -> Option<(String, u8)> {
    let enc = dotted.get(..32)?;
    if dotted.len() > 32 && dotted[32] != b'.' {
        return None;
    }
    let mut raw = [0u8; 16];
    for (i, pair) in enc.chunks_exact(2).enumerate() {
        let hi = pair[0].checked_sub(b'A').filter(|&v| v < 16)?;
        let lo = pair[1].checked_sub(b'A').filter(|&v| v < 16)?;
        raw[i] = hi << 4 | lo;
    }
    let end = raw[..15]
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(0, |i| i + 1);
    // As Wireshark writes them: printable ASCII as is, any other byte as `<xx>`
    // (`<01><02>__MSBROWSE__<02>`), so no control byte reaches a log.
    let mut name = String::with_capacity(end);
    for &b in &raw[..end] {
        if (0x20..0x7f).contains(&b) {
            name.push(b as char);
        } else {
            name.push_str(&format!("<{b:02x}>"));
        }
    }
    Some((name, raw[15]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(name: &str, suffix: u8) -> Vec<u8> {
        let mut raw = [b' '; 16];
        raw[..name.len()].copy_from_slice(name.as_bytes());
        raw[15] = suffix;
        let mut out = vec![32];
        for b in raw {
            out.push(b'A' + (b >> 4));
            out.push(b'A' + (b & 0x0F));
        }
        out.push(0);
        out
    }

    /// A registration request for WIN7<00> at 192.168.56.101: the question and an NB record
    /// in the additional section that points back at it.
    fn registration() -> Vec<u8> {
        let mut m = vec![0x80, 0x01, 0x29, 0x10, 0, 1, 0, 0, 0, 0, 0, 1];
        m.extend(encode("WIN7", 0));
        m.extend_from_slice(&[0, 0x20, 0, 1]);
        m.extend_from_slice(&[0xc0, 12, 0, 0x20, 0, 1, 0, 4, 0x93, 0xe0, 0, 6]);
        m.extend_from_slice(&[0x00, 0x00, 192, 168, 56, 101]);
        m
    }

    #[test]
    fn reads_a_registration() {
        let n = parse(&registration()).unwrap();
        assert_eq!(n.opcode, 5);
        assert!(!n.response);
        assert_eq!(
            n.names,
            vec![NbnsName {
                name: "WIN7".into(),
                suffix: 0,
                group: false,
                addr: Ipv4Addr::new(192, 168, 56, 101),
            }]
        );
        assert!(n.names[0].is_host());
        assert_eq!(n.names[0].display(), "WIN7<00>");
    }

    #[test]
    fn queries_releases_and_cut_packets_give_nothing() {
        let mut q = registration();
        q[2] = 0x01; // opcode 0 query
        assert_eq!(parse(&q), None);
        let mut r = registration();
        r[2] = 0x31; // opcode 6 release
        assert_eq!(parse(&r), None);
        let m = registration();
        for n in 0..m.len() {
            assert_eq!(parse(&m[..n]), None, "cut at {n}");
        }
    }

    #[test]
    fn group_names_are_not_hosts() {
        let mut m = registration();
        let at = m.len() - 6;
        m[at] = 0x80;
        let n = parse(&m).unwrap();
        assert!(n.names[0].group && !n.names[0].is_host());
    }
}

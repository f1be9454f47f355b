//! DHCPv4 (RFC 2131, options RFC 2132): the client's hardware address, the address it has or
//! is given, and what it says about itself (host name, FQDN, vendor class, and the parameter
//! request list that fingerprints its DHCP client).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::{ipv4_at, mac_at, os, text, OsHint};

/// Longest string option kept (an option holds at most 255 bytes anyway).
const MAX_TEXT: usize = 255;
/// Where the options start: the fixed BOOTP header (236 bytes) and the magic cookie.
const OPTIONS: usize = 240;
const COOKIE: [u8; 4] = [99, 130, 83, 99];

/// A DHCPv4 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dhcp {
    /// BOOTP op: 1 from a client, 2 from a server.
    pub op: u8,
    /// Option 53, the DHCP message type (1 DISCOVER … 8 INFORM); `None` for plain BOOTP.
    pub message_type: Option<u8>,
    /// `chaddr`, when the hardware type is Ethernet (1) with 6-byte addresses.
    pub client_mac: Option<[u8; 6]>,
    /// `ciaddr`: the address the client already has (renewal, INFORM, RELEASE), else 0.0.0.0.
    pub client_ip: Ipv4Addr,
    /// `yiaddr`: the address the server offers or assigns (OFFER, ACK), else 0.0.0.0.
    pub your_ip: Ipv4Addr,
    /// Option 50, the address the client asks for.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 12, the client's host name.
    pub hostname: Option<String>,
    /// Option 81 (RFC 4702), the client's fully qualified domain name.
    pub fqdn: Option<String>,
    /// Option 55, the parameter request list, as option numbers joined by commas in the
    /// client's order ("1,3,6,15,…"): the DHCP fingerprint.
    pub parameter_list: Option<String>,
    /// Option 60, the vendor class identifier ("MSFT 5.0", "android-dhcp-13", …).
    pub vendor_class: Option<String>,
}

impl Dhcp {
    /// Whether this message binds `client_mac` to `your_ip`: a server's ACK.
    pub fn is_ack(&self) -> bool {
        self.op == 2 && self.message_type == Some(5) && !self.your_ip.is_unspecified()
    }

    /// The OS hint of the parameter request list, if it is one of the well-known
    /// fingerprints (see [`os::dhcp_hint`]).
    pub fn os_hint(&self) -> Option<OsHint> {
        self.parameter_list.as_deref().and_then(os::dhcp_hint)
    }

    /// The name of the DHCP message type (option 53) as RFC 2132 §9.6 spells it
    /// ("DISCOVER", …, "INFORM"), or "" for plain BOOTP and unknown types.
    pub fn message_type_name(&self) -> &'static str {
        message_type_name(self.message_type.unwrap_or(0))
    }
}

fn message_type_name(t: u8) -> &'static str {
    match t {
        1 => "DISCOVER",
        2 => "OFFER",
        3 => "REQUEST",
        4 => "DECLINE",
        5 => "ACK",
        6 => "NAK",
        7 => "RELEASE",
        8 => "INFORM",
        _ => "",
    }
}

/// Parses a BOOTP/DHCP message (the UDP payload). `None` when the fixed header is cut or the
/// magic cookie is missing; options after a cut are lost, those before it kept.
pub fn parse(d: &[u8]) -> Option<Dhcp> {
    let op = *d.first()?;
    if !matches!(op, 1 | 2) || d.get(236..OPTIONS)? != COOKIE {
        return None;
    }
    let mut m = Dhcp {
        op,
        message_type: None,
        client_mac: (d[1] == 1 && d[2] == 6).then(|| mac_at(d, 28)).flatten(),
        client_ip: ipv4_at(d, 12)?,
        your_ip: ipv4_at(d, 16)?,
        requested_ip: None,
        hostname: None,
        fqdn: None,
        parameter_list: None,
        vendor_class: None,
    };
    let mut pos = OPTIONS;
    while let Some(&code) = d.get(pos) {
        match code {
            0 => {
                pos += 1;
                continue;
            }
            255 => break,
            _ => {}
        }
        let Some(&len) = d.get(pos + 1) else { break };
        let Some(v) = d.get(pos + 2..pos + 2 + len as usize) else {
            break;
        };
        pos += 2 + len as usize;
        // The first instance of an option wins (RFC 3396 concatenation is not done).
        match code {
            53 if v.len() == 1 => {
                m.message_type.get_or_insert(v[0]);
            }
            50 if v.len() == 4 && m.requested_ip.is_none() => m.requested_ip = ipv4_at(v, 0),
            12 if m.hostname.is_none() => m.hostname = Some(text(trim_nul(v), MAX_TEXT)),
            60 if m.vendor_class.is_none() => m.vendor_class = Some(text(trim_nul(v), MAX_TEXT)),
            55 if m.parameter_list.is_none() => {
                let mut s = String::with_capacity(v.len() * 3);
                for (i, o) in v.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    let _ = write!(s, "{o}");
                }
                m.parameter_list = Some(s);
            }
            81 if m.fqdn.is_none() && v.len() >= 3 => m.fqdn = fqdn(v),
            _ => {}
        }
    }
    Some(m)
}

/// Option 81's domain name: after flags and two RCODE bytes, in DNS wire format when the E
/// flag (0x04) is set, else ASCII (RFC 4702 §2.3.1). `None` when empty.
fn fqdn(v: &[u8]) -> Option<String> {
    let name = &v[3..];
    let s = if v[0] & 0x04 != 0 {
        let mut out = Vec::with_capacity(name.len());
        let mut pos = 0;
        while let Some(&l) = name.get(pos) {
            let l = l as usize;
            // A zero ends the name; compression is not allowed here.
            if l == 0 || l > 63 {
                break;
            }
            let Some(label) = name.get(pos + 1..pos + 1 + l) else {
                break;
            };
            if !out.is_empty() {
                out.push(b'.');
            }
            out.extend_from_slice(label);
            pos += 1 + l;
        }
        text(&out, MAX_TEXT)
    } else {
        text(trim_nul(name), MAX_TEXT)
    };
    (!s.is_empty()).then_some(s)
}

/// Some clients end string options with NUL bytes; they are not part of the name.
fn trim_nul(v: &[u8]) -> &[u8] {
    let end = v.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &v[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DHCPREQUEST: chaddr 00:0c:29:59:fd:21, options 53, 50, 12, 81, 55, 60.
    fn request() -> Vec<u8> {
        let mut d = vec![0u8; 240];
        d[..4].copy_from_slice(&[1, 1, 6, 0]);
        d[28..34].copy_from_slice(&[0x00, 0x0c, 0x29, 0x59, 0xfd, 0x21]);
        d[236..240].copy_from_slice(&COOKIE);
        d.extend_from_slice(&[53, 1, 3]);
        d.extend_from_slice(&[50, 4, 192, 168, 1, 10]);
        d.extend_from_slice(&[12, 8]);
        d.extend_from_slice(b"ubuntu2\0");
        d.extend_from_slice(&[81, 16, 0x05, 0, 0, 7]);
        d.extend_from_slice(b"ubuntu2\x03lan\0");
        d.extend_from_slice(&[55, 4, 1, 28, 2, 3]);
        d.extend_from_slice(&[60, 8]);
        d.extend_from_slice(b"MSFT 5.0");
        d.push(255);
        d
    }

    #[test]
    fn reads_a_request() {
        let m = parse(&request()).unwrap();
        assert_eq!(m.op, 1);
        assert_eq!(m.message_type, Some(3));
        assert_eq!(m.message_type_name(), "REQUEST");
        assert_eq!(m.client_mac, Some([0x00, 0x0c, 0x29, 0x59, 0xfd, 0x21]));
        assert_eq!(m.requested_ip, Some(Ipv4Addr::new(192, 168, 1, 10)));
        assert_eq!(m.hostname.as_deref(), Some("ubuntu2"));
        assert_eq!(m.fqdn.as_deref(), Some("ubuntu2.lan"));
        assert_eq!(m.parameter_list.as_deref(), Some("1,28,2,3"));
        assert_eq!(m.vendor_class.as_deref(), Some("MSFT 5.0"));
        assert!(!m.is_ack());
    }

    #[test]
    fn a_cut_message_keeps_the_options_before_the_cut() {
        let d = request();
        for n in 0..d.len() {
            let m = parse(&d[..n]);
            if n < OPTIONS {
                assert_eq!(m, None, "cut at {n}");
            } else {
                assert!(m.is_some(), "cut at {n}");
            }
        }
        let m = parse(&d[..OPTIONS + 9]).unwrap();
        assert_eq!(m.message_type, Some(3));
        assert_eq!(m.requested_ip, Some(Ipv4Addr::new(192, 168, 1, 10)));
        assert_eq!(m.hostname, None);
    }

    #[test]
    fn hostile_names_are_escaped() {
        let mut d = request();
        let at = d.iter().position(|&b| b == b'u').unwrap();
        d[at] = 0x1b;
        let m = parse(&d).unwrap();
        assert_eq!(m.hostname.as_deref(), Some("\\x1bbuntu2"));
    }
}

//! A flow's application protocol from its payload, not its port: what the readers of this
//! module's siblings find (a TLS ClientHello, an HTTP request, a DNS message) and signatures of
//! common protocols in the first bytes a side sends. Names are nDPI's, so that the labels can
//! be checked against nDPI's and NFStream's ground truth (docs/applications.md has the
//! agreement per protocol and the cases where they differ).
//!
//! Every signature looks at one payload alone: [`sniff`] is a pure function of
//! (protocol, ports, payload), cheap enough to run on every packet (one match on the ports or
//! the first byte, then a few comparisons), so `may_learn` can use it to decide whether a
//! payload is worth copying. A flow keeps the first application found.

use std::fmt;

macro_rules! applications {
    ($($(#[$doc:meta])* $v:ident => $name:literal,)*) => {
        /// An application protocol, named as nDPI names it.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Application {
            /// Nothing identified (the `Service` column still names the port).
            #[default]
            Unknown,
            $($(#[$doc])* $v,)*
        }

        impl Application {
            /// Every application, `Unknown` first.
            pub const ALL: &'static [Application] = &[Application::Unknown, $(Application::$v,)*];

            /// The name written to outputs ("" for `Unknown`, as other absent text).
            pub fn as_str(self) -> &'static str {
                match self {
                    Application::Unknown => "",
                    $(Application::$v => $name,)*
                }
            }
        }
    };
}

applications! {
    /// HTTP/1.x: a request line (or a response status line) in the first payload.
    Http => "HTTP",
    /// An HTTP CONNECT tunnel.
    HttpConnect => "HTTP_Connect",
    /// TLS: a ClientHello (or ServerHello) record.
    Tls => "TLS",
    /// IMAP over TLS (port 993).
    Imaps => "IMAPS",
    /// SMTP over TLS (port 465).
    Smtps => "SMTPS",
    /// POP3 over TLS (port 995).
    Pops => "POPS",
    /// DNS on port 53.
    Dns => "DNS",
    /// Multicast DNS (port 5353).
    Mdns => "MDNS",
    /// Link-Local Multicast Name Resolution (port 5355).
    Llmnr => "LLMNR",
    /// SSDP (HTTP over UDP 1900).
    Ssdp => "SSDP",
    /// QUIC: a long header with a known version (IETF, drafts, Google's Q0xx/T0xx).
    Quic => "QUIC",
    /// SSH: the `SSH-` identification string.
    Ssh => "SSH",
    /// SMTP: a `220` greeting on 25/587 or an `EHLO`/`HELO`.
    Smtp => "SMTP",
    /// FTP control: a `220` greeting on port 21 or a `USER` command.
    FtpControl => "FTP_CONTROL",
    /// POP3: an `+OK` greeting on port 110.
    Pop3 => "POP3",
    /// IMAP: a `* OK` greeting on port 143.
    Imap => "IMAP",
    /// DHCP: BOOTP with the DHCP magic cookie on 67/68.
    Dhcp => "DHCP",
    /// DHCPv6 on 546/547.
    Dhcpv6 => "DHCPV6",
    /// NTP on 123.
    Ntp => "NTP",
    /// STUN: the RFC 5389 magic cookie.
    Stun => "STUN",
    /// NetBIOS name, datagram and session services (137–139).
    NetBios => "NetBIOS",
    /// SMB 2/3 (`\xfeSMB` after a NetBIOS session header).
    Smb23 => "SMBv23",
    /// SNMP on 161/162.
    Snmp => "SNMP",
    /// Syslog on UDP 514.
    Syslog => "Syslog",
    /// BitTorrent: the peer wire handshake, or a DHT message.
    BitTorrent => "BitTorrent",
    /// RDP: a TPKT/X.224 connection request on 3389.
    Rdp => "RDP",
    /// SIP: a request or a `SIP/2.0` status line.
    Sip => "SIP",
    /// RTSP: a request with an `rtsp://` URI or an `RTSP/1.0` status line.
    Rtsp => "RTSP",
    /// MQTT: a CONNECT naming the protocol.
    Mqtt => "MQTT",
    /// Kerberos on 88.
    Kerberos => "Kerberos",
    /// TFTP on 69: a read or write request.
    Tftp => "TFTP",
    /// DTLS: a handshake record of DTLS 1.0 or 1.2.
    Dtls => "DTLS",
    /// WireGuard: a handshake message of its exact length.
    WireGuard => "WireGuard",
    /// Telnet: option negotiation on port 23.
    Telnet => "Telnet",
    /// SOCKS 4 or 5: the client's greeting.
    Socks => "SOCKS",
    /// Microsoft SQL Server's TDS on 1433.
    MsSqlTds => "MsSQL-TDS",
    /// MySQL: the server's protocol-10 greeting on 3306.
    MySql => "MySQL",
    /// ICMP (by the IP protocol number, as nDPI does).
    Icmp => "ICMP",
    /// ICMPv6.
    Icmpv6 => "ICMPV6",
    /// IGMP.
    Igmp => "IGMP",
    /// IPsec: ESP or AH.
    IpSec => "IPSec",
    /// GRE.
    Gre => "GRE",
    /// OSPF.
    Ospf => "OSPF",
    /// VRRP.
    Vrrp => "VRRP",
}

impl Application {
    /// The application named by [`Application::as_str`] (`Unknown` for "").
    pub fn parse(s: &str) -> Option<Self> {
        Application::ALL.iter().copied().find(|a| a.as_str() == s)
    }

    /// What the IP protocol number alone says, for protocols without ports.
    pub fn of_protocol(proto: u8) -> Self {
        match proto {
            1 => Application::Icmp,
            2 => Application::Igmp,
            47 => Application::Gre,
            50 | 51 => Application::IpSec,
            58 => Application::Icmpv6,
            89 => Application::Ospf,
            112 => Application::Vrrp,
            _ => Application::Unknown,
        }
    }
}

impl fmt::Display for Application {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const TCP: u8 = 6;
const UDP: u8 = 17;

#[inline]
fn either(sport: u16, dport: u16, p: u16) -> bool {
    sport == p || dport == p
}

/// The application a TLS ClientHello sent to `server_port` stands for.
pub fn tls_on(server_port: u16) -> Application {
    match server_port {
        993 => Application::Imaps,
        465 => Application::Smtps,
        995 => Application::Pops,
        _ => Application::Tls,
    }
}

/// The application an HTTP request (a CONNECT or not) stands for. (nDPI's `HTTP_Proxy` is a
/// list of proxy hosts, not a port: HTTP to 8080 is HTTP.)
pub fn http_on(connect: bool) -> Application {
    if connect {
        Application::HttpConnect
    } else {
        Application::Http
    }
}

/// Whether an application learnt from a greeting may still turn into its TLS form (STARTTLS),
/// as nDPI reports it.
pub fn upgrade(from: Application, to: Application) -> Application {
    match (from, to) {
        (Application::Unknown, to) => to,
        (Application::Imap, Application::Tls) => Application::Imaps,
        (Application::Smtp, Application::Tls) => Application::Smtps,
        (Application::Pop3, Application::Tls) => Application::Pops,
        // WebRTC checks connectivity with STUN, then runs DTLS over the same ports.
        (Application::Stun, Application::Dtls) => Application::Dtls,
        (from, _) => from,
    }
}

/// SSDP's requests and responses (HTTP over UDP).
pub fn is_ssdp(p: &[u8]) -> bool {
    p.starts_with(b"M-SEARCH * ") || p.starts_with(b"NOTIFY * ") || p.starts_with(b"HTTP/1.1 200")
}

/// What one payload's signature says (the TLS, HTTP request and DNS readers are applied by
/// `app::inspect` itself). `sport`/`dport` are the packet's own.
pub fn sniff(proto: u8, sport: u16, dport: u16, p: &[u8]) -> Option<Application> {
    let &first = p.first()?;
    match proto {
        TCP => sniff_tcp(first, sport, dport, p),
        UDP => sniff_udp(first, sport, dport, p),
        _ => None,
    }
}

fn sniff_tcp(first: u8, sport: u16, dport: u16, p: &[u8]) -> Option<Application> {
    use Application as A;
    match first {
        b'S' if p.starts_with(b"SSH-") => Some(A::Ssh),
        b'S' if p.starts_with(b"SIP/2.0 ") => Some(A::Sip),
        b'H' if p.starts_with(b"HTTP/1.") => Some(A::Http),
        // A TLS handshake, alert or cipher change where no ClientHello was seen (a server's
        // handshake, a connection caught closing), as nDPI counts it. Not application data
        // (23): every packet of every TLS flow would pass `may_learn` and be copied.
        20..=22 if is_tls_record(p) => Some(tls_on(if matches!(sport, 993 | 465 | 995) {
            sport
        } else {
            dport
        })),
        // MQTT's keep-alive pair (PINGREQ, PINGRESP), all a long-lived session may show.
        0xc0 | 0xd0 if p.len() == 2 && p[1] == 0 => Some(A::Mqtt),
        // SOCKS 5 greeting (version, method count, methods) or SOCKS 4 CONNECT/BIND.
        0x05 if p.len() >= 3 && p[1] as usize + 2 == p.len() && p[1] > 0 => Some(A::Socks),
        1..=4 | 6 | 7 | 0x0e | 0x10..=0x12 if either(sport, dport, 1433) && is_tds(p) => {
            Some(A::MsSqlTds)
        }
        0x04 if is_socks4(p) => Some(A::Socks),
        // STUN over TCP (TURN), possibly after RFC 4571's two-byte framing.
        0x00 | 0x01 if is_stun_in_stream(p) || p.len() > 2 && is_stun_in_stream(&p[2..]) => {
            Some(A::Stun)
        }
        b'<' if either(sport, dport, 514) => Some(A::Syslog),
        b'R' if p.starts_with(b"RTSP/1.0 ") => Some(A::Rtsp),
        b'2' if p.starts_with(b"220") => match (sport, dport) {
            (21, _) | (_, 21) => Some(A::FtpControl),
            (25 | 587, _) | (_, 25 | 587) => Some(A::Smtp),
            _ => None,
        },
        b'E' | b'H' if (p.starts_with(b"EHLO ") || p.starts_with(b"HELO ")) => Some(A::Smtp),
        b'U' if p.starts_with(b"USER ") && either(sport, dport, 21) => Some(A::FtpControl),
        b'+' if p.starts_with(b"+OK") && either(sport, dport, 110) => Some(A::Pop3),
        b'*' if p.starts_with(b"* OK") && either(sport, dport, 143) => Some(A::Imap),
        0x13 if p.get(1..20) == Some(b"BitTorrent protocol") => Some(A::BitTorrent),
        0x03 if either(sport, dport, 3389) && is_x224_connect(p) => Some(A::Rdp),
        0x00 if p.get(4..8) == Some(b"\xfeSMB") && !either(sport, dport, 139) => Some(A::Smb23),
        0x10 if is_mqtt_connect(p) => Some(A::Mqtt),
        0xff if either(sport, dport, 23) && matches!(p.get(1), Some(0xfb..=0xfe)) => {
            Some(A::Telnet)
        }
        // Request lines start with a capital: only those pay for the method lists.
        b'A'..=b'Z' if sip_request(p) => Some(A::Sip),
        b'A'..=b'Z' if rtsp_request(p) => Some(A::Rtsp),
        _ => match (sport, dport) {
            (3306, _) | (_, 3306) => is_mysql_greeting(p).then_some(A::MySql),
            (88, _) | (_, 88) => (p.len() > 5 && is_kerberos(&p[4..])).then_some(A::Kerberos),
            // A NetBIOS session message whose length is the rest of the segment.
            (139, _) | (_, 139) => (matches!(first, 0x00 | 0x81 | 0x82 | 0x85)
                && p.len() >= 4
                && u16::from_be_bytes([p[2], p[3]]) as usize + 4 == p.len())
            .then_some(A::NetBios),
            _ => None,
        },
    }
}

fn sniff_udp(first: u8, sport: u16, dport: u16, p: &[u8]) -> Option<Application> {
    use Application as A;
    // Well-known ports first: their checks are specific.
    match (sport, dport) {
        (67 | 68, 67 | 68) => {
            return (p.get(236..240) == Some(b"\x63\x82\x53\x63")).then_some(A::Dhcp)
        }
        (546 | 547, 546 | 547) => return matches!(first, 1..=13).then_some(A::Dhcpv6),
        (123, _) | (_, 123) => return is_ntp(p).then_some(A::Ntp),
        (137 | 138, _) | (_, 137 | 138) => return (p.len() >= 12).then_some(A::NetBios),
        (161 | 162, _) | (_, 161 | 162) => return is_snmp(p).then_some(A::Snmp),
        (69, _) | (_, 69) if is_tftp_request(p) => return Some(A::Tftp),
        (88, _) | (_, 88) if is_kerberos(p) => return Some(A::Kerberos),
        (514, _) | (_, 514) if first == b'<' => return Some(A::Syslog),
        (500, _) | (_, 500) if is_ike(p) => return Some(A::IpSec),
        // NAT traversal: IKE after a zero non-ESP marker, or ESP in UDP.
        (4500, _) | (_, 4500) if p.len() >= 8 => return Some(A::IpSec),
        // RDP's UDP transport opens with a SYN whose sequence number is all ones.
        (3389, _) | (_, 3389) if p.starts_with(&[0xff; 4]) => return Some(A::Rdp),
        (69, _) | (_, 69) => {}
        _ if is_tftp_transfer(p) => return Some(A::Tftp),
        _ => {}
    }
    // Then one match on the first byte, so that most datagrams cost one compare or two.
    match first {
        b'M' | b'N' | b'H' if is_ssdp(p) => Some(A::Ssdp),
        // Local Service Discovery, or a uTP connection's SYN (type 4, version 1, no
        // extension).
        b'B' if p.starts_with(b"BT-SEARCH * HTTP/1.1") => Some(A::BitTorrent),
        0x41 if p.len() == 20 && p[1] == 0 => Some(A::BitTorrent),
        b'd' if p.starts_with(b"d1:ad2:id20:") || p.starts_with(b"d1:rd2:id20:") => {
            Some(A::BitTorrent)
        }
        0x00..=0x3f if is_stun(p) => Some(A::Stun),
        20..=23 if is_dtls(p) => Some(A::Dtls),
        1..=4 if is_wireguard(p) => Some(A::WireGuard),
        0xc0..=0xff if is_quic_long(p) => Some(A::Quic),
        b'S' if p.starts_with(b"SIP/2.0 ") => Some(A::Sip),
        b'A'..=b'Z' if sip_request(p) => Some(A::Sip),
        _ if is_gquic(p) => Some(A::Quic),
        _ => None,
    }
}

/// TPKT version 3, then an X.224 connection request (0xe0) or confirm (0xd0).
fn is_x224_connect(p: &[u8]) -> bool {
    p.len() >= 7 && p[1] == 0 && matches!(p[5] & 0xf0, 0xe0 | 0xd0)
}

/// An MQTT CONNECT (fixed header 0x10, remaining length, then the protocol name "MQTT" or
/// "MQIsdp").
fn is_mqtt_connect(p: &[u8]) -> bool {
    // The remaining length takes one to four bytes, each with the top bit when more follow.
    let mut i = 1;
    while i < 5 && p.get(i).is_some_and(|b| b & 0x80 != 0) {
        i += 1;
    }
    let Some(rest) = p.get(i + 1..) else {
        return false;
    };
    rest.starts_with(b"\x00\x04MQTT") || rest.starts_with(b"\x00\x06MQIsdp")
}

/// The MySQL server greeting: a 3-byte length, sequence 0, protocol version 10, then a
/// NUL-terminated version string.
fn is_mysql_greeting(p: &[u8]) -> bool {
    if p.len() < 8 || p[3] != 0 || p[4] != 10 {
        return false;
    }
    let len = u32::from_le_bytes([p[0], p[1], p[2], 0]) as usize;
    len + 4 == p.len() && p[5].is_ascii_digit()
}

/// A Kerberos message: an ASN.1 application tag of AS/TGS requests and replies, KRB-ERROR, or
/// AP-REQ, then a length.
fn is_kerberos(p: &[u8]) -> bool {
    matches!(p.first(), Some(0x6a | 0x6b | 0x6c | 0x6d | 0x6e | 0x7e))
        && matches!(p.get(1), Some(0x81..=0x84) | Some(0x00..=0x7f))
}

/// NTP: version 1–4 in the first byte, a mode, and at least the 48-byte header.
fn is_ntp(p: &[u8]) -> bool {
    let Some(&b) = p.first() else {
        return false;
    };
    let (version, mode) = ((b >> 3) & 7, b & 7);
    p.len() >= 48 && (1..=4).contains(&version) && mode != 0
}

/// SNMP: an ASN.1 SEQUENCE, then the version INTEGER (0, 1 or 3).
fn is_snmp(p: &[u8]) -> bool {
    if p.first() != Some(&0x30) {
        return false;
    }
    // Short or long length form.
    let at = match p.get(1) {
        Some(&l) if l < 0x80 => 2,
        Some(&l) if (0x81..=0x82).contains(&l) => 2 + (l & 0x7f) as usize,
        _ => return false,
    };
    p.get(at..at + 3)
        .is_some_and(|v| v[0] == 2 && v[1] == 1 && matches!(v[2], 0 | 1 | 3))
}

/// A TFTP read or write request: opcode 1 or 2, a file name, then the mode.
fn is_tftp_request(p: &[u8]) -> bool {
    if p.len() < 4 || p[0] != 0 || !matches!(p[1], 1 | 2) {
        return false;
    }
    let rest = &p[2..];
    let Some(nul) = rest.iter().position(|&b| b == 0) else {
        return false;
    };
    let mode = &rest[nul + 1..];
    let mode = &mode[..mode.iter().position(|&b| b == 0).unwrap_or(mode.len())];
    mode.eq_ignore_ascii_case(b"octet")
        || mode.eq_ignore_ascii_case(b"netascii")
        || mode.eq_ignore_ascii_case(b"mail")
}

/// STUN (RFC 5389): message type with the top two bits clear, a length that is the rest of
/// the datagram, and the magic cookie (or a classic RFC 3489 message type).
fn is_stun(p: &[u8]) -> bool {
    p.len() >= 20
        && p[0] & 0xc0 == 0
        && u16::from_be_bytes([p[2], p[3]]) as usize + 20 == p.len()
        && (p[4..8] == [0x21, 0x12, 0xa4, 0x42]
            // RFC 3489's classic STUN has no cookie: binding and shared-secret requests,
            // responses and errors only.
            || matches!(
                u16::from_be_bytes([p[0], p[1]]),
                0x0001 | 0x0101 | 0x0111 | 0x0002 | 0x0102 | 0x0112
            ))
}

/// A STUN message at the start of a TCP segment (which may hold more than one).
fn is_stun_in_stream(p: &[u8]) -> bool {
    p.len() >= 20
        && p[0] & 0xc0 == 0
        && p[4..8] == [0x21, 0x12, 0xa4, 0x42]
        && u16::from_be_bytes([p[2], p[3]]) as usize + 20 <= p.len()
}

/// A QUIC long header (RFC 9000 §17.2) with a version netvigil knows: 1, 2, the IETF drafts,
/// or Google's Q0xx/T0xx.
fn is_quic_long(p: &[u8]) -> bool {
    let Some(v) = p.get(1..5) else {
        return false;
    };
    let version = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
    let known = matches!(
        version,
        0x0000_0001 | 0x6b33_43cf | 0x709a_50c4 | 0xff00_0000..=0xff00_00ff | 0xface_b000..=0xface_b00f
    ) || (v[0] == b'Q' || v[0] == b'T') && v[1] == b'0' && v[2].is_ascii_digit();
    // Initial packets are padded to at least 1,200 bytes; others follow in the same flow.
    known && p.len() >= 20
}

/// Google QUIC's public header (versions before Q046): the version flag, an 8-byte connection
/// id, then the version `Q0xx`.
fn is_gquic(p: &[u8]) -> bool {
    p.len() >= 13
        && p[0] & 0x81 == 0x01
        && p[0] & 0x08 != 0
        && p[9] == b'Q'
        && p[10] == b'0'
        && p[11].is_ascii_digit()
}

/// A DTLS record (content type 20–23; version 1.0 0xfeff, 1.2 0xfefd, or Cisco's
/// pre-standard 0x0100) whose length fits in the datagram.
fn is_dtls(p: &[u8]) -> bool {
    p.len() >= 13
        && matches!((p[1], p[2]), (0xfe, 0xff) | (0xfe, 0xfd) | (0x01, 0x00))
        && u16::from_be_bytes([p[11], p[12]]) as usize + 13 <= p.len()
}

/// A TLS record header: content type 20–22, version 3.0–3.4, a length within the limit.
fn is_tls_record(p: &[u8]) -> bool {
    p.len() >= 6 && p[1] == 3 && p[2] <= 4 && u16::from_be_bytes([p[3], p[4]]) <= 16384 + 2048
}

/// A TDS packet header: type, status, a length of at least the header, channel, packet
/// number, and the window byte, always 0.
fn is_tds(p: &[u8]) -> bool {
    p.len() >= 8 && p[1] <= 0x1f && u16::from_be_bytes([p[2], p[3]]) >= 8 && p[7] == 0
}

/// A SOCKS 4 CONNECT or BIND: version, command, port, address, then a NUL-terminated user id.
fn is_socks4(p: &[u8]) -> bool {
    p.len() >= 9 && matches!(p[1], 1 | 2) && p.last() == Some(&0)
}

/// An ISAKMP/IKE header: two cookies (SPIs), next payload, version 1.0 or 2.0, and a length
/// that is the datagram's.
fn is_ike(p: &[u8]) -> bool {
    p.len() >= 28
        && matches!(p[17], 0x10 | 0x20)
        && u32::from_be_bytes([p[24], p[25], p[26], p[27]]) as usize == p.len()
}

/// A TFTP transfer on the ports a server picked: DATA (opcode 3) of block 1 or of a full
/// 512-byte block, or the ACK of a block (opcode 4, four bytes).
fn is_tftp_transfer(p: &[u8]) -> bool {
    match p {
        [0, 3, hi, lo, ..] => (*hi, *lo) == (0, 1) && p.len() <= 516 || p.len() == 516,
        [0, 4, _, _] => true,
        // An option acknowledgement (RFC 2347): NUL-terminated option names and values.
        [0, 6, rest @ ..] => {
            rest.len() >= 4 && rest.last() == Some(&0) && rest[0].is_ascii_alphabetic()
        }
        _ => false,
    }
}

/// A WireGuard handshake initiation (148 bytes), response (92) or cookie reply (64): message
/// type, then three reserved zero bytes.
fn is_wireguard(p: &[u8]) -> bool {
    p.len() >= 4
        && p[1..4] == [0, 0, 0]
        && (matches!((p[0], p.len()), (1, 148) | (2, 92) | (3, 64))
            // Transport data: a 16-byte header and a padded, authenticated payload.
            || p[0] == 4 && p.len() >= 32 && p.len().is_multiple_of(16))
}

/// A SIP request line: a method, a space, a `sip:` or `sips:` URI.
fn sip_request(p: &[u8]) -> bool {
    const METHODS: [&[u8]; 8] = [
        b"INVITE ",
        b"REGISTER ",
        b"OPTIONS ",
        b"ACK ",
        b"BYE ",
        b"CANCEL ",
        b"SUBSCRIBE ",
        b"NOTIFY ",
    ];
    request_line(p, &METHODS, &[b"sip:", b"sips"])
}

/// An RTSP request line (a method and an `rtsp://` URI).
fn rtsp_request(p: &[u8]) -> bool {
    const METHODS: [&[u8]; 6] = [
        b"OPTIONS ",
        b"DESCRIBE ",
        b"SETUP ",
        b"PLAY ",
        b"ANNOUNCE ",
        b"GET_PARAMETER ",
    ];
    request_line(p, &METHODS, &[b"rtsp://"])
}

/// `p` starts with one of `methods`, then one of `schemes` (any case).
fn request_line(p: &[u8], methods: &[&[u8]], schemes: &[&[u8]]) -> bool {
    methods.iter().any(|m| {
        p.starts_with(m)
            && schemes.iter().any(|s| {
                p[m.len()..]
                    .get(..s.len())
                    .is_some_and(|u| u.eq_ignore_ascii_case(s))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_application_name_parses_back() {
        for &a in Application::ALL {
            assert_eq!(Application::parse(a.as_str()), Some(a));
        }
    }

    #[test]
    fn signatures_match_their_protocol_and_not_a_neighbour() {
        let stun = |extra: usize| {
            let mut m = vec![0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42];
            m.resize(20 + extra, 7);
            m
        };
        let quic = |version: u8| {
            let mut m = vec![0xc3, 0, 0, 0, version];
            m.resize(1200, 0);
            m
        };
        let mut wg = vec![1, 0, 0, 0];
        wg.resize(148, 5);
        // (protocol, source port, destination port, payload, what it is)
        type Case<'a> = (u8, u16, u16, &'a [u8], Option<Application>);
        let cases: [Case; 12] = [
            (
                6,
                50000,
                22,
                b"SSH-2.0-OpenSSH_9.2\r\n",
                Some(Application::Ssh),
            ),
            (
                6,
                21,
                50000,
                b"220 ProFTPD ready\r\n",
                Some(Application::FtpControl),
            ),
            (6, 25, 50000, b"220 mx ESMTP\r\n", Some(Application::Smtp)),
            // A 220 elsewhere says nothing.
            (6, 8000, 50000, b"220 hello\r\n", None),
            (17, 50000, 3478, &stun(0), Some(Application::Stun)),
            // A length that is not the datagram's.
            (17, 50000, 3478, &stun(1), None),
            (17, 50000, 443, &quic(1), Some(Application::Quic)),
            (17, 50000, 443, &quic(9), None),
            (17, 50000, 51820, &wg, Some(Application::WireGuard)),
            (
                17,
                50000,
                5060,
                b"INVITE sip:bob@example.com SIP/2.0\r\n",
                Some(Application::Sip),
            ),
            (
                6,
                50000,
                554,
                b"DESCRIBE rtsp://cam/stream RTSP/1.0\r\n",
                Some(Application::Rtsp),
            ),
            (
                17,
                50000,
                69,
                b"\x00\x01boot.bin\x00octet\x00",
                Some(Application::Tftp),
            ),
        ];
        for (proto, sport, dport, p, want) in cases {
            assert_eq!(
                sniff(proto, sport, dport, p),
                want,
                "{:?}",
                &p[..p.len().min(16)]
            );
        }
    }
}

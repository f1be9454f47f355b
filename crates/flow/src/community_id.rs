//! Community ID v1 (github.com/corelight/community-id-spec): one string per flow that Zeek,
//! Suricata and other monitors compute alike from its endpoints, so their records of the
//! same flow can be joined. `1:` then the base64 SHA-1 of seed, ordered addresses, protocol,
//! a zero byte and, for TCP, UDP, SCTP, ICMP and ICMPv6, the ordered ports.
//!
//! ICMP and ICMPv6 have no ports: the type stands for the source port and, for a message that
//! has a counterpart (echo request and reply, router solicitation and advertisement, …), the
//! counterpart's type for the destination port, so both messages of an exchange get one ID.
//! Any other message is one-way: its code is the destination port and the endpoints keep the
//! packet's order. The table of counterparts is Zeek's (`ICMP4_counterpart`,
//! `ICMP6_counterpart`), as the spec says.

use std::net::IpAddr;

use base64::Engine;
use sha1::{Digest, Sha1};

/// TCP, UDP and SCTP: their ports are hashed.
const PORT_PROTOCOLS: [u8; 3] = [6, 17, 132];
/// ICMP.
const ICMP: u8 = 1;
/// ICMPv6.
const ICMPV6: u8 = 58;

/// The Community ID v1 of a flow, base64 (`1:LQU9qZlK+B5F3KDmev6m5PMibrg=`), from either
/// direction's endpoints: the same for the flow seen the other way round. For ICMP (1) and
/// ICMPv6 (58), `sport` is the message type and `dport` its code; other protocols than
/// those, TCP (6), UDP (17) and SCTP (132) have no ports and theirs are ignored. `seed` is 0
/// unless the monitors compared were configured with another.
pub fn community_id(
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    proto: u8,
    seed: u16,
) -> String {
    let (sport, dport, one_way) = match proto {
        ICMP | ICMPV6 => icmp_ports(proto, sport, dport),
        p if PORT_PROTOCOLS.contains(&p) => (sport, dport, false),
        _ => (0, 0, false),
    };
    let (s, d) = (Octets::of(src), Octets::of(dst));
    // The smaller (address, port) endpoint first, unless the ICMP message is one-way.
    let (a, b, ap, bp) = if one_way || (s.bytes(), sport) < (d.bytes(), dport) {
        (s, d, sport, dport)
    } else {
        (d, s, dport, sport)
    };
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(a.bytes());
    h.update(b.bytes());
    h.update([proto, 0]);
    if proto == ICMP || proto == ICMPV6 || PORT_PROTOCOLS.contains(&proto) {
        h.update(ap.to_be_bytes());
        h.update(bp.to_be_bytes());
    }
    let digest = h.finalize();
    format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// An address's bytes in network order: 4 or 16 of them.
#[derive(Clone, Copy)]
struct Octets {
    buf: [u8; 16],
    len: usize,
}

impl Octets {
    fn of(a: IpAddr) -> Self {
        let mut buf = [0; 16];
        let len = match a {
            IpAddr::V4(v4) => {
                buf[..4].copy_from_slice(&v4.octets());
                4
            }
            IpAddr::V6(v6) => {
                buf = v6.octets();
                16
            }
        };
        Octets { buf, len }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The ports an ICMP (`proto` 1) or ICMPv6 (58) message of `icmp_type` and `code` stands for,
/// and whether it is one-way: (type, counterpart type, false) for a message with a
/// counterpart, else (type, code, true).
fn icmp_ports(proto: u8, icmp_type: u16, code: u16) -> (u16, u16, bool) {
    let counterpart = if proto == ICMP {
        match icmp_type {
            // Echo reply and request, router advertisement and solicitation, timestamp,
            // information and address mask request and reply.
            0 => Some(8),
            8 => Some(0),
            9 => Some(10),
            10 => Some(9),
            13 => Some(14),
            14 => Some(13),
            15 => Some(16),
            16 => Some(15),
            17 => Some(18),
            18 => Some(17),
            _ => None,
        }
    } else {
        match icmp_type {
            // Echo request and reply, multicast listener query and report, router and
            // neighbour solicitation and advertisement, node information query and reply,
            // home agent address discovery request and reply.
            128 => Some(129),
            129 => Some(128),
            130 => Some(131),
            131 => Some(130),
            133 => Some(134),
            134 => Some(133),
            135 => Some(136),
            136 => Some(135),
            139 => Some(140),
            140 => Some(139),
            144 => Some(145),
            145 => Some(144),
            _ => None,
        }
    };
    match counterpart {
        Some(c) => (icmp_type, c, false),
        None => (icmp_type, code, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The spec's README tables (baseline/README.md at corelight/community-id-spec b1fe530):
    /// (protocol, source, destination, source port or type, destination port or code, seed 0,
    /// seed 1).
    #[rustfmt::skip]
    const README_TABLE: [(u8, &str, &str, u16, u16, &str, &str); 16] = [
        (6, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="),
        (6, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="),
        (17, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw="),
        (17, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw="),
        (132, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s="),
        (132, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s="),
        (1, "1.2.3.4", "5.6.7.8", 8, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="),
        (1, "5.6.7.8", "1.2.3.4", 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="),
        (1, "1.2.3.4", "5.6.7.8", 11, 0, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=", "1:1DD7cWGC/Yg91YGsQeni8du3pIA="),
        (58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 128, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE="),
        (58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", 129, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE="),
        (58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 146, 0, "1:fYC8+pz24E+EhANP1EZhpX0Dw10=", "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s="),
        (46, "1.2.3.4", "5.6.7.8", 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8="),
        (46, "5.6.7.8", "1.2.3.4", 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8="),
        (46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 0, 0, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="),
        (46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", 0, 0, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="),
    ];

    #[test]
    fn matches_the_spec_tables_with_seed_0_and_seed_1() {
        for (proto, src, dst, sp, dp, seed0, seed1) in README_TABLE {
            let row = format!("{proto} {src} {dst} {sp} {dp}");
            assert_eq!(
                community_id(ip(src), ip(dst), sp, dp, proto, 0),
                seed0,
                "{row}"
            );
            assert_eq!(
                community_id(ip(src), ip(dst), sp, dp, proto, 1),
                seed1,
                "{row}"
            );
        }
    }

    /// baseline/baseline_deflt.json of the spec (pycommunityid's `community-id-pcap` over the
    /// spec's pcaps/combined.pcap.gz, seed 0). Its tuples give ICMP's destination "port" as
    /// the tool derived it: the counterpart type where there is one (which is then all the
    /// hash reads of the code), else the code, so they go in as they are.
    #[rustfmt::skip]
    const BASELINE_JSON: [(u8, &str, &str, u16, u16, &str); 23] = [
        (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="),
        (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="),
        (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136, "1:zavyT/cezQr1fmImYCwYnMXbgck="),
        (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 135, "1:zavyT/cezQr1fmImYCwYnMXbgck="),
        (58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, "1:2ObVBgIn28oZvibYZhZMBgh7WdQ="),
        (58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4, "1:hLZd0XGWojozrvxqE0dWB1iM6R0="),
        (58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="),
        (58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 128, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="),
        (58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="),
        (58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 133, "1:pkvHqCL88/tg1k4cPigmZXUtL00="),
        (1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="),
        (1, "192.168.0.1", "192.168.0.89", 0, 8, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="),
        (1, "10.0.0.1", "10.0.0.2", 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM="),
        (6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="),
        (6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="),
        (132, "192.168.170.8", "192.168.170.56", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="),
        (132, "192.168.170.56", "192.168.170.8", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="),
        (6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
        (6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
        (17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="),
        (17, "8.8.8.8", "192.168.1.52", 53, 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="),
        (46, "10.1.12.1", "10.1.12.2", 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="),
        (46, "10.1.12.2", "10.1.12.1", 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="),
    ];

    #[test]
    fn matches_the_spec_baseline_of_its_captures() {
        for (proto, src, dst, sp, dp, want) in BASELINE_JSON {
            let row = format!("{proto} {src} {dst} {sp} {dp}");
            assert_eq!(
                community_id(ip(src), ip(dst), sp, dp, proto, 0),
                want,
                "{row}"
            );
        }
    }

    #[test]
    fn one_way_icmp_keeps_the_packet_order_and_the_code() {
        let (a, b) = (ip("10.0.0.2"), ip("10.0.0.1"));
        // Destination unreachable from the higher address: not reordered, so it differs from
        // the same message the other way round, and the code counts.
        let fwd = community_id(a, b, 3, 1, ICMP, 0);
        assert_ne!(fwd, community_id(b, a, 3, 1, ICMP, 0));
        assert_ne!(fwd, community_id(a, b, 3, 3, ICMP, 0));
        // A message with a counterpart ignores the code.
        assert_eq!(
            community_id(a, b, 8, 0, ICMP, 0),
            community_id(a, b, 8, 5, ICMP, 0)
        );
        // ICMPv6's table is its own: type 8 there is one-way.
        assert_ne!(
            community_id(a, b, 8, 0, ICMPV6, 0),
            community_id(b, a, 0, 0, ICMPV6, 0)
        );
    }

    #[test]
    fn protocols_without_ports_ignore_them() {
        let (a, b) = (ip("10.1.12.1"), ip("10.1.12.2"));
        assert_eq!(
            community_id(a, b, 1234, 80, 47, 0),
            community_id(b, a, 0, 0, 47, 0)
        );
    }
}

//! Which addresses are worth a database lookup. Private, shared, loopback, link-local, multicast,
//! documentation and other special-purpose ranges (IANA's special-purpose registries) belong to
//! no country or AS, and a flow's local side is usually one of them: answering those without a
//! lookup saves the tree walk and keeps them out of the cache.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address to look up for `ip`, or `None` when it is not a global unicast address.
///
/// IPv6 forms that carry an IPv4 host address are looked up as that IPv4 address: IPv4-mapped
/// `::ffff:a.b.c.d`, the NAT64 well-known prefix `64:ff9b::/96` and 6to4 `2002:AABB:CCDD::/48`.
pub fn lookup_address(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v4) => global_v4(v4).then_some(ip),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return global_v4(v4).then_some(IpAddr::V4(v4));
            }
            global_v6(v6).then_some(ip)
        }
    }
}

/// IPv4 ranges that are not globally reachable (IANA's IPv4 special-purpose registry, with the
/// reserved and multicast space): (network, prefix length). A short list, so a scan is fine.
const NOT_GLOBAL_V4: [([u8; 4], u32); 15] = [
    ([0, 0, 0, 0], 8),       // "this network"
    ([10, 0, 0, 0], 8),      // RFC 1918
    ([100, 64, 0, 0], 10),   // CGNAT shared address space
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local
    ([172, 16, 0, 0], 12),   // RFC 1918
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation TEST-NET-1
    ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast
    ([192, 168, 0, 0], 16),  // RFC 1918
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation TEST-NET-2
    ([203, 0, 113, 0], 24),  // documentation TEST-NET-3
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, and the limited broadcast 255.255.255.255
];

/// IPv6 ranges inside global unicast 2000::/3 that are not globally reachable.
const NOT_GLOBAL_V6: [(u128, u32); 4] = [
    (0x2001_0db8 << 96, 32), // documentation
    (0x3fff << 112, 20),     // documentation (RFC 9637)
    (0x2001_0002 << 96, 48), // benchmarking
    (0x2001_0010 << 96, 28), // deprecated ORCHID
];

fn global_v4(ip: Ipv4Addr) -> bool {
    let x = u32::from(ip);
    !NOT_GLOBAL_V4
        .iter()
        .any(|&(net, len)| (x ^ u32::from_be_bytes(net)) >> (32 - len) == 0)
}

fn global_v6(ip: Ipv6Addr) -> bool {
    let x = u128::from(ip);
    // Global unicast is allocated only from 2000::/3; everything outside it (::, ::1, ULA fc00::/7,
    // link-local fe80::/10, multicast ff00::/8, discard 100::/64, …) is not global.
    x >> 125 == 1
        && !NOT_GLOBAL_V6
            .iter()
            .any(|&(net, len)| (x ^ net) >> (128 - len) == 0)
}

/// The IPv4 address inside an IPv4-mapped, NAT64 well-known-prefix or 6to4 IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    let mapped = s[..5] == [0; 5] && s[5] == 0xffff;
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if mapped || nat64 {
        Some(tail)
    } else if s[0] == 0x2002 {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn looked_up(s: &str) -> Option<String> {
        let ip: IpAddr = s.parse().unwrap();
        lookup_address(ip).map(|a| a.to_string())
    }

    #[test]
    fn special_purpose_addresses_are_not_looked_up() {
        for s in [
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "169.254.1.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.251",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::fb",
            "100::1",
            "2001:db8::1",
            "3fff::1",
            "2001:2::1",
            "2001:10::1",
            "::ffff:192.168.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "::1.2.3.4",
        ] {
            assert_eq!(looked_up(s), None, "{s}");
        }
    }

    #[test]
    fn global_addresses_are_looked_up_with_embedded_ipv4_unwrapped() {
        for (s, want) in [
            ("8.8.8.8", "8.8.8.8"),
            ("100.63.255.255", "100.63.255.255"),
            ("100.128.0.1", "100.128.0.1"),
            ("172.32.0.1", "172.32.0.1"),
            ("192.0.1.1", "192.0.1.1"),
            ("198.20.0.1", "198.20.0.1"),
            ("223.255.255.255", "223.255.255.255"),
            ("2a00:1450:4001:803::1017", "2a00:1450:4001:803::1017"),
            ("2001:4860:4860::8888", "2001:4860:4860::8888"),
            ("3ffe::1", "3ffe::1"),
            ("::ffff:8.8.4.4", "8.8.4.4"),
            ("64:ff9b::808:808", "8.8.8.8"),
            ("2002:0101:0101::1", "1.1.1.1"),
        ] {
            assert_eq!(looked_up(s).as_deref(), Some(want), "{s}");
        }
    }
}

//! Service names for well-known (port, protocol) pairs, compiled into a `match` (a jump table,
//! no start-up cost). Names follow the IANA service registry's short names.

/// The service name of a destination port under an IP protocol, or "" when unknown.
pub fn name(port: u16, proto: u8) -> &'static str {
    let tcp = proto == 6;
    let udp = proto == 17;
    match (port, tcp, udp) {
        (20, true, _) => "ftp-data",
        (21, true, _) => "ftp",
        (22, true, _) => "ssh",
        (23, true, _) => "telnet",
        (25, true, _) => "smtp",
        (53, _, _) if tcp || udp => "dns",
        (67 | 68, _, true) => "dhcp",
        (69, _, true) => "tftp",
        (80, true, _) => "http",
        (88, _, _) if tcp || udp => "kerberos",
        (110, true, _) => "pop3",
        (111, _, _) if tcp || udp => "sunrpc",
        (119, true, _) => "nntp",
        (123, _, true) => "ntp",
        (135, true, _) => "msrpc",
        (137, _, true) => "netbios-ns",
        (138, _, true) => "netbios-dgm",
        (139, true, _) => "netbios-ssn",
        (143, true, _) => "imap",
        (161 | 162, _, true) => "snmp",
        (179, true, _) => "bgp",
        (389, _, _) if tcp || udp => "ldap",
        (443, true, _) => "https",
        (443, _, true) => "quic",
        (445, true, _) => "smb",
        (465, true, _) => "smtps",
        (500, _, true) => "isakmp",
        (514, _, true) => "syslog",
        (515, true, _) => "printer",
        (520, _, true) => "rip",
        (546 | 547, _, true) => "dhcpv6",
        (554, _, _) if tcp || udp => "rtsp",
        (587, true, _) => "submission",
        (631, true, _) => "ipp",
        (636, true, _) => "ldaps",
        (853, _, _) if tcp || udp => "dns-over-tls",
        (873, true, _) => "rsync",
        (989 | 990, true, _) => "ftps",
        (993, true, _) => "imaps",
        (995, true, _) => "pop3s",
        (1080, true, _) => "socks",
        (1194, _, _) if tcp || udp => "openvpn",
        (1433, true, _) => "mssql",
        (1521, true, _) => "oracle",
        (1701, _, true) => "l2tp",
        (1723, true, _) => "pptp",
        (1812 | 1813, _, true) => "radius",
        (1883, true, _) => "mqtt",
        (1900, _, true) => "ssdp",
        (2049, _, _) if tcp || udp => "nfs",
        (2152, _, true) => "gtp-u",
        (2375 | 2376, true, _) => "docker",
        (3128, true, _) => "http-proxy",
        (3306, true, _) => "mysql",
        (3389, _, _) if tcp || udp => "rdp",
        (3478, _, _) if tcp || udp => "stun",
        (4222, true, _) => "nats",
        (4500, _, true) => "ipsec-nat-t",
        (4789, _, true) => "vxlan",
        (5060 | 5061, _, _) if tcp || udp => "sip",
        (5222, true, _) => "xmpp",
        (5246 | 5247, _, true) => "capwap",
        (5353, _, true) => "mdns",
        (5355, _, true) => "llmnr",
        (5432, true, _) => "postgresql",
        (5672, true, _) => "amqp",
        (5900, true, _) => "vnc",
        (6379, true, _) => "redis",
        (6443, true, _) => "kubernetes",
        (6881..=6889, _, _) if tcp || udp => "bittorrent",
        (8080, true, _) => "http-alt",
        (8443, true, _) => "https-alt",
        (9092, true, _) => "kafka",
        (9200, true, _) => "elasticsearch",
        (11211, _, _) if tcp || udp => "memcached",
        (27017, true, _) => "mongodb",
        (37008, _, true) => "tzsp",
        (51820, _, true) => "wireguard",
        _ => match proto {
            1 => "icmp",
            58 => "icmpv6",
            2 => "igmp",
            47 => "gre",
            50 => "esp",
            89 => "ospf",
            132 => "sctp",
            _ => "",
        },
    }
}

/// A flow's service: by its destination port, else by its source port when that one is known
/// (a flow first seen from the server side).
pub fn of_flow(sport: u16, dport: u16, proto: u8) -> &'static str {
    let by_dst = name(dport, proto);
    if !by_dst.is_empty() && (proto != 6 && proto != 17 || by_dst != name(0, proto)) {
        return by_dst;
    }
    let by_src = name(sport, proto);
    if !by_src.is_empty() {
        by_src
    } else {
        by_dst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_ports_have_their_iana_names() {
        assert_eq!(name(443, 6), "https");
        assert_eq!(name(443, 17), "quic");
        assert_eq!(name(53, 17), "dns");
        assert_eq!(name(0, 1), "icmp");
        assert_eq!(name(40000, 6), "");
    }

    #[test]
    fn a_flow_seen_from_the_server_side_takes_the_source_port_name() {
        assert_eq!(of_flow(80, 51000, 6), "http");
        assert_eq!(of_flow(51000, 22, 6), "ssh");
    }
}

//! Service names of (port, protocol) pairs, from IANA's Service Name and Transport Protocol Port
//! Number Registry, compiled in: `build.rs` turns `data/iana-service-names.csv` into a sorted
//! static array searched by binary search (no start-up cost, no allocation). A few names that
//! common tools spell differently are overridden below. Source, licence, trimming and rules:
//! docs/services.md.

mod iana {
    include!(concat!(env!("OUT_DIR"), "/iana_services.rs"));
}

pub use iana::IANA_ENTRIES;

const TCP: u8 = 6;
const UDP: u8 = 17;
const SCTP: u8 = 132;

/// Names that differ from IANA's, each with its reason (listed in docs/services.md).
fn override_name(port: u16, proto: u8) -> Option<&'static str> {
    Some(match (port, proto) {
        // IANA: "domain". Zeek, ntopng, Wireshark and this project's output say "dns".
        (53, TCP | UDP) => "dns",
        // IANA: "https" (registered for UDP alongside TCP). What runs on 443/udp is QUIC
        // (HTTP/3, RFC 9114); Zeek and ntopng report it as quic.
        (443, UDP) => "quic",
        // In the copy used, the service-name field holds a description with spaces; IANA's
        // later registry spells these names as below.
        (3283, TCP | UDP) => "net-assistant",
        (3679, TCP | UDP) => "newton-dock",
        _ => return None,
    })
}

/// IANA's name of a port under TCP, UDP or SCTP, or "" when it has none.
fn iana_name(port: u16, proto: u8) -> &'static str {
    let key = (port as u32) << 8 | proto as u32;
    match iana::IANA.binary_search_by_key(&key, |&(k, _)| k) {
        Ok(i) => iana::IANA[i].1,
        Err(_) => "",
    }
}

/// The service name of a port under an IP protocol (6 TCP, 17 UDP, 132 SCTP), or "" when the
/// port has none. A service registered for UDP only is not returned for TCP, and so on. For
/// SCTP without a named port, and for protocols without ports, the protocol's own name
/// ("sctp", "icmp", "gre", …) or "".
pub fn name(port: u16, proto: u8) -> &'static str {
    match proto {
        TCP | UDP | SCTP => {
            if let Some(n) = override_name(port, proto) {
                return n;
            }
            let n = iana_name(port, proto);
            if n.is_empty() && proto == SCTP {
                "sctp"
            } else {
                n
            }
        }
        1 => "icmp",
        58 => "icmpv6",
        2 => "igmp",
        47 => "gre",
        50 => "esp",
        89 => "ospf",
        _ => "",
    }
}

/// How strongly a port suggests the server side: system ports (below 1024) most, then the
/// other registered ports below 32768, least the ephemeral ones (32768 and up: Linux's and
/// IANA's dynamic ranges, where clients' ports are picked and so match registrations by chance).
fn rank(port: u16) -> u8 {
    match port {
        0..=1023 => 0,
        1024..=32767 => 1,
        _ => 2,
    }
}

/// A flow's service. Under TCP, UDP and SCTP: the name of whichever port has one, and when both
/// do, of the port of the better rank (see `rank`), the destination on a tie. A flow first seen
/// from the server side (source 443, destination 40000) thus gets "https", not the name IANA
/// registered for port 40000. Without a named port: `name`'s fallback ("sctp" or "").
/// Other protocols: the protocol's name.
pub fn of_flow(sport: u16, dport: u16, proto: u8) -> &'static str {
    if !matches!(proto, TCP | UDP | SCTP) {
        return name(dport, proto);
    }
    let port_name = |p: u16| override_name(p, proto).unwrap_or_else(|| iana_name(p, proto));
    let (d, s) = (port_name(dport), port_name(sport));
    match (d.is_empty(), s.is_empty()) {
        (false, true) => d,
        (true, false) => s,
        (false, false) if rank(sport) < rank(dport) => s,
        (false, false) => d,
        (true, true) => name(dport, proto),
    }
}

/// The port of a packet's service, the same for both directions of a conversation (so that
/// per-packet port counts put replies under the server's port): the port of the better rank
/// (see `rank`); of one rank, the one with a service name; else the lower number. Unlike
/// [`of_flow`], which knows the flow's direction, rank comes first: a client's ephemeral port
/// that matches a registration by chance does not win.
#[inline]
pub fn port_of(sport: u16, dport: u16, proto: u8) -> u16 {
    let (rs, rd) = (rank(sport), rank(dport));
    if rs != rd {
        return if rs < rd { sport } else { dport };
    }
    let named = |p: u16| !name(p, proto).is_empty();
    match (named(sport), named(dport)) {
        (true, false) => sport,
        (false, true) => dport,
        _ => sport.min(dport),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_port_is_the_servers_in_both_directions() {
        // HTTPS from a Linux client, SIP between two servers, a web server on 8080, DNS.
        assert_eq!(port_of(51155, 443, TCP), 443);
        assert_eq!(port_of(443, 51155, TCP), 443);
        assert_eq!(port_of(5060, 5060, UDP), 5060);
        assert_eq!(port_of(41346, 8080, TCP), 8080);
        assert_eq!(port_of(53, 53124, UDP), 53);
        // Two unnamed ephemeral ports: the lower.
        assert_eq!(port_of(60001, 50000, TCP), 50000);
    }

    #[test]
    fn well_known_ports_have_their_iana_names() {
        assert_eq!(name(22, TCP), "ssh");
        assert_eq!(name(80, TCP), "http");
        assert_eq!(name(443, TCP), "https");
        assert_eq!(name(123, UDP), "ntp");
        assert_eq!(name(445, TCP), "microsoft-ds");
        assert_eq!(name(5353, UDP), "mdns");
        // Different services on one port under TCP and UDP.
        assert_eq!(name(514, TCP), "shell");
        assert_eq!(name(514, UDP), "syslog");
        // SCTP has its own registrations.
        assert_eq!(name(2905, SCTP), "m3ua");
        assert_eq!(name(40000, SCTP), "sctp");
    }

    #[test]
    fn overrides_replace_iana_spellings() {
        assert_eq!(iana_name(53, UDP), "domain");
        assert_eq!(name(53, UDP), "dns");
        assert_eq!(name(53, TCP), "dns");
        assert_eq!(name(443, UDP), "quic");
        assert_eq!(name(3283, TCP), "net-assistant");
        assert_eq!(name(53, SCTP), "sctp");
    }

    #[test]
    fn a_later_name_wins_only_where_listed() {
        // First registered: 113/tcp is "ident" before "auth"; 80 is "http" before "www".
        assert_eq!(name(113, TCP), "ident");
        assert_eq!(name(80, UDP), "http");
        // build.rs's PREFERRED list.
        assert_eq!(name(2049, TCP), "nfs");
        assert_eq!(name(2049, UDP), "nfs");
        assert_eq!(name(1701, UDP), "l2tp");
        assert_eq!(name(465, TCP), "submissions");
    }

    #[test]
    fn ranges_are_expanded() {
        assert_eq!(name(6000, TCP), "x11");
        assert_eq!(name(6063, UDP), "x11");
        assert_eq!(name(6667, TCP), "ircu");
    }

    #[test]
    fn unassigned_ports_and_other_protocols_have_no_name() {
        assert_eq!(name(0, TCP), "");
        assert_eq!(name(4, UDP), "");
        assert_eq!(name(65535, TCP), "");
        // vxlan is registered for UDP only.
        assert_eq!(name(4789, UDP), "vxlan");
        assert_eq!(name(4789, TCP), "");
        assert_eq!(name(0, 1), "icmp");
        assert_eq!(name(80, 253), "");
    }

    #[test]
    fn the_table_is_sorted_and_complete() {
        // From data/iana-service-names.csv as committed: a regeneration that loses or adds
        // entries must update this number (and docs/services.md).
        assert_eq!(IANA_ENTRIES, 11_589);
        assert!(iana::IANA.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(iana::IANA.iter().all(|(_, n)| !n.is_empty()));
    }

    #[test]
    fn a_flow_seen_from_the_server_side_takes_the_source_port_name() {
        assert_eq!(of_flow(80, 51000, TCP), "http");
        assert_eq!(of_flow(51000, 22, TCP), "ssh");
        // Port 40000/tcp is registered (safetynetp): the server's lower-ranked port wins.
        assert_eq!(of_flow(443, 40000, TCP), "https");
        assert_eq!(of_flow(53, 40000, UDP), "dns");
        assert_eq!(of_flow(40000, 3306, TCP), "mysql");
        assert_eq!(of_flow(3306, 40000, TCP), "mysql");
        // Both in one rank: the destination.
        assert_eq!(of_flow(3306, 5432, TCP), "postgresql");
        assert_eq!(of_flow(50000, 50001, TCP), "");
        assert_eq!(of_flow(50000, 50001, SCTP), "sctp");
        assert_eq!(of_flow(0, 0, 1), "icmp");
    }
}

//! The device parsers against tshark's dissectors, field by field and packet by packet: ARP,
//! DHCPv4, IPv6 neighbour discovery and TCP SYNs. For every capture, the frames tshark shows
//! (with the filter that selects what the parser reads) are exactly the frames the parser
//! returns an observation for, and every field is equal. (Names: device_names_tshark.rs.)

mod support;

use std::collections::BTreeMap;

use enrich::device::parse::{self, Observation, Observations};
use packet::{decode, DecodeOptions};
use support::{all, capture, first, frames, mac, tshark_fields};

/// Parses every frame of a capture; checks the gate lets each frame through that says
/// something. Frame number → observations.
fn parse_file(rel: &str) -> BTreeMap<usize, Observations> {
    let mut out = BTreeMap::new();
    for f in frames(&capture(rel)) {
        let o = parse::frame(f.link, &f.data);
        if o.is_empty() {
            continue;
        }
        let gate = decode(
            f.link,
            f.ts,
            f.data.len() as u32,
            &f.data,
            &DecodeOptions::default(),
        )
        .map(|d| parse::wants_decoded(&d))
        .unwrap_or(false);
        assert!(
            gate,
            "{rel} frame {}: parsed but the gate said no",
            f.number
        );
        out.insert(f.number, o);
    }
    out
}

/// The observations of one kind, by frame number.
fn pick<T: Clone>(
    parsed: &BTreeMap<usize, Observations>,
    f: impl Fn(&Observation) -> Option<&T>,
) -> BTreeMap<usize, (Option<[u8; 6]>, T)> {
    parsed
        .iter()
        .filter_map(|(&n, o)| {
            let mut it = o.items.iter().filter_map(&f);
            let x = it.next()?.clone();
            assert!(it.next().is_none(), "frame {n}: one observation per kind");
            Some((n, (o.src_mac, x)))
        })
        .collect()
}

fn opt(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

const ARP_FILES: &[&str] = &[
    "chrissanders-packets/arp_gratuitous.pcapng",
    "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/arp.pcap",
    "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/evilprogram.pcap",
    "suricata-verify/tests/arp/detect-arp-03-vlan/input.pcap",
    "suricata-verify/tests/decode-arp-2/arp.pcap",
    "suricata-verify/tests/base64-decode-5885/input.pcap",
    "suricata-verify/tests/smb2-07/20171220_smb_psexec_add_user.pcap",
    "ndpi/pcap/jabber.pcap",
];

#[test]
fn arp_matches_tshark() {
    let mut compared = 0;
    let mut gratuitous = 0;
    for rel in ARP_FILES {
        let ours = pick(&parse_file(rel), |o| match o {
            Observation::Arp(a) => Some(a),
            _ => None,
        });
        let rows = tshark_fields(
            &capture(rel),
            "arp && arp.hw.type == 1 && arp.proto.type == 0x0800 && arp.hw.size == 6 \
             && arp.proto.size == 4 && (arp.opcode == 1 || arp.opcode == 2)",
            &[
                "eth.src",
                "arp.opcode",
                "arp.src.hw_mac",
                "arp.src.proto_ipv4",
                "arp.dst.hw_mac",
                "arp.dst.proto_ipv4",
                "arp.isgratuitous",
            ],
        );
        assert_eq!(ours.len(), rows.len(), "{rel}: ARP packets");
        for (n, c) in rows {
            let (src, a) = &ours[&n];
            let at = format!("{rel} frame {n}");
            assert_eq!(*src, Some(mac(&c[0])), "{at}: eth.src");
            assert_eq!(a.opcode.to_string(), c[1], "{at}: opcode");
            assert_eq!(a.sender_mac, mac(&c[2]), "{at}: sender MAC");
            assert_eq!(a.sender_ip.to_string(), c[3], "{at}: sender IP");
            assert_eq!(a.target_mac, mac(&c[4]), "{at}: target MAC");
            assert_eq!(a.target_ip.to_string(), c[5], "{at}: target IP");
            assert_eq!(a.is_gratuitous(), c[6] == "1", "{at}: gratuitous");
            gratuitous += a.is_gratuitous() as usize;
            compared += 1;
        }
    }
    eprintln!("ARP: {compared} packets compared, {gratuitous} gratuitous");
    assert!(compared >= 200, "ARP packets compared: {compared}");
    assert!(gratuitous >= 1, "no gratuitous ARP compared");
}

const DHCP_FILES: &[&str] = &[
    "chrissanders-packets/dhcp_inlease_renewal.pcapng",
    "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/dhcp.pcap",
    "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/evilprogram.pcap",
    "zeek/Traces/dhcp/dhcp.pcap",
    "nfstream/pcaps/telegram.pcap",
    "nfstream/pcaps/whatsapp_login_call.pcap",
    "nfstream/pcaps/wa_voice.pcap",
    "ndpi/pcap/teams.pcap",
    "ndpi/pcap/dhcp-fuzz.pcapng",
];

#[test]
fn dhcp_matches_tshark() {
    let mut compared = 0;
    let mut with = [0usize; 5];
    for rel in DHCP_FILES {
        let ours = pick(&parse_file(rel), |o| match o {
            Observation::Dhcp(d) => Some(d),
            _ => None,
        });
        let rows = tshark_fields(
            &capture(rel),
            "dhcp && (udp.port == 67 || udp.port == 68) && !(ip && ipv6) && !capwap",
            &[
                "dhcp.type",
                "dhcp.hw.mac_addr",
                "dhcp.option.dhcp",
                "dhcp.ip.client",
                "dhcp.ip.your",
                "dhcp.option.requested_ip_address",
                "dhcp.option.hostname",
                "dhcp.fqdn.name",
                "dhcp.option.request_list_item",
                "dhcp.option.vendor_class_id",
            ],
        );
        assert_eq!(ours.len(), rows.len(), "{rel}: DHCP messages");
        for (n, c) in rows {
            let (_, d) = &ours[&n];
            let at = format!("{rel} frame {n}");
            assert_eq!(d.op.to_string(), c[0], "{at}: op");
            // tshark repeats the field for a MAC inside option 61: chaddr is the first.
            assert_eq!(d.client_mac, opt(first(&c[1])).map(mac), "{at}: chaddr");
            assert_eq!(
                d.message_type.map(|t| t.to_string()),
                opt(&c[2]).map(str::to_string),
                "{at}: message type"
            );
            assert_eq!(d.client_ip.to_string(), c[3], "{at}: ciaddr");
            assert_eq!(d.your_ip.to_string(), c[4], "{at}: yiaddr");
            assert_eq!(
                d.requested_ip.map(|a| a.to_string()).as_deref(),
                opt(&c[5]),
                "{at}: requested IP"
            );
            assert_eq!(d.hostname.as_deref(), opt(&c[6]), "{at}: host name");
            assert_eq!(d.fqdn.as_deref(), opt(&c[7]), "{at}: FQDN");
            let prl = all(&c[8]).join(",");
            assert_eq!(d.parameter_list.as_deref(), opt(&prl), "{at}: option 55");
            assert_eq!(d.vendor_class.as_deref(), opt(&c[9]), "{at}: option 60");
            for (i, present) in [
                d.hostname.is_some(),
                d.fqdn.is_some(),
                d.parameter_list.is_some(),
                d.vendor_class.is_some(),
                d.requested_ip.is_some(),
            ]
            .into_iter()
            .enumerate()
            {
                with[i] += present as usize;
            }
            compared += 1;
        }
    }
    eprintln!("DHCP: {compared} messages compared, fields present {with:?}");
    assert!(compared >= 50, "DHCP messages compared: {compared}");
    assert!(
        with.iter().all(|&w| w > 0),
        "fields never present: {with:?}"
    );
}

const NDP_FILES: &[&str] = &[
    "ndpi/pcap/anyconnect-vpn.pcap",
    "chrissanders-packets/ipv6_fragments.pcapng",
    "zeek/Traces/pppoe.pcap",
    "zeek/Traces/ppp/quic-interop-retry.pcap",
];

#[test]
fn neighbor_discovery_matches_tshark() {
    let mut compared = 0;
    let mut with_option = 0;
    for rel in NDP_FILES {
        let ours = pick(&parse_file(rel), |o| match o {
            Observation::Ndp(n) => Some(n),
            _ => None,
        });
        let rows = tshark_fields(
            &capture(rel),
            "icmpv6.type >= 133 && icmpv6.type <= 136 && icmpv6.code == 0 \
             && ipv6.hlim == 255 && !(ip && ipv6) && !capwap",
            &[
                "eth.src",
                "ipv6.src",
                "icmpv6.type",
                "icmpv6.nd.ns.target_address",
                "icmpv6.nd.na.target_address",
                "icmpv6.opt.type",
                "icmpv6.opt.linkaddr",
                "icmpv6.nd.na.flag.r",
            ],
        );
        assert_eq!(ours.len(), rows.len(), "{rel}: NDP messages");
        for (n, c) in rows {
            let (src, d) = &ours[&n];
            let at = format!("{rel} frame {n}");
            assert_eq!(*src, opt(&c[0]).map(mac), "{at}: eth.src");
            assert_eq!(d.src.to_string(), c[1], "{at}: source");
            let ty: u8 = c[2].parse().unwrap();
            let target = if ty == 135 { &c[3] } else { &c[4] };
            assert_eq!(
                d.target.map(|a| a.to_string()).as_deref(),
                opt(target),
                "{at}: target"
            );
            // The link-layer address of the first option of the type the message carries
            // (source in 133 to 135, target in 136); tshark lists addresses of both types.
            let want = if ty == 136 { "2" } else { "1" };
            let types: Vec<&str> = all(&c[5])
                .into_iter()
                .filter(|t| *t == "1" || *t == "2")
                .collect();
            let expected = types
                .iter()
                .position(|t| *t == want)
                .and_then(|i| all(&c[6]).get(i).map(|s| mac(s)));
            assert_eq!(d.link_addr, expected, "{at}: link-layer address");
            assert_eq!(d.router, ty == 134 || c[7] == "1", "{at}: router");
            with_option += expected.is_some() as usize;
            compared += 1;
        }
    }
    eprintln!("NDP: {compared} messages compared, {with_option} with a link-layer address");
    assert!(compared >= 20, "NDP messages compared: {compared}");
    assert!(
        with_option >= 10,
        "link-layer options compared: {with_option}"
    );
}

const SYN_FILES: &[&str] = &[
    "chrissanders-packets/passiveosfingerprinting.pcapng",
    "chrissanders-packets/synscan.pcapng",
    "chrissanders-packets/tcp_handshake.pcapng",
    "chrissanders-packets/http_ip4and6.pcapng",
    "chrissanders-packets/http_espn.pcapng",
    "ndpi/pcap/tcp_scan.pcapng",
    "nfstream/pcaps/skype_no_unknown.pcap",
];

#[test]
fn tcp_syns_match_tshark() {
    let mut compared = 0;
    let mut hinted = 0;
    for rel in SYN_FILES {
        let ours = pick(&parse_file(rel), |o| match o {
            Observation::TcpSyn(s) => Some(s),
            _ => None,
        });
        let rows = tshark_fields(
            &capture(rel),
            "tcp.flags.syn == 1 && tcp.flags.ack == 0 && !(ip && ipv6) && !icmp && !icmpv6",
            &[
                "ip.ttl",
                "ipv6.hlim",
                "ip.flags.df",
                "tcp.window_size_value",
                "tcp.options.mss_val",
                "tcp.options.wscale.shift",
                "tcp.option_kind",
            ],
        );
        assert_eq!(ours.len(), rows.len(), "{rel}: SYNs");
        for (n, c) in rows {
            let (_, s) = &ours[&n];
            let at = format!("{rel} frame {n}");
            let ttl = if c[0].is_empty() { &c[1] } else { &c[0] };
            assert_eq!(s.ttl.to_string(), *ttl, "{at}: TTL");
            assert_eq!(s.df, c[2] != "0", "{at}: DF");
            assert_eq!(s.window.to_string(), c[3], "{at}: window");
            assert_eq!(
                s.mss.map(|v| v.to_string()).as_deref(),
                opt(&c[4]),
                "{at}: MSS"
            );
            assert_eq!(
                s.wscale.map(|v| v.to_string()).as_deref(),
                opt(&c[5]),
                "{at}: window scale"
            );
            // tshark lists every option kind; the layout ends at the first EOL.
            let mut kinds: Vec<u8> = all(&c[6]).iter().map(|k| k.parse().unwrap()).collect();
            if let Some(i) = kinds.iter().position(|&k| k == 0) {
                kinds.truncate(i + 1);
            }
            assert_eq!(s.option_kinds(), kinds.as_slice(), "{at}: options");
            hinted += s.os_hint().is_some() as usize;
            compared += 1;
        }
    }
    eprintln!("TCP: {compared} SYNs compared, {hinted} with an OS hint");
    assert!(compared >= 100, "SYNs compared: {compared}");
    assert!(hinted >= 5, "SYNs with an OS hint: {hinted}");
}

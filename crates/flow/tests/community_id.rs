//! Community ID of metered flows. Against Suricata: every flow netvigil meters from a
//! suricata-verify capture whose expected EVE records carry a `community_id` gets Suricata's
//! value, computed with the seed that test's suricata.yaml configures. ICMP and ICMPv6 flows
//! (none in those) against the spec's reference implementation. (No Zeek log in the shared
//! data carries one; the spec's own test vectors are checked in `flow::community_id`'s unit
//! tests.)

mod common;

use std::collections::HashMap;
use std::net::IpAddr;

use common::{data_dir, meter_file};
use flow::Profile;

/// A 5-tuple with its lower (address, port) endpoint first.
type Conv = (u8, IpAddr, u16, IpAddr, u16);

fn conv(proto: u8, a: IpAddr, ap: u16, b: IpAddr, bp: u16) -> Conv {
    if (a, ap) <= (b, bp) {
        (proto, a, ap, b, bp)
    } else {
        (proto, b, bp, a, ap)
    }
}

/// The `key: value` lines of one YAML block (suricata-verify's flat `match:` maps), first
/// occurrence of each key.
fn keys(block: &str) -> HashMap<&str, &str> {
    let mut m = HashMap::new();
    for line in block.lines() {
        if let Some((k, v)) = line.trim().split_once(':') {
            m.entry(k.trim()).or_insert(v.trim());
        }
    }
    m
}

/// The suricata-verify test's configured seed, and Suricata's Community ID of each
/// conversation its expected records name.
fn suricata_ids(test: &str) -> (u16, HashMap<Conv, String>) {
    let dir = data_dir().join("suricata-verify/tests").join(test);
    let config = std::fs::read_to_string(dir.join("suricata.yaml")).expect("suricata.yaml");
    let seed = keys(&config)["community-id-seed"]
        .parse()
        .expect("a 16-bit seed");
    let yaml = std::fs::read_to_string(dir.join("test.yaml")).expect("test.yaml");
    let mut ids = HashMap::new();
    for block in yaml.split("- filter:").skip(1) {
        let k = keys(block);
        let Some(id) = k.get("community_id") else {
            continue;
        };
        let proto = match k["proto"] {
            "TCP" => 6,
            "UDP" => 17,
            "ICMP" => 1,
            "IPv6-ICMP" => 58,
            "SCTP" => 132,
            other => panic!("{test}: protocol {other}"),
        };
        let ip = |key: &str| k[key].parse::<IpAddr>().expect(key);
        let port = |key: &str| k[key].parse::<u16>().expect(key);
        let c = conv(
            proto,
            ip("src_ip"),
            port("src_port"),
            ip("dest_ip"),
            port("dest_port"),
        );
        let before = ids.insert(c, id.to_string());
        assert!(before.is_none_or(|b| b == *id), "{test}: two IDs for {c:?}");
    }
    (seed, ids)
}

#[test]
fn every_flow_of_a_suricata_conversation_has_suricatas_community_id() {
    let mut matched_per_test = Vec::new();
    for test in ["community-id-ipv6", "nfs3-01"] {
        let (seed, theirs) = suricata_ids(test);
        let pcap = data_dir()
            .join("suricata-verify/tests")
            .join(test)
            .join("input.pcap");
        let (flows, err) = meter_file(&pcap, Profile::Cic);
        assert!(err.is_none(), "{test}: {err:?}");
        let mut seen = HashMap::<Conv, u32>::new();
        for r in &flows {
            let c = conv(r.proto, r.src, r.sport, r.dst, r.dport);
            let Some(want) = theirs.get(&c) else {
                continue;
            };
            assert_eq!(
                r.community_id_seeded(seed).as_deref(),
                Some(want.as_str()),
                "{test}: {}",
                r.flow_id()
            );
            *seen.entry(c).or_default() += 1;
        }
        // Every conversation Suricata names is metered, as one flow.
        assert_eq!(seen.len(), theirs.len(), "{test}: {seen:?}");
        assert!(seen.values().all(|&n| n == 1), "{test}: {seen:?}");
        matched_per_test.push((test, seed, seen.len()));
    }
    assert_eq!(
        matched_per_test,
        [("community-id-ipv6", 7, 2), ("nfs3-01", 1234, 8)]
    );
}

/// An ICMP flow: source, destination, first type, Community ID.
type IcmpFlow = (&'static str, &'static str, u8, &'static str);

/// ICMP and ICMPv6 flows: their first packet's type and code stand for the ports. Expected
/// values: communityid 1.5.0 (PyPI, the spec's reference implementation), seed 0, over each
/// flow's first packet as tshark 4.0.17 decodes it (`-e ip.src -e ip.dst -e icmp.type
/// -e icmp.code`, and the same for IPv6 and ICMPv6).
#[rustfmt::skip]
const ICMP_FLOWS: &[(&str, &[IcmpFlow])] = &[
    (
        // An echo request (two-way: its reply would share the ID) and the routers' time
        // exceeded messages (one-way, each from the router).
        "chrissanders-packets/icmp_traceroute.pcapng",
        &[
            ("192.168.100.1", "192.168.100.138", 11, "1:lLdoKcnHErjCEJiCIvYvGp16+Sg="),
            ("12.180.241.1", "192.168.100.138", 11, "1:1R6fE6iWmnHQ5FK0EkvJPUEMFD4="),
            ("12.153.21.202", "192.168.100.138", 11, "1:Sh+g/VxFyBEYR5PAx789GUzDKU4="),
            ("12.86.61.157", "192.168.100.138", 11, "1:XALp7d9DP4wJXagfWGpH0A0CuKM="),
            ("12.122.133.110", "192.168.100.138", 11, "1:r2GJTg+ixtAta1+BaJsrUYJtjag="),
            ("12.122.133.137", "192.168.100.138", 11, "1:PrEWWEso7sIzoeulUAaF1sWQ3sQ="),
            ("192.205.33.210", "192.168.100.138", 11, "1:hGoMcCyRXJNxImRrgIEVMuF+p5g="),
            ("4.68.101.162", "192.168.100.138", 11, "1:HyG5SI6UBD08ZqihGH7e+iEe7Mk="),
            ("192.168.100.138", "4.2.2.1", 8, "1:yrUhdPGlFa+2iYKjnil7Wn/RnF8="),
        ],
    ),
    (
        // A port unreachable (3, one-way), a multicast listener report (ICMPv6 143,
        // one-way), router advertisements (ICMPv6 134 and ICMP 9, whose counterpart is the
        // solicitation).
        "nfstream/pcaps/anyconnect-vpn.pcap",
        &[
            ("10.0.0.227", "75.75.76.76", 3, "1:kQS6IYpxOkGx9IkagEfrGtvw+Vg="),
            ("fe80::408:3e45:3abc:1552", "ff02::16", 143, "1:9OHUFl0+OyHQA4qjzj1HagQdQuU="),
            ("fe80::2e7e:81ff:feb0:4aa1", "ff02::1", 134, "1:ZBmnZveCd4xRVBPJdMbD8ixKE2g="),
            ("10.0.0.1", "224.0.0.1", 9, "1:FSnOZfcIYG6GVRMvgy1mYI5fHp4="),
        ],
    ),
];

#[test]
fn icmp_flows_have_the_reference_implementations_community_id() {
    for (pcap, want) in ICMP_FLOWS {
        let (flows, err) = meter_file(&data_dir().join(pcap), Profile::Cic);
        assert!(err.is_none(), "{pcap}: {err:?}");
        let got: Vec<(String, String, u8, String)> = flows
            .iter()
            .filter(|r| r.proto == 1 || r.proto == 58)
            .map(|r| {
                (
                    r.src.to_string(),
                    r.dst.to_string(),
                    r.feature(flow::F::IcmpType) as u8,
                    r.community_id().unwrap_or_default(),
                )
            })
            .collect();
        let want: Vec<(String, String, u8, String)> = want
            .iter()
            .map(|&(s, d, t, id)| (s.to_string(), d.to_string(), t, id.to_string()))
            .collect();
        assert_eq!(got, want, "{pcap}");
        // The `nfstream` profile keeps no ICMP type: those flows get none, the others theirs.
        let (nfs, _) = meter_file(&data_dir().join(pcap), Profile::Nfstream);
        for r in &nfs {
            let icmp = r.proto == 1 || r.proto == 58;
            assert_eq!(r.community_id().is_none(), icmp, "{pcap}: {}", r.flow_id());
        }
    }
}

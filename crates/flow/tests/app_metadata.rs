//! Application metadata against tshark: every DNS query name, TLS server name and HTTP host
//! tshark finds in a TCP/UDP conversation, netvigil reports on a flow of that conversation.
//!
//! Not compared, because netvigil does not read them (docs/features.md): names quoted inside
//! ICMP errors, TLS server names of QUIC Initial packets (tshark decrypts them), and the inner
//! conversations of tunnels the `cic` profile meters as outer packets (as the reference does).

/// Captures whose named conversations run inside a tunnel, with the tunnel.
const TUNNELLED: &[(&str, &str)] = &[
    ("nfstream/pcaps/4in6tunnel.pcap", "IPv4 in IPv6"),
    ("nfstream/pcaps/6in4tunnel.pcap", "IPv6 in IPv4"),
    ("zeek/Traces/tunnels/ayiya3.pcap", "AYIYA"),
    ("zeek/Traces/tunnels/geneve-47101.pcap", "Geneve"),
    ("zeek/Traces/tunnels/geneve-many-options.pcap", "Geneve"),
    (
        "zeek/Traces/tunnels/geneve-vxlan-dns-truncated.pcap",
        "Geneve and VXLAN",
    ),
    ("zeek/Traces/tunnels/gre-over-udp-4754.pcap", "GRE over UDP"),
    ("zeek/Traces/tunnels/gre-pptp.pcap", "GRE (PPTP)"),
    ("zeek/Traces/tunnels/gre-sample.pcap", "GRE"),
    ("zeek/Traces/tunnels/gtp/gtp7_ipv6.pcap", "GTP-U"),
];

mod common;

use std::collections::HashMap;
use std::net::IpAddr;

use common::{data_dir, meter_file};
use flow::{FlowRecord, Profile};
use serde_json::Value;

type Conv = (IpAddr, u16, IpAddr, u16, u8);

fn conv(a: IpAddr, ap: u16, b: IpAddr, bp: u16, proto: u8) -> Conv {
    if (a, ap) <= (b, bp) {
        (a, ap, b, bp, proto)
    } else {
        (b, bp, a, ap, proto)
    }
}

#[test]
fn dns_names_tls_server_names_and_http_hosts_match_tshark_per_conversation() {
    let data = data_dir();
    let index = std::fs::read_to_string(data.join("golden/tshark/INDEX.tsv"))
        .expect("golden/tshark/INDEX.tsv");
    let (mut compared, mut skipped) = (HashMap::<&str, u32>::new(), 0);
    let mut problems = Vec::new();
    for line in index.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (pcap, json, link) = (f[0], f[1], f[4]);
        if link.starts_with("ieee-802-11") || TUNNELLED.iter().any(|(p, _)| *p == pcap) {
            continue;
        }
        let j: Value = serde_json::from_str(
            &std::fs::read_to_string(data.join("golden/tshark").join(json)).unwrap(),
        )
        .unwrap();
        let fields = [
            ("dns_queries_by_stream", "dns"),
            ("tls_sni_by_stream", "tls"),
            ("http_hosts_by_stream", "http"),
        ];
        if fields
            .iter()
            .all(|(k, _)| j[k].as_array().is_none_or(|a| a.is_empty()))
        {
            continue;
        }
        let (flows, err) = meter_file(&data.join(pcap), Profile::Cic);
        assert!(err.is_none(), "{pcap}: {err:?}");
        let mut ours: HashMap<Conv, Vec<&FlowRecord>> = HashMap::new();
        for r in &flows {
            ours.entry(conv(r.src, r.sport, r.dst, r.dport, r.proto))
                .or_default()
                .push(r);
        }
        for (key, what) in fields {
            for e in j[key].as_array().into_iter().flatten() {
                let transport = e["transport"].as_str().unwrap();
                if e["in_icmp_error"].as_bool() == Some(true)
                    || (what == "tls" && transport == "udp")
                {
                    skipped += 1;
                    continue;
                }
                let proto = if transport == "tcp" { 6 } else { 17 };
                let ip = |k: &str| e[k].as_str().unwrap().parse::<IpAddr>().unwrap();
                let port = |k: &str| e[k].as_u64().unwrap() as u16;
                let c = conv(ip("src"), port("sport"), ip("dst"), port("dport"), proto);
                let values: Vec<&str> = e["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                let found: Vec<&str> = ours
                    .get(&c)
                    .into_iter()
                    .flatten()
                    .filter_map(|r| match what {
                        "dns" => r.app.dns_query(),
                        "tls" => r.app.tls_sni.as_deref(),
                        _ => r.app.http_host.as_deref(),
                    })
                    .collect();
                *compared.entry(what).or_default() += 1;
                let ok = !found.is_empty() && found.iter().all(|v| values.contains(v));
                if !ok {
                    problems.push(format!(
                        "{pcap}: {what} {c:?}: tshark {values:?}, netvigil {found:?}"
                    ));
                }
            }
        }
    }
    println!(
        "application metadata vs tshark: {compared:?} conversations compared, {skipped} not comparable (ICMP-quoted, QUIC); \
         tunnelled captures left out: {TUNNELLED:?}"
    );
    for p in &problems {
        println!("  {p}");
    }
    assert!(compared.values().sum::<u32>() > 400, "{compared:?}");
    assert!(problems.is_empty(), "{} differences", problems.len());
}

/// Per capture, the set of DNS names, TLS server names and HTTP hosts netvigil reports equals
/// tshark's, except for differences each explained by a rule checked here:
/// - tshark reads every packet; netvigil the first `INSPECT_PACKETS` payload packets of a flow,
///   so a name only in a later packet of a long flow (DNS tunnels, exfiltration) is missing;
/// - tshark decrypts QUIC Initial packets (TLS over UDP) and dissects names quoted inside ICMP
///   errors; netvigil does neither;
/// - netvigil recognises a TLS ClientHello on any TCP port by its bytes, tshark only where a
///   dissector hands the stream to TLS (not on 8080, decoded as HTTP, nor 3389, decoded as RDP);
/// - tunnelled captures (above) are checked one-sidedly: netvigil's names ⊆ tshark's.
#[test]
fn name_sets_per_capture_equal_tshark_with_every_difference_explained() {
    let data = data_dir();
    let mut problems = Vec::new();
    let mut explained: HashMap<&str, u32> = HashMap::new();
    let (mut files, mut equal) = (0, 0);
    for (pcap, j) in common::tshark_golden() {
        if j["link_type"]
            .as_str()
            .is_some_and(|l| l.starts_with("ieee-802-11"))
        {
            continue;
        }
        let (flows, err) = meter_file(&data.join(&pcap), Profile::Cic);
        assert!(err.is_none(), "{pcap}: {err:?}");
        let tunnelled = TUNNELLED.iter().any(|(p, _)| *p == pcap);
        let mut all_equal = true;
        for (key, by_stream, what) in [
            ("dns_queries", "dns_queries_by_stream", "dns"),
            ("tls_sni", "tls_sni_by_stream", "tls"),
            ("http_hosts", "http_hosts_by_stream", "http"),
        ] {
            let theirs: std::collections::BTreeSet<&str> = j[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let mut ours: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
            for r in &flows {
                match what {
                    "dns" => ours.extend(r.app.dns_queries.iter().map(String::as_str)),
                    "tls" => ours.extend(r.app.tls_sni.as_deref()),
                    _ => ours.extend(r.app.http_host.as_deref()),
                }
            }
            all_equal &= theirs == ours;
            for v in ours.difference(&theirs) {
                let ports: Vec<u16> = flows
                    .iter()
                    .filter(|r| r.app.tls_sni.as_deref() == Some(v))
                    .map(|r| r.dport)
                    .collect();
                if what == "tls"
                    && !ports.is_empty()
                    && ports.iter().all(|p| matches!(p, 8080 | 3389))
                {
                    *explained
                        .entry("TLS on a port tshark decodes as another protocol")
                        .or_default() += 1;
                } else {
                    problems.push(format!("{pcap}: {what} {v:?} only in netvigil"));
                }
            }
            if tunnelled {
                continue;
            }
            for v in theirs.difference(&ours) {
                let entries: Vec<&Value> = j[by_stream]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["values"].as_array().unwrap().iter().any(|x| x == v))
                    .collect();
                let reason = entries.iter().find_map(|e| {
                    if e["in_icmp_error"].as_bool() == Some(true) {
                        return Some("quoted inside an ICMP error");
                    }
                    let transport = e["transport"].as_str().unwrap();
                    if what == "tls" && transport == "udp" {
                        return Some("QUIC Initial (tshark decrypts it)");
                    }
                    let proto = if transport == "tcp" { 6 } else { 17 };
                    let ip = |k: &str| e[k].as_str().unwrap().parse::<IpAddr>().unwrap();
                    let port = |k: &str| e[k].as_u64().unwrap() as u16;
                    let c = conv(ip("src"), port("sport"), ip("dst"), port("dport"), proto);
                    let long = flows
                        .iter()
                        .filter(|r| conv(r.src, r.sport, r.dst, r.dport, r.proto) == c)
                        .any(|r| r.total_packets() > flow::app::INSPECT_PACKETS as u64);
                    long.then_some("after the first 16 payload packets of a long flow")
                });
                match reason {
                    Some(r) => *explained.entry(r).or_default() += 1,
                    None => problems.push(format!("{pcap}: {what} {v:?} only in tshark")),
                }
            }
        }
        files += 1;
        equal += all_equal as u32;
    }
    println!("name sets: {equal}/{files} captures equal to tshark's; explained differences: {explained:?}");
    for p in &problems {
        println!("  {p}");
    }
    assert!(
        problems.is_empty(),
        "{} unexplained differences",
        problems.len()
    );
    assert!(equal >= 100, "{equal}");
}

/// What one flow's first HTTP request says: (source port, destination port, request target,
/// User-Agent).
type HttpFirst = (u16, u16, Option<&'static str>, Option<&'static str>);

/// Request target and User-Agent of every flow with an HTTP request in a few captures, as
/// tshark 4.0.17 reads the first request of each conversation:
/// `tshark -r F -Y http.request -T fields -e tcp.srcport -e udp.srcport -e tcp.dstport
/// -e udp.dstport -e http.request.uri -e http.user_agent`. Where netvigil differs by rule
/// (docs/features.md), tshark's value is in a comment: a target is read up to the version
/// (tshark stops at the first space), and a User-Agent in a later segment is not seen.
const HTTP_FIRST_REQUESTS: &[(&str, &[HttpFirst])] = &[
    (
        "ndpi/pcap/ipp.pcap",
        &[
            (55341, 631, Some("/ipp/"), Some("CUPS/1.3.4")),
            (55342, 631, Some("/ipp/"), Some("CUPS/1.3.4")),
            (55343, 631, Some("/ipp/"), Some("CUPS/1.3.4")),
        ],
    ),
    (
        "nfstream/pcaps/webex.pcap",
        &[
            (
                59756,
                80,
                Some("/json/1.3/registerDevice"),
                Some("Dalvik/1.6.0 (Linux; U; Android 4.4.2; LG-D855 Build/KVT49L.A1412087656)"),
            ),
            (
                59757,
                80,
                Some("/json/1.3/applicationOpen"),
                Some("Dalvik/1.6.0 (Linux; U; Android 4.4.2; LG-D855 Build/KVT49L.A1412087656)"),
            ),
        ],
    ),
    (
        // SSDP searches over UDP, and HTTP to a captive-portal check and to TVs.
        "nfstream/pcaps/anyconnect-vpn.pcap",
        &[
            (
                56884,
                80,
                Some("/success.txt?ipv4"),
                Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.13; rv:69.0) Gecko/20100101 Firefox/69.0"),
            ),
            (
                56917,
                80,
                Some("/success.txt"),
                Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.13; rv:69.0) Gecko/20100101 Firefox/69.0"),
            ),
            (
                56954,
                8008,
                Some("/ssdp/device-desc.xml"),
                Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/77.0.3865.90 Safari/537.36"),
            ),
            (
                56955,
                8060,
                Some("/dial/dd.xml"),
                Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/77.0.3865.90 Safari/537.36"),
            ),
            (57547, 1900, Some("*"), Some("Google Chrome/77.0.3865.90 Mac OS X")),
            (61328, 1900, Some("*"), Some("Google Chrome/77.0.3865.90 Mac OS X")),
        ],
    ),
    (
        // The request's header lines come one segment each: tshark, reassembling, shows
        // User-Agent "uclient-fetch".
        "nfstream/pcaps/http-lines-split.pcap",
        &[(39236, 31337, Some("/"), None)],
    ),
    (
        // `CONNECT mailin03.sul.t-online.de:25 / HTTP/1.0`: tshark's target is
        // "mailin03.sul.t-online.de:25".
        "zeek/Traces/http/connect-with-smtp.pcap",
        &[(3378, 8240, Some("mailin03.sul.t-online.de:25 /"), None)],
    ),
    (
        // `POST  /  HTTP/1.0`, two spaces each side: tshark's target is "" (between the
        // first two spaces).
        "suricata-verify/tests/detect-pcre/detect-pcre-04/input.pcap",
        &[
            (6666, 63, Some("/"), Some("Mozilla")),
            (6666, 93, Some("/"), Some("Mozilla")),
        ],
    ),
];

#[test]
fn http_request_targets_and_user_agents_match_tshark_in_named_captures() {
    for (pcap, want) in HTTP_FIRST_REQUESTS {
        let (flows, err) = meter_file(&data_dir().join(pcap), Profile::Cic);
        assert!(err.is_none(), "{pcap}: {err:?}");
        let mut got: Vec<(u16, u16, Option<&str>, Option<&str>)> = flows
            .iter()
            .filter(|r| r.app.http_method.is_some())
            .map(|r| {
                (
                    r.sport,
                    r.dport,
                    r.app.http_uri.as_deref(),
                    r.app.http_user_agent.as_deref(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(got, *want, "{pcap}");
    }
}

/// A Nikto probe with a command in its target (ndpi/pcap/WebattackRCE.pcap, frame 535): the
/// target is kept whole up to the version, as Zeek reads it; tshark 4.0 shows
/// "/cgi-bin/handler/netsonar;cat" and calls the rest the version.
#[test]
fn a_target_with_spaces_is_kept_up_to_the_version() {
    let (flows, err) = meter_file(
        &data_dir().join("ndpi/pcap/WebattackRCE.pcap"),
        Profile::Cic,
    );
    assert!(err.is_none(), "{err:?}");
    let injected: Vec<(u16, Option<&str>, Option<&str>)> = flows
        .iter()
        .filter(|r| {
            r.app
                .http_uri
                .as_deref()
                .is_some_and(|u| u.contains("netsonar"))
        })
        .map(|r| {
            (
                r.sport,
                r.app.http_uri.as_deref(),
                r.app.http_user_agent.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        injected,
        [(
            50632,
            Some("/cgi-bin/handler/netsonar;cat /etc/passwd|?data=Download"),
            Some("Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:001070)")
        )]
    );
}

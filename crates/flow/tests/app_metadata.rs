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
                        "dns" => r.app.dns_query.as_deref(),
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

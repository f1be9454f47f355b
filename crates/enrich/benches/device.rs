//! What the device parsers cost on the hot path (run on purpose, not by default):
//!
//! `cargo bench -p netvigil-enrich --bench device`
//!
//! Times the gate over every decoded packet of a mix of captures, the parsing of the frames it lets through, and the inventory's update.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use enrich::device::parse::{self, Observation};
use enrich::device::Inventory;
use packet::{decode, DecodeOptions, Decoded};

/// Office and home traffic with announcements (mDNS, NetBIOS, DHCP, ARP), bulk TCP, and one
/// SYN flood (where the gate lets every packet through).
const MIX: &[&str] = &[
    "nfstream/pcaps/telegram.pcap",
    "nfstream/pcaps/skype_no_unknown.pcap",
    "nfstream/pcaps/mdns.pcap",
    "nfstream/pcaps/anyconnect-vpn.pcap",
    "nfstream/pcaps/webex.pcap",
    "nfstream/pcaps/ftp.pcap",
    "ndpi/pcap/netflix.pcap",
    "suricata-verify/tests/base64-decode-5885/input.pcap",
    "suricata-verify/tests/smb2-03-rule/smb2.pcap",
    "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/ftp-crack.pcap",
    "lucid-cicddos2019/CIC-DDoS-2019-SynFlood.pcap",
];

fn main() {
    let (flood, rest): (Vec<&str>, Vec<&str>) = MIX.iter().partition(|r| r.contains("Flood"));
    for (label, files) in [
        ("without the SYN flood", rest),
        ("the SYN flood alone", flood),
    ] {
        let mut frames = Vec::new();
        for rel in files {
            frames.extend(support::frames(&support::capture(rel)));
        }
        measure(label, &frames);
    }
}

fn kind(o: &parse::Observations) -> &'static str {
    match o.items.first() {
        Some(Observation::Arp(_)) => "ARP",
        Some(Observation::Dhcp(_)) => "DHCP",
        Some(Observation::Names(n)) => match n.resolver {
            parse::Resolver::Mdns => "mDNS",
            parse::Resolver::Llmnr => "LLMNR",
            parse::Resolver::Dns => "DNS PTR",
        },
        Some(Observation::Nbns(_)) => "NBNS",
        Some(Observation::Ndp(_)) => "NDP",
        Some(Observation::TcpSyn(_)) => "TCP SYN",
        None => "nothing",
    }
}

fn measure(label: &str, frames: &[support::Frame]) {
    let opts = DecodeOptions::default();
    let decoded: Vec<Decoded<'_>> = frames
        .iter()
        .filter_map(|f| decode(f.link, f.ts, f.data.len() as u32, &f.data, &opts).ok())
        .collect();
    let n = decoded.len();
    assert!(n > 10_000, "{n} packets");

    let rounds = 200;
    let start = Instant::now();
    let mut wanted = 0usize;
    for _ in 0..rounds {
        for d in &decoded {
            wanted += parse::wants_decoded(black_box(d)) as usize;
        }
    }
    let gate_ns = start.elapsed().as_nanos() as f64 / (rounds * n) as f64;
    let wanted = wanted / rounds;

    let chosen: Vec<&support::Frame> = frames
        .iter()
        .filter(|f| {
            decode(f.link, f.ts, f.data.len() as u32, &f.data, &opts)
                .is_ok_and(|d| parse::wants_decoded(&d))
        })
        .collect();
    let rounds = 20u32;
    let mut per_kind: BTreeMap<&str, (u128, u32)> = BTreeMap::new();
    let mut total = 0u128;
    for f in &chosen {
        let start = Instant::now();
        for _ in 0..rounds {
            black_box(parse::frame(f.link, black_box(&f.data)));
        }
        let ns = start.elapsed().as_nanos();
        total += ns;
        let e = per_kind
            .entry(kind(&parse::frame(f.link, &f.data)))
            .or_default();
        e.0 += ns;
        e.1 += rounds;
    }
    let parse_ns = total as f64 / (rounds as f64 * chosen.len() as f64);

    let parsed: Vec<_> = chosen
        .iter()
        .map(|f| (f.ts, parse::frame(f.link, &f.data)))
        .collect();
    let mut inv = Inventory::default();
    let start = Instant::now();
    for (ts, o) in &parsed {
        inv.observe(*ts, o);
    }
    let observe_ns = start.elapsed().as_nanos() as f64 / parsed.len() as f64;
    eprintln!(
        "{label}: {n} packets; gate {gate_ns:.2} ns/packet, {wanted} wanted ({:.1}%); \
         parse {parse_ns:.0} ns per wanted frame; observe {observe_ns:.0} ns per wanted frame \
         ({} devices)",
        100.0 * wanted as f64 / n as f64,
        inv.len()
    );
    for (k, (ns, count)) in per_kind {
        eprintln!(
            "  {k}: {} frames, {:.0} ns each",
            count / rounds,
            ns as f64 / count as f64
        );
    }
}

//! Application identification against nDPI: every flow of the shared nDPI captures
//! (`ndpi/result/*.out`, ndpiReader's labels, matched by protocol and endpoints) and of the
//! NFStream captures (`nfstream/results`, NFStream's `application_name` from nDPI, matched by
//! export order, which `parity_nfstream` proves equal), metered with `--profile nfstream`.
//! Only nDPI's own findings count as truth (confidence DPI, not a guess by port or address).
//! The table per protocol is printed and written to docs/applications.md by hand.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use common::{data_dir, meter_file, read_csv};
use flow::app::Application;
use flow::Profile;

/// The protocols netvigil claims to identify. Together they must agree with nDPI on ≥ 90 % of
/// the flows either side gives one of them, and so must each one that 20 flows or more have
/// (docs/applications.md explains the protocols below that with fewer flows).
const CLAIMED: &[Application] = &[
    Application::Http,
    Application::HttpConnect,
    Application::Tls,
    Application::Imaps,
    Application::Smtps,
    Application::Pops,
    Application::Dns,
    Application::Mdns,
    Application::Llmnr,
    Application::Ssdp,
    Application::Quic,
    Application::Ssh,
    Application::Smtp,
    Application::FtpControl,
    Application::Pop3,
    Application::Imap,
    Application::Dhcp,
    Application::Dhcpv6,
    Application::Ntp,
    Application::Stun,
    Application::NetBios,
    Application::Smb23,
    Application::Snmp,
    Application::Syslog,
    Application::BitTorrent,
    Application::Rdp,
    Application::Sip,
    Application::Rtsp,
    Application::Mqtt,
    Application::Kerberos,
    Application::Tftp,
    Application::Dtls,
    Application::WireGuard,
    Application::Telnet,
    Application::MySql,
    Application::Socks,
    Application::MsSqlTds,
    Application::Icmp,
    Application::Icmpv6,
    Application::Igmp,
    Application::IpSec,
    Application::Gre,
    Application::Ospf,
    Application::Vrrp,
];

/// nDPI's master protocol in a label: `TLS` of `TLS.Google`, `DHCP` of `CAPWAP:18/DHCP`.
fn master(label: &str) -> &str {
    let label = label.rsplit('/').next().unwrap_or(label);
    label.split('.').next().unwrap_or(label)
}

/// One protocol's row: (name, both, nDPI only, netvigil only, agreement).
type Row = (String, u64, u64, u64, f64);

/// Counts per protocol: flows both give it, flows only nDPI gives it, flows only we give it.
#[derive(Default)]
struct Tally {
    both: BTreeMap<String, u64>,
    theirs_only: BTreeMap<String, u64>,
    ours_only: BTreeMap<String, u64>,
    /// (capture, ours, theirs) of disagreements on a claimed protocol, for the report.
    misses: Vec<(String, String, String)>,
    compared: u64,
}

impl Tally {
    fn add(&mut self, capture: &str, ours: Application, theirs: &str) {
        self.compared += 1;
        let ours_name = if ours == Application::Unknown {
            "Unknown"
        } else {
            ours.as_str()
        };
        if ours_name == theirs {
            *self.both.entry(theirs.to_string()).or_default() += 1;
            return;
        }
        *self.theirs_only.entry(theirs.to_string()).or_default() += 1;
        *self.ours_only.entry(ours_name.to_string()).or_default() += 1;
        let claimed = |n: &str| CLAIMED.iter().any(|a| a.as_str() == n);
        if claimed(ours_name) || claimed(theirs) {
            self.misses.push((
                capture.to_string(),
                ours_name.to_string(),
                theirs.to_string(),
            ));
        }
    }

    /// (protocol, both, nDPI only, ours only, agreement) of each claimed protocol either side
    /// gave, and the total over them.
    fn table(&self) -> (Vec<Row>, (u64, u64)) {
        let mut rows = Vec::new();
        let (mut agree, mut either) = (0, 0);
        for a in CLAIMED {
            let n = a.as_str();
            let get = |m: &BTreeMap<String, u64>| m.get(n).copied().unwrap_or(0);
            let (b, t, o) = (
                get(&self.both),
                get(&self.theirs_only),
                get(&self.ours_only),
            );
            if b + t + o == 0 {
                continue;
            }
            agree += b;
            either += b + t + o;
            rows.push((n.to_string(), b, t, o, b as f64 / (b + t + o) as f64));
        }
        (rows, (agree, either))
    }
}

fn print(title: &str, t: &Tally) -> (u64, u64) {
    let (rows, (agree, either)) = t.table();
    println!("\n{title}: {} flows compared", t.compared);
    println!("| protocol | both | nDPI only | netvigil only | agreement |");
    println!("|---|---:|---:|---:|---:|");
    for (n, b, th, o, r) in &rows {
        println!("| {n} | {b} | {th} | {o} | {:.1} % |", r * 100.0);
    }
    println!(
        "| **all claimed** | {agree} | | | **{:.1} %** |",
        100.0 * agree as f64 / either.max(1) as f64
    );
    let mut misses: BTreeMap<(String, String), (u64, String)> = BTreeMap::new();
    for (c, o, th) in &t.misses {
        let e = misses
            .entry((o.clone(), th.clone()))
            .or_insert((0, c.clone()));
        e.0 += 1;
    }
    let mut misses: Vec<_> = misses.into_iter().collect();
    misses.sort_by_key(|m| std::cmp::Reverse(m.1 .0));
    for ((o, th), (n, c)) in misses.iter().take(40) {
        println!("  ours {o:<14} nDPI {th:<22} {n:>4} flows (e.g. {c})");
    }
    (agree, either)
}

fn proto_number(name: &str) -> Option<u8> {
    Some(match name {
        "TCP" => 6,
        "UDP" => 17,
        "ICMP" => 1,
        "ICMPV6" => 58,
        "IGMP" => 2,
        "ESP" => 50,
        "OSPF" => 89,
        "VRRP" => 112,
        "SCTP" => 132,
        "PGM" => 113,
        "GRE" => 47,
        _ => name.parse().ok()?,
    })
}

/// `1.2.3.4:80` or `[2001:db8::1]:443`.
fn endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = s.rsplit_once(':')?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    Some((ip.parse().ok()?, port.parse().ok()?))
}

type Key = (u8, (IpAddr, u16), (IpAddr, u16));

fn key(proto: u8, a: (IpAddr, u16), b: (IpAddr, u16)) -> Key {
    if a <= b {
        (proto, a, b)
    } else {
        (proto, b, a)
    }
}

/// The flows of one ndpiReader output: key → labels in the order listed (nDPI's master
/// protocol, or `None` where nDPI only guessed).
fn ndpi_flows(text: &str) -> HashMap<Key, Vec<Option<String>>> {
    let mut out: HashMap<Key, Vec<Option<String>>> = HashMap::new();
    for line in text.lines() {
        let Some(at) = line.find(" [proto: ") else {
            continue;
        };
        let mut head = line[..at].split_whitespace();
        let (Some(_), Some(proto), Some(a), Some(_arrow), Some(b)) = (
            head.next(),
            head.next(),
            head.next(),
            head.next(),
            head.next(),
        ) else {
            continue;
        };
        let (Some(proto), Some(a), Some(b)) = (proto_number(proto), endpoint(a), endpoint(b))
        else {
            continue;
        };
        let rest = &line[at + 9..];
        let label = &rest[..rest.find(']').unwrap_or(rest.len())];
        let confidence = line
            .split("[Confidence: ")
            .nth(1)
            .map(|c| &c[..c.find(']').unwrap_or(c.len())])
            .unwrap_or("");
        let truth = if confidence.starts_with("DPI") {
            Some(master(label).to_string())
        } else if confidence == "Unknown" {
            Some("Unknown".to_string())
        } else {
            None
        };
        out.entry(key(proto, a, b)).or_default().push(truth);
    }
    out
}

#[test]
fn application_identification_agrees_with_ndpi_on_the_protocols_netvigil_claims() {
    let data = data_dir();
    let map = std::fs::read_to_string(data.join("ndpi/PCAP_MAP.tsv")).expect("PCAP_MAP.tsv");
    let mut ndpi = Tally::default();
    let mut unmatched = 0;
    for line in map.lines().skip(1) {
        let Some((result, pcap)) = line.split_once('\t') else {
            continue;
        };
        let text = std::fs::read_to_string(data.join(result)).expect("result");
        let mut truth = ndpi_flows(&text);
        let (flows, _) = meter_file(&data.join(pcap), Profile::Nfstream);
        let name = pcap.rsplit('/').next().unwrap_or(pcap);
        for f in &flows {
            let k = key(f.proto, (f.src, f.sport), (f.dst, f.dport));
            let Some(list) = truth.get_mut(&k).filter(|l| !l.is_empty()) else {
                unmatched += 1;
                continue;
            };
            if let Some(theirs) = list.remove(0) {
                let at = format!("{name} {}:{}-{}:{}", f.src, f.sport, f.dst, f.dport);
                ndpi.add(&at, f.application, &theirs);
            }
        }
    }
    let (a1, e1) = print("nDPI (ndpiReader)", &ndpi);
    println!("  ({unmatched} of our flows had no nDPI flow with the same endpoints)");

    let dir = data.join("nfstream");
    let mut names: Vec<String> = std::fs::read_dir(dir.join("results"))
        .expect("nfstream/results")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    let mut nfs = Tally::default();
    for name in &names {
        let (header, rows) = read_csv(&dir.join("results").join(name));
        let col = |n: &str| header.iter().position(|h| h == n).expect(n);
        let (app, guessed) = (col("application_name"), col("application_is_guessed"));
        let (flows, _) = meter_file(&dir.join("pcaps").join(name), Profile::Nfstream);
        assert_eq!(flows.len(), rows.len(), "{name}");
        for (f, r) in flows.iter().zip(&rows) {
            if r[guessed] == "0" {
                nfs.add(name, f.application, master(&r[app]));
            }
        }
    }
    let (a2, e2) = print("NFStream (application_name)", &nfs);

    let (rows1, _) = ndpi.table();
    let (rows2, _) = nfs.table();
    let below: Vec<String> = rows1
        .iter()
        .chain(&rows2)
        .filter(|r| r.4 < 0.9 && r.1 + r.2 + r.3 >= 20)
        .map(|r| format!("{} {:.1} %", r.0, r.4 * 100.0))
        .collect();
    assert!(ndpi.compared > 4000 && nfs.compared > 1000);
    let overall = (a1 + a2) as f64 / (e1 + e2) as f64;
    assert!(overall >= 0.9, "overall agreement {:.3}", overall);
    assert!(below.is_empty(), "claimed protocols under 90 %: {below:?}");
}

//! Name announcements and answers against tshark's dissectors, record by record: mDNS and
//! LLMNR responses, DNS PTR answers, NetBIOS name registrations and answers. For every
//! capture, the frames tshark shows (filtered to what the parser reads) are exactly the frames
//! the parser returns names for, and each frame's records are the same multiset.

mod support;

use std::collections::BTreeMap;

use enrich::device::parse::{self, Observation, RecordData, Resolver};
use serde_json::Value;
use support::{capture, frames, objects, strings, tshark_json};

/// Our records of one resolver, by frame: `name|TYPE|data` strings, sorted.
fn our_records(rel: &str, resolver: Resolver) -> BTreeMap<usize, Vec<String>> {
    let mut out = BTreeMap::new();
    for f in frames(&capture(rel)) {
        for item in parse::frame(f.link, &f.data).items {
            let Observation::Names(n) = item else {
                continue;
            };
            if n.resolver != resolver {
                continue;
            }
            let mut v: Vec<String> = n
                .records
                .iter()
                .map(|r| {
                    let d = match &r.data {
                        RecordData::A(a) => format!("A|{a}"),
                        RecordData::Aaaa(a) => format!("AAAA|{a}"),
                        RecordData::Ptr(p) => format!("PTR|{p}"),
                        RecordData::Srv { target, port } => format!("SRV|{target}:{port}"),
                        RecordData::Txt(t) => format!("TXT|{}", t.join("|")),
                    };
                    format!("{}|{d}", r.name)
                })
                .collect();
            v.sort();
            assert!(
                out.insert(f.number, v).is_none(),
                "{rel}: one message per frame"
            );
        }
    }
    out
}

/// tshark's records of one DNS-format layer, by frame, kept as the parser keeps them.
fn tshark_records(rel: &str, resolver: Resolver) -> BTreeMap<usize, Vec<String>> {
    let (layer, filter, sections, types): (&str, &str, &[&str], &[&str]) = match resolver {
        Resolver::Mdns => (
            "mdns",
            "mdns",
            &["Answers", "Additional records"],
            &["1", "28", "12", "33", "16"],
        ),
        Resolver::Llmnr => ("llmnr", "llmnr", &["Answers"], &["1", "28"]),
        Resolver::Dns => (
            "dns",
            "dns && udp.srcport == 53 && dns.qry.type == 12",
            &["Answers"],
            &["12"],
        ),
    };
    let filter = format!(
        "{filter} && dns.flags.response == 1 && dns.flags.opcode == 0 && dns.flags.rcode == 0 \
         && !(ip && ipv6) && !vxlan && !gtp && !capwap"
    );
    let mut out = BTreeMap::new();
    for (n, l) in tshark_json(&capture(rel), &filter, layer) {
        let mut v = Vec::new();
        for s in sections {
            for r in objects(&l[*s]) {
                let t = strings(&r["dns.resp.type"])
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                if !types.contains(&t.as_str()) {
                    continue;
                }
                let one = |k: &str| strings(&r[k]).into_iter().next().unwrap_or_default();
                let name = if t == "33" {
                    // tshark 4.0 splits an SRV owner into service, protocol and name.
                    format!(
                        "{}.{}.{}",
                        one("dns.srv.service"),
                        one("dns.srv.proto"),
                        one("dns.srv.name")
                    )
                } else {
                    one("dns.resp.name")
                };
                let d = match t.as_str() {
                    "1" => format!("A|{}", one("dns.a")),
                    "28" => format!("AAAA|{}", one("dns.aaaa")),
                    "12" => format!("PTR|{}", one("dns.ptr.domain_name")),
                    "33" => format!("SRV|{}:{}", one("dns.srv.target"), one("dns.srv.port")),
                    _ => {
                        let txt: Vec<String> = strings(&r["dns.txt"])
                            .into_iter()
                            .filter(|s| !s.is_empty())
                            .collect();
                        format!("TXT|{}", txt.join("|"))
                    }
                };
                v.push(escape(&format!("{name}|{d}")));
            }
        }
        if !v.is_empty() {
            v.sort();
            out.insert(n, v);
        }
    }
    out
}

/// tshark's JSON carries control characters as they are; the parsers escape them (`\x1e`) so
/// that a name cannot break a log line or a terminal.
fn escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                format!("\\x{:02x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn compare(files: &[&str], resolver: Resolver) -> (usize, usize) {
    let (mut frames_compared, mut records) = (0, 0);
    for rel in files {
        let ours = our_records(rel, resolver);
        let theirs = tshark_records(rel, resolver);
        let keys = |m: &BTreeMap<usize, Vec<String>>| m.keys().copied().collect::<Vec<_>>();
        assert_eq!(keys(&ours), keys(&theirs), "{rel}: {resolver:?} frames");
        for (n, t) in &theirs {
            assert_eq!(&ours[n], t, "{rel} frame {n}: {resolver:?} records");
            records += t.len();
        }
        frames_compared += theirs.len();
    }
    (frames_compared, records)
}

#[test]
fn mdns_matches_tshark() {
    let (frames, records) = compare(
        &[
            "nfstream/pcaps/mdns.pcap",
            "nfstream/pcaps/telegram.pcap",
            "nfstream/pcaps/whatsapp_login_call.pcap",
            "ndpi/pcap/anyconnect-vpn.pcap",
            "suricata-verify/tests/base64-decode-5885/input.pcap",
            "zeek/Traces/wikipedia.pcap",
        ],
        Resolver::Mdns,
    );
    eprintln!("mDNS: {frames} responses, {records} records compared");
    assert!(frames >= 100 && records >= 1000, "{frames} {records}");
}

/// No capture of the shared data holds an LLMNR response (only queries), so responses are
/// made from the real queries of two captures: the QR bit set, and one answer appended that
/// gives the asker's own address for the name asked (A over IPv4, AAAA over IPv6), lengths
/// fixed. tshark then reads the same file.
#[test]
fn llmnr_matches_tshark() {
    let sources = [
        "suricata-verify/tests/base64-decode-5885/input.pcap",
        "suricata-verify/tests/smb2-07/20171220_smb_psexec_add_user.pcap",
    ];
    let dir = std::env::temp_dir().join(format!("netvigil-llmnr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (i, rel) in sources.iter().enumerate() {
        let out = dir.join(format!("responses-{i}.pcap"));
        let mut w = packet::writer::PcapWriter::new(
            std::fs::File::create(&out).unwrap(),
            packet::LinkType::ETHERNET,
            65535,
        )
        .unwrap();
        let mut made = 0;
        for f in frames(&capture(rel)) {
            if let Some(r) = llmnr_response(&f.data) {
                w.write(f.ts, &r, r.len() as u32).unwrap();
                made += 1;
            }
        }
        w.finish().unwrap();
        assert!(made > 0, "{rel}: no LLMNR query");
        files.push(out);
    }
    let rels: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let rels: Vec<&str> = rels.iter().map(String::as_str).collect();
    let (frames, records) = compare(&rels, Resolver::Llmnr);
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("LLMNR: {frames} responses, {records} records compared");
    assert!(frames >= 20 && records == frames, "{frames} {records}");
}

/// An Ethernet frame of an LLMNR query turned into the asker's own answer (see above).
fn llmnr_response(frame: &[u8]) -> Option<Vec<u8>> {
    let opts = packet::DecodeOptions::default();
    let m = match packet::decode(
        packet::LinkType::ETHERNET,
        packet::Timestamp(0),
        frame.len() as u32,
        frame,
        &opts,
    ) {
        Ok(packet::Decoded::Ip(m)) if m.proto == 17 && m.dport == 5355 => m,
        _ => return None,
    };
    let ip = m.ip_offset as usize;
    let udp = ip + m.ip_header_len as usize;
    let dns = udp + 8;
    let end = dns + m.payload_len as usize;
    let mut f = frame.get(..end)?.to_vec();
    if f.get(dns + 2)? & 0x80 != 0 || f[dns + 4..dns + 6] != [0, 1] {
        return None;
    }
    f[dns + 2] |= 0x80;
    f[dns + 7] = 1;
    let src = m.src.0;
    let (ty, addr): (u8, &[u8]) = if m.ip_version == 4 {
        (1, &src[12..])
    } else {
        (28, &src[..])
    };
    f.extend_from_slice(&[0xc0, 12, 0, ty, 0, 1, 0, 0, 0, 30, 0, addr.len() as u8]);
    f.extend_from_slice(addr);
    let grown = (f.len() - end) as u16;
    let add = |f: &mut Vec<u8>, at: usize| {
        let v = u16::from_be_bytes([f[at], f[at + 1]]) + grown;
        f[at..at + 2].copy_from_slice(&v.to_be_bytes());
    };
    if m.ip_version == 4 {
        add(&mut f, ip + 2);
    } else {
        add(&mut f, ip + 4);
    }
    add(&mut f, udp + 4);
    // Checksums are left stale: tshark does not check them by default, nor does the parser.
    Some(f)
}

#[test]
fn dns_ptr_answers_match_tshark() {
    let (frames, records) = compare(
        &[
            "chrissanders-packets/dns_reverse_lookup.pcapng",
            "chrissanders-packets/dns_lab.pcapng",
            "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/evilprogram.pcap",
            "nfstream/pcaps/telegram.pcap",
        ],
        Resolver::Dns,
    );
    eprintln!("DNS: {frames} PTR responses, {records} records compared");
    assert!(frames >= 1 && records >= 1, "{frames} {records}");
}

/// NetBIOS names as tshark shows them: `NAME<xx>` with non-printable bytes as `<xx>`, without
/// the service description it appends to a record's name.
fn tshark_nbns(rel: &str) -> BTreeMap<usize, Vec<String>> {
    let filter = "nbns && ((nbns.flags.response == 0 && (nbns.flags.opcode == 5 \
                  || nbns.flags.opcode == 8 || nbns.flags.opcode == 9)) \
                  || (nbns.flags.response == 1 && nbns.flags.rcode == 0 \
                  && (nbns.flags.opcode == 0 || nbns.flags.opcode == 5)))";
    let mut out = BTreeMap::new();
    for (n, l) in tshark_json(&capture(rel), filter, "nbns") {
        let mut v = Vec::new();
        for s in ["Answers", "Additional records"] {
            for r in objects(&l[s]) {
                if strings(&r["nbns.type"]) != ["32"] {
                    continue;
                }
                let name = strings(&r["nbns.name"])
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                let name = name.split(" (").next().unwrap_or_default().to_string();
                let groups = strings(&r["nbns.nb_flags_tree"]["nbns.nb_flags.group"]);
                let addrs = strings(&r["nbns.addr"]);
                let mut groups: Vec<String> = groups;
                if let Value::Array(a) = &r["nbns.nb_flags_tree"] {
                    groups = a
                        .iter()
                        .flat_map(|x| strings(&x["nbns.nb_flags.group"]))
                        .collect();
                }
                assert_eq!(groups.len(), addrs.len(), "{rel} frame {n}: NB entries");
                for (g, a) in groups.iter().zip(&addrs) {
                    v.push(format!("{name}|{g}|{a}"));
                }
            }
        }
        if !v.is_empty() {
            v.sort();
            out.insert(n, v);
        }
    }
    out
}

#[test]
fn netbios_names_match_tshark() {
    let files = [
        "nfstream/pcaps/dos_win98_smb_netbeui.pcap",
        "nfstream/pcaps/skype_no_unknown.pcap",
        "ndpi/pcap/anyconnect-vpn.pcap",
        "suricata-verify/tests/bug-5162/input.pcap",
        "suricata-verify/tests/base64-decode-5885/input.pcap",
        "markofu-pcaps/EvilFingers/Ravinder/EasyMail_ActiveX_(emmailstore.dll_6.5.0.3)_Buffer_Overflow_Exploit.pcap",
    ];
    let (mut frames_compared, mut names, mut hosts) = (0, 0, 0);
    for rel in files {
        let mut ours = BTreeMap::new();
        for f in frames(&capture(rel)) {
            for item in parse::frame(f.link, &f.data).items {
                if let Observation::Nbns(n) = item {
                    let mut v: Vec<String> = n
                        .names
                        .iter()
                        .map(|x| format!("{}|{}|{}", x.display(), x.group as u8, x.addr))
                        .collect();
                    v.sort();
                    hosts += n.names.iter().filter(|x| x.is_host()).count();
                    ours.insert(f.number, v);
                }
            }
        }
        let theirs = tshark_nbns(rel);
        let keys = |m: &BTreeMap<usize, Vec<String>>| m.keys().copied().collect::<Vec<_>>();
        assert_eq!(keys(&ours), keys(&theirs), "{rel}: NBNS frames");
        for (n, t) in &theirs {
            assert_eq!(&ours[n], t, "{rel} frame {n}: NetBIOS names");
            names += t.len();
        }
        frames_compared += theirs.len();
    }
    eprintln!("NBNS: {frames_compared} messages, {names} names ({hosts} host names) compared");
    assert!(
        frames_compared >= 30 && hosts >= 10,
        "{frames_compared} {hosts}"
    );
}

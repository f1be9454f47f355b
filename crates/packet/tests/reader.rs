//! Capture readers: every frame of real captures in every supported format and link type,
//! with the timestamps and lengths their records hold; several files merged in time order.

use std::io::Write;
use std::path::{Path, PathBuf};

use packet::source::expand_inputs;
use packet::writer::PcapWriter;
use packet::{FileSource, LinkType, MergedSource, PacketSource, SourceError, Timestamp};

fn data_dir() -> PathBuf {
    match std::env::var_os("NETVIGIL_DATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

type Scan = (u64, u64, Vec<Timestamp>, Vec<LinkType>);

/// (frames, Σ wire length, timestamps, link types) of a whole file.
fn scan(path: &Path) -> Result<Scan, SourceError> {
    let mut src = FileSource::open(path, 0)?;
    let (mut n, mut bytes, mut ts, mut links) = (0, 0, Vec::new(), Vec::new());
    while let Some(p) = src.next_packet()? {
        n += 1;
        bytes += p.wire_len as u64;
        ts.push(p.ts);
        if !links.contains(&p.link) {
            links.push(p.link);
        }
    }
    Ok((n, bytes, ts, links))
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netvigil-reader-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn reads_every_frame_and_wire_byte_that_tshark_reads() {
    let data = data_dir();
    let index = std::fs::read_to_string(data.join("golden/tshark/INDEX.tsv"))
        .expect("golden/tshark/INDEX.tsv");
    let (mut checked, mut skipped) = (0, Vec::new());
    for line in index.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (pcap, link, frames, frame_bytes): (&str, &str, u64, u64) =
            (f[0], f[4], f[5].parse().unwrap(), f[6].parse().unwrap());
        match scan(&data.join(pcap)) {
            Ok((n, bytes, _, _)) => {
                assert_eq!(
                    (n, bytes),
                    (frames, frame_bytes),
                    "{pcap}: frames and wire bytes"
                );
                checked += 1;
            }
            // 802.11 captures are the only link types netvigil does not decode.
            Err(SourceError::UnknownLinkType { .. }) if link.starts_with("ieee-802-11") => {
                skipped.push(pcap)
            }
            Err(e) => panic!("{pcap}: {e}"),
        }
    }
    println!("{checked} captures read like tshark; skipped (802.11): {skipped:?}");
    assert_eq!(checked + skipped.len(), 125);
    assert_eq!(skipped.len(), 2);
}

#[test]
fn big_endian_and_little_endian_pcapng_of_one_capture_read_the_same() {
    let d = data_dir().join("nfstream/pcaps");
    let be = scan(&d.join("dhcp_big_endian.pcapng")).unwrap();
    let le = scan(&d.join("dhcp_little_endian.pcapng")).unwrap();
    assert_eq!((be.0, be.1, &be.2), (le.0, le.1, &le.2));
    assert!(be.0 > 0);
}

#[test]
fn big_endian_microsecond_pcap_has_plausible_increasing_times() {
    let (n, _, ts, links) = scan(&data_dir().join("ndpi/pcap/sctp.cap")).unwrap();
    assert!(n > 0);
    assert_eq!(links, vec![LinkType::ETHERNET]);
    // 2000-01-01 .. 2030-01-01
    assert!(
        ts.iter()
            .all(|t| t.0 > 946_684_800_000_000 && t.0 < 1_893_456_000_000_000),
        "{:?}",
        &ts[..3]
    );
}

#[test]
fn nanosecond_pcap_timestamps_truncate_to_microseconds() {
    let path = data_dir().join("zeek/Traces/vntag.pcap");
    let raw = std::fs::read(&path).unwrap();
    assert_eq!(
        &raw[..4],
        &[0x4d, 0x3c, 0xb2, 0xa1],
        "a little-endian nanosecond pcap"
    );
    let sec = u32::from_le_bytes(raw[24..28].try_into().unwrap()) as i64;
    let nsec = u32::from_le_bytes(raw[28..32].try_into().unwrap()) as i64;
    let (_, _, ts, _) = scan(&path).unwrap();
    assert_eq!(ts[0].0, sec * 1_000_000 + nsec / 1000);
}

#[test]
fn pcapng_interfaces_keep_their_own_time_resolution() {
    // Interfaces with if_tsresol 6 and 9 in one file: every packet lands in the capture's era.
    let (n, _, ts, _) = scan(&data_dir().join("ndpi/pcap/dns-google-nsid.pcapng")).unwrap();
    assert!(n > 0);
    assert!(ts
        .iter()
        .all(|t| t.0 > 1_262_304_000_000_000 && t.0 < 1_893_456_000_000_000));
}

fn block(out: &mut Vec<u8>, ty: u32, body: &[u8]) {
    let len = 12 + body.len().div_ceil(4) * 4;
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + (len - 12 - body.len()), 0);
    out.extend_from_slice(&(len as u32).to_le_bytes());
}

fn idb(link: u16, tsresol: u8) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&link.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&[9, 0, 1, 0, tsresol, 0, 0, 0]); // if_tsresol
    b.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
    b
}

fn epb(ifid: u32, ts: u64, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&ifid.to_le_bytes());
    b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    b.extend_from_slice(&(ts as u32).to_le_bytes());
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    b.resize(20 + data.len().div_ceil(4) * 4, 0);
    b
}

/// A pcapng with two interfaces of different link types and resolutions, written by hand.
fn two_interface_pcapng(path: &Path) {
    let mut f = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut f, 0x0A0D_0D0A, &shb);
    block(&mut f, 1, &idb(1, 6));
    block(&mut f, 1, &idb(101, 9));
    let mut ipv4_udp = vec![
        0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ipv4_udp.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 8, 0, 0]);
    let mut eth = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    eth.extend_from_slice(&ipv4_udp);
    // 1 700 000 000.123456 s in µs on interface 0, 1 700 000 001.987654321 s in ns on interface 1.
    block(&mut f, 6, &epb(0, 1_700_000_000_123_456, &eth));
    block(&mut f, 6, &epb(1, 1_700_000_001_987_654_321, &ipv4_udp));
    std::fs::write(path, f).unwrap();
}

#[test]
fn pcapng_with_two_link_types_and_resolutions_reads_each_packet_with_its_interface() {
    let dir = temp("two-if");
    let path = dir.join("two.pcapng");
    two_interface_pcapng(&path);
    let mut src = FileSource::open(&path, 0).unwrap();
    let a = src
        .next_packet()
        .unwrap()
        .map(|p| (p.ts, p.link, p.data.len()))
        .unwrap();
    let b = src
        .next_packet()
        .unwrap()
        .map(|p| (p.ts, p.link, p.data.len()))
        .unwrap();
    assert!(src.next_packet().unwrap().is_none());
    assert_eq!(
        a,
        (Timestamp(1_700_000_000_123_456), LinkType::ETHERNET, 42)
    );
    assert_eq!(b, (Timestamp(1_700_000_001_987_654), LinkType::RAW, 28));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn several_files_merge_into_one_time_ordered_stream() {
    // Split a real capture into its even and odd packets, then merge the two halves back.
    let orig = data_dir().join("chrissanders-packets/http_espn.pcapng");
    let dir = temp("merge");
    let (even, odd) = (dir.join("even.pcap"), dir.join("odd.pcap"));
    let mut src = FileSource::open(&orig, 0).unwrap();
    let mut we = PcapWriter::new(
        std::fs::File::create(&even).unwrap(),
        LinkType::ETHERNET,
        65535,
    )
    .unwrap();
    let mut wo = PcapWriter::new(
        std::fs::File::create(&odd).unwrap(),
        LinkType::ETHERNET,
        65535,
    )
    .unwrap();
    let mut all = Vec::new();
    let mut i = 0;
    while let Some(p) = src.next_packet().unwrap() {
        let w = if i % 2 == 0 { &mut we } else { &mut wo };
        w.write(p.ts, p.data, p.wire_len).unwrap();
        all.push((p.ts, p.data.to_vec()));
        i += 1;
    }
    we.finish().unwrap().flush().unwrap();
    wo.finish().unwrap().flush().unwrap();
    all.sort_by_key(|x| x.0);
    // Files listed out of order, and a directory expansion, give the same stream.
    for inputs in [
        vec![odd.clone(), even.clone()],
        expand_inputs(std::slice::from_ref(&dir)).unwrap(),
    ] {
        let mut m = MergedSource::new(inputs);
        let mut merged = Vec::new();
        while let Some(p) = m.next_packet().unwrap() {
            merged.push((p.ts, p.data.to_vec()));
        }
        assert_eq!(merged, all);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

//! The ring's behaviour: rotation, read-back, location, recovery, failures.
use super::*;
use packet::{FileSource, PacketSource, Timestamp};

/// A packet as written: time, input, captured bytes, original length.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pkt {
    ts: i64,
    input: usize,
    data: Vec<u8>,
    wire_len: u32,
}

const BASE_US: i64 = 1_783_000_000_000_000;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nv-ring-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn cfg(dir: &Path, rotate_bytes: u64, keep: usize) -> RingConfig {
    RingConfig {
        dir: dir.to_path_buf(),
        rotate_bytes,
        keep,
        prefix: "netvigil".into(),
    }
}

fn eth() -> Vec<(String, LinkType, u32)> {
    vec![("eth0".into(), LinkType::ETHERNET, 65_535)]
}

/// Packet `i`: sizes 60..1500, times 1 ms apart with up to ±2.5 ms of disorder when
/// `jitter`.
fn make(i: usize, inputs: usize, jitter: bool) -> Pkt {
    let len = 60 + (i * 37) % 1441;
    let data: Vec<u8> = (0..len).map(|k| (k * 31 + i * 7) as u8).collect();
    let j = if jitter {
        ((i * 7919) % 5000) as i64 - 2500
    } else {
        0
    };
    Pkt {
        ts: BASE_US + i as i64 * 1000 + j,
        input: i % inputs,
        wire_len: len as u32 + (i % 3) as u32 * 10,
        data,
    }
}

fn write(ring: &mut PcapngRing, p: &Pkt, links: &[(String, LinkType, u32)]) {
    ring.write(&RawPacket {
        ts: Timestamp(p.ts),
        link: links[p.input].1,
        wire_len: p.wire_len,
        data: &p.data,
        offset: 0,
        input: p.input,
    })
    .unwrap();
}

/// The ring's files in the directory, by sequence number.
fn ring_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let n = parse_name("netvigil", e.file_name().to_str()?)?;
            Some((n.seq, e.path()))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

/// Every packet of a file, read with our pcapng reader, with its link type.
fn read_file(path: &Path, links: &[(String, LinkType, u32)]) -> Vec<Pkt> {
    let mut src = FileSource::open(path, 0).unwrap();
    let mut out = Vec::new();
    while let Some(p) = src.next_packet().unwrap() {
        let input = links.iter().position(|l| l.1 == p.link).unwrap();
        out.push(Pkt {
            ts: p.ts.0,
            input,
            data: p.data.to_vec(),
            wire_len: p.wire_len,
        });
    }
    out
}

/// The packets of a located range: seek to its start, parse blocks up to its end.
fn read_range(r: &PcapRange) -> Vec<Pkt> {
    let mut f = File::open(&r.file).unwrap();
    f.seek(SeekFrom::Start(r.from_offset)).unwrap();
    let mut bytes = vec![0u8; (r.to_offset - r.from_offset) as usize];
    f.read_exact(&mut bytes).unwrap();
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let b = &bytes[at..];
        assert_eq!(u32_at(b, 0), EPB_TYPE, "a range holds packet blocks only");
        let blen = u32_at(b, 4) as usize;
        assert_eq!(u32_at(b, blen - 4) as usize, blen);
        let us = ((u32_at(b, 12) as u64) << 32) | u32_at(b, 16) as u64;
        let caplen = u32_at(b, 20) as usize;
        out.push(Pkt {
            ts: us as i64,
            input: u32_at(b, 8) as usize,
            data: b[28..28 + caplen].to_vec(),
            wire_len: u32_at(b, 24),
        });
        at += blen;
    }
    assert_eq!(out.len() as u64, r.packets);
    out
}

fn tshark_check(path: &Path, expect: usize) {
    let Ok(out) = std::process::Command::new("tshark")
        .arg("-r")
        .arg(path)
        .arg("-T")
        .arg("fields")
        .arg("-e")
        .arg("frame.number")
        .output()
    else {
        println!("tshark is not installed: skipping the tshark check of {path:?}");
        return;
    };
    assert!(out.status.success(), "tshark -r {path:?} failed: {out:?}");
    let n = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(n, expect, "tshark reads {n} packets from {path:?}");
}

#[test]
fn rotation_keeps_the_last_files_byte_for_byte() {
    let dir = tmp("rotate");
    std::fs::create_dir_all(&dir).unwrap();
    // Not the ring's: must be left alone.
    let foreign = [
        "notes.txt",
        "netvigil-foo.pcapng",
        "netvigil-20260101T000000-000001.pcap",
        "other-20260101T000000-000001.pcapng",
    ];
    for f in foreign {
        std::fs::write(dir.join(f), f.as_bytes()).unwrap();
    }
    let links = eth();
    let mut ring = PcapngRing::open(cfg(&dir, MIN_ROTATE_BYTES, 3), &links).unwrap();
    let n = 600;
    let pkts: Vec<Pkt> = (0..n).map(|i| make(i, 1, false)).collect();
    for (i, p) in pkts.iter().enumerate() {
        write(&mut ring, p, &links);
        if i % 50 == 0 {
            ring.flush().unwrap();
        }
    }
    let files = ring.finish().unwrap();
    assert_eq!(files, ring_files(&dir));
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let parsed = parse_name("netvigil", name).unwrap();
        assert!(!parsed.part, "{name}");
        assert!(std::fs::metadata(f).unwrap().len() <= MIN_ROTATE_BYTES);
    }
    for f in foreign {
        assert_eq!(std::fs::read(dir.join(f)).unwrap(), f.as_bytes());
    }
    let mut back = Vec::new();
    for f in &files {
        let got = read_file(f, &links);
        assert!(!got.is_empty());
        // The name's time is the first packet's.
        let name = f.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            name,
            file_name(
                "netvigil",
                got[0].ts,
                parse_name("netvigil", name).unwrap().seq
            )
        );
        tshark_check(f, got.len());
        back.extend(got);
    }
    assert!(back.len() < n);
    assert_eq!(back, pkts[n - back.len()..], "the last packets, in order");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn locate_covers_the_interval_and_says_when_truncated() {
    let dir = tmp("locate");
    let links = eth();
    let mut ring = PcapngRing::open(cfg(&dir, MIN_ROTATE_BYTES, 3), &links).unwrap();
    // Small steps so that a file holds many segments.
    ring.step = Step {
        bytes: 8 << 10,
        micros: 20_000,
        min_bytes: 1 << 10,
    };
    let index = ring.index();
    let n = 400;
    let pkts: Vec<Pkt> = (0..n).map(|i| make(i, 1, true)).collect();
    for p in &pkts {
        write(&mut ring, p, &links);
    }
    // Nothing reached the file yet: nothing is located.
    let whole = (BASE_US - 10_000, BASE_US + n as i64 * 1000 + 10_000);
    ring.flush().unwrap();

    let check = |index: &RingIndex, from: i64, to: i64| -> Located {
        let loc = index.locate(from, to);
        let got: Vec<Pkt> = loc.ranges.iter().flat_map(read_range).collect();
        let kept = index.files();
        let held: Vec<Pkt> = kept.iter().flat_map(|f| read_file(f, &links)).collect();
        for p in held.iter().filter(|p| p.ts >= from && p.ts <= to) {
            assert!(got.contains(p), "packet at {} missing from {loc:?}", p.ts);
        }
        let inside = held.iter().filter(|p| p.ts >= from && p.ts <= to).count();
        // At most a step (8 KiB: < 140 blocks of 60 bytes) on each side.
        assert!(got.len() <= inside + 2 * 140, "{} for {inside}", got.len());
        for w in loc.ranges.windows(2) {
            assert!(w[0].file != w[1].file || w[0].to_offset < w[1].from_offset);
        }
        loc
    };
    let held = index.files();
    assert_eq!(held.len(), 3);
    assert!(held[2].to_str().unwrap().ends_with(".pcapng.part"));
    let oldest_first = read_file(&held[0], &links)
        .iter()
        .map(|p| p.ts)
        .min()
        .unwrap();

    // Inside the kept files, across the current (.part) one.
    let mid = BASE_US + (n as i64 - 60) * 1000;
    let loc = check(&index, mid, mid + 30_000);
    assert!(!loc.truncated);
    assert!(!loc.ranges.is_empty());
    let loc = check(&index, mid + 40_000, whole.1);
    assert!(loc.ranges.iter().any(|r| r.file == held[2]));
    // Before the oldest kept packet: rotated away.
    let loc = check(&index, whole.0, oldest_first + 5_000);
    assert!(loc.truncated);
    assert_eq!(loc.ranges[0].file, held[0]);
    let loc = check(&index, whole.0, whole.1);
    assert!(loc.truncated);
    let total: u64 = loc.ranges.iter().map(|r| r.packets).sum();
    let kept: usize = held.iter().map(|f| read_file(f, &links).len()).sum();
    assert_eq!(total as usize, kept);
    // After the end, and an empty interval.
    assert!(index.locate(whole.1, whole.1 + 1000).ranges.is_empty());
    assert!(index.locate(mid, mid - 1).ranges.is_empty());

    let files = ring.finish().unwrap();
    assert!(files.iter().all(|f| f.extension().unwrap() == "pcapng"));
    let loc = check(&index, mid, whole.1);
    assert_eq!(loc.ranges.last().unwrap().file, files[2]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_leftover_part_is_cut_to_whole_blocks_and_renamed() {
    let dir = tmp("crash");
    let links = eth();
    let pkts: Vec<Pkt> = (0..100).map(|i| make(i, 1, false)).collect();
    {
        let mut ring = PcapngRing::open(cfg(&dir, 1 << 20, 10), &links).unwrap();
        for p in &pkts {
            write(&mut ring, p, &links);
        }
        ring.flush().unwrap();
        // A crash: no rename, no drop.
        std::mem::forget(ring);
    }
    let parts = ring_files(&dir);
    assert_eq!(parts.len(), 1);
    let part = parts[0].clone();
    // Half a block at the end, as a crash in the middle of a write leaves it.
    let mut f = OpenOptions::new().append(true).open(&part).unwrap();
    f.write_all(&[6, 0, 0, 0, 200, 0, 0, 0, 0, 0, 0]).unwrap();
    drop(f);
    // Ours but empty (header only), and one with the ring's name that is not a capture.
    let empty = dir.join("netvigil-20260101T000000-000050.pcapng.part");
    std::fs::write(&empty, build_header(&links)).unwrap();
    let garbage = dir.join("netvigil-20260101T000000-000060.pcapng.part");
    std::fs::write(&garbage, b"hello").unwrap();

    let mut ring = PcapngRing::open(cfg(&dir, 1 << 20, 10), &links).unwrap();
    let target = part.with_extension("");
    assert_eq!(ring.recovered(), std::slice::from_ref(&target));
    assert!(!part.exists());
    assert!(!empty.exists());
    assert_eq!(std::fs::read(&garbage).unwrap(), b"hello");
    assert_eq!(read_file(&target, &links), pkts);
    // The recovered file is indexed; new files follow the highest sequence number seen.
    let loc = ring.index().locate(pkts[10].ts, pkts[20].ts);
    assert_eq!(loc.ranges.len(), 1);
    assert_eq!(loc.ranges[0].file, target);
    let later = make(1000, 1, false);
    write(&mut ring, &later, &links);
    let files = ring.finish().unwrap();
    assert_eq!(files.len(), 2);
    let name = files[1].file_name().unwrap().to_str().unwrap();
    assert_eq!(parse_name("netvigil", name).unwrap().seq, 61);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn earlier_runs_count_towards_keep_and_are_located() {
    let dir = tmp("earlier");
    let links = eth();
    let first: Vec<Pkt> = (0..50).map(|i| make(i, 1, false)).collect();
    let mut ring = PcapngRing::open(cfg(&dir, MIN_ROTATE_BYTES, 2), &links).unwrap();
    for p in &first {
        write(&mut ring, p, &links);
    }
    let old = ring.finish().unwrap();
    assert_eq!(old.len(), 1);

    let mut ring = PcapngRing::open(cfg(&dir, MIN_ROTATE_BYTES, 2), &links).unwrap();
    let index = ring.index();
    // Indexed by `open`.
    let loc = index.locate(first[10].ts, first[12].ts);
    assert_eq!(loc.ranges.len(), 1);
    assert_eq!(read_range(&loc.ranges[0]), first);
    assert_eq!(loc.ranges[0].file, old[0]);
    // Two more files: the earlier run's is the oldest of three and goes.
    let mut i = 1000;
    while index.files().len() < 3 && ring_files(&dir).len() <= 2 {
        write(&mut ring, &make(i, 1, false), &links);
        i += 1;
        if i > 5000 {
            break;
        }
    }
    let files = ring.finish().unwrap();
    assert_eq!(files.len(), 2);
    assert!(!old[0].exists());
    assert!(index.locate(first[0].ts, first[49].ts).truncated);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_interfaces_two_idbs_and_their_ids() {
    let dir = tmp("ifaces");
    let links = vec![
        ("eth0".to_string(), LinkType::ETHERNET, 65_535),
        ("tun0".to_string(), LinkType::RAW, 1500),
    ];
    let mut ring = PcapngRing::open(cfg(&dir, 1 << 20, 2), &links).unwrap();
    let pkts: Vec<Pkt> = (0..40).map(|i| make(i, 2, false)).collect();
    for p in &pkts {
        write(&mut ring, p, &links);
    }
    let index = ring.index();
    let files = ring.finish().unwrap();
    assert_eq!(files.len(), 1);
    // Our reader gives each packet the link type of its interface.
    assert_eq!(read_file(&files[0], &links), pkts);
    // The blocks themselves: one section, two interfaces with their names and link types,
    // and the interface id in each packet block.
    let bytes = std::fs::read(&files[0]).unwrap();
    let mut at = 0;
    let mut types = Vec::new();
    while at < bytes.len() {
        let t = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let l = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if t == IDB_TYPE {
            let link = u16::from_le_bytes(bytes[at + 8..at + 10].try_into().unwrap());
            types.push(link);
            let body = &bytes[at..at + l];
            assert!(body.windows(4).any(|w| w == b"eth0" || w == b"tun0"));
        }
        at += l;
    }
    assert_eq!(types, [1, 101]);
    let loc = index.locate(i64::MIN, i64::MAX);
    let got: Vec<Pkt> = loc.ranges.iter().flat_map(read_range).collect();
    assert_eq!(got, pkts, "interface ids as written");
    tshark_check(&files[0], pkts.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_settings_and_packets_are_refused() {
    let dir = tmp("refuse");
    let links = eth();
    let e = PcapngRing::open(cfg(&dir, MIN_ROTATE_BYTES - 1, 3), &links).err();
    assert!(matches!(e, Some(RingError::RotateTooSmall(_))));
    let e = PcapngRing::open(cfg(&dir, MIN_ROTATE_BYTES, 0), &links).err();
    assert!(matches!(e, Some(RingError::KeepZero)));
    let mut c = cfg(&dir, MIN_ROTATE_BYTES, 1);
    c.prefix = "../x".into();
    assert!(matches!(
        PcapngRing::open(c, &links).err(),
        Some(RingError::BadPrefix(_))
    ));
    // A directory below a regular file cannot be created: the error names it.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("file"), b"x").unwrap();
    let below = dir.join("file").join("ring");
    let e = PcapngRing::open(cfg(&below, MIN_ROTATE_BYTES, 1), &links)
        .err()
        .unwrap();
    assert!(e.to_string().contains(below.to_str().unwrap()), "{e}");
    let mut ring = PcapngRing::open(cfg(&dir, MIN_ROTATE_BYTES, 1), &links).unwrap();
    let mut p = make(0, 1, false);
    p.input = 1;
    assert!(ring
        .write(&RawPacket {
            ts: Timestamp(p.ts),
            link: LinkType::ETHERNET,
            wire_len: p.wire_len,
            data: &p.data,
            offset: 0,
            input: 1,
        })
        .is_err());
    // Nothing written: no file.
    assert!(ring.finish().unwrap().is_empty());
    assert!(ring_files(&dir).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_write_leaves_a_valid_file() {
    let dir = tmp("fail");
    let links = eth();
    let pkts: Vec<Pkt> = (0..60).map(|i| make(i, 1, false)).collect();
    let mut ring = PcapngRing::open(cfg(&dir, 1 << 20, 5), &links).unwrap();
    for p in &pkts[..30] {
        write(&mut ring, p, &links);
    }
    ring.flush().unwrap();
    // The descriptor turns read-only, as a disk that refuses writes: the next write
    // fails.
    let part = ring.cur.as_ref().unwrap().part.clone();
    ring.cur.as_mut().unwrap().file = File::open(&part).unwrap();
    for p in &pkts[30..40] {
        write(&mut ring, p, &links);
    }
    let e = ring.flush().err().unwrap();
    assert!(e.to_string().contains(part.to_str().unwrap()), "{e}");
    assert!(!e.is_disk_full());
    // What reached the file is whole and still located.
    assert_eq!(read_file(&part, &links), pkts[..30]);
    let loc = ring.index().locate(pkts[0].ts, pkts[29].ts);
    let got: Vec<Pkt> = loc.ranges.iter().flat_map(read_range).collect();
    assert_eq!(got, pkts[..30]);
    // The ring carries on in a new file.
    for p in &pkts[40..] {
        write(&mut ring, p, &links);
    }
    let files = ring.finish().unwrap();
    let back: Vec<Pkt> = files.iter().flat_map(|f| read_file(f, &links)).collect();
    let mut expect = pkts[..30].to_vec();
    expect.extend_from_slice(&pkts[40..]);
    assert_eq!(back, expect);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Prints packets/s and MB/s written (not asserted).
#[test]
fn ring_write_throughput() {
    let links = eth();
    for (size, count) in [(64usize, 2_000_000usize), (1500, 200_000)] {
        let dir = tmp(&format!("speed-{size}"));
        let mut ring = PcapngRing::open(cfg(&dir, 100 << 20, 2), &links).unwrap();
        let data = vec![0xA5u8; size];
        let t0 = std::time::Instant::now();
        let mut last_flush = t0;
        for i in 0..count {
            ring.write(&RawPacket {
                ts: Timestamp(BASE_US + i as i64),
                link: LinkType::ETHERNET,
                wire_len: size as u32,
                data: &data,
                offset: 0,
                input: 0,
            })
            .unwrap();
            if i % 4096 == 0 && last_flush.elapsed().as_secs() >= 1 {
                ring.flush().unwrap();
                last_flush = std::time::Instant::now();
            }
        }
        ring.finish().unwrap();
        let secs = t0.elapsed().as_secs_f64();
        let bytes = count as f64 * (size + pad4(size) + EPB_OVERHEAD as usize) as f64;
        println!(
            "ring write, {size}-byte packets: {count} in {secs:.3} s = {:.2} M packets/s, \
             {:.0} MB/s written",
            count as f64 / secs / 1e6,
            bytes / secs / 1e6
        );
        // What `open` costs when an earlier run left full files (indexed by a scan).
        let held: u64 = ring_files(&dir)
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum();
        let t0 = std::time::Instant::now();
        let ring = PcapngRing::open(cfg(&dir, 100 << 20, 2), &links).unwrap();
        let secs = t0.elapsed().as_secs_f64();
        let indexed: u64 = ring
            .index()
            .locate(i64::MIN, i64::MAX)
            .ranges
            .iter()
            .map(|r| r.packets)
            .sum();
        println!("ring open indexed {indexed} packets");
        println!(
            "ring open over {:.0} MB of earlier {size}-byte packets: {secs:.3} s ({:.0} MB/s)",
            held as f64 / 1e6,
            held as f64 / secs / 1e6
        );
        drop(ring);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

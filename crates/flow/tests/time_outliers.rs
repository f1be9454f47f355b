//! Stray timestamps: records dated far outside a capture's bulk are counted and metered at the
//! capture clock's time, so flows and windows stay within the capture's real span (see
//! `flow::clock` and docs/windows.md), however the meter is driven; and on the shared captures
//! only records that agree with neither neighbour are outliers.

mod common;

use std::path::{Path, PathBuf};

use common::data_dir;
use flow::clock::{plausible, OUTLIER_DISTANCE_US};
use flow::{
    DecodeCounters, EndReason, FlowRecord, HomeNet, Meter, MeterConfig, Profile, Window,
    WindowConfig,
};
use packet::{FileSource, MergedSource, PacketSource, Timestamp};

/// How the meter is driven.
#[derive(Clone, Copy, Debug)]
enum Drive {
    /// Batches of 64 from the file, as `netvigil analyze` reads one capture.
    Batches,
    /// One packet at a time (`Meter::packet`).
    OneByOne,
    /// Through `MergedSource`, as several inputs are read (batches of one).
    Merged,
}

struct Metered {
    flows: Vec<FlowRecord>,
    windows: Vec<Window>,
    counters: DecodeCounters,
}

fn meter(path: &Path, drive: Drive) -> Metered {
    let mut meter = Meter::new(MeterConfig::new(Profile::Cic), HomeNet::default())
        .with_windows(WindowConfig::default());
    let mut flows = Vec::new();
    match drive {
        Drive::Batches | Drive::Merged => {
            let mut src: Box<dyn PacketSource> = match drive {
                Drive::Merged => Box::new(MergedSource::new(vec![path.to_path_buf()])),
                _ => Box::new(FileSource::open(path, 0).expect("open")),
            };
            loop {
                match src.fill_batch(64) {
                    Ok(0) => break,
                    Ok(n) => meter.packet_batch(&*src, n, &mut flows, |_, _| {}),
                    Err(_) => break,
                }
            }
        }
        Drive::OneByOne => {
            let mut src = FileSource::open(path, 0).expect("open");
            while let Ok(Some(raw)) = src.next_packet() {
                let _ = meter.packet(&raw, &mut flows);
            }
        }
    }
    while meter.finish(EndReason::Eof, usize::MAX, &mut flows) {}
    let mut windows = Vec::new();
    meter.drain_windows(&mut windows);
    Metered {
        flows,
        windows,
        counters: meter.decode_counters().clone(),
    }
}

/// Sets the time of record `i` of a classic little-endian microsecond pcap to `secs`.
fn set_time(pcap: &mut [u8], i: usize, secs: u32) {
    assert_eq!(
        &pcap[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian µs pcap"
    );
    let mut at = 24;
    for _ in 0..i {
        let incl = u32::from_le_bytes([pcap[at + 8], pcap[at + 9], pcap[at + 10], pcap[at + 11]]);
        at += 16 + incl as usize;
    }
    pcap[at..at + 4].copy_from_slice(&secs.to_le_bytes());
    pcap[at + 4..at + 8].copy_from_slice(&0u32.to_le_bytes());
}

fn records(path: &Path) -> Vec<i64> {
    let mut src = FileSource::open(path, 0).expect("open");
    let mut ts = Vec::new();
    while let Ok(Some(raw)) = src.next_packet() {
        ts.push(raw.ts.0);
    }
    ts
}

#[test]
fn records_dated_1970_and_2106_are_counted_and_metered_within_the_capture_span() {
    let original = data_dir().join("zeek/Traces/ssh/sshguess.pcap");
    let times = records(&original);
    let (lo, hi) = (times[0], times[times.len() - 1]);
    assert_eq!(times.len(), 431);
    // The first record (no reference yet), two adjacent records of different eras, the last.
    let mut bytes = std::fs::read(&original).expect("read");
    set_time(&mut bytes, 0, 0);
    set_time(&mut bytes, 200, u32::MAX);
    set_time(&mut bytes, 201, 12_345);
    set_time(&mut bytes, times.len() - 1, u32::MAX);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let patched = dir.join("sshguess-stray-times.pcap");
    std::fs::write(&patched, &bytes).expect("write");

    let clean = meter(&original, Drive::Batches);
    assert_eq!(clean.counters.time_outliers, 0);
    let width = WindowConfig::default().width_us;
    for drive in [Drive::Batches, Drive::OneByOne, Drive::Merged] {
        let m = meter(&patched, drive);
        assert_eq!(m.counters.time_outliers, 4, "{drive:?}");
        assert_eq!(
            m.counters.time_outlier_span,
            Some((Timestamp(0), Timestamp(u32::MAX as i64 * 1_000_000))),
            "{drive:?}"
        );
        assert_eq!(m.counters.frames, 431, "{drive:?}");
        // Every packet is still metered, into as many flows as before.
        assert_eq!(m.flows.len(), clean.flows.len(), "{drive:?}");
        let packets = |f: &[FlowRecord]| f.iter().map(|r| r.packets[0] + r.packets[1]).sum::<u64>();
        assert_eq!(packets(&m.flows), packets(&clean.flows), "{drive:?}");
        for r in &m.flows {
            assert!(
                lo <= r.first.micros() && r.last.micros() <= hi,
                "{drive:?}: flow {}..{} outside {lo}..{hi}",
                r.first.micros(),
                r.last.micros()
            );
        }
        let starts: Vec<i64> = m.windows.iter().map(|w| w.start_us).collect();
        let clean_starts: Vec<i64> = clean.windows.iter().map(|w| w.start_us).collect();
        assert_eq!(starts, clean_starts, "{drive:?}");
        assert!(starts[0] == lo - lo.rem_euclid(width) && starts[starts.len() - 1] <= hi);
        let span = m
            .windows
            .iter()
            .filter_map(|w| w.packet_span)
            .fold((i64::MAX, i64::MIN), |(a, b), (x, y)| (a.min(x), b.max(y)));
        assert!(
            lo <= span.0 && span.1 <= hi,
            "{drive:?}: packet span {span:?}"
        );
    }
}

/// Records that agree with neither neighbour: implausible, or more than 7 days from the record
/// before and the record after (a missing neighbour agrees with nothing, unless the capture
/// has one record).
fn strays(times: &[i64]) -> u64 {
    let far =
        |a: i64, b: Option<&i64>| b.is_none_or(|&b| a.abs_diff(b) > OUTLIER_DISTANCE_US as u64);
    (0..times.len())
        .filter(|&i| {
            let t = times[i];
            let prev = i.checked_sub(1).and_then(|j| times.get(j));
            !plausible(t) || (times.len() > 1 && far(t, prev) && far(t, times.get(i + 1)))
        })
        .count() as u64
}

#[test]
fn on_the_shared_captures_only_records_agreeing_with_neither_neighbour_are_outliers() {
    let data = data_dir();
    let mut with_outliers = Vec::new();
    for path in packet::source::find_captures(&data) {
        if FileSource::open(&path, 0).is_err() {
            continue;
        }
        let times = records(&path);
        let m = meter(&path, Drive::Batches);
        let name = path
            .strip_prefix(&data)
            .unwrap_or(&path)
            .display()
            .to_string();
        assert_eq!(m.counters.time_outliers, strays(&times), "{name}");
        if m.counters.time_outliers > 0 {
            with_outliers.push((name, m.counters.time_outliers));
        }
    }
    with_outliers.sort();
    let expected = [
        // Samples concatenated from traces of different dates, each with one record of its own
        // date, more than a week from both neighbours.
        ("ndpi/pcap/custom_categories.pcapng", 1),
        ("ndpi/pcap/gtp_false_positive.pcapng", 2),
        ("ndpi/pcap/knxip.pcapng", 1),
        ("ndpi/pcap/protonvpn.pcap", 1),
        ("ndpi/pcap/syslog.pcap", 1),
        ("ndpi/pcap/tls_invalid_reads.pcap", 1),
        // Every record dated around the year 152,000 (pcapng timestamps).
        ("nfstream/pcaps/dhcp_big_endian.pcapng", 4),
        ("nfstream/pcaps/dhcp_little_endian.pcapng", 4),
    ];
    let expected: Vec<(String, u64)> = expected.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    assert_eq!(with_outliers, expected);
}

#[test]
fn a_capture_dated_entirely_outside_1970_to_2106_is_metered_at_the_range_end() {
    let m = meter(
        &data_dir().join("nfstream/pcaps/dhcp_little_endian.pcapng"),
        Drive::Batches,
    );
    let end = flow::clock::PLAUSIBLE_US.1 - 1;
    let times: Vec<(i64, i64)> = m
        .flows
        .iter()
        .map(|r| (r.first.micros(), r.last.micros()))
        .collect();
    assert!(!times.is_empty());
    assert!(times.iter().all(|&t| t == (end, end)), "{times:?}");
    let starts: Vec<i64> = m.windows.iter().map(|w| w.start_us).collect();
    assert_eq!(starts, [end - end.rem_euclid(60_000_000)]);
}

#[test]
fn merged_captures_have_a_clock_each_and_borrow_the_run_clock_for_undated_ones() {
    let data = data_dir();
    let inputs = [
        data.join("zeek/Traces/ssh/sshguess.pcap"),
        // One packet, 105 days after the others: a capture of its own, not an outlier.
        data.join("nfstream/pcaps/NTPv3.pcap"),
        // Every record around the year 152,000: metered at the run's clock.
        data.join("nfstream/pcaps/dhcp_little_endian.pcapng"),
    ];
    let mut meter = Meter::new(MeterConfig::new(Profile::Cic), HomeNet::default())
        .with_windows(WindowConfig::default());
    let mut src = MergedSource::new(inputs.to_vec());
    let mut flows = Vec::new();
    while let Ok(n @ 1..) = src.fill_batch(64) {
        meter.packet_batch(&src, n, &mut flows, |_, _| {});
    }
    while meter.finish(EndReason::Eof, usize::MAX, &mut flows) {}
    assert_eq!(meter.decode_counters().time_outliers, 4);
    let ntp = records(&inputs[1]);
    assert_eq!(ntp.len(), 1);
    let ssh = records(&inputs[0]);
    let (lo, hi) = (ssh[0], ntp[0]);
    assert!(hi - ssh[ssh.len() - 1] > 100 * 86_400_000_000);
    let mut times: Vec<i64> = flows
        .iter()
        .flat_map(|r| [r.first.micros(), r.last.micros()])
        .collect();
    times.sort();
    assert_eq!((times[0], times[times.len() - 1]), (lo, hi));
    let mut windows = Vec::new();
    meter.drain_windows(&mut windows);
    let last = windows.last().map(|w| w.start_us).unwrap_or_default();
    assert_eq!(last, hi - hi.rem_euclid(60_000_000));
}

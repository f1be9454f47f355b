//! The sharded meter gives byte-identical output for any number of threads: the same flows
//! (ids, values, order), the same traffic windows and the same counters, under both profiles,
//! with and without table evictions, with clock advances, on shared captures.

mod common;

use std::path::Path;

use common::data_dir;
use flow::{EndReason, HomeNet, MeterConfig, Profile, ShardedMeter, WindowConfig};
use packet::{FileSource, MergedSource, PacketSource};

/// Everything a run produced: every flow, then every window, then the counters, one line each
/// (flows and windows are two streams: how they interleave depends on when each is taken).
fn run(
    src: &mut dyn PacketSource,
    cfg: MeterConfig,
    threads: usize,
    advance_every: Option<usize>,
) -> Vec<String> {
    let wcfg = WindowConfig {
        width_us: 1_000_000,
        keep: 16,
        ..WindowConfig::default()
    };
    let mut meter = ShardedMeter::new(cfg, HomeNet::default(), threads).with_windows(wcfg);
    assert_eq!(meter.threads(), threads);
    let (mut flows, mut windows) = (Vec::new(), Vec::new());
    let mut batches = 0;
    let mut last_ts = 0;
    let mut errors = Vec::new();
    loop {
        let n = match src.fill_batch(64) {
            Ok(0) => break,
            Ok(n) => n,
            // The source goes on with what is still readable.
            Err(e) => {
                errors.push(format!("error {e}"));
                assert!(errors.len() < 1000, "{e}");
                continue;
            }
        };
        last_ts = src.batch_packet(n - 1).ts.0;
        meter.packet_batch(&*src, n, &mut flows, |_, _| {});
        batches += 1;
        if advance_every.is_some_and(|k| batches % k == 0) {
            // A quiet minute after the batch, then a time in the past (ignored).
            meter.advance(last_ts + 61_000_000, &mut flows);
            meter.advance(last_ts, &mut flows);
        }
        meter.drain_windows(&mut windows);
    }
    if advance_every.is_some() {
        meter.advance(last_ts + 150_000_000, &mut flows);
    }
    while meter.finish(EndReason::Eof, 100, &mut flows) {}
    meter.drain_windows(&mut windows);
    let mut lines: Vec<String> = flows.iter().map(|f| format!("{f:?}")).collect();
    lines.extend(
        windows
            .iter()
            .map(|w| serde_json::to_string(&w.report()).expect("window report serialises")),
    );
    lines.extend(errors);
    lines.push(format!("{:?}", meter.counters()));
    lines.push(format!("{:?}", meter.decode_counters()));
    lines
}

fn run_file(path: &Path, cfg: MeterConfig, threads: usize, advance: Option<usize>) -> Vec<String> {
    let mut src = FileSource::open(path, 0).unwrap_or_else(|e| panic!("{e}"));
    run(&mut src, cfg, threads, advance)
}

/// Asserts that 2 and 4 threads give what 1 gives; returns the number of lines compared.
fn same_for_every_thread_count(what: &str, mut produce: impl FnMut(usize) -> Vec<String>) -> usize {
    let one = produce(1);
    for threads in [2, 4] {
        let many = produce(threads);
        let first = one.iter().zip(&many).position(|(a, b)| a != b);
        assert!(
            one.len() == many.len() && first.is_none(),
            "{what}: {threads} threads differ from 1 ({} vs {} lines), first at line {first:?}:\n  \
             1: {:?}\n  {threads}: {:?}",
            one.len(),
            many.len(),
            first.and_then(|i| one.get(i)),
            first.and_then(|i| many.get(i)),
        );
    }
    one.len()
}

const CAPTURES: &[&str] = &[
    "lucid-cicddos2019/CIC-DDoS-2019-SynFlood.pcap",
    "stopddos-packet-captures/pkt.TCP.synflood.spoofed.pcap",
    "stopddos-packet-captures/amp.dns.RRSIG.fragmented.pcap",
    "stopddos-packet-captures/amp.TCP.reflection.SYNACK.pcap",
    "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/ftp-crack.pcap",
    "chrissanders-packets/http_espn.pcapng",
    "chrissanders-packets/ratinfected.pcapng",
    "nfstream/pcaps/monero.pcap",
    "nfstream/pcaps/skype_no_unknown.pcap",
    "nfstream/pcaps/capwap.pcap",
    "nfstream/pcaps/anyconnect-vpn.pcap",
];

#[test]
fn one_two_and_four_threads_give_identical_flows_windows_and_counters() {
    let data = data_dir();
    let mut lines = 0;
    for c in CAPTURES {
        for profile in [Profile::Cic, Profile::Nfstream] {
            let cfg = MeterConfig::new(profile);
            lines += same_for_every_thread_count(&format!("{c} {profile:?}"), |n| {
                run_file(&data.join(c), cfg, n, None)
            });
        }
    }
    assert!(lines > 100_000, "{lines} lines compared");
}

#[test]
fn thread_counts_agree_when_the_table_bound_evicts_flows() {
    let data = data_dir();
    // 7: fewer partitions than 4 threads' worth; 50 and 1000: every partition full at times.
    for max_flows in [7, 50, 1000] {
        for c in &CAPTURES[..6] {
            for profile in [Profile::Cic, Profile::Nfstream] {
                let cfg = MeterConfig {
                    max_flows,
                    ..MeterConfig::new(profile)
                };
                let one = run_file(&data.join(c), cfg, 1, None);
                let evicted = one
                    .iter()
                    .filter(|l| l.contains("end_reason: Evicted"))
                    .count();
                if max_flows == 50 && c.contains("SynFlood") {
                    assert!(evicted > 1000, "{c}: {evicted} evicted");
                }
                same_for_every_thread_count(&format!("{c} {profile:?} max {max_flows}"), |n| {
                    run_file(&data.join(c), cfg, n, None)
                });
            }
        }
    }
}

#[test]
fn thread_counts_agree_when_the_clock_advances_without_packets() {
    let data = data_dir();
    for c in &CAPTURES[4..] {
        for profile in [Profile::Cic, Profile::Nfstream] {
            let cfg = MeterConfig::new(profile);
            same_for_every_thread_count(&format!("{c} {profile:?} advancing"), |n| {
                run_file(&data.join(c), cfg, n, Some(7))
            });
        }
    }
}

#[test]
fn thread_counts_agree_on_every_nfstream_result_capture_merged_in_time_order() {
    // All 150 captures of the NFStream parity suite as one merged stream: many inputs, each
    // with its own capture clock, and flows of every kind.
    let dir = data_dir().join("nfstream/pcaps");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("shared/data/nfstream/pcaps")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    assert!(paths.len() >= 150, "{} captures", paths.len());
    for profile in [Profile::Cic, Profile::Nfstream] {
        let cfg = MeterConfig::new(profile);
        same_for_every_thread_count(&format!("nfstream/pcaps merged {profile:?}"), |n| {
            let mut src = MergedSource::new(paths.clone());
            run(&mut src, cfg, n, None)
        });
    }
}

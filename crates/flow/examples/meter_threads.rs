//! Meters a capture on N threads as `netvigil analyze -q --no-detect --format none` does
//! (batches of 64, finished flows taken after each batch) and prints the time taken.
//!
//! ```text
//! cargo run --release -p netvigil-flow --example meter_threads -- <pcap> <threads> [cic|nfstream] [windows] [digest]
//! ```
//!
//! Output: one line `threads=N seconds=S packets=P mpps=M flows=F`, with `digest=D` (a hash of
//! every flow and window as printed, in order) when asked: equal digests, equal output.

use std::hash::{Hash, Hasher};
use std::time::Instant;

use flow::{EndReason, HomeNet, MeterConfig, Profile, ShardedMeter, WindowConfig};
use packet::{FileSource, PacketSource};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(threads)) = (
        args.first(),
        args.get(1).and_then(|t| t.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: meter_threads <pcap> <threads> [cic|nfstream] [windows] [digest]");
        std::process::exit(2);
    };
    let profile = args
        .iter()
        .find_map(|p| Profile::parse(p))
        .unwrap_or(Profile::Cic);
    let windows = args.iter().any(|a| a == "windows");
    let digest = args.iter().any(|a| a == "digest");
    let mut src = match FileSource::open(std::path::Path::new(path), 0) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("meter_threads: {e}");
            std::process::exit(1);
        }
    };
    let started = Instant::now();
    let mut meter = ShardedMeter::new(MeterConfig::new(profile), HomeNet::default(), threads);
    if windows {
        meter = meter.with_windows(WindowConfig::default());
    }
    let mut out = Vec::with_capacity(64);
    let mut ws = Vec::new();
    let (mut packets, mut flows) = (0u64, 0u64);
    let (mut flow_hash, mut window_hash) = (
        std::collections::hash_map::DefaultHasher::new(),
        std::collections::hash_map::DefaultHasher::new(),
    );
    let mut take = |out: &mut Vec<flow::FlowRecord>, ws: &mut Vec<flow::Window>| {
        flows += out.len() as u64;
        if digest {
            for f in out.iter() {
                format!("{f:?}").hash(&mut flow_hash);
            }
            for w in ws.iter() {
                format!("{:?}", w.report()).hash(&mut window_hash);
            }
        }
        out.clear();
        ws.clear();
    };
    loop {
        let n = match src.fill_batch(64) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                eprintln!("meter_threads: {e}");
                continue;
            }
        };
        packets += n as u64;
        meter.packet_batch(&src, n, &mut out, |_, _| {});
        meter.drain_windows(&mut ws);
        take(&mut out, &mut ws);
    }
    let read_s = started.elapsed().as_secs_f64();
    while meter.finish(EndReason::Eof, 1024, &mut out) {
        take(&mut out, &mut ws);
    }
    meter.drain_windows(&mut ws);
    take(&mut out, &mut ws);
    let s = started.elapsed().as_secs_f64();
    print!(
        "threads={} seconds={s:.3} packets={packets} mpps={:.3} flows={flows} (end of input at {read_s:.3} s)",
        meter.threads(),
        packets as f64 / s / 1e6
    );
    if digest {
        format!("{:?}", meter.counters()).hash(&mut flow_hash);
        print!(
            " digest={:016x}{:016x}",
            flow_hash.finish(),
            window_hash.finish()
        );
    }
    println!();
}

//! Store benchmark: ingest rate and dashboard query latency at scale, on either backend.
//!
//! `cargo bench -p netvigil-store --bench store -- [--flows N] [--db PATH|URL] [--runs N]`
//!
//! Flows are real records (metered from shared captures) re-addressed over a network of
//! 2,000 home hosts and 50,000 outside addresses (skewed: a few hosts carry most flows),
//! spread evenly over the 24 hours before a fixed end; 1 % of them raise an alert from one of
//! 500 sources. Ingest goes through `StoreWriter::insert_flows` in batches of 10,000 (the CLI's
//! default; `--batch N`); then each dashboard query runs `--runs` times and its p50/p95/p99 are
//! printed (`bench/api-load.sh` compares them with the same calls through the API).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Instant;

use flow::{EndReason, FlowRecord, HomeNet, Meter, MeterConfig, Profile};
use packet::{FileSource, PacketSource, Timestamp};
use store::*;

const END: i64 = 1_700_000_000_000_000;

fn templates() -> Vec<FlowRecord> {
    let base = std::env::var_os("NETVIGIL_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let mut out = Vec::new();
    for f in [
        "webex.pcap",
        "googledns_android10.pcap",
        "telegram.pcap",
        "ftp.pcap",
        "synscan.pcap",
    ] {
        let Ok(mut src) = FileSource::open(&base.join("nfstream/pcaps").join(f), 0) else {
            continue;
        };
        let mut m = Meter::new(MeterConfig::new(Profile::Cic), HomeNet::default());
        while let Ok(n) = src.fill_batch(64) {
            if n == 0 {
                break;
            }
            m.packet_batch(&src, n, &mut out, |_, _| {});
        }
        while m.finish(EndReason::Eof, usize::MAX, &mut out) {}
    }
    out
}

/// A skewed pick in 0..n (about half the picks land in the first 5 %).
fn skewed(n: u32) -> u32 {
    let r = fastrand::f64();
    ((r * r * r) * n as f64) as u32 % n
}

fn home(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
}

fn outside(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x2d00_0000 + i * 7919))
}

fn synth(t: &[FlowRecord], i: u64, n: u64) -> FlowRecord {
    let mut r = t[(i % t.len() as u64) as usize].clone();
    let dur = r.last.0 - r.first.0;
    r.id = i;
    r.first = Timestamp(END - 86_400_000_000 + (i as i128 * 86_400_000_000 / n as i128) as i64);
    r.last = Timestamp(r.first.0 + dur);
    r.src = home(skewed(2000));
    r.dst = outside(skewed(50_000));
    r.sport = 1024 + (i % 60_000) as u16;
    r
}

/// A dashboard query; returns the rows it got.
type Query = Box<dyn FnMut(&mut dyn Store) -> usize>;

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

fn main() {
    let mut flows: u64 = 1_000_000;
    let mut db = String::from("/var/tmp/netvigil-bench.db");
    let mut runs = 20;
    let mut reuse = false;
    let mut batch_size = 10_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--flows" => flows = args.next().and_then(|v| v.parse().ok()).unwrap_or(flows),
            "--db" => db = args.next().unwrap_or(db),
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).unwrap_or(runs),
            "--batch" => {
                batch_size = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(batch_size)
            }
            // Query an existing benchmark database without ingesting again.
            "--reuse" => reuse = true,
            _ => {}
        }
    }
    if !reuse && !db.starts_with("postgres") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{db}{suffix}"));
        }
    }
    let mut s = store::open(&db).unwrap_or_else(|e| panic!("{e}"));
    let t = templates();
    println!("backend {}, {} template flows", s.target(), t.len());
    if !reuse {
        let cap = s
            .begin_capture(&NewCapture {
                name: "bench".into(),
                sha256: None,
                size: 0,
                interface: None,
                sensor: "bench".into(),
            })
            .unwrap();
        let started = Instant::now();
        let mut made = 0.0;
        let mut batch = Vec::with_capacity(batch_size);
        let mut alerts = Vec::new();
        let mut i = 0;
        while i < flows {
            batch.clear();
            let m0 = Instant::now();
            while batch.len() < batch_size && i < flows {
                batch.push(synth(&t, i, flows));
                i += 1;
            }
            made += m0.elapsed().as_secs_f64();
            s.insert_flows(cap, &batch, &[]).unwrap();
            for r in batch.iter().filter(|r| r.id % 100 == 7) {
                alerts.push(Alert {
                    time: r.last.0,
                    detector: Detector::Model,
                    kind: ["PortScan", "DDoS", "SSH-Patator"][(r.id % 3) as usize].into(),
                    src: Some(outside(skewed(500))),
                    dst: Some(r.src),
                    severity: 1 + (r.id % 5) as u8,
                    confidence: 0.9,
                    version: "bench".into(),
                    flow: Some(FlowRef {
                        id: flow_row_id(cap, r.id),
                        src_port: r.sport,
                        dst_port: r.dport,
                        protocol: r.proto,
                        first_seen_us: r.first.0,
                    }),
                    window: None,
                    evidence: serde_json::json!({}),
                    ..Alert::default()
                });
            }
            if alerts.len() >= batch_size {
                s.insert_alerts(Some(cap), &alerts).unwrap();
                alerts.clear();
            }
        }
        s.insert_alerts(Some(cap), &alerts).unwrap();
        let totals = CaptureTotals {
            start: Some(Timestamp(END - 86_400_000_000)),
            end: Some(Timestamp(END)),
            flows,
            ..CaptureTotals::default()
        };
        s.finish_capture(cap, &totals, CaptureStatus::Complete, &[])
            .unwrap();
        let secs = started.elapsed().as_secs_f64() - made;
        println!(
            "ingest: {flows} flows in {secs:.1} s (generation excluded: {made:.1} s): {:.0} flows/s",
            flows as f64 / secs
        );
    }
    let size = s.size_bytes().unwrap();
    println!(
        "size: {:.1} MiB, {:.0} MiB per million flows",
        size as f64 / 1048576.0,
        size as f64 / 1048576.0 / (flows as f64 / 1e6)
    );

    let day = TimeRange::hours_before(Timestamp(END), 24);
    let some_ip = home(1);
    let mut queries: Vec<(&str, Query)> = vec![
        (
            "top talkers, 24 h",
            Box::new(move |s| s.top_talkers(day, 10).unwrap().len()),
        ),
        (
            "attack rate per minute, 24 h",
            Box::new(move |s| s.attack_rate(day).unwrap().len()),
        ),
        (
            "one IP's history (totals, 50 flows, 50 alerts)",
            Box::new(move |s| s.ip_history(some_ip, day, 50).unwrap().flows.flows.len()),
        ),
        (
            "first page of flows, dst port 443",
            Box::new(move |s| {
                let f = FlowFilter {
                    time: Some(day),
                    dst_port: Some(443),
                    ..FlowFilter::default()
                };
                s.flows(&f, None, 50).unwrap().flows.len()
            }),
        ),
        (
            "newest 100 flows (GET /api/flows?limit=100)",
            Box::new(move |s| {
                s.flows(&FlowFilter::default(), None, 100)
                    .unwrap()
                    .flows
                    .len()
            }),
        ),
        (
            "search src:10.0.0.0/24 AND dst_port:443, 100 flows",
            Box::new(move |s| {
                let f = FlowFilter {
                    search: Some(
                        store::search::parse(
                            "src:10.0.0.0/24 AND dst_port:443",
                            store::search::Target::Flows,
                        )
                        .unwrap(),
                    ),
                    ..FlowFilter::default()
                };
                s.flows(&f, None, 100).unwrap().flows.len()
            }),
        ),
        (
            "top ports, 24 h",
            Box::new(move |s| s.top_ports(day, 10).unwrap().len()),
        ),
        (
            "top attackers, 24 h",
            Box::new(move |s| s.top_attackers(day, 10).unwrap().len()),
        ),
    ];
    for (name, q) in queries.iter_mut() {
        let mut ms = Vec::with_capacity(runs);
        let mut rows = 0;
        for _ in 0..runs {
            let t0 = Instant::now();
            rows = q(s.as_mut());
            ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        let p50 = percentile(&mut ms, 0.5);
        let p95 = percentile(&mut ms, 0.95);
        let p99 = percentile(&mut ms, 0.99);
        println!("query {name}: p50 {p50:.1} ms, p95 {p95:.1} ms, p99 {p99:.1} ms ({rows} rows)");
    }
}

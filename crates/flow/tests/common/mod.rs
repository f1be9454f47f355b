//! Shared helpers of the parity suites: where the shared data is and how to meter a capture.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use flow::{EndReason, FlowRecord, HomeNet, Meter, MeterConfig, Profile};
use packet::{FileSource, PacketSource, SourceError};

/// `../shared/data` beside the checkout (or `$NETVIGIL_DATA`).
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("NETVIGIL_DATA") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// Meters one capture with the profile's defaults; flows in emission order.
pub fn meter_file(path: &Path, profile: Profile) -> (Vec<FlowRecord>, Option<SourceError>) {
    meter_with(path, MeterConfig::new(profile))
}

/// Meters one capture with `cfg` in batches, as `netvigil analyze` does; flows in emission
/// order, and the input error if any.
pub fn meter_with(path: &Path, cfg: MeterConfig) -> (Vec<FlowRecord>, Option<SourceError>) {
    let (flows, _, err) = run_meter(path, Meter::new(cfg, HomeNet::default()));
    (flows, err)
}

/// Drives `meter` over a capture in batches of 64 (as `netvigil analyze` does): flows in
/// emission order, windows oldest first (none if the meter keeps none), the input error if any.
fn run_meter(
    path: &Path,
    mut meter: Meter,
) -> (Vec<FlowRecord>, Vec<flow::Window>, Option<SourceError>) {
    let mut out = Vec::new();
    let mut windows = Vec::new();
    let mut src = match FileSource::open(path, 0) {
        Ok(s) => s,
        Err(e) => return (out, windows, Some(e)),
    };
    let mut err = None;
    loop {
        match src.fill_batch(64) {
            Ok(0) => break,
            Ok(n) => meter.packet_batch(&src, n, &mut out, |_, _| {}),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
        meter.drain_windows(&mut windows);
    }
    while meter.finish(EndReason::Eof, usize::MAX, &mut out) {}
    meter.drain_windows(&mut windows);
    (out, windows, err)
}

/// Reads a CSV file into its header and rows.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = r
        .headers()
        .expect("header")
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows = r
        .records()
        .map(|rec| rec.expect("row").iter().map(|s| s.to_string()).collect())
        .collect();
    (header, rows)
}

/// Meters one capture one packet at a time (no batching, no lookahead).
pub fn meter_one_by_one(path: &Path, cfg: MeterConfig) -> Vec<FlowRecord> {
    let mut out = Vec::new();
    let mut src = FileSource::open(path, 0).expect("open");
    let mut meter = Meter::new(cfg, HomeNet::default());
    while let Ok(Some(raw)) = src.next_packet() {
        let _ = meter.packet(&raw, &mut out);
    }
    while meter.finish(EndReason::Eof, usize::MAX, &mut out) {}
    out
}

/// Meters one capture in batches with traffic windows; flows, windows (oldest first) and the
/// input error if any.
pub fn meter_windows(
    path: &Path,
    cfg: MeterConfig,
    wcfg: flow::WindowConfig,
) -> (Vec<FlowRecord>, Vec<flow::Window>, Option<SourceError>) {
    run_meter(path, Meter::new(cfg, HomeNet::default()).with_windows(wcfg))
}

/// Rows of golden/tshark/INDEX.tsv as (pcap, json) paths relative to the data directory and
/// the golden/tshark folder, with the parsed JSON.
pub fn tshark_golden() -> Vec<(String, serde_json::Value)> {
    let data = data_dir();
    let index = std::fs::read_to_string(data.join("golden/tshark/INDEX.tsv"))
        .expect("golden/tshark/INDEX.tsv");
    index
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let text = std::fs::read_to_string(data.join("golden/tshark").join(f[1]))
                .unwrap_or_else(|e| panic!("{}: {e}", f[1]));
            let j = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f[1]));
            (f[0].to_string(), j)
        })
        .collect()
}
